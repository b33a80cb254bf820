//! How far a run has got: counters the run advances as it goes and a progress display reads
//! (the library itself never prints).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// A run's stage and counts, shared between the run and whoever shows them.
#[derive(Debug, Default)]
pub struct Progress {
    stage: Mutex<&'static str>,
    rows: AtomicU64,
    scopes_done: AtomicU64,
    scopes_total: AtomicU64,
}

/// What [`Progress`] holds at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// The stage running.
    pub stage: &'static str,
    /// Consumer rows read so far.
    pub rows: u64,
    /// Scopes analysed and written so far.
    pub scopes_done: u64,
    /// Scopes to analyse and write (0 until known).
    pub scopes_total: u64,
}

impl Progress {
    /// Enters stage `name`.
    pub fn stage(&self, name: &'static str) {
        if let Ok(mut stage) = self.stage.lock() {
            *stage = name;
        }
    }

    /// Sets the consumer rows read so far (a reader that starts again starts from 0).
    pub fn set_rows(&self, n: u64) {
        self.rows.store(n, Ordering::Relaxed);
    }

    /// Sets the number of scopes to analyse.
    pub fn set_scopes(&self, total: u64) {
        self.scopes_total.store(total, Ordering::Relaxed);
    }

    /// Counts one more scope analysed and written.
    pub fn scope_done(&self) {
        self.scopes_done.fetch_add(1, Ordering::Relaxed);
    }

    /// The stage and counts now.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            stage: self.stage.lock().map_or("", |s| *s),
            rows: self.rows.load(Ordering::Relaxed),
            scopes_done: self.scopes_done.load(Ordering::Relaxed),
            scopes_total: self.scopes_total.load(Ordering::Relaxed),
        }
    }
}
