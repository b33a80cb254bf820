//! Spatial indexes of consumers: the H3 cell of each consumer, and an R-tree for radius, nearest
//! and polygon queries.

mod cells;
mod rtree;

pub use cells::assign_cells;
pub use rtree::{ConsumerIndex, EARTH_RADIUS_KM, haversine_km};
