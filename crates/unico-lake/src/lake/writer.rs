//! Writing one Parquet file: snappy pages, statistics, and an fsync before it can be published.

use crate::error::Error;
use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use std::fs::File;
use std::path::{Path, PathBuf};

/// A Parquet file being written.
pub struct PartitionWriter {
    path: PathBuf,
    writer: ArrowWriter<File>,
    rows: u64,
}

impl PartitionWriter {
    /// Creates `path` (and its folder) for batches of `schema`.
    pub fn create(path: &Path, schema: SchemaRef) -> Result<Self, Error> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
        }
        let file = File::create(path).map_err(|e| Error::io(format!("cannot create {}", path.display()), e))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(256 * 1024))
            // Nearly unique columns gain nothing from a dictionary and cost its hashing.
            .set_column_dictionary_enabled("receipt_id".into(), false)
            .set_column_dictionary_enabled("ts".into(), false)
            .set_column_dictionary_enabled("source_line".into(), false)
            .build();
        let writer = ArrowWriter::try_new(file, schema, Some(props)).map_err(|e| Error::parquet(path.display(), e))?;
        Ok(PartitionWriter { path: path.to_path_buf(), writer, rows: 0 })
    }

    /// Appends a batch.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), Error> {
        self.rows += batch.num_rows() as u64;
        self.writer.write(batch).map_err(|e| Error::parquet(self.path.display(), e))
    }

    /// Rows held in memory in the row group being built.
    pub fn buffered_rows(&self) -> usize {
        self.writer.in_progress_rows()
    }

    /// Ends the row group being built, writing it to the file.
    pub fn flush_row_group(&mut self) -> Result<(), Error> {
        self.writer.flush().map_err(|e| Error::parquet(self.path.display(), e))
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Writes the footer and makes the file durable; returns its path and row count.
    pub fn finish(self) -> Result<(PathBuf, u64), Error> {
        let file = self.writer.into_inner().map_err(|e| Error::parquet(self.path.display(), e))?;
        file.sync_all().map_err(|e| Error::io(self.path.display(), e))?;
        Ok((self.path, self.rows))
    }
}
