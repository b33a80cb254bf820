//! One scope's analysis as a pure function of its counts: hot spots, micro-markets, campaigns and
//! every figure that will be published, before anything is written.

use crate::disclosure::Suppressed;
use crate::disclosure::Totals;
use crate::market::{self, Campaign, MicroMarket, SegmentMarkets};
use crate::params::AnalysisParams;
use crate::stats::{self, CellCentres, Disks, HotSpotOptions, HotSpots, Scope, ScopeCounts};
use std::borrow::Cow;
use std::time::Instant;

/// Everything computed for one scope; the writers serialise it.
#[derive(Debug)]
pub struct ScopeAnalysis<'a> {
    /// The scope's protected count table ([`crate::disclosure::Privacy::protect`]): every
    /// figure below is computed from it.
    pub counts: Cow<'a, ScopeCounts>,
    /// The parameters it was analysed with.
    pub params: AnalysisParams,
    /// Segment names, in segment order.
    pub segment_names: &'a [String],
    /// Gi* per cell and segment over the study area.
    pub hot_spots: HotSpots,
    /// The concentration test and components of every segment.
    pub detected: Vec<SegmentMarkets>,
    /// Micro-markets of every segment, ranked.
    pub markets: Vec<MicroMarket>,
    /// One campaign per segment with a budget; empty without.
    pub campaigns: Vec<Campaign>,
    /// The headline figures, as published.
    pub figures: ScopeFigures,
    /// Microseconds spent in Gi*, for the manifest's timings.
    pub hot_spots_micros: u64,
    /// Microseconds spent in the concentration test and micro-markets.
    pub micromarkets_micros: u64,
}

/// A scope's headline figures as published: what the summary, the index and the manifest show.
/// Small, so a run keeps them for every scope.
#[derive(Debug, Clone)]
pub struct ScopeFigures {
    /// The scope.
    pub scope: Scope,
    /// Consumers located in it, unless the minimum count hides them.
    pub consumers: Option<u64>,
    /// Cells holding its consumers.
    pub cells: u64,
    /// Of those, the cells the layers and maps show (population at least the minimum count).
    pub cells_shown: u64,
    /// Cells of its hot-spot study area.
    pub study_area_cells: u64,
    /// Per segment: `N`, `K` and the base rate as published.
    pub totals: Vec<Totals>,
    /// Per segment: hot cells, micro-markets and the campaign.
    pub segments: Vec<SegmentFigures>,
    /// What the minimum count held back in the scope's cell layers.
    pub suppressed: Suppressed,
    /// The folder holding the scope's layers, micro-markets, campaigns and map: its own, or
    /// `all`'s when it holds exactly `all`'s consumers (`same_as_all`).
    pub outputs_in: std::path::PathBuf,
}

/// Whether `scope` holds exactly the consumers of `all` (one region covering every consumer):
/// its cells, counts, base rates, micro-markets and campaigns are then `all`'s, and only its
/// Gi* study area could differ, by ring cells beyond its edge. Such a scope is reported as
/// `all`: its summary rows repeat `all`'s figures under its name, and its outputs are `all`'s
/// ([`ScopeFigures::outputs_in`]).
pub fn same_as_all(scope: &ScopeCounts, all: &ScopeCounts) -> bool {
    scope.scope.kind != crate::stats::ScopeKind::All
        && scope.total_population() == all.total_population()
}

/// The concentration test's findings per segment and the micro-markets of the protected table
/// `counts`, with their family-wise check when `params` asks for replicate worlds.
fn find_markets(
    counts: &ScopeCounts,
    params: &AnalysisParams,
    segment_names: &[String],
) -> (Vec<SegmentMarkets>, Vec<MicroMarket>) {
    let privacy = params.privacy();
    let options = params.concentration();
    let disks = Disks::new(&counts.cells, &counts.population, params.max_rings);
    let detected = market::detect(counts, &disks, &options, privacy);
    let p_fwer = if params.permutations > 0 {
        market::family_wise(
            counts,
            &disks,
            &detected,
            &options,
            privacy,
            params.permutations,
        )
    } else {
        Vec::new()
    };
    let markets = market::micro_markets(counts, &detected, &p_fwer, segment_names);
    (detected, markets)
}

/// Marks the micro-markets of `analysis` stable or not across resolutions
/// ([`market::mark_stability`]): the detector runs again, without replicate worlds, on the
/// scope's true tables at r − 1 (`coarser`) and r + 1 (`finer`), protected as the run protects.
pub fn check_stability(
    analysis: &mut ScopeAnalysis<'_>,
    coarser: &ScopeCounts,
    finer: &ScopeCounts,
) {
    let params = AnalysisParams {
        permutations: 0,
        ..analysis.params
    };
    let privacy = params.privacy();
    let names = analysis.segment_names;
    let coarser = privacy.protect(coarser);
    let finer = privacy.protect(finer);
    let (_, coarser_markets) = find_markets(&coarser, &params, names);
    let (_, finer_markets) = find_markets(&finer, &params, names);
    market::mark_stability(
        &mut analysis.markets,
        &analysis.counts,
        &coarser_markets,
        (&finer_markets, &finer),
    );
}

/// Analyses one scope from its protected count table: Gi* over its study area, the concentration
/// test and micro-markets (with their family-wise check when asked), and with a budget one
/// campaign per segment, with the minimum count applied to every figure.
pub fn analyze_scope<'a>(
    true_counts: &'a ScopeCounts,
    centres: &CellCentres,
    params: &AnalysisParams,
    segment_names: &'a [String],
) -> ScopeAnalysis<'a> {
    let privacy = params.privacy();
    let protected = privacy.protect(true_counts);
    let counts: &ScopeCounts = &protected;
    let started = Instant::now();
    let options = HotSpotOptions {
        neighbours: params.neighbours,
        fdr: params.fdr,
    };
    let hot_spots = stats::scope_hot_spots(counts, centres, options);
    let hot_spots_micros = started.elapsed().as_micros() as u64;
    let started = Instant::now();
    let (detected, markets) = find_markets(counts, params, segment_names);
    let micromarkets_micros = started.elapsed().as_micros() as u64;
    let campaigns = params.budget.map_or_else(Vec::new, |budget| {
        market::campaigns(counts, &markets, budget, params.budget_unit, privacy)
    });
    let big_n = counts.total_population();
    let totals = (0..counts.segments)
        .map(|s| privacy.totals(big_n, counts.total_members(s)))
        .collect();
    let segments = segment_names
        .iter()
        .enumerate()
        .map(|(s, name)| {
            let mut of_segment = markets.iter().filter(|m| m.segment == s);
            let best = of_segment.next().map(MarketHeadline::of);
            let campaign = campaigns.get(s).map(|c| {
                let published =
                    privacy.group(c.members, c.population, c.scope_members, c.scope_population);
                (published, c.population)
            });
            SegmentFigures {
                segment: name.clone(),
                hot_cells: hot_spots.segments[s].hot.iter().filter(|&&h| h).count() as u64,
                rho: stats::round6(detected[s].found.rho),
                centres_tested: detected[s].found.tested as u64,
                centres_selected: detected[s].found.selected.len() as u64,
                micromarkets: u64::from(best.is_some()) + of_segment.count() as u64,
                best_micromarket: best,
                campaign_members: campaign.and_then(|(p, _)| p.members),
                campaign_population: campaign.map(|(_, population)| population),
                campaign_lift: campaign.and_then(|(p, _)| p.rates.lift),
            }
        })
        .collect();
    let suppressed = privacy.tally(counts);
    let cells_shown = privacy.shown_cells(counts).len() as u64;
    let figures = ScopeFigures {
        scope: counts.scope.clone(),
        consumers: privacy.count(big_n),
        cells: suppressed.cells + cells_shown,
        cells_shown,
        study_area_cells: hot_spots.study_area_cells as u64,
        totals,
        segments,
        suppressed,
        outputs_in: counts.scope.folder.clone(),
    };
    ScopeAnalysis {
        counts: protected,
        params: *params,
        segment_names,
        hot_spots,
        detected,
        markets,
        campaigns,
        figures,
        hot_spots_micros,
        micromarkets_micros,
    }
}

/// A micro-market in one line: what a planner reads first.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MarketHeadline {
    /// Its id (as in `micromarkets.geojson`).
    pub id: String,
    /// Segment members in it.
    pub members: u64,
    /// Members beyond the scope's base rate, `k − P·n`.
    pub excess_members: f64,
    /// Its lift over the scope's base rate.
    pub lift: Option<f64>,
    /// The lift's 95% Wilson interval.
    pub lift_interval: Option<(f64, f64)>,
}

impl MarketHeadline {
    fn of(m: &market::MicroMarket) -> Self {
        let rates = crate::disclosure::Rates::of(
            m.members,
            m.population,
            m.scope_members,
            m.scope_population,
        );
        MarketHeadline {
            id: m.id.clone(),
            members: m.members,
            excess_members: stats::round6(m.excess_members),
            lift: rates.lift,
            lift_interval: rates.lift_interval,
        }
    }
}

/// Hot spots and micro-markets of one scope × segment.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SegmentFigures {
    /// Segment name.
    pub segment: String,
    /// Gi* hot cells (q ≤ fdr, Gi* > 0, at least one member): the density layer.
    pub hot_cells: u64,
    /// ρ̂, the overdispersion of the segment's cell shares (concentration test).
    pub rho: f64,
    /// Centres tested by the concentration test: its Benjamini–Hochberg family.
    pub centres_tested: u64,
    /// Centres selected at the FDR.
    pub centres_selected: u64,
    /// Micro-markets exported (at least the minimum count of members).
    pub micromarkets: u64,
    /// The best-ranked micro-market, if any.
    pub best_micromarket: Option<MarketHeadline>,
    /// Members reached by the campaign (with `--budget`; null when below the minimum count).
    pub campaign_members: Option<u64>,
    /// Population reached by the campaign (with `--budget`).
    pub campaign_population: Option<u64>,
    /// The campaign's lift over the scope's base rate (with `--budget`).
    pub campaign_lift: Option<f64>,
}
