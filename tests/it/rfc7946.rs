//! RFC 7946 on every exported geometry, including cells that cross the antimeridian.

use crate::common::{json, repo, run_in};
use std::fmt::Write as _;
use std::path::Path;

fn signed_area2(ring: &[(f64, f64)]) -> f64 {
    ring.windows(2)
        .map(|w| w[0].0 * w[1].1 - w[1].0 * w[0].1)
        .sum()
}

fn decimals_at_most_6(x: f64) -> bool {
    ((x * 1e6).round() / 1e6 - x).abs() < 1e-12
}

/// Checks one geometry; returns how many polygons it holds.
fn check_geometry(g: &serde_json::Value) -> usize {
    let polygons: Vec<&serde_json::Value> = match g["type"].as_str() {
        Some("Polygon") => vec![&g["coordinates"]],
        Some("MultiPolygon") => g["coordinates"].as_array().expect("parts").iter().collect(),
        other => panic!("unexpected geometry type {other:?}"),
    };
    for polygon in &polygons {
        for (r, ring) in polygon.as_array().expect("rings").iter().enumerate() {
            let ring: Vec<(f64, f64)> = ring
                .as_array()
                .expect("ring")
                .iter()
                .map(|p| {
                    let p = p.as_array().expect("position");
                    assert_eq!(p.len(), 2);
                    (p[0].as_f64().expect("lon"), p[1].as_f64().expect("lat"))
                })
                .collect();
            assert!(ring.len() >= 4, "ring with {} positions", ring.len());
            assert_eq!(ring.first(), ring.last(), "ring not closed");
            for &(x, y) in &ring {
                assert!(
                    (-180.0..=180.0).contains(&x) && (-90.0..=90.0).contains(&y),
                    "[{x}, {y}]"
                );
                assert!(
                    decimals_at_most_6(x) && decimals_at_most_6(y),
                    "[{x}, {y}] has more than 6 decimals"
                );
            }
            let area = signed_area2(&ring);
            if r == 0 {
                assert!(area > 0.0, "exterior ring must be counter-clockwise");
            } else {
                assert!(area < 0.0, "holes must be clockwise");
            }
            let (min, max) = ring
                .iter()
                .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
            assert!(max - min < 180.0, "a polygon wraps the globe: {min}..{max}");
        }
    }
    polygons.len()
}

fn check_layer(path: &Path) -> (usize, usize) {
    let layer = json(path);
    assert_eq!(layer["type"], "FeatureCollection");
    let mut multi = 0;
    let features = layer["features"].as_array().expect("features");
    for f in features {
        assert_eq!(f["type"], "Feature");
        for (_, v) in f["properties"].as_object().expect("properties") {
            assert!(!v.is_object() && !v.is_array(), "properties are flat");
        }
        if let Some(hex) = f["properties"]["hex_id"].as_str() {
            assert_eq!(hex.len(), 15);
        }
        if check_geometry(&f["geometry"]) > 1 {
            multi += 1;
        }
    }
    (features.len(), multi)
}

#[test]
fn sample_layers_follow_rfc_7946() {
    let out = tempfile::tempdir().expect("tempdir");
    let out_arg = out.path().display().to_string();
    let run = run_in(
        &repo(),
        &["analyze", "-q", "--out", &out_arg, "--budget", "2000"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let manifest = json(&out.path().join("manifest.json"));
    let mut layers = 0;
    for scope in manifest["scopes"].as_array().expect("scopes") {
        for o in scope["outputs"].as_array().expect("outputs") {
            if o["kind"] == "cells" {
                let (features, _) =
                    check_layer(&out.path().join(o["path"].as_str().expect("path")));
                assert_eq!(o["features"], features);
                layers += 1;
            }
        }
    }
    assert_eq!(layers, 15);
}

#[test]
fn antimeridian_cells_are_split() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut csv = String::from("id,lat,lon,kind\n");
    for i in 0..40 {
        let lon = if i % 2 == 0 { 179.9995 } else { -179.9995 };
        writeln!(csv, "p{i},{},{lon},a", 64.0 + f64::from(i % 4) * 0.001).expect("write");
    }
    std::fs::write(dir.path().join("c.csv"), csv).expect("write");
    std::fs::write(
        dir.path().join("s.toml"),
        "[[segment]]\nname = \"a\"\nfilter = \"kind = 'a'\"\n",
    )
    .expect("write");
    let run = run_in(
        dir.path(),
        &[
            "analyze",
            "--consumers",
            "c.csv",
            "--segments",
            "s.toml",
            "--min-count",
            "1",
            "--privacy",
            "none",
            "--resolution",
            "5",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (features, multi) = check_layer(&dir.path().join("out/all/cells.geojson"));
    assert!(features >= 1);
    assert!(multi >= 1, "a cell on the antimeridian is a MultiPolygon");
}
