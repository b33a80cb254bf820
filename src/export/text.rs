//! How published figures are written as text: statistics rounded, nulls as empty fields.

use crate::stats::round6;
use std::fmt::{Display, Write};

/// Rounds a statistic for output; statistics are written with 6 decimals.
pub(crate) fn stat(x: Option<f64>) -> Option<f64> {
    x.map(round6)
}

/// A figure as a CSV field: empty when null.
pub(crate) fn opt_text<T: Display>(value: Option<T>) -> String {
    let mut text = String::new();
    write_opt_text(&mut text, value);
    text
}

/// Replaces `text` with a figure as a CSV field ([`opt_text`] without allocating).
pub(crate) fn write_opt_text<T: Display>(text: &mut String, value: Option<T>) {
    text.clear();
    if let Some(value) = value {
        // Writing to a String cannot fail.
        let _ = write!(text, "{value}");
    }
}

/// A name as a JSON value: null when empty.
pub(crate) fn json_text(text: &str) -> Option<&str> {
    (!text.is_empty()).then_some(text)
}
