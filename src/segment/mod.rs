//! Segments: named filters and dimension grids from a TOML file, evaluated into bitsets.

mod bitset;
mod filter;

pub use bitset::Bitset;
pub use filter::{Evaluator, FilterError};

use crate::consumer::{AttributeKind, Column, ConsumerTable, MISSING};
use crate::error::cut;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use thiserror::Error;

/// Errors in a segments file; each names the file and, where it applies, the segment.
#[derive(Debug, Error)]
pub enum SegmentError {
    /// The file could not be read.
    #[error("cannot read {file}: {source}")]
    Io {
        /// File name.
        file: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown keys.
    #[error("{file}: {message}")]
    Toml {
        /// File name.
        file: String,
        /// Parser message, with its line and column.
        message: String,
    },
    /// A segment name is not a slug, or is repeated.
    #[error("{file}: segment '{segment}': {problem}")]
    Name {
        /// File name.
        file: String,
        /// The segment.
        segment: String,
        /// What is wrong.
        problem: String,
    },
    /// A filter does not parse or does not fit the data.
    #[error("{file}: segment '{segment}': filter column {column}: {message}\n  filter: {filter}")]
    Filter {
        /// File name.
        file: String,
        /// The segment.
        segment: String,
        /// The filter text.
        filter: String,
        /// 1-based column in the filter (0 when unknown).
        column: u64,
        /// What is wrong.
        message: String,
    },
    /// The grid names an unusable dimension.
    #[error("{file}: [grid]: {problem}")]
    Grid {
        /// File name.
        file: String,
        /// What is wrong.
        problem: String,
    },
    /// Several segments are invalid: every one, in file order, one per line.
    #[error("{} invalid segments:{}", .0.len(), crate::error::list(.0))]
    Segments(Vec<SegmentError>),
    /// The file defines no segment.
    #[error("{file} defines no segment: add a [[segment]] with name and filter, or a [grid]")]
    NoSegments {
        /// File name.
        file: String,
    },
}

/// A segments file as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentsFile {
    /// Declared attribute kinds; others are inferred from the data.
    #[serde(default)]
    pub schema: BTreeMap<String, AttributeKind>,
    /// Named segments.
    #[serde(default)]
    pub segment: Vec<SegmentDef>,
    /// A grid of every combination of categorical dimensions.
    pub grid: Option<GridDef>,
}

/// A named segment.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentDef {
    /// A slug: lowercase letters, digits and `-`.
    pub name: String,
    /// A SQL-style `WHERE` expression.
    pub filter: String,
}

/// A dimension grid.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridDef {
    /// Categorical attributes whose value combinations become segments.
    pub dimensions: Vec<String>,
}

impl SegmentsFile {
    /// The consumer attributes this file can read: the declared schema, the grid's dimensions and
    /// every word of every filter (keywords included, which at worst reads a column named like
    /// one). `None` when a filter does not tokenize: every attribute is then read, and compiling
    /// reports the filter's error.
    pub fn attributes(&self) -> Option<BTreeSet<String>> {
        let mut names: BTreeSet<String> = self.schema.keys().cloned().collect();
        names.extend(self.grid.iter().flat_map(|g| g.dimensions.iter().cloned()));
        for segment in &self.segment {
            names.extend(filter::words(&segment.filter)?);
        }
        Some(names)
    }

    /// Parses a segments file.
    ///
    /// # Errors
    ///
    /// [`SegmentError::Toml`] with the position of the problem.
    pub fn parse(file: &str, text: &str) -> Result<Self, SegmentError> {
        toml::from_str(text).map_err(|e| SegmentError::Toml {
            file: file.into(),
            message: e.to_string().trim_end().to_string(),
        })
    }
}

/// A compiled segment: its definition and its members.
#[derive(Debug, Clone)]
pub struct Segment {
    /// Slug name.
    pub name: String,
    /// The filter it was made from.
    pub filter: String,
    /// Member rows.
    pub members: Bitset,
}

/// Whether `name` is a slug: lowercase ASCII letters, digits and single inner dashes.
fn is_slug(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
}

/// Evaluates every segment of `file` over `table`: the named segments, then the grid.
///
/// Grid segments are named by their values' slugs joined with `-` (`road-amateur-f`), over the
/// values present in the data, sorted. Returns the segments and warnings (values that never occur).
///
/// # Errors
///
/// [`SegmentError`] naming the segment, the position in its filter and what is known.
pub fn compile(
    file_name: &str,
    file: &SegmentsFile,
    table: &ConsumerTable,
) -> Result<(Vec<Segment>, Vec<String>), SegmentError> {
    compile_counted(file_name, file, table, |_, members| {
        (members.count() as u64, table.len() as u64)
    })
}

/// [`compile`], with the members and consumers each segment's "no member" warning is judged by
/// given by `count(position, members)` (the position in the file's order, the segment's rows in
/// `table`): for a table standing in for data counted elsewhere.
///
/// # Errors
///
/// As [`compile`].
pub fn compile_counted(
    file_name: &str,
    file: &SegmentsFile,
    table: &ConsumerTable,
    count: impl Fn(usize, &Bitset) -> (u64, u64),
) -> Result<(Vec<Segment>, Vec<String>), SegmentError> {
    let mut definitions: Vec<SegmentDef> = file.segment.clone();
    if let Some(grid) = &file.grid {
        definitions.extend(grid_segments(file_name, grid, table)?);
    }
    if definitions.is_empty() {
        return Err(SegmentError::NoSegments {
            file: file_name.into(),
        });
    }
    let mut names = HashSet::new();
    let mut evaluator = Evaluator::new(table);
    let mut segments = Vec::with_capacity(definitions.len());
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    for (position, def) in definitions.into_iter().enumerate() {
        let name_error = |problem: String| SegmentError::Name {
            file: file_name.into(),
            segment: cut(&def.name, 60),
            problem,
        };
        if def.name.len() > MAX_NAME_BYTES {
            problems.push(name_error(format!(
                "the name is {} bytes long, more than the {MAX_NAME_BYTES} a segment name may have (it heads columns of every layer){}",
                def.name.len(),
                if file.grid.is_some() { "; grid segments are named value-value-value" } else { "" }
            )));
        } else if !is_slug(&def.name) {
            problems.push(name_error(format!(
                "a name is a slug (lowercase letters, digits, single dashes), e.g. '{}'",
                crate::boundary::slugify(&def.name)
            )));
        } else if !names.insert(def.name.clone()) {
            problems.push(name_error(
                "defined twice (grid segments are named value-value-value)".into(),
            ));
        }
        let members = match evaluator.evaluate(&def.filter) {
            Ok(members) => members,
            Err(e) => {
                problems.push(SegmentError::Filter {
                    file: file_name.into(),
                    segment: cut(&def.name, 60),
                    filter: cut(&def.filter, 500),
                    column: e.column,
                    message: e.message,
                });
                continue;
            }
        };
        let segment_warnings = std::mem::take(&mut evaluator.warnings);
        warnings.extend(
            segment_warnings
                .iter()
                .map(|w| format!("{file_name}: segment '{}': {w}", def.name)),
        );
        let (counted, consumers) = count(position, &members);
        if counted == 0 && consumers > 0 {
            warnings.push(format!(
                "{file_name}: segment '{}' has no member among the {consumers} consumers; its figures are all zero (check the filter's values and their case)",
                def.name,
            ));
        }
        segments.push(Segment {
            name: def.name,
            filter: def.filter,
            members,
        });
    }
    match problems.len() {
        0 => Ok((segments, warnings)),
        1 => Err(problems.remove(0)),
        _ => Err(SegmentError::Segments(problems)),
    }
}

impl SegmentError {
    /// Every problem this error holds, one message each.
    pub fn problems(&self) -> Vec<String> {
        match self {
            SegmentError::Segments(all) => all.iter().map(ToString::to_string).collect(),
            one => vec![one.to_string()],
        }
    }
}

/// The values a categorical column's rows hold, sorted (none for a numeric column): the values
/// a grid dimension spans.
pub fn present_values(column: &Column) -> Vec<String> {
    let Column::Categorical { codes, dictionary } = column else {
        return Vec::new();
    };
    let mut held = vec![false; dictionary.len()];
    for &c in codes {
        if c != MISSING {
            held[c as usize] = true;
        }
    }
    let mut values: Vec<String> = dictionary
        .iter()
        .zip(held)
        .filter(|&(_, h)| h)
        .map(|(v, _)| v.clone())
        .collect();
    values.sort();
    values
}

/// The longest segment name, in bytes: it heads columns and properties of every layer.
pub const MAX_NAME_BYTES: usize = 100;

/// The most segments a grid may make: each is a column group in every layer.
pub const MAX_GRID_SEGMENTS: usize = 1000;

fn grid_segments(
    file_name: &str,
    grid: &GridDef,
    table: &ConsumerTable,
) -> Result<Vec<SegmentDef>, SegmentError> {
    let grid_error = |problem: String| SegmentError::Grid {
        file: file_name.into(),
        problem,
    };
    if grid.dimensions.is_empty() {
        return Err(grid_error(
            "dimensions is empty; list categorical attributes".into(),
        ));
    }
    let mut axes: Vec<(String, Vec<String>)> = Vec::new();
    for dim in &grid.dimensions {
        let attribute = table.attribute(dim).ok_or_else(|| {
            grid_error(format!(
                "unknown dimension '{dim}'; known attributes: {}",
                table.known_attributes()
            ))
        })?;
        if attribute.column.kind() == AttributeKind::Numeric {
            return Err(grid_error(format!(
                "dimension '{dim}' is numeric; a grid needs categorical attributes (declare it in [schema] as \"categorical\" if its numbers are codes)"
            )));
        }
        axes.push((dim.clone(), present_values(&attribute.column)));
    }
    let combinations = axes
        .iter()
        .fold(1usize, |n, (_, values)| n.saturating_mul(values.len()));
    if combinations > MAX_GRID_SEGMENTS {
        let counts: Vec<String> = axes
            .iter()
            .map(|(dim, values)| format!("{dim} has {}", values.len()))
            .collect();
        return Err(grid_error(format!(
            "the grid would make {combinations} segments ({} values), more than the {MAX_GRID_SEGMENTS} a run may have; grid fewer or coarser dimensions, or name the segments you need with [[segment]] filters",
            counts.join(", ")
        )));
    }
    let mut combos: Vec<Vec<(&str, &str)>> = vec![Vec::new()];
    for (dim, values) in &axes {
        combos = combos
            .into_iter()
            .flat_map(|prefix| {
                values.iter().map(move |v| {
                    let mut next = prefix.clone();
                    next.push((dim.as_str(), v.as_str()));
                    next
                })
            })
            .collect();
    }
    Ok(combos
        .into_iter()
        .map(|combo| SegmentDef {
            name: combo
                .iter()
                .map(|(_, v)| crate::boundary::slugify(v))
                .collect::<Vec<_>>()
                .join("-"),
            filter: combo
                .iter()
                .map(|(d, v)| format!("{d} = '{}'", v.replace('\'', "''")))
                .collect::<Vec<_>>()
                .join(" AND "),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consumer::Attribute;

    fn table() -> ConsumerTable {
        let cat = |name: &str, codes: Vec<u32>, dict: &[&str]| Attribute {
            name: name.into(),
            column: Column::Categorical {
                codes,
                dictionary: dict.iter().map(|s| (*s).to_string()).collect(),
            },
        };
        ConsumerTable {
            ids: Vec::new(),
            id_hashes: Vec::new(),
            unread: Vec::new(),
            lat: vec![0.0; 4],
            lng: vec![0.0; 4],
            attributes: vec![
                cat("discipline", vec![0, 1, 0, 1], &["road", "gravel"]),
                cat("gender", vec![0, 0, 1, MISSING], &["F", "M", "X"]),
            ],
        }
    }

    #[test]
    fn grid_covers_present_combinations() {
        let file = SegmentsFile::parse(
            "s.toml",
            "[grid]\ndimensions = [\"discipline\", \"gender\"]\n",
        )
        .expect("toml");
        let (segments, _) = compile("s.toml", &file, &table()).expect("compile");
        let names: Vec<&str> = segments.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, vec!["gravel-f", "gravel-m", "road-f", "road-m"]);
        let counts: Vec<usize> = segments.iter().map(|s| s.members.count()).collect();
        assert_eq!(counts, vec![1, 0, 1, 1]);
    }

    #[test]
    fn errors_name_segment_and_position() {
        let text = "[[segment]]\nname = \"women\"\nfilter = \"gendr = 'F'\"\n";
        let file = SegmentsFile::parse("s.toml", text).expect("toml");
        let err = compile("s.toml", &file, &table())
            .expect_err("unknown")
            .to_string();
        assert!(
            err.starts_with("s.toml: segment 'women': filter column 1: unknown attribute 'gendr'"),
            "{err}"
        );
        let file = SegmentsFile::parse(
            "s.toml",
            "[[segment]]\nname = \"Women\"\nfilter = \"gender = 'F'\"\n",
        )
        .expect("toml");
        let err = compile("s.toml", &file, &table())
            .expect_err("slug")
            .to_string();
        assert!(err.contains("e.g. 'women'"), "{err}");
        let err = SegmentsFile::parse("s.toml", "[[segment]]\nnam = 1\n")
            .expect_err("key")
            .to_string();
        assert!(err.contains("nam"), "{err}");
        let file = SegmentsFile::parse("s.toml", "[grid]\ndimensions = [\"age\"]\n").expect("toml");
        let err = compile("s.toml", &file, &table())
            .expect_err("dim")
            .to_string();
        assert!(err.contains("unknown dimension 'age'"), "{err}");
    }

    #[test]
    fn a_grid_of_too_many_segments_is_refused_with_its_sizes() {
        let n = 2000;
        let table = ConsumerTable {
            lat: vec![0.0; n],
            lng: vec![0.0; n],
            attributes: vec![Attribute {
                name: "zip".into(),
                column: Column::Categorical {
                    codes: (0..n as u32).collect(),
                    dictionary: (0..n).map(|i| format!("z{i}")).collect(),
                },
            }],
            ..ConsumerTable::default()
        };
        let file = SegmentsFile::parse("s.toml", "[grid]\ndimensions = [\"zip\"]").expect("parse");
        let error = compile("s.toml", &file, &table).expect_err("too many");
        assert!(
            error
                .to_string()
                .contains("2000 segments (zip has 2000 values)"),
            "{error}"
        );
    }

    #[test]
    fn a_long_segment_name_is_refused_and_shown_cut() {
        let name = "a".repeat(101);
        let text = format!("[[segment]]\nname = \"{name}\"\nfilter = \"gender = 'F'\"\n");
        let file = SegmentsFile::parse("s.toml", &text).expect("parse");
        let error = compile("s.toml", &file, &table())
            .expect_err("long")
            .to_string();
        assert!(
            error.contains(&format!(
                "segment '{}…': the name is 101 bytes long",
                &name[..60]
            )),
            "{error}"
        );
    }

    #[test]
    fn the_attributes_a_file_reads_are_its_words() {
        let file = SegmentsFile::parse(
            "s.toml",
            "[schema]\nage = \"numeric\"\n[[segment]]\nname = \"a\"\nfilter = \"kind = 'road' AND \\\"level\\\" IN ('x')\"\n[grid]\ndimensions = [\"gender\"]",
        )
        .expect("parse");
        let words = file.attributes().expect("words");
        for name in ["age", "kind", "level", "gender"] {
            assert!(words.contains(name), "{name}: {words:?}");
        }
        assert!(!words.contains("road") && !words.contains("x"), "{words:?}");
    }
}
