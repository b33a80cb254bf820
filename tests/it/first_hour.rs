//! The first hour of a planner and a scheduler (issue 17): wrong-but-valid input is refused
//! loudly, warnings are seen, `validate` agrees with `analyze`, messages point at the right
//! place, and `launch` answers a scheduler.

use crate::common::{analyze_tiny, json, repo, run_in, tiny};
use std::path::Path;

/// The tiny fixture's consumers with `edit` applied to the text.
fn consumers_with(dir: &Path, name: &str, edit: impl FnOnce(String) -> String) -> String {
    let text = std::fs::read_to_string(tiny().join("consumers.csv")).expect("fixture");
    std::fs::write(dir.join(name), edit(text)).expect("write");
    name.to_string()
}

/// The sample's consumers under a header that names latitude and longitude the wrong way round.
fn swapped_sample(dir: &Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(repo().join("data/sample/consumers.csv")).expect("sample");
    let body = text.split_once('\n').expect("header").1;
    let path = dir.join("swapped.csv");
    std::fs::write(
        &path,
        format!("id,lng,lat,gender,age,discipline,level,loyalty,spend\n{body}"),
    )
    .expect("write");
    path
}

fn sample_args<'a>(consumers: &'a str, sample: &'a str) -> Vec<String> {
    vec![
        "--consumers".into(),
        consumers.into(),
        "--regions".into(),
        format!("{sample}/regions.geojson"),
        "--cities".into(),
        format!("{sample}/cities.geojson"),
        "--segments".into(),
        format!("{sample}/segments.toml"),
    ]
}

#[test]
fn swapped_coordinates_fail_with_a_suggestion_and_write_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let consumers = swapped_sample(dir.path()).display().to_string();
    let sample = repo().join("data/sample").display().to_string();
    for command in ["analyze", "validate"] {
        let mut args = vec![command.to_string()];
        args.extend(sample_args(&consumers, &sample));
        if command == "analyze" {
            args.extend(["--out".into(), "out".into()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = run_in(dir.path(), &args);
        assert_eq!(run.code, 2, "{command}: {}{}", run.stdout, run.stderr);
        let text = format!("{}{}", run.stdout, run.stderr);
        assert!(
            text.contains("none of the 100000 consumers of")
                && text.contains("with latitude and longitude swapped, 100% would"),
            "{command}: {text}"
        );
    }
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["swapped.csv"], "nothing written");
}

#[test]
fn a_header_only_consumers_file_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let name = consumers_with(dir.path(), "header.csv", |t| {
        t.lines().next().expect("header").to_string() + "\n"
    });
    let run = analyze_tiny(dir.path(), &dir.path().join(name), &["--json"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("holds no usable consumer (0 rows read, 0 rejected)"),
        "{}",
        run.stderr
    );
    let answer: serde_json::Value = serde_json::from_str(&run.stdout).expect("json on stdout");
    assert_eq!(answer["status"], "invalid");
    assert_eq!(answer["exit_code"], 2);
    assert!(!dir.path().join("out").exists());
}

#[test]
fn warnings_come_after_the_summary_even_when_quiet_and_reach_the_manifest() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("s.toml"),
        "[[segment]]\nname = \"road\"\nfilter = \"gender = 'f'\"\n",
    )
    .expect("write");
    let t = tiny();
    let path = |n: &str| t.join(n).display().to_string();
    let run = run_in(
        dir.path(),
        &[
            "-q",
            "analyze",
            "--consumers",
            &path("consumers.csv"),
            "--regions",
            &path("regions.geojson"),
            "--cities",
            &path("cities.geojson"),
            "--segments",
            "s.toml",
            "--budget",
            "1000000",
            "--privacy",
            "none",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.is_empty(),
        "-q prints no summary: {}",
        run.stdout
    );
    for expected in [
        "segment 'road': value 'f' never occurs in 'gender'; values are case-sensitive: did you mean 'F'?",
        "segment 'road' has no member among the 45 consumers",
        "the budget 1000000 is at least the whole population of",
    ] {
        assert!(run.stderr.contains(expected), "{expected}: {}", run.stderr);
    }
    let manifest = json(&dir.path().join("out/manifest.json"));
    let warnings = manifest["warnings"].to_string();
    assert!(warnings.contains("did you mean 'F'?"), "{warnings}");
    assert!(warnings.contains("the budget 1000000"), "{warnings}");
    // With --json the warnings are in the answer, not on stderr.
    let run = run_in(
        dir.path(),
        &[
            "--json",
            "analyze",
            "--consumers",
            &path("consumers.csv"),
            "--segments",
            "s.toml",
            "--out",
            "out2",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
    let answer: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    assert!(answer["warnings"].to_string().contains("did you mean 'F'?"));
}

#[test]
fn the_summary_ends_with_micromarkets_the_campaign_and_the_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = run_in(dir.path(), &["analyze", "--budget", "3000"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = &run.stdout;
    let answers = out
        .find("Strongest micro-market per scope")
        .unwrap_or_else(|| panic!("no micro-markets listed: {out}"));
    let tail = &out[answers..];
    assert!(
        tail.contains("campaign: members / population, lift"),
        "{tail}"
    );
    assert!(
        tail.contains("westmark/ashford:female-road-amateurs:"),
        "{tail}"
    );
    assert!(tail.contains("Start from out/index.html"), "{tail}");
    assert!(tail.lines().count() <= 50, "at most a screenful: {tail}");
}

#[test]
fn validate_and_analyze_agree_on_rejects() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 1 bad row in 46 is 2.2%: under a 5% limit both run, under the default 1% both refuse.
    let name = consumers_with(dir.path(), "c.csv", |t| t + "Z9,95,20.01,F,30\n");
    let consumers = dir.path().join(name);
    for (ratio, code) in [("0.05", 0), ("0.01", 2)] {
        let t = tiny();
        let path = |n: &str| t.join(n).display().to_string();
        let consumers_arg = consumers.display().to_string();
        let validate = run_in(
            dir.path(),
            &[
                "validate",
                "--consumers",
                &consumers_arg,
                "--regions",
                &path("regions.geojson"),
                "--cities",
                &path("cities.geojson"),
                "--segments",
                &path("segments.toml"),
                "--max-reject-ratio",
                ratio,
            ],
        );
        let analyze = analyze_tiny(
            dir.path(),
            &consumers,
            &[
                "--max-reject-ratio",
                ratio,
                "--out",
                &format!("out-{ratio}"),
            ],
        );
        assert_eq!(validate.code, code, "validate {ratio}: {}", validate.stdout);
        assert_eq!(analyze.code, code, "analyze {ratio}: {}", analyze.stderr);
        assert!(
            validate.stdout.contains("rejected: ")
                && validate.stdout.contains("line 47: invalid_latitude"),
            "{}",
            validate.stdout
        );
    }
}

#[test]
fn validate_lists_every_bad_feature_and_every_bad_filter() {
    let dir = tempfile::tempdir().expect("tempdir");
    let point = |name: &str| {
        format!(
            r#"{{"type":"Feature","properties":{{"name":"{name}"}},"geometry":{{"type":"Point","coordinates":[20,10]}}}}"#
        )
    };
    std::fs::write(
        dir.path().join("points.geojson"),
        format!(
            r#"{{"type":"FeatureCollection","features":[{},{},{}]}}"#,
            point("a"),
            point("b"),
            point("c")
        ),
    )
    .expect("write");
    std::fs::write(
        dir.path().join("s.toml"),
        "[[segment]]\nname = \"a\"\nfilter = \"gender = 'F' AND AND age > 3\"\n\
         [[segment]]\nname = \"b\"\nfilter = \"gender = 'F\"\n\
         [[segment]]\nname = \"c\"\nfilter = \"age > 3 OR\"\n",
    )
    .expect("write");
    let consumers = tiny().join("consumers.csv").display().to_string();
    let run = run_in(
        dir.path(),
        &[
            "validate",
            "--consumers",
            &consumers,
            "--regions",
            "points.geojson",
            "--segments",
            "s.toml",
        ],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    for feature in 0..3 {
        assert!(
            run.stdout.contains(&format!(
                "problem: points.geojson: feature {feature} ({}): unsupported geometry type Point",
                ["a", "b", "c"][feature]
            )),
            "{}",
            run.stdout
        );
    }
    for expected in [
        "segment 'a': filter column 18: 'AND' follows 'AND' with no condition between them",
        "segment 'b': filter column 10: Unterminated string literal; close it with '",
        "segment 'c': filter column 9: 'OR' has no condition after it",
        "invalid: 6 problem(s)",
    ] {
        assert!(run.stdout.contains(expected), "{expected}: {}", run.stdout);
    }
    // analyze names them all too, in one error.
    let run = run_in(
        dir.path(),
        &[
            "analyze",
            "--consumers",
            &consumers,
            "--regions",
            "points.geojson",
            "--segments",
            "s.toml",
        ],
    );
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("3 invalid features:") && run.stderr.contains("feature 2 (c)"),
        "{}",
        run.stderr
    );
}

#[test]
fn output_problems_are_found_before_any_work_and_named_as_given() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("afile"), "x").expect("write");
    // An --out that is a file: bad usage, said once, with what to do.
    let run = run_in(dir.path(), &["analyze", "--out", "afile"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(
        run.stderr.lines().last(),
        Some("error: cannot write afile: it is a file; name a folder for the outputs")
    );
    // An --out that cannot be created is found before the (invalid) consumers are read.
    let bad = consumers_with(dir.path(), "bad.csv", |_| String::new());
    let run = analyze_tiny(dir.path(), &dir.path().join(bad), &["--out", "afile/out"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("cannot write afile/out: a run is written beside it in")
            && !run.stderr.contains("is empty"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.matches("os error").count(), 0, "{}", run.stderr);
}

#[test]
fn a_truncated_gzip_is_invalid_input() {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("tempdir");
    let text = std::fs::read(repo().join("data/sample/consumers.csv")).expect("sample");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&text).expect("gzip");
    let gz = gz.finish().expect("gzip");
    std::fs::write(dir.path().join("c.csv.gz"), &gz[..gz.len() / 2]).expect("write");
    let run = analyze_tiny(dir.path(), &dir.path().join("c.csv.gz"), &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("is truncated or damaged")
            && run.stderr.matches("deflate").count() == 1,
        "{}",
        run.stderr
    );
}

#[test]
fn cities_without_regions_run_under_all_with_a_warning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sample = repo().join("data/sample");
    let path = |n: &str| sample.join(n).display().to_string();
    let run = run_in(
        dir.path(),
        &[
            "analyze",
            "--consumers",
            &path("consumers.csv"),
            "--cities",
            &path("cities.geojson"),
            "--segments",
            &path("segments.toml"),
            "--no-maps",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("cities name their region in 'region', but no regions file was given"),
        "{}",
        run.stderr
    );
    assert!(dir.path().join("out/all/ashford/cells.geojson").is_file());
}

#[test]
fn catchment_names_both_modes_and_counts_without_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sample = repo().join("data/sample");
    let path = |n: &str| sample.join(n).display().to_string();
    let (consumers, stores) = (path("consumers.csv"), path("stores.csv"));
    let base = ["catchment", "--consumers", &consumers, "--stores", &stores];
    let run = run_in(dir.path(), &base);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("--radius-km") && run.stderr.contains("--nearest"),
        "{}",
        run.stderr
    );
    let mut args = base.to_vec();
    args.extend(["--radius-km", "2", "--privacy", "none"]);
    let run = run_in(dir.path(), &args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let rows = crate::common::csv_rows(&dir.path().join("out-catchment/catchments.csv"));
    assert!(
        rows.iter()
            .all(|r| r["segment"] == "consumers" && r["members"] == r["consumers"])
    );
    assert_eq!(rows.len(), 24, "one row per store");
}

#[test]
fn rejects_after_a_blank_line_keep_their_line_numbers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = "id,latitude,longitude,gender,age\n\
                A1,10.06,20.01,F,25\n\
                \n\
                \r\n\
                B1,95,20.01,F,25\n\
                B2,10.06,x,F,25\n\
                \"B3\",10.06,\"2\n0\",F,25\n\
                B4,99,20.01,F,25\n";
    std::fs::write(dir.path().join("c.csv"), text).expect("write");
    let run = analyze_tiny(
        dir.path(),
        &dir.path().join("c.csv"),
        &["--max-reject-ratio", "1", "--privacy", "none"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let rows = crate::common::csv_rows(&dir.path().join("out.rejects.csv"));
    let got: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| (r["line"].as_str(), r["reason"].as_str(), r["text"].as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("5", "invalid_latitude", "B1,95,20.01,F,25"),
            ("6", "invalid_longitude", "B2,10.06,x,F,25"),
            ("7", "invalid_longitude", "\"B3\",10.06,\"2\n0\",F,25"),
            ("9", "invalid_latitude", "B4,99,20.01,F,25"),
        ]
    );
}

#[test]
fn launch_answers_a_scheduler() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plan = repo().join("data/sample/launch.toml").display().to_string();
    let out = dir.path().join("launch").display().to_string();
    let run = run_in(dir.path(), &["--json", "launch", &plan, "--out", &out]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let answer: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(answer["status"], "ok");
    assert_eq!(answer["out"], out.as_str());
    assert_eq!(answer["counts"]["ok"], 5);
    assert_eq!(answer["counts"]["pending"], 0);
    let manifest = json(&dir.path().join("launch/manifest.json"));
    assert_eq!(manifest["status"], "ok");
    assert_eq!(manifest["counts"], answer["counts"]);
    // A resume with nothing to do reads no consumer and reports no old duration.
    let started = std::time::Instant::now();
    let run = run_in(dir.path(), &["launch", &plan, "--out", &out, "--resume"]);
    let took = started.elapsed();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(took.as_millis() < 1000, "resume took {took:?}");
    assert_eq!(
        run.stderr
            .matches("skipped: its outputs match the manifest")
            .count(),
        5,
        "{}",
        run.stderr
    );
    let manifest = json(&dir.path().join("launch/manifest.json"));
    assert_eq!(manifest["counts"]["skipped"], 5);
    assert_eq!(
        manifest["rows"]["read"], 100_000,
        "rows of the run that read them"
    );
    assert!(
        manifest["launches"]
            .as_array()
            .expect("launches")
            .iter()
            .all(|l| l["status"] == "skipped" && l["duration_ms"] == 0)
    );
    // An invalid plan still answers on stdout.
    std::fs::write(dir.path().join("bad.toml"), "consumers = 3\n").expect("write");
    let run = run_in(dir.path(), &["--json", "launch", "bad.toml"]);
    assert_eq!(run.code, 2);
    let answer: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(answer["status"], "invalid");
}

#[test]
fn a_running_or_killed_launch_lists_its_pending_launches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plan = repo().join("data/sample/launch.toml").display().to_string();
    let out = dir.path().join("launch");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_micromarket"))
        .args(["-q", "launch", &plan, "--jobs", "1", "--out"])
        .arg(&out)
        .spawn()
        .expect("launch starts");
    let manifest_path = out.join("manifest.json");
    let started = std::time::Instant::now();
    while !manifest_path.exists() && started.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let first = json(&manifest_path);
    child.kill().expect("kill");
    child.wait().expect("wait");
    // Written before the first launch ends: every launch listed, all pending.
    assert_eq!(first["status"], "running", "{first}");
    assert_eq!(first["counts"]["pending"], 5, "{first}");
    let after = json(&manifest_path);
    let launches = after["launches"].as_array().expect("launches");
    assert_eq!(launches.len(), 5, "every launch is listed after a kill");
    let pending = launches.iter().filter(|l| l["status"] == "pending").count();
    assert_eq!(after["counts"]["pending"], pending);
    assert_eq!(after["status"] == "running", pending > 0, "{after}");
}

#[test]
fn every_cell_row_names_the_region_and_city_most_of_its_consumers_live_in() {
    use std::collections::HashMap;
    let dir = tempfile::tempdir().expect("tempdir");
    let run = run_in(
        dir.path(),
        &[
            "-q",
            "analyze",
            "--formats",
            "csv",
            "--privacy",
            "none",
            "--no-maps",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = dir.path().join("out");
    let manifest = json(&out.join("manifest.json"));
    // Population of each cell in each city and region scope, from their own layers.
    let mut by_city: HashMap<String, Vec<(String, u64)>> = HashMap::new();
    let mut by_region: HashMap<String, Vec<(String, u64)>> = HashMap::new();
    let mut layers = Vec::new();
    for scope in manifest["scopes"].as_array().expect("scopes") {
        let Some(path) = scope["outputs"]
            .as_array()
            .expect("outputs")
            .iter()
            .find(|o| o["kind"] == "cells_csv")
        else {
            continue;
        };
        let rows = crate::common::csv_rows(&out.join(path["path"].as_str().expect("path")));
        let name = scope["name"].as_str().expect("name").to_string();
        for r in rows.iter().filter(|r| r["segment"] == rows[0]["segment"]) {
            let entry = (name.clone(), r["population"].parse::<u64>().expect("n"));
            match scope["kind"].as_str() {
                Some("city") => by_city.entry(r["hex_id"].clone()).or_default().push(entry),
                Some("region") => by_region
                    .entry(r["hex_id"].clone())
                    .or_default()
                    .push(entry),
                _ => {}
            }
        }
        layers.push((
            scope["kind"].as_str().expect("kind").to_string(),
            name,
            rows,
        ));
    }
    let most = |entries: Option<&Vec<(String, u64)>>| {
        entries.map_or(0, |e| e.iter().map(|(_, n)| *n).max().unwrap_or(0))
    };
    let mut checked = 0;
    for (kind, name, rows) in &layers {
        for r in rows {
            let (region, city) = (&r["region"], &r["city"]);
            match kind.as_str() {
                "city" => assert_eq!(city, name),
                "region" => assert_eq!(region, name),
                _ => {
                    let regions = by_region.get(&r["hex_id"]);
                    if region.is_empty() {
                        assert!(regions.is_none(), "{r:?}");
                    } else {
                        let n = regions.and_then(|e| e.iter().find(|(n, _)| n == region));
                        assert_eq!(n.map(|e| e.1), Some(most(regions)), "{r:?}");
                    }
                }
            }
            if kind != "city" {
                let cities = by_city.get(&r["hex_id"]);
                if city.is_empty() {
                    assert!(kind == "region" || cities.is_none(), "{r:?}");
                } else if kind == "all" {
                    let n = cities.and_then(|c| c.iter().find(|(n, _)| n == city));
                    assert_eq!(n.map(|e| e.1), Some(most(cities)), "{r:?}");
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 100_000, "{checked} rows checked");
    let all = &layers.iter().find(|l| l.0 == "all").expect("all").2;
    assert!(all.iter().filter(|r| !r["region"].is_empty()).count() > all.len() * 9 / 10);
    assert!(all.iter().filter(|r| !r["city"].is_empty()).count() > all.len() / 10);
}

/// Runs `micromarket args` under `script`, which gives it a terminal; returns what it printed.
fn on_a_terminal(dir: &Path, args: &str) -> String {
    let command = format!("{} {args}", env!("CARGO_BIN_EXE_micromarket"));
    let output = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(dir)
        .env("TERM", "xterm")
        .output()
        .expect("`script` (util-linux, in every Debian) gives the run a terminal");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn progress_shows_rows_and_scopes_on_a_terminal_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shown = on_a_terminal(dir.path(), "analyze --out a --no-maps");
    assert!(shown.contains("/15 scopes"), "{shown}");
    assert!(
        shown.contains("15/15 scopes") || shown.contains("rows read"),
        "{shown}"
    );
    let quiet = on_a_terminal(dir.path(), "-q analyze --out b --no-maps");
    assert!(
        !quiet.contains("scopes") && !quiet.contains("rows read"),
        "{quiet}"
    );
    let piped = run_in(dir.path(), &["analyze", "--out", "c", "--no-maps"]);
    assert!(!piped.stderr.contains("scopes]") && !piped.stderr.contains("rows read"));
}
