//! One protected table (issue 15): the same set of consumers gets the same published value in
//! every file that shows it, in every rerun and whatever the thread count.

use crate::common::{csv_rows, json, repo, run_in};
use std::collections::HashMap;
use std::path::Path;

/// Runs `analyze` on the bundled sample into `out` with `extra` arguments.
fn sample(out: &Path, extra: &[&str]) {
    let out = out.display().to_string();
    let mut args = vec!["-q", "analyze", "--formats", "csv", "--out", &out];
    args.extend_from_slice(extra);
    let run = run_in(&repo(), &args);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

/// The embedded data of a map page.
fn map_data(path: &Path) -> serde_json::Value {
    let page = std::fs::read_to_string(path).expect("map");
    let start = page
        .find(r#"<script id="micromarket-data" type="application/json">"#)
        .expect("data block");
    let rest = &page[start..];
    let body = &rest[rest.find('>').expect("tag") + 1..rest.find("</script>").expect("end")];
    serde_json::from_str(body).expect("JSON")
}

/// `(kind, name, segment) → (population, members)` of index.html's rows, as printed in the
/// summary (a city's name without its region).
fn index_rows(path: &Path) -> HashMap<(String, String, String), (String, String)> {
    crate::common::index_rows(path)
        .iter()
        .map(|row| {
            let scope = row["scope"].as_str().expect("scope");
            let name = scope.rsplit(" / ").next().unwrap_or(scope);
            let key = (
                row["kind"].as_str().expect("kind").into(),
                name.into(),
                row["segment"].as_str().expect("segment").into(),
            );
            (key, (text(&row["population"]), text(&row["members"])))
        })
        .collect()
}

fn text(value: &serde_json::Value) -> String {
    value.as_u64().map(|v| v.to_string()).unwrap_or_default()
}

#[test]
fn a_scope_total_is_the_same_in_summary_index_map_and_manifest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    sample(&out, &[]);
    let manifest = json(&out.join("manifest.json"));
    let summary = csv_rows(&out.join("summary.csv"));
    let index = index_rows(&out.join("index.html"));
    let mut checked = 0;
    for scope in manifest["scopes"].as_array().expect("scopes") {
        let kind = scope["kind"].as_str().expect("kind");
        let name = scope["name"].as_str().expect("name");
        let (region, city) = (
            scope["region"].as_str().unwrap_or(""),
            scope["city"].as_str().unwrap_or(""),
        );
        let map_path = scope["outputs"]
            .as_array()
            .expect("outputs")
            .iter()
            .find(|o| o["kind"] == "map")
            .expect("map")["path"]
            .as_str()
            .expect("path");
        let map = map_data(&out.join(map_path));
        let population = text(&scope["consumers"]);
        assert_eq!(text(&map["scope"]["population"]), population, "{name}");
        for (s, segment) in map["segments"]
            .as_array()
            .expect("segments")
            .iter()
            .enumerate()
        {
            let segment_name = segment["name"].as_str().expect("name");
            let row = summary
                .iter()
                .find(|r| {
                    r["scope_kind"] == kind
                        && r["region"] == region
                        && r["city"] == city
                        && r["segment"] == segment_name
                })
                .expect("summary row");
            assert_eq!(row["privacy"], "perturb");
            assert_eq!(row["population"], population, "{name}");
            assert_eq!(row["consumers"], text(&segment["members"]), "{name}");
            assert_eq!(scope["segments"][s]["segment"].as_str(), Some(segment_name));
            let (index_n, index_k) = &index[&(kind.into(), name.into(), segment_name.into())];
            assert_eq!(index_n, &row["population"], "{name}");
            assert_eq!(index_k, &row["consumers"], "{name}");
            checked += 1;
        }
    }
    assert_eq!(checked, 15 * 31);
}

/// `(scope folder, hex, segment) → (population, count)` of every cells.csv of a run.
fn cells(out: &Path) -> HashMap<(String, String, String), (String, String)> {
    let mut cells = HashMap::new();
    for file in crate::common::files_under(out) {
        let Some(scope) = file.strip_suffix("/cells.csv") else {
            continue;
        };
        for row in csv_rows(&out.join(&file)) {
            let key = (scope.into(), row["hex_id"].clone(), row["segment"].clone());
            cells.insert(key, (row["population"].clone(), row["count"].clone()));
        }
    }
    cells
}

#[test]
fn the_same_consumers_in_nested_scopes_get_the_same_value() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (truth_out, out) = (dir.path().join("truth"), dir.path().join("out"));
    sample(&truth_out, &["--no-maps", "--privacy", "none"]);
    sample(&out, &["--no-maps"]);
    let truth = cells(&truth_out);
    let published = cells(&out);
    // A city's consumers in a cell are a subset of its region's there: equal true counts mean
    // the same consumers, so the same record keys and the same published value.
    let (mut same_sets, mut differing) = (0, 0);
    for ((scope, hex, segment), (n, k)) in &published {
        let Some((region, _)) = scope.split_once('/') else {
            continue;
        };
        let outer = (region.to_string(), hex.clone(), segment.clone());
        let inner = (scope.clone(), hex.clone(), segment.clone());
        let (Some(outer_true), Some(outer_published)) = (truth.get(&outer), published.get(&outer))
        else {
            continue;
        };
        let inner_true = &truth[&inner];
        if inner_true.0 == outer_true.0 {
            assert_eq!(n, &outer_published.0, "{inner:?}");
            same_sets += 1;
        }
        if inner_true.1 == outer_true.1 {
            assert_eq!(k, &outer_published.1, "{inner:?}");
        }
        differing += u64::from(n != &inner_true.0);
    }
    assert!(same_sets > 1000, "{same_sets}");
    // And the values are perturbed, not the true ones.
    assert!(differing > 100, "{differing}");
}

#[test]
fn reruns_and_thread_counts_publish_the_same_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    sample(&one, &["--threads", "1", "--no-maps"]);
    sample(&two, &["--threads", "2", "--no-maps"]);
    for file in ["summary.csv", "all/cells.csv", "westmark/ashford/cells.csv"] {
        assert_eq!(
            std::fs::read(one.join(file)).expect("one"),
            std::fs::read(two.join(file)).expect("two"),
            "{file}"
        );
    }
}

#[test]
fn a_secret_key_decides_the_values_and_never_appears() {
    let dir = tempfile::tempdir().expect("tempdir");
    let consumers = crate::common::tiny().join("consumers.csv");
    let write_key = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).expect("key");
        path.display().to_string()
    };
    let (a, b) = (
        write_key("a.key", b"0123456789abcdef-first-secret"),
        write_key("b.key", b"0123456789abcdef-other-secret"),
    );
    let run = |key: &str, out: &str| {
        let args = ["--privacy-key", key, "--min-count", "3", "--out", out];
        let r = crate::common::analyze_tiny(dir.path(), &consumers, &args);
        assert_eq!(r.code, 0, "{}", r.stderr);
        std::fs::read(dir.path().join(out).join("all/cells.csv")).expect("cells")
    };
    let (first, again, other) = (run(&a, "a1"), run(&a, "a2"), run(&b, "b"));
    assert_eq!(first, again, "the same key gives the same values");
    assert_ne!(first, other, "another key gives other values");
    let manifest = json(&dir.path().join("a1/manifest.json"));
    assert_eq!(
        manifest["parameters"]["privacy"]["key_origin"],
        "secret-file"
    );
    assert_eq!(manifest["warnings"], serde_json::json!([]));
    assert!(!manifest.to_string().contains("first-secret"));
    // Too short a secret is refused before anything is written.
    let short = write_key("short.key", b"too short");
    let r = crate::common::analyze_tiny(
        dir.path(),
        &consumers,
        &["--privacy-key", &short, "--out", "short"],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("at least 16"), "{}", r.stderr);
    assert!(!dir.path().join("short").exists());
}
