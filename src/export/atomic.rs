//! Files written to a temporary name in their folder and renamed when complete, hashed on the way.

use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// An output could not be written.
#[derive(Debug, Error)]
#[error("cannot write {path}: {source}")]
pub struct ExportError {
    /// The file or folder.
    pub path: String,
    /// Cause.
    pub source: io::Error,
}

pub(crate) fn io_error(path: &Path) -> impl FnOnce(io::Error) -> ExportError + '_ {
    move |source| ExportError {
        path: path.display().to_string(),
        source,
    }
}

/// A file being written; it appears under its final name only after [`AtomicFile::commit`].
/// Dropped without commit, the temporary file is removed.
pub struct AtomicFile {
    final_path: PathBuf,
    temp_path: PathBuf,
    writer: Option<BufWriter<File>>,
    hasher: Sha256,
    bytes: u64,
}

/// What a committed file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256, lowercase hex.
    pub sha256: String,
}

impl AtomicFile {
    /// Starts writing `path` (its folder must exist).
    ///
    /// # Errors
    ///
    /// The I/O error of creating the temporary file.
    pub fn create(path: &Path) -> io::Result<Self> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temp_path = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
        let file = File::create(&temp_path)?;
        Ok(AtomicFile {
            final_path: path.to_path_buf(),
            temp_path,
            writer: Some(BufWriter::with_capacity(1 << 20, file)),
            hasher: Sha256::new(),
            bytes: 0,
        })
    }

    /// Flushes the file and renames it to its final name. It reaches the disk with its folder's
    /// one sync ([`super::Staging::commit`], [`super::sync_folder`]), not a sync per file.
    ///
    /// # Errors
    ///
    /// The I/O error of flushing or renaming.
    pub fn commit(self) -> io::Result<Written> {
        self.finish(false)
    }

    /// Flushes, syncs and renames the file to its final name (for a manifest rewritten in place).
    ///
    /// # Errors
    ///
    /// The I/O error of flushing, syncing or renaming.
    pub fn commit_synced(self) -> io::Result<Written> {
        self.finish(true)
    }

    fn finish(mut self, synced: bool) -> io::Result<Written> {
        let writer = self.writer.take().expect("committed once");
        let file = writer
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        if synced {
            file.sync_all()?;
        }
        drop(file);
        std::fs::rename(&self.temp_path, &self.final_path)?;
        let digest = std::mem::take(&mut self.hasher).finalize();
        Ok(Written {
            bytes: self.bytes,
            sha256: hex(&digest),
        })
    }
}

/// Removes the temporary files (`.NAME.tmp-PID`) that a killed run left in `folder` and the
/// folders below it (this process's own are kept; two runs writing one folder at once are not
/// supported).
pub fn remove_stale_temporaries(folder: &Path) {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_stale_temporaries(&entry.path());
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix('.')
            .and_then(|rest| rest.rsplit_once(".tmp-"))
            .and_then(|(_, pid)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self
            .writer
            .as_mut()
            .expect("not yet committed")
            .write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer.as_mut().expect("not yet committed").flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.writer.take().is_some() {
            let _ = std::fs::remove_file(&self.temp_path);
        }
    }
}

/// Size and SHA-256 (lowercase hex) of a file, read in blocks of 1 MiB.
///
/// # Errors
///
/// The I/O error of opening or reading it.
pub fn sha256_file(path: &Path) -> io::Result<(u64, String)> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut block = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = io::Read::read(&mut file, &mut block)?;
        if n == 0 {
            return Ok((bytes, hex(&hasher.finalize())));
        }
        hasher.update(&block[..n]);
        bytes += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_committed_files_appear() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.txt");
        let mut f = AtomicFile::create(&path).expect("create");
        f.write_all(b"abc").expect("write");
        assert!(!path.exists());
        let written = f.commit().expect("commit");
        assert_eq!(std::fs::read(&path).expect("read"), b"abc");
        assert_eq!(
            written.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let mut g = AtomicFile::create(&dir.path().join("b.txt")).expect("create");
        g.write_all(b"partial").expect("write");
        drop(g);
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
    }

    #[test]
    fn stale_temporaries_of_killed_runs_are_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mine = format!(".manifest.json.tmp-{}", std::process::id());
        for name in [
            ".manifest.json.tmp-1",
            "manifest.json",
            ".hidden",
            mine.as_str(),
        ] {
            std::fs::write(dir.path().join(name), b"x").expect("write");
        }
        let assets = dir.path().join("assets");
        std::fs::create_dir(&assets).expect("folder");
        std::fs::write(assets.join(".leaflet.js.tmp-1"), b"x").expect("write");
        remove_stale_temporaries(dir.path());
        assert_eq!(std::fs::read_dir(&assets).expect("read").count(), 0);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .expect("read")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, [".hidden", mine.as_str(), "assets", "manifest.json"]);
    }
}
