//! Locating consumers in regions and cities.
//!
//! # Algorithm
//!
//! Each polygon is tiled once with h3o's tiler (`Covers` mode, annotated) at the index resolution
//! (the analysis resolution, at most 7). A cell answers for every point in it at once when it is
//! fully contained in exactly one polygon and so are its six neighbours, and no neighbour touches
//! another polygon: an H3 cell's points lie within its neighbours' hexagons, so this margin makes
//! the shortcut exact. Every other point is tested exactly: an rstar R-tree over polygon bounding
//! boxes gives the candidates and geo's `coordinate_position` decides.
//!
//! # Boundary semantics
//!
//! A point on a polygon's boundary is inside it. When several polygons contain a point (a point on
//! the edge two cities share, or overlapping input), the first in file order wins, so every
//! consumer is in at most one region and one city, and the answer never depends on thread count.
//! A consumer in a city is counted in that city's region, so the cities of a region always sum to
//! at most the region.

use super::{Area, Boundaries};
use geo::coordinate_position::CoordPos;
use geo::{Coord, CoordinatePosition};
use h3o::geom::{ContainmentMode, TilerBuilder};
use h3o::{CellIndex, Resolution};
use rayon::prelude::*;
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RTree};
use std::collections::HashMap;

/// Index of "no region" or "no city" in [`Located`].
pub const NO_AREA: u32 = u32::MAX;

/// Coarsest resolution used for the interior-cell shortcut.
const INDEX_RESOLUTION: Resolution = Resolution::Seven;

type BoxEntry = GeomWithData<Rectangle<[f64; 2]>, usize>;

/// Point-in-area lookup for one set of polygons (all regions, or all cities).
struct AreaIndex {
    interior: HashMap<CellIndex, u32>,
    tree: RTree<BoxEntry>,
    geometries: Vec<geo::MultiPolygon<f64>>,
}

impl AreaIndex {
    fn new(areas: &[Area], resolution: Resolution) -> Self {
        let coverages: Vec<(Vec<CellIndex>, Vec<CellIndex>)> = areas
            .par_iter()
            .map(|area| {
                let mut tiler = TilerBuilder::new(resolution)
                    .containment_mode(ContainmentMode::Covers)
                    .build();
                let mut covered = Vec::new();
                let mut full = Vec::new();
                for polygon in area.geometry.iter() {
                    // Polygons were validated at load; a polygon h3o still refuses simply gets
                    // no shortcut cells, and its points take the exact path.
                    if tiler.add(polygon.clone()).is_err() {
                        return (Vec::new(), Vec::new());
                    }
                }
                for cell in tiler.into_annotated_coverage() {
                    covered.push(cell.cell);
                    if cell.is_fully_contained {
                        full.push(cell.cell);
                    }
                }
                (covered, full)
            })
            .collect();
        // Cells touched by more than one polygon never answer on their own.
        let mut touched: HashMap<CellIndex, u32> = HashMap::new();
        for (a, (covered, _)) in coverages.iter().enumerate() {
            for &cell in covered {
                let owner = touched.entry(cell).or_insert(a as u32);
                if *owner != a as u32 {
                    *owner = NO_AREA;
                }
            }
        }
        let mut interior = HashMap::new();
        for (a, (_, full)) in coverages.iter().enumerate() {
            let full: std::collections::HashSet<CellIndex> = full.iter().copied().collect();
            for &cell in &full {
                let safe = cell
                    .grid_disk::<Vec<_>>(1)
                    .into_iter()
                    .all(|n| full.contains(&n) && touched.get(&n) == Some(&(a as u32)));
                if safe {
                    interior.insert(cell, a as u32);
                }
            }
        }
        let tree = RTree::bulk_load(
            areas
                .iter()
                .enumerate()
                .map(|(i, area)| {
                    let (min, max) = (area.bbox.min(), area.bbox.max());
                    GeomWithData::new(Rectangle::from_corners([min.x, min.y], [max.x, max.y]), i)
                })
                .collect(),
        );
        AreaIndex {
            interior,
            tree,
            geometries: areas.iter().map(|a| a.geometry.clone()).collect(),
        }
    }

    /// The first area (in file order) containing the point, or [`NO_AREA`].
    fn find(&self, lat: f64, lng: f64, index_cell: CellIndex) -> u32 {
        if let Some(&a) = self.interior.get(&index_cell) {
            return a;
        }
        self.exact(lat, lng)
    }

    fn exact(&self, lat: f64, lng: f64) -> u32 {
        let coord = Coord { x: lng, y: lat };
        let point = AABB::from_point([lng, lat]);
        self.tree
            .locate_in_envelope_intersecting(&point)
            .map(|entry| entry.data)
            .filter(|&a| self.geometries[a].coordinate_position(&coord) != CoordPos::Outside)
            .min()
            .map_or(NO_AREA, |a| a as u32)
    }
}

/// Finds the region and city of points.
pub struct Locator {
    resolution: Resolution,
    index_resolution: Resolution,
    regions: AreaIndex,
    cities: AreaIndex,
    city_region: Vec<u32>,
}

/// Where each consumer is: its cell at the analysis resolution, region and city ([`NO_AREA`] if
/// none), column by column.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Located {
    /// H3 cell per consumer.
    pub cell: Vec<CellIndex>,
    /// Region index per consumer.
    pub region: Vec<u32>,
    /// City index per consumer.
    pub city: Vec<u32>,
}

impl Locator {
    /// Builds the indexes for `boundaries` at the analysis `resolution`.
    ///
    /// # Runtime
    ///
    /// One h3o tiling per polygon at resolution `min(resolution, 7)`, in parallel.
    pub fn new(boundaries: &Boundaries, resolution: Resolution) -> Self {
        let index_resolution = resolution.min(INDEX_RESOLUTION);
        let (regions, cities) = rayon::join(
            || AreaIndex::new(&boundaries.regions, index_resolution),
            || AreaIndex::new(&boundaries.cities, index_resolution),
        );
        Locator {
            resolution,
            index_resolution,
            regions,
            cities,
            city_region: boundaries
                .cities
                .iter()
                .map(|c| c.region.map_or(NO_AREA, |r| r as u32))
                .collect(),
        }
    }

    /// Region and city of one point whose analysis cell is `cell`.
    pub fn locate_point(&self, lat: f64, lng: f64, cell: CellIndex) -> (u32, u32) {
        let index_cell = cell
            .parent(self.index_resolution)
            .expect("the index resolution is never finer than the analysis resolution");
        let city = self.cities.find(lat, lng, index_cell);
        let region = if city != NO_AREA && self.city_region[city as usize] != NO_AREA {
            self.city_region[city as usize]
        } else {
            self.regions.find(lat, lng, index_cell)
        };
        (region, city)
    }

    /// Locates every consumer, in parallel. Cells are computed directly at the analysis
    /// resolution with h3o's `LatLng::to_cell` (never as the parent of a finer cell).
    pub fn locate(&self, lat: &[f64], lng: &[f64]) -> Located {
        let cell = crate::index::assign_cells(lat, lng, self.resolution);
        let (region, city): (Vec<u32>, Vec<u32>) = lat
            .par_iter()
            .zip(lng.par_iter())
            .zip(cell.par_iter())
            .map(|((&la, &ln), &c)| self.locate_point(la, ln, c))
            .unzip();
        Located { cell, region, city }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boundary::{BoundaryOptions, BoundaryText};

    fn boundaries() -> Boundaries {
        // Two cities sharing the edge lng = 0.05; the first has a lake (hole).
        let cities = r#"{"type":"FeatureCollection","features":[
          {"type":"Feature","properties":{"name":"West"},"geometry":{"type":"Polygon","coordinates":[
            [[0,0],[0.05,0],[0.05,0.1],[0,0.1],[0,0]],
            [[0.01,0.01],[0.01,0.02],[0.02,0.02],[0.02,0.01],[0.01,0.01]]]}},
          {"type":"Feature","properties":{"name":"East"},"geometry":{"type":"Polygon","coordinates":[
            [[0.05,0],[0.1,0],[0.1,0.1],[0.05,0.1],[0.05,0]]]}}]}"#;
        let regions = r#"{"type":"FeatureCollection","features":[
          {"type":"Feature","properties":{"name":"R"},"geometry":{"type":"Polygon","coordinates":[
            [[-1,-1],[1,-1],[1,1],[-1,1],[-1,-1]]]}}]}"#;
        Boundaries::load(
            Some(BoundaryText {
                file: "r",
                text: regions,
            }),
            Some(BoundaryText {
                file: "c",
                text: cities,
            }),
            &BoundaryOptions::default(),
        )
        .expect("valid")
    }

    #[test]
    fn boundary_points_go_to_the_first_polygon() {
        let b = boundaries();
        let locator = Locator::new(&b, Resolution::Nine);
        let located = locator.locate(
            &[0.05, 0.05, 0.015, 0.0, 2.0],
            &[0.05, 0.07, 0.015, 0.0, 2.0],
        );
        // On the shared edge: West (file order); inside East; in the lake: region only;
        // on West's corner: West; outside everything.
        assert_eq!(located.city, vec![0, 1, NO_AREA, 0, NO_AREA]);
        assert_eq!(located.region, vec![0, 0, 0, 0, NO_AREA]);
    }

    #[test]
    fn shortcut_agrees_with_exact_test() {
        let b = boundaries();
        for res in [Resolution::Seven, Resolution::Nine, Resolution::Twelve] {
            let locator = Locator::new(&b, res);
            let mut state = 7u64;
            for _ in 0..20_000 {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                let lat = -0.05 + (state >> 11) as f64 / (1u64 << 53) as f64 * 0.2;
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                let lng = -0.05 + (state >> 11) as f64 / (1u64 << 53) as f64 * 0.2;
                let cell = h3o::LatLng::new(lat, lng).expect("finite").to_cell(res);
                let (region, city) = locator.locate_point(lat, lng, cell);
                assert_eq!(city, locator.cities.exact(lat, lng), "{lat},{lng}");
                assert_eq!(region, locator.regions.exact(lat, lng));
            }
        }
    }
}
