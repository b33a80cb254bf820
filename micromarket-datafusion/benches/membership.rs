//! Segment membership two ways over one Parquet file of consumers, with the counts checked
//! equal:
//!
//! - DataFusion SQL: each named segment's filter, parsed by DataFusion itself, summed as
//!   `sum(CASE WHEN (<filter>) THEN 1 ELSE 0 END)` over the file's attribute columns in memory (a
//!   `MemTable` of one partition per core), with text columns as read and dictionary-encoded;
//! - micromarket's compiled filters, as the engines' scan evaluates them: `segment::compile` over
//!   the table the library's reader made of the same file.
//!
//! Best of 3 runs each, on every core:
//!
//!   cargo bench -p micromarket-datafusion --bench membership -- CONSUMERS.parquet SEGMENTS.toml

#![allow(clippy::print_stdout, reason = "a bench prints its table")]

use anyhow::{Context, bail};
use arrow::array::AsArray;
use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Int64Type, Schema};
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
    let (text, theirs) = datafusion_sql(consumers, &attributes, &named, false)?;
    let (dictionaries, on_dictionaries) = datafusion_sql(consumers, &attributes, &named, true)?;

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
    println!("micromarket's compiled filters: {:.0} ms", ms(compiled));
    println!(
        "DataFusion's CASE sums: {:.0} ms over text columns, {:.0} ms over dictionaries",
        ms(text),
        ms(dictionaries)
    );
    println!(
        "(micromarket's read of the file, not compared: {:.0} ms)",
        ms(read)
    );
    if ours != theirs || ours != on_dictionaries {
        bail!("the ways disagree: {ours:?}, {theirs:?} and {on_dictionaries:?}");
    }
    Ok(())
}

/// DataFusion SQL over the file's `attributes` in memory (text as dictionaries with
/// `dictionary`): the time of the named segments' CASE sums, and those sums.
fn datafusion_sql(
    consumers: &str,
    attributes: &[String],
    named: &[(String, String)],
    dictionary: bool,
) -> anyhow::Result<(Duration, Vec<i64>)> {
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
        let batch = batch?;
        let batch = if dictionary {
            dictionary_encoded(&batch)?
        } else {
            batch
        };
        partitions[i % cores].push(batch);
    }
    let schema = partitions[0][0].schema();
    let memory = MemTable::try_new(schema, partitions)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .enable_all()
        .build()?;
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(cores));
    ctx.register_table("consumers", Arc::new(memory))?;
    let sums: Vec<String> = named
        .iter()
        .map(|(_, f)| format!("sum(CASE WHEN ({f}) THEN 1 ELSE 0 END)"))
        .collect();
    let query = format!("SELECT {} FROM consumers", sums.join(", "));
    let (summed, batches) = best(|| {
        runtime.block_on(async {
            let frame = ctx.sql(&query).await.with_context(|| query.clone())?;
            Ok::<_, anyhow::Error>(frame.collect().await?)
        })
    })?;
    let batch = &batches[0];
    let theirs: Vec<i64> = (0..batch.num_columns())
        .map(|c| {
            let column = arrow::compute::cast(batch.column(c), &DataType::Int64)?;
            Ok(column.as_primitive::<Int64Type>().value(0))
        })
        .collect::<Result<_, arrow::error::ArrowError>>()?;
    Ok((summed, theirs))
}

/// `batch` with its text columns dictionary-encoded, as micromarket holds categories.
fn dictionary_encoded(batch: &RecordBatch) -> anyhow::Result<RecordBatch> {
    let text = DataType::Dictionary(Box::new(DataType::UInt32), Box::new(DataType::Utf8));
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if field.data_type() == &DataType::Utf8 {
            fields.push(Field::new(field.name(), text.clone(), field.is_nullable()));
            columns.push(arrow::compute::cast(column, &text)?);
        } else {
            fields.push(field.as_ref().clone());
            columns.push(Arc::clone(column));
        }
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}
