//! City launches: plans, validation, parallel resumable runs and their manifest.

mod plan;
mod run;

pub use plan::{Launch, LaunchParameters, Plan, PlanError};
pub use run::{
    Event, LaunchError, LaunchManifest, LaunchRecord, LaunchStatus, PlanStatus, RunOptions,
    StatusCounts, run_plan,
};
