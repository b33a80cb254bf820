//! A catchment run: consumers and stores read, consumers located and indexed, each store's
//! catchment counted, the outputs written.

use super::assign::{CatchmentMode, Stores, catchments};
use crate::analyze::{AnalyzeConfig, elapsed_ms, input_record, prepare};
use crate::boundary::Locator;
use crate::consumer::{Column, IngestOptions, Ingested, Source, ingest};
use crate::error::Error;
use crate::export::{self, RunStatus, Tool};
use crate::index::ConsumerIndex;
use crate::progress::Progress;
use crate::stats;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

/// The manifest of a `catchment` run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CatchmentManifest {
    /// Tool name and version.
    pub tool: crate::export::Tool,
    /// ok or failed.
    pub status: crate::export::RunStatus,
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
/// (aside, then swapped into place when complete, as for `analyze`).
///
/// # Errors
///
/// [`Error`] for invalid inputs (including a stores file with no valid store), too many rejected
/// consumer rows, or a write failure.
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
    if let Some(error) =
        Error::too_many_rejects(&prepared.ingested.rows, config.params.max_reject_ratio)
    {
        return Err(error);
    }
    progress.stage("locate and index");
    let started = Instant::now();
    let table = &prepared.ingested.table;
    let locator = Locator::new(&prepared.boundaries, config.params.resolution);
    let located = locator.locate(&table.lat, &table.lng);
    prepared.check_placement(&config.consumers.name(), &located, &locator)?;
    let privacy = config.params.privacy();
    let (record_keys, key_origin) =
        crate::perturb::record_keys(config.privacy_key.as_ref(), &table.id_hashes);
    // Scopes as their protected tables: a store's lift is against its scope's published base rate.
    let scopes: Vec<stats::ScopeCounts> = stats::aggregate(
        &prepared.boundaries,
        &located,
        &prepared.segments,
        &record_keys,
    )
    .iter()
    .map(|s| privacy.protect(s).into_owned())
    .collect();
    let index = ConsumerIndex::new(&table.lat, &table.lng);
    timings.insert("locate_and_index".into(), elapsed_ms(started));
    progress.stage("catchments");
    let started = Instant::now();
    let result = catchments(
        &index,
        &located,
        &prepared.segments,
        (&store_set, mode),
        &locator,
        &scopes,
        (&record_keys, privacy),
    );
    timings.insert("catchments".into(), elapsed_ms(started));
    progress.stage("export");
    let started = Instant::now();
    let segment_names: Vec<String> = prepared.segments.iter().map(|s| s.name.clone()).collect();
    let rejects = export::write_rejects_file(&config.rejects_path(), &prepared.ingested.rejects)?;
    let out = staging.dir();
    let mut outputs = super::export::write_catchments(
        out,
        &store_set,
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
    let mut inputs = prepared.inputs;
    inputs.push(input_record("stores", stores)?);
    let manifest = CatchmentManifest {
        tool: Tool::default(),
        status: RunStatus::Ok,
        mode,
        min_count: config.params.min_count,
        privacy: crate::perturb::PrivacyRecord::new(privacy, key_origin),
        resolution: u8::from(config.params.resolution),
        inputs,
        rows: prepared.ingested.rows,
        store_rows: store_rows.rows,
        assigned: privacy.count(result.assigned),
        outputs,
        rejects,
        warnings: {
            let mut warnings = prepared.warnings;
            warnings.extend(crate::perturb::key_warning(privacy, key_origin));
            warnings
        },
        timings_ms: timings,
    };
    export::write_manifest(out, &manifest)?;
    staging.commit()?;
    Ok(manifest)
}
