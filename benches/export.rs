//! The cell layers' write rate on a scope of about a million shown cells (issue 16's
//! "GeoParquet writing ≥ 1 M cells × 27 segments per 2 s"): synth consumers located at
//! resolution 12 with no disclosure rule, so nearly every consumer has a cell of its own and
//! every cell is shown; the `all` scope's layers written one format at a time, without its
//! micro-markets, then GeoParquet with them (their outlines dissolved from their cells).
//! Throughput is in cells, so reports read in cells per second.
//!
//! `cargo bench --bench export` (CONSUMERS=… changes the 1,200,000 consumers).

#![allow(
    clippy::print_stderr,
    reason = "a bench says on the terminal which data it runs on"
)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use h3o::Resolution;
use micromarket::disclosure::PrivacyMethod;
use micromarket::{AnalysisParams, export, stats};

mod common;

/// Consumers of the bench world unless `CONSUMERS` says otherwise.
const CONSUMERS: usize = 1_200_000;

fn cell_layers(c: &mut Criterion) {
    let common::Counted {
        consumers,
        areas,
        locator,
        counts,
        names,
    } = common::counted(CONSUMERS, Resolution::Twelve);
    let params = AnalysisParams {
        resolution: Resolution::Twelve,
        min_count: 1,
        privacy: PrivacyMethod::None,
        ..AnalysisParams::default()
    };
    let centres = stats::CellCentres::new(&locator, &counts[0].cells, params.neighbours);
    let mut analysis = micromarket::analyze_scope(&counts[0], &centres, &params, &names);
    let cells = counts[0].cells.len();
    // The micro-markets' outlines are written by every format and timed on their own below.
    let markets = std::mem::take(&mut analysis.markets);
    eprintln!(
        "{consumers} consumers, `all` scope: {cells} cells shown × {} segments; {} micro-markets of {} cells",
        names.len(),
        markets.len(),
        markets.iter().map(|m| m.cells.len()).sum::<usize>()
    );

    let out = tempfile::tempdir().expect("tempdir");
    let mut g = c.benchmark_group("cell_layers");
    g.throughput(Throughput::Elements(cells as u64));
    g.sample_size(10);
    for format in export::Format::ALL {
        let options = export::ExportOptions {
            maps: None,
            boundaries: &areas,
            formats: export::Formats::of(&[format]),
            places: None,
            outlines: None,
        };
        g.bench_with_input(
            BenchmarkId::new(format.to_string(), cells),
            &cells,
            |b, _| {
                b.iter(|| export::write_scope(out.path(), &analysis, &options).expect("write"));
            },
        );
    }
    analysis.markets = markets;
    let options = export::ExportOptions {
        maps: None,
        boundaries: &areas,
        formats: export::Formats::of(&[export::Format::Parquet]),
        places: None,
        outlines: None,
    };
    g.bench_with_input(
        BenchmarkId::new("parquet_with_micro_markets", cells),
        &cells,
        |b, _| {
            b.iter(|| export::write_scope(out.path(), &analysis, &options).expect("write"));
        },
    );
    g.finish();
}

criterion_group!(benches, cell_layers);
criterion_main!(benches);
