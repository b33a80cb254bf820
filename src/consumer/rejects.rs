//! Rejected input rows and the row accounting (read = accepted + rejected).

use std::collections::BTreeMap;

/// Why a consumer row was rejected.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// The row has more or fewer fields than the header.
    WrongFieldCount,
    /// The id field is empty.
    MissingId,
    /// The id was already seen on an earlier row.
    DuplicateId,
    /// The latitude or longitude field is empty.
    MissingCoordinate,
    /// The latitude is not a finite number in [-90, 90].
    InvalidLatitude,
    /// The longitude is not a finite number in [-180, 180].
    InvalidLongitude,
    /// A value of an attribute declared numeric is not a number.
    InvalidAttribute,
    /// The row is not valid UTF-8.
    InvalidUtf8,
    /// The geometry (GeoParquet) is not a readable WKB point.
    InvalidGeometry,
    /// A value of a text attribute the segments read is longer than [`MAX_VALUE_BYTES`].
    ValueTooLong,
}

/// The longest value of a text attribute the segments read, in bytes: a category, not a document.
pub const MAX_VALUE_BYTES: usize = 1024;

/// The detail of a [`RejectReason::ValueTooLong`] in field `i` (0-based) of `bytes` bytes.
pub(super) fn too_long(i: usize, bytes: usize) -> String {
    format!(
        "field {} holds {bytes} bytes, more than the {MAX_VALUE_BYTES} a text value may have; segments compare categories, not documents (drop the column or shorten the value)",
        i + 1
    )
}

/// The most of a rejected row's text kept in memory and in the rejects file, in bytes.
pub const MAX_REJECT_TEXT: usize = 4096;

/// A rejected row's text: `bytes` as UTF-8 (invalid sequences replaced), cut after
/// [`MAX_REJECT_TEXT`] bytes with a note of its whole length.
pub(super) fn reject_text(bytes: &[u8]) -> String {
    if bytes.len() <= MAX_REJECT_TEXT {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    let kept = String::from_utf8_lossy(&bytes[..MAX_REJECT_TEXT]);
    format!("{kept}… (cut: {} bytes in all)", bytes.len())
}

impl RejectReason {
    /// The snake_case code written to `rejects.csv` and the manifest.
    pub fn code(self) -> &'static str {
        match self {
            RejectReason::WrongFieldCount => "wrong_field_count",
            RejectReason::MissingId => "missing_id",
            RejectReason::DuplicateId => "duplicate_id",
            RejectReason::MissingCoordinate => "missing_coordinate",
            RejectReason::InvalidLatitude => "invalid_latitude",
            RejectReason::InvalidLongitude => "invalid_longitude",
            RejectReason::InvalidAttribute => "invalid_attribute",
            RejectReason::InvalidUtf8 => "invalid_utf8",
            RejectReason::InvalidGeometry => "invalid_geometry",
            RejectReason::ValueTooLong => "value_too_long",
        }
    }
}

/// One rejected row: where it was, why, and its original text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Reject {
    /// 1-based line number of the row's first line in a CSV file (the header is line 1); in a
    /// Parquet file, the 1-based row number.
    pub line: u64,
    /// Reason code.
    pub reason: RejectReason,
    /// What was wrong, with the offending value.
    pub detail: String,
    /// The row as it appeared in the file, without its line end.
    pub text: String,
}

/// Row accounting of one ingest.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RowCounts {
    /// Data rows read (header excluded).
    pub read: u64,
    /// Rows accepted into the table.
    pub accepted: u64,
    /// Rows rejected.
    pub rejected: u64,
    /// Rejected rows per reason code.
    pub rejected_by_reason: BTreeMap<String, u64>,
}

impl RowCounts {
    /// Counts built from the accepted total and the rejects.
    pub fn new(accepted: u64, rejects: &[Reject]) -> Self {
        let mut by_reason = BTreeMap::new();
        for r in rejects {
            *by_reason.entry(r.reason.code().to_string()).or_insert(0) += 1;
        }
        let rejected = rejects.len() as u64;
        RowCounts {
            read: accepted + rejected,
            accepted,
            rejected,
            rejected_by_reason: by_reason,
        }
    }

    /// Share of read rows that were rejected (0 when nothing was read).
    pub fn reject_ratio(&self) -> f64 {
        if self.read == 0 {
            0.0
        } else {
            self.rejected as f64 / self.read as f64
        }
    }
}
