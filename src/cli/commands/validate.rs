//! `micromarket validate`: check every input and report every problem; write nothing.

use super::inputs::{InputArgs, checked};
use crate::cli::{ExitStatus, Global};
use anyhow::Result;
use micromarket::{GivenParams, InputCheck, check_inputs};

/// Run the checks analyze runs on consumers, boundaries and segments, print every problem (every
/// invalid feature and segment, each rejected row with its line), and write nothing. Exit 0 when
/// analyze would run (rejected rows within --max-reject-ratio), 2 otherwise.
///
/// Example:
///   micromarket validate --consumers consumers.csv --regions regions.geojson \
///     --cities cities.geojson --segments segments.toml
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(flatten)]
    inputs: InputArgs,
    /// Share of rejected consumer rows above which analyze would fail, as for analyze.
    #[arg(long, default_value_t = 0.01, value_name = "RATIO")]
    max_reject_ratio: f64,
}

/// Runs the command.
pub fn run(args: &Args, global: &Global) -> Result<ExitStatus> {
    let (mut config, note) = args.inputs.config("unused".into())?;
    config.params = checked(GivenParams {
        max_reject_ratio: Some(args.max_reject_ratio),
        ..GivenParams::default()
    })?;
    if let Some(note) = note {
        global.note(&note);
    }
    let InputCheck {
        problems,
        warnings,
        rejects,
        rows,
    } = check_inputs(&config);
    if global.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "valid": problems.is_empty(),
                "problems": problems,
                "warnings": warnings,
                "rejects": rejects,
                "rows": rows,
            }))?
        );
    } else {
        if !global.quiet {
            for r in &rejects {
                println!("rejected: {r}");
            }
        }
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
                if problems.is_empty() && !rejects.is_empty() {
                    format!(
                        "valid: {} rows rejected, within the --max-reject-ratio {} that analyze allows",
                        rejects.len(),
                        args.max_reject_ratio
                    )
                } else if problems.is_empty() {
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
