//! Hot spots: Getis-Ord Gi* over a scope's study area, upper-tail p-values and
//! Benjamini–Hochberg adjustment, and Wilson score intervals for small-number honesty.
//!
//! # Algorithm
//!
//! Getis & Ord (1992) and Ord & Getis (1995), with binary weights over `grid_disk(i, K)` (the cell
//! itself included) restricted to the study area A, and `x_c = k_c` (0 for cells of A without
//! consumers):
//!
//! `Gi*_i = (Σ_j w_ij x_j − x̄ W_i) / (s · sqrt((n Σ_j w_ij² − W_i²) / (n − 1)))`
//!
//! with `W_i = Σ_j w_ij`, `n = |A|`, `x̄` the mean and `s = sqrt(Σ x² / n − x̄²)`. This is PySAL's
//! `esda.G_Local(y, w, transform='B', star=True).Zs`. Degenerate cases (one cell, all-equal
//! counts, a cell whose disk is the whole area) have no spread to test against: their z-score is 0
//! and their p-value 0.5, never NaN.
//!
//! p-values are adjusted over each scope × segment family (the whole study area) by Benjamini &
//! Hochberg (1995); a cell is hot when its q-value is at most the FDR, `Gi* > 0` and `k_c ≥ 1`.

use h3o::CellIndex;
use std::f64::consts::SQRT_2;

/// The z of a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;

/// Neighbour lists of a study area in compressed form: the neighbours of cell `i` (itself
/// included) are `index[offset[i]..offset[i + 1]]`.
#[derive(Debug, Clone, Default)]
pub struct Neighbours {
    offset: Vec<u32>,
    index: Vec<u32>,
}

impl Neighbours {
    /// Binary neighbours within `grid_disk(cell, k)` among `area` (sorted, distinct).
    ///
    /// # Runtime
    ///
    /// One `grid_disk` and a binary search per neighbour for each cell of the area.
    pub fn new(area: &[CellIndex], k: u32) -> Self {
        let mut offset = Vec::with_capacity(area.len() + 1);
        let mut index = Vec::with_capacity(area.len() * 7);
        offset.push(0);
        for &cell in area {
            let mut disk: Vec<CellIndex> = cell.grid_disk(k);
            disk.sort_unstable();
            index.extend(
                disk.iter()
                    .filter_map(|n| area.binary_search(n).ok())
                    .map(|j| j as u32),
            );
            offset.push(index.len() as u32);
        }
        Neighbours { offset, index }
    }

    /// Neighbours of area cell `i`, itself included.
    pub fn of(&self, i: usize) -> &[u32] {
        &self.index[self.offset[i] as usize..self.offset[i + 1] as usize]
    }

    /// Number of cells.
    pub fn len(&self) -> usize {
        self.offset.len() - 1
    }

    /// Whether the area is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Gi* z-scores of `x` (one value per area cell).
pub fn getis_ord(x: &[f64], neighbours: &Neighbours) -> Vec<f64> {
    let cells = x.len() as f64;
    let mean = x.iter().sum::<f64>() / cells;
    let spread = (x.iter().map(|v| v * v).sum::<f64>() / cells - mean * mean)
        .max(0.0)
        .sqrt();
    (0..x.len())
        .map(|i| {
            let js = neighbours.of(i);
            let weight = js.len() as f64;
            let sum: f64 = js.iter().map(|&j| x[j as usize]).sum();
            let denominator = spread * ((cells * weight - weight * weight) / (cells - 1.0)).sqrt();
            let z = (sum - mean * weight) / denominator;
            // No spread (one cell, all-equal counts, a disk covering everything): no evidence.
            if denominator > 0.0 && z.is_finite() {
                z
            } else {
                0.0
            }
        })
        .collect()
}

/// Upper-tail p-value of a standard normal z-score.
pub fn upper_tail_p(z: f64) -> f64 {
    0.5 * libm::erfc(z / SQRT_2)
}

/// Benjamini–Hochberg adjusted p-values (q-values), in the input order.
///
/// `q_(i) = min over j ≥ i of (m · p_(j) / j)`, capped at 1, for p sorted ascending.
pub fn benjamini_hochberg(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut q = vec![0.0; m];
    let mut running = 1.0f64;
    for (rank, &i) in order.iter().enumerate().rev() {
        running = running.min(p[i] * m as f64 / (rank + 1) as f64);
        q[i] = running;
    }
    q
}

/// The 95% Wilson score interval of the proportion `k / n` (`None` when `n = 0`).
pub fn wilson(k: u64, n: u64) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let z2 = Z95 * Z95;
    let denominator = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denominator;
    let half = Z95 / denominator * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some(((centre - half).max(0.0), (centre + half).min(1.0)))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use h3o::{LatLng, Resolution};

    /// The dense binary weights of the 1-ring (the cell included) among `area`.
    pub(in crate::stats) fn binary_weights(area: &[CellIndex]) -> Vec<Vec<f64>> {
        area.iter()
            .map(|&a| {
                area.iter()
                    .map(|&b| f64::from(u8::from(a.grid_distance(b).expect("d") <= 1)))
                    .collect()
            })
            .collect()
    }

    /// Gi* straight from its definition, with a dense weight matrix.
    pub(in crate::stats) fn brute_force(x: &[f64], w: &[Vec<f64>]) -> Vec<f64> {
        let n = x.len() as f64;
        let mean = x.iter().sum::<f64>() / n;
        let s = (x.iter().map(|v| v * v).sum::<f64>() / n - mean * mean).sqrt();
        (0..x.len())
            .map(|i| {
                let wi: f64 = w[i].iter().sum();
                let wi2: f64 = w[i].iter().map(|v| v * v).sum();
                let num: f64 = w[i].iter().zip(x).map(|(a, b)| a * b).sum::<f64>() - mean * wi;
                num / (s * ((n * wi2 - wi * wi) / (n - 1.0)).sqrt())
            })
            .collect()
    }

    #[test]
    fn gi_star_matches_the_definition_on_a_two_ring_disk() {
        let centre = LatLng::new(47.0, 8.0)
            .expect("ll")
            .to_cell(Resolution::Eight);
        let mut area: Vec<CellIndex> = centre.grid_disk(2);
        area.sort_unstable();
        assert_eq!(area.len(), 19);
        let x: Vec<f64> = area
            .iter()
            .map(|&c| match c.grid_distance(centre).expect("distance") {
                0 => 12.0,
                1 => 7.0 + f64::from((u64::from(c) >> 20) as u8 % 2),
                _ => f64::from((u64::from(c) >> 20) as u8 % 4),
            })
            .collect();
        let w = binary_weights(&area);
        let got = getis_ord(&x, &Neighbours::new(&area, 1));
        let want = brute_force(&x, &w);
        for (g, e) in got.iter().zip(&want) {
            assert!((g - e).abs() < 1e-9, "{g} vs {e}");
        }
        let centre_z = got[area.binary_search(&centre).expect("in area")];
        assert!(centre_z > 2.0, "the high centre is a hot spot: {centre_z}");
    }

    #[test]
    fn degenerate_areas_give_zero_not_nan() {
        let cell = LatLng::new(0.0, 0.0)
            .expect("ll")
            .to_cell(Resolution::Eight);
        assert_eq!(getis_ord(&[5.0], &Neighbours::new(&[cell], 1)), vec![0.0]);
        let mut area: Vec<CellIndex> = cell.grid_disk(1);
        area.sort_unstable();
        let flat = getis_ord(&[3.0; 7], &Neighbours::new(&area, 1));
        assert!(flat.iter().all(|&z| z == 0.0));
        let none = getis_ord(&[0.0; 7], &Neighbours::new(&area, 1));
        assert!(none.iter().all(|&z| z == 0.0));
        assert!((upper_tail_p(0.0) - 0.5).abs() < 1e-15);
        assert!((upper_tail_p(1.959_963_984_540_054) - 0.025).abs() < 1e-12);
    }

    #[test]
    fn benjamini_hochberg_by_hand() {
        // m = 5; sorted p: 0.001 0.008 0.039 0.041 0.6
        // m p / rank: 0.005 0.02 0.065 0.05125 0.6 → running minimum from the top:
        // 0.005 0.02 0.05125 0.05125 0.6
        let q = benjamini_hochberg(&[0.041, 0.001, 0.6, 0.039, 0.008]);
        let want = [0.05125, 0.005, 0.6, 0.05125, 0.02];
        for (a, b) in q.iter().zip(want) {
            assert!((a - b).abs() < 1e-12, "{q:?}");
        }
        assert!(benjamini_hochberg(&[]).is_empty());
        assert_eq!(benjamini_hochberg(&[0.9, 0.95]), vec![0.95, 0.95]);
    }

    #[test]
    fn wilson_interval_by_hand() {
        // k = 3, n = 12: p = 0.25, z² = 3.841459, centre = (0.25 + 0.160061) / 1.320122 = 0.310623,
        // half-width = 1.484687 · sqrt(0.015625 + 0.006669) = 0.221682.
        let (lo, hi) = wilson(3, 12).expect("n > 0");
        assert!((lo - 0.088_941_67).abs() < 1e-8, "{lo}");
        assert!((hi - 0.532_305_33).abs() < 1e-8, "{hi}");
        assert_eq!(wilson(0, 0), None);
        let (lo, _) = wilson(0, 10).expect("n > 0");
        assert!(lo.abs() < 1e-15);
    }
}
