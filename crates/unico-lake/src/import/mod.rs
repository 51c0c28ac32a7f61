//! Importing a retailer's files into the lake.
//!
//! One file is one import with its own id. The import maps the file's columns onto the
//! canonical ones, validates every row, writes each rejected row to `rejects/<import-id>.csv`
//! (line, column, value, reason, and the record itself, so nothing is lost), pseudonymises
//! card ids, skips what the lake already holds, and publishes the result atomically together
//! with its summary. Receipt lines stream in bounded memory; master data (products, stores)
//! is small and is merged in memory, newest import winning.

mod history;
mod master;
mod receipts;
mod rejects;
mod resolve;

pub use history::history_schema;
pub use resolve::resolve;

use crate::error::{Error, ErrorKind};
use crate::lake::Lake;
use crate::mapping::{Dataset, Format, Mapping};
use crate::source::{CsvSource, JsonlSource, ParquetSource, Source};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use unico_core::Pseudonymiser;

pub use rejects::RejectsWriter;

/// Why a row was rejected (stable codes, used in summaries and the quality report).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    /// A required field is empty.
    MissingValue,
    /// A timestamp that cannot be read with the declared format and zone.
    BadTimestamp,
    /// An amount that is not a number in the declared decimal format.
    BadAmount,
    /// A quantity that is not a number.
    BadQuantity,
    /// A line number that is not a whole number ≥ 0.
    BadNumber,
    /// A channel that is not store, ecommerce or app.
    BadChannel,
    /// A yes/no field that is neither.
    BadFlag,
    /// A byte that is not valid in the declared encoding.
    BadEncoding,
    /// A record with the wrong number of fields, or a line that is not a JSON object.
    MalformedRecord,
    /// The same (receipt_id, line_no) appears earlier in the same file.
    DuplicateLine,
    /// The same key (sku, store_id, card) appears earlier in the same master-data file.
    DuplicateKey,
    /// An e-mail address that is not one.
    BadEmail,
    /// A phone number that is not valid for its country.
    BadPhone,
    /// A postcode that is not five digits.
    BadPostcode,
    /// A codice fiscale with the wrong shape or check letter.
    BadTaxCode,
    /// A date that cannot be read or is not plausible.
    BadDate,
    /// A value outside its allowed set or range (a survey score, a question).
    OutOfRange,
}

impl Reason {
    /// The stable code of the reason.
    pub const fn code(self) -> &'static str {
        match self {
            Reason::MissingValue => "missing_value",
            Reason::BadTimestamp => "bad_timestamp",
            Reason::BadAmount => "bad_amount",
            Reason::BadQuantity => "bad_quantity",
            Reason::BadNumber => "bad_number",
            Reason::BadChannel => "bad_channel",
            Reason::BadFlag => "bad_flag",
            Reason::BadEncoding => "bad_encoding",
            Reason::MalformedRecord => "malformed_record",
            Reason::DuplicateLine => "duplicate_line",
            Reason::DuplicateKey => "duplicate_key",
            Reason::BadEmail => "bad_email",
            Reason::BadPhone => "bad_phone",
            Reason::BadPostcode => "bad_postcode",
            Reason::BadTaxCode => "bad_tax_code",
            Reason::BadDate => "bad_date",
            Reason::OutOfRange => "out_of_range",
        }
    }
}

/// What an import reports while it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Reading and validating the file.
    Reading,
    /// Checking each month for lines already in the lake or repeated in the file.
    Deduplicating,
    /// Making the new version visible.
    Publishing,
}

/// A progress report.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// The phase.
    pub phase: Phase,
    /// Bytes (reading) or months (deduplicating) done.
    pub done: u64,
    /// Bytes (reading) or months (deduplicating) in all.
    pub total: u64,
}

/// Everything an import needs besides the file.
pub struct ImportOptions<'a> {
    /// How to read the file.
    pub mapping: Mapping,
    /// The chain's zone: local dates and month partitions.
    pub chain_tz: jiff::tz::TimeZone,
    /// Turns card ids into customer keys.
    pub pseudonymiser: Pseudonymiser,
    /// Where `<import-id>.csv` rejects files go.
    pub rejects_dir: PathBuf,
    /// Refuse to publish when more than this share of rows is rejected (0–1).
    pub max_reject_rate: Option<f64>,
    /// Days outside this range (the chain's calendar) are kept but counted as the
    /// `implausible_date` warning: a till's clock in 2205, a date typed as year 0.
    pub plausible: std::ops::RangeInclusive<jiff::civil::Date>,
    /// Called now and then with progress.
    pub progress: &'a (dyn Fn(Progress) + Sync),
}

/// What an import did, published in the lake with the data and printed by the CLI.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ImportSummary {
    /// The import's id (also the name of its rejects file and Parquet parts).
    pub import_id: String,
    /// `receipts`, `products` or `stores`.
    pub dataset: String,
    /// The file imported.
    pub file: String,
    /// When the import started (UTC, RFC 3339).
    pub started_at: String,
    /// Records read from the file.
    pub rows_read: u64,
    /// Rows added to the lake.
    pub rows_imported: u64,
    /// Rows skipped because the lake already held them (re-import, overlapping file).
    pub rows_already_in_lake: u64,
    /// Master-data rows that replaced an older version of the same key.
    pub rows_updated: u64,
    /// Rejected rows by reason code.
    pub rejected: BTreeMap<String, u64>,
    /// Kept rows with a warning, by code (`unknown_store`, `unknown_product`).
    pub warnings: BTreeMap<String, u64>,
    /// The rejects file, when any row was rejected.
    pub rejects_file: Option<String>,
    /// Month partitions that received rows.
    pub months: Vec<String>,
}

impl ImportSummary {
    /// Rejected rows, all reasons together.
    pub fn rows_rejected(&self) -> u64 {
        self.rejected.values().sum()
    }
}

/// A new import id: `<dataset>-<UTC yyyymmddThhmmss>-<random hex>`; ids sort by time.
pub fn new_import_id(dataset: Dataset) -> String {
    let now = jiff::Timestamp::now();
    let stamp = now.strftime("%Y%m%dT%H%M%S%.6f").to_string().replace('.', "");
    format!("{}-{stamp}-{:06x}", dataset.noun(), rand::random::<u32>() & 0xff_ffff)
}

/// Opens a file with the mapping's format (or the one its extension names).
pub fn open_source(path: &Path, mapping: &Mapping) -> Result<Box<dyn Source>, Error> {
    let format = mapping.format.or_else(|| Format::from_path(path)).ok_or_else(|| {
        Error::new(
            ErrorKind::Mapping,
            format!(
                "cannot tell the format of {}: name it .csv, .parquet or .jsonl, or set [source] format",
                path.display()
            ),
        )
    })?;
    Ok(match format {
        Format::Csv => Box::new(CsvSource::open(path, mapping)?),
        Format::Jsonl => Box::new(JsonlSource::open(path, mapping)?),
        Format::Parquet => Box::new(ParquetSource::open(path)?),
    })
}

/// Imports one file of `dataset` into the lake, under the lake's write lock.
pub fn import_file(
    lake: &Lake,
    dataset: Dataset,
    path: &Path,
    options: &ImportOptions<'_>,
) -> Result<ImportSummary, Error> {
    let lock = lake.lock()?;
    let import_id = new_import_id(dataset);
    match dataset {
        Dataset::Receipts => receipts::import(lake, &lock, &import_id, receipts::Input::File(path), options),
        Dataset::Products | Dataset::Stores => master::import(lake, &lock, dataset, &import_id, path, options),
        Dataset::Campaigns
        | Dataset::Coupons
        | Dataset::CouponProducts
        | Dataset::CampaignMembers
        | Dataset::Redemptions => history::import(lake, &lock, dataset, &import_id, path, options),
        Dataset::Customers | Dataset::Surveys => Err(Error::new(
            ErrorKind::Internal,
            "customers and surveys are imported into the operational store (unico_store), not the lake",
        )),
    }
}

/// Imports receipt lines from any [`Source`] (for example the simulator streaming a chain
/// straight into the lake) with the same validation, dedupe and atomic publish as a file.
/// `label` names the source in the summary.
pub fn import_receipts_from(
    lake: &Lake,
    source: Box<dyn Source + '_>,
    label: &str,
    options: &ImportOptions<'_>,
) -> Result<ImportSummary, Error> {
    let lock = lake.lock()?;
    let import_id = new_import_id(Dataset::Receipts);
    receipts::import(lake, &lock, &import_id, receipts::Input::Source(source, label.to_string()), options)
}

/// Publishes a dataset rebuilt whole (master data, the promotion history): one
/// `<dataset>.parquet` whose batches `write` gives, and the import's summary, visible
/// together or not at all.
pub(crate) fn publish_whole(
    lake: &Lake,
    lock: &crate::lake::WriteLock,
    dataset: Dataset,
    schema: arrow_schema::SchemaRef,
    summary: &ImportSummary,
    write: impl FnOnce(&mut crate::lake::PartitionWriter) -> Result<(), Error>,
) -> Result<(), Error> {
    let draft = lake.begin(dataset, &summary.import_id, false, lock)?;
    let result = (|| {
        let path = draft.dir().join(format!("{}.parquet", dataset.dir_name()));
        let mut w = crate::lake::PartitionWriter::create(&path, schema)?;
        write(&mut w)?;
        w.finish()?;
        let json = serde_json::to_vec_pretty(summary).map_err(|e| Error::new(ErrorKind::Internal, e.to_string()))?;
        draft.write_summary(&summary.import_id, &json)
    })();
    match result {
        Ok(()) => draft.publish(lock),
        Err(e) => {
            let _ = draft.abandon();
            Err(e)
        }
    }
}

/// Refuses to publish an import that rejected every row, or more than `max` of them.
pub fn check_outcome(summary: &ImportSummary, max: Option<f64>) -> Result<(), Error> {
    let kept = summary.rows_imported + summary.rows_updated + summary.rows_already_in_lake;
    if summary.rows_read > 0 && kept == 0 {
        return Err(Error::new(
            ErrorKind::UnusableFile,
            format!(
                "every one of the {} rows was rejected; nothing was imported. See {}",
                summary.rows_read,
                summary.rejects_file.as_deref().unwrap_or("-")
            ),
        ));
    }
    let Some(max) = max else { return Ok(()) };
    if summary.rows_read == 0 {
        return Ok(());
    }
    let rate = summary.rows_rejected() as f64 / summary.rows_read as f64;
    if rate > max {
        return Err(Error::new(
            ErrorKind::TooManyRejects,
            format!(
                "{} of {} rows rejected ({:.1}%, more than the allowed {:.1}%); nothing was imported. See {}",
                summary.rows_rejected(),
                summary.rows_read,
                rate * 100.0,
                max * 100.0,
                summary.rejects_file.as_deref().unwrap_or("the rejects file")
            ),
        ));
    }
    Ok(())
}
