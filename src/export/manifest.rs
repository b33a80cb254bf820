//! `manifest.json`: the contract batch jobs read (inputs, parameters, rows, scopes, outputs).

use super::atomic::Written;
use crate::consumer::RowCounts;
use crate::disclosure::Suppressed;
use crate::scope::SegmentFigures;
use crate::stats::ScopeKind;
use std::collections::BTreeMap;

/// The tool that wrote the outputs.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Tool {
    /// Crate name.
    pub name: String,
    /// Crate version.
    pub version: String,
}

impl Default for Tool {
    fn default() -> Self {
        Tool {
            name: env!("CARGO_PKG_NAME").into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

/// How a run (or one scope of it) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Complete: every output listed is written.
    Ok,
    /// Stopped; see the error.
    Failed,
}

/// One input file.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InputRecord {
    /// consumers, regions, cities or segments.
    pub role: String,
    /// Path as given (or a description of generated input).
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the bytes.
    pub sha256: String,
}

/// One output file.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct OutputRecord {
    /// cells, cells_csv, summary, rejects...
    pub kind: String,
    /// Path relative to the output root, with `/`.
    pub path: String,
    /// Features (GeoJSON) or data rows (CSV).
    pub features: u64,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the bytes.
    pub sha256: String,
}

impl OutputRecord {
    /// A record for a committed file.
    pub fn new(kind: &str, path: String, features: u64, written: Written) -> Self {
        OutputRecord {
            kind: kind.into(),
            path,
            features,
            bytes: written.bytes,
            sha256: written.sha256,
        }
    }
}

/// One scope and its outputs.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ScopeRecord {
    /// city, region or all.
    pub kind: ScopeKind,
    /// Identifier.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Region name, empty when none.
    pub region: String,
    /// City name, empty unless a city.
    pub city: String,
    /// Consumers located in the scope (null when fewer than the minimum count).
    pub consumers: Option<u64>,
    /// Cells holding its consumers (before the minimum count).
    pub cells: u64,
    /// Of those, the cells its layers and map show.
    pub cells_shown: u64,
    /// Cells of the hot-spot study area: the scope's occupied cells plus the cells within the Gi*
    /// rings of them whose centre lies in the scope.
    pub study_area_cells: u64,
    /// Size of each segment's Benjamini–Hochberg family (the study area).
    pub fdr_family_size: u64,
    /// Hot cells and micro-markets per segment, in segment order.
    pub segments: Vec<SegmentFigures>,
    /// ok or failed.
    pub status: RunStatus,
    /// Error when failed.
    pub error: Option<String>,
    /// Files written for the scope.
    pub outputs: Vec<OutputRecord>,
    /// For a scope holding exactly `all`'s consumers: the folder whose layers, micro-markets,
    /// campaigns and map are its own too (`all`); it writes none of its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outputs_in: Option<String>,
    /// What the minimum count held back in this scope.
    pub suppressed: Suppressed,
}

/// Parameters of a run, as used.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Parameters {
    /// H3 analysis resolution.
    pub resolution: u8,
    /// Minimum count k.
    pub min_count: u32,
    /// False discovery rate of the hot-spot test.
    pub fdr: f64,
    /// Disk radius of the Gi* weights.
    pub neighbours: u32,
    /// λ0, the lift that counts as material for micro-markets.
    pub min_lift: f64,
    /// R, the largest window radius of the concentration test.
    pub max_rings: u32,
    /// E_min, the smallest expected count of a tested window.
    pub min_expected: f64,
    /// B, replicate worlds of the family-wise check (0: none).
    pub permutations: u32,
    /// Whether micro-markets were checked at r − 1 and r + 1 (`stable_coarser`, `stable_finer`).
    pub stability: bool,
    /// Campaign budget in population reached, if any.
    pub budget: Option<u64>,
    /// What the budget buys.
    pub budget_unit: crate::market::BudgetUnit,
    /// Allowed share of rejected rows.
    pub max_reject_ratio: f64,
    /// Segment names, in output order.
    pub segments: Vec<String>,
    /// Cell layer formats written.
    pub formats: String,
    /// How consumers and cells are assigned to areas.
    pub containment: BTreeMap<String, String>,
    /// Worker threads.
    pub threads: usize,
    /// How counts were protected.
    pub privacy: crate::perturb::PrivacyRecord,
}

/// The whole manifest.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Manifest {
    /// Tool name and version.
    pub tool: Tool,
    /// ok, or failed with `error`.
    pub status: RunStatus,
    /// Why the run failed.
    pub error: Option<String>,
    /// Parameters.
    pub parameters: Parameters,
    /// Input files.
    pub inputs: Vec<InputRecord>,
    /// Row accounting: read = accepted + rejected.
    pub rows: RowCounts,
    /// Top-level outputs (summary.csv, index.html, map assets).
    pub outputs: Vec<OutputRecord>,
    /// Scopes with their outputs.
    pub scopes: Vec<ScopeRecord>,
    /// Totals held back by the minimum count.
    pub suppressed: Suppressed,
    /// Non-fatal problems found in the inputs.
    pub warnings: Vec<String>,
    /// Milliseconds per stage.
    pub timings_ms: BTreeMap<String, u64>,
    /// For a failed run: the manifest of the earlier complete run whose files the folder still
    /// holds (absent when there is none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<serde_json::Value>,
    /// The file of rejected consumer rows, outside the output folder (its count and reasons are
    /// in `rows`; the folder never holds raw rows).
    pub rejects: Option<OutputRecord>,
}
