//! The minimum-count promise over every output file: `analyze` on random small worlds, then
//! every count, population and member figure of every file (cell layers, CSV, micro-markets,
//! campaigns, summary, index, maps and manifest) is 0, at least k, or hidden.

use base64::Engine;
use micromarket::consumer::Source;
use micromarket::synth::{SynthOptions, World};
use micromarket::{AnalyzeConfig, GivenParams, TextInput, analyze};
use proptest::prelude::*;
use std::path::Path;

/// Names of the fields that hold a count of people.
fn is_people(field: &str) -> bool {
    [
        "population",
        "count",
        "members",
        "consumers",
        "campaign_members",
        "campaign_population",
    ]
    .contains(&field)
        || field.ends_with("_count")
        || field.ends_with("_members")
}

/// A figure of `field` that breaks the rule for minimum count `k`.
fn check(field: &str, value: u64, k: u64, file: &Path) -> Result<(), TestCaseError> {
    prop_assert!(
        value == 0 || value >= k,
        "{}: {field} = {value} with k = {k}",
        file.display()
    );
    Ok(())
}

/// Every people figure in a JSON value, by field name (recursively).
fn scan_json(value: &serde_json::Value, k: u64, file: &Path) -> Result<(), TestCaseError> {
    match value {
        serde_json::Value::Object(map) => {
            for (field, v) in map {
                if let Some(n) = v.as_u64().filter(|_| is_people(field)) {
                    check(field, n, k, file)?;
                }
                scan_json(v, k, file)?;
            }
        }
        serde_json::Value::Array(items) => {
            for v in items {
                scan_json(v, k, file)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Checks every people count of a FlatGeobuf layer (read with the flatgeobuf crate's reader).
fn scan_fgb(path: &Path, k: u64) -> Result<(), TestCaseError> {
    use flatgeobuf::{FallibleStreamingIterator, FgbReader};
    use geozero::FeatureProperties;
    let mut file = std::io::BufReader::new(std::fs::File::open(path).expect("fgb"));
    let mut features = FgbReader::open(&mut file)
        .and_then(FgbReader::select_all)
        .expect("a FlatGeobuf file");
    while let Some(feature) = features.next().expect("feature") {
        for (field, value) in feature.properties().expect("properties") {
            if let Some(n) = value.parse::<u64>().ok().filter(|_| is_people(&field)) {
                check(&field, n, k, path)?;
            }
        }
    }
    Ok(())
}

/// The integers of a map's packed array (`{"type": "u8", "data": base64}`).
fn unpack(packed: &serde_json::Value) -> Vec<i64> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(packed["data"].as_str().expect("data"))
        .expect("base64");
    let kind = packed["type"].as_str().expect("type");
    let width = kind[1..].parse::<usize>().expect("bits") / 8;
    bytes
        .chunks(width)
        .map(|b| {
            let mut wide = [0u8; 8];
            wide[..width].copy_from_slice(b);
            let shift = 64 - 8 * width as u32;
            let raw = i64::from_le_bytes(wide);
            if kind.starts_with('i') {
                (raw << shift) >> shift
            } else {
                raw
            }
        })
        .collect()
}

fn scan_map(text: &str, k: u64, file: &Path) -> Result<(), TestCaseError> {
    let start = text.find(r#"type="application/json">"#).expect("data") + 24;
    let end = start + text[start..].find("</script>").expect("end");
    let data: serde_json::Value = serde_json::from_str(&text[start..end]).expect("JSON");
    scan_json(&data, k, file)?;
    for n in unpack(&data["cells"]["population"]) {
        check("cell population", n as u64, k, file)?;
    }
    for segment in data["segments"].as_array().expect("segments") {
        for n in unpack(&segment["count"]).into_iter().filter(|&n| n >= 0) {
            check("cell count", n as u64, k, file)?;
        }
    }
    Ok(())
}

fn scan_csv(path: &Path, k: u64) -> Result<(), TestCaseError> {
    let mut reader = csv::Reader::from_path(path).expect("csv");
    let header = reader.headers().expect("header").clone();
    for record in reader.records() {
        for (field, value) in header.iter().zip(&record.expect("record")) {
            if let Some(n) = value.parse::<u64>().ok().filter(|_| is_people(field)) {
                check(field, n, k, path)?;
            }
        }
    }
    Ok(())
}

/// The index's population and members columns (the fourth and fifth of each row).
fn scan_index(k: u64, file: &Path) -> Result<(), TestCaseError> {
    for row in crate::common::index_rows(file) {
        for field in ["population", "members", "best_members"] {
            if let Some(n) = row[field].as_u64() {
                check(field, n, k, file)?;
            }
        }
    }
    Ok(())
}

/// Scans every file under `folder`; returns how many were read.
fn scan(folder: &Path, k: u64) -> Result<usize, TestCaseError> {
    let mut files = 0;
    for entry in std::fs::read_dir(folder).expect("folder") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        if path.is_dir() {
            if name != "assets" {
                files += scan(&path, k)?;
            }
            continue;
        }
        files += 1;
        if path.extension().is_some_and(|e| e == "parquet") {
            for row in crate::common::parquet_rows(&path) {
                scan_json(&row, k, &path)?;
            }
            continue;
        }
        if path.extension().is_some_and(|e| e == "fgb") {
            scan_fgb(&path, k)?;
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("text");
        match path.extension().and_then(|e| e.to_str()) {
            Some("geojsons") => {
                for record in text.split('\x1e').filter(|r| !r.is_empty()) {
                    scan_json(&serde_json::from_str(record).expect("JSON"), k, &path)?;
                }
            }
            Some("geojson" | "json") => {
                scan_json(&serde_json::from_str(&text).expect("JSON"), k, &path)?;
            }
            Some("csv") if name != "rejects.csv" => scan_csv(&path, k)?,
            Some("html") if name == "index.html" => scan_index(k, &path)?,
            Some("html") => scan_map(&text, k, &path)?,
            _ => {}
        }
    }
    Ok(files)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn no_output_holds_a_figure_below_the_minimum_count(
        seed in 0u64..1_000,
        consumers in 300usize..3_000,
        k in 2u32..25,
        budget in prop::option::of(50u64..2_000),
        micromarkets in prop::bool::ANY,
    ) {
        let world = World::new(SynthOptions { seed, consumers, ..SynthOptions::default() });
        let mut csv = Vec::new();
        world.write_consumers(&mut csv).expect("consumers");
        let out = tempfile::tempdir().expect("tempdir");
        let mut config = AnalyzeConfig::new(
            Source::Bytes { name: "consumers.csv".into(), data: csv.into() },
            TextInput { name: "segments.toml".into(), text: World::segments_toml() },
            out.path().join("out"),
        );
        config.regions = Some(TextInput { name: "regions.geojson".into(), text: world.regions_geojson() });
        config.cities = Some(TextInput { name: "cities.geojson".into(), text: world.cities_geojson() });
        config.formats = micromarket::export::Formats::of(&micromarket::export::Format::ALL);
        config.params = micromarket::AnalysisParams::new(GivenParams {
            min_count: Some(k),
            budget,
            budget_unit: Some(if micromarkets {
                micromarket::market::BudgetUnit::Micromarkets
            } else {
                micromarket::market::BudgetUnit::Cells
            }),
            ..GivenParams::default()
        })
        .expect("valid");
        analyze(&config, &std::sync::Arc::default()).expect("run");
        let files = scan(&out.path().join("out"), u64::from(k))?;
        prop_assert!(files > 10, "{files} files scanned");
    }
}
