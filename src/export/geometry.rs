//! RFC 7946 geometry: [lon, lat] positions rounded to 6 decimals, closed rings, exterior rings
//! counter-clockwise and holes clockwise, antimeridian-crossing cells split into a MultiPolygon.

use crate::stats::round6;
use geo::{LineString, MultiPolygon};
use h3o::CellIndex;
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
    let micros = micros as i64;
    let sign = if micros < 0 { "-" } else { "" };
    let (whole, mut fraction) = (micros.abs() / 1_000_000, micros.abs() % 1_000_000);
    if fraction == 0 {
        return write!(w, "{sign}{whole}");
    }
    let mut places = 6;
    while fraction % 10 == 0 {
        fraction /= 10;
        places -= 1;
    }
    write!(w, "{sign}{whole}.{fraction:0places$}")
}

/// A geometry as its layers write it: polygons of rings rounded to millionths, deduplicated,
/// closed and oriented (exterior first), parts that collapse left out. Built once per feature
/// and written to every layer.
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
}
