//! The export stage of a default run (issue 16's "export stage at 10 M synth consumers with
//! every default layer ≤ 2 s"): every scope of 10,000,000 synth consumers (20 cities, seed 42,
//! as `benches/e2e.sh`) is analysed first with the default parameters; the bench then times
//! what `analyze` writes after the statistics: each scope's default cell layers, micro-markets
//! and map (scopes in parallel, as the run writes them), the summary, the map assets and the
//! index. Throughput is in consumers.
//!
//! `cargo bench --bench run_export` (CONSUMERS=… changes the 10,000,000 consumers; the setup
//! takes about a minute and 2 GB at 10 M).

#![allow(
    clippy::print_stderr,
    reason = "a bench says on the terminal which data it runs on"
)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use micromarket::{AnalysisParams, ScopeAnalysis, export, stats};
use rayon::prelude::*;
use std::path::Path;

mod common;

/// The command line's allocator (see `src/cli/mod.rs`), so the bench writes as `analyze` does.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Consumers of the bench world unless `CONSUMERS` says otherwise.
const CONSUMERS: usize = 10_000_000;

/// Everything `analyze` writes once its scopes are analysed (the cells' outlines included).
fn write_outputs(
    out: &Path,
    analyses: &[ScopeAnalysis<'_>],
    names: &[String],
    options: &export::ExportOptions<'_>,
) {
    let all = &analyses[0];
    let outlines = export::CellOutlines::shown_in(&all.counts, all.params.privacy());
    let options = export::ExportOptions {
        outlines: Some(&outlines),
        ..*options
    };
    analyses
        .par_iter()
        .try_for_each(|analysis| export::write_scope(out, analysis, &options).map(drop))
        .expect("write a scope");
    let figures: Vec<_> = analyses.iter().map(|a| a.figures.clone()).collect();
    let method = analyses[0].params.privacy().method;
    export::write_summary(out, &figures, names, method).expect("write the summary");
    export::write_map_assets(out).expect("write the map assets");
    export::write_index(out, &figures, names).expect("write the index");
}

fn run_export(c: &mut Criterion) {
    let params = AnalysisParams::default();
    let common::Counted {
        consumers,
        areas,
        locator,
        counts,
        names,
    } = common::counted(CONSUMERS, params.resolution);
    let centres = stats::CellCentres::new(&locator, &counts[0].cells, params.neighbours);
    let places = stats::CellPlaces::new(&counts);
    let analyses: Vec<ScopeAnalysis<'_>> = counts
        .par_iter()
        .map(|scope| micromarket::analyze_scope(scope, &centres, &params, &names))
        .collect();
    eprintln!(
        "{consumers} consumers: {} scopes, {} cells shown over the scopes, {} micro-markets",
        analyses.len(),
        analyses.iter().map(|a| a.figures.cells_shown).sum::<u64>(),
        analyses.iter().map(|a| a.markets.len()).sum::<usize>()
    );

    let maps = export::MapOptions::default();
    let options = export::ExportOptions {
        maps: Some(&maps),
        boundaries: &areas,
        formats: export::Formats::DEFAULT,
        places: Some(&places),
        outlines: None,
    };
    let out = tempfile::tempdir().expect("tempdir");
    let mut g = c.benchmark_group("run_export");
    g.throughput(Throughput::Elements(consumers as u64));
    g.sample_size(10);
    g.bench_with_input(
        BenchmarkId::new("default_layers_and_maps", consumers),
        &consumers,
        |b, _| b.iter(|| write_outputs(out.path(), &analyses, &names, &options)),
    );
    g.finish();
}

criterion_group!(benches, run_export);
criterion_main!(benches);
