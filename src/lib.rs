//! # micromarket
//!
//! Geographic micromarketing: consumers (a location plus attributes) are located on the H3 grid
//! and in region and city boundaries, narrow segments ("female amateur road cyclists aged 25-40")
//! are counted cell by cell in every scope, and the results are exported as GeoParquet, GeoJSON,
//! CSV and FlatGeobuf layers for QGIS, kepler.gl, DuckDB or a browser.
//!
//! The data flow, one module per stage (see `docs/ARCHITECTURE.md`):
//! [`consumer`] (ingest) → [`boundary`] (load, locate) → [`segment`] (filters to bitsets) →
//! [`stats`] (counts per scope × segment × cell) → [`analyze_scope`] (hot spots, micro-markets,
//! campaigns, published figures) → [`export`] (GeoJSON, CSV, maps, manifest);
//! [`analyze()`] runs them all.
//!
//! Modules:
//! - [`analyze`](mod@analyze): one run end to end, its configuration, and input checks.
//! - [`batch`]: city launch plans, run unattended and resumably.
//! - [`boundary`]: region and city boundaries, loaded, validated and used to locate points.
//! - [`catchment`]: store catchments (radius or nearest) and their outputs.
//! - [`consumer`]: the columnar consumer table and its CSV and Parquet readers.
//! - [`disclosure`]: the protected count table and the minimum-count rule, the one place
//!   deciding every published figure.
//! - [`export`]: streamed, atomic writers and the manifest.
//! - [`index`]: H3 cell assignment and the consumer R-tree.
//! - [`market`]: micro-markets and campaigns under a budget.
//! - [`perturb`]: cell-key perturbation: record keys and the perturbation table.
//! - [`segment`]: segments files and their filters.
//! - [`stats`]: scopes, aggregation, rates, study areas and Gi*.
//! - [`synth`]: the deterministic synthetic world behind the sample.
//! - `error`, `params`, `scope` (private; their items are re-exported here): [`Error`],
//!   [`AnalysisParams`], [`analyze_scope`].
//!
//! ```
//! use micromarket::{AnalyzeConfig, TextInput, analyze};
//! use micromarket::consumer::Source;
//! use micromarket::synth::{SynthOptions, World};
//!
//! let world = World::new(SynthOptions { seed: 1, consumers: 5_000, ..Default::default() });
//! let mut csv = Vec::new();
//! world.write_consumers(&mut csv)?;
//! let out = tempfile::tempdir()?;
//! let mut config = AnalyzeConfig::new(
//!     Source::Bytes { name: "consumers.csv".into(), data: csv.into() },
//!     TextInput { name: "segments.toml".into(), text: World::segments_toml() },
//!     out.path().to_path_buf(),
//! );
//! config.regions = Some(TextInput { name: "regions.geojson".into(), text: world.regions_geojson() });
//! config.cities = Some(TextInput { name: "cities.geojson".into(), text: world.cities_geojson() });
//! let manifest = analyze(&config, &Default::default())?;
//! assert_eq!(manifest.rows.read, 5_000);
//! assert!(out.path().join("all/cells.geojson").exists());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod analyze;
pub mod batch;
pub mod boundary;
pub mod catchment;
pub mod consumer;
pub mod disclosure;
mod error;
pub mod export;
pub mod index;
pub mod market;
mod params;
pub mod perturb;
mod progress;
mod scope;
pub mod segment;
pub mod stats;
pub mod synth;

pub use analyze::{AnalyzeConfig, InputCheck, TextInput, analyze, check_inputs, prepare};
pub use error::Error;
pub use params::{AnalysisParams, GivenParams, ParamError};
pub use progress::{Progress, Snapshot};
pub use scope::{MarketHeadline, ScopeAnalysis, ScopeFigures, SegmentFigures, analyze_scope};
