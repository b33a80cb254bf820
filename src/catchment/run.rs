//! A catchment run: consumers and stores read, consumers located and indexed, each store's
//! catchment counted, the outputs written.

use super::assign::{CatchmentMode, Stores, catchments};
use crate::analyze::{AnalyzeConfig, Prepared, elapsed_ms, input_record, prepare, run_staged};
use crate::boundary::{Located, Locator};
use crate::consumer::{Column, IngestOptions, Ingested, Source, ingest};
use crate::error::Error;
use crate::export::{self, RunStatus, Tool};
use crate::index::ConsumerIndex;
use crate::perturb::KeyOrigin;
use crate::progress::Progress;
use crate::stats;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// The manifest of a `catchment` run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CatchmentManifest {
    /// Tool name and version.
    pub tool: crate::export::Tool,
    /// ok, or failed with `error`.
    pub status: crate::export::RunStatus,
    /// Why the run failed.
    pub error: Option<String>,
    /// Radius or nearest, with its distance.
    pub mode: CatchmentMode,
    /// Minimum count k.
    pub min_count: u32,
    /// How counts were protected.
    pub privacy: crate::perturb::PrivacyRecord,
    /// H3 resolution of catchment shapes.
    pub resolution: u8,
    /// Input files.
    pub inputs: Vec<crate::export::InputRecord>,
    /// Consumer rows: read = accepted + rejected.
    pub rows: crate::consumer::RowCounts,
    /// Store rows: read = accepted + rejected.
    pub store_rows: crate::consumer::RowCounts,
    /// Consumers in at least one catchment, as published (null below the minimum count).
    pub assigned: Option<u64>,
    /// Files written.
    pub outputs: Vec<crate::export::OutputRecord>,
    /// The file of rejected consumer rows, outside the output folder.
    pub rejects: crate::export::OutputRecord,
    /// Non-fatal problems found in the inputs.
    pub warnings: Vec<String>,
    /// Milliseconds per stage.
    pub timings_ms: std::collections::BTreeMap<String, u64>,
    /// For a failed run: the manifest of the earlier complete run whose files the folder still
    /// holds (absent when there is none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<serde_json::Value>,
}

/// Reads a stores CSV (`id,name,lat,lon`; bad rows are rejected as for consumers): the stores,
/// named by their `name` column (else their id), and the rows as read.
fn read_stores(source: &Source) -> Result<(Stores, Ingested), Error> {
    let options = IngestOptions {
        keep_ids: true,
        ..IngestOptions::default()
    };
    let rows = ingest(source, &options)?;
    if rows.table.is_empty() {
        return Err(Error::NoStores {
            file: source.name(),
            rejected: rows.rows.rejected,
        });
    }
    let table = &rows.table;
    let names = match table.attribute("name").map(|a| &a.column) {
        Some(Column::Categorical { codes, dictionary }) => codes
            .iter()
            .zip(&table.ids)
            .map(|(&c, id)| dictionary.get(c as usize).unwrap_or(id).clone())
            .collect(),
        _ => table.ids.clone(),
    };
    let stores = Stores {
        ids: table.ids.clone(),
        names,
        lat: table.lat.clone(),
        lng: table.lng.clone(),
    };
    Ok((stores, rows))
}

/// Runs a store-catchment analysis: consumers within a radius of, or nearest to, each store of
/// `stores`, with their segment figures against each store's scope, written under `config.out`
/// (aside, then swapped into place when complete, as for `analyze`). A run that fails after it
/// started (too many rejected consumer rows, a write error) says so in `manifest.json` with
/// status `failed` and the error, as `analyze` does ([`export::Staging::fail`]).
///
/// # Errors
///
/// [`Error`] for invalid inputs (including a stores file with no valid store), too many rejected
/// consumer rows, or a write failure (naming the file by its place in `config.out`).
pub fn run_catchments(
    config: &AnalyzeConfig,
    stores: &Source,
    mode: CatchmentMode,
    progress: &Arc<Progress>,
) -> Result<CatchmentManifest, Error> {
    let run_started = Instant::now();
    let mut timings = BTreeMap::new();
    // The output folder is checked before any work.
    let staging = export::Staging::begin(&config.out)?;
    let prepared = prepare(config, &mut timings, progress)?;
    progress.stage("stores");
    let (store_set, store_rows) = read_stores(stores)?;
    let too_many_rejects =
        Error::too_many_rejects(&prepared.ingested.rows, config.params.max_reject_ratio);
    let table = &prepared.ingested.table;
    let locator = Locator::new(&prepared.boundaries, config.params.resolution);
    progress.stage("locate and index");
    let started = Instant::now();
    let located = locator.locate(&table.lat, &table.lng);
    if too_many_rejects.is_none() {
        prepared.check_placement(&config.consumers.name(), &located, &locator)?;
    }
    timings.insert("locate".into(), elapsed_ms(started));
    let privacy = config.params.privacy();
    let key_origin = config
        .privacy_key
        .as_ref()
        .map_or(KeyOrigin::DerivedFromInputs, |key| key.origin);
    let mut inputs = prepared.inputs.clone();
    inputs.push(input_record("stores", stores)?);
    let mut warnings = prepared.warnings.clone();
    warnings.extend(crate::perturb::key_warning(privacy, key_origin));
    let manifest = CatchmentManifest {
        tool: Tool::default(),
        status: RunStatus::Ok,
        error: None,
        mode,
        min_count: config.params.min_count,
        privacy: crate::perturb::PrivacyRecord::new(privacy, key_origin),
        resolution: u8::from(config.params.resolution),
        inputs,
        rows: prepared.ingested.rows.clone(),
        store_rows: store_rows.rows.clone(),
        assigned: None,
        outputs: Vec::new(),
        rejects: export::write_rejects_file(&config.rejects_path(), &prepared.ingested.rejects)?,
        warnings,
        timings_ms: timings,
        previous: None,
    };
    run_staged(
        staging,
        too_many_rejects,
        |out| {
            write_run(
                config,
                (&prepared, &locator, &located),
                (&store_set, &store_rows, mode),
                (manifest.clone(), run_started),
                out,
                progress,
            )
        },
        |error, previous| CatchmentManifest {
            status: RunStatus::Failed,
            error: Some(error),
            previous,
            ..manifest.clone()
        },
    )
}

/// Indexes the located consumers, counts each store's catchment and writes every output of a
/// run started at `run_started` into `out`; returns its manifest, `manifest` completed.
fn write_run(
    config: &AnalyzeConfig,
    (prepared, locator, located): (&Prepared, &Locator, &Located),
    (store_set, store_rows, mode): (&Stores, &Ingested, CatchmentMode),
    (mut manifest, run_started): (CatchmentManifest, Instant),
    out: &Path,
    progress: &Arc<Progress>,
) -> Result<CatchmentManifest, Error> {
    let table = &prepared.ingested.table;
    let privacy = config.params.privacy();
    let timings = &mut manifest.timings_ms;
    progress.stage("aggregate and index");
    let started = Instant::now();
    let (record_keys, _) =
        crate::perturb::record_keys(config.privacy_key.as_ref(), &table.id_hashes);
    // Scopes as their protected tables: a store's lift is against its scope's published base rate.
    let scopes: Vec<stats::ScopeCounts> = stats::aggregate(
        &prepared.boundaries,
        located,
        &prepared.segments,
        &record_keys,
    )
    .iter()
    .map(|s| privacy.protect(s).into_owned())
    .collect();
    let index = ConsumerIndex::new(&table.lat, &table.lng);
    timings.insert("aggregate_and_index".into(), elapsed_ms(started));
    progress.stage("catchments");
    let started = Instant::now();
    let result = catchments(
        &index,
        located,
        &prepared.segments,
        (store_set, mode),
        locator,
        &scopes,
        (&record_keys, privacy),
    );
    timings.insert("catchments".into(), elapsed_ms(started));
    progress.stage("export");
    let started = Instant::now();
    let segment_names: Vec<String> = prepared.segments.iter().map(|s| s.name.clone()).collect();
    let mut outputs = super::export::write_catchments(
        out,
        store_set,
        &result,
        &scopes,
        &segment_names,
        privacy,
        matches!(mode, CatchmentMode::Radius { .. }),
    )?;
    outputs.push(export::write_rejects_as(
        out,
        "store_rejects.csv",
        "store_rejects",
        &store_rows.rejects,
    )?);
    timings.insert("export".into(), elapsed_ms(started));
    timings.insert("total".into(), elapsed_ms(run_started));
    manifest.assigned = privacy.count(result.assigned);
    manifest.outputs = outputs;
    export::write_manifest(out, &manifest)?;
    Ok(manifest)
}
