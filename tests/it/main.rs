//! Integration tests: the real binary on real files in temporary folders, plus library-level
//! property tests. One module per subcommand and per library area.

mod analyze;
mod bad_input;
mod browser;
mod catchment;
mod common;
mod consistency;
mod detection;
mod disclosure;
mod first_hour;
mod golden;
mod interrupted;
mod launch;
mod layers;
mod parquet;
mod pathological;
mod properties;
mod redteam;
mod rfc7946;
mod synth;
mod validate;
