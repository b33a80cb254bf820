//! Locating consumers in regions and cities.
//!
//! # Algorithm
//!
//! Each polygon of every region and city keeps its edges in an R-tree ([`edges`](super::edges)),
//! and an rstar R-tree over the polygons' bounding boxes gives the candidates for a point, so an
//! exact point-in-polygon test costs O(log v) for a polygon of v vertices, never O(v) and never
//! anything in proportion to a polygon's area.
//!
//! A shortcut answers for many consumers at once, built from the consumers alone: the distinct H3
//! cells holding consumers (at the analysis resolution, at most 7) are classified once each. A
//! cell whose box (its boundary's bounding box, widened by a margin that also covers every finer
//! cell descending from it) meets no polygon edge lies wholly inside or wholly outside each
//! polygon, so the answer at its centre is the answer for all its consumers. Every other consumer
//! is tested exactly. Cells crossing the antimeridian or near a pole never take the shortcut.
//!
//! # Boundary semantics
//!
//! A point on a polygon's boundary is inside it (as geo's `CoordinatePosition` says: on the
//! boundary or inside; the tests compare with it). When several polygons contain a point (a point
//! on the edge two cities share, or overlapping input), the first in file order wins, so every
//! consumer is in at most one region and one city, and the answer never depends on thread count.
//! A consumer in a city is counted in that city's region, so the cities of a region always sum to
//! at most the region.

use super::edges::{self, IndexedPolygon};
use super::{Area, Boundaries};
use geo::Coord;
use geo::coordinate_position::CoordPos;
use h3o::{CellIndex, Resolution};
use rayon::prelude::*;
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, Envelope, RTree};
use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;

/// Index of "no region" or "no city" in [`Located`].
pub const NO_AREA: u32 = u32::MAX;

/// A cell's answer when its consumers need the exact test.
const EXACT: u32 = u32::MAX - 1;

/// Finest resolution of the cells the shortcut classifies (measured on US counties at 1M
/// consumers: 7 locates in 385 ms, 8 in 597 ms, 6 in 403-436 ms).
const INDEX_RESOLUTION: Resolution = Resolution::Seven;

/// Consumers per task when collecting distinct cells.
const ROWS_PER_TASK: usize = 1 << 16;

/// A polygon's bounding box with its area and its position in [`AreaIndex::polygons`].
type PolygonBox = GeomWithData<Rectangle<[f64; 2]>, (u32, u32)>;

/// Scratch space of one exact test, reused between points.
#[derive(Debug, Default)]
struct Scratch {
    rings: edges::Scratch,
    candidates: Vec<(u32, u32)>,
}

/// Point-in-area lookup for one set of areas (all regions, or all cities).
struct AreaIndex {
    boxes: RTree<PolygonBox>,
    polygons: Vec<IndexedPolygon>,
}

impl AreaIndex {
    fn new(areas: &[Area]) -> Self {
        let parts: Vec<(u32, &geo::Polygon<f64>)> = areas
            .iter()
            .enumerate()
            .flat_map(|(a, area)| area.geometry.iter().map(move |p| (a as u32, p)))
            .collect();
        let polygons: Vec<IndexedPolygon> = parts
            .par_iter()
            .map(|(_, polygon)| IndexedPolygon::new(polygon))
            .collect();
        let boxes = RTree::bulk_load(
            parts
                .iter()
                .zip(&polygons)
                .enumerate()
                .map(|(i, ((a, _), indexed))| {
                    let b = indexed.bbox;
                    GeomWithData::new(
                        Rectangle::from_corners(b.lower(), b.upper()),
                        (*a, i as u32),
                    )
                })
                .collect(),
        );
        AreaIndex { boxes, polygons }
    }

    /// The first area (in file order) holding the point, or [`NO_AREA`]. An area's position is
    /// geo's for a MultiPolygon: on the boundary of an odd number of its polygons, or inside one.
    fn find(&self, coord: Coord<f64>, scratch: &mut Scratch) -> u32 {
        let Scratch { rings, candidates } = scratch;
        candidates.clear();
        let _ = self.boxes.locate_in_envelope_intersecting_int(
            &AABB::from_point([coord.x, coord.y]),
            |entry| -> ControlFlow<()> {
                candidates.push(entry.data);
                ControlFlow::Continue(())
            },
        );
        candidates.sort_unstable();
        for group in candidates.chunk_by(|a, b| a.0 == b.0) {
            let (mut inside, mut on_boundary) = (false, 0u32);
            for &(_, polygon) in group {
                match self.polygons[polygon as usize].position(coord, rings) {
                    CoordPos::Inside => inside = true,
                    CoordPos::OnBoundary => on_boundary += 1,
                    CoordPos::Outside => {}
                }
            }
            if inside || on_boundary % 2 == 1 {
                return group[0].0;
            }
        }
        NO_AREA
    }

    /// The area of every point of `envelope`, or [`EXACT`] when a polygon edge meets it.
    fn classify(&self, envelope: &AABB<[f64; 2]>, scratch: &mut Scratch) -> u32 {
        let crossed = self
            .boxes
            .locate_in_envelope_intersecting_int(envelope, |entry| {
                if self.polygons[entry.data.1 as usize].has_edge_in(envelope) {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .is_break();
        if crossed {
            return EXACT;
        }
        let centre = envelope.center();
        self.find(
            Coord {
                x: centre[0],
                y: centre[1],
            },
            scratch,
        )
    }
}

/// The box in degrees (`x` = longitude) that holds every point of `cell` and of its descendants
/// when `descendants` is set; `None` for cells crossing the antimeridian or near a pole.
///
/// A cell's points lie in its hexagon; its edges bow slightly off the straight lines between its
/// vertices in degrees, which a margin of a quarter of the box covers many times over. The finer
/// cells descending from a cell reach beyond it by at most `R (1/√7 + 1/7 + ...) ≈ 0.61 R` for a
/// circumradius R (aperture 7), within a margin of the whole box's half-size.
fn cell_box(cell: CellIndex, descendants: bool) -> Option<AABB<[f64; 2]>> {
    let (mut min, mut max) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
    for vertex in cell.boundary().iter() {
        let (lng, lat) = (vertex.lng(), vertex.lat());
        min = [min[0].min(lng), min[1].min(lat)];
        max = [max[0].max(lng), max[1].max(lat)];
    }
    if max[0] - min[0] > 90.0 || max[1].abs() > 85.0 || min[1].abs() > 85.0 {
        return None;
    }
    let margin = if descendants { 1.0 } else { 0.25 };
    let half = [(max[0] - min[0]) / 2.0, (max[1] - min[1]) / 2.0];
    Some(AABB::from_corners(
        [min[0] - margin * half[0], min[1] - margin * half[1]],
        [max[0] + margin * half[0], max[1] + margin * half[1]],
    ))
}

/// Finds the region and city of points.
pub struct Locator {
    resolution: Resolution,
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
    /// Builds the edge indexes of `boundaries`; consumers get their cells at `resolution`.
    ///
    /// # Runtime
    ///
    /// O(v log v) for v vertices in all, in parallel over polygons; nothing in proportion to
    /// the polygons' area.
    pub fn new(boundaries: &Boundaries, resolution: Resolution) -> Self {
        let (regions, cities) = rayon::join(
            || AreaIndex::new(&boundaries.regions),
            || AreaIndex::new(&boundaries.cities),
        );
        Locator {
            resolution,
            regions,
            cities,
            city_region: boundaries
                .cities
                .iter()
                .map(|c| c.region.map_or(NO_AREA, |r| r as u32))
                .collect(),
        }
    }

    /// Region and city of one point, by the exact test.
    pub fn locate_point(&self, lat: f64, lng: f64) -> (u32, u32) {
        self.resolve(lat, lng, [EXACT, EXACT], &mut Scratch::default())
    }

    /// Region and city of a point given what its cell's classification said of each.
    fn resolve(&self, lat: f64, lng: f64, known: [u32; 2], scratch: &mut Scratch) -> (u32, u32) {
        let coord = Coord { x: lng, y: lat };
        let [region_known, city_known] = known;
        let city = if city_known == EXACT {
            self.cities.find(coord, scratch)
        } else {
            city_known
        };
        let region = if city != NO_AREA && self.city_region[city as usize] != NO_AREA {
            self.city_region[city as usize]
        } else if region_known == EXACT {
            self.regions.find(coord, scratch)
        } else {
            region_known
        };
        (region, city)
    }

    /// Locates every consumer, in parallel. Cells are computed directly at the analysis
    /// resolution with the fast assignment identical to h3o's `LatLng::to_cell` (never as the
    /// parent of a finer cell).
    pub fn locate(&self, lat: &[f64], lng: &[f64]) -> Located {
        let cell = crate::index::assign_cells(lat, lng, self.resolution);
        let (region, city) = self.locate_in_cells(lat, lng, &cell);
        Located { cell, region, city }
    }

    /// Region and city of every point whose H3 cell (at any one resolution) is given.
    ///
    /// # Runtime
    ///
    /// One classification per distinct cell holding points (at most resolution 7), then a hash
    /// lookup per point, and the exact test for the points of cells that meet an edge.
    pub fn locate_in_cells(
        &self,
        lat: &[f64],
        lng: &[f64],
        cells: &[CellIndex],
    ) -> (Vec<u32>, Vec<u32>) {
        let resolution = cells.first().map_or(INDEX_RESOLUTION, |c| c.resolution());
        let index_resolution = resolution.min(INDEX_RESOLUTION);
        let index_cell = |c: CellIndex| {
            c.parent(index_resolution)
                .expect("the index resolution is never finer than the cell's")
        };
        let distinct: Vec<CellIndex> = cells
            .par_chunks(ROWS_PER_TASK)
            .map(|chunk| chunk.iter().map(|&c| index_cell(c)).collect::<HashSet<_>>())
            .reduce(HashSet::new, |mut a, b| {
                a.extend(b);
                a
            })
            .into_iter()
            .collect();
        let known: HashMap<CellIndex, [u32; 2]> = distinct
            .par_iter()
            .map_init(Scratch::default, |scratch, &c| {
                let answer =
                    cell_box(c, index_resolution < resolution).map_or([EXACT, EXACT], |envelope| {
                        [
                            self.regions.classify(&envelope, scratch),
                            self.cities.classify(&envelope, scratch),
                        ]
                    });
                (c, answer)
            })
            .collect();
        lat.par_iter()
            .zip(lng.par_iter())
            .zip(cells.par_iter())
            .map_init(Scratch::default, |scratch, ((&la, &ln), &c)| {
                let answer = known.get(&index_cell(c)).copied().unwrap_or([EXACT; 2]);
                self.resolve(la, ln, answer, scratch)
            })
            .unzip()
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

    /// The first area whose geometry holds the point by geo's own (unindexed) test.
    fn plain(areas: &[Area], lat: f64, lng: f64) -> u32 {
        use geo::CoordinatePosition;
        areas
            .iter()
            .position(|a| {
                a.geometry.coordinate_position(&Coord { x: lng, y: lat }) != CoordPos::Outside
            })
            .map_or(NO_AREA, |a| a as u32)
    }

    #[test]
    fn shortcut_and_index_agree_with_plain_point_in_polygon() {
        let b = boundaries();
        for res in [
            Resolution::Five,
            Resolution::Seven,
            Resolution::Nine,
            Resolution::Twelve,
        ] {
            let locator = Locator::new(&b, res);
            let mut state = 7u64;
            let mut next = || {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                -0.05 + (state >> 11) as f64 / (1u64 << 53) as f64 * 0.2
            };
            let (lat, lng): (Vec<f64>, Vec<f64>) = (0..20_000).map(|_| (next(), next())).unzip();
            let located = locator.locate(&lat, &lng);
            for i in 0..lat.len() {
                let city = plain(&b.cities, lat[i], lng[i]);
                assert_eq!(located.city[i], city, "{},{}", lat[i], lng[i]);
                assert_eq!(located.region[i], plain(&b.regions, lat[i], lng[i]));
                assert_eq!(
                    locator.locate_point(lat[i], lng[i]),
                    (located.region[i], city)
                );
            }
        }
    }

    /// A closed ring of `4 · 2^depth` vertices around (lat, lng): a square whose edges are
    /// displaced fractally (midpoint displacement), like a long irregular coastline.
    fn coastline(lat: f64, lng: f64, half: f64, depth: u32, seed: u64) -> Vec<[f64; 2]> {
        let mut state = seed;
        let mut next = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        let mut ring = vec![
            [lng - half, lat - half],
            [lng + half, lat - half],
            [lng + half, lat + half],
            [lng - half, lat + half],
        ];
        let mut amplitude = half * 0.3;
        for _ in 0..depth {
            let mut finer = Vec::with_capacity(ring.len() * 2);
            for i in 0..ring.len() {
                let (a, b) = (ring[i], ring[(i + 1) % ring.len()]);
                let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
                let shift = amplitude * next();
                finer.push(a);
                finer.push([
                    f64::midpoint(a[0], b[0]) - dy * shift,
                    f64::midpoint(a[1], b[1]) + dx * shift,
                ]);
            }
            ring = finer;
            amplitude *= 0.55;
        }
        ring.push(ring[0]);
        ring
    }

    fn ring_json(ring: &[[f64; 2]]) -> String {
        let points: Vec<String> = ring
            .iter()
            .map(|p| format!("[{},{}]", p[0], p[1]))
            .collect();
        format!("[{}]", points.join(","))
    }

    #[test]
    fn locate_equals_plain_point_in_polygon_on_real_shaped_polygons() {
        // A 4,096-vertex "country" with a lake and an island, a neighbour sharing no edge, and a
        // country split at ±180 into two parts that touch the antimeridian.
        let mainland = coastline(50.0, 10.0, 1.0, 10, 3);
        let lake = coastline(50.0, 10.0, 0.2, 6, 5);
        let island = coastline(52.2, 10.0, 0.3, 7, 7);
        let east = "[[179.0,-17.5],[180.0,-17.5],[180.0,-16.0],[179.0,-16.0],[179.0,-17.5]]";
        let west = "[[-180.0,-17.5],[-179.0,-17.5],[-179.0,-16.0],[-180.0,-16.0],[-180.0,-17.5]]";
        let neighbour = coastline(50.0, 12.6, 1.0, 9, 11);
        let regions = format!(
            r#"{{"type":"FeatureCollection","features":[
              {{"type":"Feature","properties":{{"name":"Mainland"}},"geometry":{{"type":"MultiPolygon","coordinates":[[{},{}],[{}]]}}}},
              {{"type":"Feature","properties":{{"name":"Fiji"}},"geometry":{{"type":"MultiPolygon","coordinates":[[{east}],[{west}]]}}}},
              {{"type":"Feature","properties":{{"name":"Neighbour"}},"geometry":{{"type":"Polygon","coordinates":[{}]}}}}]}}"#,
            ring_json(&mainland),
            ring_json(&lake),
            ring_json(&island),
            ring_json(&neighbour)
        );
        let b = Boundaries::load(
            Some(BoundaryText {
                file: "r",
                text: &regions,
            }),
            None,
            &BoundaryOptions::default(),
        )
        .expect("valid");
        let mut state = 99u64;
        let mut unit = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut points: Vec<(f64, f64)> = Vec::new();
        for ring in [&mainland, &lake, &island, &neighbour] {
            for w in ring.windows(2) {
                points.push((w[0][1], w[0][0]));
                points.push((
                    f64::midpoint(w[0][1], w[1][1]),
                    f64::midpoint(w[0][0], w[1][0]),
                ));
            }
        }
        for _ in 0..40_000 {
            points.push((48.5 + 4.5 * unit(), 8.5 + 5.5 * unit()));
            points.push((
                -18.0 + 2.5 * unit(),
                if unit() < 0.5 {
                    178.5 + 1.5 * unit()
                } else {
                    -180.0 + 1.5 * unit()
                },
            ));
        }
        points.extend([
            (-17.0, 180.0),
            (-17.0, -180.0),
            (-17.5, 180.0),
            (-16.0, -180.0),
        ]);
        let (lat, lng): (Vec<f64>, Vec<f64>) = points.into_iter().unzip();
        for res in [Resolution::Five, Resolution::Eight, Resolution::Ten] {
            let located = Locator::new(&b, res).locate(&lat, &lng);
            let mut inside = 0;
            for i in 0..lat.len() {
                let expected = plain(&b.regions, lat[i], lng[i]);
                assert_eq!(
                    located.region[i], expected,
                    "{},{} at {res}",
                    lat[i], lng[i]
                );
                inside += usize::from(expected != NO_AREA);
            }
            assert!(inside > lat.len() / 4, "the probes reach inside: {inside}");
        }
    }
}
