//! Outputs: streamed RFC 7946 GeoJSON, CSV files and the manifest, each written atomically.

mod atomic;
mod geometry;
mod manifest;

pub use atomic::{AtomicFile, Written, hex};
pub use geometry::{cell_geometry, round6, write_multipolygon};
pub use manifest::{
    InputRecord, Manifest, OutputRecord, Parameters, ScopeRecord, Suppressed, Tool,
};

use crate::consumer::Reject;
use crate::stats::{Privacy, ScopeCounts, lift, penetration};
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

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> ExportError + '_ {
    move |source| ExportError {
        path: path.display().to_string(),
        source,
    }
}

/// Rounds a statistic for output; statistics are written with 6 decimals.
fn stat(x: Option<f64>) -> Option<f64> {
    x.map(round6)
}

/// JSON keys of one segment's cell properties, escaped once.
struct SegmentKeys {
    count: String,
    penetration: String,
    lift: String,
    suppressed: String,
}

impl SegmentKeys {
    fn new(name: &str) -> Self {
        let key = |suffix: &str| {
            format!(
                ",{}:",
                serde_json::to_string(&format!("{name}_{suffix}")).expect("strings serialize")
            )
        };
        SegmentKeys {
            count: key("count"),
            penetration: key("penetration"),
            lift: key("lift"),
            suppressed: key("suppressed"),
        }
    }
}

fn json_opt<T: serde::Serialize>(w: &mut impl Write, value: Option<&T>) -> io::Result<()> {
    serde_json::to_writer(w, &value).map_err(io::Error::other)
}

fn json_text(text: &str) -> Option<&str> {
    (!text.is_empty()).then_some(text)
}

/// Writes a scope's `cells.geojson` and `cells.csv` into `root/<scope folder>/`.
///
/// Cells with fewer than `min_count` consumers are left out; segment counts below it are written
/// as null with `<segment>_suppressed: true`, and so are their penetration and lift (which would
/// reveal the count).
///
/// # Errors
///
/// [`ExportError`] naming the file that could not be written.
pub fn write_scope(
    root: &Path,
    counts: &ScopeCounts,
    segment_names: &[String],
    privacy: Privacy,
) -> Result<ScopeRecord, ExportError> {
    let folder = root.join(&counts.scope.folder);
    std::fs::create_dir_all(&folder).map_err(io_error(&folder))?;
    let big_n = counts.total_population();
    let big_k: Vec<u64> = (0..counts.segments)
        .map(|s| counts.total_members(s))
        .collect();
    let keys: Vec<SegmentKeys> = segment_names.iter().map(|n| SegmentKeys::new(n)).collect();
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
        csv.write_record([
            "hex_id",
            "region",
            "city",
            "segment",
            "population",
            "count",
            "penetration",
            "lift",
        ])?;
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
            for (s, key) in keys.iter().enumerate() {
                let k = u64::from(counts.members_of(c, s));
                let hidden = privacy.hides_count(k);
                if hidden {
                    suppressed.counts += 1;
                }
                let (count, p, l) = if hidden {
                    (None, None, None)
                } else {
                    (
                        Some(k),
                        stat(penetration(k, n)),
                        stat(lift(k, n, big_k[s], big_n)),
                    )
                };
                geojson.write_all(key.count.as_bytes())?;
                json_opt(&mut geojson, count.as_ref())?;
                geojson.write_all(key.penetration.as_bytes())?;
                json_opt(&mut geojson, p.as_ref())?;
                geojson.write_all(key.lift.as_bytes())?;
                json_opt(&mut geojson, l.as_ref())?;
                geojson.write_all(key.suppressed.as_bytes())?;
                geojson.write_all(if hidden { b"true" } else { b"false" })?;
                let text = |x: Option<f64>| x.map(|v| v.to_string()).unwrap_or_default();
                csv.write_record([
                    hex_id.as_str(),
                    scope.region.as_str(),
                    scope.city.as_str(),
                    segment_names[s].as_str(),
                    &n.to_string(),
                    &count.map(|k| k.to_string()).unwrap_or_default(),
                    &text(p),
                    &text(l),
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
    let relative = |name: &str| scope.folder.join(name).to_string_lossy().replace('\\', "/");
    Ok(ScopeRecord {
        kind: scope.kind,
        id: scope.id.clone(),
        name: scope.name.clone(),
        region: scope.region.clone(),
        city: scope.city.clone(),
        consumers: big_n,
        cells: counts.cells.len() as u64,
        status: "ok".into(),
        error: None,
        outputs: vec![
            OutputRecord::new("cells", relative("cells.geojson"), features, geo_written),
            OutputRecord::new("cells_csv", relative("cells.csv"), rows, csv_written),
        ],
        suppressed,
    })
}

/// Writes a CSV file at the root atomically; `fill` writes the records and returns the row count.
fn write_csv(
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

/// Writes `summary.csv`: a row per scope × segment with N, K and the base rate `K / N`.
///
/// # Errors
///
/// [`ExportError`] naming the file.
pub fn write_summary(
    root: &Path,
    all: &[ScopeCounts],
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
        ])?;
        let mut rows = 0;
        for counts in all {
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
    write_csv(root, "rejects.csv", "rejects", |csv| {
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
pub fn write_manifest(root: &Path, manifest: &Manifest) -> Result<PathBuf, ExportError> {
    std::fs::create_dir_all(root).map_err(io_error(root))?;
    let path = root.join("manifest.json");
    let mut file = AtomicFile::create(&path).map_err(io_error(&path))?;
    serde_json::to_writer_pretty(&mut file, manifest)
        .map_err(|e| io_error(&path)(io::Error::other(e)))?;
    file.write_all(b"\n").map_err(io_error(&path))?;
    file.commit().map_err(io_error(&path))?;
    Ok(path)
}
