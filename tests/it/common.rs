//! Helpers: run the binary with a cleared environment, read outputs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root (where data/sample lives).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The tiny hand-made fixture folder.
pub fn tiny() -> PathBuf {
    repo().join("tests/fixtures/tiny")
}

/// What a run printed and returned.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `micromarket args...` in `dir` with a cleared environment.
pub fn run_in(dir: &Path, args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_micromarket"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .output()
        .expect("the binary runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Every cell layer format, for runs that check them all.
pub const ALL_FORMATS: &str = "geojson,geojsonseq,parquet,csv,fgb";

/// The rows of a Parquet file as JSON objects (column → value; binary as base64 text).
pub fn parquet_rows(path: &Path) -> Vec<serde_json::Value> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let reader = parquet::file::reader::SerializedFileReader::new(file).expect("parquet");
    parquet::file::reader::FileReader::get_row_iter(&reader, None)
        .expect("rows")
        .map(|row| row.expect("row").to_json_value())
        .collect()
}

/// Runs `analyze` on the tiny fixture with `consumers` as the consumers file and extra args.
pub fn analyze_tiny(dir: &Path, consumers: &Path, extra: &[&str]) -> Run {
    run_tiny(dir, "analyze", consumers, extra)
}

/// Runs `command` with the tiny fixture's regions, cities and segments, `consumers` as the
/// consumers file, its segments and `--out out` unless `extra` names others, every format for `analyze` unless
/// `extra` names some, then `extra`.
pub fn run_tiny(dir: &Path, command: &str, consumers: &Path, extra: &[&str]) -> Run {
    let t = tiny();
    let path = |name: &str| t.join(name).display().to_string();
    let consumers = consumers.display().to_string();
    let (regions, cities, segments) = (
        path("regions.geojson"),
        path("cities.geojson"),
        path("segments.toml"),
    );
    let mut args = vec![
        command,
        "--consumers",
        &consumers,
        "--regions",
        &regions,
        "--cities",
        &cities,
    ];
    if !extra.contains(&"--segments") {
        args.extend_from_slice(&["--segments", &segments]);
    }
    if !extra.contains(&"--out") {
        args.extend_from_slice(&["--out", "out"]);
    }
    if command == "analyze" && !extra.contains(&"--formats") {
        args.extend_from_slice(&["--formats", ALL_FORMATS]);
    }
    args.extend_from_slice(extra);
    run_in(dir, &args)
}

/// Asserts the `(line, reason)` of every row of a rejects file, in order.
pub fn assert_rejects(path: &Path, expected: &[(&str, &str)]) {
    let rows = csv_rows(path);
    let got: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r["line"].as_str(), r["reason"].as_str()))
        .collect();
    assert_eq!(got, expected, "{}", path.display());
}

/// Parses a JSON file.
pub fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("valid JSON")
}

/// Reads a CSV file into rows of column → value.
pub fn csv_rows(path: &Path) -> Vec<HashMap<String, String>> {
    let mut reader =
        csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let headers = reader.headers().expect("header").clone();
    reader
        .records()
        .map(|r| {
            let r = r.expect("record");
            headers
                .iter()
                .map(String::from)
                .zip(r.iter().map(String::from))
                .collect()
        })
        .collect()
}

/// The H3 cell of a point at resolution 8, as a hex string.
pub fn hex8(lat: f64, lng: f64) -> String {
    h3o::LatLng::new(lat, lng)
        .expect("finite")
        .to_cell(h3o::Resolution::Eight)
        .to_string()
}

/// Every file under `root` (none when it does not exist), as sorted paths relative to it with `/`.
pub fn files_under(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path.strip_prefix(root).expect("under root");
                found.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    found.sort();
    found
}

/// The rows of an `index.html`, one object per scope × segment, rebuilt from its embedded JSON
/// data (scopes, each with its figures per segment as arrays keyed by `fields`) as the page's
/// script rebuilds them.
pub fn index_rows(path: &Path) -> Vec<serde_json::Value> {
    let page = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let start = page
        .find(r#"<script type="application/json" id="mm-data">"#)
        .expect("data block");
    let rest = &page[start..];
    let body = &rest[rest.find('>').expect("tag") + 1..rest.find("</script>").expect("end")];
    let data: serde_json::Value = serde_json::from_str(body).expect("JSON");
    let fields = data["fields"].as_array().expect("fields");
    let segments = data["segments"].as_array().expect("segments");
    let mut rows = Vec::new();
    for scope in data["scopes"].as_array().expect("scopes") {
        let figures = scope["figures"].as_array().expect("figures");
        assert_eq!(figures.len(), segments.len(), "one row per segment");
        for (segment, values) in segments.iter().zip(figures) {
            let mut row = serde_json::Map::new();
            row.insert("kind".into(), scope["kind"].clone());
            row.insert("scope".into(), scope["scope"].clone());
            row.insert("segment".into(), segment.clone());
            let map = format!(
                "{}/map.html#segment={}",
                scope["folder"].as_str().expect("folder"),
                segment.as_str().expect("segment name")
            );
            row.insert("map".into(), map.into());
            let values = values.as_array().expect("values");
            assert_eq!(values.len(), fields.len(), "one value per field");
            for (key, value) in fields.iter().zip(values) {
                row.insert(key.as_str().expect("key").into(), value.clone());
            }
            rows.push(row.into());
        }
    }
    rows
}
