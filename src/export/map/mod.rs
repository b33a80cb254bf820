//! Maps a planner can open by double-click: a `map.html` per scope holding its data, Leaflet and
//! the viewer once in an `assets/` folder at the output root (shipped inside the binary, linked
//! from every map by a relative path, so maps open from disk with no network and no server), and
//! an `index.html` at the output root linking them.
//!
//! A map carries its own data. Cells are packed as little-endian integer arrays (the narrowest
//! typed-array type that holds them) in base64: centres and vertex offsets in millionths of a
//! degree, population, and per segment the member counts (`-1` where the minimum-count rule hides
//! them) and Gi* in hundredths, plus the positions of the Gi* hot cells and of the micro-market cells. Penetration, lift and their
//! Wilson intervals are derived in the page from those counts with the formulas of the exports.
//! Micro-markets and the campaign are the scope's own `micromarkets.geojson` and
//! `campaign.geojson`, embedded as written. Cells hidden by the minimum count are not in the page
//! at all. Nothing is fetched when the page opens unless `--basemap` names a tile server.

use super::atomic::{AtomicFile, ExportError, io_error};
use super::geometry::CellOutlines;
use super::manifest::OutputRecord;
use crate::boundary::Area;
use crate::disclosure::Privacy;
use crate::market::MicroMarket;
use crate::scope::ScopeFigures;
use crate::stats::{HotSpots, ScopeCounts, significant6};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Serialize;
use serde_json::value::RawValue;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::Path;

const PAGE: &str = include_str!("map.html");
const INDEX: &str = include_str!("index.html");
const INDEX_JS: &str = include_str!("index.js");
const VIEWER_JS: &str = include_str!("viewer.js");
const VIEWER_CSS: &str = include_str!("viewer.css");
/// Leaflet 1.9.4 from the npm registry, byte for byte (the browser test compares it).
const LEAFLET_JS: &str = include_str!("leaflet/leaflet.js");
const LEAFLET_CSS: &str = include_str!("leaflet/leaflet.css");
const LEAFLET_LICENSE: &str = include_str!("leaflet/LICENSE");

/// Folder of the maps' shared files, at the output root.
const ASSETS: &str = "assets";

/// The shared files of the maps: (name in [`ASSETS`], content).
const ASSET_FILES: [(&str, &str); 5] = [
    ("leaflet.js", LEAFLET_JS),
    ("leaflet.css", LEAFLET_CSS),
    ("leaflet-LICENSE", LEAFLET_LICENSE),
    ("viewer.js", VIEWER_JS),
    ("viewer.css", VIEWER_CSS),
];

/// Writes Leaflet, its licence and the viewer into `root/assets/`, once for all the maps under
/// `root`, and returns their records.
///
/// # Errors
///
/// [`ExportError`] naming the file that could not be written.
pub fn write_map_assets(root: &Path) -> Result<Vec<OutputRecord>, ExportError> {
    let folder = root.join(ASSETS);
    std::fs::create_dir_all(&folder).map_err(io_error(&folder))?;
    ASSET_FILES
        .iter()
        .map(|(name, content)| {
            let path = folder.join(name);
            let mut file = AtomicFile::create(&path).map_err(io_error(&path))?;
            file.write_all(content.as_bytes())
                .map_err(io_error(&path))?;
            let written = file.commit().map_err(io_error(&path))?;
            Ok(OutputRecord::new(
                "map_asset",
                format!("{ASSETS}/{name}"),
                0,
                written,
            ))
        })
        .collect()
}

/// Choices for the maps of a run.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MapOptions {
    /// A tile-server URL template (`https://…/{z}/{x}/{y}.png`) for a base map; none by default,
    /// so maps need no network.
    pub basemap: Option<String>,
}

/// Integers packed little-endian in the narrowest typed-array type that holds them, in base64.
#[derive(Debug, Serialize)]
struct Packed {
    #[serde(rename = "type")]
    kind: &'static str,
    data: String,
}

fn pack(values: &[i64]) -> Packed {
    let (min, max) = values
        .iter()
        .fold((0i64, 0i64), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let fits = |lo: i64, hi: i64| min >= lo && max <= hi;
    let (kind, width) = if fits(0, i64::from(u8::MAX)) {
        ("u8", 1)
    } else if fits(i64::from(i16::MIN), i64::from(i16::MAX)) {
        ("i16", 2)
    } else if fits(0, i64::from(u16::MAX)) {
        ("u16", 2)
    } else if fits(i64::from(i32::MIN), i64::from(i32::MAX)) {
        ("i32", 4)
    } else {
        assert!(fits(0, i64::from(u32::MAX)), "packed values fit 32 bits");
        ("u32", 4)
    };
    let mut bytes = Vec::with_capacity(values.len() * width);
    for &v in values {
        bytes.extend_from_slice(&v.to_le_bytes()[..width]);
    }
    Packed {
        kind,
        data: BASE64.encode(bytes),
    }
}

/// The scope as the page shows it.
#[derive(Debug, Serialize)]
struct PageScope<'a> {
    kind: &'a str,
    name: &'a str,
    region: &'a str,
    city: &'a str,
    population: Option<u64>,
    /// Cells holding the scope's consumers, shown or not.
    cells: u64,
}

/// Shown cells: hex ids, geometry and population.
#[derive(Debug, Serialize)]
struct PageCells {
    ids: Vec<String>,
    /// `lat, lng` per cell, in millionths of a degree.
    centre: Packed,
    /// Vertices per cell.
    vertices: Packed,
    /// `dlat, dlng` per vertex from its cell's centre, in millionths of a degree.
    offsets: Packed,
    population: Packed,
}

/// One segment's figures over the shown cells.
#[derive(Debug, Serialize)]
struct PageSegment<'a> {
    name: &'a str,
    /// `K`, unless hidden by the minimum count.
    members: Option<u64>,
    /// `K / N` (lift is penetration over it); `None` when `K = 0` or `N = 0`.
    base_rate: Option<f64>,
    /// `k_c`, `-1` where hidden.
    count: Packed,
    /// Gi* in hundredths.
    gi: Packed,
    /// Positions (in the shown cells) of the Gi* hot cells (density).
    hot: Packed,
    /// Positions (in the shown cells) of the cells in a micro-market of the segment.
    market: Packed,
}

#[derive(Debug, Serialize)]
struct PageData<'a> {
    scope: PageScope<'a>,
    min_count: u32,
    fdr: f64,
    min_lift: f64,
    basemap: Option<&'a str>,
    /// The scope's boundaries as one GeoJSON MultiPolygon.
    boundary: &'a RawValue,
    cells: PageCells,
    segments: Vec<PageSegment<'a>>,
    micromarkets: &'a RawValue,
    campaign: Option<&'a RawValue>,
}

/// What a map shows besides the counts.
pub(crate) struct MapInputs<'a> {
    /// The scope's counts.
    pub counts: &'a ScopeCounts,
    /// Its Gi* figures.
    pub hot_spots: &'a HotSpots,
    /// Its micro-markets.
    pub markets: &'a [MicroMarket],
    /// Its published figures (`N`, and per segment `K` and the base rate).
    pub figures: &'a ScopeFigures,
    /// The scope's boundaries (see [`crate::stats::scope_areas`]).
    pub areas: &'a [&'a Area],
    /// Segment names, in segment order.
    pub segment_names: &'a [String],
    /// The minimum-count rule.
    pub privacy: Privacy,
    /// FDR of the tests, shown in the legend.
    pub fdr: f64,
    /// λ0 of the micro-markets, shown in the legend.
    pub min_lift: f64,
    /// The outlines shared by the scopes, if built.
    pub outlines: Option<&'a CellOutlines>,
}

fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(ch),
        }
    }
    out
}

/// JSON made safe inside a `<script>` element: `<` only occurs in strings, where `\u003c`
/// means the same.
fn script_json(value: &impl Serialize) -> String {
    serde_json::to_string(value)
        .expect("page data serializes")
        .replace('<', "\\u003c")
}

/// Fills `{{NAME}}` markers of `template` from `values`; markers are looked for in the template
/// only, never in the values.
fn render(template: &str, values: &[(&str, &str)], out: &mut impl Write) -> io::Result<()> {
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let end = rest[start..]
            .find("}}")
            .expect("template markers are closed")
            + start;
        let name = &rest[start + 2..end];
        let value = values
            .iter()
            .find(|(key, _)| *key == name)
            .unwrap_or_else(|| panic!("template marker {name} has a value"))
            .1;
        out.write_all(&rest.as_bytes()[..start])?;
        out.write_all(value.as_bytes())?;
        rest = &rest[end + 2..];
    }
    out.write_all(rest.as_bytes())
}

fn page_cells(counts: &ScopeCounts, shown: &[usize], outlines: Option<&CellOutlines>) -> PageCells {
    let mut centre = Vec::with_capacity(shown.len() * 2);
    let mut vertices = Vec::with_capacity(shown.len());
    let mut offsets = Vec::with_capacity(shown.len() * 12);
    let micro = |degrees: f64| (degrees * 1e6).round() as i64;
    for &c in shown {
        let cell = counts.cells[c];
        let (middle, boundary) = CellOutlines::vertices(outlines, cell);
        let (lat, lng) = (micro(middle.lat()), micro(middle.lng()));
        centre.extend([lat, lng]);
        vertices.push(boundary.len() as i64);
        for vertex in boundary.iter() {
            // Offsets from the centre never wrap: a cell crossing the antimeridian is drawn
            // whole, past ±180°.
            let dlng = (vertex.lng() - middle.lng() + 540.0).rem_euclid(360.0) - 180.0;
            offsets.extend([micro(vertex.lat()) - lat, micro(middle.lng() + dlng) - lng]);
        }
    }
    PageCells {
        ids: shown.iter().map(|&c| counts.cells[c].to_string()).collect(),
        centre: pack(&centre),
        vertices: pack(&vertices),
        offsets: pack(&offsets),
        population: pack(
            &shown
                .iter()
                .map(|&c| i64::from(counts.population[c]))
                .collect::<Vec<_>>(),
        ),
    }
}

fn boundary_json(areas: &[&Area]) -> io::Result<Box<RawValue>> {
    let polygons: Vec<geo::Polygon<f64>> = areas
        .iter()
        .flat_map(|a| a.geometry.0.iter().cloned())
        .collect();
    let mut text = Vec::new();
    super::write_multipolygon(&mut text, &geo::MultiPolygon::new(polygons))?;
    let text = String::from_utf8(text).map_err(io::Error::other)?;
    RawValue::from_string(text).map_err(io::Error::other)
}

fn layer_json(geojson: &[u8]) -> io::Result<Box<RawValue>> {
    let text = std::str::from_utf8(geojson).map_err(io::Error::other)?;
    RawValue::from_string(text.trim_end().to_string()).map_err(io::Error::other)
}

/// Writes `map.html` into the scope's `folder`, embedding its micro-markets and campaign layers
/// (the GeoJSON of `micromarkets.geojson` and `campaign.geojson`), and returns its record.
///
/// # Errors
///
/// [`ExportError`] naming the file that could not be written.
pub(crate) fn write_map(
    folder: &Path,
    inputs: &MapInputs<'_>,
    options: &MapOptions,
    micromarkets: &[u8],
    campaign: Option<&[u8]>,
) -> Result<OutputRecord, ExportError> {
    let scope = &inputs.counts.scope;
    let path = folder.join("map.html");
    let micromarkets = layer_json(micromarkets).map_err(io_error(&path))?;
    let campaign = campaign
        .map(layer_json)
        .transpose()
        .map_err(io_error(&path))?;
    let mut file = AtomicFile::create(&path).map_err(io_error(&path))?;
    let shown = map_page(
        inputs,
        options,
        &micromarkets,
        campaign.as_deref(),
        &mut file,
    )
    .map_err(io_error(&path))?;
    let written = file.commit().map_err(io_error(&path))?;
    let relative = scope
        .folder
        .join("map.html")
        .to_string_lossy()
        .replace('\\', "/");
    Ok(OutputRecord::new("map", relative, shown, written))
}

/// Writes the page of one scope's map; returns the number of cells it shows.
fn map_page(
    inputs: &MapInputs<'_>,
    options: &MapOptions,
    micromarkets: &RawValue,
    campaign: Option<&RawValue>,
    out: &mut impl Write,
) -> io::Result<u64> {
    let counts = inputs.counts;
    let scope = &counts.scope;
    let privacy = inputs.privacy;
    let boundary = boundary_json(inputs.areas)?;
    let shown: Vec<usize> = (0..counts.cells.len())
        .filter(|&c| privacy.shows_cell(u64::from(counts.population[c])))
        .collect();
    let segments = inputs
        .segment_names
        .iter()
        .enumerate()
        .map(|(s, name)| page_segment(inputs, &shown, s, name))
        .collect();
    let data = PageData {
        scope: PageScope {
            kind: scope.kind.as_str(),
            name: &scope.name,
            region: &scope.region,
            city: &scope.city,
            population: inputs.figures.consumers,
            cells: inputs.figures.cells,
        },
        min_count: privacy.min_count,
        fdr: inputs.fdr,
        min_lift: inputs.min_lift,
        basemap: options.basemap.as_deref(),
        boundary: &boundary,
        cells: page_cells(counts, &shown, inputs.outlines),
        segments,
        micromarkets,
        campaign,
    };
    let title = html_escape(&format!(
        "{} ({}): micromarket map",
        scope.name,
        scope.kind.as_str()
    ));
    // The scope's folder is `depth` folders below the root, where the assets are.
    let assets = format!(
        "{}{ASSETS}",
        "../".repeat(scope.folder.components().count())
    );
    render(
        PAGE,
        &[
            ("TITLE", &title),
            ("ASSETS", &assets),
            ("DATA", &script_json(&data)),
        ],
        out,
    )?;
    Ok(shown.len() as u64)
}

/// Segment `s`'s figures over the shown cells.
fn page_segment<'a>(
    inputs: &MapInputs<'_>,
    shown: &[usize],
    s: usize,
    name: &'a str,
) -> PageSegment<'a> {
    let counts = inputs.counts;
    let privacy = inputs.privacy;
    let figures = &inputs.hot_spots.segments[s];
    let totals = &inputs.figures.totals[s];
    let count: Vec<i64> = shown
        .iter()
        .map(|&c| {
            let k = u64::from(counts.members_of(c, s));
            privacy.count(k).map_or(-1, |k| k as i64)
        })
        .collect();
    let gi: Vec<i64> = shown
        .iter()
        .map(|&c| (figures.gi[c] * 100.0).round() as i64)
        .collect();
    let hot: Vec<i64> = shown
        .iter()
        .enumerate()
        .filter(|&(_, &c)| figures.hot[c])
        .map(|(at, _)| at as i64)
        .collect();
    let mut in_market: Vec<usize> = inputs
        .markets
        .iter()
        .filter(|m| m.segment == s)
        .flat_map(|m| m.cells.iter())
        .filter_map(|cell| counts.cells.binary_search(cell).ok())
        .collect();
    in_market.sort_unstable();
    let market: Vec<i64> = shown
        .iter()
        .enumerate()
        .filter(|&(_, c)| in_market.binary_search(c).is_ok())
        .map(|(at, _)| at as i64)
        .collect();
    PageSegment {
        name,
        members: totals.members,
        base_rate: totals.base_rate.filter(|&b| b > 0.0),
        count: pack(&count),
        gi: pack(&gi),
        hot: pack(&hot),
        market: pack(&market),
    }
}

/// Writes `index.html` at the output root: a row per scope × segment with its headline figures
/// (population, members, base rate, micro-markets, campaign lift), each linking to the scope's
/// map with that segment chosen. Figures hidden by the minimum count are left blank.
///
/// # Errors
///
/// [`ExportError`] naming the file.
pub fn write_index(
    root: &Path,
    scopes: &[ScopeFigures],
    segment_names: &[String],
) -> Result<OutputRecord, ExportError> {
    let path = root.join("index.html");
    let shown_names: Vec<String> = scopes
        .iter()
        .map(|f| {
            let scope = &f.scope;
            if scope.kind == crate::stats::ScopeKind::City && !scope.region.is_empty() {
                format!("{} / {}", scope.region, scope.name)
            } else {
                scope.name.clone()
            }
        })
        .collect();
    let mut rows = 0;
    let index_scopes: Vec<IndexScope> = scopes
        .iter()
        .zip(&shown_names)
        .map(|(figures, name)| {
            let figures_per_segment: Vec<IndexFigures> = figures
                .totals
                .iter()
                .zip(&figures.segments)
                .map(|(totals, segment)| {
                    let best = segment.best_micromarket.as_ref();
                    let interval = best.and_then(|m| m.lift_interval);
                    IndexFigures(
                        totals.population,
                        totals.members,
                        totals.base_rate.map(significant6),
                        segment.micromarkets,
                        best.map(|m| m.excess_members),
                        best.map(|m| m.members),
                        best.and_then(|m| m.lift),
                        interval.map(|i| i.0),
                        interval.map(|i| i.1),
                        segment.campaign_lift,
                    )
                })
                .collect();
            rows += figures_per_segment.len();
            IndexScope {
                kind: figures.scope.kind.as_str(),
                scope: name,
                folder: figures.outputs_in.to_string_lossy().replace('\\', "/"),
                figures: figures_per_segment,
            }
        })
        .collect();
    let index = IndexData {
        fields: INDEX_FIGURES,
        segments: segment_names,
        scopes: index_scopes,
    };
    // Inside a script element, `</` could end it early.
    let data = serde_json::to_string(&index)
        .map_err(io::Error::other)
        .map_err(io_error(&path))?
        .replace("</", "<\\/");
    let mut headings = String::new();
    for (key, heading, numeric) in INDEX_COLUMNS {
        let _ = write!(
            headings,
            "<th data-key=\"{key}\" data-numeric=\"{numeric}\">{heading}</th>"
        );
    }
    let mut file = AtomicFile::create(&path).map_err(io_error(&path))?;
    render(
        INDEX,
        &[
            ("VIEWER_CSS", VIEWER_CSS),
            ("HEADINGS", &headings),
            ("ROWS", &data),
            ("INDEX_JS", INDEX_JS),
        ],
        &mut file,
    )
    .map_err(io_error(&path))?;
    let written = file.commit().map_err(io_error(&path))?;
    Ok(OutputRecord::new(
        "index",
        "index.html".into(),
        rows as u64,
        written,
    ))
}

/// The index page's data: its rows (a scope × a segment) grouped by scope, each row's figures an
/// array in [`INDEX_FIGURES`] order, so names and keys are written once, not once per row (a run
/// over the 3,000 US counties has 88,000 rows). The page's script rebuilds one object per row,
/// with its map link `<folder>/map.html#segment=<segment>`.
#[derive(Serialize)]
struct IndexData<'a> {
    fields: [&'static str; 10],
    segments: &'a [String],
    scopes: Vec<IndexScope<'a>>,
}

/// One scope of the index page: its kind, its name as shown, the folder of its map, and its
/// figures per segment, in the order of [`IndexData::segments`].
#[derive(Serialize)]
struct IndexScope<'a> {
    kind: &'a str,
    scope: &'a str,
    folder: String,
    figures: Vec<IndexFigures>,
}

/// The figures of one row of the index page, in [`INDEX_FIGURES`] order.
#[derive(Serialize)]
struct IndexFigures(
    Option<u64>,
    Option<u64>,
    Option<f64>,
    u64,
    Option<f64>,
    Option<u64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
);

/// The keys of [`IndexFigures`], in order.
const INDEX_FIGURES: [&str; 10] = [
    "population",
    "members",
    "base_rate",
    "micromarkets",
    "excess",
    "best_members",
    "lift",
    "lift_low",
    "lift_high",
    "campaign_lift",
];

/// The index page's columns: data key, heading, whether numeric (sorted high to low first).
const INDEX_COLUMNS: [(&str, &str, bool); 12] = [
    ("kind", "kind", false),
    ("scope", "scope", false),
    ("segment", "segment", false),
    ("population", "population", true),
    ("members", "members", true),
    ("base_rate", "base rate", true),
    ("micromarkets", "micro-markets", true),
    ("excess", "strongest: excess", true),
    ("best_members", "strongest: members", true),
    ("lift", "strongest: lift (95%)", true),
    ("campaign_lift", "campaign lift", true),
    ("map", "map", false),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{Scope, ScopeKind, SegmentHotSpots};
    use geo::{BoundingRect, MultiPolygon, polygon};
    use h3o::{LatLng, Resolution};

    fn unpack(packed: &Packed) -> Vec<i64> {
        let bytes = BASE64.decode(&packed.data).expect("base64");
        let width = match packed.kind {
            "u8" => 1,
            "i16" | "u16" => 2,
            _ => 4,
        };
        let signed = packed.kind.starts_with('i');
        bytes
            .chunks(width)
            .map(|b| {
                let mut wide = [0u8; 8];
                wide[..width].copy_from_slice(b);
                let unsigned = i64::from_le_bytes(wide);
                let shift = 64 - 8 * width as u32;
                if signed {
                    (unsigned << shift) >> shift
                } else {
                    unsigned
                }
            })
            .collect()
    }

    #[test]
    fn packing_picks_the_narrowest_type_and_round_trips() {
        for (values, kind) in [
            (vec![0, 3, 255], "u8"),
            (vec![-1, 0, 300], "i16"),
            (vec![0, 40_000], "u16"),
            (vec![-1, 40_000], "i32"),
            (vec![0, 3_000_000_000], "u32"),
            (vec![], "u8"),
        ] {
            let packed = pack(&values);
            assert_eq!(packed.kind, kind, "{values:?}");
            assert_eq!(unpack(&packed), values);
        }
    }

    /// A city of three cells (one below the minimum count) and one segment.
    fn page(basemap: Option<&str>, name: &str) -> String {
        let centre = LatLng::new(47.0, 8.0)
            .expect("ll")
            .to_cell(Resolution::Eight);
        let mut cells: Vec<_> = centre.grid_disk::<Vec<_>>(1)[..3].to_vec();
        cells.sort_unstable();
        let counts = ScopeCounts::new(
            Scope {
                kind: ScopeKind::City,
                id: "c1".into(),
                name: name.into(),
                region: String::new(),
                city: name.into(),
                folder: "all/town".into(),
                area: Some(0),
            },
            cells,
            vec![40, 3, 25],
            vec![12, 1, 4],
            1,
        );
        let hot_spots = HotSpots {
            study_area_cells: 3,
            segments: vec![SegmentHotSpots {
                gi: vec![2.345, -0.5, 0.25],
                q_value: vec![0.01, 0.9, 0.8],
                hot: vec![true, false, false],
            }],
        };
        let square: MultiPolygon<f64> =
            polygon![(x: 7.9, y: 46.9), (x: 8.1, y: 46.9), (x: 8.1, y: 47.1), (x: 7.9, y: 47.1)]
                .into();
        let area = Area {
            id: None,
            name: name.into(),
            slug: "town".into(),
            region: None,
            bbox: square.bounding_rect().expect("bbox"),
            geometry: square,
        };
        let privacy = Privacy {
            min_count: 10,
            method: crate::disclosure::PrivacyMethod::Suppress,
        };
        let figures = ScopeFigures {
            scope: counts.scope.clone(),
            consumers: privacy.count(counts.total_population()),
            cells: 3,
            cells_shown: 3,
            study_area_cells: 3,
            totals: vec![privacy.totals(counts.total_population(), counts.total_members(0))],
            segments: Vec::new(),
            suppressed: privacy.tally(&counts),
            outputs_in: counts.scope.folder.clone(),
        };
        let inputs = MapInputs {
            counts: &counts,
            hot_spots: &hot_spots,
            markets: &[],
            figures: &figures,
            areas: &[&area],
            segment_names: &["cyclists".to_string()],
            privacy,
            fdr: 0.05,
            min_lift: 1.2,
            outlines: None,
        };
        let options = MapOptions {
            basemap: basemap.map(str::to_string),
        };
        let empty = RawValue::from_string(r#"{"type":"FeatureCollection","features":[]}"#.into())
            .expect("json");
        let mut out = Vec::new();
        let shown = map_page(&inputs, &options, &empty, None, &mut out).expect("page");
        assert_eq!(shown, 2, "the cell of 3 consumers is left out");
        String::from_utf8(out).expect("utf-8")
    }

    fn data_of(page: &str) -> serde_json::Value {
        let start = page.find(r#"type="application/json">"#).expect("data") + 24;
        let end = start + page[start..].find("</script>").expect("end");
        serde_json::from_str(&page[start..end]).expect("data is JSON")
    }

    /// The distinct addresses starting with `prefix` in `text`.
    fn addresses<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
        let mut found: Vec<&str> = text
            .match_indices(prefix)
            .map(|(at, _)| {
                let rest = &text[at..];
                let end = rest
                    .find(|c: char| c.is_whitespace() || "\"'<".contains(c))
                    .unwrap_or(rest.len());
                let end = rest[..end].find(')').map_or(end, |p| p + 1);
                &rest[..end]
            })
            .collect();
        found.sort_unstable();
        found.dedup();
        found
    }

    #[test]
    fn no_remote_url_without_a_basemap() {
        let page = page(None, "Town");
        // Our own parts (template, viewer, data) name no address but the shared assets, by a
        // relative path from the scope's folder (`all/town`, two below the root).
        let mut ours = page.clone();
        for (attribute, file) in [
            ("href", "leaflet.css"),
            ("href", "viewer.css"),
            ("src", "leaflet.js"),
            ("src", "viewer.js"),
        ] {
            let link = format!("{attribute}=\"../../assets/{file}\"");
            assert!(ours.contains(&link), "{link}");
            ours = ours.replace(&link, "");
        }
        for pattern in ["://", "src=", "href=", "url(", "@import"] {
            assert!(!ours.contains(pattern), "the page names {pattern}");
        }
        // Leaflet's own addresses: in its code the banner, the SVG namespace and the link of its
        // attribution control, which maps without a base map leave off; in its style sheet two
        // bug reports in comments and the images of controls and markers the maps do not use.
        // None is fetched (the browser test watches every request).
        assert_eq!(
            addresses(LEAFLET_JS, "http"),
            ["http://www.w3.org/2000/svg", "https://leafletjs.com"]
        );
        assert_eq!(
            addresses(LEAFLET_CSS, "http"),
            [
                "https://bugs.chromium.org/p/chromium/issues/detail?id=600120",
                "https://bugzilla.mozilla.org/show_bug.cgi?id=888319",
            ]
        );
        assert_eq!(
            addresses(LEAFLET_CSS, "url("),
            [
                "url(#default#VML)",
                "url(images/layers-2x.png)",
                "url(images/layers.png)",
                "url(images/marker-icon.png)",
            ]
        );
        assert!(VIEWER_JS.contains("attributionControl: Boolean(data.basemap)"));
        assert_eq!(data_of(&page)["basemap"], serde_json::Value::Null);
    }

    #[test]
    fn a_basemap_is_the_only_address_added() {
        let url = "https://tiles.example.org/{z}/{x}/{y}.png";
        let page = page(Some(url), "Town");
        assert_eq!(data_of(&page)["basemap"], url);
        assert!(!page.replace(url, "").contains("://"));
    }

    #[test]
    fn names_cannot_break_out_of_the_page() {
        let name = "</script><script>alert(1)</script> {{DATA}}";
        let page = page(None, name);
        assert_eq!(page.matches("<script").count(), 3, "data, Leaflet, viewer");
        assert!(page.contains("&lt;/script&gt;&lt;script&gt;alert(1)"));
        let data = data_of(&page);
        assert_eq!(data["scope"]["name"], name);
        // Only shown cells are in the page; the hidden count is -1, the others as counted.
        assert_eq!(data["cells"]["ids"].as_array().expect("ids").len(), 2);
        let count: Packed = Packed {
            kind: if data["segments"][0]["count"]["type"] == "i16" {
                "i16"
            } else {
                "u8"
            },
            data: data["segments"][0]["count"]["data"]
                .as_str()
                .expect("data")
                .into(),
        };
        assert_eq!(unpack(&count), [12, -1]);
    }
}
