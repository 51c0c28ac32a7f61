//! Versions of a dataset, the write lock, and the atomic publish.

use crate::error::{Error, ErrorKind};
use crate::mapping::Dataset;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

const VERSIONS: &str = "_versions";

/// A lake root. Reading needs nothing more; writing needs a [`WriteLock`].
#[derive(Debug, Clone)]
pub struct Lake {
    root: PathBuf,
    /// A reader's view: the version of each dataset published when it was taken
    /// ([`Lake::pinned`]); `None` follows every new publication.
    pinned: Option<std::sync::Arc<Pinned>>,
}

/// The version of each dataset a pinned view reads (none: not published yet), with a
/// shared lock on each version's lease file for as long as the view lives: the writer
/// never removes a version a reader holds.
#[derive(Debug)]
struct Pinned {
    versions: Vec<(Dataset, Option<String>)>,
    _leases: Vec<File>,
}

/// The lease file of a version: readers hold a shared lock on it, removal an exclusive one.
const LEASE: &str = ".lease";

/// Proof that this process is the lake's only writer; released on drop.
#[derive(Debug)]
pub struct WriteLock {
    _file: File,
}

impl Lake {
    /// The lake at `root` (created if missing).
    pub fn open(root: impl Into<PathBuf>) -> Result<Lake, Error> {
        let root = root.into();
        fs::create_dir_all(root.join(VERSIONS))
            .map_err(|e| Error::io(format!("cannot create lake at {}", root.display()), e))?;
        Ok(Lake { root, pinned: None })
    }

    /// A reader's view of the lake: every dataset at the version published now, for the
    /// whole of a long pass (a model build that reads receipts, then products, then
    /// receipts again sees one lake even while an import publishes a new version). Writers
    /// use the lake itself. A version stays readable until two newer ones are published.
    pub fn pinned(&self) -> Lake {
        let mut versions = Vec::new();
        let mut leases = Vec::new();
        for dataset in Dataset::ALL {
            let (version, lease) = self.lease(dataset);
            versions.push((dataset, version));
            leases.extend(lease);
        }
        Lake { root: self.root.clone(), pinned: Some(std::sync::Arc::new(Pinned { versions, _leases: leases })) }
    }

    /// The published version of `dataset` with a shared lock on its lease. A version
    /// removed between reading the link and locking is read again. A lake the reader
    /// cannot write to (a read-only copy) is read without a lease.
    fn lease(&self, dataset: Dataset) -> (Option<String>, Option<File>) {
        for _ in 0..16 {
            let Some(id) = self.published_version(dataset) else {
                return (None, None);
            };
            let path = self.versions_dir(dataset).join(format!("{id}{LEASE}"));
            let Ok(file) = fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path) else {
                return (Some(id), None);
            };
            if file.lock_shared().is_err() {
                return (Some(id), None);
            }
            if self.versions_dir(dataset).join(&id).is_dir() {
                return (Some(id), Some(file));
            }
        }
        (self.published_version(dataset), None)
    }

    fn published_version(&self, dataset: Dataset) -> Option<String> {
        let target = fs::read_link(self.root.join(dataset.dir_name())).ok()?;
        target.file_name().map(|n| n.to_string_lossy().into_owned())
    }

    /// The lake's root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Takes the write lock, then removes what a crashed writer left behind: every version
    /// folder that is neither published nor the one published just before it.
    pub fn lock(&self) -> Result<WriteLock, Error> {
        let path = self.root.join(".lock");
        let file = File::create(&path).map_err(|e| Error::io(path.display(), e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(Error::new(
                    ErrorKind::Lake,
                    format!("another Unico process is writing to {}; try again when it ends", self.root.display()),
                ));
            }
            Err(fs::TryLockError::Error(e)) => return Err(Error::io(path.display(), e)),
        }
        let lock = WriteLock { _file: file };
        for dataset in Dataset::ALL {
            self.collect_garbage(dataset, &lock)?;
        }
        Ok(lock)
    }

    fn versions_dir(&self, dataset: Dataset) -> PathBuf {
        self.root.join(VERSIONS).join(dataset.dir_name())
    }

    /// The published version's id, if the dataset has one.
    pub fn current_version(&self, dataset: Dataset) -> Option<String> {
        match &self.pinned {
            Some(p) => p.versions.iter().find(|(d, _)| *d == dataset).and_then(|(_, v)| v.clone()),
            None => self.published_version(dataset),
        }
    }

    /// The published version's folder, resolved once so that a reader keeps reading one
    /// consistent version even if a writer publishes another meanwhile.
    pub fn dataset_dir(&self, dataset: Dataset) -> Option<PathBuf> {
        let id = self.current_version(dataset)?;
        Some(self.versions_dir(dataset).join(id))
    }

    /// Every Parquet file of the published version, sorted by path.
    pub fn parquet_files(&self, dataset: Dataset) -> Result<Vec<PathBuf>, Error> {
        let Some(dir) = self.dataset_dir(dataset) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        walk(&dir, &mut |p| {
            if p.extension().is_some_and(|e| e == "parquet") {
                out.push(p.to_path_buf());
            }
        })?;
        out.sort();
        Ok(out)
    }

    /// The Parquet files of one month partition of the published receipt lines.
    pub fn month_files(&self, month: super::Month) -> Result<Vec<PathBuf>, Error> {
        let Some(dir) = self.dataset_dir(Dataset::Receipts) else {
            return Ok(Vec::new());
        };
        let dir = dir.join(month.dir_name());
        let mut out = Vec::new();
        if dir.is_dir() {
            for e in fs::read_dir(&dir).map_err(|e| Error::io(dir.display(), e))? {
                let p = e.map_err(|e| Error::io(dir.display(), e))?.path();
                if p.extension().is_some_and(|e| e == "parquet") {
                    out.push(p);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// The JSON import summaries published with a dataset.
    pub fn import_summaries(&self, dataset: Dataset) -> Result<Vec<PathBuf>, Error> {
        let Some(dir) = self.dataset_dir(dataset) else {
            return Ok(Vec::new());
        };
        let dir = dir.join("_imports");
        let mut out = Vec::new();
        if dir.is_dir() {
            for e in fs::read_dir(&dir).map_err(|e| Error::io(dir.display(), e))? {
                out.push(e.map_err(|e| Error::io(dir.display(), e))?.path());
            }
        }
        out.sort();
        Ok(out)
    }

    /// Starts a new version of `dataset` named `version_id`: a folder holding hard links to
    /// every file of the published version (when `carry_over`), ready for new files.
    pub fn begin(
        &self,
        dataset: Dataset,
        version_id: &str,
        carry_over: bool,
        _lock: &WriteLock,
    ) -> Result<Draft, Error> {
        let dir = self.versions_dir(dataset).join(version_id);
        if dir.exists() {
            return Err(Error::new(ErrorKind::Internal, format!("version {} already exists", dir.display())));
        }
        fs::create_dir_all(&dir).map_err(|e| Error::io(dir.display(), e))?;
        if let Some(current) = self.dataset_dir(dataset) {
            let mut failure = None;
            walk(&current, &mut |p| {
                if failure.is_some() {
                    return;
                }
                let rel = p.strip_prefix(&current).expect("walk stays below its root");
                let is_summary = rel.starts_with("_imports");
                if !carry_over && !is_summary {
                    return;
                }
                let dest = dir.join(rel);
                let r = dest.parent().map_or(Ok(()), fs::create_dir_all).and_then(|_| fs::hard_link(p, &dest));
                if let Err(e) = r {
                    failure = Some(Error::io(format!("cannot link {} into the new version", p.display()), e));
                }
            })?;
            if let Some(e) = failure {
                return Err(e);
            }
        }
        Ok(Draft { lake: self.clone(), dataset, dir, id: version_id.to_string() })
    }

    fn collect_garbage(&self, dataset: Dataset, _lock: &WriteLock) -> Result<(), Error> {
        let dir = self.versions_dir(dataset);
        if !dir.is_dir() {
            return Ok(());
        }
        let current = self.published_version(dataset);
        let ids = self.version_ids(dataset)?;
        // Keep the published version and the newest one older than it (readers that resolved
        // the link just before the last publish may still be listing it), and any a pinned
        // reader holds.
        let previous = current.as_ref().and_then(|c| ids.iter().rfind(|i| *i < c).cloned());
        for id in ids {
            if Some(&id) == current.as_ref() || Some(&id) == previous.as_ref() {
                continue;
            }
            self.remove_version(dataset, &id, false)?;
        }
        Ok(())
    }

    /// The version folders of `dataset`, sorted (oldest first).
    fn version_ids(&self, dataset: Dataset) -> Result<Vec<String>, Error> {
        let dir = self.versions_dir(dataset);
        if !dir.is_dir() {
            return Ok(Vec::new());
        }
        let mut ids = Vec::new();
        for e in fs::read_dir(&dir).map_err(|e| Error::io(dir.display(), e))? {
            let name = e.map_err(|e| Error::io(dir.display(), e))?.file_name().to_string_lossy().into_owned();
            match name.strip_suffix(LEASE) {
                // A lease left by a version removed already.
                Some(id) if !dir.join(id).exists() => {
                    let _ = fs::remove_file(dir.join(&name));
                }
                Some(_) => {}
                None => ids.push(name),
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// Removes a version unless a reader holds it; with `wait`, waits for its readers.
    /// Returns whether it was removed.
    fn remove_version(&self, dataset: Dataset, id: &str, wait: bool) -> Result<bool, Error> {
        let dir = self.versions_dir(dataset);
        let lease_path = dir.join(format!("{id}{LEASE}"));
        let lease = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lease_path)
            .map_err(|e| Error::io(lease_path.display(), e))?;
        if wait {
            lease.lock().map_err(|e| Error::io(lease_path.display(), e))?;
        } else {
            match lease.try_lock() {
                Ok(()) => {}
                Err(fs::TryLockError::WouldBlock) => return Ok(false),
                Err(fs::TryLockError::Error(e)) => return Err(Error::io(lease_path.display(), e)),
            }
        }
        let p = dir.join(id);
        if p.exists() {
            fs::remove_dir_all(&p).map_err(|e| Error::io(format!("cannot remove stale version {}", p.display()), e))?;
        }
        let _ = fs::remove_file(&lease_path);
        Ok(true)
    }

    /// Removes every version of `dataset` but the published one, waiting for the pinned
    /// readers of each to finish: after an erasure, no older version may keep what was
    /// erased. (A reader that does not pin, such as DuckDB reading the folder, is not
    /// waited for; it sees the new version from its next query.)
    pub fn retire(&self, dataset: Dataset, _lock: &WriteLock) -> Result<(), Error> {
        let current = self.published_version(dataset);
        for id in self.version_ids(dataset)? {
            if Some(&id) != current.as_ref() {
                self.remove_version(dataset, &id, true)?;
            }
        }
        Ok(())
    }
}

/// A version being built; invisible to readers until [`Draft::publish`].
#[derive(Debug)]
pub struct Draft {
    lake: Lake,
    dataset: Dataset,
    dir: PathBuf,
    id: String,
}

impl Draft {
    /// The folder new files go into.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes the import summary that is published together with the data.
    pub fn write_summary(&self, import_id: &str, json: &[u8]) -> Result<(), Error> {
        let dir = self.dir.join("_imports");
        fs::create_dir_all(&dir).map_err(|e| Error::io(dir.display(), e))?;
        let path = dir.join(format!("{import_id}.json"));
        let mut f = File::create(&path).map_err(|e| Error::io(path.display(), e))?;
        std::io::Write::write_all(&mut f, json).map_err(|e| Error::io(path.display(), e))?;
        f.sync_all().map_err(|e| Error::io(path.display(), e))
    }

    /// Publishes the version: one atomic rename of a symlink over the dataset's name.
    pub fn publish(self, _lock: &WriteLock) -> Result<(), Error> {
        let root = self.lake.root();
        let name = self.dataset.dir_name();
        let tmp = root.join(format!(".{name}.{}.link", self.id));
        let target = Path::new(VERSIONS).join(name).join(&self.id);
        let _ = fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&target, &tmp).map_err(|e| Error::io(tmp.display(), e))?;
        fs::rename(&tmp, root.join(name)).map_err(|e| Error::io(format!("cannot publish {name}"), e))?;
        File::open(root).and_then(|d| d.sync_all()).map_err(|e| Error::io(root.display(), e))?;
        Ok(())
    }

    /// Throws the version away.
    pub fn abandon(self) -> Result<(), Error> {
        fs::remove_dir_all(&self.dir).map_err(|e| Error::io(self.dir.display(), e))
    }
}

fn walk(dir: &Path, f: &mut dyn FnMut(&Path)) -> Result<(), Error> {
    let entries = fs::read_dir(dir).map_err(|e| Error::io(dir.display(), e))?;
    for e in entries {
        let e = e.map_err(|e| Error::io(dir.display(), e))?;
        let p = e.path();
        let ft = e.file_type().map_err(|e| Error::io(p.display(), e))?;
        if ft.is_dir() {
            walk(&p, f)?;
        } else if ft.is_file() {
            f(&p);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_swaps_whole_versions_and_garbage_is_collected() {
        let tmp = tempfile::tempdir().unwrap();
        let lake = Lake::open(tmp.path().join("lake")).unwrap();
        let lock = lake.lock().unwrap();
        assert!(lake.dataset_dir(Dataset::Stores).is_none());

        let d1 = lake.begin(Dataset::Stores, "v1", true, &lock).unwrap();
        fs::write(d1.dir().join("a.parquet"), b"1").unwrap();
        d1.publish(&lock).unwrap();
        assert_eq!(lake.parquet_files(Dataset::Stores).unwrap().len(), 1);

        let d2 = lake.begin(Dataset::Stores, "v2", true, &lock).unwrap();
        fs::write(d2.dir().join("b.parquet"), b"2").unwrap();
        // Not yet published: readers still see v1 only.
        assert_eq!(lake.parquet_files(Dataset::Stores).unwrap().len(), 1);
        d2.publish(&lock).unwrap();
        assert_eq!(lake.parquet_files(Dataset::Stores).unwrap().len(), 2);

        // A crashed writer's draft (v3, never published) and an old version (v0) are removed
        // by the next lock; the current (v2) and the previous (v1) stay.
        fs::create_dir_all(lake.versions_dir(Dataset::Stores).join("v0")).unwrap();
        let d3 = lake.begin(Dataset::Stores, "v3", true, &lock).unwrap();
        drop(d3);
        drop(lock);
        let _lock = lake.lock().unwrap();
        let mut left: Vec<_> =
            fs::read_dir(lake.versions_dir(Dataset::Stores)).unwrap().map(|e| e.unwrap().file_name()).collect();
        left.sort();
        assert_eq!(left, vec!["v1", "v2"]);
    }

    fn versions(lake: &Lake) -> Vec<String> {
        lake.version_ids(Dataset::Stores).unwrap()
    }

    fn publish(lake: &Lake, lock: &WriteLock, id: &str) {
        let d = lake.begin(Dataset::Stores, id, true, lock).unwrap();
        fs::write(d.dir().join(format!("{id}.parquet")), id).unwrap();
        d.publish(lock).unwrap();
    }

    #[test]
    fn a_version_a_reader_holds_is_kept_until_it_lets_go_and_retire_keeps_only_the_published() {
        let tmp = tempfile::tempdir().unwrap();
        let lake = Lake::open(tmp.path()).unwrap();
        let lock = lake.lock().unwrap();
        publish(&lake, &lock, "v1");
        let reader = lake.pinned();
        publish(&lake, &lock, "v2");
        publish(&lake, &lock, "v3");
        drop(lock);
        // v1 is neither published nor the previous one, but a reader is on it.
        let lock = lake.lock().unwrap();
        assert_eq!(versions(&lake), ["v1", "v2", "v3"]);
        assert_eq!(reader.parquet_files(Dataset::Stores).unwrap().len(), 1, "the reader still reads v1");
        drop(reader);
        drop(lock);
        let lock = lake.lock().unwrap();
        assert_eq!(versions(&lake), ["v2", "v3"]);
        // After an erasure nothing older than the published version may stay.
        lake.retire(Dataset::Stores, &lock).unwrap();
        assert_eq!(versions(&lake), ["v3"]);
        let names: Vec<_> =
            fs::read_dir(lake.versions_dir(Dataset::Stores)).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(!names.iter().any(|n| n.to_string_lossy().starts_with("v2")), "no lease left behind: {names:?}");
    }

    #[test]
    fn retire_waits_for_the_reader_of_an_old_version() {
        let tmp = tempfile::tempdir().unwrap();
        let lake = Lake::open(tmp.path()).unwrap();
        let lock = lake.lock().unwrap();
        publish(&lake, &lock, "v1");
        let reader = lake.pinned();
        publish(&lake, &lock, "v2");
        let (tx, rx) = std::sync::mpsc::channel();
        let handle = std::thread::spawn(move || {
            // The reader lists its files, reports it has them, and lets go only when told.
            let files = reader.parquet_files(Dataset::Stores).unwrap();
            tx.send(files.len()).unwrap();
            std::thread::park();
            let still: Vec<_> = files.iter().map(|f| f.exists()).collect();
            drop(reader);
            still
        });
        assert_eq!(rx.recv().unwrap(), 1);
        let retiring = std::thread::scope(|s| {
            let r = s.spawn(|| lake.retire(Dataset::Stores, &lock));
            std::thread::sleep(std::time::Duration::from_millis(200));
            let waited = !r.is_finished();
            handle.thread().unpark();
            let still = handle.join().unwrap();
            r.join().unwrap().unwrap();
            (waited, still)
        });
        assert_eq!(retiring, (true, vec![true]), "retire waited while the reader still had its files");
        assert_eq!(versions(&lake), ["v2"]);
    }

    #[test]
    fn a_second_writer_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let lake = Lake::open(tmp.path()).unwrap();
        let _held = lake.lock().unwrap();
        let err = lake.lock().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Lake);
    }
}
