//! Pathological inputs at sizes that keep the test run short (`benches/pathological/run.sh` runs
//! them at full size: a 1,000,000-vertex boundary, a 50 MB field, 20,000 columns, a 2 GB file):
//! each works or fails with a clear message, and none aborts.

use crate::common::{csv_rows, json, repo, run_in};
use std::fmt::Write as _;
use std::path::Path;

/// The sample's consumers file, its header and its data lines.
fn sample_lines() -> (String, Vec<String>) {
    let text = std::fs::read_to_string(repo().join("data/sample/consumers.csv")).expect("sample");
    let mut lines = text.lines().map(str::to_string);
    let header = lines.next().expect("header");
    (header, lines.collect())
}

/// Runs `analyze` in `dir` with the sample's regions and segments unless `extra` names others.
fn analyze(dir: &Path, consumers: &str, extra: &[&str]) -> crate::common::Run {
    let sample = repo().join("data/sample");
    let path = |name: &str| sample.join(name).display().to_string();
    let (regions, segments) = (path("regions.geojson"), path("segments.toml"));
    let mut args = vec!["analyze", "-q", "--consumers", consumers, "--out", "out"];
    if !extra.contains(&"--regions") {
        args.extend(["--regions", &regions]);
    }
    if !extra.contains(&"--segments") {
        args.extend(["--segments", &segments]);
    }
    args.extend(extra);
    run_in(dir, &args)
}

#[test]
fn a_huge_field_rejects_its_row_with_a_bounded_text() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (header, lines) = sample_lines();
    let mut text = header + "\n";
    for (i, line) in lines.iter().enumerate() {
        if i == 5 {
            // The discipline, a grid dimension, 8 MB long.
            let mut fields: Vec<String> = line.split(',').map(str::to_string).collect();
            fields[5] = "x".repeat(8 << 20);
            text.push_str(&fields.join(","));
        } else {
            text.push_str(line);
        }
        text.push('\n');
    }
    std::fs::write(dir.path().join("c.csv"), text).expect("write");
    let run = analyze(dir.path(), "c.csv", &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let rejects = csv_rows(&dir.path().join("out.rejects.csv"));
    assert_eq!(rejects.len(), 1);
    assert_eq!(rejects[0]["line"], "7");
    assert_eq!(rejects[0]["reason"], "value_too_long");
    assert!(
        rejects[0]["text"].len() < 5000 && rejects[0]["text"].ends_with("bytes in all)"),
        "{}",
        &rejects[0]["text"][..200]
    );
    // No grid segment is named after it.
    let manifest = json(&dir.path().join("out/manifest.json"));
    let segments = manifest["parameters"]["segments"]
        .as_array()
        .expect("names");
    assert!(
        segments
            .iter()
            .all(|s| s.as_str().expect("name").len() < 100)
    );
}

#[test]
fn an_unclosed_quote_names_its_line_and_nothing_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (header, lines) = sample_lines();
    let mut text = header + "\n";
    for (i, line) in lines.iter().enumerate() {
        text.push_str(&if i == 5 {
            line.replacen(",road,", ",\"road,", 1)
                .replacen(",mountain,", ",\"mountain,", 1)
        } else {
            line.clone()
        });
        text.push('\n');
    }
    assert_ne!(text.matches('"').count(), 0);
    std::fs::write(dir.path().join("c.csv"), text).expect("write");
    let run = analyze(dir.path(), "c.csv", &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("c.csv: line 7 opens a double quote that is never closed"),
        "{}",
        run.stderr
    );
    assert!(!dir.path().join("out").exists());
}

#[test]
fn twenty_thousand_columns_read_only_what_the_segments_use() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, lines) = sample_lines();
    let columns = 20_000;
    let mut text = String::from("id,lat,lon,discipline");
    for c in 4..columns {
        write!(text, ",a{c}").expect("write");
    }
    text.push('\n');
    let filler = ",7".repeat(columns - 4);
    for line in lines.iter().take(300) {
        let fields: Vec<&str> = line.split(',').collect();
        writeln!(
            text,
            "{},{},{},{}{filler}",
            fields[0], fields[1], fields[2], fields[5]
        )
        .expect("write");
    }
    std::fs::write(dir.path().join("c.csv"), text).expect("write");
    let segments = dir.path().join("s.toml");
    std::fs::write(
        &segments,
        "[[segment]]\nname = \"road\"\nfilter = \"discipline = 'road' AND a19999 = 7\"\n",
    )
    .expect("write");
    let segments = segments.display().to_string();
    let run = analyze(dir.path(), "c.csv", &["--segments", &segments]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let manifest = json(&dir.path().join("out/manifest.json"));
    assert_eq!(manifest["rows"]["accepted"], 300);
    // A typo names a few of the columns, not twenty thousand.
    std::fs::write(
        dir.path().join("s.toml"),
        "[[segment]]\nname = \"road\"\nfilter = \"disciplin = 'road'\"\n",
    )
    .expect("write");
    let run = analyze(dir.path(), "c.csv", &["--segments", &segments]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("unknown attribute 'disciplin'")
            && run.stderr.contains("known attributes: discipline, a4, a5")
            && run.stderr.contains("and 19967 more")
            && run.stderr.len() < 2000,
        "{}",
        run.stderr
    );
}

#[test]
fn a_boundary_of_200000_vertices_is_loaded_and_used() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A wobbly ring around the sample's area: 200,000 vertices.
    let n = 200_000;
    let mut ring = String::new();
    for i in 0..=n {
        let t = std::f64::consts::TAU * f64::from(i % n) / f64::from(n);
        let r = 1.6 + 0.05 * (t * 2000.0).sin();
        let sep = if i == 0 { "" } else { "," };
        write!(
            ring,
            "{sep}[{:.7},{:.7}]",
            8.5 + 1.4 * r * t.cos(),
            46.8 + r * t.sin()
        )
        .expect("write");
    }
    let regions = format!(
        "{{\"type\":\"FeatureCollection\",\"features\":[{{\"type\":\"Feature\",\"properties\":{{\"name\":\"Wobbly\"}},\"geometry\":{{\"type\":\"Polygon\",\"coordinates\":[[{ring}]]}}}}]}}"
    );
    std::fs::write(dir.path().join("r.geojson"), regions).expect("write");
    let consumers = repo().join("data/sample/consumers.csv");
    let run = analyze(
        dir.path(),
        &consumers.display().to_string(),
        &["--regions", "r.geojson", "--formats", "csv"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let manifest = json(&dir.path().join("out/manifest.json"));
    let scopes = manifest["scopes"].as_array().expect("scopes");
    let wobbly = scopes
        .iter()
        .find(|s| s["name"] == "Wobbly")
        .expect("the region");
    let inside = wobbly["consumers"].as_u64().expect("consumers");
    assert!(inside > 50_000, "{inside}");
}
