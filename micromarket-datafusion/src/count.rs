//! The counting phase as a DataFusion plan, and its merge into micromarket's per-scope phase.

use crate::scan::{
    ConsumersTable, FileReport, FileSummary, Part, REPORT, ScanInput, ScanSpec, dimension_column,
    segment_column,
};
use crate::store;
use crate::udf::{BoundarySet, H3Cell, Locate, RecordKey};
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Int64Type, UInt32Type, UInt64Type};
use datafusion::functions_aggregate::expr_fn::{count, sum};
use datafusion::logical_expr::ExprFunctionExt;
use datafusion::prelude::{SessionContext, col, lit};
use futures::{StreamExt, TryStreamExt};
use micromarket::analyze::{Counted, analyze_counted, input_record};
use micromarket::boundary::{Boundaries, slugify};
use micromarket::consumer::{
    Attribute, AttributeKind, Column, ConsumerTable, MISSING, Reject, RowCounts, Source,
};
use micromarket::export::{InputRecord, Manifest, hex};
use micromarket::perturb::{IdSummary, PrivacyKey};
use micromarket::stats::ZoneCounts;
use micromarket::{AnalyzeConfig, Error, Progress};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// How the plan runs.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// DataFusion's target partitions (its parallelism for the aggregation); parts are read one
    /// partition each.
    pub partitions: usize,
    /// A Parquet file of more rows than this is read as several partitions of whole row groups
    /// of about this many rows each, so no task holds a whole large file.
    pub part_rows: u64,
    /// Run on a Ballista cluster instead of in this process.
    pub ballista: Option<Ballista>,
    /// Bytes the plan's operators may hold in this process (DataFusion, or a Ballista cluster
    /// started here) before they spill to disk; `None`: no limit.
    pub memory_limit: Option<usize>,
}

/// [`EngineOptions::part_rows`]'s default: about 200 MB of consumers in a task.
pub const PART_ROWS: u64 = 2 << 20;

/// Where a Ballista run's cluster is.
#[derive(Debug, Clone)]
pub enum Ballista {
    /// A scheduler already running (`df://HOST:PORT`), with executors that know micromarket's
    /// plan nodes and functions (`micromarket-datafusion executor`).
    Remote(String),
    /// A cluster started in this process: a scheduler and this many executors.
    Standalone(usize),
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            partitions: std::thread::available_parallelism().map_or(2, usize::from),
            part_rows: PART_ROWS,
            ballista: None,
            memory_limit: None,
        }
    }
}

impl EngineOptions {
    /// The engine's name in messages.
    pub fn engine(&self) -> &'static str {
        if self.ballista.is_some() {
            "ballista"
        } else {
            "datafusion"
        }
    }

    /// An error of this engine.
    pub(crate) fn error(&self, error: impl std::fmt::Display) -> Error {
        Error::Engine {
            engine: self.engine(),
            message: error.to_string(),
        }
    }
}

/// Runs `config`'s analysis with the counting phase on DataFusion and the per-scope phase of
/// micromarket itself ([`analyze_counted`]): the outputs are the local engine's. The consumers
/// are `config.consumers`: a file, a folder of files, or an object-storage URL of an object or a
/// prefix (CSV, gzip CSV or Parquet, read in name order; a file is a partition, a large Parquet
/// file several).
///
/// # Errors
///
/// As [`micromarket::analyze()`]; [`Error::Parts`] when files disagree (an attribute of two
/// kinds, an id in two files); [`Error::Engine`] when DataFusion fails.
pub fn analyze(
    config: &AnalyzeConfig,
    options: &EngineOptions,
    progress: &Arc<Progress>,
) -> Result<Manifest, Error> {
    progress.stage("load boundaries");
    let started = Instant::now();
    let boundaries = config.load_boundaries()?;
    let boundaries_ms = elapsed_ms(started);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(options.partitions.max(1))
        .enable_all()
        .build()
        .map_err(|e| options.error(e))?;
    analyze_counted(
        config,
        &boundaries,
        || {
            let mut counted = runtime.block_on(async {
                let ctx = crate::cluster::context(options).await?;
                count_consumers(&ctx, options, config, &boundaries, progress).await
            })?;
            counted
                .timings_ms
                .insert("boundaries".into(), boundaries_ms);
            Ok::<_, Error>(counted)
        },
        progress,
    )
}

fn elapsed_ms(since: Instant) -> u64 {
    since.elapsed().as_millis() as u64
}

/// The files of a consumers input: the file itself, or every CSV, gzip and Parquet file under a
/// folder, in path order.
///
/// # Errors
///
/// [`Error::Parts`] for a folder without such files; an I/O error as [`Error::Ingest`].
pub fn consumer_files(source: &Source) -> Result<Vec<PathBuf>, Error> {
    let Source::Path(path) = source else {
        return Err(Error::Parts {
            path: source.name(),
            problem: "the DataFusion engine reads files: give --consumers a file or a folder"
                .into(),
        });
    };
    if !path.is_dir() {
        return Ok(vec![path.clone()]);
    }
    let mut files = Vec::new();
    let mut pending = vec![path.clone()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| io_error(&dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| io_error(&dir, e))?;
            let p = entry.path();
            if p.is_dir() {
                pending.push(p);
            } else if is_consumers_file(&entry.file_name().to_string_lossy()) {
                files.push(p);
            }
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(Error::Parts {
            path: path.display().to_string(),
            problem: "the folder holds no .csv, .csv.gz or .parquet file".into(),
        });
    }
    Ok(files)
}

/// Whether a file or object of a folder or prefix is read as consumers: its name ends in `.csv`,
/// `.gz` or `.parquet` (any case).
pub(crate) fn is_consumers_file(name: &str) -> bool {
    let name = name.to_lowercase();
    [".csv", ".gz", ".parquet"]
        .iter()
        .any(|ext| name.ends_with(ext))
}

fn io_error(path: &Path, source: std::io::Error) -> Error {
    Error::Ingest(micromarket::consumer::IngestError::Io {
        file: path.display().to_string(),
        source,
    })
}

/// Counts `config`'s consumers per zone and cell with DataFusion, in `ctx` (a session of this
/// process or of a Ballista cluster).
///
/// One pass reads every part (a file, or row groups of a large Parquet file; a partition
/// each), locates and keys each consumer with the `mm_*` functions and groups by zone, cell and
/// the grid's dimensions; the named segments are summed as columns, the grid's segments come
/// from the groups, and each part's report comes back as a group of its own. With several
/// parts an id may not appear in two of them (within a part the reader rejects a repeat, as a
/// local run does), so a first pass reads the ids: with a privacy key, the Parquet parts' id
/// columns alone, and whole parts only if two of them share an id; without one, whole parts,
/// since the derived key needs every accepted id.
///
/// # Errors
///
/// As [`analyze`].
pub async fn count_consumers(
    ctx: &SessionContext,
    options: &EngineOptions,
    config: &AnalyzeConfig,
    boundaries: &Boundaries,
    progress: &Arc<Progress>,
) -> Result<Counted, Error> {
    let given = config.consumers.name();
    let (parts, input) = consumer_input(&config.consumers, options.part_rows).await?;
    let spec = Arc::new(ScanSpec::new(
        ScanInput {
            parts: parts.clone(),
            columns: config.columns.clone(),
            segments_name: config.segments.name.clone(),
            segments_text: config.segments.text.clone(),
            ids_only: false,
        },
        Some(Arc::clone(progress)),
    )?);
    let table = || Arc::new(ConsumersTable::new(Arc::clone(&spec)));
    let mut timings = BTreeMap::new();

    let key = match (&config.privacy_key, parts.len()) {
        (Some(key), 1) => key.clone(),
        (key, _) => {
            progress.stage("ids");
            let started = Instant::now();
            let key = record_key(ctx, options, &spec, &given, key.clone()).await?;
            timings.insert("id_pass".into(), elapsed_ms(started));
            key
        }
    };
    let key_origin = key.origin;

    progress.stage("ingest and count");
    let started = Instant::now();
    let zone =
        Locate::udf(BoundarySet::of(config), Some(boundaries)).call(vec![col("lat"), col("lng")]);
    let resolution = i64::from(u8::from(config.params.resolution));
    let cell = H3Cell::udf().call(vec![col("lat"), col("lng"), lit(resolution)]);
    let record_key = RecordKey::udf(key).call(vec![col("id_hash")]);
    let mut projection = vec![
        zone.alias("zone"),
        cell.alias("h3"),
        record_key.alias("key"),
    ];
    let mut groups = vec![col("zone"), col("h3")];
    for d in 0..spec.dimensions().len() {
        projection.push(col(dimension_column(d)));
        groups.push(col(dimension_column(d)));
    }
    projection.push(col(REPORT));
    groups.push(col(REPORT));
    let mut aggregates = vec![count(lit(1)).alias("n"), sum(col("key")).alias("n_key")];
    for s in 0..spec.named() {
        let member = col(segment_column(s));
        projection.push(member.clone());
        // Filtered aggregates: DataFusion masks its accumulators, with no CASE to evaluate. The
        // sum of no keys is null, where the count is 0.
        let members = count(lit(1)).filter(member.clone()).build();
        let keys = sum(col("key")).filter(member).build();
        let error = |e| options.error(e);
        aggregates.push(members.map_err(error)?.alias(format!("k_{s}")));
        aggregates.push(keys.map_err(error)?.alias(format!("k_key_{s}")));
    }
    let batches = collect(
        ctx.read_table(table())
            .and_then(|df| df.select(projection))
            .and_then(|df| df.aggregate(groups, aggregates)),
    )
    .await
    .map_err(|e| options.error(e))?;
    let report_column = 2 + spec.dimensions().len();
    let file_reports = file_reports(
        &batches,
        (report_column, report_column + 1),
        &parts,
        options,
    )?;
    timings.insert("ingest_and_count".into(), elapsed_ms(started));

    progress.stage("merge counts");
    let started = Instant::now();
    let merged = merge_reports(&given, &parts, file_reports)?;
    let zones = zone_counts(&batches, &spec, &merged.present, options)?;
    let (names, warnings) = segment_names(&spec, &merged, &zones, options)?;
    timings.insert("merge_counts".into(), elapsed_ms(started));
    Ok(Counted {
        zones,
        segments: names,
        rows: merged.rows,
        rejects: merged.rejects,
        input,
        warnings,
        key_origin,
        timings_ms: timings,
    })
}

async fn collect(
    df: datafusion::common::Result<datafusion::dataframe::DataFrame>,
) -> datafusion::common::Result<Vec<RecordBatch>> {
    df?.collect().await
}

/// The key of the record keys, after the id pass that several parts or a derived key need: a
/// given key needs only the assurance that no id is in two parts, which the parts' id columns
/// give unless they share an id (then whole reads decide whether accepted rows do); a derived
/// key needs every accepted id.
async fn record_key(
    ctx: &SessionContext,
    options: &EngineOptions,
    spec: &Arc<ScanSpec>,
    given: &str,
    key: Option<PrivacyKey>,
) -> Result<PrivacyKey, Error> {
    let parts = &spec.input.parts;
    let whole = || Arc::new(ConsumersTable::new(Arc::clone(spec)));
    let Some(key) = key else {
        return Ok(PrivacyKey::derived_from(
            id_pass(ctx, options, whole(), parts, given).await?,
        ));
    };
    let input = ScanInput {
        ids_only: true,
        ..spec.input.clone()
    };
    let candidates = Arc::new(ConsumersTable::new(Arc::new(ScanSpec::new(input, None)?)));
    if any_repeated_id(ctx, options, candidates).await? {
        id_pass(ctx, options, whole(), parts, given).await?;
    }
    Ok(key)
}

/// Reads every part once for its ids: their summary (for a derived key), and whether an id is
/// in two parts.
async fn id_pass(
    ctx: &SessionContext,
    options: &EngineOptions,
    table: Arc<ConsumersTable>,
    parts: &[Part],
    given: &str,
) -> Result<IdSummary, Error> {
    let (repeats, reports) = repeated_ids(ctx, options, table, parts).await?;
    let mut ids = IdSummary::default();
    for report in reports {
        ids.merge(report.ids);
    }
    let distinct = ids.count - repeats.min(ids.count);
    if repeats > 0 {
        let split = if parts.iter().any(|p| p.row_groups.is_some()) {
            " (or twice in one large Parquet file, whose row groups are read apart)"
        } else {
            ""
        };
        return Err(Error::Parts {
            path: given.into(),
            problem: format!(
                "{} consumer ids appear in more than one file{split} ({} rows, {distinct} distinct ids): each consumer belongs in one row",
                ids.count - distinct,
                ids.count
            ),
        });
    }
    Ok(ids)
}

/// Whether any two of `table`'s rows share an id. The reports are left out (a part that cannot
/// be read says so in the counting plan), so the groups are keyed by the id alone, which
/// DataFusion groups fastest.
async fn any_repeated_id(
    ctx: &SessionContext,
    options: &EngineOptions,
    table: Arc<ConsumersTable>,
) -> Result<bool, Error> {
    let batches = collect(ctx.read_table(table).and_then(|df| {
        df.filter(col(REPORT).is_null())?
            .aggregate(vec![col("id_hash")], vec![count(lit(1)).alias("rows")])?
            .filter(col("rows").gt(lit(1i64)))
    }))
    .await
    .map_err(|e| options.error(e))?;
    Ok(batches.iter().any(|b| b.num_rows() > 0))
}

/// How many rows of `table` repeat an id of an earlier row (within a part the reader already
/// rejects a repeat, so these are ids in two parts), and every part's summary.
async fn repeated_ids(
    ctx: &SessionContext,
    options: &EngineOptions,
    table: Arc<ConsumersTable>,
    parts: &[Part],
) -> Result<(u64, Vec<FileSummary>), Error> {
    // Grouped by id and report (hash-partitioned across the engine's partitions, and spilled to
    // disk beyond `EngineOptions::memory_limit`), keeping only the repeated ids and the
    // reports. A consumer's report is null; a report row's id_hash is its part's number, a
    // group of its own. The report is a key, not an aggregate: a `max` of text over ten million
    // groups took most of the pass.
    let batches = collect(ctx.read_table(table).and_then(|df| {
        df.aggregate(
            vec![col("id_hash"), col(REPORT)],
            vec![count(lit(1)).alias("rows")],
        )?
        .filter(col("rows").gt(lit(1i64)).or(col(REPORT).is_not_null()))
    }))
    .await
    .map_err(|e| options.error(e))?;
    let reports = file_reports(&batches, (1, 2), parts, options)?;
    let repeats = batches
        .iter()
        .map(|b| {
            let reports = b.column(1);
            let rows = b.column(2).as_primitive::<Int64Type>();
            (0..b.num_rows())
                .filter(|&r| reports.is_null(r))
                .map(|r| (rows.value(r) - 1) as u64)
                .sum::<u64>()
        })
        .sum();
    Ok((repeats, reports))
}

/// Every part's summary, in order, from the reports in column `column` of an aggregate's
/// batches, whose column `times` counts the report rows of each group: a report seen more than once
/// means a part was counted more than once, and is refused. The first part that could not be
/// read gives its error.
fn file_reports(
    batches: &[RecordBatch],
    (column, times): (usize, usize),
    parts: &[Part],
    options: &EngineOptions,
) -> Result<Vec<FileSummary>, Error> {
    let mut reports: Vec<FileReport> = Vec::with_capacity(parts.len());
    for batch in batches {
        let column = batch.column(column).as_string::<i64>();
        let times = batch.column(times).as_primitive::<Int64Type>();
        for row in (0..batch.num_rows()).filter(|&r| column.is_valid(r)) {
            let report: FileReport = serde_json::from_str(column.value(row))
                .map_err(|e| options.error(format!("a file report does not parse: {e}")))?;
            let part = parts.get(report.part).ok_or_else(|| {
                options.error(format!("a file report names part {}", report.part))
            })?;
            if times.value(row) != 1 {
                return Err(options.error(format!(
                    "a part of {} was counted {} times: the engine ran its task more than once",
                    part.file.display(),
                    times.value(row)
                )));
            }
            reports.push(report);
        }
    }
    reports.sort_by_key(|r| r.part);
    let mut reports = reports.into_iter();
    let mut out = Vec::with_capacity(parts.len());
    for (i, part) in parts.iter().enumerate() {
        match reports.next() {
            Some(r) if r.part == i => out.push(r.read?),
            _ => {
                let file = part.file.display();
                return Err(options.error(format!("{file} was not read to its end")));
            }
        }
    }
    Ok(out)
}

/// The files' reports as one input's.
struct Merged {
    rows: RowCounts,
    rejects: Vec<Reject>,
    /// Attributes in the first file's order, dictionaries merged in file order.
    attributes: Vec<(String, AttributeKind, Vec<String>)>,
    unread: Vec<String>,
    /// Per grid dimension, the values any file holds, sorted.
    present: Vec<Vec<String>>,
}

fn merge_reports(given: &str, parts: &[Part], reports: Vec<FileSummary>) -> Result<Merged, Error> {
    let several = parts.iter().any(|p| p.file != parts[0].file);
    let mut rejects = Vec::new();
    let mut accepted = 0;
    let mut attributes: Vec<(String, AttributeKind, Vec<String>)> = Vec::new();
    let mut kinds: HashMap<String, (AttributeKind, usize)> = HashMap::new();
    let mut present: Vec<Vec<String>> = Vec::new();
    let mut unread = Vec::new();
    for (i, (report, part)) in reports.into_iter().zip(parts).enumerate() {
        let file = &part.file;
        accepted += report.rows.accepted;
        rejects.extend(report.rejects.into_iter().map(|mut r| {
            if several {
                r.detail = format!("{}: {}", file.display(), r.detail);
            }
            r
        }));
        for (name, kind, dictionary) in report.attributes {
            match kinds.get(&name) {
                Some(&(k, first)) if k != kind => {
                    let (numeric, text) = if k == AttributeKind::Numeric {
                        (first, i)
                    } else {
                        (i, first)
                    };
                    return Err(Error::Parts {
                        path: given.into(),
                        problem: format!(
                            "attribute '{name}' holds numbers in {} and text in {}: declare its kind in the segments file's [schema]",
                            parts[numeric].file.display(),
                            parts[text].file.display()
                        ),
                    });
                }
                Some(_) => {
                    let merged = attributes
                        .iter_mut()
                        .find(|a| a.0 == name)
                        .expect("known attribute");
                    for value in dictionary {
                        if !merged.2.contains(&value) {
                            merged.2.push(value);
                        }
                    }
                }
                None => {
                    kinds.insert(name.clone(), (kind, i));
                    attributes.push((name, kind, dictionary));
                }
            }
        }
        if i == 0 {
            unread = report.unread;
            present = report.present;
        } else {
            for (all, values) in present.iter_mut().zip(report.present) {
                all.extend(values);
            }
        }
    }
    for values in &mut present {
        values.sort();
        values.dedup();
    }
    Ok(Merged {
        rows: RowCounts::new(accepted, &rejects),
        rejects,
        attributes,
        unread,
        present,
    })
}

/// The counts per zone and cell from the aggregate's groups: the named segments from their sums,
/// each grid segment from the groups of its combination of values (in the grid's order: the
/// dimensions' values sorted, the last dimension varying fastest).
fn zone_counts(
    batches: &[RecordBatch],
    spec: &ScanSpec,
    present: &[Vec<String>],
    options: &EngineOptions,
) -> Result<ZoneCounts, Error> {
    let named = spec.named();
    let grid: usize = if present.is_empty() {
        0
    } else {
        present.iter().map(Vec::len).product()
    };
    let width = 1 + named + grid;
    let positions: Vec<HashMap<&str, usize>> = present
        .iter()
        .map(|values| {
            values
                .iter()
                .enumerate()
                .map(|(i, v)| (v.as_str(), i))
                .collect()
        })
        .collect();
    let mut zones = ZoneCounts::with_segments(width - 1);
    // A group's non-zero columns: everyone, its members of named segments, its grid segment.
    let mut entries: Vec<(usize, u32, u32)> = Vec::with_capacity(2 + named);
    let dims = present.len();
    for batch in batches {
        let zone = batch.column(0).as_primitive::<UInt32Type>();
        let cell = batch.column(1).as_primitive::<UInt64Type>();
        let dimensions: Vec<_> = (0..dims)
            .map(|d| {
                arrow::compute::cast(batch.column(2 + d), &DataType::Utf8)
                    .map_err(|e| options.error(e))
            })
            .collect::<Result<_, _>>()?;
        // The file reports' groups (the report column not null) are not counts.
        let report = batch.column(2 + dims);
        let at = 3 + dims;
        // Counts (Int64) and key sums (UInt64) alternate: everyone's, then each segment's.
        let count_column = |c: usize| batch.column(at + 2 * c).as_primitive::<Int64Type>();
        let key_column = |c: usize| batch.column(at + 1 + 2 * c).as_primitive::<UInt64Type>();
        let (n, n_key) = (count_column(0), key_column(0));
        let members: Vec<_> = (1..=named)
            .map(|s| (count_column(s), key_column(s)))
            .collect();
        for row in (0..batch.num_rows()).filter(|&r| report.is_null(r)) {
            entries.clear();
            let everyone = (n.value(row) as u32, n_key.value(row) as u32);
            entries.push((0, everyone.0, everyone.1));
            for (s, (count, key)) in members.iter().enumerate() {
                // A segment without members here has a count of 0 and a null key sum.
                if count.value(row) > 0 {
                    entries.push((1 + s, count.value(row) as u32, key.value(row) as u32));
                }
            }
            let mut combination = Some(0usize);
            for (d, values) in dimensions.iter().enumerate() {
                let values = values.as_string::<i32>();
                combination = combination.and_then(|g| {
                    (!values.is_null(row))
                        .then(|| positions[d].get(values.value(row)))
                        .flatten()
                        .map(|&p| g * present[d].len() + p)
                });
            }
            if let (Some(g), true) = (combination, dims > 0) {
                entries.push((1 + named + g, everyone.0, everyone.1));
            }
            let cell = h3o::CellIndex::try_from(cell.value(row)).map_err(|e| options.error(e))?;
            zones.add_group((zone.value(row), cell), &entries);
        }
    }
    Ok(zones)
}

/// The segments' names and warnings, from micromarket's own compile over a table that stands
/// in for every file: their attributes with the merged dictionaries, a row for each value the
/// grid's dimensions hold, and each segment's members as counted.
fn segment_names(
    spec: &ScanSpec,
    merged: &Merged,
    zones: &ZoneCounts,
    options: &EngineOptions,
) -> Result<(Vec<String>, Vec<String>), Error> {
    let rows = merged
        .present
        .iter()
        .map(Vec::len)
        .max()
        .unwrap_or(0)
        .max(1);
    let dims = spec.dimensions();
    let attributes = merged
        .attributes
        .iter()
        .map(|(name, kind, dictionary)| {
            let column = match kind {
                AttributeKind::Numeric => Column::Numeric(vec![f64::NAN; rows]),
                AttributeKind::Categorical => {
                    let mut codes = vec![MISSING; rows];
                    if let Some(d) = dims.iter().position(|d| d == name) {
                        for (row, value) in merged.present[d].iter().enumerate() {
                            codes[row] = dictionary
                                .iter()
                                .position(|v| v == value)
                                .expect("present values are in the dictionary")
                                as u32;
                        }
                    }
                    Column::Categorical {
                        codes,
                        dictionary: dictionary.clone(),
                    }
                }
            };
            Attribute {
                name: name.clone(),
                column,
            }
        })
        .collect();
    let table = ConsumerTable {
        lat: vec![0.0; rows],
        lng: vec![0.0; rows],
        attributes,
        unread: merged.unread.clone(),
        ids: Vec::new(),
        id_hashes: vec![0; rows],
    };
    let accepted = merged.rows.accepted;
    let (segments, warnings) = micromarket::segment::compile_counted(
        &spec.input.segments_name,
        &spec.segments,
        &table,
        |s, _| (zones.total_members(s), accepted),
    )?;
    let names: Vec<String> = segments.into_iter().map(|s| s.name).collect();
    // The grid's order here must be the one the counts were laid out in.
    let mut expected: Vec<String> = vec![String::new()];
    for values in &merged.present {
        expected = expected
            .iter()
            .flat_map(|prefix| {
                values.iter().map(move |v| {
                    if prefix.is_empty() {
                        slugify(v)
                    } else {
                        format!("{prefix}-{}", slugify(v))
                    }
                })
            })
            .collect();
    }
    if !dims.is_empty() && names[spec.named()..] != expected[..] {
        return Err(options.error("the grid's segments are not in the order they were counted in"));
    }
    Ok((names, warnings))
}

/// The parts of `files`: each file whole, but a Parquet file of more than `part_rows` rows cut
/// into runs of whole row groups of about `part_rows` rows.
///
/// # Errors
///
/// A Parquet file whose footer cannot be read.
pub fn parts_of(files: &[PathBuf], part_rows: u64) -> Result<Vec<Part>, Error> {
    let mut parts = Vec::with_capacity(files.len());
    for file in files {
        let groups = micromarket::consumer::parquet_row_groups(file)?;
        cut(file, None, groups, part_rows, &mut parts);
    }
    Ok(parts)
}

/// Appends `file`'s parts to `parts`: the whole file, or runs of whole row groups of about
/// `part_rows` rows when its row groups (`groups`, for Parquet) hold more. `e_tag` is an
/// object's tag as listed.
fn cut(
    file: &Path,
    e_tag: Option<&str>,
    groups: Option<Vec<u64>>,
    part_rows: u64,
    parts: &mut Vec<Part>,
) {
    let part = |row_groups| Part {
        file: file.to_path_buf(),
        row_groups,
        e_tag: e_tag.map(str::to_string),
    };
    let groups = match groups {
        Some(groups) if groups.iter().sum::<u64>() > part_rows => groups,
        _ => {
            parts.push(part(None));
            return;
        }
    };
    let (mut start, mut rows) = (0, 0);
    for (g, n) in groups.iter().enumerate() {
        rows += n;
        if rows >= part_rows || g + 1 == groups.len() {
            parts.push(part(Some(start..g + 1)));
            (start, rows) = (g + 1, 0);
        }
    }
}

/// Footers of Parquet objects fetched at once while cutting objects into parts.
const FOOTERS_IN_FLIGHT: usize = 16;

/// The parts of a consumers input (a file, a folder, or an object-storage URL: see [`store`])
/// and its record for the manifest.
///
/// # Errors
///
/// As [`consumer_files`] and [`parts_of`]; for a URL, as [`store::list`].
async fn consumer_input(
    source: &Source,
    part_rows: u64,
) -> Result<(Vec<Part>, InputRecord), Error> {
    let url = match source {
        Source::Path(path) => store::url_of(path),
        Source::Bytes { .. } => None,
    };
    let Some(url) = url else {
        let files = consumer_files(source)?;
        let parts = parts_of(&files, part_rows)?;
        return Ok((parts, consumers_record(&source.name(), &files)?));
    };
    let objects = store::list(&url).await?;
    let groups: Vec<Option<Vec<u64>>> = futures::stream::iter(&objects)
        .map(store::parquet_row_groups)
        .buffered(FOOTERS_IN_FLIGHT)
        .try_collect()
        .await?;
    let mut parts = Vec::with_capacity(objects.len());
    let mut lines = String::new();
    for (object, groups) in objects.iter().zip(groups) {
        cut(
            Path::new(object.url.as_str()),
            object.e_tag.as_deref(),
            groups,
            part_rows,
            &mut parts,
        );
        let tag = object.e_tag.as_deref().unwrap_or("-");
        let _ = writeln!(lines, "{tag}  {}  {}", object.size, object.url);
    }
    let record = InputRecord {
        role: "consumers".into(),
        path: source.name(),
        bytes: objects.iter().map(|o| o.size).sum(),
        sha256: hex(&Sha256::digest(lines.as_bytes())),
    };
    Ok((parts, record))
}

/// The consumers input's record: a file's own, or for several files their total size and the
/// SHA-256 of their `sha256  path` lines (as `sha256sum` prints them, paths relative to the
/// folder).
fn consumers_record(given: &str, files: &[PathBuf]) -> Result<InputRecord, Error> {
    if let [file] = files {
        return input_record("consumers", &Source::Path(file.clone()));
    }
    let root = Path::new(given);
    let mut lines = String::new();
    let mut bytes = 0;
    for file in files {
        let (size, sha) = micromarket::export::sha256_file(file).map_err(|e| io_error(file, e))?;
        bytes += size;
        let name = file.strip_prefix(root).unwrap_or(file);
        let _ = writeln!(lines, "{sha}  {}", name.display());
    }
    Ok(InputRecord {
        role: "consumers".into(),
        path: given.into(),
        bytes,
        sha256: hex(&Sha256::digest(lines.as_bytes())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_parquet_file_is_cut_at_row_groups_and_others_stay_whole() {
        use arrow::array::{ArrayRef, Float64Array};
        let dir = tempfile::tempdir().expect("tmp");
        let large = dir.path().join("a.parquet");
        let values = Arc::new(Float64Array::from(vec![1.0; 10])) as ArrayRef;
        let batch = RecordBatch::try_from_iter([("lat", values)]).expect("batch");
        let properties = parquet::file::properties::WriterProperties::builder()
            .set_max_row_group_row_count(Some(3))
            .build();
        let file = std::fs::File::create(&large).expect("create");
        let mut writer =
            parquet::arrow::ArrowWriter::try_new(file, batch.schema(), Some(properties))
                .expect("writer");
        writer.write(&batch).expect("write");
        writer.close().expect("close");
        let csv = dir.path().join("b.csv");
        std::fs::write(&csv, "id,lat,lon\n").expect("write");
        let files = [large.clone(), csv.clone()];
        let part = |file: &PathBuf, groups: Option<std::ops::Range<usize>>| Part {
            file: file.clone(),
            row_groups: groups,
            e_tag: None,
        };
        // Groups of 3, 3, 3 and 1 rows.
        assert_eq!(
            parts_of(&files, 5).expect("parts"),
            [
                part(&large, Some(0..2)),
                part(&large, Some(2..4)),
                part(&csv, None)
            ]
        );
        assert_eq!(
            parts_of(&files, 3).expect("parts"),
            [
                part(&large, Some(0..1)),
                part(&large, Some(1..2)),
                part(&large, Some(2..3)),
                part(&large, Some(3..4)),
                part(&csv, None)
            ]
        );
        assert_eq!(
            parts_of(&files, 10).expect("parts"),
            [part(&large, None), part(&csv, None)]
        );
    }
}
