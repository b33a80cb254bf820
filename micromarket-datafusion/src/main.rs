//! `micromarket-datafusion`: the `micromarket` command line, with `analyze --engine datafusion`
//! counting on Apache DataFusion.

#[path = "../../src/cli/mod.rs"]
mod cli;

fn main() -> std::process::ExitCode {
    cli::main_with(
        "micromarket-datafusion",
        &[cli::Engine {
            name: "datafusion",
            run: |config, partitions, progress| {
                let mut options = micromarket_datafusion::EngineOptions::default();
                if let Some(p) = partitions {
                    options.partitions = p;
                }
                micromarket_datafusion::analyze(config, options, progress)
            },
        }],
    )
}
