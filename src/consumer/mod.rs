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

pub use input::{ColumnNames, IngestError, IngestOptions, Ingested, MAX_RECORD_BYTES, Source};
pub use rejects::{MAX_REJECT_TEXT, MAX_VALUE_BYTES, Reject, RejectReason, RowCounts};
pub use table::{Attribute, AttributeKind, Column, ConsumerTable, MISSING};

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
            parquet::ingest(source, options)
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
    csv::ingest(source, options)
}
