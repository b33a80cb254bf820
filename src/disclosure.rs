//! The minimum-count rule, in one place: every figure that leaves the library (cell layers, maps,
//! summary, index, micro-markets, campaigns, catchments) is decided here; writers only serialise
//! what these functions return.
//!
//! With [`PrivacyMethod::Perturb`] (the default) the true counts of a scope leave the
//! per-consumer phase only through [`Privacy::protect`]: every count is perturbed by its cell key
//! ([`crate::perturb`]), and every statistic, micro-market, campaign and published figure is
//! computed from that protected table. Then, whatever the method, a cell appears in a layer only
//! when it holds at least k consumers; a count `0 < x < k` is published as null, and so is every
//! figure that would reveal it (penetration, lift and their intervals).

use crate::perturb::perturb;
use crate::stats::{
    HotSpots, Protection, ScopeCounts, lift, penetration, round6, significant6, upper_tail_p,
    wilson,
};
use std::borrow::Cow;

/// How a run protects the people behind its counts.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum PrivacyMethod {
    /// Cell-key perturbation, then the minimum count on the perturbed values; every figure
    /// derived from the protected table.
    #[default]
    Perturb,
    /// The minimum count alone, on true counts: unsafe against combining outputs (differences
    /// of totals, nested scopes, statistics computed over hidden cells).
    Suppress,
    /// Exact counts, nothing hidden: for internal use and for checks against other tools.
    None,
}

impl PrivacyMethod {
    /// The name used on the command line, in plans and in the manifest.
    pub fn as_str(self) -> &'static str {
        match self {
            PrivacyMethod::Perturb => "perturb",
            PrivacyMethod::Suppress => "suppress",
            PrivacyMethod::None => "none",
        }
    }
}

/// The disclosure rule of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Privacy {
    /// Minimum count k (1 with [`PrivacyMethod::None`]: nothing hidden).
    pub min_count: u32,
    /// How counts are protected.
    pub method: PrivacyMethod,
}

/// Rounds a statistic for output: 6 decimals.
fn stat(x: Option<f64>) -> Option<f64> {
    x.map(round6)
}

impl Privacy {
    /// The table every figure of a scope is computed from. With [`PrivacyMethod::Perturb`]: the
    /// cells whose perturbed population is at least k, with perturbed counts (at most the
    /// cell's population); a perturbed count below k is hidden and stands in the table as
    /// `min(round(P·n), k − 1)`, `P` the scope's published base rate, so statistics neither see
    /// nor reveal it; `N` and `K` are perturbed on their own keys. Otherwise the true counts.
    pub fn protect(self, counts: &ScopeCounts) -> Cow<'_, ScopeCounts> {
        if self.method != PrivacyMethod::Perturb {
            return Cow::Borrowed(counts);
        }
        let k = u64::from(self.min_count);
        let segments = counts.segments;
        let big_n = perturb(counts.total_population(), counts.total_population_key());
        let big_k: Vec<u64> = (0..segments)
            .map(|s| perturb(counts.total_members(s), counts.total_members_key(s)))
            .collect();
        let base_rate: Vec<f64> = big_k
            .iter()
            .map(|&big_k| {
                if self.hides_count(big_k) || self.hides_count(big_n) {
                    0.0
                } else {
                    penetration(big_k, big_n).unwrap_or(0.0)
                }
            })
            .collect();
        let mut out = ScopeCounts {
            scope: counts.scope.clone(),
            cells: Vec::new(),
            population: Vec::new(),
            members: Vec::new(),
            segments,
            population_key: Vec::new(),
            members_key: Vec::new(),
            protection: None,
        };
        let mut hidden = Vec::new();
        let mut exact_members = Vec::new();
        let mut left_out = 0;
        for c in 0..counts.cells.len() {
            let n = perturb(u64::from(counts.population[c]), counts.population_key[c]);
            if n < k {
                left_out += 1;
                continue;
            }
            out.cells.push(counts.cells[c]);
            out.population.push(n as u32);
            out.population_key.push(counts.population_key[c]);
            for (s, rate) in base_rate.iter().enumerate() {
                let at = c * segments + s;
                let key = counts.members_key[at];
                let published = perturb(u64::from(counts.members[at]), key).min(n);
                let hide = self.hides_count(published);
                let stand_in = ((rate * n as f64).round() as u64).min(k - 1);
                out.members
                    .push(if hide { stand_in } else { published } as u32);
                out.members_key.push(key);
                exact_members.push(counts.members[at]);
                hidden.push(hide);
            }
        }
        out.protection = Some(Protection {
            population: big_n,
            members: big_k,
            hidden,
            left_out,
            exact_members,
        });
        Cow::Owned(out)
    }

    /// The published value of a set of `count` consumers whose record keys sum to `key`:
    /// perturbed with [`PrivacyMethod::Perturb`], true otherwise (the minimum count then applies).
    pub fn publish(self, count: u64, key: u32) -> u64 {
        if self.method == PrivacyMethod::Perturb {
            perturb(count, key)
        } else {
            count
        }
    }

    /// Whether the count of cell position `c` and segment `s` of a (protected) table is
    /// published as null.
    pub fn hides(self, counts: &ScopeCounts, c: usize, s: usize) -> bool {
        match &counts.protection {
            Some(p) => p.hidden[c * counts.segments + s],
            None => self.hides_count(u64::from(counts.members_of(c, s))),
        }
    }

    /// Whether a cell of population `n` may appear in a cell layer (`n ≥ k`); the same rule keeps
    /// micro-markets of fewer than k members and shapes of fewer than k consumers out.
    pub fn shows_cell(self, n: u64) -> bool {
        n >= u64::from(self.min_count)
    }

    /// Whether a count must be published as null (`0 < count < k`).
    pub fn hides_count(self, count: u64) -> bool {
        count > 0 && count < u64::from(self.min_count)
    }

    /// A count as published: `None` where hidden.
    pub fn count(self, count: u64) -> Option<u64> {
        (!self.hides_count(count)).then_some(count)
    }

    /// Positions (in `counts.cells`) of the cells a layer may show.
    pub fn shown_cells(self, counts: &ScopeCounts) -> Vec<usize> {
        (0..counts.cells.len())
            .filter(|&c| self.shows_cell(u64::from(counts.population[c])))
            .collect()
    }

    /// What the cell layers of a scope hold back: cells left out (by the protection step or
    /// here), and counts hidden in the cells shown.
    pub fn tally(self, counts: &ScopeCounts) -> Suppressed {
        let mut suppressed = Suppressed {
            cells: counts.protection.as_ref().map_or(0, |p| p.left_out),
            ..Suppressed::default()
        };
        for c in 0..counts.cells.len() {
            if !self.shows_cell(u64::from(counts.population[c])) {
                suppressed.cells += 1;
                continue;
            }
            suppressed.counts += (0..counts.segments)
                .filter(|&s| self.hides(counts, c, s))
                .count() as u64;
        }
        suppressed
    }

    /// A scope's totals as published in the summary and the index: `N`, and `K` with the base
    /// rate `K / N` (hidden with `N`, too).
    pub fn totals(self, big_n: u64, big_k: u64) -> Totals {
        let hide_n = self.hides_count(big_n);
        let hide_k = hide_n || self.hides_count(big_k);
        Totals {
            population: (!hide_n).then_some(big_n),
            members: (!hide_k).then_some(big_k),
            base_rate: if hide_k {
                None
            } else {
                penetration(big_k, big_n)
            },
            hidden: u64::from(hide_n) + u64::from(hide_k),
        }
    }

    /// The figures of cell position `c` and segment `s` of a scope whose segment has `big_k`
    /// members among `big_n` consumers.
    pub fn cell(
        self,
        counts: &ScopeCounts,
        hot_spots: &HotSpots,
        (c, s): (usize, usize),
        (big_k, big_n): (u64, u64),
    ) -> CellFigures {
        let k = u64::from(counts.members_of(c, s));
        let n = u64::from(counts.population[c]);
        let hidden = self.hides(counts, c, s);
        let figures = &hot_spots.segments[s];
        let rate = Rates::new(k, n, big_k, big_n, hidden);
        CellFigures {
            count: (!hidden).then_some(k),
            rates: rate,
            gi: round6(figures.gi[c]),
            p_value: significant6(upper_tail_p(figures.gi[c])),
            q_value: significant6(figures.q_value[c]),
            hot: figures.hot[c],
            suppressed: hidden,
        }
    }

    /// The figures of a group of cells (a campaign, a catchment) reaching `members` of
    /// `population`: members, penetration and lift are hidden when either count is.
    pub fn group(self, members: u64, population: u64, big_k: u64, big_n: u64) -> GroupFigures {
        let hidden = self.hides_count(members) || self.hides_count(population);
        GroupFigures {
            members: (!hidden).then_some(members),
            rates: Rates::new(members, population, big_k, big_n, hidden),
            suppressed: hidden,
        }
    }
}

/// How much the minimum-count rule held back.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Suppressed {
    /// Cells left out of cell layers (population below the minimum).
    pub cells: u64,
    /// Segment counts written as null in shown cells.
    pub counts: u64,
    /// Values left empty in summary.csv.
    pub summary_values: u64,
}

impl Suppressed {
    /// Adds another tally.
    pub fn add(&mut self, other: &Suppressed) {
        self.cells += other.cells;
        self.counts += other.counts;
        self.summary_values += other.summary_values;
    }
}

/// A scope × segment's totals as published.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Totals {
    /// `N`, unless hidden.
    pub population: Option<u64>,
    /// `K`, unless hidden (or `N` is).
    pub members: Option<u64>,
    /// `K / N` unrounded, hidden with `K`.
    pub base_rate: Option<f64>,
    /// How many of `N` and `K` are hidden.
    pub hidden: u64,
}

/// Penetration and lift of `k` among `n`, with their Wilson intervals, rounded for output.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Rates {
    /// `k / n`.
    pub penetration: Option<f64>,
    /// Wilson 95% interval of the penetration.
    pub penetration_interval: Option<(f64, f64)>,
    /// Penetration over the base rate `K / N`.
    pub lift: Option<f64>,
    /// The penetration interval over the base rate.
    pub lift_interval: Option<(f64, f64)>,
}

impl Rates {
    /// Penetration, its interval, lift, its interval, in that order: the rate columns of every
    /// typed layer.
    pub fn values(&self) -> [Option<f64>; 6] {
        let (p, l) = (self.penetration_interval, self.lift_interval);
        [
            self.penetration,
            p.map(|v| v.0),
            p.map(|v| v.1),
            self.lift,
            l.map(|v| v.0),
            l.map(|v| v.1),
        ]
    }

    /// The rates of `k` members among `n` consumers, in a scope of `big_k` among `big_n`; none
    /// where `hidden`.
    fn new(k: u64, n: u64, big_k: u64, big_n: u64, hidden: bool) -> Self {
        if hidden {
            Rates::default()
        } else {
            Rates::of(k, n, big_k, big_n)
        }
    }

    /// The rates of `k` members among `n` consumers, in a scope of `big_k` among `big_n`, for a
    /// group the minimum count already allows (a micro-market).
    pub fn of(k: u64, n: u64, big_k: u64, big_n: u64) -> Self {
        let base = penetration(big_k, big_n).filter(|&b| b > 0.0);
        let interval = wilson(k, n);
        Rates {
            penetration: stat(penetration(k, n)),
            penetration_interval: interval.map(|(lo, hi)| (round6(lo), round6(hi))),
            lift: stat(lift(k, n, big_k, big_n)),
            lift_interval: interval
                .zip(base)
                .map(|((lo, hi), b)| (round6(lo / b), round6(hi / b))),
        }
    }
}

/// The figures of one cell × segment as published.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CellFigures {
    /// `k_c`, unless hidden.
    pub count: Option<u64>,
    /// Penetration and lift (none when the count is hidden).
    pub rates: Rates,
    /// Gi* z-score.
    pub gi: f64,
    /// One-sided p-value of Gi*.
    pub p_value: f64,
    /// Benjamini–Hochberg q-value.
    pub q_value: f64,
    /// Hot at the run's FDR.
    pub hot: bool,
    /// The count is hidden.
    pub suppressed: bool,
}

impl CellFigures {
    /// Penetration, its interval, lift, its interval, Gi*, p and q, in that order: the float
    /// columns of the typed layers.
    pub fn floats(&self) -> [Option<f64>; 9] {
        let mut floats = [None; 9];
        floats[..6].copy_from_slice(&self.rates.values());
        floats[6..].copy_from_slice(&[Some(self.gi), Some(self.p_value), Some(self.q_value)]);
        floats
    }
}

/// The figures of a group of cells as published.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroupFigures {
    /// Members reached, unless hidden.
    pub members: Option<u64>,
    /// Penetration and lift (none when hidden).
    pub rates: Rates,
    /// The members are hidden.
    pub suppressed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_below_k_are_hidden_and_zero_is_shown() {
        let p = Privacy {
            min_count: 10,
            method: PrivacyMethod::Suppress,
        };
        assert_eq!(
            (p.count(0), p.count(9), p.count(10)),
            (Some(0), None, Some(10))
        );
        assert!(!p.shows_cell(9) && p.shows_cell(10));
        let t = p.totals(5, 2);
        assert_eq!(
            (t.population, t.members, t.base_rate, t.hidden),
            (None, None, None, 2)
        );
        let t = p.totals(100, 20);
        assert_eq!((t.members, t.base_rate), (Some(20), Some(0.2)));
        let g = p.group(3, 100, 20, 100);
        assert_eq!(
            (g.members, g.rates, g.suppressed),
            (None, Rates::default(), true)
        );
    }
}
