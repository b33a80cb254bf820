//! Aggregation per scope × segment × cell, penetration and lift.

mod concentration;
mod hotspot;
mod places;

pub use concentration::{
    Centre, ConcentrationOptions, Disks, EXACT_MAX_POPULATION, LOCAL_PRIOR, MIN_EXPECTED,
    SegmentConcentration, beta_binomial_draw, beta_binomial_sf, concentration, overdispersion,
    window_p,
};
pub use hotspot::{Neighbours, benjamini_hochberg, getis_ord, upper_tail_p, wilson};
pub use places::CellPlaces;

use crate::boundary::{ALL_SLUG, Area, Boundaries, Located, Locator, NO_AREA};
use crate::index::CellMap;
use crate::segment::Segment;
use h3o::CellIndex;
use rayon::prelude::*;
use std::path::PathBuf;

/// Rows per aggregation task (a multiple of 64, so tasks read whole bitset words).
const ROWS_PER_TASK: usize = 1 << 16;

/// What a scope covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScopeKind {
    /// Every consumer.
    All,
    /// One region.
    Region,
    /// One city.
    City,
}

impl ScopeKind {
    /// Lowercase name, as in outputs.
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeKind::All => "all",
            ScopeKind::Region => "region",
            ScopeKind::City => "city",
        }
    }
}

/// Where a statistic is computed: all consumers, one region or one city.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// Kind.
    pub kind: ScopeKind,
    /// Identifier: `all`, or the area's id, or its folder path when it has none.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Region name (empty for `all` and cities outside every region).
    pub region: String,
    /// City name (empty unless a city).
    pub city: String,
    /// Output folder, relative to the output root.
    pub folder: PathBuf,
    /// Index of the region or city in [`Boundaries`] (`None` for `all`).
    pub area: Option<usize>,
}

impl Scope {
    /// The scope of every consumer, `all`.
    pub fn all() -> Self {
        Scope {
            kind: ScopeKind::All,
            id: ALL_SLUG.into(),
            name: "all".into(),
            region: String::new(),
            city: String::new(),
            folder: PathBuf::from(ALL_SLUG),
            area: None,
        }
    }
}

/// Counts of one scope: per cell (sorted by index) the population and members per segment.
#[derive(Debug, Clone)]
pub struct ScopeCounts {
    /// The scope.
    pub scope: Scope,
    /// Cells holding at least one consumer of the scope, sorted.
    pub cells: Vec<CellIndex>,
    /// `n_c` per cell.
    pub population: Vec<u32>,
    /// `k_c` per cell and segment, row-major: `members[cell * segments + segment]`.
    pub members: Vec<u32>,
    /// Number of segments.
    pub segments: usize,
    /// Per cell, the sum modulo 2³² of its consumers' record keys ([`crate::perturb`]).
    pub population_key: Vec<u32>,
    /// Per cell and segment, the sum of its members' record keys, laid out as `members`.
    pub members_key: Vec<u32>,
    /// For a protected table (`crate::disclosure::Privacy::protect`), its published totals and
    /// which counts are hidden; `None` for true counts.
    pub protection: Option<Protection>,
}

/// What a protected count table publishes beyond its cells.
#[derive(Debug, Clone, PartialEq)]
pub struct Protection {
    /// `N` as published (perturbed on its own, so not the sum of the cells).
    pub population: u64,
    /// `K` per segment as published.
    pub members: Vec<u64>,
    /// Per cell and segment (laid out as `members`): the count is hidden, and the table holds
    /// a neutral stand-in for the statistics instead.
    pub hidden: Vec<bool>,
    /// Occupied cells left out of the table (perturbed population below the minimum count).
    pub left_out: u64,
    /// The true counts behind `members` (same layout). Never published as such: only sets of
    /// cells (the concentration test's windows) are, each perturbed on its own key sum.
    pub exact_members: Vec<u32>,
}

impl ScopeCounts {
    /// A table of true counts whose record keys are all 0 (for counts made by hand: with
    /// [`PrivacyMethod::Perturb`](crate::disclosure::PrivacyMethod) every aggregate then takes
    /// the same row of the perturbation table).
    pub fn new(
        scope: Scope,
        cells: Vec<CellIndex>,
        population: Vec<u32>,
        members: Vec<u32>,
        segments: usize,
    ) -> Self {
        ScopeCounts {
            scope,
            population_key: vec![0; cells.len()],
            members_key: vec![0; members.len()],
            cells,
            population,
            members,
            segments,
            protection: None,
        }
    }

    /// `N`, consumers in the scope (as published, for a protected table).
    pub fn total_population(&self) -> u64 {
        match &self.protection {
            Some(p) => p.population,
            None => self.population.iter().map(|&n| u64::from(n)).sum(),
        }
    }

    /// `K`, members of segment `s` in the scope (as published, for a protected table).
    pub fn total_members(&self, s: usize) -> u64 {
        match &self.protection {
            Some(p) => p.members[s],
            None => (0..self.cells.len())
                .map(|c| u64::from(self.members[c * self.segments + s]))
                .sum(),
        }
    }

    /// `P = K / N` of segment `s` (0 for an empty scope), from the totals as published.
    pub fn base_rate(&self, s: usize) -> f64 {
        crate::stats::penetration(self.total_members(s), self.total_population()).unwrap_or(0.0)
    }

    /// The record-key sum of the whole scope (cells partition it).
    pub fn total_population_key(&self) -> u32 {
        self.population_key
            .iter()
            .fold(0u32, |a, &k| a.wrapping_add(k))
    }

    /// The record-key sum of segment `s`'s members in the scope.
    pub fn total_members_key(&self, s: usize) -> u32 {
        (0..self.cells.len()).fold(0u32, |a, c| {
            a.wrapping_add(self.members_key[c * self.segments + s])
        })
    }

    /// `k_c` of cell index `c` (position in [`Self::cells`]) and segment `s`.
    pub fn members_of(&self, c: usize, s: usize) -> u32 {
        self.members[c * self.segments + s]
    }
}

/// Rounds a figure or a coordinate for output: 6 decimals (about 0.1 m in degrees, as RFC 7946
/// recommends).
pub fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// `x` to 6 significant digits, for p- and q-values (a small p-value rounded to 6 decimals would
/// read 0): the double nearest to the decimal `format!("{x:.5e}")` prints.
///
/// Exact without formatting when `|x|` is scaled to six integer digits by a power of ten that is
/// itself a double (10^-22..10^22) and the scaled value is not within rounding of a tie: the
/// integer is then the printed digits, and one division (or product) by that power gives the
/// nearest double, as parsing does. Other values take the formatting path.
pub fn significant6(x: f64) -> f64 {
    /// 10^0..10^22, every one exactly a double.
    const POWERS: [f64; 23] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
        1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ];
    /// Above every rounding error of the scaled value (its ulp is at most 2^-33).
    const TIE_MARGIN: f64 = 1e-9;
    let a = x.abs();
    let binary_exponent = i32::try_from(a.to_bits() >> 52).unwrap_or(0) - 1023;
    // Zero, subnormals, infinities and NaN (exponent field 0 or 2047) take the formatting path.
    if (-1022..=1023).contains(&binary_exponent) {
        // floor(binary_exponent · log10 2): the decimal exponent of `a` or one below it.
        let decimal_exponent = (binary_exponent * 78_913) >> 18;
        for shift in [5 - decimal_exponent, 4 - decimal_exponent] {
            let Some(&power) = POWERS.get(shift.unsigned_abs() as usize) else {
                break;
            };
            let scaled = if shift >= 0 { a * power } else { a / power };
            if scaled >= 1e6 {
                continue;
            }
            // `scaled` is positive and below 2^20: truncation is its floor, without a libm call.
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "0 < scaled < 1e6"
            )]
            let (whole, nearest) = ((scaled as u32), ((scaled + 0.5) as u32));
            if scaled >= 1e5 && ((scaled - f64::from(whole)) - 0.5).abs() > TIE_MARGIN {
                let digits = f64::from(nearest);
                let rounded = if shift >= 0 {
                    digits / power
                } else {
                    digits * power
                };
                return rounded.copysign(x);
            }
            break;
        }
    }
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    format!("{x:.5e}").parse().unwrap_or(x)
}

/// Penetration `k / n` (`None` when `n = 0`).
pub fn penetration(k: u64, n: u64) -> Option<f64> {
    (n > 0).then(|| k as f64 / n as f64)
}

/// Lift (location quotient) `(k_c / n_c) / (K / N)`; `None` when either rate is undefined or the
/// base rate is 0.
pub fn lift(k: u64, n: u64, big_k: u64, big_n: u64) -> Option<f64> {
    let p = penetration(k, n)?;
    let base = penetration(big_k, big_n)?;
    (base > 0.0).then(|| p / base)
}

/// The scopes of a run, in output order: `all`, then each region followed by its cities, then
/// the cities outside every region.
pub fn scopes(boundaries: &Boundaries) -> Vec<Scope> {
    let mut out = vec![Scope::all()];
    let city_scope = |index: usize, parent: PathBuf, region: &str| {
        let c = &boundaries.cities[index];
        let folder = parent.join(&c.slug);
        Scope {
            kind: ScopeKind::City,
            id: c
                .id
                .clone()
                .unwrap_or_else(|| folder.to_string_lossy().replace('\\', "/")),
            name: c.name.clone(),
            region: region.into(),
            city: c.name.clone(),
            folder,
            area: Some(index),
        }
    };
    for (r, region) in boundaries.regions.iter().enumerate() {
        let folder = PathBuf::from(&region.slug);
        out.push(Scope {
            kind: ScopeKind::Region,
            id: region.id.clone().unwrap_or_else(|| region.slug.clone()),
            name: region.name.clone(),
            region: region.name.clone(),
            city: String::new(),
            folder: folder.clone(),
            area: Some(r),
        });
        for (c, city) in boundaries.cities.iter().enumerate() {
            if city.region == Some(r) {
                out.push(city_scope(c, folder.clone(), &region.name));
            }
        }
    }
    for (c, city) in boundaries.cities.iter().enumerate() {
        if city.region.is_none() {
            out.push(city_scope(c, PathBuf::from(ALL_SLUG), ""));
        }
    }
    out
}

/// The zones of a run: each city, the part of each region outside its cities, and outside every
/// region. Every consumer is in one zone, and every scope is a union of zones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zones {
    cities: u32,
    regions: u32,
}

impl Zones {
    /// The zones of these boundaries.
    pub fn new(boundaries: &Boundaries) -> Self {
        Zones {
            cities: boundaries.cities.len() as u32,
            regions: boundaries.regions.len() as u32,
        }
    }

    /// The zone of a consumer in region `region` and city `city` (indices, or
    /// [`NO_AREA`]): its city, else its region's rest, else outside.
    pub fn of(self, region: u32, city: u32) -> u32 {
        if city != NO_AREA {
            city
        } else if region != NO_AREA {
            self.cities + region
        } else {
            self.outside()
        }
    }

    /// The zone outside every region and city.
    pub fn outside(self) -> u32 {
        self.cities + self.regions
    }
}

/// Counts per zone ([`Zones`]) and cell: `(zone, cell) → [n, k_1, ..., k_S]`, with the record-key
/// sums of each count: the whole of what the per-consumer phase hands to the per-scope phase
/// ([`scope_counts`]).
#[derive(Debug, Clone)]
pub struct ZoneCounts {
    index: CellMap<(u32, CellIndex), usize>,
    keys: Vec<(u32, CellIndex)>,
    counts: Vec<u32>,
    /// Record-key sums, laid out as `counts`.
    record_keys: Vec<u32>,
    width: usize,
}

impl ZoneCounts {
    /// An empty table of `segments` segments.
    pub fn with_segments(segments: usize) -> Self {
        Self::new(1 + segments, 0)
    }

    /// Adds counts to the group of `zone` in `cell`: each entry is a column (0: every consumer,
    /// `1 + s`: segment `s`), a count of consumers and the sum of their record keys (modulo 2³²).
    /// Columns left out add nothing.
    ///
    /// # Panics
    ///
    /// When a column is beyond `S`.
    pub fn add_group(&mut self, (zone, cell): (u32, CellIndex), entries: &[(usize, u32, u32)]) {
        let at = self.slot((zone, cell));
        for &(column, n, k) in entries {
            assert!(column < self.width, "column {column} of {}", self.width);
            self.counts[at + column] += n;
            self.record_keys[at + column] = self.record_keys[at + column].wrapping_add(k);
        }
    }

    /// Number of segments.
    pub fn segments(&self) -> usize {
        self.width - 1
    }

    /// Number of (zone, cell) groups.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// No group.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Consumers counted outside every region and city.
    pub fn outside(&self, zones: Zones) -> u64 {
        self.keys
            .iter()
            .enumerate()
            .filter(|(_, k)| k.0 == zones.outside())
            .map(|(g, _)| u64::from(self.counts[g * self.width]))
            .sum()
    }

    /// Members of segment `s` counted in every zone.
    pub fn total_members(&self, s: usize) -> u64 {
        (0..self.keys.len())
            .map(|g| u64::from(self.counts[g * self.width + 1 + s]))
            .sum()
    }

    fn new(width: usize, capacity: usize) -> Self {
        let mut index = CellMap::default();
        index.reserve(capacity);
        ZoneCounts {
            index,
            keys: Vec::with_capacity(capacity),
            counts: Vec::with_capacity(capacity * width),
            record_keys: Vec::with_capacity(capacity * width),
            width,
        }
    }

    fn slot(&mut self, key: (u32, CellIndex)) -> usize {
        let next = self.keys.len();
        let slot = *self.index.entry(key).or_insert(next);
        if slot == next {
            self.keys.push(key);
            self.counts.resize(self.counts.len() + self.width, 0);
            self.record_keys.resize(self.counts.len(), 0);
        }
        slot * self.width
    }

    /// Counts one consumer with record key `key` at `at` (a slot's population) and `at + 1 + s`.
    fn add(&mut self, at: usize, key: u32) {
        self.counts[at] += 1;
        self.record_keys[at] = self.record_keys[at].wrapping_add(key);
    }

    /// Key positions sorted by cell (then zone), so the keys of any zone taken in this order
    /// are sorted by cell too.
    fn by_cell(&self) -> Vec<usize> {
        let mut order: Vec<(CellIndex, u32, usize)> = self
            .keys
            .iter()
            .enumerate()
            .map(|(g, &(zone, cell))| (cell, zone, g))
            .collect();
        order.par_sort_unstable();
        order.into_iter().map(|(_, _, g)| g).collect()
    }
}

/// A (zone, cell) key of [`ZoneCounts`].
type ZoneKey = (u32, CellIndex);

/// Hash partitions of the (zone, cell) keys in [`count_zones`].
const PARTITIONS: usize = 256;

/// One consumer on its way to its partition: its key and the row its segment bits are in.
#[derive(Debug, Clone, Copy)]
struct Entry {
    cell: CellIndex,
    zone: u32,
    row: u32,
}

/// Each row's segment membership as bits, `words` u64 per row (row-major), read once from the
/// column bitsets in row order.
fn membership_rows(rows: usize, segments: &[Segment]) -> (Vec<u64>, usize) {
    let words = segments.len().div_ceil(64).max(1);
    let mut masks = vec![0u64; rows * words];
    masks
        .par_chunks_mut(64 * words)
        .enumerate()
        .for_each(|(block, out)| {
            for (s, segment) in segments.iter().enumerate() {
                let mut bits = segment.members.words().get(block).copied().unwrap_or(0);
                while bits != 0 {
                    let b = bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    if let Some(word) = out.get_mut(b * words + s / 64) {
                        *word |= 1 << (s % 64);
                    }
                }
            }
        });
    (masks, words)
}

/// Counts `[n, k_1, ..., k_S]` per (zone, cell), as a radix-partitioned hash aggregation: rows
/// are scattered in parallel into [`PARTITIONS`] buckets by the hash of their key, each
/// partition numbers its keys with a table small enough to stay in cache, and then adds its
/// rows into its own range of one table of counts. (One table per task merged into one of
/// millions of keys, as before, spent most of its time on cache misses: 2.9 s for 10 M
/// consumers around US towns.) The table is allocated once, at its final size: on a virtual
/// machine the first write to each fresh 4 KiB page costs a few microseconds, so partitions
/// that counted into tables of their own and were then copied into one paid that twice. Keys
/// come out grouped by partition, each in the order its rows first appear, whatever the thread
/// count.
fn count_zones(
    cells: &[CellIndex],
    record_keys: &[u32],
    zone_of: impl Fn(usize) -> u32 + Sync,
    segments: &[Segment],
) -> ZoneCounts {
    let width = 1 + segments.len();
    let (masks, words) = membership_rows(cells.len(), segments);
    let buckets = scatter(cells, zone_of);
    let partition = |p: usize| buckets.iter().flat_map(move |b| &b[p]);
    // Per partition: its keys, and the group of each of its rows in bucket order.
    let numbered: Vec<(Vec<ZoneKey>, Vec<u32>)> = (0..PARTITIONS)
        .into_par_iter()
        .map(|p| number_keys(partition(p), buckets.iter().map(|b| b[p].len()).sum()))
        .collect();
    let groups: usize = numbered.iter().map(|(keys, _)| keys.len()).sum();
    let mut all = ZoneCounts::new(width, 0);
    all.counts = vec![0; groups * width];
    all.record_keys = vec![0; groups * width];
    let mut ranges = Vec::with_capacity(PARTITIONS);
    let (mut counts, mut sums) = (all.counts.as_mut_slice(), all.record_keys.as_mut_slice());
    for (keys, _) in &numbered {
        let (these, rest) = counts.split_at_mut(keys.len() * width);
        let (these_sums, rest_sums) = sums.split_at_mut(keys.len() * width);
        ranges.push((these, these_sums));
        (counts, sums) = (rest, rest_sums);
    }
    ranges.into_par_iter().zip(&numbered).enumerate().for_each(
        |(p, ((counts, sums), (_, groups)))| {
            for (entry, &group) in partition(p).zip(groups) {
                let at = group as usize * width;
                let key = record_keys[entry.row as usize];
                counts[at] += 1;
                sums[at] = sums[at].wrapping_add(key);
                let row = entry.row as usize * words;
                for (w, &mask) in masks[row..row + words].iter().enumerate() {
                    let mut bits = mask;
                    while bits != 0 {
                        let s = at + 1 + w * 64 + bits.trailing_zeros() as usize;
                        bits &= bits - 1;
                        counts[s] += 1;
                        sums[s] = sums[s].wrapping_add(key);
                    }
                }
            }
        },
    );
    all.keys = numbered.into_iter().flat_map(|(keys, _)| keys).collect();
    all
}

/// The rows' entries in [`PARTITIONS`] buckets by the hash of their (zone, cell) key, per task
/// of [`ROWS_PER_TASK`] rows.
fn scatter(cells: &[CellIndex], zone_of: impl Fn(usize) -> u32 + Sync) -> Vec<Vec<Vec<Entry>>> {
    use std::hash::BuildHasher;
    let hasher = std::hash::BuildHasherDefault::<crate::index::CellHasher>::default();
    cells
        .par_chunks(ROWS_PER_TASK)
        .enumerate()
        .map(|(task, chunk)| {
            let mut buckets = vec![Vec::new(); PARTITIONS];
            for (i, &cell) in (task * ROWS_PER_TASK..).zip(chunk) {
                let entry = Entry {
                    cell,
                    zone: zone_of(i),
                    row: i as u32,
                };
                let p = (hasher.hash_one((entry.zone, entry.cell)) >> 56) as usize % PARTITIONS;
                buckets[p].push(entry);
            }
            buckets
        })
        .collect()
}

/// The distinct keys of the `len` `entries` in order of first appearance, and each entry's
/// position among them.
fn number_keys<'a>(
    entries: impl Iterator<Item = &'a Entry>,
    len: usize,
) -> (Vec<ZoneKey>, Vec<u32>) {
    let mut index: CellMap<ZoneKey, u32> = CellMap::default();
    let (mut keys, mut groups) = (Vec::new(), Vec::with_capacity(len));
    for entry in entries {
        let key = (entry.zone, entry.cell);
        let next = keys.len() as u32;
        let group = *index.entry(key).or_insert(next);
        if group == next {
            keys.push(key);
        }
        groups.push(group);
    }
    (keys, groups)
}

/// Aggregates consumers into counts per scope × cell × segment.
///
/// # Algorithm
///
/// One parallel, hash-partitioned pass over the consumers counts per (zone, cell), where a zone
/// is a city, the rest of a region, or outside every region. A scope is then a union of zones (a region = its own zone and its cities' zones; `all` = every zone), so every
/// consumer is counted once per scope it belongs to and the cells of a scope sum to the scope.
pub fn aggregate(
    boundaries: &Boundaries,
    located: &Located,
    segments: &[Segment],
    record_keys: &[u32],
) -> Vec<ScopeCounts> {
    let zones = Zones::new(boundaries);
    let zone_of = |i: usize| zones.of(located.region[i], located.city[i]);
    let zone_counts = count_zones(&located.cell, record_keys, zone_of, segments);
    scope_counts(boundaries, &zone_counts)
}

/// Every scope's counts (in [`scopes`] order) from the counts per zone and cell.
pub fn scope_counts(boundaries: &Boundaries, zone_counts: &ZoneCounts) -> Vec<ScopeCounts> {
    let zones = Zones::new(boundaries);
    let (n_cities, n_regions) = (zones.cities, zones.regions);
    let segments = zone_counts.segments();
    // The zone keys of each zone in cell order, so a scope visits only its own zones' keys (a
    // region its own and its cities'), never every key of the run once per scope.
    let by_cell = zone_counts.by_cell();
    let mut keys_of_zone: Vec<Vec<usize>> = vec![Vec::new(); zones.outside() as usize + 1];
    for &g in &by_cell {
        keys_of_zone[zone_counts.keys[g].0 as usize].push(g);
    }
    let mut zones_of_region: Vec<Vec<u32>> = (0..n_regions).map(|r| vec![n_cities + r]).collect();
    for (c, city) in boundaries.cities.iter().enumerate() {
        if let Some(r) = city.region {
            zones_of_region[r].push(c as u32);
        }
    }
    scopes(boundaries)
        .into_par_iter()
        .map(|scope| {
            let keys: std::borrow::Cow<'_, [usize]> = match (scope.kind, scope.area) {
                (ScopeKind::Region, Some(r)) => {
                    let mut keys: Vec<usize> = zones_of_region[r]
                        .iter()
                        .flat_map(|&z| keys_of_zone[z as usize].iter().copied())
                        .collect();
                    keys.sort_unstable_by_key(|&g| zone_counts.keys[g].1);
                    keys.into()
                }
                (ScopeKind::City, Some(c)) => keys_of_zone[c].as_slice().into(),
                _ => by_cell.as_slice().into(),
            };
            collect_scope(scope, zone_counts, segments, &keys)
        })
        .collect()
}

/// Counts of one scope from its own consumers: `rows` are their rows in the table and `cells`
/// their cells (at any resolution), in the same order; `record_keys` are indexed by row.
pub fn aggregate_scope(
    scope: Scope,
    (rows, cells): (&[u32], &[CellIndex]),
    segments: &[Segment],
    record_keys: &[u32],
) -> ScopeCounts {
    let width = 1 + segments.len();
    let mut zones = ZoneCounts::new(width, rows.len() / 4);
    for (&row, &cell) in rows.iter().zip(cells) {
        let at = zones.slot((0, cell));
        let key = record_keys[row as usize];
        zones.add(at, key);
        for (s, segment) in segments.iter().enumerate() {
            if segment.members.contains(row as usize) {
                zones.add(at + 1 + s, key);
            }
        }
    }
    collect_scope(scope, &zones, segments.len(), &zones.by_cell())
}

/// The counts of one scope from the zone `keys` (positions in `zones.keys`, sorted by cell) that
/// make it up: the keys of one cell (one per zone) are summed. Most cells lie in one zone, so the
/// first key's counts are copied and only the others added.
fn collect_scope(scope: Scope, zones: &ZoneCounts, segments: usize, keys: &[usize]) -> ScopeCounts {
    let width = 1 + segments;
    let cell_of = |g: usize| zones.keys[g].1;
    debug_assert!(keys.is_sorted_by_key(|&g| cell_of(g)));
    let cells = keys.chunk_by(|&a, &b| cell_of(a) == cell_of(b)).count();
    let mut out = ScopeCounts {
        scope,
        cells: Vec::with_capacity(cells),
        population: Vec::with_capacity(cells),
        members: Vec::with_capacity(cells * segments),
        segments,
        population_key: Vec::with_capacity(cells),
        members_key: Vec::with_capacity(cells * segments),
        protection: None,
    };
    for run in keys.chunk_by(|&a, &b| cell_of(a) == cell_of(b)) {
        let group = |g: usize| {
            let at = g * width..(g + 1) * width;
            (&zones.counts[at.clone()], &zones.record_keys[at])
        };
        let (counts, record_keys) = group(run[0]);
        let start = out.members.len();
        out.cells.push(cell_of(run[0]));
        out.members.extend_from_slice(&counts[1..]);
        out.members_key.extend_from_slice(&record_keys[1..]);
        let (mut population, mut population_key) = (counts[0], record_keys[0]);
        for &g in &run[1..] {
            let (counts, record_keys) = group(g);
            population += counts[0];
            population_key = population_key.wrapping_add(record_keys[0]);
            for (total, &k) in out.members[start..].iter_mut().zip(&counts[1..]) {
                *total += k;
            }
            for (total, &k) in out.members_key[start..].iter_mut().zip(&record_keys[1..]) {
                *total = total.wrapping_add(k);
            }
        }
        out.population.push(population);
        out.population_key.push(population_key);
    }
    out
}

/// Parameters of the hot-spot analysis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HotSpotOptions {
    /// Disk radius K of the binary weights (`grid_disk(i, K)`).
    pub neighbours: u32,
    /// False discovery rate q of the Benjamini–Hochberg test.
    pub fdr: f64,
}

/// Gi* results of one scope: per segment, per cell of its [`ScopeCounts`].
#[derive(Debug, Clone, Default)]
pub struct HotSpots {
    /// Cells of the study area: the FDR family size of every segment of the scope.
    pub study_area_cells: usize,
    /// Figures per segment, in segment order.
    pub segments: Vec<SegmentHotSpots>,
}

/// Gi* figures of one scope × segment, one value per cell holding consumers.
#[derive(Debug, Clone, Default)]
pub struct SegmentHotSpots {
    /// Gi* z-score (its p-value is [`upper_tail_p`] of it).
    pub gi: Vec<f64>,
    /// Benjamini–Hochberg adjusted p-value over the study area.
    pub q_value: Vec<f64>,
    /// Significant, `Gi* > 0` and at least one member.
    pub hot: Vec<bool>,
}

/// The boundaries of a scope: its region or city, or for `all` every region and every city
/// outside the regions.
pub fn scope_areas<'a>(boundaries: &'a Boundaries, scope: &Scope) -> Vec<&'a Area> {
    match (scope.kind, scope.area) {
        (ScopeKind::Region, Some(r)) => vec![&boundaries.regions[r]],
        (ScopeKind::City, Some(c)) => vec![&boundaries.cities[c]],
        _ => boundaries
            .regions
            .iter()
            .chain(boundaries.cities.iter().filter(|c| c.region.is_none()))
            .collect(),
    }
}

/// Where the centres of the cells near a run's consumers lie: for every cell within K rings of a
/// cell holding consumers, the region and city a consumer at its centre would get.
#[derive(Debug, Clone, Default)]
pub struct CellCentres {
    /// Cells, sorted.
    cells: Vec<CellIndex>,
    /// Region and city of each cell's centre ([`NO_AREA`] if none).
    located: Vec<(u32, u32)>,
    /// Ring count K the cells were gathered with.
    rings: u32,
}

impl CellCentres {
    /// Locates the centres of the cells within `rings` of any cell of `occupied`.
    ///
    /// # Runtime
    ///
    /// One `grid_disk` per occupied cell and one located centre per distinct cell of their union
    /// ([`Locator::locate_points`]): O(occupied cells × ring size), never O(area).
    pub fn new(locator: &Locator, occupied: &[CellIndex], rings: u32) -> Self {
        let mut cells: Vec<CellIndex> = occupied
            .par_iter()
            .flat_map_iter(|c| c.grid_disk_safe(rings))
            .collect();
        cells.par_sort_unstable();
        cells.dedup();
        let (lat, lng): (Vec<f64>, Vec<f64>) = cells
            .par_iter()
            .map(|&c| {
                let centre = h3o::LatLng::from(c);
                (centre.lat(), centre.lng())
            })
            .unzip();
        let (region, city) = locator.locate_points(&lat, &lng);
        let located = region.into_iter().zip(city).collect();
        CellCentres {
            cells,
            located,
            rings,
        }
    }

    /// Whether the centre of `cell` lies in `scope` (as a consumer there would be counted:
    /// `all` takes any region or city).
    pub fn in_scope(&self, cell: CellIndex, scope: &Scope) -> bool {
        let Ok(at) = self.cells.binary_search(&cell) else {
            return false;
        };
        let (region, city) = self.located[at];
        match (scope.kind, scope.area) {
            (ScopeKind::Region, Some(r)) => region == r as u32,
            (ScopeKind::City, Some(c)) => city == c as u32,
            _ => region != NO_AREA || city != NO_AREA,
        }
    }
}

/// The study area of a scope, from its data: the cells holding at least one of its consumers, plus
/// the cells within K rings of those whose centre lies in the scope (see [`CellCentres`]), sorted.
///
/// # Runtime
///
/// O(occupied cells × ring size): empty land or sea far from every consumer never enters, however
/// large the scope's polygons.
pub fn study_area(counts: &ScopeCounts, centres: &CellCentres) -> Vec<CellIndex> {
    let mut cells = counts.cells.clone();
    for &c in &counts.cells {
        cells.extend(
            c.grid_disk_safe(centres.rings)
                .filter(|&n| centres.in_scope(n, &counts.scope)),
        );
    }
    cells.sort_unstable();
    cells.dedup();
    cells
}

/// Gi* hot spots of every scope × segment × cell (see [`getis_ord`] for the definition).
pub fn hot_spots(
    centres: &CellCentres,
    scopes: &[ScopeCounts],
    options: HotSpotOptions,
) -> Vec<HotSpots> {
    scopes
        .par_iter()
        .map(|counts| scope_hot_spots(counts, centres, options))
        .collect()
}

/// Gi* hot spots of one scope, every segment (in parallel) and cell; `centres` must have been
/// gathered with `options.neighbours` rings around (at least) this scope's cells.
pub fn scope_hot_spots(
    counts: &ScopeCounts,
    centres: &CellCentres,
    options: HotSpotOptions,
) -> HotSpots {
    debug_assert_eq!(centres.rings, options.neighbours);
    let area = study_area(counts, centres);
    let neighbours = Neighbours::new(&area, options.neighbours);
    let position: Vec<usize> = counts
        .cells
        .iter()
        .map(|c| {
            area.binary_search(c)
                .expect("consumer cells are in the area")
        })
        .collect();
    // Each segment keeps only the figures of the cells holding consumers; the whole-area
    // vectors live for one segment at a time.
    let segments = (0..counts.segments)
        .into_par_iter()
        .map(|s| {
            let mut x = vec![0.0; area.len()];
            for (c, &at) in position.iter().enumerate() {
                x[at] = f64::from(counts.members_of(c, s));
            }
            let gi = getis_ord(&x, &neighbours);
            let p: Vec<f64> = gi.iter().map(|&z| upper_tail_p(z)).collect();
            let q = benjamini_hochberg(&p);
            let hot = position
                .iter()
                .enumerate()
                .map(|(c, &at)| {
                    q[at] <= options.fdr && gi[at] > 0.0 && counts.members_of(c, s) >= 1
                })
                .collect();
            SegmentHotSpots {
                gi: position.iter().map(|&at| gi[at]).collect(),
                q_value: position.iter().map(|&at| q[at]).collect(),
                hot,
            }
        })
        .collect();
    HotSpots {
        study_area_cells: area.len(),
        segments,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_group_adds_only_the_columns_given_and_wraps_key_sums() {
        let at_place = |lat, lng| {
            h3o::LatLng::new(lat, lng)
                .expect("a place")
                .to_cell(h3o::Resolution::Eight)
        };
        let (cell, other) = (at_place(46.5, 6.6), at_place(47.0, 7.0));
        let mut zones = ZoneCounts::with_segments(3);
        zones.add_group((0, cell), &[(0, 5, u32::MAX), (2, 2, 7)]);
        zones.add_group((0, cell), &[(0, 1, 3), (3, 1, 1)]);
        zones.add_group((1, other), &[(0, 4, 0), (2, 4, 0)]);
        assert_eq!(zones.len(), 2);
        assert_eq!(zones.total_members(0), 0);
        assert_eq!(zones.total_members(1), 6);
        assert_eq!(zones.total_members(2), 1);
        let at = zones.slot((0, cell));
        assert_eq!(&zones.counts[at..at + 4], &[6, 0, 2, 1]);
        assert_eq!(&zones.record_keys[at..at + 4], &[2, 0, 7, 1]);
    }

    #[test]
    #[should_panic(expected = "column 4 of 4")]
    fn add_group_refuses_a_column_beyond_the_segments() {
        let cell = h3o::LatLng::new(46.5, 6.6)
            .expect("a place")
            .to_cell(h3o::Resolution::Eight);
        ZoneCounts::with_segments(3).add_group((0, cell), &[(4, 1, 1)]);
    }

    fn printed_and_parsed(x: f64) -> f64 {
        format!("{x:.5e}").parse().expect("a number")
    }

    #[test]
    fn significant6_matches_printing_at_ties_and_powers_of_ten() {
        for digits in [
            100_000.0, 123_456.5, 999_999.5, 999_999.4, 314_159.5, 500_000.5,
        ] {
            for exponent in -30..30 {
                for x in [digits * 10f64.powi(exponent), digits / 10f64.powi(exponent)] {
                    assert_eq!(
                        significant6(x).to_bits(),
                        printed_and_parsed(x).to_bits(),
                        "{x:e}"
                    );
                    assert_eq!(significant6(-x).to_bits(), printed_and_parsed(-x).to_bits());
                }
            }
        }
        for x in [
            1.0,
            0.1,
            1e-300,
            5e-324,
            f64::MAX,
            f64::MIN_POSITIVE,
            0.999_999_5,
        ] {
            assert_eq!(
                significant6(x).to_bits(),
                printed_and_parsed(x).to_bits(),
                "{x:e}"
            );
        }
        assert_eq!(significant6(0.0).to_bits(), 0.0f64.to_bits());
        assert!(significant6(f64::NAN).is_nan());
        assert_eq!(
            significant6(f64::INFINITY).to_bits(),
            f64::INFINITY.to_bits()
        );
    }

    proptest::proptest! {
        #[test]
        fn significant6_equals_printing_then_parsing(bits in proptest::prelude::any::<u64>()) {
            let x = f64::from_bits(bits);
            proptest::prop_assume!(x.is_finite() && x != 0.0);
            proptest::prop_assert_eq!(significant6(x).to_bits(), printed_and_parsed(x).to_bits());
        }

        #[test]
        fn significant6_equals_printing_for_probabilities(x in 1e-40f64..1.0) {
            proptest::prop_assert_eq!(significant6(x).to_bits(), printed_and_parsed(x).to_bits());
        }
    }

    proptest::proptest! {
        /// Every scope's counts and record-key sums per cell equal a count row by row, with
        /// enough distinct (zone, cell) keys to fill every partition of `count_zones`.
        #[test]
        fn aggregate_equals_counting_row_by_row(
            rows in proptest::collection::vec(
                (0usize..721, 0u8..3, 0u8..4, proptest::prelude::any::<u32>()),
                0..3000,
            ),
        ) {
            use std::collections::BTreeMap;
            let (b, _, occupied) = hand_made();
            let pool: Vec<CellIndex> = occupied[0].grid_disk(15);
            let located = Located {
                cell: rows.iter().map(|r| pool[r.0]).collect(),
                region: rows.iter().map(|r| if r.1 == 2 { NO_AREA } else { 0 }).collect(),
                city: rows.iter().map(|r| if r.1 == 0 { 0 } else { NO_AREA }).collect(),
            };
            let record_keys: Vec<u32> = rows.iter().map(|r| r.3).collect();
            let segments: Vec<Segment> = (0..2u8)
                .map(|s| Segment {
                    name: format!("s{s}"),
                    filter: String::new(),
                    members: crate::segment::Bitset::from_predicate(&rows, |r| r.2 >> s & 1 == 1),
                })
                .collect();
            let counts = aggregate(&b, &located, &segments, &record_keys);
            for scope in &counts {
                // cell → [n, k_0, k_1] and their record-key sums.
                let mut expected: BTreeMap<CellIndex, ([u32; 3], [u32; 3])> = BTreeMap::new();
                for (i, r) in rows.iter().enumerate() {
                    let inside = match (scope.scope.kind, scope.scope.area) {
                        (ScopeKind::Region, Some(_)) => located.region[i] == 0,
                        (ScopeKind::City, Some(_)) => located.city[i] == 0,
                        _ => true,
                    };
                    if !inside {
                        continue;
                    }
                    let entry = expected.entry(located.cell[i]).or_default();
                    for (j, counted) in [true, r.2 & 1 == 1, r.2 & 2 == 2].into_iter().enumerate() {
                        if counted {
                            entry.0[j] += 1;
                            entry.1[j] = entry.1[j].wrapping_add(r.3);
                        }
                    }
                }
                proptest::prop_assert_eq!(&scope.cells, &expected.keys().copied().collect::<Vec<_>>());
                for (c, (n, keys)) in expected.values().enumerate() {
                    proptest::prop_assert_eq!(scope.population[c], n[0]);
                    proptest::prop_assert_eq!(scope.population_key[c], keys[0]);
                    proptest::prop_assert_eq!(&scope.members[c * 2..c * 2 + 2], &n[1..]);
                    proptest::prop_assert_eq!(&scope.members_key[c * 2..c * 2 + 2], &keys[1..]);
                }
            }
        }
    }

    #[test]
    fn rates_are_defined_or_none() {
        assert_eq!(penetration(2, 5), Some(0.4));
        assert_eq!(penetration(0, 0), None);
        assert_eq!(lift(2, 5, 4, 20), Some(2.0));
        assert_eq!(lift(1, 5, 0, 20), None);
    }

    /// Valley (a box) holding Town (a smaller box); consumers in a cell deep inside Town, in a
    /// cell on Valley's western edge and in a cell far outside both.
    fn hand_made() -> (Boundaries, Locator, Vec<CellIndex>) {
        use crate::boundary::{BoundaryOptions, BoundaryText};
        let regions = r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"Valley"},"geometry":{"type":"Polygon","coordinates":[[[20.0,10.0],[20.2,10.0],[20.2,10.2],[20.0,10.2],[20.0,10.0]]]}}]}"#;
        let cities = r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"Town"},"geometry":{"type":"Polygon","coordinates":[[[20.05,10.05],[20.15,10.05],[20.15,10.15],[20.05,10.15],[20.05,10.05]]]}}]}"#;
        let b = Boundaries::load(
            Some(BoundaryText {
                file: "r",
                text: regions,
            }),
            Some(BoundaryText {
                file: "c",
                text: cities,
            }),
            &BoundaryOptions::default(),
        )
        .expect("valid");
        let locator = Locator::new(&b, h3o::Resolution::Eight);
        let cell = |lat: f64, lng: f64| {
            h3o::LatLng::new(lat, lng)
                .expect("finite")
                .to_cell(h3o::Resolution::Eight)
        };
        let occupied = vec![cell(10.1, 20.1), cell(10.1, 20.0005), cell(12.0, 22.0)];
        (b, locator, occupied)
    }

    #[test]
    fn study_areas_are_the_occupied_cells_and_their_rings_inside_the_scope() {
        use geo::{Contains, Coord};
        let (b, locator, occupied) = hand_made();
        let centres = CellCentres::new(&locator, &occupied, 1);
        let scopes = scopes(&b);
        let located = locator.locate(&[10.1, 10.1, 12.0], &[20.1, 20.0005, 22.0]);
        assert_eq!(located.cell, occupied);
        let mut sizes = Vec::new();
        let inside = |cell: CellIndex, area: &Area| {
            let c = h3o::LatLng::from(cell);
            area.geometry.contains(&Coord {
                x: c.lng(),
                y: c.lat(),
            })
        };
        for scope in &scopes {
            let mine: Vec<CellIndex> = occupied
                .iter()
                .zip(located.region.iter().zip(&located.city))
                .filter(|(_, (r, c))| match (scope.kind, scope.area) {
                    (ScopeKind::Region, Some(a)) => **r == a as u32,
                    (ScopeKind::City, Some(a)) => **c == a as u32,
                    _ => true,
                })
                .map(|(&cell, _)| cell)
                .collect();
            let counts = ScopeCounts::new(
                scope.clone(),
                mine.clone(),
                vec![1; mine.len()],
                vec![1; mine.len()],
                1,
            );
            let area = study_area(&counts, &centres);
            let areas = scope_areas(&b, scope);
            let mut expected = mine.clone();
            for &c in &mine {
                expected.extend(
                    c.grid_disk::<Vec<_>>(1)
                        .into_iter()
                        .filter(|&n| areas.iter().any(|a| inside(n, a))),
                );
            }
            expected.sort_unstable();
            expected.dedup();
            assert_eq!(area, expected, "{}", scope.name);
            sizes.push(area.len());
        }
        // By hand: Town, its deep cell and six neighbours; Valley, the same seven plus the edge
        // cell and those of its neighbours whose centres lie east of lng 20.0; `all`, Valley's
        // cells plus the far cell alone (its neighbours' centres lie in no boundary).
        // (three of the edge cell's six neighbours: measured with h3o, checked above against geo).
        assert_eq!(sizes, vec![12, 11, 7]);
    }

    #[test]
    fn gi_star_on_a_study_area_equals_the_definition() {
        let (b, locator, occupied) = hand_made();
        let all = scopes(&b).remove(0);
        // The deep Town cell, its whole disk and the edge cell hold consumers.
        let mut cells: Vec<CellIndex> = occupied[0].grid_disk(1);
        cells.push(occupied[1]);
        cells.sort_unstable();
        let members: Vec<u32> = cells.iter().map(|c| (u64::from(*c) % 7) as u32).collect();
        let counts = ScopeCounts::new(all, cells.clone(), vec![20; cells.len()], members, 1);
        let centres = CellCentres::new(&locator, &counts.cells, 1);
        let area = study_area(&counts, &centres);
        let x: Vec<f64> = area
            .iter()
            .map(|c| {
                counts
                    .cells
                    .binary_search(c)
                    .map_or(0.0, |i| f64::from(counts.members_of(i, 0)))
            })
            .collect();
        let want = hotspot::tests::brute_force(&x, &hotspot::tests::binary_weights(&area));
        let got = scope_hot_spots(
            &counts,
            &centres,
            HotSpotOptions {
                neighbours: 1,
                fdr: 0.05,
            },
        );
        for (c, cell) in counts.cells.iter().enumerate() {
            let at = area
                .binary_search(cell)
                .expect("occupied cells are in the area");
            assert!((got.segments[0].gi[c] - want[at]).abs() < 1e-9);
        }
        assert_eq!(got.study_area_cells, area.len());
    }
}
