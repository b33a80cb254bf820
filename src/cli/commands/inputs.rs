//! Input options shared by `analyze` and `validate`, and the bundled sample fallback.

use crate::cli::Invalid;
use anyhow::{Context, Result, bail};
use micromarket::boundary::BoundaryOptions;
use micromarket::consumer::{ColumnNames, Source};
use micromarket::disclosure::PrivacyMethod;
use micromarket::export::{Format, Formats};
use micromarket::perturb::{MIN_SECRET_BYTES, PrivacyKey};
use micromarket::synth::{SynthOptions, World};
use micromarket::{AnalysisParams, AnalyzeConfig, GivenParams, TextInput};
use std::path::{Path, PathBuf};

/// Where the bundled sample lives, relative to the working directory.
pub const SAMPLE_DIR: &str = "data/sample";

/// Input files and how to read them.
#[derive(Debug, clap::Args)]
pub struct InputArgs {
    /// Consumers: CSV, gzip-compressed CSV or Parquet (detected by content). Without it, the
    /// bundled sample in data/sample/ is used.
    #[arg(long, value_name = "FILE")]
    pub consumers: Option<PathBuf>,
    /// Regions GeoJSON FeatureCollection (Polygon/MultiPolygon).
    #[arg(long, value_name = "FILE")]
    pub regions: Option<PathBuf>,
    /// Cities GeoJSON FeatureCollection (Polygon/MultiPolygon).
    #[arg(long, value_name = "FILE")]
    pub cities: Option<PathBuf>,
    /// Segments TOML file ([[segment]] name + filter, optional [grid] and [schema]).
    #[arg(long, value_name = "FILE")]
    pub segments: Option<PathBuf>,
    /// Consumer id column (default: id, consumer_id or customer_id).
    #[arg(long, value_name = "NAME")]
    pub id_col: Option<String>,
    /// Latitude column (default: lat, latitude or y).
    #[arg(long, value_name = "NAME")]
    pub lat_col: Option<String>,
    /// Longitude column (default: lon, lng, long, longitude or x).
    #[arg(long, value_name = "NAME")]
    pub lon_col: Option<String>,
    /// Boundary property holding the name.
    #[arg(long, default_value = "name", value_name = "PROP")]
    pub name_prop: String,
    /// Boundary property holding the identifier (the feature id is used when it is absent).
    #[arg(long, default_value = "id", value_name = "PROP")]
    pub id_prop: String,
    /// City property naming its region (by id or name); else the region containing the city.
    #[arg(long, default_value = "region", value_name = "PROP")]
    pub region_prop: String,
}

/// How published counts are protected.
#[derive(Debug, clap::Args)]
pub struct PrivacyArgs {
    /// perturb: cell-key perturbation, then the minimum count on perturbed values, every
    /// figure derived from the protected counts (safe to share); suppress: the minimum count
    /// alone (unsafe: hidden counts can be recovered by combining outputs); none: exact counts,
    /// nothing hidden (internal use, checks against other tools).
    #[arg(long, value_enum, default_value_t = Method::Perturb, value_name = "METHOD")]
    privacy: Method,
    #[command(flatten)]
    key: PrivacyKeyArg,
    /// Where rejected consumer rows (raw ids, coordinates, attributes) are written: outside the
    /// output folder, which is what gets shared. Default: beside it, OUT.rejects.csv.
    #[arg(long, value_name = "FILE")]
    rejects: Option<PathBuf>,
}

/// The secret of the perturbation's record keys.
#[derive(Debug, clap::Args)]
pub struct PrivacyKeyArg {
    /// Secret file (at least 16 bytes, e.g. `head -c 32 /dev/urandom > key`) the perturbation's
    /// record keys are derived from; keep it out of shared folders. Without it the keys are
    /// derived from the consumer ids, which anyone holding them can redo (a warning says so).
    #[arg(long, value_name = "FILE")]
    privacy_key: Option<PathBuf>,
}

/// A privacy method on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Method {
    Perturb,
    Suppress,
    None,
}

impl PrivacyArgs {
    /// Sets the method, key and rejects path of `config`.
    pub fn apply(&self, config: &mut AnalyzeConfig) -> Result<()> {
        config.privacy_key = self.key()?;
        if let Some(path) = &self.rejects {
            let inside = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
            if inside(path).starts_with(inside(&config.out)) {
                bail!(Invalid(format!(
                    "--rejects {} is inside the output folder {}: rejected rows are raw consumer data and must stay out of what gets shared; name a file elsewhere",
                    path.display(),
                    config.out.display()
                )));
            }
            config.rejects = Some(path.clone());
        }
        Ok(())
    }

    /// The method chosen.
    pub fn method(&self) -> PrivacyMethod {
        match self.privacy {
            Method::Perturb => PrivacyMethod::Perturb,
            Method::Suppress => PrivacyMethod::Suppress,
            Method::None => PrivacyMethod::None,
        }
    }

    /// The secret key, read from its file.
    pub fn key(&self) -> Result<Option<PrivacyKey>> {
        self.key.key()
    }
}

impl PrivacyKeyArg {
    /// The secret key, read from its file.
    pub fn key(&self) -> Result<Option<PrivacyKey>> {
        let Some(path) = &self.privacy_key else {
            return Ok(None);
        };
        let secret = std::fs::read(path)
            .map_err(|e| Invalid(format!("cannot read {}: {e}", path.display())))?;
        PrivacyKey::from_secret(&secret).map(Some).ok_or_else(|| {
            Invalid(format!(
                "{} holds {} bytes; a privacy key needs at least {MIN_SECRET_BYTES} (e.g. head -c 32 /dev/urandom > {})",
                path.display(),
                secret.len(),
                path.display()
            ))
            .into()
        })
    }
}

/// The analysis parameters of `given`, or the range error naming the command-line flag.
pub fn checked(given: GivenParams) -> Result<AnalysisParams> {
    AnalysisParams::new(given).map_err(|e| {
        Invalid(format!(
            "--{} {} is outside {}",
            e.name.replace('_', "-"),
            e.value,
            e.allowed
        ))
        .into()
    })
}

/// `error`, with the flag that fixes it where one does (the library's messages name no flag).
pub fn with_flag_hint(error: micromarket::Error) -> anyhow::Error {
    use micromarket::Error;
    use micromarket::boundary::BoundaryError;
    use micromarket::consumer::IngestError;
    let role = match &error {
        Error::Ingest(IngestError::MissingColumn { role, .. }) => Some(*role),
        Error::PartUnreadable {
            missing_column: Some(role),
            ..
        } => Some(role.as_str()),
        _ => None,
    };
    let flag = match (role, &error) {
        (Some("id"), _) => "--id-col",
        (Some("latitude"), _) => "--lat-col",
        (Some(_), _) => "--lon-col",
        (None, Error::Boundary(BoundaryError::DuplicateIdentity { .. })) => "--id-prop",
        (None, Error::Boundary(BoundaryError::MissingName { .. })) => "--name-prop",
        (None, Error::TooManyRejects { .. }) => "--max-reject-ratio",
        (
            None,
            Error::NoneInside {
                swapped: Some(_), ..
            },
        ) => "--lat-col and --lon-col to name them",
        _ => return error.into(),
    };
    Invalid(format!("{error} (use {flag})")).into()
}

fn read_text(path: &Path) -> Result<TextInput> {
    TextInput::read(path)
        .map_err(|e| Invalid(format!("cannot read {}: {e}", path.display())).into())
}

impl InputArgs {
    /// Builds a run configuration; with no `--consumers`, the bundled sample (or, outside the
    /// repository, the same sample generated in memory). Returns a note to show the user.
    pub fn config(&self, out: PathBuf) -> Result<(AnalyzeConfig, Option<String>)> {
        self.config_with(out, false, false)
    }

    /// [`InputArgs::config`]; with `segments_optional`, a run without `--segments` counts every
    /// consumer as one segment named `consumers`; with `folder_ok`, `--consumers` may name a
    /// folder of files (for an engine that reads them).
    pub fn config_with(
        &self,
        out: PathBuf,
        segments_optional: bool,
        folder_ok: bool,
    ) -> Result<(AnalyzeConfig, Option<String>)> {
        let (mut config, note) = if let Some(consumers) = &self.consumers {
            let segments = match &self.segments {
                Some(path) => read_text(path)?,
                None if segments_optional => TextInput {
                    name: "(no --segments: every consumer)".into(),
                    text: "[[segment]]\nname = \"consumers\"\nfilter = \"TRUE\"\n".into(),
                },
                None => bail!(Invalid(
                    "--segments is required with --consumers (a TOML file of [[segment]] name + filter)".into()
                )),
            };
            // An object-storage URL (s3://, gs://, ...) is the engines' to read.
            let url = consumers.to_str().is_some_and(|s| s.contains("://"));
            if url && !folder_ok {
                bail!(Invalid(format!(
                    "--consumers {} is a URL: analyze --engine datafusion or ballista, in the micromarket-datafusion binary, reads object storage",
                    consumers.display()
                )));
            }
            if consumers.is_dir() && !folder_ok {
                bail!(Invalid(format!(
                    "--consumers {} is a folder: this command reads one file (analyze --engine datafusion, in the micromarket-datafusion binary, reads a folder of files)",
                    consumers.display()
                )));
            }
            if !url && !consumers.is_file() && !consumers.is_dir() {
                bail!(Invalid(format!(
                    "cannot read {}: no such file",
                    consumers.display()
                )));
            }
            let mut config = AnalyzeConfig::new(Source::Path(consumers.clone()), segments, out);
            config.regions = self.regions.as_deref().map(read_text).transpose()?;
            config.cities = self.cities.as_deref().map(read_text).transpose()?;
            (config, None)
        } else {
            if self.regions.is_some() || self.cities.is_some() || self.segments.is_some() {
                bail!(Invalid(
                    "--consumers is required when --regions, --cities or --segments is given"
                        .into()
                ));
            }
            sample(out)?
        };
        config.columns = ColumnNames {
            id: self.id_col.clone(),
            lat: self.lat_col.clone(),
            lng: self.lon_col.clone(),
        };
        config.boundary = BoundaryOptions {
            name_prop: self.name_prop.clone(),
            id_prop: self.id_prop.clone(),
            region_prop: self.region_prop.clone(),
        };
        Ok((config, note))
    }
}

fn sample(out: PathBuf) -> Result<(AnalyzeConfig, Option<String>)> {
    let dir = Path::new(SAMPLE_DIR);
    if dir.join("consumers.csv").exists() {
        let mut config = AnalyzeConfig::new(
            Source::Path(dir.join("consumers.csv")),
            read_text(&dir.join("segments.toml"))?,
            out,
        );
        config.regions = Some(read_text(&dir.join("regions.geojson"))?);
        config.cities = Some(read_text(&dir.join("cities.geojson"))?);
        return Ok((
            config,
            Some(format!("using the bundled sample in {SAMPLE_DIR}/")),
        ));
    }
    let options = SynthOptions::default();
    let world = World::new(options);
    let mut csv = Vec::new();
    world
        .write_consumers(&mut csv)
        .context("cannot generate the sample")?;
    let generated = |name: &str, text: String| TextInput {
        name: format!("(generated) {name}"),
        text,
    };
    let mut config = AnalyzeConfig::new(
        Source::Bytes {
            name: "(generated) consumers.csv".into(),
            data: csv.into(),
        },
        generated("segments.toml", World::segments_toml()),
        out,
    );
    config.regions = Some(generated("regions.geojson", world.regions_geojson()));
    config.cities = Some(generated("cities.geojson", world.cities_geojson()));
    Ok((
        config,
        Some(format!(
            "no {SAMPLE_DIR}/ here: generated the sample in memory (synth --seed {} --consumers {})",
            options.seed, options.consumers
        )),
    ))
}

/// The stores of the bundled sample (generated in memory outside the repository).
pub fn sample_stores() -> Source {
    let path = Path::new(SAMPLE_DIR).join("stores.csv");
    if path.exists() {
        return Source::Path(path);
    }
    Source::Bytes {
        name: "(generated) stores.csv".into(),
        data: World::new(SynthOptions::default())
            .stores_csv()
            .into_bytes()
            .into(),
    }
}

/// Output options shared by `analyze` and `launch`: the cell layers and the maps.
#[derive(Debug, clap::Args)]
pub struct OutputArgs {
    /// Cell layers to write, comma-separated: geojson (lean: per segment count, penetration,
    /// lift, micro-market flag), geojsonseq (the same as RFC 8142 cells.geojsons), parquet
    /// (GeoParquet 1.1 with every figure; also micromarkets.parquet and campaign.parquet),
    /// csv (a row per cell and segment with every figure), fgb (FlatGeobuf with its spatial
    /// index and every figure, for QGIS/GDAL without Parquet).
    #[arg(
        long,
        value_delimiter = ',',
        value_parser = str::parse::<Format>,
        default_value = "geojson,parquet",
        value_name = "LIST"
    )]
    formats: Vec<Format>,
    /// Skip map.html per scope (and index.html at the root).
    #[arg(long, conflicts_with = "basemap")]
    no_maps: bool,
    /// Tile-server URL template for a base map under the maps, e.g.
    /// https://tile.example.org/{z}/{x}/{y}.png (the maps then need that server; without it
    /// they open offline).
    #[arg(long, value_name = "URL")]
    basemap: Option<String>,
}

impl OutputArgs {
    /// The cell layer formats.
    pub fn formats(&self) -> Formats {
        Formats::of(&self.formats)
    }

    /// The maps to write, if any.
    pub fn options(&self) -> Option<micromarket::export::MapOptions> {
        (!self.no_maps).then(|| micromarket::export::MapOptions {
            basemap: self.basemap.clone(),
        })
    }
}
