//! The `micromarket` command line: parse arguments, run, map the outcome to an exit code.

mod cli;

/// jemalloc keeps freed memory for reuse where glibc's malloc returns large blocks to the system
/// and faults them in again (a first write to a fresh page costs microseconds on a virtual
/// machine). The stages allocate and free many large columns and buffers (chunks of the input,
/// Parquet pages per column). On 10 M synth consumers, 2 cores, three alternating runs each:
/// 12.0-12.9 s with glibc's malloc, 11.1-11.7 s with jemalloc; peak 1.65-1.67 GB against
/// 1.45-1.54 GB.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
