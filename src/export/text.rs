//! How published figures are written as text: statistics rounded, nulls as empty fields.

use crate::stats::round6;

/// Rounds a statistic for output; statistics are written with 6 decimals.
pub(crate) fn stat(x: Option<f64>) -> Option<f64> {
    x.map(round6)
}

/// A figure as a CSV field: empty when null.
pub(crate) fn opt_text<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// A name as a JSON value: null when empty.
pub(crate) fn json_text(text: &str) -> Option<&str> {
    (!text.is_empty()).then_some(text)
}
