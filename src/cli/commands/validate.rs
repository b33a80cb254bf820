//! `micromarket validate`: check every input and report every problem; write nothing.

use super::inputs::InputArgs;
use crate::cli::{ExitStatus, Global};
use anyhow::Result;
use micromarket::{InputCheck, check_inputs};

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
    let InputCheck {
        problems,
        warnings,
        rows,
    } = check_inputs(&config);
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
