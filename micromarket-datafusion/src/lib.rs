//! micromarket's counting phase on Apache DataFusion and Apache Ballista.
//!
//! A local `micromarket analyze` has two phases: one over consumers (read, locate, key, count
//! per zone × cell × segment), embarrassingly parallel, and one over scopes (statistics,
//! micro-markets, exports) that needs only those counts. This crate runs the first as a
//! DataFusion plan, in this process or on a Ballista cluster, and hands its counts to
//! micromarket's own second phase ([`micromarket::analyze::analyze_counted`]), so the outputs
//! are the local engine's:
//!
//! - [`scan`]: the consumer files as a table whose partitions read parts (a file, or row groups
//!   of a large Parquet file) with micromarket's own reader (the same columns, values and
//!   rejects) and evaluate the named segments with its own filters; each part's report comes
//!   back as a row of the plan;
//! - [`udf`]: `mm_h3_cell`, `mm_locate` and `mm_record_key`, scalar functions over Arrow arrays
//!   that call the library;
//! - [`count`]: the plan (one `GROUP BY` zone, cell and the grid's dimensions) and the merge;
//! - [`store`]: consumers in object storage (`s3://`, `gs://`, `az://`, `https://` URLs),
//!   fetched by the process that reads each part;
//! - [`codec`] and [`cluster`]: how the scan and the functions travel to Ballista's scheduler
//!   and executors, and the sessions and cluster processes that run them.
//!
//! The `micromarket-datafusion` binary is the `micromarket` command line with
//! `analyze --engine datafusion|ballista` and the `scheduler` and `executor` commands.

pub mod cluster;
pub mod codec;
pub mod count;
pub mod scan;
pub mod store;
pub mod udf;

pub use count::{Ballista, EngineOptions, analyze, consumer_files, count_consumers};
