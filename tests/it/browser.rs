//! The maps in a real browser: `tests/browser/map.test.mjs` opens the sample's `map.html` files
//! and a 50,000-cell city's in headless Chromium (see that script for the checks).
//!
//! Needs Node.js, Chromium (`/usr/bin/chromium`, or `CHROMIUM`) and `npm ci` in `tests/browser`;
//! `.ci/setup` installs them. The test fails, naming what is missing, when they are not there.

use crate::common::{repo, run_in};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Side of the big square city in degrees of latitude (about 28 km).
const BIG_CITY_LAT: (f64, f64) = (47.0, 47.25);
const BIG_CITY_LNG: (f64, f64) = (8.0, 8.37);
/// Consumers per cell: 12, so that every cell stays shown when the perturbation (at most ±2)
/// meets the minimum count of 10.
const PER_CELL: usize = 12;

fn missing_tools() -> Vec<String> {
    let browser = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let mut missing = Vec::new();
    if Command::new("node").arg("--version").output().is_err() {
        missing.push("node (Node.js)".to_string());
    }
    if !Path::new(&browser).exists() {
        missing.push(format!("{browser} (apt-get install -y chromium)"));
    }
    if !repo()
        .join("tests/browser/node_modules/playwright-core")
        .exists()
    {
        missing.push("tests/browser/node_modules (npm ci --prefix tests/browser)".to_string());
    }
    missing
}

/// A square city where every resolution-10 cell (by centre) holds ten consumers whose mix
/// shifts across the city: more than 50,000 cells, all shown. The city holds every consumer, so
/// it is reported as `all` and its map is `all`'s.
fn big_city(dir: &Path) -> PathBuf {
    let (lng, lat) = (BIG_CITY_LNG, BIG_CITY_LAT);
    let square = geo::Polygon::new(
        geo::LineString::from(vec![
            (lng.0, lat.0),
            (lng.1, lat.0),
            (lng.1, lat.1),
            (lng.0, lat.1),
            (lng.0, lat.0),
        ]),
        vec![],
    );
    let mut tiler = h3o::geom::TilerBuilder::new(h3o::Resolution::Ten)
        .containment_mode(h3o::geom::ContainmentMode::ContainsCentroid)
        .build();
    tiler.add(square).expect("square tiles");
    let cells: Vec<h3o::CellIndex> = tiler.into_coverage().collect();
    assert!(cells.len() >= 50_000, "{} cells", cells.len());
    let city = format!(
        "{{\"type\":\"FeatureCollection\",\"features\":[{{\"type\":\"Feature\",\"properties\":{{\"name\":\"Metropolis\"}},\"geometry\":{{\"type\":\"Polygon\",\"coordinates\":[[[{a},{c}],[{b},{c}],[{b},{d}],[{a},{d}],[{a},{c}]]]}}}}]}}",
        a = BIG_CITY_LNG.0,
        b = BIG_CITY_LNG.1,
        c = BIG_CITY_LAT.0,
        d = BIG_CITY_LAT.1
    );
    std::fs::write(dir.join("big-cities.geojson"), city).expect("write cities");
    let mut csv = String::from("id,lat,lon,gender,age,discipline,level,loyalty,spend\n");
    let mut row = 0u64;
    for cell in &cells {
        let centre = h3o::LatLng::from(*cell);
        // Smooth fields across the city, so segments have places where they are common.
        let u = 0.5 + 0.5 * (centre.lat() * 90.0).sin() * (centre.lng() * 70.0).cos();
        for j in 0..PER_CELL {
            row += 1;
            let h = row.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
            let pick = |k: u64, n: u64| (h / k) % n;
            let gender = ["F", "M", "X"][(pick(1, 25) / 12).min(2) as usize];
            let age = 18 + pick(7, 60);
            let discipline = if (pick(3, 100) as f64) < 60.0 * u {
                "mountain"
            } else {
                ["road", "gravel"][pick(11, 2) as usize]
            };
            let level = ["beginner", "amateur", "pro"][pick(13, 3) as usize];
            let loyalty = ["member", "lapsed", "none"][(pick(17, 5) % 3) as usize];
            let spend = 40 + pick(19, 500) + j as u64;
            let _ = writeln!(
                csv,
                "b{row},{:.7},{:.7},{gender},{age},{discipline},{level},{loyalty},{spend}",
                centre.lat(),
                centre.lng()
            );
        }
    }
    std::fs::write(dir.join("big.csv"), csv).expect("write consumers");
    let segments = repo()
        .join("data/sample/segments.toml")
        .display()
        .to_string();
    let run = run_in(
        dir,
        &[
            "analyze",
            "-q",
            "--consumers",
            "big.csv",
            "--cities",
            "big-cities.geojson",
            "--segments",
            &segments,
            "--resolution",
            "10",
            "--out",
            "big",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!dir.join("big/all/metropolis").exists());
    dir.join("big/all/map.html")
}

#[test]
fn maps_open_offline_in_chromium_with_their_figures() {
    let missing = missing_tools();
    assert!(
        missing.is_empty(),
        "the browser test needs {}; run .ci/setup",
        missing.join(", ")
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let sample = run_in(
        &repo(),
        &[
            "analyze",
            "-q",
            "--budget",
            "5000",
            "--formats",
            "geojson,parquet,csv",
            "--out",
            &dir.path().join("sample").display().to_string(),
        ],
    );
    assert_eq!(sample.code, 0, "{}", sample.stderr);
    let big = big_city(dir.path());
    let screenshot = repo().join("target/browser/map.png");
    let output = Command::new("node")
        .arg(repo().join("tests/browser/map.test.mjs"))
        .arg(dir.path().join("sample"))
        .arg(&screenshot)
        .arg(&big)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(screenshot.exists());
}
