//! A whole run's output folder written aside and swapped into place at once, so the folder always
//! holds one complete run: the previous one until the swap, this one after.
//!
//! The run writes into `PARENT/.NAME.staging-PID`. When it is complete, the staging folder is
//! synced and exchanged with `PARENT/NAME` in one `renameat2(RENAME_EXCHANGE)` (Linux; elsewhere
//! two renames, with a short window where `NAME` is absent), and the previous run, now under the
//! staging name, is removed. A run that fails or is killed leaves the previous state untouched;
//! its staging folder is removed by the next run into the same place.

use super::atomic::{ExportError, io_error};
use std::path::{Path, PathBuf};

/// An output folder being written aside.
#[derive(Debug)]
pub struct Staging {
    target: PathBuf,
    dir: PathBuf,
    committed: bool,
}

/// `PARENT/.NAME.<kind>-` for `target`: the prefix of its staging folders.
fn aside(target: &Path, kind: &str) -> (PathBuf, String) {
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    (parent, format!(".{name}.{kind}-"))
}

impl Staging {
    /// Starts a run into `target`: removes the staging folders killed runs left beside it and
    /// creates this run's.
    ///
    /// # Errors
    ///
    /// [`ExportError`] when `target` is a file, or a folder holding files that are not a run's
    /// outputs (no `manifest.json`: the swap would remove them), or when the staging folder cannot
    /// be created.
    pub fn begin(given: &Path) -> Result<Self, ExportError> {
        // `out`, `./out` and `.` all name a folder with a name and a parent.
        let target = &std::path::absolute(given).map_err(io_error(given))?;
        // Messages name the folder as the user gave it; refusals are bad usage, not failures.
        let refuse = |why: &str| ExportError {
            path: given.display().to_string(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, why.to_string()),
        };
        if target.is_file() {
            return Err(refuse("it is a file; name a folder for the outputs"));
        }
        let holds_other_files = std::fs::read_dir(target).is_ok_and(|mut entries| {
            entries.next().is_some() && !target.join("manifest.json").is_file()
        });
        if holds_other_files {
            return Err(refuse(
                "the folder holds files that are not a micromarket run (no manifest.json), which \
                 a run would replace; name a new or empty folder",
            ));
        }
        let (parent, prefix) = aside(target, "staging");
        let unwritable = |source: std::io::Error| ExportError {
            path: given.display().to_string(),
            source: std::io::Error::new(
                source.kind(),
                format!(
                    "a run is written beside it in {} first, which refuses: {}; choose an output folder in a place you can write",
                    parent.display(),
                    plain(&source)
                ),
            ),
        };
        std::fs::create_dir_all(&parent).map_err(unwritable)?;
        let mine = format!("{prefix}{}", std::process::id());
        if let Ok(entries) = std::fs::read_dir(&parent) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with(&prefix) {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        let dir = parent.join(mine);
        std::fs::create_dir(&dir).map_err(unwritable)?;
        Ok(Staging {
            target: target.clone(),
            dir,
            committed: false,
        })
    }

    /// The folder the run writes into.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `error` naming the file by its final place in the output folder rather than its place in
    /// the staging folder, which the user never sees.
    pub fn explain(&self, mut error: ExportError) -> ExportError {
        if let Ok(rest) = Path::new(&error.path).strip_prefix(&self.dir) {
            error.path = self.target.join(rest).display().to_string();
        }
        error
    }

    /// Records a run that failed after it started. When the output folder holds an earlier
    /// run, its files stay as they are and only its `manifest.json` is replaced by `failed`,
    /// which then names that run in `previous` (the argument `failed` is given: the folder's
    /// manifest); otherwise the folder becomes `failed` alone. Best effort: a disk that is full
    /// may refuse even this.
    ///
    /// # Errors
    ///
    /// [`ExportError`] naming what could not be written.
    pub fn fail<M: serde::Serialize>(
        self,
        failed: impl FnOnce(Option<serde_json::Value>) -> M,
    ) -> Result<(), ExportError> {
        let earlier = std::fs::read_to_string(self.target.join("manifest.json"))
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok());
        if let Some(manifest) = earlier {
            // An earlier failure's manifest already names the run whose files are here.
            let previous = if manifest["status"] == "failed" {
                manifest.get("previous").cloned().filter(|p| !p.is_null())
            } else {
                Some(manifest)
            };
            let target = self.target.clone();
            drop(self);
            super::write_manifest(&target, &failed(previous))?;
            return Ok(());
        }
        std::fs::remove_dir_all(&self.dir).map_err(io_error(&self.dir))?;
        std::fs::create_dir(&self.dir).map_err(io_error(&self.dir))?;
        super::write_manifest(&self.dir, &failed(None))?;
        self.commit()
    }

    /// Makes the staged run the output folder: syncs it to disk, swaps it with the previous run
    /// and removes that.
    ///
    /// # Errors
    ///
    /// [`ExportError`] naming the folder when the sync or the swap fails; the previous run is then
    /// still in place.
    pub fn commit(mut self) -> Result<(), ExportError> {
        sync_folder(&self.dir).map_err(io_error(&self.dir))?;
        if self.target.exists() {
            swap(&self.dir, &self.target).map_err(io_error(&self.target))?;
            // The previous run is now under the staging name.
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            std::fs::rename(&self.dir, &self.target).map_err(io_error(&self.target))?;
        }
        self.committed = true;
        Ok(())
    }
}

/// An OS error's text without its `(os error N)` suffix, lowercased as a clause.
fn plain(error: &std::io::Error) -> String {
    let text = error.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text);
    let mut chars = text.chars();
    chars
        .next()
        .map_or_else(String::new, |c| c.to_lowercase().chain(chars).collect())
}

impl Drop for Staging {
    /// A run that did not commit leaves nothing of its own.
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Flushes the file system holding `dir` to disk: one call for all the files a run wrote there.
///
/// # Errors
///
/// The I/O error of opening the folder or syncing.
pub fn sync_folder(dir: &Path) -> std::io::Result<()> {
    let folder = std::fs::File::open(dir)?;
    #[cfg(target_os = "linux")]
    rustix::fs::syncfs(&folder)?;
    #[cfg(not(target_os = "linux"))]
    folder.sync_all()?;
    Ok(())
}

/// Exchanges two folders atomically.
#[cfg(target_os = "linux")]
fn swap(a: &Path, b: &Path) -> std::io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE)?;
    Ok(())
}

/// Exchanges two folders by two renames (no atomic exchange on this system).
#[cfg(not(target_os = "linux"))]
fn swap(a: &Path, b: &Path) -> std::io::Result<()> {
    let (parent, prefix) = aside(b, "previous");
    let previous = parent.join(format!("{prefix}{}", std::process::id()));
    std::fs::rename(b, &previous)?;
    std::fs::rename(a, b)?;
    std::fs::rename(&previous, a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("folder")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_run_replaces_the_previous_one_whole_or_not_at_all() {
        let root = tempfile::tempdir().expect("tempdir");
        let out = root.path().join("out");
        let first = Staging::begin(&out).expect("begin");
        std::fs::write(first.dir().join("manifest.json"), "1").expect("write");
        std::fs::write(first.dir().join("old.csv"), "1").expect("write");
        first.commit().expect("commit");
        assert_eq!(files(&out), ["manifest.json", "old.csv"]);
        // A run that fails leaves the first in place and nothing of its own.
        let failed = Staging::begin(&out).expect("begin");
        std::fs::write(failed.dir().join("manifest.json"), "2").expect("write");
        drop(failed);
        assert_eq!(files(&out), ["manifest.json", "old.csv"]);
        assert_eq!(files(root.path()), ["out"]);
        // A killed run's staging folder is removed by the next run, which replaces the first.
        std::fs::create_dir(root.path().join(".out.staging-1")).expect("stale");
        let second = Staging::begin(&out).expect("begin");
        std::fs::write(second.dir().join("manifest.json"), "3").expect("write");
        second.commit().expect("commit");
        assert_eq!(files(&out), ["manifest.json"]);
        assert_eq!(files(root.path()), ["out"]);
    }

    #[test]
    fn folders_that_are_not_runs_are_refused() {
        let root = tempfile::tempdir().expect("tempdir");
        std::fs::write(root.path().join("notes.txt"), "mine").expect("write");
        let error = Staging::begin(root.path()).expect_err("refused");
        assert!(
            error.to_string().contains("not a micromarket run"),
            "{error}"
        );
        let file = root.path().join("notes.txt");
        assert!(Staging::begin(&file).is_err());
        assert!(Staging::begin(&root.path().join("empty-or-new")).is_ok());
    }
}
