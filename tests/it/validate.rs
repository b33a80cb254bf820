//! `validate`: every problem reported, nothing written.

use crate::common::{run_in, tiny};

#[test]
fn reports_every_problem_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut consumers = std::fs::read_to_string(tiny().join("consumers.csv")).expect("fixture");
    consumers.push_str("z1,95,20,F,30\nA1,10,20,F,30\n");
    std::fs::write(dir.path().join("c.csv"), consumers).expect("write");
    std::fs::write(
        dir.path().join("s.toml"),
        "[[segment]]\nname = \"w\"\nfilter = \"sex = 'F'\"\n",
    )
    .expect("write");
    let t = tiny();
    let regions = t.join("regions.geojson").display().to_string();
    let cities = t.join("cities.geojson").display().to_string();
    let run = run_in(
        dir.path(),
        &[
            "validate",
            "--consumers",
            "c.csv",
            "--segments",
            "s.toml",
            "--regions",
            &regions,
            "--cities",
            &cities,
        ],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stdout.contains("c.csv: line 47: invalid_latitude"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("c.csv: line 48: duplicate_id"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("unknown attribute 'sex'"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("invalid: 2 problem(s)"),
        "{}",
        run.stdout
    );
    let entries: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").collect();
    assert_eq!(entries.len(), 2, "validate writes nothing");
}

#[test]
fn valid_inputs_exit_0() {
    let t = tiny();
    let arg = |name: &str| t.join(name).display().to_string();
    let run = run_in(
        &t,
        &[
            "validate",
            "--consumers",
            &arg("consumers.csv"),
            "--segments",
            &arg("segments.toml"),
            "--regions",
            &arg("regions.geojson"),
            "--cities",
            &arg("cities.geojson"),
            "--json",
        ],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(report["valid"], true);
    assert_eq!(report["rows"]["read"], 45);
}
