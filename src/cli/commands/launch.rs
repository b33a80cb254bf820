//! `micromarket launch`: every city of a launch plan, unattended, in parallel, resumable.

use super::inputs::{OutputArgs, PrivacyKeyArg};
use crate::cli::{ExitStatus, Global, Invalid};
use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use micromarket::batch::{Event, LaunchStatus, Plan, PlanStatus, RunOptions, run_plan};
use std::io::IsTerminal;
use std::path::PathBuf;

/// Run a city launch plan: consumers are read and located once, then each launch (a city, with
/// the plan's defaults and its own overrides) runs as an independent job and writes
/// OUT/<region>/<city>/ atomically. manifest.json at OUT is rewritten after every launch.
///
/// Exit codes: 0 all launches ok, 3 some failed and the rest completed, 2 invalid plan,
/// 1 nothing ran.
///
/// Example:
///   micromarket launch data/sample/launch.toml --jobs 2
///   micromarket launch data/sample/launch.toml --resume
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The plan (TOML); its paths are relative to it.
    plan: PathBuf,
    /// Output root (default: the plan's `out`, else out-launch next to the plan).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Launches run at once.
    #[arg(long, default_value_t = 2, value_name = "N")]
    jobs: usize,
    /// Skip launches whose outputs exist and match the manifest's checksums, parameters and map
    /// options.
    #[arg(long)]
    resume: bool,
    #[command(flatten)]
    key: PrivacyKeyArg,
    #[command(flatten)]
    output: OutputArgs,
}

/// Runs the command.
pub fn run(args: &Args, global: &Global) -> Result<ExitStatus> {
    let plan = Plan::load(&args.plan, args.out.clone())?;
    let total = plan.launches.len() as u64;
    let bar = (!global.quiet && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} launches {elapsed:>4} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    });
    let notify = |event: Event<'_>| match event {
        Event::Stage(stage) => {
            if let Some(bar) = &bar {
                bar.set_message(stage.to_string());
            }
        }
        Event::Done(record) => {
            if let Some(bar) = &bar {
                bar.inc(1);
                bar.set_message(record.id.clone());
            } else if !global.quiet {
                let how = match (record.status, &record.error) {
                    (LaunchStatus::Skipped, _) => "skipped: its outputs match the manifest".into(),
                    (_, Some(e)) => format!("failed in {} ms: {e}", record.duration_ms),
                    _ => format!("{} in {} ms", status(record.status), record.duration_ms),
                };
                eprintln!("launch {} {how}", record.id);
            }
        }
    };
    let result = run_plan(
        &plan,
        &RunOptions {
            jobs: args.jobs,
            resume: args.resume,
            maps: args.output.options(),
            formats: args.output.formats(),
            privacy_key: args.key.key()?,
        },
        &notify,
    );
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let manifest = result.map_err(|e| match e {
        micromarket::Error::TooManyRejects { .. } => {
            Invalid(format!("{e} (max_reject_ratio in the plan's [defaults])")).into()
        }
        other => anyhow::Error::from(other),
    })?;
    if global.json {
        println!("{}", serde_json::to_string_pretty(&manifest)?);
    } else if !global.quiet {
        println!(
            "{:<32} {:>10} {:>13} {:>17} status",
            "launch", "consumers", "micromarkets", "campaign_members"
        );
        for r in &manifest.launches {
            println!(
                "{:<32} {:>10} {:>13} {:>17} {}",
                r.id,
                r.consumers.map(|n| n.to_string()).unwrap_or_default(),
                r.micromarkets,
                r.campaign_members
                    .map(|m| m.to_string())
                    .unwrap_or_default(),
                status(r.status)
            );
        }
        let c = manifest.counts;
        println!(
            "{} ok, {} failed, {} skipped; outputs in {}/ (manifest.json lists every file)",
            c.ok,
            c.failed,
            c.skipped,
            plan.out.display()
        );
    }
    Ok(match manifest.status {
        PlanStatus::Ok | PlanStatus::Running => ExitStatus::Ok,
        PlanStatus::Failed => ExitStatus::Failure,
        PlanStatus::Partial => ExitStatus::PartialLaunch,
    })
}

fn status(s: LaunchStatus) -> &'static str {
    match s {
        LaunchStatus::Ok => "ok",
        LaunchStatus::Failed => "failed",
        LaunchStatus::Skipped => "skipped",
        LaunchStatus::Pending => "pending",
    }
}
