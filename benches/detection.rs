//! Micro-markets against ground truth (issue 14's acceptance): type-I rate over null worlds (and
//! with ρ̂ forced to 0), power per plant by SNR, member-weighted precision beside Gi* hot cells,
//! campaigns against the optimum on the truth.
//!
//! `cargo bench --bench detection -- [NULL_WORLDS [PLANTED_WORLDS [CONSUMERS [MIN_COUNT]]]] [perturb|suppress|none]`
//! (defaults 200, 100, 100000, 10, none: the detector on true counts, every cell; perturb
//! measures it on the protected table a run with that minimum count publishes from).

#![allow(clippy::print_stdout, reason = "a bench prints its table")]

#[path = "detection/eval.rs"]
mod eval;

fn main() {
    let numbers: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let null = numbers.first().copied().unwrap_or(200);
    let planted = numbers.get(1).copied().unwrap_or(100);
    let consumers = numbers.get(2).copied().unwrap_or(100_000);
    let method =
        match std::env::args().find(|a| ["perturb", "suppress", "none"].contains(&a.as_str())) {
            Some(m) if m == "perturb" => micromarket::disclosure::PrivacyMethod::Perturb,
            Some(m) if m == "suppress" => micromarket::disclosure::PrivacyMethod::Suppress,
            _ => micromarket::disclosure::PrivacyMethod::None,
        };
    let privacy = micromarket::AnalysisParams {
        privacy: method,
        min_count: numbers.get(3).map_or(10, |&k| k as u32),
        ..micromarket::AnalysisParams::default()
    }
    .privacy();
    let started = std::time::Instant::now();
    let s = eval::summary(1, (null, planted, consumers), privacy);
    let share = |(found, all): (usize, usize)| {
        format!(
            "{found}/{all} ({:.1}%)",
            100.0 * found as f64 / all.max(1) as f64
        )
    };
    println!(
        "worlds of {consumers} consumers, `all` scope, 4 named segments, default parameters, privacy {}, minimum count {}",
        method.as_str(),
        privacy.min_count
    );
    println!("| figure | value | target |");
    println!("|---|---|---|");
    println!(
        "| null worlds with any micro-market | {} | ≤ 5% |",
        share((s.null_positive, s.null_worlds))
    );
    println!(
        "| same, ρ̂ forced to 0 (negative control) | {} | visibly higher |",
        share((s.null_positive_rho0, s.null_worlds))
    );
    println!("| plants found, SNR ≥ 8 | {} | ≥ 90% |", share(s.strong));
    println!("| plants found, SNR 4-8 | {} | ≥ 50% |", share(s.medium));
    println!(
        "| ρ̂ refitted without the selected windows (not the written ρ̂): null worlds with any micro-market | {} | - |",
        share((s.null_positive_refit, s.null_worlds))
    );
    println!(
        "| the same: plants found, SNR ≥ 8 / 4-8 | {} / {} | - |",
        share(s.refit[0]),
        share(s.refit[1])
    );
    println!("| plants found, SNR < 4 | {} | - |", share(s.weak));
    println!(
        "| member-weighted precision (true lift ≥ λ0) | {:.1}% | ≥ 70% |",
        100.0 * s.precision.0
    );
    println!(
        "| same for Gi* hot cells (old definition) | {:.1}% | - |",
        100.0 * s.precision.1
    );
    println!(
        "| campaign (5% budget), shrunken share, of the optimum | {:.1}% | ≥ 85% |",
        100.0 * s.campaign.0
    );
    println!(
        "| campaign, raw penetration, of the optimum | {:.1}% | below the shrunken |",
        100.0 * s.campaign.1
    );
    println!(
        "({null} null and {planted} planted worlds in {:.0} s)",
        started.elapsed().as_secs_f64()
    );
}
