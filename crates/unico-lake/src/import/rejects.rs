//! The rejects file: every rejected row, with where it was, what was wrong, and the record.

use super::Reason;
use crate::error::Error;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

/// Writes `rejects/<import-id>.csv` lazily: a clean import leaves no file behind.
pub struct RejectsWriter {
    path: PathBuf,
    writer: Option<csv::Writer<BufWriter<File>>>,
    counts: BTreeMap<String, u64>,
}

impl RejectsWriter {
    /// A writer for `path` (created on the first reject).
    pub fn new(path: PathBuf) -> Self {
        RejectsWriter { path, writer: None, counts: BTreeMap::new() }
    }

    /// Records one rejected row.
    pub fn reject(
        &mut self,
        line: u64,
        column: &str,
        value: &str,
        reason: Reason,
        message: &str,
        record: &str,
    ) -> Result<(), Error> {
        if self.writer.is_none() {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| Error::io(dir.display(), e))?;
            }
            let f = File::create(&self.path).map_err(|e| Error::io(self.path.display(), e))?;
            let mut w = csv::Writer::from_writer(BufWriter::new(f));
            w.write_record(["line", "column", "value", "code", "reason", "record"])
                .map_err(|e| Error::io(self.path.display(), e.into()))?;
            self.writer = Some(w);
        }
        let w = self.writer.as_mut().expect("created above");
        w.write_record([line.to_string().as_str(), column, value, reason.code(), message, record])
            .map_err(|e| Error::io(self.path.display(), e.into()))?;
        *self.counts.entry(reason.code().to_string()).or_default() += 1;
        Ok(())
    }

    /// Rejected rows by reason code so far.
    pub fn counts(&self) -> &BTreeMap<String, u64> {
        &self.counts
    }

    /// Flushes the file; returns its path if any row was rejected.
    pub fn finish(self) -> Result<(Option<PathBuf>, BTreeMap<String, u64>), Error> {
        match self.writer {
            None => Ok((None, self.counts)),
            Some(mut w) => {
                w.flush().map_err(|e| Error::io(self.path.display(), e))?;
                Ok((Some(self.path), self.counts))
            }
        }
    }
}
