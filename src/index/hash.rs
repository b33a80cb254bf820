//! A fast hasher for keys made of cell indexes and small integers.
//!
//! std's SipHash guards against adversarial keys; the keys hashed here (H3 cells, zone numbers)
//! are computed by the tool, and hashing them is on the per-consumer path of locate and
//! aggregation. Each word is folded in with a multiply, and SplitMix64's finaliser spreads the
//! bits, which matters for H3 indexes: their low bits are the same in every cell of a resolution.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// The hasher state.
#[derive(Debug, Default, Clone, Copy)]
pub struct CellHasher(u64);

impl Hasher for CellHasher {
    fn finish(&self) -> u64 {
        let mut z = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u32(&mut self, value: u32) {
        self.write_u64(u64::from(value));
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = (self.0.rotate_left(29) ^ value).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A `HashMap` keyed by cells (or tuples with cells) with [`CellHasher`].
pub type CellMap<K, V> = HashMap<K, V, BuildHasherDefault<CellHasher>>;

/// A `HashSet` of cells with [`CellHasher`].
pub type CellSet<K> = HashSet<K, BuildHasherDefault<CellHasher>>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn cells_of_one_resolution_spread_over_the_buckets() {
        let build = BuildHasherDefault::<CellHasher>::default();
        let centre = h3o::LatLng::new(46.8, 8.0)
            .expect("finite")
            .to_cell(h3o::Resolution::Eight);
        let mut buckets = [0u32; 64];
        let disk: Vec<h3o::CellIndex> = centre.grid_disk(20);
        for cell in &disk {
            buckets[(build.hash_one(cell) & 63) as usize] += 1;
        }
        let expected = disk.len() as u32 / 64;
        assert!(
            buckets
                .iter()
                .all(|&b| b > expected / 2 && b < expected * 2),
            "{buckets:?}"
        );
    }
}
