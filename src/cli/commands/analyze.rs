//! `micromarket analyze`: one run over consumers, boundaries and segments.

use super::inputs::{InputArgs, OutputArgs, PrivacyArgs, checked, with_flag_hint};
use crate::cli::{ExitStatus, Global};
use anyhow::Result;
use micromarket::GivenParams;
use micromarket::export::Manifest;
use std::path::PathBuf;

/// Count segments per region, city and H3 cell; find Gi* hot spots and micro-markets; with
/// --budget, select campaign cells. Writes GeoJSON and CSV per scope, a map.html per scope that
/// opens offline in a browser, index.html at the root, and a manifest.
///
/// With no input options it runs on the bundled sample in data/sample/.
///
/// Example:
///   micromarket analyze --consumers consumers.csv --regions regions.geojson \
///     --cities cities.geojson --segments segments.toml --out out/ --budget 5000
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(flatten)]
    inputs: InputArgs,
    /// Output folder.
    #[arg(long, default_value = "out", value_name = "DIR")]
    out: PathBuf,
    /// H3 resolution of the analysis (5 to 12; 8 is about 0.74 km² per cell).
    #[arg(long, default_value_t = 8, value_name = "R")]
    resolution: u8,
    /// Minimum count k: smaller cells are left out and smaller counts written as null.
    #[arg(long, default_value_t = 10, value_name = "K")]
    min_count: u32,
    /// Share of rejected consumer rows above which the run fails (exit 2).
    #[arg(long, default_value_t = 0.01, value_name = "RATIO")]
    max_reject_ratio: f64,
    /// False discovery rate of the Gi* hot-spot test (Benjamini–Hochberg over each study area).
    #[arg(long, default_value_t = 0.05, value_name = "Q")]
    fdr: f64,
    /// Gi* neighbourhood: cells within this many rings (grid_disk radius) weigh 1.
    #[arg(long, default_value_t = 1, value_name = "K")]
    neighbours: u32,
    /// Micro-markets: the lift λ0 that counts as material (a segment's share at least λ0 times
    /// the scope's).
    #[arg(long, default_value_t = 1.2, value_name = "LIFT")]
    min_lift: f64,
    /// Micro-markets: the largest window tested around each cell, in rings (0 to 6).
    #[arg(long, default_value_t = 3, value_name = "R")]
    max_rings: u32,
    /// Micro-markets: replicate worlds of the family-wise check (p_fwer); 0 skips it.
    #[arg(long, default_value_t = 0, value_name = "B")]
    permutations: u32,
    /// Campaign budget in population reached: per scope and segment, cells (or micro-markets)
    /// are chosen greedily by penetration without exceeding it; writes campaign.geojson/.csv.
    #[arg(long, value_name = "PEOPLE")]
    budget: Option<u64>,
    /// What the budget buys.
    #[arg(long, value_enum, default_value_t = Unit::Cells, requires = "budget")]
    budget_unit: Unit,
    #[command(flatten)]
    privacy: PrivacyArgs,
    #[command(flatten)]
    output: OutputArgs,
}

/// What a campaign budget buys.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Unit {
    /// Single cells.
    Cells,
    /// Whole micro-markets.
    Micromarkets,
}

/// Runs the command.
pub fn run(args: &Args, global: &Global) -> Result<ExitStatus> {
    let (mut config, note) = args.inputs.config(args.out.clone())?;
    config.params = checked(GivenParams {
        resolution: Some(args.resolution),
        min_count: Some(args.min_count),
        fdr: Some(args.fdr),
        neighbours: Some(args.neighbours),
        min_lift: Some(args.min_lift),
        max_rings: Some(args.max_rings),
        permutations: Some(args.permutations),
        budget: args.budget,
        budget_unit: Some(match args.budget_unit {
            Unit::Cells => micromarket::market::BudgetUnit::Cells,
            Unit::Micromarkets => micromarket::market::BudgetUnit::Micromarkets,
        }),
        max_reject_ratio: Some(args.max_reject_ratio),
        privacy: Some(args.privacy.method()),
    })?;
    args.privacy.apply(&mut config)?;
    config.maps = args.output.options();
    config.formats = args.output.formats();
    if let Some(note) = note {
        global.note(&note);
    }
    let manifest = global
        .with_spinner(|hook| micromarket::analyze(&config, hook))
        .map_err(with_flag_hint)?;
    report(&manifest, &args.out, global)?;
    Ok(ExitStatus::Ok)
}

fn report(manifest: &Manifest, out: &std::path::Path, global: &Global) -> Result<()> {
    if !global.quiet {
        for warning in &manifest.warnings {
            eprintln!("warning: {warning}");
        }
    }
    if global.json {
        let summary = serde_json::json!({
            "status": manifest.status,
            "out": out.display().to_string(),
            "rows": manifest.rows,
            "segments": manifest.parameters.segments.len(),
            "scopes": manifest.scopes.iter().map(|s| serde_json::json!({
                "kind": s.kind, "id": s.id, "name": s.name, "consumers": s.consumers,
                "cells": s.cells, "outputs": s.outputs.iter().map(|o| &o.path).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "suppressed": manifest.suppressed,
            "timings_ms": manifest.timings_ms,
        });
        println!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(());
    }
    if global.quiet {
        return Ok(());
    }
    let rows = &manifest.rows;
    println!(
        "rows: {} read, {} accepted, {} rejected",
        rows.read, rows.accepted, rows.rejected
    );
    println!(
        "{:<8} {:<28} {:>10} {:>8}",
        "scope", "name", "consumers", "cells"
    );
    for s in &manifest.scopes {
        let name = if s.region.is_empty() || s.kind != micromarket::stats::ScopeKind::City {
            s.name.clone()
        } else {
            format!("{} / {}", s.region, s.name)
        };
        println!(
            "{:<8} {:<28} {:>10} {:>8}",
            s.kind.as_str(),
            name,
            s.consumers.map(|n| n.to_string()).unwrap_or_default(),
            s.cells
        );
    }
    println!(
        "{} segments; outputs in {}/ (manifest.json lists every file)",
        manifest.parameters.segments.len(),
        out.display()
    );
    if global.verbose {
        for (stage, ms) in &manifest.timings_ms {
            eprintln!("time {stage}: {ms} ms");
        }
    }
    Ok(())
}
