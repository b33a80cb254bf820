//! `launch`: plans over the sample, a broken launch, kill and resume, determinism, validation.

use crate::common::{files_under, json, repo, run_in};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A plan in `dir` over the bundled sample (absolute paths), with the given launches.
fn plan(dir: &Path, launches: &str) -> PathBuf {
    let sample = repo().join("data/sample");
    let path = |name: &str| sample.join(name).display().to_string().replace('\\', "/");
    let text = format!(
        "consumers = \"{}\"\nregions = \"{}\"\ncities = \"{}\"\n\n[defaults]\nsegments = \"{}\"\nbudget = 3000\n\n{launches}",
        path("consumers.csv"),
        path("regions.geojson"),
        path("cities.geojson"),
        path("segments.toml"),
    );
    let file = dir.join("plan.toml");
    std::fs::write(&file, text).expect("write plan");
    file
}

const ALL_REGIONS: &str = "[[launch]]\nregion = \"Westmark\"\n[[launch]]\nregion = \"Eastvale\"\n[[launch]]\nregion = \"Southdown\"\n[[launch]]\nregion = \"Lakeshore\"\nresolution = 9\n";

/// Every file under `root` except the manifest, with its bytes.
fn files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    files_under(root)
        .into_iter()
        .filter(|name| name.rsplit('/').next() != Some("manifest.json"))
        .map(|name| {
            let bytes = std::fs::read(root.join(&name)).expect("read");
            (name, bytes)
        })
        .collect()
}

fn launch(dir: &Path, plan: &Path, out: &str, extra: &[&str]) -> crate::common::Run {
    let plan = plan.display().to_string();
    let mut args = vec!["launch", plan.as_str(), "--out", out];
    args.extend_from_slice(extra);
    run_in(dir, &args)
}

#[test]
fn a_plan_over_the_sample_lists_every_launch_with_checksums() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = plan(dir.path(), ALL_REGIONS);
    let run = launch(dir.path(), &p, "out", &["--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let manifest = json(&dir.path().join("out/manifest.json"));
    let launches = manifest["launches"].as_array().expect("launches");
    assert_eq!(launches.len(), 10);
    for l in launches {
        assert_eq!(l["status"], "ok", "{l}");
        // cells and micro-markets (GeoJSON and GeoParquet), campaign (GeoJSON, GeoParquet and
        // CSV) and the map.
        assert_eq!(l["outputs"].as_array().expect("outputs").len(), 8);
        for o in l["outputs"].as_array().expect("outputs") {
            let bytes = std::fs::read(
                dir.path()
                    .join("out")
                    .join(o["path"].as_str().expect("path")),
            )
            .expect("file");
            let digest = micromarket::export::hex(&<sha2::Sha256 as sha2::Digest>::digest(&bytes));
            assert_eq!(o["sha256"], digest.as_str());
        }
    }
    assert_eq!(launches[9]["parameters"]["resolution"], 9);
    // Resume skips everything and changes nothing.
    let before = files(&dir.path().join("out"));
    let again = launch(dir.path(), &p, "out", &["--resume"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        json(&dir.path().join("out/manifest.json"))["launches"]
            .as_array()
            .expect("launches")
            .iter()
            .all(|l| l["status"] == "skipped")
    );
    assert_eq!(files(&dir.path().join("out")), before);
}

#[test]
fn a_broken_launch_fails_alone_with_exit_3() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A city far from every consumer: its launch fails, the others complete.
    let sample = repo().join("data/sample");
    let mut cities: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(sample.join("cities.geojson")).expect("cities"),
    )
    .expect("json");
    cities["features"].as_array_mut().expect("features").push(serde_json::json!({
        "type": "Feature", "properties": {"name": "Nowhere"},
        "geometry": {"type": "Polygon", "coordinates": [[[0.0, 0.0], [0.1, 0.0], [0.1, 0.1], [0.0, 0.0]]]}
    }));
    std::fs::write(dir.path().join("cities.geojson"), cities.to_string()).expect("write");
    let p = plan(
        dir.path(),
        "[[launch]]\ncity = \"Ashford\"\n[[launch]]\ncity = \"Nowhere\"\n",
    );
    let text = std::fs::read_to_string(&p).expect("plan").replace(
        &sample
            .join("cities.geojson")
            .display()
            .to_string()
            .replace('\\', "/"),
        "cities.geojson",
    );
    std::fs::write(&p, text).expect("write");
    let run = launch(dir.path(), &p, "out", &[]);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    let manifest = json(&dir.path().join("out/manifest.json"));
    let l = manifest["launches"].as_array().expect("launches");
    assert_eq!(l[0]["status"], "ok");
    assert_eq!(l[1]["status"], "failed");
    assert_eq!(l[1]["error"], "city 'Nowhere' has no consumers");
}

#[test]
fn killed_runs_resume_to_the_same_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = plan(dir.path(), ALL_REGIONS);
    let started = std::time::Instant::now();
    let clean = launch(dir.path(), &p, "clean", &["--jobs", "1"]);
    let duration = started.elapsed();
    assert_eq!(clean.code, 0, "{}", clean.stderr);
    let want = files(&dir.path().join("clean"));
    let mut interrupted = 0;
    // Kill points spread over the length of a whole run: during ingest, between and inside launches.
    for (i, fraction) in [0.2, 0.35, 0.5, 0.65, 0.8, 0.95].iter().enumerate() {
        let out = format!("killed{i}");
        let mut child = Command::new(env!("CARGO_BIN_EXE_micromarket"))
            .args([
                "launch",
                &p.display().to_string(),
                "--out",
                &out,
                "--jobs",
                "1",
                "-q",
            ])
            .current_dir(dir.path())
            .env_clear()
            .spawn()
            .expect("start");
        std::thread::sleep(duration.mul_f64(*fraction));
        let _ = child.kill(); // SIGKILL on Unix
        let status = child.wait().expect("wait");
        interrupted += usize::from(!status.success());
        // Whatever is under a final name is complete: it equals the clean run's file. (A kill
        // while a file is being written leaves its temporary `.NAME.tmp-PID`, not a final name.)
        for (name, bytes) in &files(&dir.path().join(&out)) {
            let temporary = name
                .rsplit('/')
                .next()
                .is_some_and(|f| f.starts_with('.') && f.contains(".tmp-"));
            if !name.starts_with(".partial") && !temporary {
                assert_eq!(
                    Some(bytes),
                    want.get(name),
                    "{name} after a kill at {fraction} of a run"
                );
            }
        }
        let resumed = launch(dir.path(), &p, &out, &["--resume", "--jobs", "2"]);
        assert_eq!(resumed.code, 0, "{}", resumed.stderr);
        assert_eq!(
            files(&dir.path().join(&out)),
            want,
            "after a kill at {fraction} of a run"
        );
    }
    assert!(interrupted >= 1, "no kill landed before the end of a run");
}

#[test]
fn threads_and_jobs_do_not_change_the_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = plan(dir.path(), ALL_REGIONS);
    let one = launch(dir.path(), &p, "one", &["--threads", "1", "--jobs", "1"]);
    let two = launch(dir.path(), &p, "two", &["--threads", "2", "--jobs", "2"]);
    assert_eq!((one.code, two.code), (0, 0), "{}{}", one.stderr, two.stderr);
    assert_eq!(
        files(&dir.path().join("one")),
        files(&dir.path().join("two"))
    );
}

#[test]
fn invalid_plans_list_every_problem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = plan(
        dir.path(),
        "[[launch]]\ncity = \"Ashfrod\"\n[[launch]]\nregion = \"Eastvail\"\n[[launch]]\ncity = \"Dunmore\"\n[[launch]]\ncity = \"Dunmore\"\n[[launch]]\ncity = \"Isola\"\nresolution = 14\nsegments = \"missing.toml\"\n[[launch]]\nbudget = 5\n",
    );
    let run = launch(dir.path(), &p, "out", &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    for message in [
        "launch 1: unknown city 'Ashfrod'; did you mean 'Ashford'?",
        "launch 2: unknown region 'Eastvail'; did you mean 'Eastvale'?",
        "launch 4 repeats city 'Dunmore' (already in launch 3)",
        "launch 5: resolution 14 is outside 5..=12",
        "segments file 'missing.toml' cannot be read",
        "launch 6: name a city (city = \"...\") or a region (region = \"...\")",
    ] {
        assert!(
            run.stderr.contains(message),
            "expected '{message}' in: {}",
            run.stderr
        );
    }
    assert!(
        !dir.path().join("out").exists(),
        "nothing is written for an invalid plan"
    );
    let text = std::fs::read_to_string(&p)
        .expect("plan")
        .replace("budget = 3000", "budget = 0\nfdr = 2.0\nmin_count = 0");
    std::fs::write(&p, text).expect("write");
    let run = launch(dir.path(), &p, "out", &[]);
    assert_eq!(run.code, 2);
    for message in [
        "defaults: fdr 2 is outside (0, 1)",
        "defaults: budget 0 is outside 1.. (people reached)",
        "defaults: min_count 0 is outside 1.. (1 publishes every count)",
    ] {
        assert!(
            run.stderr.contains(message),
            "expected '{message}' in: {}",
            run.stderr
        );
    }
    std::fs::write(&p, "consumers = \"nope.csv\"\ncities = \"nope.geojson\"\n").expect("write");
    let run = launch(dir.path(), &p, "out", &[]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("consumers file 'nope.csv' not found"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("cities file 'nope.geojson' cannot be read"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("no [[launch]]"), "{}", run.stderr);
}

#[test]
fn resume_reruns_launches_whose_maps_differ() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = plan(
        dir.path(),
        "[[launch]]\nregion = \"Westmark\"\n[[launch]]\nregion = \"Southdown\"\n",
    );
    let statuses = |run: crate::common::Run| -> Vec<String> {
        assert_eq!(run.code, 0, "{}", run.stderr);
        json(&dir.path().join("out/manifest.json"))["launches"]
            .as_array()
            .expect("launches")
            .iter()
            .map(|l| l["status"].as_str().expect("status").to_string())
            .collect()
    };
    let maps = || {
        files(&dir.path().join("out"))
            .keys()
            .filter(|k| k.ends_with("map.html"))
            .count()
    };
    let first = statuses(launch(dir.path(), &p, "out", &["--no-maps"]));
    assert!(first.iter().all(|s| s == "ok"), "{first:?}");
    assert_eq!(maps(), 0);
    // Now maps are wanted: every launch runs again and gets its map.
    let with_maps = statuses(launch(dir.path(), &p, "out", &["--resume"]));
    assert!(with_maps.iter().all(|s| s == "ok"), "{with_maps:?}");
    assert_eq!(maps(), with_maps.len());
    // The same options again: nothing to do.
    let again = statuses(launch(dir.path(), &p, "out", &["--resume"]));
    assert!(again.iter().all(|s| s == "skipped"), "{again:?}");
    // Another base map: run again.
    let basemap = [
        "--resume",
        "--basemap",
        "https://tiles.example/{z}/{x}/{y}.png",
    ];
    let other = statuses(launch(dir.path(), &p, "out", &basemap));
    assert!(other.iter().all(|s| s == "ok"), "{other:?}");
}
