//! Stability across resolutions (the modifiable areal unit problem): whether a micro-market found
//! at resolution r is found again, as one micro-market of the same segment holding at least half
//! its members, at r − 1 and at r + 1.
//!
//! The grids at r − 1 and r + 1 follow H3's hierarchy ([`nested_cells`]), so members are
//! followed exactly: a consumer's cell at r − 1 is the parent of its cell at r, and its cell at
//! r + 1 a child of it. The members of micro-market `m` inside a coarser micro-market `M` are then
//! the members of `m`'s cells whose parent is in `M`, and those inside a finer `M` the members of
//! `M`'s cells whose parent is in `m`, each counted on the table its detector ran on.

use super::MicroMarket;
use crate::stats::ScopeCounts;
use h3o::{CellIndex, LatLng, Resolution};
use rayon::prelude::*;

/// The share of a micro-market's members another must hold for it to count as found again.
pub const STABLE_SHARE: f64 = 0.5;

/// Each consumer's cell at r − 1 and at r + 1, given its cell at r (`cells`) and position: the
/// parent of its cell, and the child of its cell holding it, or, when the point lies in a child
/// of a neighbouring cell (H3's children do not tile their parent exactly; 7% of the sample's
/// consumers at resolution 8), the child of its own cell nearest to it. Coarsest and finest
/// resolutions keep `r`.
pub fn nested_cells(
    cells: &[CellIndex],
    (lat, lng): (&[f64], &[f64]),
    r: Resolution,
) -> (Vec<CellIndex>, Vec<CellIndex>) {
    let coarser = cells
        .par_iter()
        .map(|c| r.pred().and_then(|p| c.parent(p)).unwrap_or(*c))
        .collect();
    let Some(finer) = r.succ() else {
        return (coarser, cells.to_vec());
    };
    let finer = cells
        .par_iter()
        .zip(lat.par_iter().zip(lng))
        .map(|(&cell, (&lat, &lng))| {
            let Ok(point) = LatLng::new(lat, lng) else {
                return cell.center_child(finer).unwrap_or(cell);
            };
            let child = point.to_cell(finer);
            if child.parent(r) == Some(cell) {
                return child;
            }
            cell.children(finer)
                .min_by(|a, b| {
                    point
                        .distance_rads(LatLng::from(*a))
                        .total_cmp(&point.distance_rads(LatLng::from(*b)))
                })
                .unwrap_or(cell)
        })
        .collect();
    (coarser, finer)
}

/// Members of segment `segment` in the cells of `cells` (sorted) whose parent at the other
/// resolution is in `parents` (sorted), counted on `counts` (the table of `cells`).
fn members_under(
    counts: &ScopeCounts,
    segment: usize,
    cells: &[CellIndex],
    parents: &[CellIndex],
) -> u64 {
    let Some(parent_resolution) = parents.first().map(|p| p.resolution()) else {
        return 0;
    };
    cells
        .iter()
        .filter(|c| {
            c.parent(parent_resolution)
                .is_some_and(|p| parents.binary_search(&p).is_ok())
        })
        .filter_map(|c| counts.cells.binary_search(c).ok())
        .map(|i| u64::from(counts.members[i * counts.segments + segment]))
        .sum()
}

/// Sets `stable_coarser` and `stable_finer` of each of `markets` (found on `counts` at
/// resolution r) from the micro-markets found at r − 1 (`coarser`) and r + 1 (`finer`, with the
/// table they were found on).
pub fn mark_stability(
    markets: &mut [MicroMarket],
    counts: &ScopeCounts,
    coarser: &[MicroMarket],
    (finer, finer_counts): (&[MicroMarket], &ScopeCounts),
) {
    for m in markets.iter_mut() {
        let wanted = STABLE_SHARE * m.members as f64;
        let same_segment = |other: &&MicroMarket| other.segment == m.segment;
        let coarse = coarser
            .iter()
            .filter(same_segment)
            .map(|big| members_under(counts, m.segment, &m.cells, &big.cells))
            .max()
            .unwrap_or(0);
        let fine = finer
            .iter()
            .filter(same_segment)
            .map(|small| members_under(finer_counts, m.segment, &small.cells, &m.cells))
            .max()
            .unwrap_or(0);
        m.stable_coarser = Some(m.members > 0 && coarse as f64 >= wanted);
        m.stable_finer = Some(m.members > 0 && fine as f64 >= wanted);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Scope;
    use geo::MultiPolygon;
    use h3o::{LatLng, Resolution};

    /// A table of one segment whose every cell holds `members` members.
    fn table(mut cells: Vec<CellIndex>, members: u32) -> ScopeCounts {
        cells.sort_unstable();
        let n = cells.len();
        ScopeCounts::new(Scope::all(), cells, vec![20; n], vec![members; n], 1)
    }

    fn market(segment: usize, mut cells: Vec<CellIndex>, members: u64) -> MicroMarket {
        cells.sort_unstable();
        MicroMarket {
            id: String::new(),
            rank: 1,
            segment,
            cells,
            members,
            population: 0,
            scope_members: 0,
            scope_population: 0,
            excess_members: 0.0,
            radii: Vec::new(),
            centres: 0,
            p_value: 0.0,
            q_value: 0.0,
            score: 0.0,
            p_fwer: None,
            stable_coarser: None,
            stable_finer: None,
            area_km2: 0.0,
            geometry: MultiPolygon::new(Vec::new()),
            centroid_lat: 0.0,
            centroid_lng: 0.0,
        }
    }

    #[test]
    fn members_are_followed_through_parents_and_children() {
        let parent = LatLng::new(47.0, 8.0)
            .expect("ll")
            .to_cell(Resolution::Seven);
        let children: Vec<CellIndex> = parent.children(Resolution::Eight).collect();
        let grandchildren = |of: &[CellIndex]| -> Vec<CellIndex> {
            of.iter()
                .flat_map(|c| c.children(Resolution::Nine))
                .collect()
        };
        // Seven cells of 10 members at r = 8; the micro-market holds three of them.
        let counts = table(children.clone(), 10);
        let mut markets = vec![market(0, children[..3].to_vec(), 30)];
        // At r − 1: the parent, in another segment's micro-market only, then in its own.
        let other_segment = [market(1, vec![parent], 70)];
        // At r + 1, one member per cell: the children of one cell hold 7 of its 30 members,
        // those of all three 21.
        let finer_counts = table(grandchildren(&children), 1);
        let one = [market(0, grandchildren(&children[..1]), 7)];
        mark_stability(&mut markets, &counts, &other_segment, (&one, &finer_counts));
        assert_eq!(
            (markets[0].stable_coarser, markets[0].stable_finer),
            (Some(false), Some(false))
        );
        let own = [market(0, vec![parent], 70)];
        let three = [market(0, grandchildren(&children[..3]), 21), one[0].clone()];
        mark_stability(&mut markets, &counts, &own, (&three, &finer_counts));
        assert_eq!(
            (markets[0].stable_coarser, markets[0].stable_finer),
            (Some(true), Some(true))
        );
        // Half the members is enough; less is not.
        let half = [market(0, grandchildren(&children[..1]), 7)];
        let mut small = vec![market(0, children[..1].to_vec(), 10)];
        mark_stability(
            &mut small,
            &table(children[..1].to_vec(), 10),
            &own,
            (&half, &finer_counts),
        );
        assert_eq!(small[0].stable_finer, Some(true), "7 of 10");
        let mut big = vec![market(0, children[..1].to_vec(), 15)];
        mark_stability(
            &mut big,
            &table(children[..1].to_vec(), 15),
            &own,
            (&half, &finer_counts),
        );
        assert_eq!(big[0].stable_finer, Some(false), "7 of 15");
    }

    #[test]
    fn nested_cells_follow_the_hierarchy() {
        let (mut lat, mut lng) = (Vec::new(), Vec::new());
        for i in 0..2000 {
            lat.push(47.0 + f64::from(i % 50) * 0.0007);
            lng.push(8.0 + f64::from(i / 50) * 0.0009);
        }
        let r = Resolution::Eight;
        let cells: Vec<CellIndex> = lat
            .iter()
            .zip(&lng)
            .map(|(&a, &o)| LatLng::new(a, o).expect("ll").to_cell(r))
            .collect();
        let (coarser, finer) = nested_cells(&cells, (&lat, &lng), r);
        let mut moved = 0;
        for i in 0..cells.len() {
            assert_eq!(cells[i].parent(Resolution::Seven), Some(coarser[i]));
            assert_eq!(finer[i].parent(r), Some(cells[i]));
            let direct = LatLng::new(lat[i], lng[i])
                .expect("ll")
                .to_cell(Resolution::Nine);
            moved += usize::from(direct != finer[i]);
        }
        // Some points sit in a neighbour's child; most do not.
        assert!(moved > 0 && moved < cells.len() / 5, "{moved}");
    }
}
