//! Bad input: every rejected-row case, boundary and segment errors, exit codes and messages.

use crate::common::{analyze_tiny, assert_rejects, csv_rows, json, run_in, tiny};
use std::path::Path;

/// The fixture's consumers followed by `extra` rows, written to `dir/consumers.csv`.
fn consumers_with(dir: &Path, extra: &str) -> std::path::PathBuf {
    let mut text = std::fs::read_to_string(tiny().join("consumers.csv")).expect("fixture");
    text.push_str(extra);
    let path = dir.join("consumers.csv");
    std::fs::write(&path, text).expect("write");
    path
}

#[test]
fn every_bad_row_is_rejected_with_line_and_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The fixture has a header and 45 rows, so extra rows start at line 47.
    let extra = "\
bad1,abc,20.0,F,30
bad2,91.5,20.0,F,30
bad3,NaN,20.0,F,30
bad4,10.0,inf,F,30
bad5,,20.0,F,30
,10.0,20.0,F,30
A1,10.0,20.0,F,30
bad8,10.0,20.0,F
bad9,10.0,-180.5,F,30
\"ok,1\",10.06,20.01,\"F\",31
";
    let consumers = consumers_with(dir.path(), extra);
    let run = analyze_tiny(
        dir.path(),
        &consumers,
        &[
            "--max-reject-ratio",
            "1",
            "--min-count",
            "1",
            "--privacy",
            "none",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    // Raw rows stay out of the shareable folder: beside it by default.
    assert!(!dir.path().join("out/rejects.csv").exists());
    let rejects = csv_rows(&dir.path().join("out.rejects.csv"));
    assert_rejects(
        &dir.path().join("out.rejects.csv"),
        &[
            ("47", "invalid_latitude"),
            ("48", "invalid_latitude"),
            ("49", "invalid_latitude"),
            ("50", "invalid_longitude"),
            ("51", "missing_coordinate"),
            ("52", "missing_id"),
            ("53", "duplicate_id"),
            ("54", "wrong_field_count"),
            ("55", "invalid_longitude"),
        ],
    );
    assert_eq!(rejects[0]["text"], "bad1,abc,20.0,F,30");
    assert!(
        rejects[1]["detail"].contains("91.5 is out of range"),
        "{}",
        rejects[1]["detail"]
    );
    let manifest = json(&dir.path().join("out/manifest.json"));
    assert_eq!(manifest["rows"]["read"], 55);
    assert_eq!(manifest["rows"]["accepted"], 46);
    assert_eq!(manifest["rows"]["rejected"], 9);
    assert_eq!(
        manifest["rows"]["rejected_by_reason"]["invalid_latitude"],
        3
    );
    assert_eq!(manifest["rows"]["rejected_by_reason"]["duplicate_id"], 1);
    // The manifest says where they went, never what they hold.
    assert_eq!(manifest["rejects"]["path"], "out.rejects.csv");
    assert_eq!(manifest["rejects"]["features"], 9);
    assert!(!manifest.to_string().contains("bad1"));
}

#[test]
fn too_many_rejects_fail_with_exit_2_and_no_cell_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let consumers = consumers_with(dir.path(), "x1,99,20,F,30\n");
    let run = analyze_tiny(dir.path(), &consumers, &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("1 of 46 consumer rows rejected"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--max-reject-ratio"), "{}", run.stderr);
    let out = dir.path().join("out");
    assert!(dir.path().join("out.rejects.csv").exists());
    assert!(!out.join("rejects.csv").exists() && !out.join("all").exists());
    let manifest = json(&out.join("manifest.json"));
    assert_eq!(manifest["status"], "failed");
    assert_eq!(manifest["rows"]["rejected"], 1);

    // Over a complete run, that run's files stay and the failed manifest names it.
    let good = analyze_tiny(
        dir.path(),
        &crate::common::tiny().join("consumers.csv"),
        &["--out", "kept"],
    );
    assert_eq!(good.code, 0, "{}", good.stderr);
    let kept = dir.path().join("kept");
    let before = crate::common::files_under(&kept);
    let again = analyze_tiny(dir.path(), &consumers, &["--out", "kept"]);
    assert_eq!(again.code, 2, "{}", again.stderr);
    assert_eq!(crate::common::files_under(&kept), before);
    let manifest = json(&kept.join("manifest.json"));
    assert_eq!(manifest["status"], "failed");
    assert_eq!(manifest["rows"]["rejected"], 1);
    assert_eq!(manifest["previous"]["status"], "ok");
    assert_eq!(manifest["previous"]["rows"]["rejected"], 0);
    for output in manifest["previous"]["outputs"].as_array().expect("outputs") {
        let path = kept.join(output["path"].as_str().expect("path"));
        let (_, sha) = micromarket::export::sha256_file(&path).expect("listed file is there");
        assert_eq!(output["sha256"], sha);
    }
}

#[test]
fn bom_crlf_quotes_and_gzip_are_accepted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = "\u{feff}id,lat,lon,gender,age\r\n\"q1\",10.06,20.01,\"F\",30\r\nq2,10.06,20.01,\"multi\r\nline\",30\r\n";
    let path = dir.path().join("c.csv.gz");
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).expect("create"),
        flate2::Compression::fast(),
    );
    std::io::Write::write_all(&mut gz, text.as_bytes()).expect("write");
    gz.finish().expect("gzip");
    let run = analyze_tiny(
        dir.path(),
        &path,
        &["--min-count", "1", "--privacy", "none"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let manifest = json(&dir.path().join("out/manifest.json"));
    assert_eq!(manifest["rows"]["accepted"], 2);
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path.display().to_string()
}

/// Runs analyze with the fixture but one replaced file; returns (exit code, stderr).
fn with_file(role: &str, text: &str) -> (i32, String, bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = tiny();
    let fixture = |name: &str| t.join(name).display().to_string();
    let mut files = vec![
        ("--consumers", fixture("consumers.csv")),
        ("--regions", fixture("regions.geojson")),
        ("--cities", fixture("cities.geojson")),
        ("--segments", fixture("segments.toml")),
    ];
    for f in &mut files {
        if f.0 == role {
            f.1 = write(dir.path(), "replaced", text);
        }
    }
    let mut args = vec!["analyze", "--out", "out"];
    for (flag, path) in &files {
        args.push(flag);
        args.push(path);
    }
    let run = run_in(dir.path(), &args);
    (run.code, run.stderr, dir.path().join("out").exists())
}

#[test]
fn bad_boundaries_name_file_feature_and_problem() {
    let cases = [
        (
            r#"{"type":"Feature","properties":{},"geometry":null}"#,
            "must be a GeoJSON FeatureCollection, found a Feature",
        ),
        (
            r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"Dot"},"geometry":{"type":"Point","coordinates":[1,2]}}]}"#,
            "feature 0 (Dot): unsupported geometry type Point",
        ),
        (
            r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"Tri"},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[0,0]]]}}]}"#,
            "feature 0 (Tri): polygon 0, ring 0: a ring needs at least 4 positions",
        ),
        (
            r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"Open"},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1]]]}}]}"#,
            "feature 0 (Open): polygon 0, ring 0: ring is not closed",
        ),
        (
            r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"Swapped"},"geometry":{"type":"Polygon","coordinates":[[[10,100],[11,100],[11,101],[10,100]]]}}]}"#,
            "feature 0 (Swapped): polygon 0, ring 0: position 0 [10, 100] is out of range",
        ),
        ("not json", "is not valid GeoJSON"),
    ];
    for (text, message) in cases {
        let (code, stderr, wrote) = with_file("--cities", text);
        assert_eq!(code, 2, "{message}: {stderr}");
        assert!(
            stderr.contains("replaced") && stderr.contains(message),
            "expected '{message}' in: {stderr}"
        );
        assert!(!wrote, "nothing is written on invalid input");
    }
}

#[test]
fn duplicate_identities_suggest_id_prop() {
    let city = r#"{"type":"Feature","properties":{"name":"Springfield","region":"v"},"geometry":{"type":"Polygon","coordinates":[[[20.0,10.0],[20.01,10.0],[20.01,10.01],[20.0,10.0]]]}}"#;
    let (code, stderr, wrote) = with_file(
        "--cities",
        &format!(r#"{{"type":"FeatureCollection","features":[{city},{city}]}}"#),
    );
    assert_eq!(code, 2);
    assert!(
        stderr.contains("features 0 and 1 are both 'Valley/Springfield'")
            && stderr.contains("--id-prop"),
        "{stderr}"
    );
    assert!(!wrote);
}

#[test]
fn bad_segments_name_segment_position_and_what_is_known() {
    let cases = [
        (
            "[[segment]]\nname = \"w\"\nfilter = \"gendr = 'F'\"\n",
            "segment 'w': filter column 1: unknown attribute 'gendr'; known attributes: gender, age",
        ),
        (
            "[[segment]]\nname = \"w\"\nfilter = \"gender = 1\"\n",
            "'gender' is categorical but is compared with the number 1",
        ),
        (
            "[[segment]]\nname = \"w\"\nfilter = \"age >= 'old'\"\n",
            "'age' is numeric but is compared with the text 'old'",
        ),
        (
            "[[segment]]\nname = \"w\"\nfilter = \"age >\"\n",
            "segment 'w'",
        ),
        (
            "[[segment]]\nname = \"W W\"\nfilter = \"age > 1\"\n",
            "e.g. 'w-w'",
        ),
        (
            "[grid]\ndimensions = [\"age\"]\n",
            "dimension 'age' is numeric",
        ),
        ("[[segment]]\nname = \"w\"\n", "missing field `filter`"),
    ];
    for (text, message) in cases {
        let (code, stderr, wrote) = with_file("--segments", text);
        assert_eq!(code, 2, "{message}: {stderr}");
        assert!(
            stderr.contains(message),
            "expected '{message}' in: {stderr}"
        );
        assert!(!wrote);
    }
}

#[test]
fn missing_columns_and_files_are_usage_errors() {
    let (code, stderr, _) = with_file("--consumers", "who,where\na,b\n");
    assert_eq!(code, 2);
    assert!(
        stderr.contains("has no id column (tried id, consumer_id, customer_id)")
            && stderr.contains("--id-col"),
        "{stderr}"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let run = run_in(
        dir.path(),
        &[
            "analyze",
            "--consumers",
            "nope.csv",
            "--segments",
            "nope.toml",
        ],
    );
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("nope"), "{}", run.stderr);
    // Ranges are the library's, the same for analyze and for plans; the message names the flag.
    for (args, message) in [
        (["--resolution", "4"], "--resolution 4 is outside 5..=12"),
        (["--min-count", "0"], "--min-count 0 is outside 1.."),
        (["--budget", "0"], "--budget 0 is outside 1.."),
    ] {
        let run = run_in(dir.path(), &[&["analyze"][..], &args].concat());
        assert_eq!(run.code, 2, "{args:?}");
        assert!(run.stderr.contains(message), "{}", run.stderr);
        assert!(!dir.path().join("out").exists(), "{args:?} wrote outputs");
    }
}
