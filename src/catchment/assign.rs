//! Catchments: the consumers within a radius of each store or nearest to it, counted per segment against the store's scope.

use crate::boundary::{Located, Locator, NO_AREA};
use crate::disclosure::Privacy;
use crate::index::ConsumerIndex;
use crate::segment::Segment;
use crate::stats::{ScopeCounts, ScopeKind};
use h3o::CellIndex;
use rayon::prelude::*;
use std::collections::HashMap;

/// How consumers are assigned to stores.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(rename_all = "lowercase", tag = "mode")]
pub enum CatchmentMode {
    /// Every consumer within `radius_km` of a store; a consumer may fall in several catchments.
    Radius {
        /// Radius in km (great-circle).
        radius_km: f64,
    },
    /// Each consumer to its nearest store, within `max_km` when given.
    Nearest {
        /// Largest distance to a store, in km.
        max_km: Option<f64>,
    },
}

/// Stores: ids, names and positions.
#[derive(Debug, Clone, Default)]
pub struct Stores {
    /// Store ids.
    pub ids: Vec<String>,
    /// Store names.
    pub names: Vec<String>,
    /// Latitudes.
    pub lat: Vec<f64>,
    /// Longitudes.
    pub lng: Vec<f64>,
}

/// One store's catchment.
#[derive(Debug, Clone)]
pub struct Catchment {
    /// Index into the scopes given to [`catchments`]: the store's city, else region, else all.
    pub scope: usize,
    /// Consumers in the catchment.
    pub consumers: u64,
    /// Members per segment.
    pub members: Vec<u64>,
    /// Cells of the catchment's consumers with how many of them each holds, sorted by cell.
    pub cells: Vec<(CellIndex, u32)>,
}

/// Catchments of every store, and in radius mode the store pairs sharing consumers.
#[derive(Debug, Clone)]
pub struct Catchments {
    /// One per store, in store order.
    pub stores: Vec<Catchment>,
    /// `(store a, store b, shared consumers)` with a < b, sorted; empty in nearest mode.
    pub overlap: Vec<(usize, usize, u64)>,
    /// Consumers assigned to at least one store.
    pub assigned: u64,
}

/// The scope a store's figures are compared with: its city, else its region, else `all`.
fn store_scope(scopes: &[ScopeCounts], region: u32, city: u32) -> usize {
    let find = |kind: ScopeKind, area: u32| {
        scopes
            .iter()
            .position(|s| s.scope.kind == kind && s.scope.area == Some(area as usize))
    };
    (city != NO_AREA)
        .then(|| find(ScopeKind::City, city))
        .flatten()
        .or_else(|| {
            (region != NO_AREA)
                .then(|| find(ScopeKind::Region, region))
                .flatten()
        })
        .unwrap_or(0)
}

/// Computes every store's catchment.
///
/// Every count (consumers, members, consumers per cell, shared consumers, `assigned`) is the
/// published value of its set of consumers under `privacy` ([`Privacy::publish`]): perturbed by
/// the set's record keys with [`PrivacyMethod::Perturb`](crate::disclosure::PrivacyMethod).
///
/// # Runtime
///
/// Radius mode: one R-tree radius query per store. Nearest mode: one nearest-store query per
/// consumer against an R-tree of the stores. Both in parallel.
pub fn catchments(
    consumers: &ConsumerIndex,
    located: &Located,
    segments: &[Segment],
    (stores, mode): (&Stores, CatchmentMode),
    locator: &Locator,
    scopes: &[ScopeCounts],
    (record_keys, privacy): (&[u32], Privacy),
) -> Catchments {
    let publish = |rows: &mut dyn Iterator<Item = u32>| -> u64 {
        let (count, key) = rows.fold((0u64, 0u32), |(n, key), r| {
            (n + 1, key.wrapping_add(record_keys[r as usize]))
        });
        privacy.publish(count, key)
    };
    let members_of = |rows: &[u32]| -> Vec<u64> {
        segments
            .iter()
            .map(|s| {
                publish(
                    &mut rows
                        .iter()
                        .copied()
                        .filter(|&r| s.members.contains(r as usize)),
                )
            })
            .collect()
    };
    let cells_of = |rows: &[u32]| -> Vec<(CellIndex, u32)> {
        let mut cells: Vec<(CellIndex, u32)> = rows
            .iter()
            .map(|&r| (located.cell[r as usize], r))
            .collect();
        cells.sort_unstable();
        cells
            .chunk_by(|a, b| a.0 == b.0)
            .map(|run| (run[0].0, publish(&mut run.iter().map(|&(_, r)| r)) as u32))
            .collect()
    };
    let rows_per_store: Vec<Vec<u32>> = match mode {
        CatchmentMode::Radius { radius_km } => (0..stores.lat.len())
            .into_par_iter()
            .map(|s| consumers.within_radius_km(stores.lat[s], stores.lng[s], radius_km))
            .collect(),
        CatchmentMode::Nearest { max_km } => {
            let store_index = ConsumerIndex::new(&stores.lat, &stores.lng);
            let (lat, lng) = consumers.coordinates();
            let nearest = store_index.assign_nearest(lat, lng, max_km);
            let mut rows = vec![Vec::new(); stores.lat.len()];
            for (row, store) in nearest.iter().enumerate() {
                if let Some(s) = store {
                    rows[*s as usize].push(row as u32);
                }
            }
            rows
        }
    };
    let overlap = if matches!(mode, CatchmentMode::Radius { .. }) {
        overlaps(&rows_per_store, &publish)
    } else {
        Vec::new()
    };
    let mut any: Vec<u32> = rows_per_store.iter().flatten().copied().collect();
    any.sort_unstable();
    any.dedup();
    let stores_out = rows_per_store
        .par_iter()
        .enumerate()
        .map(|(s, rows)| {
            let (region, city) = locator.locate_point(stores.lat[s], stores.lng[s]);
            Catchment {
                scope: store_scope(scopes, region, city),
                consumers: publish(&mut rows.iter().copied()),
                members: members_of(rows),
                cells: cells_of(rows),
            }
        })
        .collect();
    Catchments {
        stores: stores_out,
        overlap,
        assigned: publish(&mut any.into_iter()),
    }
}

/// Store pairs sharing consumers, with the number shared as published by `publish`.
fn overlaps(
    rows_per_store: &[Vec<u32>],
    publish: &(dyn Fn(&mut dyn Iterator<Item = u32>) -> u64 + Sync),
) -> Vec<(usize, usize, u64)> {
    let mut by_row: Vec<(u32, usize)> = rows_per_store
        .iter()
        .enumerate()
        .flat_map(|(s, rows)| rows.iter().map(move |&r| (r, s)))
        .collect();
    by_row.par_sort_unstable();
    let mut pairs: HashMap<(usize, usize), Vec<u32>> = HashMap::new();
    for group in by_row.chunk_by(|a, b| a.0 == b.0) {
        for (i, a) in group.iter().enumerate() {
            for b in &group[i + 1..] {
                pairs
                    .entry((a.1.min(b.1), a.1.max(b.1)))
                    .or_default()
                    .push(a.0);
            }
        }
    }
    let mut out: Vec<(usize, usize, u64)> = pairs
        .into_iter()
        .map(|((a, b), rows)| (a, b, publish(&mut rows.into_iter())))
        .collect();
    out.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlaps_count_shared_consumers_per_pair() {
        let rows = vec![vec![1, 2, 3], vec![2, 3, 4], vec![3, 9]];
        assert_eq!(
            overlaps(&rows, &|rows| rows.count() as u64),
            vec![(0, 1, 2), (0, 2, 1), (1, 2, 1)]
        );
    }
}
