//! Erasure in Parquet files: an erased customer's history loses its link to them.
//!
//! The lake key is a keyed hash of the card, so anyone holding the data directory's secret
//! and the card could find the person's receipts again, and a receipt with the same card
//! after the erasure would join them. [`forget_in_lake`] therefore publishes a new version
//! of the receipt lines in which those keys are null — the receipts stay in the sales (the
//! store's revenue did happen) as purchases without a card — and then removes every older
//! version, waiting for readers still on one. [`drop_rows`] takes the keys' rows out of a
//! derived file (a model's profiles or habits). Both rewrite only files holding a key, and
//! replace a file by rename, never in place (versions share files by hard links).

use crate::error::{Error, ErrorKind};
use crate::lake::{Lake, PartitionWriter, WriteLock};
use crate::mapping::Dataset;
use crate::read::for_each_batch;
use arrow_array::cast::AsArray;
use arrow_array::{ArrayRef, BooleanArray, RecordBatch, StringArray};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The column every dataset and derived file names a customer by.
pub const KEY_COLUMN: &str = "customer_key";

/// What [`forget_in_lake`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Forgotten {
    /// Receipt lines whose key was removed.
    pub lines: u64,
    /// Parquet files rewritten.
    pub files: u64,
    /// Rows of the promotion history (campaign members, redemptions) removed.
    pub history_rows: u64,
}

/// Whether `path` holds one of `keys` in its `customer_key` column.
fn holds_any(path: &Path, keys: &HashSet<String>) -> Result<bool, Error> {
    let mut found = false;
    for_each_batch(path, &[KEY_COLUMN], |b| {
        if !found {
            found = b.column(0).as_string::<i32>().iter().flatten().any(|k| keys.contains(k));
        }
        Ok(())
    })?;
    Ok(found)
}

/// Publishes a version of the receipt lines in which none of `keys` appears (their lines
/// keep everything else, with a null key), then removes every older version of the
/// receipt lines, waiting for pinned readers to finish with them. Nothing is published
/// when no line holds a key. The same for the promotion history, whose rows of `keys`
/// (campaign members, redemptions) are removed.
pub fn forget_in_lake(
    lake: &Lake,
    lock: &WriteLock,
    keys: &HashSet<String>,
    version_id: &str,
) -> Result<Forgotten, Error> {
    let mut out = Forgotten::default();
    if keys.is_empty() {
        return Ok(out);
    }
    // The promotion history names customers only in who received a campaign and what
    // they redeemed: those rows go whole (they say nothing about the chain's sales).
    for dataset in [Dataset::CampaignMembers, Dataset::Redemptions] {
        if lake.current_version(dataset).is_none() {
            continue;
        }
        let draft = lake.begin(dataset, version_id, true, lock)?;
        let mut files = Vec::new();
        walk_parquet(draft.dir(), &mut files)?;
        let mut removed = 0;
        let result = (|| {
            for path in &files {
                removed += drop_rows(path, keys)?;
            }
            Ok::<_, Error>(())
        })();
        if let Err(e) = result {
            let _ = draft.abandon();
            return Err(e);
        }
        if removed == 0 {
            draft.abandon()?;
        } else {
            draft.publish(lock)?;
            out.history_rows += removed;
        }
        lake.retire(dataset, lock)?;
    }
    if lake.current_version(Dataset::Receipts).is_none() {
        return Ok(out);
    }
    let draft = lake.begin(Dataset::Receipts, version_id, true, lock)?;
    let mut files = Vec::new();
    walk_parquet(draft.dir(), &mut files)?;
    let result = (|| {
        for path in &files {
            if holds_any(path, keys)? {
                out.lines += rewrite(path, |batch| null_keys(batch, keys))?;
                out.files += 1;
            }
        }
        Ok::<_, Error>(())
    })();
    if let Err(e) = result {
        let _ = draft.abandon();
        return Err(e);
    }
    if out.files == 0 {
        draft.abandon()?;
    } else {
        draft.publish(lock)?;
    }
    lake.retire(Dataset::Receipts, lock)?;
    Ok(out)
}

/// Takes the rows of `keys` out of the Parquet file at `path` (replaced whole by rename).
/// Returns the rows removed; a file without a `customer_key` column is left alone.
pub fn drop_rows(path: &Path, keys: &HashSet<String>) -> Result<u64, Error> {
    if keys.is_empty() || !has_key_column(path)? || !holds_any(path, keys)? {
        return Ok(0);
    }
    rewrite(path, |batch| {
        let i = batch.schema().index_of(KEY_COLUMN).expect("checked above");
        let col = batch.column(i).as_string::<i32>();
        let keep: BooleanArray = col.iter().map(|k| Some(!k.is_some_and(|k| keys.contains(k)))).collect();
        let removed = keep.false_count() as u64;
        let batch = arrow_select::filter::filter_record_batch(&batch, &keep)
            .map_err(|e| Error::new(ErrorKind::Internal, e.to_string()))?;
        Ok((batch, removed))
    })
}

fn has_key_column(path: &Path) -> Result<bool, Error> {
    let file = File::open(path).map_err(|e| Error::io(path.display(), e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| Error::parquet(path.display(), e))?;
    Ok(builder.schema().index_of(KEY_COLUMN).is_ok())
}

fn null_keys(batch: RecordBatch, keys: &HashSet<String>) -> Result<(RecordBatch, u64), Error> {
    let i = batch.schema().index_of(KEY_COLUMN).map_err(|e| Error::new(ErrorKind::Lake, e.to_string()))?;
    let mut changed = 0u64;
    let col: StringArray = batch
        .column(i)
        .as_string::<i32>()
        .iter()
        .map(|k| match k {
            Some(k) if keys.contains(k) => {
                changed += 1;
                None
            }
            other => other,
        })
        .collect();
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    columns[i] = Arc::new(col);
    let batch =
        RecordBatch::try_new(batch.schema(), columns).map_err(|e| Error::new(ErrorKind::Internal, e.to_string()))?;
    Ok((batch, changed))
}

/// Rewrites `path` batch by batch through `f` into a new file beside it, then renames it
/// over `path`. Returns the sum of the counts `f` reports.
fn rewrite(path: &Path, mut f: impl FnMut(RecordBatch) -> Result<(RecordBatch, u64), Error>) -> Result<u64, Error> {
    let file = File::open(path).map_err(|e| Error::io(path.display(), e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| Error::parquet(path.display(), e))?;
    let schema = builder.schema().clone();
    let reader = builder.with_batch_size(64 * 1024).build().map_err(|e| Error::parquet(path.display(), e))?;
    let tmp = path.with_extension("parquet.forget");
    let mut count = 0u64;
    let written = (|| {
        if schema.field_with_name("receipt_id").is_ok() {
            // Receipt lines keep the lake's page layout and statistics.
            let mut w = PartitionWriter::create(&tmp, schema.clone())?;
            for batch in reader {
                let (batch, n) = f(batch.map_err(|e| Error::parquet(path.display(), e))?)?;
                count += n;
                w.write(&batch)?;
            }
            w.finish()?;
        } else {
            let out = File::create(&tmp).map_err(|e| Error::io(tmp.display(), e))?;
            let mut w =
                ArrowWriter::try_new(out, schema.clone(), None).map_err(|e| Error::parquet(tmp.display(), e))?;
            for batch in reader {
                let (batch, n) = f(batch.map_err(|e| Error::parquet(path.display(), e))?)?;
                count += n;
                w.write(&batch).map_err(|e| Error::parquet(tmp.display(), e))?;
            }
            let out = w.into_inner().map_err(|e| Error::parquet(tmp.display(), e))?;
            out.sync_all().map_err(|e| Error::io(tmp.display(), e))?;
        }
        Ok::<_, Error>(())
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path).map_err(|e| Error::io(format!("cannot replace {}", path.display()), e))?;
    if let Some(dir) = path.parent() {
        File::open(dir).and_then(|d| d.sync_all()).map_err(|e| Error::io(dir.display(), e))?;
    }
    Ok(count)
}

fn walk_parquet(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), Error> {
    for e in std::fs::read_dir(dir).map_err(|e| Error::io(dir.display(), e))? {
        let e = e.map_err(|e| Error::io(dir.display(), e))?;
        let p = e.path();
        if e.file_type().map_err(|e| Error::io(p.display(), e))?.is_dir() {
            walk_parquet(&p, out)?;
        } else if p.extension().is_some_and(|x| x == "parquet") {
            out.push(p);
        }
    }
    out.sort();
    Ok(())
}

/// Every Parquet file below `dir` (sorted), for erasing in derived files.
pub fn parquet_files_below(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut out = Vec::new();
    if dir.is_dir() {
        walk_parquet(dir, &mut out)?;
    }
    Ok(out)
}
