//! The counting phase as a DataFusion plan, and its merge into micromarket's per-scope phase.

use crate::scan::{self, FileReport, Reports, ScanSpec, dimension_column, segment_column};
use crate::udf::{H3Cell, Locate, RecordKey};
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Int64Type, UInt32Type, UInt64Type};
use datafusion::functions_aggregate::expr_fn::{count, count_distinct, sum};
use datafusion::prelude::{SessionConfig, SessionContext, col, lit, when};
use micromarket::analyze::{Counted, analyze_counted, input_record};
use micromarket::boundary::{Boundaries, slugify};
use micromarket::consumer::{
    Attribute, AttributeKind, Column, ConsumerTable, IngestOptions, MISSING, Reject, RowCounts,
    Source,
};
use micromarket::export::{InputRecord, Manifest, hex};
use micromarket::perturb::{IdSummary, PrivacyKey};
use micromarket::segment::SegmentsFile;
use micromarket::stats::ZoneCounts;
use micromarket::{AnalyzeConfig, Error, Progress};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// How the DataFusion engine runs.
#[derive(Debug, Clone, Copy)]
pub struct EngineOptions {
    /// DataFusion's target partitions (its parallelism for the aggregation); files are read one
    /// partition each.
    pub partitions: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            partitions: std::thread::available_parallelism().map_or(2, usize::from),
        }
    }
}

/// The engine's name in messages.
const ENGINE: &str = "datafusion";

fn engine_error(error: impl std::fmt::Display) -> Error {
    Error::Engine {
        engine: ENGINE,
        message: error.to_string(),
    }
}

/// Runs `config`'s analysis with the counting phase on DataFusion and the per-scope phase of
/// micromarket itself ([`analyze_counted`]): the outputs are the local engine's. The consumers
/// are `config.consumers`, a file or a folder of files (CSV, gzip CSV or Parquet, read in name
/// order, each one partition).
///
/// # Errors
///
/// As [`micromarket::analyze()`]; [`Error::Parts`] when files disagree (an attribute of two
/// kinds, an id in two files); [`Error::Engine`] when DataFusion fails.
pub fn analyze(
    config: &AnalyzeConfig,
    options: EngineOptions,
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
        .map_err(engine_error)?;
    analyze_counted(
        config,
        &boundaries,
        || {
            let mut counted =
                runtime.block_on(count_consumers(config, &boundaries, options, progress))?;
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
            let name = entry.file_name().to_string_lossy().to_lowercase();
            if p.is_dir() {
                pending.push(p);
            } else if [".csv", ".csv.gz", ".gz", ".parquet"]
                .iter()
                .any(|ext| name.ends_with(ext))
            {
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

fn io_error(path: &Path, source: std::io::Error) -> Error {
    Error::Ingest(micromarket::consumer::IngestError::Io {
        file: path.display().to_string(),
        source,
    })
}

/// Counts `config`'s consumers per zone and cell with DataFusion.
///
/// One pass reads every file (a partition each), locates and keys each consumer with the
/// `mm_*` functions and groups by zone, cell and the grid's dimensions; the named segments are
/// summed as columns, the grid's segments come from the groups. Without a privacy key, or with
/// several files, a first pass reads the ids: the derived key needs all of them, and an id may
/// not appear in two files (within a file the reader rejects a repeat, as a local run does).
///
/// # Errors
///
/// As [`analyze`].
pub async fn count_consumers(
    config: &AnalyzeConfig,
    boundaries: &Boundaries,
    options: EngineOptions,
    progress: &Arc<Progress>,
) -> Result<Counted, Error> {
    let files = consumer_files(&config.consumers)?;
    let given = config.consumers.name();
    let segments = SegmentsFile::parse(&config.segments.name, &config.segments.text)?;
    let spec = Arc::new(ScanSpec {
        ingest: IngestOptions {
            columns: config.columns.clone(),
            schema: segments.schema.clone(),
            attributes: segments.attributes(),
            progress: Some(Arc::clone(progress)),
            ..IngestOptions::default()
        },
        segments_name: config.segments.name.clone(),
        segments,
    });
    let ctx = SessionContext::new_with_config(
        SessionConfig::new().with_target_partitions(options.partitions.max(1)),
    );
    let reports: Reports = Arc::new(Mutex::new(Vec::new()));
    let mut timings = BTreeMap::new();

    let key = match (&config.privacy_key, files.len()) {
        (Some(key), 1) => key.clone(),
        (key, _) => {
            progress.stage("ids");
            let started = Instant::now();
            let ids = id_pass(&ctx, &spec, &files, &reports, &given).await?;
            timings.insert("id_pass".into(), elapsed_ms(started));
            key.clone().unwrap_or_else(|| PrivacyKey::derived_from(ids))
        }
    };
    let key_origin = key.origin;

    progress.stage("ingest and count");
    let started = Instant::now();
    let table = scan::table(&spec, &files, &reports).map_err(engine_error)?;
    let mut identity = Sha256::new();
    for input in [&config.regions, &config.cities].into_iter().flatten() {
        identity.update(input.text.as_bytes());
        identity.update([0]);
    }
    let zone =
        Locate::udf(boundaries, identity.finalize().into()).call(vec![col("lat"), col("lng")]);
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
    let mut aggregates = vec![count(lit(1)).alias("n"), sum(col("key")).alias("n_key")];
    for s in 0..spec.named() {
        let member = col(segment_column(s));
        projection.push(member.clone());
        let one = when(member.clone(), lit(1u64)).otherwise(lit(0u64));
        let key = when(member, col("key")).otherwise(lit(0u32));
        aggregates.push(sum(one.map_err(engine_error)?).alias(format!("k_{s}")));
        aggregates.push(sum(key.map_err(engine_error)?).alias(format!("k_key_{s}")));
    }
    let batches = ctx
        .read_table(Arc::new(table))
        .and_then(|df| df.select(projection))
        .and_then(|df| df.aggregate(groups, aggregates));
    let batches = match batches {
        Ok(df) => df.collect().await,
        Err(e) => Err(e),
    };
    let file_reports = take_reports(&reports, &files)?;
    let batches = batches.map_err(engine_error)?;
    timings.insert("ingest_and_count".into(), elapsed_ms(started));

    progress.stage("merge counts");
    let started = Instant::now();
    let merged = merge_reports(&given, &files, file_reports)?;
    let zones = zone_counts(&batches, &spec, &merged.present)?;
    let (names, warnings) = segment_names(&spec, &merged, &zones)?;
    timings.insert("merge_counts".into(), elapsed_ms(started));
    Ok(Counted {
        zones,
        segments: names,
        rows: merged.rows,
        rejects: merged.rejects,
        input: consumers_record(&given, &files)?,
        warnings,
        key_origin,
        timings_ms: timings,
    })
}

/// Reads every file once for its ids: their summary (for a derived key), and whether an id is
/// in two files.
async fn id_pass(
    ctx: &SessionContext,
    spec: &Arc<ScanSpec>,
    files: &[PathBuf],
    reports: &Reports,
    given: &str,
) -> Result<IdSummary, Error> {
    let table = scan::table(spec, files, reports).map_err(engine_error)?;
    let result = match ctx.read_table(Arc::new(table)).and_then(|df| {
        df.aggregate(
            vec![],
            vec![
                count(lit(1)).alias("ids"),
                count_distinct(col("id_hash")).alias("distinct"),
            ],
        )
    }) {
        Ok(df) => df.collect().await,
        Err(e) => Err(e),
    };
    let file_reports = take_reports(reports, files)?;
    let batches = result.map_err(engine_error)?;
    let mut ids = IdSummary::default();
    for report in &file_reports {
        ids.merge(report.ids);
    }
    let batch = batches.first().ok_or_else(|| engine_error("no result"))?;
    let distinct = batch.column(1).as_primitive::<Int64Type>().value(0) as u64;
    if distinct < ids.count {
        return Err(Error::Parts {
            path: given.into(),
            problem: format!(
                "{} consumer ids appear in more than one file ({} rows, {distinct} distinct ids): each consumer belongs in one file",
                ids.count - distinct,
                ids.count
            ),
        });
    }
    Ok(ids)
}

/// Every file's report, in file order. The first file that failed gives its error (a file left
/// unread because another failed is not one).
fn take_reports(reports: &Reports, files: &[PathBuf]) -> Result<Vec<FileReport>, Error> {
    let taken = std::mem::take(&mut *reports.lock().expect("reports"));
    let mut out = Vec::with_capacity(files.len());
    let mut unread = None;
    for (report, file) in taken.into_iter().zip(files) {
        match report {
            Some(Ok(report)) => out.push(report),
            Some(Err(error)) => return Err(error),
            None => unread = unread.or(Some(file)),
        }
    }
    match unread {
        Some(file) => Err(engine_error(format!(
            "{} was not read to its end",
            file.display()
        ))),
        None => Ok(out),
    }
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

fn merge_reports(
    given: &str,
    files: &[PathBuf],
    reports: Vec<FileReport>,
) -> Result<Merged, Error> {
    let several = files.len() > 1;
    let mut rejects = Vec::new();
    let mut accepted = 0;
    let mut attributes: Vec<(String, AttributeKind, Vec<String>)> = Vec::new();
    let mut kinds: HashMap<String, (AttributeKind, usize)> = HashMap::new();
    let mut present: Vec<Vec<String>> = Vec::new();
    let mut unread = Vec::new();
    for (i, (report, file)) in reports.into_iter().zip(files).enumerate() {
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
                            files[numeric].display(),
                            files[text].display()
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
    let (mut counts, mut keys) = (vec![0u32; width], vec![0u32; width]);
    let dims = present.len();
    for batch in batches {
        let zone = batch.column(0).as_primitive::<UInt32Type>();
        let cell = batch.column(1).as_primitive::<UInt64Type>();
        let dimensions: Vec<_> = (0..dims)
            .map(|d| {
                arrow::compute::cast(batch.column(2 + d), &DataType::Utf8).map_err(engine_error)
            })
            .collect::<Result<_, _>>()?;
        let at = 2 + dims;
        let n = batch.column(at).as_primitive::<Int64Type>();
        let sums: Vec<_> = (at + 1..batch.num_columns())
            .map(|c| batch.column(c).as_primitive::<UInt64Type>())
            .collect();
        for row in 0..batch.num_rows() {
            counts.fill(0);
            keys.fill(0);
            counts[0] = n.value(row) as u32;
            keys[0] = sums[0].value(row) as u32;
            for s in 0..named {
                counts[1 + s] = sums[1 + 2 * s].value(row) as u32;
                keys[1 + s] = sums[2 + 2 * s].value(row) as u32;
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
                counts[1 + named + g] = counts[0];
                keys[1 + named + g] = keys[0];
            }
            let cell = h3o::CellIndex::try_from(cell.value(row)).map_err(engine_error)?;
            zones.add_group((zone.value(row), cell), &counts, &keys);
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
        &spec.segments_name,
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
        return Err(engine_error(
            "the grid's segments are not in the order they were counted in",
        ));
    }
    Ok((names, warnings))
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
