//! Micro-markets: connected hot cells of one scope × segment, dissolved into one shape, with their figures, a stable id and a rank.

use crate::disclosure::Privacy;
use crate::stats::{HotSpots, Scope, ScopeCounts, lift, penetration};
use geo::{Centroid, MultiPolygon};
use h3o::CellIndex;
use h3o::geom::SolventBuilder;

/// One micro-market.
#[derive(Debug, Clone)]
pub struct MicroMarket {
    /// Stable id: scope id, segment and smallest cell, joined by `:`.
    pub id: String,
    /// 1 = most members reached in the scope.
    pub rank: usize,
    /// Segment index.
    pub segment: usize,
    /// Its cells, sorted.
    pub cells: Vec<CellIndex>,
    /// Members reached, `Σ k_c`.
    pub members: u64,
    /// Population reached, `Σ n_c`.
    pub population: u64,
    /// Members over the scope's consumers, for the lift.
    pub scope_members: u64,
    /// Consumers of the scope.
    pub scope_population: u64,
    /// Total area of its cells in km².
    pub area_km2: f64,
    /// Largest Gi* of its cells.
    pub max_gi: f64,
    /// The cells dissolved (holes kept), in degrees.
    pub geometry: MultiPolygon<f64>,
    /// Centroid latitude of the geometry.
    pub centroid_lat: f64,
    /// Centroid longitude of the geometry.
    pub centroid_lng: f64,
}

impl MicroMarket {
    /// Penetration `Σk / Σn`.
    pub fn penetration(&self) -> Option<f64> {
        penetration(self.members, self.population)
    }

    /// Lift over the scope's base rate.
    pub fn lift(&self) -> Option<f64> {
        lift(
            self.members,
            self.population,
            self.scope_members,
            self.scope_population,
        )
    }
}

/// Connected components of `cells` (sorted, distinct), two cells being adjacent when one is in
/// the other's `grid_disk(·, 1)`: H3 cells of one resolution that touch share an edge, so this
/// is edge adjacency. Components are sorted by their smallest cell; each is sorted.
///
/// # Runtime
///
/// One `grid_disk` and binary searches per cell (union–find with path halving).
pub fn components(cells: &[CellIndex]) -> Vec<Vec<CellIndex>> {
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut parent: Vec<usize> = (0..cells.len()).collect();
    for (i, cell) in cells.iter().enumerate() {
        for neighbour in cell.grid_disk::<Vec<_>>(1) {
            if let Ok(j) = cells.binary_search(&neighbour) {
                let (a, b) = (root(&mut parent, i), root(&mut parent, j));
                // The smaller index becomes the root, so roots are smallest cells.
                parent[a.max(b)] = a.min(b);
            }
        }
    }
    let mut groups: Vec<Vec<CellIndex>> = Vec::new();
    let mut slot = vec![usize::MAX; cells.len()];
    for (i, &cell) in cells.iter().enumerate() {
        let r = root(&mut parent, i);
        if slot[r] == usize::MAX {
            slot[r] = groups.len();
            groups.push(Vec::new());
        }
        groups[slot[r]].push(cell);
    }
    groups
}

/// Dissolves cells into their outline with h3o's solvent (holes kept).
///
/// # Errors
///
/// h3o's error when cells repeat or mix resolutions.
pub fn dissolve(cells: &[CellIndex]) -> Result<MultiPolygon<f64>, h3o::error::DissolutionError> {
    SolventBuilder::new()
        .build()
        .dissolve(cells.iter().copied())
}

/// The micro-markets of one scope, every segment, ranked by members reached then lift (then id,
/// so ties are stable). Micro-markets with fewer than the minimum count of members are dropped.
pub fn micro_markets(
    counts: &ScopeCounts,
    hot: &HotSpots,
    segment_names: &[String],
    privacy: Privacy,
) -> Vec<MicroMarket> {
    let scope_population = counts.total_population();
    let mut markets = Vec::new();
    for (s, figures) in hot.segments.iter().enumerate() {
        let scope_members = counts.total_members(s);
        let hot_positions: Vec<usize> = (0..counts.cells.len())
            .filter(|&c| figures.hot[c])
            .collect();
        let hot_cells: Vec<CellIndex> = hot_positions.iter().map(|&c| counts.cells[c]).collect();
        for cells in components(&hot_cells) {
            let positions: Vec<usize> = cells
                .iter()
                .map(|cell| {
                    counts
                        .cells
                        .binary_search(cell)
                        .expect("hot cells hold consumers")
                })
                .collect();
            let members: u64 = positions
                .iter()
                .map(|&c| u64::from(counts.members_of(c, s)))
                .sum();
            if !privacy.shows_cell(members) {
                continue;
            }
            let geometry = dissolve(&cells).unwrap_or_else(|_| MultiPolygon::new(Vec::new()));
            let centroid = geometry.centroid();
            markets.push(MicroMarket {
                id: market_id(&counts.scope, &segment_names[s], cells[0]),
                rank: 0,
                segment: s,
                members,
                population: positions
                    .iter()
                    .map(|&c| u64::from(counts.population[c]))
                    .sum(),
                scope_members,
                scope_population,
                area_km2: cells.iter().map(|c| c.area_km2()).sum(),
                max_gi: positions
                    .iter()
                    .map(|&c| figures.gi[c])
                    .fold(f64::MIN, f64::max),
                centroid_lat: centroid.map_or(0.0, geo::Point::y),
                centroid_lng: centroid.map_or(0.0, geo::Point::x),
                cells,
                geometry,
            });
        }
    }
    markets.sort_by(|a, b| {
        b.members
            .cmp(&a.members)
            .then_with(|| b.lift().unwrap_or(0.0).total_cmp(&a.lift().unwrap_or(0.0)))
            .then_with(|| a.id.cmp(&b.id))
    });
    for (i, m) in markets.iter_mut().enumerate() {
        m.rank = i + 1;
    }
    markets
}

fn market_id(scope: &Scope, segment: &str, smallest: CellIndex) -> String {
    format!("{}:{segment}:{smallest}", scope.id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use h3o::{LatLng, Resolution};

    fn centre() -> CellIndex {
        LatLng::new(46.5, 7.5)
            .expect("ll")
            .to_cell(Resolution::Eight)
    }

    fn sorted(mut cells: Vec<CellIndex>) -> Vec<CellIndex> {
        cells.sort_unstable();
        cells.dedup();
        cells
    }

    #[test]
    fn clusters_two_rings_apart_are_separate_and_neighbours_share_edges() {
        let a = centre();
        // A cell at grid distance 2: the two do not touch (H3 cells share edges, never only a
        // vertex), so they are two micro-markets.
        let b = a.grid_ring_fast(2).flatten().next().expect("ring cell");
        let cells = sorted(vec![a, b]);
        assert_eq!(components(&cells).len(), 2);
        // Every disk-1 neighbour shares an edge.
        for n in a.grid_ring_fast(1).flatten() {
            assert_eq!(a.is_neighbor_with(n), Ok(true));
            assert!(a.edge(n).is_some(), "neighbours share an edge");
        }
        // Adding the cell between them joins them.
        let between = a
            .grid_ring_fast(1)
            .flatten()
            .find(|n| n.grid_distance(b) == Ok(1))
            .expect("a cell between");
        assert_eq!(components(&sorted(vec![a, b, between])).len(), 1);
    }

    #[test]
    fn a_ring_around_a_cold_cell_dissolves_into_a_polygon_with_a_hole() {
        let ring: Vec<CellIndex> = centre().grid_ring_fast(1).flatten().collect();
        let cells = sorted(ring);
        assert_eq!(components(&cells).len(), 1);
        let geometry = dissolve(&cells).expect("dissolve");
        assert_eq!(geometry.0.len(), 1);
        assert_eq!(
            geometry.0[0].interiors().len(),
            1,
            "the cold centre is a hole"
        );
        let ext = geometry.0[0].exterior();
        assert!(
            ext.0
                .iter()
                .all(|c| (7.0..8.0).contains(&c.x) && (46.0..47.0).contains(&c.y)),
            "degrees, lon/lat"
        );
    }
}
