//! Store catchments: the consumers within a radius of each store, or nearest to it, with their
//! segment figures against the store's scope (its city, else its region, else all).

mod assign;
mod export;
mod run;

pub use assign::{Catchment, CatchmentMode, Catchments, Stores, catchments};
pub use run::{CatchmentManifest, run_catchments};
