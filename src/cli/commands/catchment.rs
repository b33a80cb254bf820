//! `micromarket catchment`: consumers and segments around each store.

use super::inputs::{InputArgs, PrivacyArgs, checked, sample_stores, with_flag_hint};
use crate::cli::{ExitStatus, Global, Invalid};
use anyhow::Result;
use micromarket::GivenParams;
use micromarket::catchment::CatchmentMode;
use micromarket::consumer::Source;
use std::path::PathBuf;

/// Count consumers and segment members within a radius of each store (--radius-km) or nearest to
/// it (--nearest), with penetration and lift against the store's city (else region, else all).
/// Without --segments, every consumer counts as one segment named `consumers`.
///
/// Writes catchments.geojson (each catchment's H3 cells dissolved), stores.geojson,
/// catchments.csv, overlap.csv (radius mode), store_rejects.csv and a manifest; rejected
/// consumer rows go beside the folder (--rejects). With no input options it runs on the bundled
/// sample and its stores.
///
/// Example:
///   micromarket catchment --radius-km 2 --out out-catchment
///   micromarket catchment --consumers consumers.csv --segments segments.toml \
///     --stores stores.csv --nearest --max-km 10
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
#[command(group(clap::ArgGroup::new("mode").required(true).args(["radius_km", "nearest"])))]
pub struct Args {
    #[command(flatten)]
    inputs: InputArgs,
    /// Stores CSV: id, name, lat, lon (bad rows are rejected as for consumers).
    #[arg(long, value_name = "FILE")]
    stores: Option<PathBuf>,
    /// Every consumer within this great-circle distance of a store (catchments may overlap).
    #[arg(long, value_name = "KM")]
    radius_km: Option<f64>,
    /// Each consumer to its nearest store.
    #[arg(long)]
    nearest: bool,
    /// With --nearest: leave out consumers farther than this from every store.
    #[arg(long, value_name = "KM", requires = "nearest")]
    max_km: Option<f64>,
    /// Output folder.
    #[arg(long, default_value = "out-catchment", value_name = "DIR")]
    out: PathBuf,
    /// H3 resolution of the catchment shapes (5 to 12).
    #[arg(long, default_value_t = 8, value_name = "R")]
    resolution: u8,
    /// Minimum count k for everything exported.
    #[arg(long, default_value_t = 10, value_name = "K")]
    min_count: u32,
    #[command(flatten)]
    privacy: PrivacyArgs,
}

fn distance(value: Option<f64>, flag: &str) -> Result<Option<f64>> {
    match value {
        Some(km) if !(km.is_finite() && km >= 0.0) => {
            Err(Invalid(format!("--{flag} {km} must be a distance in km, 0 or more")).into())
        }
        other => Ok(other),
    }
}

/// Runs the command.
pub fn run(args: &Args, global: &Global) -> Result<ExitStatus> {
    let (mut config, note) = args.inputs.config_with(args.out.clone(), true, false)?;
    let stores = match (&args.stores, &args.inputs.consumers) {
        (Some(path), _) if !path.is_file() => {
            return Err(Invalid(format!("cannot read {}: no such file", path.display())).into());
        }
        (Some(path), _) => Source::Path(path.clone()),
        (None, None) => sample_stores(),
        (None, Some(_)) => {
            return Err(Invalid("--stores is required with --consumers".into()).into());
        }
    };
    let mode = match distance(args.radius_km, "radius-km")? {
        Some(radius_km) => CatchmentMode::Radius { radius_km },
        None => CatchmentMode::Nearest {
            max_km: distance(args.max_km, "max-km")?,
        },
    };
    config.params = checked(GivenParams {
        resolution: Some(args.resolution),
        min_count: Some(args.min_count),
        privacy: Some(args.privacy.method()),
        ..GivenParams::default()
    })?;
    args.privacy.apply(&mut config)?;
    if let Some(note) = note {
        global.note(&note);
    }
    let manifest = global
        .with_progress(|progress| {
            micromarket::catchment::run_catchments(&config, &stores, mode, progress)
        })
        .map_err(with_flag_hint)?;
    if global.json {
        println!("{}", serde_json::to_string_pretty(&manifest)?);
    } else if !global.quiet {
        println!(
            "consumers: {} read, {} accepted; stores: {} read, {} accepted; {} consumers in a catchment",
            manifest.rows.read,
            manifest.rows.accepted,
            manifest.store_rows.read,
            manifest.store_rows.accepted,
            manifest.assigned.map_or_else(
                || "fewer than the minimum count of".into(),
                |n| n.to_string()
            )
        );
        println!(
            "outputs in {}/ (manifest.json lists every file)",
            args.out.display()
        );
    }
    Ok(ExitStatus::Ok)
}
