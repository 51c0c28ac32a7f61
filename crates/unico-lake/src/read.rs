//! Reading the lake back: projected batch scans of one file and small lookups.

use crate::error::{Error, ErrorKind};
use crate::lake::Lake;
use crate::mapping::Dataset;
use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};

/// Calls `f` with every batch of `path`, reading only `columns` (all when empty), which the
/// batches hold in the order asked.
pub fn for_each_batch(
    path: &Path,
    columns: &[&str],
    mut f: impl FnMut(RecordBatch) -> Result<(), Error>,
) -> Result<(), Error> {
    let file = File::open(path).map_err(|e| Error::io(path.display(), e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| Error::parquet(path.display(), e))?;
    // A projection yields columns in file order; `order` puts them back in the asked order.
    let mut order: Vec<usize> = Vec::new();
    let builder = if columns.is_empty() {
        builder
    } else {
        let schema = builder.parquet_schema();
        let mut indices = Vec::with_capacity(columns.len());
        for name in columns {
            let i = (0..schema.num_columns())
                .find(|&i| schema.column(i).name() == *name)
                .ok_or_else(|| Error::new(ErrorKind::Lake, format!("{} has no column {name}", path.display())))?;
            indices.push(i);
        }
        let mut sorted = indices.clone();
        sorted.sort_unstable();
        order = indices.iter().map(|i| sorted.iter().position(|s| s == i).expect("present")).collect();
        let mask = ProjectionMask::leaves(schema, indices);
        builder.with_projection(mask)
    };
    let reader = builder.with_batch_size(64 * 1024).build().map_err(|e| Error::parquet(path.display(), e))?;
    for batch in reader {
        let batch = batch.map_err(|e| Error::parquet(path.display(), e))?;
        let batch = if order.is_empty() {
            batch
        } else {
            batch.project(&order).map_err(|e| Error::parquet(path.display(), e))?
        };
        f(batch)?;
    }
    Ok(())
}

/// Rows of a Parquet file, from its footer (0 when it cannot be read).
pub fn rows_of(path: &Path) -> u64 {
    use parquet::file::reader::FileReader;
    File::open(path)
        .ok()
        .and_then(|f| parquet::file::reader::SerializedFileReader::new(f).ok())
        .map(|r| r.metadata().file_metadata().num_rows().max(0) as u64)
        .unwrap_or(0)
}

/// The last day (days since 1970-01-01, the chain's calendar) with receipt lines, on or
/// before `up_to`: month partitions are read newest first, so a stray line dated centuries
/// ahead costs one partition, not a scan of the lake.
pub fn last_receipt_day(lake: &Lake, up_to: i32) -> Result<Option<i32>, Error> {
    let files = lake.parquet_files(Dataset::Receipts)?;
    let mut by_month: Vec<(PathBuf, Vec<PathBuf>)> = Vec::new();
    for f in files {
        let dir = f.parent().map(Path::to_path_buf).unwrap_or_default();
        match by_month.last_mut() {
            Some((d, list)) if *d == dir => list.push(f),
            _ => by_month.push((dir, vec![f])),
        }
    }
    for (_, month) in by_month.iter().rev() {
        let mut last: Option<i32> = None;
        for f in month {
            for_each_batch(f, &["local_date"], |b| {
                let d = b.column(0).as_primitive::<arrow_array::types::Date32Type>();
                for v in d.iter().flatten().filter(|v| *v <= up_to) {
                    last = Some(last.map_or(v, |l| l.max(v)));
                }
                Ok(())
            })?;
        }
        if last.is_some() {
            return Ok(last);
        }
    }
    Ok(None)
}

/// The distinct values of a text column across a dataset (master-data keys).
pub fn string_column_set(lake: &Lake, dataset: Dataset, column: &str) -> Result<HashSet<String>, Error> {
    let mut out = HashSet::new();
    for file in lake.parquet_files(dataset)? {
        for_each_batch(&file, &[column], |batch| {
            let col = batch.column(0).as_string::<i32>();
            for v in col.iter().flatten() {
                out.insert(v.to_string());
            }
            Ok(())
        })?;
    }
    Ok(out)
}
