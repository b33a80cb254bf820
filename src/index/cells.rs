//! H3 cell assignment, with a proven shortcut for points well inside a cell already seen.
//!
//! # Algorithm
//!
//! h3o's `to_cell` finds the icosahedron face nearest the point, projects the point onto that
//! face (gnomonic projection) and rounds it to the nearest centre of the resolution's hexagonal
//! lattice there. So a hexagon that lies on one face only is, on the sphere, the convex polygon
//! bounded by the great circles through its consecutive vertices (the gnomonic projection maps
//! great circles to straight lines), and every point of it is assigned to it.
//!
//! For such a cell we keep its centre `c` and the angular distance `ρ` from `c` to the nearest of
//! its six edge great circles, less a margin of 10⁻⁹ rad (6 mm) that covers the rounding of both
//! computations: any point closer than that to `c` lies in the cell and gets it without calling
//! `to_cell`. Pentagons and cells touching two faces never take the shortcut. Each thread keeps
//! the cells it meets twice in a table keyed by a grid of squares about one cell across; a point
//! is tested against the cells of its square and computed by `to_cell` when none holds it.
//! Clustered consumers share cells, so most points are answered by one lookup and one distance
//! comparison. The result equals `to_cell` for every point (property tests and hard cases below).

use h3o::{CellIndex, LatLng, Resolution};
use rayon::prelude::*;
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// Margin, in radians, subtracted from each cell's inner radius.
const MARGIN_RAD: f64 = 1e-9;
/// Cells remembered per square of the grid.
const PER_SQUARE: usize = 3;
/// Squares remembered per thread before its table starts afresh.
const MAX_SQUARES: usize = 1 << 20;
/// Points per parallel task.
const CHUNK: usize = 1 << 14;

/// A cell whose points within `chord2` (squared chord distance) of `centre` are known to be in it.
#[derive(Debug, Clone, Copy)]
struct Known {
    cell: CellIndex,
    centre: [f64; 3],
    chord2: f64,
}

fn unit(lat: f64, lng: f64) -> [f64; 3] {
    let (sin_lat, cos_lat) = lat.to_radians().sin_cos();
    let (sin_lng, cos_lng) = lng.to_radians().sin_cos();
    [cos_lat * cos_lng, cos_lat * sin_lng, sin_lat]
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

impl Known {
    /// The shortcut for `cell`, or `None` for a pentagon or a cell touching more than one face.
    fn new(cell: CellIndex) -> Option<Known> {
        if cell.is_pentagon() || cell.icosahedron_faces().len() != 1 {
            return None;
        }
        let boundary = cell.boundary();
        if boundary.len() != 6 {
            return None;
        }
        let middle = LatLng::from(cell);
        let centre = unit(middle.lat(), middle.lng());
        let vertices: Vec<[f64; 3]> = boundary.iter().map(|v| unit(v.lat(), v.lng())).collect();
        let mut radius = f64::INFINITY;
        for (i, &a) in vertices.iter().enumerate() {
            let normal = cross(a, vertices[(i + 1) % vertices.len()]);
            let norm = dot(normal, normal).sqrt();
            // Angular distance from the centre to the edge's great circle.
            radius = radius.min((dot(centre, normal).abs() / norm).asin());
        }
        let radius = radius - MARGIN_RAD;
        (radius > 0.0).then(|| {
            let chord = 2.0 * (radius / 2.0).sin();
            Known {
                cell,
                centre,
                chord2: chord * chord,
            }
        })
    }

    fn holds(&self, p: [f64; 3]) -> bool {
        let d = [
            p[0] - self.centre[0],
            p[1] - self.centre[1],
            p[2] - self.centre[2],
        ];
        dot(d, d) < self.chord2
    }
}

/// What a thread knows of one square: the cells with a shortcut, and the last cell met once.
#[derive(Debug, Clone, Copy, Default)]
struct Square {
    known: [Option<Known>; PER_SQUARE],
    seen: Option<CellIndex>,
}

/// Multiplicative hashing of square keys (already well spread in their low bits).
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, key: u64) {
        self.0 = key.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// The cells one thread has met, by square of a lat/lng grid.
struct Table {
    resolution: Resolution,
    /// The `assign_cells` call it belongs to.
    generation: u64,
    /// Squares per degree.
    scale: f64,
    squares: HashMap<u64, Square, BuildHasherDefault<KeyHasher>>,
}

impl Table {
    fn new(resolution: Resolution, generation: u64) -> Self {
        // Squares about one cell across (an edge length is a cell's circumradius).
        let degrees = 2.0 * resolution.edge_length_km() / 111.2;
        Table {
            resolution,
            generation,
            scale: 1.0 / degrees,
            squares: HashMap::default(),
        }
    }

    fn key(&self, lat: f64, lng: f64) -> u64 {
        (((lat + 90.0) * self.scale) as u64) << 32 | ((lng + 180.0) * self.scale) as u64
    }

    fn cell(&mut self, lat: f64, lng: f64) -> CellIndex {
        let key = self.key(lat, lng);
        if let Some(square) = self.squares.get(&key) {
            if square.known[0].is_some() {
                let p = unit(lat, lng);
                if let Some(hit) = square.known.iter().flatten().find(|k| k.holds(p)) {
                    return hit.cell;
                }
            }
        }
        let cell = LatLng::new(lat, lng)
            .expect("ingest accepts finite coordinates only")
            .to_cell(self.resolution);
        if self.squares.len() >= MAX_SQUARES {
            self.squares.clear();
        }
        let square = self.squares.entry(key).or_default();
        // A cell gets its shortcut the second time its square meets it.
        if square.seen == Some(cell) {
            if square.known.iter().flatten().all(|k| k.cell != cell) {
                if let Some(free) = square.known.iter_mut().find(|k| k.is_none()) {
                    *free = Known::new(cell);
                }
            }
        } else {
            square.seen = Some(cell);
        }
        cell
    }
}

/// Counts `assign_cells` calls, so each starts with fresh tables.
static GENERATION: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static TABLE: RefCell<Option<Table>> = const { RefCell::new(None) };
}

/// The H3 cell of every point at `resolution`, equal to h3o's `LatLng::to_cell` for every point
/// (computed directly at the resolution, never as the parent of a finer cell, which differs for
/// some points), in parallel.
///
/// Coordinates must be finite; ingest guarantees it.
///
/// # Runtime
///
/// Per point, one hash lookup and a distance comparison when the point lies well inside a cell
/// its thread has met (see the module docs), else one `to_cell`.
pub fn assign_cells(lat: &[f64], lng: &[f64], resolution: Resolution) -> Vec<CellIndex> {
    let placeholder = CellIndex::base_cells().next().expect("122 base cells");
    let mut cells = vec![placeholder; lat.len()];
    // Every call starts with empty tables: a table from an earlier call is replaced when a
    // thread meets this call's first chunk.
    let generation = GENERATION.fetch_add(1, Ordering::Relaxed);
    cells
        .par_chunks_mut(CHUNK)
        .zip(lat.par_chunks(CHUNK).zip(lng.par_chunks(CHUNK)))
        .for_each(|(out, (lat, lng))| {
            TABLE.with_borrow_mut(|table| {
                let table = match table {
                    Some(t) if t.generation == generation => t,
                    _ => table.insert(Table::new(resolution, generation)),
                };
                for ((cell, &la), &ln) in out.iter_mut().zip(lat).zip(lng) {
                    *cell = table.cell(la, ln);
                }
            });
        });
    cells
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn exact(lat: f64, lng: f64, resolution: Resolution) -> CellIndex {
        LatLng::new(lat, lng).expect("finite").to_cell(resolution)
    }

    /// Assigns the points twice over (so the second pass finds every cell known) and compares
    /// each with `to_cell`.
    fn check(points: &[(f64, f64)], resolution: Resolution) {
        let twice: Vec<(f64, f64)> = points.iter().chain(points).copied().collect();
        let lat: Vec<f64> = twice.iter().map(|p| p.0).collect();
        let lng: Vec<f64> = twice.iter().map(|p| p.1).collect();
        let got = assign_cells(&lat, &lng, resolution);
        for (i, &(la, ln)) in twice.iter().enumerate() {
            assert_eq!(
                got[i],
                exact(la, ln, resolution),
                "({la}, {ln}) at {resolution}"
            );
        }
    }

    /// `n` points spread around `(lat, lng)` within `span` degrees, many sharing cells.
    fn around(lat: f64, lng: f64, span: f64, n: usize) -> Vec<(f64, f64)> {
        let mut state = 0x9E37_79B9_7F4A_7C15_u64 ^ lat.to_bits() ^ lng.to_bits().rotate_left(17);
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        (0..n)
            .map(|_| {
                let la = (lat + span * (next() - 0.5)).clamp(-90.0, 90.0);
                let ln = lng + span * (next() - 0.5);
                (la, (ln + 540.0).rem_euclid(360.0) - 180.0)
            })
            .collect()
    }

    #[test]
    fn hard_places_match_to_cell() {
        let mut points = Vec::new();
        // Around every pentagon.
        for pentagon in CellIndex::base_cells().filter(|c| c.is_pentagon()) {
            let centre = LatLng::from(pentagon);
            points.extend(around(centre.lat(), centre.lng(), 0.5, 400));
        }
        // Around the vertices of the base cells, where icosahedron face edges run.
        for base in CellIndex::base_cells() {
            for v in base.boundary().iter() {
                points.extend(around(v.lat(), v.lng(), 0.05, 100));
            }
        }
        // Poles and the antimeridian.
        points.extend(around(90.0, 0.0, 0.2, 400));
        points.extend(around(-90.0, 0.0, 0.2, 400));
        points.extend(around(10.0, 180.0, 0.2, 400));
        points.extend(around(-40.0, -180.0, 0.2, 400));
        for resolution in [Resolution::Five, Resolution::Eight, Resolution::Twelve] {
            // On cell edges and vertices, and a hair either side.
            let mut on_edges = Vec::new();
            for neighbour in exact(47.3, 8.5, resolution).grid_disk::<Vec<_>>(2) {
                let vertices: Vec<LatLng> = neighbour.boundary().iter().copied().collect();
                for (i, a) in vertices.iter().enumerate() {
                    let b = vertices[(i + 1) % vertices.len()];
                    for t in [0.0, 0.25, 0.5, 0.75] {
                        let la = a.lat() + t * (b.lat() - a.lat());
                        let ln = a.lng() + t * (b.lng() - a.lng());
                        for nudge in [-1e-12, 0.0, 1e-12] {
                            on_edges.push((la + nudge, ln - nudge));
                        }
                    }
                }
            }
            check(&on_edges, resolution);
            check(&points, resolution);
        }
    }

    #[test]
    fn clustered_points_match_to_cell() {
        let mut points = around(47.3, 8.5, 0.3, 20_000);
        points.extend(around(-33.9, 151.2, 0.02, 5_000));
        for resolution in [Resolution::Seven, Resolution::Eight, Resolution::Ten] {
            check(&points, resolution);
        }
    }

    #[test]
    fn most_clustered_points_take_the_shortcut() {
        let points = around(47.3, 8.5, 0.2, 100_000);
        let mut table = Table::new(Resolution::Eight, u64::MAX);
        let mut hits = 0;
        for &(la, ln) in &points {
            let p = unit(la, ln);
            hits += usize::from(
                table
                    .squares
                    .get(&table.key(la, ln))
                    .is_some_and(|s| s.known.iter().flatten().any(|k| k.holds(p))),
            );
            assert_eq!(table.cell(la, ln), exact(la, ln, Resolution::Eight));
        }
        assert!(
            hits * 2 > points.len(),
            "{hits} of {} by the shortcut",
            points.len()
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn random_points_match_to_cell(
            seeds in proptest::collection::vec((-90.0f64..=90.0, -180.0f64..=180.0), 1..8),
            span in 0.0001f64..2.0,
            resolution in 5u8..=12,
        ) {
            let resolution = Resolution::try_from(resolution).expect("valid");
            let points: Vec<(f64, f64)> = seeds
                .iter()
                .flat_map(|&(la, ln)| around(la, ln, span, 300))
                .collect();
            check(&points, resolution);
        }
    }
}
