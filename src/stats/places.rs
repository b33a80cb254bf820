//! The region and city of each occupied cell, for the rows of the cell layers: a cell of the
//! `all` scope or of a region carries the area holding most of its consumers, so a layer can be
//! filtered by city in QGIS or kepler.gl.

use super::{ScopeCounts, ScopeKind};
use crate::boundary::Boundaries;
use h3o::CellIndex;

/// Per occupied cell, the regions and the cities holding its consumers, most consumers first.
#[derive(Debug, Clone, Default)]
pub struct CellPlaces {
    /// `(cell, region, consumers)`, sorted by cell, then most consumers first.
    regions: Vec<(CellIndex, u32, u32)>,
    /// `(cell, city, consumers)`, likewise.
    cities: Vec<(CellIndex, u32, u32)>,
}

/// The entries of `counts`' scopes of `kind`, sorted by cell and most consumers first (ties by
/// file order).
fn entries(counts: &[ScopeCounts], kind: ScopeKind) -> Vec<(CellIndex, u32, u32)> {
    let mut entries: Vec<(CellIndex, u32, u32)> = counts
        .iter()
        .filter(|c| c.scope.kind == kind)
        .filter_map(|c| c.scope.area.map(|area| (c, area as u32)))
        .flat_map(|(c, area)| {
            c.cells
                .iter()
                .zip(&c.population)
                .map(move |(&cell, &n)| (cell, area, n))
        })
        .collect();
    entries.sort_unstable_by_key(|&(cell, area, n)| (cell, std::cmp::Reverse(n), area));
    entries
}

/// The entries of `cell` in `entries`.
fn of_cell(entries: &[(CellIndex, u32, u32)], cell: CellIndex) -> &[(CellIndex, u32, u32)] {
    let start = entries.partition_point(|e| e.0 < cell);
    let end = start + entries[start..].partition_point(|e| e.0 == cell);
    &entries[start..end]
}

impl CellPlaces {
    /// The places of every cell of the region and city scopes of `counts` (true counts: only
    /// which area holds most consumers is published, never how many).
    pub fn new(counts: &[ScopeCounts]) -> Self {
        CellPlaces {
            regions: entries(counts, ScopeKind::Region),
            cities: entries(counts, ScopeKind::City),
        }
    }

    /// The region and city names of `cell` in the scope `counts` (empty when none): a city
    /// scope's own; in a region, the region and the city of it holding most of the cell's
    /// consumers; in `all`, the region and the city holding most of them.
    pub fn names<'a>(
        &self,
        counts: &'a ScopeCounts,
        cell: CellIndex,
        boundaries: &'a Boundaries,
    ) -> (&'a str, &'a str) {
        let scope = &counts.scope;
        let city_name = |region: Option<usize>| {
            of_cell(&self.cities, cell)
                .iter()
                .map(|&(_, city, _)| &boundaries.cities[city as usize])
                .find(|c| region.is_none() || c.region == region)
                .map_or("", |c| c.name.as_str())
        };
        match scope.kind {
            ScopeKind::City => (&scope.region, &scope.city),
            ScopeKind::Region => (&scope.region, city_name(scope.area)),
            ScopeKind::All => (
                of_cell(&self.regions, cell)
                    .first()
                    .map_or("", |&(_, r, _)| {
                        boundaries.regions[r as usize].name.as_str()
                    }),
                city_name(None),
            ),
        }
    }
}
