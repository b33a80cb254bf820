//! Micro-markets: where a segment's share is materially above the scope's. The selected centres
//! of the concentration test (`stats::concentration`) contribute their best windows; cells whose
//! own 1-ring share is below `q0` are trimmed; what remains splits into H3-connected components,
//! kept when their pooled lift is at least λ0 and their members at least the minimum count. Each
//! is dissolved into one shape, with its figures, a stable id and a rank.

use crate::disclosure::Privacy;
use crate::stats::{
    ConcentrationOptions, Disks, Scope, ScopeCounts, SegmentConcentration, beta_binomial_draw,
    concentration, lift, penetration,
};
use crate::synth::SplitMix64;
use geo::{Centroid, MultiPolygon};
use h3o::CellIndex;
use h3o::geom::SolventBuilder;
use rayon::prelude::*;

/// One micro-market.
#[derive(Debug, Clone)]
pub struct MicroMarket {
    /// Stable id: scope id, segment and smallest cell, joined by `:`.
    pub id: String,
    /// 1 = the most expected excess members among its segment's micro-markets in the scope.
    pub rank: usize,
    /// Segment index.
    pub segment: usize,
    /// Its cells, sorted.
    pub cells: Vec<CellIndex>,
    /// Members reached, `Σ k_c`.
    pub members: u64,
    /// Population reached, `Σ n_c`.
    pub population: u64,
    /// Members over the scope's consumers, for the lift.
    pub scope_members: u64,
    /// Consumers of the scope.
    pub scope_population: u64,
    /// Members beyond the scope's rate: `k − P·n`.
    pub excess_members: f64,
    /// Window radii of the selected centres that built it, sorted, distinct.
    pub radii: Vec<u32>,
    /// Selected centres whose windows it holds.
    pub centres: usize,
    /// Smallest `p_c` of those centres.
    pub p_value: f64,
    /// Smallest Benjamini–Hochberg q-value of those centres.
    pub q_value: f64,
    /// Its score: the Bernoulli log-likelihood ratio against `q0` over the design effect.
    pub score: f64,
    /// Family-wise p-value over replicate worlds (with `--permutations`).
    pub p_fwer: Option<f64>,
    /// Whether one micro-market of the segment at resolution r − 1 holds at least half its
    /// members (with `--stability`; [`crate::market::mark_stability`]).
    pub stable_coarser: Option<bool>,
    /// The same at resolution r + 1.
    pub stable_finer: Option<bool>,
    /// Total area of its cells in km².
    pub area_km2: f64,
    /// The cells dissolved (holes kept), in degrees.
    pub geometry: MultiPolygon<f64>,
    /// Centroid latitude of the geometry.
    pub centroid_lat: f64,
    /// Centroid longitude of the geometry.
    pub centroid_lng: f64,
}

impl MicroMarket {
    /// Penetration `Σk / Σn`.
    pub fn penetration(&self) -> Option<f64> {
        penetration(self.members, self.population)
    }

    /// Lift over the scope's base rate.
    pub fn lift(&self) -> Option<f64> {
        lift(
            self.members,
            self.population,
            self.scope_members,
            self.scope_population,
        )
    }
}

/// A component of one scope × segment, before it is dissolved: positions in the scope's cells.
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    /// Positions of its cells, sorted.
    pub cells: Vec<u32>,
    /// `Σ k`.
    pub members: u64,
    /// `Σ n`.
    pub population: u64,
    /// Radii of the contributing centres, sorted, distinct.
    pub radii: Vec<u32>,
    /// Contributing centres.
    pub centres: usize,
    /// Their smallest p.
    pub p_value: f64,
    /// Their smallest q.
    pub q_value: f64,
    /// Log-likelihood ratio against `q0` over the design effect.
    pub score: f64,
}

/// The Bernoulli log-likelihood ratio of `k` of `n` against share `q0` (0 unless `k/n > q0`),
/// divided by the design effect `(n + ρ (Σ n_j² − n)) / n`.
pub fn score(k: u64, n: u64, squares: u64, q0: f64, rho: f64) -> f64 {
    let (kf, nf) = (k as f64, n as f64);
    if n == 0 || kf <= q0 * nf {
        return 0.0;
    }
    let term = |x: f64, share: f64| {
        if x > 0.0 {
            x * (x / (nf * share)).ln()
        } else {
            0.0
        }
    };
    let llr = term(kf, q0) + term(nf - kf, 1.0 - q0);
    llr / ((nf + rho * squares.saturating_sub(n) as f64) / nf)
}

/// The components of one scope × segment from its test result (see the module docs); `k` and the
/// disks in the order of the scope's cells.
pub fn segment_components(
    cells: &[CellIndex],
    k: &[u32],
    disks: &Disks,
    found: &SegmentConcentration,
    options: &ConcentrationOptions,
    min_members: u64,
) -> Vec<Component> {
    let q0 = found.threshold;
    let mut window: Vec<u32> = found
        .selected
        .iter()
        .flat_map(|c| disks.disk(c.cell as usize, c.radius).iter().copied())
        .collect();
    window.sort_unstable();
    window.dedup();
    let kept: Vec<u32> = window
        .into_iter()
        .filter(|&j| {
            let ring = disks.disk(j as usize, 1);
            let k1: u64 = ring.iter().map(|&i| u64::from(k[i as usize])).sum();
            k1 as f64 >= q0 * disks.population(j as usize, 1) as f64
        })
        .collect();
    let kept_cells: Vec<CellIndex> = kept.iter().map(|&j| cells[j as usize]).collect();
    let mut out = Vec::new();
    for group in components(&kept_cells) {
        let positions: Vec<u32> = group
            .iter()
            .map(|cell| {
                cells
                    .binary_search(cell)
                    .expect("kept cells are the scope's") as u32
            })
            .collect();
        let members: u64 = positions.iter().map(|&j| u64::from(k[j as usize])).sum();
        let population: u64 = positions
            .iter()
            .map(|&j| disks.population(j as usize, 0))
            .sum();
        if (members as f64) < options.min_lift * found.base_rate * population as f64
            || members < min_members
        {
            continue;
        }
        let squares: u64 = positions
            .iter()
            .map(|&j| disks.population(j as usize, 0).pow(2))
            .sum();
        let mut radii = Vec::new();
        let (mut centres, mut p_value, mut q_value) = (0, 1.0f64, 1.0f64);
        for c in &found.selected {
            let window = disks.disk(c.cell as usize, c.radius);
            if window.iter().any(|j| positions.binary_search(j).is_ok()) {
                centres += 1;
                radii.push(c.radius);
                p_value = p_value.min(c.p_value);
                q_value = q_value.min(c.q_value);
            }
        }
        radii.sort_unstable();
        radii.dedup();
        out.push(Component {
            score: score(members, population, squares, q0, found.rho),
            cells: positions,
            members,
            population,
            radii,
            centres,
            p_value,
            q_value,
        });
    }
    out
}

/// Connected components of `cells` (sorted, distinct), two cells being adjacent when one is in
/// the other's `grid_disk(·, 1)`: H3 cells of one resolution that touch share an edge, so this
/// is edge adjacency. Components are sorted by their smallest cell; each is sorted.
///
/// # Runtime
///
/// One `grid_disk` and binary searches per cell (union–find with path halving).
pub fn components(cells: &[CellIndex]) -> Vec<Vec<CellIndex>> {
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut parent: Vec<usize> = (0..cells.len()).collect();
    for (i, cell) in cells.iter().enumerate() {
        for neighbour in cell.grid_disk::<Vec<_>>(1) {
            if let Ok(j) = cells.binary_search(&neighbour) {
                let (a, b) = (root(&mut parent, i), root(&mut parent, j));
                // The smaller index becomes the root, so roots are smallest cells.
                parent[a.max(b)] = a.min(b);
            }
        }
    }
    let mut groups: Vec<Vec<CellIndex>> = Vec::new();
    let mut slot = vec![usize::MAX; cells.len()];
    for (i, &cell) in cells.iter().enumerate() {
        let r = root(&mut parent, i);
        if slot[r] == usize::MAX {
            slot[r] = groups.len();
            groups.push(Vec::new());
        }
        groups[slot[r]].push(cell);
    }
    groups
}

/// Dissolves cells into their outline with h3o's solvent (holes kept).
///
/// # Errors
///
/// h3o's error when cells repeat or mix resolutions.
pub fn dissolve(cells: &[CellIndex]) -> Result<MultiPolygon<f64>, h3o::error::DissolutionError> {
    SolventBuilder::new()
        .build()
        .dissolve(cells.iter().copied())
}

/// The test and the components of one segment of a scope: what micro-markets are made of.
#[derive(Debug, Clone, Default)]
pub struct SegmentMarkets {
    /// The concentration test.
    pub found: SegmentConcentration,
    /// Its components, before the minimum count is applied to the shapes.
    pub components: Vec<Component>,
}

/// The members of segment `s` per cell of a scope.
pub fn segment_members(counts: &ScopeCounts, s: usize) -> Vec<u32> {
    (0..counts.cells.len())
        .map(|c| counts.members_of(c, s))
        .collect()
}

/// For a protected table, the published members of segment `s` in every disk of `disks`: each
/// disk perturbed as one set ([`Disks::published_sums`]); `None` for true counts.
pub fn published_windows(counts: &ScopeCounts, disks: &Disks, s: usize) -> Option<Vec<u64>> {
    counts.protection.as_ref().map(|p| {
        let of = |values: &[u32]| -> Vec<u32> {
            (0..counts.cells.len())
                .map(|c| values[c * counts.segments + s])
                .collect()
        };
        disks.published_sums(&of(&p.exact_members), &of(&counts.members_key))
    })
}

/// The concentration test and components of every segment of a scope (segments in parallel).
pub fn detect(
    counts: &ScopeCounts,
    disks: &Disks,
    options: &ConcentrationOptions,
    privacy: Privacy,
) -> Vec<SegmentMarkets> {
    (0..counts.segments)
        .into_par_iter()
        .map(|s| {
            let k = segment_members(counts, s);
            let found = concentration(
                &k,
                published_windows(counts, disks, s),
                disks,
                options,
                Some(counts.base_rate(s)),
                None,
            );
            let components = segment_components(
                &counts.cells,
                &k,
                disks,
                &found,
                options,
                u64::from(privacy.min_count),
            );
            SegmentMarkets { found, components }
        })
        .collect()
}

/// Family-wise p-values of each segment's components over `replicates` worlds drawn under H0
/// (`k*_c ~ BetaBin(n_c, q0, ρ̂)`, analysed with the scope's P and ρ̂): `(1 + #{worlds whose best
/// component score ≥ its score}) / (B + 1)`. The worlds are seeded from the scope's counts, so
/// reruns are identical.
pub fn family_wise(
    counts: &ScopeCounts,
    disks: &Disks,
    detected: &[SegmentMarkets],
    options: &ConcentrationOptions,
    privacy: Privacy,
    replicates: u32,
) -> Vec<Vec<f64>> {
    detected
        .par_iter()
        .enumerate()
        .map(|(s, markets)| {
            if markets.components.is_empty() {
                return Vec::new();
            }
            let found = &markets.found;
            let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ s as u64;
            for (c, &n) in counts.population.iter().enumerate() {
                seed =
                    seed.rotate_left(5) ^ u64::from(n) ^ (u64::from(counts.members_of(c, s)) << 32);
                seed = seed.wrapping_mul(0x1000_0000_01B3);
            }
            let mut rng = SplitMix64::new(seed);
            let best: Vec<f64> = (0..replicates)
                .map(|_| {
                    let k: Vec<u32> = counts
                        .population
                        .iter()
                        .map(|&n| beta_binomial_draw(&mut rng, n, found.threshold, found.rho))
                        .collect();
                    let world = concentration(
                        &k,
                        None,
                        disks,
                        options,
                        Some(found.base_rate),
                        Some(found.rho),
                    );
                    segment_components(
                        &counts.cells,
                        &k,
                        disks,
                        &world,
                        options,
                        u64::from(privacy.min_count),
                    )
                    .iter()
                    .map(|c| c.score)
                    .fold(0.0, f64::max)
                })
                .collect();
            markets
                .components
                .iter()
                .map(|c| {
                    let beaten = best.iter().filter(|&&b| b >= c.score).count();
                    (1 + beaten) as f64 / f64::from(replicates + 1)
                })
                .collect()
        })
        .collect()
}

/// The micro-markets of one scope, every segment, ordered by expected excess members `k − P·n`,
/// then lift (then id, so ties are stable); each one's rank is its place among its segment's. `p_fwer` per segment and component, when computed.
pub fn micro_markets(
    counts: &ScopeCounts,
    detected: &[SegmentMarkets],
    p_fwer: &[Vec<f64>],
    segment_names: &[String],
) -> Vec<MicroMarket> {
    let scope_population = counts.total_population();
    let mut markets = Vec::new();
    for (s, segment) in detected.iter().enumerate() {
        let scope_members = counts.total_members(s);
        for (i, component) in segment.components.iter().enumerate() {
            let cells: Vec<CellIndex> = component
                .cells
                .iter()
                .map(|&j| counts.cells[j as usize])
                .collect();
            let geometry = dissolve(&cells).unwrap_or_else(|_| MultiPolygon::new(Vec::new()));
            let centroid = geometry.centroid();
            markets.push(MicroMarket {
                id: market_id(&counts.scope, &segment_names[s], cells[0]),
                rank: 0,
                segment: s,
                members: component.members,
                population: component.population,
                scope_members,
                scope_population,
                excess_members: component.members as f64
                    - segment.found.base_rate * component.population as f64,
                radii: component.radii.clone(),
                centres: component.centres,
                p_value: component.p_value,
                q_value: component.q_value,
                score: component.score,
                p_fwer: p_fwer.get(s).and_then(|p| p.get(i)).copied(),
                stable_coarser: None,
                stable_finer: None,
                area_km2: cells.iter().map(|c| c.area_km2()).sum(),
                centroid_lat: centroid.map_or(0.0, geo::Point::y),
                centroid_lng: centroid.map_or(0.0, geo::Point::x),
                cells,
                geometry,
            });
        }
    }
    markets.sort_by(|a, b| {
        b.excess_members
            .total_cmp(&a.excess_members)
            .then_with(|| b.lift().unwrap_or(0.0).total_cmp(&a.lift().unwrap_or(0.0)))
            .then_with(|| a.id.cmp(&b.id))
    });
    let mut ranked = vec![0; detected.len()];
    for m in &mut markets {
        ranked[m.segment] += 1;
        m.rank = ranked[m.segment];
    }
    markets
}

fn market_id(scope: &Scope, segment: &str, smallest: CellIndex) -> String {
    format!("{}:{segment}:{smallest}", scope.id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use h3o::{LatLng, Resolution};

    fn centre() -> CellIndex {
        LatLng::new(46.5, 7.5)
            .expect("ll")
            .to_cell(Resolution::Eight)
    }

    fn sorted(mut cells: Vec<CellIndex>) -> Vec<CellIndex> {
        cells.sort_unstable();
        cells.dedup();
        cells
    }

    #[test]
    fn clusters_two_rings_apart_are_separate_and_neighbours_share_edges() {
        let a = centre();
        // A cell at grid distance 2: the two do not touch (H3 cells share edges, never only a
        // vertex), so they are two micro-markets.
        let b = a.grid_ring_fast(2).flatten().next().expect("ring cell");
        let cells = sorted(vec![a, b]);
        assert_eq!(components(&cells).len(), 2);
        // Every disk-1 neighbour shares an edge.
        for n in a.grid_ring_fast(1).flatten() {
            assert_eq!(a.is_neighbor_with(n), Ok(true));
            assert!(a.edge(n).is_some(), "neighbours share an edge");
        }
        // Adding the cell between them joins them.
        let between = a
            .grid_ring_fast(1)
            .flatten()
            .find(|n| n.grid_distance(b) == Ok(1))
            .expect("a cell between");
        assert_eq!(components(&sorted(vec![a, b, between])).len(), 1);
    }

    #[test]
    fn a_ring_around_a_cold_cell_dissolves_into_a_polygon_with_a_hole() {
        let ring: Vec<CellIndex> = centre().grid_ring_fast(1).flatten().collect();
        let cells = sorted(ring);
        assert_eq!(components(&cells).len(), 1);
        let geometry = dissolve(&cells).expect("dissolve");
        assert_eq!(geometry.0.len(), 1);
        assert_eq!(
            geometry.0[0].interiors().len(),
            1,
            "the cold centre is a hole"
        );
        let ext = geometry.0[0].exterior();
        assert!(
            ext.0
                .iter()
                .all(|c| (7.0..8.0).contains(&c.x) && (46.0..47.0).contains(&c.y)),
            "degrees, lon/lat"
        );
    }
}
