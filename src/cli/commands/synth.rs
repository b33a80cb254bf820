//! `micromarket synth`: a realistic synthetic dataset of any size.

use crate::cli::{ExitStatus, Global};
use anyhow::{Context, Result};
use micromarket::export::AtomicFile;
use micromarket::synth::{BASE_CITIES, Extent, MAX_CITIES, Place, Plants, SynthOptions, World};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Write a deterministic synthetic dataset: consumers clustered around ten cities (up to twenty
/// with --cities), four regions,
/// irregular city boundaries (one with a lake, one with an island), a segments file and the
/// planted hot spots (planted.csv), and stores (stores.csv).
///
/// With --places, consumers are drawn around real populated places instead (a CSV with
/// lat, lon and population columns) and only consumers and segments.toml are written: the
/// boundaries are the user's (benches/real/fetch.sh uses it with public county and country
/// boundaries).
///
/// Examples:
///   micromarket synth --seed 42 --consumers 100000 --out synth
///   micromarket synth --consumers 200000 --extent country --out country
///   micromarket synth --consumers 200000 --places places.csv --out us
///   micromarket synth --seed 7 --plants varied --truth 8 --out eval
///   micromarket synth --seed 7 --null --out null
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Seed of every random choice; the same seed gives the same bytes.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Number of consumers.
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    consumers: usize,
    /// Output folder (created if needed).
    #[arg(long, default_value = "synth", value_name = "DIR")]
    out: PathBuf,
    /// Number of cities: the sample's ten, plus up to ten smaller ones between them.
    #[arg(long, default_value_t = BASE_CITIES, value_name = "N",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new()
              .range(BASE_CITIES as u64..=MAX_CITIES as u64))]
    cities: usize,
    /// Region size: city (four regions tiling the cities' box, as in the sample) or country
    /// (four 5° × 5° regions with long fractal coasts and borders, a lake and islands).
    #[arg(long, value_enum, default_value_t = ExtentArg::City)]
    extent: ExtentArg,
    /// Draw consumers around the places of this CSV (columns lat, lon, population) instead of
    /// the synthetic cities; writes only the consumers and segments.toml.
    #[arg(long, value_name = "FILE")]
    places: Option<PathBuf>,
    /// Planted concentrations: the sample's (strong, 0.6 km), varied in size and strength (to
    /// measure power), or null (none, and attributes independent of location).
    #[arg(long, value_enum, default_value_t = PlantsArg::Sample)]
    plants: PlantsArg,
    /// The null world: the same as --plants null.
    #[arg(long, conflicts_with = "plants")]
    null: bool,
    /// Also write truth.csv: per named segment and H3 cell of this resolution, the consumers,
    /// their true share (the membership probability the attributes were drawn with) and true
    /// lift.
    #[arg(long, value_name = "RES",
          value_parser = clap::builder::RangedU64ValueParser::<u8>::new().range(0..=15))]
    truth: Option<u8>,
    /// Consumers file format: consumers.csv or consumers.parquet (same rows and values).
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    format: Format,
}

/// Region size (see [`Extent`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ExtentArg {
    /// Four regions tiling the cities' box.
    City,
    /// Four country-sized regions with long irregular coasts, a lake and islands.
    Country,
}

/// Planted concentrations (see [`Plants`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum PlantsArg {
    /// The sample's: strong and small.
    Sample,
    /// Varied in size and strength.
    Varied,
    /// None; attributes independent of location.
    Null,
}

/// Format of the consumers file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// CSV with a header row.
    Csv,
    /// Parquet (lat/lon doubles, Snappy, row groups of 262,144 rows).
    Parquet,
}

fn write_file(
    path: &Path,
    write: impl FnOnce(&mut AtomicFile) -> std::io::Result<()>,
) -> Result<()> {
    let mut file =
        AtomicFile::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    write(&mut file).with_context(|| format!("cannot write {}", path.display()))?;
    file.commit()
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Reads a places CSV: `lat`, `lon` and `population` columns, any others ignored.
fn read_places(path: &Path) -> Result<Vec<Place>> {
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("cannot read {}", path.display()))?;
    let headers = reader.headers()?.clone();
    let column = |name: &str| {
        headers.iter().position(|h| h == name).with_context(|| {
            format!(
                "{} has no '{name}' column (expected lat, lon, population)",
                path.display()
            )
        })
    };
    let (lat, lon, population) = (column("lat")?, column("lon")?, column("population")?);
    let mut places = Vec::new();
    for (line, record) in reader.records().enumerate() {
        let record = record.with_context(|| format!("cannot read {}", path.display()))?;
        let number = |i: usize| -> Result<f64> {
            record
                .get(i)
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|v| v.is_finite())
                .with_context(|| {
                    format!(
                        "{}, line {}: not a number in column {}",
                        path.display(),
                        line + 2,
                        i + 1
                    )
                })
        };
        let place = Place {
            lat: number(lat)?,
            lng: number(lon)?,
            population: number(population)?,
        };
        if place.lat.abs() > 90.0 || place.lng.abs() > 180.0 || place.population < 0.0 {
            anyhow::bail!(
                "{}, line {}: lat, lon or population out of range",
                path.display(),
                line + 2
            );
        }
        places.push(place);
    }
    if places.iter().all(|p| p.population <= 0.0) {
        anyhow::bail!(
            "{} lists no place with a positive population",
            path.display()
        );
    }
    Ok(places)
}

/// Runs the command.
pub fn run(args: &Args, global: &Global) -> Result<ExitStatus> {
    let places = args.places.as_deref().map(read_places).transpose()?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let options = SynthOptions {
        seed: args.seed,
        consumers: args.consumers,
        cities: args.cities,
        extent: match args.extent {
            ExtentArg::City => Extent::City,
            ExtentArg::Country => Extent::Country,
        },
        plants: match (args.null, args.plants) {
            (true, _) | (_, PlantsArg::Null) => Plants::Null,
            (_, PlantsArg::Sample) => Plants::Sample,
            (_, PlantsArg::Varied) => Plants::Varied,
        },
    };
    let world = match &places {
        Some(places) => World::around_places(options, places),
        None => World::new(options),
    };
    match args.format {
        Format::Csv => write_file(&args.out.join("consumers.csv"), |f| {
            world.write_consumers(f)
        })?,
        Format::Parquet => write_file(&args.out.join("consumers.parquet"), |f| {
            world.write_consumers_parquet(f)
        })?,
    }
    write_file(&args.out.join("segments.toml"), |f| {
        f.write_all(World::segments_toml().as_bytes())
    })?;
    if let Some(places) = &places {
        if global.json {
            println!(
                "{}",
                serde_json::json!({"out": args.out.display().to_string(), "consumers": args.consumers, "seed": args.seed, "places": places.len()})
            );
            return Ok(ExitStatus::Ok);
        }
        global.note(&format!(
            "wrote {} consumers (seed {}) around {} places and segments to {}/",
            args.consumers,
            args.seed,
            places.len(),
            args.out.display()
        ));
        return Ok(ExitStatus::Ok);
    }
    write_file(&args.out.join("regions.geojson"), |f| {
        f.write_all(world.regions_geojson().as_bytes())
    })?;
    write_file(&args.out.join("cities.geojson"), |f| {
        f.write_all(world.cities_geojson().as_bytes())
    })?;
    write_file(&args.out.join("stores.csv"), |f| {
        f.write_all(world.stores_csv().as_bytes())
    })?;
    write_file(&args.out.join("planted.csv"), |f| {
        f.write_all(world.planted_csv().as_bytes())
    })?;
    if let Some(resolution) = args.truth {
        let resolution = h3o::Resolution::try_from(resolution).context("H3 resolution")?;
        write_file(&args.out.join("truth.csv"), |f| {
            f.write_all(world.truth(resolution).csv().as_bytes())
        })?;
    }
    if global.json {
        println!(
            "{}",
            serde_json::json!({"out": args.out.display().to_string(), "consumers": args.consumers, "seed": args.seed})
        );
    } else {
        global.note(&format!(
            "wrote {} consumers (seed {}) with regions, cities, segments and planted hot spots to {}/",
            args.consumers,
            args.seed,
            args.out.display()
        ));
    }
    Ok(ExitStatus::Ok)
}
