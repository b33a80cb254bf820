//! Concentration: where a segment's *share* is materially above the scope's, with error rates
//! that can be stated. This defines micro-markets (Gi* stays as the density layer).
//!
//! # Statistic
//!
//! For a scope with `N` consumers, `K` of them in segment g: `P = K / N`, the material threshold
//! `q0 = λ0 · P`. A window is the disk `grid_disk(c, r)` around an occupied cell c, r = 0..R,
//! pooled over the occupied cells j it holds: `k_D = Σ k_j`, `n_D = Σ n_j`. A window is tested only
//! when `q0 · n_D ≥ E_min` (a rule on n alone, so p-values stay valid).
//!
//! 1. Overdispersion, one ρ̂ per scope × segment by moments from local residuals: with
//!    `m_c = (k_{D2(c)} − k_c + a·P) / (n_{D2(c)} − n_c + a)`, a = 50,
//!    `ρ̂ = max(0, Σ_c [(k_c − n_c m_c)² − n_c m_c (1 − m_c)] / Σ_c n_c (n_c − 1) m_c (1 − m_c))`.
//! 2. Window test of H0 "share ≤ q0": the upper tail `P(X ≥ k_D)`, X beta-binomial with `n_D`
//!    trials, mean q0 and the window's pooled intra-class correlation
//!    `ρ_D = ρ̂ · Σ n_j (n_j − 1) / (n_D (n_D − 1))`, so that its variance is the cell-wise sum
//!    `q0 (1 − q0) Σ n_j [1 + (n_j − 1) ρ̂]` (for one cell, exactly BetaBin(n_c, q0, ρ̂)). Exact up
//!    to [`EXACT_MAX_POPULATION`] consumers; beyond, the normal approximation with that variance and
//!    a continuity correction. Per centre `p_c = min(1, m_c · min_r p(c, r))`, `m_c` the radii
//!    tested.
//! 3. Benjamini–Hochberg at the FDR over the tested centres of the scope × segment.

use super::hotspot::{benjamini_hochberg, upper_tail_p};
use crate::perturb::perturb;
use crate::synth::SplitMix64;
use h3o::CellIndex;
use rayon::prelude::*;
use std::sync::OnceLock;

/// Prior weight `a` of the local expected share in the overdispersion estimate.
pub const LOCAL_PRIOR: f64 = 50.0;
/// Windows of at most this many consumers get the exact beta-binomial tail; larger ones the
/// normal approximation.
pub const EXACT_MAX_POPULATION: u64 = 1_000;
/// `E_min`: the smallest expected count `q0 · n_D` of a tested window.
pub const MIN_EXPECTED: f64 = 5.0;
/// Rings whose sums the overdispersion estimate needs.
const RHO_RINGS: u32 = 2;
/// Largest correlation kept, so the beta-binomial stays proper.
const RHO_MAX: f64 = 0.99;

/// Parameters of the concentration test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConcentrationOptions {
    /// `λ0`: the lift that counts as material.
    pub min_lift: f64,
    /// `R`: the largest window radius in rings.
    pub max_rings: u32,
    /// `E_min`: the smallest expected count `q0 · n_D` of a tested window.
    pub min_expected: f64,
    /// False discovery rate of the Benjamini–Hochberg selection.
    pub fdr: f64,
}

/// For every occupied cell of a scope, the occupied cells of its disk grouped by ring, with the
/// disk populations `n_D` and `Σ n_j²` for every radius (shared by all segments).
#[derive(Debug, Clone, Default)]
pub struct Disks {
    rings: u32,
    /// `bounds[c * (rings + 1) + r]` is where ring r of centre c starts in `index`.
    bounds: Vec<u32>,
    index: Vec<u32>,
    /// `n_c` per cell.
    population: Vec<u32>,
    /// `n_D` per centre and radius.
    disk_population: Vec<u64>,
    /// `Σ n_j²` per centre and radius.
    disk_squares: Vec<u64>,
}

impl Disks {
    /// The disks of radius up to `max(rings, 2)` around each of `cells` (sorted, distinct), with
    /// populations `population`.
    ///
    /// # Runtime
    ///
    /// One `grid_disk` and a binary search per disk cell for each occupied cell, in parallel:
    /// O(cells × ring size), never the area of the scope.
    pub fn new(cells: &[CellIndex], population: &[u32], rings: u32) -> Self {
        let rings = rings.max(RHO_RINGS);
        let width = rings as usize + 1;
        let parts: Vec<(Vec<u32>, Vec<u32>)> =
            cells
                .par_chunks(1024)
                .enumerate()
                .map(|(chunk, centres)| {
                    let mut bounds = Vec::with_capacity(centres.len() * width);
                    let mut index = Vec::new();
                    let mut disk: Vec<(u32, u32)> = Vec::new();
                    let mut around: Vec<(CellIndex, u32)> = Vec::new();
                    for (i, &cell) in centres.iter().enumerate() {
                        disk.clear();
                        around.clear();
                        // h3o's fast walk, or its safe one near a pentagon.
                        if around
                            .try_extend_fast(cell.grid_disk_distances_fast(rings))
                            .is_none()
                        {
                            around.clear();
                            around.extend(cell.grid_disk_distances_safe(rings));
                        }
                        disk.extend(around.iter().filter_map(|&(n, r)| {
                            cells.binary_search(&n).ok().map(|j| (r, j as u32))
                        }));
                        disk.sort_unstable();
                        debug_assert_eq!(disk[0], (0, (chunk * 1024 + i) as u32));
                        for r in 0..=rings {
                            bounds.push(index.len() as u32);
                            let start = disk.partition_point(|&(d, _)| d < r);
                            let end = disk.partition_point(|&(d, _)| d <= r);
                            index.extend(disk[start..end].iter().map(|&(_, j)| j));
                        }
                    }
                    (bounds, index)
                })
                .collect();
        let mut bounds = Vec::with_capacity(cells.len() * width + 1);
        let mut index = Vec::new();
        for (b, i) in parts {
            let base = index.len() as u32;
            bounds.extend(b.iter().map(|&at| at + base));
            index.extend(i);
        }
        bounds.push(index.len() as u32);
        let mut disks = Disks {
            rings,
            bounds,
            index,
            population: population.to_vec(),
            disk_population: Vec::new(),
            disk_squares: Vec::new(),
        };
        disks.disk_population = disks.sums(|j| u64::from(population[j]));
        disks.disk_squares = disks.sums(|j| u64::from(population[j]).pow(2));
        disks
    }

    /// Number of centres (occupied cells).
    pub fn len(&self) -> usize {
        self.population.len()
    }

    /// Whether there are no cells.
    pub fn is_empty(&self) -> bool {
        self.population.is_empty()
    }

    /// The largest radius held.
    pub fn rings(&self) -> u32 {
        self.rings
    }

    /// Positions of the occupied cells of `grid_disk(c, r)`, ring by ring.
    pub fn disk(&self, c: usize, r: u32) -> &[u32] {
        let width = self.rings as usize + 1;
        let start = self.bounds[c * width] as usize;
        let end = self.bounds[c * width + r as usize + 1] as usize;
        &self.index[start..end]
    }

    /// `n_D` of `grid_disk(c, r)`.
    pub fn population(&self, c: usize, r: u32) -> u64 {
        self.disk_population[c * (self.rings as usize + 1) + r as usize]
    }

    /// Per centre and radius (cumulative over rings), the sum of `value` over the disk.
    pub fn sums(&self, value: impl Fn(usize) -> u64) -> Vec<u64> {
        let width = self.rings as usize + 1;
        let mut out = Vec::with_capacity(self.len() * width);
        for c in 0..self.len() {
            let mut total = 0;
            for r in 0..width {
                let ring = &self.index
                    [self.bounds[c * width + r] as usize..self.bounds[c * width + r + 1] as usize];
                total += ring.iter().map(|&j| value(j as usize)).sum::<u64>();
                out.push(total);
            }
        }
        out
    }
}

impl Disks {
    /// The published count of every disk (laid out as [`Disks::sums`]): each disk's consumers
    /// are one set, so its count is the perturbed sum of the true counts `exact` of its cells,
    /// keyed by the sum of their record keys `keys` (cell-key perturbation, [`perturb`]), not a
    /// sum of separately perturbed cells.
    pub fn published_sums(&self, exact: &[u32], keys: &[u32]) -> Vec<u64> {
        let counts = self.sums(|j| u64::from(exact[j]));
        let key_sums = self.sums(|j| u64::from(keys[j]));
        counts
            .into_iter()
            .zip(key_sums)
            .map(|(count, key)| perturb(count, key as u32))
            .collect()
    }
}

/// Extending a buffer from h3o's fallible iterators, stopping at the first failure.
trait TryExtendFast<T> {
    /// Pushes the items until one is `None`; `None` if one was.
    fn try_extend_fast(&mut self, items: impl Iterator<Item = Option<T>>) -> Option<()>;
}

impl<T> TryExtendFast<T> for Vec<T> {
    fn try_extend_fast(&mut self, items: impl Iterator<Item = Option<T>>) -> Option<()> {
        for item in items {
            self.push(item?);
        }
        Some(())
    }
}

/// The result of the test for one scope × segment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SegmentConcentration {
    /// `P = K / N`.
    pub base_rate: f64,
    /// `q0 = λ0 · P`.
    pub threshold: f64,
    /// ρ̂, the overdispersion estimate.
    pub rho: f64,
    /// Centres with at least one window tested: the size of the FDR family.
    pub tested: usize,
    /// The centres selected at the FDR, by position.
    pub selected: Vec<Centre>,
}

/// A tested centre.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Centre {
    /// Position of the cell in the scope's cells.
    pub cell: u32,
    /// Radius of the window with the smallest p-value (the smallest such radius).
    pub radius: u32,
    /// `p_c`, the Bonferroni-adjusted smallest window p-value.
    pub p_value: f64,
    /// Benjamini–Hochberg q-value over the tested centres.
    pub q_value: f64,
}

/// ρ̂ from per-cell `(k_c, n_c, k_{D2}, n_{D2})` and the base rate (see the module docs).
pub fn overdispersion(cells: impl Iterator<Item = (u64, u64, u64, u64)>, base_rate: f64) -> f64 {
    let (mut num, mut den) = (0.0, 0.0);
    for (k, n, k2, n2) in cells {
        let (k, n) = (k as f64, n as f64);
        let m = ((k2 as f64 - k) + LOCAL_PRIOR * base_rate) / ((n2 as f64 - n) + LOCAL_PRIOR);
        num += (k - n * m).powi(2) - n * m * (1.0 - m);
        den += n * (n - 1.0) * m * (1.0 - m);
    }
    if den > 0.0 {
        (num / den).clamp(0.0, RHO_MAX)
    } else {
        0.0
    }
}

/// `P(X ≥ k)` for X beta-binomial with `n` trials, mean `mean` and intra-class correlation `rho`
/// (`α = mean (1/ρ − 1)`, `β = (1 − mean)(1/ρ − 1)`; binomial when `rho` is 0), by exact
/// summation of the shorter tail.
pub fn beta_binomial_sf(k: u64, n: u64, mean: f64, rho: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > n || mean <= 0.0 {
        return 0.0;
    }
    if mean >= 1.0 {
        return 1.0;
    }
    let nf = n as f64;
    let lc = |x: f64| ln_factorial(nf) - ln_factorial(x) - ln_factorial(nf - x);
    if rho <= 0.0 {
        let (lq, lr) = (mean.ln(), (1.0 - mean).ln());
        shorter_tail(
            k,
            n,
            mean,
            |x| lc(x) + x * lq + (nf - x) * lr,
            |x| (nf - x) * mean / ((x + 1.0) * (1.0 - mean)),
        )
    } else {
        let scale = 1.0 / rho.min(RHO_MAX) - 1.0;
        let (a, b) = (mean * scale, (1.0 - mean) * scale);
        let lbeta = |x: f64, y: f64| libm::lgamma(x) + libm::lgamma(y) - libm::lgamma(x + y);
        let base = lbeta(a, b);
        shorter_tail(
            k,
            n,
            mean,
            |x| lc(x) + lbeta(x + a, nf - x + b) - base,
            |x| (nf - x) * (x + a) / ((x + 1.0) * (nf - x - 1.0 + b)),
        )
    }
}

/// `ln(x!)` for a whole `x ≥ 0`: from a table up to [`EXACT_MAX_POPULATION`] (the windows tested
/// exactly), filled by the same `lgamma` as beyond it, so the values are the same either way.
fn ln_factorial(x: f64) -> f64 {
    static TABLE: OnceLock<Vec<f64>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        (0..=EXACT_MAX_POPULATION)
            .map(|i| libm::lgamma(i as f64 + 1.0))
            .collect()
    });
    table
        .get(x as usize)
        .copied()
        .unwrap_or_else(|| libm::lgamma(x + 1.0))
}

/// `P(X ≥ k)` from a log pmf and the ratio `pmf(x + 1) / pmf(x)`: the upper tail summed from k
/// up when k is above the mean, else one minus the lower tail summed from k − 1 down; each sum
/// stops once a term no longer changes it.
fn shorter_tail(
    k: u64,
    n: u64,
    mean: f64,
    log_pmf: impl Fn(f64) -> f64,
    ratio: impl Fn(f64) -> f64,
) -> f64 {
    let (kf, nf) = (k as f64, n as f64);
    if kf > mean * nf {
        let mut term = log_pmf(kf).exp();
        let mut sum = term;
        let mut x = kf;
        while x < nf {
            term *= ratio(x);
            sum += term;
            x += 1.0;
            if term <= sum * 1e-17 {
                break;
            }
        }
        sum.min(1.0)
    } else {
        let mut x = kf - 1.0;
        let mut term = log_pmf(x).exp();
        let mut sum = term;
        while x > 0.0 {
            term /= ratio(x - 1.0);
            sum += term;
            x -= 1.0;
            if term <= sum * 1e-17 {
                break;
            }
        }
        (1.0 - sum).max(0.0)
    }
}

/// The p-value of a window with `k` members of `n` consumers (`squares` = `Σ n_j²` over its
/// cells) against H0 "share ≤ q0" (see the module docs).
pub fn window_p(k: u64, n: u64, squares: u64, q0: f64, rho: f64) -> f64 {
    let pairs = squares.saturating_sub(n) as f64;
    if n <= EXACT_MAX_POPULATION {
        let nf = n as f64;
        let rho_d = if n > 1 {
            rho * pairs / (nf * (nf - 1.0))
        } else {
            0.0
        };
        beta_binomial_sf(k, n, q0, rho_d)
    } else {
        let variance = q0 * (1.0 - q0) * (n as f64 + rho * pairs);
        upper_tail_p((k as f64 - 0.5 - q0 * n as f64) / variance.sqrt())
    }
}

/// The test for one scope × segment with members `k` per cell (in the order of `disks`).
/// `windows` gives the members of every disk as published (laid out as [`Disks::sums`]; for a
/// protected table, each disk's own perturbed count, see [`Disks::published_sums`]), otherwise
/// they are the sums of `k`. `base_rate` fixes `P` (the scope's published `K / N` for a
/// protected table, whose cells do not add up to it), otherwise `P = Σk / Σn`; `rho` fixes ρ̂
/// (for replicate worlds), otherwise it is estimated from the disks around `P`.
pub fn concentration(
    k: &[u32],
    windows: Option<Vec<u64>>,
    disks: &Disks,
    options: &ConcentrationOptions,
    base_rate: Option<f64>,
    rho: Option<f64>,
) -> SegmentConcentration {
    let width = disks.rings as usize + 1;
    let disk_k = windows.unwrap_or_else(|| disks.sums(|j| u64::from(k[j])));
    let base_rate = base_rate.unwrap_or_else(|| {
        let big_k: u64 = k.iter().map(|&v| u64::from(v)).sum();
        let big_n: u64 = disks.population.iter().map(|&v| u64::from(v)).sum();
        if big_n > 0 {
            big_k as f64 / big_n as f64
        } else {
            0.0
        }
    });
    let rho = rho.unwrap_or_else(|| {
        let cells = (0..disks.len()).map(|c| {
            (
                disk_k[c * width],
                u64::from(disks.population[c]),
                disk_k[c * width + RHO_RINGS as usize],
                disks.population(c, RHO_RINGS),
            )
        });
        overdispersion(cells, base_rate)
    });
    let threshold = options.min_lift * base_rate;
    let mut out = SegmentConcentration {
        base_rate,
        threshold,
        rho,
        ..SegmentConcentration::default()
    };
    if base_rate <= 0.0 || threshold >= 1.0 {
        return out;
    }
    let mut tested: Vec<Centre> = Vec::new();
    for c in 0..disks.len() {
        let mut best: Option<(f64, u32)> = None;
        let mut radii = 0u32;
        for r in 0..=options.max_rings.min(disks.rings) {
            let at = c * width + r as usize;
            let n = disks.disk_population[at];
            if threshold * (n as f64) < options.min_expected {
                continue;
            }
            radii += 1;
            let p = window_p(disk_k[at].min(n), n, disks.disk_squares[at], threshold, rho);
            if best.is_none_or(|(b, _)| p < b) {
                best = Some((p, r));
            }
        }
        if let Some((p, radius)) = best {
            tested.push(Centre {
                cell: c as u32,
                radius,
                p_value: (p * f64::from(radii)).min(1.0),
                q_value: 1.0,
            });
        }
    }
    let q = benjamini_hochberg(&tested.iter().map(|t| t.p_value).collect::<Vec<_>>());
    out.tested = tested.len();
    out.selected = tested
        .into_iter()
        .zip(q)
        .filter(|&(_, q)| q <= options.fdr)
        .map(|(centre, q_value)| Centre { q_value, ..centre })
        .collect();
    out
}

/// A draw from BetaBin(n, mean, ρ): a share from Beta(α, β), then n Bernoulli trials.
pub fn beta_binomial_draw(rng: &mut SplitMix64, n: u32, mean: f64, rho: f64) -> u32 {
    let share = if rho <= 0.0 {
        mean
    } else {
        let scale = 1.0 / rho.min(RHO_MAX) - 1.0;
        let x = gamma_draw(rng, mean * scale);
        let y = gamma_draw(rng, (1.0 - mean) * scale);
        if x + y > 0.0 { x / (x + y) } else { mean }
    };
    (0..n).map(|_| u32::from(rng.unit() < share)).sum()
}

/// A Gamma(shape, 1) draw: Marsaglia and Tsang (2000), with `U^(1/shape)` boosting below 1.
#[allow(clippy::many_single_char_names, reason = "the paper's names")]
fn gamma_draw(rng: &mut SplitMix64, shape: f64) -> f64 {
    if shape < 1.0 {
        let u = rng.unit().max(f64::MIN_POSITIVE);
        return gamma_draw(rng, shape + 1.0) * u.powf(1.0 / shape);
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let z = rng.normal();
        let v = (1.0 + c * z).powi(3);
        if v <= 0.0 {
            continue;
        }
        let u = rng.unit();
        if u.ln() < 0.5 * z * z + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::float_cmp,
    clippy::many_single_char_names,
    reason = "exact values by construction; the formulas' names"
)]
mod tests {
    use super::*;
    use h3o::{LatLng, Resolution};

    /// The beta-binomial pmf straight from its definition, summed over the upper tail.
    fn sf_by_definition(k: u64, n: u64, mean: f64, rho: f64) -> f64 {
        let scale = 1.0 / rho - 1.0;
        let (a, b) = (mean * scale, (1.0 - mean) * scale);
        let lbeta = |x: f64, y: f64| libm::lgamma(x) + libm::lgamma(y) - libm::lgamma(x + y);
        let nf = n as f64;
        (k..=n)
            .map(|x| {
                let x = x as f64;
                (libm::lgamma(nf + 1.0) - libm::lgamma(x + 1.0) - libm::lgamma(nf - x + 1.0)
                    + lbeta(x + a, nf - x + b)
                    - lbeta(a, b))
                .exp()
            })
            .sum()
    }

    #[test]
    fn ln_factorials_are_lgamma_bit_for_bit_inside_and_beyond_the_table() {
        for x in (0..=EXACT_MAX_POPULATION + 5).chain([5_000, 123_457]) {
            let x = x as f64;
            assert_eq!(
                ln_factorial(x).to_bits(),
                libm::lgamma(x + 1.0).to_bits(),
                "{x}"
            );
        }
        assert_eq!(ln_factorial(0.0).to_bits(), 0f64.to_bits());
    }

    #[test]
    fn tails_match_the_definition_and_hand_values() {
        for &(k, n, mean, rho) in &[
            (3, 10, 0.2, 0.1),
            (1, 10, 0.2, 0.1),
            (9, 40, 0.1, 0.02),
            (30, 200, 0.05, 0.01),
            (2, 200, 0.05, 0.3),
            (150, 900, 0.12, 0.005),
        ] {
            let got = beta_binomial_sf(k, n, mean, rho);
            let want = sf_by_definition(k, n, mean, rho);
            assert!(
                (got - want).abs() < 1e-12,
                "{k} {n} {mean} {rho}: {got} {want}"
            );
        }
        // Binomial by hand: P(X ≥ 2), n = 3, q = 0.5 → (3 + 1) / 8.
        assert!((beta_binomial_sf(2, 3, 0.5, 0.0) - 0.5).abs() < 1e-15);
        // P(X ≥ 1), n = 4, q = 0.1 → 1 − 0.9⁴.
        assert!((beta_binomial_sf(1, 4, 0.1, 0.0) - (1.0 - 0.9f64.powi(4))).abs() < 1e-15);
        assert_eq!(beta_binomial_sf(0, 5, 0.1, 0.1), 1.0);
        assert_eq!(beta_binomial_sf(6, 5, 0.1, 0.1), 0.0);
        // Overdispersion widens the tail.
        assert!(beta_binomial_sf(20, 100, 0.1, 0.05) > beta_binomial_sf(20, 100, 0.1, 0.0));
    }

    #[test]
    fn the_normal_approximation_meets_the_exact_tail_at_the_switch() {
        let n = EXACT_MAX_POPULATION;
        for k in [70, 80, 90] {
            let exact = beta_binomial_sf(k, n, 0.06, 0.0);
            let normal =
                upper_tail_p((k as f64 - 0.5 - 0.06 * n as f64) / (0.06 * 0.94 * n as f64).sqrt());
            assert!((exact - normal).abs() < 0.01, "{k}: {exact} vs {normal}");
        }
    }

    #[test]
    fn rho_by_hand() {
        // Two cells, P = 0.5, disks of themselves only: m_c = a·P / a = 0.5.
        // Cell 1: k = 10, n = 10 → (10 − 5)² − 2.5 = 22.5; n(n−1)m(1−m) = 22.5.
        // Cell 2: k = 0, n = 10 → the same. ρ̂ = 45 / 45 = 1 → capped.
        let cells = [(10, 10, 10, 10), (0, 10, 0, 10)];
        assert_eq!(overdispersion(cells.into_iter(), 0.5), RHO_MAX);
        // Binomial-looking counts give 0.
        let cells = [(5, 10, 5, 10), (5, 10, 5, 10)];
        assert_eq!(overdispersion(cells.into_iter(), 0.5), 0.0);
    }

    fn disk_world() -> (Vec<CellIndex>, Vec<u32>) {
        let centre = LatLng::new(46.5, 7.5)
            .expect("ll")
            .to_cell(Resolution::Eight);
        let mut cells: Vec<CellIndex> = centre.grid_disk(5);
        cells.sort_unstable();
        let population = cells
            .iter()
            .map(|c| 20 + (u64::from(*c) >> 30) as u32 % 30)
            .collect();
        (cells, population)
    }

    #[test]
    fn disk_sums_equal_grid_disk_by_hand() {
        let (cells, population) = disk_world();
        let disks = Disks::new(&cells, &population, 3);
        for (c, &cell) in cells.iter().enumerate() {
            for r in 0..=3 {
                let want: u64 = cell
                    .grid_disk::<Vec<_>>(r)
                    .iter()
                    .filter_map(|n| cells.binary_search(n).ok())
                    .map(|j| u64::from(population[j]))
                    .sum();
                assert_eq!(disks.population(c, r), want);
                assert_eq!(
                    disks.disk(c, r).len(),
                    cell.grid_disk::<Vec<_>>(r)
                        .iter()
                        .filter(|n| cells.binary_search(n).is_ok())
                        .count()
                );
            }
        }
    }

    #[test]
    fn a_disk_is_published_as_one_set() {
        let (cells, population) = disk_world();
        let disks = Disks::new(&cells, &population, 3);
        let exact: Vec<u32> = population.iter().map(|&n| n / 3).collect();
        let keys: Vec<u32> = (0..cells.len() as u32)
            .map(|i| i.wrapping_mul(0x9E37_79B9))
            .collect();
        let published = disks.published_sums(&exact, &keys);
        let width = 4;
        for c in 0..cells.len() {
            for r in 0..=3 {
                let members = disks.disk(c, r);
                let count: u64 = members.iter().map(|&j| u64::from(exact[j as usize])).sum();
                let key = members
                    .iter()
                    .fold(0u32, |a, &j| a.wrapping_add(keys[j as usize]));
                assert_eq!(published[c * width + r as usize], perturb(count, key));
            }
            // The one-cell disk is the cell itself: the value its layer shows.
            assert_eq!(published[c * width], perturb(u64::from(exact[c]), keys[c]));
        }
    }

    #[test]
    fn a_planted_window_is_selected_and_a_flat_world_is_not() {
        let (cells, population) = disk_world();
        let disks = Disks::new(&cells, &population, 3);
        let options = ConcentrationOptions {
            min_lift: 1.2,
            max_rings: 3,
            min_expected: 5.0,
            fdr: 0.05,
        };
        let centre = cells.len() / 2;
        let near: Vec<u32> = disks.disk(centre, 1).to_vec();
        // 10% everywhere, 50% in the centre's 1-ring.
        let k: Vec<u32> = population
            .iter()
            .enumerate()
            .map(|(j, &n)| {
                if near.contains(&(j as u32)) {
                    n / 2
                } else {
                    n / 10
                }
            })
            .collect();
        let found = concentration(&k, None, &disks, &options, None, None);
        assert!(found.tested > 0);
        assert!(
            found.selected.iter().any(|c| near.contains(&c.cell)),
            "{found:?}"
        );
        let flat: Vec<u32> = population.iter().map(|&n| n / 10).collect();
        let none = concentration(&flat, None, &disks, &options, None, None);
        assert!(none.selected.is_empty(), "{none:?}");
    }
}
