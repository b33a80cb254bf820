//! `micromarket analyze`: one run over consumers, boundaries and segments.

use super::inputs::{InputArgs, OutputArgs, PrivacyArgs, checked, with_flag_hint};
use crate::cli::{EngineArgs, ExitStatus, Global, Invalid};
use anyhow::Result;
use micromarket::GivenParams;
use micromarket::export::{Manifest, ScopeRecord};
use micromarket::stats::ScopeKind;
use micromarket::{MarketHeadline, SegmentFigures};
use std::path::PathBuf;

/// Count segments per region, city and H3 cell; find Gi* hot spots and micro-markets; with
/// --budget, select campaign cells. Writes cell layers per scope (--formats; GeoJSON and GeoParquet
/// by default), summaries, a map.html per scope that opens offline in a browser, index.html at the
/// root, and a manifest.
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
    /// Micro-markets: check each one at resolutions R − 1 and R + 1 (stable_coarser,
    /// stable_finer: one micro-market there holds half its members); runs the detector twice more.
    #[arg(long)]
    stability: bool,
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
    /// Counting engine: local (this process), or, in the micromarket-datafusion binary (the
    /// workspace member), datafusion (this process, many partitions) or ballista (a cluster);
    /// --consumers may then be a folder of files or an object-storage URL (s3://, gs://, az://,
    /// https://, file://).
    #[arg(long, default_value = "local", value_name = "ENGINE")]
    engine: String,
    /// DataFusion's target partitions (default: the cores); each part (a file, or row groups of a
    /// large Parquet file) is read as one partition.
    #[arg(long, value_name = "N")]
    partitions: Option<usize>,
    /// A Parquet file of more rows than this is read as several partitions of whole row groups
    /// (DataFusion and Ballista) [default: 2097152].
    #[arg(long, value_name = "ROWS", value_parser = clap::value_parser!(u64).range(1..))]
    part_rows: Option<u64>,
    /// A running Ballista scheduler (df://HOST:PORT) whose executors were started with
    /// `micromarket-datafusion executor`; without it, --engine ballista starts a cluster in this
    /// process.
    #[arg(long, value_name = "URL")]
    scheduler: Option<String>,
    /// Executors of the cluster --engine ballista starts in this process [default: 2].
    #[arg(long, value_name = "N", conflicts_with = "scheduler")]
    executors: Option<usize>,
    /// Memory the counting plan's operators may hold in this process (DataFusion, or the
    /// Ballista cluster started here), in bytes or with a unit (512M, 4G); beyond it the
    /// groups of the id pass and of the counts spill to disk [default: no limit].
    #[arg(long, value_name = "BYTES", value_parser = crate::cli::parse_bytes, conflicts_with = "scheduler")]
    memory_limit: Option<usize>,
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
    let (mut config, note) =
        args.inputs
            .config_with(args.out.clone(), false, args.engine != "local")?;
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
    config.stability = args.stability;
    config.maps = args.output.options();
    config.formats = args.output.formats();
    if let Some(note) = note {
        global.note(&note);
    }
    let engine = match args.engine.as_str() {
        "local" => None,
        name => Some(global.engines.iter().find(|e| e.name == name).ok_or_else(|| {
            Invalid(format!(
                "--engine {name} is not in this binary, which counts with: local{}{}",
                global
                    .engines
                    .iter()
                    .flat_map(|e| [", ", e.name])
                    .collect::<String>(),
                if name == "datafusion" || name == "ballista" {
                    " (build the DataFusion engine with `cargo build --release -p micromarket-datafusion` and run target/release/micromarket-datafusion)"
                } else {
                    ""
                }
            ))
        })?),
    };
    if engine.is_some() && args.stability {
        return Err(Invalid(format!(
            "--stability needs each consumer's position, which only --engine local keeps (not --engine {})",
            args.engine
        ))
        .into());
    }
    if engine.is_none()
        && (args.partitions.is_some() || args.part_rows.is_some() || args.memory_limit.is_some())
    {
        return Err(Invalid(
            "--partitions, --part-rows and --memory-limit are for --engine datafusion or ballista"
                .into(),
        )
        .into());
    }
    if args.engine != "ballista" && (args.scheduler.is_some() || args.executors.is_some()) {
        return Err(Invalid("--scheduler and --executors are for --engine ballista".into()).into());
    }
    let engine_args = EngineArgs {
        partitions: args.partitions,
        part_rows: args.part_rows,
        scheduler: args.scheduler.clone(),
        executors: args.executors,
        memory_limit: args.memory_limit,
    };
    let manifest = global
        .with_progress(|progress| match engine {
            Some(engine) => (engine.run)(&config, &engine_args, progress),
            None => micromarket::analyze(&config, progress),
        })
        .map_err(with_flag_hint)?;
    report(&manifest, &args.out, global)?;
    Ok(ExitStatus::Ok)
}

/// Scopes shown in the closing list of micro-markets; the rest are in index.html.
const SHOWN_SCOPES: usize = 20;

fn report(manifest: &Manifest, out: &std::path::Path, global: &Global) -> Result<()> {
    if global.json {
        let summary = serde_json::json!({
            "status": manifest.status,
            "out": out.display().to_string(),
            "index": manifest.outputs.iter().any(|o| o.path == "index.html")
                .then(|| out.join("index.html").display().to_string()),
            "rows": manifest.rows,
            "segments": manifest.parameters.segments.len(),
            "scopes": manifest.scopes.iter().map(|s| serde_json::json!({
                "kind": s.kind, "id": s.id, "name": s.name, "consumers": s.consumers,
                "cells": s.cells, "outputs": s.outputs.iter().map(|o| &o.path).collect::<Vec<_>>(),
                "best_micromarket": best_of(s).map(|(_, m)| m),
            })).collect::<Vec<_>>(),
            "suppressed": manifest.suppressed,
            "warnings": manifest.warnings,
            "timings_ms": manifest.timings_ms,
        });
        println!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(());
    }
    if !global.quiet {
        print_scopes(manifest);
        print_answers(manifest);
        let index = out.join("index.html");
        if manifest.outputs.iter().any(|o| o.path == "index.html") {
            println!(
                "Start from {}: every scope and segment, strongest micro-markets first, each linking to its map.",
                index.display()
            );
        }
        println!(
            "Outputs in {}/ ({} segments; manifest.json lists every file).",
            out.display(),
            manifest.parameters.segments.len()
        );
        if global.verbose {
            for (stage, ms) in &manifest.timings_ms {
                eprintln!("time {stage}: {ms} ms");
            }
        }
    }
    // Warnings come last, where they are seen, even with -q.
    for warning in &manifest.warnings {
        eprintln!("warning: {warning}");
    }
    Ok(())
}

/// A scope's name as shown: `region / city` for a city.
fn scope_name(s: &ScopeRecord) -> String {
    if s.region.is_empty() || s.kind != ScopeKind::City {
        s.name.clone()
    } else {
        format!("{} / {}", s.region, s.name)
    }
}

/// The scope's strongest micro-market over its segments (most expected excess members).
fn best_of(s: &ScopeRecord) -> Option<(&SegmentFigures, &MarketHeadline)> {
    s.segments
        .iter()
        .filter_map(|f| f.best_micromarket.as_ref().map(|m| (f, m)))
        .max_by(|a, b| a.1.excess_members.total_cmp(&b.1.excess_members))
}

fn print_scopes(manifest: &Manifest) {
    let rows = &manifest.rows;
    println!(
        "rows: {} read, {} accepted, {} rejected",
        rows.read, rows.accepted, rows.rejected
    );
    println!(
        "{:<8} {:<28} {:>10} {:>8} {:>8}",
        "scope", "name", "consumers", "cells", "shown"
    );
    for s in &manifest.scopes {
        println!(
            "{:<8} {:<28} {:>10} {:>8} {:>8}",
            s.kind.as_str(),
            scope_name(s),
            s.consumers.map(|n| n.to_string()).unwrap_or_default(),
            s.cells,
            s.cells_shown
        );
    }
    println!(
        "(cells: cells holding the scope's consumers; shown: those with at least the minimum count of {} people, in the layers and maps)",
        manifest.parameters.min_count
    );
}

/// The strongest micro-market of each scope (and its segment's campaign with a budget).
fn print_answers(manifest: &Manifest) {
    let budget = manifest.parameters.budget;
    let found: Vec<_> = manifest
        .scopes
        .iter()
        .filter_map(|s| best_of(s).map(|b| (s, b)))
        .collect();
    if found.is_empty() {
        println!("No micro-market: no segment is significantly concentrated in any scope.");
        return;
    }
    println!(
        "\nStrongest micro-market per scope ({} of {} scopes have one; all are in each scope's micromarkets.geojson):",
        found.len(),
        manifest.scopes.len()
    );
    let campaign_head = if budget.is_some() {
        "  campaign: members / population, lift"
    } else {
        ""
    };
    println!(
        "{:<28} {:<26} {:>8} {:>22}{campaign_head}",
        "scope", "segment", "members", "lift (95% interval)"
    );
    for (s, (segment, m)) in found.iter().take(SHOWN_SCOPES) {
        let lift = match (m.lift, m.lift_interval) {
            (Some(l), Some((lo, hi))) => format!("{l:.2} ({lo:.2}-{hi:.2})"),
            _ => "hidden".into(),
        };
        let campaign = match (budget, segment.campaign_members) {
            (Some(_), Some(k)) => format!(
                "  {k} / {}, {}",
                segment.campaign_population.unwrap_or_default(),
                segment
                    .campaign_lift
                    .map_or_else(|| "-".into(), |l| format!("{l:.2}"))
            ),
            (Some(_), None) => "  hidden (below the minimum count)".into(),
            _ => String::new(),
        };
        println!(
            "{:<28} {:<26} {:>8} {:>22}{campaign}\n  {}",
            scope_name(s),
            segment.segment,
            m.members,
            lift,
            m.id
        );
    }
    if found.len() > SHOWN_SCOPES {
        println!(
            "... and {} more scopes with micro-markets (index.html lists them all)",
            found.len() - SHOWN_SCOPES
        );
    }
}
