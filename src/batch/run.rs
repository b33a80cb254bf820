//! Running a plan: ingest and locate once, then every launch as an independent job, each
//! written atomically, the manifest rewritten after each one.

use super::plan::{Launch, LaunchParameters, Plan};
use crate::boundary::{Locator, NO_AREA};
use crate::consumer::{IngestOptions, Ingested, Source, ingest};
use crate::error::Error;
use crate::export::{self, OutputRecord, Tool, sha256_file};
use crate::index;
use crate::scope::analyze_scope;
use crate::segment::{self, Segment, SegmentsFile};
use crate::stats::{self, ScopeKind};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

/// How a launch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LaunchStatus {
    /// Ran and wrote its outputs.
    Ok,
    /// Failed; see its error. The other launches went on.
    Failed,
    /// Not run again: its outputs matched the manifest (`--resume`).
    Skipped,
    /// Not finished yet (a manifest written while the run goes on, or left by a killed run).
    Pending,
}

/// How a whole launch run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PlanStatus {
    /// Launches are still running (or the run was killed): see the pending ones.
    Running,
    /// Every launch ran or was skipped.
    Ok,
    /// Some launches failed, the others completed.
    Partial,
    /// Every launch that ran failed.
    Failed,
}

/// Launches by how they ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct StatusCounts {
    /// Ran and wrote their outputs.
    pub ok: usize,
    /// Failed.
    pub failed: usize,
    /// Kept from the previous run (`--resume`).
    pub skipped: usize,
    /// Not finished.
    pub pending: usize,
}

impl StatusCounts {
    /// The counts of `launches`.
    pub fn of(launches: &[LaunchRecord]) -> Self {
        let mut counts = StatusCounts::default();
        for r in launches {
            *match r.status {
                LaunchStatus::Ok => &mut counts.ok,
                LaunchStatus::Failed => &mut counts.failed,
                LaunchStatus::Skipped => &mut counts.skipped,
                LaunchStatus::Pending => &mut counts.pending,
            } += 1;
        }
        counts
    }

    /// The run's status from these counts.
    pub fn status(&self) -> PlanStatus {
        if self.pending > 0 {
            PlanStatus::Running
        } else if self.failed == 0 {
            PlanStatus::Ok
        } else if self.ok + self.skipped == 0 {
            PlanStatus::Failed
        } else {
            PlanStatus::Partial
        }
    }
}

/// One launch in the manifest.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct LaunchRecord {
    /// `region/city` folder.
    pub id: String,
    /// City name.
    pub city: String,
    /// Region name, empty when none.
    pub region: String,
    /// How it ended.
    pub status: LaunchStatus,
    /// Why it failed.
    pub error: Option<String>,
    /// Wall time of the launch.
    pub duration_ms: u64,
    /// Parameters it ran with.
    pub parameters: LaunchParameters,
    /// Consumers in the city (null when fewer than the minimum count).
    pub consumers: Option<u64>,
    /// Micro-markets exported, over all segments.
    pub micromarkets: u64,
    /// Campaign members reached, over all segments (with a budget).
    pub campaign_members: Option<u64>,
    /// Files written, relative to the output root.
    pub outputs: Vec<OutputRecord>,
    /// The options of its `map.html`; none when it has no map (`--no-maps`).
    #[serde(default)]
    pub map: Option<export::MapOptions>,
    /// Its cell layer formats.
    #[serde(default)]
    pub formats: String,
}

/// `manifest.json` of a launch run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LaunchManifest {
    /// Tool name and version.
    pub tool: Tool,
    /// How the run stands: `running` while launches are pending, then ok, partial or failed.
    pub status: PlanStatus,
    /// The output root.
    pub out: String,
    /// Launches by status.
    pub counts: StatusCounts,
    /// The plan file and its SHA-256.
    pub plan: BTreeMap<String, String>,
    /// Consumer rows: read = accepted + rejected.
    pub rows: crate::consumer::RowCounts,
    /// Every launch of the plan, in plan order; those not finished are `pending`.
    pub launches: Vec<LaunchRecord>,
    /// The maps' shared files (Leaflet and the viewer in `assets/`); none with `--no-maps`.
    pub assets: Vec<OutputRecord>,
    /// Where the perturbation's record keys came from (a launch's method is in its parameters).
    pub key_origin: crate::perturb::KeyOrigin,
    /// Milliseconds of the shared stages (ingest, locate, segments).
    pub timings_ms: BTreeMap<String, u64>,
}

/// Options of a run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Launches run at once.
    pub jobs: usize,
    /// Skip launches whose outputs match the existing manifest.
    pub resume: bool,
    /// A `map.html` per launch; `None` writes none.
    pub maps: Option<export::MapOptions>,
    /// Cell layer formats.
    pub formats: export::Formats,
    /// The secret of the record keys; `None` derives one from the inputs (with a warning).
    pub privacy_key: Option<crate::perturb::PrivacyKey>,
}

/// Something to show: a launch finished (its record) or a shared stage started.
pub enum Event<'a> {
    /// A shared stage started.
    Stage(&'a str),
    /// A launch ended.
    Done(&'a LaunchRecord),
}

const PARTIAL: &str = ".partial";
/// Resolution of the shared locate pass; launches at it reuse its cells.
const LOCATE_RESOLUTION: h3o::Resolution = h3o::Resolution::Eight;

/// What `--resume` may keep of the previous run: the records of launches whose outputs are
/// intact and whose parameters (inputs' checksums included), map options and formats are the
/// same, and the rows that run read.
#[derive(Default)]
struct Previous {
    records: BTreeMap<String, LaunchRecord>,
    rows: Option<crate::consumer::RowCounts>,
}

/// The launches of the previous run in `out` that `--resume` may keep.
fn reusable(out: &Path, launches: &[Launch], options: &RunOptions) -> Previous {
    let (maps, formats) = (options.maps.as_ref(), options.formats.to_string());
    let Ok(text) = std::fs::read_to_string(out.join("manifest.json")) else {
        return Previous::default();
    };
    let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) else {
        return Previous::default();
    };
    let old: Vec<LaunchRecord> = value
        .get("launches")
        .and_then(|l| serde_json::from_value(l.clone()).ok())
        .unwrap_or_default();
    let records = old
        .into_iter()
        .filter(|r| {
            matches!(r.status, LaunchStatus::Ok | LaunchStatus::Skipped)
                && r.map.as_ref() == maps
                && r.formats == formats
        })
        .filter(|r| {
            launches
                .iter()
                .any(|l| l.id == r.id && l.parameters == r.parameters)
        })
        .filter(|r| {
            r.outputs
                .iter()
                .all(|o| sha256_file(&out.join(&o.path)).is_ok_and(|(_, sha)| sha == o.sha256))
        })
        .map(|r| (r.id.clone(), r))
        .collect();
    Previous {
        records,
        rows: value
            .get("rows")
            .and_then(|r| serde_json::from_value(r.clone()).ok()),
    }
}

/// The consumers as every launch reads them: read, checked and located once.
struct Consumers {
    ingested: Ingested,
    record_keys: Vec<u32>,
    locator: Locator,
    cells: Vec<h3o::CellIndex>,
    rows_of_city: Vec<Vec<u32>>,
    compiled: BTreeMap<String, Vec<Segment>>,
}

/// Reads, checks and locates the plan's consumers and compiles its segments.
fn read_and_locate(
    plan: &Plan,
    options: &RunOptions,
    timings: &mut BTreeMap<String, u64>,
    notify: &(dyn Fn(Event<'_>) + Sync),
) -> Result<Consumers, Error> {
    notify(Event::Stage("ingest"));
    let started = Instant::now();
    let (ingested, files) = read_consumers(plan)?;
    if let Some(error) = Error::too_many_rejects(&ingested.rows, plan.max_reject_ratio) {
        return Err(error);
    }
    timings.insert("ingest".into(), started.elapsed().as_millis() as u64);
    notify(Event::Stage("locate and segments"));
    let started = Instant::now();
    let table = &ingested.table;
    let (record_keys, _) =
        crate::perturb::record_keys(options.privacy_key.as_ref(), &table.id_hashes);
    let locator = Locator::new(&plan.boundaries, LOCATE_RESOLUTION);
    let located = locator.locate(&table.lat, &table.lng);
    crate::analyze::check_placement(
        &plan.consumers.display().to_string(),
        &ingested.rows,
        table,
        &located,
        (&plan.boundaries, &locator),
    )?;
    let mut compiled: BTreeMap<String, Vec<Segment>> = BTreeMap::new();
    for (name, file) in &files {
        let (segments, _) = segment::compile(name, file, table)?;
        compiled.insert(name.clone(), segments);
    }
    let rows_of_city = rows_of_cities(&located.city, plan.boundaries.cities.len());
    timings.insert(
        "locate_and_segments".into(),
        started.elapsed().as_millis() as u64,
    );
    Ok(Consumers {
        ingested,
        record_keys,
        locator,
        cells: located.cell,
        rows_of_city,
        compiled,
    })
}

/// The record of a launch not finished yet, with a map of `maps` and cell layers of `formats`.
fn pending(
    plan: &Plan,
    launch: &Launch,
    (maps, formats): (Option<&export::MapOptions>, export::Formats),
) -> LaunchRecord {
    let city = &plan.boundaries.cities[launch.city];
    LaunchRecord {
        id: launch.id.clone(),
        city: city.name.clone(),
        region: city
            .region
            .map(|r| plan.boundaries.regions[r].name.clone())
            .unwrap_or_default(),
        status: LaunchStatus::Pending,
        error: None,
        duration_ms: 0,
        parameters: launch.parameters.clone(),
        consumers: None,
        micromarkets: 0,
        campaign_members: None,
        outputs: Vec::new(),
        map: maps.cloned(),
        formats: formats.to_string(),
    }
}

/// Runs every launch of `plan`. The output root is made ready first; with `--resume`, launches
/// whose outputs match the manifest are kept, and when every one is, the consumers are not read
/// at all. Otherwise consumers are read and located once; launches run `jobs` at a time, each
/// into a temporary folder renamed into place when complete; `manifest.json` lists every launch
/// from the start (`pending` until it ends) and is rewritten (atomically) after every launch, so
/// it is always a true picture of the outputs.
///
/// # Errors
///
/// [`Error`] when the consumers or a segments file cannot be used (before any launch runs) or the
/// output root cannot be written. A failing launch is not an error: it is recorded as failed.
pub fn run_plan(
    plan: &Plan,
    options: &RunOptions,
    notify: &(dyn Fn(Event<'_>) + Sync),
) -> Result<LaunchManifest, Error> {
    let out = &plan.out;
    let (previous, assets) = prepare_root(plan, options)?;
    let key_origin = options
        .privacy_key
        .as_ref()
        .map_or(crate::perturb::KeyOrigin::DerivedFromInputs, |k| k.origin);
    let mut manifest = LaunchManifest {
        tool: Tool::default(),
        status: PlanStatus::Running,
        out: out.display().to_string(),
        counts: StatusCounts::default(),
        plan: BTreeMap::from([
            ("path".into(), plan.file.clone()),
            ("sha256".into(), plan.sha256.clone()),
        ]),
        rows: crate::consumer::RowCounts::default(),
        launches: plan
            .launches
            .iter()
            .map(|l| pending(plan, l, (options.maps.as_ref(), options.formats)))
            .collect(),
        assets,
        key_origin,
        timings_ms: BTreeMap::new(),
    };
    let everything_kept = previous.records.len() == plan.launches.len();
    let located = if everything_kept {
        manifest.rows = previous.rows.clone().unwrap_or_default();
        None
    } else {
        let located = read_and_locate(plan, options, &mut manifest.timings_ms, notify)?;
        manifest.rows = located.ingested.rows.clone();
        Some(located)
    };
    manifest.counts = StatusCounts::of(&manifest.launches);
    export::write_manifest(out, &manifest)?;
    let manifest = Mutex::new(manifest);
    let record_done = |n: usize, record: LaunchRecord| -> Result<(), Error> {
        notify(Event::Done(&record));
        let mut m = manifest
            .lock()
            .expect("no launch panics while holding the manifest");
        m.launches[n] = record;
        m.counts = StatusCounts::of(&m.launches);
        m.status = m.counts.status();
        export::write_manifest(out, &*m)?;
        Ok(())
    };
    match &located {
        None => {
            for (n, launch) in plan.launches.iter().enumerate() {
                record_done(n, skipped(&previous.records[&launch.id]))?;
            }
        }
        Some(located) => run_launches(plan, options, located, &previous, &record_done)?,
    }
    let _ = std::fs::remove_dir_all(out.join(PARTIAL));
    let mut manifest = manifest.into_inner().expect("no launch panicked");
    manifest.status = manifest.counts.status();
    export::write_manifest(out, &manifest)?;
    Ok(manifest)
}

/// The record of a launch kept from the previous run.
fn skipped(old: &LaunchRecord) -> LaunchRecord {
    LaunchRecord {
        status: LaunchStatus::Skipped,
        duration_ms: 0,
        ..old.clone()
    }
}

/// Runs the launches `previous` does not keep, `options.jobs` at a time, handing each record
/// (kept ones too) to `record_done` with its place in the plan.
fn run_launches(
    plan: &Plan,
    options: &RunOptions,
    located: &Consumers,
    previous: &Previous,
    record_done: &(dyn Fn(usize, LaunchRecord) -> Result<(), Error> + Sync),
) -> Result<(), Error> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.jobs.max(1))
        .build()
        .map_err(|source| Error::Threads {
            threads: options.jobs,
            source,
        })?;
    let scopes = stats::scopes(&plan.boundaries);
    let shared = Shared {
        table: &located.ingested.table,
        record_keys: &located.record_keys,
        cells: &located.cells,
        locator: &located.locator,
        rows_of_city: &located.rows_of_city,
        maps: options.maps.as_ref(),
        formats: options.formats,
    };
    pool.install(|| {
        plan.launches
            .par_iter()
            .enumerate()
            .try_for_each(|(n, launch)| {
                if let Some(old) = previous.records.get(&launch.id) {
                    return record_done(n, skipped(old));
                }
                let scope = scopes
                    .iter()
                    .find(|s| s.kind == ScopeKind::City && s.area == Some(launch.city))
                    .expect("every city has a scope");
                let segments = &located.compiled[&launch.parameters.segments];
                record_done(n, launch_record(plan, launch, n, scope, &shared, segments))
            })
    })
}

/// Makes the output root ready: a killed run's folders and temporary files (never under a final
/// name) cleared, the maps' assets written; returns what `--resume` may keep and the assets'
/// records.
fn prepare_root(plan: &Plan, options: &RunOptions) -> Result<(Previous, Vec<OutputRecord>), Error> {
    let out = &plan.out;
    std::fs::create_dir_all(out).map_err(export::io_error(out))?;
    let _ = std::fs::remove_dir_all(out.join(PARTIAL));
    export::remove_stale_temporaries(out);
    let previous = if options.resume {
        reusable(out, &plan.launches, options)
    } else {
        Previous::default()
    };
    let assets = match &options.maps {
        Some(_) => export::write_map_assets(out)?,
        None => Vec::new(),
    };
    export::sync_folder(out).map_err(export::io_error(out))?;
    Ok((previous, assets))
}

/// Reads the plan's consumers once, with the attribute kinds every segments file declares and
/// the attributes any of them reads;
/// returns them with the parsed segments files by name.
fn read_consumers(plan: &Plan) -> Result<(Ingested, BTreeMap<String, SegmentsFile>), Error> {
    let mut schema = BTreeMap::new();
    let mut files = BTreeMap::new();
    let mut attributes = Some(std::collections::BTreeSet::new());
    for (name, input) in &plan.segments {
        let file = SegmentsFile::parse(&input.name, &input.text)?;
        schema.extend(file.schema.clone());
        attributes = attributes.zip(file.attributes()).map(|(mut all, these)| {
            all.extend(these);
            all
        });
        files.insert(name.clone(), file);
    }
    let options = IngestOptions {
        schema,
        attributes,
        ..IngestOptions::default()
    };
    Ok((
        ingest(&Source::Path(plan.consumers.clone()), &options)?,
        files,
    ))
}

/// The rows located in each of `cities` cities.
fn rows_of_cities(city_of_row: &[u32], cities: usize) -> Vec<Vec<u32>> {
    let mut rows = vec![Vec::new(); cities];
    for (row, &city) in city_of_row.iter().enumerate() {
        if city != NO_AREA {
            rows[city as usize].push(row as u32);
        }
    }
    rows
}

/// Runs launch `n` and returns its record, ok or failed.
fn launch_record(
    plan: &Plan,
    launch: &Launch,
    n: usize,
    scope: &stats::Scope,
    shared: &Shared<'_>,
    segments: &[Segment],
) -> LaunchRecord {
    let started = Instant::now();
    let (status, error, figures) = match run_launch(plan, launch, n, scope, shared, segments) {
        Ok(figures) => (LaunchStatus::Ok, None, figures),
        Err(e) => (
            LaunchStatus::Failed,
            Some(e.to_string()),
            Figures::default(),
        ),
    };
    LaunchRecord {
        status,
        error,
        duration_ms: started.elapsed().as_millis() as u64,
        consumers: figures.consumers,
        micromarkets: figures.micromarkets,
        campaign_members: figures.campaign_members,
        outputs: figures.outputs,
        ..pending(plan, launch, (shared.maps, shared.formats))
    }
}

/// What every launch reads: the consumers, their cells at [`LOCATE_RESOLUTION`], and the rows of
/// each city.
struct Shared<'a> {
    table: &'a crate::consumer::ConsumerTable,
    record_keys: &'a [u32],
    cells: &'a [h3o::CellIndex],
    locator: &'a Locator,
    rows_of_city: &'a [Vec<u32>],
    maps: Option<&'a export::MapOptions>,
    formats: export::Formats,
}

#[derive(Default)]
struct Figures {
    consumers: Option<u64>,
    micromarkets: u64,
    campaign_members: Option<u64>,
    outputs: Vec<OutputRecord>,
}

/// Why a launch failed; the other launches go on.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// No consumer lies in the city.
    #[error("city '{0}' has no consumers")]
    NoConsumers(String),
    /// An output could not be written.
    #[error(transparent)]
    Export(#[from] export::ExportError),
    /// The finished outputs could not be moved into place.
    #[error("cannot move the outputs into {path}: {source}")]
    Move {
        /// The launch's folder.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
}

/// One launch: its city's counts at its resolution, analysed and written into
/// `OUT/.partial/<n>/`, renamed to `OUT/<region>/<city>/` when complete.
fn run_launch(
    plan: &Plan,
    launch: &Launch,
    n: usize,
    scope: &stats::Scope,
    shared: &Shared<'_>,
    segments: &[Segment],
) -> Result<Figures, LaunchError> {
    let rows = &shared.rows_of_city[launch.city];
    let city = &plan.boundaries.cities[launch.city];
    if rows.is_empty() {
        return Err(LaunchError::NoConsumers(city.name.clone()));
    }
    let params = &launch.params;
    // Cells are computed directly at the launch's resolution; the shared pass already has them
    // at its own.
    let cells = if params.resolution == LOCATE_RESOLUTION {
        rows.iter().map(|&r| shared.cells[r as usize]).collect()
    } else {
        let lat: Vec<f64> = rows.iter().map(|&r| shared.table.lat[r as usize]).collect();
        let lng: Vec<f64> = rows.iter().map(|&r| shared.table.lng[r as usize]).collect();
        index::assign_cells(&lat, &lng, params.resolution)
    };
    let counts =
        stats::aggregate_scope(scope.clone(), (rows, &cells), segments, shared.record_keys);
    let centres = stats::CellCentres::new(shared.locator, &counts.cells, params.neighbours);
    let names: Vec<String> = segments.iter().map(|s| s.name.clone()).collect();
    let analysis = analyze_scope(&counts, &centres, params, &names);
    let partial = plan.out.join(PARTIAL).join(n.to_string());
    let _ = std::fs::remove_dir_all(&partial);
    let options = export::ExportOptions {
        maps: shared.maps,
        boundaries: &plan.boundaries,
        formats: shared.formats,
        places: None,
        outlines: None,
    };
    let record = export::write_scope(&partial, &analysis, &options)?;
    export::sync_folder(&partial).map_err(export::io_error(&partial))?;
    let final_dir = plan.out.join(&scope.folder);
    let move_into_place = || -> std::io::Result<()> {
        if final_dir.exists() {
            std::fs::remove_dir_all(&final_dir)?;
        }
        if let Some(parent) = final_dir.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::rename(partial.join(&scope.folder), &final_dir)?;
        std::fs::remove_dir_all(&partial)
    };
    move_into_place().map_err(|source| LaunchError::Move {
        path: final_dir.display().to_string(),
        source,
    })?;
    let campaign_members = params.budget.map(|_| {
        record
            .segments
            .iter()
            .filter_map(|s| s.campaign_members)
            .sum()
    });
    Ok(Figures {
        consumers: record.consumers,
        micromarkets: record.segments.iter().map(|s| s.micromarkets).sum(),
        campaign_members,
        outputs: record.outputs,
    })
}
