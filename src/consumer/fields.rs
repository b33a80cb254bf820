//! Field parsing shared by the CSV and Parquet readers: column spellings, numbers, coordinates.

use super::input::IngestError;
use super::rejects::RejectReason;

/// Spellings recognised for each required column, tried in order, case-insensitively.
pub(super) const ID_SPELLINGS: &[&str] = &["id", "consumer_id", "customer_id"];

pub(super) const LAT_SPELLINGS: &[&str] = &["lat", "latitude", "y"];

pub(super) const LNG_SPELLINGS: &[&str] = &["lon", "lng", "long", "longitude", "x"];

/// Numeric missing-value tokens (an empty field is missing for every kind).
pub(super) const NUMERIC_MISSING: &[&str] = &["NA", "N/A", "null", "NULL", "NaN", "nan"];

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

pub(super) fn trim(bytes: &[u8]) -> &[u8] {
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
