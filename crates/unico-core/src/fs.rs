//! Writing files so that a crash leaves either the old file or the new one, never part of
//! one: the one helper every crate writes its outputs with.

use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` atomically: a temporary file beside it is written, flushed to
/// disk, renamed over `path`, and the directory flushed so the rename survives a crash.
/// The temporary file is removed if anything fails.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// [`write_atomic`] with the content written by `fill` (a CSV writer, a JSON serialiser).
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut std::io::BufWriter<&std::fs::File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = parent(path);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = tempfile::Builder::new().prefix(&format!(".{name}.")).suffix(".tmp").tempfile_in(dir)?;
    {
        let mut w = std::io::BufWriter::new(tmp.as_file());
        fill(&mut w)?;
        w.flush()?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(dir)
}

/// A file written beside its destination and moved into place by [`AtomicFile::commit`];
/// dropped without a commit (an error, a full disk), it is removed: no temporary file
/// outlives the writer.
pub struct AtomicFile {
    tmp: tempfile::NamedTempFile,
    path: std::path::PathBuf,
}

impl AtomicFile {
    /// Starts the file that will replace `path`.
    pub fn create(path: &Path) -> std::io::Result<AtomicFile> {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = tempfile::Builder::new().prefix(&format!(".{name}.")).suffix(".tmp").tempfile_in(parent(path))?;
        Ok(AtomicFile { tmp, path: path.to_path_buf() })
    }

    /// A handle to write the content through (a Parquet writer takes one by value).
    pub fn writer(&self) -> std::io::Result<std::fs::File> {
        self.tmp.as_file().try_clone()
    }

    /// Flushes the content to disk and moves the file into place.
    pub fn commit(self) -> std::io::Result<()> {
        self.tmp.as_file().sync_all()?;
        let path = self.path;
        self.tmp.persist(&path).map_err(|e| e.error)?;
        sync_dir(parent(&path))
    }
}

/// Moves a finished directory into place (`to` must not exist, or be an empty directory)
/// and flushes the parent, so a crash leaves the whole directory or none of it.
pub fn publish_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    if to.exists() {
        std::fs::remove_dir(to)?;
    }
    std::fs::rename(from, to)?;
    sync_dir(parent(to))
}

/// Flushes a directory's entries to disk (after a rename or a new file in it).
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

fn parent(path: &Path) -> &Path {
    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_atomic_file_dropped_before_its_commit_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("habits.parquet");
        {
            let f = AtomicFile::create(&path).unwrap();
            std::io::Write::write_all(&mut f.writer().unwrap(), b"half").unwrap();
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let f = AtomicFile::create(&path).unwrap();
        std::io::Write::write_all(&mut f.writer().unwrap(), b"whole").unwrap();
        f.commit().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"whole");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn replaces_the_file_whole_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.json");
        write_atomic(&path, b"old").unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        let failed = write_atomic_with(&path, |_| Err(std::io::Error::other("disk full")));
        assert!(failed.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"new", "a failed write keeps the old file");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("model.json")]);
    }
}
