//! micromarket's counting phase on Apache DataFusion.
//!
//! A local `micromarket analyze` has two phases: one over consumers (read, locate, key, count
//! per zone × cell × segment), embarrassingly parallel, and one over scopes (statistics,
//! micro-markets, exports) that needs only those counts. This crate runs the first as a
//! DataFusion plan and hands its counts to micromarket's own second phase
//! ([`micromarket::analyze::analyze_counted`]), so the outputs are the local engine's:
//!
//! - [`scan`]: the consumer files as a table of one partition per file, each read by
//!   micromarket's own reader (the same columns, values and rejects) with the named segments
//!   evaluated by its own filters;
//! - [`udf`]: `mm_h3_cell`, `mm_locate` and `mm_record_key`, scalar functions over Arrow arrays
//!   that call the library;
//! - [`count`]: the plan (one `GROUP BY` zone, cell and the grid's dimensions) and the merge.
//!
//! The `micromarket-datafusion` binary is the `micromarket` command line with
//! `analyze --engine datafusion`.

pub mod cluster;
pub mod codec;
pub mod count;
pub mod scan;
pub mod udf;

pub use count::{Ballista, EngineOptions, analyze, consumer_files, count_consumers};
