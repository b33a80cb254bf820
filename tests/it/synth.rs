//! `synth`: determinism, and the planted hot spots show up as the top-lift cells.

use crate::common::{csv_rows, hex8, json, run_in};
use geo::{Contains, MultiPolygon, Point};
use std::collections::HashMap;

/// Writes a synth dataset to `dir/in` (with `extra` synth options) and analyzes it into
/// `dir/out`.
fn synth_and_analyze(dir: &std::path::Path, seed: &str, consumers: &str, extra: &[&str]) {
    let mut args = vec![
        "synth",
        "--seed",
        seed,
        "--consumers",
        consumers,
        "--out",
        "in",
    ];
    args.extend(extra);
    let made = run_in(dir, &args);
    assert_eq!(made.code, 0, "{}", made.stderr);
    let run = run_in(
        dir,
        &[
            "analyze",
            "-q",
            "--formats",
            "csv",
            "--consumers",
            "in/consumers.csv",
            "--regions",
            "in/regions.geojson",
            "--cities",
            "in/cities.geojson",
            "--segments",
            "in/segments.toml",
            "--out",
            "out",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn same_seed_same_files_and_planted_spots_are_top_lift_cells() {
    let dir = tempfile::tempdir().expect("tempdir");
    synth_and_analyze(dir.path(), "7", "150000", &[]);
    let again = run_in(
        dir.path(),
        &[
            "synth",
            "--seed",
            "7",
            "--consumers",
            "150000",
            "--out",
            "b",
            "--threads",
            "1",
        ],
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
    for file in [
        "consumers.csv",
        "regions.geojson",
        "cities.geojson",
        "segments.toml",
        "planted.csv",
    ] {
        let a = std::fs::read(dir.path().join("in").join(file)).expect("a");
        assert_eq!(
            a,
            std::fs::read(dir.path().join("b").join(file)).expect("b"),
            "{file}"
        );
    }

    // Lift per (segment, cell) in the `all` scope, for cells with enough people to be stable.
    let mut lifts: HashMap<String, Vec<(String, f64)>> = HashMap::new();
    for r in csv_rows(&dir.path().join("out/all/cells.csv")) {
        let (Ok(n), Ok(lift)) = (r["population"].parse::<u64>(), r["lift"].parse::<f64>()) else {
            continue;
        };
        if n >= 30 {
            lifts
                .entry(r["segment"].clone())
                .or_default()
                .push((r["hex_id"].clone(), lift));
        }
    }
    let planted = csv_rows(&dir.path().join("in/planted.csv"));
    assert_eq!(planted.len(), 12);
    for spot in &planted {
        let cell = hex8(
            spot["lat"].parse().expect("lat"),
            spot["lon"].parse().expect("lon"),
        );
        let ranked = lifts
            .get_mut(&spot["segment"])
            .expect("segment in cells.csv");
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        let rank = ranked.iter().position(|(c, _)| *c == cell);
        let top = ranked.len() / 50;
        assert!(
            rank.is_some_and(|r| r < top.max(10)),
            "planted {} at {} ranks {rank:?} of {} cells by lift",
            spot["segment"],
            cell,
            ranked.len()
        );
    }
}

/// A GeoJSON Polygon or MultiPolygon as geo's type.
fn multipolygon(geometry: &serde_json::Value) -> MultiPolygon<f64> {
    let parsed: geojson::Geometry = serde_json::from_value(geometry.clone()).expect("geometry");
    match geo::Geometry::<f64>::try_from(parsed).expect("convertible") {
        geo::Geometry::Polygon(p) => MultiPolygon::new(vec![p]),
        geo::Geometry::MultiPolygon(m) => m,
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn planted_centres_fall_in_micro_markets_of_their_segment() {
    let dir = tempfile::tempdir().expect("tempdir");
    synth_and_analyze(dir.path(), "11", "200000", &[]);
    let layer = json(&dir.path().join("out/all/micromarkets.geojson"));
    let markets: Vec<(String, MultiPolygon<f64>)> = layer["features"]
        .as_array()
        .expect("features")
        .iter()
        .map(|f| {
            (
                f["properties"]["segment"]
                    .as_str()
                    .expect("segment")
                    .to_string(),
                multipolygon(&f["geometry"]),
            )
        })
        .collect();
    let planted = csv_rows(&dir.path().join("in/planted.csv"));
    let found = planted
        .iter()
        .filter(|p| {
            let point = Point::new(
                p["lon"].parse().expect("lon"),
                p["lat"].parse().expect("lat"),
            );
            markets
                .iter()
                .any(|(segment, shape)| *segment == p["segment"] && shape.contains(&point))
        })
        .count();
    assert!(
        found * 10 >= planted.len() * 9,
        "{found} of {} planted centres found",
        planted.len()
    );
}

#[test]
fn twenty_cities_keep_the_samples_ten_and_each_gets_a_scope() {
    let dir = tempfile::tempdir().expect("tempdir");
    synth_and_analyze(dir.path(), "42", "20000", &["--cities", "20"]);
    let ten = run_in(
        dir.path(),
        &["synth", "--consumers", "20000", "--out", "ten"],
    );
    assert_eq!(ten.code, 0, "{}", ten.stderr);
    let features = |out: &str| -> Vec<serde_json::Value> {
        json(&dir.path().join(out).join("cities.geojson"))["features"]
            .as_array()
            .expect("features")
            .clone()
    };
    let (ten, twenty) = (features("ten"), features("in"));
    assert_eq!(twenty.len(), 20);
    assert_eq!(ten[..], twenty[..10], "the sample's cities unchanged");
    let planted =
        |out: &str| std::fs::read(dir.path().join(out).join("planted.csv")).expect("read");
    assert_eq!(planted("ten"), planted("in"));
    // No two cities overlap, so every consumer of a city is that city's alone.
    let shapes: Vec<MultiPolygon<f64>> = twenty
        .iter()
        .map(|f| multipolygon(&f["geometry"]))
        .collect();
    for (i, a) in shapes.iter().enumerate() {
        for b in &shapes[i + 1..] {
            assert!(!geo::Intersects::intersects(a, b));
        }
    }
    let cities: std::collections::HashSet<String> = csv_rows(&dir.path().join("out/summary.csv"))
        .into_iter()
        .filter(|r| r["scope_kind"] == "city")
        .map(|r| r["city"].clone())
        .collect();
    assert_eq!(cities.len(), 20, "{cities:?}");
}

#[test]
fn places_draw_consumers_around_real_towns() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("places.csv"),
        "name,lat,lon,population\nBig,40.0,-100.0,900000\nSmall,41.0,-101.0,100000\nFiji,-17.8,179.9,50000\n",
    )
    .expect("write");
    let run = run_in(
        dir.path(),
        &[
            "-q",
            "synth",
            "--consumers",
            "5000",
            "--places",
            "places.csv",
            "--out",
            "p",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(dir.path().join("p/segments.toml").exists());
    assert!(!dir.path().join("p/regions.geojson").exists());
    let rows = csv_rows(&dir.path().join("p/consumers.csv"));
    assert_eq!(rows.len(), 5000);
    let near = |lat: f64, lng: f64, r: &HashMap<String, String>| {
        let (a, b): (f64, f64) = (
            r["lat"].parse().expect("lat"),
            r["lon"].parse().expect("lon"),
        );
        let dlng = (b - lng + 540.0) % 360.0 - 180.0;
        (a - lat).abs() < 0.5 && dlng.abs() < 0.7
    };
    let big = rows.iter().filter(|r| near(40.0, -100.0, r)).count();
    let small = rows.iter().filter(|r| near(41.0, -101.0, r)).count();
    let fiji = rows.iter().filter(|r| near(-17.8, 179.9, r)).count();
    assert_eq!(big + small + fiji, 5000, "every consumer is near a place");
    assert!(big > 4 * small && small > fiji, "{big} {small} {fiji}");
    assert!(
        rows.iter()
            .all(|r| r["lon"].parse::<f64>().expect("lon").abs() <= 180.0)
    );

    std::fs::write(dir.path().join("bad.csv"), "name,lat,lon\nX,1,2\n").expect("write");
    let bad = run_in(dir.path(), &["synth", "--places", "bad.csv", "--out", "q"]);
    assert_ne!(bad.code, 0);
    assert!(
        bad.stderr.contains("no 'population' column"),
        "{}",
        bad.stderr
    );
}
