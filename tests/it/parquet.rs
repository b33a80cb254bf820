//! Parquet input: the same answers as CSV, the same rejects accounting, GeoParquet WKB points.

use crate::common::{assert_rejects, csv_rows, json, run_in, run_tiny, tiny};
use arrow_array::{ArrayRef, BinaryArray, Float64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use std::path::Path;
use std::sync::Arc;

fn write_parquet(path: &Path, batch: &RecordBatch, rows_per_group: usize, geo: Option<&str>) {
    let mut properties =
        WriterProperties::builder().set_max_row_group_row_count(Some(rows_per_group));
    if let Some(geo) = geo {
        properties = properties.set_key_value_metadata(Some(vec![KeyValue::new(
            "geo".to_string(),
            geo.to_string(),
        )]));
    }
    let file = std::fs::File::create(path).expect("create");
    let mut writer =
        ArrowWriter::try_new(file, batch.schema(), Some(properties.build())).expect("writer");
    writer.write(batch).expect("write");
    writer.close().expect("close");
}

fn same_file(a: &Path, b: &Path) {
    assert_eq!(
        std::fs::read(a).expect("a"),
        std::fs::read(b).expect("b"),
        "{} differs from {}",
        a.display(),
        b.display()
    );
}

#[test]
fn synth_parquet_gives_the_same_outputs_as_csv() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (format, out) in [("csv", "c"), ("parquet", "p")] {
        let made = run_in(
            dir.path(),
            &[
                "synth",
                "--seed",
                "5",
                "--consumers",
                "30000",
                "--format",
                format,
                "--out",
                out,
            ],
        );
        assert_eq!(made.code, 0, "{}", made.stderr);
        let consumers = format!("{out}/consumers.{format}");
        let run = run_in(
            dir.path(),
            &[
                "analyze",
                "-q",
                "--no-maps",
                "--consumers",
                &consumers,
                "--regions",
                &format!("{out}/regions.geojson"),
                "--cities",
                &format!("{out}/cities.geojson"),
                "--segments",
                &format!("{out}/segments.toml"),
                "--out",
                &format!("{out}/out"),
            ],
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    for file in [
        "summary.csv",
        "all/cells.geojson",
        "all/cells.parquet",
        "westmark/micromarkets.geojson",
    ] {
        same_file(
            &dir.path().join("c/out").join(file),
            &dir.path().join("p/out").join(file),
        );
    }
    let manifest = json(&dir.path().join("p/out/manifest.json"));
    assert_eq!(manifest["rows"]["read"], 30_000);
    assert_eq!(manifest["rows"]["accepted"], 30_000);
}

/// Eight rows: a good one, then one of each kind of bad row (missing id and coordinate, bad
/// latitude and longitude, a duplicate id, a bad declared number), then another good one.
fn bad_rows() -> RecordBatch {
    let text =
        |values: &[Option<&str>]| -> ArrayRef { Arc::new(StringArray::from(values.to_vec())) };
    let number =
        |values: &[Option<f64>]| -> ArrayRef { Arc::new(Float64Array::from(values.to_vec())) };
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, true),
        Field::new("lat", DataType::Float64, true),
        Field::new("lon", DataType::Float64, true),
        Field::new("gender", DataType::Utf8, true),
        Field::new("age", DataType::Utf8, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            text(&[
                Some("a"),
                None,
                Some("b"),
                Some("c"),
                Some("d"),
                Some("a"),
                Some("e"),
                Some("f"),
            ]),
            number(&[
                Some(47.0),
                Some(47.0),
                None,
                Some(f64::NAN),
                Some(47.0),
                Some(47.0),
                Some(47.0),
                Some(47.1),
            ]),
            number(&[
                Some(8.0),
                Some(8.0),
                Some(8.0),
                Some(8.0),
                Some(200.0),
                Some(8.0),
                Some(8.0),
                Some(8.1),
            ]),
            text(&[
                Some("F"),
                Some("F"),
                Some("M"),
                Some("F"),
                Some("M"),
                Some("F"),
                Some("F"),
                None,
            ]),
            text(&[
                Some("30"),
                Some("31"),
                Some("32"),
                Some("33"),
                Some("34"),
                Some("35"),
                Some("abc"),
                None,
            ]),
        ],
    )
    .expect("batch")
}

#[test]
fn bad_parquet_rows_are_rejected_with_their_row_numbers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let batch = bad_rows();
    // Row groups of three rows: the duplicate id sits in another group than the first one.
    write_parquet(&dir.path().join("people.parquet"), &batch, 3, None);
    std::fs::write(
        dir.path().join("segments.toml"),
        "[schema]\nage = \"numeric\"\n\n[[segment]]\nname = \"women\"\nfilter = \"gender = 'F'\"\n",
    )
    .expect("segments");
    let run = run_in(
        dir.path(),
        &[
            "analyze",
            "-q",
            "--consumers",
            "people.parquet",
            "--segments",
            "segments.toml",
            "--max-reject-ratio",
            "1",
            "--min-count",
            "1",
            "--privacy",
            "none",
            "--out",
            "out",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_rejects(
        &dir.path().join("out.rejects.csv"),
        &[
            ("2", "missing_id"),
            ("3", "missing_coordinate"),
            ("4", "invalid_latitude"),
            ("5", "invalid_longitude"),
            ("6", "duplicate_id"),
            ("7", "invalid_attribute"),
        ],
    );
    let rejects = csv_rows(&dir.path().join("out.rejects.csv"));
    assert_eq!(rejects[4]["text"], "a,47.0,8.0,F,35");
    let manifest = json(&dir.path().join("out/manifest.json"));
    assert_eq!(manifest["rows"]["read"], 8);
    assert_eq!(manifest["rows"]["accepted"], 2);
    assert_eq!(manifest["rows"]["rejected"], 6);
    let summary = csv_rows(&dir.path().join("out/summary.csv"));
    assert_eq!(summary[0]["population"], "2");
    assert_eq!(summary[0]["consumers"], "1");
}

/// A little-endian WKB point.
fn wkb(lon: f64, lat: f64) -> Vec<u8> {
    let mut bytes = vec![1u8];
    bytes.extend_from_slice(&1u32.to_le_bytes());
    bytes.extend_from_slice(&lon.to_le_bytes());
    bytes.extend_from_slice(&lat.to_le_bytes());
    bytes
}

#[test]
fn geoparquet_points_give_the_same_outputs_as_csv() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rows = csv_rows(&tiny().join("consumers.csv"));
    let column = |name: &str| -> ArrayRef {
        Arc::new(StringArray::from(
            rows.iter().map(|r| r[name].clone()).collect::<Vec<_>>(),
        ))
    };
    let points: Vec<Vec<u8>> = rows
        .iter()
        .map(|r| {
            wkb(
                r["longitude"].parse().expect("lon"),
                r["latitude"].parse().expect("lat"),
            )
        })
        .collect();
    let geometry: ArrayRef = Arc::new(BinaryArray::from_iter_values(points.iter()));
    let ages: ArrayRef = Arc::new(Float64Array::from(
        rows.iter()
            .map(|r| r["age"].parse::<f64>().ok())
            .collect::<Vec<_>>(),
    ));
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("gender", DataType::Utf8, false),
        Field::new("age", DataType::Float64, true),
        Field::new("geometry", DataType::Binary, false),
    ]));
    let batch = RecordBatch::try_new(schema, vec![column("id"), column("gender"), ages, geometry])
        .expect("batch");
    let geo = r#"{"version":"1.1.0","primary_column":"geometry","columns":{"geometry":{"encoding":"WKB","geometry_types":["Point"]}}}"#;
    let parquet = dir.path().join("consumers.parquet");
    write_parquet(&parquet, &batch, 16, Some(geo));
    let from_csv = run_tiny(
        dir.path(),
        "analyze",
        &tiny().join("consumers.csv"),
        &["--out", "c"],
    );
    let from_parquet = run_tiny(dir.path(), "analyze", &parquet, &["--out", "p"]);
    assert_eq!(
        (from_csv.code, from_parquet.code),
        (0, 0),
        "{}",
        from_parquet.stderr
    );
    for file in [
        "summary.csv",
        "all/cells.csv",
        "valley/cells.csv",
        "valley/micromarkets.geojson",
    ] {
        same_file(
            &dir.path().join("c").join(file),
            &dir.path().join("p").join(file),
        );
    }
}

/// A segments file in `dir` reading every attribute of the sample (ingest decodes only the
/// columns segments read, and the fixtures' faults are in those columns).
fn every_attribute(dir: &Path) -> String {
    let path = dir.join("every.toml");
    std::fs::write(
        &path,
        "[[segment]]\nname = \"any\"\nfilter = \"gender = 'F' OR age > 1 OR discipline = 'a' OR level = 'a' OR loyalty = 'a' OR spend > 1\"\n",
    )
    .expect("write");
    path.display().to_string()
}

#[test]
fn a_corrupt_parquet_file_is_a_clear_error_and_nothing_is_written() {
    // Found by the ingest_parquet fuzz target: the parquet crate panics while decoding it.
    let dir = tempfile::tempdir().expect("tempdir");
    let corrupt = crate::common::repo().join("tests/fixtures/corrupt.parquet");
    let segments = every_attribute(dir.path());
    let run = run_tiny(dir.path(), "analyze", &corrupt, &["--segments", &segments]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("corrupt.parquet"), "{}", run.stderr);
    assert!(run.stderr.contains("the file is corrupt"), "{}", run.stderr);
    assert!(
        !run.stderr.contains("panicked"),
        "no panic message: {}",
        run.stderr
    );
    assert!(!dir.path().join("out").exists());
}

#[test]
fn a_page_header_past_the_end_of_the_file_fails_at_once() {
    // Found by the ingest_parquet fuzz target: the parquet crate skipped a field of billions of
    // elements past the end of the file, one empty read each, for hours.
    let dir = tempfile::tempdir().expect("tempdir");
    let endless = crate::common::repo().join("tests/fixtures/endless-page-header.parquet");
    let segments = every_attribute(dir.path());
    let started = std::time::Instant::now();
    let run = run_tiny(dir.path(), "analyze", &endless, &["--segments", &segments]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("endless-page-header.parquet: row group 0")
            && run
                .stderr
                .contains("a page header runs past the end of the file"),
        "{}",
        run.stderr
    );
    assert!(started.elapsed().as_secs() < 10);
    assert!(!dir.path().join("out").exists());
}

#[test]
fn a_malformed_embedded_arrow_schema_is_not_decoded() {
    // Found by the ingest_parquet fuzz target: the Arrow IPC decoder panicked on the Arrow
    // schema embedded in this file's metadata. Types come from the Parquet schema instead, and
    // the file's real fault (a corrupt page) is reported with its row group.
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = crate::common::repo().join("tests/fixtures/bad-arrow-schema.parquet");
    let segments = every_attribute(dir.path());
    let run = run_tiny(dir.path(), "analyze", &bad, &["--segments", &segments]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("bad-arrow-schema.parquet: row group 0"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("the file is corrupt"),
        "{}",
        run.stderr
    );
    assert!(!dir.path().join("out").exists());
}

#[test]
fn candidate_ids_hold_every_accepted_id_and_every_rejected_row_with_an_id() {
    use micromarket::consumer::{IngestOptions, Source, candidate_id_hashes, ingest};
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("people.parquet");
    write_parquet(&path, &bad_rows(), 3, None);
    let source = Source::Path(path);
    let options = IngestOptions {
        schema: [(
            "age".to_string(),
            micromarket::consumer::AttributeKind::Numeric,
        )]
        .into(),
        attributes: Some(["gender".to_string(), "age".to_string()].into()),
        ..IngestOptions::default()
    };
    let read = ingest(&source, &options).expect("ingest");
    let candidates = candidate_id_hashes(&source, &options).expect("candidates");
    // Ids a, b, c, d, e, f (one row has none, a is repeated): two accepted, all six candidates.
    assert_eq!(read.table.id_hashes.len(), 2);
    assert!(read.table.id_hashes.iter().all(|h| candidates.contains(h)));
    assert_eq!(candidates.len(), 6);
    assert!(candidates.is_sorted());
    // Row groups of three rows: the second holds c, d and a.
    let second = IngestOptions {
        row_groups: Some(1..2),
        ..options
    };
    assert_eq!(
        candidate_id_hashes(&source, &second).expect("part").len(),
        3
    );
}
