//! Spatial indexes of consumers: the H3 cell of each consumer, an R-tree for radius, nearest
//! and polygon queries, and the fast hasher of cell-keyed maps.

mod cells;
mod hash;
mod rtree;

pub use cells::assign_cells;
pub use hash::{CellHasher, CellMap, CellSet};
pub use rtree::{ConsumerIndex, EARTH_RADIUS_KM, haversine_km};
