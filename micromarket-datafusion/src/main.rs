//! `micromarket-datafusion`: the `micromarket` command line, with `analyze --engine datafusion`
//! counting on Apache DataFusion in this process, `analyze --engine ballista` on an Apache
//! Ballista cluster, and the commands that start such a cluster's scheduler and executors.

#![allow(
    clippy::print_stderr,
    reason = "the cluster commands speak to their user"
)]

#[path = "../../src/cli/mod.rs"]
mod cli;

use clap::{Args, FromArgMatches};
use micromarket_datafusion::cluster::{self, ProcessOptions};
use micromarket_datafusion::{Ballista, EngineOptions};
use std::net::SocketAddr;
use std::process::ExitCode;

/// The engine's options from `analyze`'s arguments.
fn options(args: &cli::EngineArgs, ballista: bool) -> EngineOptions {
    let mut options = EngineOptions::default();
    if let Some(p) = args.partitions {
        options.partitions = p;
    }
    if let Some(rows) = args.part_rows {
        options.part_rows = rows;
    }
    options.memory_limit = args.memory_limit;
    if ballista {
        options.ballista = Some(match &args.scheduler {
            Some(url) => Ballista::Remote(url.clone()),
            None => Ballista::Standalone(args.executors.unwrap_or(2)),
        });
    }
    options
}

/// Runs a Ballista scheduler for `analyze --engine ballista --scheduler df://HOST:PORT`.
#[derive(Debug, Args)]
struct SchedulerArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:50050", value_name = "HOST:PORT")]
    bind: SocketAddr,
    /// Host the executors and clients reach this scheduler at [default: the bind address].
    #[arg(long, value_name = "HOST")]
    external_host: Option<String>,
}

/// Runs a Ballista executor of micromarket's counting plans; it must read the consumer files at
/// the paths `analyze` gives (a shared file system).
#[derive(Debug, Args)]
struct ExecutorArgs {
    /// The scheduler.
    #[arg(long, default_value = "127.0.0.1:50050", value_name = "HOST:PORT")]
    scheduler: String,
    /// Address of this executor's data service (its task service takes the next port).
    #[arg(long, default_value = "127.0.0.1:50051", value_name = "HOST:PORT")]
    bind: SocketAddr,
    /// Host the scheduler and other executors reach this one at [default: the bind address].
    #[arg(long, value_name = "HOST")]
    external_host: Option<String>,
    /// Tasks run at once [default: the cores].
    #[arg(long, value_name = "N")]
    slots: Option<usize>,
    /// Folder for shuffle files [default: a temporary folder].
    #[arg(long, value_name = "DIR")]
    work_dir: Option<String>,
    /// Memory the tasks' operators may hold, shared by the slots, in bytes or with a unit (512M,
    /// 4G); beyond it they spill to disk [default: 70% of the machine's, Ballista's own rule].
    #[arg(long, value_name = "BYTES", value_parser = cli::parse_bytes)]
    memory_limit: Option<usize>,
}

/// Runs `process` to its end on a runtime of its own; its error is the exit code.
fn serve(process: impl Future<Output = Result<(), micromarket::Error>>) -> ExitCode {
    let outcome = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|runtime| runtime.block_on(process).map_err(|e| e.to_string()));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn scheduler(matches: &clap::ArgMatches) -> ExitCode {
    let args = match SchedulerArgs::from_arg_matches(matches) {
        Ok(args) => args,
        Err(e) => e.exit(),
    };
    serve(cluster::run_scheduler(ProcessOptions {
        bind: args.bind,
        external_host: args.external_host,
    }))
}

fn executor(matches: &clap::ArgMatches) -> ExitCode {
    let args = match ExecutorArgs::from_arg_matches(matches) {
        Ok(args) => args,
        Err(e) => e.exit(),
    };
    let scheduler = args
        .scheduler
        .rsplit_once(':')
        .and_then(|(host, port)| Some((host.to_string(), port.parse().ok()?)));
    let Some(scheduler) = scheduler else {
        eprintln!(
            "error: --scheduler {} is not HOST:PORT (for example 127.0.0.1:50050)",
            args.scheduler
        );
        return ExitCode::from(2);
    };
    let slots = args
        .slots
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from));
    serve(cluster::run_executor(
        ProcessOptions {
            bind: args.bind,
            external_host: args.external_host,
        },
        scheduler,
        slots,
        args.work_dir,
        args.memory_limit,
    ))
}

fn main() -> ExitCode {
    cli::main_with(
        "micromarket-datafusion",
        &[
            cli::Engine {
                name: "datafusion",
                run: |config, args, progress| {
                    micromarket_datafusion::analyze(config, &options(args, false), progress)
                },
            },
            cli::Engine {
                name: "ballista",
                run: |config, args, progress| {
                    micromarket_datafusion::analyze(config, &options(args, true), progress)
                },
            },
        ],
        &[
            cli::ExtraCommand {
                command: || SchedulerArgs::augment_args(clap::Command::new("scheduler")),
                run: scheduler,
            },
            cli::ExtraCommand {
                command: || ExecutorArgs::augment_args(clap::Command::new("executor")),
                run: executor,
            },
        ],
    )
}
