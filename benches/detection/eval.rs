//! Micro-markets against ground truth over seeded synthetic worlds: false positives in null worlds,
//! power per planted spot by signal strength, member-weighted precision against the true lift,
//! and campaigns against the optimum with the truth known. Shared by `benches/detection.rs` (the
//! full runs) and the integration tests (a reduced run).

use h3o::CellIndex;
use micromarket::AnalysisParams;
use micromarket::boundary::Locator;
use micromarket::consumer::{IngestOptions, Source, ingest};
use micromarket::disclosure::Privacy;
use micromarket::market::{self, Candidate, Prior};
use micromarket::segment::{self, SegmentsFile};
use micromarket::stats::{self, Disks, HotSpotOptions, ScopeCounts};
use micromarket::synth::{NAMED_SEGMENTS, Plants, SynthOptions, Truth, World};
use std::fmt::Write as _;

/// What one world gives.
#[derive(Debug, Clone, Default)]
pub struct WorldFigures {
    /// Micro-markets found (any segment), and with ρ̂ forced to 0.
    pub markets: usize,
    /// Micro-markets found with ρ̂ forced to 0 (the negative control).
    pub markets_rho0: usize,
    /// Per plant: its SNR and whether one micro-market holds ≥ 50% of its members.
    pub plants: Vec<(f64, bool)>,
    /// Micro-markets found with ρ̂ refitted without the selected windows ([`refit_without_selected`]).
    pub markets_refit: usize,
    /// Per plant, the same with ρ̂ refitted.
    pub plants_refit: Vec<(f64, bool)>,
    /// Members in micro-market cells, and of those in cells whose true lift ≥ λ0.
    pub precision: (u64, u64),
    /// The same for Gi* hot cells (the old definition).
    pub precision_gi: (u64, u64),
    /// True expected members reached at the budget: shrunken greedy, raw greedy, optimum bound.
    pub campaign: (f64, f64, f64),
}

/// The segments file of the four named segments.
fn named_segments() -> String {
    let mut text = String::from("[schema]\nage = \"numeric\"\nspend = \"numeric\"\n");
    for (name, filter) in NAMED_SEGMENTS {
        let _ = write!(
            text,
            "\n[[segment]]\nname = \"{name}\"\nfilter = \"{filter}\"\n"
        );
    }
    text
}

/// Runs the detector on the `all` scope of one world and measures it against the truth.
#[allow(
    clippy::too_many_lines,
    reason = "one world, built and measured in order"
)]
pub fn world(
    seed: u64,
    consumers: usize,
    (plants, privacy): (Plants, Privacy),
    budget_share: f64,
) -> WorldFigures {
    let params = AnalysisParams {
        privacy: privacy.method,
        min_count: privacy.min_count,
        ..AnalysisParams::default()
    };
    let world = World::new(SynthOptions {
        seed,
        consumers,
        plants,
        ..SynthOptions::default()
    });
    let mut csv = Vec::new();
    world.write_consumers(&mut csv).expect("in-memory write");
    let segments_file = SegmentsFile::parse("segments.toml", &named_segments()).expect("valid");
    let options = IngestOptions {
        schema: segments_file.schema.clone(),
        ..IngestOptions::default()
    };
    let source = Source::Bytes {
        name: "consumers.csv".into(),
        data: csv.into(),
    };
    let table = ingest(&source, &options).expect("valid").table;
    let (segments, _) = segment::compile("segments.toml", &segments_file, &table).expect("valid");
    let boundaries = world.region_boundaries();
    let locator = Locator::new(&boundaries, params.resolution);
    let located = locator.locate(&table.lat, &table.lng);
    let (record_keys, _) = micromarket::perturb::record_keys(None, &table.id_hashes);
    let true_counts =
        stats::aggregate(&boundaries, &located, &segments, &record_keys).swap_remove(0);
    let privacy = params.privacy();
    // The detector sees what a run publishes from: the protected table.
    let counts = privacy.protect(&true_counts).into_owned();
    let truth = world.truth(params.resolution);
    let detector = params.concentration();
    let disks = Disks::new(&counts.cells, &counts.population, detector.max_rings);
    let found = market::detect(&counts, &disks, &detector, privacy);
    let min = u64::from(privacy.min_count);
    let mut figures = WorldFigures {
        markets: found.iter().map(|s| s.components.len()).sum(),
        ..WorldFigures::default()
    };
    let refit: Vec<market::SegmentMarkets> = found
        .iter()
        .enumerate()
        .map(|(s, segment)| {
            refit_without_selected(&counts, &disks, s, &segment.found, &detector, min)
        })
        .collect();
    figures.markets_refit = refit.iter().map(|s| s.components.len()).sum();
    for (s, segment) in found.iter().enumerate() {
        let k = market::segment_members(&counts, s);
        let mut rho0 = stats::concentration(
            &k,
            market::published_windows(&counts, &disks, s),
            &disks,
            &detector,
            Some(segment.found.base_rate),
            Some(0.0),
        );
        rho0.rho = 0.0;
        figures.markets_rho0 +=
            market::segment_components(&counts.cells, &k, &disks, &rho0, &detector, min).len();
    }
    if plants == Plants::Null {
        return figures;
    }
    let true_lift = |cell: CellIndex, s: usize| {
        truth
            .cells
            .binary_search(&cell)
            .map_or(0.0, |c| truth.share(c, s) / truth.overall_share(s))
    };
    // Precision, member-weighted, of the micro-markets and of the Gi* hot cells.
    let hot = stats::scope_hot_spots(
        &counts,
        &stats::CellCentres::new(&locator, &counts.cells, params.neighbours),
        HotSpotOptions {
            neighbours: params.neighbours,
            fdr: params.fdr,
        },
    );
    for (s, segment) in found.iter().enumerate() {
        for component in &segment.components {
            for &c in &component.cells {
                let k = u64::from(counts.members_of(c as usize, s));
                figures.precision.0 += k;
                if true_lift(counts.cells[c as usize], s) >= params.min_lift {
                    figures.precision.1 += k;
                }
            }
        }
        for (c, &is_hot) in hot.segments[s].hot.iter().enumerate() {
            if is_hot {
                let k = u64::from(counts.members_of(c, s));
                figures.precision_gi.0 += k;
                if true_lift(counts.cells[c], s) >= params.min_lift {
                    figures.precision_gi.1 += k;
                }
            }
        }
    }
    for (markets, plants) in [
        (&found, &mut figures.plants),
        (&refit, &mut figures.plants_refit),
    ] {
        *plants = plant_power(
            &world,
            &table.lat,
            &table.lng,
            &located.cell,
            &segments,
            &counts,
            markets,
            &truth,
            params.min_lift,
        );
    }
    figures.campaign = campaign_on_truth(&counts, &truth, privacy, budget_share);
    figures
}

/// The detector again with ρ̂ estimated (by the written moments) over the cells outside the best
/// windows of the centres `first` selected, so that the spots found do not count as
/// overdispersion: an alternative to the written ρ̂, measured beside it, not what runs use.
fn refit_without_selected(
    counts: &ScopeCounts,
    disks: &Disks,
    s: usize,
    first: &stats::SegmentConcentration,
    detector: &stats::ConcentrationOptions,
    min: u64,
) -> market::SegmentMarkets {
    let k = market::segment_members(counts, s);
    let mut inside = vec![false; counts.cells.len()];
    for centre in &first.selected {
        for &j in disks.disk(centre.cell as usize, centre.radius) {
            inside[j as usize] = true;
        }
    }
    // The windows the written ρ̂ and the test use (each disk as published for a protected table).
    let windows = market::published_windows(counts, disks, s)
        .unwrap_or_else(|| disks.sums(|j| u64::from(k[j])));
    let width = windows.len() / counts.cells.len().max(1);
    let rho = stats::overdispersion(
        (0..counts.cells.len()).filter(|&c| !inside[c]).map(|c| {
            (
                windows[c * width],
                disks.population(c, 0),
                windows[c * width + 2],
                disks.population(c, 2),
            )
        }),
        first.base_rate,
    );
    let found = stats::concentration(
        &k,
        Some(windows),
        disks,
        detector,
        Some(first.base_rate),
        Some(rho),
    );
    let components = market::segment_components(&counts.cells, &k, disks, &found, detector, min);
    market::SegmentMarkets { found, components }
}

/// Per plant of `world`: its SNR and whether one micro-market of its segment holds at least half
/// of its members (consumers inside it who are members).
#[allow(
    clippy::too_many_arguments,
    reason = "one world's pieces, each used once"
)]
fn plant_power(
    world: &World,
    lat: &[f64],
    lng: &[f64],
    cells: &[CellIndex],
    segments: &[micromarket::segment::Segment],
    counts: &ScopeCounts,
    found: &[market::SegmentMarkets],
    truth: &Truth,
    min_lift: f64,
) -> Vec<(f64, bool)> {
    world
        .hotspots
        .iter()
        .map(|h| {
            let s = NAMED_SEGMENTS
                .iter()
                .position(|(name, _)| *name == h.segment)
                .expect("named");
            let inside: Vec<usize> = (0..lat.len())
                .filter(|&i| {
                    let dy = (lat[i] - h.lat) * 111.32;
                    let dx = (lng[i] - h.lng) * 111.32 * h.lat.to_radians().cos();
                    dx * dx + dy * dy <= h.radius_km * h.radius_km
                })
                .collect();
            let n_s = inside.len() as f64;
            let big_p = truth.overall_share(s);
            let share: f64 = inside
                .iter()
                .map(|&i| world.true_share(h.segment, lat[i], lng[i]).unwrap_or(0.0))
                .sum::<f64>()
                / n_s.max(1.0);
            let lift = share / big_p;
            let snr = (lift - min_lift) * big_p * n_s / (min_lift * big_p * n_s).sqrt();
            let members: Vec<CellIndex> = inside
                .iter()
                .filter(|&&i| segments[s].members.contains(i))
                .map(|&i| cells[i])
                .collect();
            let held = found[s].components.iter().any(|component| {
                let mine: Vec<CellIndex> = component
                    .cells
                    .iter()
                    .map(|&c| counts.cells[c as usize])
                    .collect();
                let within = members
                    .iter()
                    .filter(|c| mine.binary_search(c).is_ok())
                    .count();
                !members.is_empty() && within * 2 >= members.len()
            });
            (snr, held)
        })
        .collect()
}

/// True expected members reached with a budget of `budget_share` of the scope's population:
/// cells chosen by shrunken share, by raw penetration, and the fractional-knapsack bound on true
/// shares (at least the integer optimum), over the cells a campaign may use.
fn campaign_on_truth(
    counts: &ScopeCounts,
    truth: &Truth,
    privacy: Privacy,
    budget_share: f64,
) -> (f64, f64, f64) {
    let budget = (counts.total_population() as f64 * budget_share) as u64;
    let shown: Vec<usize> = (0..counts.cells.len())
        .filter(|&c| privacy.shows_cell(u64::from(counts.population[c])))
        .collect();
    let mut total = (0.0, 0.0, 0.0);
    for s in 0..NAMED_SEGMENTS.len() {
        let candidates: Vec<Candidate> = shown
            .iter()
            .map(|&c| Candidate {
                population: u64::from(counts.population[c]),
                members: u64::from(counts.members_of(c, s)),
            })
            .collect();
        let true_share: Vec<f64> = shown
            .iter()
            .map(|&c| {
                truth
                    .cells
                    .binary_search(&counts.cells[c])
                    .map_or(0.0, |t| truth.share(t, s))
            })
            .collect();
        let value = |chosen: &[usize]| -> f64 {
            chosen
                .iter()
                .map(|&i| candidates[i].population as f64 * true_share[i])
                .sum()
        };
        total.0 += value(&market::shrunken_greedy(
            &candidates,
            budget,
            Prior::of(counts, s),
        ));
        total.1 += value(&market::greedy(&candidates, budget));
        let mut order: Vec<usize> = (0..candidates.len()).collect();
        order.sort_by(|&a, &b| true_share[b].total_cmp(&true_share[a]));
        let mut left = budget as f64;
        for i in order {
            let take = (candidates[i].population as f64).min(left);
            total.2 += take * true_share[i];
            left -= take;
            if left <= 0.0 {
                break;
            }
        }
    }
    total
}

/// The figures of many worlds, summed up.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Null worlds run.
    pub null_worlds: usize,
    /// Null worlds with any micro-market.
    pub null_positive: usize,
    /// Null worlds with any micro-market when ρ̂ is forced to 0.
    pub null_positive_rho0: usize,
    /// Plants with SNR ≥ 8: (found, all).
    pub strong: (usize, usize),
    /// Plants with SNR in [4, 8): (found, all).
    pub medium: (usize, usize),
    /// Plants with SNR below 4: (found, all).
    pub weak: (usize, usize),
    /// Null worlds with any micro-market, ρ̂ refitted without the selected windows.
    pub null_positive_refit: usize,
    /// Plants with SNR ≥ 8 and in [4, 8), ρ̂ refitted: (found, all).
    pub refit: [(usize, usize); 2],
    /// Member-weighted precision of micro-markets and of Gi* hot cells.
    pub precision: (f64, f64),
    /// Campaigns: shrunken and raw greedy as shares of the optimum bound.
    pub campaign: (f64, f64),
}

/// Runs `null` null worlds and `planted` worlds with varied plants, from seed `first`.
pub fn summary(
    first: u64,
    (null, planted, consumers): (usize, usize, usize),
    privacy: Privacy,
) -> Summary {
    use rayon::prelude::*;
    let nulls: Vec<WorldFigures> = (0..null as u64)
        .into_par_iter()
        .map(|i| world(first + i, consumers, (Plants::Null, privacy), 0.05))
        .collect();
    let worlds: Vec<WorldFigures> = (0..planted as u64)
        .into_par_iter()
        .map(|i| {
            world(
                first + 10_000 + i,
                consumers,
                (Plants::Varied, privacy),
                0.05,
            )
        })
        .collect();
    let mut out = Summary {
        null_worlds: null,
        null_positive: nulls.iter().filter(|w| w.markets > 0).count(),
        null_positive_rho0: nulls.iter().filter(|w| w.markets_rho0 > 0).count(),
        null_positive_refit: nulls.iter().filter(|w| w.markets_refit > 0).count(),
        ..Summary::default()
    };
    let (mut precision, mut precision_gi, mut campaign) = ((0, 0), (0, 0), (0.0, 0.0, 0.0));
    for w in &worlds {
        for &(snr, found) in &w.plants {
            let bin = if snr >= 8.0 {
                &mut out.strong
            } else if snr >= 4.0 {
                &mut out.medium
            } else {
                &mut out.weak
            };
            bin.0 += usize::from(found);
            bin.1 += 1;
        }
        for &(snr, found) in &w.plants_refit {
            if snr >= 4.0 {
                let bin = &mut out.refit[usize::from(snr < 8.0)];
                bin.0 += usize::from(found);
                bin.1 += 1;
            }
        }
        precision = (precision.0 + w.precision.0, precision.1 + w.precision.1);
        precision_gi = (
            precision_gi.0 + w.precision_gi.0,
            precision_gi.1 + w.precision_gi.1,
        );
        campaign = (
            campaign.0 + w.campaign.0,
            campaign.1 + w.campaign.1,
            campaign.2 + w.campaign.2,
        );
    }
    let ratio = |(all, good): (u64, u64)| {
        if all > 0 {
            good as f64 / all as f64
        } else {
            1.0
        }
    };
    out.precision = (ratio(precision), ratio(precision_gi));
    out.campaign = (campaign.0 / campaign.2, campaign.1 / campaign.2);
    out
}
