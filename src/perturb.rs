//! Cell-key perturbation, as national statistics offices protect census tables (Australian Bureau
//! of Statistics TableBuilder, UK Census 2021).
//!
//! Each consumer gets a record key: a keyed hash (SipHash-2-4) of its id, uniform over `u32`. The
//! key of an aggregate (a cell, a cell × segment, a scope total) is the sum of its records' keys
//! modulo 2³², and its published value is the true count plus a perturbation looked up in
//! [`perturbation`] by (count, aggregate key). The same set of consumers therefore always gets the
//! same published value, in every file and every rerun with the same secret; averaging reruns
//! gains nothing, and the difference of two aggregates carries the noise of both.

use sha2::{Digest, Sha256};
use siphasher::sip::SipHasher24;
use std::hash::Hasher;

/// The secret the record keys are derived from, and where it came from. It serializes (for
/// engines that ship it to their workers); outputs record only its origin.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PrivacyKey {
    key: [u8; 16],
    /// Where the secret came from (recorded in the manifest; the secret never is).
    pub origin: KeyOrigin,
}

impl std::fmt::Debug for PrivacyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivacyKey")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// Where a run's privacy key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyOrigin {
    /// A secret file given by the user.
    SecretFile,
    /// Derived from the consumer ids themselves: anyone holding every id can derive it.
    DerivedFromInputs,
}

/// Fewest bytes a secret file must hold.
pub const MIN_SECRET_BYTES: usize = 16;

impl PrivacyKey {
    /// A key from the bytes of a secret file; `None` when it holds fewer than
    /// [`MIN_SECRET_BYTES`].
    pub fn from_secret(secret: &[u8]) -> Option<Self> {
        (secret.len() >= MIN_SECRET_BYTES).then(|| PrivacyKey {
            key: digest16(b"micromarket privacy key v1", secret),
            origin: KeyOrigin::SecretFile,
        })
    }

    /// A key derived from the consumers' id hashes (their count, sum and xor), the same for the
    /// same set of ids in any order: reproducible, but not secret.
    pub fn derived(id_hashes: &[u64]) -> Self {
        let mut ids = IdSummary::default();
        for &h in id_hashes {
            ids.add(h);
        }
        Self::derived_from(ids)
    }

    /// [`Self::derived`] from the summary of the ids (which parts of a table may make apart).
    pub fn derived_from(ids: IdSummary) -> Self {
        let mut material = Vec::with_capacity(24);
        for word in [ids.count, ids.sum, ids.xor] {
            material.extend_from_slice(&word.to_le_bytes());
        }
        PrivacyKey {
            key: digest16(b"micromarket derived key v1", &material),
            origin: KeyOrigin::DerivedFromInputs,
        }
    }

    /// The record key of the consumer with this id hash.
    pub fn record_key(&self, id_hash: u64) -> u32 {
        let mut hasher = SipHasher24::new_with_key(&self.key);
        hasher.write_u64(id_hash);
        hasher.finish() as u32
    }

    /// The record key of each consumer, from its id hash.
    pub fn record_keys(&self, id_hashes: &[u64]) -> Vec<u32> {
        use rayon::prelude::*;
        id_hashes.par_iter().map(|&h| self.record_key(h)).collect()
    }
}

/// What a derived key is made of: the count, wrapping sum and xor (each rotated by 17 bits) of
/// the id hashes. Summaries of parts of a table merge into the table's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IdSummary {
    /// Ids.
    pub count: u64,
    /// Their hashes' sum modulo 2⁶⁴.
    pub sum: u64,
    /// The xor of their hashes, each rotated left by 17 bits.
    pub xor: u64,
}

impl IdSummary {
    /// Adds one id hash.
    pub fn add(&mut self, id_hash: u64) {
        self.count += 1;
        self.sum = self.sum.wrapping_add(id_hash);
        self.xor ^= id_hash.rotate_left(17);
    }

    /// Adds the ids of another part.
    pub fn merge(&mut self, other: IdSummary) {
        self.count += other.count;
        self.sum = self.sum.wrapping_add(other.sum);
        self.xor ^= other.xor;
    }
}

/// The record keys of consumers with these id hashes, under `key` or, without one, a key derived
/// from the ids; with where the key came from.
pub fn record_keys(key: Option<&PrivacyKey>, id_hashes: &[u64]) -> (Vec<u32>, KeyOrigin) {
    let derived;
    let key = if let Some(key) = key {
        key
    } else {
        derived = PrivacyKey::derived(id_hashes);
        &derived
    };
    (key.record_keys(id_hashes), key.origin)
}

/// The warning of a perturbed run without a secret key.
pub const DERIVED_KEY_WARNING: &str = "no privacy key given: the perturbation's record keys are derived from the consumer ids, so anyone holding those ids can undo it; production runs need a secret key file (at least 16 bytes, kept out of the output folder)";

/// The warning a run under `privacy` with keys from `origin` records, if any.
pub fn key_warning(privacy: crate::disclosure::Privacy, origin: KeyOrigin) -> Option<String> {
    (privacy.method == crate::disclosure::PrivacyMethod::Perturb
        && origin == KeyOrigin::DerivedFromInputs)
        .then(|| DERIVED_KEY_WARNING.to_string())
}

/// What the manifest records of a run's protection: the method, the table's parameters, the
/// key's origin (never the key).
#[derive(Debug, Clone, serde::Serialize)]
pub struct PrivacyRecord {
    /// perturb, suppress or none.
    pub method: crate::disclosure::PrivacyMethod,
    /// Minimum count k applied to published values (1 with none).
    pub min_count: u32,
    /// Variance of the perturbation (perturb only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variance: Option<f64>,
    /// Largest perturbation in absolute value (perturb only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_abs: Option<u64>,
    /// Where the record keys' secret came from (perturb only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_origin: Option<KeyOrigin>,
}

impl PrivacyRecord {
    /// The record of a run under `privacy` whose keys came from `origin`.
    pub fn new(privacy: crate::disclosure::Privacy, origin: KeyOrigin) -> Self {
        let perturbed = privacy.method == crate::disclosure::PrivacyMethod::Perturb;
        PrivacyRecord {
            method: privacy.method,
            min_count: privacy.min_count,
            variance: perturbed.then_some(VARIANCE),
            max_abs: perturbed.then_some(MAX_ABS),
            key_origin: perturbed.then_some(origin),
        }
    }
}

fn digest16(domain: &[u8], data: &[u8]) -> [u8; 16] {
    let digest = Sha256::new()
        .chain_update(domain)
        .chain_update(data)
        .finalize();
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

/// The perturbation table: for a true count, the perturbations and their weights in thirtieths.
/// Every row has mean 0 and variance 1.2 (36/30); no row reaches below zero; 1 and 2 are never
/// published as themselves; 0 stays 0 (an empty aggregate has no records to key).
const ROWS: [&[(i64, u64)]; 3] = [
    // count 1 → 0, 2 or 3
    &[(-1, 16), (1, 12), (2, 2)],
    // count 2 → 0, 1, 3 or 4
    &[(-2, 1), (-1, 14), (1, 14), (2, 1)],
    // count ≥ 3 → count − 2 … count + 2
    &[(-2, 3), (-1, 6), (0, 12), (1, 6), (2, 3)],
];

/// Variance of every row of the perturbation table.
pub const VARIANCE: f64 = 1.2;

/// Largest perturbation in absolute value.
pub const MAX_ABS: u64 = 2;

/// The perturbation of a true `count` whose aggregate key is `key`.
pub fn perturbation(count: u64, key: u32) -> i64 {
    let row = match count {
        0 => return 0,
        1 => ROWS[0],
        2 => ROWS[1],
        _ => ROWS[2],
    };
    // `key` is uniform over u32, so `slot` is uniform over 0..30 (to within 2⁻²⁸).
    let mut slot = (u64::from(key) * 30) >> 32;
    for &(delta, weight) in row {
        if slot < weight {
            return delta;
        }
        slot -= weight;
    }
    0
}

/// The published value of a true `count` whose aggregate key is `key`.
pub fn perturb(count: u64, key: u32) -> u64 {
    count.saturating_add_signed(perturbation(count, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The distribution of a row, over every 30th of the key range.
    fn row_of(count: u64) -> Vec<i64> {
        (0..30u64)
            .map(|slot| perturbation(count, ((slot << 32) / 30 + 1) as u32))
            .collect()
    }

    #[test]
    fn every_row_has_mean_zero_and_the_stated_variance() {
        for count in [1, 2, 3, 4, 10, 1_000_000] {
            let row = row_of(count);
            let mean: i64 = row.iter().sum();
            let variance = row.iter().map(|d| d * d).sum::<i64>() as f64 / 30.0;
            assert_eq!(mean, 0, "count {count}");
            assert!((variance - VARIANCE).abs() < 1e-12, "count {count}");
            assert!(row.iter().all(|&d| count as i64 + d >= 0));
            assert!(row.iter().all(|d| d.unsigned_abs() <= MAX_ABS));
        }
        assert!(row_of(1).iter().all(|&d| d != 0));
        assert!(row_of(2).iter().all(|&d| d != 0));
        assert_eq!(perturb(0, 12345), 0);
    }

    #[test]
    fn record_keys_depend_on_the_secret_and_are_uniform() {
        let hashes: Vec<u64> = (0..20_000u64)
            .map(|i| i.wrapping_mul(0x9E37_79B9))
            .collect();
        let a = PrivacyKey::from_secret(b"0123456789abcdef").expect("long enough");
        let b = PrivacyKey::from_secret(b"0123456789abcdeg").expect("long enough");
        let (ka, kb) = (a.record_keys(&hashes), b.record_keys(&hashes));
        assert_ne!(ka, kb);
        assert_eq!(ka, a.record_keys(&hashes));
        // Uniform: each of 30 slots gets about 1/30 of the keys.
        let mut slots = [0u32; 30];
        for &k in &ka {
            slots[((u64::from(k) * 30) >> 32) as usize] += 1;
        }
        assert!(slots.iter().all(|&n| (560..=780).contains(&n)), "{slots:?}");
        assert!(PrivacyKey::from_secret(b"short").is_none());
        let mut reversed = hashes.clone();
        reversed.reverse();
        assert_eq!(PrivacyKey::derived(&hashes), PrivacyKey::derived(&reversed));
    }
}
