//! H3 cell assignment.

use h3o::{CellIndex, LatLng, Resolution};
use rayon::prelude::*;

/// The H3 cell of every point at `resolution`, computed directly with h3o (never as the parent of a
/// finer cell, which differs for some points), in parallel.
///
/// Coordinates must be finite; ingest guarantees it.
///
/// # Runtime
///
/// One `LatLng::to_cell` per point, spread over rayon's threads.
pub fn assign_cells(lat: &[f64], lng: &[f64], resolution: Resolution) -> Vec<CellIndex> {
    lat.par_iter()
        .zip(lng.par_iter())
        .map(|(&la, &ln)| {
            LatLng::new(la, ln)
                .expect("ingest accepts finite coordinates only")
                .to_cell(resolution)
        })
        .collect()
}
