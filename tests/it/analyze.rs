//! `analyze`: the hand-computed fixture, the minimum count, the bundled sample.

use crate::common::{analyze_tiny, csv_rows, hex8, json, repo, run_in, tiny};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

const A: (f64, f64) = (10.06, 20.01);
const B: (f64, f64) = (10.075, 20.025);
const C: (f64, f64) = (10.02, 20.025);
const D: (f64, f64) = (10.12, 20.08);
const E: (f64, f64) = (11.0, 21.0);

/// (hex_id, segment) → (population, count, penetration, lift) of a cells.csv.
fn cells(path: &std::path::Path) -> HashMap<(String, String), (u64, String, f64, f64)> {
    csv_rows(path)
        .into_iter()
        .map(|r| {
            let num = |k: &str| r[k].parse::<f64>().unwrap_or(f64::NAN);
            (
                (r["hex_id"].clone(), r["segment"].clone()),
                (
                    r["population"].parse().expect("n"),
                    r["count"].clone(),
                    num("penetration"),
                    num("lift"),
                ),
            )
        })
        .collect()
}

fn check(
    table: &HashMap<(String, String), (u64, String, f64, f64)>,
    site: (f64, f64),
    segment: &str,
    expected: (u64, u64, f64, f64),
) {
    let key = (hex8(site.0, site.1), segment.to_string());
    let got = table
        .get(&key)
        .unwrap_or_else(|| panic!("no row for {key:?}"));
    assert_eq!(got.0, expected.0, "population of {key:?}");
    assert_eq!(got.1, expected.1.to_string(), "count of {key:?}");
    assert!(
        (got.2 - expected.2).abs() < 1e-6,
        "penetration of {key:?}: {} vs {}",
        got.2,
        expected.2
    );
    assert!(
        (got.3 - expected.3).abs() < 1e-6,
        "lift of {key:?}: {} vs {}",
        got.3,
        expected.3
    );
}

#[test]
fn tiny_fixture_matches_the_hand_computation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = analyze_tiny(
        dir.path(),
        &tiny().join("consumers.csv"),
        &["--min-count", "1", "--privacy", "none"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = dir.path().join("out");

    let all = cells(&out.join("all/cells.csv"));
    assert_eq!(all.len(), 5 * 2);
    check(&all, A, "women", (12, 6, 0.5, 1.25));
    check(&all, B, "women", (5, 1, 0.2, 0.5));
    check(&all, C, "women", (15, 3, 0.2, 0.5));
    check(&all, D, "women", (10, 5, 0.5, 1.25));
    check(&all, E, "women", (3, 3, 1.0, 2.5));
    check(&all, A, "young", (12, 4, 1.0 / 3.0, 0.9375));
    check(&all, C, "young", (15, 10, 2.0 / 3.0, 1.875));
    check(&all, D, "young", (10, 2, 0.2, 0.5625));
    check(&all, B, "young", (5, 0, 0.0, 0.0));
    check(&all, E, "young", (3, 0, 0.0, 0.0));

    let valley = cells(&out.join("valley/cells.csv"));
    assert_eq!(valley.len(), 4 * 2);
    check(&valley, A, "women", (12, 6, 0.5, 1.4));
    check(&valley, B, "women", (5, 1, 0.2, 0.56));
    check(&valley, C, "women", (15, 3, 0.2, 0.56));
    check(&valley, D, "women", (10, 5, 0.5, 1.4));
    check(&valley, A, "young", (12, 4, 1.0 / 3.0, 0.875));
    check(&valley, C, "young", (15, 10, 2.0 / 3.0, 1.75));
    check(&valley, B, "young", (5, 0, 0.0, 0.0));
    check(&valley, D, "young", (10, 2, 0.2, 0.525));

    // The lake (site B) is a hole: not in Northtown.
    let north = cells(&out.join("valley/northtown/cells.csv"));
    assert_eq!(north.len(), 2);
    check(&north, A, "women", (12, 6, 0.5, 1.0));
    check(&north, A, "young", (12, 4, 1.0 / 3.0, 1.0));
    let south = cells(&out.join("valley/southville/cells.csv"));
    check(&south, C, "women", (15, 3, 0.2, 1.0));
    check(&south, C, "young", (15, 10, 2.0 / 3.0, 1.0));

    // Wilson 95% interval of 6/12 (by hand: centre 0.5, half-width 0.246218), and the lift
    // interval that follows from it over P = 0.4.
    let rows = csv_rows(&out.join("all/cells.csv"));
    let a_women = rows
        .iter()
        .find(|r| r["hex_id"] == hex8(A.0, A.1) && r["segment"] == "women")
        .expect("row");
    assert_eq!(a_women["penetration_low"], "0.253782");
    assert_eq!(a_women["penetration_high"], "0.746218");
    assert_eq!(a_women["lift_low"], "0.634454");
    assert_eq!(a_women["lift_high"], "1.865546");
    for r in &rows {
        let p: f64 = r["p_value"].parse().expect("p");
        let q: f64 = r["q_value"].parse().expect("q");
        let gi: f64 = r["gi"].parse().expect("gi");
        assert!(
            gi.is_finite() && (0.0..=1.0).contains(&p) && q >= p && q <= 1.0,
            "{r:?}"
        );
    }

    let summary = csv_rows(&out.join("summary.csv"));
    let row = |kind: &str, city: &str, segment: &str| {
        summary
            .iter()
            .find(|r| r["scope_kind"] == kind && r["city"] == city && r["segment"] == segment)
            .unwrap_or_else(|| panic!("no summary row {kind} {city} {segment}"))
    };
    assert_eq!(row("all", "", "women")["consumers"], "18");
    assert_eq!(row("all", "", "women")["base_rate"], "0.4");
    assert_eq!(row("region", "", "young")["population"], "42");
    assert_eq!(row("region", "", "young")["consumers"], "16");
    assert_eq!(row("city", "Southville", "women")["base_rate"], "0.2");

    let manifest = json(&out.join("manifest.json"));
    assert_eq!(manifest["rows"]["read"], 45);
    for scope in manifest["scopes"].as_array().expect("scopes") {
        let area = scope["study_area_cells"].as_u64().expect("study area");
        assert!(area >= scope["cells"].as_u64().expect("cells"));
        assert_eq!(scope["fdr_family_size"], area);
    }
    assert_eq!(manifest["rows"]["accepted"], 45);
    let consumers: Vec<(String, u64)> = manifest["scopes"]
        .as_array()
        .expect("scopes")
        .iter()
        .map(|s| {
            (
                s["name"].as_str().expect("name").to_string(),
                s["consumers"].as_u64().expect("n"),
            )
        })
        .collect();
    assert_eq!(
        consumers,
        vec![
            ("all".into(), 45),
            ("Valley".into(), 42),
            ("Northtown".into(), 12),
            ("Southville".into(), 15)
        ]
    );
}

#[test]
fn minimum_count_hides_small_cells_and_counts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let consumers = tiny().join("consumers.csv");
    let run = analyze_tiny(dir.path(), &consumers, &["--privacy", "suppress"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = dir.path().join("out");
    let all = json(&out.join("all/cells.geojson"));
    let features = all["features"].as_array().expect("features");
    // B (5) and E (3) have fewer than 10 consumers.
    let ids: Vec<&str> = features
        .iter()
        .map(|f| f["properties"]["hex_id"].as_str().expect("id"))
        .collect();
    assert_eq!(features.len(), 3);
    assert!(!ids.contains(&hex8(B.0, B.1).as_str()) && !ids.contains(&hex8(E.0, E.1).as_str()));
    let a = features
        .iter()
        .find(|f| f["properties"]["hex_id"] == hex8(A.0, A.1))
        .expect("A shown");
    assert!(a["properties"]["women_count"].is_null());
    assert!(a["properties"]["women_penetration"].is_null());
    let c = features
        .iter()
        .find(|f| f["properties"]["hex_id"] == hex8(C.0, C.1))
        .expect("C shown");
    assert_eq!(c["properties"]["young_count"], 10);
    assert!(c["properties"]["young_count"].is_u64());
    let manifest = json(&out.join("manifest.json"));
    // Cells: all hides B and E, Valley hides B. Counts 0 < k < 10 in shown cells: all 5, Valley 5,
    // Northtown 2, Southville 1.
    assert_eq!(manifest["suppressed"]["cells"], 3);
    assert_eq!(manifest["suppressed"]["counts"], 13);
    // No consumer id ever reaches an output.
    for entry in walk(&out) {
        let text = if entry.extension().is_some_and(|e| e == "parquet") {
            serde_json::Value::from(crate::common::parquet_rows(&entry)).to_string()
        } else {
            // FlatGeobuf is binary; its strings are UTF-8 inside it.
            String::from_utf8_lossy(&std::fs::read(&entry).expect("output")).into_owned()
        };
        assert!(
            !text.contains("A1,") && !text.contains("\"C20\""),
            "{}",
            entry.display()
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn bundled_sample_runs_with_no_arguments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out_arg = dir.path().join("out").display().to_string();
    let run = run_in(&repo(), &["analyze", "--out", &out_arg, "--json"]);
    let out = dir.path().join("out");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("bundled sample"), "{}", run.stderr);
    let summary: serde_json::Value = serde_json::from_str(&run.stdout).expect("--json prints JSON");
    assert_eq!(summary["rows"]["read"], 100_000);
    let manifest = json(&out.as_path().join("manifest.json"));
    assert_eq!(manifest["status"], "ok");
    assert_eq!(
        manifest["scopes"].as_array().expect("scopes").len(),
        1 + 4 + 10
    );
    assert_eq!(manifest["inputs"].as_array().expect("inputs").len(), 4);
    let mut outputs: Vec<&serde_json::Value> = manifest["outputs"]
        .as_array()
        .expect("outputs")
        .iter()
        .collect();
    for scope in manifest["scopes"].as_array().expect("scopes") {
        outputs.extend(scope["outputs"].as_array().expect("outputs"));
    }
    // summary, index and the maps' five shared assets; per scope, in the default formats, cells
    // and micro-markets (GeoJSON and GeoParquet) and the map. Rejected rows are not in the folder.
    assert_eq!(outputs.len(), 2 + 5 + 15 * 5);
    for o in outputs {
        let bytes = std::fs::read(out.as_path().join(o["path"].as_str().expect("path")))
            .expect("listed file");
        assert_eq!(o["bytes"], bytes.len());
        let digest = micromarket::export::hex(&Sha256::digest(&bytes));
        assert_eq!(o["sha256"], digest.as_str(), "{}", o["path"]);
    }
}

#[test]
fn no_maps_writes_and_lists_none() {
    let dir = tempfile::tempdir().expect("tempdir");
    let consumers = tiny().join("consumers.csv");
    let run = analyze_tiny(dir.path(), &consumers, &["--no-maps"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let files = walk(&dir.path().join("out"));
    assert!(
        files
            .iter()
            .all(|f| f.extension().is_none_or(|e| e != "html")),
        "{files:?}"
    );
    let manifest = json(&dir.path().join("out/manifest.json"));
    assert!(!manifest.to_string().contains(".html"));

    let with_maps = analyze_tiny(dir.path(), &consumers, &["--out", "maps"]);
    assert_eq!(with_maps.code, 0, "{}", with_maps.stderr);
    let manifest = json(&dir.path().join("maps/manifest.json"));
    for scope in manifest["scopes"].as_array().expect("scopes") {
        let map = scope["outputs"]
            .as_array()
            .expect("outputs")
            .iter()
            .find(|o| o["kind"] == "map")
            .expect("every scope has a map");
        assert!(
            dir.path()
                .join("maps")
                .join(map["path"].as_str().expect("path"))
                .exists()
        );
    }
    let index = crate::common::index_rows(&dir.path().join("maps/index.html"));
    assert!(
        index.iter().any(|r| r["map"]
            .as_str()
            .is_some_and(|m| m.starts_with("valley/map.html#segment="))),
        "{index:?}"
    );
}

#[test]
fn outside_the_repository_the_sample_is_generated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = run_in(dir.path(), &["analyze"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("generated the sample in memory"),
        "{}",
        run.stderr
    );
    let manifest = json(&dir.path().join("out/manifest.json"));
    assert_eq!(manifest["rows"]["accepted"], 100_000);
    // The same sample as data/sample: same consumer count per scope as a run on the files.
    assert_eq!(manifest["scopes"].as_array().expect("scopes").len(), 15);
}

#[test]
fn same_inputs_give_identical_bytes_whatever_the_threads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let one = analyze_tiny(
        dir.path(),
        &tiny().join("consumers.csv"),
        &["--threads", "1", "--out", "one"],
    );
    let two = analyze_tiny(
        dir.path(),
        &tiny().join("consumers.csv"),
        &["--threads", "2", "--out", "two"],
    );
    assert_eq!((one.code, two.code), (0, 0));
    for file in [
        "all/cells.geojson",
        "all/cells.geojsons",
        "all/cells.parquet",
        "valley/cells.csv",
        "all/map.html",
        "index.html",
        "summary.csv",
    ] {
        assert_eq!(
            std::fs::read(dir.path().join("one").join(file)).expect("one"),
            std::fs::read(dir.path().join("two").join(file)).expect("two"),
            "{file}"
        );
    }
}

#[test]
fn lone_sites_are_not_hot_spots_of_a_data_driven_study_area() {
    let dir = tempfile::tempdir().expect("tempdir");
    let consumers = tiny().join("consumers.csv");
    let run = analyze_tiny(dir.path(), &consumers, &["--privacy", "suppress"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // Site C's 10 young consumers among the 28 cells where Valley's people are (and their
    // rings): Gi* 1.3, q far above 0.05 (EXPECTED.md). Empty land far from every consumer no
    // longer makes a crowd of ten "hot".
    let manifest = json(&dir.path().join("out/manifest.json"));
    let areas: Vec<(String, u64)> = manifest["scopes"]
        .as_array()
        .expect("scopes")
        .iter()
        .map(|s| {
            (
                s["name"].as_str().expect("name").to_string(),
                s["study_area_cells"].as_u64().expect("cells"),
            )
        })
        .collect();
    let expected = [
        ("all", 29),
        ("Valley", 28),
        ("Northtown", 6),
        ("Southville", 7),
    ];
    let expected: Vec<(String, u64)> = expected.iter().map(|(n, c)| ((*n).into(), *c)).collect();
    assert_eq!(areas, expected);
    let layer = json(&dir.path().join("out/valley/micromarkets.geojson"));
    assert_eq!(
        layer["features"].as_array().expect("features").len(),
        0,
        "{layer}"
    );
}

#[test]
#[allow(clippy::too_many_lines, reason = "one run, every figure checked")]
fn micro_markets_carry_their_figures_and_obey_the_minimum_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    let synth = run_in(
        dir.path(),
        &["-q", "synth", "--consumers", "20000", "--out", "w"],
    );
    assert_eq!(synth.code, 0, "{}", synth.stderr);
    let analyze = |min_count: &str, out: &str| {
        let run = run_in(
            dir.path(),
            &[
                "-q",
                "analyze",
                "--formats",
                "csv",
                "--consumers",
                "w/consumers.csv",
                "--regions",
                "w/regions.geojson",
                "--cities",
                "w/cities.geojson",
                "--segments",
                "w/segments.toml",
                "--no-maps",
                "--privacy",
                "suppress",
                "--min-count",
                min_count,
                "--out",
                out,
            ],
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        json(&dir.path().join(out).join("all/micromarkets.geojson"))
    };
    let layer = analyze("1", "k1");
    let markets = layer["features"].as_array().expect("features");
    assert!(!markets.is_empty());
    // With nothing hidden, the micro-markets of a segment hold exactly the cells flagged as in
    // one, and each is materially concentrated: pooled lift at least λ0 = 1.2.
    let cells = csv_rows(&dir.path().join("k1/all/cells.csv"));
    let summary = csv_rows(&dir.path().join("k1/summary.csv"));
    for market in markets {
        let p = &market["properties"];
        let segment = p["segment"].as_str().expect("segment");
        let of_segment = markets
            .iter()
            .filter(|m| m["properties"]["segment"] == segment)
            .map(|m| &m["properties"]);
        let (members, population) = of_segment.fold((0, 0), |(k, n), m| {
            (
                k + m["members"].as_u64().expect("k"),
                n + m["population"].as_u64().expect("n"),
            )
        });
        let hot = cells
            .iter()
            .filter(|c| c["segment"] == segment && c["in_micromarket"] == "true");
        let (hot_members, hot_population) = hot.fold((0, 0), |(k, n), c| {
            (
                k + c["count"].parse::<u64>().expect("k"),
                n + c["population"].parse::<u64>().expect("n"),
            )
        });
        assert_eq!(
            (members, population),
            (hot_members, hot_population),
            "{segment}"
        );
        let base = summary
            .iter()
            .find(|r| r["scope_kind"] == "all" && r["segment"] == segment)
            .expect("row")["base_rate"]
            .parse::<f64>()
            .expect("rate");
        let (k, n) = (
            p["members"].as_f64().expect("k"),
            p["population"].as_f64().expect("n"),
        );
        assert!((p["penetration"].as_f64().expect("p") - k / n).abs() < 1e-6);
        // The base rate is printed to six decimals.
        let lift = p["lift"].as_f64().expect("lift");
        assert!((lift - k / n / base).abs() < 1e-4 * lift, "{segment}");
        assert!(
            k / n >= 1.2 * base - 1e-9,
            "{segment}: lift {}",
            k / n / base
        );
        assert!(p["q_value"].as_f64().expect("q") <= 0.05);
        let excess = p["excess_members"].as_f64().expect("excess");
        assert!(
            (excess - (k - base * n)).abs() < 0.01 + 1e-6 * n,
            "{segment}"
        );
        assert!(
            p["id"]
                .as_str()
                .expect("id")
                .starts_with(&format!("all:{segment}:"))
        );
    }
    // A minimum count above the smallest micro-market drops it and keeps the others.
    let smallest = markets
        .iter()
        .map(|m| m["properties"]["members"].as_u64().expect("k"))
        .min()
        .expect("markets");
    let above = analyze(&(smallest + 1).to_string(), "k2");
    let kept = above["features"].as_array().expect("features");
    assert!(kept.len() < markets.len());
    assert!(
        kept.iter()
            .all(|m| m["properties"]["members"].as_u64() > Some(smallest))
    );
}

#[test]
fn campaigns_pick_cells_greedily_within_the_budget() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = analyze_tiny(
        dir.path(),
        &tiny().join("consumers.csv"),
        &["--min-count", "1", "--budget", "25", "--privacy", "none"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let rows = csv_rows(&dir.path().join("out/valley/campaign.csv"));
    let row = |segment: &str| rows.iter().find(|r| r["segment"] == segment).expect("row");
    // young: C (10/15) first; A (4/12) would make 27 > 25; D (2/10) fits (25); B does not.
    let young = row("young");
    assert_eq!(
        (
            young["cells"].as_str(),
            young["population"].as_str(),
            young["members"].as_str()
        ),
        ("2", "25", "12")
    );
    assert_eq!(young["penetration"], "0.48");
    assert_eq!(young["lift"], "1.26");
    // women: A and D tie at 0.5, A (more members) first: 12 + 10 = 22; C (15) and B (5) no longer fit.
    let women = row("women");
    assert_eq!(
        (
            women["cells"].as_str(),
            women["population"].as_str(),
            women["members"].as_str()
        ),
        ("2", "22", "11")
    );
    assert_eq!(women["lift"], "1.4");
    let summary = csv_rows(&dir.path().join("out/summary.csv"));
    let s = summary
        .iter()
        .find(|r| r["scope_kind"] == "region" && r["segment"] == "young")
        .expect("row");
    assert_eq!(
        (
            s["campaign_members"].as_str(),
            s["campaign_population"].as_str()
        ),
        ("12", "25")
    );
    let layer = json(&dir.path().join("out/valley/campaign.geojson"));
    assert_eq!(layer["features"].as_array().expect("features").len(), 2);
    for scope in json(&dir.path().join("out/manifest.json"))["scopes"]
        .as_array()
        .expect("scopes")
    {
        for segment in scope["segments"].as_array().expect("segments") {
            assert!(segment["campaign_population"].as_u64().expect("population") <= 25);
        }
    }
}

#[test]
fn a_region_holding_every_consumer_is_reported_as_all_without_copies() {
    let dir = tempfile::tempdir().expect("tempdir");
    // One region around the whole sample, and a city inside it.
    let square = |name: &str, (x0, y0, x1, y1): (f64, f64, f64, f64)| {
        format!(
            r#"{{"type":"FeatureCollection","features":[{{"type":"Feature","properties":{{"name":"{name}"}},"geometry":{{"type":"Polygon","coordinates":[[[{x0},{y0}],[{x1},{y0}],[{x1},{y1}],[{x0},{y1}],[{x0},{y0}]]]}}}}]}}"#
        )
    };
    std::fs::write(
        dir.path().join("regions.geojson"),
        square("Everywhere", (0.0, 40.0, 20.0, 55.0)),
    )
    .expect("write");
    std::fs::write(
        dir.path().join("cities.geojson"),
        square("Middle", (8.0, 46.5, 8.5, 47.0)),
    )
    .expect("write");
    let sample = repo().join("data/sample");
    let path = |name: &str| sample.join(name).display().to_string();
    let run = run_in(
        dir.path(),
        &[
            "analyze",
            "-q",
            "--consumers",
            &path("consumers.csv"),
            "--segments",
            &path("segments.toml"),
            "--regions",
            "regions.geojson",
            "--cities",
            "cities.geojson",
            "--budget",
            "3000",
            "--out",
            "out",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = dir.path().join("out");
    let manifest = json(&out.join("manifest.json"));
    let scopes = manifest["scopes"].as_array().expect("scopes");
    let (all, region, city) = (&scopes[0], &scopes[1], &scopes[2]);
    assert_eq!(region["name"], "Everywhere");
    assert_eq!(region["outputs_in"], "all");
    assert_eq!(region["outputs"], serde_json::json!([]));
    assert_eq!(region["consumers"], all["consumers"]);
    assert_eq!(region["segments"], all["segments"]);
    // The city is its own scope, in the region's folder.
    assert!(city.get("outputs_in").is_none());
    assert!(out.join("everywhere/middle/map.html").is_file());
    let region_files: Vec<_> = std::fs::read_dir(out.join("everywhere"))
        .expect("folder")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(
        region_files,
        ["middle"],
        "the region writes no file of its own"
    );
    // Its summary rows are all's figures under its name; its index rows open all's map.
    let summary = csv_rows(&out.join("summary.csv"));
    let rows = |kind: &str| -> Vec<Vec<String>> {
        summary
            .iter()
            .filter(|r| r["scope_kind"] == kind)
            .map(|r| {
                let mut row: Vec<(String, String)> = r
                    .iter()
                    .filter(|(k, _)| !["scope_kind", "region", "city"].contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                row.sort();
                row.into_iter().map(|(_, v)| v).collect()
            })
            .collect()
    };
    assert!(!rows("region").is_empty());
    assert_eq!(rows("region"), rows("all"));
    let index = crate::common::index_rows(&out.join("index.html"));
    let region_rows: Vec<_> = index
        .iter()
        .filter(|r| r["scope"] == "Everywhere")
        .collect();
    assert!(!region_rows.is_empty());
    for row in region_rows {
        let map = row["map"].as_str().expect("map");
        assert!(map.starts_with("all/map.html#segment="), "{map}");
    }
}

#[test]
fn stability_marks_micro_markets_found_again_at_the_neighbouring_resolutions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = run_in(
        dir.path(),
        &["-q", "analyze", "--stability", "--no-maps", "--out", "out"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let manifest = json(&dir.path().join("out/manifest.json"));
    assert_eq!(manifest["parameters"]["stability"], true);
    let markets = json(&dir.path().join("out/all/micromarkets.geojson"));
    let features = markets["features"].as_array().expect("features");
    let flags: Vec<(bool, bool)> = features
        .iter()
        .map(|f| {
            let p = &f["properties"];
            (
                p["stable_coarser"].as_bool().expect("checked"),
                p["stable_finer"].as_bool().expect("checked"),
            )
        })
        .collect();
    // The strongest plants are found again at both neighbours; not every micro-market is.
    assert!(flags[..3].iter().all(|&f| f == (true, true)), "{flags:?}");
    assert!(flags.iter().any(|&f| f != (true, true)), "{flags:?}");
    // Without the flag nothing is checked, and the rest of the file is the same.
    let run = run_in(
        dir.path(),
        &["-q", "analyze", "--no-maps", "--out", "plain"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let plain = json(&dir.path().join("plain/all/micromarkets.geojson"));
    let plain_features = plain["features"].as_array().expect("features");
    assert_eq!(plain_features.len(), features.len());
    for (a, b) in plain_features.iter().zip(features) {
        assert!(a["properties"]["stable_coarser"].is_null());
        let mut b = b.clone();
        b["properties"]["stable_coarser"] = serde_json::Value::Null;
        b["properties"]["stable_finer"] = serde_json::Value::Null;
        assert_eq!(a, &b);
    }
}
