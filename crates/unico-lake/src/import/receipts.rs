//! Importing receipt lines: stream, validate, pseudonymise, partition by month, deduplicate.
//!
//! Pass 1 streams the file once: each row is validated and appended to the Arrow batch of
//! its month; full batches go to a second thread that encodes Parquet, so parsing and
//! compression use both cores. Pass 2 takes one month at a time: it loads the keys
//! (receipt_id, line_no) already in that month of the lake, walks the new month file in file
//! order, skips lines the lake holds, rejects lines repeated within the file, and rewrites
//! the file only if it dropped something. Memory is one batch per month in pass 1 and one
//! month's keys in pass 2 — never the file. See `docs/decisions/0003-dedupe-by-month.md`.

use super::{
    ImportOptions, ImportSummary, Phase, Progress, Reason, RejectsWriter, check_reject_rate,
    open_source, resolve::resolve,
};
use crate::error::{Error, ErrorKind};
use crate::lake::{Lake, Month, PartitionWriter, WriteLock, receipt_lines_schema};
use crate::mapping::Dataset;
use crate::parse::{self, TimestampParser};
use crate::read;
use crate::source::{Row, Value};
use arrow_array::builder::{
    Date32Builder, Float64Builder, Int32Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type};
use arrow_array::{ArrayRef, BooleanArray, RecordBatch};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use unico_core::Channel;

const BATCH_ROWS: usize = 64 * 1024;

/// Canonical column positions, in `Dataset::Receipts.columns()` order.
#[derive(Clone, Copy)]
struct Cols {
    receipt_id: usize,
    line_no: Option<usize>,
    ts: usize,
    store_id: usize,
    customer_id: Option<usize>,
    sku: usize,
    quantity: Option<usize>,
    unit_price: Option<usize>,
    discount: Option<usize>,
    net_amount: usize,
    channel: Option<usize>,
}

impl Cols {
    fn from(found: &[Option<usize>]) -> Cols {
        let req = |i: usize| found[i].expect("resolve() checked required columns");
        Cols {
            receipt_id: req(0),
            line_no: found[1],
            ts: req(2),
            store_id: req(3),
            customer_id: found[4],
            sku: req(5),
            quantity: found[6],
            unit_price: found[7],
            discount: found[8],
            net_amount: req(9),
            channel: found[10],
        }
    }
}

struct MonthBatch {
    receipt_id: StringBuilder,
    line_no: Int32Builder,
    ts: TimestampMicrosecondBuilder,
    local_date: Date32Builder,
    store_id: StringBuilder,
    customer_key: StringBuilder,
    sku: StringBuilder,
    quantity: Float64Builder,
    unit_price: Int64Builder,
    discount: Int64Builder,
    net_amount: Int64Builder,
    channel: StringBuilder,
    import_id: StringBuilder,
    source_line: Int64Builder,
    rows: usize,
}

impl MonthBatch {
    fn new() -> Self {
        let s = || StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 12);
        MonthBatch {
            receipt_id: s(),
            line_no: Int32Builder::with_capacity(BATCH_ROWS),
            ts: TimestampMicrosecondBuilder::with_capacity(BATCH_ROWS).with_timezone("UTC"),
            local_date: Date32Builder::with_capacity(BATCH_ROWS),
            store_id: s(),
            customer_key: StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 32),
            sku: s(),
            quantity: Float64Builder::with_capacity(BATCH_ROWS),
            unit_price: Int64Builder::with_capacity(BATCH_ROWS),
            discount: Int64Builder::with_capacity(BATCH_ROWS),
            net_amount: Int64Builder::with_capacity(BATCH_ROWS),
            channel: s(),
            import_id: s(),
            source_line: Int64Builder::with_capacity(BATCH_ROWS),
            rows: 0,
        }
    }

    fn finish(&mut self) -> RecordBatch {
        self.rows = 0;
        let cols: Vec<ArrayRef> = vec![
            Arc::new(self.receipt_id.finish()),
            Arc::new(self.line_no.finish()),
            Arc::new(self.ts.finish()),
            Arc::new(self.local_date.finish()),
            Arc::new(self.store_id.finish()),
            Arc::new(self.customer_key.finish()),
            Arc::new(self.sku.finish()),
            Arc::new(self.quantity.finish()),
            Arc::new(self.unit_price.finish()),
            Arc::new(self.discount.finish()),
            Arc::new(self.net_amount.finish()),
            Arc::new(self.channel.finish()),
            Arc::new(self.import_id.finish()),
            Arc::new(self.source_line.finish()),
        ];
        RecordBatch::try_new(receipt_lines_schema(), cols).expect("builders match the schema")
    }
}

struct Rejection {
    column: &'static str,
    value: String,
    reason: Reason,
    message: String,
}

fn reject(column: &'static str, value: &Value<'_>, reason: Reason, message: String) -> Rejection {
    Rejection {
        column,
        value: value.display(),
        reason,
        message,
    }
}

fn field<'r>(row: &'r dyn Row, index: usize, column: &'static str) -> Result<Value<'r>, Rejection> {
    row.get(index).map_err(|e| Rejection {
        column,
        value: e.raw,
        reason: Reason::BadEncoding,
        message: e.reason,
    })
}

fn required_text<'r>(
    row: &'r dyn Row,
    index: usize,
    column: &'static str,
) -> Result<Value<'r>, Rejection> {
    let v = field(row, index, column)?;
    if v.is_blank() {
        return Err(reject(
            column,
            &v,
            Reason::MissingValue,
            format!("{column} is empty"),
        ));
    }
    Ok(v)
}

fn text_of(v: &Value<'_>) -> String {
    match v {
        Value::Text(t) => t.trim().to_string(),
        other => other.display(),
    }
}

/// The 128-bit identity of a receipt line used for deduplication.
fn line_key(receipt_id: &str, line_no: i32) -> u128 {
    let mut buf = Vec::with_capacity(receipt_id.len() + 5);
    buf.extend_from_slice(receipt_id.as_bytes());
    buf.push(0xff);
    buf.extend_from_slice(&line_no.to_le_bytes());
    xxhash_rust::xxh3::xxh3_128(&buf)
}

struct Pass1<'o> {
    cols: Cols,
    options: &'o ImportOptions<'o>,
    import_id: String,
    ts: TimestampParser,
    keys: HashMap<String, String>,
    known_stores: Option<HashSet<String>>,
    known_skus: Option<HashSet<String>>,
    warnings: BTreeMap<String, u64>,
    last_receipt: String,
    next_line_no: i32,
    months: HashMap<Month, MonthBatch>,
    rows_read: u64,
}

impl Pass1<'_> {
    fn row(&mut self, row: &dyn Row) -> Result<(Month, ()), Rejection> {
        if let Some(problem) = row.problem() {
            return Err(Rejection {
                column: "",
                value: String::new(),
                reason: Reason::MalformedRecord,
                message: problem,
            });
        }
        let c = self.cols;
        let rid_v = required_text(row, c.receipt_id, "receipt_id")?;
        let receipt_id = text_of(&rid_v);
        let line_no = match c.line_no {
            Some(i) => {
                let v = required_text(row, i, "line_no")?;
                let n =
                    parse::integer(&v).map_err(|m| reject("line_no", &v, Reason::BadNumber, m))?;
                i32::try_from(n).ok().filter(|n| *n >= 0).ok_or_else(|| {
                    reject(
                        "line_no",
                        &v,
                        Reason::BadNumber,
                        format!("line_no {n} is out of range"),
                    )
                })?
            }
            None => {
                // No line numbers in the source: number lines by position within the receipt
                // (a receipt's lines are contiguous in every POS export we know).
                if receipt_id != self.last_receipt {
                    self.last_receipt.clear();
                    self.last_receipt.push_str(&receipt_id);
                    self.next_line_no = 1;
                } else {
                    self.next_line_no += 1;
                }
                self.next_line_no
            }
        };
        let ts_v = field(row, c.ts, "ts")?;
        if ts_v.is_blank() {
            return Err(reject(
                "ts",
                &ts_v,
                Reason::MissingValue,
                "ts is empty".into(),
            ));
        }
        let (ts, local_date) = self
            .ts
            .parse(&ts_v)
            .map_err(|m| reject("ts", &ts_v, Reason::BadTimestamp, m))?;
        let store_v = required_text(row, c.store_id, "store_id")?;
        let store_id = text_of(&store_v);
        let sku_v = required_text(row, c.sku, "sku")?;
        let sku = text_of(&sku_v);
        let dec = self.options.mapping.decimal;
        let quantity = match c.quantity {
            None => 1.0,
            Some(i) => {
                let v = field(row, i, "quantity")?;
                if v.is_blank() {
                    1.0
                } else {
                    parse::quantity(&v, dec)
                        .map_err(|m| reject("quantity", &v, Reason::BadQuantity, m))?
                }
            }
        };
        let optional_money = |row: &dyn Row,
                              idx: Option<usize>,
                              column: &'static str|
         -> Result<Option<i64>, Rejection> {
            let Some(i) = idx else { return Ok(None) };
            let v = field(row, i, column)?;
            if v.is_blank() {
                return Ok(None);
            }
            parse::money(&v, dec)
                .map(Some)
                .map_err(|m| reject(column, &v, Reason::BadAmount, m))
        };
        let unit_price = optional_money(row, c.unit_price, "unit_price")?;
        let discount = optional_money(row, c.discount, "discount")?.unwrap_or(0);
        let net_v = required_text(row, c.net_amount, "net_amount")?;
        let net_amount = parse::money(&net_v, dec)
            .map_err(|m| reject("net_amount", &net_v, Reason::BadAmount, m))?;
        let channel = match c.channel {
            None => Channel::Store,
            Some(i) => {
                let v = field(row, i, "channel")?;
                if v.is_blank() {
                    Channel::Store
                } else {
                    Channel::parse(&text_of(&v))
                        .map_err(|e| reject("channel", &v, Reason::BadChannel, e.to_string()))?
                }
            }
        };
        let customer = match c.customer_id {
            None => None,
            Some(i) => {
                let v = field(row, i, "customer_id")?;
                if v.is_blank() {
                    None
                } else {
                    Some(text_of(&v))
                }
            }
        };

        // Valid: warnings, then append.
        if let Some(known) = &self.known_stores {
            if !known.contains(&store_id) {
                *self.warnings.entry("unknown_store".into()).or_default() += 1;
            }
        }
        if let Some(known) = &self.known_skus {
            if !known.contains(&sku) {
                *self.warnings.entry("unknown_product".into()).or_default() += 1;
            }
        }
        let month = Month::of(local_date);
        let b = self.months.entry(month).or_insert_with(MonthBatch::new);
        b.receipt_id.append_value(&receipt_id);
        b.line_no.append_value(line_no);
        b.ts.append_value(ts.as_microsecond());
        b.local_date
            .append_value((local_date - jiff::civil::date(1970, 1, 1)).get_days());
        b.store_id.append_value(&store_id);
        match customer {
            None => b.customer_key.append_null(),
            Some(card) => {
                let pseudo = &self.options.pseudonymiser;
                let key = self
                    .keys
                    .entry(card)
                    .or_insert_with_key(|card| pseudo.key(card).to_hex());
                b.customer_key.append_value(key);
            }
        }
        b.sku.append_value(&sku);
        b.quantity.append_value(quantity);
        b.unit_price.append_option(unit_price);
        b.discount.append_value(discount);
        b.net_amount.append_value(net_amount);
        b.channel.append_value(channel.as_str());
        b.import_id.append_value(&self.import_id);
        b.source_line.append_value(row.line() as i64);
        b.rows += 1;
        Ok((month, ()))
    }
}

pub(super) fn import(
    lake: &Lake,
    lock: &WriteLock,
    import_id: &str,
    path: &Path,
    options: &ImportOptions<'_>,
) -> Result<ImportSummary, Error> {
    let started_at = jiff::Timestamp::now().to_string();
    let mut source = open_source(path, &options.mapping)?;
    let found = resolve(Dataset::Receipts, &options.mapping, source.columns())?;
    let cols = Cols::from(&found);
    let total_bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);

    let source_tz = match &options.mapping.timezone {
        Some(name) => jiff::tz::TimeZone::get(name)
            .map_err(|e| Error::new(ErrorKind::Mapping, e.to_string()))?,
        None => options.chain_tz.clone(),
    };
    let known_stores = read::string_column_set(lake, Dataset::Stores, "store_id")?;
    let known_skus = read::string_column_set(lake, Dataset::Products, "sku")?;

    let draft = lake.begin(Dataset::Receipts, import_id, true, lock)?;
    let rejects_path = options.rejects_dir.join(format!("{import_id}.csv"));
    let mut rejects = RejectsWriter::new(rejects_path);
    let part_name = format!("part-{import_id}.parquet");

    let mut pass1 = Pass1 {
        cols,
        options,
        import_id: import_id.to_string(),
        ts: TimestampParser::new(
            options.mapping.timestamp_format.clone(),
            source_tz,
            options.chain_tz.clone(),
        ),
        keys: HashMap::new(),
        known_stores: (!known_stores.is_empty()).then_some(known_stores),
        known_skus: (!known_skus.is_empty()).then_some(known_skus),
        warnings: BTreeMap::new(),
        last_receipt: String::new(),
        next_line_no: 0,
        months: HashMap::new(),
        rows_read: 0,
    };

    // Pass 1: this thread parses and validates; the writer thread encodes Parquet.
    let draft_dir = draft.dir().to_path_buf();
    let (tx, rx) = mpsc::sync_channel::<(Month, RecordBatch)>(4);
    let written: Result<HashMap<Month, (PathBuf, u64)>, Error> = std::thread::scope(|scope| {
        let writer = scope.spawn(move || -> Result<HashMap<Month, (PathBuf, u64)>, Error> {
            let mut files: HashMap<Month, PartitionWriter> = HashMap::new();
            for (month, batch) in rx {
                let w = match files.entry(month) {
                    std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::hash_map::Entry::Vacant(e) => {
                        let p = draft_dir.join(month.dir_name()).join(&part_name);
                        e.insert(PartitionWriter::create(&p, receipt_lines_schema())?)
                    }
                };
                w.write(&batch)?;
            }
            files
                .into_iter()
                .map(|(m, w)| w.finish().map(|r| (m, r)))
                .collect()
        });
        let read_result = source.for_each(&mut |row| {
            pass1.rows_read += 1;
            match pass1.row(row) {
                Ok((month, ())) => {
                    let b = pass1.months.get_mut(&month).expect("row() inserted it");
                    if b.rows >= BATCH_ROWS {
                        let batch = b.finish();
                        if tx.send((month, batch)).is_err() {
                            return Err(Error::new(ErrorKind::Io, "the Parquet writer stopped"));
                        }
                    }
                }
                Err(r) => rejects.reject(
                    row.line(),
                    r.column,
                    &r.value,
                    r.reason,
                    &r.message,
                    &row.raw(),
                )?,
            }
            if pass1.rows_read % 65_536 == 0 {
                (options.progress)(Progress {
                    phase: Phase::Reading,
                    done: row.offset(),
                    total: total_bytes,
                });
            }
            Ok(())
        });
        let mut flush = || -> Result<(), Error> {
            for (month, b) in pass1.months.iter_mut() {
                if b.rows > 0 && tx.send((*month, b.finish())).is_err() {
                    return Err(Error::new(ErrorKind::Io, "the Parquet writer stopped"));
                }
            }
            Ok(())
        };
        let flushed = read_result.and_then(|_| flush());
        drop(tx);
        let written = writer
            .join()
            .map_err(|_| Error::new(ErrorKind::Internal, "the Parquet writer panicked"))?;
        flushed.and(written)
    });
    let written = match written {
        Ok(w) => w,
        Err(e) => {
            let _ = draft.abandon();
            return Err(e);
        }
    };
    (options.progress)(Progress {
        phase: Phase::Reading,
        done: total_bytes,
        total: total_bytes,
    });

    // Pass 2: one month at a time.
    let mut months: Vec<Month> = written.keys().copied().collect();
    months.sort();
    let mut rows_imported = 0u64;
    let mut rows_already = 0u64;
    for (i, month) in months.iter().enumerate() {
        (options.progress)(Progress {
            phase: Phase::Deduplicating,
            done: i as u64,
            total: months.len() as u64,
        });
        let (file, _rows) = &written[month];
        let outcome = match dedupe_month(lake, *month, file, &mut rejects) {
            Ok(o) => o,
            Err(e) => {
                let _ = draft.abandon();
                return Err(e);
            }
        };
        rows_imported += outcome.kept;
        rows_already += outcome.already;
    }
    let (rejects_file, rejected) = rejects.finish()?;
    let summary = ImportSummary {
        import_id: import_id.to_string(),
        dataset: Dataset::Receipts.noun().to_string(),
        file: path.display().to_string(),
        started_at,
        rows_read: pass1.rows_read,
        rows_imported,
        rows_already_in_lake: rows_already,
        rows_updated: 0,
        rejected,
        warnings: pass1.warnings,
        rejects_file: rejects_file.map(|p| p.display().to_string()),
        months: months.iter().map(|m| m.to_string()).collect(),
    };
    if let Err(e) = check_reject_rate(&summary, options.max_reject_rate) {
        let _ = draft.abandon();
        return Err(e);
    }
    if pass1.rows_read > 0 && rows_imported == 0 && rows_already == 0 {
        let _ = draft.abandon();
        return Err(Error::new(
            ErrorKind::UnusableFile,
            format!(
                "every one of the {} rows was rejected; nothing was imported. See {}",
                pass1.rows_read,
                summary.rejects_file.as_deref().unwrap_or("-")
            ),
        ));
    }
    (options.progress)(Progress {
        phase: Phase::Publishing,
        done: 0,
        total: 1,
    });
    let json = serde_json::to_vec_pretty(&summary)
        .map_err(|e| Error::new(ErrorKind::Internal, e.to_string()))?;
    draft.write_summary(import_id, &json)?;
    draft.publish(lock)?;
    Ok(summary)
}

struct MonthOutcome {
    kept: u64,
    already: u64,
}

/// Deduplicates one month's new file against the lake and against itself.
fn dedupe_month(
    lake: &Lake,
    month: Month,
    file: &Path,
    rejects: &mut RejectsWriter,
) -> Result<MonthOutcome, Error> {
    // 0 marks a key already in the lake; otherwise the source line that brought it.
    let mut seen: HashMap<u128, u64> = HashMap::new();
    for existing in lake.month_files(month)? {
        read::for_each_batch(&existing, &["receipt_id", "line_no"], |batch| {
            let ids = batch.column(0).as_string::<i32>();
            let nos = batch.column(1).as_primitive::<Int32Type>();
            for i in 0..batch.num_rows() {
                seen.insert(line_key(ids.value(i), nos.value(i)), 0);
            }
            Ok(())
        })?;
    }
    let mut keep: Vec<bool> = Vec::new();
    let mut already = 0u64;
    read::for_each_batch(
        file,
        &[
            "receipt_id",
            "line_no",
            "source_line",
            "sku",
            "net_amount_cents",
        ],
        |batch| {
            let ids = batch.column(0).as_string::<i32>();
            let nos = batch.column(1).as_primitive::<Int32Type>();
            let lines = batch.column(2).as_primitive::<Int64Type>();
            let skus = batch.column(3).as_string::<i32>();
            let nets = batch.column(4).as_primitive::<Int64Type>();
            for i in 0..batch.num_rows() {
                let key = line_key(ids.value(i), nos.value(i));
                let line = lines.value(i) as u64;
                match seen.get(&key) {
                    Some(0) => {
                        already += 1;
                        keep.push(false);
                    }
                    Some(&first) => {
                        let value = format!("{}/{}", ids.value(i), nos.value(i));
                        let record = format!(
                            "receipt_id={} line_no={} sku={} net_amount_cents={}",
                            ids.value(i),
                            nos.value(i),
                            skus.value(i),
                            nets.value(i)
                        );
                        rejects.reject(
                            line,
                            "receipt_id+line_no",
                            &value,
                            Reason::DuplicateLine,
                            &format!("same receipt_id and line_no as line {first}"),
                            &record,
                        )?;
                        keep.push(false);
                    }
                    None => {
                        seen.insert(key, line);
                        keep.push(true);
                    }
                }
            }
            Ok(())
        },
    )?;
    let kept = keep.iter().filter(|k| **k).count() as u64;
    if kept == keep.len() as u64 {
        return Ok(MonthOutcome { kept, already });
    }
    // Something was dropped: rewrite the month's file without it (or remove it if empty).
    let tmp = file.with_extension("parquet.tmp");
    if kept > 0 {
        let mut w = PartitionWriter::create(&tmp, receipt_lines_schema())?;
        let mut offset = 0usize;
        read::for_each_batch(file, &[], |batch| {
            let mask = BooleanArray::from(keep[offset..offset + batch.num_rows()].to_vec());
            offset += batch.num_rows();
            let filtered = arrow_select::filter::filter_record_batch(&batch, &mask)
                .map_err(|e| Error::parquet("filtering duplicates", e))?;
            w.write(&filtered)
        })?;
        w.finish()?;
        std::fs::rename(&tmp, file).map_err(|e| Error::io(file.display(), e))?;
    } else {
        std::fs::remove_file(file).map_err(|e| Error::io(file.display(), e))?;
        if let Some(dir) = file.parent() {
            let _ = std::fs::remove_dir(dir);
        }
    }
    Ok(MonthOutcome { kept, already })
}
