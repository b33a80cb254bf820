//! Segment membership two ways over one Parquet file of consumers, with the counts checked
//! equal:
//!
//! - DataFusion SQL: each named segment's filter, parsed by DataFusion itself, summed as
//!   `sum(CASE WHEN <filter> THEN 1 ELSE 0 END)` over the file's attribute columns in memory (a
//!   `MemTable` of one partition per core); its cost is that query's time less the time of
//!   `count(<column>)` over the same columns;
//! - micromarket's compiled filters, as the engines' scan evaluates them: `segment::compile` over
//!   the table the library's reader made of the same file.
//!
//! Best of 3 runs each, on every core:
//!
//!   cargo bench -p micromarket-datafusion --bench membership -- CONSUMERS.parquet SEGMENTS.toml

#![allow(clippy::print_stdout, reason = "a bench prints its table")]

use anyhow::{Context, bail};
use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use datafusion::datasource::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};
use micromarket::consumer::{IngestOptions, Source, ingest};
use micromarket::segment::{SegmentsFile, compile};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::sync::Arc;
use std::time::{Duration, Instant};

const RUNS: usize = 3;

fn best<T>(mut run: impl FnMut() -> anyhow::Result<T>) -> anyhow::Result<(Duration, T)> {
    let mut best: Option<(Duration, T)> = None;
    for _ in 0..RUNS {
        let started = Instant::now();
        let value = run()?;
        let took = started.elapsed();
        if best.as_ref().is_none_or(|(b, _)| took < *b) {
            best = Some((took, value));
        }
    }
    Ok(best.expect("runs"))
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let [consumers, segments] = args.as_slice() else {
        bail!("usage: membership CONSUMERS.parquet SEGMENTS.toml");
    };
    let text = std::fs::read_to_string(segments).context("the segments file")?;
    let file = SegmentsFile::parse(segments, &text)?;
    let named: Vec<(String, String)> = file
        .segment
        .iter()
        .map(|s| (s.name.clone(), s.filter.clone()))
        .collect();

    // micromarket: read, then compile the filters.
    let options = IngestOptions {
        schema: file.schema.clone(),
        attributes: file.attributes(),
        ..IngestOptions::default()
    };
    let source = Source::Path(consumers.into());
    let (read, ingested) = best(|| Ok(ingest(&source, &options)?))?;
    let table = ingested.table;
    let (compiled, ours) = best(|| {
        let (segments, _) = compile(segments, &file, &table)?;
        Ok(segments
            .iter()
            .take(named.len())
            .map(|s| s.members.count() as i64)
            .collect::<Vec<_>>())
    })?;

    let attributes: Vec<String> = options.attributes.iter().flatten().cloned().collect();
    let (scanned, summed, theirs) = datafusion_sql(consumers, &attributes, &named)?;

    println!(
        "{} consumers, {} named segments, {} cores",
        table.len(),
        named.len(),
        cores()
    );
    println!("| segment | micromarket | DataFusion SQL |\n|---|---|---|");
    for ((name, _), (a, b)) in named.iter().zip(ours.iter().zip(&theirs)) {
        println!("| {name} | {a} | {b} |");
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "micromarket: read {:.0} ms (not compared), filters {:.1} ms",
        ms(read),
        ms(compiled)
    );
    println!(
        "DataFusion: count of the filters' columns {:.1} ms, the CASE sums {:.1} ms: filters {:.1} ms",
        ms(scanned),
        ms(summed),
        ms(summed.saturating_sub(scanned))
    );
    if ours != theirs {
        bail!("the two ways disagree: {ours:?} and {theirs:?}");
    }
    Ok(())
}

/// DataFusion SQL over the file's `attributes` in memory: the time of counting them, the time
/// of the named segments' CASE sums, and those sums.
fn datafusion_sql(
    consumers: &str,
    attributes: &[String],
    named: &[(String, String)],
) -> anyhow::Result<(Duration, Duration, Vec<i64>)> {
    let cores = cores();
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(consumers)?)?;
    let schema = reader.parquet_schema();
    let wanted = (0..schema.num_columns())
        .filter(|&c| attributes.contains(&schema.column(c).name().to_string()));
    let mask = ProjectionMask::roots(schema, wanted);
    let reader = reader
        .with_projection(mask)
        .with_batch_size(1 << 16)
        .build()?;
    let mut partitions = vec![Vec::new(); cores];
    for (i, batch) in reader.enumerate() {
        partitions[i % cores].push(batch?);
    }
    let memory = MemTable::try_new(partitions[0][0].schema(), partitions)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .enable_all()
        .build()?;
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(cores));
    ctx.register_table("consumers", Arc::new(memory))?;
    let columns: Vec<String> = attributes
        .iter()
        .map(|a| format!("count(\"{a}\")"))
        .collect();
    let baseline = format!("SELECT {} FROM consumers", columns.join(", "));
    let sums: Vec<String> = named
        .iter()
        .map(|(_, f)| format!("sum(CASE WHEN {f} THEN 1 ELSE 0 END)"))
        .collect();
    let query = format!("SELECT {} FROM consumers", sums.join(", "));
    let sql = |q: &str| {
        runtime.block_on(async {
            let batches = ctx.sql(q).await?.collect().await?;
            Ok::<_, anyhow::Error>(batches)
        })
    };
    let (scanned, _) = best(|| sql(&baseline))?;
    let (summed, batches) = best(|| sql(&query))?;
    let batch = &batches[0];
    let theirs: Vec<i64> = (0..batch.num_columns())
        .map(|c| {
            let column = batch.column(c);
            let column = arrow::compute::cast(column, &arrow::datatypes::DataType::Int64)?;
            Ok(column.as_primitive::<Int64Type>().value(0))
        })
        .collect::<Result<_, arrow::error::ArrowError>>()?;
    Ok((scanned, summed, theirs))
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}
