//! Campaign selection under a population budget.
//!
//! A local campaign (flyers, geo-fenced ads, a pop-up) reaches everyone in the cells it covers:
//! its cost is the population reached and its value the segment members reached. Cells (or whole
//! micro-markets) are taken greedily by their share, skipping any that no longer fit the budget,
//! so the budget is never exceeded. Cells are ranked by a shrunken share, the empirical-Bayes
//! posterior mean `(k_c + a·P) / (n_c + a)` under a beta prior with the scope's mean P and the
//! strength `a = (1 − ρ)/ρ` measured from the scope's cells (ρ from the spread of cell shares
//! around P, by moments): a tiny cell with 3 members of 4 no longer outranks a large one with a
//! steady high share. Whole micro-markets are pooled already and are ranked by penetration.

use super::micro::MicroMarket;
use crate::disclosure::Privacy;
use crate::stats::{ScopeCounts, lift, overdispersion, penetration};
use h3o::CellIndex;

/// What a budget buys: single cells or whole micro-markets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BudgetUnit {
    /// Cells, one at a time.
    Cells,
    /// Whole micro-markets.
    Micromarkets,
}

/// A candidate of the greedy selection: what it costs and what it reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// Population reached (cost).
    pub population: u64,
    /// Members reached (value).
    pub members: u64,
}

/// Indices of the candidates chosen greedily by penetration (ties: more members first, then
/// input order) whose population sums to at most `budget`.
///
/// # Algorithm
///
/// Sort by `members / population` descending, then take every candidate that still fits. Greedy
/// by ratio is the classic knapsack heuristic; it is optimal when candidates are divisible and
/// close to optimal when each is small beside the budget, as cells are.
pub fn greedy(candidates: &[Candidate], budget: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..candidates.len())
        .filter(|&i| candidates[i].population > 0)
        .collect();
    // Compare k1/n1 with k2/n2 exactly, as k1·n2 against k2·n1.
    order.sort_by(|&a, &b| {
        let (x, y) = (candidates[a], candidates[b]);
        (u128::from(y.members) * u128::from(x.population))
            .cmp(&(u128::from(x.members) * u128::from(y.population)))
            .then(y.members.cmp(&x.members))
            .then(a.cmp(&b))
    });
    fill(candidates, &order, budget)
}

/// Like [`greedy`], by the shrunken share `(k + a·P) / (n + a)` (ties: more members first, then
/// input order).
pub fn shrunken_greedy(candidates: &[Candidate], budget: u64, prior: Prior) -> Vec<usize> {
    let mut order: Vec<usize> = (0..candidates.len())
        .filter(|&i| candidates[i].population > 0)
        .collect();
    let share = |c: Candidate| prior.share(c.members, c.population);
    order.sort_by(|&a, &b| {
        let (x, y) = (candidates[a], candidates[b]);
        share(y)
            .total_cmp(&share(x))
            .then(y.members.cmp(&x.members))
            .then(a.cmp(&b))
    });
    fill(candidates, &order, budget)
}

/// The empirical-Bayes beta prior of a scope × segment's cell shares.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prior {
    /// Its mean, the scope's base rate P.
    pub mean: f64,
    /// Its strength `a = α + β`, in pseudo-consumers.
    pub strength: f64,
}

impl Prior {
    /// Strongest prior kept (cells that vary no more than binomially).
    const MAX_STRENGTH: f64 = 1e6;

    /// The prior of segment `s` in a scope: mean P and strength `(1 − ρ)/ρ`, ρ by moments from
    /// the spread of the cells' shares around the scope's (leaving each cell out).
    pub fn of(counts: &ScopeCounts, s: usize) -> Prior {
        let (big_n, big_k) = (counts.total_population(), counts.total_members(s));
        let mean = if big_n > 0 {
            big_k as f64 / big_n as f64
        } else {
            0.0
        };
        let cells = (0..counts.cells.len()).map(|c| {
            (
                u64::from(counts.members_of(c, s)),
                u64::from(counts.population[c]),
                big_k,
                big_n,
            )
        });
        let rho = overdispersion(cells, mean);
        let strength = if rho > 0.0 {
            ((1.0 - rho) / rho).clamp(1.0, Self::MAX_STRENGTH)
        } else {
            Self::MAX_STRENGTH
        };
        Prior { mean, strength }
    }

    /// The posterior mean share of `k` members among `n`.
    pub fn share(self, k: u64, n: u64) -> f64 {
        (k as f64 + self.strength * self.mean) / (n as f64 + self.strength)
    }
}

/// Takes the candidates in `order` that still fit `budget`; returns their indices, sorted.
fn fill(candidates: &[Candidate], order: &[usize], budget: u64) -> Vec<usize> {
    let mut spent = 0u64;
    let mut chosen = Vec::new();
    for &i in order {
        let cost = candidates[i].population;
        if spent + cost <= budget {
            spent += cost;
            chosen.push(i);
        }
    }
    chosen.sort_unstable();
    chosen
}

/// A campaign of one scope × segment.
#[derive(Debug, Clone)]
pub struct Campaign {
    /// Segment index.
    pub segment: usize,
    /// Cells covered, sorted.
    pub cells: Vec<CellIndex>,
    /// Members reached.
    pub members: u64,
    /// Population reached.
    pub population: u64,
    /// Members of the segment in the scope.
    pub scope_members: u64,
    /// Consumers of the scope.
    pub scope_population: u64,
}

impl Campaign {
    /// Penetration of the campaign, `members / population`.
    pub fn penetration(&self) -> Option<f64> {
        penetration(self.members, self.population)
    }

    /// Lift of the campaign over the scope's base rate.
    pub fn lift(&self) -> Option<f64> {
        lift(
            self.members,
            self.population,
            self.scope_members,
            self.scope_population,
        )
    }
}

/// The campaign of every segment of a scope. Only cells that may be shown (population at least the
/// minimum count) are candidates, so a campaign never points at a suppressed cell.
pub fn campaigns(
    counts: &ScopeCounts,
    markets: &[MicroMarket],
    budget: u64,
    unit: BudgetUnit,
    privacy: Privacy,
) -> Vec<Campaign> {
    let scope_population = counts.total_population();
    (0..counts.segments)
        .map(|s| {
            let mut cells = Vec::new();
            let (mut members, mut population) = (0, 0);
            match unit {
                BudgetUnit::Cells => {
                    let shown: Vec<usize> = (0..counts.cells.len())
                        .filter(|&c| privacy.shows_cell(u64::from(counts.population[c])))
                        .collect();
                    let candidates: Vec<Candidate> = shown
                        .iter()
                        .map(|&c| Candidate {
                            population: u64::from(counts.population[c]),
                            members: u64::from(counts.members_of(c, s)),
                        })
                        .collect();
                    for i in shrunken_greedy(&candidates, budget, Prior::of(counts, s)) {
                        cells.push(counts.cells[shown[i]]);
                        members += candidates[i].members;
                        population += candidates[i].population;
                    }
                }
                BudgetUnit::Micromarkets => {
                    let own: Vec<&MicroMarket> =
                        markets.iter().filter(|m| m.segment == s).collect();
                    let candidates: Vec<Candidate> = own
                        .iter()
                        .map(|m| Candidate {
                            population: m.population,
                            members: m.members,
                        })
                        .collect();
                    for i in greedy(&candidates, budget) {
                        cells.extend_from_slice(&own[i].cells);
                        members += candidates[i].members;
                        population += candidates[i].population;
                    }
                    cells.sort_unstable();
                }
            }
            Campaign {
                segment: s,
                cells,
                members,
                population,
                scope_members: counts.total_members(s),
                scope_population,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn c(population: u64, members: u64) -> Candidate {
        Candidate {
            population,
            members,
        }
    }

    #[test]
    fn greedy_by_penetration_by_hand() {
        // Penetrations: a 0.8, b 0.5, c 0.8, d 0.1. Order: c (0.8, 12 members), a, b, d.
        // Budget 40: c (15), a (25 in all); b would make 45, d 55: both skipped.
        let candidates = [c(10, 8), c(20, 10), c(15, 12), c(30, 3)];
        assert_eq!(greedy(&candidates, 40), vec![0, 2]);
        // Budget 50: c, a, then b (45); d does not fit.
        assert_eq!(greedy(&candidates, 50), vec![0, 1, 2]);
        // A big first choice that does not fit is skipped, smaller ones still fill the budget.
        assert_eq!(greedy(&[c(100, 90), c(5, 2), c(5, 1)], 20), vec![1, 2]);
        assert!(greedy(&candidates, 0).is_empty());
    }

    proptest! {
        #[test]
        fn budget_is_never_exceeded(
            raw in prop::collection::vec((0u64..500, 0u64..500), 0..60),
            budget in 0u64..5_000,
        ) {
            let candidates: Vec<Candidate> =
                raw.iter().map(|&(n, k)| c(n, k.min(n))).collect();
            let chosen = greedy(&candidates, budget);
            let spent: u64 = chosen.iter().map(|&i| candidates[i].population).sum();
            prop_assert!(spent <= budget);
            // Nothing left out would still fit.
            for (i, cand) in candidates.iter().enumerate() {
                if cand.population > 0 && !chosen.contains(&i) {
                    prop_assert!(spent + cand.population > budget);
                }
            }
        }
    }
}
