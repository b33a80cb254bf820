//! Outputs: streamed RFC 7946 GeoJSON, CSV files and the manifest, each written atomically.

mod atomic;
mod catchment;
mod geometry;
mod manifest;
mod map;

pub use atomic::{AtomicFile, Written, hex, remove_stale_temporaries};
pub use catchment::write_catchments;
pub use geometry::{cell_geometry, round6, write_multipolygon};
pub use manifest::{
    CatchmentManifest, InputRecord, Manifest, OutputRecord, Parameters, ScopeRecord, SegmentRecord,
    Suppressed, Tool,
};
pub use map::{MapInputs, MapOptions, write_index, write_map, write_map_assets};

use crate::consumer::Reject;
use crate::market::{BudgetUnit, Campaign, MicroMarket};
use crate::stats::{
    HotSpots, Privacy, Scope, ScopeCounts, lift, penetration, upper_tail_p, wilson,
};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// An output could not be written.
#[derive(Debug, Error)]
#[error("cannot write {path}: {source}")]
pub struct ExportError {
    /// The file or folder.
    pub path: String,
    /// Cause.
    pub source: io::Error,
}

pub(crate) fn io_error(path: &Path) -> impl FnOnce(io::Error) -> ExportError + '_ {
    move |source| ExportError {
        path: path.display().to_string(),
        source,
    }
}

/// Rounds a statistic for output; statistics are written with 6 decimals.
pub(crate) fn stat(x: Option<f64>) -> Option<f64> {
    x.map(round6)
}

/// Per-segment property suffixes of `cells.geojson`, in output order.
const CELL_PROPERTIES: [&str; 10] = [
    "count",
    "penetration",
    "penetration_low",
    "penetration_high",
    "lift",
    "lift_low",
    "lift_high",
    "gi",
    "hot",
    "suppressed",
];

/// Column names of `cells.csv`.
const CELLS_CSV_HEADER: [&str; 16] = [
    "hex_id",
    "region",
    "city",
    "segment",
    "population",
    "count",
    "penetration",
    "penetration_low",
    "penetration_high",
    "lift",
    "lift_low",
    "lift_high",
    "gi",
    "p_value",
    "q_value",
    "hot",
];

/// JSON keys (`,"<segment>_<suffix>":`) of one segment's cell properties, escaped once.
fn segment_keys(name: &str) -> Vec<String> {
    CELL_PROPERTIES
        .iter()
        .map(|suffix| {
            format!(
                ",{}:",
                serde_json::to_string(&format!("{name}_{suffix}")).expect("strings serialize")
            )
        })
        .collect()
}

/// The figures of one cell × segment as exported (after the minimum-count rule).
struct CellFigures {
    count: Option<u64>,
    penetration: Option<f64>,
    penetration_interval: Option<(f64, f64)>,
    lift: Option<f64>,
    lift_interval: Option<(f64, f64)>,
    gi: f64,
    p_value: f64,
    q_value: f64,
    hot: bool,
    suppressed: bool,
}

impl CellFigures {
    /// Figures of `k` members among `n` consumers, in a scope of `big_k` among `big_n`. A hidden
    /// count hides its penetration and lift too, which would reveal it.
    fn new(
        k: u64,
        n: u64,
        big_k: u64,
        big_n: u64,
        hot: (f64, f64, f64, bool),
        hidden: bool,
    ) -> Self {
        let (gi, p_value, q_value, is_hot) = hot;
        let base = penetration(big_k, big_n).filter(|&b| b > 0.0);
        let interval = if hidden { None } else { wilson(k, n) };
        CellFigures {
            count: (!hidden).then_some(k),
            penetration: if hidden {
                None
            } else {
                stat(penetration(k, n))
            },
            penetration_interval: interval.map(|(lo, hi)| (round6(lo), round6(hi))),
            lift: if hidden {
                None
            } else {
                stat(lift(k, n, big_k, big_n))
            },
            lift_interval: interval
                .zip(base)
                .map(|((lo, hi), b)| (round6(lo / b), round6(hi / b))),
            gi: round6(gi),
            p_value,
            q_value,
            hot: is_hot,
            suppressed: hidden,
        }
    }

    /// Writes the properties in [`CELL_PROPERTIES`] order, each after its key from `keys`.
    fn write_json(&self, w: &mut impl Write, keys: &[String]) -> io::Result<()> {
        let (p, l) = (self.penetration_interval, self.lift_interval);
        let values = [
            serde_json::json!(self.count),
            serde_json::json!(self.penetration),
            serde_json::json!(p.map(|v| v.0)),
            serde_json::json!(p.map(|v| v.1)),
            serde_json::json!(self.lift),
            serde_json::json!(l.map(|v| v.0)),
            serde_json::json!(l.map(|v| v.1)),
            serde_json::json!(self.gi),
            serde_json::json!(self.hot),
            serde_json::json!(self.suppressed),
        ];
        for (key, value) in keys.iter().zip(&values) {
            w.write_all(key.as_bytes())?;
            serde_json::to_writer(&mut *w, value)?;
        }
        Ok(())
    }

    fn csv_fields(&self) -> [String; 10] {
        let text = |x: Option<f64>| x.map(|v| v.to_string()).unwrap_or_default();
        let (p, l) = (self.penetration_interval, self.lift_interval);
        [
            self.count.map(|k| k.to_string()).unwrap_or_default(),
            text(self.penetration),
            text(p.map(|v| v.0)),
            text(p.map(|v| v.1)),
            text(self.lift),
            text(l.map(|v| v.0)),
            text(l.map(|v| v.1)),
            self.gi.to_string(),
            self.p_value.to_string(),
            self.q_value.to_string(),
        ]
    }
}

pub(crate) fn opt_text<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

pub(crate) fn json_text(text: &str) -> Option<&str> {
    (!text.is_empty()).then_some(text)
}

/// Writes a scope's `cells.geojson` and `cells.csv` into `root/<scope folder>/`.
///
/// Cells with fewer than `min_count` consumers are left out; segment counts below it are written
/// as null with `<segment>_suppressed: true`, and so are their penetration and lift (and
/// intervals), which would reveal the count.
///
/// # Errors
///
/// [`ExportError`] naming the file that could not be written.
pub fn write_scope(
    root: &Path,
    counts: &ScopeCounts,
    hot_spots: &HotSpots,
    markets: &[MicroMarket],
    segment_names: &[String],
    privacy: Privacy,
) -> Result<ScopeRecord, ExportError> {
    let folder = root.join(&counts.scope.folder);
    std::fs::create_dir_all(&folder).map_err(io_error(&folder))?;
    let big_n = counts.total_population();
    let big_k: Vec<u64> = (0..counts.segments)
        .map(|s| counts.total_members(s))
        .collect();
    let keys: Vec<Vec<String>> = segment_names.iter().map(|n| segment_keys(n)).collect();
    let scope = &counts.scope;
    let mut suppressed = Suppressed::default();

    let geojson_path = folder.join("cells.geojson");
    let csv_path = folder.join("cells.csv");
    let mut geojson = AtomicFile::create(&geojson_path).map_err(io_error(&geojson_path))?;
    let mut csv =
        csv::Writer::from_writer(AtomicFile::create(&csv_path).map_err(io_error(&csv_path))?);
    let mut features = 0u64;
    let mut rows = 0u64;
    let result: io::Result<()> = (|| {
        geojson.write_all(b"{\"type\":\"FeatureCollection\",\"features\":[\n")?;
        csv.write_record(CELLS_CSV_HEADER)?;
        let (region, city) = (json_text(&scope.region), json_text(&scope.city));
        let region_json = serde_json::to_string(&region)?;
        let city_json = serde_json::to_string(&city)?;
        for (c, &cell) in counts.cells.iter().enumerate() {
            let n = u64::from(counts.population[c]);
            if !privacy.shows_cell(n) {
                suppressed.cells += 1;
                continue;
            }
            if features > 0 {
                geojson.write_all(b",\n")?;
            }
            features += 1;
            let hex_id = format!("{cell}");
            write!(
                geojson,
                "{{\"type\":\"Feature\",\"properties\":{{\"hex_id\":\"{hex_id}\",\"region\":{region_json},\"city\":{city_json},\"population\":{n}"
            )?;
            for (seg, key) in keys.iter().enumerate() {
                let k = u64::from(counts.members_of(c, seg));
                let figures_of = &hot_spots.segments[seg];
                let hidden = privacy.hides_count(k);
                suppressed.counts += u64::from(hidden);
                let figures = CellFigures::new(
                    k,
                    n,
                    big_k[seg],
                    big_n,
                    (
                        figures_of.gi[c],
                        upper_tail_p(figures_of.gi[c]),
                        figures_of.q_value[c],
                        figures_of.hot[c],
                    ),
                    hidden,
                );
                figures.write_json(&mut geojson, key)?;
                let [count, pen, pen_lo, pen_hi, lift, lift_lo, lift_hi, gi, p, q] =
                    figures.csv_fields();
                csv.write_record([
                    hex_id.as_str(),
                    scope.region.as_str(),
                    scope.city.as_str(),
                    segment_names[seg].as_str(),
                    &n.to_string(),
                    &count,
                    &pen,
                    &pen_lo,
                    &pen_hi,
                    &lift,
                    &lift_lo,
                    &lift_hi,
                    &gi,
                    &p,
                    &q,
                    if figures.hot { "true" } else { "false" },
                ])?;
                rows += 1;
            }
            geojson.write_all(b"},\"geometry\":")?;
            write_multipolygon(&mut geojson, &cell_geometry(cell))?;
            geojson.write_all(b"}")?;
        }
        geojson.write_all(b"\n]}\n")?;
        Ok(())
    })();
    result.map_err(io_error(&geojson_path))?;
    let geo_written = geojson.commit().map_err(io_error(&geojson_path))?;
    let csv_file = csv
        .into_inner()
        .map_err(|e| io_error(&csv_path)(e.into_error()))?;
    let csv_written = csv_file.commit().map_err(io_error(&csv_path))?;
    let markets_path = folder.join("micromarkets.geojson");
    let markets_written = write_micromarkets(&markets_path, &counts.scope, markets, segment_names)
        .map_err(io_error(&markets_path))?;
    let segments = segment_names
        .iter()
        .enumerate()
        .map(|(s, name)| {
            let mut of_segment = markets.iter().filter(|m| m.segment == s);
            let best = of_segment.next().map(|m| m.id.clone());
            SegmentRecord {
                segment: name.clone(),
                hot_cells: hot_spots.segments[s].hot.iter().filter(|&&h| h).count() as u64,
                micromarkets: u64::from(best.is_some()) + of_segment.count() as u64,
                best_micromarket: best,
                campaign_members: None,
                campaign_population: None,
                campaign_lift: None,
            }
        })
        .collect();
    let relative = |name: &str| scope.folder.join(name).to_string_lossy().replace('\\', "/");
    Ok(ScopeRecord {
        kind: scope.kind,
        id: scope.id.clone(),
        name: scope.name.clone(),
        region: scope.region.clone(),
        city: scope.city.clone(),
        consumers: big_n,
        cells: counts.cells.len() as u64,
        study_area_cells: hot_spots.study_area_cells as u64,
        fdr_family_size: hot_spots.study_area_cells as u64,
        segments,
        status: "ok".into(),
        error: None,
        outputs: vec![
            OutputRecord::new("cells", relative("cells.geojson"), features, geo_written),
            OutputRecord::new("cells_csv", relative("cells.csv"), rows, csv_written),
            OutputRecord::new(
                "micromarkets",
                relative("micromarkets.geojson"),
                markets.len() as u64,
                markets_written,
            ),
        ],
        suppressed,
    })
}

/// Writes `micromarkets.geojson`: a Feature per micro-market, in rank order.
fn write_micromarkets(
    path: &Path,
    scope: &Scope,
    markets: &[MicroMarket],
    segment_names: &[String],
) -> io::Result<Written> {
    let mut file = AtomicFile::create(path)?;
    file.write_all(b"{\"type\":\"FeatureCollection\",\"features\":[\n")?;
    for (i, m) in markets.iter().enumerate() {
        if i > 0 {
            file.write_all(b",\n")?;
        }
        let interval = wilson(m.consumers, m.population);
        let base = penetration(m.scope_members, m.scope_population).filter(|&b| b > 0.0);
        let properties = serde_json::json!({
            "id": m.id,
            "rank": m.rank,
            "scope_kind": scope.kind,
            "region": json_text(&scope.region),
            "city": json_text(&scope.city),
            "segment": segment_names[m.segment],
            "cells": m.cells.len(),
            "area_km2": round6(m.area_km2),
            "consumers": m.consumers,
            "population": m.population,
            "penetration": stat(m.penetration()),
            "penetration_low": interval.map(|v| round6(v.0)),
            "penetration_high": interval.map(|v| round6(v.1)),
            "lift": stat(m.lift()),
            "lift_low": interval.zip(base).map(|(v, b)| round6(v.0 / b)),
            "lift_high": interval.zip(base).map(|(v, b)| round6(v.1 / b)),
            "max_gi": round6(m.max_gi),
            "centroid_lat": round6(m.centroid_lat),
            "centroid_lon": round6(m.centroid_lng),
        });
        file.write_all(b"{\"type\":\"Feature\",\"properties\":")?;
        serde_json::to_writer(&mut file, &properties)?;
        file.write_all(b",\"geometry\":")?;
        write_multipolygon(&mut file, &m.geometry)?;
        file.write_all(b"}")?;
    }
    file.write_all(b"\n]}\n")?;
    file.commit()
}

/// Writes a scope's `campaign.geojson` (a Feature per segment: its selected cells dissolved) and
/// `campaign.csv` (a row per segment), and fills the campaign figures of `record`. Members below
/// the minimum count are written as null, with the penetration and lift that would reveal them.
///
/// # Errors
///
/// [`ExportError`] naming the file.
pub fn write_campaigns(
    root: &Path,
    record: &mut ScopeRecord,
    scope: &Scope,
    campaigns: &[Campaign],
    segment_names: &[String],
    (budget, unit): (u64, BudgetUnit),
    privacy: Privacy,
) -> Result<(), ExportError> {
    let folder = root.join(&scope.folder);
    let geojson_path = folder.join("campaign.geojson");
    let csv_path = folder.join("campaign.csv");
    let rows: Vec<serde_json::Map<String, serde_json::Value>> = campaigns
        .iter()
        .map(|c| {
            let hidden = privacy.hides_count(c.members);
            let interval = if hidden {
                None
            } else {
                wilson(c.members, c.population)
            };
            let base = penetration(c.scope_members, c.scope_population).filter(|&b| b > 0.0);
            let figures = serde_json::json!({
                "scope_kind": scope.kind,
                "region": json_text(&scope.region),
                "city": json_text(&scope.city),
                "segment": segment_names[c.segment],
                "unit": unit,
                "budget": budget,
                "cells": c.cells.len(),
                "area_km2": round6(c.cells.iter().map(|cell| cell.area_km2()).sum()),
                "members": (!hidden).then_some(c.members),
                "population": c.population,
                "penetration": if hidden { None } else { stat(c.penetration()) },
                "penetration_low": interval.map(|v| round6(v.0)),
                "penetration_high": interval.map(|v| round6(v.1)),
                "lift": if hidden { None } else { stat(c.lift()) },
                "lift_low": interval.zip(base).map(|(v, b)| round6(v.0 / b)),
                "lift_high": interval.zip(base).map(|(v, b)| round6(v.1 / b)),
                "suppressed": hidden,
            });
            let serde_json::Value::Object(map) = figures else {
                unreachable!("json! of an object literal is an object")
            };
            map
        })
        .collect();
    let write_geojson = || -> io::Result<Written> {
        let mut file = AtomicFile::create(&geojson_path)?;
        file.write_all(b"{\"type\":\"FeatureCollection\",\"features\":[\n")?;
        let mut first = true;
        for (c, properties) in campaigns.iter().zip(&rows) {
            if c.cells.is_empty() {
                continue;
            }
            if !first {
                file.write_all(b",\n")?;
            }
            first = false;
            file.write_all(b"{\"type\":\"Feature\",\"properties\":")?;
            serde_json::to_writer(&mut file, properties)?;
            file.write_all(b",\"geometry\":")?;
            let geometry = crate::market::dissolve(&c.cells).map_err(io::Error::other)?;
            write_multipolygon(&mut file, &geometry)?;
            file.write_all(b"}")?;
        }
        file.write_all(b"\n]}\n")?;
        file.commit()
    };
    let geo_written = write_geojson().map_err(io_error(&geojson_path))?;
    let columns = [
        "scope_kind",
        "region",
        "city",
        "segment",
        "unit",
        "budget",
        "cells",
        "area_km2",
        "members",
        "population",
        "penetration",
        "penetration_low",
        "penetration_high",
        "lift",
        "lift_low",
        "lift_high",
        "suppressed",
    ];
    let mut csv =
        csv::Writer::from_writer(AtomicFile::create(&csv_path).map_err(io_error(&csv_path))?);
    let result: Result<(), csv::Error> = (|| {
        csv.write_record(columns)?;
        for row in &rows {
            csv.write_record(columns.iter().map(|&k| {
                match row.get(k).unwrap_or(&serde_json::Value::Null) {
                    serde_json::Value::Null => String::new(),
                    serde_json::Value::String(text) => text.clone(),
                    other => other.to_string(),
                }
            }))?;
        }
        Ok(())
    })();
    result.map_err(|e| io_error(&csv_path)(io::Error::other(e)))?;
    let csv_written = csv
        .into_inner()
        .map_err(|e| io_error(&csv_path)(e.into_error()))?
        .commit()
        .map_err(io_error(&csv_path))?;
    let relative = |name: &str| scope.folder.join(name).to_string_lossy().replace('\\', "/");
    let features = campaigns.iter().filter(|c| !c.cells.is_empty()).count() as u64;
    record.outputs.push(OutputRecord::new(
        "campaign",
        relative("campaign.geojson"),
        features,
        geo_written,
    ));
    record.outputs.push(OutputRecord::new(
        "campaign_csv",
        relative("campaign.csv"),
        rows.len() as u64,
        csv_written,
    ));
    for (segment, c) in record.segments.iter_mut().zip(campaigns) {
        let hidden = privacy.hides_count(c.members);
        segment.campaign_members = (!hidden).then_some(c.members);
        segment.campaign_population = Some(c.population);
        segment.campaign_lift = if hidden { None } else { stat(c.lift()) };
    }
    Ok(())
}

/// Writes a CSV file at the root atomically; `fill` writes the records and returns the row count.
pub(crate) fn write_csv(
    root: &Path,
    name: &str,
    kind: &str,
    fill: impl FnOnce(&mut csv::Writer<AtomicFile>) -> Result<u64, csv::Error>,
) -> Result<OutputRecord, ExportError> {
    let path = root.join(name);
    let mut csv = csv::Writer::from_writer(AtomicFile::create(&path).map_err(io_error(&path))?);
    let rows = fill(&mut csv).map_err(|e| io_error(&path)(io::Error::other(e)))?;
    let file = csv
        .into_inner()
        .map_err(|e| io_error(&path)(e.into_error()))?;
    let written = file.commit().map_err(io_error(&path))?;
    Ok(OutputRecord::new(kind, name.into(), rows, written))
}

/// Writes `summary.csv`: a row per scope × segment with N, K, the base rate `K / N`, hot cells,
/// micro-markets and the best micro-market's id.
///
/// # Errors
///
/// [`ExportError`] naming the file.
pub fn write_summary(
    root: &Path,
    all: &[ScopeCounts],
    records: &[ScopeRecord],
    segment_names: &[String],
    privacy: Privacy,
    suppressed: &mut Suppressed,
) -> Result<OutputRecord, ExportError> {
    write_csv(root, "summary.csv", "summary", |csv| {
        csv.write_record([
            "scope_kind",
            "region",
            "city",
            "segment",
            "population",
            "consumers",
            "base_rate",
            "hot_cells",
            "micromarkets",
            "best_micromarket",
            "campaign_members",
            "campaign_population",
            "campaign_lift",
        ])?;
        let mut rows = 0;
        for (counts, record) in all.iter().zip(records) {
            let big_n = counts.total_population();
            for (s, name) in segment_names.iter().enumerate() {
                let big_k = counts.total_members(s);
                let hide_n = privacy.hides_count(big_n);
                let hide_k = hide_n || privacy.hides_count(big_k);
                suppressed.summary_values += u64::from(hide_n) + u64::from(hide_k);
                let population = if hide_n {
                    String::new()
                } else {
                    big_n.to_string()
                };
                let (consumers, base_rate) = if hide_k {
                    (String::new(), String::new())
                } else {
                    (
                        big_k.to_string(),
                        stat(penetration(big_k, big_n))
                            .map(|p| p.to_string())
                            .unwrap_or_default(),
                    )
                };
                csv.write_record([
                    counts.scope.kind.as_str(),
                    counts.scope.region.as_str(),
                    counts.scope.city.as_str(),
                    name.as_str(),
                    &population,
                    &consumers,
                    &base_rate,
                    &record.segments[s].hot_cells.to_string(),
                    &record.segments[s].micromarkets.to_string(),
                    record.segments[s].best_micromarket.as_deref().unwrap_or(""),
                    &opt_text(record.segments[s].campaign_members),
                    &opt_text(record.segments[s].campaign_population),
                    &opt_text(record.segments[s].campaign_lift),
                ])?;
                rows += 1;
            }
        }
        Ok(rows)
    })
}

/// Writes `rejects.csv`: line, reason, detail and the original text of every rejected row.
///
/// # Errors
///
/// [`ExportError`] naming the file.
pub fn write_rejects(root: &Path, rejects: &[Reject]) -> Result<OutputRecord, ExportError> {
    write_rejects_as(root, "rejects.csv", "rejects", rejects)
}

/// Writes rejected rows to `root/name`, listed as `kind`.
///
/// # Errors
///
/// [`ExportError`] naming the file.
pub fn write_rejects_as(
    root: &Path,
    name: &str,
    kind: &str,
    rejects: &[Reject],
) -> Result<OutputRecord, ExportError> {
    write_csv(root, name, kind, |csv| {
        csv.write_record(["line", "reason", "detail", "text"])?;
        for r in rejects {
            csv.write_record([&r.line.to_string(), r.reason.code(), &r.detail, &r.text])?;
        }
        Ok(rejects.len() as u64)
    })
}

/// Writes `manifest.json` at the root, last, so its presence means the rest is complete.
///
/// # Errors
///
/// [`ExportError`] naming the file.
pub fn write_manifest(
    root: &Path,
    manifest: &impl serde::Serialize,
) -> Result<PathBuf, ExportError> {
    std::fs::create_dir_all(root).map_err(io_error(root))?;
    let path = root.join("manifest.json");
    let mut file = AtomicFile::create(&path).map_err(io_error(&path))?;
    serde_json::to_writer_pretty(&mut file, manifest)
        .map_err(|e| io_error(&path)(io::Error::other(e)))?;
    file.write_all(b"\n").map_err(io_error(&path))?;
    file.commit().map_err(io_error(&path))?;
    Ok(path)
}
