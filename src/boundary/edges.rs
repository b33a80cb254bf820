//! Indexed point-in-polygon: the edges of one polygon sorted into horizontal bands.
//!
//! # Algorithm
//!
//! A point's position is the winding number of each ring around it, as geo's
//! `CoordinatePosition` computes it (same edge-crossing rules, same robust orientation kernel, so
//! the answers are identical). Only edges whose latitude range holds the point's latitude can
//! change a winding number or hold the point (an edge wholly west of the point never counts), so
//! the polygon's latitude range is cut into equal bands, about one per two edges, each listing
//! the edges that overlap it; a point visits the edges of its band only. That is the slab idea of
//! GEOS's indexed point-in-area locator (which uses an interval tree over the same ranges): O(1)
//! to find the band and O(edges crossing it) to test, instead of O(v).
//!
//! Exactness of the band lookup needs only monotonicity: an edge with `y_min ≤ y ≤ y_max` is listed
//! in `band(y_min)..=band(y_max)`, which holds `band(y)`, because the same monotone function maps
//! both. Storage is the edges plus one index per band an edge spans.
//!
//! A polygon's position follows geo: outside its exterior ring is outside; on a ring is on the
//! boundary; inside the exterior, the first hole (in file order) that holds the point or has it on
//! its ring decides.

use geo::coordinate_position::CoordPos;
use geo::{Coord, GeoNum, Kernel, Orientation, Polygon};
use rstar::AABB;

/// An edge (start, end) and the ring it belongs to (0 = exterior, then the holes in order).
#[derive(Debug, Clone, Copy)]
struct Edge {
    start: Coord<f64>,
    end: Coord<f64>,
    ring: u32,
}

/// One polygon (exterior ring and holes) with its edges banded by latitude.
#[derive(Debug)]
pub(super) struct IndexedPolygon {
    edges: Vec<Edge>,
    /// Edges of band b: `band_edges[band_start[b]..band_start[b + 1]]`.
    band_start: Vec<u32>,
    band_edges: Vec<u32>,
    /// Bands per degree of latitude, from the bounding box's south edge.
    bands_per_degree: f64,
    /// Bounding box of every ring.
    pub(super) bbox: AABB<[f64; 2]>,
}

/// What one ring contributes to a point's position.
#[derive(Debug, Clone, Copy)]
pub(super) struct RingHit {
    ring: u32,
    winding: i32,
    on_ring: bool,
}

impl IndexedPolygon {
    /// Indexes the edges of `polygon` (its rings closed, as loading checks).
    ///
    /// # Runtime
    ///
    /// O(v + Σ bands spanned) for v vertices: two passes of a counting sort.
    pub(super) fn new(polygon: &Polygon<f64>) -> Self {
        let rings = std::iter::once(polygon.exterior()).chain(polygon.interiors());
        let mut edges = Vec::new();
        let (mut min, mut max) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
        for (ring, line) in rings.enumerate() {
            for segment in line.lines() {
                for c in [segment.start, segment.end] {
                    min = [min[0].min(c.x), min[1].min(c.y)];
                    max = [max[0].max(c.x), max[1].max(c.y)];
                }
                edges.push(Edge {
                    start: segment.start,
                    end: segment.end,
                    ring: ring as u32,
                });
            }
        }
        // About one band per two edges, fewer when edges span so many bands that the lists
        // would exceed 16 entries per edge (a zigzag of tall edges): memory stays O(v).
        let height = max[1] - min[1];
        let mut bands = (edges.len() / 2).clamp(1, 1 << 20);
        while bands > 1 {
            let per_degree = bands as f64 / height;
            let slots: f64 = edges
                .iter()
                .map(|e| (e.start.y - e.end.y).abs() * per_degree + 2.0)
                .sum();
            if slots <= 16.0 * edges.len() as f64 + 1024.0 {
                break;
            }
            bands /= 4;
        }
        let mut index = IndexedPolygon {
            bands_per_degree: if height > 0.0 {
                bands as f64 / height
            } else {
                0.0
            },
            edges: Vec::new(),
            band_start: vec![0; bands + 1],
            band_edges: Vec::new(),
            bbox: if edges.is_empty() {
                AABB::from_point([0.0, 0.0])
            } else {
                AABB::from_corners(min, max)
            },
        };
        for e in &edges {
            let (low, high) = index.bands_of(e.start.y.min(e.end.y), e.start.y.max(e.end.y));
            for b in low..=high {
                index.band_start[b + 1] += 1;
            }
        }
        for b in 0..bands {
            index.band_start[b + 1] += index.band_start[b];
        }
        let mut next = index.band_start.clone();
        index.band_edges = vec![0; index.band_start[bands] as usize];
        for (i, e) in edges.iter().enumerate() {
            let (low, high) = index.bands_of(e.start.y.min(e.end.y), e.start.y.max(e.end.y));
            for slot in &mut next[low..=high] {
                index.band_edges[*slot as usize] = i as u32;
                *slot += 1;
            }
        }
        index.edges = edges;
        index
    }

    /// The band of latitude `y` (a monotone function of `y`, clamped to the bands).
    fn band(&self, y: f64) -> usize {
        let last = self.band_start.len() - 2;
        // The conversion saturates below at 0 and truncates, so it is the floor, clamped.
        (((y - self.bbox.lower()[1]) * self.bands_per_degree) as usize).min(last)
    }

    /// The bands overlapping the latitudes `low..=high`.
    fn bands_of(&self, low: f64, high: f64) -> (usize, usize) {
        (self.band(low), self.band(high))
    }

    /// The edges listed in the bands overlapping the latitudes `low..=high` (an edge spanning
    /// several bands comes once per band).
    fn edges_near(&self, low: f64, high: f64) -> impl Iterator<Item = &Edge> {
        let (first, last) = self.bands_of(low, high);
        let ids =
            &self.band_edges[self.band_start[first] as usize..self.band_start[last + 1] as usize];
        ids.iter().map(|&i| &self.edges[i as usize])
    }

    /// Whether any edge's bounding box meets `envelope`.
    pub(super) fn has_edge_in(&self, envelope: &AABB<[f64; 2]>) -> bool {
        let (lo, hi) = (envelope.lower(), envelope.upper());
        if hi[1] < self.bbox.lower()[1] || lo[1] > self.bbox.upper()[1] {
            return false;
        }
        self.edges_near(lo[1], hi[1]).any(|e| {
            e.start.x.min(e.end.x) <= hi[0]
                && e.start.x.max(e.end.x) >= lo[0]
                && e.start.y.min(e.end.y) <= hi[1]
                && e.start.y.max(e.end.y) >= lo[1]
        })
    }

    /// The position of `coord` (`x` = longitude) relative to this polygon; `hits` is scratch
    /// space reused between calls.
    pub(super) fn position(&self, coord: Coord<f64>, hits: &mut Vec<RingHit>) -> CoordPos {
        hits.clear();
        let (lo, hi) = (self.bbox.lower(), self.bbox.upper());
        if coord.y < lo[1] || coord.y > hi[1] || coord.x > hi[0] {
            return CoordPos::Outside;
        }
        // An edge spanning several bands is listed in each, but a point's band is one.
        for edge in self.edges_near(coord.y, coord.y) {
            let (winding, on_ring) = crossing(edge.start, edge.end, coord);
            if winding != 0 || on_ring {
                match hits.iter_mut().find(|h| h.ring == edge.ring) {
                    Some(hit) => {
                        hit.winding += winding;
                        hit.on_ring |= on_ring;
                    }
                    None => hits.push(RingHit {
                        ring: edge.ring,
                        winding,
                        on_ring,
                    }),
                }
            }
        }
        // Rings in order: the exterior first, then the holes as geo visits them.
        hits.sort_unstable_by_key(|h| h.ring);
        let position = |hit: &RingHit| {
            if hit.on_ring {
                CoordPos::OnBoundary
            } else if hit.winding != 0 {
                CoordPos::Inside
            } else {
                CoordPos::Outside
            }
        };
        match hits.first() {
            Some(exterior) if exterior.ring == 0 => match position(exterior) {
                CoordPos::Inside => {}
                other => return other,
            },
            _ => return CoordPos::Outside,
        }
        for hole in &hits[1..] {
            match position(hole) {
                CoordPos::Outside => {}
                CoordPos::OnBoundary => return CoordPos::OnBoundary,
                CoordPos::Inside => return CoordPos::Outside,
            }
        }
        CoordPos::Inside
    }
}

/// Scratch space for [`IndexedPolygon::position`].
pub(super) type Scratch = Vec<RingHit>;

/// geo's winding-number edge rule: the edge's contribution to the winding number around `p` and
/// whether `p` lies on it. An upward edge includes its start and excludes its end, a downward edge
/// the reverse, horizontal edges only hold points.
#[expect(
    clippy::float_cmp,
    reason = "the rule is exact: an edge ending exactly at the point's latitude does not count"
)]
fn crossing(start: Coord<f64>, end: Coord<f64>, p: Coord<f64>) -> (i32, bool) {
    let between = |v: f64, a: f64, b: f64| a.min(b) <= v && v <= a.max(b);
    if start.y <= p.y {
        if end.y >= p.y {
            let o = <f64 as GeoNum>::Ker::orient2d(start, end, p);
            if o == Orientation::CounterClockwise && end.y != p.y {
                return (1, false);
            }
            if o == Orientation::Collinear && between(p.x, start.x, end.x) {
                return (0, true);
            }
        }
    } else if end.y <= p.y {
        let o = <f64 as GeoNum>::Ker::orient2d(start, end, p);
        if o == Orientation::Clockwise {
            return (-1, false);
        }
        if o == Orientation::Collinear && between(p.x, start.x, end.x) {
            return (0, true);
        }
    }
    (0, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{CoordinatePosition, LineString};

    fn star(points: usize, holes: bool) -> Polygon<f64> {
        // A spiky ring around (0, 0) with a square lake and a lake touching the exterior.
        let ring: Vec<Coord<f64>> = (0..=points)
            .map(|i| {
                let t = (i % points) as f64 / points as f64 * std::f64::consts::TAU;
                let r = if i % 2 == 0 { 1.0 } else { 0.6 } + 0.05 * (t * 7.0).sin();
                Coord {
                    x: r * t.cos(),
                    y: r * t.sin(),
                }
            })
            .collect();
        let lakes = if holes {
            vec![
                LineString::from(vec![
                    (-0.1, -0.1),
                    (-0.1, 0.1),
                    (0.1, 0.1),
                    (0.1, -0.1),
                    (-0.1, -0.1),
                ]),
                LineString::from(vec![(0.2, 0.0), (0.3, 0.1), (0.3, -0.1), (0.2, 0.0)]),
            ]
        } else {
            Vec::new()
        };
        Polygon::new(LineString::new(ring), lakes)
    }

    #[test]
    fn positions_equal_geo_on_vertices_edges_and_random_points() {
        for polygon in [star(400, true), star(9, false)] {
            let index = IndexedPolygon::new(&polygon);
            let mut scratch = Scratch::new();
            let mut probes: Vec<Coord<f64>> = Vec::new();
            for ring in std::iter::once(polygon.exterior()).chain(polygon.interiors()) {
                for line in ring.lines() {
                    probes.push(line.start);
                    probes.push((line.start + line.end) / 2.0);
                    probes.push(Coord {
                        x: line.start.x,
                        y: f64::midpoint(line.start.y, line.end.y),
                    });
                }
            }
            let mut state = 11u64;
            let mut next = || {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                (state >> 11) as f64 / (1u64 << 53) as f64 * 2.4 - 1.2
            };
            for _ in 0..20_000 {
                probes.push(Coord {
                    x: next(),
                    y: next(),
                });
            }
            for p in probes {
                assert_eq!(
                    index.position(p, &mut scratch),
                    polygon.coordinate_position(&p),
                    "{p:?}"
                );
            }
        }
    }

    #[test]
    fn tall_zigzag_edges_keep_the_band_lists_small() {
        // 4,000 edges each spanning the whole height: one band per two edges would list every
        // edge in every band (8 million entries).
        let mut ring: Vec<Coord<f64>> = (0..4_000)
            .map(|i| Coord {
                x: f64::from(i) * 0.001,
                y: if i % 2 == 0 { 0.0 } else { 1.0 },
            })
            .collect();
        ring.push(Coord { x: 4.0, y: -1.0 });
        ring.push(Coord { x: 0.0, y: -1.0 });
        ring.push(ring[0]);
        let polygon = Polygon::new(LineString::new(ring), Vec::new());
        let index = IndexedPolygon::new(&polygon);
        assert!(index.band_edges.len() <= 16 * index.edges.len() + 1024);
        let mut scratch = Scratch::new();
        for i in 0..2_000 {
            let p = Coord {
                x: f64::from(i) * 0.002 + 0.0003,
                y: f64::from(i % 7) * 0.3 - 0.95,
            };
            assert_eq!(
                index.position(p, &mut scratch),
                polygon.coordinate_position(&p)
            );
        }
    }
}
