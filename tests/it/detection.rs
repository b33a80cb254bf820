//! Micro-markets against ground truth on seeded synthetic worlds (a reduced run of
//! `benches/detection.rs`), and the concentration statistics against h3-py, scipy and
//! statsmodels (`tests/stats/check.py`).

#[path = "../../benches/detection/eval.rs"]
mod eval;

use micromarket::stats::{self, Disks, benjamini_hochberg, beta_binomial_sf, window_p};

/// The reduced detection run under `method` (default k = 10).
fn error_rates(method: micromarket::disclosure::PrivacyMethod) {
    let s = eval::summary(
        1,
        (10, 4, 50_000),
        micromarket::AnalysisParams {
            privacy: method,
            ..micromarket::AnalysisParams::default()
        }
        .privacy(),
    );
    assert_eq!(s.null_worlds, 10);
    assert!(s.null_positive <= 1, "{s:?}");
    // Forcing ρ̂ to 0 never makes the test stricter.
    assert!(s.null_positive_rho0 >= s.null_positive, "{s:?}");
    // The refitted ρ̂ (measured beside the written one) keeps the null worlds clean and is
    // scored on the same plants.
    assert!(s.null_positive_refit <= 1, "{s:?}");
    assert_eq!(s.refit.map(|bin| bin.1), [s.strong.1, s.medium.1], "{s:?}");
    let rate = |(found, all): (usize, usize)| found as f64 / all.max(1) as f64;
    assert!(s.strong.1 >= 10 && rate(s.strong) >= 0.7, "{s:?}");
    assert!(s.precision.0 >= 0.7, "{s:?}");
    assert!(
        s.precision.0 > s.precision.1,
        "better than Gi* hot cells: {s:?}"
    );
    assert!(s.campaign.0 >= 0.85 && s.campaign.0 > s.campaign.1, "{s:?}");
}

#[test]
fn micro_markets_hold_their_error_rates_on_seeded_worlds() {
    error_rates(micromarket::disclosure::PrivacyMethod::None);
}

#[test]
fn micro_markets_hold_their_error_rates_on_the_protected_table() {
    error_rates(micromarket::disclosure::PrivacyMethod::Perturb);
}

/// The occupied cells of a small world at resolution 8 (every consumer, inside a region or
/// not) and their populations.
fn world_cells() -> (Vec<h3o::CellIndex>, Vec<u32>) {
    let world = micromarket::synth::World::new(micromarket::synth::SynthOptions {
        seed: 9,
        consumers: 20_000,
        ..Default::default()
    });
    let locator =
        micromarket::boundary::Locator::new(&world.region_boundaries(), h3o::Resolution::Eight);
    let mut csv = Vec::new();
    world.write_consumers(&mut csv).expect("in-memory write");
    let (lat, lng): (Vec<f64>, Vec<f64>) = std::str::from_utf8(&csv)
        .expect("utf-8")
        .lines()
        .skip(1)
        .map(|line| {
            let mut fields = line.split(',').skip(1);
            let lat: f64 = fields.next().and_then(|v| v.parse().ok()).expect("lat");
            let lng: f64 = fields.next().and_then(|v| v.parse().ok()).expect("lng");
            (lat, lng)
        })
        .unzip();
    let mut cells = locator.locate(&lat, &lng).cell;
    cells.sort_unstable();
    let mut occupied: Vec<h3o::CellIndex> = cells.clone();
    occupied.dedup();
    let population: Vec<u32> = occupied
        .iter()
        .map(|c| cells.iter().filter(|x| *x == c).count() as u32)
        .collect();
    (occupied, population)
}

#[test]
fn statistics_equal_h3_py_scipy_and_statsmodels() {
    let python = crate::common::repo().join("target/check-venv/bin/python");
    assert!(
        python.exists(),
        "the statistics check needs target/check-venv; run .ci/setup"
    );
    let (occupied, population) = world_cells();
    let disks = Disks::new(&occupied, &population, 3);
    let centres: Vec<serde_json::Value> = (0..occupied.len())
        .step_by(7)
        .map(|c| {
            serde_json::json!({
                "cell": occupied[c].to_string(),
                "population": (0..=3).map(|r| disks.population(c, r)).collect::<Vec<_>>(),
            })
        })
        .collect();
    // Tails: windows of the world with invented members, and hand-picked corners.
    let mut tails = Vec::new();
    let mut p = Vec::new();
    for c in (0..occupied.len()).step_by(11) {
        for r in 0..=3 {
            let n = disks.population(c, r);
            if n == 0 || n > stats::EXACT_MAX_POPULATION {
                continue;
            }
            let k = (n * (3 + (c as u64 + u64::from(r)) % 9)) / 40;
            for (mean, rho) in [(0.06, 0.0), (0.06, 0.01), (0.15, 0.2), (0.03, 0.002)] {
                tails.push(serde_json::json!([
                    k,
                    n,
                    mean,
                    rho,
                    beta_binomial_sf(k, n, mean, rho)
                ]));
            }
            p.push(window_p(k, n, n * n, 0.06, 0.01));
        }
    }
    for (k, n, mean, rho) in [
        (1, 1, 0.5, 0.0),
        (5, 5, 0.01, 0.3),
        (0, 10, 0.1, 0.1),
        (400, 1000, 0.3, 0.05),
    ] {
        tails.push(serde_json::json!([
            k,
            n,
            mean,
            rho,
            beta_binomial_sf(k, n, mean, rho)
        ]));
    }
    let q = benjamini_hochberg(&p);
    let cases = serde_json::json!({
        "cells": occupied.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "population": population,
        "disks": centres,
        "tails": tails,
        "bh": { "p": p, "q": q, "fdr": 0.05 },
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cases.json");
    std::fs::write(&path, cases.to_string()).expect("write cases");
    let check = std::process::Command::new(&python)
        .arg(crate::common::repo().join("tests/stats/check.py"))
        .arg(&path)
        .output()
        .expect("python runs");
    let said = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(said.contains("checked"), "{said}");
}
