//! Outputs: streamed RFC 7946 GeoJSON, CSV files and the manifest, each written atomically.

mod atomic;
mod cells;
mod format;
mod geometry;
mod geoparquet;
mod groups;
mod manifest;
mod map;
mod staging;
mod text;

pub(crate) use atomic::io_error;
pub use atomic::{AtomicFile, ExportError, Written, hex, remove_stale_temporaries, sha256_file};
pub use format::{Format, Formats};
pub use geometry::{CellOutlines, cell_geometry, write_multipolygon};
pub use manifest::{InputRecord, Manifest, OutputRecord, Parameters, RunStatus, ScopeRecord, Tool};
use map::{MapInputs, write_map};
pub use map::{MapOptions, write_index, write_map_assets};
pub use staging::{Staging, sync_folder};
pub(crate) use text::{json_text, opt_text, stat};

use crate::boundary::Boundaries;
use crate::consumer::Reject;
use crate::scope::{ScopeAnalysis, ScopeFigures};
use crate::stats::Scope;
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
    /// The region and city of each cell for the layers' rows; `None` gives every row its
    /// scope's own.
    pub places: Option<&'a crate::stats::CellPlaces>,
    /// The outlines of the cells drawn, shared by the scopes; `None` computes each where it
    /// is drawn.
    pub outlines: Option<&'a CellOutlines>,
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
/// `micromarkets.geojson`, with a budget `campaign.geojson` and `campaign.csv` (with Parquet
/// their `.parquet` twins), and with maps `map.html`; returns the scope's manifest record.
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
    let mut outputs = cells::write_cells(&folder, analysis, options)?;
    let (records, markets) = groups::write_micromarkets(&folder, analysis, options.formats)?;
    outputs.extend(records);
    let campaign = match analysis.params.budget {
        Some(budget) => {
            let (records, geojson) =
                groups::write_campaigns(&folder, analysis, budget, options.formats)?;
            outputs.extend(records);
            Some(geojson)
        }
        None => None,
    };
    if let Some(map_options) = options.maps {
        let areas = crate::stats::scope_areas(options.boundaries, scope);
        let inputs = MapInputs {
            counts: &analysis.counts,
            hot_spots: &analysis.hot_spots,
            markets: &analysis.markets,
            figures: &analysis.figures,
            areas: &areas,
            segment_names: analysis.segment_names,
            privacy: analysis.params.privacy(),
            fdr: analysis.params.fdr,
            min_lift: analysis.params.min_lift,
            outlines: options.outlines,
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
        cells_shown: figures.cells_shown,
        study_area_cells: figures.study_area_cells,
        fdr_family_size: figures.study_area_cells,
        segments: figures.segments.clone(),
        status: RunStatus::Ok,
        error: None,
        outputs,
        outputs_in: None,
        suppressed: figures.suppressed.clone(),
    })
}

/// The figures and record of `scope`, which holds exactly the consumers of `all` (whose figures
/// and record these are): `all`'s figures under its own name, and a record pointing to `all`'s
/// outputs instead of files of its own (see `scope::same_as_all`).
pub fn reported_as_all(
    scope: &Scope,
    (figures, record): &(ScopeFigures, ScopeRecord),
) -> (ScopeFigures, ScopeRecord) {
    let figures = ScopeFigures {
        scope: scope.clone(),
        ..figures.clone()
    };
    let record = ScopeRecord {
        kind: scope.kind,
        id: scope.id.clone(),
        name: scope.name.clone(),
        region: scope.region.clone(),
        city: scope.city.clone(),
        outputs: Vec::new(),
        outputs_in: Some(figures.outputs_in.to_string_lossy().replace('\\', "/")),
        suppressed: crate::disclosure::Suppressed::default(),
        ..record.clone()
    };
    (figures, record)
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
/// micro-markets, the best micro-market's id and the campaign's figures, as published, and the
/// privacy method they were published under (`none` marks exact counts).
///
/// # Errors
///
/// [`ExportError`] naming the file.
pub fn write_summary(
    root: &Path,
    scopes: &[ScopeFigures],
    segment_names: &[String],
    privacy: crate::disclosure::PrivacyMethod,
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
            "privacy",
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
                    segment
                        .best_micromarket
                        .as_ref()
                        .map_or("", |m| m.id.as_str()),
                    &opt_text(segment.campaign_members),
                    &opt_text(segment.campaign_population),
                    &opt_text(segment.campaign_lift),
                    privacy.as_str(),
                ])?;
                rows += 1;
            }
        }
        Ok(rows)
    })
}

/// Where rejected consumer rows go when no path is given: beside the output folder, never in it
/// (`out/` → `out.rejects.csv`), since they are raw rows and the folder is what gets shared.
pub fn default_rejects_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().map_or_else(
        || std::ffi::OsString::from("out"),
        std::ffi::OsStr::to_os_string,
    );
    name.push(".rejects.csv");
    out.with_file_name(name)
}

/// Writes rejected consumer rows to `path`, outside the output folder; the record names `path`
/// as given.
///
/// # Errors
///
/// [`ExportError`] naming the file.
pub fn write_rejects_file(path: &Path, rejects: &[Reject]) -> Result<OutputRecord, ExportError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    let name = path.file_name().map_or_else(
        || "rejects.csv".into(),
        |n| n.to_string_lossy().into_owned(),
    );
    let mut record = write_rejects_as(dir, &name, "rejects", rejects)?;
    record.path = path.display().to_string();
    Ok(record)
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
    serde_json::to_writer(&mut file, manifest).map_err(|e| io_error(&path)(io::Error::other(e)))?;
    file.write_all(b"\n").map_err(io_error(&path))?;
    file.commit_synced().map_err(io_error(&path))?;
    Ok(path)
}
