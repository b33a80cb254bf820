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
    /// A stores file holds no valid store.
    #[error("{file} holds no valid store ({rejected} rows rejected); expected id,name,lat,lon")]
    NoStores {
        /// The stores file.
        file: String,
        /// Its rejected rows.
        rejected: u64,
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
