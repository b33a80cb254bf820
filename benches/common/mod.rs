//! The synth world the export benches analyse: seed 42, 20 cities, its own segments file,
//! generated as CSV in memory, ingested, located and counted per scope.

use h3o::Resolution;
use micromarket::boundary::{Boundaries, Locator};
use micromarket::consumer::{IngestOptions, Source, ingest};
use micromarket::segment::{self, SegmentsFile};
use micromarket::stats::{self, ScopeCounts};
use micromarket::synth::{MAX_CITIES, SynthOptions, World};

/// A synth world's consumers counted per scope, cell and segment.
pub struct Counted {
    /// How many consumers.
    pub consumers: usize,
    /// The world's regions and cities.
    pub areas: Boundaries,
    /// Their locator at the bench's resolution.
    pub locator: Locator,
    /// The counts of every scope, `all` first.
    pub counts: Vec<ScopeCounts>,
    /// The segments' names, in the counts' order.
    pub names: Vec<String>,
}

/// `consumers` synth consumers (or `CONSUMERS` from the environment) counted at `resolution`.
pub fn counted(consumers: usize, resolution: Resolution) -> Counted {
    let consumers = std::env::var("CONSUMERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(consumers);
    let world = World::new(SynthOptions {
        seed: 42,
        consumers,
        cities: MAX_CITIES,
        ..SynthOptions::default()
    });
    let mut csv = Vec::new();
    world.write_consumers(&mut csv).expect("in-memory write");
    let segments_file =
        SegmentsFile::parse("segments.toml", &World::segments_toml()).expect("valid");
    let source = Source::Bytes {
        name: "consumers.csv".into(),
        data: csv.into(),
    };
    let options = IngestOptions {
        schema: segments_file.schema.clone(),
        ..IngestOptions::default()
    };
    let table = ingest(&source, &options).expect("ingest").table;
    drop(source);
    let areas = world.boundaries();
    let locator = Locator::new(&areas, resolution);
    let located = locator.locate(&table.lat, &table.lng);
    let (segments, _) = segment::compile("segments.toml", &segments_file, &table).expect("valid");
    let (keys, _) = micromarket::perturb::record_keys(None, &table.id_hashes);
    let counts = stats::aggregate(&areas, &located, &segments, &keys);
    let names = segments.iter().map(|s| s.name.clone()).collect();
    Counted {
        consumers,
        areas,
        locator,
        counts,
        names,
    }
}
