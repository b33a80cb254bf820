//! Regions and cities: loading boundary files into areas, with validity checks and warnings.

use crate::error::cut;
use geo::coordinate_position::CoordPos;
use geo::{
    BoundingRect, Coord, CoordinatePosition, InteriorPoint, LineString, MultiPolygon, Polygon, Rect,
};
use geojson::{GeoJson, GeometryValue, JsonValue, Position};
use std::collections::{HashMap, HashSet};
use thiserror::Error;

/// Errors in a boundary file; each names the file and, where it applies, the feature.
#[derive(Debug, Error)]
pub enum BoundaryError {
    /// The file could not be read.
    #[error("cannot read {file}: {source}")]
    Io {
        /// File name.
        file: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not GeoJSON.
    #[error("{file} is not valid GeoJSON: {message}")]
    Json {
        /// File name.
        file: String,
        /// Parser message.
        message: String,
    },
    /// The GeoJSON is not a FeatureCollection.
    #[error("{file} must be a GeoJSON FeatureCollection, found a {found}")]
    NotFeatureCollection {
        /// File name.
        file: String,
        /// What was found.
        found: &'static str,
    },
    /// A feature is invalid.
    #[error("{file}: feature {index} ({name}): {problem}")]
    Feature {
        /// File name.
        file: String,
        /// 0-based index in the collection.
        index: usize,
        /// The feature's name, or `unnamed`.
        name: String,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// A feature has no name property.
    #[error(
        "{file}: feature {index} (unnamed): no '{property}' property to name it; add one, or choose another property as the name"
    )]
    MissingName {
        /// File name.
        file: String,
        /// 0-based index in the collection.
        index: usize,
        /// The name property looked for.
        property: String,
    },
    /// Two features have the same identity.
    #[error(
        "{file}: features {first} and {second} are both '{identity}'; give each feature a distinct id property, or choose another property as the id"
    )]
    DuplicateIdentity {
        /// File name.
        file: String,
        /// Index of the first feature.
        first: usize,
        /// Index of the second feature.
        second: usize,
        /// The shared identity.
        identity: String,
    },
    /// Several features are invalid: every one, in file order, one per line.
    #[error("{} invalid features:{}", .0.len(), crate::error::list(.0))]
    Features(Vec<BoundaryError>),
}

impl BoundaryError {
    /// Every problem this error holds, one message each.
    pub fn problems(&self) -> Vec<String> {
        match self {
            BoundaryError::Features(all) => all.iter().map(ToString::to_string).collect(),
            one => vec![one.to_string()],
        }
    }

    /// `problems` as one error: the problem itself when there is one.
    fn collect(mut problems: Vec<BoundaryError>) -> Result<(), BoundaryError> {
        match problems.len() {
            0 => Ok(()),
            1 => Err(problems.remove(0)),
            _ => Err(BoundaryError::Features(problems)),
        }
    }
}

/// Property names read from boundary features.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct BoundaryOptions {
    /// Property holding the display name.
    pub name_prop: String,
    /// Property holding the identifier (the feature's own `id` member is used when it is absent).
    pub id_prop: String,
    /// City property naming its region (by id or name).
    pub region_prop: String,
}

impl Default for BoundaryOptions {
    fn default() -> Self {
        BoundaryOptions {
            name_prop: "name".into(),
            id_prop: "id".into(),
            region_prop: "region".into(),
        }
    }
}

/// One region or city.
#[derive(Debug, Clone)]
pub struct Area {
    /// Identifier from the file, if any.
    pub id: Option<String>,
    /// Display name.
    pub name: String,
    /// Folder name, unique among its siblings.
    pub slug: String,
    /// For a city: index of its region in [`Boundaries::regions`].
    pub region: Option<usize>,
    /// Geometry in degrees (`x` = longitude, `y` = latitude).
    pub geometry: MultiPolygon<f64>,
    /// Bounding box of the geometry.
    pub bbox: Rect<f64>,
}

/// All regions and cities of a run.
#[derive(Debug, Clone, Default)]
pub struct Boundaries {
    /// Regions, in file order.
    pub regions: Vec<Area>,
    /// Cities, in file order.
    pub cities: Vec<Area>,
    /// Non-fatal problems (self-intersections, cities outside every region).
    pub warnings: Vec<String>,
}

/// A boundary file given by name and content.
#[derive(Debug, Clone, Copy)]
pub struct BoundaryText<'a> {
    /// Name used in messages.
    pub file: &'a str,
    /// GeoJSON text.
    pub text: &'a str,
}

/// Folder name of the scope of all consumers; no region may take it.
pub const ALL_SLUG: &str = "all";

impl Boundaries {
    /// Loads and validates regions and cities.
    ///
    /// A feature is identified by its id when it has one, else by its region and name; two features
    /// with one identity are an error. A city's region comes from `region_prop` (matched against
    /// region ids, then names), else from the region containing the city's interior point.
    ///
    /// # Errors
    ///
    /// [`BoundaryError`] naming the file, the feature and the problem.
    pub fn load(
        regions: Option<BoundaryText<'_>>,
        cities: Option<BoundaryText<'_>>,
        options: &BoundaryOptions,
    ) -> Result<Self, BoundaryError> {
        let mut warnings = Vec::new();
        let mut problems = Vec::new();
        let mut region_areas = Vec::new();
        if let Some(input) = regions {
            let features = read_features(input, options, &mut warnings, &mut problems);
            let mut seen = HashMap::new();
            for (index, f) in features {
                let identity = f.id.clone().unwrap_or_else(|| f.name.clone());
                if let Some(first) = seen.insert(identity.clone(), index) {
                    problems.push(duplicate(input.file, first, index, identity));
                }
                region_areas.push(f.into_area(None));
            }
        }
        let mut city_areas = Vec::new();
        if let Some(input) = cities {
            let features = read_features(input, options, &mut warnings, &mut problems);
            let mut seen = HashMap::new();
            let mut unresolved_refs = 0;
            for (index, f) in features {
                let region = match &f.region_ref {
                    Some(_) if regions.is_none() => {
                        unresolved_refs += 1;
                        None
                    }
                    Some(r) => {
                        let found = find_region(&region_areas, r);
                        if found.is_none() {
                            problems.push(BoundaryError::Feature {
                                file: input.file.into(),
                                index,
                                name: f.name.clone(),
                                problem: unknown_region(r, &region_areas, options),
                            });
                        }
                        found
                    }
                    None => containing_region(&region_areas, &f.geometry),
                };
                if region.is_none() && regions.is_some() {
                    warnings.push(format!(
                        "{}: feature {index} ({}) lies in no region; it is reported under '{ALL_SLUG}'",
                        input.file, f.name
                    ));
                }
                let identity = match (&f.id, region) {
                    (Some(id), _) => id.clone(),
                    (None, Some(r)) => format!("{}/{}", region_areas[r].name, f.name),
                    (None, None) => f.name.clone(),
                };
                if let Some(first) = seen.insert(identity.clone(), index) {
                    problems.push(duplicate(input.file, first, index, identity));
                }
                city_areas.push(f.into_area(region));
            }
            if unresolved_refs > 0 {
                warnings.push(format!(
                    "{}: {unresolved_refs} cities name their region in '{}', but no regions file was given; every city is reported under '{ALL_SLUG}' (give the regions file to nest them)",
                    input.file, options.region_prop
                ));
            }
        }
        BoundaryError::collect(problems)?;
        assign_slugs(&mut region_areas, &mut city_areas);
        Ok(Boundaries {
            regions: region_areas,
            cities: city_areas,
            warnings,
        })
    }
}

fn duplicate(file: &str, first: usize, second: usize, identity: String) -> BoundaryError {
    BoundaryError::DuplicateIdentity {
        file: file.into(),
        first,
        second,
        identity,
    }
}

/// Why a city's region reference `reference` names no region, and what to do.
fn unknown_region(reference: &str, regions: &[Area], options: &BoundaryOptions) -> String {
    let names: Vec<&str> = regions.iter().map(|a| a.name.as_str()).collect();
    format!(
        "its {} '{reference}' matches no region id or name; known regions: {}",
        options.region_prop,
        names.join(", ")
    )
}

fn find_region(regions: &[Area], reference: &str) -> Option<usize> {
    regions
        .iter()
        .position(|r| r.id.as_deref() == Some(reference))
        .or_else(|| regions.iter().position(|r| r.name == reference))
}

fn containing_region(regions: &[Area], geometry: &MultiPolygon<f64>) -> Option<usize> {
    let point = geometry.interior_point()?;
    regions
        .iter()
        .position(|r| r.geometry.coordinate_position(&point.0) != CoordPos::Outside)
}

/// A validated feature before it becomes an [`Area`].
struct Feature {
    id: Option<String>,
    name: String,
    region_ref: Option<String>,
    geometry: MultiPolygon<f64>,
}

impl Feature {
    fn into_area(self, region: Option<usize>) -> Area {
        let bbox = self
            .geometry
            .bounding_rect()
            .expect("validated geometries have at least one ring");
        Area {
            id: self.id,
            name: self.name,
            slug: String::new(),
            region,
            geometry: self.geometry,
            bbox,
        }
    }
}

fn property_text(value: &JsonValue) -> Option<String> {
    match value {
        JsonValue::String(s) => Some(s.clone()),
        JsonValue::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The valid features of `input` with their indexes; every invalid one goes to `problems`.
fn read_features(
    input: BoundaryText<'_>,
    options: &BoundaryOptions,
    warnings: &mut Vec<String>,
    problems: &mut Vec<BoundaryError>,
) -> Vec<(usize, Feature)> {
    match parse_features(input, options, warnings, problems) {
        Ok(features) => features,
        Err(e) => {
            problems.push(e);
            Vec::new()
        }
    }
}

fn parse_features(
    input: BoundaryText<'_>,
    options: &BoundaryOptions,
    warnings: &mut Vec<String>,
    problems: &mut Vec<BoundaryError>,
) -> Result<Vec<(usize, Feature)>, BoundaryError> {
    let file = input.file;
    let geojson: GeoJson = input
        .text
        .parse()
        .map_err(|e: geojson::Error| BoundaryError::Json {
            file: file.into(),
            message: e.to_string(),
        })?;
    let collection = match geojson {
        GeoJson::FeatureCollection(fc) => fc,
        GeoJson::Feature(_) => {
            return Err(BoundaryError::NotFeatureCollection {
                file: file.into(),
                found: "Feature",
            });
        }
        GeoJson::Geometry(_) => {
            return Err(BoundaryError::NotFeatureCollection {
                file: file.into(),
                found: "Geometry",
            });
        }
    };
    let mut features = Vec::with_capacity(collection.features.len());
    for (index, feature) in collection.features.into_iter().enumerate() {
        match read_feature(file, index, &feature, options, warnings) {
            Ok(f) => features.push((index, f)),
            Err(e) => problems.push(e),
        }
    }
    Ok(features)
}

/// Feature `index` of `file`, validated.
fn read_feature(
    file: &str,
    index: usize,
    feature: &geojson::Feature,
    options: &BoundaryOptions,
    warnings: &mut Vec<String>,
) -> Result<Feature, BoundaryError> {
    let prop = |key: &str| feature.property(key).and_then(property_text);
    let name = prop(&options.name_prop);
    let problem = |problem: String| BoundaryError::Feature {
        file: file.into(),
        index,
        name: name
            .as_deref()
            .map_or_else(|| "unnamed".into(), |n| cut(n, 60)),
        problem,
    };
    let region_ref = prop(&options.region_prop);
    let Some(name_text) = name.clone() else {
        return Err(BoundaryError::MissingName {
            file: file.into(),
            index,
            property: options.name_prop.clone(),
        });
    };
    let id = prop(&options.id_prop).or_else(|| {
        feature.id.as_ref().map(|id| match id {
            geojson::feature::Id::String(s) => s.clone(),
            geojson::feature::Id::Number(n) => n.to_string(),
        })
    });
    for (what, text) in [
        ("name", &name),
        ("id", &id),
        ("region reference", &region_ref),
    ] {
        if let Some(text) = text.as_ref().filter(|t| t.len() > MAX_NAME_BYTES) {
            return Err(problem(format!(
                "its {what} is {} bytes long, more than the {MAX_NAME_BYTES} a name, id or region reference may have (each is written beside every cell of the layers)",
                text.len()
            )));
        }
    }
    let Some(geometry) = &feature.geometry else {
        return Err(problem(
            "has no geometry; expected a Polygon or MultiPolygon".into(),
        ));
    };
    let polygons: Vec<&Vec<Vec<Position>>> = match &geometry.value {
        GeometryValue::Polygon { coordinates } => vec![coordinates],
        GeometryValue::MultiPolygon { coordinates } => coordinates.iter().collect(),
        other => {
            return Err(problem(format!(
                "unsupported geometry type {}; expected a Polygon or MultiPolygon",
                other.type_name()
            )));
        }
    };
    let mut parts = Vec::with_capacity(polygons.len());
    for (p, rings) in polygons.into_iter().enumerate() {
        if rings.is_empty() {
            return Err(problem(format!("polygon {p} has no ring")));
        }
        let mut converted = Vec::with_capacity(rings.len());
        for (r, ring) in rings.iter().enumerate() {
            converted.push(
                ring_to_linestring(ring)
                    .map_err(|e| problem(format!("polygon {p}, ring {r}: {e}")))?,
            );
        }
        let exterior = converted.remove(0);
        parts.push(Polygon::new(exterior, converted));
    }
    let geometry = MultiPolygon::new(parts);
    if rings_cross(&geometry) {
        warnings.push(format!(
            "{file}: feature {index} ({}) is not a valid polygon (self-intersecting or overlapping rings); points are still tested exactly against it",
            cut(&name_text, 60)
        ));
    }
    Ok(Feature {
        id,
        name: name_text,
        region_ref,
        geometry,
    })
}

/// The longest name, id or region reference of a boundary feature, in bytes.
pub const MAX_NAME_BYTES: usize = 256;

/// An edge with its ring and position, for [`rings_cross`].
#[derive(Debug, Clone, Copy)]
struct RingEdge {
    line: geo::Line<f64>,
    ring: u32,
    index: u32,
    ring_len: u32,
}

impl geo::algorithm::sweep::Cross for RingEdge {
    type Scalar = f64;

    fn line(&self) -> geo::Line<f64> {
        self.line
    }
}

/// Whether the geometry's rings are invalid as OGC defines it, as far as edges tell: a ring of
/// fewer than three distinct vertices, a ring that meets itself anywhere but where consecutive
/// edges share a vertex, or two rings that cross or overlap along a segment (rings of one feature
/// may touch at a point). On the 3,287 US counties and states this flags exactly the 41 features
/// GEOS's `IsValid` rejects.
///
/// # Runtime
///
/// geo's plane sweep ([`geo::Intersections`]), about O(v log v) on real boundaries; geo's
/// `Validation` compares every pair of a ring's edges, O(v²): a third of a second for one
/// 5,000-vertex coastline, hours for a million vertices.
fn rings_cross(geometry: &MultiPolygon<f64>) -> bool {
    let rings = geometry
        .iter()
        .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()));
    let mut edges: Vec<RingEdge> = Vec::new();
    for (ring, line) in rings.enumerate() {
        // Repeated vertices (zero-length edges) say nothing about crossing; without them,
        // consecutive edges are consecutive in the list.
        let mut lines: Vec<geo::Line<f64>> = line.lines().filter(|l| l.start != l.end).collect();
        if lines.len() < 3 {
            // Fewer than three distinct vertices: a ring without area.
            return true;
        }
        let ring_len = lines.len() as u32;
        edges.extend(lines.drain(..).enumerate().map(|(index, line)| RingEdge {
            line,
            ring: ring as u32,
            index: index as u32,
            ring_len,
        }));
    }
    geo::Intersections::from_iter(edges).any(|(a, b, meet)| {
        let point = match meet {
            geo::LineIntersection::Collinear { .. } => return true,
            geo::LineIntersection::SinglePoint { intersection, .. } => intersection,
        };
        if a.ring != b.ring {
            let touch = [a.line.start, a.line.end].contains(&point)
                || [b.line.start, b.line.end].contains(&point);
            return !touch;
        }
        let next = |e: &RingEdge| (e.index + 1) % e.ring_len;
        let consecutive = (next(&a) == b.index && point == a.line.end)
            || (next(&b) == a.index && point == b.line.end);
        !consecutive
    })
}

/// Checks a GeoJSON ring and converts it (positions are `[lon, lat]`).
fn ring_to_linestring(ring: &[Position]) -> Result<LineString<f64>, String> {
    if ring.len() < 4 {
        return Err(format!(
            "a ring needs at least 4 positions (first = last), found {}",
            ring.len()
        ));
    }
    let mut coords = Vec::with_capacity(ring.len());
    for (i, pos) in ring.iter().enumerate() {
        let (Some(&lng), Some(&lat)) = (pos.as_slice().first(), pos.as_slice().get(1)) else {
            return Err(format!("position {i} has fewer than 2 numbers"));
        };
        if !lng.is_finite() || !lat.is_finite() || lng.abs() > 180.0 || lat.abs() > 90.0 {
            return Err(format!(
                "position {i} [{lng}, {lat}] is out of range: expected [lon, lat] in degrees, lon in [-180, 180], lat in [-90, 90]"
            ));
        }
        coords.push(Coord { x: lng, y: lat });
    }
    if coords.first() != coords.last() {
        return Err("ring is not closed: its last position must repeat the first".into());
    }
    Ok(LineString::new(coords))
}

/// Lowercase ASCII slug: letters and digits, other runs turned into one `-`.
pub fn slugify(name: &str) -> String {
    let mut slug = String::with_capacity(name.len());
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_matches('-').to_string();
    if slug.is_empty() { "area".into() } else { slug }
}

/// Gives every area a folder name unique among its siblings: `-2`, `-3`... on repeats.
fn assign_slugs(regions: &mut [Area], cities: &mut [Area]) {
    fn unique(taken: &mut HashSet<String>, base: &str) -> String {
        let mut candidate = base.to_string();
        let mut n = 2;
        while !taken.insert(candidate.clone()) {
            candidate = format!("{base}-{n}");
            n += 1;
        }
        candidate
    }
    let mut top: HashSet<String> = HashSet::from([ALL_SLUG.to_string()]);
    for r in regions.iter_mut() {
        r.slug = unique(&mut top, &slugify(&r.name));
    }
    let mut per_parent: HashMap<Option<usize>, HashSet<String>> = HashMap::new();
    for c in cities.iter_mut() {
        let taken = per_parent.entry(c.region).or_default();
        c.slug = unique(taken, &slugify(&c.name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square(name: &str, extra: &str, x0: f64, y0: f64, size: f64) -> String {
        let (x1, y1) = (x0 + size, y0 + size);
        format!(
            r#"{{"type":"Feature","properties":{{"name":"{name}"{extra}}},"geometry":{{"type":"Polygon","coordinates":[[[{x0},{y0}],[{x1},{y0}],[{x1},{y1}],[{x0},{y1}],[{x0},{y0}]]]}}}}"#
        )
    }

    fn collection(features: &[String]) -> String {
        format!(
            r#"{{"type":"FeatureCollection","features":[{}]}}"#,
            features.join(",")
        )
    }

    fn load(regions: &str, cities: &str) -> Result<Boundaries, BoundaryError> {
        Boundaries::load(
            Some(BoundaryText {
                file: "regions.geojson",
                text: regions,
            }),
            Some(BoundaryText {
                file: "cities.geojson",
                text: cities,
            }),
            &BoundaryOptions::default(),
        )
    }

    #[test]
    fn cities_find_their_region_by_property_or_position() {
        let regions = collection(&[
            square("North", ",\"id\":\"n\"", 0.0, 0.0, 1.0),
            square("South", "", 0.0, -1.0, 1.0),
        ]);
        let cities = collection(&[
            square("Fairfax", ",\"region\":\"n\"", 0.1, 0.1, 0.1),
            square("Fairfax", "", 0.1, -0.5, 0.1),
            square("Fair fax!", ",\"region\":\"North\"", 0.5, 0.5, 0.1),
        ]);
        let b = load(&regions, &cities).expect("valid");
        assert_eq!(b.cities[0].region, Some(0));
        assert_eq!(b.cities[1].region, Some(1));
        assert_eq!(b.cities[2].region, Some(0));
        assert_eq!(b.cities[0].slug, "fairfax");
        assert_eq!(b.cities[1].slug, "fairfax");
        assert_eq!(b.cities[2].slug, "fair-fax");
    }

    #[test]
    fn same_identity_is_an_error_suggesting_id_prop() {
        let regions = collection(&[square("North", "", 0.0, 0.0, 1.0)]);
        let cities = collection(&[
            square("Springfield", "", 0.1, 0.1, 0.1),
            square("Springfield", "", 0.5, 0.5, 0.1),
        ]);
        let err = load(&regions, &cities).expect_err("duplicate").to_string();
        assert!(
            err.contains("features 0 and 1") && err.contains("distinct id property"),
            "{err}"
        );
    }

    #[test]
    fn invalid_features_are_named() {
        let open = r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"Open"},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1]]]}}]}"#;
        let err = load(open, &collection(&[]))
            .expect_err("open ring")
            .to_string();
        assert!(
            err.contains("feature 0 (Open)") && err.contains("not closed"),
            "{err}"
        );
        let point = r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"P"},"geometry":{"type":"Point","coordinates":[0,0]}}]}"#;
        let err = load(point, &collection(&[]))
            .expect_err("point")
            .to_string();
        assert!(err.contains("unsupported geometry type Point"), "{err}");
        let err = load(r#"{"type":"Point","coordinates":[0,0]}"#, "")
            .expect_err("not fc")
            .to_string();
        assert!(err.contains("must be a GeoJSON FeatureCollection"), "{err}");
        let far = collection(&[square("Far", "", 0.0, 95.0, 1.0)]);
        let err = load(&far, &collection(&[])).expect_err("range").to_string();
        assert!(err.contains("out of range"), "{err}");
        let long = collection(&[square(&"N".repeat(300), "", 0.0, 0.0, 1.0)]);
        let err = load(&long, &collection(&[])).expect_err("long").to_string();
        assert!(
            err.contains(&format!(
                "({}…): its name is 300 bytes long",
                "N".repeat(60)
            )),
            "{err}"
        );
    }

    #[test]
    fn self_intersections_are_warnings_naming_the_feature() {
        let bow = r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"Bow"},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,1],[1,0],[0,1],[0,0]]]}}]}"#;
        let b = load(bow, &collection(&[])).expect("a warning, not an error");
        assert_eq!(b.warnings.len(), 1);
        assert!(
            b.warnings[0].contains("regions.geojson: feature 0 (Bow)"),
            "{}",
            b.warnings[0]
        );
    }

    #[test]
    fn slugs_avoid_the_all_folder() {
        assert_eq!(slugify("Saint-Étienne / Nord"), "saint-tienne-nord");
        let regions = collection(&[square("All", "", 0.0, 0.0, 1.0)]);
        let b = load(&regions, &collection(&[])).expect("valid");
        assert_eq!(b.regions[0].slug, "all-2");
    }

    #[test]
    fn validity_warnings_follow_ogc_rules_on_edges() {
        let warned = |coordinates: &str| {
            let text = format!(
                r#"{{"type":"FeatureCollection","features":[{{"type":"Feature","properties":{{"name":"X"}},"geometry":{{"type":"Polygon","coordinates":{coordinates}}}}}]}}"#
            );
            !load(&text, &collection(&[]))
                .expect("loads")
                .warnings
                .is_empty()
        };
        // A repeated vertex, and a hole touching the exterior at one point: valid.
        assert!(!warned("[[[0,0],[2,0],[2,0],[2,2],[0,2],[0,0]]]"));
        assert!(!warned(
            "[[[0,0],[2,0],[2,2],[0,2],[0,0]],[[0,1],[1,0.5],[1,1.5],[0,1]]]"
        ));
        // A hole crossing the exterior, a ring without area, a ring touching itself: invalid.
        assert!(warned(
            "[[[0,0],[2,0],[2,2],[0,2],[0,0]],[[1,1],[3,1],[3,1.5],[1,1]]]"
        ));
        assert!(warned("[[[0,0],[1,1],[0,0],[0,0]]]"));
        assert!(warned("[[[0,0],[2,0],[1,1],[2,2],[0,2],[1,1],[0,0]]]"));
    }
}
