//! The crate-wide error: one variant per module's own error enum.

use thiserror::Error;

/// Any error the library can return; each module's enum keeps its own detail.
#[derive(Debug, Error)]
pub enum Error {
    /// Reading consumers failed.
    #[error(transparent)]
    Ingest(#[from] crate::consumer::IngestError),
    /// A boundary file is invalid.
    #[error(transparent)]
    Boundary(#[from] crate::boundary::BoundaryError),
    /// A segments file or filter is invalid.
    #[error(transparent)]
    Segment(#[from] crate::segment::SegmentError),
    /// Writing outputs failed.
    #[error(transparent)]
    Export(#[from] crate::export::ExportError),
    /// A parameter is out of range.
    #[error(transparent)]
    Parameter(#[from] crate::params::ParamError),
    /// The worker threads could not start.
    #[error("cannot start {threads} worker threads: {source}")]
    Threads {
        /// Threads asked for.
        threads: usize,
        /// Cause.
        source: rayon::ThreadPoolBuildError,
    },
    /// The parts of a consumers input (files read apart by another engine) disagree.
    #[error("{path}: {problem}")]
    Parts {
        /// The input as given (a folder or a file).
        path: String,
        /// What disagrees, and what fixes it.
        problem: String,
    },
    /// A part of the input could not be read where another engine's worker read it; the
    /// message is the reader's own (it names the file).
    #[error("{message}")]
    PartUnreadable {
        /// The reader's message.
        message: String,
        /// Whether the file could not be read at all (an I/O failure) rather than holding
        /// invalid input.
        io: bool,
        /// The role of a required column the file lacks (`id`, `latitude`, `longitude`).
        missing_column: Option<String>,
    },
    /// Another counting engine failed (its own message).
    #[error("the {engine} engine failed: {message}")]
    Engine {
        /// The engine.
        engine: &'static str,
        /// Its message.
        message: String,
    },
    /// A stores file holds no valid store.
    #[error("{file} holds no valid store ({rejected} rows rejected); expected id,name,lat,lon")]
    NoStores {
        /// The stores file.
        file: String,
        /// Its rejected rows.
        rejected: u64,
    },
    /// No consumer row could be used.
    #[error(
        "{file} holds no usable consumer ({read} rows read, {rejected} rejected): a run needs a header row and at least one consumer row"
    )]
    NoConsumers {
        /// The consumers file.
        file: String,
        /// Rows read.
        read: u64,
        /// Rows rejected.
        rejected: u64,
    },
    /// Boundaries were given but no consumer lies inside any of them.
    #[error(
        "none of the {accepted} consumers of {file} lies inside any region or city{}",
        match swapped {
            Some(share) => format!("; with latitude and longitude swapped, {:.0}% would: the coordinate columns look labelled the wrong way round", share * 100.0),
            None => "; check that coordinates are WGS 84 degrees (latitude, longitude) and that the boundaries are the ones covering them".into(),
        }
    )]
    NoneInside {
        /// The consumers file.
        file: String,
        /// Accepted consumers.
        accepted: u64,
        /// The share of a sample of them inside a boundary with the coordinates swapped, when
        /// that is most of them.
        swapped: Option<f64>,
    },
    /// Too many consumer rows were rejected.
    #[error(
        "{rejected} of {read} consumer rows rejected ({ratio:.4}), more than the {max:.4} allowed; `micromarket validate` lists them, and so does the rejects file beside the output folder"
    )]
    TooManyRejects {
        /// Rows read.
        read: u64,
        /// Rows rejected.
        rejected: u64,
        /// Observed ratio.
        ratio: f64,
        /// Allowed ratio.
        max: f64,
    },
}

impl Error {
    /// Every problem this error holds, one message each (invalid features or segments are
    /// listed one by one).
    pub fn problems(&self) -> Vec<String> {
        match self {
            Error::Boundary(e) => e.problems(),
            Error::Segment(e) => e.problems(),
            other => vec![other.to_string()],
        }
    }

    /// [`Error::TooManyRejects`] when the share of rejected rows is above `max`.
    pub fn too_many_rejects(rows: &crate::consumer::RowCounts, max: f64) -> Option<Error> {
        (rows.reject_ratio() > max).then(|| Error::TooManyRejects {
            read: rows.read,
            rejected: rows.rejected,
            ratio: rows.reject_ratio(),
            max,
        })
    }
}

/// `text` as a message shows it: cut after `chars` characters, ending in "…".
pub(crate) fn cut(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

/// `problems` as an indented list, one per line (their own further lines indented more).
pub(crate) fn list(problems: &[impl std::fmt::Display]) -> String {
    use std::fmt::Write;
    problems.iter().fold(String::new(), |mut text, p| {
        let _ = write!(text, "\n  {}", p.to_string().replace('\n', "\n    "));
        text
    })
}
