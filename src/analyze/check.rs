//! Checking inputs without running: every problem of every input, for `validate`.

use super::config::{AnalyzeConfig, TextInput};
use crate::boundary::{Boundaries, Located, Locator, NO_AREA};
use crate::consumer::{ConsumerTable, IngestOptions, RowCounts, ingest};
use crate::error::Error;
use crate::segment::{self, SegmentsFile};

/// Every problem found in a run's inputs, its warnings, and the consumer rows as read.
#[derive(Debug, Clone, Default)]
pub struct InputCheck {
    /// Problems, each naming its file (and line or feature); empty when `analyze` would run.
    pub problems: Vec<String>,
    /// Non-fatal findings (self-intersecting boundaries, empty segments...).
    pub warnings: Vec<String>,
    /// Every rejected consumer row, with its line; a problem only beyond the reject ratio.
    pub rejects: Vec<String>,
    /// Consumer rows, when the consumers file could be read.
    pub rows: Option<RowCounts>,
}

/// Runs the checks [`crate::analyze()`] runs, going on past each problem so that all are
/// reported: every invalid feature of regions and cities, every invalid segment, every rejected
/// consumer row (a problem only when they are more than `config.params.max_reject_ratio`), no
/// usable consumer, and no consumer inside any boundary.
pub fn check_inputs(config: &AnalyzeConfig) -> InputCheck {
    let mut check = InputCheck::default();
    let regions = config.regions.as_ref().map(TextInput::as_boundary);
    let cities = config.cities.as_ref().map(TextInput::as_boundary);
    let boundaries = Boundaries::load(regions, cities, &config.boundary)
        .map_err(|e| check.problems.extend(e.problems()))
        .ok();
    if let Some(b) = &boundaries {
        check.warnings.extend(b.warnings.iter().cloned());
    }
    let segments = &config.segments;
    let segments_file = SegmentsFile::parse(&segments.name, &segments.text)
        .map_err(|e| check.problems.extend(e.problems()))
        .ok();
    let options = IngestOptions {
        columns: config.columns.clone(),
        schema: segments_file
            .as_ref()
            .map(|f| f.schema.clone())
            .unwrap_or_default(),
        attributes: segments_file.as_ref().and_then(SegmentsFile::attributes),
        ..IngestOptions::default()
    };
    let ingested = match ingest(&config.consumers, &options) {
        Ok(ingested) => ingested,
        Err(e) => {
            check.problems.push(e.to_string());
            return check;
        }
    };
    let file = config.consumers.name();
    check.rejects = ingested
        .rejects
        .iter()
        .map(|r| format!("{file}: line {}: {}: {}", r.line, r.reason.code(), r.detail))
        .collect();
    if let Some(f) = &segments_file {
        match segment::compile(&segments.name, f, &ingested.table) {
            Ok((_, w)) => check.warnings.extend(w),
            Err(e) => check.problems.extend(e.problems()),
        }
    }
    let rows = &ingested.rows;
    if let Some(e) = Error::too_many_rejects(rows, config.params.max_reject_ratio) {
        check.problems.push(e.to_string());
    } else if let Some(b) = &boundaries {
        let table = &ingested.table;
        let locator = Locator::new(b, config.params.resolution);
        let located = locator.locate(&table.lat, &table.lng);
        if let Err(e) = check_placement(&file, rows, table, &located, (b, &locator)) {
            check.problems.push(e.to_string());
        }
    }
    check.rows = Some(ingested.rows);
    check
}

/// At most this many consumers are located again with swapped coordinates to suggest a swap.
const SWAP_SAMPLE: usize = 10_000;

/// Whether the consumers make a meaningful run although every input is valid: at least one was
/// accepted and, when boundaries are given, at least one lies inside one of them.
///
/// # Errors
///
/// [`Error::NoConsumers`], or [`Error::NoneInside`] with the share of a sample that the
/// boundaries would hold with latitude and longitude swapped, when that is most of it.
pub fn check_placement(
    file: &str,
    rows: &RowCounts,
    table: &ConsumerTable,
    located: &Located,
    (boundaries, locator): (&Boundaries, &Locator),
) -> Result<(), Error> {
    if rows.accepted == 0 {
        return Err(Error::NoConsumers {
            file: file.into(),
            read: rows.read,
            rejected: rows.rejected,
        });
    }
    let inside = |l: &Located, i: usize| l.region[i] != NO_AREA || l.city[i] != NO_AREA;
    let no_areas = boundaries.regions.is_empty() && boundaries.cities.is_empty();
    if no_areas || (0..located.region.len()).any(|i| inside(located, i)) {
        return Ok(());
    }
    // Swapped, the longitude becomes the latitude: only rows where it can be one are tried.
    let step = (table.len() / SWAP_SAMPLE).max(1);
    let (lat, lng): (Vec<f64>, Vec<f64>) = (0..table.len())
        .step_by(step)
        .filter(|&i| table.lng[i].abs() <= 90.0)
        .map(|i| (table.lng[i], table.lat[i]))
        .unzip();
    let swapped = locator.locate(&lat, &lng);
    let held = (0..lat.len()).filter(|&i| inside(&swapped, i)).count();
    let share = held as f64 / table.len().div_ceil(step) as f64;
    Err(Error::NoneInside {
        file: file.into(),
        accepted: rows.accepted,
        swapped: (share > 0.5).then_some(share),
    })
}
