//! Interrupted, failed and repeated `analyze` and `catchment` runs: the output folder always holds
//! one complete run. SIGKILL at many points of a run, into an empty folder and into one holding an
//! earlier run of another resolution; after each, every file the manifest lists is there with its
//! checksum, and nothing else is. Write failures and too many rejected rows leave a failed
//! manifest over the earlier run.

use crate::common::{files_under, json, repo};
use micromarket::export::sha256_file;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// Asserts `out` is one complete run; returns its manifest (the earlier run's, under a failed
/// run's manifest).
fn assert_complete(out: &Path, context: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(out.join("manifest.json"))
        .unwrap_or_else(|e| panic!("{context}: no manifest: {e}"));
    let mut manifest: serde_json::Value = serde_json::from_str(&text).expect("manifest is JSON");
    // A failed run's manifest names the earlier run whose files the folder holds.
    if manifest["status"] == "failed" {
        manifest = manifest["previous"].clone();
    }
    let mut listed = BTreeMap::new();
    let no_scopes = Vec::new();
    let scopes = manifest["scopes"].as_array().unwrap_or(&no_scopes);
    let records = manifest["outputs"]
        .as_array()
        .expect("outputs")
        .iter()
        .chain(
            scopes
                .iter()
                .flat_map(|s| s["outputs"].as_array().expect("outputs")),
        );
    for o in records {
        let path = o["path"].as_str().expect("path").to_string();
        listed.insert(path, o["sha256"].as_str().expect("sha").to_string());
    }
    let mut found = files_under(out);
    found.retain(|f| f != "manifest.json");
    let wanted: Vec<String> = listed.keys().cloned().collect();
    assert_eq!(found, wanted, "{context}: files and manifest differ");
    for (path, sha) in &listed {
        let (_, got) = sha256_file(&out.join(path)).expect("listed file");
        assert_eq!(
            &got, sha,
            "{context}: {path} is not the file the manifest lists"
        );
    }
    manifest
}

/// The resolution of the complete run in `out`.
fn complete_resolution(out: &Path, context: &str) -> u64 {
    assert_complete(out, context)["parameters"]["resolution"]
        .as_u64()
        .expect("resolution")
}

fn analyze(dir: &Path, out: &str, resolution: &str) -> Command {
    let data = repo().join("data/sample");
    let path = |name: &str| data.join(name).display().to_string();
    let mut command = Command::new(env!("CARGO_BIN_EXE_micromarket"));
    command
        .args(["analyze", "-q", "--consumers", &path("consumers.csv")])
        .args([
            "--regions",
            &path("regions.geojson"),
            "--cities",
            &path("cities.geojson"),
        ])
        .args(["--segments", &path("segments.toml"), "--budget", "5000"])
        .args(["--resolution", resolution, "--out", out])
        .current_dir(dir)
        .env_clear();
    command
}

#[test]
fn a_killed_analyze_leaves_the_previous_run_or_its_own_never_a_mix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let started = Instant::now();
    let status = analyze(dir.path(), "earlier", "8").status().expect("runs");
    let duration = started.elapsed();
    assert!(status.success());
    assert_eq!(
        complete_resolution(&dir.path().join("earlier"), "a complete run"),
        8
    );
    let mut interrupted = 0;
    // Kill points over the whole run: reading, locating, writing scopes, the manifest, the swap.
    for (i, fraction) in [0.1, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0]
        .iter()
        .enumerate()
    {
        for (case, earlier) in [("empty", false), ("over", true)] {
            let out = format!("{case}{i}");
            if earlier {
                std::fs::create_dir(dir.path().join(&out)).expect("folder");
                for name in files_under(&dir.path().join("earlier")) {
                    let to = dir.path().join(&out).join(&name);
                    std::fs::create_dir_all(to.parent().expect("parent")).expect("folder");
                    std::fs::copy(dir.path().join("earlier").join(&name), to).expect("copy");
                }
            }
            let mut child = analyze(dir.path(), &out, "9").spawn().expect("start");
            std::thread::sleep(duration.mul_f64(*fraction));
            let _ = child.kill(); // SIGKILL on Unix
            let status = child.wait().expect("wait");
            interrupted += usize::from(!status.success());
            let target = dir.path().join(&out);
            let context = format!("{case}, killed at {fraction} of a run");
            if target.exists() {
                let resolution = complete_resolution(&target, &context);
                assert!(
                    resolution == 9 || earlier,
                    "{context}: resolution {resolution}"
                );
            } else {
                assert!(!earlier, "{context}: the earlier run is gone");
            }
        }
    }
    assert!(
        interrupted >= 4,
        "only {interrupted} kills landed before the end of a run"
    );
    // The next run into the same place removes what killed runs left beside it.
    let status = analyze(dir.path(), "over0", "9").status().expect("runs");
    assert!(status.success());
    assert_eq!(
        complete_resolution(&dir.path().join("over0"), "the next run"),
        9
    );
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .expect("folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".over0."))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Runs `command` under a file-size limit of `blocks` (as `ulimit -f` counts them), with SIGXFSZ
/// ignored so that writes past it fail with EFBIG.
fn with_file_limit(command: &Command, blocks: u32) -> std::process::Output {
    let args: Vec<String> = command
        .get_args()
        .map(|a| format!("'{}'", a.to_string_lossy()))
        .collect();
    let script = format!(
        "trap '' XFSZ; ulimit -f {blocks}; exec '{}' {}",
        command.get_program().to_string_lossy(),
        args.join(" ")
    );
    Command::new("sh")
        .args(["-c", &script])
        .current_dir(command.get_current_dir().expect("a folder"))
        .env_clear()
        .output()
        .expect("sh runs")
}

#[test]
fn a_write_failure_names_the_file_exits_1_and_leaves_the_previous_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let status = analyze(dir.path(), "out", "8").status().expect("runs");
    assert!(status.success());
    let limited = |out: &str| with_file_limit(&analyze(dir.path(), out, "9"), 4096);
    // Into a new folder: the folder is the failed run's manifest alone.
    let first = limited("fresh");
    assert_eq!(first.status.code(), Some(1));
    assert_eq!(files_under(&dir.path().join("fresh")), ["manifest.json"]);
    let manifest = json(&dir.path().join("fresh/manifest.json"));
    assert_eq!(manifest["status"], "failed");
    assert!(manifest["previous"].is_null() && manifest["scopes"] == serde_json::json!([]));
    std::fs::remove_dir_all(dir.path().join("fresh")).expect("clean");
    // Over a complete run: its files stay, the manifest says this run failed and names it.
    let output = limited("out");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot write") && stderr.contains("File too large"),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("File too large").count(),
        1,
        "the cause once: {stderr}"
    );
    assert!(
        !stderr.contains(".out.staging"),
        "the error names the file's place in out/: {stderr}"
    );
    assert_eq!(
        complete_resolution(&dir.path().join("out"), "after a write failure"),
        8
    );
    let manifest = json(&dir.path().join("out/manifest.json"));
    assert_eq!(manifest["status"], "failed");
    assert_eq!(manifest["parameters"]["resolution"], 9);
    let error = manifest["error"].as_str().expect("error");
    assert!(
        error.contains("File too large") && error.contains("out/"),
        "{error}"
    );
    assert_eq!(manifest["previous"]["status"], "ok");
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .expect("folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    // Beside the folders, only each run's rejects file, which its manifest names.
    assert_eq!(manifest["rejects"]["path"], "out.rejects.csv");
    assert_eq!(
        left,
        ["fresh.rejects.csv", "out", "out.rejects.csv"],
        "nothing else of the failed run is left"
    );
}

fn catchment(dir: &Path, consumers: &Path, out: &str) -> Command {
    let data = repo().join("data/sample");
    let path = |name: &str| data.join(name).display().to_string();
    let mut command = Command::new(env!("CARGO_BIN_EXE_micromarket"));
    command
        .args(["catchment", "-q", "--radius-km", "2", "--consumers"])
        .arg(consumers)
        .args([
            "--regions",
            &path("regions.geojson"),
            "--cities",
            &path("cities.geojson"),
        ])
        .args(["--segments", &path("segments.toml")])
        .args(["--stores", &path("stores.csv"), "--out", out])
        .current_dir(dir)
        .env_clear();
    command
}

#[test]
fn a_failed_catchment_says_so_and_leaves_the_previous_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sample = repo().join("data/sample/consumers.csv");
    let status = catchment(dir.path(), &sample, "out")
        .status()
        .expect("runs");
    assert!(status.success());
    let earlier = assert_complete(&dir.path().join("out"), "a complete catchment run");
    assert_eq!(earlier["status"], "ok");
    let check_failed = |why: &str| {
        let manifest = json(&dir.path().join("out/manifest.json"));
        assert_eq!(manifest["status"], "failed", "{why}");
        let error = manifest["error"].as_str().expect("error");
        assert!(error.contains(why), "{error}");
        assert_eq!(
            manifest["previous"], earlier,
            "{why}: the earlier run, named"
        );
        assert_eq!(
            assert_complete(&dir.path().join("out"), why),
            earlier,
            "{why}: its files as they were"
        );
    };
    // A write failure: its error names the file in out/, exit 1.
    let output = with_file_limit(&catchment(dir.path(), &sample, "out"), 64);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("File too large") && stderr.contains("out/") && !stderr.contains("staging"),
        "{stderr}"
    );
    check_failed("File too large");
    // Too many rejected rows: the rejects are written beside the folder, the manifest says why.
    let text = std::fs::read_to_string(&sample).expect("sample");
    let broken: String = text
        .lines()
        .enumerate()
        .map(|(i, line)| match i {
            1..=2000 => format!("{line},extra\n"),
            _ => format!("{line}\n"),
        })
        .collect();
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, broken).expect("write");
    let output = catchment(dir.path(), &bad, "out").output().expect("runs");
    assert_eq!(output.status.code(), Some(2));
    check_failed("rejected");
    assert!(dir.path().join("out.rejects.csv").is_file());
    // Into a new folder: the failed manifest alone.
    let output = catchment(dir.path(), &bad, "fresh").output().expect("runs");
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(files_under(&dir.path().join("fresh")), ["manifest.json"]);
    assert_eq!(
        json(&dir.path().join("fresh/manifest.json"))["status"],
        "failed"
    );
}
