//! Argument parsing, global options, progress display and exit codes.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "the command line is where the tool speaks to its user"
)]

mod commands;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use micromarket::Progress;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// jemalloc keeps freed memory for reuse where glibc's malloc returns large blocks to the system
/// and faults them in again (a first write to a fresh page costs microseconds on a virtual
/// machine). The stages allocate and free many large columns and buffers (chunks of the input,
/// Parquet pages per column). On 10 M synth consumers, 2 cores, three alternating runs each:
/// 12.0-12.9 s with glibc's malloc, 11.1-11.7 s with jemalloc; peak 1.65-1.67 GB against
/// 1.45-1.54 GB.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Geographic micromarketing: find narrow consumer segments cell by cell on the H3 grid, in every
/// region and city, and export them as GeoParquet, GeoJSON, CSV or FlatGeobuf layers with offline
/// maps.
///
/// Example: `micromarket analyze` runs on the bundled sample and writes to out/.
#[derive(Debug, Parser)]
#[command(name = "micromarket", version, propagate_version = true)]
pub struct Cli {
    /// Worker threads (default: all cores).
    #[arg(long, global = true, value_name = "N")]
    threads: Option<usize>,
    /// Print only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Also print warnings in full and stage timings.
    #[arg(short, long, global = true)]
    verbose: bool,
    /// Print a machine-readable summary on stdout instead of the table.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Analyze(commands::analyze::Args),
    Catchment(commands::catchment::Args),
    Launch(commands::launch::Args),
    Validate(commands::validate::Args),
    Synth(commands::synth::Args),
}

/// A counting engine a binary offers beside the local one (`analyze --engine NAME`): the
/// `micromarket-datafusion` binary builds this command line with DataFusion's.
#[allow(dead_code, reason = "only the micromarket-datafusion binary makes one")]
pub struct Engine {
    /// Its name on the command line.
    pub name: &'static str,
    /// Runs an analysis.
    pub run: EngineRun,
}

/// A size in bytes: a whole number, optionally followed by K, M or G (powers of 1,024).
pub fn parse_bytes(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let (number, shift) = match text.char_indices().last() {
        Some((i, 'K' | 'k')) => (&text[..i], 10),
        Some((i, 'M' | 'm')) => (&text[..i], 20),
        Some((i, 'G' | 'g')) => (&text[..i], 30),
        _ => (text, 0),
    };
    number
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .filter(|&n| n > 0)
        .ok_or_else(|| {
            format!(
                "{text:?} is not a size: write bytes, or a whole number with K, M or G (512M, 4G)"
            )
        })
}

/// What `analyze` was told about where another engine runs.
#[derive(Debug, Clone, Default)]
#[allow(dead_code, reason = "only the micromarket-datafusion binary reads it")]
pub struct EngineArgs {
    /// `--partitions`.
    pub partitions: Option<usize>,
    /// `--part-rows`.
    pub part_rows: Option<u64>,
    /// `--scheduler`: a Ballista scheduler's address.
    pub scheduler: Option<String>,
    /// `--executors`: executors of a Ballista cluster started in the process.
    pub executors: Option<usize>,
    /// `--memory-limit`, in bytes.
    pub memory_limit: Option<usize>,
}

/// How an [`Engine`] runs an analysis: the configuration, the engine's arguments, the progress.
pub type EngineRun = fn(
    &micromarket::AnalyzeConfig,
    &EngineArgs,
    &Arc<Progress>,
) -> Result<micromarket::export::Manifest, micromarket::Error>;

/// Options every command sees.
pub struct Global {
    /// The engines this binary offers beside the local one.
    pub engines: &'static [Engine],
    /// Print only errors.
    pub quiet: bool,
    /// Print more.
    pub verbose: bool,
    /// JSON on stdout.
    pub json: bool,
}

impl Global {
    /// Runs `work` with a progress display on stderr (only when stderr is a terminal and not
    /// quiet): the stage, the rows read, then a bar of the scopes done out of all; `work`
    /// advances the [`Progress`] it is given.
    pub fn with_progress<T>(&self, work: impl FnOnce(&Arc<Progress>) -> T) -> T {
        let progress = Arc::new(Progress::default());
        if self.quiet || !std::io::stderr().is_terminal() {
            return work(&progress);
        }
        let bar = ProgressBar::new_spinner();
        let stage_style = ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        let scope_style = ProgressStyle::with_template(
            "{spinner} {elapsed:>4} {msg} [{bar:30}] {pos}/{len} scopes",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(stage_style);
        bar.enable_steady_tick(Duration::from_millis(120));
        let done = AtomicBool::new(false);
        let result = std::thread::scope(|s| {
            s.spawn(|| {
                let mut scoped = false;
                while !done.load(Ordering::Relaxed) {
                    let now = progress.snapshot();
                    if now.scopes_total > 0 {
                        if !scoped {
                            bar.set_style(scope_style.clone());
                            bar.set_length(now.scopes_total);
                            scoped = true;
                        }
                        bar.set_position(now.scopes_done);
                        bar.set_message(now.stage);
                    } else if now.rows > 0 {
                        bar.set_message(format!("{} ({} rows read)", now.stage, now.rows));
                    } else {
                        bar.set_message(now.stage);
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            });
            let result = work(&progress);
            done.store(true, Ordering::Relaxed);
            result
        });
        bar.finish_and_clear();
        result
    }

    /// Prints a message on stderr unless quiet.
    pub fn note(&self, message: &str) {
        if !self.quiet {
            eprintln!("{message}");
        }
    }
}

/// Bad usage or an unreadable input, found by the command line itself (exit code 2).
#[derive(Debug)]
pub struct Invalid(pub String);

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Invalid {}

/// How a command ended: its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Everything ran (0).
    Ok = 0,
    /// Something failed while running: a write, a read, the threads (1).
    Failure = 1,
    /// Bad usage or invalid input; nothing was written (2).
    InvalidInput = 2,
    /// Some launches failed and the others completed (3).
    PartialLaunch = 3,
}

impl ExitStatus {
    /// The status of a command that stopped with `error`, decided here for every command.
    fn of(error: &anyhow::Error) -> ExitStatus {
        use micromarket::Error;
        if error.downcast_ref::<Invalid>().is_some()
            || error
                .downcast_ref::<micromarket::batch::PlanError>()
                .is_some()
        {
            return ExitStatus::InvalidInput;
        }
        match error.downcast_ref::<Error>() {
            Some(Error::Export(e)) if e.source.kind() == std::io::ErrorKind::InvalidInput => {
                ExitStatus::InvalidInput
            }
            Some(
                Error::Ingest(micromarket::consumer::IngestError::Io { .. })
                | Error::Export(_)
                | Error::Threads { .. }
                | Error::PartUnreadable { io: true, .. }
                | Error::Engine { .. },
            )
            | None => ExitStatus::Failure,
            Some(_) => ExitStatus::InvalidInput,
        }
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        ExitCode::from(status as u8)
    }
}

/// Parses arguments, runs the command, and returns its exit code.
#[allow(
    dead_code,
    reason = "the micromarket-datafusion binary calls main_with"
)]
pub fn main() -> ExitCode {
    main_with("micromarket", &[], &[])
}

/// A command a binary adds to this command line: the DataFusion binary's cluster processes.
#[allow(dead_code, reason = "only the micromarket-datafusion binary makes one")]
pub struct ExtraCommand {
    /// Its name, arguments and help.
    pub command: fn() -> clap::Command,
    /// Runs it.
    pub run: fn(&clap::ArgMatches) -> ExitCode,
}

/// [`main`] for the binary `name`, which offers `engines` beside the local one and the commands
/// `extra`.
pub fn main_with(
    name: &'static str,
    engines: &'static [Engine],
    extra: &'static [ExtraCommand],
) -> ExitCode {
    use clap::{CommandFactory, FromArgMatches};
    let command = extra
        .iter()
        .fold(Cli::command(), |c, e| c.subcommand((e.command)()));
    let matches = command.name(name).bin_name(name).get_matches();
    if let Some(threads) = matches.get_one::<usize>("threads").copied() {
        if threads == 0 {
            eprintln!("error: --threads must be at least 1");
            return ExitStatus::InvalidInput.into();
        }
        if let Err(e) = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build_global()
        {
            eprintln!("error: cannot start {threads} threads: {e}");
            return ExitStatus::Failure.into();
        }
    }
    if let Some((sub, args)) = matches.subcommand()
        && let Some(e) = extra.iter().find(|e| (e.command)().get_name() == sub)
    {
        return (e.run)(args);
    }
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let global = Global {
        engines,
        quiet: cli.quiet,
        verbose: cli.verbose,
        json: cli.json,
    };
    let outcome = match cli.command {
        Command::Analyze(args) => commands::analyze::run(&args, &global),
        Command::Catchment(args) => commands::catchment::run(&args, &global),
        Command::Launch(args) => commands::launch::run(&args, &global),
        Command::Validate(args) => commands::validate::run(&args, &global),
        Command::Synth(args) => commands::synth::run(&args, &global),
    };
    match outcome {
        Ok(status) => status.into(),
        Err(error) => {
            let status = ExitStatus::of(&error);
            eprintln!("error: {}", message(&error));
            if global.json {
                // A scheduler reading stdout gets an answer whatever happened.
                let answer = serde_json::json!({
                    "status": if status == ExitStatus::InvalidInput { "invalid" } else { "failed" },
                    "error": message(&error),
                    "exit_code": status as u8,
                });
                println!("{answer}");
            }
            status.into()
        }
    }
}

/// An error and its causes on one line, each cause once (most errors already name their cause).
fn message(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn sizes_read_in_bytes_or_binary_units() {
        assert_eq!(parse_bytes("4096"), Ok(4096));
        assert_eq!(parse_bytes("256K"), Ok(256 << 10));
        assert_eq!(parse_bytes("512m"), Ok(512 << 20));
        assert_eq!(parse_bytes(" 4G "), Ok(4 << 30));
        for bad in ["", "0", "G", "1.5G", "-1M", "4GB", "99999999999999999999G"] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
    }
}
