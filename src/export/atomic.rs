//! Files written to a temporary name in their folder and renamed when complete, hashed on the way.

use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, Write};
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

/// Bytes gathered before they are hashed and written in one go.
const BUFFER_BYTES: usize = 1 << 20;

/// A file being written; it appears under its final name only after [`AtomicFile::commit`].
/// Dropped without commit, the temporary file is removed.
///
/// Writes gather in a buffer that is hashed and written whole when full, so the many small
/// writes of a layer (a comma, a key, a number) cost a copy each, not a hash update each.
pub struct AtomicFile {
    final_path: PathBuf,
    temp_path: PathBuf,
    file: Option<File>,
    buffer: Vec<u8>,
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
            file: Some(file),
            buffer: Vec::with_capacity(BUFFER_BYTES),
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

    /// Hashes and writes the buffered bytes.
    fn write_buffer(&mut self) -> io::Result<()> {
        self.hasher.update(&self.buffer);
        let file = self.file.as_mut().expect("not yet committed");
        file.write_all(&self.buffer)?;
        self.buffer.clear();
        Ok(())
    }

    fn finish(mut self, synced: bool) -> io::Result<Written> {
        self.write_buffer()?;
        let file = self.file.take().expect("committed once");
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
        if self.buffer.len() + buf.len() > BUFFER_BYTES {
            self.write_buffer()?;
        }
        if buf.len() >= BUFFER_BYTES {
            self.hasher.update(buf);
            self.file
                .as_mut()
                .expect("not yet committed")
                .write_all(buf)?;
        } else {
            self.buffer.extend_from_slice(buf);
        }
        self.bytes += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.write_buffer()?;
        self.file.as_mut().expect("not yet committed").flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
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
    fn writes_of_every_size_keep_their_order_and_hash() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("mixed.bin");
        let mut f = AtomicFile::create(&path).expect("create");
        let mut expected = Vec::new();
        for (i, size) in [
            3,
            BUFFER_BYTES - 1,
            5,
            BUFFER_BYTES,
            1,
            3 * BUFFER_BYTES + 7,
            2,
        ]
        .into_iter()
        .enumerate()
        {
            let piece: Vec<u8> = (0..size).map(|j| (i * 31 + j) as u8).collect();
            f.write_all(&piece).expect("write");
            expected.extend_from_slice(&piece);
        }
        let written = f.commit().expect("commit");
        assert_eq!(std::fs::read(&path).expect("read"), expected);
        assert_eq!(written.bytes, expected.len() as u64);
        assert_eq!(written.sha256, hex(&Sha256::digest(&expected)));
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
