//! The consumer R-tree: exact great-circle radius and nearest queries, and polygon queries.
//!
//! # Approach
//!
//! Consumers are points on the unit sphere in 3D (`x = cos φ cos λ`, `y = cos φ sin λ`,
//! `z = sin φ`) in a bulk-loaded rstar tree. The straight (chord) distance between two such points
//! grows with their great-circle distance, so a sphere around a query point holds exactly the
//! consumers within a great-circle radius, and the tree's nearest neighbours are the great-circle
//! nearest, with no special case at the antimeridian or the poles. Candidates are found with a
//! slightly widened chord and then decided by the haversine distance itself, so answers are exactly
//! those of a brute-force haversine scan. Polygon queries take the 3D box of the polygon's
//! longitude/latitude box and test candidates with geo (boundary inclusive).

use geo::coordinate_position::CoordPos;
use geo::{BoundingRect, Coord, CoordinatePosition, MultiPolygon};
use rayon::prelude::*;
use rstar::primitives::GeomWithData;
use rstar::{AABB, RTree};

/// Mean Earth radius (IUGG), in km.
pub const EARTH_RADIUS_KM: f64 = 6_371.008_8;

/// Relative widening of candidate searches, far above rounding and far below any real distance.
const WIDEN: f64 = 1e-9;

type Entry = GeomWithData<[f64; 3], u32>;

/// Great-circle distance in km between two points (haversine, on a sphere of [`EARTH_RADIUS_KM`]).
pub fn haversine_km(lat1: f64, lng1: f64, lat2: f64, lng2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dlat = p2 - p1;
    let dlng = (lng2 - lng1).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dlng / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

fn unit_vector(lat: f64, lng: f64) -> [f64; 3] {
    let (p, l) = (lat.to_radians(), lng.to_radians());
    [p.cos() * l.cos(), p.cos() * l.sin(), p.sin()]
}

/// Squared chords of a great-circle distance, narrowed and widened by [`WIDEN`]: a point closer
/// than the first is surely within the distance, one farther than the second surely beyond.
fn chord2_bounds(distance_km: f64) -> (f64, f64) {
    let angle = (distance_km / EARTH_RADIUS_KM).min(std::f64::consts::PI);
    let chord = 2.0 * (angle / 2.0).sin();
    (
        (chord * (1.0 - WIDEN) - WIDEN).max(0.0).powi(2),
        (chord * (1.0 + WIDEN) + WIDEN).powi(2),
    )
}

fn distance2(a: &[f64; 3], b: &[f64; 3]) -> f64 {
    (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)
}

/// An R-tree over consumers (rows of a consumer table).
///
/// # Examples
///
/// ```
/// use micromarket::index::ConsumerIndex;
///
/// // Two consumers on either side of the antimeridian, one far away.
/// let index = ConsumerIndex::new(&[10.0, 10.0, 47.0], &[179.99, -179.99, 8.0]);
/// assert_eq!(index.within_radius_km(10.0, 179.995, 2.0), vec![0, 1]);
/// let nearest = index.nearest(46.9, 8.1, 1);
/// assert_eq!(nearest[0].0, 2);
/// assert!((nearest[0].1 - 13.4).abs() < 0.1);
/// ```
pub struct ConsumerIndex {
    tree: RTree<Entry>,
    lat: Vec<f64>,
    lng: Vec<f64>,
}

impl ConsumerIndex {
    /// Bulk-loads the points `(lat[i], lng[i])`; queries answer with row indices `i`.
    ///
    /// # Runtime
    ///
    /// O(n log n): rstar's bulk load (overlap-minimising STR packing).
    pub fn new(lat: &[f64], lng: &[f64]) -> Self {
        let entries: Vec<Entry> = lat
            .par_iter()
            .zip(lng.par_iter())
            .enumerate()
            .map(|(i, (&la, &ln))| GeomWithData::new(unit_vector(la, ln), i as u32))
            .collect();
        ConsumerIndex {
            tree: RTree::bulk_load(entries),
            lat: lat.to_vec(),
            lng: lng.to_vec(),
        }
    }

    /// The indexed points' latitudes and longitudes, by row.
    pub fn coordinates(&self) -> (&[f64], &[f64]) {
        (&self.lat, &self.lng)
    }

    /// Number of consumers indexed.
    pub fn len(&self) -> usize {
        self.lat.len()
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.lat.is_empty()
    }

    /// Great-circle distance in km from a point to consumer `row`.
    pub fn distance_km(&self, lat: f64, lng: f64, row: u32) -> f64 {
        haversine_km(lat, lng, self.lat[row as usize], self.lng[row as usize])
    }

    /// Consumers within `radius_km` (great-circle, inclusive) of a point, sorted by row.
    ///
    /// # Runtime
    ///
    /// O(log n + k) for k consumers found.
    pub fn within_radius_km(&self, lat: f64, lng: f64, radius_km: f64) -> Vec<u32> {
        let centre = unit_vector(lat, lng);
        let (inner, outer) = chord2_bounds(radius_km);
        // Only points in the thin band between the two chords need the haversine itself.
        let mut rows: Vec<u32> = self
            .tree
            .locate_within_distance(centre, outer)
            .filter(|e| {
                distance2(e.geom(), &centre) < inner
                    || self.distance_km(lat, lng, e.data) <= radius_km
            })
            .map(|e| e.data)
            .collect();
        rows.sort_unstable();
        rows
    }

    /// The `n` consumers nearest to a point with their distances in km, nearest first; equal
    /// distances are ordered by row (input order).
    ///
    /// # Runtime
    ///
    /// O(log n + n) for well-spread points.
    pub fn nearest(&self, lat: f64, lng: f64, n: usize) -> Vec<(u32, f64)> {
        if n == 0 {
            return Vec::new();
        }
        let mut found: Vec<(u32, f64)> = Vec::with_capacity(n + 1);
        let mut limit = f64::INFINITY;
        for (entry, d2) in self
            .tree
            .nearest_neighbor_iter_with_distance_2(&unit_vector(lat, lng))
        {
            // Past the n-th chord (widened), no later point can tie or beat it.
            if d2 > limit {
                break;
            }
            found.push((entry.data, self.distance_km(lat, lng, entry.data)));
            if found.len() == n {
                limit = (d2.sqrt() * (1.0 + WIDEN) + WIDEN).powi(2);
            }
        }
        found.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        found.truncate(n);
        found
    }

    /// For every point `(lat[i], lng[i])`, the nearest indexed row within `max_km` (any distance
    /// when `None`), or `None`; ties go to the smaller row. In parallel.
    ///
    /// Used with the stores indexed: each consumer's nearest store.
    pub fn assign_nearest(
        &self,
        lat: &[f64],
        lng: &[f64],
        max_km: Option<f64>,
    ) -> Vec<Option<u32>> {
        lat.par_iter()
            .zip(lng.par_iter())
            .map(|(&la, &ln)| {
                self.nearest(la, ln, 1)
                    .first()
                    .filter(|(_, d)| max_km.is_none_or(|m| *d <= m))
                    .map(|&(row, _)| row)
            })
            .collect()
    }

    /// Consumers inside a polygon (longitude/latitude, boundary inclusive), sorted by row.
    pub fn within_polygon(&self, polygon: &MultiPolygon<f64>) -> Vec<u32> {
        let Some(bbox) = polygon.bounding_rect() else {
            return Vec::new();
        };
        let envelope = sphere_box(bbox.min().y, bbox.max().y, bbox.min().x, bbox.max().x);
        let mut rows: Vec<u32> = self
            .tree
            .locate_in_envelope_intersecting(&envelope)
            .map(|e| e.data)
            .filter(|&row| {
                let c = Coord {
                    x: self.lng[row as usize],
                    y: self.lat[row as usize],
                };
                polygon.coordinate_position(&c) != CoordPos::Outside
            })
            .collect();
        rows.sort_unstable();
        rows
    }
}

/// The 3D box holding every unit vector of the longitude/latitude box, slightly widened.
fn sphere_box(lat_min: f64, lat_max: f64, lng_min: f64, lng_max: f64) -> AABB<[f64; 3]> {
    use std::f64::consts::PI;
    let (p0, p1) = (lat_min.to_radians(), lat_max.to_radians());
    let (l0, l1) = (lng_min.to_radians(), lng_max.to_radians());
    // cos φ over [p0, p1] (never negative), cos λ and sin λ over [l0, l1]: ends and interior extrema.
    let cos_lat = (
        p0.cos().min(p1.cos()),
        if p0 <= 0.0 && 0.0 <= p1 {
            1.0
        } else {
            p0.cos().max(p1.cos())
        },
    );
    let range = |f: fn(f64) -> f64, extrema: &[(f64, f64)]| {
        let mut lo = f(l0).min(f(l1));
        let mut hi = f(l0).max(f(l1));
        for &(at, value) in extrema {
            if l0 <= at && at <= l1 {
                lo = lo.min(value);
                hi = hi.max(value);
            }
        }
        (lo, hi)
    };
    let cos_lng = range(f64::cos, &[(0.0, 1.0), (-PI, -1.0), (PI, -1.0)]);
    let sin_lng = range(f64::sin, &[(PI / 2.0, 1.0), (-PI / 2.0, -1.0)]);
    // cos φ ≥ 0, so the product's extremes are at the ends of each range.
    let product = |(a0, a1): (f64, f64), (b0, b1): (f64, f64)| {
        let v = [a0 * b0, a0 * b1, a1 * b0, a1 * b1];
        (
            v.iter().copied().fold(f64::INFINITY, f64::min),
            v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        )
    };
    let x = product(cos_lat, cos_lng);
    let y = product(cos_lat, sin_lng);
    let z = (p0.sin(), p1.sin());
    let pad = 1e-9;
    AABB::from_corners(
        [x.0 - pad, y.0 - pad, z.0 - pad],
        [x.1 + pad, y.1 + pad, z.1 + pad],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Fixed seed of the point sets below.
    const SEED: u64 = 0x5EED;

    fn points(n: usize, lat: (f64, f64), lng: (f64, f64)) -> (Vec<f64>, Vec<f64>) {
        let mut rng = crate::synth::SplitMix64::new(SEED);
        (0..n)
            .map(|_| {
                (
                    lat.0 + (lat.1 - lat.0) * rng.unit(),
                    lng.0 + (lng.1 - lng.0) * rng.unit(),
                )
            })
            .unzip()
    }

    fn brute_radius(lat: &[f64], lng: &[f64], q: (f64, f64), r: f64) -> Vec<u32> {
        (0..lat.len() as u32)
            .filter(|&i| haversine_km(q.0, q.1, lat[i as usize], lng[i as usize]) <= r)
            .collect()
    }

    fn brute_nearest(lat: &[f64], lng: &[f64], q: (f64, f64), n: usize) -> Vec<(u32, f64)> {
        let mut all: Vec<(u32, f64)> = (0..lat.len() as u32)
            .map(|i| (i, haversine_km(q.0, q.1, lat[i as usize], lng[i as usize])))
            .collect();
        all.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        all.truncate(n);
        all
    }

    #[test]
    fn a_shop_on_the_antimeridian_finds_consumers_across_it() {
        let lat = vec![10.0, 10.0, 10.0];
        let lng = vec![-179.99, 179.0, 0.0];
        let index = ConsumerIndex::new(&lat, &lng);
        // 0.02 degrees of longitude at 10° N is about 2.19 km.
        assert_eq!(index.within_radius_km(10.0, 179.99, 3.0), vec![0]);
        assert_eq!(index.nearest(10.0, 179.99, 1)[0].0, 0);
        let d = index.nearest(10.0, 179.99, 1)[0].1;
        assert!((d - 2.19).abs() < 0.01, "{d}");
    }

    #[test]
    fn near_the_poles_every_longitude_is_close() {
        let lat = vec![89.99, 89.99, 89.0];
        let lng = vec![0.0, 180.0, 90.0];
        let index = ConsumerIndex::new(&lat, &lng);
        // The two points at 89.99° on opposite meridians are 2.2 km apart, across the pole.
        assert_eq!(index.within_radius_km(89.99, 0.0, 2.5), vec![0, 1]);
        assert_eq!(index.within_radius_km(90.0, 0.0, 1.2), vec![0, 1]);
        assert_eq!(index.nearest(-89.0, 0.0, 1)[0].0, 2);
    }

    #[test]
    fn polygon_queries_match_geo() {
        let (lat, lng) = points(5_000, (46.0, 47.0), (7.0, 8.0));
        let index = ConsumerIndex::new(&lat, &lng);
        let polygon = MultiPolygon::new(vec![geo::Polygon::new(
            geo::LineString::from(vec![(7.2, 46.2), (7.8, 46.3), (7.5, 46.9), (7.2, 46.2)]),
            vec![],
        )]);
        let want: Vec<u32> = (0..lat.len() as u32)
            .filter(|&i| {
                let c = Coord {
                    x: lng[i as usize],
                    y: lat[i as usize],
                };
                polygon.coordinate_position(&c) != CoordPos::Outside
            })
            .collect();
        assert!(!want.is_empty());
        assert_eq!(index.within_polygon(&polygon), want);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn radius_and_nearest_equal_a_brute_force_scan(
            centre_lat in -89.0..89.0f64,
            centre_lng in -180.0..180.0f64,
            spread in 0.01..5.0f64,
            q_lat in -1.0..1.0f64,
            q_lng in -1.0..1.0f64,
            radius in 0.0..300.0f64,
            n in 1usize..40,
        ) {
            // Consumers around a centre, wrapped across the antimeridian and clamped at the poles.
            let (dlat, dlng) = points(800, (-spread, spread), (-spread, spread));
            let lat: Vec<f64> = dlat.iter().map(|d| (centre_lat + d).clamp(-90.0, 90.0)).collect();
            let lng: Vec<f64> = dlng.iter().map(|d| {
                let x = centre_lng + d;
                if x > 180.0 { x - 360.0 } else if x < -180.0 { x + 360.0 } else { x }
            }).collect();
            let index = ConsumerIndex::new(&lat, &lng);
            let q = ((centre_lat + q_lat * spread).clamp(-90.0, 90.0), centre_lng + q_lng * spread);
            let q = (q.0, if q.1 > 180.0 { q.1 - 360.0 } else if q.1 < -180.0 { q.1 + 360.0 } else { q.1 });
            prop_assert_eq!(index.within_radius_km(q.0, q.1, radius), brute_radius(&lat, &lng, q, radius));
            prop_assert_eq!(index.nearest(q.0, q.1, n), brute_nearest(&lat, &lng, q, n));
        }
    }
}
