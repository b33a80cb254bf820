//! One analysis run, from inputs to outputs: the data flow of DESIGN.md as one function.

mod check;
mod config;

pub use check::{InputCheck, check_inputs, check_placement};
pub use config::{AnalyzeConfig, TextInput};

use crate::boundary::{Boundaries, Located, Locator};
use crate::consumer::{IngestOptions, Ingested, Reject, RowCounts, Source, ingest};
use crate::disclosure::Suppressed;
use crate::error::Error;
use crate::export::{self, InputRecord, Manifest, Parameters, RunStatus, ScopeRecord, Tool, hex};
use crate::params::AnalysisParams;
use crate::perturb::{KeyOrigin, PrivacyRecord};
use crate::progress::Progress;
use crate::scope::{ScopeFigures, analyze_scope};
use crate::segment::{self, SegmentsFile};
use crate::stats;
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Checked inputs, ready to analyze.
pub struct Prepared {
    /// Boundaries.
    pub boundaries: Boundaries,
    /// Consumers.
    pub ingested: Ingested,
    /// Evaluated segments.
    pub segments: Vec<segment::Segment>,
    /// Warnings from boundaries and segments.
    pub warnings: Vec<String>,
    /// Input file records.
    pub inputs: Vec<InputRecord>,
}

impl Prepared {
    /// [`check_placement`] of these consumers and boundaries, located as `located`.
    ///
    /// # Errors
    ///
    /// As [`check_placement`].
    pub fn check_placement(
        &self,
        file: &str,
        located: &Located,
        locator: &Locator,
    ) -> Result<(), Error> {
        let ingested = &self.ingested;
        check_placement(
            file,
            &ingested.rows,
            &ingested.table,
            located,
            (&self.boundaries, locator),
        )
    }
}

fn text_record(role: &str, input: &TextInput) -> InputRecord {
    InputRecord {
        role: role.into(),
        path: input.name.clone(),
        bytes: input.text.len() as u64,
        sha256: hex(&Sha256::digest(input.text.as_bytes())),
    }
}

/// The records of a run's inputs: `consumers`, then the boundaries and segments of `config`.
fn input_records(config: &AnalyzeConfig, consumers: InputRecord) -> Vec<InputRecord> {
    let mut inputs = vec![consumers];
    for (role, input) in [("regions", &config.regions), ("cities", &config.cities)] {
        if let Some(input) = input {
            inputs.push(text_record(role, input));
        }
    }
    inputs.push(text_record("segments", &config.segments));
    inputs
}

/// The record of a consumers or stores input: its size and SHA-256.
///
/// # Errors
///
/// [`Error::Ingest`] when the file cannot be read.
pub fn input_record(role: &str, source: &Source) -> Result<InputRecord, Error> {
    let (bytes, sha256) = match source {
        Source::Path(path) => {
            export::sha256_file(path).map_err(|source| crate::consumer::IngestError::Io {
                file: path.display().to_string(),
                source,
            })?
        }
        Source::Bytes { data, .. } => (data.len() as u64, hex(&Sha256::digest(&data[..]))),
    };
    Ok(InputRecord {
        role: role.into(),
        path: source.name(),
        bytes,
        sha256,
    })
}

/// Loads and checks every input: boundaries, segments file, consumers, filters.
///
/// Nothing is written. Bad consumer rows are rejects, not errors.
///
/// # Errors
///
/// The first invalid input, as an [`Error`] naming the file and the problem.
pub fn prepare(
    config: &AnalyzeConfig,
    timings: &mut BTreeMap<String, u64>,
    progress: &Arc<Progress>,
) -> Result<Prepared, Error> {
    progress.stage("load boundaries");
    let started = Instant::now();
    let boundaries = config.load_boundaries()?;
    let segments_file = SegmentsFile::parse(&config.segments.name, &config.segments.text)?;
    timings.insert("boundaries".into(), elapsed_ms(started));

    progress.stage("ingest");
    let started = Instant::now();
    let options = IngestOptions {
        columns: config.columns.clone(),
        schema: segments_file.schema.clone(),
        attributes: segments_file.attributes(),
        progress: Some(Arc::clone(progress)),
        ..IngestOptions::default()
    };
    let (ingested, record) = rayon::join(
        || ingest(&config.consumers, &options),
        || input_record("consumers", &config.consumers),
    );
    let (ingested, record) = (ingested?, record?);
    if ingested.rows.read == 0 {
        return Err(Error::NoConsumers {
            file: config.consumers.name(),
            read: 0,
            rejected: 0,
        });
    }
    timings.insert("ingest".into(), elapsed_ms(started));

    progress.stage("segments");
    let started = Instant::now();
    let (segments, segment_warnings) =
        segment::compile(&config.segments.name, &segments_file, &ingested.table)?;
    timings.insert("segments".into(), elapsed_ms(started));

    let inputs = input_records(config, record);
    let mut warnings = boundaries.warnings.clone();
    warnings.extend(segment_warnings);
    Ok(Prepared {
        boundaries,
        ingested,
        segments,
        warnings,
        inputs,
    })
}

pub(crate) fn elapsed_ms(since: Instant) -> u64 {
    since.elapsed().as_millis() as u64
}

/// The manifest of a run before its outputs are written.
fn manifest_of(
    params: &AnalysisParams,
    (inputs, rows, warnings): (&[InputRecord], &RowCounts, &[String]),
    segments: Vec<String>,
    formats: export::Formats,
    timings: BTreeMap<String, u64>,
) -> Manifest {
    Manifest {
        tool: Tool::default(),
        status: RunStatus::Ok,
        error: None,
        parameters: Parameters {
            resolution: u8::from(params.resolution),
            min_count: params.min_count,
            max_reject_ratio: params.max_reject_ratio,
            fdr: params.fdr,
            neighbours: params.neighbours,
            min_lift: params.min_lift,
            max_rings: params.max_rings,
            min_expected: stats::MIN_EXPECTED,
            permutations: params.permutations,
            stability: false,
            budget: params.budget,
            budget_unit: params.budget_unit,
            segments,
            formats: formats.to_string(),
            containment: BTreeMap::from([
                ("consumers".into(), "exact point-in-polygon, boundary inclusive; first feature in file order wins; a consumer in a city counts for that city's region".into()),
                ("cells".into(), "H3 cell computed directly at the analysis resolution".into()),
                ("study_area".into(), "the cells holding the scope's consumers plus the cells within the Gi* rings of those whose centre lies in the scope (located as a consumer there would be)".into()),
            ]),
            threads: rayon::current_num_threads(),
            privacy: PrivacyRecord::new(params.privacy(), KeyOrigin::DerivedFromInputs),
        },
        inputs: inputs.to_vec(),
        rows: rows.clone(),
        outputs: Vec::new(),
        scopes: Vec::new(),
        suppressed: Suppressed::default(),
        warnings: warnings.to_vec(),
        timings_ms: timings,
        previous: None,
        rejects: None,
    }
}

/// Runs the whole analysis and writes every output under `config.out`.
///
/// Inputs are all checked before anything is written. The run is written aside and swapped into
/// place when complete ([`export::Staging`]): `config.out` holds the previous complete run until
/// then, this one after, never a mix. A run that fails after it started (too many rejected rows,
/// a write error) says so in `manifest.json` with status `failed` and the error: beside the
/// previous run's files, which it names in `previous`, or, when there was none, alone
/// ([`export::Staging::fail`]). Rejected rows go to [`AnalyzeConfig::rejects_path`], outside the
/// output folder, before anything else is written.
///
/// # Errors
///
/// [`Error`] for invalid inputs, too many rejects, or a write failure (naming the file by its
/// place in `config.out`).
pub fn analyze(config: &AnalyzeConfig, progress: &Arc<Progress>) -> Result<Manifest, Error> {
    let run_started = Instant::now();
    let mut timings = BTreeMap::new();
    let params = &config.params;
    // The output folder is checked before any work: a run that cannot be written is not started.
    let staging = export::Staging::begin(&config.out)?;
    let prepared = prepare(config, &mut timings, progress)?;
    let too_many_rejects =
        Error::too_many_rejects(&prepared.ingested.rows, params.max_reject_ratio);
    progress.stage("locate");
    let table = &prepared.ingested.table;
    let locator = timed(&mut timings, "boundary_index", || {
        Locator::new(&prepared.boundaries, params.resolution)
    });
    let located = timed(&mut timings, "locate", || {
        locator.locate(&table.lat, &table.lng)
    });
    if too_many_rejects.is_none() {
        prepared.check_placement(&config.consumers.name(), &located, &locator)?;
    }
    let names: Vec<String> = prepared.segments.iter().map(|s| s.name.clone()).collect();
    let parts = (
        prepared.inputs.as_slice(),
        &prepared.ingested.rows,
        prepared.warnings.as_slice(),
    );
    let mut manifest = manifest_of(params, parts, names, config.formats, timings);
    manifest.parameters.stability = config.stability;
    manifest.rejects = Some(export::write_rejects_file(
        &config.rejects_path(),
        &prepared.ingested.rejects,
    )?);
    run_staged(
        staging,
        too_many_rejects,
        |out| {
            write_run(
                config,
                &prepared,
                (&locator, &located),
                (manifest.clone(), run_started),
                out,
                progress,
            )
        },
        |error, previous| Manifest {
            status: RunStatus::Failed,
            error: Some(error),
            previous,
            ..manifest.clone()
        },
    )
}

/// The consumers of a run as another engine counted them (the `micromarket-datafusion` crate):
/// what the per-scope phase needs, and nothing per consumer.
#[derive(Debug, Clone)]
pub struct Counted {
    /// Counts per zone and cell, segments in the order of `segments`.
    pub zones: stats::ZoneCounts,
    /// The segments' names.
    pub segments: Vec<String>,
    /// Row accounting of the consumers input.
    pub rows: RowCounts,
    /// Rejected rows.
    pub rejects: Vec<Reject>,
    /// The consumers input's record.
    pub input: InputRecord,
    /// The segments' warnings (the boundaries' are added from them).
    pub warnings: Vec<String>,
    /// Where the record keys summed in `zones` came from.
    pub key_origin: KeyOrigin,
    /// Milliseconds per counting stage, for the manifest.
    pub timings_ms: BTreeMap<String, u64>,
}

/// Runs the per-scope phase of `config`'s analysis on consumers counted by `count` (another
/// engine's counting phase), as [`analyze`] runs it on its own counts: the same refusals,
/// statistics, outputs, staging and failed manifest. `config.consumers` and `config.stability`
/// are not read (`--stability` needs each consumer's position at r + 1).
///
/// # Errors
///
/// As [`analyze`], and whatever `count` returns.
pub fn analyze_counted<E: From<Error>>(
    config: &AnalyzeConfig,
    boundaries: &Boundaries,
    count: impl FnOnce() -> Result<Counted, E>,
    progress: &Arc<Progress>,
) -> Result<Manifest, E> {
    let run_started = Instant::now();
    let params = &config.params;
    let staging = export::Staging::begin(&config.out).map_err(Error::from)?;
    let counted = count()?;
    let rows = &counted.rows;
    let too_many_rejects = Error::too_many_rejects(rows, params.max_reject_ratio);
    if too_many_rejects.is_none() {
        let file = counted.input.path.clone();
        if rows.accepted == 0 {
            return Err(Error::NoConsumers {
                file,
                read: rows.read,
                rejected: rows.rejected,
            }
            .into());
        }
        let no_areas = boundaries.regions.is_empty() && boundaries.cities.is_empty();
        if !no_areas && counted.zones.outside(stats::Zones::new(boundaries)) == rows.accepted {
            return Err(Error::NoneInside {
                file,
                accepted: rows.accepted,
                swapped: None,
            }
            .into());
        }
    }
    let inputs = input_records(config, counted.input.clone());
    let mut warnings = boundaries.warnings.clone();
    warnings.extend(counted.warnings.iter().cloned());
    let mut manifest = manifest_of(
        params,
        (&inputs, rows, &warnings),
        counted.segments.clone(),
        config.formats,
        counted.timings_ms.clone(),
    );
    manifest.rejects = Some(
        export::write_rejects_file(&config.rejects_path(), &counted.rejects)
            .map_err(Error::from)?,
    );
    Ok(run_staged(
        staging,
        too_many_rejects,
        |out| {
            progress.stage("aggregate");
            let counts = stats::scope_counts(boundaries, &counted.zones);
            let locator = Locator::new(boundaries, params.resolution);
            write_counts(
                config,
                (boundaries, &locator),
                (&counts, None, counted.key_origin),
                (manifest.clone(), run_started),
                (out, progress),
            )
        },
        |error, previous| Manifest {
            status: RunStatus::Failed,
            error: Some(error),
            previous,
            ..manifest.clone()
        },
    )?)
}

/// Ends a run written aside in `staging`: unless `refused` (an error found before writing),
/// `write` fills the staging folder, which then takes the output folder's place. On an error,
/// `failed` makes the failed manifest from the error's text and the earlier run's manifest
/// ([`export::Staging::fail`]) and the error is returned, naming files by their final place.
pub(crate) fn run_staged<M, F: serde::Serialize>(
    staging: export::Staging,
    refused: Option<Error>,
    write: impl FnOnce(&Path) -> Result<M, Error>,
    failed: impl FnOnce(String, Option<serde_json::Value>) -> F,
) -> Result<M, Error> {
    let written = match refused {
        Some(error) => Err(error),
        None => write(staging.dir()).map_err(|e| match e {
            Error::Export(e) => Error::Export(staging.explain(e)),
            other => other,
        }),
    };
    let error = match written {
        Ok(done) => {
            staging.commit()?;
            return Ok(done);
        }
        Err(error) => error,
    };
    // Best effort: the error the user needs is the run's, not a second one from recording it.
    let _ = staging.fail(|previous| failed(error.to_string(), previous));
    Err(error)
}

/// Counts the located consumers, then analyses and writes every output of a run started at
/// `run_started` into `out`; returns its manifest, `manifest` completed.
fn write_run(
    config: &AnalyzeConfig,
    prepared: &Prepared,
    (locator, located): (&Locator, &Located),
    (mut manifest, run_started): (Manifest, Instant),
    out: &Path,
    progress: &Arc<Progress>,
) -> Result<Manifest, Error> {
    let params = &config.params;
    let (boundaries, segments) = (&prepared.boundaries, &prepared.segments);
    let table = &prepared.ingested.table;
    let timings = &mut manifest.timings_ms;

    progress.stage("aggregate");
    let (record_keys, key_origin) = timed(timings, "record_keys", || {
        crate::perturb::record_keys(config.privacy_key.as_ref(), &table.id_hashes)
    });
    let counts = timed(timings, "aggregate", || {
        stats::aggregate(boundaries, located, segments, &record_keys)
    });
    let other_resolutions = config.stability.then(|| {
        timed(timings, "stability_aggregate", || {
            let at = |cell: Vec<h3o::CellIndex>| Located {
                cell,
                region: located.region.clone(),
                city: located.city.clone(),
            };
            let (coarser, finer) = crate::market::nested_cells(
                &located.cell,
                (&table.lat, &table.lng),
                params.resolution,
            );
            (
                stats::aggregate(boundaries, &at(coarser), segments, &record_keys),
                stats::aggregate(boundaries, &at(finer), segments, &record_keys),
            )
        })
    });
    write_counts(
        config,
        (boundaries, locator),
        (&counts, other_resolutions.as_ref(), key_origin),
        (manifest, run_started),
        (out, progress),
    )
}

/// Analyses the true `counts` of every scope (record keys from `key_origin`) and writes every
/// output of a run started at `run_started` into `out`; returns its manifest, `manifest`
/// completed.
fn write_counts(
    config: &AnalyzeConfig,
    (boundaries, locator): (&Boundaries, &Locator),
    (counts, other_resolutions, key_origin): (
        &[stats::ScopeCounts],
        Option<&OtherResolutions>,
        KeyOrigin,
    ),
    (mut manifest, run_started): (Manifest, Instant),
    (out, progress): (&Path, &Arc<Progress>),
) -> Result<Manifest, Error> {
    let params = &config.params;
    let names = manifest.parameters.segments.clone();
    manifest.parameters.privacy = PrivacyRecord::new(params.privacy(), key_origin);
    manifest
        .warnings
        .extend(crate::perturb::key_warning(params.privacy(), key_origin));
    let timings = &mut manifest.timings_ms;

    // Each scope is analysed right before it is written, so only the scopes being written hold
    // their Gi* figures in memory.
    progress.stage("hot spots, micro-markets and export");
    let started = Instant::now();
    let centres = counts
        .first()
        .map_or_else(stats::CellCentres::default, |all| {
            stats::CellCentres::new(locator, &all.cells, params.neighbours)
        });
    timings.insert("study_area_centres".into(), elapsed_ms(started));
    let places = stats::CellPlaces::new(counts);
    let outlines = counts
        .first()
        .filter(|_| config.maps.is_some() || config.formats.draws_cells())
        .map(|all| export::CellOutlines::shown_in(all, params.privacy()));
    let options = export::ExportOptions {
        maps: config.maps.as_ref(),
        boundaries,
        formats: config.formats,
        places: Some(&places),
        outlines: outlines.as_ref(),
    };
    let scopes = analyze_and_write_scopes(
        (out, progress),
        (counts, other_resolutions),
        &centres,
        params,
        &names,
        &options,
        timings,
    )?;
    timings.insert(
        "hot_spots_markets_and_scope_export".into(),
        elapsed_ms(started),
    );

    let started = Instant::now();
    let (figures, records): (Vec<ScopeFigures>, Vec<ScopeRecord>) = scopes.into_iter().unzip();
    for record in &records {
        manifest.suppressed.add(&record.suppressed);
    }
    manifest.suppressed.summary_values = figures
        .iter()
        .flat_map(|f| &f.totals)
        .map(|t| t.hidden)
        .sum();
    manifest.scopes = records;
    manifest
        .warnings
        .extend(budget_warning(params.budget, &figures));
    manifest.outputs.push(export::write_summary(
        out,
        &figures,
        &names,
        params.privacy().method,
    )?);
    if config.maps.is_some() {
        manifest.outputs.extend(export::write_map_assets(out)?);
        manifest
            .outputs
            .push(export::write_index(out, &figures, &names)?);
    }
    manifest
        .timings_ms
        .insert("export".into(), elapsed_ms(started));
    manifest
        .timings_ms
        .insert("total".into(), elapsed_ms(run_started));
    export::write_manifest(out, &manifest)?;
    Ok(manifest)
}

/// A warning when `budget` reaches a scope's whole population: its campaigns take every cell
/// that may be shown, which selects nothing.
fn budget_warning(budget: Option<u64>, figures: &[ScopeFigures]) -> Option<String> {
    let budget = budget?;
    let covered: Vec<&str> = figures
        .iter()
        .filter(|f| {
            f.totals
                .first()
                .and_then(|t| t.population)
                .is_some_and(|n| budget >= n)
        })
        .map(|f| f.scope.name.as_str())
        .collect();
    let shown: Vec<&str> = covered.iter().take(5).copied().collect();
    (!covered.is_empty()).then(|| {
        format!(
            "the budget {budget} is at least the whole population of {} of {} scopes ({}{}): their campaigns take every cell that may be shown and select nothing; a budget below a scope's population makes a choice",
            covered.len(),
            figures.len(),
            shown.join(", "),
            if covered.len() > shown.len() { ", ..." } else { "" }
        )
    })
}

/// Runs `work`, recording its milliseconds under `stage`.
fn timed<T>(timings: &mut BTreeMap<String, u64>, stage: &str, work: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let result = work();
    timings.insert(stage.into(), elapsed_ms(started));
    result
}

/// Every scope's true table at resolutions r − 1 and r + 1, in scope order (`--stability`).
type OtherResolutions = (Vec<stats::ScopeCounts>, Vec<stats::ScopeCounts>);

/// Analyses and writes every scope, in parallel; returns each one's figures and record, in scope
/// order. A scope holding exactly `all`'s consumers is reported as `all`
/// ([`export::reported_as_all`]); with `other_resolutions`, micro-markets are checked at r ± 1.
/// Adds to `timings` Gi* summed over the scopes (and over the cities alone, for comparisons with
/// other hot-spot implementations) and the rest of each scope's work summed.
fn analyze_and_write_scopes(
    (out, progress): (&Path, &Progress),
    (counts, other_resolutions): (&[stats::ScopeCounts], Option<&OtherResolutions>),
    centres: &stats::CellCentres,
    params: &AnalysisParams,
    names: &[String],
    options: &export::ExportOptions<'_>,
    timings: &mut BTreeMap<String, u64>,
) -> Result<Vec<(ScopeFigures, ScopeRecord)>, Error> {
    let hot_spot_micros = AtomicU64::new(0);
    let city_hot_spot_micros = AtomicU64::new(0);
    let micromarket_micros = AtomicU64::new(0);
    let scope_export_micros = AtomicU64::new(0);
    progress.set_scopes(counts.len() as u64);
    let Some(all) = counts.first() else {
        return Ok(Vec::new());
    };
    let scopes = counts
        .par_iter()
        .enumerate()
        .map(|(i, c)| {
            if crate::scope::same_as_all(c, all) {
                progress.scope_done();
                return Ok(None);
            }
            let started = Instant::now();
            let mut analysis = analyze_scope(c, centres, params, names);
            if let Some((coarser, finer)) = other_resolutions {
                crate::scope::check_stability(&mut analysis, &coarser[i], &finer[i]);
            }
            let record = export::write_scope(out, &analysis, options)?;
            progress.scope_done();
            let micros = analysis.hot_spots_micros;
            hot_spot_micros.fetch_add(micros, Ordering::Relaxed);
            if c.scope.kind == stats::ScopeKind::City {
                city_hot_spot_micros.fetch_add(micros, Ordering::Relaxed);
            }
            micromarket_micros.fetch_add(analysis.micromarkets_micros, Ordering::Relaxed);
            let rest = (started.elapsed().as_micros() as u64)
                .saturating_sub(micros + analysis.micromarkets_micros);
            scope_export_micros.fetch_add(rest, Ordering::Relaxed);
            Ok(Some((analysis.figures, record)))
        })
        .collect::<Result<Vec<_>, export::ExportError>>()?;
    let all_done = scopes[0].clone().expect("all is analysed");
    let scopes = scopes
        .into_iter()
        .zip(counts)
        .map(|(done, c)| done.unwrap_or_else(|| export::reported_as_all(&c.scope, &all_done)))
        .collect();
    for (stage, micros) in [
        ("hot_spots_summed_over_scopes", hot_spot_micros),
        ("hot_spots_of_cities", city_hot_spot_micros),
        ("micromarkets_summed_over_scopes", micromarket_micros),
        (
            "campaigns_and_scope_export_summed_over_scopes",
            scope_export_micros,
        ),
    ] {
        timings.insert(stage.into(), micros.into_inner() / 1000);
    }
    Ok(scopes)
}
