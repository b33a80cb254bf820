//! One analysis run, from inputs to outputs: the data flow of DESIGN.md as one function.

use crate::boundary::{Boundaries, BoundaryOptions, BoundaryText, Locator};
use crate::consumer::{ColumnNames, IngestOptions, Ingested, Source, ingest};
use crate::error::Error;
use crate::export::{self, InputRecord, Manifest, OutputRecord, Parameters, Suppressed, Tool, hex};
use crate::market::{self, BudgetUnit};
use crate::segment::{self, SegmentsFile};
use crate::stats::{self, HotSpotOptions, Privacy};
use h3o::Resolution;
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A text input (boundaries, segments) with the name used in messages.
#[derive(Debug, Clone)]
pub struct TextInput {
    /// Path or description.
    pub name: String,
    /// Content.
    pub text: String,
}

impl TextInput {
    /// Reads a file.
    ///
    /// # Errors
    ///
    /// The I/O error, for the caller to wrap with the file name.
    pub fn read(path: &Path) -> std::io::Result<Self> {
        Ok(TextInput {
            name: path.display().to_string(),
            text: std::fs::read_to_string(path)?,
        })
    }

    /// This input as a boundary file.
    pub fn as_boundary(&self) -> BoundaryText<'_> {
        BoundaryText {
            file: &self.name,
            text: &self.text,
        }
    }
}

/// Everything one run needs.
#[derive(Debug, Clone)]
pub struct AnalyzeConfig {
    /// Consumers file or bytes.
    pub consumers: Source,
    /// Regions GeoJSON.
    pub regions: Option<TextInput>,
    /// Cities GeoJSON.
    pub cities: Option<TextInput>,
    /// Segments TOML.
    pub segments: TextInput,
    /// Required column names.
    pub columns: ColumnNames,
    /// Boundary property names.
    pub boundary: BoundaryOptions,
    /// H3 analysis resolution (5 to 12).
    pub resolution: Resolution,
    /// Minimum count k.
    pub min_count: u32,
    /// Share of rejected rows above which the run fails.
    pub max_reject_ratio: f64,
    /// False discovery rate of the hot-spot test.
    pub fdr: f64,
    /// Disk radius K of the Gi* weights.
    pub neighbours: u32,
    /// Campaign budget in population reached; no campaign without it.
    pub budget: Option<u64>,
    /// What the budget buys: cells or whole micro-markets.
    pub budget_unit: BudgetUnit,
    /// Maps (`map.html` per scope, `index.html` at the root); `None` writes none.
    pub maps: Option<export::MapOptions>,
    /// Output folder.
    pub out: PathBuf,
}

impl AnalyzeConfig {
    /// A configuration with the default parameters (resolution 8, k = 10, 1% rejects).
    pub fn new(consumers: Source, segments: TextInput, out: PathBuf) -> Self {
        AnalyzeConfig {
            consumers,
            regions: None,
            cities: None,
            segments,
            columns: ColumnNames::default(),
            boundary: BoundaryOptions::default(),
            resolution: Resolution::Eight,
            min_count: 10,
            max_reject_ratio: 0.01,
            fdr: 0.05,
            neighbours: 1,
            budget: None,
            budget_unit: BudgetUnit::Cells,
            maps: Some(export::MapOptions::default()),
            out,
        }
    }
}

/// A stage callback, for progress display; the library itself never prints.
pub type StageHook<'a> = &'a (dyn Fn(&str) + Sync);

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

fn checked_parameters(config: &AnalyzeConfig) -> Result<(), Error> {
    checked_resolution(config.resolution)?;
    if !(config.fdr > 0.0 && config.fdr < 1.0) {
        return Err(Error::Parameter(format!(
            "fdr {} is outside (0, 1)",
            config.fdr
        )));
    }
    if !(1..=10).contains(&config.neighbours) {
        return Err(Error::Parameter(format!(
            "neighbours {} is outside 1..=10",
            config.neighbours
        )));
    }
    Ok(())
}

fn checked_resolution(r: Resolution) -> Result<Resolution, Error> {
    let level = u8::from(r);
    if (5..=12).contains(&level) {
        Ok(r)
    } else {
        Err(Error::Parameter(format!(
            "resolution {level} is outside 5..=12"
        )))
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

fn consumers_record(source: &Source) -> std::io::Result<InputRecord> {
    let (bytes, sha256) = match source {
        Source::Path(path) => {
            let mut file = std::fs::File::open(path)?;
            let mut hasher = Sha256::new();
            let mut buf = vec![0u8; 1 << 20];
            let mut bytes = 0u64;
            loop {
                let n = std::io::Read::read(&mut file, &mut buf)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                bytes += n as u64;
            }
            (bytes, hex(&hasher.finalize()))
        }
        Source::Bytes { data, .. } => (data.len() as u64, hex(&Sha256::digest(data))),
    };
    Ok(InputRecord {
        role: "consumers".into(),
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
    hook: StageHook<'_>,
) -> Result<Prepared, Error> {
    checked_parameters(config)?;
    hook("load boundaries");
    let started = Instant::now();
    let boundaries = Boundaries::load(
        config.regions.as_ref().map(TextInput::as_boundary),
        config.cities.as_ref().map(TextInput::as_boundary),
        &config.boundary,
    )?;
    let segments_file = SegmentsFile::parse(&config.segments.name, &config.segments.text)?;
    timings.insert("boundaries".into(), elapsed_ms(started));

    hook("ingest");
    let started = Instant::now();
    let options = IngestOptions {
        columns: config.columns.clone(),
        schema: segments_file.schema.clone(),
        ..IngestOptions::default()
    };
    let (ingested, record) = rayon::join(
        || ingest(&config.consumers, &options),
        || consumers_record(&config.consumers),
    );
    let ingested = ingested?;
    let record = record.map_err(|source| crate::consumer::IngestError::Io {
        file: config.consumers.name(),
        source,
    })?;
    timings.insert("ingest".into(), elapsed_ms(started));

    hook("segments");
    let started = Instant::now();
    let (segments, segment_warnings) =
        segment::compile(&config.segments.name, &segments_file, &ingested.table)?;
    timings.insert("segments".into(), elapsed_ms(started));

    let mut inputs = vec![record];
    for (role, input) in [("regions", &config.regions), ("cities", &config.cities)] {
        if let Some(input) = input {
            inputs.push(text_record(role, input));
        }
    }
    inputs.push(text_record("segments", &config.segments));
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

fn elapsed_ms(since: Instant) -> u64 {
    since.elapsed().as_millis() as u64
}

/// Runs the whole analysis and writes every output under `config.out`.
///
/// Inputs are all checked before anything is written. When too many rows are rejected, only
/// `rejects.csv` and a `manifest.json` with status `failed` are written.
///
/// # Errors
///
/// [`Error`] for invalid inputs, too many rejects, or a write failure.
pub fn analyze(config: &AnalyzeConfig, hook: StageHook<'_>) -> Result<Manifest, Error> {
    let run_started = Instant::now();
    let mut timings = BTreeMap::new();
    let prepared = prepare(config, &mut timings, hook)?;
    let privacy = Privacy {
        min_count: config.min_count,
    };
    let segment_names: Vec<String> = prepared.segments.iter().map(|s| s.name.clone()).collect();
    let mut manifest = Manifest {
        tool: Tool::default(),
        status: "ok".into(),
        error: None,
        parameters: Parameters {
            resolution: u8::from(config.resolution),
            min_count: config.min_count,
            max_reject_ratio: config.max_reject_ratio,
            fdr: config.fdr,
            neighbours: config.neighbours,
            budget: config.budget,
            budget_unit: config.budget_unit,
            segments: segment_names.clone(),
            containment: BTreeMap::from([
                ("consumers".into(), "exact point-in-polygon, boundary inclusive; first feature in file order wins; a consumer in a city counts for that city's region".into()),
                ("cells".into(), "H3 cell computed directly at the analysis resolution".into()),
                ("study_area".into(), "the cells holding the scope's consumers plus the cells within the Gi* rings of those whose centre lies in the scope (located as a consumer there would be)".into()),
            ]),
            threads: rayon::current_num_threads(),
        },
        inputs: prepared.inputs,
        rows: prepared.ingested.rows.clone(),
        outputs: Vec::new(),
        scopes: Vec::new(),
        suppressed: Suppressed::default(),
        warnings: prepared.warnings,
        timings_ms: timings,
    };
    std::fs::create_dir_all(&config.out).map_err(|source| export::ExportError {
        path: config.out.display().to_string(),
        source,
    })?;
    if let Some(error) = Error::too_many_rejects(&prepared.ingested.rows, config.max_reject_ratio) {
        manifest.outputs.push(export::write_rejects(
            &config.out,
            &prepared.ingested.rejects,
        )?);
        manifest.status = "failed".into();
        manifest.error = Some(error.to_string());
        export::write_manifest(&config.out, &manifest)?;
        return Err(error);
    }

    hook("locate");
    let started = Instant::now();
    let table = &prepared.ingested.table;
    let locator = Locator::new(&prepared.boundaries, config.resolution);
    manifest
        .timings_ms
        .insert("boundary_index".into(), elapsed_ms(started));
    let started = Instant::now();
    let located = locator.locate(&table.lat, &table.lng);
    manifest
        .timings_ms
        .insert("locate".into(), elapsed_ms(started));

    hook("aggregate");
    let started = Instant::now();
    let counts = stats::aggregate(&prepared.boundaries, &located, &prepared.segments);
    manifest
        .timings_ms
        .insert("aggregate".into(), elapsed_ms(started));

    // Hot spots are computed scope by scope right before that scope's export, so only the
    // scopes being written hold their Gi* figures in memory.
    hook("hot spots, micro-markets and export");
    let started = Instant::now();
    let options = HotSpotOptions {
        neighbours: config.neighbours,
        fdr: config.fdr,
    };
    let centres = counts
        .first()
        .map_or_else(stats::CellCentres::default, |all| {
            stats::CellCentres::new(&locator, &all.cells, config.neighbours)
        });
    manifest
        .timings_ms
        .insert("study_area_centres".into(), elapsed_ms(started));
    // Gi* alone, summed over the scopes (which run in parallel) and over the city scopes, for
    // comparisons with other hot-spot implementations; then the rest of each scope's work.
    let hot_spot_micros = std::sync::atomic::AtomicU64::new(0);
    let city_hot_spot_micros = std::sync::atomic::AtomicU64::new(0);
    let scope_export_micros = std::sync::atomic::AtomicU64::new(0);
    let scope_records = counts
        .par_iter()
        .map(|c| {
            let gi_started = Instant::now();
            let hot = stats::scope_hot_spots(c, &centres, options);
            let micros = gi_started.elapsed().as_micros() as u64;
            hot_spot_micros.fetch_add(micros, std::sync::atomic::Ordering::Relaxed);
            if c.scope.kind == stats::ScopeKind::City {
                city_hot_spot_micros.fetch_add(micros, std::sync::atomic::Ordering::Relaxed);
            }
            let export_started = Instant::now();
            let markets = market::micro_markets(c, &hot, &segment_names, privacy);
            let mut record =
                export::write_scope(&config.out, c, &hot, &markets, &segment_names, privacy)?;
            if let Some(budget) = config.budget {
                let chosen = market::campaigns(c, &markets, budget, config.budget_unit, privacy);
                export::write_campaigns(
                    &config.out,
                    &mut record,
                    &c.scope,
                    &chosen,
                    &segment_names,
                    (budget, config.budget_unit),
                    privacy,
                )?;
            }
            if let Some(map_options) = &config.maps {
                let areas = stats::scope_areas(&prepared.boundaries, &c.scope);
                let inputs = export::MapInputs {
                    counts: c,
                    hot_spots: &hot,
                    areas: &areas,
                    segment_names: &segment_names,
                    privacy,
                    fdr: config.fdr,
                };
                export::write_map(&config.out, &mut record, &inputs, map_options)?;
            }
            let micros = export_started.elapsed().as_micros() as u64;
            scope_export_micros.fetch_add(micros, std::sync::atomic::Ordering::Relaxed);
            Ok(record)
        })
        .collect::<Result<Vec<_>, export::ExportError>>()?;
    manifest.timings_ms.insert(
        "hot_spots_markets_and_scope_export".into(),
        elapsed_ms(started),
    );
    manifest.timings_ms.insert(
        "hot_spots_summed_over_scopes".into(),
        hot_spot_micros.into_inner() / 1000,
    );
    manifest.timings_ms.insert(
        "hot_spots_of_cities".into(),
        city_hot_spot_micros.into_inner() / 1000,
    );
    manifest.timings_ms.insert(
        "markets_and_scope_export_summed_over_scopes".into(),
        scope_export_micros.into_inner() / 1000,
    );
    let started = Instant::now();
    for record in &scope_records {
        manifest.suppressed.add(&record.suppressed);
    }
    manifest.scopes = scope_records;
    let mut summary_suppressed = Suppressed::default();
    let summary: OutputRecord = export::write_summary(
        &config.out,
        &counts,
        &manifest.scopes,
        &segment_names,
        privacy,
        &mut summary_suppressed,
    )?;
    manifest.suppressed.add(&summary_suppressed);
    manifest.outputs.push(summary);
    if config.maps.is_some() {
        manifest
            .outputs
            .extend(export::write_map_assets(&config.out)?);
        manifest.outputs.push(export::write_index(
            &config.out,
            &counts,
            &manifest.scopes,
            &segment_names,
            privacy,
        )?);
    }
    manifest.outputs.push(export::write_rejects(
        &config.out,
        &prepared.ingested.rejects,
    )?);
    manifest
        .timings_ms
        .insert("export".into(), elapsed_ms(started));
    manifest
        .timings_ms
        .insert("total".into(), elapsed_ms(run_started));
    export::write_manifest(&config.out, &manifest)?;
    Ok(manifest)
}

/// Runs a store-catchment analysis: consumers within a radius of, or nearest to, each store of
/// `stores` (a CSV of `id,name,lat,lon`; bad rows are rejected as for consumers), with their
/// segment figures against each store's scope, written under `config.out`.
///
/// # Errors
///
/// [`Error`] for invalid inputs (including a stores file with no valid store), too many rejected
/// consumer rows, or a write failure.
pub fn catchment(
    config: &AnalyzeConfig,
    stores: &Source,
    mode: crate::catchment::CatchmentMode,
    hook: StageHook<'_>,
) -> Result<export::CatchmentManifest, Error> {
    let run_started = Instant::now();
    let mut timings = BTreeMap::new();
    let prepared = prepare(config, &mut timings, hook)?;
    hook("stores");
    let store_options = IngestOptions {
        keep_ids: true,
        ..IngestOptions::default()
    };
    let store_rows = ingest(stores, &store_options)?;
    if store_rows.table.is_empty() {
        return Err(Error::Parameter(format!(
            "{} holds no valid store ({} rows rejected); expected id,name,lat,lon",
            stores.name(),
            store_rows.rows.rejected
        )));
    }
    let names: Vec<String> = match store_rows.table.attribute("name").map(|a| &a.column) {
        Some(crate::consumer::Column::Categorical { codes, dictionary }) => codes
            .iter()
            .zip(&store_rows.table.ids)
            .map(|(&c, id)| {
                dictionary
                    .get(c as usize)
                    .cloned()
                    .unwrap_or_else(|| id.clone())
            })
            .collect(),
        _ => store_rows.table.ids.clone(),
    };
    let store_set = crate::catchment::Stores {
        ids: store_rows.table.ids.clone(),
        names,
        lat: store_rows.table.lat.clone(),
        lng: store_rows.table.lng.clone(),
    };
    if let Some(error) = Error::too_many_rejects(&prepared.ingested.rows, config.max_reject_ratio) {
        return Err(error);
    }
    hook("locate and index");
    let started = Instant::now();
    let table = &prepared.ingested.table;
    let locator = Locator::new(&prepared.boundaries, config.resolution);
    let located = locator.locate(&table.lat, &table.lng);
    let scopes = stats::aggregate(&prepared.boundaries, &located, &prepared.segments);
    let index = crate::index::ConsumerIndex::new(&table.lat, &table.lng);
    timings.insert("locate_and_index".into(), elapsed_ms(started));
    hook("catchments");
    let started = Instant::now();
    let result = crate::catchment::catchments(
        &index,
        &located,
        &prepared.segments,
        &store_set,
        &locator,
        &scopes,
        mode,
    );
    timings.insert("catchments".into(), elapsed_ms(started));
    hook("export");
    let started = Instant::now();
    let segment_names: Vec<String> = prepared.segments.iter().map(|s| s.name.clone()).collect();
    let privacy = Privacy {
        min_count: config.min_count,
    };
    let with_overlap = matches!(mode, crate::catchment::CatchmentMode::Radius { .. });
    let mut outputs = export::write_catchments(
        &config.out,
        &store_set,
        &result,
        &scopes,
        &segment_names,
        privacy,
        with_overlap,
    )?;
    outputs.push(export::write_rejects(
        &config.out,
        &prepared.ingested.rejects,
    )?);
    outputs.push(export::write_rejects_as(
        &config.out,
        "store_rejects.csv",
        "store_rejects",
        &store_rows.rejects,
    )?);
    timings.insert("export".into(), elapsed_ms(started));
    timings.insert("total".into(), elapsed_ms(run_started));
    let mut inputs = prepared.inputs;
    inputs.push(InputRecord {
        role: "stores".into(),
        ..consumers_record(stores).map_err(|source| crate::consumer::IngestError::Io {
            file: stores.name(),
            source,
        })?
    });
    let manifest = export::CatchmentManifest {
        tool: Tool::default(),
        status: "ok".into(),
        mode,
        min_count: config.min_count,
        resolution: u8::from(config.resolution),
        inputs,
        rows: prepared.ingested.rows.clone(),
        store_rows: store_rows.rows,
        assigned: result.assigned,
        outputs,
        warnings: prepared.warnings,
        timings_ms: timings,
    };
    export::write_manifest(&config.out, &manifest)?;
    Ok(manifest)
}
