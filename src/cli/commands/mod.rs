//! One module per subcommand, each with its own `Args` and `run`.

pub mod analyze;
pub mod catchment;
pub mod inputs;
pub mod launch;
pub mod synth;
pub mod validate;
