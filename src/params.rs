//! The parameters of an analysis: their defaults and ranges, checked in one place for the command
//! line, a launch plan's defaults and each launch's overrides.

use crate::disclosure::PrivacyMethod;
use crate::market::BudgetUnit;
use h3o::Resolution;
use thiserror::Error;

/// A parameter outside its range.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{name} {value} is outside {allowed}")]
pub struct ParamError {
    /// The parameter, as named in plans and the manifest (`min_count`).
    pub name: &'static str,
    /// The value given.
    pub value: String,
    /// The values allowed.
    pub allowed: &'static str,
}

/// Parameters as given by a user: `None` takes the default (or the value it overrides).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GivenParams {
    /// H3 analysis resolution.
    pub resolution: Option<u8>,
    /// Minimum count k.
    pub min_count: Option<u32>,
    /// False discovery rate of the hot-spot test.
    pub fdr: Option<f64>,
    /// Disk radius of the Gi* weights.
    pub neighbours: Option<u32>,
    /// The lift that counts as material for micro-markets (λ0).
    pub min_lift: Option<f64>,
    /// Largest window radius of the concentration test, in rings (R).
    pub max_rings: Option<u32>,
    /// Replicate worlds of the family-wise check (B).
    pub permutations: Option<u32>,
    /// Campaign budget in population reached.
    pub budget: Option<u64>,
    /// What the budget buys.
    pub budget_unit: Option<BudgetUnit>,
    /// Share of rejected consumer rows above which the run fails.
    pub max_reject_ratio: Option<f64>,
    /// How counts are protected.
    pub privacy: Option<PrivacyMethod>,
}

impl GivenParams {
    /// These parameters, with `base` filling what they leave out.
    #[must_use]
    pub fn or(self, base: GivenParams) -> GivenParams {
        GivenParams {
            resolution: self.resolution.or(base.resolution),
            min_count: self.min_count.or(base.min_count),
            fdr: self.fdr.or(base.fdr),
            neighbours: self.neighbours.or(base.neighbours),
            min_lift: self.min_lift.or(base.min_lift),
            max_rings: self.max_rings.or(base.max_rings),
            permutations: self.permutations.or(base.permutations),
            budget: self.budget.or(base.budget),
            budget_unit: self.budget_unit.or(base.budget_unit),
            max_reject_ratio: self.max_reject_ratio.or(base.max_reject_ratio),
            privacy: self.privacy.or(base.privacy),
        }
    }
}

/// Checked parameters of one analysis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnalysisParams {
    /// H3 analysis resolution, 5 to 12.
    pub resolution: Resolution,
    /// Minimum count k, at least 1 (1 publishes every figure).
    pub min_count: u32,
    /// False discovery rate of the hot-spot test, in (0, 1).
    pub fdr: f64,
    /// Disk radius K of the Gi* weights, 1 to 10.
    pub neighbours: u32,
    /// λ0, the lift that counts as material for micro-markets, 1 to 100.
    pub min_lift: f64,
    /// R, the largest window radius of the concentration test, 0 to 6.
    pub max_rings: u32,
    /// B, replicate worlds of the family-wise check of micro-markets, 0 (none) to 9,999.
    pub permutations: u32,
    /// Campaign budget in population reached, at least 1; no campaign without it.
    pub budget: Option<u64>,
    /// What the budget buys.
    pub budget_unit: BudgetUnit,
    /// Share of rejected consumer rows above which the run fails, in [0, 1].
    pub max_reject_ratio: f64,
    /// How counts are protected (perturb by default).
    pub privacy: PrivacyMethod,
}

impl Default for AnalysisParams {
    /// Resolution 8, k = 10, FDR 0.05, one Gi* ring, λ0 = 1.2, windows up to 3 rings, no
    /// replicates, no budget (cells), 1% rejects.
    fn default() -> Self {
        AnalysisParams {
            resolution: Resolution::Eight,
            min_count: 10,
            fdr: 0.05,
            neighbours: 1,
            min_lift: 1.2,
            max_rings: 3,
            permutations: 0,
            budget: None,
            budget_unit: BudgetUnit::Cells,
            max_reject_ratio: 0.01,
            privacy: PrivacyMethod::Perturb,
        }
    }
}

impl AnalysisParams {
    /// The parameters `given`, defaults filling the rest, each checked against its range.
    ///
    /// # Errors
    ///
    /// The first [`ParamError`] of [`AnalysisParams::problems`].
    pub fn new(given: GivenParams) -> Result<Self, ParamError> {
        if let Some(problem) = Self::problems(given).into_iter().next() {
            return Err(problem);
        }
        let default = AnalysisParams::default();
        Ok(AnalysisParams {
            resolution: given
                .resolution
                .and_then(|r| Resolution::try_from(r).ok())
                .unwrap_or(default.resolution),
            min_count: given.min_count.unwrap_or(default.min_count),
            fdr: given.fdr.unwrap_or(default.fdr),
            neighbours: given.neighbours.unwrap_or(default.neighbours),
            min_lift: given.min_lift.unwrap_or(default.min_lift),
            max_rings: given.max_rings.unwrap_or(default.max_rings),
            permutations: given.permutations.unwrap_or(default.permutations),
            budget: given.budget,
            budget_unit: given.budget_unit.unwrap_or(default.budget_unit),
            max_reject_ratio: given.max_reject_ratio.unwrap_or(default.max_reject_ratio),
            privacy: given.privacy.unwrap_or(default.privacy),
        })
    }

    /// Every parameter of `given` outside its range (the ranges are documented on the fields).
    pub fn problems(given: GivenParams) -> Vec<ParamError> {
        let mut problems = Vec::new();
        let mut check = |ok: bool, name, value: Option<String>, allowed| {
            if let (false, Some(value)) = (ok, value) {
                problems.push(ParamError {
                    name,
                    value,
                    allowed,
                });
            }
        };
        let GivenParams {
            resolution,
            min_count,
            fdr,
            neighbours,
            min_lift,
            max_rings,
            permutations,
            budget,
            budget_unit: _,
            max_reject_ratio,
            privacy: _,
        } = given;
        check(
            resolution.is_none_or(|r| (5..=12).contains(&r)),
            "resolution",
            resolution.map(|v| v.to_string()),
            "5..=12",
        );
        check(
            min_count != Some(0),
            "min_count",
            min_count.map(|v| v.to_string()),
            "1.. (1 publishes every count)",
        );
        check(
            fdr.is_none_or(|q| q > 0.0 && q < 1.0),
            "fdr",
            fdr.map(|v| v.to_string()),
            "(0, 1)",
        );
        check(
            neighbours.is_none_or(|k| (1..=10).contains(&k)),
            "neighbours",
            neighbours.map(|v| v.to_string()),
            "1..=10",
        );
        check(
            min_lift.is_none_or(|l| (1.0..=100.0).contains(&l)),
            "min_lift",
            min_lift.map(|v| v.to_string()),
            "1..=100",
        );
        check(
            max_rings.is_none_or(|r| r <= 6),
            "max_rings",
            max_rings.map(|v| v.to_string()),
            "0..=6",
        );
        check(
            permutations.is_none_or(|b| b < 10_000),
            "permutations",
            permutations.map(|v| v.to_string()),
            "0..=9999",
        );
        check(
            budget != Some(0),
            "budget",
            budget.map(|v| v.to_string()),
            "1.. (people reached)",
        );
        check(
            max_reject_ratio.is_none_or(|r| (0.0..=1.0).contains(&r)),
            "max_reject_ratio",
            max_reject_ratio.map(|v| v.to_string()),
            "0..=1",
        );
        problems
    }

    /// The concentration test of these parameters.
    pub fn concentration(&self) -> crate::stats::ConcentrationOptions {
        crate::stats::ConcentrationOptions {
            min_lift: self.min_lift,
            max_rings: self.max_rings,
            min_expected: crate::stats::MIN_EXPECTED,
            fdr: self.fdr,
        }
    }

    /// The disclosure rule of these parameters: with [`PrivacyMethod::None`] the minimum count
    /// is 1, so nothing is hidden.
    pub fn privacy(&self) -> crate::disclosure::Privacy {
        crate::disclosure::Privacy {
            min_count: if self.privacy == PrivacyMethod::None {
                1
            } else {
                self.min_count
            },
            method: self.privacy,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_ranges() {
        assert_eq!(
            AnalysisParams::new(GivenParams::default()),
            Ok(AnalysisParams::default())
        );
        let bad = |given: GivenParams| AnalysisParams::new(given).map_err(|e| e.name);
        assert_eq!(
            bad(GivenParams {
                resolution: Some(13),
                ..GivenParams::default()
            }),
            Err("resolution")
        );
        assert_eq!(
            bad(GivenParams {
                min_count: Some(0),
                ..GivenParams::default()
            }),
            Err("min_count")
        );
        assert_eq!(
            bad(GivenParams {
                budget: Some(0),
                ..GivenParams::default()
            }),
            Err("budget")
        );
        assert_eq!(
            bad(GivenParams {
                fdr: Some(1.0),
                ..GivenParams::default()
            }),
            Err("fdr")
        );
        let launch = GivenParams {
            resolution: Some(9),
            ..GivenParams::default()
        };
        let defaults = GivenParams {
            resolution: Some(7),
            budget: Some(5),
            ..GivenParams::default()
        };
        let merged = AnalysisParams::new(launch.or(defaults)).expect("valid");
        assert_eq!(
            (merged.resolution, merged.budget),
            (Resolution::Nine, Some(5))
        );
    }
}
