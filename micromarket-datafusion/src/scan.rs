//! The consumers as a DataFusion table: one partition per file, each read by micromarket's own
//! ingest (the same columns, values, rejects and duplicate rule as a local run) and streamed to
//! the plan in batches, beside a report of what the file held.

use arrow::array::{
    ArrayRef, BooleanArray, DictionaryArray, Float64Array, UInt32Array, UInt64Array,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt32Type};
use arrow::record_batch::RecordBatch;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use futures::StreamExt;
use micromarket::consumer::{
    AttributeKind, Column, ConsumerTable, IngestOptions, MISSING, Reject, RowCounts, Source,
};
use micromarket::perturb::IdSummary;
use micromarket::segment::{Bitset, SegmentsFile};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Rows per batch sent to the plan.
const BATCH_ROWS: usize = 1 << 16;

/// What every partition reads and evaluates.
#[derive(Debug)]
pub struct ScanSpec {
    /// How files are read (columns, declared kinds, the attributes segments name).
    pub ingest: IngestOptions,
    /// The segments file's name, for messages.
    pub segments_name: String,
    /// The segments file.
    pub segments: SegmentsFile,
}

impl ScanSpec {
    /// Named segments: a Boolean column each (`segment_0`, ...), evaluated in the scan by
    /// micromarket's own filters.
    pub fn named(&self) -> usize {
        self.segments.segment.len()
    }

    /// The grid's dimensions: a dictionary-encoded text column each (`dimension_0`, ...), so
    /// grid segments are counted by grouping on them.
    pub fn dimensions(&self) -> &[String] {
        self.segments
            .grid
            .as_ref()
            .map_or(&[], |g| g.dimensions.as_slice())
    }

    /// The schema of the scan: `lat`, `lng`, `id_hash`, the segments, the dimensions.
    pub fn schema(&self) -> SchemaRef {
        let mut fields = vec![
            Field::new("lat", DataType::Float64, false),
            Field::new("lng", DataType::Float64, false),
            Field::new("id_hash", DataType::UInt64, false),
        ];
        fields.extend(
            (0..self.named()).map(|i| Field::new(segment_column(i), DataType::Boolean, false)),
        );
        fields.extend((0..self.dimensions().len()).map(|i| {
            Field::new(
                dimension_column(i),
                DataType::Dictionary(Box::new(DataType::UInt32), Box::new(DataType::Utf8)),
                true,
            )
        }));
        Arc::new(Schema::new(fields))
    }
}

/// The column of named segment `i`.
pub fn segment_column(i: usize) -> String {
    format!("segment_{i}")
}

/// The column of grid dimension `i`.
pub fn dimension_column(i: usize) -> String {
    format!("dimension_{i}")
}

/// What reading one file found besides its accepted rows.
#[derive(Debug, Clone)]
pub struct FileReport {
    /// Row accounting.
    pub rows: RowCounts,
    /// Rejected rows, in file order.
    pub rejects: Vec<Reject>,
    /// Every attribute read, in header order: name, kind, and for text its dictionary (values
    /// in order of first appearance).
    pub attributes: Vec<(String, AttributeKind, Vec<String>)>,
    /// Attribute columns not read.
    pub unread: Vec<String>,
    /// Per grid dimension, the values its accepted rows hold.
    pub present: Vec<Vec<String>>,
    /// The ids' summary (for a key derived from them).
    pub ids: IdSummary,
}

/// The reports of a scan's files, by file position; a file that failed holds its error.
pub type Reports = Arc<Mutex<Vec<Option<Result<FileReport, micromarket::Error>>>>>;

/// The consumers in `files` as a table of one partition per file, filling `reports` as each
/// is read.
///
/// # Errors
///
/// A DataFusion error if the partitions disagree with the schema (they never do).
pub fn table(spec: &Arc<ScanSpec>, files: &[PathBuf], reports: &Reports) -> Result<StreamingTable> {
    let schema = spec.schema();
    *reports.lock().expect("reports") = files.iter().map(|_| None).collect();
    let partitions: Vec<Arc<dyn PartitionStream>> = files
        .iter()
        .enumerate()
        .map(|(index, file)| {
            Arc::new(FilePartition {
                file: file.clone(),
                index,
                spec: Arc::clone(spec),
                schema: Arc::clone(&schema),
                reports: Arc::clone(reports),
            }) as Arc<dyn PartitionStream>
        })
        .collect();
    StreamingTable::try_new(schema, partitions)
}

/// One file of the scan.
#[derive(Debug, Clone)]
struct FilePartition {
    file: PathBuf,
    index: usize,
    spec: Arc<ScanSpec>,
    schema: SchemaRef,
    reports: Reports,
}

/// A file read: its accepted rows and their named segments.
struct FileRows {
    table: ConsumerTable,
    named: Vec<Bitset>,
    /// Per dimension, its position among the table's attributes.
    dimensions: Vec<usize>,
}

impl FilePartition {
    /// Reads the file and evaluates the named segments, recording the report (or the error).
    fn read(&self) -> Result<FileRows> {
        let read = self.read_file();
        let mut reports = self.reports.lock().expect("reports");
        match read {
            Ok((rows, report)) => {
                reports[self.index] = Some(Ok(report));
                Ok(rows)
            }
            Err(error) => {
                let message = error.to_string();
                reports[self.index] = Some(Err(error));
                Err(DataFusionError::Execution(message))
            }
        }
    }

    fn read_file(&self) -> Result<(FileRows, FileReport), micromarket::Error> {
        let spec = &self.spec;
        let ingested =
            micromarket::consumer::ingest(&Source::Path(self.file.clone()), &spec.ingest)?;
        let table = ingested.table;
        // The whole file compiles as a local run would (unknown attributes, numeric grid
        // dimensions and bad filters fail here with the same messages); the grid's own segments
        // are counted by grouping on its dimensions instead, over every file's values.
        let (segments, _) =
            micromarket::segment::compile(&spec.segments_name, &spec.segments, &table)?;
        let named = segments
            .into_iter()
            .take(spec.named())
            .map(|s| s.members)
            .collect();
        let dimensions: Vec<usize> = spec
            .dimensions()
            .iter()
            .map(|d| {
                table
                    .attributes
                    .iter()
                    .position(|a| &a.name == d)
                    .expect("compile checked the grid's dimensions")
            })
            .collect();
        let present = dimensions
            .iter()
            .map(|&a| micromarket::segment::present_values(&table.attributes[a].column))
            .collect();
        let mut ids = IdSummary::default();
        for &h in &table.id_hashes {
            ids.add(h);
        }
        let report = FileReport {
            rows: ingested.rows,
            rejects: ingested.rejects,
            attributes: table
                .attributes
                .iter()
                .map(|a| {
                    let dictionary = match &a.column {
                        Column::Categorical { dictionary, .. } => dictionary.clone(),
                        Column::Numeric(_) => Vec::new(),
                    };
                    (a.name.clone(), a.column.kind(), dictionary)
                })
                .collect(),
            unread: table.unread.clone(),
            present,
            ids,
        };
        Ok((
            FileRows {
                table,
                named,
                dimensions,
            },
            report,
        ))
    }
}

impl FileRows {
    /// Rows `start..end` as a batch of `schema`.
    fn batch(&self, schema: &SchemaRef, start: usize, end: usize) -> Result<RecordBatch> {
        let t = &self.table;
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(Float64Array::from(t.lat[start..end].to_vec())),
            Arc::new(Float64Array::from(t.lng[start..end].to_vec())),
            Arc::new(UInt64Array::from(t.id_hashes[start..end].to_vec())),
        ];
        for members in &self.named {
            let values: BooleanArray = (start..end).map(|r| Some(members.contains(r))).collect();
            columns.push(Arc::new(values));
        }
        for &a in &self.dimensions {
            let Column::Categorical { codes, dictionary } = &t.attributes[a].column else {
                unreachable!("grid dimensions are categorical")
            };
            let keys: UInt32Array = codes[start..end]
                .iter()
                .map(|&c| (c != MISSING).then_some(c))
                .collect();
            let values = Arc::new(arrow::array::StringArray::from_iter_values(dictionary));
            columns.push(Arc::new(DictionaryArray::<UInt32Type>::try_new(
                keys, values,
            )?));
        }
        Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
    }
}

impl PartitionStream for FilePartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let partition = self.clone();
        let schema = Arc::clone(&self.schema);
        // Reading is CPU work on micromarket's own threads: off the async workers.
        let read = futures::stream::once(async move {
            tokio::task::spawn_blocking(move || partition.read())
                .await
                .map_err(|e| DataFusionError::External(Box::new(e)))?
        });
        let batches =
            read.flat_map(move |rows| {
                let schema = Arc::clone(&schema);
                match rows {
                    Ok(rows) => {
                        let rows = Arc::new(rows);
                        let n = rows.table.len();
                        futures::stream::iter((0..n).step_by(BATCH_ROWS).map(move |start| {
                            rows.batch(&schema, start, (start + BATCH_ROWS).min(n))
                        }))
                        .boxed()
                    }
                    Err(e) => futures::stream::iter([Err(e)]).boxed(),
                }
            });
        Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            batches,
        ))
    }
}
