//! Checking inputs without running: every problem of every input, for `validate`.

use super::config::{AnalyzeConfig, TextInput};
use crate::boundary::Boundaries;
use crate::consumer::{IngestOptions, RowCounts, ingest};
use crate::segment::{self, SegmentsFile};

/// Every problem found in a run's inputs, its warnings, and the consumer rows as read.
#[derive(Debug, Clone, Default)]
pub struct InputCheck {
    /// Problems, each naming its file (and line or feature); empty when the inputs are valid.
    pub problems: Vec<String>,
    /// Non-fatal findings (self-intersecting boundaries, empty segments...).
    pub warnings: Vec<String>,
    /// Consumer rows, when the consumers file could be read.
    pub rows: Option<RowCounts>,
}

/// Checks boundaries, segments and consumers of `config`, going on past each problem so that all
/// are reported: regions and cities separately, every rejected consumer row with its line, and
/// the filters against the consumers' columns.
pub fn check_inputs(config: &AnalyzeConfig) -> InputCheck {
    let mut check = InputCheck::default();
    let regions = config.regions.as_ref().map(TextInput::as_boundary);
    let cities = config.cities.as_ref().map(TextInput::as_boundary);
    // Regions first, alone, so a problem in them does not hide the cities'.
    match Boundaries::load(regions, None, &config.boundary)
        .and_then(|_| Boundaries::load(regions, cities, &config.boundary))
    {
        Ok(b) => check.warnings.extend(b.warnings),
        Err(e) => check.problems.push(e.to_string()),
    }
    let segments = &config.segments;
    let segments_file = SegmentsFile::parse(&segments.name, &segments.text)
        .map_err(|e| check.problems.push(e.to_string()))
        .ok();
    let options = IngestOptions {
        columns: config.columns.clone(),
        schema: segments_file
            .as_ref()
            .map(|f| f.schema.clone())
            .unwrap_or_default(),
        ..IngestOptions::default()
    };
    match ingest(&config.consumers, &options) {
        Ok(ingested) => {
            let file = config.consumers.name();
            check.problems.extend(
                ingested
                    .rejects
                    .iter()
                    .map(|r| format!("{file}: line {}: {}: {}", r.line, r.reason.code(), r.detail)),
            );
            if let Some(f) = &segments_file {
                match segment::compile(&segments.name, f, &ingested.table) {
                    Ok((_, w)) => check.warnings.extend(w),
                    Err(e) => check.problems.push(e.to_string()),
                }
            }
            check.rows = Some(ingested.rows);
        }
        Err(e) => check.problems.push(e.to_string()),
    }
    check
}
