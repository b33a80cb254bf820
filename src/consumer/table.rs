//! The consumer table: accepted consumers stored column by column, with their attributes.

use std::collections::BTreeMap;

/// Code of a missing categorical value; it never equals any dictionary entry.
pub const MISSING: u32 = u32::MAX;

/// Whether an attribute holds text categories or numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttributeKind {
    /// Text, dictionary-encoded.
    Categorical,
    /// Numbers (`f64`).
    Numeric,
}

/// The values of one attribute, one per accepted consumer.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    /// A `u32` code per row into `dictionary`; [`MISSING`] for a missing value.
    Categorical {
        /// Code per row.
        codes: Vec<u32>,
        /// Distinct values, in order of first appearance.
        dictionary: Vec<String>,
    },
    /// A number per row; `NaN` for a missing value.
    Numeric(Vec<f64>),
}

impl Column {
    /// The kind of this column.
    pub fn kind(&self) -> AttributeKind {
        match self {
            Column::Categorical { .. } => AttributeKind::Categorical,
            Column::Numeric(_) => AttributeKind::Numeric,
        }
    }
}

/// A named attribute column.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    /// Column name as in the header.
    pub name: String,
    /// Values.
    pub column: Column,
}

/// Accepted consumers, stored column by column; row `i` of every column is the same consumer.
///
/// Consumer ids are checked for uniqueness at ingest and then dropped, only a hash of each kept
/// (no export ever holds either), unless [`IngestOptions::keep_ids`](crate::consumer::IngestOptions::keep_ids) asks for them, as for a stores file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConsumerTable {
    /// Latitude in degrees, per row.
    pub lat: Vec<f64>,
    /// Longitude in degrees, per row.
    pub lng: Vec<f64>,
    /// Attribute columns, in header order.
    pub attributes: Vec<Attribute>,
    /// Attribute columns of the file that were not read (no segment uses them), in header order:
    /// named in error messages beside the read ones.
    pub unread: Vec<String>,
    /// Ids per row, only when the ingest kept them (empty otherwise).
    pub ids: Vec<String>,
    /// A 64-bit hash of each row's id (unkeyed, never written anywhere): what a consumer's
    /// record key for the protected count table is derived from ([`crate::perturb`]).
    pub id_hashes: Vec<u64>,
}

impl ConsumerTable {
    /// Number of consumers.
    pub fn len(&self) -> usize {
        self.lat.len()
    }

    /// Whether the table holds no consumer.
    pub fn is_empty(&self) -> bool {
        self.lat.is_empty()
    }

    /// The attribute called `name`.
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// The attributes of the file for an error message: the read ones by name with their kinds,
    /// then the unread ones (kinds unknown) in file order; past the first 30, how many more.
    pub fn known_attributes(&self) -> String {
        const SHOWN: usize = 30;
        let read = self.schema().into_iter().map(|(name, kind)| {
            let kind = match kind {
                AttributeKind::Categorical => "categorical",
                AttributeKind::Numeric => "numeric",
            };
            format!("{name} ({kind})")
        });
        let unread = self.unread.iter().cloned();
        let mut known: Vec<String> = read.chain(unread).take(SHOWN).collect();
        let more = self.attributes.len() + self.unread.len() - known.len();
        if more > 0 {
            known.push(format!("and {more} more"));
        }
        known.join(", ")
    }

    /// Attribute names with their kinds, for error messages and reports.
    pub fn schema(&self) -> BTreeMap<String, AttributeKind> {
        self.attributes
            .iter()
            .map(|a| (a.name.clone(), a.column.kind()))
            .collect()
    }
}
