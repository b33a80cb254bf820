//! Consumers from Parquet: lat/lon columns, or a GeoParquet point geometry column (WKB).
//!
//! # Algorithm
//!
//! The footer is read once; row groups are then decoded in parallel (a block of them at a time,
//! so memory stays bounded) column by column through the `parquet` crate's Arrow reader, only the
//! columns the run reads (id, position, the attributes the segments name). Each row
//! group becomes the same [`ChunkOut`] a CSV chunk does: coordinates checked, ids fingerprinted,
//! text dictionary-encoded locally. The chunks are merged in file order with the CSV path's
//! duplicate detection and dictionary merge, so the rejects accounting is the same: rows read =
//! accepted + rejected, with a reject's `line` the 1-based row number and its `text` the values
//! of the columns read, joined by commas.
//!
//! Attribute kinds come from the Parquet types (numbers numeric, text and the rest categorical)
//! unless the segments file declares them: a declared numeric text column has its values parsed,
//! and a bad one rejects the row.

use super::fields::{
    ID_SPELLINGS, LAT_SPELLINGS, LNG_SPELLINGS, NumberField, coordinate, find_column, in_range,
    parse_number,
};
use super::input::{IngestError, IngestOptions, Ingested, Source};
use super::merge::{
    ChunkOut, FingerprintSet, ID_SHARDS, LocalColumn, Merged, Plan, PlannedAttribute, RowOrigin,
    SMALL_DICTIONARY, find_duplicates, id_hash,
};
use super::rejects::{MAX_VALUE_BYTES, Reject, RejectReason, reject_text, too_long};
use super::table::{AttributeKind, MISSING};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use arrow_schema::DataType;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::file::reader::{ChunkReader, Length};
use rayon::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;

const INVALID_LAT: RejectReason = RejectReason::InvalidLatitude;
const INVALID_LNG: RejectReason = RejectReason::InvalidLongitude;

/// Rows per decoded batch.
const BATCH_ROWS: usize = 64 * 1024;

/// Where the coordinates are.
#[derive(Debug, Clone, Copy)]
enum Position {
    /// Latitude and longitude columns.
    Columns { lat: usize, lng: usize },
    /// A WKB point column (GeoParquet), longitude/latitude in CRS84.
    Wkb(usize),
}

/// The input as something the reader can open once per row group.
#[derive(Clone)]
enum Input {
    File(std::path::PathBuf),
    Bytes(bytes::Bytes),
}

/// Reader options that take the columns' types from the Parquet schema alone: the Arrow schema
/// some writers embed is not decoded (a malformed one made the Arrow IPC decoder panic; found
/// by the `ingest_parquet` fuzz target), and every type it could name is read from Parquet's
/// own annotations as well.
fn footer_only() -> ArrowReaderOptions {
    ArrowReaderOptions::new().with_skip_arrow_metadata(true)
}

/// The rows of each row group of the Parquet file `path`, from its footer.
pub(super) fn row_group_rows(path: &std::path::Path) -> Result<Vec<u64>, IngestError> {
    let file = path.display().to_string();
    let f = std::fs::File::open(path).map_err(|source| IngestError::Io {
        file: file.clone(),
        source,
    })?;
    let metadata =
        ArrowReaderMetadata::load(&f, footer_only()).map_err(|e| IngestError::Parquet {
            file,
            detail: format!("not a readable Parquet file: {e}"),
        })?;
    Ok(metadata
        .metadata()
        .row_groups()
        .iter()
        .map(|g| g.num_rows() as u64)
        .collect())
}

/// A Parquet file opened: its footer, header and the plan of the columns to read.
struct Opened {
    input: Input,
    metadata: ArrowReaderMetadata,
    header: Vec<String>,
    plan: Plan,
    position: Position,
}

/// Opens `source` and resolves its columns as `options` name them.
fn open(source: &Source, options: &IngestOptions) -> Result<Opened, IngestError> {
    let file = source.name();
    let input = match source {
        Source::Path(p) => Input::File(p.clone()),
        Source::Bytes { data, .. } => Input::Bytes(data.clone()),
    };
    let metadata = match &input {
        Input::File(p) => {
            let f = std::fs::File::open(p).map_err(|source| IngestError::Io {
                file: file.clone(),
                source,
            })?;
            ArrowReaderMetadata::load(&f, footer_only())
        }
        Input::Bytes(b) => ArrowReaderMetadata::load(b, footer_only()),
    }
    .map_err(|e| IngestError::Parquet {
        file: file.clone(),
        detail: format!("not a readable Parquet file: {e}"),
    })?;
    let schema = metadata.schema().clone();
    let header: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let (plan, position) = resolve(&file, &header, &schema, &metadata, options)?;
    Ok(Opened {
        input,
        metadata,
        header,
        plan,
        position,
    })
}

/// The row groups `options` reads of a file of `groups` row groups.
fn groups_read(options: &IngestOptions, groups: usize) -> std::ops::Range<usize> {
    options
        .row_groups
        .clone()
        .map_or(0..groups, |r| r.start.min(groups)..r.end.min(groups))
}

/// Reads row group `group` of `input`, the `projection`'s columns.
fn read_input_group(
    input: &Input,
    metadata: &ArrowReaderMetadata,
    projection: &ProjectionMask,
    group: usize,
) -> Result<Vec<RecordBatch>, String> {
    match input {
        Input::File(p) => {
            let f = std::fs::File::open(p).map_err(|e| format!("cannot reopen the file: {e}"))?;
            read_group(Bounded(f), metadata, projection, group)
        }
        Input::Bytes(b) => read_group(Bounded(b.clone()), metadata, projection, group),
    }
    .map_err(|e| format!("row group {group}: {e}"))
}

/// The id hashes of every row with an id in the row groups `options` reads, sorted and without
/// repeats, from the id column alone.
pub(super) fn candidate_id_hashes(
    source: &Source,
    options: &IngestOptions,
) -> Result<Vec<u64>, IngestError> {
    let opened = open(source, options)?;
    let metadata = &opened.metadata;
    let projection = ProjectionMask::roots(
        metadata.metadata().file_metadata().schema_descr(),
        [opened.plan.id],
    );
    let read = groups_read(options, metadata.metadata().num_row_groups());
    let hashes: Vec<Vec<u64>> = read
        .into_par_iter()
        .map(|g| {
            let batches = read_input_group(&opened.input, metadata, &projection, g)?;
            let mut hashes = Vec::new();
            for batch in &batches {
                let ids = as_text(batch.column(0));
                let ids = ids.as_string::<i32>();
                hashes.extend(
                    ids.iter()
                        .flatten()
                        .map(str::trim)
                        .filter(|id| !id.is_empty())
                        .map(|id| id_hash(id.as_bytes())),
                );
            }
            Ok(hashes)
        })
        .collect::<Result<_, String>>()
        .map_err(|detail| IngestError::Parquet {
            file: source.name(),
            detail,
        })?;
    let mut hashes = hashes.concat();
    hashes.sort_unstable();
    hashes.dedup();
    Ok(hashes)
}

/// Reads the consumers of a Parquet `source`.
pub(super) fn ingest(source: &Source, options: &IngestOptions) -> Result<Ingested, IngestError> {
    let file = source.name();
    let error = |detail: String| IngestError::Parquet {
        file: file.clone(),
        detail,
    };
    let Opened {
        input,
        metadata,
        header,
        plan: full_plan,
        position: full_position,
    } = open(source, options)?;
    let metadata = with_dictionaries(&metadata, &full_plan)
        .map_err(|e| error(format!("cannot read its text columns: {e}")))?;
    // Only the columns the plan reads are decoded.
    let (plan, position, columns) = project(&full_plan, full_position);
    let projection = ProjectionMask::roots(
        metadata.metadata().file_metadata().schema_descr(),
        columns.iter().copied(),
    );
    let read_header: Vec<String> = columns.iter().map(|&i| header[i].clone()).collect();
    let groups = metadata.metadata().row_groups();
    let mut first_row = Vec::with_capacity(groups.len());
    let mut rows = 0u64;
    for group in groups {
        first_row.push(rows + 1);
        rows += group.num_rows() as u64;
    }
    let read_groups = groups_read(options, groups.len());
    let rows: u64 = groups[read_groups.clone()]
        .iter()
        .map(|g| g.num_rows() as u64)
        .sum();
    let mut merged = Merged::new(&plan, &read_header);
    merged.reserve_total(rows as usize, options.keep_ids);
    let mut seen: Vec<FingerprintSet> = (0..ID_SHARDS).map(|_| FingerprintSet::default()).collect();
    let block = rayon::current_num_threads() * 2;
    let all: Vec<usize> = read_groups.collect();
    for block_groups in all.chunks(block) {
        let decoded: Vec<(ChunkOut, Vec<RecordBatch>)> = block_groups
            .par_iter()
            .map(|&g| {
                let batches = read_input_group(&input, &metadata, &projection, g)?;
                let group = Group {
                    batches: &batches,
                    first_row: first_row[g],
                    columns: &columns,
                };
                Ok((
                    parse_group(&group, &plan, position, options.keep_ids),
                    batches,
                ))
            })
            .collect::<Result<_, String>>()
            .map_err(error)?;
        let (outs, batches): (Vec<ChunkOut>, Vec<Vec<RecordBatch>>) = decoded.into_iter().unzip();
        let duplicates = find_duplicates(&outs, &mut seen);
        for ((out, batches), duplicate) in outs.into_iter().zip(&batches).zip(&duplicates) {
            merged.append(out, duplicate, &|o| {
                row_text(&batches[o.start as usize], o.end as usize)
            });
        }
        if let Some(progress) = &options.progress {
            progress.set_rows(merged.rows());
        }
    }
    let mut done = merged.finish();
    debug_assert_eq!(done.rows.read, rows);
    done.table.unread = (0..header.len())
        .filter(|i| columns.binary_search(i).is_err())
        .map(|i| header[i].clone())
        .collect();
    Ok(done)
}

/// `metadata` reading the plan's categorical text columns as Arrow dictionaries: Parquet stores
/// them dictionary-encoded, so each distinct value is looked up once per page instead of once
/// per row.
fn with_dictionaries(
    metadata: &ArrowReaderMetadata,
    plan: &Plan,
) -> Result<ArrowReaderMetadata, parquet::errors::ParquetError> {
    let schema = metadata.schema();
    let mut fields: Vec<arrow_schema::FieldRef> = schema.fields().iter().cloned().collect();
    for &PlannedAttribute { field: i, kind, .. } in &plan.attrs {
        if kind == AttributeKind::Categorical && fields[i].data_type() == &DataType::Utf8 {
            let keyed = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
            fields[i] = Arc::new(fields[i].as_ref().clone().with_data_type(keyed));
        }
    }
    let reading = Arc::new(arrow_schema::Schema::new_with_metadata(
        fields,
        schema.metadata().clone(),
    ));
    ArrowReaderMetadata::try_new(
        Arc::clone(metadata.metadata()),
        ArrowReaderOptions::new().with_schema(reading),
    )
}

/// `plan` and `position` over only the columns they read, with those columns' indices in the
/// file, ascending (a projected batch holds them in that order).
fn project(plan: &Plan, position: Position) -> (Plan, Position, Vec<usize>) {
    let mut columns: Vec<usize> = plan.attrs.iter().map(|a| a.field).collect();
    columns.push(plan.id);
    match position {
        Position::Columns { lat, lng } => columns.extend([lat, lng]),
        Position::Wkb(g) => columns.push(g),
    }
    columns.sort_unstable();
    columns.dedup();
    let at = |i: usize| columns.binary_search(&i).expect("a read column");
    let position = match position {
        Position::Columns { lat, lng } => Position::Columns {
            lat: at(lat),
            lng: at(lng),
        },
        Position::Wkb(g) => Position::Wkb(at(g)),
    };
    let plan = Plan {
        width: columns.len(),
        id: at(plan.id),
        lat: at(plan.lat),
        lng: at(plan.lng),
        attrs: plan
            .attrs
            .iter()
            .map(|a| PlannedAttribute {
                field: at(a.field),
                ..*a
            })
            .collect(),
    };
    (plan, position, columns)
}

/// A Parquet input whose readers fail after [`EMPTY_READS`] reads at the end of the data: on
/// some corrupt page headers the parquet crate skips a field of billions of elements, each skip
/// reading nothing, which would run for hours (found by the `ingest_parquet` fuzz target).
struct Bounded<R>(R);

/// Reads at the end of the data a reader of a [`Bounded`] input answers before it fails.
const EMPTY_READS: u32 = 1024;

impl<R: Length> Length for Bounded<R> {
    fn len(&self) -> u64 {
        self.0.len()
    }
}

impl<R: ChunkReader> ChunkReader for Bounded<R> {
    type T = EndGuard<R::T>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        Ok(EndGuard {
            inner: self.0.get_read(start)?,
            empty: 0,
        })
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<bytes::Bytes> {
        self.0.get_bytes(start, length)
    }
}

/// A reader of a [`Bounded`] input.
struct EndGuard<T> {
    inner: T,
    empty: u32,
}

impl<T: std::io::Read> std::io::Read for EndGuard<T> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buf)?;
        if read == 0 && !buf.is_empty() {
            self.empty += 1;
            if self.empty > EMPTY_READS {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "a page header runs past the end of the file",
                ));
            }
        }
        Ok(read)
    }
}

/// The decoded batches of one row group, the file row of its first row, and the file column of
/// each batch column.
struct Group<'a> {
    batches: &'a [RecordBatch],
    first_row: u64,
    columns: &'a [usize],
}

fn read_group<T: ChunkReader + 'static>(
    reader: T,
    metadata: &ArrowReaderMetadata,
    projection: &ProjectionMask,
    group: usize,
) -> Result<Vec<RecordBatch>, String> {
    ParquetRecordBatchReaderBuilder::new_with_metadata(reader, metadata.clone())
        .with_projection(projection.clone())
        .with_row_groups(vec![group])
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| e.to_string())?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())
}

/// A dictionary of text with `i32` keys, as text columns are read.
fn is_text_dictionary(column: &ArrayRef) -> bool {
    matches!(column.data_type(), DataType::Dictionary(key, value)
        if **key == DataType::Int32 && **value == DataType::Utf8)
}

fn is_text(t: &DataType) -> bool {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, value) => is_text(value),
        _ => false,
    }
}

/// Columns, kinds and where the coordinates are.
fn resolve(
    file: &str,
    header: &[String],
    schema: &arrow_schema::Schema,
    metadata: &ArrowReaderMetadata,
    options: &IngestOptions,
) -> Result<(Plan, Position), IngestError> {
    let error = |detail: String| IngestError::Parquet {
        file: file.to_string(),
        detail,
    };
    let names = &options.columns;
    let id = find_column(file, header, names.id.as_deref(), ID_SPELLINGS, "id")?;
    let lat = find_column(
        file,
        header,
        names.lat.as_deref(),
        LAT_SPELLINGS,
        "latitude",
    );
    let lng = find_column(
        file,
        header,
        names.lng.as_deref(),
        LNG_SPELLINGS,
        "longitude",
    );
    let position = match (lat, lng, geometry_column(metadata, header).map_err(&error)?) {
        (Ok(lat), Ok(lng), _) => Position::Columns { lat, lng },
        (_, _, Some(g)) => Position::Wkb(g),
        (Err(e), _, None) | (_, Err(e), None) => return Err(e),
    };
    let used: Vec<usize> = match position {
        Position::Columns { lat, lng } => vec![id, lat, lng],
        Position::Wkb(g) => vec![id, g],
    };
    for name in options.schema.keys() {
        if !header.contains(name) {
            return Err(IngestError::UnknownSchemaColumn {
                file: file.to_string(),
                name: name.clone(),
                header: header.join(", "),
            });
        }
    }
    let mut attrs = Vec::new();
    for (i, field) in schema.fields().iter().enumerate() {
        if used.contains(&i) || !options.reads(field.name()) {
            continue;
        }
        let t = field.data_type();
        let declared = options.schema.get(field.name()).copied();
        let readable = t.is_numeric()
            || is_text(t)
            || arrow_cast::can_cast_types(t, &DataType::Utf8) && !t.is_nested();
        if !readable {
            return Err(error(format!(
                "column '{}' has type {t}, which is neither a number nor text; drop it or cast it",
                field.name()
            )));
        }
        let kind = declared.unwrap_or(if t.is_numeric() {
            AttributeKind::Numeric
        } else {
            AttributeKind::Categorical
        });
        if kind == AttributeKind::Numeric && !t.is_numeric() && !is_text(t) {
            return Err(error(format!(
                "column '{}' is declared numeric but has type {t}",
                field.name()
            )));
        }
        attrs.push(PlannedAttribute {
            field: i,
            kind,
            declared: declared.is_some(),
        });
    }
    let (lat, lng) = match position {
        Position::Columns { lat, lng } => (lat, lng),
        Position::Wkb(g) => (g, g),
    };
    let plan = Plan {
        width: header.len(),
        id,
        lat,
        lng,
        attrs,
    };
    Ok((plan, position))
}

/// The GeoParquet primary column, when the file says it has one (WKB, longitude/latitude).
fn geometry_column(
    metadata: &ArrowReaderMetadata,
    header: &[String],
) -> Result<Option<usize>, String> {
    let Some(geo) = metadata
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|e| e.key == "geo"))
        .and_then(|e| e.value.clone())
    else {
        return Ok(None);
    };
    let geo: serde_json::Value = serde_json::from_str(&geo)
        .map_err(|e| format!("its GeoParquet 'geo' metadata is not JSON: {e}"))?;
    let primary = geo["primary_column"]
        .as_str()
        .ok_or("its GeoParquet 'geo' metadata has no primary_column")?;
    let column = &geo["columns"][primary];
    if column["encoding"].as_str() != Some("WKB") {
        return Err(format!(
            "geometry column '{primary}' is encoded as {}; only WKB points are read",
            column["encoding"]
        ));
    }
    let crs = &column["crs"];
    let lon_lat = crs.is_null()
        || crs
            .as_str()
            .is_some_and(|s| s.contains("CRS84") || s.contains("4326"))
        || crs["id"]["code"].as_str() == Some("CRS84")
        || crs["id"]["code"].as_u64() == Some(4326);
    if !lon_lat {
        return Err(format!(
            "geometry column '{primary}' is not in longitude/latitude (OGC:CRS84); reproject it first"
        ));
    }
    header
        .iter()
        .position(|h| h == primary)
        .map(Some)
        .ok_or_else(|| format!("GeoParquet primary column '{primary}' is not in the file"))
}

/// A row's values joined by commas, for a reject's text.
fn row_text(batch: &RecordBatch, row: usize) -> String {
    let options = FormatOptions::default().with_null("");
    let text = batch
        .columns()
        .iter()
        .map(|column| {
            ArrayFormatter::try_new(column.as_ref(), &options)
                .map(|f| f.value(row).to_string())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(",");
    reject_text(text.as_bytes())
}

/// A column as text (`None` for null), whatever its type.
fn as_text(column: &ArrayRef) -> ArrayRef {
    arrow_cast::cast(column, &DataType::Utf8).expect("readable columns cast to text")
}

fn as_numbers(column: &ArrayRef) -> ArrayRef {
    arrow_cast::cast(column, &DataType::Float64).expect("numeric columns cast to f64")
}

/// Longitude and latitude of a WKB point (either byte order, ISO or EWKB flags for Z/M/SRID).
fn wkb_point(wkb: &[u8]) -> Result<(f64, f64), (RejectReason, String)> {
    let bad = |what: &str| (RejectReason::InvalidGeometry, what.to_string());
    let order = *wkb.first().ok_or_else(|| bad("empty WKB geometry"))?;
    let read_u32 = |b: [u8; 4]| match order {
        0 => Ok(u32::from_be_bytes(b)),
        1 => Ok(u32::from_le_bytes(b)),
        _ => Err(bad("WKB byte order is neither 0 nor 1")),
    };
    let read_f64 = |b: [u8; 8]| {
        if order == 0 {
            f64::from_be_bytes(b)
        } else {
            f64::from_le_bytes(b)
        }
    };
    let word = |at: usize| -> Result<[u8; 4], (RejectReason, String)> {
        wkb.get(at..at + 4)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| bad("truncated WKB geometry"))
    };
    let kind = read_u32(word(1)?)?;
    let has_srid = kind & 0x2000_0000 != 0;
    let base = (kind & 0x0FFF_FFFF) % 1000;
    if base != 1 {
        return Err(bad(&format!("geometry is WKB type {base}, not a Point")));
    }
    let at = 5 + if has_srid { 4 } else { 0 };
    let double = |at: usize| -> Result<f64, (RejectReason, String)> {
        wkb.get(at..at + 8)
            .and_then(|s| s.try_into().ok())
            .map(read_f64)
            .ok_or_else(|| bad("truncated WKB point"))
    };
    Ok((double(at)?, double(at + 8)?))
}

/// The checked coordinates of one column: text is parsed as in a CSV file, numbers checked.
fn coordinates(
    column: &ArrayRef,
    what: &str,
    limit: f64,
    invalid: RejectReason,
) -> Vec<Result<f64, (RejectReason, String)>> {
    if is_text(column.data_type()) {
        let text = as_text(column);
        text.as_string::<i32>()
            .iter()
            .map(|v| coordinate(v.unwrap_or("").as_bytes(), what, limit, invalid))
            .collect()
    } else {
        let numbers = as_numbers(column);
        numbers
            .as_primitive::<Float64Type>()
            .iter()
            .map(|v| match v {
                None => Err((RejectReason::MissingCoordinate, format!("empty {what}"))),
                Some(v) => in_range(v, &v, what, limit, invalid),
            })
            .collect()
    }
}

/// Parses one row group's batches into a chunk; `first_row` is the 1-based number of its first
/// row in the file.
fn parse_group(group: &Group<'_>, plan: &Plan, position: Position, keep_ids: bool) -> ChunkOut {
    let rows = group.batches.iter().map(RecordBatch::num_rows).sum();
    let mut out = ChunkOut::with_capacity(plan, rows, keep_ids);
    let mut row_number = group.first_row;
    for (b, batch) in group.batches.iter().enumerate() {
        let ids = as_text(batch.column(plan.id));
        let ids = ids.as_string::<i32>();
        let coordinates = batch_coordinates(batch, position);
        let attributes = batch_attributes(batch, plan);
        // Local codes of each dictionary column's values, found on first use (a value only on
        // rejected rows never enters the dictionary).
        let mut remaps: Vec<Vec<Option<u32>>> = attributes
            .iter()
            .map(|c| {
                c.as_dictionary_opt::<Int32Type>()
                    .map_or_else(Vec::new, |d| vec![None; d.values().len()])
            })
            .collect();
        for (r, coordinate) in coordinates.into_iter().enumerate() {
            let line = row_number;
            row_number += 1;
            let reject = |out: &mut ChunkOut, reason, detail| {
                out.rejects.push(Reject {
                    line,
                    reason,
                    detail,
                    text: row_text(batch, r),
                });
            };
            let id = if ids.is_valid(r) {
                ids.value(r).trim()
            } else {
                ""
            };
            if id.is_empty() {
                reject(&mut out, RejectReason::MissingId, "empty id".into());
                continue;
            }
            let (lat, lng) = match coordinate {
                Ok(pair) => pair,
                Err((reason, detail)) => {
                    reject(&mut out, reason, detail);
                    continue;
                }
            };
            // Attribute values are checked first: a bad value rejects the row before any value
            // of it is kept.
            if let Some((reason, detail)) = attribute_problem(plan, group.columns, &attributes, r) {
                reject(&mut out, reason, detail);
                continue;
            }
            push_attributes(&attributes, r, &mut out.columns, &mut remaps);
            let origin = RowOrigin {
                start: b as u32,
                end: r as u32,
                line,
            };
            out.accept((lat, lng), id.as_bytes(), keep_ids, origin);
        }
    }
    out
}

/// Each row's latitude and longitude (or why it has none).
fn batch_coordinates(
    batch: &RecordBatch,
    position: Position,
) -> Vec<Result<(f64, f64), (RejectReason, String)>> {
    match position {
        Position::Columns { lat, lng } => {
            let lat = coordinates(batch.column(lat), "latitude", 90.0, INVALID_LAT);
            let lng = coordinates(batch.column(lng), "longitude", 180.0, INVALID_LNG);
            lat.into_iter()
                .zip(lng)
                .map(|(la, ln)| Ok((la?, ln?)))
                .collect()
        }
        Position::Wkb(g) => {
            let column = arrow_cast::cast(batch.column(g), &DataType::Binary)
                .expect("a WKB column is binary");
            column
                .as_binary::<i32>()
                .iter()
                .map(|wkb| {
                    let (lng, lat) = match wkb {
                        None => {
                            return Err((RejectReason::MissingCoordinate, "empty geometry".into()));
                        }
                        Some(bytes) => wkb_point(bytes)?,
                    };
                    if lng.is_nan() && lat.is_nan() {
                        return Err((RejectReason::MissingCoordinate, "empty point".into()));
                    }
                    Ok((
                        in_range(lat, &lat, "latitude", 90.0, INVALID_LAT)?,
                        in_range(lng, &lng, "longitude", 180.0, INVALID_LNG)?,
                    ))
                })
                .collect()
        }
    }
}

/// The attribute columns of a batch as read: numbers, text dictionaries kept, the rest as text.
fn batch_attributes(batch: &RecordBatch, plan: &Plan) -> Vec<ArrayRef> {
    plan.attrs
        .iter()
        .map(|&PlannedAttribute { field: i, kind, .. }| {
            let column = batch.column(i);
            if kind == AttributeKind::Numeric && column.data_type().is_numeric() {
                as_numbers(column)
            } else if kind == AttributeKind::Categorical && is_text_dictionary(column) {
                Arc::clone(column)
            } else {
                as_text(column)
            }
        })
        .collect()
}

/// Why row `r` must be rejected: a declared numeric text column holding something else, or a
/// text value longer than [`MAX_VALUE_BYTES`]. `columns` gives each batch column's place in the
/// file, which messages name.
fn attribute_problem(
    plan: &Plan,
    columns: &[usize],
    attributes: &[ArrayRef],
    r: usize,
) -> Option<(RejectReason, String)> {
    for (a, &PlannedAttribute { field, kind, .. }) in plan.attrs.iter().enumerate() {
        let i = columns[field];
        let column = &attributes[a];
        if !column.is_valid(r) {
            continue;
        }
        let text = if let Some(keyed) = column.as_dictionary_opt::<Int32Type>() {
            keyed
                .values()
                .as_string::<i32>()
                .value(keyed.keys().value(r) as usize)
        } else if column.data_type() == &DataType::Utf8 {
            column.as_string::<i32>().value(r)
        } else {
            continue;
        };
        if kind == AttributeKind::Numeric {
            let text = text.trim();
            if let NumberField::Invalid = parse_number(text.as_bytes()) {
                return Some((
                    RejectReason::InvalidAttribute,
                    format!(
                        "attribute column {} is declared numeric but holds '{text}'",
                        i + 1
                    ),
                ));
            }
        } else if text.len() > MAX_VALUE_BYTES {
            return Some((RejectReason::ValueTooLong, too_long(i, text.len())));
        }
    }
    None
}

/// Pushes row `r`'s attribute values onto the chunk's columns; `remaps` holds the local code of
/// each dictionary column's values, found on first use.
fn push_attributes(
    attributes: &[ArrayRef],
    r: usize,
    columns: &mut [LocalColumn],
    remaps: &mut [Vec<Option<u32>>],
) {
    for ((column, local), remap) in attributes.iter().zip(columns).zip(remaps) {
        match local {
            LocalColumn::Numeric(values) => values.push(if column.is_null(r) {
                f64::NAN
            } else if let Some(numbers) = column.as_primitive_opt::<Float64Type>() {
                numbers.value(r)
            } else {
                match parse_number(column.as_string::<i32>().value(r).trim().as_bytes()) {
                    NumberField::Value(v) => v,
                    _ => f64::NAN,
                }
            }),
            LocalColumn::Categorical {
                codes,
                dictionary,
                lookup,
            } => {
                if let Some(keyed) = column.as_dictionary_opt::<Int32Type>() {
                    let code = if column.is_null(r) {
                        MISSING
                    } else {
                        let key = keyed.keys().value(r) as usize;
                        *remap[key].get_or_insert_with(|| {
                            let text = keyed.values().as_string::<i32>().value(key);
                            if text.is_empty() {
                                MISSING
                            } else {
                                code_of(dictionary, lookup, text)
                            }
                        })
                    };
                    codes.push(code);
                    continue;
                }
                let text = if column.is_null(r) {
                    ""
                } else {
                    column.as_string::<i32>().value(r)
                };
                codes.push(if text.is_empty() {
                    MISSING
                } else {
                    code_of(dictionary, lookup, text)
                });
            }
        }
    }
}

/// The local code of `text`, added to the chunk's dictionary when new.
fn code_of(dictionary: &mut Vec<String>, lookup: &mut HashMap<String, u32>, text: &str) -> u32 {
    let found = if dictionary.len() <= SMALL_DICTIONARY {
        dictionary.iter().position(|d| d == text).map(|p| p as u32)
    } else {
        lookup.get(text).copied()
    };
    if let Some(code) = found {
        return code;
    }
    let code = dictionary.len() as u32;
    dictionary.push(text.to_string());
    lookup.insert(text.to_string(), code);
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(order: u8, kind: u32, srid: Option<u32>, coordinates: &[f64]) -> Vec<u8> {
        let mut bytes = vec![order];
        let word = |v: u32| {
            if order == 0 {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        bytes.extend_from_slice(&word(kind | if srid.is_some() { 0x2000_0000 } else { 0 }));
        if let Some(srid) = srid {
            bytes.extend_from_slice(&word(srid));
        }
        for &c in coordinates {
            bytes.extend_from_slice(&if order == 0 {
                c.to_be_bytes()
            } else {
                c.to_le_bytes()
            });
        }
        bytes
    }

    #[test]
    fn wkb_points_in_every_flavour() {
        assert_eq!(
            wkb_point(&point(1, 1, None, &[8.5, 47.25])),
            Ok((8.5, 47.25))
        );
        assert_eq!(
            wkb_point(&point(0, 1, None, &[-8.5, 47.25])),
            Ok((-8.5, 47.25))
        );
        // ISO Z and EWKB with an SRID: the first two coordinates are longitude and latitude.
        assert_eq!(
            wkb_point(&point(1, 1001, None, &[1.0, 2.0, 3.0])),
            Ok((1.0, 2.0))
        );
        assert_eq!(
            wkb_point(&point(1, 1, Some(4326), &[1.0, 2.0])),
            Ok((1.0, 2.0))
        );
        for bad in [
            point(1, 2, None, &[1.0, 2.0, 3.0, 4.0]),
            point(1, 1, None, &[1.0]),
            point(7, 1, None, &[1.0, 2.0]),
            vec![],
            vec![1, 1, 0],
        ] {
            let err = wkb_point(&bad).expect_err("not a point");
            assert_eq!(err.0, RejectReason::InvalidGeometry, "{bad:?}: {}", err.1);
        }
    }

    #[test]
    fn only_the_columns_read_are_decoded_and_messages_name_file_columns() {
        use arrow_array::{Float64Array, StringArray};
        let text = |values: &[&str]| Arc::new(StringArray::from(values.to_vec())) as ArrayRef;
        let numbers = |values: &[f64]| Arc::new(Float64Array::from(values.to_vec())) as ArrayRef;
        let long = "x".repeat(MAX_VALUE_BYTES + 1);
        let batch = RecordBatch::try_from_iter([
            ("note", text(&["n1", "n2", "n3"])),
            ("id", text(&["a", "b", "c"])),
            ("lat", numbers(&[1.0, 2.0, 3.0])),
            ("kind", text(&["k", &long, "l"])),
            ("lon", numbers(&[1.0, 2.0, 3.0])),
            ("age", text(&["9", "8", "7"])),
        ])
        .expect("batch");
        let mut data = Vec::new();
        let mut writer =
            parquet::arrow::ArrowWriter::try_new(&mut data, batch.schema(), None).expect("writer");
        writer.write(&batch).expect("write");
        writer.close().expect("close");
        let options = IngestOptions {
            attributes: Some(["kind".to_string()].into()),
            ..IngestOptions::default()
        };
        let source = Source::Bytes {
            name: "x.parquet".into(),
            data: data.into(),
        };
        let got = ingest(&source, &options).expect("ingest");
        let names: Vec<&str> = got
            .table
            .attributes
            .iter()
            .map(|a| a.name.as_str())
            .collect();
        assert_eq!(names, ["kind"]);
        assert_eq!(got.table.unread, ["note", "age"]);
        assert_eq!(got.table.lat, [1.0, 3.0]);
        let reject = &got.rejects[0];
        assert_eq!(
            (reject.line, reject.reason),
            (2, RejectReason::ValueTooLong)
        );
        // The file's fourth column, though the second decoded.
        assert!(
            reject.detail.starts_with("field 4 holds 1025 bytes"),
            "{}",
            reject.detail
        );
    }

    #[test]
    fn row_groups_read_apart_add_up_to_the_file_and_keep_its_row_numbers() {
        use arrow_array::{Float64Array, StringArray};
        let ids: Vec<String> = (0..10).map(|i| format!("c{i}")).collect();
        let mut lat: Vec<f64> = (0..10).map(f64::from).collect();
        lat[7] = 99.0;
        let batch = RecordBatch::try_from_iter([
            ("id", Arc::new(StringArray::from(ids)) as ArrayRef),
            ("lat", Arc::new(Float64Array::from(lat)) as ArrayRef),
            (
                "lon",
                Arc::new(Float64Array::from(vec![8.0; 10])) as ArrayRef,
            ),
        ])
        .expect("batch");
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("groups.parquet");
        let properties = parquet::file::properties::WriterProperties::builder()
            .set_max_row_group_row_count(Some(3))
            .build();
        let file = std::fs::File::create(&path).expect("create");
        let mut writer =
            parquet::arrow::ArrowWriter::try_new(file, batch.schema(), Some(properties))
                .expect("writer");
        writer.write(&batch).expect("write");
        writer.close().expect("close");
        assert_eq!(row_group_rows(&path).expect("footer"), [3, 3, 3, 1]);
        let source = Source::Path(path);
        let read = |groups| {
            let options = IngestOptions {
                row_groups: groups,
                ..IngestOptions::default()
            };
            ingest(&source, &options).expect("ingest")
        };
        let whole = read(None);
        let (first, second) = (read(Some(0..2)), read(Some(2..4)));
        assert_eq!(first.rows.read + second.rows.read, whole.rows.read);
        assert_eq!(first.table.lat, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(second.table.lat, [6.0, 8.0, 9.0]);
        // Row 8 of the file (lat 99) is rejected with its number in the whole file.
        assert_eq!(second.rejects[0].line, 8);
        assert_eq!(second.rejects[0], whole.rejects[0]);
    }
}
