//! The cell layers agree with each other: `cells.parquet` (GeoParquet) holds exactly the figures
//! of `cells.csv`, the lean `cells.geojson` their subset, `cells.geojsons` the same features; a
//! default run writes the lean GeoJSON and the GeoParquet only.

use crate::common::{ALL_FORMATS, csv_rows, json, parquet_rows, run_in};
use std::collections::HashMap;
use std::path::Path;

/// A CSV field as the JSON value the typed layers hold: null when empty.
fn typed(text: &str, column: &str) -> serde_json::Value {
    match (text, column) {
        ("", _) => serde_json::Value::Null,
        ("true", _) => true.into(),
        ("false", _) => false.into(),
        (_, "count" | "population") => text.parse::<u64>().expect("integer").into(),
        _ => text.parse::<f64>().expect("number").into(),
    }
}

/// Bounds of a GeoJSON geometry's positions.
fn bounds(geometry: &serde_json::Value) -> [f64; 4] {
    fn walk(v: &serde_json::Value, b: &mut [f64; 4]) {
        let items = v.as_array().expect("array");
        if let (Some(x), Some(y)) = (
            items.first().and_then(serde_json::Value::as_f64),
            items.get(1).and_then(serde_json::Value::as_f64),
        ) {
            *b = [b[0].min(x), b[1].min(y), b[2].max(x), b[3].max(y)];
        } else {
            for item in items {
                walk(item, b);
            }
        }
    }
    let mut b = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
    walk(&geometry["coordinates"], &mut b);
    b
}

fn check_scope(folder: &Path, segments: &[String]) -> usize {
    let csv: HashMap<(String, String), HashMap<String, String>> =
        csv_rows(&folder.join("cells.csv"))
            .into_iter()
            .map(|r| ((r["hex_id"].clone(), r["segment"].clone()), r))
            .collect();
    let parquet = parquet_rows(&folder.join("cells.parquet"));
    let geojson = json(&folder.join("cells.geojson"));
    let features = geojson["features"].as_array().expect("features");
    assert_eq!(parquet.len(), features.len(), "{}", folder.display());
    assert_eq!(
        parquet.len() * segments.len(),
        csv.len(),
        "{}",
        folder.display()
    );
    let sequence = std::fs::read_to_string(folder.join("cells.geojsons")).expect("geojsons");
    let records: Vec<&str> = sequence.split('\x1e').skip(1).collect();
    assert!(sequence.starts_with('\x1e') && records.iter().all(|r| r.ends_with('\n')));
    assert_eq!(records.len(), features.len());
    for (i, ((row, feature), record)) in parquet.iter().zip(features).zip(&records).enumerate() {
        let first = i == 0;
        let record: serde_json::Value = serde_json::from_str(record).expect("record JSON");
        assert_eq!(
            &record, feature,
            "the sequence holds the collection's features"
        );
        let hex = row["hex_id"].as_str().expect("hex_id");
        let lean = &feature["properties"];
        assert_eq!(lean["hex_id"], hex);
        assert_eq!(
            row["h3"].as_u64(),
            Some(u64::from_str_radix(hex, 16).expect("hex"))
        );
        assert_eq!(row["population"], lean["population"]);
        for segment in segments {
            let full = &csv[&(hex.to_string(), segment.clone())];
            assert_eq!(row["population"], typed(&full["population"], "population"));
            for column in [
                "count",
                "penetration",
                "penetration_low",
                "penetration_high",
                "lift",
                "lift_low",
                "lift_high",
                "gi",
                "p_value",
                "q_value",
                "hot",
                "in_micromarket",
            ] {
                let key = format!("{segment}_{column}");
                let want = typed(&full[column], column);
                assert_eq!(row[&key], want, "{} {hex} {key}", folder.display());
                if ["count", "penetration", "lift", "in_micromarket"].contains(&column) {
                    // Past the first feature, nulls and false flags are left out.
                    let got = match lean.get(&key) {
                        Some(value) => value.clone(),
                        None if column == "in_micromarket" => false.into(),
                        None => serde_json::Value::Null,
                    };
                    assert!(
                        !(first && lean.get(&key).is_none()),
                        "the first feature lists {key}"
                    );
                    assert!(
                        first || !matches!(lean.get(&key), Some(v) if v.is_null() || v == false),
                        "{} {hex}: {key} is left out, not written as {}",
                        folder.display(),
                        lean[&key]
                    );
                    assert_eq!(got, want, "{} {hex} lean {key}", folder.display());
                } else {
                    assert!(lean.get(&key).is_none(), "lean GeoJSON has no {key}");
                }
            }
        }
        let b = bounds(&feature["geometry"]);
        let bbox = &row["bbox"];
        let got = ["xmin", "ymin", "xmax", "ymax"].map(|k| bbox[k].as_f64().expect("bound"));
        assert!(
            got.iter().zip(b).all(|(g, w)| (g - w).abs() < 1e-12),
            "{} {hex}: the bbox {got:?} is the geometry's bounds {b:?}",
            folder.display()
        );
    }
    parquet.len()
}

#[test]
fn parquet_csv_and_geojson_layers_hold_the_same_figures() {
    let dir = tempfile::tempdir().expect("tempdir");
    let made = run_in(
        dir.path(),
        &["-q", "synth", "--consumers", "8000", "--out", "w"],
    );
    assert_eq!(made.code, 0, "{}", made.stderr);
    let analyze = |out: &str, formats: Option<&str>| {
        let mut args = vec![
            "-q",
            "analyze",
            "--consumers",
            "w/consumers.csv",
            "--regions",
            "w/regions.geojson",
            "--cities",
            "w/cities.geojson",
            "--segments",
            "w/segments.toml",
            "--min-count",
            "4",
            "--no-maps",
            "--out",
            out,
        ];
        if let Some(formats) = formats {
            args.extend(["--formats", formats]);
        }
        let run = run_in(dir.path(), &args);
        assert_eq!(run.code, 0, "{}", run.stderr);
        json(&dir.path().join(out).join("manifest.json"))
    };
    let manifest = analyze("every", Some(ALL_FORMATS));
    assert_eq!(manifest["parameters"]["formats"], ALL_FORMATS);
    let segments: Vec<String> = manifest["parameters"]["segments"]
        .as_array()
        .expect("segments")
        .iter()
        .map(|s| s.as_str().expect("name").to_string())
        .collect();
    let mut cells = 0;
    for scope in manifest["scopes"].as_array().expect("scopes") {
        let cells_output = scope["outputs"]
            .as_array()
            .expect("outputs")
            .iter()
            .find(|o| o["kind"] == "cells_parquet")
            .expect("a parquet layer per scope");
        let path = dir
            .path()
            .join("every")
            .join(cells_output["path"].as_str().expect("path"));
        cells += check_scope(path.parent().expect("folder"), &segments);
    }
    assert!(cells > 500, "{cells} cells checked");

    let defaults = analyze("default", None);
    assert_eq!(defaults["parameters"]["formats"], "geojson,parquet");
    let kinds: Vec<&str> = defaults["scopes"][0]["outputs"]
        .as_array()
        .expect("outputs")
        .iter()
        .map(|o| o["kind"].as_str().expect("kind"))
        .collect();
    assert!(kinds.contains(&"cells") && kinds.contains(&"cells_parquet"));
    assert!(!kinds.contains(&"cells_csv") && !kinds.contains(&"cells_geojsonseq"));
}

#[test]
fn geoparquet_metadata_names_the_geometry_and_its_covering() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = crate::common::analyze_tiny(
        dir.path(),
        &crate::common::tiny().join("consumers.csv"),
        &["--min-count", "2", "--privacy", "suppress"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let file = std::fs::File::open(dir.path().join("out/all/cells.parquet")).expect("open");
    let reader = parquet::file::reader::SerializedFileReader::new(file).expect("parquet");
    let metadata = parquet::file::reader::FileReader::metadata(&reader).file_metadata();
    let geo = metadata
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|k| k.key == "geo"))
        .and_then(|k| k.value.clone())
        .expect("geo metadata");
    let geo: serde_json::Value = serde_json::from_str(&geo).expect("geo JSON");
    assert_eq!(geo["version"], "1.1.0");
    assert_eq!(geo["primary_column"], "geometry");
    let column = &geo["columns"]["geometry"];
    assert_eq!(column["encoding"], "WKB");
    assert_eq!(column["geometry_types"], serde_json::json!(["Polygon"]));
    assert_eq!(
        column["covering"]["bbox"]["xmin"],
        serde_json::json!(["bbox", "xmin"])
    );
    assert_eq!(column["bbox"].as_array().map(Vec::len), Some(4));
}

#[test]
fn geopandas_duckdb_gdal_and_the_validator_read_every_layer() {
    let python = crate::common::repo().join("target/check-venv/bin/python");
    let missing: Vec<&str> = [
        (!python.exists())
            .then_some("target/check-venv (pip install -r tests/layers/requirements.txt)"),
        std::process::Command::new("ogrinfo")
            .arg("--version")
            .output()
            .is_err()
            .then_some("ogrinfo (apt-get install -y gdal-bin)"),
    ]
    .into_iter()
    .flatten()
    .collect();
    assert!(
        missing.is_empty(),
        "the layer test needs {}; run .ci/setup",
        missing.join(", ")
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("sample");
    let run = run_in(
        &crate::common::repo(),
        &[
            "-q",
            "analyze",
            "--budget",
            "20000",
            "--no-maps",
            "--formats",
            ALL_FORMATS,
            "--out",
            &out.display().to_string(),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let check = std::process::Command::new(&python)
        .arg(crate::common::repo().join("tests/layers/check.py"))
        .arg(&out)
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert_eq!(stdout.lines().count(), 15, "every scope checked: {stdout}");
}

#[test]
fn a_scope_with_no_cell_shown_has_no_cell_layer() {
    // Every tiny cell holds fewer than 50 consumers: nothing is shown, nothing is written.
    let dir = tempfile::tempdir().expect("tempdir");
    let run = crate::common::analyze_tiny(
        dir.path(),
        &crate::common::tiny().join("consumers.csv"),
        &["--min-count", "50"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let manifest = json(&dir.path().join("out/manifest.json"));
    for scope in manifest["scopes"].as_array().expect("scopes") {
        for output in scope["outputs"].as_array().expect("outputs") {
            let kind = output["kind"].as_str().expect("kind");
            assert!(
                !kind.starts_with("cells"),
                "{kind} listed for {}",
                scope["id"]
            );
        }
    }
    let files = crate::common::files_under(&dir.path().join("out"));
    assert!(files.iter().all(|f| !f.contains("cells.")), "{files:?}");
    assert!(files.iter().any(|f| f.ends_with("micromarkets.geojson")));
}
