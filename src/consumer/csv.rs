//! Streaming, parallel CSV ingest (plain or gzip) into a [`ConsumerTable`].
//!
//! # Algorithm
//!
//! The input is read in blocks of `block_bytes`. Each block is cut at record boundaries (a newline
//! outside double quotes, so quoted fields may hold newlines) into chunks parsed in parallel by the
//! `csv` crate. Each chunk dictionary-encodes its text values locally; the chunks are then merged in
//! input order, so codes and rejects are the same whatever the thread count. While a block is
//! parsed, the one before it is merged and the one after it read. Duplicate ids are found with
//! 128-bit fingerprints in sharded hash sets, first occurrence kept; ids are not stored.
//!
//! Only the attribute columns asked for ([`IngestOptions::attributes`]) are parsed. Memory stays
//! within three blocks (merged, parsed, read) and the longest row: a row longer than
//! [`MAX_RECORD_BYTES`] (a quote never closed, most likely) stops the ingest, and a quote still
//! open at the end of the file is an error naming its line.
//!
//! Attribute kinds come from the schema when declared, else from the first 10,000 data rows: a
//! column is numeric when every non-missing value there is a finite number. If a later value of an
//! inferred numeric column is not a number, the ingest starts again with that column categorical,
//! so no value is ever lost to a wrong guess.

use super::fields::{
    ID_SPELLINGS, LAT_SPELLINGS, LNG_SPELLINGS, NumberField, coordinate, find_column, parse_number,
    trim,
};
use super::input::{IngestError, IngestOptions, Ingested, MAX_RECORD_BYTES, Source, read_full};
use super::merge::{
    ChunkOut, FingerprintSet, ID_SHARDS, LocalColumn, Merged, Plan, PlannedAttribute, RowOrigin,
    SMALL_DICTIONARY, find_duplicates,
};
use super::rejects::{MAX_VALUE_BYTES, Reject, RejectReason, reject_text, too_long};
use super::table::{AttributeKind, MISSING};
use rayon::prelude::*;
use std::collections::{BTreeMap, HashSet};

/// Number of data rows used to infer attribute kinds.
const INFERENCE_ROWS: usize = 10_000;

/// Reads consumers from a CSV (or gzip-compressed CSV) `source`, starting again with a column
/// categorical whenever a value contradicts its inferred numeric kind.
pub(super) fn ingest(source: &Source, options: &IngestOptions) -> Result<Ingested, IngestError> {
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

fn ingest_once(
    source: &Source,
    options: &IngestOptions,
    forced: &BTreeMap<String, AttributeKind>,
    declared: &HashSet<String>,
) -> Result<Pass, IngestError> {
    let file = source.name();
    let io_err = |source| read_error(&file, source);
    let mut reader = source.open().map_err(io_err)?;
    let block_bytes = options.block_bytes.max(1 << 10);
    let mut buf = vec![0u8; block_bytes];
    let n = read_full(&mut reader, &mut buf).map_err(io_err)?;
    buf.truncate(n);
    let mut eof = n < block_bytes;
    if buf.starts_with(b"\xEF\xBB\xBF") {
        buf.drain(..3);
    }

    let Header {
        names: header,
        plan,
        end: header_end,
        mut line,
    } = read_header(&file, &buf, options, (forced, declared))?;
    buf.drain(..header_end);

    let mut merged = Merged::new(&plan, &header);
    let mut seen: Vec<FingerprintSet> = (0..ID_SHARDS).map(|_| FingerprintSet::default()).collect();
    let chunk_bytes = (block_bytes / (rayon::current_num_threads() * 4)).max(1 << 16);
    let mut read_bytes = header_end as u64;
    // The block parsed last, merged while the next one is read and parsed.
    let mut pending: Option<ParsedBlock> = None;
    loop {
        if let Some(error) = eof.then(|| unclosed_quote(&file, &buf, line)).flatten() {
            return Err(error);
        }
        let (chunks, consumed) = split_records(&buf, chunk_bytes, eof);
        let lines = chunk_lines(&buf, &chunks, &mut line);
        // What is left is the start of one row, which begins the next block: memory stays
        // within three blocks and one such row.
        let mut next = Vec::new();
        if !eof {
            if buf.len() - consumed > MAX_RECORD_BYTES {
                return Err(IngestError::RecordTooLong { file, line });
            }
            next.reserve_exact(buf.len() - consumed + block_bytes);
            next.extend_from_slice(&buf[consumed..]);
            buf.truncate(consumed);
        }
        let (read, outs) = rayon::join(
            || {
                if let Some(block) = pending.take() {
                    merge_block(&mut merged, block, options);
                }
                let rest = next.len();
                (!eof)
                    .then(|| {
                        next.resize(rest + block_bytes, 0);
                        read_full(&mut reader, &mut next[rest..]).map(|n| rest + n)
                    })
                    .transpose()
            },
            || -> Vec<ChunkOut> {
                chunks
                    .par_iter()
                    .zip(&lines)
                    .map(|(&(s, e), &lines)| {
                        parse_chunk(&buf[s..e], lines, &plan, options.keep_ids)
                    })
                    .collect()
            },
        );
        if let Some(col) = outs.iter().find_map(|o| o.retype) {
            return Ok(Pass::Retype(header[plan.attrs[col].field].clone()));
        }
        let dups = find_duplicates(&outs, &mut seen);
        // After the first block, the whole file's rows can be estimated from its bytes per row.
        if read_bytes == header_end as u64 && !eof {
            let rows = outs.iter().map(ChunkOut::rows_read).sum();
            reserve_file_rows(
                &mut merged,
                source,
                (rows, read_bytes + consumed as u64),
                options,
            );
        }
        read_bytes += consumed as u64;
        pending = Some(ParsedBlock {
            bytes: std::mem::replace(&mut buf, next),
            chunks,
            outs,
            dups,
        });
        match read.map_err(io_err)? {
            None => break,
            Some(filled) => {
                eof = filled < buf.len();
                buf.truncate(filled);
            }
        }
    }
    if let Some(block) = pending {
        merge_block(&mut merged, block, options);
    }
    Ok(Pass::Done(merged.finish()))
}

/// Per chunk of `data`, its first line and a bound on its rows (its line feeds plus one),
/// counting on from `line`, which ends past the last chunk.
fn chunk_lines(data: &[u8], chunks: &[(usize, usize)], line: &mut u64) -> Vec<(u64, usize)> {
    let newlines: Vec<u64> = chunks
        .par_iter()
        .map(|&(s, e)| count_byte(&data[s..e], b'\n'))
        .collect();
    newlines
        .into_iter()
        .map(|n| {
            let first = *line;
            *line += n;
            (first, n as usize + 1)
        })
        .collect()
}

/// The header of a consumers file and the plan read from it.
struct Header {
    names: Vec<String>,
    plan: Plan,
    /// The header's length in bytes.
    end: usize,
    /// The line the data starts on.
    line: u64,
}

/// Reads the header at the start of `first_block`, resolves the columns and infers the kinds of
/// attributes neither declared nor `forced`.
fn read_header(
    file: &str,
    first_block: &[u8],
    options: &IngestOptions,
    (forced, declared): (&BTreeMap<String, AttributeKind>, &HashSet<String>),
) -> Result<Header, IngestError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(first_block);
    let mut record = csv::ByteRecord::new();
    if !reader.read_byte_record(&mut record).unwrap_or(false) {
        return Err(IngestError::Empty { file: file.into() });
    }
    let end = reader.position().byte() as usize;
    let names: Vec<String> = record
        .iter()
        .map(|f| std::str::from_utf8(f).map(|s| s.trim().to_string()))
        .collect::<Result<_, _>>()
        .map_err(|_| IngestError::HeaderEncoding { file: file.into() })?;
    let mut plan = resolve_columns(file, &names, options, forced)?;
    infer_kinds(&first_block[end..], &mut plan, forced, &names);
    for PlannedAttribute {
        field: i,
        kind,
        declared: is_declared,
    } in &mut plan.attrs
    {
        *is_declared = declared.contains(&names[*i]) && forced.get(&names[*i]) == Some(kind);
    }
    Ok(Header {
        names,
        plan,
        end,
        line: reader.position().line(),
    })
}

/// A block's bytes and what its chunks parsed to, with their duplicate ids, before the merge.
struct ParsedBlock {
    bytes: Vec<u8>,
    chunks: Vec<(usize, usize)>,
    outs: Vec<ChunkOut>,
    dups: Vec<Vec<bool>>,
}

/// Appends a parsed block to `merged`, chunk by chunk in input order.
fn merge_block(merged: &mut Merged, block: ParsedBlock, options: &IngestOptions) {
    for ((out, dups), &(start, end)) in block.outs.into_iter().zip(&block.dups).zip(&block.chunks) {
        let bytes = &block.bytes[start..end];
        merged.append(out, dups, &|o| {
            record_text(&bytes[o.start as usize..o.end as usize])
        });
    }
    if let Some(progress) = &options.progress {
        progress.set_rows(merged.rows());
    }
}

fn resolve_columns(
    file: &str,
    header: &[String],
    options: &IngestOptions,
    forced: &BTreeMap<String, AttributeKind>,
) -> Result<Plan, IngestError> {
    let names = &options.columns;
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
        .filter(|&i| ![id, lat, lng].contains(&i) && options.reads(&header[i]))
        .map(|i| {
            let kind = forced
                .get(&header[i])
                .copied()
                .unwrap_or(AttributeKind::Numeric);
            PlannedAttribute {
                field: i,
                kind,
                declared: false,
            }
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
        for (a, &PlannedAttribute { field: i, .. }) in plan.attrs.iter().enumerate() {
            match parse_number(trim(&record[i])) {
                NumberField::Missing => {}
                NumberField::Value(_) => numeric_seen[a] = true,
                NumberField::Invalid => not_numeric[a] = true,
            }
        }
    }
    for (a, PlannedAttribute { field: i, kind, .. }) in plan.attrs.iter_mut().enumerate() {
        if !forced.contains_key(&header[*i]) {
            *kind = if numeric_seen[a] && !not_numeric[a] {
                AttributeKind::Numeric
            } else {
                AttributeKind::Categorical
            };
        }
    }
}

/// Makes room in `merged` for the rows of the whole file, estimated from the `rows` of its first
/// `read_bytes` (a compressed file's stored size underestimates them: its columns then grow as
/// usual past the estimate).
fn reserve_file_rows(
    merged: &mut Merged,
    source: &Source,
    (rows, read_bytes): (u64, u64),
    options: &IngestOptions,
) {
    if let Some(total) = source.stored_len() {
        let estimate = rows as f64 * total as f64 / read_bytes as f64;
        merged.reserve_total((estimate * 1.01) as usize, options.keep_ids);
    }
}

/// How many times `byte` occurs in `bytes`. Counted in runs of 255 bytes into a `u8`, which the
/// compiler vectorizes 16 or 32 bytes at a time (five times the speed of counting into a `u64`
/// on a block of a consumers file).
#[allow(
    clippy::naive_bytecount,
    reason = "the runs vectorize; a crate for a few lines is not worth it"
)]
fn count_byte(bytes: &[u8], byte: u8) -> u64 {
    let mut runs = bytes.chunks_exact(255);
    let mut total = 0;
    for run in &mut runs {
        total += u64::from(run.iter().fold(0u8, |n, &b| n + u8::from(b == byte)));
    }
    total + runs.remainder().iter().filter(|&&b| b == byte).count() as u64
}

/// The error of reading `file`: a read error inside the data (a truncated or damaged gzip stream)
/// is bad input, not a failing disk.
fn read_error(file: &str, source: std::io::Error) -> IngestError {
    let file = file.to_string();
    match source.kind() {
        std::io::ErrorKind::InvalidInput
        | std::io::ErrorKind::InvalidData
        | std::io::ErrorKind::UnexpectedEof => IngestError::Corrupt {
            file,
            problem: source.to_string(),
        },
        _ => IngestError::Io { file, source },
    }
}

/// The error of `data`, the end of a file starting at a record boundary on line `line`, when a
/// quoted field opened in it is never closed and swallows the lines after it into one field.
fn unclosed_quote(file: &str, data: &[u8], line: u64) -> Option<IngestError> {
    if count_byte(data, b'"') == 0 {
        return None;
    }
    let mut quotes = Quotes::RECORD_START;
    let mut opened = None;
    for (i, &b) in data.iter().enumerate() {
        let was_open = quotes.open;
        if quotes.step(b) {
            opened = None;
        } else if quotes.open && !was_open && opened.is_none() {
            opened = Some(i);
        } else if !quotes.open && b != b'"' {
            opened = None;
        }
    }
    let start = opened.filter(|_| quotes.open)?;
    let lines = count_byte(data[start..].trim_ascii_end(), b'\n');
    (lines > 0).then(|| IngestError::UnclosedQuote {
        file: file.to_string(),
        line: line + count_byte(&data[..start], b'\n'),
        lines,
    })
}

/// Double quotes as the CSV reader reads them, byte by byte: a quote opens a field only at its
/// start, `""` inside one is a quote, and a quote inside an unquoted field is text. Record
/// boundaries (line feeds outside quotes) follow from it, so one stray quote in a field neither
/// hides the boundaries after it nor makes a block grow to the end of the file.
#[derive(Debug, Clone, Copy)]
struct Quotes {
    open: bool,
    just_closed: bool,
    field_start: bool,
}

impl Quotes {
    const RECORD_START: Quotes = Quotes {
        open: false,
        just_closed: false,
        field_start: true,
    };

    /// Reads `b`; returns whether it ends a record.
    fn step(&mut self, b: u8) -> bool {
        if self.open {
            if b == b'"' {
                self.open = false;
                self.just_closed = true;
            }
            return false;
        }
        if b == b'"' && (self.field_start || self.just_closed) {
            self.open = true;
            self.just_closed = false;
            self.field_start = false;
            return false;
        }
        self.just_closed = false;
        self.field_start = matches!(b, b',' | b'\n' | b'\r');
        b == b'\n'
    }

    /// The state after `data`, which starts at a record boundary.
    fn after(data: &[u8]) -> Quotes {
        let mut quotes = Quotes::RECORD_START;
        if count_byte(data, b'"') == 0 {
            // No quote: only the last byte matters.
            quotes.field_start = data
                .last()
                .is_none_or(|b| matches!(b, b',' | b'\n' | b'\r'));
            return quotes;
        }
        for &b in data {
            quotes.step(b);
        }
        quotes
    }
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

/// The first record boundary after `target`, knowing `start` is one.
fn next_boundary(data: &[u8], start: usize, target: usize) -> Option<usize> {
    let mut quotes = Quotes::after(&data[start..target]);
    data[target..]
        .iter()
        .position(|&b| quotes.step(b))
        .map(|i| target + i + 1)
}

/// The last record boundary after `start` (or `start` itself when there is none).
fn last_boundary(data: &[u8], start: usize) -> usize {
    let mut quotes = Quotes::RECORD_START;
    let mut last = start;
    for (i, &b) in data[start..].iter().enumerate() {
        if quotes.step(b) {
            last = start + i + 1;
        }
    }
    last
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
    reject_text(&bytes[..end])
}

/// Parses the rows of one chunk, which starts on line `first_line` and holds at most `rows`.
fn parse_chunk(
    bytes: &[u8],
    (first_line, rows): (u64, usize),
    plan: &Plan,
    keep_ids: bool,
) -> ChunkOut {
    let mut out = ChunkOut::with_capacity(plan, rows, keep_ids);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut record = csv::ByteRecord::new();
    let mut scratch: Vec<Scratch> = Vec::with_capacity(plan.attrs.len());
    // Lines are counted here: the csv reader skips blank lines without counting them.
    let (mut counted_to, mut line) = (0, first_line);
    loop {
        let mut start = reader.position().byte() as usize;
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) | Err(_) => break,
        }
        let end = reader.position().byte() as usize;
        // Blank lines before the record belong to no record.
        start += bytes[start..end]
            .iter()
            .take_while(|&&b| b == b'\n' || b == b'\r')
            .count();
        line += count_byte(&bytes[counted_to..start], b'\n');
        counted_to = start;
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
            let spans = count_byte(row.trim_ascii_end(), b'\n');
            let quote = if spans > 0 {
                format!(
                    "; the row runs over {} lines, so a double quote on line {line} is probably never closed",
                    spans + 1
                )
            } else {
                String::new()
            };
            reject(
                RejectReason::WrongFieldCount,
                format!(
                    "expected {} fields, found {}{quote}",
                    plan.width,
                    record.len()
                ),
            );
            continue;
        }
        let id = trim(&record[plan.id]);
        if id.is_empty() {
            reject(RejectReason::MissingId, "empty id".into());
            continue;
        }
        let (lat, lng) = match record_coordinates(&record, plan) {
            Ok(pair) => pair,
            Err((reason, detail)) => {
                reject(reason, detail);
                continue;
            }
        };
        match parse_attributes(&record, plan, &mut out.columns, &mut scratch) {
            Ok(()) => {}
            Err(Unusable::Reject(reason, detail)) => {
                reject(reason, detail);
                continue;
            }
            Err(Unusable::Retype(a)) => {
                out.retype = Some(a);
                return out;
            }
        }
        let origin = RowOrigin {
            start: start as u32,
            end: end as u32,
            line,
        };
        out.accept((lat, lng), id, keep_ids, origin);
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

/// Why a record's attributes cannot be kept: the row is rejected, or attribute `a` must be read
/// again as categorical.
enum Unusable {
    Reject(RejectReason, String),
    Retype(usize),
}

/// The latitude and longitude of a record.
fn record_coordinates(
    record: &csv::ByteRecord,
    plan: &Plan,
) -> Result<(f64, f64), (RejectReason, String)> {
    let lat = coordinate(
        &record[plan.lat],
        "latitude",
        90.0,
        RejectReason::InvalidLatitude,
    )?;
    let lng = coordinate(
        &record[plan.lng],
        "longitude",
        180.0,
        RejectReason::InvalidLongitude,
    )?;
    Ok((lat, lng))
}

/// Parses a record's attribute values into `scratch` (codes enter the chunk's dictionaries).
fn parse_attributes(
    record: &csv::ByteRecord,
    plan: &Plan,
    columns: &mut [LocalColumn],
    scratch: &mut Vec<Scratch>,
) -> Result<(), Unusable> {
    scratch.clear();
    for (
        a,
        &PlannedAttribute {
            field: i, declared, ..
        },
    ) in plan.attrs.iter().enumerate()
    {
        let raw = trim(&record[i]);
        match &mut columns[a] {
            LocalColumn::Numeric(_) => match parse_number(raw) {
                NumberField::Missing => scratch.push(Scratch::Number(f64::NAN)),
                NumberField::Value(v) => scratch.push(Scratch::Number(v)),
                NumberField::Invalid if declared => {
                    return Err(Unusable::Reject(
                        RejectReason::InvalidAttribute,
                        format!(
                            "attribute column {} is declared numeric but holds '{}'",
                            i + 1,
                            String::from_utf8_lossy(raw)
                        ),
                    ));
                }
                NumberField::Invalid => return Err(Unusable::Retype(a)),
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
                    if raw.len() > MAX_VALUE_BYTES {
                        return Err(Unusable::Reject(
                            RejectReason::ValueTooLong,
                            too_long(i, raw.len()),
                        ));
                    }
                    let Ok(text) = std::str::from_utf8(raw) else {
                        return Err(Unusable::Reject(
                            RejectReason::InvalidUtf8,
                            format!("field {} is not valid UTF-8", i + 1),
                        ));
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
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consumer::{Column, ingest};
    use std::fmt::Write as _;

    #[test]
    fn count_byte_counts_every_occurrence_across_runs() {
        for len in [0, 1, 254, 255, 256, 510, 511, 1000] {
            let all = vec![b'\n'; len];
            assert_eq!(count_byte(&all, b'\n'), len as u64);
            let every_third: Vec<u8> = (0..len)
                .map(|i| if i % 3 == 0 { b'"' } else { b'x' })
                .collect();
            assert_eq!(count_byte(&every_third, b'"'), len.div_ceil(3) as u64);
            assert_eq!(count_byte(&every_third, b'\n'), 0);
        }
    }

    fn run(csv: &str, block_bytes: usize) -> Ingested {
        let source = Source::Bytes {
            name: "test.csv".into(),
            data: bytes::Bytes::copy_from_slice(csv.as_bytes()),
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
            if i == 2500 {
                csv.push_str("bad,north,1,k1,1\n");
            }
        }
        csv.push_str("i3,1,1,k1,1\n");
        let big = run(&csv, 1 << 24);
        let small = run(&csv, 1 << 10);
        assert_eq!(big.table, small.table);
        assert_eq!(big.rejects, small.rejects);
        let lines: Vec<u64> = big.rejects.iter().map(|r| r.line).collect();
        assert_eq!(lines, [2503, 5003]);
        assert_eq!(big.rows.read, 5002);
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
            data: data.into(),
        };
        let got = ingest(&source, &IngestOptions::default()).expect("ingest");
        assert_eq!(got.table.lat, vec![1.0]);
    }

    fn ingest_bytes(csv: Vec<u8>, options: &IngestOptions) -> Result<Ingested, IngestError> {
        let source = Source::Bytes {
            name: "x.csv".into(),
            data: csv.into(),
        };
        ingest(&source, options)
    }

    #[test]
    fn only_the_attributes_asked_for_are_read() {
        let options = IngestOptions {
            attributes: Some(["age".to_string()].into()),
            ..IngestOptions::default()
        };
        let csv = b"id,lat,lon,note,age,kind\na,1,2,x,30,k\nb,1,2,y,40,l\n".to_vec();
        let got = ingest_bytes(csv, &options).expect("ingest");
        let names: Vec<&str> = got
            .table
            .attributes
            .iter()
            .map(|a| a.name.as_str())
            .collect();
        assert_eq!(names, ["age"]);
        assert_eq!(got.table.unread, ["note", "kind"]);
        assert_eq!(got.table.known_attributes(), "age (numeric), note, kind");
    }

    #[test]
    fn a_long_value_rejects_its_row_and_a_reject_keeps_a_bounded_text() {
        let long = "x".repeat(3 << 20);
        let csv = format!(
            "id,lat,lon,kind\na,1,2,k\nb,1,2,{long}\nc,1,2,{}\n",
            "y".repeat(1024)
        );
        let got = run(&csv, 1 << 20);
        assert_eq!((got.rows.accepted, got.rows.rejected), (2, 1));
        let reject = &got.rejects[0];
        assert_eq!(
            (reject.line, reject.reason),
            (3, RejectReason::ValueTooLong)
        );
        assert!(reject.detail.contains("3145728 bytes"), "{}", reject.detail);
        assert!(reject.text.len() < 5000, "{}", reject.text.len());
        assert!(
            reject.text.ends_with("(cut: 3145734 bytes in all)"),
            "{}",
            &reject.text[4000..]
        );
    }

    #[test]
    fn an_unclosed_quote_is_an_error_naming_its_line() {
        let mut csv = String::from("id,lat,lon,kind\na,1,2,k\nb,1,2,\"k\n");
        for i in 0..1000 {
            writeln!(csv, "i{i},1,2,k").expect("write");
        }
        let error =
            ingest_bytes(csv.into_bytes(), &IngestOptions::default()).expect_err("open quote");
        assert!(
            matches!(
                error,
                IngestError::UnclosedQuote {
                    line: 3,
                    lines: 1000,
                    ..
                }
            ),
            "{error}"
        );
        // A quote inside an unquoted field is text, even on the last line.
        let got = run("id,lat,lon,kind\na,1,2,5\" tall\nb,1,2,k\n", 1 << 10);
        assert_eq!(got.rows.accepted, 2);
        let got = run("id,lat,lon,kind\na,1,2,\"k\"\"\"\nb,1,2,5\" tall", 1 << 10);
        assert_eq!(got.rows.accepted, 2);
        // A quote closed later makes one long row, rejected with a hint.
        let csv = "id,lat,lon,kind\na,1,2,\"k\nb,1,2,k\nc,1,2\",x\nd,1,2,k\n";
        let got = run(csv, 1 << 10);
        assert_eq!(got.rows.read, 2);
        assert!(
            got.rejects[0]
                .detail
                .contains("runs over 3 lines, so a double quote on line 2"),
            "{}",
            got.rejects[0].detail
        );
    }

    #[test]
    fn a_quote_inside_an_unquoted_field_hides_no_boundary() {
        // One stray quote, then quoted fields with commas, doubled quotes and newlines: blocks
        // of 1 KiB cut where one block does.
        let mut csv = String::from("id,lat,lon,note\na,1,2,5\" tall\n");
        for i in 0..3000 {
            writeln!(csv, "i{i},1,2,\"x, \"\"y\"\"\n{}\"", i % 5).expect("write");
        }
        // Counting quotes would see every later line feed inside one: no chunk at all.
        let (chunks, _) = split_records(csv.as_bytes(), 1 << 10, false);
        assert!(chunks.len() > 50, "{}", chunks.len());
        let small = run(&csv, 1 << 10);
        let big = run(&csv, 1 << 24);
        assert_eq!((small.rows.accepted, small.rows.rejected), (3001, 0));
        assert_eq!(small.table, big.table);
        let Column::Categorical { dictionary, .. } = &small.table.attributes[0].column else {
            panic!("note must be categorical")
        };
        assert_eq!(dictionary[0], "5\" tall");
        assert_eq!(dictionary[1], "x, \"y\"\n0");
    }

    #[test]
    fn a_row_longer_than_the_limit_stops_the_ingest_with_its_line() {
        let mut csv = b"id,lat,lon,kind\na,1,2,k\nb,1,2,\"".to_vec();
        csv.resize(csv.len() + MAX_RECORD_BYTES + (9 << 20), b'x');
        csv.extend_from_slice(b"\"\nc,1,2,k\n");
        let options = IngestOptions {
            block_bytes: 8 << 20,
            ..IngestOptions::default()
        };
        let error = ingest_bytes(csv, &options).expect_err("too long");
        assert!(
            matches!(error, IngestError::RecordTooLong { line: 3, .. }),
            "{error}"
        );
    }
}
