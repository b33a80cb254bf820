//! H3 cell assignment, with a proven shortcut through each icosahedron face's hexagonal lattice.
//!
//! # Algorithm
//!
//! h3o's `to_cell` takes the icosahedron face whose centre is nearest the point, projects the
//! point onto the plane tangent there (gnomonic projection, scaled by φ²·√7ʳ at resolution `r`)
//! and rounds it to the nearest centre of a hexagonal lattice with unit spacing, origin at the
//! face centre and one of two orientations per face (resolution classes II and III). The cell
//! is then a function of the face and the lattice point alone.
//!
//! We repeat the cheap part of that: nearest face by 20 dot products, the projection by three
//! more and a division, the nearest lattice point by hexagonal rounding. The lattices' axes are
//! measured once from h3o's own cells (the six neighbours of the cell centred on each face
//! centre, at resolutions 0 and 1) and checked against the spacing. When the point is more
//! than [`FACE_MARGIN`] nearer its face than the next one and more than [`MARGIN`] lattice units
//! inside its hexagon, both computations pick the same face and lattice point, so the cell is
//! the one `to_cell` gave any earlier point of that hexagon: each thread keeps those in a
//! direct-mapped table keyed by resolution, face and lattice point, kept from call to call (a
//! caller passing its points in batches still finds the hexagons met before). Points that miss
//! a margin, or lie within [`NEAR_CENTRE_RAD`] of a face centre (where h3o's `acos` of a
//! distance near 1 loses digits), are computed by `to_cell`. Where points
//! seldom share a hexagon (fewer than one in [`MIN_HIT_SHARE`] found in the table over a block of
//! [`BLOCK`]), the table rests for a number of blocks that doubles while it keeps missing, so
//! scattered points cost what `to_cell` costs.
//!
//! Error budget at resolution 15 (the finest; coordinates up to 5·10⁶ lattice units): both
//! projections agree to about 10⁻⁸ units away from face centres and 10⁻⁶ at 10⁻³ rad from one
//! (nearer points go to `to_cell`), against a margin of 10⁻⁴ units that costs 0.04 % of points. The result equals `to_cell` for
//! every point (property tests and hard cases below).

use h3o::{CellIndex, LatLng, Resolution};
use rayon::prelude::*;
use std::cell::RefCell;
use std::f64::consts::PI;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Margin, in lattice units (a hexagon's inner radius is 0.5), kept from the hexagon's edges.
const MARGIN: f64 = 1e-4;
/// Margin, in dot product with the face centres, between the nearest face and the next.
const FACE_MARGIN: f64 = 1e-12;
/// Points nearer a face centre than this many radians go to `to_cell`.
const NEAR_CENTRE_RAD: f64 = 1e-3;
/// Bits of the per-thread table's slot index: 2¹⁷ slots (2 MiB), allocated once per thread.
const SLOT_BITS: u32 = 17;
/// Points per parallel task.
const CHUNK: usize = 1 << 14;

const SQRT3: f64 = 1.732_050_807_568_877_2;

type Vector = [f64; 3];

fn unit(lat: f64, lng: f64) -> Vector {
    let (sin_lat, cos_lat) = lat.to_radians().sin_cos();
    let (sin_lng, cos_lng) = lng.to_radians().sin_cos();
    [cos_lat * cos_lng, cos_lat * sin_lng, sin_lat]
}

fn centre_of(cell: CellIndex) -> Vector {
    let centre = LatLng::from(cell);
    unit(centre.lat(), centre.lng())
}

fn lat_lng(v: Vector) -> Option<LatLng> {
    LatLng::new(v[2].asin().to_degrees(), v[1].atan2(v[0]).to_degrees()).ok()
}

fn dot(a: Vector, b: Vector) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn cross(a: Vector, b: Vector) -> Vector {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

/// Euclidean distance: about the angle, for nearby unit vectors.
fn distance(a: Vector, b: Vector) -> f64 {
    let d = [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
    dot(d, d).sqrt()
}

fn scaled(a: Vector, s: f64) -> Vector {
    [a[0] * s, a[1] * s, a[2] * s]
}

fn normalized(a: Vector) -> Vector {
    scaled(a, 1.0 / dot(a, a).sqrt())
}

/// Lattice units per gnomonic unit at `resolution`: φ² (resolution 0 spacing is 1/φ²) × √7ʳ.
fn lattice_scale(resolution: Resolution) -> f64 {
    let golden_squared = f64::midpoint(3.0, 5f64.sqrt());
    golden_squared * 7f64.sqrt().powi(i32::from(u8::from(resolution)))
}

/// One icosahedron face as h3o places it.
#[derive(Debug, Clone, Copy)]
struct Face {
    centre: Vector,
    /// Per resolution class (II, III): unit tangent vectors at the centre, the first along a
    /// lattice direction.
    axes: [(Vector, Vector); 2],
}

/// The 20 faces, measured from h3o's cells once; `None` if h3o's grid is not the one this
/// module expects (then every point goes to `to_cell`).
fn faces() -> Option<&'static [Face; 20]> {
    static FACES: OnceLock<Option<[Face; 20]>> = OnceLock::new();
    FACES.get_or_init(measure_faces).as_ref()
}

fn measure_faces() -> Option<[Face; 20]> {
    // The 12 pentagons sit on the icosahedron's vertices; a face is three mutually adjacent ones
    // (63.4° apart, the next vertices are 116.6° away).
    let vertices: Vec<Vector> = CellIndex::base_cells()
        .filter(|c| c.is_pentagon())
        .map(centre_of)
        .collect();
    let mut faces = Vec::new();
    for (i, &a) in vertices.iter().enumerate() {
        for (j, &b) in vertices.iter().enumerate().skip(i + 1) {
            for &c in &vertices[j + 1..] {
                if dot(a, b) > 0.3 && dot(a, c) > 0.3 && dot(b, c) > 0.3 {
                    let middle =
                        normalized([a[0] + b[0] + c[0], a[1] + b[1] + c[1], a[2] + b[2] + c[2]]);
                    // h3o's own centre: the centre of the base cell around it.
                    let centre = centre_of(lat_lng(middle)?.to_cell(Resolution::Zero));
                    if distance(centre, middle) > 1e-12 {
                        return None;
                    }
                    faces.push(Face {
                        centre,
                        axes: [
                            lattice_axes(centre, Resolution::Zero)?,
                            lattice_axes(centre, Resolution::One)?,
                        ],
                    });
                }
            }
        }
    }
    faces.try_into().ok()
}

/// Tangent vectors at a face centre, the first along the lattice at `resolution`: measured from
/// the cell centred there and checked on all six of its neighbours (unit distance, 60° apart).
fn lattice_axes(centre: Vector, resolution: Resolution) -> Option<(Vector, Vector)> {
    let t1 = normalized(cross(centre, [0.0, 0.0, 1.0]));
    let t2 = cross(centre, t1);
    let scale = lattice_scale(resolution);
    let middle = lat_lng(centre)?.to_cell(resolution);
    let mut first = None;
    let mut neighbours = 0;
    for neighbour in middle.grid_disk::<Vec<_>>(1) {
        if neighbour == middle {
            continue;
        }
        neighbours += 1;
        let c = centre_of(neighbour);
        let (x, y) = (dot(c, t1) / dot(c, centre), dot(c, t2) / dot(c, centre));
        if (x.hypot(y) * scale - 1.0).abs() > 1e-9 {
            return None;
        }
        let angle = y.atan2(x).rem_euclid(PI / 3.0);
        let first = *first.get_or_insert(angle);
        let apart = (angle - first).rem_euclid(PI / 3.0);
        if apart.min(PI / 3.0 - apart) > 1e-9 {
            return None;
        }
    }
    let angle = first.filter(|_| neighbours == 6)?;
    let e1 = [
        t1[0] * angle.cos() + t2[0] * angle.sin(),
        t1[1] * angle.cos() + t2[1] * angle.sin(),
        t1[2] * angle.cos() + t2[2] * angle.sin(),
    ];
    Some((e1, cross(centre, e1)))
}

/// `x` rounded to a whole number (ties either way) without a call into libm; |x| < 2⁶².
fn whole(x: f64) -> f64 {
    let y = x + 0.5;
    let t = y as i64 as f64;
    if t > y { t - 1.0 } else { t }
}

/// Rounds axial hexagon coordinates to the nearest lattice point.
fn round_hex(q: f64, r: f64) -> (f64, f64) {
    let s = -q - r;
    let (mut rq, mut rr, rs) = (whole(q), whole(r), whole(s));
    let (dq, dr, ds) = ((rq - q).abs(), (rr - r).abs(), (rs - s).abs());
    if dq > dr && dq > ds {
        rq = -rr - rs;
    } else if dr > ds {
        rr = -rq - rs;
    }
    (rq, rr)
}

/// The faces' lattices at one resolution, axes scaled to lattice units.
struct Lattice {
    resolution: Resolution,
    /// Key bits of the resolution (and a set top bit, so no key is 0).
    base: u64,
    centres: [Vector; 20],
    axes: [(Vector, Vector); 20],
    /// Cosine of the radius of the cap around each face centre in which that face is the
    /// nearest by far more than [`FACE_MARGIN`]: half the least angle between two centres, less
    /// 10⁻⁶ rad (then the gap in dot product is at least 0.7·10⁻⁶).
    cap_cos: f64,
}

/// Offset making lattice coordinates (|q|, |r| < 2²⁴ at resolution 15) non-negative in a key.
const OFFSET: i64 = 1 << 26;

impl Lattice {
    fn new(faces: &[Face; 20], resolution: Resolution) -> Self {
        let class = usize::from(u8::from(resolution) % 2);
        let scale = lattice_scale(resolution);
        let centres = faces.map(|f| f.centre);
        let closest = centres
            .iter()
            .enumerate()
            .flat_map(|(i, &a)| centres[i + 1..].iter().map(move |&b| dot(a, b)))
            .fold(-1.0, f64::max);
        Lattice {
            resolution,
            cap_cos: (closest.acos() / 2.0 - 1e-6).cos(),
            base: 1 << 63 | u64::from(u8::from(resolution)) << 59,
            centres,
            axes: faces.map(|f| {
                let (x, y) = f.axes[class];
                (scaled(x, scale), scaled(y, scale))
            }),
        }
    }

    /// The face nearest `p` by more than [`FACE_MARGIN`] (into `face`) and its dot product with
    /// `p`; `face` comes in as a guess, taken without a scan when `p` is in its inner cap.
    fn nearest_face(&self, p: Vector, face: &mut usize) -> Option<f64> {
        let guess = dot(p, self.centres[*face]);
        if guess > self.cap_cos {
            return Some(guess);
        }
        let (mut nearest, mut next) = (-2.0, -2.0);
        for (f, &centre) in self.centres.iter().enumerate() {
            let d = dot(p, centre);
            if d > nearest {
                (*face, nearest, next) = (f, d, nearest);
            } else if d > next {
                next = d;
            }
        }
        (nearest - next >= FACE_MARGIN).then_some(nearest)
    }

    /// The key of the face and lattice point `to_cell` would use for `p`, when `p` is far
    /// enough from face edges, face centres and its hexagon's edges to be sure of both.
    /// `face` is a hint: the face of the caller's previous point, updated to this point's.
    fn key(&self, p: Vector, face: &mut usize) -> Option<u64> {
        let nearest = self.nearest_face(p, face)?;
        if nearest > NEAR_CENTRE_RAD.cos() {
            return None;
        }
        let face = *face;
        let (ex, ey) = self.axes[face];
        let (x, y) = (dot(p, ex) / nearest, dot(p, ey) / nearest);
        let r = y * (2.0 / SQRT3);
        let (rq, rr) = round_hex(x - r / 2.0, r);
        let (dx, dy) = (x - rq - rr / 2.0, y - rr * (SQRT3 / 2.0));
        let inside = |v: f64| v.abs() < 0.5 - MARGIN;
        let well_inside = inside(dx)
            && inside(0.5 * dx + SQRT3 / 2.0 * dy)
            && inside(-0.5 * dx + SQRT3 / 2.0 * dy);
        // Truncation is exact: rq and rr are whole numbers below 2²⁴ in magnitude.
        well_inside.then(|| {
            self.base
                | (face as u64) << 54
                | ((rq as i64 + OFFSET) as u64) << 27
                | (rr as i64 + OFFSET) as u64
        })
    }
}

/// Counts `assign_cells` calls, so each starts its tables' pauses afresh.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Points per block: the table's worth is judged after each block that went through it.
const BLOCK: usize = 1024;
/// A block in which fewer than one point in this many found its cell in the table pauses it.
const MIN_HIT_SHARE: usize = 8;
/// The longest pause, in blocks.
const MAX_PAUSE: u32 = 64;

/// One thread's table, kept from one `assign_cells` call to the next.
struct Table {
    /// The call it serves.
    generation: u64,
    /// Direct-mapped (key, cell) slots, a power of two of them.
    slots: Vec<(u64, CellIndex)>,
    /// Blocks still to compute by `to_cell` alone, and the length of the next pause.
    paused: u32,
    next_pause: u32,
    /// The face of the last point, the first guess for the next.
    face: usize,
}

impl Table {
    /// A table for no call yet.
    const EMPTY: Table = Table {
        generation: 0,
        slots: Vec::new(),
        paused: 0,
        next_pause: 1,
        face: 0,
    };

    /// Readies the table for the call `generation`: its pause ends, and its slots are
    /// allocated on the thread's first call. Kept slots stay valid: a key names the
    /// resolution, face and lattice point, which decide the cell.
    fn reset(&mut self, generation: u64, placeholder: CellIndex) {
        self.generation = generation;
        if self.slots.is_empty() {
            self.slots.resize(1 << SLOT_BITS, (0, placeholder));
        }
        (self.paused, self.next_pause) = (0, 1);
    }

    /// Assigns the cells of one run of points.
    fn assign(&mut self, lattice: &Lattice, out: &mut [CellIndex], lat: &[f64], lng: &[f64]) {
        let resolution = lattice.resolution;
        let shift = 64 - self.slots.len().trailing_zeros();
        let blocks = out
            .chunks_mut(BLOCK)
            .zip(lat.chunks(BLOCK).zip(lng.chunks(BLOCK)));
        for (out, (lat, lng)) in blocks {
            let points = out.iter_mut().zip(lat.iter().zip(lng));
            if self.paused > 0 {
                self.paused -= 1;
                points.for_each(|(cell, (&la, &ln))| *cell = exact(la, ln, resolution));
                continue;
            }
            let mut hits = 0;
            for (cell, (&la, &ln)) in points {
                *cell = if let Some(key) = lattice.key(unit(la, ln), &mut self.face) {
                    let index = key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> shift;
                    let slot = &mut self.slots[index as usize];
                    if slot.0 == key {
                        hits += 1;
                    } else {
                        *slot = (key, exact(la, ln, resolution));
                    }
                    slot.1
                } else {
                    exact(la, ln, resolution)
                };
            }
            // Points that seldom share a hexagon (scattered over a large area) make the table
            // cost more than it saves: it rests, longer each time it comes back to misses.
            if hits * MIN_HIT_SHARE < out.len() {
                self.paused = self.next_pause;
                self.next_pause = (self.next_pause * 2).min(MAX_PAUSE);
            } else {
                self.next_pause = 1;
            }
        }
    }
}

thread_local! {
    /// Per thread: its table for the `assign_cells` call it serves.
    static TABLE: RefCell<Table> = const { RefCell::new(Table::EMPTY) };
}

fn exact(lat: f64, lng: f64, resolution: Resolution) -> CellIndex {
    LatLng::new(lat, lng)
        .expect("ingest accepts finite coordinates only")
        .to_cell(resolution)
}

/// The H3 cell of every point at `resolution`, equal to h3o's `LatLng::to_cell` for every point
/// (computed directly at the resolution, never as the parent of a finer cell, which differs for
/// some points), in parallel.
///
/// Coordinates must be finite; ingest guarantees it.
///
/// # Runtime
///
/// Per point, a projection onto its face's lattice and one table lookup when the point lies
/// well inside a hexagon its thread has met (see the module docs), else one `to_cell`. Where
/// points seldom share hexagons, the table rests and points go straight to `to_cell`.
pub fn assign_cells(lat: &[f64], lng: &[f64], resolution: Resolution) -> Vec<CellIndex> {
    let placeholder = CellIndex::base_cells().next().expect("122 base cells");
    let mut cells = vec![placeholder; lat.len()];
    let Some(faces) = faces() else {
        cells
            .par_iter_mut()
            .zip(lat.par_iter().zip(lng))
            .for_each(|(cell, (&la, &ln))| *cell = exact(la, ln, resolution));
        return cells;
    };
    let lattice = Lattice::new(faces, resolution);
    let generation = GENERATION.fetch_add(1, Ordering::Relaxed) + 1;
    cells
        .par_chunks_mut(CHUNK)
        .zip(lat.par_chunks(CHUNK).zip(lng.par_chunks(CHUNK)))
        .for_each(|(out, (lat, lng))| {
            TABLE.with_borrow_mut(|table| {
                if table.generation != generation {
                    table.reset(generation, placeholder);
                }
                table.assign(&lattice, out, lat, lng);
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

    /// Numbers uniform in [0, 1) from a xorshift generator.
    fn uniform(seed: u64) -> impl FnMut() -> f64 {
        let mut state = 0x9E37_79B9_7F4A_7C15_u64 ^ seed;
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// `n` points spread around `(lat, lng)` within `span` degrees, many sharing cells.
    fn around(lat: f64, lng: f64, span: f64, n: usize) -> Vec<(f64, f64)> {
        let mut next = uniform(lat.to_bits() ^ lng.to_bits().rotate_left(17));
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
        // Along every icosahedron edge (pentagon centre to adjacent pentagon centre): on the
        // great circle where two faces meet, and a hair either side of it.
        let vertices: Vec<Vector> = CellIndex::base_cells()
            .filter(|c| c.is_pentagon())
            .map(centre_of)
            .collect();
        for (i, &a) in vertices.iter().enumerate() {
            for &b in vertices[i + 1..].iter().filter(|&&b| dot(a, b) > 0.3) {
                let normal = normalized(cross(a, b));
                for step in 1..40 {
                    let t = f64::from(step) / 40.0;
                    let on = normalized([
                        a[0] + t * (b[0] - a[0]),
                        a[1] + t * (b[1] - a[1]),
                        a[2] + t * (b[2] - a[2]),
                    ]);
                    for nudge in [-1e-9, -1e-13, 0.0, 1e-13, 1e-9] {
                        let p = normalized([
                            on[0] + nudge * normal[0],
                            on[1] + nudge * normal[1],
                            on[2] + nudge * normal[2],
                        ]);
                        let ll = lat_lng(p).expect("finite");
                        points.push((ll.lat(), ll.lng()));
                    }
                }
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
    fn the_lattices_are_measured() {
        let faces = faces().expect("h3o's grid is the one the shortcut expects");
        // Face centres are 41.8° apart from their three neighbours.
        for face in faces {
            let neighbours = faces
                .iter()
                .filter(|f| (dot(f.centre, face.centre) - 0.745_356).abs() < 1e-6)
                .count();
            assert_eq!(neighbours, 3);
        }
    }

    #[test]
    fn most_clustered_points_take_the_shortcut() {
        let points = around(47.3, 8.5, 0.2, 100_000);
        let lattice = Lattice::new(faces().expect("measured"), Resolution::Eight);
        let keyed = points
            .iter()
            .filter(|&&(la, ln)| lattice.key(unit(la, ln), &mut 0).is_some())
            .count();
        assert!(
            keyed * 1000 > points.len() * 998,
            "{keyed} of {} by the shortcut",
            points.len()
        );
    }

    #[test]
    fn around_face_centres_matches_to_cell() {
        let mut points = Vec::new();
        for face in faces().expect("measured") {
            let c = face.centre;
            let (lat, lng) = (c[2].asin().to_degrees(), c[1].atan2(c[0]).to_degrees());
            // Inside and outside the radius left to to_cell (1e-3 rad is 0.057°).
            points.extend(around(lat, lng, 1e-4, 200));
            points.extend(around(lat, lng, 0.2, 400));
            points.push((lat, lng));
        }
        for resolution in [
            Resolution::Zero,
            Resolution::One,
            Resolution::Nine,
            Resolution::Fifteen,
        ] {
            check(&points, resolution);
        }
    }

    #[test]
    fn points_on_random_cells_edges_match_to_cell() {
        // Random cells over the whole sphere at every resolution; points along their edges,
        // pushed off by 10⁻¹⁵ to 10⁻⁹ degrees either way.
        let mut next = uniform(15);
        for resolution in Resolution::range(Resolution::Zero, Resolution::Fifteen) {
            let mut points = Vec::new();
            for _ in 0..600 {
                let lat = (2.0 * next() - 1.0).asin().to_degrees();
                let cell = exact(lat, 360.0 * next() - 180.0, resolution);
                let vertices: Vec<LatLng> = cell.boundary().iter().copied().collect();
                for k in 0..50 {
                    let (a, b) = (
                        vertices[k % vertices.len()],
                        vertices[(k + 1) % vertices.len()],
                    );
                    let t = next();
                    let nudge = 10f64.powf(-9.0 - 6.0 * next()) * (next() - 0.5);
                    let la = (a.lat() + t * (b.lat() - a.lat()) + nudge).clamp(-90.0, 90.0);
                    points.push((la, a.lng() + t * (b.lng() - a.lng()) - nudge));
                }
            }
            check(&points, resolution);
        }
    }

    #[test]
    fn scattered_points_rest_the_table_and_match_to_cell() {
        let mut next = uniform(3);
        let (lat, lng): (Vec<f64>, Vec<f64>) = (0..40_000)
            .map(|_| {
                (
                    (2.0 * next() - 1.0).asin().to_degrees(),
                    360.0 * next() - 180.0,
                )
            })
            .unzip();
        let lattice = Lattice::new(faces().expect("measured"), Resolution::Ten);
        let placeholder = exact(0.0, 0.0, Resolution::Ten);
        let mut table = Table::EMPTY;
        table.reset(1, placeholder);
        let mut cells = vec![placeholder; lat.len()];
        table.assign(&lattice, &mut cells, &lat, &lng);
        assert_eq!(table.next_pause, MAX_PAUSE, "the table kept missing");
        for (i, cell) in cells.iter().enumerate() {
            assert_eq!(*cell, exact(lat[i], lng[i], Resolution::Ten));
        }
        // Clustered points bring it back.
        let (lat, lng): (Vec<f64>, Vec<f64>) = around(47.3, 8.5, 0.05, 200_000).into_iter().unzip();
        let mut cells = vec![placeholder; lat.len()];
        table.assign(&lattice, &mut cells, &lat, &lng);
        assert_eq!(table.next_pause, 1);
        for (i, cell) in cells.iter().enumerate() {
            assert_eq!(*cell, exact(lat[i], lng[i], Resolution::Ten));
        }
    }

    #[test]
    fn calls_in_batches_at_several_resolutions_match_to_cell() {
        // The tables outlive a call: later calls, at another resolution or over the same
        // hexagons again, must find only their own cells.
        let points = around(47.3, 8.5, 0.2, 50_000);
        for resolution in [Resolution::Eight, Resolution::Nine, Resolution::Eight] {
            for batch in points.chunks(4_096) {
                let (lat, lng): (Vec<f64>, Vec<f64>) = batch.iter().copied().unzip();
                let cells = assign_cells(&lat, &lng, resolution);
                for (i, cell) in cells.iter().enumerate() {
                    assert_eq!(*cell, exact(lat[i], lng[i], resolution));
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn random_points_match_to_cell(
            seeds in proptest::collection::vec((-90.0f64..=90.0, -180.0f64..=180.0), 1..8),
            span in 0.0001f64..2.0,
            resolution in 0u8..=15,
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
