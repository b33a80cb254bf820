//! RFC 7946 geometry: [lon, lat] positions rounded to 6 decimals, closed rings, exterior rings
//! counter-clockwise and holes clockwise, antimeridian-crossing cells split into a MultiPolygon.

use crate::disclosure::Privacy;
use crate::stats::ScopeCounts;
use crate::stats::round6;
use geo::{LineString, MultiPolygon};
use h3o::CellIndex;
use rayon::prelude::*;
use std::borrow::Cow;
use std::io::{self, Write};

/// Twice the signed area of a ring in the lon/lat plane (positive when counter-clockwise).
fn signed_area2(ring: &[(f64, f64)]) -> f64 {
    ring.windows(2)
        .map(|w| w[0].0 * w[1].1 - w[1].0 * w[0].1)
        .sum()
}

/// A ring rounded, deduplicated, closed and oriented; `None` if it collapses below 4 positions.
fn prepare_ring(ring: &LineString<f64>, counter_clockwise: bool) -> Option<Vec<(f64, f64)>> {
    let mut out: Vec<(f64, f64)> = Vec::with_capacity(ring.0.len() + 1);
    for c in &ring.0 {
        let p = (round6(c.x), round6(c.y));
        if out.last() != Some(&p) {
            out.push(p);
        }
    }
    if out.first() != out.last() {
        let first = *out.first()?;
        out.push(first);
    }
    if out.len() < 4 {
        return None;
    }
    if (signed_area2(&out) > 0.0) != counter_clockwise {
        out.reverse();
    }
    Some(out)
}

/// Writes a position's coordinate `x` exactly as `Display` would (the shortest decimal that reads
/// back as `x`), quickly when `x` is a whole number of millionths as [`round6`] leaves it: that
/// decimal is then the millionths with trailing zeros dropped, since no other decimal of at most
/// six places lies within half a unit in the last place of a coordinate. Printing integers costs
/// a fraction of the shortest-digits search.
fn write_degrees(w: &mut (impl Write + ?Sized), x: f64) -> io::Result<()> {
    let micros = (x * 1e6).round();
    if micros == 0.0
        || !micros.is_finite()
        || micros.abs() >= 1e15
        || (micros / 1e6).to_bits() != x.to_bits()
    {
        return write!(w, "{x}");
    }
    let negative = micros < 0.0;
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a whole number below 1e15 in magnitude"
    )]
    let micros = micros.abs() as u64;
    // The text is built from its end: the fraction's digits without trailing zeros, the
    // point, the whole degrees, the sign.
    let mut text = [0u8; 24];
    let mut at = text.len();
    let mut push = |byte: u8| {
        at -= 1;
        text[at] = byte;
    };
    let digit = |n: u64| b"0123456789"[usize::from(u8::try_from(n % 10).unwrap_or_default())];
    let (mut whole, mut fraction) = (micros / 1_000_000, micros % 1_000_000);
    if fraction != 0 {
        let mut places = 6;
        while fraction % 10 == 0 {
            fraction /= 10;
            places -= 1;
        }
        for _ in 0..places {
            push(digit(fraction));
            fraction /= 10;
        }
        push(b'.');
    }
    loop {
        push(digit(whole));
        whole /= 10;
        if whole == 0 {
            break;
        }
    }
    if negative {
        push(b'-');
    }
    w.write_all(&text[at..])
}

/// A geometry as its layers write it: polygons of rings rounded to millionths, deduplicated,
/// closed and oriented (exterior first), parts that collapse left out. Built once per feature
/// and written to every layer.
#[derive(Debug, Clone)]
pub(crate) struct Shape(Vec<Vec<Vec<(f64, f64)>>>);

impl Shape {
    /// The shape of `geometry`.
    pub(crate) fn new(geometry: &MultiPolygon<f64>) -> Self {
        Shape(
            geometry
                .iter()
                .filter_map(|polygon| {
                    let exterior = prepare_ring(polygon.exterior(), true)?;
                    let mut rings = vec![exterior];
                    rings.extend(
                        polygon
                            .interiors()
                            .iter()
                            .filter_map(|r| prepare_ring(r, false)),
                    );
                    Some(rings)
                })
                .collect(),
        )
    }

    /// The shape of a cell's hexagon (or pentagon), split at the antimeridian.
    pub(crate) fn of_cell(cell: CellIndex) -> Self {
        Shape::new(&cell_geometry(cell))
    }

    /// The shape as geo types, for writers that take them.
    pub(crate) fn to_geo(&self) -> MultiPolygon<f64> {
        let ring = |points: &Vec<(f64, f64)>| LineString::from(points.clone());
        MultiPolygon::new(
            self.0
                .iter()
                .map(|rings| {
                    geo::Polygon::new(ring(&rings[0]), rings[1..].iter().map(ring).collect())
                })
                .collect(),
        )
    }

    /// Writes the shape as a GeoJSON Polygon (one part) or MultiPolygon.
    pub(crate) fn write_geojson(&self, w: &mut impl Write) -> io::Result<()> {
        fn write_polygon(w: &mut impl Write, rings: &[Vec<(f64, f64)>]) -> io::Result<()> {
            w.write_all(b"[")?;
            for (i, ring) in rings.iter().enumerate() {
                if i > 0 {
                    w.write_all(b",")?;
                }
                w.write_all(b"[")?;
                for (j, (x, y)) in ring.iter().enumerate() {
                    if j > 0 {
                        w.write_all(b",")?;
                    }
                    w.write_all(b"[")?;
                    write_degrees(w, *x)?;
                    w.write_all(b",")?;
                    write_degrees(w, *y)?;
                    w.write_all(b"]")?;
                }
                w.write_all(b"]")?;
            }
            w.write_all(b"]")
        }
        let parts = &self.0;
        if parts.len() == 1 {
            w.write_all(br#"{"type":"Polygon","coordinates":"#)?;
            write_polygon(w, &parts[0])?;
        } else {
            w.write_all(br#"{"type":"MultiPolygon","coordinates":["#)?;
            for (i, part) in parts.iter().enumerate() {
                if i > 0 {
                    w.write_all(b",")?;
                }
                write_polygon(w, part)?;
            }
            w.write_all(b"]")?;
        }
        w.write_all(b"}")
    }

    /// Appends the shape to `out` as little-endian WKB (ISO 19125), the same rings as its
    /// GeoJSON: a Polygon for one part, else a MultiPolygon. Returns its bounds
    /// `[xmin, ymin, xmax, ymax]` and whether it was a MultiPolygon.
    pub(crate) fn write_wkb(&self, out: &mut Vec<u8>) -> ([f64; 4], bool) {
        let parts = &self.0;
        let mut bounds = [
            f64::INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NEG_INFINITY,
        ];
        let header = |out: &mut Vec<u8>, kind: u32, len: usize| {
            out.push(1);
            out.extend_from_slice(&kind.to_le_bytes());
            out.extend_from_slice(&(len as u32).to_le_bytes());
        };
        let multi = parts.len() != 1;
        if multi {
            header(out, 6, parts.len());
        }
        for rings in parts {
            header(out, 3, rings.len());
            for ring in rings {
                out.extend_from_slice(&(ring.len() as u32).to_le_bytes());
                for &(x, y) in ring {
                    out.extend_from_slice(&x.to_le_bytes());
                    out.extend_from_slice(&y.to_le_bytes());
                    bounds = [
                        bounds[0].min(x),
                        bounds[1].min(y),
                        bounds[2].max(x),
                        bounds[3].max(y),
                    ];
                }
            }
        }
        (bounds, multi)
    }
}

/// What the layers and maps draw of one cell.
#[derive(Debug)]
struct CellOutline {
    /// The cell's shape in the cell layers.
    shape: Shape,
    /// Its centre and vertices as H3 gives them, for the maps.
    vertices: (h3o::LatLng, h3o::Boundary),
}

/// The outlines of the cells a run draws, built once (in parallel) for every scope, layer and
/// map that draws them. The cells a region or city shows are among those the `all` scope shows,
/// so building the `all` scope's spares computing a hexagon again per scope and per drawing.
#[derive(Debug, Default)]
pub struct CellOutlines {
    /// Ascending.
    cells: Vec<CellIndex>,
    outlines: Vec<CellOutline>,
}

impl CellOutlines {
    /// The outlines of the cells `privacy` shows in `scope` (the `all` scope, whose shown cells
    /// hold every other scope's).
    pub fn shown_in(scope: &ScopeCounts, privacy: Privacy) -> Self {
        let mut cells: Vec<CellIndex> = privacy
            .shown_cells(scope)
            .into_iter()
            .map(|c| scope.cells[c])
            .collect();
        cells.sort_unstable();
        let outlines = cells
            .par_iter()
            .map(|&cell| CellOutline {
                shape: Shape::of_cell(cell),
                vertices: (h3o::LatLng::from(cell), cell.boundary()),
            })
            .collect();
        CellOutlines { cells, outlines }
    }

    fn find(outlines: Option<&Self>, cell: CellIndex) -> Option<&CellOutline> {
        let outlines = outlines?;
        let i = outlines.cells.binary_search(&cell).ok()?;
        Some(&outlines.outlines[i])
    }

    /// The shape of `cell` in the cell layers, from `outlines` when they hold it.
    pub(crate) fn shape(outlines: Option<&Self>, cell: CellIndex) -> Cow<'_, Shape> {
        Self::find(outlines, cell).map_or_else(
            || Cow::Owned(Shape::of_cell(cell)),
            |o| Cow::Borrowed(&o.shape),
        )
    }

    /// The centre and vertices of `cell` as H3 gives them, from `outlines` when they hold it.
    pub(crate) fn vertices(
        outlines: Option<&Self>,
        cell: CellIndex,
    ) -> (h3o::LatLng, h3o::Boundary) {
        Self::find(outlines, cell).map_or_else(
            || (h3o::LatLng::from(cell), cell.boundary()),
            |o| o.vertices,
        )
    }
}

/// Writes `geometry` as a GeoJSON Polygon (one part) or MultiPolygon.
///
/// # Errors
///
/// The writer's I/O error.
pub fn write_multipolygon(w: &mut impl Write, geometry: &MultiPolygon<f64>) -> io::Result<()> {
    Shape::new(geometry).write_geojson(w)
}

/// The hexagon (or pentagon) of a cell in degrees, split at the antimeridian when it crosses it.
pub fn cell_geometry(cell: CellIndex) -> MultiPolygon<f64> {
    MultiPolygon::from(cell)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn degrees(x: f64) -> String {
        let mut buf = Vec::new();
        write_degrees(&mut buf, x).expect("write");
        String::from_utf8(buf).expect("UTF-8")
    }

    #[test]
    fn degrees_print_as_display_does() {
        for x in [
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.1,
            0.000_001,
            -0.000_001,
            180.0,
            -180.0,
            12.5,
            47.314_992,
            8.587_837,
            1e-7,
            1e20,
            123.456_789_123,
            f64::NAN,
        ] {
            assert_eq!(degrees(x), format!("{x}"), "{x:e}");
        }
    }

    proptest::proptest! {
        #[test]
        fn rounded_degrees_print_as_display_does(micros in -180_000_000i64..=180_000_000) {
            let x = round6(micros as f64 / 1e6);
            proptest::prop_assert_eq!(degrees(x), format!("{x}"));
        }

        #[test]
        fn any_degrees_print_as_display_does(x in -180.0f64..180.0) {
            proptest::prop_assert_eq!(degrees(x), format!("{x}"));
            let rounded = round6(x);
            proptest::prop_assert_eq!(degrees(rounded), format!("{rounded}"));
        }
    }

    fn render(cell: CellIndex) -> serde_json::Value {
        let mut buf = Vec::new();
        write_multipolygon(&mut buf, &cell_geometry(cell)).expect("write");
        serde_json::from_slice(&buf).expect("json")
    }

    #[test]
    fn antimeridian_cells_are_split_and_oriented() {
        let cell = h3o::LatLng::new(10.0, 179.999)
            .expect("ll")
            .to_cell(h3o::Resolution::Five);
        let geometry = render(cell);
        assert_eq!(geometry["type"], "MultiPolygon");
        for polygon in geometry["coordinates"].as_array().expect("parts") {
            let ring: Vec<(f64, f64)> = polygon[0]
                .as_array()
                .expect("ring")
                .iter()
                .map(|p| (p[0].as_f64().expect("x"), p[1].as_f64().expect("y")))
                .collect();
            assert!(signed_area2(&ring) > 0.0);
            assert_eq!(ring.first(), ring.last());
            let (min, max) = ring
                .iter()
                .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
            assert!(max - min < 180.0, "a part wraps the globe: {min}..{max}");
        }
    }

    #[test]
    fn shared_outlines_are_the_cells_own_and_others_are_computed() {
        use crate::disclosure::{Privacy, PrivacyMethod};
        use crate::stats::Scope;
        let at = |lat: f64, lng: f64| {
            h3o::LatLng::new(lat, lng)
                .expect("ll")
                .to_cell(h3o::Resolution::Five)
        };
        let pentagon = CellIndex::base_cells()
            .find(|c| c.is_pentagon())
            .expect("a pentagon")
            .children(h3o::Resolution::Five)
            .next()
            .expect("a child");
        // An antimeridian cell, a pentagon, a cell below the minimum count.
        let mut cells = vec![at(10.0, 179.999), pentagon, at(47.0, 8.0)];
        cells.sort_unstable();
        let hidden = cells.iter().position(|&c| c == at(47.0, 8.0)).expect("in");
        let population: Vec<u32> = (0..3).map(|c| if c == hidden { 2 } else { 50 }).collect();
        let counts = ScopeCounts::new(Scope::all(), cells.clone(), population, vec![1, 1, 1], 1);
        let privacy = Privacy {
            min_count: 10,
            method: PrivacyMethod::Suppress,
        };
        let outlines = CellOutlines::shown_in(&counts, privacy);
        assert_eq!(outlines.cells.len(), 2);
        for (c, &cell) in cells.iter().enumerate() {
            let shape = CellOutlines::shape(Some(&outlines), cell);
            assert_eq!(matches!(shape, Cow::Borrowed(_)), c != hidden);
            let geojson = |shape: &Shape| {
                let mut text = Vec::new();
                shape.write_geojson(&mut text).expect("written");
                text
            };
            assert_eq!(geojson(&shape), geojson(&Shape::of_cell(cell)));
            let (centre, boundary) = CellOutlines::vertices(Some(&outlines), cell);
            assert_eq!(centre, h3o::LatLng::from(cell));
            assert_eq!(boundary, cell.boundary());
        }
    }
}
