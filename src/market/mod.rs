//! Micro-markets (where a segment's share is materially above the scope's, as connected groups
//! of cells dissolved into one shape, with their figures, a stable id and a rank) and campaigns
//! under a budget.

mod campaign;
mod micro;
mod stability;

pub use campaign::{BudgetUnit, Campaign, Candidate, Prior, campaigns, greedy, shrunken_greedy};
pub use micro::{
    Component, MicroMarket, SegmentMarkets, components, detect, dissolve, family_wise,
    micro_markets, published_windows, score, segment_components, segment_members,
};
pub use stability::{STABLE_SHARE, mark_stability, nested_cells};
