//! Importing receipt lines: stream, validate, pseudonymise, partition by month, deduplicate.
//!
//! Pass 1 streams the file once. For CSV, a reader thread cuts the file into chunks (never
//! splitting a receipt) and two workers validate rows, append them to per-month Arrow
//! batches and encode their own Parquet part per month, so both cores work; rejected rows
//! go back to this thread, which writes them to the rejects file in line order. Other
//! formats run the same worker on this thread.
//!
//! Pass 2 takes the touched months two at a time. For each it loads the keys
//! (receipt_id, line_no) already in that month of the published lake, skips new lines the
//! lake holds, rejects lines repeated within the file (the first occurrence wins), and
//! rewrites a part only if it dropped something. The new keys are read back from the parts,
//! so the only temporary disk is the parts themselves. Memory is a few batches per month in
//! pass 1 and one month's keys per thread in pass 2 — never the file.
//! See `docs/decisions/0003-import-pipeline.md`.

use super::{
    ImportOptions, ImportSummary, Phase, Progress, Reason, RejectsWriter, check_outcome, open_source, resolve::resolve,
};
use crate::error::{Error, ErrorKind};
use crate::lake::{Lake, Month, PartitionWriter, WriteLock, receipt_lines_schema};
use crate::mapping::{Dataset, Format};
use crate::parse::{self, TimestampParser};
use crate::read;
use crate::source::{CsvSource, Row, Source, Value};
use arrow_array::builder::{
    Date32Builder, Float64Builder, Int32Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type};
use arrow_array::{ArrayRef, BooleanArray, RecordBatch};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use unico_core::Channel;

const CHUNK_ROWS: usize = 16 * 1024;
/// Rows of one month's Arrow batch before it is encoded.
const BATCH_ROWS: usize = 64 * 1024;
/// Rows a worker may hold in Arrow batches, all months together.
const BATCH_BUDGET_ROWS: usize = 256 * 1024;
/// Rows a worker may hold in unfinished Parquet row groups, all months together.
const ROW_GROUP_BUDGET_ROWS: usize = 1024 * 1024;
/// Parquet files a worker keeps open at once: each holds encoders and page buffers, so a file
/// spanning ten years must not open 120 of them. The least recently used is closed; if its
/// month comes back, it gets a new part.
const MAX_OPEN_PARTS: usize = 16;
const WORKERS: usize = 2;

type FastSet = HashSet<String, foldhash::fast::RandomState>;
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

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
    source_line: Int64Builder,
    rows: usize,
}

impl MonthBatch {
    fn new() -> Self {
        // Builders start small and grow: a file spanning many months holds many of them.
        const N: usize = 1024;
        let s = || StringBuilder::with_capacity(N, N * 12);
        MonthBatch {
            receipt_id: s(),
            line_no: Int32Builder::with_capacity(N),
            ts: TimestampMicrosecondBuilder::with_capacity(N).with_timezone("UTC"),
            local_date: Date32Builder::with_capacity(N),
            store_id: s(),
            customer_key: StringBuilder::with_capacity(N, N * 32),
            sku: s(),
            quantity: Float64Builder::with_capacity(N),
            unit_price: Int64Builder::with_capacity(N),
            discount: Int64Builder::with_capacity(N),
            net_amount: Int64Builder::with_capacity(N),
            channel: s(),
            source_line: Int64Builder::with_capacity(N),
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
            Arc::new(self.source_line.finish()),
        ];
        RecordBatch::try_new(receipt_lines_schema(), cols).expect("builders match the schema")
    }
}

/// A rejected row on its way to the rejects file.
struct RejectRow {
    line: u64,
    column: &'static str,
    value: String,
    reason: Reason,
    message: String,
    record: String,
}

impl RejectRow {
    fn write(&self, w: &mut RejectsWriter) -> Result<(), Error> {
        w.reject(self.line, self.column, &self.value, self.reason, &self.message, &self.record)
    }
}

struct Rejection {
    column: &'static str,
    value: String,
    reason: Reason,
    message: String,
}

fn reject(column: &'static str, value: &Value<'_>, reason: Reason, message: String) -> Rejection {
    Rejection { column, value: value.display(), reason, message }
}

fn field<'r>(row: &'r dyn Row, index: usize, column: &'static str) -> Result<Value<'r>, Rejection> {
    row.get(index).map_err(|e| Rejection { column, value: e.raw, reason: Reason::BadEncoding, message: e.reason })
}

/// The trimmed text of a value, borrowed when the source's was.
fn text_of<'v>(v: &'v Value<'_>) -> Cow<'v, str> {
    match v {
        Value::Text(t) => Cow::Borrowed(t.trim_ascii()),
        other => Cow::Owned(other.display()),
    }
}

fn required<'r>(row: &'r dyn Row, index: usize, column: &'static str) -> Result<Value<'r>, Rejection> {
    let v = field(row, index, column)?;
    if v.is_blank() {
        return Err(reject(column, &v, Reason::MissingValue, format!("{column} is empty")));
    }
    Ok(v)
}

/// The 128-bit identity of a receipt line used for deduplication.
fn line_key(receipt_id: &str, line_no: i32) -> u128 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(receipt_id.as_bytes());
    h.update(&[0xff]);
    h.update(&line_no.to_le_bytes());
    h.digest128()
}

/// Keys are already uniform hashes: use their low bits as the table hash.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 ^= u64::from_le_bytes(b);
        }
    }
    fn write_u64(&mut self, i: u64) {
        // The first half of the key is already a uniform hash; ignore the second.
        if self.0 == 0 {
            self.0 = i | 1;
        }
    }
}

/// Key (as two u64, so an entry takes 24 bytes rather than 32) → 0 for a key already in the
/// lake, or the first source line that brought it.
type KeyMap = HashMap<(u64, u64), u64, BuildHasherDefault<KeyHasher>>;

fn split_key(key: u128) -> (u64, u64) {
    (key as u64, (key >> 64) as u64)
}

/// What every worker shares.
struct Shared<'o> {
    cols: Cols,
    options: &'o ImportOptions<'o>,
    import_id: String,
    source_tz: jiff::tz::TimeZone,
    known_stores: Option<FastSet>,
    known_skus: Option<FastSet>,
    draft_dir: PathBuf,
}

struct MonthState {
    batch: MonthBatch,
    writer: Option<PartitionWriter>,
    /// Parts of this month this worker has closed so far (names the next one).
    parts: usize,
    /// When the open part was last written to (for closing the least recently used).
    last_used: u64,
}

/// Validates rows and writes its own Parquet part per month.
struct Worker<'s> {
    shared: &'s Shared<'s>,
    index: usize,
    ts: TimestampParser,
    keys: FastMap<String, String>,
    months: FastMap<Month, MonthState>,
    warnings: BTreeMap<String, u64>,
    rows_read: u64,
    /// Rows in Arrow batches not yet encoded, all months together.
    batched_rows: usize,
    /// Closed parts: (month, Parquet part).
    closed: Vec<(Month, PathBuf)>,
    clock: u64,
    last_receipt: String,
    next_line_no: i32,
    rejects: Vec<RejectRow>,
}

/// A worker's files and counts.
struct WorkerOut {
    /// (month, Parquet part).
    files: Vec<(Month, PathBuf)>,
    warnings: BTreeMap<String, u64>,
    rows_read: u64,
}

impl<'s> Worker<'s> {
    fn new(shared: &'s Shared<'s>, index: usize) -> Self {
        let o = shared.options;
        Worker {
            shared,
            index,
            ts: TimestampParser::new(o.mapping.timestamp_format.clone(), shared.source_tz.clone(), o.chain_tz.clone()),
            keys: FastMap::default(),
            months: FastMap::default(),
            warnings: BTreeMap::new(),
            rows_read: 0,
            batched_rows: 0,
            closed: Vec::new(),
            clock: 0,
            last_receipt: String::new(),
            next_line_no: 0,
            rejects: Vec::new(),
        }
    }

    /// Chunks are independent: line numbering by position restarts with each.
    fn start_chunk(&mut self) {
        self.last_receipt.clear();
    }

    fn process(&mut self, row: &dyn Row) -> Result<(), Error> {
        self.rows_read += 1;
        match self.validate(row) {
            Ok(Some(month)) => {
                self.batched_rows += 1;
                if self.months[&month].batch.rows >= BATCH_ROWS {
                    self.flush(month)?;
                }
                if self.batched_rows >= BATCH_BUDGET_ROWS {
                    self.enforce_budgets()?;
                }
            }
            Ok(None) => unreachable!("validate returns the month of a kept row"),
            Err(r) => self.rejects.push(RejectRow {
                line: row.line(),
                column: r.column,
                value: r.value,
                reason: r.reason,
                message: r.message,
                record: row.raw(),
            }),
        }
        Ok(())
    }

    /// Keeps memory bounded however many months a file spans: encodes the largest batches
    /// until the batch budget holds, then ends the largest row groups until that budget holds.
    fn enforce_budgets(&mut self) -> Result<(), Error> {
        while self.batched_rows > BATCH_BUDGET_ROWS / 2 {
            let Some((&m, _)) = self.months.iter().max_by_key(|(_, s)| s.batch.rows) else { break };
            self.flush(m)?;
        }
        loop {
            let buffered: usize =
                self.months.values().filter_map(|s| s.writer.as_ref()).map(|w| w.buffered_rows()).sum();
            if buffered <= ROW_GROUP_BUDGET_ROWS {
                return Ok(());
            }
            let largest = self.months.values_mut().filter_map(|s| s.writer.as_mut()).max_by_key(|w| w.buffered_rows());
            match largest {
                Some(w) => w.flush_row_group()?,
                None => return Ok(()),
            }
        }
    }

    fn part_path(&self, month: Month, part: usize) -> PathBuf {
        let name = format!("part-{}-{}-{part}.parquet", self.shared.import_id, self.index);
        self.shared.draft_dir.join(month.dir_name()).join(name)
    }

    /// Finishes the open part of `month`, if any.
    fn close_part(&mut self, month: Month) -> Result<(), Error> {
        let state = self.months.get_mut(&month).expect("present");
        let Some(w) = state.writer.take() else { return Ok(()) };
        state.parts += 1;
        let (path, _) = w.finish()?;
        self.closed.push((month, path));
        Ok(())
    }

    fn flush(&mut self, month: Month) -> Result<(), Error> {
        if self.months[&month].batch.rows == 0 {
            return Ok(());
        }
        if self.months[&month].writer.is_none() {
            let open = self.months.values().filter(|s| s.writer.is_some()).count();
            if open >= MAX_OPEN_PARTS {
                let lru = self.months.iter().filter(|(_, s)| s.writer.is_some()).min_by_key(|(_, s)| s.last_used);
                if let Some((&m, _)) = lru {
                    self.close_part(m)?;
                }
            }
            let data = self.part_path(month, self.months[&month].parts);
            let state = self.months.get_mut(&month).expect("present");
            state.writer = Some(PartitionWriter::create(&data, receipt_lines_schema())?);
        }
        self.clock += 1;
        let state = self.months.get_mut(&month).expect("present");
        state.last_used = self.clock;
        self.batched_rows -= state.batch.rows;
        let batch = state.batch.finish();
        state.writer.as_mut().expect("opened above").write(&batch)
    }

    fn finish(mut self) -> Result<WorkerOut, Error> {
        let months: Vec<Month> = self.months.keys().copied().collect();
        for m in months {
            self.flush(m)?;
            self.close_part(m)?;
        }
        Ok(WorkerOut { files: self.closed, warnings: self.warnings, rows_read: self.rows_read })
    }

    fn validate(&mut self, row: &dyn Row) -> Result<Option<Month>, Rejection> {
        if let Some(problem) = row.problem() {
            return Err(Rejection {
                column: "",
                value: String::new(),
                reason: Reason::MalformedRecord,
                message: problem,
            });
        }
        let c = self.shared.cols;
        let rid_v = required(row, c.receipt_id, "receipt_id")?;
        let receipt_id = text_of(&rid_v);
        let line_no = match c.line_no {
            Some(i) => {
                let v = required(row, i, "line_no")?;
                let n = parse::integer(&v).map_err(|m| reject("line_no", &v, Reason::BadNumber, m))?;
                i32::try_from(n)
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| reject("line_no", &v, Reason::BadNumber, format!("line_no {n} is out of range")))?
            }
            None => {
                // No line numbers in the source: number lines by position within the receipt
                // (a receipt's lines are contiguous in every POS export we know).
                if *receipt_id != *self.last_receipt {
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
            return Err(reject("ts", &ts_v, Reason::MissingValue, "ts is empty".into()));
        }
        let (ts, local_date) = self.ts.parse(&ts_v).map_err(|m| reject("ts", &ts_v, Reason::BadTimestamp, m))?;
        let store_v = required(row, c.store_id, "store_id")?;
        let store_id = text_of(&store_v);
        let sku_v = required(row, c.sku, "sku")?;
        let sku = text_of(&sku_v);
        let dec = self.shared.options.mapping.decimal;
        let quantity = match c.quantity {
            None => 1.0,
            Some(i) => {
                let v = field(row, i, "quantity")?;
                if v.is_blank() {
                    1.0
                } else {
                    parse::quantity(&v, dec).map_err(|m| reject("quantity", &v, Reason::BadQuantity, m))?
                }
            }
        };
        let optional_money = |idx: Option<usize>, column: &'static str| -> Result<Option<i64>, Rejection> {
            let Some(i) = idx else { return Ok(None) };
            let v = field(row, i, column)?;
            if v.is_blank() {
                return Ok(None);
            }
            parse::money(&v, dec).map(Some).map_err(|m| reject(column, &v, Reason::BadAmount, m))
        };
        let unit_price = optional_money(c.unit_price, "unit_price")?;
        let discount = optional_money(c.discount, "discount")?.unwrap_or(0);
        let net_v = required(row, c.net_amount, "net_amount")?;
        let net_amount = parse::money(&net_v, dec).map_err(|m| reject("net_amount", &net_v, Reason::BadAmount, m))?;
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
        let card_v = match c.customer_id {
            None => Value::Null,
            Some(i) => field(row, i, "customer_id")?,
        };

        // Valid: count warnings, then append.
        if !self.shared.options.plausible.contains(&local_date) {
            *self.warnings.entry("implausible_date".into()).or_default() += 1;
        }
        if let Some(price) = unit_price
            && discount > 0
            && discount as f64 > price as f64 * quantity.abs() + 0.5
        {
            *self.warnings.entry("discount_over_price".into()).or_default() += 1;
        }
        if self.shared.known_stores.as_ref().is_some_and(|k| !k.contains(&*store_id)) {
            *self.warnings.entry("unknown_store".into()).or_default() += 1;
        }
        if self.shared.known_skus.as_ref().is_some_and(|k| !k.contains(&*sku)) {
            *self.warnings.entry("unknown_product".into()).or_default() += 1;
        }
        let month = Month::of(local_date);
        let state = self.months.entry(month).or_insert_with(|| MonthState {
            batch: MonthBatch::new(),
            writer: None,
            parts: 0,
            last_used: 0,
        });
        let b = &mut state.batch;
        b.receipt_id.append_value(&*receipt_id);
        b.line_no.append_value(line_no);
        b.ts.append_value(ts.as_microsecond());
        b.local_date.append_value(unico_core::day::day_of(local_date));
        b.store_id.append_value(&*store_id);
        if card_v.is_blank() {
            b.customer_key.append_null();
        } else {
            let card = text_of(&card_v);
            match self.keys.get(&*card) {
                Some(key) => b.customer_key.append_value(key),
                None => {
                    let key = self.shared.options.pseudonymiser.key(&card).to_hex();
                    b.customer_key.append_value(&key);
                    self.keys.insert(card.into_owned(), key);
                }
            }
        }
        b.sku.append_value(&*sku);
        b.quantity.append_value(quantity);
        b.unit_price.append_option(unit_price);
        b.discount.append_value(discount);
        b.net_amount.append_value(net_amount);
        b.channel.append_value(channel.as_str());
        b.source_line.append_value(row.line() as i64);
        b.rows += 1;
        Ok(Some(month))
    }
}

fn set_of(lake: &Lake, dataset: Dataset, column: &str) -> Result<Option<FastSet>, Error> {
    let set = read::string_column_set(lake, dataset, column)?;
    Ok((!set.is_empty()).then(|| set.into_iter().collect()))
}

/// What a receipts import reads.
pub(super) enum Input<'a> {
    /// A file, in the mapping's format.
    File(&'a Path),
    /// Rows from elsewhere (the simulator streaming into the lake), with a label for the summary.
    Source(Box<dyn Source + 'a>, String),
}

pub(super) fn import(
    lake: &Lake,
    lock: &WriteLock,
    import_id: &str,
    input: Input<'_>,
    options: &ImportOptions<'_>,
) -> Result<ImportSummary, Error> {
    let started_at = jiff::Timestamp::now().to_string();
    let mut csv = None;
    let mut other = None;
    let (label, total_bytes) = match input {
        Input::File(path) => {
            if options.mapping.format.or_else(|| Format::from_path(path)) == Some(Format::Csv) {
                csv = Some(CsvSource::open(path, &options.mapping)?);
            } else {
                other = Some(open_source(path, &options.mapping)?);
            }
            (path.display().to_string(), std::fs::metadata(path).map(|m| m.len()).unwrap_or(0))
        }
        Input::Source(source, label) => {
            other = Some(source);
            (label, 0)
        }
    };
    let columns = match (&csv, &other) {
        (Some(s), _) => s.columns().to_vec(),
        (None, Some(s)) => s.columns().to_vec(),
        (None, None) => unreachable!("one source is open"),
    };
    let found = resolve(Dataset::Receipts, &options.mapping, &columns)?;
    let cols = Cols::from(&found);
    let source_tz = match &options.mapping.timezone {
        Some(name) => jiff::tz::TimeZone::get(name).map_err(|e| Error::new(ErrorKind::Mapping, e.to_string()))?,
        None => options.chain_tz.clone(),
    };
    let draft = lake.begin(Dataset::Receipts, import_id, true, lock)?;
    let shared = Shared {
        cols,
        options,
        import_id: import_id.to_string(),
        source_tz,
        known_stores: set_of(lake, Dataset::Stores, "store_id")?,
        known_skus: set_of(lake, Dataset::Products, "sku")?,
        draft_dir: draft.dir().to_path_buf(),
    };
    let mut rejects = RejectsWriter::new(options.rejects_dir.join(format!("{import_id}.csv")));

    let pass1 = match (csv, other) {
        (Some(source), _) => pass1_csv(&shared, source, total_bytes, &mut rejects),
        (None, Some(mut source)) => {
            let mut worker = Worker::new(&shared, 0);
            let mut n = 0u64;
            source
                .for_each(&mut |row| {
                    worker.process(row)?;
                    for r in worker.rejects.drain(..) {
                        r.write(&mut rejects)?;
                    }
                    n += 1;
                    if n.is_multiple_of(65_536) {
                        (options.progress)(Progress { phase: Phase::Reading, done: row.offset(), total: total_bytes });
                    }
                    Ok(())
                })
                .and_then(|_| worker.finish().map(|w| vec![w]))
        }
        (None, None) => unreachable!("one source is open"),
    };
    let outs = match pass1 {
        Ok(o) => o,
        Err(e) => {
            let _ = draft.abandon();
            return Err(e);
        }
    };
    (options.progress)(Progress { phase: Phase::Reading, done: total_bytes, total: total_bytes });
    let mut rows_read = 0;
    let mut warnings: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_month: BTreeMap<Month, Vec<PathBuf>> = BTreeMap::new();
    for o in outs {
        rows_read += o.rows_read;
        for (k, v) in o.warnings {
            *warnings.entry(k).or_default() += v;
        }
        for (m, p) in o.files {
            by_month.entry(m).or_default().push(p);
        }
    }

    // Pass 2: deduplicate, two months at a time.
    let months: Vec<(Month, Vec<PathBuf>)> = by_month.into_iter().collect();
    let outcomes = match pass2(lake, import_id, &months, options) {
        Ok(o) => o,
        Err(e) => {
            let _ = draft.abandon();
            return Err(e);
        }
    };
    let mut rows_imported = 0u64;
    let mut rows_already = 0u64;
    let mut kept_months = Vec::new();
    let mut dup_rejects = Vec::new();
    for ((month, _), o) in months.iter().zip(outcomes) {
        rows_imported += o.kept;
        rows_already += o.already;
        if o.kept > 0 {
            kept_months.push(month.to_string());
        }
        dup_rejects.extend(o.rejects);
    }
    dup_rejects.sort_by_key(|r| r.line);
    for r in &dup_rejects {
        r.write(&mut rejects)?;
    }
    let (rejects_file, rejected) = rejects.finish()?;
    let summary = ImportSummary {
        import_id: import_id.to_string(),
        dataset: Dataset::Receipts.noun().to_string(),
        file: label,
        started_at,
        rows_read,
        rows_imported,
        rows_already_in_lake: rows_already,
        rows_updated: 0,
        rejected,
        warnings,
        rejects_file: rejects_file.map(|p| p.display().to_string()),
        months: kept_months,
    };
    if let Err(e) = check_outcome(&summary, options.max_reject_rate) {
        let _ = draft.abandon();
        return Err(e);
    }
    (options.progress)(Progress { phase: Phase::Publishing, done: 0, total: 1 });
    let json = serde_json::to_vec_pretty(&summary).map_err(|e| Error::new(ErrorKind::Internal, e.to_string()))?;
    draft.write_summary(import_id, &json)?;
    draft.publish(lock)?;
    Ok(summary)
}

/// Pass 1 over CSV: a reader thread, two workers, rejects written here in line order.
fn pass1_csv(
    shared: &Shared<'_>,
    mut source: CsvSource,
    total_bytes: u64,
    rejects: &mut RejectsWriter,
) -> Result<Vec<WorkerOut>, Error> {
    let shape = source.shape();
    let keep_together = shared.cols.line_no.is_none().then_some(shared.cols.receipt_id);
    let progress = shared.options.progress;
    // Chunk n goes to worker n mod WORKERS: each worker's parts hold the same rows in the
    // same order on every run, so the lake — and every sum the model makes over it — is the
    // same bit for bit whatever the threads' timing.
    let (chunk_txs, chunk_rxs): (Vec<_>, Vec<_>) =
        (0..WORKERS).map(|_| crossbeam_channel::bounded::<(u64, Vec<csv::ByteRecord>)>(2)).unzip();
    let (recycle_tx, recycle_rx) = crossbeam_channel::bounded::<Vec<csv::ByteRecord>>(WORKERS * 4);
    let (result_tx, result_rx) = crossbeam_channel::unbounded::<(u64, Vec<RejectRow>)>();
    std::thread::scope(|scope| {
        let reader = std::thread::Builder::new().name("import-reader".into()).spawn_scoped(
            scope,
            move || -> Result<(), Error> {
                let mut seq = 0u64;
                loop {
                    let mut chunk = recycle_rx.try_recv().unwrap_or_default();
                    let more = source.read_chunk(&mut chunk, CHUNK_ROWS, keep_together)?;
                    if let Some(last) = chunk.last().and_then(|r| r.position()) {
                        progress(Progress { phase: Phase::Reading, done: last.byte(), total: total_bytes });
                    }
                    if !chunk.is_empty() && chunk_txs[(seq % WORKERS as u64) as usize].send((seq, chunk)).is_err() {
                        return Ok(()); // the workers stopped; their error says why
                    }
                    seq += 1;
                    if !more {
                        return Ok(());
                    }
                }
            },
        );
        let reader = reader.map_err(|e| Error::io("cannot start the reader thread", e))?;
        let mut workers = Vec::new();
        for (index, chunk_rx) in chunk_rxs.into_iter().enumerate() {
            let (result_tx, recycle_tx) = (result_tx.clone(), recycle_tx.clone());
            let worker = std::thread::Builder::new().name(format!("import-worker-{index}"));
            workers.push(
                worker
                    .spawn_scoped(scope, move || -> Result<WorkerOut, Error> {
                        let mut worker = Worker::new(shared, index);
                        for (seq, chunk) in chunk_rx {
                            worker.start_chunk();
                            for record in &chunk {
                                worker.process(&shape.row(record))?;
                            }
                            if result_tx.send((seq, std::mem::take(&mut worker.rejects))).is_err() {
                                return Err(Error::new(ErrorKind::Internal, "the import stopped"));
                            }
                            let _ = recycle_tx.try_send(chunk);
                        }
                        worker.finish()
                    })
                    .map_err(|e| Error::io("cannot start a worker thread", e))?,
            );
        }
        drop((result_tx, recycle_tx));
        // Rejects in file order: hold early chunks until the ones before them arrive.
        let mut next = 0u64;
        let mut pending: BTreeMap<u64, Vec<RejectRow>> = BTreeMap::new();
        let mut write_error = None;
        for (seq, rows) in result_rx.iter() {
            pending.insert(seq, rows);
            while let Some(rows) = pending.remove(&next) {
                for r in rows {
                    if write_error.is_none() {
                        write_error = r.write(rejects).err();
                    }
                }
                next += 1;
            }
            if write_error.is_some() {
                break;
            }
        }
        drop(result_rx);
        let read = reader.join().map_err(|_| Error::new(ErrorKind::Internal, "the CSV reader panicked"))?;
        let mut outs = Vec::new();
        let mut worker_error = None;
        for w in workers {
            match w.join().map_err(|_| Error::new(ErrorKind::Internal, "an import worker panicked"))? {
                Ok(o) => outs.push(o),
                Err(e) => worker_error = worker_error.or(Some(e)),
            }
        }
        read?;
        if let Some(e) = write_error.or(worker_error) {
            return Err(e);
        }
        Ok(outs)
    })
}

struct MonthOutcome {
    kept: u64,
    already: u64,
    rejects: Vec<RejectRow>,
}

fn pass2(
    lake: &Lake,
    import_id: &str,
    months: &[(Month, Vec<PathBuf>)],
    options: &ImportOptions<'_>,
) -> Result<Vec<MonthOutcome>, Error> {
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results: Vec<Result<Vec<(usize, MonthOutcome)>, Error>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..WORKERS.min(months.len()).max(1))
            .map(|_| {
                std::thread::Builder::new().name("import-dedupe".into()).spawn_scoped(
                    scope,
                    || -> Result<Vec<(usize, MonthOutcome)>, Error> {
                        let mut out = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::SeqCst);
                            let Some((month, files)) = months.get(i) else { return Ok(out) };
                            out.push((i, dedupe_month(lake, *month, files, import_id)?));
                            let d = done.fetch_add(1, Ordering::SeqCst) as u64;
                            (options.progress)(Progress {
                                phase: Phase::Deduplicating,
                                done: d,
                                total: months.len() as u64,
                            });
                        }
                    },
                )
            })
            .collect();
        handles
            .into_iter()
            .map(|h| match h {
                Ok(h) => h.join().unwrap_or_else(|_| Err(Error::new(ErrorKind::Internal, "a dedupe thread panicked"))),
                Err(e) => Err(Error::io("cannot start a dedupe thread", e)),
            })
            .collect()
    });
    let mut slots: Vec<Option<MonthOutcome>> = (0..months.len()).map(|_| None).collect();
    for r in results {
        for (i, o) in r? {
            slots[i] = Some(o);
        }
    }
    Ok(slots.into_iter().map(|o| o.expect("every month was processed")).collect())
}

/// Calls `f` with the (line key, source line) of every row of a new part.
fn for_each_key(path: &Path, mut f: impl FnMut((u64, u64), u64)) -> Result<(), Error> {
    read::for_each_batch(path, &["receipt_id", "line_no", "source_line"], |batch| {
        let ids = batch.column(0).as_string::<i32>();
        let nos = batch.column(1).as_primitive::<Int32Type>();
        let lines = batch.column(2).as_primitive::<Int64Type>();
        for i in 0..batch.num_rows() {
            f(split_key(line_key(ids.value(i), nos.value(i))), lines.value(i) as u64);
        }
        Ok(())
    })
}

/// Deduplicates one month's new parts against the lake and against themselves.
///
/// The keys come from the parts themselves (receipt id, line number and source line), read
/// once to find each key's first occurrence and again only if some row must go: no scratch
/// file, so an import's temporary disk is its parts alone (decision 0003).
fn dedupe_month(lake: &Lake, month: Month, new_files: &[PathBuf], import_id: &str) -> Result<MonthOutcome, Error> {
    let existing = lake.month_files(month)?;
    let capacity: usize = existing.iter().chain(new_files).map(|p| read::rows_of(p) as usize).sum();
    // 0 marks a key already in the lake; otherwise the first source line that brought it.
    let mut seen: KeyMap = KeyMap::with_capacity_and_hasher(capacity, Default::default());
    for f in &existing {
        read::for_each_batch(f, &["receipt_id", "line_no"], |batch| {
            let ids = batch.column(0).as_string::<i32>();
            let nos = batch.column(1).as_primitive::<Int32Type>();
            for i in 0..batch.num_rows() {
                seen.insert(split_key(line_key(ids.value(i), nos.value(i))), 0);
            }
            Ok(())
        })?;
    }
    // Each key's first occurrence (the smallest source line); a key met twice, or already
    // in the lake, means some row goes.
    let mut rows = 0u64;
    let mut collided = false;
    for file in new_files {
        for_each_key(file, |key, line| {
            rows += 1;
            match seen.entry(key) {
                std::collections::hash_map::Entry::Occupied(mut e) => {
                    collided = true;
                    if *e.get() != 0 && line < *e.get() {
                        *e.get_mut() = line;
                    }
                }
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(line);
                }
            }
        })?;
    }
    let mut outcome = MonthOutcome { kept: 0, already: 0, rejects: Vec::new() };
    // A file not sorted by time leaves many small parts per month (see MAX_OPEN_PARTS):
    // merge them into one. Otherwise rewrite the parts only if some row goes.
    let month_dir = new_files[0].parent().expect("parts live in a month folder").to_path_buf();
    let groups: Vec<(Vec<usize>, PathBuf)> = if new_files.len() > WORKERS {
        vec![((0..new_files.len()).collect(), month_dir.join(format!("part-{import_id}.parquet")))]
    } else if collided {
        (0..new_files.len()).map(|i| (vec![i], new_files[i].clone())).collect()
    } else {
        outcome.kept = rows;
        Vec::new()
    };
    for (members, output) in groups {
        let tmp = output.with_extension("parquet.tmp");
        let mut writer: Option<PartitionWriter> = None;
        for &i in &members {
            let file = &new_files[i];
            read::for_each_batch(file, &[], |batch| {
                let n = batch.num_rows();
                let filtered = if collided {
                    let ids = batch.column(0).as_string::<i32>();
                    let nos = batch.column(1).as_primitive::<Int32Type>();
                    let skus = batch.column(6).as_string::<i32>();
                    let nets = batch.column(10).as_primitive::<Int64Type>();
                    let lines = batch.column(12).as_primitive::<Int64Type>();
                    let mut keep = Vec::with_capacity(n);
                    for j in 0..n {
                        let line = lines.value(j) as u64;
                        let first = seen[&split_key(line_key(ids.value(j), nos.value(j)))];
                        keep.push(first == line);
                        outcome.kept += u64::from(first == line);
                        outcome.already += u64::from(first == 0);
                        if first != 0 && first != line {
                            outcome.rejects.push(RejectRow {
                                line,
                                column: "receipt_id+line_no",
                                value: format!("{}/{}", ids.value(j), nos.value(j)),
                                reason: Reason::DuplicateLine,
                                message: format!("same receipt_id and line_no as line {first}"),
                                record: format!(
                                    "receipt_id={} line_no={} sku={} net_amount_cents={}",
                                    ids.value(j),
                                    nos.value(j),
                                    skus.value(j),
                                    nets.value(j)
                                ),
                            });
                        }
                    }
                    arrow_select::filter::filter_record_batch(&batch, &BooleanArray::from(keep))
                        .map_err(|e| Error::parquet("filtering duplicates", e))?
                } else {
                    outcome.kept += n as u64;
                    batch
                };
                if filtered.num_rows() > 0 {
                    if writer.is_none() {
                        writer = Some(PartitionWriter::create(&tmp, receipt_lines_schema())?);
                    }
                    writer.as_mut().expect("created above").write(&filtered)?;
                }
                Ok(())
            })?;
        }
        for &i in &members {
            let file = &new_files[i];
            std::fs::remove_file(file).map_err(|e| Error::io(file.display(), e))?;
        }
        if let Some(w) = writer {
            w.finish()?;
            std::fs::rename(&tmp, &output).map_err(|e| Error::io(output.display(), e))?;
        }
    }
    let _ = std::fs::remove_dir(&month_dir); // only succeeds when nothing was kept
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_keys_separate_receipt_and_line() {
        assert_ne!(line_key("R1", 12), line_key("R11", 2));
        assert_ne!(line_key("R1", 1), line_key("R1", 2));
        assert_eq!(line_key("R1", 1), line_key("R1", 1));
    }
}
