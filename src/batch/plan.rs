//! Launch plans: the TOML file, its validation, and the launches it expands to.

use crate::TextInput;
use crate::boundary::{Boundaries, BoundaryOptions};
use crate::export::{hex, sha256_file};
use crate::market::BudgetUnit;
use crate::params::{AnalysisParams, GivenParams};
use crate::segment::SegmentsFile;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// A plan that cannot run: every problem found, each naming the plan, the launch or the file.
#[derive(Debug, Error)]
#[error("{file}: {} problem(s):\n  - {}", problems.len(), problems.join("\n  - "))]
pub struct PlanError {
    /// The plan file.
    pub file: String,
    /// Every problem found.
    pub problems: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanFile {
    consumers: String,
    regions: Option<String>,
    cities: String,
    out: Option<String>,
    #[serde(default)]
    defaults: Defaults,
    #[serde(default)]
    launch: Vec<LaunchDef>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Defaults {
    segments: Option<String>,
    resolution: Option<u8>,
    min_count: Option<u32>,
    fdr: Option<f64>,
    neighbours: Option<u32>,
    min_lift: Option<f64>,
    max_rings: Option<u32>,
    permutations: Option<u32>,
    budget: Option<u64>,
    budget_unit: Option<BudgetUnit>,
    max_reject_ratio: Option<f64>,
    privacy: Option<crate::disclosure::PrivacyMethod>,
}

impl Defaults {
    fn given(&self) -> GivenParams {
        GivenParams {
            resolution: self.resolution,
            min_count: self.min_count,
            fdr: self.fdr,
            neighbours: self.neighbours,
            min_lift: self.min_lift,
            max_rings: self.max_rings,
            permutations: self.permutations,
            budget: self.budget,
            budget_unit: self.budget_unit,
            max_reject_ratio: self.max_reject_ratio,
            privacy: self.privacy,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LaunchDef {
    city: Option<String>,
    region: Option<String>,
    segments: Option<String>,
    resolution: Option<u8>,
    budget: Option<u64>,
    budget_unit: Option<BudgetUnit>,
}

impl LaunchDef {
    fn given(&self) -> GivenParams {
        GivenParams {
            resolution: self.resolution,
            budget: self.budget,
            budget_unit: self.budget_unit,
            ..GivenParams::default()
        }
    }
}

/// The parameters of one launch, as run (and compared on `--resume`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LaunchParameters {
    /// Segments file, as written in the plan.
    pub segments: String,
    /// SHA-256 of the segments file.
    pub segments_sha256: String,
    /// H3 resolution.
    pub resolution: u8,
    /// Minimum count k.
    pub min_count: u32,
    /// False discovery rate.
    pub fdr: f64,
    /// Gi* disk radius.
    pub neighbours: u32,
    /// λ0 of the micro-market test (absent in manifests of earlier versions).
    #[serde(default)]
    pub min_lift: f64,
    /// Largest window radius of the micro-market test.
    #[serde(default)]
    pub max_rings: u32,
    /// Replicate worlds of the family-wise check.
    #[serde(default)]
    pub permutations: u32,
    /// Campaign budget, if any.
    pub budget: Option<u64>,
    /// What the budget buys.
    pub budget_unit: BudgetUnit,
    /// SHA-256 of the consumers, regions and cities files.
    pub inputs_sha256: String,
}

/// One launch: a city and its parameters.
#[derive(Debug, Clone)]
pub struct Launch {
    /// `region-slug/city-slug`, also its folder under the output root.
    pub id: String,
    /// City index in the boundaries.
    pub city: usize,
    /// Its parameters, as recorded in the manifest.
    pub parameters: LaunchParameters,
    /// Its parameters, checked.
    pub params: AnalysisParams,
}

/// A validated plan, ready to run.
#[derive(Debug)]
pub struct Plan {
    /// The plan file, as given.
    pub file: String,
    /// SHA-256 of the plan file.
    pub sha256: String,
    /// Consumers file.
    pub consumers: PathBuf,
    /// Regions, cities (loaded).
    pub boundaries: Boundaries,
    /// Boundary inputs as read.
    pub boundary_inputs: Vec<TextInput>,
    /// Segments files by the name used in the plan.
    pub segments: BTreeMap<String, TextInput>,
    /// Output root.
    pub out: PathBuf,
    /// Share of rejected consumer rows above which nothing runs.
    pub max_reject_ratio: f64,
    /// The launches, in plan order (a region expands to its cities in file order).
    pub launches: Vec<Launch>,
}

fn closest<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> String {
    let mut scored: Vec<(f64, &str)> = known
        .map(|k| {
            (
                strsim::normalized_levenshtein(&name.to_lowercase(), &k.to_lowercase()),
                k,
            )
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    let picks: Vec<String> = scored
        .iter()
        .filter(|(score, _)| *score >= 0.5)
        .take(3)
        .map(|(_, k)| format!("'{k}'"))
        .collect();
    if picks.is_empty() {
        String::new()
    } else {
        format!("; did you mean {}?", picks.join(" or "))
    }
}

impl Plan {
    /// Reads and validates a plan: inputs exist, boundaries and segments files are valid, every
    /// launch names a known city or region, values are in range, no city is launched twice.
    /// Paths in the plan are relative to the plan file; `out` overrides the plan's output root.
    ///
    /// # Errors
    ///
    /// [`PlanError`] listing every problem found.
    pub fn load(path: &Path, out: Option<PathBuf>) -> Result<Plan, PlanError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| PlanError {
            file: file.clone(),
            problems: vec![format!("cannot read the plan: {e}")],
        })?;
        Self::parse(&file, &text, path.parent().unwrap_or(Path::new(".")), out)
    }

    /// Validates the plan `text` of `file`, whose paths are relative to `base`; see [`Plan::load`].
    ///
    /// # Errors
    ///
    /// [`PlanError`] listing every problem found.
    pub fn parse(
        file: &str,
        text: &str,
        base: &Path,
        out: Option<PathBuf>,
    ) -> Result<Plan, PlanError> {
        let fail = |problems: Vec<String>| PlanError {
            file: file.to_string(),
            problems,
        };
        let plan: PlanFile =
            toml::from_str(text).map_err(|e| fail(vec![e.to_string().trim_end().to_string()]))?;
        let mut problems = Vec::new();
        let consumers = base.join(&plan.consumers);
        if !consumers.is_file() {
            problems.push(format!("consumers file '{}' not found", plan.consumers));
        }
        let regions = plan
            .regions
            .as_deref()
            .and_then(|r| read_input(base, "regions", r, &mut problems));
        let cities = read_input(base, "cities", &plan.cities, &mut problems);
        let segments = read_segments(base, &plan, &mut problems);
        let boundaries = match (&regions, &cities) {
            (_, Some(c)) if plan.regions.is_none() || regions.is_some() => Boundaries::load(
                regions.as_ref().map(TextInput::as_boundary),
                Some(c.as_boundary()),
                &BoundaryOptions::default(),
            )
            .map_err(|e| problems.push(e.to_string()))
            .ok(),
            _ => None,
        };
        let defaults = plan.defaults.given();
        problems.extend(
            AnalysisParams::problems(defaults)
                .iter()
                .map(|p| format!("defaults: {p}")),
        );
        let max_reject_ratio = AnalysisParams::new(defaults).map_or(0.0, |p| p.max_reject_ratio);
        if plan.launch.is_empty() {
            problems
                .push("no [[launch]]: add one per city, e.g. [[launch]] city = \"Ashford\"".into());
        }
        let inputs = [
            Some(consumers.clone()),
            plan.regions.as_ref().map(|r| base.join(r)),
            Some(base.join(&plan.cities)),
        ];
        let inputs_sha256 = combined_sha256(inputs.iter().flatten());
        let launches = boundaries.as_ref().map_or_else(Vec::new, |b| {
            expand_launches(&plan, b, &segments, &inputs_sha256, &mut problems)
        });
        if !problems.is_empty() {
            return Err(fail(problems));
        }
        let boundaries = boundaries.expect("no problem means the boundaries loaded");
        Ok(Plan {
            file: file.to_string(),
            sha256: hex(&Sha256::digest(text.as_bytes())),
            consumers,
            boundaries,
            boundary_inputs: regions.into_iter().chain(cities).collect(),
            segments,
            out: out.unwrap_or_else(|| base.join(plan.out.as_deref().unwrap_or("out-launch"))),
            max_reject_ratio,
            launches,
        })
    }
}

/// Reads the plan's input `name` (relative to `base`), or records why it cannot be read.
fn read_input(
    base: &Path,
    role: &str,
    name: &str,
    problems: &mut Vec<String>,
) -> Option<TextInput> {
    match TextInput::read(&base.join(name)) {
        Ok(mut t) => {
            t.name = name.to_string();
            Some(t)
        }
        Err(e) => {
            problems.push(format!("{role} file '{name}' cannot be read: {e}"));
            None
        }
    }
}

/// Every segments file the plan names (its default and the launches' own), parsed once.
fn read_segments(
    base: &Path,
    plan: &PlanFile,
    problems: &mut Vec<String>,
) -> BTreeMap<String, TextInput> {
    let mut segments = BTreeMap::new();
    let wanted = plan
        .defaults
        .segments
        .iter()
        .chain(plan.launch.iter().filter_map(|l| l.segments.as_ref()));
    for name in wanted {
        if segments.contains_key(name) {
            continue;
        }
        if let Some(t) = read_input(base, "segments", name, problems) {
            if let Err(e) = SegmentsFile::parse(&t.name, &t.text) {
                problems.push(e.to_string());
            }
            segments.insert(name.clone(), t);
        }
    }
    segments
}

/// SHA-256 over the SHA-256 of each file, in order (an unreadable file counts as empty).
fn combined_sha256<'a>(paths: impl Iterator<Item = &'a PathBuf>) -> String {
    let mut h = Sha256::new();
    for p in paths {
        h.update(
            sha256_file(p)
                .map(|(_, sha)| sha)
                .unwrap_or_default()
                .as_bytes(),
        );
    }
    hex(&h.finalize())
}

/// The cities launch `n` names: one city (within its region, when it names one), or every city
/// of a region; `None` with the problem recorded when the names do not resolve.
fn launch_cities(
    b: &Boundaries,
    l: &LaunchDef,
    n: usize,
    problems: &mut Vec<String>,
) -> Option<Vec<usize>> {
    let region = match &l.region {
        Some(r) => {
            let found = b
                .regions
                .iter()
                .position(|x| &x.name == r || x.id.as_deref() == Some(r.as_str()));
            if found.is_none() {
                problems.push(format!(
                    "launch {n}: unknown region '{r}'{}",
                    closest(r, b.regions.iter().map(|x| x.name.as_str()))
                ));
                return None;
            }
            found
        }
        None => None,
    };
    let in_region = |k: usize| region.is_none() || b.cities[k].region == region;
    match (&l.city, region) {
        (Some(c), _) => {
            let matches: Vec<usize> = (0..b.cities.len())
                .filter(|&k| b.cities[k].name == *c && in_region(k))
                .collect();
            match matches.len() {
                0 => {
                    let known = (0..b.cities.len())
                        .filter(|&k| in_region(k))
                        .map(|k| b.cities[k].name.as_str());
                    problems.push(format!(
                        "launch {n}: unknown city '{c}'{}",
                        closest(c, known)
                    ));
                    None
                }
                1 => Some(matches),
                _ => {
                    problems.push(format!(
                        "launch {n}: {} cities are called '{c}'; add region = \"...\" to choose",
                        matches.len()
                    ));
                    None
                }
            }
        }
        (None, Some(_)) => Some((0..b.cities.len()).filter(|&k| in_region(k)).collect()),
        (None, None) => {
            problems.push(format!(
                "launch {n}: name a city (city = \"...\") or a region (region = \"...\")"
            ));
            None
        }
    }
}

/// The plan's launches, a region expanded to its cities in file order, each with its checked
/// parameters; problems are recorded and their launches left out.
fn expand_launches(
    plan: &PlanFile,
    b: &Boundaries,
    segments: &BTreeMap<String, TextInput>,
    inputs_sha256: &str,
    problems: &mut Vec<String>,
) -> Vec<Launch> {
    let defaults = plan.defaults.given();
    let mut launches = Vec::new();
    let mut seen: HashMap<usize, usize> = HashMap::new();
    for (i, l) in plan.launch.iter().enumerate() {
        let n = i + 1;
        let Some(cities) = launch_cities(b, l, n, problems) else {
            continue;
        };
        let own = AnalysisParams::problems(l.given());
        problems.extend(own.iter().map(|p| format!("launch {n}: {p}")));
        let Ok(params) = AnalysisParams::new(l.given().or(defaults)) else {
            continue;
        };
        let Some(segments_name) = l.segments.as_ref().or(plan.defaults.segments.as_ref()) else {
            problems.push(format!(
                "launch {n}: no segments file (set defaults.segments or segments)"
            ));
            continue;
        };
        let segments_sha256 = segments
            .get(segments_name)
            .map(|t| hex(&Sha256::digest(t.text.as_bytes())))
            .unwrap_or_default();
        for c in cities {
            if let Some(first) = seen.insert(c, n) {
                problems.push(format!(
                    "launch {n} repeats city '{}' (already in launch {first})",
                    b.cities[c].name
                ));
                continue;
            }
            let parent = b.cities[c]
                .region
                .map_or(crate::boundary::ALL_SLUG, |r| b.regions[r].slug.as_str());
            launches.push(Launch {
                id: format!("{parent}/{}", b.cities[c].slug),
                city: c,
                parameters: LaunchParameters {
                    segments: segments_name.clone(),
                    segments_sha256: segments_sha256.clone(),
                    resolution: u8::from(params.resolution),
                    min_count: params.min_count,
                    fdr: params.fdr,
                    neighbours: params.neighbours,
                    min_lift: params.min_lift,
                    max_rings: params.max_rings,
                    permutations: params.permutations,
                    budget: params.budget,
                    budget_unit: params.budget_unit,
                    inputs_sha256: inputs_sha256.to_string(),
                },
                params,
            });
        }
    }
    launches
}
