//! Regions and cities: loading and validating GeoJSON boundaries, naming them, and locating points.

mod area;
mod edges;
mod locate;

pub use area::{ALL_SLUG, Area, Boundaries, BoundaryError, BoundaryOptions, BoundaryText, slugify};
pub use locate::{Located, Locator, NO_AREA};
