//! The consumers as a DataFusion table: one partition per file (or per run of row groups of a
//! large Parquet file), each read by micromarket's own ingest (the same columns, values, rejects
//! and duplicate rule as a local run) and streamed to the plan in batches, followed by a row
//! that reports what the part held.
//!
//! The report travels as data, in the `report` column of the partition's last row, so it comes
//! back through the plan from wherever the partition ran (a DataFusion thread or a Ballista
//! executor); so does a file that could not be read. The table and its plan serialize
//! ([`ScanInput`]), for Ballista's codecs.

use arrow::array::AsArray;
use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, LargeStringArray, StringViewArray, UInt32Array,
    UInt64Array, new_null_array,
};
use arrow::buffer::BooleanBuffer;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt32Type};
use arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result};
use datafusion::datasource::TableType;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use futures::StreamExt;
use micromarket::consumer::{
    AttributeKind, Column, ColumnNames, ConsumerTable, IngestError, IngestOptions, MISSING, Reject,
    RowCounts, Source,
};
use micromarket::perturb::IdSummary;
use micromarket::segment::{Bitset, SegmentsFile};
use micromarket::{Error, Progress};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;

/// Rows per batch sent to the plan.
const BATCH_ROWS: usize = 1 << 16;

/// The column that carries each file's [`FileReport`] (as JSON) in its partition's last row.
pub const REPORT: &str = "report";

/// One partition of a scan: a file, or a run of row groups of a large Parquet file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// The file (executors must reach the same path), or an object's URL.
    pub file: PathBuf,
    /// For part of a Parquet file, its row groups.
    pub row_groups: Option<std::ops::Range<usize>>,
    /// An object's tag (ETag) when it was listed: a part is read only while its object still
    /// has it, so every part of a run reads the objects as listed.
    #[serde(default)]
    pub e_tag: Option<String>,
}

/// What a scan reads, as it travels to executors.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScanInput {
    /// The parts, one partition each.
    pub parts: Vec<Part>,
    /// The required columns' names.
    pub columns: ColumnNames,
    /// The segments file's name, for messages.
    pub segments_name: String,
    /// The segments file's text.
    pub segments_text: String,
    /// Read only each part's candidate ids (`micromarket::consumer::candidate_id_hashes()`):
    /// the `id_hash` column holds them, every other column is null and the report holds no rows.
    #[serde(default)]
    pub ids_only: bool,
}

/// A scan ready to run: its input, the parsed segments file and the ingest options they make.
#[derive(Debug)]
pub struct ScanSpec {
    /// What is read.
    pub input: ScanInput,
    /// The segments file.
    pub segments: SegmentsFile,
    /// How files are read (columns, declared kinds, the attributes segments name).
    pub ingest: IngestOptions,
}

impl ScanSpec {
    /// Parses the input's segments file; `progress` counts rows where the scan runs in this
    /// process.
    ///
    /// # Errors
    ///
    /// The segments file's own.
    pub fn new(input: ScanInput, progress: Option<Arc<Progress>>) -> Result<Self, Error> {
        let segments = SegmentsFile::parse(&input.segments_name, &input.segments_text)?;
        let ingest = IngestOptions {
            columns: input.columns.clone(),
            schema: segments.schema.clone(),
            attributes: segments.attributes(),
            progress,
            ..IngestOptions::default()
        };
        Ok(ScanSpec {
            input,
            segments,
            ingest,
        })
    }

    /// The wire form.
    fn encode(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(&self.input).map_err(|e| DataFusionError::External(Box::new(e)))
    }

    /// From the wire form.
    fn decode(buf: &[u8]) -> Result<Self> {
        let input = serde_json::from_slice(buf)
            .map_err(|e| DataFusionError::Internal(format!("a consumers scan: {e}")))?;
        ScanSpec::new(input, None).map_err(|e| DataFusionError::Execution(e.to_string()))
    }

    /// Named segments: a Boolean column each (`segment_0`, ...), evaluated in the scan by
    /// micromarket's own filters.
    pub fn named(&self) -> usize {
        self.segments.segment.len()
    }

    /// The grid's dimensions: a text column each (`dimension_0`, ...; string views, which
    /// DataFusion groups column by column), so grid segments are counted by grouping on them.
    pub fn dimensions(&self) -> &[String] {
        self.segments
            .grid
            .as_ref()
            .map_or(&[], |g| g.dimensions.as_slice())
    }

    /// The schema of the scan: `lat`, `lng`, `id_hash`, the segments, the dimensions and
    /// [`REPORT`]. The report is null in consumers' rows; in a report row every other column is
    /// null but `id_hash`, which holds the part's number (so that grouping by `id_hash` alone
    /// keeps the reports apart).
    pub fn schema(&self) -> SchemaRef {
        let mut fields = vec![
            Field::new("lat", DataType::Float64, true),
            Field::new("lng", DataType::Float64, true),
            Field::new("id_hash", DataType::UInt64, true),
        ];
        fields.extend(
            (0..self.named()).map(|i| Field::new(segment_column(i), DataType::Boolean, true)),
        );
        fields.extend(
            (0..self.dimensions().len())
                .map(|i| Field::new(dimension_column(i), DataType::Utf8View, true)),
        );
        fields.push(Field::new(REPORT, DataType::LargeUtf8, true));
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

/// What reading one part found besides its accepted rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileReport {
    /// The part's position in the scan.
    pub part: usize,
    /// What it held, or why it could not be read.
    pub read: std::result::Result<FileSummary, FileFailure>,
}

/// What a file held besides its accepted rows.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FileSummary {
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

/// Why a file could not be read: the reader's message, and whether it was an I/O failure.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileFailure {
    /// The reader's message (it names the file).
    pub message: String,
    /// Whether the file could not be read at all, rather than holding invalid input.
    pub io: bool,
    /// The role of a required column the file lacks.
    pub missing_column: Option<String>,
}

impl From<FileFailure> for Error {
    fn from(f: FileFailure) -> Self {
        Error::PartUnreadable {
            message: f.message,
            io: f.io,
            missing_column: f.missing_column,
        }
    }
}

/// The consumers files as a table.
#[derive(Debug)]
pub struct ConsumersTable {
    spec: Arc<ScanSpec>,
}

impl ConsumersTable {
    /// The table of `spec`'s files.
    pub fn new(spec: Arc<ScanSpec>) -> Self {
        ConsumersTable { spec }
    }

    /// The wire form, for Ballista's logical codec.
    pub(crate) fn encode(&self) -> Result<Vec<u8>> {
        self.spec.encode()
    }

    /// From the wire form.
    pub(crate) fn decode(buf: &[u8]) -> Result<Self> {
        Ok(ConsumersTable::new(Arc::new(ScanSpec::decode(buf)?)))
    }
}

#[async_trait::async_trait]
impl TableProvider for ConsumersTable {
    fn schema(&self) -> SchemaRef {
        self.spec.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let parts = part_indices(self.spec.input.parts.len())?;
        Ok(Arc::new(ConsumersExec::new(
            Arc::clone(&self.spec),
            projection.cloned(),
            parts,
        )))
    }
}

/// The scan's input: partition `i` holds one row, the number `i` of the part it reads. A
/// cluster that hands a task some of a stage's partitions restricts this in-memory source (it
/// knows how); [`ConsumersExec`] reads the parts it is given.
fn part_indices(parts: usize) -> Result<Arc<dyn ExecutionPlan>> {
    let schema = Arc::new(Schema::new(vec![Field::new(
        "part",
        DataType::UInt32,
        false,
    )]));
    let partitions = (0..parts as u32)
        .map(|i| {
            let column = Arc::new(UInt32Array::from(vec![i])) as ArrayRef;
            Ok(vec![RecordBatch::try_new(
                Arc::clone(&schema),
                vec![column],
            )?])
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(MemorySourceConfig::try_new_exec(&partitions, schema, None)?)
}

/// The scan's plan node: each of its partitions reads the parts its input partition names.
#[derive(Debug)]
pub struct ConsumersExec {
    spec: Arc<ScanSpec>,
    projection: Option<Vec<usize>>,
    /// The parts to read, by number (see [`part_indices`]).
    parts: Arc<dyn ExecutionPlan>,
    properties: Arc<PlanProperties>,
}

/// [`ConsumersExec`]'s wire form.
#[derive(Serialize, Deserialize)]
struct ExecWire {
    input: ScanInput,
    projection: Option<Vec<usize>>,
}

impl ConsumersExec {
    fn new(
        spec: Arc<ScanSpec>,
        projection: Option<Vec<usize>>,
        parts: Arc<dyn ExecutionPlan>,
    ) -> Self {
        let schema = spec.schema();
        let schema = match &projection {
            Some(p) => Arc::new(schema.project(p).expect("projection within the schema")),
            None => schema,
        };
        let properties = PlanProperties::new(
            EquivalenceProperties::new(schema),
            Partitioning::UnknownPartitioning(parts.properties().partitioning.partition_count()),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        ConsumersExec {
            spec,
            projection,
            parts,
            properties: Arc::new(properties),
        }
    }

    /// The wire form, for Ballista's physical codec.
    pub(crate) fn encode(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(&ExecWire {
            input: self.spec.input.clone(),
            projection: self.projection.clone(),
        })
        .map_err(|e| DataFusionError::External(Box::new(e)))
    }

    /// From the wire form, over its decoded input.
    pub(crate) fn decode(buf: &[u8], inputs: &[Arc<dyn ExecutionPlan>]) -> Result<Self> {
        let wire: ExecWire = serde_json::from_slice(buf)
            .map_err(|e| DataFusionError::Internal(format!("a consumers scan: {e}")))?;
        let spec = ScanSpec::new(wire.input, None)
            .map_err(|e| DataFusionError::Execution(e.to_string()))?;
        let [parts] = inputs else {
            return Err(DataFusionError::Internal(
                "a consumers scan has one input".into(),
            ));
        };
        Ok(ConsumersExec::new(
            Arc::new(spec),
            wire.projection,
            Arc::clone(parts),
        ))
    }
}

impl DisplayAs for ConsumersExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "ConsumersExec: parts={}", self.spec.input.parts.len())
    }
}

impl ExecutionPlan for ConsumersExec {
    fn name(&self) -> &'static str {
        "ConsumersExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.parts]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let [parts] = <[_; 1]>::try_from(children)
            .map_err(|_| DataFusionError::Internal("a consumers scan has one input".into()))?;
        Ok(Arc::new(ConsumersExec::new(
            Arc::clone(&self.spec),
            self.projection.clone(),
            parts,
        )))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let spec = Arc::clone(&self.spec);
        let schema = spec.schema();
        let projection = self.projection.clone();
        let project = move |batch: Result<RecordBatch>| match &projection {
            Some(p) => batch.and_then(|b| Ok(b.project(p)?)),
            None => batch,
        };
        let numbers = self.parts.execute(partition, context)?;
        let parts = numbers.flat_map(|batch| {
            let numbers: Vec<Result<usize>> = match batch {
                Ok(b) => b
                    .column(0)
                    .as_primitive::<UInt32Type>()
                    .values()
                    .iter()
                    .map(|&p| Ok(p as usize))
                    .collect(),
                Err(e) => vec![Err(e)],
            };
            futures::stream::iter(numbers)
        });
        let batches = parts.flat_map(move |part| match part {
            Ok(part) => read_part(Arc::clone(&spec), Arc::clone(&schema), part),
            Err(e) => futures::stream::iter([Err(e)]).boxed(),
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema(),
            batches.map(project),
        )))
    }
}

/// The batches of part `part`, then its report row.
fn read_part(
    spec: Arc<ScanSpec>,
    schema: SchemaRef,
    part: usize,
) -> futures::stream::BoxStream<'static, Result<RecordBatch>> {
    if part >= spec.input.parts.len() {
        let message = format!("a consumers scan has no part {part}");
        return futures::stream::iter([Err(DataFusionError::Internal(message))]).boxed();
    }
    // Reading is CPU work on micromarket's own threads: off the async workers.
    let read = futures::stream::once(async move {
        let read = tokio::task::spawn_blocking(move || read_file(&spec, part)).await;
        read.map_err(|e| DataFusionError::External(Box::new(e)))
    });
    read.flat_map(move |read| {
        let schema = Arc::clone(&schema);
        match read {
            Ok((rows, report)) => {
                let n = rows.as_ref().map_or(0, PartRows::len);
                let data = (0..n).step_by(BATCH_ROWS).map({
                    let schema = Arc::clone(&schema);
                    move |start| {
                        let rows = rows.as_ref().expect("rows were read");
                        rows.batch(&schema, start, (start + BATCH_ROWS).min(n))
                    }
                });
                let report = std::iter::once_with(move || report_batch(&schema, &report));
                futures::stream::iter(data.chain(report)).boxed()
            }
            Err(e) => futures::stream::iter([Err(e)]).boxed(),
        }
    })
    .boxed()
}

/// What reading a part gives the plan.
enum PartRows {
    /// Its accepted consumers.
    Consumers(FileRows),
    /// Its candidate id hashes alone ([`ScanInput::ids_only`]).
    Ids(Vec<u64>),
}

impl PartRows {
    fn len(&self) -> usize {
        match self {
            PartRows::Consumers(rows) => rows.table.len(),
            PartRows::Ids(ids) => ids.len(),
        }
    }

    /// Rows `start..end` as a batch of `schema` (the report column null).
    fn batch(&self, schema: &SchemaRef, start: usize, end: usize) -> Result<RecordBatch> {
        let ids = match self {
            PartRows::Consumers(rows) => return rows.batch(schema, start, end),
            PartRows::Ids(ids) => &ids[start..end],
        };
        let columns = schema
            .fields()
            .iter()
            .map(|f| match f.name().as_str() {
                "id_hash" => Arc::new(UInt64Array::from(ids.to_vec())) as ArrayRef,
                _ => new_null_array(f.data_type(), ids.len()),
            })
            .collect();
        Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
    }
}

/// A file read: its accepted rows and their named segments.
struct FileRows {
    table: ConsumerTable,
    named: Vec<Bitset>,
    /// Per dimension, its position among the table's attributes.
    dimensions: Vec<usize>,
}

/// Reads part `index` of `spec`: its rows (none when it could not be read) and its report.
fn read_file(spec: &ScanSpec, index: usize) -> (Option<PartRows>, FileReport) {
    let (rows, read) = match read_rows(spec, index) {
        Ok((rows, summary)) => (Some(rows), Ok(summary)),
        Err(error) => {
            let io = matches!(error, Error::Ingest(IngestError::Io { .. }));
            let missing_column = match &error {
                Error::Ingest(IngestError::MissingColumn { role, .. }) => Some(role.to_string()),
                _ => None,
            };
            let message = error.to_string();
            let failure = FileFailure {
                message,
                io,
                missing_column,
            };
            (None, Err(failure))
        }
    };
    (rows, FileReport { part: index, read })
}

fn read_rows(spec: &ScanSpec, index: usize) -> Result<(PartRows, FileSummary), Error> {
    let part = &spec.input.parts[index];
    let options = IngestOptions {
        row_groups: part.row_groups.clone(),
        ..spec.ingest.clone()
    };
    let source = match crate::store::url_of(&part.file) {
        Some(url) => crate::store::fetch(&url, part)?,
        None => Source::Path(part.file.clone()),
    };
    if spec.input.ids_only {
        let ids = micromarket::consumer::candidate_id_hashes(&source, &options)?;
        return Ok((PartRows::Ids(ids), FileSummary::default()));
    }
    let ingested = micromarket::consumer::ingest(&source, &options)?;
    let table = ingested.table;
    // The whole file compiles as a local run would (unknown attributes, numeric grid dimensions
    // and bad filters fail here with the same messages); the grid's own segments are counted by
    // grouping on its dimensions instead, over every file's values.
    let (segments, _) =
        micromarket::segment::compile(&spec.input.segments_name, &spec.segments, &table)?;
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
    let summary = FileSummary {
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
        PartRows::Consumers(FileRows {
            table,
            named,
            dimensions,
        }),
        summary,
    ))
}

/// The report row of a file: [`REPORT`], and the part's number as `id_hash`; every other column
/// null.
fn report_batch(schema: &SchemaRef, report: &FileReport) -> Result<RecordBatch> {
    let json = serde_json::to_string(report).map_err(|e| DataFusionError::External(Box::new(e)))?;
    let last = schema.fields().len() - 1;
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .take(last)
        .map(|f| match f.name().as_str() {
            "id_hash" => Arc::new(UInt64Array::from(vec![report.part as u64])) as ArrayRef,
            _ => new_null_array(f.data_type(), 1),
        })
        .chain([Arc::new(LargeStringArray::from(vec![json])) as ArrayRef])
        .collect();
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

impl FileRows {
    /// Rows `start..end` as a batch of `schema` (the report column null).
    fn batch(&self, schema: &SchemaRef, start: usize, end: usize) -> Result<RecordBatch> {
        let t = &self.table;
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(Float64Array::from(t.lat[start..end].to_vec())),
            Arc::new(Float64Array::from(t.lng[start..end].to_vec())),
            Arc::new(UInt64Array::from(t.id_hashes[start..end].to_vec())),
        ];
        for members in &self.named {
            let values = BooleanBuffer::collect_bool(end - start, |r| members.contains(start + r));
            columns.push(Arc::new(BooleanArray::new(values, None)));
        }
        for &a in &self.dimensions {
            let Column::Categorical { codes, dictionary } = &t.attributes[a].column else {
                unreachable!("grid dimensions are categorical")
            };
            let keys: UInt32Array = codes[start..end]
                .iter()
                .map(|&c| (c != MISSING).then_some(c))
                .collect();
            let values = StringViewArray::from_iter_values(dictionary);
            columns.push(arrow::compute::take(&values, &keys, None)?);
        }
        columns.push(new_null_array(&DataType::LargeUtf8, end - start));
        Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
    }
}
