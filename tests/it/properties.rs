//! Property tests: rows and counts are conserved, every cell is h3o's own answer, and locate is
//! geo's plain point-in-polygon near the edges and vertices of real-shaped regions.

use crate::common::tiny;
use micromarket::TextInput;
use micromarket::boundary::{Boundaries, BoundaryOptions, Locator, NO_AREA};
use micromarket::consumer::{IngestOptions, Source, ingest};
use micromarket::segment::{self, SegmentsFile};
use micromarket::stats::{self, ScopeKind};
use micromarket::synth::{Extent, SynthOptions, World};
use proptest::prelude::*;
use std::fmt::Write as _;

fn fixture_boundaries() -> Boundaries {
    let regions = TextInput::read(&tiny().join("regions.geojson")).expect("fixture");
    let cities = TextInput::read(&tiny().join("cities.geojson")).expect("fixture");
    Boundaries::load(
        Some(regions.as_boundary()),
        Some(cities.as_boundary()),
        &BoundaryOptions::default(),
    )
    .expect("valid fixture")
}

/// A row that is either valid or broken in one of the ways ingest must reject.
fn row() -> impl Strategy<Value = String> {
    let lat = 9.9..10.2f64;
    let lng = 19.9..20.15f64;
    (0u8..12, lat, lng, 0u32..8, prop::bool::ANY, 16u32..80).prop_map(
        |(kind, lat, lng, id, female, age)| {
            let g = if female { "F" } else { "M" };
            match kind {
                0 => format!("i{id},{lat},abc,{g},{age}"),
                1 => format!("i{id},95,{lng},{g},{age}"),
                2 => format!(",{lat},{lng},{g},{age}"),
                3 => format!("i{id},{lat},{lng},{g}"),
                // Ids from a small pool, so duplicates happen often.
                _ => format!("i{id},{lat},{lng},{g},{age}"),
            }
        },
    )
}

/// synth's country-sized regions (4,000-5,000-vertex fractal borders and coasts, a lake, islands)
/// and their vertices.
fn country() -> &'static (Boundaries, Vec<geo::Coord<f64>>) {
    static COUNTRY: std::sync::OnceLock<(Boundaries, Vec<geo::Coord<f64>>)> =
        std::sync::OnceLock::new();
    COUNTRY.get_or_init(|| {
        let b = World::new(SynthOptions {
            extent: Extent::Country,
            ..SynthOptions::default()
        })
        .region_boundaries();
        let vertices = b
            .regions
            .iter()
            .flat_map(|r| r.geometry.iter())
            .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()))
            .flat_map(|ring| ring.0.iter().copied())
            .collect();
        (b, vertices)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn locate_is_plain_point_in_polygon_near_edges_and_vertices(
        picks in prop::collection::vec((any::<prop::sample::Index>(), 0.0..1.0f64, -3i32..=3, -3i32..=3), 1..200),
    ) {
        use geo::CoordinatePosition;
        use geo::coordinate_position::CoordPos;
        let (b, vertices) = country();
        // On a vertex, on an edge between two vertices, or a hair (1e-9 to 1e-3 degrees) off.
        let (lat, lng): (Vec<f64>, Vec<f64>) = picks
            .iter()
            .map(|(at, t, dx, dy)| {
                let i = at.index(vertices.len() - 1);
                let (a, b) = (vertices[i], vertices[i + 1]);
                let step = |d: i32| f64::from(d.signum()) * 10f64.powi(-3 * d.abs());
                let off = |d: i32| if d == 0 { 0.0 } else { step(d) };
                (a.y + t * (b.y - a.y) + off(*dy), a.x + t * (b.x - a.x) + off(*dx))
            })
            .unzip();
        let located = Locator::new(b, h3o::Resolution::Eight).locate(&lat, &lng);
        for i in 0..lat.len() {
            let coord = geo::Coord { x: lng[i], y: lat[i] };
            let plain = b
                .regions
                .iter()
                .position(|r| r.geometry.coordinate_position(&coord) != CoordPos::Outside)
                .map_or(NO_AREA, |a| a as u32);
            prop_assert_eq!(located.region[i], plain, "{:?}", coord);
        }
    }

    #[test]
    fn rows_cells_and_scopes_are_conserved(rows in prop::collection::vec(row(), 0..120), unique in 0usize..1000) {
        let mut csv = String::from("id,lat,lon,gender,age\n");
        for (i, r) in rows.iter().enumerate() {
            // Make most ids unique while keeping some duplicates.
            let r = if i % 3 == 0 { r.clone() } else { r.replacen('i', &format!("u{unique}-{i}-"), 1) };
            writeln!(csv, "{r}").expect("write");
        }
        let source = Source::Bytes { name: "p.csv".into(), data: csv.into_bytes().into() };
        let ingested = ingest(&source, &IngestOptions { block_bytes: 1 << 10, ..IngestOptions::default() }).expect("ingest");
        prop_assert_eq!(ingested.rows.read, rows.len() as u64);
        prop_assert_eq!(ingested.rows.read, ingested.rows.accepted + ingested.rows.rejected);
        prop_assert_eq!(ingested.rows.accepted as usize, ingested.table.len());

        let table = &ingested.table;
        prop_assume!(!table.is_empty());
        let b = fixture_boundaries();
        let locator = Locator::new(&b, h3o::Resolution::Nine);
        let located = locator.locate(&table.lat, &table.lng);
        for i in 0..table.len() {
            let expected = h3o::LatLng::new(table.lat[i], table.lng[i]).expect("finite").to_cell(h3o::Resolution::Nine);
            prop_assert_eq!(located.cell[i], expected);
            if located.city[i] != NO_AREA {
                prop_assert_eq!(located.region[i], 0);
            }
        }
        let file = SegmentsFile::parse("s", "[[segment]]\nname = \"w\"\nfilter = \"gender = 'F'\"\n").expect("toml");
        let (segments, _) = segment::compile("s", &file, table).expect("compile");
        let counts = stats::aggregate(&b, &located, &segments, &vec![0; table.len()]);
        let all = &counts[0];
        prop_assert_eq!(all.scope.kind, ScopeKind::All);
        prop_assert_eq!(all.total_population(), table.len() as u64);
        prop_assert_eq!(all.total_members(0), segments[0].members.count() as u64);
        let region = &counts[1];
        let city_total: u64 = counts[2..].iter().map(stats::ScopeCounts::total_population).sum();
        prop_assert!(city_total <= region.total_population());
        prop_assert!(region.total_population() <= all.total_population());
        for c in &counts {
            // Cells are sorted and distinct, and members never exceed population.
            prop_assert!(c.cells.windows(2).all(|w| w[0] < w[1]));
            for (i, &n) in c.population.iter().enumerate() {
                prop_assert!(c.members_of(i, 0) <= n);
            }
        }
        let located_in_region = located.region.iter().filter(|&&r| r == 0).count() as u64;
        prop_assert_eq!(region.total_population(), located_in_region);
    }
}
