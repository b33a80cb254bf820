//! Streaming, parallel CSV ingest (plain or gzip) into a [`ConsumerTable`].
//!
//! # Algorithm
//!
//! The input is read in blocks of `block_bytes`. Each block is cut at record boundaries (a newline
//! outside double quotes, so quoted fields may hold newlines) into chunks parsed in parallel by the
//! `csv` crate. Each chunk dictionary-encodes its text values locally; the chunks are then merged in
//! input order, so codes and rejects are the same whatever the thread count. Duplicate ids are found
//! with 128-bit fingerprints in sharded hash sets, first occurrence kept; ids are not stored.
//!
//! Attribute kinds come from the schema when declared, else from the first 10,000 data rows: a
//! column is numeric when every non-missing value there is a finite number. If a later value of an
//! inferred numeric column is not a number, the ingest starts again with that column categorical,
//! so no value is ever lost to a wrong guess.

use super::{
    Attribute, AttributeKind, Column, ConsumerTable, MISSING, Reject, RejectReason, RowCounts,
};
use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasherDefault, DefaultHasher, Hash, Hasher};
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::Arc;
use thiserror::Error;

/// Number of data rows used to infer attribute kinds.
const INFERENCE_ROWS: usize = 10_000;
/// Dictionaries up to this size are searched linearly.
pub(super) const SMALL_DICTIONARY: usize = 16;
/// Shards of the duplicate-id sets, processed in parallel.
pub(super) const ID_SHARDS: usize = 16;

/// Spellings recognised for each required column, tried in order, case-insensitively.
pub(super) const ID_SPELLINGS: &[&str] = &["id", "consumer_id", "customer_id"];
pub(super) const LAT_SPELLINGS: &[&str] = &["lat", "latitude", "y"];
pub(super) const LNG_SPELLINGS: &[&str] = &["lon", "lng", "long", "longitude", "x"];
/// Numeric missing-value tokens (an empty field is missing for every kind).
pub(super) const NUMERIC_MISSING: &[&str] = &["NA", "N/A", "null", "NULL", "NaN", "nan"];

/// Errors that stop an ingest (bad rows are not errors: they become [`Reject`]s).
#[derive(Debug, Error)]
pub enum IngestError {
    /// The file could not be read.
    #[error("cannot read {file}: {source}")]
    Io {
        /// File name.
        file: String,
        /// Cause.
        source: io::Error,
    },
    /// The file has no header row.
    #[error("{file} is empty: expected a header row such as id,lat,lon,...")]
    Empty {
        /// File name.
        file: String,
    },
    /// A required column was not found.
    #[error(
        "{file} has no {role} column (tried {tried}); header is [{header}]; rename that column or name it in the column options"
    )]
    MissingColumn {
        /// File name.
        file: String,
        /// Role of the column: id, latitude or longitude.
        role: &'static str,
        /// Names tried.
        tried: String,
        /// The header found.
        header: String,
    },
    /// Two header fields have the same name.
    #[error("{file} has two columns named '{name}' in its header")]
    DuplicateColumn {
        /// File name.
        file: String,
        /// Repeated name.
        name: String,
    },
    /// The segments file's `[schema]` names a column the file lacks.
    #[error(
        "schema declares attribute '{name}' but {file} has no such column; header is [{header}]"
    )]
    UnknownSchemaColumn {
        /// File name.
        file: String,
        /// Declared name.
        name: String,
        /// The header found.
        header: String,
    },
    /// The header is not UTF-8.
    #[error("the header of {file} is not valid UTF-8")]
    HeaderEncoding {
        /// File name.
        file: String,
    },
    /// A Parquet file could not be read as consumers.
    #[error("{file}: {detail}")]
    Parquet {
        /// File name.
        file: String,
        /// What is wrong and what to do.
        detail: String,
    },
}

/// Where consumers come from: a file (gzip and Parquet detected by their magic bytes) or bytes
/// in memory.
#[derive(Debug, Clone)]
pub enum Source {
    /// A CSV, gzip-compressed CSV or Parquet file.
    Path(PathBuf),
    /// CSV text (or Parquet bytes) in memory, with a display name.
    Bytes {
        /// Name used in messages.
        name: String,
        /// The CSV bytes.
        data: Arc<[u8]>,
    },
}

impl Source {
    /// The name used in messages and the manifest.
    pub fn name(&self) -> String {
        match self {
            Source::Path(p) => p.display().to_string(),
            Source::Bytes { name, .. } => name.clone(),
        }
    }

    /// Whether the input is Parquet (its magic bytes `PAR1` at the start).
    fn is_parquet(&self) -> io::Result<bool> {
        let mut magic = [0u8; 4];
        let n = match self {
            Source::Path(p) => read_full(&mut std::fs::File::open(p)?, &mut magic)?,
            Source::Bytes { data, .. } => read_full(&mut &data[..], &mut magic)?,
        };
        Ok(n == 4 && &magic == b"PAR1")
    }

    fn open(&self) -> io::Result<Box<dyn Read + Send>> {
        let mut raw: Box<dyn Read + Send> = match self {
            Source::Path(p) => Box::new(std::fs::File::open(p)?),
            Source::Bytes { data, .. } => Box::new(io::Cursor::new(Arc::clone(data))),
        };
        let mut magic = [0u8; 2];
        let n = read_full(&mut raw, &mut magic)?;
        let head = io::Cursor::new(magic[..n].to_vec());
        let chained = head.chain(raw);
        Ok(if n == 2 && magic == [0x1f, 0x8b] {
            Box::new(flate2::read::MultiGzDecoder::new(chained))
        } else {
            Box::new(chained)
        })
    }
}

fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Names of the required columns; `None` tries the usual spellings.
#[derive(Debug, Clone, Default)]
pub struct ColumnNames {
    /// Consumer id column.
    pub id: Option<String>,
    /// Latitude column.
    pub lat: Option<String>,
    /// Longitude column.
    pub lng: Option<String>,
}

/// How to read a consumers file.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Required column names.
    pub columns: ColumnNames,
    /// Declared attribute kinds; undeclared attributes are inferred.
    pub schema: BTreeMap<String, AttributeKind>,
    /// Bytes read per block; each block is parsed in parallel.
    pub block_bytes: usize,
    /// Keep the id of every accepted row in [`ConsumerTable::ids`] (for small files such as
    /// stores; consumer ids are never kept).
    pub keep_ids: bool,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            columns: ColumnNames::default(),
            schema: BTreeMap::new(),
            block_bytes: 32 << 20,
            keep_ids: false,
        }
    }
}

/// The result of an ingest.
#[derive(Debug)]
pub struct Ingested {
    /// Accepted consumers.
    pub table: ConsumerTable,
    /// Rejected rows, in input order.
    pub rejects: Vec<Reject>,
    /// Row accounting.
    pub rows: RowCounts,
}

/// Reads consumers from `source`.
///
/// # Errors
///
/// [`IngestError`] when the file cannot be read or its header lacks a required column. Bad rows
/// are not errors: they are returned as rejects.
pub fn ingest(source: &Source, options: &IngestOptions) -> Result<Ingested, IngestError> {
    if source.is_parquet().map_err(|e| IngestError::Io {
        file: source.name(),
        source: e,
    })? {
        // The parquet crate can panic on a corrupt file instead of returning an error; such a
        // file is bad input like any other.
        return std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            super::parquet::ingest(source, options)
        }))
        .unwrap_or_else(|panic| {
            let reason = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("unknown failure");
            Err(IngestError::Parquet {
                file: source.name(),
                detail: format!("the file is corrupt (the Parquet reader failed: {reason})"),
            })
        });
    }
    let mut forced = options.schema.clone();
    let declared: HashSet<String> = options.schema.keys().cloned().collect();
    loop {
        match ingest_once(source, options, &forced, &declared)? {
            Pass::Done(done) => return Ok(done),
            Pass::Retype(name) => {
                forced.insert(name, AttributeKind::Categorical);
            }
        }
    }
}

enum Pass {
    Done(Ingested),
    Retype(String),
}

/// Column positions and kinds resolved from the header.
pub(super) struct Plan {
    pub(super) width: usize,
    pub(super) id: usize,
    pub(super) lat: usize,
    pub(super) lng: usize,
    /// (field index, kind, declared?) per attribute.
    pub(super) attrs: Vec<(usize, AttributeKind, bool)>,
}

fn ingest_once(
    source: &Source,
    options: &IngestOptions,
    forced: &BTreeMap<String, AttributeKind>,
    declared: &HashSet<String>,
) -> Result<Pass, IngestError> {
    let file = source.name();
    let io_err = |source| IngestError::Io {
        file: file.clone(),
        source,
    };
    let mut reader = source.open().map_err(io_err)?;
    let block_bytes = options.block_bytes.max(1 << 10);
    let mut buf = vec![0u8; block_bytes];
    let n = read_full(&mut reader, &mut buf).map_err(io_err)?;
    buf.truncate(n);
    let mut eof = n < block_bytes;
    if buf.starts_with(b"\xEF\xBB\xBF") {
        buf.drain(..3);
    }

    // Header.
    let mut header_reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(&buf[..]);
    let mut header_record = csv::ByteRecord::new();
    if !header_reader
        .read_byte_record(&mut header_record)
        .unwrap_or(false)
    {
        return Err(IngestError::Empty { file });
    }
    let header_end = header_reader.position().byte() as usize;
    let mut line = header_reader.position().line();
    let header: Vec<String> = header_record
        .iter()
        .map(|f| std::str::from_utf8(f).map(|s| s.trim().to_string()))
        .collect::<Result<_, _>>()
        .map_err(|_| IngestError::HeaderEncoding { file: file.clone() })?;
    let mut plan = resolve_columns(&file, &header, &options.columns, forced)?;
    infer_kinds(&buf[header_end..], &mut plan, forced, &header);
    for (i, kind, is_declared) in &mut plan.attrs {
        *is_declared = declared.contains(&header[*i]) && forced.get(&header[*i]) == Some(kind);
    }
    buf.drain(..header_end);

    let mut merged = Merged::new(&plan, &header);
    let mut seen: Vec<FingerprintSet> = (0..ID_SHARDS).map(|_| FingerprintSet::default()).collect();
    let chunk_bytes = (block_bytes / (rayon::current_num_threads() * 4)).max(1 << 16);
    loop {
        let (chunks, consumed) = split_records(&buf, chunk_bytes, eof);
        let mut starts = Vec::with_capacity(chunks.len());
        let newlines: Vec<u64> = chunks
            .par_iter()
            .map(|&(s, e)| count_byte(&buf[s..e], b'\n'))
            .collect();
        for nl in &newlines {
            starts.push(line);
            line += nl;
        }
        let outs: Vec<ChunkOut> = chunks
            .par_iter()
            .zip(starts.par_iter())
            .map(|(&(s, e), &first_line)| {
                parse_chunk(&buf[s..e], first_line, &plan, options.keep_ids)
            })
            .collect();
        if let Some(col) = outs.iter().find_map(|o| o.retype) {
            return Ok(Pass::Retype(header[plan.attrs[col].0].clone()));
        }
        let dups = find_duplicates(&outs, &mut seen);
        for (c, out) in outs.into_iter().enumerate() {
            let bytes = &buf[chunks[c].0..chunks[c].1];
            merged.append(out, &dups[c], &|s, e| {
                record_text(&bytes[s as usize..e as usize])
            });
        }
        buf.drain(..consumed);
        if eof {
            break;
        }
        let old = buf.len();
        buf.resize(old + block_bytes, 0);
        let n = read_full(&mut reader, &mut buf[old..]).map_err(io_err)?;
        buf.truncate(old + n);
        eof = n < block_bytes;
    }
    Ok(Pass::Done(merged.finish()))
}

fn resolve_columns(
    file: &str,
    header: &[String],
    names: &ColumnNames,
    forced: &BTreeMap<String, AttributeKind>,
) -> Result<Plan, IngestError> {
    let mut seen = HashSet::new();
    for h in header {
        if !seen.insert(h.as_str()) {
            return Err(IngestError::DuplicateColumn {
                file: file.to_string(),
                name: h.clone(),
            });
        }
    }
    let find = |given: &Option<String>, spellings: &[&str], role| {
        find_column(file, header, given.as_deref(), spellings, role)
    };
    let id = find(&names.id, ID_SPELLINGS, "id")?;
    let lat = find(&names.lat, LAT_SPELLINGS, "latitude")?;
    let lng = find(&names.lng, LNG_SPELLINGS, "longitude")?;
    for name in forced.keys() {
        if !header.contains(name) {
            return Err(IngestError::UnknownSchemaColumn {
                file: file.to_string(),
                name: name.clone(),
                header: header.join(", "),
            });
        }
    }
    let attrs = (0..header.len())
        .filter(|i| ![id, lat, lng].contains(i))
        .map(|i| {
            let kind = forced
                .get(&header[i])
                .copied()
                .unwrap_or(AttributeKind::Numeric);
            (i, kind, false)
        })
        .collect();
    Ok(Plan {
        width: header.len(),
        id,
        lat,
        lng,
        attrs,
    })
}

/// The position of a required column: `given` exactly, else the first of `spellings` found
/// (case-insensitively).
pub(super) fn find_column(
    file: &str,
    header: &[String],
    given: Option<&str>,
    spellings: &[&str],
    role: &'static str,
) -> Result<usize, IngestError> {
    let found = match given {
        Some(name) => header.iter().position(|h| h == name),
        None => spellings
            .iter()
            .find_map(|t| header.iter().position(|h| h.eq_ignore_ascii_case(t))),
    };
    found.ok_or_else(|| IngestError::MissingColumn {
        file: file.to_string(),
        role,
        tried: given.map_or_else(|| spellings.join(", "), str::to_string),
        header: header.join(", "),
    })
}

/// Infers undeclared kinds from the first rows of `data` (the bytes after the header).
fn infer_kinds(
    data: &[u8],
    plan: &mut Plan,
    forced: &BTreeMap<String, AttributeKind>,
    header: &[String],
) {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(data);
    let mut numeric_seen = vec![false; plan.attrs.len()];
    let mut not_numeric = vec![false; plan.attrs.len()];
    let mut record = csv::ByteRecord::new();
    let mut rows = 0;
    while rows < INFERENCE_ROWS && reader.read_byte_record(&mut record).unwrap_or(false) {
        rows += 1;
        if record.len() != plan.width {
            continue;
        }
        for (a, &(i, _, _)) in plan.attrs.iter().enumerate() {
            match parse_number(trim(&record[i])) {
                NumberField::Missing => {}
                NumberField::Value(_) => numeric_seen[a] = true,
                NumberField::Invalid => not_numeric[a] = true,
            }
        }
    }
    for (a, (i, kind, _)) in plan.attrs.iter_mut().enumerate() {
        if !forced.contains_key(&header[*i]) {
            *kind = if numeric_seen[a] && !not_numeric[a] {
                AttributeKind::Numeric
            } else {
                AttributeKind::Categorical
            };
        }
    }
}

#[allow(
    clippy::naive_bytecount,
    reason = "this loop autovectorizes; a crate for one line is not worth it"
)]
fn count_byte(bytes: &[u8], byte: u8) -> u64 {
    bytes.iter().filter(|&&b| b == byte).count() as u64
}

/// Cuts `data` (starting at a record boundary) into chunks of about `chunk_bytes` ending at record
/// boundaries. Returns the chunks and how many bytes they consume; without `eof` the incomplete
/// last record is left for the next block.
fn split_records(data: &[u8], chunk_bytes: usize, eof: bool) -> (Vec<(usize, usize)>, usize) {
    let mut chunks = Vec::new();
    let mut start = 0;
    loop {
        let target = start + chunk_bytes;
        let end = if target < data.len() {
            next_boundary(data, start, target)
        } else {
            None
        };
        if let Some(end) = end {
            chunks.push((start, end));
            start = end;
            continue;
        }
        let end = if eof {
            data.len()
        } else {
            last_boundary(data, start)
        };
        if end > start {
            chunks.push((start, end));
        }
        return (chunks, end);
    }
}

/// The first record boundary at or after `target`, knowing `start` is one.
fn next_boundary(data: &[u8], start: usize, target: usize) -> Option<usize> {
    let mut in_quotes = count_byte(&data[start..target], b'"') % 2 == 1;
    for (i, &b) in data[target..].iter().enumerate() {
        if b == b'"' {
            in_quotes = !in_quotes;
        } else if b == b'\n' && !in_quotes {
            return Some(target + i + 1);
        }
    }
    None
}

/// The last record boundary after `start` (or `start` itself when there is none).
fn last_boundary(data: &[u8], start: usize) -> usize {
    let mut in_quotes = false;
    let mut last = start;
    for (i, &b) in data[start..].iter().enumerate() {
        if b == b'"' {
            in_quotes = !in_quotes;
        } else if b == b'\n' && !in_quotes {
            last = start + i + 1;
        }
    }
    last
}

fn trim(bytes: &[u8]) -> &[u8] {
    bytes.trim_ascii()
}

pub(super) enum NumberField {
    Missing,
    Value(f64),
    Invalid,
}

pub(super) fn parse_number(bytes: &[u8]) -> NumberField {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return NumberField::Invalid;
    };
    if text.is_empty() || NUMERIC_MISSING.contains(&text) {
        return NumberField::Missing;
    }
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => NumberField::Value(v),
        _ => NumberField::Invalid,
    }
}

/// 128-bit fingerprint of an id: two keyed SipHash values. A false duplicate would need a 128-bit
/// collision (probability about n²/2¹²⁹, under 10⁻²⁴ for 10⁸ ids).
pub(super) fn fingerprint(id: &[u8]) -> u128 {
    let mut a = DefaultHasher::new();
    (0u8, id).hash(&mut a);
    let mut b = DefaultHasher::new();
    (1u8, id).hash(&mut b);
    (u128::from(a.finish()) << 64) | u128::from(b.finish())
}

/// Attribute values of one chunk, encoded locally.
pub(super) enum LocalColumn {
    Categorical {
        codes: Vec<u32>,
        dictionary: Vec<String>,
        lookup: HashMap<String, u32>,
    },
    Numeric(Vec<f64>),
}

/// The rows of one chunk (CSV) or row group (Parquet), parsed and checked, before duplicates.
pub(super) struct ChunkOut {
    pub(super) lat: Vec<f64>,
    pub(super) lng: Vec<f64>,
    pub(super) fingerprints: Vec<u128>,
    /// Ids of accepted rows, when kept.
    pub(super) ids: Vec<String>,
    /// Accepted rows of each id shard, in order.
    pub(super) shard_rows: Vec<Vec<u32>>,
    /// Where each accepted row came from (a byte span within the chunk, or a batch and row) and
    /// its line, to report duplicates.
    pub(super) spans: Vec<(u32, u32, u64)>,
    pub(super) columns: Vec<LocalColumn>,
    pub(super) rejects: Vec<Reject>,
    pub(super) retype: Option<usize>,
}

impl ChunkOut {
    /// An empty chunk with the columns of `plan`.
    pub(super) fn new(plan: &Plan) -> Self {
        ChunkOut {
            lat: Vec::new(),
            lng: Vec::new(),
            fingerprints: Vec::new(),
            ids: Vec::new(),
            shard_rows: vec![Vec::new(); ID_SHARDS],
            spans: Vec::new(),
            columns: plan
                .attrs
                .iter()
                .map(|(_, kind, _)| match kind {
                    AttributeKind::Categorical => LocalColumn::Categorical {
                        codes: Vec::new(),
                        dictionary: Vec::new(),
                        lookup: HashMap::new(),
                    },
                    AttributeKind::Numeric => LocalColumn::Numeric(Vec::new()),
                })
                .collect(),
            rejects: Vec::new(),
            retype: None,
        }
    }
}

enum Scratch {
    Code(u32),
    Number(f64),
}

fn record_text(bytes: &[u8]) -> String {
    let end = bytes
        .iter()
        .rposition(|&b| b != b'\n' && b != b'\r')
        .map_or(0, |p| p + 1);
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

fn parse_chunk(bytes: &[u8], first_line: u64, plan: &Plan, keep_ids: bool) -> ChunkOut {
    let mut out = ChunkOut::new(plan);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut record = csv::ByteRecord::new();
    let mut scratch: Vec<Scratch> = Vec::with_capacity(plan.attrs.len());
    loop {
        let start = reader.position().byte() as usize;
        let line = first_line + reader.position().line() - 1;
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) | Err(_) => break,
        }
        let end = reader.position().byte() as usize;
        let row = &bytes[start..end];
        let mut reject = |reason, detail: String| {
            out.rejects.push(Reject {
                line,
                reason,
                detail,
                text: record_text(row),
            });
        };
        if record.len() != plan.width {
            reject(
                RejectReason::WrongFieldCount,
                format!("expected {} fields, found {}", plan.width, record.len()),
            );
            continue;
        }
        let id = trim(&record[plan.id]);
        if id.is_empty() {
            reject(RejectReason::MissingId, "empty id".into());
            continue;
        }
        let coordinates = coordinate(
            &record[plan.lat],
            "latitude",
            90.0,
            RejectReason::InvalidLatitude,
        )
        .and_then(|lat| {
            coordinate(
                &record[plan.lng],
                "longitude",
                180.0,
                RejectReason::InvalidLongitude,
            )
            .map(|lng| (lat, lng))
        });
        let (lat, lng) = match coordinates {
            Ok(pair) => pair,
            Err((reason, detail)) => {
                reject(reason, detail);
                continue;
            }
        };
        scratch.clear();
        let mut bad = None;
        for (a, &(i, _, declared)) in plan.attrs.iter().enumerate() {
            let raw = trim(&record[i]);
            match &mut out.columns[a] {
                LocalColumn::Numeric(_) => match parse_number(raw) {
                    NumberField::Missing => scratch.push(Scratch::Number(f64::NAN)),
                    NumberField::Value(v) => scratch.push(Scratch::Number(v)),
                    NumberField::Invalid if declared => {
                        bad = Some((
                            RejectReason::InvalidAttribute,
                            format!(
                                "attribute column {} is declared numeric but holds '{}'",
                                i + 1,
                                String::from_utf8_lossy(raw)
                            ),
                        ));
                        break;
                    }
                    NumberField::Invalid => {
                        out.retype = Some(a);
                        return out;
                    }
                },
                LocalColumn::Categorical {
                    dictionary, lookup, ..
                } => {
                    if raw.is_empty() {
                        scratch.push(Scratch::Code(MISSING));
                        continue;
                    }
                    // Most categorical columns have a handful of values: a byte comparison
                    // beats hashing, and a hit needs no UTF-8 check.
                    let hit = if dictionary.len() <= SMALL_DICTIONARY {
                        dictionary
                            .iter()
                            .position(|d| d.as_bytes() == raw)
                            .map(|p| p as u32)
                    } else {
                        std::str::from_utf8(raw)
                            .ok()
                            .and_then(|t| lookup.get(t).copied())
                    };
                    let code = if let Some(code) = hit {
                        code
                    } else {
                        let Ok(text) = std::str::from_utf8(raw) else {
                            bad = Some((
                                RejectReason::InvalidUtf8,
                                format!("field {} is not valid UTF-8", i + 1),
                            ));
                            break;
                        };
                        let code = dictionary.len() as u32;
                        dictionary.push(text.to_string());
                        lookup.insert(text.to_string(), code);
                        code
                    };
                    scratch.push(Scratch::Code(code));
                }
            }
        }
        if let Some((reason, detail)) = bad {
            reject(reason, detail);
            continue;
        }
        out.lat.push(lat);
        out.lng.push(lng);
        let fp = fingerprint(id);
        out.shard_rows[shard_of(fp)].push(out.fingerprints.len() as u32);
        out.fingerprints.push(fp);
        if keep_ids {
            out.ids.push(String::from_utf8_lossy(id).into_owned());
        }
        out.spans.push((start as u32, end as u32, line));
        for (column, value) in out.columns.iter_mut().zip(&scratch) {
            match (column, value) {
                (LocalColumn::Numeric(values), Scratch::Number(v)) => values.push(*v),
                (LocalColumn::Categorical { codes, .. }, Scratch::Code(c)) => codes.push(*c),
                _ => unreachable!("scratch values follow the column kinds"),
            }
        }
    }
    out
}

/// Parses a coordinate in [-limit, limit]; a bad value is rejected with `invalid` (an empty one
/// with `MissingCoordinate`).
pub(super) fn coordinate(
    raw: &[u8],
    what: &str,
    limit: f64,
    invalid: RejectReason,
) -> Result<f64, (RejectReason, String)> {
    let raw = trim(raw);
    if raw.is_empty() {
        return Err((RejectReason::MissingCoordinate, format!("empty {what}")));
    }
    let Ok(text) = std::str::from_utf8(raw) else {
        return Err((invalid, format!("{what} is not valid UTF-8")));
    };
    match text.parse::<f64>() {
        Ok(v) => in_range(v, &text, what, limit, invalid),
        Err(_) => Err((invalid, format!("{what} '{text}' is not a number"))),
    }
}

/// Checks a coordinate is finite and in [-limit, limit]; `shown` is the value as the input had
/// it, for the message.
pub(super) fn in_range(
    v: f64,
    shown: &dyn std::fmt::Display,
    what: &str,
    limit: f64,
    invalid: RejectReason,
) -> Result<f64, (RejectReason, String)> {
    if !v.is_finite() {
        Err((invalid, format!("{what} {shown} is not a finite number")))
    } else if v.abs() > limit {
        Err((
            invalid,
            format!("{what} {shown} is out of range [-{limit}, {limit}]"),
        ))
    } else {
        Ok(v)
    }
}

pub(super) fn shard_of(fp: u128) -> usize {
    (fp % ID_SHARDS as u128) as usize
}

/// Hashes a fingerprint by its high 64 bits: they are already uniform (shards use the low bits).
#[derive(Default)]
pub(super) struct FingerprintHasher(u64);

impl Hasher for FingerprintHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u128(&mut self, fp: u128) {
        self.0 = (fp >> 64) as u64;
    }
}

pub(super) type FingerprintSet = HashSet<u128, BuildHasherDefault<FingerprintHasher>>;

/// Marks, per chunk and row, the rows whose id was seen before (in input order). Each shard of
/// the seen-set is updated by one task, walking the chunks in order.
pub(super) fn find_duplicates(outs: &[ChunkOut], seen: &mut [FingerprintSet]) -> Vec<Vec<bool>> {
    let found: Vec<Vec<(usize, usize)>> = seen
        .par_iter_mut()
        .enumerate()
        .map(|(shard, set)| {
            let mut dups = Vec::new();
            for (c, out) in outs.iter().enumerate() {
                for &r in &out.shard_rows[shard] {
                    if !set.insert(out.fingerprints[r as usize]) {
                        dups.push((c, r as usize));
                    }
                }
            }
            dups
        })
        .collect();
    let mut flags: Vec<Vec<bool>> = outs
        .iter()
        .map(|o| vec![false; o.fingerprints.len()])
        .collect();
    for (c, r) in found.into_iter().flatten() {
        flags[c][r] = true;
    }
    flags
}

/// The growing global table while chunks are merged in input order.
pub(super) struct Merged {
    table: ConsumerTable,
    lookups: Vec<HashMap<String, u32>>,
    rejects: Vec<Reject>,
}

impl Merged {
    pub(super) fn new(plan: &Plan, header: &[String]) -> Self {
        let attributes = plan
            .attrs
            .iter()
            .map(|&(i, kind, _)| Attribute {
                name: header[i].clone(),
                column: match kind {
                    AttributeKind::Categorical => Column::Categorical {
                        codes: Vec::new(),
                        dictionary: Vec::new(),
                    },
                    AttributeKind::Numeric => Column::Numeric(Vec::new()),
                },
            })
            .collect();
        Merged {
            table: ConsumerTable {
                ids: Vec::new(),
                lat: Vec::new(),
                lng: Vec::new(),
                attributes,
            },
            lookups: plan.attrs.iter().map(|_| HashMap::new()).collect(),
            rejects: Vec::new(),
        }
    }

    /// Appends a chunk's rows but its duplicates, which become rejects with `text(span)`.
    pub(super) fn append(
        &mut self,
        out: ChunkOut,
        duplicate: &[bool],
        text: &dyn Fn(u32, u32) -> String,
    ) {
        let keep = |r: &usize| !duplicate[*r];
        let mut rejects = out.rejects;
        for (r, &(s, e, line)) in out.spans.iter().enumerate() {
            if duplicate[r] {
                rejects.push(Reject {
                    line,
                    reason: RejectReason::DuplicateId,
                    detail: "id already seen on an earlier row".into(),
                    text: text(s, e),
                });
            }
        }
        rejects.sort_by_key(|r| r.line);
        self.rejects.extend(rejects);
        let rows = 0..out.lat.len();
        self.table
            .lat
            .extend(rows.clone().filter(keep).map(|r| out.lat[r]));
        let mut ids = out.ids;
        if !ids.is_empty() {
            let mut r = 0;
            ids.retain(|_| {
                r += 1;
                !duplicate[r - 1]
            });
            self.table.ids.extend(ids);
        }
        self.table
            .lng
            .extend(rows.clone().filter(keep).map(|r| out.lng[r]));
        for ((attr, local), lookup) in self
            .table
            .attributes
            .iter_mut()
            .zip(out.columns)
            .zip(&mut self.lookups)
        {
            match (&mut attr.column, local) {
                (Column::Numeric(values), LocalColumn::Numeric(local)) => {
                    values.extend(rows.clone().filter(keep).map(|r| local[r]));
                }
                (
                    Column::Categorical { codes, dictionary },
                    LocalColumn::Categorical {
                        codes: local,
                        dictionary: local_dictionary,
                        ..
                    },
                ) => {
                    let remap: Vec<u32> = local_dictionary
                        .into_iter()
                        .map(|value| {
                            *lookup.entry(value).or_insert_with_key(|value| {
                                dictionary.push(value.clone());
                                (dictionary.len() - 1) as u32
                            })
                        })
                        .collect();
                    codes.extend(rows.clone().filter(keep).map(|r| {
                        let c = local[r];
                        if c == MISSING {
                            MISSING
                        } else {
                            remap[c as usize]
                        }
                    }));
                }
                _ => unreachable!("chunk columns follow the plan"),
            }
        }
    }

    pub(super) fn finish(self) -> Ingested {
        let rows = RowCounts::new(self.table.len() as u64, &self.rejects);
        Ingested {
            table: self.table,
            rejects: self.rejects,
            rows,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write as _;

    fn run(csv: &str, block_bytes: usize) -> Ingested {
        let source = Source::Bytes {
            name: "test.csv".into(),
            data: Arc::from(csv.as_bytes()),
        };
        let options = IngestOptions {
            block_bytes,
            ..IngestOptions::default()
        };
        ingest(&source, &options).expect("ingest")
    }

    #[test]
    fn quoted_newlines_bom_and_crlf() {
        let csv = "\u{feff}id,lat,lon,note\r\na,1,2,\"x\r\ny\"\r\nb,3,4,\"q,\"\"z\"\"\"\r\n";
        let got = run(csv, 1 << 10);
        assert_eq!(got.table.len(), 2);
        let Column::Categorical { dictionary, .. } = &got.table.attributes[0].column else {
            panic!("note must be categorical")
        };
        assert_eq!(dictionary, &["x\r\ny", "q,\"z\""]);
    }

    #[test]
    fn bad_rows_are_rejected_with_lines() {
        let csv = "id,lat,lon\na,1,2\n,1,2\nc,91,2\nd,1,abc\ne,NaN,1\na,5,5\nf,1\ng,,3\n";
        let got = run(csv, 1 << 10);
        assert_eq!(got.rows.read, 8);
        assert_eq!(got.rows.accepted, 1);
        let reasons: Vec<(u64, &str)> = got
            .rejects
            .iter()
            .map(|r| (r.line, r.reason.code()))
            .collect();
        assert_eq!(
            reasons,
            vec![
                (3, "missing_id"),
                (4, "invalid_latitude"),
                (5, "invalid_longitude"),
                (6, "invalid_latitude"),
                (7, "duplicate_id"),
                (8, "wrong_field_count"),
                (9, "missing_coordinate"),
            ]
        );
        assert_eq!(got.rejects[4].text, "a,5,5");
    }

    #[test]
    fn small_blocks_give_the_same_table() {
        let mut csv = String::from("id,lat,lon,kind,age\n");
        for i in 0..5000 {
            writeln!(
                csv,
                "i{i},{}.5,{}.25,\"k{}\",{}",
                i % 80,
                i % 170,
                i % 7,
                i % 90
            )
            .expect("write");
        }
        csv.push_str("i3,1,1,k1,1\n");
        let big = run(&csv, 1 << 24);
        let small = run(&csv, 1 << 10);
        assert_eq!(big.table, small.table);
        assert_eq!(big.rejects, small.rejects);
        assert_eq!(big.rejects[0].line, 5002);
        assert_eq!(
            big.table.attributes[1].column.kind(),
            AttributeKind::Numeric
        );
    }

    #[test]
    fn late_text_in_an_inferred_numeric_column_retypes_it() {
        let mut csv = String::from("id,lat,lon,code\n");
        for i in 0..(INFERENCE_ROWS + 10) {
            writeln!(csv, "i{i},1,1,{}", i % 3).expect("write");
        }
        csv.push_str("z,1,1,abc\n");
        let got = run(&csv, 1 << 12);
        assert_eq!(got.rows.rejected, 0);
        let Column::Categorical { dictionary, .. } = &got.table.attributes[0].column else {
            panic!("code must become categorical")
        };
        assert_eq!(dictionary.len(), 4);
    }

    #[test]
    fn gzip_is_detected() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(b"id,lat,lon\na,1,2\n").expect("gzip");
        let data = enc.finish().expect("gzip");
        let source = Source::Bytes {
            name: "x.csv.gz".into(),
            data: Arc::from(data),
        };
        let got = ingest(&source, &IngestOptions::default()).expect("ingest");
        assert_eq!(got.table.lat, vec![1.0]);
    }
}
