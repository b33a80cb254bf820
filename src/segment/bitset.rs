//! A fixed-size set of rows, one bit per consumer.

use rayon::prelude::*;

/// One bit per row, packed in 64-bit words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bitset {
    words: Vec<u64>,
    len: usize,
}

impl Bitset {
    /// A set of `len` rows, all clear.
    pub fn empty(len: usize) -> Self {
        Bitset {
            words: vec![0; len.div_ceil(64)],
            len,
        }
    }

    /// A set of `len` rows, all set.
    pub fn full(len: usize) -> Self {
        Self::empty(len).complement()
    }

    /// Rows of `values` for which `predicate` holds, evaluated 64 rows per task in parallel.
    pub fn from_predicate<T: Sync>(values: &[T], predicate: impl Fn(&T) -> bool + Sync) -> Self {
        let words = values
            .par_chunks(64)
            .map(|chunk| {
                chunk
                    .iter()
                    .enumerate()
                    .fold(0u64, |w, (i, v)| w | (u64::from(predicate(v)) << i))
            })
            .collect();
        Bitset {
            words,
            len: values.len(),
        }
    }

    /// Number of rows the set spans.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the set spans no row.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether row `i` is in the set.
    pub fn contains(&self, i: usize) -> bool {
        self.words[i / 64] >> (i % 64) & 1 == 1
    }

    /// The packed words (bit `i % 64` of word `i / 64` is row `i`).
    pub fn words(&self) -> &[u64] {
        &self.words
    }

    /// Number of rows in the set.
    pub fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    fn zip_with(&self, other: &Bitset, f: impl Fn(u64, u64) -> u64 + Sync) -> Bitset {
        Bitset {
            words: self
                .words
                .par_iter()
                .zip(other.words.par_iter())
                .map(|(&a, &b)| f(a, b))
                .collect(),
            len: self.len,
        }
    }

    /// Rows in both sets.
    #[must_use]
    pub fn and(&self, other: &Bitset) -> Bitset {
        self.zip_with(other, |a, b| a & b)
    }

    /// Rows in either set.
    #[must_use]
    pub fn or(&self, other: &Bitset) -> Bitset {
        self.zip_with(other, |a, b| a | b)
    }

    /// Rows in `self` but not in `other`.
    #[must_use]
    pub fn and_not(&self, other: &Bitset) -> Bitset {
        self.zip_with(other, |a, b| a & !b)
    }

    /// Rows not in the set.
    #[must_use]
    pub fn complement(mut self) -> Bitset {
        for w in &mut self.words {
            *w = !*w;
        }
        if self.len % 64 != 0 {
            if let Some(last) = self.words.last_mut() {
                *last &= (1u64 << (self.len % 64)) - 1;
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_respect_length() {
        let values: Vec<u32> = (0..130).collect();
        let even = Bitset::from_predicate(&values, |v| v % 2 == 0);
        assert_eq!(even.count(), 65);
        assert_eq!(even.clone().complement().count(), 65);
        let small = Bitset::from_predicate(&values, |v| *v < 10);
        assert_eq!(even.and(&small).count(), 5);
        assert_eq!(even.or(&small).count(), 70);
        assert_eq!(small.and_not(&even).count(), 5);
        assert!(even.contains(128) && !even.contains(129));
        assert_eq!(Bitset::full(130).count(), 130);
    }
}
