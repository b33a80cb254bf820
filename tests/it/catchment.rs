//! `catchment`: radius and nearest modes on the tiny fixture, overlap, bad stores files.

use crate::common::{assert_rejects, csv_rows, json, run_tiny, tiny};
use std::path::Path;

fn catchment(dir: &Path, stores: &Path, extra: &[&str]) -> crate::common::Run {
    let stores = stores.display().to_string();
    // Exact counts, to check against the hand computation.
    let mut args = vec![
        "--stores",
        stores.as_str(),
        "--min-count",
        "1",
        "--privacy",
        "none",
    ];
    args.extend_from_slice(extra);
    run_tiny(dir, "catchment", &tiny().join("consumers.csv"), &args)
}

/// Consumers per store from catchments.csv (one row per store and segment).
fn consumers_per_store(dir: &Path) -> Vec<(String, u64)> {
    csv_rows(&dir.join("out/catchments.csv"))
        .into_iter()
        .filter(|r| r["segment"] == "women")
        .map(|r| {
            (
                r["store_id"].clone(),
                r["consumers"].parse().expect("count"),
            )
        })
        .collect()
}

#[test]
fn nearest_mode_assigns_each_consumer_within_max_km_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = catchment(
        dir.path(),
        &tiny().join("stores.csv"),
        &["--nearest", "--max-km", "5"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    // A (12) and B (5, 2.3 km away) go to s1, C (15) to s2; D (10.2 km) and E are too far.
    assert_eq!(
        consumers_per_store(dir.path()),
        vec![("s1".into(), 17), ("s2".into(), 15)]
    );
    let manifest = json(&dir.path().join("out/manifest.json"));
    assert_eq!(manifest["assigned"], 32);
    assert_eq!(manifest["mode"]["mode"], "nearest");
    assert!(!dir.path().join("out/overlap.csv").exists());
    let rows = csv_rows(&dir.path().join("out/catchments.csv"));
    let s2 = rows
        .iter()
        .find(|r| r["store_id"] == "s2" && r["segment"] == "young")
        .expect("row");
    // s2 lies in Southville: 10 of 15 young against Southville's 10/15: lift 1.
    assert_eq!((s2["members"].as_str(), s2["lift"].as_str()), ("10", "1"));
}

#[test]
fn radius_mode_reports_overlap() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = catchment(
        dir.path(),
        &tiny().join("stores.csv"),
        &["--radius-km", "5"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    // A and C are 4.5 km apart: each shop reaches both sites; B only from s1.
    assert_eq!(
        consumers_per_store(dir.path()),
        vec![("s1".into(), 32), ("s2".into(), 27)]
    );
    let overlap = csv_rows(&dir.path().join("out/overlap.csv"));
    assert_eq!(overlap.len(), 1);
    assert_eq!(
        (
            overlap[0]["store_a"].as_str(),
            overlap[0]["store_b"].as_str(),
            overlap[0]["shared"].as_str()
        ),
        ("s1", "s2", "27")
    );
    let stores = json(&dir.path().join("out/stores.geojson"));
    assert_eq!(
        stores["features"][0]["geometry"]["coordinates"],
        serde_json::json!([20.01, 10.06])
    );
}

#[test]
fn bad_store_rows_are_rejected_with_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stores = dir.path().join("stores.csv");
    std::fs::write(
        &stores,
        "id,name,lat,lon\ns1,A,10.06,20.01\ns2,B,95,20\ns1,C,10,20\ns4,D\n,E,10,20\n",
    )
    .expect("write");
    let run = catchment(dir.path(), &stores, &["--radius-km", "1"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_rejects(
        &dir.path().join("out/store_rejects.csv"),
        &[
            ("3", "invalid_latitude"),
            ("4", "duplicate_id"),
            ("5", "wrong_field_count"),
            ("6", "missing_id"),
        ],
    );
    let manifest = json(&dir.path().join("out/manifest.json"));
    assert_eq!(manifest["store_rows"]["read"], 5);
    assert_eq!(manifest["store_rows"]["accepted"], 1);

    std::fs::write(&stores, "id,name,lat,lon\ns1,A,abc,20\n").expect("write");
    let run = catchment(dir.path(), &stores, &["--radius-km", "1", "--out", "none"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("holds no valid store (1 rows rejected)"),
        "{}",
        run.stderr
    );
    let run = catchment(dir.path(), &dir.path().join("missing.csv"), &["--nearest"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("missing.csv"), "{}", run.stderr);
}
