//! Criterion benches, one group per pipeline stage, on `synth` data (20 cities) of 10k, 100k and 1M
//! consumers, and locate on real-shaped boundaries (`locate_real`). Throughput is in consumers, so reports read in consumers per second.

#![allow(
    clippy::print_stderr,
    reason = "a bench says on the terminal which data it runs on"
)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use h3o::{LatLng, Resolution};
use micromarket::AnalysisParams;
use micromarket::boundary::{Boundaries, Locator};
use micromarket::consumer::{ConsumerTable, IngestOptions, Source, ingest};
use micromarket::index::ConsumerIndex;
use micromarket::segment::{self, SegmentsFile};
use micromarket::stats::{self, HotSpotOptions};
use micromarket::synth::{Extent, MAX_CITIES, SplitMix64, SynthOptions, World};
use micromarket::{export, market};
use rayon::prelude::*;
use std::hint::black_box;

/// Seed of every bench dataset.
const SEED: u64 = 42;
const SIZES: [usize; 3] = [10_000, 100_000, 1_000_000];
const QUERIES: usize = 10_000;
const STORES: usize = 500;

struct Data {
    csv: bytes::Bytes,
    parquet: bytes::Bytes,
    world: World,
}

fn data(consumers: usize) -> Data {
    let world = World::new(SynthOptions {
        seed: SEED,
        consumers,
        cities: MAX_CITIES,
        ..SynthOptions::default()
    });
    let mut csv = Vec::new();
    world.write_consumers(&mut csv).expect("in-memory write");
    let mut parquet = Vec::new();
    world
        .write_consumers_parquet(&mut parquet)
        .expect("in-memory write");
    Data {
        csv: csv.into(),
        parquet: parquet.into(),
        world,
    }
}

fn stages(c: &mut Criterion) {
    for size in SIZES {
        let dataset = data(size);
        let source = Source::Bytes {
            name: "consumers.csv".into(),
            data: dataset.csv.clone(),
        };
        let segments_file =
            SegmentsFile::parse("segments.toml", &World::segments_toml()).expect("valid");
        let options = IngestOptions {
            schema: segments_file.schema.clone(),
            ..IngestOptions::default()
        };
        let table = ingest(&source, &options).expect("ingest").table;
        let areas = dataset.world.boundaries();

        let mut g = c.benchmark_group("micromarket");
        g.throughput(Throughput::Elements(size as u64));
        g.sample_size(10);
        g.bench_with_input(BenchmarkId::new("ingest_csv", size), &size, |bench, _| {
            bench.iter(|| ingest(black_box(&source), &options).expect("ingest"));
        });
        let parquet = Source::Bytes {
            name: "consumers.parquet".into(),
            data: dataset.parquet.clone(),
        };
        g.bench_with_input(
            BenchmarkId::new("ingest_parquet", size),
            &size,
            |bench, _| {
                bench.iter(|| ingest(black_box(&parquet), &options).expect("ingest"));
            },
        );
        g.bench_with_input(BenchmarkId::new("h3_assign", size), &size, |bench, _| {
            bench.iter(|| {
                micromarket::index::assign_cells(&table.lat, &table.lng, Resolution::Eight)
            });
        });
        cell_assignment(&mut g, size, &table);
        analysis(&mut g, size, &table, &areas, &segments_file);
        spatial_index(&mut g, size, &table);
        g.finish();
    }
}

/// H3 assignment: all threads, one thread, and h3o's per-point loop, on the data and on points
/// scattered over the sphere.
fn cell_assignment(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    size: usize,
    table: &ConsumerTable,
) {
    let one_thread = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("pool");
    // The same number of points scattered over the whole sphere: hardly two share a cell,
    // so this shows what the shortcut costs where it cannot help.
    let mut rng = SplitMix64::new(SEED);
    let (scattered_lat, scattered_lng): (Vec<f64>, Vec<f64>) = (0..size)
        .map(|_| {
            (
                (2.0 * rng.unit() - 1.0).asin().to_degrees(),
                360.0 * rng.unit() - 180.0,
            )
        })
        .unzip();
    for (suffix, lat, lng) in [
        ("", &table.lat, &table.lng),
        ("_scattered", &scattered_lat, &scattered_lng),
    ] {
        g.bench_with_input(
            BenchmarkId::new(format!("h3_assign_one_thread{suffix}"), size),
            &size,
            |bench, _| {
                bench.iter(|| {
                    one_thread
                        .install(|| micromarket::index::assign_cells(lat, lng, Resolution::Eight))
                });
            },
        );
        g.bench_with_input(
            BenchmarkId::new(format!("h3o_per_point_loop{suffix}"), size),
            &size,
            |bench, _| {
                bench.iter(|| {
                    lat.iter()
                        .zip(lng)
                        .map(|(&la, &ln)| {
                            LatLng::new(la, ln)
                                .expect("finite")
                                .to_cell(Resolution::Eight)
                        })
                        .collect::<Vec<_>>()
                });
            },
        );
    }
}

/// Locate, segments, aggregation, hot spots, micro-markets and one scope's export.
fn analysis(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    size: usize,
    table: &ConsumerTable,
    areas: &Boundaries,
    segments_file: &SegmentsFile,
) {
    let locator = Locator::new(areas, Resolution::Eight);
    g.bench_with_input(BenchmarkId::new("locate", size), &size, |bench, _| {
        bench.iter(|| locator.locate(&table.lat, &table.lng));
    });
    g.bench_with_input(BenchmarkId::new("segments_31", size), &size, |bench, _| {
        bench.iter(|| segment::compile("segments.toml", segments_file, table).expect("valid"));
    });
    let located = locator.locate(&table.lat, &table.lng);
    let (segments, _) = segment::compile("segments.toml", segments_file, table).expect("valid");
    g.bench_with_input(BenchmarkId::new("record_keys", size), &size, |bench, _| {
        bench.iter(|| micromarket::perturb::record_keys(None, &table.id_hashes));
    });
    let (keys, _) = micromarket::perturb::record_keys(None, &table.id_hashes);
    g.bench_with_input(BenchmarkId::new("aggregate", size), &size, |bench, _| {
        bench.iter(|| stats::aggregate(areas, &located, &segments, &keys));
    });
    let counts = stats::aggregate(areas, &located, &segments, &keys);
    let names: Vec<String> = segments.iter().map(|s| s.name.clone()).collect();
    let options = HotSpotOptions {
        neighbours: 1,
        fdr: 0.05,
    };
    let centres = stats::CellCentres::new(&locator, &counts[0].cells, options.neighbours);
    g.bench_with_input(BenchmarkId::new("hot_spots", size), &size, |bench, _| {
        bench.iter(|| {
            let centres = stats::CellCentres::new(&locator, &counts[0].cells, options.neighbours);
            stats::hot_spots(&centres, &counts, options)
        });
    });
    // The concentration test and micro-markets of every segment over every scope.
    let detector = micromarket::AnalysisParams::default().concentration();
    g.bench_with_input(
        BenchmarkId::new("micro_markets", size),
        &size,
        |bench, _| {
            bench.iter(|| {
                counts
                    .iter()
                    .map(|c| {
                        let disks = stats::Disks::new(&c.cells, &c.population, detector.max_rings);
                        let found = market::detect(
                            c,
                            &disks,
                            &detector,
                            AnalysisParams::default().privacy(),
                        );
                        market::micro_markets(c, &found, &[], &names)
                    })
                    .collect::<Vec<_>>()
            });
        },
    );
    let params = micromarket::AnalysisParams::default();
    let analysis = micromarket::analyze_scope(&counts[0], &centres, &params, &names);
    let boundaries = micromarket::boundary::Boundaries::default();
    let out = tempfile::tempdir().expect("tempdir");
    for format in export::Format::ALL {
        let options = export::ExportOptions {
            maps: None,
            boundaries: &boundaries,
            formats: export::Formats::of(&[format]),
            places: None,
            outlines: None,
        };
        g.bench_with_input(
            BenchmarkId::new(format!("export_all_scope_{format}"), size),
            &size,
            |bench, _| {
                bench.iter(|| export::write_scope(out.path(), &analysis, &options).expect("write"));
            },
        );
    }
}

/// The consumer R-tree: bulk load, radius queries and nearest stores.
fn spatial_index(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    size: usize,
    table: &ConsumerTable,
) {
    g.bench_with_input(
        BenchmarkId::new("rtree_bulk_load", size),
        &size,
        |bench, _| {
            bench.iter(|| ConsumerIndex::new(&table.lat, &table.lng));
        },
    );
    let index = ConsumerIndex::new(&table.lat, &table.lng);
    // 10,000 queries of 2 km at places spread uniformly over the study box, and the heavy
    // case: at consumers themselves (city cores hold tens of thousands within 2 km).
    let mut rng = SplitMix64::new(SEED);
    let places: Vec<(f64, f64)> = (0..QUERIES)
        .map(|_| (45.8 + 2.0 * rng.unit(), 6.0 + 4.0 * rng.unit()))
        .collect();
    let step = (size / QUERIES).max(1);
    let at_consumers: Vec<(f64, f64)> = (0..QUERIES)
        .map(|q| (table.lat[(q * step) % size], table.lng[(q * step) % size]))
        .collect();
    for (name, queries) in [
        ("rtree_radius_2km_x10k", &places),
        ("rtree_radius_2km_x10k_at_consumers", &at_consumers),
    ] {
        g.bench_with_input(BenchmarkId::new(name, size), &size, |bench, _| {
            bench.iter(|| {
                queries
                    .par_iter()
                    .map(|&(la, ln)| index.within_radius_km(la, ln, 2.0).len())
                    .sum::<usize>()
            });
        });
    }
    // Nearest of 500 stores, placed on every (size / 500)-th consumer, for every consumer.
    let stride = (size / STORES).max(1);
    let (store_lat, store_lng): (Vec<f64>, Vec<f64>) = (0..STORES)
        .map(|s| {
            (
                table.lat[(s * stride) % size],
                table.lng[(s * stride) % size],
            )
        })
        .unzip();
    let stores = ConsumerIndex::new(&store_lat, &store_lng);
    g.bench_with_input(
        BenchmarkId::new("nearest_of_500_stores", size),
        &size,
        |bench, _| {
            bench.iter(|| stores.assign_nearest(&table.lat, &table.lng, None));
        },
    );
}

/// Locate on real-shaped boundaries, 1,000,000 consumers: synth's country-sized regions (no
/// download), and the US counties and states of `benches/real/fetch.sh` when they are there. The
/// figure is locate beyond the H3 cell (`Locator::locate_points`).
fn locate_real(c: &mut Criterion) {
    let consumers = 1_000_000;
    let mut g = c.benchmark_group("locate_real");
    g.sample_size(10);
    g.throughput(Throughput::Elements(consumers as u64));
    let world = World::new(SynthOptions {
        seed: SEED,
        consumers,
        cities: MAX_CITIES,
        extent: Extent::Country,
        ..SynthOptions::default()
    });
    let mut csv = Vec::new();
    world.write_consumers(&mut csv).expect("in-memory write");
    let table = ingest(
        &Source::Bytes {
            name: "consumers.csv".into(),
            data: csv.into(),
        },
        &IngestOptions::default(),
    )
    .expect("valid")
    .table;
    let mut sets = vec![(
        "synth_country",
        world.boundaries(),
        table.lat.clone(),
        table.lng.clone(),
    )];
    let us = std::path::Path::new("target/real-geography/us");
    if let (Ok(regions), Ok(cities), Ok(text)) = (
        std::fs::read_to_string(us.join("regions.geojson")),
        std::fs::read_to_string(us.join("cities.geojson")),
        std::fs::read(us.join("1000000/consumers.csv")),
    ) {
        let b = Boundaries::load(
            Some(micromarket::boundary::BoundaryText {
                file: "regions",
                text: &regions,
            }),
            Some(micromarket::boundary::BoundaryText {
                file: "cities",
                text: &cities,
            }),
            &micromarket::boundary::BoundaryOptions::default(),
        )
        .expect("valid");
        let t = ingest(
            &Source::Bytes {
                name: "consumers.csv".into(),
                data: text.into(),
            },
            &IngestOptions::default(),
        )
        .expect("valid")
        .table;
        sets.push(("us_counties", b, t.lat, t.lng));
    } else {
        eprintln!("locate_real: no US data (run benches/real/fetch.sh 1000000); synth only");
    }
    for (name, b, lat, lng) in &sets {
        let locator = Locator::new(b, Resolution::Eight);
        g.bench_function(BenchmarkId::new("micromarket/locate", name), |bench| {
            bench.iter(|| black_box(locator.locate_points(lat, lng)));
        });
    }
    g.finish();
}

criterion_group!(benches, stages, locate_real);
criterion_main!(benches);
