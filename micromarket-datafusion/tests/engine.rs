//! `micromarket-datafusion analyze --engine datafusion` and `--engine ballista` (a standalone
//! cluster of a scheduler and 2 executors in the process) against `--engine local` on real
//! files: the same outputs byte for byte, from one file or a folder of parts.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

fn sample(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../data/sample")
        .join(name)
        .display()
        .to_string()
}

/// Runs the binary in `dir`; returns the exit code and stderr.
fn run(dir: &Path, args: &[&str]) -> (i32, String) {
    run_env(dir, args, &[])
}

/// [`run`] with environment variables `env` (and no others).
fn run_env(dir: &Path, args: &[&str], env: &[(&str, String)]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_micromarket-datafusion"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("the binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `analyze` of `consumers` with the sample's boundaries and segments into `out`.
fn analyze(dir: &Path, engine: &str, consumers: &str, out: &str) -> (i32, String) {
    analyze_with(dir, engine, consumers, out, &[])
}

/// [`analyze`] with more arguments.
fn analyze_with(
    dir: &Path,
    engine: &str,
    consumers: &str,
    out: &str,
    more: &[&str],
) -> (i32, String) {
    let inputs = Path::new(&sample("")).to_path_buf();
    analyze_from(dir, &inputs, engine, consumers, out, more, &[])
}

/// `analyze` of `consumers` with the boundaries and segments of the folder `inputs` into `out`,
/// every layer format, with more arguments and environment variables `env`.
fn analyze_from(
    dir: &Path,
    inputs: &Path,
    engine: &str,
    consumers: &str,
    out: &str,
    more: &[&str],
    env: &[(&str, String)],
) -> (i32, String) {
    let input = |name: &str| inputs.join(name).display().to_string();
    let (regions, cities, segments) = (
        input("regions.geojson"),
        input("cities.geojson"),
        input("segments.toml"),
    );
    let args: Vec<&str> = [
        "-q",
        "analyze",
        "--engine",
        engine,
        "--consumers",
        consumers,
        "--regions",
        &regions,
        "--cities",
        &cities,
        "--segments",
        &segments,
        "--formats",
        "geojson,parquet,csv,fgb",
        "--out",
        out,
    ]
    .into_iter()
    .chain(more.iter().copied())
    .collect();
    run_env(dir, &args, env)
}

fn files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                out.push(path.strip_prefix(root).expect("inside").to_path_buf());
            }
        }
    }
    out.sort();
    out
}

/// Every file of `a` and `b` equal byte for byte, but the manifests, which must be equal once
/// the timings, the consumers input's record and the rejects file's path are left out.
fn assert_same_outputs(a: &Path, b: &Path) {
    let names = files(a);
    assert_eq!(names, files(b), "the same files");
    assert!(names.len() > 50, "a whole run: {} files", names.len());
    for name in &names {
        let (left, right) = (
            std::fs::read(a.join(name)).expect("read"),
            std::fs::read(b.join(name)).expect("read"),
        );
        if name.as_os_str() == "manifest.json" {
            let strip = |bytes: &[u8]| {
                let mut m: serde_json::Value = serde_json::from_slice(bytes).expect("json");
                let m = m.as_object_mut().expect("object");
                m.remove("timings_ms");
                m["inputs"][0] = serde_json::Value::Null;
                m["rejects"]["path"] = serde_json::Value::Null;
                serde_json::Value::Object(m.clone())
            };
            assert_eq!(strip(&left), strip(&right), "manifest.json");
        } else {
            assert!(left == right, "{} differs", name.display());
        }
    }
}

/// The sample's consumers file cut into `parts` CSV files under `dir/parts`, each with the
/// header; `edit` may change a part's rows.
fn split_sample(dir: &Path, parts: usize, edit: impl Fn(usize, &mut Vec<String>)) -> PathBuf {
    let text = std::fs::read_to_string(sample("consumers.csv")).expect("sample");
    let mut lines = text.lines();
    let header = lines.next().expect("header");
    let rows: Vec<&str> = lines.collect();
    let folder = dir.join("parts");
    std::fs::create_dir_all(&folder).expect("mkdir");
    for (i, chunk) in rows.chunks(rows.len().div_ceil(parts)).enumerate() {
        let mut part: Vec<String> = chunk.iter().map(|r| (*r).to_string()).collect();
        edit(i, &mut part);
        let body = format!("{header}\n{}\n", part.join("\n"));
        std::fs::write(folder.join(format!("part-{i}.csv")), body).expect("write");
    }
    folder
}

#[test]
fn the_sample_counts_the_same_on_datafusion_from_one_file_and_from_parts() {
    let dir = tempfile::tempdir().expect("tmp");
    let consumers = sample("consumers.csv");
    assert_eq!(analyze(dir.path(), "local", &consumers, "local").0, 0);
    let (code, err) = analyze(dir.path(), "datafusion", &consumers, "one");
    assert_eq!(code, 0, "{err}");
    assert_same_outputs(&dir.path().join("local"), &dir.path().join("one"));

    let parts = split_sample(dir.path(), 4, |_, _| {});
    let (code, err) = analyze(
        dir.path(),
        "datafusion",
        &parts.display().to_string(),
        "from-parts",
    );
    assert_eq!(code, 0, "{err}");
    assert_same_outputs(&dir.path().join("local"), &dir.path().join("from-parts"));
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("from-parts/manifest.json")).expect("read"),
    )
    .expect("json");
    assert_eq!(manifest["inputs"][0]["path"], parts.display().to_string());
    assert_eq!(manifest["rows"]["read"], 100_000);

    let (code, err) = analyze(
        dir.path(),
        "ballista",
        &parts.display().to_string(),
        "on-ballista",
    );
    assert_eq!(code, 0, "{err}");
    assert_same_outputs(&dir.path().join("local"), &dir.path().join("on-ballista"));
}

/// A synth world of 30,000 consumers under `dir/world`, and its consumers again as 3 Parquet
/// files of 4 row groups each under `dir/parts`.
fn synth_parquet_parts(dir: &Path) -> (PathBuf, PathBuf) {
    use parquet::arrow::ArrowWriter;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let (code, err) = run(
        dir,
        &[
            "-q",
            "synth",
            "--seed",
            "5",
            "--consumers",
            "30000",
            "--format",
            "parquet",
            "--out",
            "world",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let world = dir.join("world");
    let single = world.join("consumers.parquet");
    let reader =
        ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&single).expect("open"))
            .expect("parquet")
            .with_batch_size(10_000)
            .build()
            .expect("reader");
    let parts = dir.join("parts");
    std::fs::create_dir_all(&parts).expect("mkdir");
    let mut written = 0;
    for (i, batch) in reader.enumerate() {
        let batch = batch.expect("batch");
        let file = std::fs::File::create(parts.join(format!("part-{i}.parquet"))).expect("create");
        let properties = parquet::file::properties::WriterProperties::builder()
            .set_max_row_group_row_count(Some(2_500))
            .build();
        let mut writer =
            ArrowWriter::try_new(file, batch.schema(), Some(properties)).expect("writer");
        writer.write(&batch).expect("write");
        writer.close().expect("close");
        written += 1;
    }
    assert_eq!(written, 3);
    (world, parts)
}

/// Rewrites the first row of `part` with `id`, and with latitude `lat` when given.
fn rewrite_first_row(part: &Path, id: &str, lat: Option<f64>) {
    use arrow::array::{Array, ArrayRef, AsArray, Float64Array, StringArray};
    use arrow::datatypes::Float64Type;
    use parquet::arrow::ArrowWriter;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let file = std::fs::File::open(part).expect("open");
    let batches: Vec<_> = ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("parquet")
        .build()
        .expect("reader")
        .collect::<Result<_, _>>()
        .expect("batches");
    let schema = batches[0].schema();
    let batch = arrow::compute::concat_batches(&schema, &batches).expect("concat");
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(field, column)| match field.name().as_str() {
            "id" => {
                let ids = column.as_string::<i32>();
                let values = (0..ids.len()).map(|r| if r == 0 { id } else { ids.value(r) });
                Arc::new(StringArray::from_iter_values(values)) as ArrayRef
            }
            "lat" if lat.is_some() => {
                let mut values = column.as_primitive::<Float64Type>().values().to_vec();
                values[0] = lat.expect("a latitude");
                Arc::new(Float64Array::from(values)) as ArrayRef
            }
            _ => Arc::clone(column),
        })
        .collect();
    let batch = arrow::record_batch::RecordBatch::try_new(schema, columns).expect("batch");
    let properties = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(2_500))
        .build();
    let file = std::fs::File::create(part).expect("create");
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(properties)).expect("writer");
    writer.write(&batch).expect("write");
    writer.close().expect("close");
}

/// With a key (as every synth run here), the parts' id columns alone are compared first. An id in two parts is refused
/// when both rows are accepted, and is no error when one of them is rejected.
#[test]
fn with_a_key_an_id_in_two_parts_is_refused_unless_one_row_is_rejected() {
    let dir = tempfile::tempdir().expect("tmp");
    let (world, parts) = synth_parquet_parts(dir.path());
    let id = {
        use arrow::array::AsArray;
        let file = std::fs::File::open(parts.join("part-0.parquet")).expect("open");
        let mut reader =
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                .expect("parquet")
                .build()
                .expect("reader");
        let batch = reader.next().expect("a batch").expect("batch");
        let ids = batch.column_by_name("id").expect("id column");
        ids.as_string::<i32>().value(0).to_string()
    };
    let consumers = parts.display().to_string();
    rewrite_first_row(&parts.join("part-2.parquet"), &id, Some(95.0));
    let (code, err) = analyze_synth(dir.path(), &world, "datafusion", &consumers, "ok", &[]);
    assert_eq!(code, 0, "{err}");
    let rejects = std::fs::read_to_string(dir.path().join("ok.rejects.csv")).expect("rejects");
    assert!(rejects.contains("invalid_latitude"), "{rejects}");
    assert_eq!(rejects.lines().count(), 2, "{rejects}");
    rewrite_first_row(&parts.join("part-2.parquet"), &id, Some(47.0));
    let (code, err) = analyze_synth(dir.path(), &world, "datafusion", &consumers, "no", &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("1 consumer ids appear in more than one file"),
        "{err}"
    );
    assert!(!dir.path().join("no/manifest.json").exists());
}

/// `analyze` of `consumers` (on engines but local: 3 partitions, parts of 5,000 rows) with the
/// boundaries and segments of the synth world `world` and a privacy key file, into `out`.
fn analyze_synth(
    dir: &Path,
    world: &Path,
    engine: &str,
    consumers: &str,
    out: &str,
    env: &[(&str, String)],
) -> (i32, String) {
    let key = dir.join("secret.key");
    std::fs::write(&key, "a key of more than sixteen bytes").expect("key");
    let key = key.display().to_string();
    let mut more = vec!["--privacy-key", &key];
    if engine != "local" {
        more.extend(["--partitions", "3", "--part-rows", "5000"]);
    }
    analyze_from(dir, world, engine, consumers, out, &more, env)
}

/// Parts of 2 row groups out of files of 4: 6 partitions from 3 files.
#[test]
fn a_synth_world_in_parquet_parts_counts_as_its_one_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let (world, parts) = synth_parquet_parts(dir.path());
    let single = world.join("consumers.parquet").display().to_string();
    assert_eq!(
        analyze_synth(dir.path(), &world, "local", &single, "local", &[]).0,
        0
    );
    let parts = parts.display().to_string();
    for engine in ["datafusion", "ballista"] {
        let (code, err) = analyze_synth(dir.path(), &world, engine, &parts, engine, &[]);
        assert_eq!(code, 0, "{err}");
        assert_same_outputs(&dir.path().join("local"), &dir.path().join(engine));
    }
}

/// Under a memory limit the plan runs within it (spilling groups to disk when they outgrow
/// it), and the outputs stay the same. At 16M this world spills (one or two spill files, seen
/// with strace); 8M once failed with "Resources exhausted" when the other tests loaded the
/// machine, since readers and exchanges hold memory that cannot spill.
#[test]
fn a_memory_limit_spills_and_counts_the_same() {
    let dir = tempfile::tempdir().expect("tmp");
    let (world, parts) = synth_parquet_parts(dir.path());
    let single = world.join("consumers.parquet").display().to_string();
    let parts = parts.display().to_string();
    assert_eq!(
        analyze_synth(dir.path(), &world, "local", &single, "local", &[]).0,
        0
    );
    let key = dir.path().join("secret.key").display().to_string();
    let limited = [
        "--privacy-key",
        &key,
        "--memory-limit",
        "16M",
        "--partitions",
        "3",
        "--part-rows",
        "5000",
    ];
    let (code, err) = analyze_from(
        dir.path(),
        &world,
        "datafusion",
        &parts,
        "limited",
        &limited,
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert_same_outputs(&dir.path().join("local"), &dir.path().join("limited"));
}

#[test]
fn a_bad_row_in_one_part_is_rejected_with_its_file_and_line() {
    for engine in ["datafusion", "ballista"] {
        a_bad_row_is_rejected_on(engine);
    }
}

fn a_bad_row_is_rejected_on(engine: &str) {
    let dir = tempfile::tempdir().expect("tmp");
    let parts = split_sample(dir.path(), 3, |i, rows| {
        if i == 1 {
            rows[9] = "c99999999,north,8.5,M,30,road,amateur,none,10".into();
        }
    });
    let (code, err) = analyze(dir.path(), engine, &parts.display().to_string(), "out");
    assert_eq!(code, 0, "{err}");
    let rejects = std::fs::read_to_string(dir.path().join("out.rejects.csv")).expect("rejects");
    let lines: Vec<&str> = rejects.lines().collect();
    assert_eq!(lines.len(), 2, "{rejects}");
    // Line 11 of the second part: the header is line 1.
    assert!(lines[1].starts_with("11,"), "{rejects}");
    assert!(lines[1].contains("part-1.csv"), "{rejects}");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("out/manifest.json")).expect("read"))
            .expect("json");
    assert_eq!(manifest["rows"]["read"], 100_000);
    assert_eq!(manifest["rows"]["rejected"], 1);
    assert_eq!(manifest["rows"]["accepted"], 99_999);
}

#[test]
fn an_id_in_two_files_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let parts = split_sample(dir.path(), 2, |i, rows| {
        if i == 1 {
            rows[0] = rows[0].replacen(&rows[0][..9], "c00000001", 1);
        }
    });
    let (code, err) = analyze(
        dir.path(),
        "datafusion",
        &parts.display().to_string(),
        "out",
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("1 consumer ids appear in more than one file"),
        "{err}"
    );
    assert!(!dir.path().join("out/manifest.json").exists());
}

#[test]
fn the_local_binary_names_the_engine_it_lacks() {
    let dir = tempfile::tempdir().expect("tmp");
    let (code, err) = analyze(dir.path(), "spark", &sample("consumers.csv"), "out");
    assert_eq!(code, 2);
    assert!(
        err.contains(
            "--engine spark is not in this binary, which counts with: local, datafusion, ballista"
        ),
        "{err}"
    );
}

#[test]
fn a_file_that_cannot_be_read_is_named_whatever_the_others_do() {
    for engine in ["datafusion", "ballista"] {
        a_file_that_cannot_be_read_is_named_on(engine);
    }
}

fn a_file_that_cannot_be_read_is_named_on(engine: &str) {
    let dir = tempfile::tempdir().expect("tmp");
    let parts = split_sample(dir.path(), 3, |_, _| {});
    std::fs::write(parts.join("part-1.csv"), "id,where,lon\nc1,47.0,8.0\n").expect("write");
    let (code, err) = analyze(dir.path(), engine, &parts.display().to_string(), "out");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("part-1.csv"), "{err}");
    assert!(err.contains("--lat-col"), "{err}");
    assert!(!dir.path().join("out/manifest.json").exists());
}

/// A process killed when the test ends, whatever happens.
struct Process(std::process::Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port nothing listens on now, with the next one free too (an executor takes two).
fn free_ports() -> u16 {
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        if port < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
}

fn start(dir: &Path, args: &[&str]) -> Process {
    Process(
        Command::new(env!("CARGO_BIN_EXE_micromarket-datafusion"))
            .args(args)
            .current_dir(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the binary starts"),
    )
}

#[test]
fn a_cluster_of_separate_scheduler_and_executor_processes_counts_the_same() {
    let dir = tempfile::tempdir().expect("tmp");
    let parts = split_sample(dir.path(), 3, |_, _| {});
    let scheduler = format!("127.0.0.1:{}", free_ports());
    let _scheduler = start(dir.path(), &["scheduler", "--bind", &scheduler]);
    let executor = format!("127.0.0.1:{}", free_ports());
    let _executor = start(
        dir.path(),
        &[
            "executor",
            "--scheduler",
            &scheduler,
            "--bind",
            &executor,
            "--slots",
            "2",
        ],
    );
    assert_eq!(
        analyze(dir.path(), "local", &sample("consumers.csv"), "local").0,
        0
    );
    let scheduler = format!("df://{scheduler}");
    let (code, err) = analyze_with(
        dir.path(),
        "ballista",
        &parts.display().to_string(),
        "remote",
        &["--scheduler", &scheduler],
    );
    assert_eq!(code, 0, "{err}");
    assert_same_outputs(&dir.path().join("local"), &dir.path().join("remote"));
}

/// An S3-compatible server on this machine (moto's, which .ci/setup installs in
/// target/check-venv) with an empty bucket `consumers`, stopped when dropped.
struct S3 {
    _server: Process,
    port: u16,
}

impl S3 {
    fn start(dir: &Path) -> S3 {
        let server =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/check-venv/bin/moto_server");
        assert!(
            server.exists(),
            "the object-storage test needs moto's S3 server in target/check-venv; run .ci/setup"
        );
        let port = free_ports();
        let server = Process(
            Command::new(server)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .current_dir(dir)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("moto_server starts"),
        );
        let s3 = S3 {
            _server: server,
            port,
        };
        let started = std::time::Instant::now();
        loop {
            match s3.put("/consumers", &[]) {
                Ok(200) => return s3,
                _ if started.elapsed().as_secs() < 60 => {
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
                other => panic!("the S3 server does not create a bucket: {other:?}"),
            }
        }
    }

    /// A PUT of `body` at `path` (a bucket, or an object in one); the response's status.
    fn put(&self, path: &str, body: &[u8]) -> std::io::Result<u16> {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port))?;
        write!(
            stream,
            "PUT {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.port,
            body.len()
        )?;
        stream.write_all(body)?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response)?;
        let status = String::from_utf8_lossy(&response)
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok());
        status.ok_or_else(|| std::io::Error::other("not an HTTP response"))
    }

    /// The environment that points the binary at this server.
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT", format!("http://127.0.0.1:{}", self.port)),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }
}

/// Parquet parts in an S3 bucket, each cut into runs of row groups fetched by range, count as
/// the world's one local file; so do the same parts by a file URL.
#[test]
fn consumers_in_object_storage_count_as_local_files() {
    let dir = tempfile::tempdir().expect("tmp");
    let (world, parts) = synth_parquet_parts(dir.path());
    let single = world.join("consumers.parquet").display().to_string();
    assert_eq!(
        analyze_synth(dir.path(), &world, "local", &single, "local", &[]).0,
        0
    );

    let s3 = S3::start(dir.path());
    let mut bytes = 0;
    for name in files(&parts) {
        let data = std::fs::read(parts.join(&name)).expect("read");
        bytes += data.len();
        let key = format!("/consumers/world/{}", name.display());
        assert_eq!(s3.put(&key, &data).expect("upload"), 200);
    }
    let url = "s3://consumers/world/";
    let (code, err) = analyze_synth(dir.path(), &world, "ballista", url, "s3", &s3.env());
    assert_eq!(code, 0, "{err}");
    assert_same_outputs(&dir.path().join("local"), &dir.path().join("s3"));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("s3/manifest.json")).expect("read"))
            .expect("json");
    assert_eq!(manifest["inputs"][0]["path"], url);
    assert_eq!(manifest["inputs"][0]["bytes"], bytes);

    let url = format!("file://{}/", parts.display());
    let (code, err) = analyze_synth(dir.path(), &world, "datafusion", &url, "file", &[]);
    assert_eq!(code, 0, "{err}");
    assert_same_outputs(&dir.path().join("local"), &dir.path().join("file"));

    let (code, err) = analyze_synth(
        dir.path(),
        &world,
        "datafusion",
        "s3://consumers/elsewhere/",
        "none",
        &s3.env(),
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("s3://consumers/elsewhere/"), "{err}");
    assert!(!dir.path().join("none/manifest.json").exists());
}
