//! Consumers: the columnar table of accepted consumers and its ingest from CSV (plain or gzip)
//! and Parquet.
//!
//! The readers ([`csv`](self) and Parquet) share the field parsing (`fields`) and the chunk,
//! duplicate and merge stage (`merge`), and depend on neither each other nor this module.

mod csv;
mod fields;
mod input;
mod merge;
mod parquet;
mod rejects;
mod table;

use std::sync::atomic::{AtomicUsize, Ordering};

pub use input::{ColumnNames, IngestError, IngestOptions, Ingested, MAX_RECORD_BYTES, Source};
pub use rejects::{MAX_REJECT_TEXT, MAX_VALUE_BYTES, Reject, RejectReason, RowCounts};
pub use table::{Attribute, AttributeKind, Column, ConsumerTable, MISSING};

/// Parquet files being read: while there is one, panics inside the parquet and arrow crates are
/// reported as a corrupt file ([`ingest`]) and the panic hook stays quiet about them.
static READING_PARQUET: AtomicUsize = AtomicUsize::new(0);

/// Wraps the panic hook (once) so that it says nothing of a panic raised inside the parquet or
/// arrow crates while a Parquet file is read; every other panic goes to the hook as before.
fn quiet_upstream_panics() {
    static WRAP: std::sync::Once = std::sync::Once::new();
    WRAP.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let upstream = info.location().is_some_and(|l| {
                let file = l.file();
                file.contains("/parquet-") || file.contains("/arrow-")
            });
            if !(upstream && READING_PARQUET.load(Ordering::SeqCst) > 0) {
                previous(info);
            }
        }));
    });
}

/// Reads consumers from `source`.
///
/// # Errors
///
/// [`IngestError`] when the file cannot be read or its header lacks a required column. Bad rows
/// are not errors: they are returned as rejects.
pub fn ingest(source: &Source, options: &IngestOptions) -> Result<Ingested, IngestError> {
    if is_parquet(source)? {
        return guarded(source, || parquet::ingest(source, options));
    }
    csv::ingest(source, options)
}

/// The id hashes ([`ConsumerTable::id_hashes`]) that [`ingest`] could accept from `source` with
/// `options`, sorted and without repeats. For Parquet these are the hashes of every row with an
/// id, read from the id column alone: a superset of the accepted rows', found at a fraction of a
/// whole read. For CSV, which has to be parsed whole anyway, they are the accepted rows' own.
///
/// # Errors
///
/// As [`ingest`].
pub fn candidate_id_hashes(
    source: &Source,
    options: &IngestOptions,
) -> Result<Vec<u64>, IngestError> {
    if is_parquet(source)? {
        return guarded(source, || parquet::candidate_id_hashes(source, options));
    }
    let mut hashes = csv::ingest(source, options)?.table.id_hashes;
    hashes.sort_unstable();
    hashes.dedup();
    Ok(hashes)
}

fn is_parquet(source: &Source) -> Result<bool, IngestError> {
    source.is_parquet().map_err(|e| IngestError::Io {
        file: source.name(),
        source: e,
    })
}

/// Runs `read` of a Parquet `source`: the parquet crate can panic on a corrupt file instead of
/// returning an error; such a file is bad input like any other, reported without the panic's own
/// message.
fn guarded<T>(
    source: &Source,
    read: impl FnOnce() -> Result<T, IngestError>,
) -> Result<T, IngestError> {
    quiet_upstream_panics();
    READING_PARQUET.fetch_add(1, Ordering::SeqCst);
    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(read));
    READING_PARQUET.fetch_sub(1, Ordering::SeqCst);
    read.unwrap_or_else(|panic| {
        let reason = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("unknown failure");
        Err(IngestError::Parquet {
            file: source.name(),
            detail: format!("the file is corrupt (the Parquet reader failed: {reason})"),
        })
    })
}

/// The rows of each row group of a Parquet file (from its footer), or `None` for another file:
/// what an engine needs to read one file as several parts
/// ([`IngestOptions::row_groups`]).
///
/// # Errors
///
/// An unreadable file or footer.
pub fn parquet_row_groups(path: &std::path::Path) -> Result<Option<Vec<u64>>, IngestError> {
    let source = Source::Path(path.to_path_buf());
    let is_parquet = source.is_parquet().map_err(|e| IngestError::Io {
        file: source.name(),
        source: e,
    })?;
    if !is_parquet {
        return Ok(None);
    }
    quiet_upstream_panics();
    READING_PARQUET.fetch_add(1, Ordering::SeqCst);
    let read = std::panic::catch_unwind(|| parquet::row_group_rows(path));
    READING_PARQUET.fetch_sub(1, Ordering::SeqCst);
    read.unwrap_or_else(|_| {
        Err(IngestError::Parquet {
            file: source.name(),
            detail: "the file is corrupt (the Parquet reader failed on its footer)".into(),
        })
    })
    .map(Some)
}
