//! Byte-for-byte outputs: `analyze`, `launch` and `catchment` on the bundled sample, every file
//! compared by SHA-256 with the committed list `tests/fixtures/golden/sha256.txt`.
//!
//! The manifests are compared without what varies from run to run (timings, thread counts).
//! After a deliberate output change, regenerate the list with
//! `MICROMARKET_BLESS=1 cargo test --release golden` and commit it on its own.

use crate::common::{files_under, repo, run_in};
use micromarket::export::hex;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

const LIST: &str = "tests/fixtures/golden/sha256.txt";

/// Manifest keys whose values differ between identical runs.
const VARYING: [&str; 3] = ["timings_ms", "duration_ms", "threads"];

fn without_varying(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for key in VARYING {
                map.remove(key);
            }
            map.values_mut().for_each(without_varying);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(without_varying),
        _ => {}
    }
}

/// SHA-256 of every file under `dir/out`, by path relative to `dir`.
fn checksums(dir: &Path, out: &str, into: &mut BTreeMap<String, String>) {
    for name in files_under(&dir.join(out)) {
        let bytes = std::fs::read(dir.join(out).join(&name)).expect("output file");
        let bytes = if name.rsplit('/').next() == Some("manifest.json") {
            let mut value: serde_json::Value = serde_json::from_slice(&bytes).expect("manifest");
            without_varying(&mut value);
            serde_json::to_vec_pretty(&value).expect("json")
        } else {
            bytes
        };
        into.insert(format!("{out}/{name}"), hex(&Sha256::digest(&bytes)));
    }
}

#[test]
fn sample_outputs_are_byte_for_byte_the_committed_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    std::fs::create_dir(&data).expect("data folder");
    for entry in std::fs::read_dir(repo().join("data/sample")).expect("sample") {
        let path = entry.expect("entry").path();
        std::fs::copy(&path, data.join(path.file_name().expect("name"))).expect("copy");
    }
    let inputs = [
        "--consumers",
        "data/consumers.csv",
        "--regions",
        "data/regions.geojson",
        "--cities",
        "data/cities.geojson",
        "--segments",
        "data/segments.toml",
    ];
    let runs: [Vec<&str>; 3] = [
        [
            &["analyze"][..],
            &inputs,
            &[
                "--budget",
                "20000",
                "--formats",
                crate::common::ALL_FORMATS,
                "--out",
                "analyze",
            ],
        ]
        .concat(),
        vec!["launch", "data/launch.toml", "--out", "launch"],
        [
            &["catchment"][..],
            &inputs,
            &[
                "--stores",
                "data/stores.csv",
                "--radius-km",
                "3",
                "--out",
                "catchment",
            ],
        ]
        .concat(),
    ];
    let mut got = BTreeMap::new();
    for args in &runs {
        let run = run_in(dir.path(), args);
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
        let out = args.last().expect("--out");
        checksums(dir.path(), out, &mut got);
    }
    let mut text = String::new();
    for (path, sha) in &got {
        writeln!(text, "{sha}  {path}").expect("strings grow");
    }
    let list = repo().join(LIST);
    if std::env::var_os("MICROMARKET_BLESS").is_some() {
        std::fs::write(&list, &text).expect("write the list");
        return;
    }
    let expected = std::fs::read_to_string(&list).expect("the committed list");
    let expected: BTreeMap<&str, &str> = expected
        .lines()
        .filter_map(|line| line.split_once("  "))
        .map(|(sha, path)| (path, sha))
        .collect();
    let differing: Vec<&str> = got
        .iter()
        .filter(|(path, sha)| expected.get(path.as_str()) != Some(&sha.as_str()))
        .map(|(path, _)| path.as_str())
        .chain(
            expected
                .keys()
                .filter(|path| !got.contains_key(**path))
                .copied(),
        )
        .collect();
    assert!(
        differing.is_empty(),
        "{} of {} outputs differ from {LIST}: {differing:?}",
        differing.len(),
        got.len()
    );
}
