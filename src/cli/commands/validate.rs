//! `micromarket validate`: check every input and report every problem; write nothing.

use super::inputs::InputArgs;
use crate::cli::{ExitStatus, Global};
use anyhow::Result;
use micromarket::boundary::Boundaries;
use micromarket::consumer::{IngestOptions, ingest};
use micromarket::segment::{self, SegmentsFile};

/// Check consumers, boundaries and segments, print every problem (each bad row with its line),
/// and write nothing. Exit 0 when everything is valid, 2 otherwise.
///
/// Example:
///   micromarket validate --consumers consumers.csv --regions regions.geojson \
///     --cities cities.geojson --segments segments.toml
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(flatten)]
    inputs: InputArgs,
}

/// Runs the command.
pub fn run(args: &Args, global: &Global) -> Result<ExitStatus> {
    let (config, note) = args.inputs.config("unused".into())?;
    if let Some(note) = note {
        global.note(&note);
    }
    let mut problems: Vec<String> = Vec::new();
    let mut warnings: Vec<String> = Vec::new();
    let regions_text = config
        .regions
        .as_ref()
        .map(micromarket::TextInput::as_boundary);
    let cities_text = config
        .cities
        .as_ref()
        .map(micromarket::TextInput::as_boundary);
    // Regions and cities are checked separately so a problem in one does not hide the other's.
    if let Err(e) = Boundaries::load(regions_text, None, &config.boundary) {
        problems.push(e.to_string());
    } else {
        match Boundaries::load(regions_text, cities_text, &config.boundary) {
            Ok(b) => warnings.extend(b.warnings),
            Err(e) => problems.push(e.to_string()),
        }
    }
    let segments_file = match SegmentsFile::parse(&config.segments.name, &config.segments.text) {
        Ok(f) => Some(f),
        Err(e) => {
            problems.push(e.to_string());
            None
        }
    };
    let options = IngestOptions {
        columns: config.columns.clone(),
        schema: segments_file
            .as_ref()
            .map(|f| f.schema.clone())
            .unwrap_or_default(),
        ..IngestOptions::default()
    };
    let mut rows = None;
    match ingest(&config.consumers, &options) {
        Ok(ingested) => {
            let file = config.consumers.name();
            for r in &ingested.rejects {
                problems.push(format!(
                    "{file}: line {}: {}: {}",
                    r.line,
                    r.reason.code(),
                    r.detail
                ));
            }
            if let Some(f) = &segments_file {
                match segment::compile(&config.segments.name, f, &ingested.table) {
                    Ok((_, w)) => warnings.extend(w),
                    Err(e) => problems.push(e.to_string()),
                }
            }
            rows = Some(ingested.rows);
        }
        Err(e) => problems.push(e.to_string()),
    }
    if global.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "valid": problems.is_empty(),
                "problems": problems,
                "warnings": warnings,
                "rows": rows,
            }))?
        );
    } else {
        for p in &problems {
            println!("problem: {p}");
        }
        if !global.quiet {
            for w in &warnings {
                println!("warning: {w}");
            }
            if let Some(rows) = &rows {
                println!(
                    "rows: {} read, {} accepted, {} rejected",
                    rows.read, rows.accepted, rows.rejected
                );
            }
            println!(
                "{}",
                if problems.is_empty() {
                    "valid: no problem found".to_string()
                } else {
                    format!("invalid: {} problem(s)", problems.len())
                }
            );
        }
    }
    Ok(if problems.is_empty() {
        ExitStatus::Ok
    } else {
        ExitStatus::InvalidInput
    })
}
