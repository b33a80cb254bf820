//! A deterministic generator of realistic datasets: clustered consumers, irregular boundaries,
//! segments, and planted hot spots recorded so tests can check they are found.
//!
//! The random numbers come from SplitMix64 (Steele, Lea & Flood 2014), kept here in a few lines so
//! that a seed gives the same dataset forever, whatever version of a random-number crate is around.
//! Consumers are generated in fixed chunks, each with its own stream, so the output is the same for
//! any thread count.

use h3o::CellIndex;
use rayon::prelude::*;
use std::f64::consts::TAU;
use std::fmt::Write as _;
use std::io::{self, Write};

/// Rows generated per chunk (one random stream each).
const CHUNK_ROWS: usize = 1 << 16;
/// Kilometres per degree of latitude.
const KM_PER_DEG: f64 = 111.32;
/// The study box: regions tile it exactly.
const LNG_MIN: f64 = 6.0;
const LNG_MAX: f64 = 10.0;
const LAT_MIN: f64 = 45.8;
const LAT_MAX: f64 = 47.8;
/// Where the region borders cross.
const LNG_MID: f64 = 8.0;
const LAT_MID: f64 = 46.8;

/// A small, fast, seedable random stream (SplitMix64).
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A stream from a seed.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u = 1.0 - self.unit();
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (TAU * v).cos()
    }

    /// Index drawn with the given weights.
    pub fn pick(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = self.unit() * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }
}

/// How large the regions are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Extent {
    /// Four regions tiling the study box (about 16,000 km² each), as in the sample.
    #[default]
    City,
    /// Four regions of about 210,000 km² each (5° × 5°) around the same cities, with long
    /// irregular coastlines and borders (3,000+ vertices per region), a lake (a hole) and islands
    /// (MultiPolygons): huge, mostly empty regions shaped like real ones.
    Country,
}

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct SynthOptions {
    /// Seed of every random choice.
    pub seed: u64,
    /// Number of consumers.
    pub consumers: usize,
    /// Number of cities, [`BASE_CITIES`] to [`MAX_CITIES`]: the ten of the sample, then smaller
    /// ones in the gaps between them.
    pub cities: usize,
    /// Size and shape of the regions (the consumers and cities are the same either way).
    pub extent: Extent,
    /// Which concentrations are planted.
    pub plants: Plants,
}

/// The planted concentrations of a world.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Plants {
    /// The sample's: three per named segment, 0.6 km across, 60% of their consumers turned into
    /// members.
    #[default]
    Sample,
    /// As many, in the same places, of varied size (radius 0.3 to 1.5 km) and strength (2% to
    /// 40% of their consumers turned into members, most of them weak), to measure power.
    Varied,
    /// None, and attributes independent of location: the null world (the same geography).
    Null,
}

impl Default for SynthOptions {
    fn default() -> Self {
        SynthOptions {
            seed: 42,
            consumers: 100_000,
            cities: BASE_CITIES,
            extent: Extent::City,
            plants: Plants::Sample,
        }
    }
}

/// A city of the synthetic world.
#[derive(Debug, Clone)]
pub struct City {
    /// Name.
    pub name: &'static str,
    /// Index of its region.
    pub region: usize,
    /// Centre latitude.
    pub lat: f64,
    /// Centre longitude.
    pub lng: f64,
    /// Nominal radius in km.
    pub radius_km: f64,
    /// Harmonic phases that make its outline irregular.
    phases: [f64; 2],
}

/// A city's name, region, centre latitude and longitude, radius in km.
type CitySpec = (&'static str, usize, f64, f64, f64);

impl City {
    fn new(&(name, region, lat, lng, radius_km): &CitySpec, rng: &mut SplitMix64) -> Self {
        City {
            name,
            region,
            lat,
            lng,
            radius_km,
            phases: [rng.unit() * TAU, rng.unit() * TAU],
        }
    }
}

/// A planted concentration of one segment.
#[derive(Debug, Clone)]
pub struct HotSpot {
    /// Segment name.
    pub segment: &'static str,
    /// Centre latitude.
    pub lat: f64,
    /// Centre longitude.
    pub lng: f64,
    /// Radius in km.
    pub radius_km: f64,
    /// Share of its consumers turned into members of its segment.
    pub strength: f64,
    /// City it lies in.
    pub city: &'static str,
}

const REGION_NAMES: [&str; 4] = ["Westmark", "Eastvale", "Southdown", "Lakeshore"];
/// Cities of the sample; the planted hot spots lie in them.
pub const BASE_CITIES: usize = 10;
/// Most cities a world can have.
pub const MAX_CITIES: usize = CITY_SPECS.len();
/// (name, region, lat, lng, radius km); region 0 = north-west, 1 = north-east, 2 = south-west,
/// 3 = south-east. The first [`BASE_CITIES`] are the sample's.
const CITY_SPECS: [CitySpec; 20] = [
    ("Ashford", 0, 47.35, 6.9, 11.0),
    ("Brookhaven", 0, 47.2, 7.45, 7.0),
    ("Cedar Falls", 0, 47.55, 7.4, 5.0),
    ("Dunmore", 1, 47.3, 8.6, 12.0),
    ("Elmsworth", 1, 47.45, 9.35, 6.5),
    ("Fairport", 1, 47.1, 9.1, 5.5),
    ("Glenrock", 2, 46.3, 6.8, 8.0),
    ("Isola", 2, 46.25, 7.5, 5.0),
    ("Lakeview", 3, 46.35, 8.7, 9.0),
    ("Millbrook", 3, 46.2, 9.4, 6.0),
    ("Northgate", 0, 47.0, 6.4, 4.0),
    ("Oakridge", 0, 47.65, 6.35, 3.5),
    ("Pinecrest", 0, 46.95, 7.7, 4.0),
    ("Queensbury", 1, 47.65, 8.3, 4.0),
    ("Riverton", 1, 47.0, 8.35, 4.5),
    ("Stonebridge", 1, 47.7, 9.7, 3.5),
    ("Thornbury", 2, 46.6, 6.35, 4.0),
    ("Upton", 2, 46.0, 7.2, 3.5),
    ("Valemont", 3, 46.6, 9.0, 4.0),
    ("Westbrook", 3, 45.95, 8.4, 3.5),
];
/// Named segments and their filters; each gets planted hot spots.
pub const NAMED_SEGMENTS: [(&str, &str); 4] = [
    (
        "female-road-amateurs",
        "gender = 'F' AND discipline = 'road' AND level = 'amateur' AND age BETWEEN 25 AND 40",
    ),
    ("mountain-pros", "discipline = 'mountain' AND level = 'pro'"),
    ("lapsed-big-spenders", "loyalty = 'lapsed' AND spend >= 300"),
    (
        "gravel-beginners",
        "discipline = 'gravel' AND level = 'beginner'",
    ),
];
const HOTSPOTS_PER_SEGMENT: usize = 3;
const HOTSPOT_RADIUS_KM: f64 = 0.6;
/// Share of consumers inside a hot spot who are turned into members of its segment.
const HOTSPOT_STRENGTH: f64 = 0.6;

/// The true membership of each cell of a world (see [`World::truth`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Truth {
    /// Cells holding consumers, sorted.
    pub cells: Vec<CellIndex>,
    /// Consumers per cell.
    pub consumers: Vec<u64>,
    /// Per cell and named segment (row-major, [`NAMED_SEGMENTS`] order) the sum of the true
    /// shares of its consumers: the expected members.
    pub share_sums: Vec<f64>,
}

impl Truth {
    /// The true share of named segment `s` over every consumer.
    pub fn overall_share(&self, s: usize) -> f64 {
        let n: u64 = self.consumers.iter().sum();
        let k: f64 = self
            .share_sums
            .iter()
            .skip(s)
            .step_by(NAMED_SEGMENTS.len())
            .sum();
        k / n as f64
    }

    /// The true share of named segment `s` in cell position `c`.
    pub fn share(&self, c: usize, s: usize) -> f64 {
        self.share_sums[c * NAMED_SEGMENTS.len() + s] / self.consumers[c] as f64
    }

    /// As CSV: `segment,h3,consumers,true_share,true_lift` per named segment and cell.
    pub fn csv(&self) -> String {
        let mut out = String::from("segment,h3,consumers,true_share,true_lift\n");
        for (s, (name, _)) in NAMED_SEGMENTS.iter().enumerate() {
            let overall = self.overall_share(s);
            for (c, cell) in self.cells.iter().enumerate() {
                let share = self.share(c, s);
                let _ = writeln!(
                    out,
                    "{name},{cell},{},{share:.6},{:.6}",
                    self.consumers[c],
                    share / overall
                );
            }
        }
        out
    }
}

/// A real populated place that consumers can be drawn around (see [`World::around_places`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Place {
    /// Latitude in degrees.
    pub lat: f64,
    /// Longitude in degrees.
    pub lng: f64,
    /// Inhabitants: the place's share of consumers and its spread.
    pub population: f64,
}

/// The synthetic world for a seed: cities and planted hot spots.
#[derive(Debug, Clone)]
pub struct World {
    options: SynthOptions,
    /// Real places consumers are drawn around instead of the synthetic cities, with the
    /// cumulative population share of each (empty for the synthetic world).
    places: Vec<(Place, f64)>,
    /// Cities.
    pub cities: Vec<City>,
    /// Planted hot spots.
    pub hotspots: Vec<HotSpot>,
}

fn offset(lat: f64, lng: f64, east_km: f64, north_km: f64) -> (f64, f64) {
    (
        lat + north_km / KM_PER_DEG,
        lng + east_km / (KM_PER_DEG * lat.to_radians().cos()),
    )
}

/// Offset of a region border from its straight line, zero where the borders cross.
fn wiggle(t: f64, t0: f64, amplitude: f64) -> f64 {
    amplitude * ((t - t0) * 9.0).sin() + amplitude * 0.5 * ((t - t0) * 23.0).sin()
}

impl World {
    /// Builds the world of `options.seed`.
    pub fn new(options: SynthOptions) -> Self {
        let mut rng = SplitMix64::new(options.seed ^ 0x5EED_C17E);
        let mut cities: Vec<City> = CITY_SPECS[..BASE_CITIES]
            .iter()
            .map(|spec| City::new(spec, &mut rng))
            .collect();
        let mut hotspots = Vec::new();
        for (s, (segment, _)) in NAMED_SEGMENTS.iter().enumerate() {
            for h in 0..HOTSPOTS_PER_SEGMENT {
                let city = &cities[(s * HOTSPOTS_PER_SEGMENT + h * 3) % BASE_CITIES];
                let angle = rng.unit() * TAU;
                let dist = city.radius_km * (0.1 + 0.2 * rng.unit());
                let (lat, lng) = offset(city.lat, city.lng, dist * angle.cos(), dist * angle.sin());
                // Drawn from their own stream, so the sample's draws stay as they were.
                let mut varied = SplitMix64::new(options.seed ^ (hotspots.len() as u64 + 1) << 20);
                let (radius_km, strength) = match options.plants {
                    Plants::Sample | Plants::Null => (HOTSPOT_RADIUS_KM, HOTSPOT_STRENGTH),
                    Plants::Varied => (
                        0.3 + 1.2 * varied.unit(),
                        0.02 + 0.38 * varied.unit().powi(2),
                    ),
                };
                hotspots.push(HotSpot {
                    segment,
                    lat,
                    lng,
                    radius_km,
                    strength,
                    city: city.name,
                });
            }
        }
        // Drawn after the hot spots, so the sample's world is the same with more cities.
        let extra = options.cities.clamp(BASE_CITIES, MAX_CITIES);
        cities.extend(
            CITY_SPECS[BASE_CITIES..extra]
                .iter()
                .map(|spec| City::new(spec, &mut rng)),
        );
        if options.plants == Plants::Null {
            hotspots.clear();
        }
        World {
            options,
            places: Vec::new(),
            cities,
            hotspots,
        }
    }

    /// The true probability that a consumer at (`lat`, `lng`) is a member of the named segment
    /// `segment` (one of [`NAMED_SEGMENTS`]; `None` for any other): the attribute model of
    /// [`Self::write_consumers`] and its planted concentrations, in closed form.
    ///
    /// # Model
    ///
    /// The neighbourhood fields set the discipline, level and age mixes; a plant covering the
    /// point turns a consumer into a member of its segment with its strength, in plant order.
    /// Plants of female-road-amateurs, mountain-pros and gravel-beginners each set discipline
    /// and level, so the last one that fired decides membership of those three; lapsed-big-
    /// spenders plants touch only loyalty and spend.
    pub fn true_share(&self, segment: &str, lat: f64, lng: f64) -> Option<f64> {
        let s = NAMED_SEGMENTS
            .iter()
            .position(|(name, _)| *name == segment)?;
        let (f1, f2) = self.fields(lat, lng);
        let normal_cdf = |z: f64| 0.5 * libm::erfc(-z / std::f64::consts::SQRT_2);
        let level = [0.5 - 0.1 * f2, 0.38, 0.12 + 0.1 * f2];
        let base = match s {
            0 => {
                let mean = 40.0 + 6.0 * f2;
                let age =
                    0.995 * (normal_cdf((40.5 - mean) / 13.0) - normal_cdf((24.5 - mean) / 13.0));
                0.48 * (0.45 - 0.15 * f1) * level[1] * age
            }
            1 => (0.3 + 0.15 * f1) * level[2],
            2 => {
                let big = |l: usize| 1.0 - normal_cdf((300f64.ln() - 5.0 - 0.3 * l as f64) / 0.6);
                0.2 * (0..3).map(|l| level[l] * big(l)).sum::<f64>()
            }
            _ => 0.25 * level[0],
        };
        let covering = self.hotspots.iter().filter(|h| {
            let (dy, dx) = (
                (lat - h.lat) * KM_PER_DEG,
                (lng - h.lng) * KM_PER_DEG * h.lat.to_radians().cos(),
            );
            dx * dx + dy * dy <= h.radius_km * h.radius_km
        });
        let lapsed = NAMED_SEGMENTS[2].0;
        // Plant by plant, in order: each that fires decides, else the share so far stands.
        let mut share = base;
        let plants: Vec<&HotSpot> = covering
            .filter(|h| (s == 2) == (h.segment == lapsed))
            .collect();
        for h in plants {
            let own = f64::from(u8::from(h.segment == NAMED_SEGMENTS[s].0));
            share = h.strength * own + (1.0 - h.strength) * share;
        }
        Some(share)
    }

    /// The smooth neighbourhood fields in [-1, 1] that shift the attribute mixes (0 in the null
    /// world).
    fn fields(&self, lat: f64, lng: f64) -> (f64, f64) {
        if self.options.plants == Plants::Null {
            return (0.0, 0.0);
        }
        (
            (lat * 37.0).sin() * (lng * 23.0).cos(),
            (lat * 19.0 + lng * 29.0).sin(),
        )
    }

    /// A world whose consumers live around real `places` (in proportion to their population,
    /// spread over `2 km × sqrt(population / 50,000)`, between 0.8 and 12 km, normally), with
    /// the same attribute model; no hot spots are planted. Its boundaries are the user's.
    pub fn around_places(options: SynthOptions, places: &[Place]) -> Self {
        let total: f64 = places.iter().map(|p| p.population.max(0.0)).sum();
        let mut running = 0.0;
        let places = places
            .iter()
            .map(|p| {
                running += p.population.max(0.0) / total;
                (*p, running)
            })
            .collect();
        World {
            places,
            hotspots: Vec::new(),
            ..World::new(options)
        }
    }

    fn city_ring(city: &City, scale: f64, centre: (f64, f64)) -> Vec<(f64, f64)> {
        let n = 48;
        let mut ring: Vec<(f64, f64)> = (0..n)
            .map(|i| {
                let t = TAU * f64::from(i) / f64::from(n);
                let r = city.radius_km
                    * scale
                    * (1.0
                        + 0.18 * (3.0 * t + city.phases[0]).sin()
                        + 0.1 * (5.0 * t + city.phases[1]).sin());
                let (lat, lng) = offset(centre.0, centre.1, r * t.cos(), r * t.sin());
                (lng, lat)
            })
            .collect();
        ring.push(ring[0]);
        ring
    }

    /// Regions as a GeoJSON FeatureCollection: four quadrants of the box with wiggly shared
    /// borders.
    pub fn regions_geojson(&self) -> String {
        if self.options.extent == Extent::Country {
            return country_regions_geojson(self.options.seed);
        }
        let steps = 40;
        let vertical: Vec<(f64, f64)> = (0..=steps)
            .map(|i| {
                let lat = LAT_MIN + (LAT_MAX - LAT_MIN) * f64::from(i) / f64::from(steps);
                (LNG_MID + wiggle(lat, LAT_MID, 0.06), lat)
            })
            .collect();
        let horizontal: Vec<(f64, f64)> = (0..=steps)
            .map(|i| {
                let lng = LNG_MIN + (LNG_MAX - LNG_MIN) * f64::from(i) / f64::from(steps);
                (lng, LAT_MID + wiggle(lng, LNG_MID, 0.04))
            })
            .collect();
        let half = steps as usize / 2;
        let (v_south, v_north) = (&vertical[..=half], &vertical[half..]);
        let (h_west, h_east) = (&horizontal[..=half], &horizontal[half..]);
        let rev = |s: &[(f64, f64)]| s.iter().rev().copied().collect::<Vec<_>>();
        // Each ring: outer corner(s), then along the borders through the centre.
        let nw: Vec<(f64, f64)> =
            [vec![(LNG_MIN, LAT_MAX)], h_west.to_vec(), v_north.to_vec()].concat();
        let ne: Vec<(f64, f64)> =
            [rev(v_north), h_east.to_vec(), vec![(LNG_MAX, LAT_MAX)]].concat();
        let sw: Vec<(f64, f64)> =
            [vec![(LNG_MIN, LAT_MIN)], v_south.to_vec(), rev(h_west)].concat();
        let se: Vec<(f64, f64)> = [rev(h_east), rev(v_south), vec![(LNG_MAX, LAT_MIN)]].concat();
        let features: Vec<String> = [nw, ne, sw, se]
            .into_iter()
            .enumerate()
            .map(|(i, mut ring)| {
                ring.push(ring[0]);
                feature(
                    &format!("\"id\":\"r{}\",\"name\":\"{}\"", i + 1, REGION_NAMES[i]),
                    "Polygon",
                    &polygon_json(&[ring]),
                )
            })
            .collect();
        collection(&features)
    }

    /// The regions and cities, loaded as a run would load them.
    pub fn boundaries(&self) -> crate::boundary::Boundaries {
        self.load_boundaries(true)
    }

    /// The regions alone, loaded as a run would load them.
    pub fn region_boundaries(&self) -> crate::boundary::Boundaries {
        self.load_boundaries(false)
    }

    fn load_boundaries(&self, with_cities: bool) -> crate::boundary::Boundaries {
        use crate::boundary::{Boundaries, BoundaryOptions, BoundaryText};
        let (regions, cities) = (self.regions_geojson(), self.cities_geojson());
        let text = |file, text| BoundaryText { file, text };
        Boundaries::load(
            Some(text("regions.geojson", &regions)),
            with_cities.then(|| text("cities.geojson", &cities)),
            &BoundaryOptions::default(),
        )
        .expect("the synthetic boundaries are valid")
    }

    /// Cities as a GeoJSON FeatureCollection. Lakeview has a lake (a hole); Isola has an island
    /// (a MultiPolygon). Every other city names its region by id; the rest are placed by position.
    pub fn cities_geojson(&self) -> String {
        let features: Vec<String> = self
            .cities
            .iter()
            .enumerate()
            .map(|(i, city)| {
                let main = Self::city_ring(city, 1.0, (city.lat, city.lng));
                let mut props = format!("\"name\":\"{}\"", city.name);
                if i % 2 == 0 {
                    let _ = write!(props, ",\"region\":\"r{}\"", city.region + 1);
                }
                match city.name {
                    "Lakeview" => {
                        let centre = offset(city.lat, city.lng, city.radius_km * 0.35, 0.0);
                        let mut lake = Self::city_ring(city, 0.22, centre);
                        lake.reverse();
                        feature(&props, "Polygon", &polygon_json(&[main, lake]))
                    }
                    "Isola" => {
                        let centre = offset(city.lat, city.lng, city.radius_km * 1.6, 0.0);
                        let island = Self::city_ring(city, 0.2, centre);
                        let parts =
                            format!("[{},{}]", polygon_json(&[main]), polygon_json(&[island]));
                        feature(&props, "MultiPolygon", &parts)
                    }
                    _ => feature(&props, "Polygon", &polygon_json(&[main])),
                }
            })
            .collect();
        collection(&features)
    }

    /// The segments file: a schema, the named segments and the discipline × level × gender grid.
    pub fn segments_toml() -> String {
        let mut out = String::from(
            "# Segments of the synthetic sample.\n\n[schema]\nage = \"numeric\"\nspend = \"numeric\"\n",
        );
        for (name, filter) in NAMED_SEGMENTS {
            let _ = write!(
                out,
                "\n[[segment]]\nname = \"{name}\"\nfilter = \"{filter}\"\n"
            );
        }
        out.push_str("\n[grid]\ndimensions = [\"discipline\", \"level\", \"gender\"]\n");
        out
    }

    /// Stores as CSV (`id,name,lat,lon`): two or three per city, near its centre.
    pub fn stores_csv(&self) -> String {
        let mut rng = SplitMix64::new(self.options.seed ^ 0x0057_0E5E);
        let mut out = String::from("id,name,lat,lon\n");
        let mut n = 0;
        for city in &self.cities {
            let count = if city.radius_km >= 8.0 { 3 } else { 2 };
            for (k, label) in ["Central", "North", "South"].iter().take(count).enumerate() {
                n += 1;
                let angle = rng.unit() * TAU;
                let dist = if k == 0 {
                    0.3
                } else {
                    city.radius_km * (0.3 + 0.3 * rng.unit())
                };
                let north = match k {
                    1 => dist.abs(),
                    2 => -dist.abs(),
                    _ => dist * angle.sin(),
                };
                let (lat, lng) = offset(city.lat, city.lng, dist * angle.cos(), north);
                let _ = writeln!(out, "s{n:02},{} {label},{lat:.6},{lng:.6}", city.name);
            }
        }
        out
    }

    /// The planted hot spots as CSV: segment, lat, lon, radius_km, city.
    pub fn planted_csv(&self) -> String {
        let mut out = String::from("segment,lat,lon,radius_km,strength,city\n");
        for h in &self.hotspots {
            let _ = writeln!(
                out,
                "{},{:.6},{:.6},{:.3},{:.3},{}",
                h.segment, h.lat, h.lng, h.radius_km, h.strength, h.city
            );
        }
        out
    }

    /// The truth per H3 cell of `resolution` over every consumer: how many live there and the
    /// sum of their true shares per named segment (see [`Self::true_share`]), at the
    /// coordinates as written (6 decimals).
    pub fn truth(&self, resolution: h3o::Resolution) -> Truth {
        let chunks = self.options.consumers.div_ceil(CHUNK_ROWS);
        let named = NAMED_SEGMENTS.len();
        let parts: Vec<Vec<(CellIndex, [f64; 4])>> = (0..chunks)
            .into_par_iter()
            .map(|c| {
                let mut rows = Vec::new();
                self.each_consumer(c, |_, lat, lng, _| {
                    let (lat, lng) = (crate::stats::round6(lat), crate::stats::round6(lng));
                    let Ok(ll) = h3o::LatLng::new(lat, lng) else {
                        return;
                    };
                    let mut shares = [0.0; 4];
                    for (s, (name, _)) in NAMED_SEGMENTS.iter().enumerate() {
                        shares[s] = self.true_share(name, lat, lng).unwrap_or(0.0);
                    }
                    rows.push((ll.to_cell(resolution), shares));
                });
                rows
            })
            .collect();
        let mut rows: Vec<(CellIndex, [f64; 4])> = parts.into_iter().flatten().collect();
        rows.sort_by_key(|r| r.0);
        let mut truth = Truth::default();
        for (cell, shares) in rows {
            if truth.cells.last() != Some(&cell) {
                truth.cells.push(cell);
                truth.consumers.push(0);
                truth.share_sums.extend([0.0; 4]);
            }
            *truth.consumers.last_mut().expect("pushed") += 1;
            let at = truth.share_sums.len() - named;
            for (sum, share) in truth.share_sums[at..].iter_mut().zip(shares) {
                *sum += share;
            }
        }
        truth
    }

    /// Writes the consumers CSV (`id,lat,lon,gender,age,discipline,level,loyalty,spend`).
    ///
    /// # Errors
    ///
    /// The writer's I/O error.
    ///
    /// # Runtime
    ///
    /// Chunks of 65,536 rows are generated in parallel, a batch at a time, and written in order.
    pub fn write_consumers(&self, out: &mut impl Write) -> io::Result<()> {
        out.write_all(b"id,lat,lon,gender,age,discipline,level,loyalty,spend\n")?;
        let chunks = self.options.consumers.div_ceil(CHUNK_ROWS);
        let batch = rayon::current_num_threads() * 4;
        for first in (0..chunks).step_by(batch) {
            let texts: Vec<Vec<u8>> = (first..(first + batch).min(chunks))
                .into_par_iter()
                .map(|c| self.chunk(c))
                .collect();
            for t in texts {
                out.write_all(&t)?;
            }
        }
        Ok(())
    }

    /// Generates chunk `c`'s consumers in order, with their 0-based row numbers.
    fn each_consumer(&self, c: usize, mut emit: impl FnMut(usize, f64, f64, &Consumer)) {
        let start = c * CHUNK_ROWS;
        let end = (start + CHUNK_ROWS).min(self.options.consumers);
        let mut rng =
            SplitMix64::new(self.options.seed ^ (c as u64 + 1).wrapping_mul(0xA076_1D64_78BD_642F));
        let weights: Vec<f64> = self.cities.iter().map(|c| c.radius_km.powi(2)).collect();
        for row in start..end {
            let (lat, lng) = self.position(&mut rng, &weights);
            let consumer = self.attributes(&mut rng, lat, lng);
            emit(row, lat, lng, &consumer);
        }
    }

    fn chunk(&self, c: usize) -> Vec<u8> {
        let mut text = String::with_capacity(CHUNK_ROWS * 72);
        self.each_consumer(c, |row, lat, lng, consumer| {
            let _ = write!(
                text,
                "c{:08},{lat:.6},{lng:.6},{},",
                row + 1,
                consumer.gender
            );
            if let Some(age) = consumer.age {
                let _ = write!(text, "{age}");
            }
            let _ = writeln!(
                text,
                ",{},{},{},{:.2}",
                consumer.discipline, consumer.level, consumer.loyalty, consumer.spend
            );
        });
        text.into_bytes()
    }

    /// Writes the consumers as Parquet: the same rows and values as [`Self::write_consumers`]
    /// (coordinates rounded to 6 decimals, spend to 2, exactly as the CSV text reads back), with
    /// `lat`/`lon` as doubles, `age` as a nullable integer and text columns as strings, in row
    /// groups of 262,144 rows, Snappy-compressed.
    ///
    /// # Errors
    ///
    /// The writer's error, as an I/O error.
    pub fn write_consumers_parquet(&self, out: impl Write + Send) -> io::Result<()> {
        use arrow_array::builder::{Float64Builder, Int32Builder, StringBuilder};
        use arrow_array::{ArrayRef, RecordBatch};
        use arrow_schema::{DataType, Field, Schema};
        use std::sync::Arc;
        let text = |name: &str| Field::new(name, DataType::Utf8, false);
        let schema = Arc::new(Schema::new(vec![
            text("id"),
            Field::new("lat", DataType::Float64, false),
            Field::new("lon", DataType::Float64, false),
            text("gender"),
            Field::new("age", DataType::Int32, true),
            text("discipline"),
            text("level"),
            text("loyalty"),
            Field::new("spend", DataType::Float64, false),
        ]));
        let properties = parquet::file::properties::WriterProperties::builder()
            .set_compression(parquet::basic::Compression::SNAPPY)
            .set_max_row_group_row_count(Some(1 << 18))
            .build();
        let mut writer =
            parquet::arrow::ArrowWriter::try_new(out, Arc::clone(&schema), Some(properties))
                .map_err(io::Error::other)?;
        let rounded = |x: f64, text: &str| text.parse::<f64>().unwrap_or(x);
        let chunks = self.options.consumers.div_ceil(CHUNK_ROWS);
        let batch = rayon::current_num_threads() * 4;
        for first in (0..chunks).step_by(batch) {
            let batches: Vec<RecordBatch> = (first..(first + batch).min(chunks))
                .into_par_iter()
                .map(|c| {
                    let mut id = StringBuilder::new();
                    let (mut lat, mut lng, mut spend) = (
                        Float64Builder::new(),
                        Float64Builder::new(),
                        Float64Builder::new(),
                    );
                    let mut age = Int32Builder::new();
                    let mut texts: [StringBuilder; 4] = Default::default();
                    let mut buffer = String::new();
                    self.each_consumer(c, |row, la, ln, consumer| {
                        buffer.clear();
                        let _ = write!(buffer, "c{:08}", row + 1);
                        id.append_value(&buffer);
                        lat.append_value(rounded(la, &format!("{la:.6}")));
                        lng.append_value(rounded(ln, &format!("{ln:.6}")));
                        age.append_option(consumer.age.map(|a| a as i32));
                        for (builder, value) in texts.iter_mut().zip([
                            consumer.gender,
                            consumer.discipline,
                            consumer.level,
                            consumer.loyalty,
                        ]) {
                            builder.append_value(value);
                        }
                        spend.append_value(rounded(
                            consumer.spend,
                            &format!("{:.2}", consumer.spend),
                        ));
                    });
                    let [mut gender, mut discipline, mut level, mut loyalty] = texts;
                    let columns: Vec<ArrayRef> = vec![
                        Arc::new(id.finish()),
                        Arc::new(lat.finish()),
                        Arc::new(lng.finish()),
                        Arc::new(gender.finish()),
                        Arc::new(age.finish()),
                        Arc::new(discipline.finish()),
                        Arc::new(level.finish()),
                        Arc::new(loyalty.finish()),
                        Arc::new(spend.finish()),
                    ];
                    RecordBatch::try_new(Arc::clone(&schema), columns)
                        .expect("columns follow the schema")
                })
                .collect();
            for b in &batches {
                writer.write(b).map_err(io::Error::other)?;
            }
        }
        writer.close().map_err(io::Error::other)?;
        Ok(())
    }

    fn position(&self, rng: &mut SplitMix64, weights: &[f64]) -> (f64, f64) {
        if !self.places.is_empty() {
            return self.near_place(rng);
        }
        let kind = rng.unit();
        if kind < 0.86 {
            let city = &self.cities[rng.pick(weights)];
            let angle = rng.unit() * TAU;
            // Density falls off exponentially with distance from the centre.
            let dist = -(1.0 - rng.unit()).ln() * 0.42 * city.radius_km;
            offset(city.lat, city.lng, dist * angle.cos(), dist * angle.sin())
        } else if kind < 0.995 {
            (
                LAT_MIN + (LAT_MAX - LAT_MIN) * rng.unit(),
                LNG_MIN + (LNG_MAX - LNG_MIN) * rng.unit(),
            )
        } else {
            // A few consumers outside every region, east of the box.
            (
                LAT_MIN + (LAT_MAX - LAT_MIN) * rng.unit(),
                LNG_MAX + 0.05 + 0.4 * rng.unit(),
            )
        }
    }

    fn near_place(&self, rng: &mut SplitMix64) -> (f64, f64) {
        let u = rng.unit();
        let at = self
            .places
            .partition_point(|(_, cumulative)| *cumulative < u)
            .min(self.places.len() - 1);
        let place = self.places[at].0;
        let spread = (2.0 * (place.population / 50_000.0).sqrt()).clamp(0.8, 12.0);
        let (lat, lng) = offset(
            place.lat,
            place.lng,
            spread * rng.normal(),
            spread * rng.normal(),
        );
        // Wrap across the antimeridian; stay off the poles.
        let lng = if lng > 180.0 {
            lng - 360.0
        } else if lng < -180.0 {
            lng + 360.0
        } else {
            lng
        };
        (lat.clamp(-89.0, 89.0), lng)
    }

    fn attributes(&self, rng: &mut SplitMix64, lat: f64, lng: f64) -> Consumer {
        // Smooth neighbourhood fields shift the mixes from place to place.
        let (f1, f2) = self.fields(lat, lng);
        let gender = ["F", "M", "X"][rng.pick(&[0.48, 0.48, 0.04])];
        let age = (rng.unit() >= 0.005).then(|| {
            (40.0 + 6.0 * f2 + 13.0 * rng.normal())
                .clamp(16.0, 90.0)
                .round() as u32
        });
        let discipline =
            ["road", "mountain", "gravel"][rng.pick(&[0.45 - 0.15 * f1, 0.3 + 0.15 * f1, 0.25])];
        let level_index = rng.pick(&[0.5 - 0.1 * f2, 0.38, 0.12 + 0.1 * f2]);
        let level = ["beginner", "amateur", "pro"][level_index];
        let loyalty = ["member", "lapsed", "none"][rng.pick(&[0.25, 0.2, 0.55])];
        let spend = (5.0 + 0.3 * level_index as f64 + 0.6 * rng.normal()).exp();
        let mut consumer = Consumer {
            gender,
            age,
            discipline,
            level,
            loyalty,
            spend,
        };
        for h in &self.hotspots {
            let (dy, dx) = (
                (lat - h.lat) * KM_PER_DEG,
                (lng - h.lng) * KM_PER_DEG * h.lat.to_radians().cos(),
            );
            if dx * dx + dy * dy <= h.radius_km * h.radius_km && rng.unit() < h.strength {
                consumer.make_member(h.segment, rng);
            }
        }
        consumer
    }
}

struct Consumer {
    gender: &'static str,
    age: Option<u32>,
    discipline: &'static str,
    level: &'static str,
    loyalty: &'static str,
    spend: f64,
}

impl Consumer {
    fn make_member(&mut self, segment: &str, rng: &mut SplitMix64) {
        match segment {
            "female-road-amateurs" => {
                self.gender = "F";
                self.discipline = "road";
                self.level = "amateur";
                self.age = Some(25 + (rng.unit() * 16.0) as u32);
            }
            "mountain-pros" => {
                self.discipline = "mountain";
                self.level = "pro";
            }
            "lapsed-big-spenders" => {
                self.loyalty = "lapsed";
                self.spend = 300.0 + 400.0 * rng.unit();
            }
            _ => {
                self.discipline = "gravel";
                self.level = "beginner";
            }
        }
    }
}

/// The points from `a` to `b` (both included) of a fractal line: `2^depth` segments by midpoint
/// displacement perpendicular to each segment, by up to 15% of its length, halving per level.
fn fractal(a: (f64, f64), b: (f64, f64), depth: u32, rng: &mut SplitMix64) -> Vec<(f64, f64)> {
    let mut line = vec![a, b];
    let mut amplitude = 0.3;
    for _ in 0..depth {
        let mut finer = Vec::with_capacity(line.len() * 2);
        for w in line.windows(2) {
            let (p, q) = (w[0], w[1]);
            let shift = amplitude * (rng.unit() - 0.5);
            finer.push(p);
            finer.push((
                f64::midpoint(p.0, q.0) - (q.1 - p.1) * shift,
                f64::midpoint(p.1, q.1) + (q.0 - p.0) * shift,
            ));
        }
        finer.push(b);
        line = finer;
        amplitude *= 0.5;
    }
    line
}

/// A closed fractal ring around `(lng, lat)`: a square of half-size `half` degrees with fractal
/// sides.
pub(crate) fn fractal_ring(
    lng: f64,
    lat: f64,
    half: f64,
    depth: u32,
    rng: &mut SplitMix64,
) -> Vec<(f64, f64)> {
    let corners = [
        (lng - half, lat - half),
        (lng + half, lat - half),
        (lng + half, lat + half),
        (lng - half, lat + half),
    ];
    let mut ring = Vec::new();
    for i in 0..4 {
        let mut side = fractal(corners[i], corners[(i + 1) % 4], depth, rng);
        side.pop();
        ring.extend(side);
    }
    ring.push(ring[0]);
    ring
}

/// Regions of [`Extent::Country`]: four 5° × 5° quadrants around the study box's centre, sharing
/// fractal borders (each generated once and walked both ways, so they tile exactly), with
/// fractal coasts, a lake in the north-east and an island off the east and the west coasts.
fn country_regions_geojson(seed: u64) -> String {
    let mut rng = SplitMix64::new(seed ^ 0xC0A5_7000);
    let (centre, half) = ((LNG_MID, LAT_MID), 5.0);
    let at = |dx: f64, dy: f64| (centre.0 + dx * half, centre.1 + dy * half);
    let (north, east, south, west) = (at(0.0, 1.0), at(1.0, 0.0), at(0.0, -1.0), at(-1.0, 0.0));
    let (ne, se, sw, nw) = (at(1.0, 1.0), at(1.0, -1.0), at(-1.0, -1.0), at(-1.0, 1.0));
    let mut line = |a, b, depth| fractal(a, b, depth, &mut rng);
    let to_n = line(centre, north, 10);
    let to_e = line(centre, east, 10);
    let to_s = line(centre, south, 10);
    let to_w = line(centre, west, 10);
    let coast: Vec<Vec<(f64, f64)>> = [
        (east, ne),
        (ne, north),
        (north, nw),
        (nw, west),
        (west, sw),
        (sw, south),
        (south, se),
        (se, east),
    ]
    .into_iter()
    .map(|(a, b)| line(a, b, 10))
    .collect();
    let rev = |v: &[(f64, f64)]| v.iter().rev().copied().collect::<Vec<_>>();
    let join = |parts: &[Vec<(f64, f64)>]| {
        let mut ring: Vec<(f64, f64)> = Vec::new();
        for part in parts {
            ring.extend(&part[usize::from(!ring.is_empty())..]);
        }
        ring
    };
    let rings = [
        join(&[to_e.clone(), coast[0].clone(), coast[1].clone(), rev(&to_n)]),
        join(&[to_n, coast[2].clone(), coast[3].clone(), rev(&to_w)]),
        join(&[to_w, coast[4].clone(), coast[5].clone(), rev(&to_s)]),
        join(&[to_s, coast[6].clone(), coast[7].clone(), rev(&to_e)]),
    ];
    let lake = fractal_ring(centre.0 + 3.5, centre.1 + 3.5, 0.5, 7, &mut rng);
    let east_island = fractal_ring(centre.0 + 6.5, centre.1 + 2.5, 0.4, 7, &mut rng);
    let west_island = fractal_ring(centre.0 - 6.5, centre.1 - 2.5, 0.4, 7, &mut rng);
    let names = [
        "Northeastland",
        "Northwestland",
        "Southwestland",
        "Southeastland",
    ];
    let features: Vec<String> = rings
        .into_iter()
        .enumerate()
        .map(|(i, ring)| {
            let props = format!("\"id\":\"r{}\",\"name\":\"{}\"", i + 1, names[i]);
            let polygons = match i {
                0 => format!(
                    "[{},{}]",
                    polygon_json(&[ring, lake.clone()]),
                    polygon_json(std::slice::from_ref(&east_island))
                ),
                2 => format!(
                    "[{},{}]",
                    polygon_json(&[ring]),
                    polygon_json(std::slice::from_ref(&west_island))
                ),
                _ => format!("[{}]", polygon_json(&[ring])),
            };
            feature(&props, "MultiPolygon", &polygons)
        })
        .collect();
    collection(&features)
}

fn polygon_json(rings: &[Vec<(f64, f64)>]) -> String {
    let rings: Vec<String> = rings
        .iter()
        .map(|ring| {
            let pts: Vec<String> = ring
                .iter()
                .map(|(x, y)| format!("[{x:.6},{y:.6}]"))
                .collect();
            format!("[{}]", pts.join(","))
        })
        .collect();
    format!("[{}]", rings.join(","))
}

fn feature(props: &str, kind: &str, coordinates: &str) -> String {
    format!(
        "{{\"type\":\"Feature\",\"properties\":{{{props}}},\"geometry\":{{\"type\":\"{kind}\",\"coordinates\":{coordinates}}}}}"
    )
}

fn collection(features: &[String]) -> String {
    format!(
        "{{\"type\":\"FeatureCollection\",\"features\":[\n{}\n]}}\n",
        features.join(",\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Membership of the named segments, as their filters read the attributes.
    fn is_member(consumer: &Consumer, s: usize) -> bool {
        match s {
            0 => {
                consumer.gender == "F"
                    && consumer.discipline == "road"
                    && consumer.level == "amateur"
                    && consumer.age.is_some_and(|a| (25..=40).contains(&a))
            }
            1 => consumer.discipline == "mountain" && consumer.level == "pro",
            2 => consumer.loyalty == "lapsed" && (consumer.spend * 100.0).round() >= 30_000.0,
            _ => consumer.discipline == "gravel" && consumer.level == "beginner",
        }
    }

    #[test]
    fn true_shares_are_the_drawn_membership_rates() {
        for plants in [Plants::Varied, Plants::Null] {
            let world = World::new(SynthOptions {
                seed: 3,
                consumers: 300_000,
                plants,
                ..SynthOptions::default()
            });
            // Per segment, inside and outside plants: observed members against the sum of the
            // true shares (a z-score within 4.5).
            let mut tally = [[(0.0f64, 0.0f64); 2]; 4];
            for c in 0..world.options.consumers.div_ceil(CHUNK_ROWS) {
                world.each_consumer(c, |_, lat, lng, consumer| {
                    let planted = usize::from(world.hotspots.iter().any(|h| {
                        let (dy, dx) = (
                            (lat - h.lat) * KM_PER_DEG,
                            (lng - h.lng) * KM_PER_DEG * h.lat.to_radians().cos(),
                        );
                        dx * dx + dy * dy <= h.radius_km * h.radius_km
                    }));
                    for (s, (name, _)) in NAMED_SEGMENTS.iter().enumerate() {
                        let share = world.true_share(name, lat, lng).expect("named");
                        let t = &mut tally[s][planted];
                        t.0 += f64::from(u8::from(is_member(consumer, s)));
                        t.1 += share;
                    }
                });
            }
            for (s, sides) in tally.iter().enumerate() {
                for &(observed, expected) in sides {
                    if expected > 0.0 {
                        let z = (observed - expected) / expected.sqrt();
                        assert!(
                            z.abs() < 4.5,
                            "{plants:?} segment {s}: {observed} vs {expected}"
                        );
                    }
                }
            }
            assert_eq!(world.true_share("gravel-amateur-f", 46.5, 7.5), None);
        }
    }

    #[test]
    fn same_seed_same_bytes() {
        let opts = SynthOptions {
            seed: 7,
            consumers: 70_000,
            ..SynthOptions::default()
        };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        World::new(opts).write_consumers(&mut a).expect("write");
        World::new(opts).write_consumers(&mut b).expect("write");
        assert_eq!(a, b);
        assert_eq!(std::io::BufRead::lines(&a[..]).count(), 70_001);
    }

    #[test]
    fn country_extent_regions_are_large_and_real_shaped() {
        use geo::ChamberlainDuquetteArea;
        let options = SynthOptions {
            consumers: 20_000,
            cities: MAX_CITIES,
            extent: Extent::Country,
            ..SynthOptions::default()
        };
        let b = World::new(options).region_boundaries();
        assert!(b.warnings.is_empty(), "{:?}", b.warnings);
        for r in &b.regions {
            let km2 = r.geometry.chamberlain_duquette_unsigned_area() / 1e6;
            let vertices: usize = r.geometry.iter().map(|p| p.exterior().0.len()).sum();
            assert!((100_000.0..1_000_000.0).contains(&km2), "{} {km2}", r.name);
            assert!(vertices > 3_000, "{} {vertices}", r.name);
        }
        assert!(b.regions.iter().any(|r| r.geometry.0.len() == 2), "islands");
        assert!(
            b.regions
                .iter()
                .any(|r| !r.geometry.0[0].interiors().is_empty()),
            "a lake"
        );
        // Locate on these regions equals geo: tests/it/properties.rs.
    }
}
