//! What an ingest reads and returns: the source, the options, the result and the errors.

use super::rejects::{Reject, RowCounts};
use super::table::{AttributeKind, ConsumerTable};
use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::PathBuf;
use thiserror::Error;

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
    /// The file's compressed data is truncated or damaged.
    #[error(
        "{file} is truncated or damaged ({problem}); compress it again from the original, or give the uncompressed CSV"
    )]
    Corrupt {
        /// File name.
        file: String,
        /// What the decoder found.
        problem: String,
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
    /// A row is longer than [`MAX_RECORD_BYTES`]: most likely a double quote never closed.
    #[error(
        "{file}: the row starting on line {line} runs past {} MiB without ending; a double quote opened there is probably never closed (a quote inside a quoted field is written \"\")",
        MAX_RECORD_BYTES >> 20
    )]
    RecordTooLong {
        /// File name.
        file: String,
        /// Line the row starts on.
        line: u64,
    },
    /// The file ends inside a quoted field.
    #[error(
        "{file}: line {line} opens a double quote that is never closed, so its {lines} following lines would be one field; close the quote (a quote inside a quoted field is written \"\")"
    )]
    UnclosedQuote {
        /// File name.
        file: String,
        /// Line the unclosed row starts on.
        line: u64,
        /// Lines after it, up to the end of the file.
        lines: u64,
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
        /// The file's bytes.
        data: bytes::Bytes,
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
    pub(super) fn is_parquet(&self) -> io::Result<bool> {
        let mut magic = [0u8; 4];
        let n = match self {
            Source::Path(p) => read_full(&mut std::fs::File::open(p)?, &mut magic)?,
            Source::Bytes { data, .. } => read_full(&mut &data[..], &mut magic)?,
        };
        Ok(n == 4 && &magic == b"PAR1")
    }

    /// The size of the input as stored (compressed, for gzip), when known.
    pub(super) fn stored_len(&self) -> Option<u64> {
        match self {
            Source::Path(p) => std::fs::metadata(p).ok().map(|m| m.len()),
            Source::Bytes { data, .. } => Some(data.len() as u64),
        }
    }

    pub(super) fn open(&self) -> io::Result<Box<dyn Read + Send>> {
        let mut raw: Box<dyn Read + Send> = match self {
            Source::Path(p) => Box::new(std::fs::File::open(p)?),
            Source::Bytes { data, .. } => Box::new(io::Cursor::new(data.clone())),
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

pub(super) fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
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
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
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
    /// Where the rows read so far are counted, for a progress display.
    pub progress: Option<std::sync::Arc<crate::Progress>>,
    /// The attribute columns to read (others are skipped, named in
    /// [`ConsumerTable::unread`](crate::consumer::ConsumerTable::unread)); `None` reads them all.
    pub attributes: Option<std::collections::BTreeSet<String>>,
    /// For a Parquet file, only these row groups (rows keep their numbers in the whole file; a
    /// repeated id is found only within the groups read); `None` reads them all. CSV files are
    /// always read whole.
    pub row_groups: Option<std::ops::Range<usize>>,
}

/// The longest CSV row read, in bytes: ingest holds at most one block plus one row of this size.
pub const MAX_RECORD_BYTES: usize = 64 << 20;

impl IngestOptions {
    /// Whether the attribute column `name` is read.
    pub(super) fn reads(&self, name: &str) -> bool {
        self.attributes
            .as_ref()
            .is_none_or(|kept| kept.contains(name))
    }
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            columns: ColumnNames::default(),
            schema: BTreeMap::new(),
            block_bytes: 32 << 20,
            keep_ids: false,
            progress: None,
            attributes: None,
            row_groups: None,
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
