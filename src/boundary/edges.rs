//! Indexed point-in-polygon: the rings of one polygon in an R-tree over their edges.
//!
//! # Algorithm
//!
//! A point's position is the winding number of each ring around it, as geo's
//! `CoordinatePosition` computes it (same edge-crossing rules, same robust orientation kernel, so
//! the answers are identical), but only the edges whose bounding box meets the horizontal ray from
//! the point to the polygon's east edge are visited: an edge wholly west of the point, above it or
//! below it never changes a winding number nor holds the point. The edges sit in an rstar R-tree,
//! so a point costs O(log v + crossings) instead of O(v), as GEOS's indexed point-in-area locator
//! does with its interval tree.
//!
//! A polygon's position follows geo: outside its exterior ring is outside; on a ring is on the
//! boundary; inside the exterior, the first hole (in file order) that holds the point or has it on
//! its ring decides.

use geo::coordinate_position::CoordPos;
use geo::{Coord, GeoNum, Kernel, Orientation, Polygon};
use rstar::primitives::{GeomWithData, Line};
use rstar::{AABB, RTree};
use std::ops::ControlFlow;

/// An edge and the ring it belongs to (0 = exterior, then the holes in order).
type Edge = GeomWithData<Line<[f64; 2]>, u32>;

/// One polygon (exterior ring and holes) with its edges indexed.
#[derive(Debug)]
pub(super) struct IndexedPolygon {
    edges: RTree<Edge>,
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
    /// O(v log v) for v vertices (rstar's bulk load).
    pub(super) fn new(polygon: &Polygon<f64>) -> Self {
        let rings = std::iter::once(polygon.exterior()).chain(polygon.interiors());
        let mut edges = Vec::new();
        for (ring, line) in rings.enumerate() {
            for segment in line.lines() {
                edges.push(GeomWithData::new(
                    Line::new(
                        [segment.start.x, segment.start.y],
                        [segment.end.x, segment.end.y],
                    ),
                    ring as u32,
                ));
            }
        }
        let edges = RTree::bulk_load(edges);
        IndexedPolygon {
            bbox: edges.root().envelope(),
            edges,
        }
    }

    /// Whether any edge's bounding box meets `envelope`.
    pub(super) fn has_edge_in(&self, envelope: &AABB<[f64; 2]>) -> bool {
        self.edges
            .locate_in_envelope_intersecting_int(envelope, |_| ControlFlow::Break(()))
            .is_break()
    }

    /// The position of `coord` (`x` = longitude) relative to this polygon; `hits` is scratch
    /// space reused between calls.
    pub(super) fn position(&self, coord: Coord<f64>, hits: &mut Vec<RingHit>) -> CoordPos {
        hits.clear();
        let ray = AABB::from_corners(
            [coord.x, coord.y],
            [self.bbox.upper()[0].max(coord.x), coord.y],
        );
        let _ = self
            .edges
            .locate_in_envelope_intersecting_int(&ray, |edge| -> ControlFlow<()> {
                let (winding, on_ring) = crossing(edge.geom(), coord);
                if winding != 0 || on_ring {
                    match hits.iter_mut().find(|h| h.ring == edge.data) {
                        Some(hit) => {
                            hit.winding += winding;
                            hit.on_ring |= on_ring;
                        }
                        None => hits.push(RingHit {
                            ring: edge.data,
                            winding,
                            on_ring,
                        }),
                    }
                }
                ControlFlow::Continue(())
            });
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
fn crossing(edge: &Line<[f64; 2]>, p: Coord<f64>) -> (i32, bool) {
    let start = Coord {
        x: edge.from[0],
        y: edge.from[1],
    };
    let end = Coord {
        x: edge.to[0],
        y: edge.to[1],
    };
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
}
