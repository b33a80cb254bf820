//! The chunk and merge stage shared by the CSV and Parquet readers: rows parsed per chunk (or row
//! group), duplicate ids found by fingerprint across chunks, chunks merged in input order.

use super::input::Ingested;
use super::rejects::{Reject, RejectReason, RowCounts};
use super::table::{Attribute, AttributeKind, Column, ConsumerTable, MISSING};
use rayon::prelude::*;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, DefaultHasher, Hash, Hasher};

/// Dictionaries up to this size are searched linearly.
pub(super) const SMALL_DICTIONARY: usize = 16;

/// Shards of the duplicate-id sets, processed in parallel.
pub(super) const ID_SHARDS: usize = 16;

/// Column positions and kinds resolved from the header.
pub(super) struct Plan {
    pub(super) width: usize,
    pub(super) id: usize,
    pub(super) lat: usize,
    pub(super) lng: usize,
    /// The attribute columns, in header order.
    pub(super) attrs: Vec<PlannedAttribute>,
}

/// Where an accepted row came from: a byte span within a CSV chunk (`start..end`) or a Parquet
/// batch and row, and its line.
#[derive(Debug, Clone, Copy)]
pub(super) struct RowOrigin {
    /// Span start, or batch.
    pub(super) start: u32,
    /// Span end, or row in the batch.
    pub(super) end: u32,
    /// Line (CSV) or 1-based row (Parquet) in the file.
    pub(super) line: u64,
}

/// One attribute column of a [`Plan`].
#[derive(Debug, Clone, Copy)]
pub(super) struct PlannedAttribute {
    /// Its position in the header.
    pub(super) field: usize,
    /// Its kind, declared or inferred.
    pub(super) kind: AttributeKind,
    /// Whether the segments file declared the kind (a bad value then rejects the row).
    pub(super) declared: bool,
}

/// 128-bit fingerprint of an id: two keyed SipHash values. A false duplicate would need a 128-bit
/// collision (probability about n²/2¹²⁹, under 10⁻²⁴ for 10⁸ ids).
pub(super) fn fingerprint(id: &[u8]) -> u128 {
    let mut b = DefaultHasher::new();
    (1u8, id).hash(&mut b);
    (u128::from(id_hash(id)) << 64) | u128::from(b.finish())
}

/// An id's 64-bit hash ([`ConsumerTable::id_hashes`]): the high half of its [`fingerprint`],
/// computed alone where only it is needed (the candidate ids of a Parquet part).
///
/// [`ConsumerTable::id_hashes`]: super::ConsumerTable::id_hashes
pub(super) fn id_hash(id: &[u8]) -> u64 {
    let mut a = DefaultHasher::new();
    (0u8, id).hash(&mut a);
    a.finish()
}

/// Attribute values of one chunk, encoded locally.
pub(super) enum LocalColumn {
    Categorical {
        codes: Vec<u32>,
        dictionary: Vec<String>,
        lookup: HashMap<String, u32>,
    },
    Numeric(Vec<f64>),
}

/// The rows of one chunk (CSV) or row group (Parquet), parsed and checked, before duplicates.
pub(super) struct ChunkOut {
    pub(super) lat: Vec<f64>,
    pub(super) lng: Vec<f64>,
    pub(super) fingerprints: Vec<u128>,
    /// Ids of accepted rows, when kept.
    pub(super) ids: Vec<String>,
    /// Accepted rows of each id shard, in order.
    pub(super) shard_rows: Vec<Vec<u32>>,
    /// Where each accepted row came from, to report duplicates.
    pub(super) spans: Vec<RowOrigin>,
    pub(super) columns: Vec<LocalColumn>,
    pub(super) rejects: Vec<Reject>,
    pub(super) retype: Option<usize>,
}

impl ChunkOut {
    /// Keeps a row at `(lat, lng)` with id `id` that came from `origin` (its attribute values are
    /// pushed by the reader).
    pub(super) fn accept(
        &mut self,
        (lat, lng): (f64, f64),
        id: &[u8],
        keep_ids: bool,
        origin: RowOrigin,
    ) {
        self.lat.push(lat);
        self.lng.push(lng);
        let fp = fingerprint(id);
        self.shard_rows[shard_of(fp)].push(self.fingerprints.len() as u32);
        self.fingerprints.push(fp);
        if keep_ids {
            self.ids.push(String::from_utf8_lossy(id).into_owned());
        }
        self.spans.push(origin);
    }

    /// Rows of the chunk read so far, accepted and rejected.
    pub(super) fn rows_read(&self) -> u64 {
        (self.lat.len() + self.rejects.len()) as u64
    }

    /// An empty chunk with the columns of `plan`, with room for `rows` rows (a bound known from
    /// the chunk's line count or row group size, so accepting rows never grows a vector).
    pub(super) fn with_capacity(plan: &Plan, rows: usize, keep_ids: bool) -> Self {
        // Ids spread evenly over the shards: a quarter more than the even share is room enough
        // for all but the smallest chunks.
        let per_shard = rows / ID_SHARDS + rows / (4 * ID_SHARDS) + 8;
        ChunkOut {
            lat: Vec::with_capacity(rows),
            lng: Vec::with_capacity(rows),
            fingerprints: Vec::with_capacity(rows),
            ids: Vec::with_capacity(if keep_ids { rows } else { 0 }),
            shard_rows: (0..ID_SHARDS)
                .map(|_| Vec::with_capacity(per_shard))
                .collect(),
            spans: Vec::with_capacity(rows),
            columns: plan
                .attrs
                .iter()
                .map(|a| match a.kind {
                    AttributeKind::Categorical => LocalColumn::Categorical {
                        codes: Vec::with_capacity(rows),
                        dictionary: Vec::new(),
                        lookup: HashMap::new(),
                    },
                    AttributeKind::Numeric => LocalColumn::Numeric(Vec::with_capacity(rows)),
                })
                .collect(),
            rejects: Vec::new(),
            retype: None,
        }
    }
}

pub(super) fn shard_of(fp: u128) -> usize {
    (fp % ID_SHARDS as u128) as usize
}

/// Hashes a fingerprint by its high 64 bits: they are already uniform (shards use the low bits).
#[derive(Default)]
pub(super) struct FingerprintHasher(u64);

impl Hasher for FingerprintHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u128(&mut self, fp: u128) {
        self.0 = (fp >> 64) as u64;
    }
}

pub(super) type FingerprintSet = HashSet<u128, BuildHasherDefault<FingerprintHasher>>;

/// Marks, per chunk and row, the rows whose id was seen before (in input order). Each shard of
/// the seen-set is updated by one task, walking the chunks in order.
pub(super) fn find_duplicates(outs: &[ChunkOut], seen: &mut [FingerprintSet]) -> Vec<Vec<bool>> {
    let found: Vec<Vec<(usize, usize)>> = seen
        .par_iter_mut()
        .enumerate()
        .map(|(shard, set)| {
            let mut dups = Vec::new();
            for (c, out) in outs.iter().enumerate() {
                for &r in &out.shard_rows[shard] {
                    if !set.insert(out.fingerprints[r as usize]) {
                        dups.push((c, r as usize));
                    }
                }
            }
            dups
        })
        .collect();
    let mut flags: Vec<Vec<bool>> = outs
        .iter()
        .map(|o| vec![false; o.fingerprints.len()])
        .collect();
    for (c, r) in found.into_iter().flatten() {
        flags[c][r] = true;
    }
    flags
}

/// The growing global table while chunks are merged in input order.
pub(super) struct Merged {
    table: ConsumerTable,
    lookups: Vec<HashMap<String, u32>>,
    rejects: Vec<Reject>,
}

impl Merged {
    pub(super) fn new(plan: &Plan, header: &[String]) -> Self {
        let read = |i: usize| {
            [plan.id, plan.lat, plan.lng].contains(&i) || plan.attrs.iter().any(|a| a.field == i)
        };
        let unread = (0..header.len())
            .filter(|&i| !read(i))
            .map(|i| header[i].clone())
            .collect();
        let attributes = plan
            .attrs
            .iter()
            .map(|a| Attribute {
                name: header[a.field].clone(),
                column: match a.kind {
                    AttributeKind::Categorical => Column::Categorical {
                        codes: Vec::new(),
                        dictionary: Vec::new(),
                    },
                    AttributeKind::Numeric => Column::Numeric(Vec::new()),
                },
            })
            .collect();
        Merged {
            table: ConsumerTable {
                ids: Vec::new(),
                id_hashes: Vec::new(),
                lat: Vec::new(),
                lng: Vec::new(),
                attributes,
                unread,
            },
            lookups: plan.attrs.iter().map(|_| HashMap::new()).collect(),
            rejects: Vec::new(),
        }
    }

    /// Makes room for `rows` rows in all (and their ids when kept), so that appending up to that
    /// many copies each value once instead of growing (and copying) the columns by doubling.
    pub(super) fn reserve_total(&mut self, rows: usize, keep_ids: bool) {
        let table = &mut self.table;
        let more = rows.saturating_sub(table.len());
        table.lat.reserve_exact(more);
        table.lng.reserve_exact(more);
        table.id_hashes.reserve_exact(more);
        if keep_ids {
            table.ids.reserve_exact(more);
        }
        for attribute in &mut table.attributes {
            match &mut attribute.column {
                Column::Numeric(values) => values.reserve_exact(more),
                Column::Categorical { codes, .. } => codes.reserve_exact(more),
            }
        }
    }

    /// Appends a chunk's rows but its duplicates, which become rejects with `text(span)`.
    pub(super) fn append(
        &mut self,
        out: ChunkOut,
        duplicate: &[bool],
        text: &dyn Fn(RowOrigin) -> String,
    ) {
        let keep = |r: &usize| !duplicate[*r];
        let mut rejects = out.rejects;
        for (r, &origin) in out.spans.iter().enumerate() {
            if duplicate[r] {
                rejects.push(Reject {
                    line: origin.line,
                    reason: RejectReason::DuplicateId,
                    detail: "id already seen on an earlier row".into(),
                    text: text(origin),
                });
            }
        }
        rejects.sort_by_key(|r| r.line);
        self.rejects.extend(rejects);
        let rows = 0..out.lat.len();
        self.table
            .lat
            .extend(rows.clone().filter(keep).map(|r| out.lat[r]));
        self.table.id_hashes.extend(
            rows.clone()
                .filter(keep)
                .map(|r| (out.fingerprints[r] >> 64) as u64),
        );
        let mut ids = out.ids;
        if !ids.is_empty() {
            let mut r = 0;
            ids.retain(|_| {
                r += 1;
                !duplicate[r - 1]
            });
            self.table.ids.extend(ids);
        }
        self.table
            .lng
            .extend(rows.clone().filter(keep).map(|r| out.lng[r]));
        for ((attr, local), lookup) in self
            .table
            .attributes
            .iter_mut()
            .zip(out.columns)
            .zip(&mut self.lookups)
        {
            match (&mut attr.column, local) {
                (Column::Numeric(values), LocalColumn::Numeric(local)) => {
                    values.extend(rows.clone().filter(keep).map(|r| local[r]));
                }
                (
                    Column::Categorical { codes, dictionary },
                    LocalColumn::Categorical {
                        codes: local,
                        dictionary: local_dictionary,
                        ..
                    },
                ) => {
                    let remap: Vec<u32> = local_dictionary
                        .into_iter()
                        .map(|value| {
                            *lookup.entry(value).or_insert_with_key(|value| {
                                dictionary.push(value.clone());
                                (dictionary.len() - 1) as u32
                            })
                        })
                        .collect();
                    codes.extend(rows.clone().filter(keep).map(|r| {
                        let c = local[r];
                        if c == MISSING {
                            MISSING
                        } else {
                            remap[c as usize]
                        }
                    }));
                }
                _ => unreachable!("chunk columns follow the plan"),
            }
        }
    }

    /// Rows merged so far, accepted and rejected.
    pub(super) fn rows(&self) -> u64 {
        (self.table.len() + self.rejects.len()) as u64
    }

    pub(super) fn finish(self) -> Ingested {
        let rows = RowCounts::new(self.table.len() as u64, &self.rejects);
        Ingested {
            table: self.table,
            rejects: self.rejects,
            rows,
        }
    }
}
