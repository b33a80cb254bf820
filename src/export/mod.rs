//! Outputs: streamed RFC 7946 GeoJSON, CSV files and the manifest, each written atomically.

mod atomic;
mod cells;
mod format;
mod geometry;
mod geoparquet;
mod manifest;
mod map;
mod staging;
mod text;

pub(crate) use atomic::io_error;
pub use atomic::{AtomicFile, ExportError, Written, hex, remove_stale_temporaries, sha256_file};
pub use format::{Format, Formats};
pub use geometry::{cell_geometry, write_multipolygon};
pub use manifest::{InputRecord, Manifest, OutputRecord, Parameters, RunStatus, ScopeRecord, Tool};
use map::{MapInputs, write_map};
pub use map::{MapOptions, write_index, write_map_assets};
pub use staging::{Staging, sync_folder};
pub(crate) use text::{json_text, opt_text, stat};

use crate::boundary::Boundaries;
use crate::consumer::Reject;
use crate::disclosure::Rates;
use crate::market::MicroMarket;
use crate::scope::{ScopeAnalysis, ScopeFigures};
use crate::stats::Scope;
use crate::stats::round6;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// What the writers need besides a scope's analysis.
#[derive(Debug, Clone, Copy)]
pub struct ExportOptions<'a> {
    /// A `map.html` per scope with these options; `None` writes none.
    pub maps: Option<&'a MapOptions>,
    /// The run's boundaries, drawn on the maps.
    pub boundaries: &'a Boundaries,
    /// The cell layers to write.
    pub formats: Formats,
}

/// A scope's path `name` relative to the output root, with `/`.
fn relative(scope: &Scope, name: &str) -> String {
    scope.folder.join(name).to_string_lossy().replace('\\', "/")
}

/// Writes `bytes` to `path` atomically.
fn write_bytes(path: &Path, bytes: &[u8]) -> Result<Written, ExportError> {
    let mut file = AtomicFile::create(path).map_err(io_error(path))?;
    file.write_all(bytes).map_err(io_error(path))?;
    file.commit().map_err(io_error(path))
}

/// Writes a scope's files into `root/<scope folder>/`: its cell layers in the chosen formats,
/// `micromarkets.geojson`, with a budget `campaign.geojson` and `campaign.csv`, and with maps
/// `map.html`; returns the scope's manifest record.
///
/// # Errors
///
/// [`ExportError`] naming the file that could not be written.
pub fn write_scope(
    root: &Path,
    analysis: &ScopeAnalysis<'_>,
    options: &ExportOptions<'_>,
) -> Result<ScopeRecord, ExportError> {
    let scope = &analysis.counts.scope;
    let folder = root.join(&scope.folder);
    std::fs::create_dir_all(&folder).map_err(io_error(&folder))?;
    let mut outputs = cells::write_cells(&folder, analysis, options.formats)?;
    let markets = micromarkets_geojson(scope, &analysis.markets, analysis.segment_names)
        .map_err(io_error(&folder.join("micromarkets.geojson")))?;
    outputs.push(OutputRecord::new(
        "micromarkets",
        relative(scope, "micromarkets.geojson"),
        analysis.markets.len() as u64,
        write_bytes(&folder.join("micromarkets.geojson"), &markets)?,
    ));
    let campaign = match analysis.params.budget {
        Some(budget) => {
            let (records, geojson) = write_campaigns(&folder, analysis, budget)?;
            outputs.extend(records);
            Some(geojson)
        }
        None => None,
    };
    if let Some(map_options) = options.maps {
        let areas = crate::stats::scope_areas(options.boundaries, scope);
        let inputs = MapInputs {
            counts: analysis.counts,
            hot_spots: &analysis.hot_spots,
            figures: &analysis.figures,
            areas: &areas,
            segment_names: analysis.segment_names,
            privacy: analysis.params.privacy(),
            fdr: analysis.params.fdr,
        };
        outputs.push(write_map(
            &folder,
            &inputs,
            map_options,
            &markets,
            campaign.as_deref(),
        )?);
    }
    let figures = &analysis.figures;
    Ok(ScopeRecord {
        kind: scope.kind,
        id: scope.id.clone(),
        name: scope.name.clone(),
        region: scope.region.clone(),
        city: scope.city.clone(),
        consumers: figures.consumers,
        cells: figures.cells,
        study_area_cells: figures.study_area_cells,
        fdr_family_size: figures.study_area_cells,
        segments: figures.segments.clone(),
        status: RunStatus::Ok,
        error: None,
        outputs,
        suppressed: figures.suppressed.clone(),
    })
}

/// `micromarkets.geojson`: a Feature per micro-market, in rank order.
fn micromarkets_geojson(
    scope: &Scope,
    markets: &[MicroMarket],
    segment_names: &[String],
) -> io::Result<Vec<u8>> {
    let mut file = Vec::new();
    file.write_all(b"{\"type\":\"FeatureCollection\",\"features\":[\n")?;
    for (i, m) in markets.iter().enumerate() {
        if i > 0 {
            file.write_all(b",\n")?;
        }
        let rates = Rates::of(m.members, m.population, m.scope_members, m.scope_population);
        let mut properties = serde_json::json!({
            "id": m.id,
            "rank": m.rank,
            "scope_kind": scope.kind,
            "region": json_text(&scope.region),
            "city": json_text(&scope.city),
            "segment": segment_names[m.segment],
            "cells": m.cells.len(),
            "area_km2": round6(m.area_km2),
            "members": m.members,
            "population": m.population,
            "max_gi": round6(m.max_gi),
            "centroid_lat": round6(m.centroid_lat),
            "centroid_lon": round6(m.centroid_lng),
        });
        if let serde_json::Value::Object(map) = &mut properties {
            map.extend(rate_properties(&rates));
        }
        file.write_all(b"{\"type\":\"Feature\",\"properties\":")?;
        serde_json::to_writer(&mut file, &properties)?;
        file.write_all(b",\"geometry\":")?;
        write_multipolygon(&mut file, &m.geometry)?;
        file.write_all(b"}")?;
    }
    file.write_all(b"\n]}\n")?;
    Ok(file)
}

/// Penetration and lift with their intervals, as GeoJSON properties.
fn rate_properties(rates: &Rates) -> [(String, serde_json::Value); 6] {
    let (p, l) = (rates.penetration_interval, rates.lift_interval);
    [
        ("penetration".into(), serde_json::json!(rates.penetration)),
        ("penetration_low".into(), serde_json::json!(p.map(|v| v.0))),
        ("penetration_high".into(), serde_json::json!(p.map(|v| v.1))),
        ("lift".into(), serde_json::json!(rates.lift)),
        ("lift_low".into(), serde_json::json!(l.map(|v| v.0))),
        ("lift_high".into(), serde_json::json!(l.map(|v| v.1))),
    ]
}

/// Column names of `campaign.csv`, also the properties of `campaign.geojson`.
const CAMPAIGN_COLUMNS: [&str; 17] = [
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

/// Writes a scope's `campaign.geojson` (a Feature per segment: its selected cells dissolved) and
/// `campaign.csv` (a row per segment) into `folder`; returns their records and the GeoJSON.
fn write_campaigns(
    folder: &Path,
    analysis: &ScopeAnalysis<'_>,
    budget: u64,
) -> Result<(Vec<OutputRecord>, Vec<u8>), ExportError> {
    let scope = &analysis.counts.scope;
    let privacy = analysis.params.privacy();
    let campaigns = &analysis.campaigns;
    let geojson_path = folder.join("campaign.geojson");
    let rows: Vec<serde_json::Map<String, serde_json::Value>> = campaigns
        .iter()
        .map(|c| {
            let published =
                privacy.group(c.members, c.population, c.scope_members, c.scope_population);
            let figures = serde_json::json!({
                "scope_kind": scope.kind,
                "region": json_text(&scope.region),
                "city": json_text(&scope.city),
                "segment": analysis.segment_names[c.segment],
                "unit": analysis.params.budget_unit,
                "budget": budget,
                "cells": c.cells.len(),
                "area_km2": round6(c.cells.iter().map(|cell| cell.area_km2()).sum()),
                "members": published.members,
                "population": c.population,
                "suppressed": published.suppressed,
            });
            let serde_json::Value::Object(mut map) = figures else {
                unreachable!("json! of an object literal is an object")
            };
            map.extend(rate_properties(&published.rates));
            map
        })
        .collect();
    let geojson = (|| -> io::Result<Vec<u8>> {
        let mut file = Vec::new();
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
        Ok(file)
    })()
    .map_err(io_error(&geojson_path))?;
    let features = campaigns.iter().filter(|c| !c.cells.is_empty()).count() as u64;
    let geo_record = OutputRecord::new(
        "campaign",
        relative(scope, "campaign.geojson"),
        features,
        write_bytes(&geojson_path, &geojson)?,
    );
    let mut csv_record = write_csv(folder, "campaign.csv", "campaign_csv", |csv| {
        csv.write_record(CAMPAIGN_COLUMNS)?;
        for row in &rows {
            csv.write_record(CAMPAIGN_COLUMNS.iter().map(|&k| {
                match row.get(k).unwrap_or(&serde_json::Value::Null) {
                    serde_json::Value::Null => String::new(),
                    serde_json::Value::String(text) => text.clone(),
                    other => other.to_string(),
                }
            }))?;
        }
        Ok(rows.len() as u64)
    })?;
    csv_record.path = relative(scope, "campaign.csv");
    Ok((vec![geo_record, csv_record], geojson))
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
/// micro-markets, the best micro-market's id and the campaign's figures, as published.
///
/// # Errors
///
/// [`ExportError`] naming the file.
pub fn write_summary(
    root: &Path,
    scopes: &[ScopeFigures],
    segment_names: &[String],
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
        for figures in scopes {
            let scope = &figures.scope;
            for ((name, totals), segment) in segment_names
                .iter()
                .zip(&figures.totals)
                .zip(&figures.segments)
            {
                csv.write_record([
                    scope.kind.as_str(),
                    scope.region.as_str(),
                    scope.city.as_str(),
                    name.as_str(),
                    &opt_text(totals.population),
                    &opt_text(totals.members),
                    &opt_text(stat(totals.base_rate)),
                    &segment.hot_cells.to_string(),
                    &segment.micromarkets.to_string(),
                    segment.best_micromarket.as_deref().unwrap_or(""),
                    &opt_text(segment.campaign_members),
                    &opt_text(segment.campaign_population),
                    &opt_text(segment.campaign_lift),
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
    file.commit_synced().map_err(io_error(&path))?;
    Ok(path)
}
