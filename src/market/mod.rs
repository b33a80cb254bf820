//! Micro-markets: connected hot cells of one scope × segment, dissolved into one shape, with their
//! figures, a stable id and a rank.

mod campaign;
mod micro;

pub use campaign::{BudgetUnit, Campaign, Candidate, campaigns, greedy};
pub use micro::{MicroMarket, components, dissolve, micro_markets};
