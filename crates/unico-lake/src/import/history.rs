//! Importing the promotion history: campaigns, coupons, what the coupons covered, who
//! received each campaign, and what was redeemed.
//!
//! Each file is validated row by row (rejects with line, column, value and reason, as every
//! import), card ids become pseudonymous customer keys (the lake never holds a card id),
//! and rows are upserted by their key, newest import winning: re-importing a file adds
//! nothing, an overlapping export updates what changed. A dataset is rebuilt whole and
//! published atomically with its summary. A history is small next to the receipts (a few
//! million members and redemptions a year even at a large chain), so the merge is done in
//! memory, about 200 bytes a row.
//!
//! Rows that name a campaign or coupon the lake does not hold yet are kept with the
//! warning `unknown_campaign` / `unknown_coupon` (the files may come in any order).

use super::{
    ImportOptions, ImportSummary, Phase, Progress, Reason, RejectsWriter, check_outcome, open_source, publish_whole,
    resolve::resolve,
};
use crate::error::{Error, ErrorKind};
use crate::lake::{Lake, WriteLock};
use crate::mapping::Dataset;
use crate::parse::{self, TimestampParser};
use crate::read;
use crate::source::{Row, Value};
use arrow_array::builder::{Date32Builder, Float64Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

/// How a lake column is made from a canonical input column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Text as given (trimmed).
    Text,
    /// A card id, turned into the pseudonymous customer key.
    Key,
    /// Money, into integer cents.
    Cents,
    /// A whole number.
    Int,
    /// A percentage, 0 < p ≤ 100 (`20`, `20%`, `12.5`).
    Percent,
    /// A calendar date (ISO 8601, or dd/mm/yyyy).
    Date,
    /// An instant (the mapping's timestamp format and zone), stored in UTC.
    Ts,
    /// The chain-local date of the instant in the same input column.
    LocalDate,
}

/// One lake column: its name, the canonical input column it comes from, and how.
struct Col {
    name: &'static str,
    canon: &'static str,
    kind: Kind,
}

const fn col(name: &'static str, canon: &'static str, kind: Kind) -> Col {
    Col { name, canon, kind }
}

/// The lake columns of a history dataset, and how many of them (from the first) form the
/// row's key.
fn spec(dataset: Dataset) -> (&'static [Col], usize) {
    use Kind::*;
    const CAMPAIGNS: &[Col] = &[
        col("campaign_id", "campaign_id", Text),
        col("name", "name", Text),
        col("kind", "kind", Text),
        col("start_date", "start", Date),
        col("end_date", "end", Date),
    ];
    const COUPONS: &[Col] = &[
        col("coupon_id", "coupon_id", Text),
        col("campaign_id", "campaign_id", Text),
        col("percent_off", "percent_off", Percent),
        col("amount_off_cents", "amount_off", Cents),
        col("buy_units", "buy_units", Int),
        col("pay_units", "pay_units", Int),
        col("min_spend_cents", "min_spend", Cents),
    ];
    const COUPON_PRODUCTS: &[Col] = &[col("coupon_id", "coupon_id", Text), col("sku", "sku", Text)];
    const MEMBERS: &[Col] = &[col("campaign_id", "campaign_id", Text), col("customer_key", "customer_id", Key)];
    const REDEMPTIONS: &[Col] = &[
        col("customer_key", "customer_id", Key),
        col("coupon_id", "coupon_id", Text),
        col("campaign_id", "campaign_id", Text),
        col("ts", "ts", Ts),
        col("receipt_id", "receipt_id", Text),
        col("local_date", "ts", LocalDate),
        col("store_id", "store_id", Text),
        col("discount_cents", "discount", Cents),
    ];
    match dataset {
        Dataset::Campaigns => (CAMPAIGNS, 1),
        Dataset::Coupons => (COUPONS, 1),
        Dataset::CouponProducts => (COUPON_PRODUCTS, 2),
        Dataset::CampaignMembers => (MEMBERS, 2),
        Dataset::Redemptions => (REDEMPTIONS, 5),
        other => unreachable!("{} is not part of the promotion history", other.noun()),
    }
}

fn data_type(kind: Kind) -> DataType {
    match kind {
        Kind::Text | Kind::Key => DataType::Utf8,
        Kind::Cents | Kind::Int => DataType::Int64,
        Kind::Percent => DataType::Float64,
        Kind::Date | Kind::LocalDate => DataType::Date32,
        Kind::Ts => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
    }
}

/// The Arrow schema of a promotion-history dataset in the lake. Dates are `Date32`
/// (`start_date`, `end_date` inclusive, `local_date` in the chain's zone), `ts` an instant in
/// UTC, money integer cents, `percent_off` a percentage (20.0 = 20 %).
pub fn history_schema(dataset: Dataset) -> SchemaRef {
    let (cols, _) = spec(dataset);
    let required: HashSet<&str> = dataset.columns().iter().filter(|c| c.1).map(|c| c.0).collect();
    Arc::new(Schema::new(
        cols.iter().map(|c| Field::new(c.name, data_type(c.kind), !required.contains(c.canon))).collect::<Vec<_>>(),
    ))
}

#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Null,
    Text(String),
    Int(i64),
    Float(f64),
    Day(i32),
    Micros(i64),
}

impl Cell {
    fn key_part(&self) -> String {
        match self {
            Cell::Null => String::new(),
            Cell::Text(t) => t.clone(),
            Cell::Int(i) | Cell::Micros(i) => i.to_string(),
            Cell::Float(f) => f.to_string(),
            Cell::Day(d) => d.to_string(),
        }
    }
}

fn read_existing(lake: &Lake, dataset: Dataset, key_len: usize) -> Result<BTreeMap<String, Vec<Cell>>, Error> {
    let mut out = BTreeMap::new();
    for file in lake.parquet_files(dataset)? {
        read::for_each_batch(&file, &[], |batch| {
            for i in 0..batch.num_rows() {
                let mut row = Vec::with_capacity(batch.num_columns());
                for c in 0..batch.num_columns() {
                    let a = batch.column(c);
                    row.push(if a.is_null(i) {
                        Cell::Null
                    } else {
                        match a.data_type() {
                            DataType::Utf8 => Cell::Text(a.as_string::<i32>().value(i).to_string()),
                            DataType::Int64 => Cell::Int(a.as_primitive::<Int64Type>().value(i)),
                            DataType::Float64 => Cell::Float(a.as_primitive::<Float64Type>().value(i)),
                            DataType::Date32 => Cell::Day(a.as_primitive::<Date32Type>().value(i)),
                            DataType::Timestamp(..) => {
                                Cell::Micros(a.as_primitive::<TimestampMicrosecondType>().value(i))
                            }
                            other => {
                                return Err(Error::new(
                                    ErrorKind::Internal,
                                    format!("unexpected column type {other} in {}", dataset.dir_name()),
                                ));
                            }
                        }
                    });
                }
                out.insert(key_of(&row, key_len), row);
            }
            Ok(())
        })?;
    }
    Ok(out)
}

fn key_of(row: &[Cell], key_len: usize) -> String {
    row[..key_len].iter().map(Cell::key_part).collect::<Vec<_>>().join("\u{1f}")
}

struct Rejection {
    column: String,
    value: String,
    reason: Reason,
    message: String,
}

fn date(value: &Value<'_>) -> Result<jiff::civil::Date, String> {
    match value {
        Value::Civil(dt) => Ok(dt.date()),
        Value::Instant(ts) => Ok(jiff::tz::TimeZone::UTC.to_datetime(*ts).date()),
        other => {
            let t = match other {
                Value::Text(t) => t.trim().to_string(),
                v => v.display(),
            };
            t.parse::<jiff::civil::Date>()
                .ok()
                .or_else(|| {
                    ["%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y"]
                        .iter()
                        .find_map(|f| jiff::fmt::strtime::parse(f, &t).ok().and_then(|tm| tm.to_date().ok()))
                })
                .ok_or_else(|| format!("{t:?} is not a date (yyyy-mm-dd or dd/mm/yyyy)"))
        }
    }
}

fn percent(value: &Value<'_>, options: &ImportOptions<'_>) -> Result<f64, String> {
    let p = match value {
        Value::Text(t) => {
            let t = t.trim().trim_end_matches('%').trim_end();
            parse::quantity(&Value::Text(t.into()), options.mapping.decimal)?
        }
        other => parse::quantity(other, options.mapping.decimal)?,
    };
    if p <= 0.0 || p > 100.0 {
        return Err(format!("{p} is not a percentage between 0 (excluded) and 100"));
    }
    Ok(p)
}

struct Parser<'o> {
    options: &'o ImportOptions<'o>,
    dataset: Dataset,
    cols: &'static [Col],
    /// For each lake column, the index of its canonical column in the source.
    found: Vec<Option<usize>>,
    required: Vec<bool>,
    ts: TimestampParser,
    keys: HashMap<String, String>,
}

impl Parser<'_> {
    fn parse(&mut self, row: &dyn Row) -> Result<Vec<Cell>, Rejection> {
        if let Some(problem) = row.problem() {
            return Err(Rejection {
                column: String::new(),
                value: String::new(),
                reason: Reason::MalformedRecord,
                message: problem,
            });
        }
        let mut cells = Vec::with_capacity(self.cols.len());
        for (c, spec) in self.cols.iter().enumerate() {
            let canon = spec.canon;
            let value = match self.found[c] {
                None => Value::Null,
                Some(i) => row.get(i).map_err(|e| Rejection {
                    column: canon.into(),
                    value: e.raw,
                    reason: Reason::BadEncoding,
                    message: e.reason,
                })?,
            };
            let bad = |reason, message| Rejection { column: canon.into(), value: value.display(), reason, message };
            if value.is_blank() {
                if self.required[c] {
                    return Err(bad(Reason::MissingValue, format!("{canon} is empty")));
                }
                cells.push(Cell::Null);
                continue;
            }
            let text = || match &value {
                Value::Text(t) => t.trim().to_string(),
                other => other.display(),
            };
            cells.push(match spec.kind {
                Kind::Text => Cell::Text(text()),
                Kind::Key => {
                    let card = text();
                    let key = match self.keys.get(&card) {
                        Some(k) => k.clone(),
                        None => {
                            let k = self.options.pseudonymiser.key(&card).to_hex();
                            self.keys.insert(card, k.clone());
                            k
                        }
                    };
                    Cell::Text(key)
                }
                Kind::Cents => {
                    let c =
                        parse::money(&value, self.options.mapping.decimal).map_err(|m| bad(Reason::BadAmount, m))?;
                    if c < 0 {
                        return Err(bad(Reason::OutOfRange, format!("{canon} cannot be negative")));
                    }
                    Cell::Int(c)
                }
                Kind::Int => {
                    let n = parse::integer(&value).map_err(|m| bad(Reason::BadNumber, m))?;
                    if n < 0 {
                        return Err(bad(Reason::OutOfRange, format!("{canon} cannot be negative")));
                    }
                    Cell::Int(n)
                }
                Kind::Percent => Cell::Float(percent(&value, self.options).map_err(|m| bad(Reason::OutOfRange, m))?),
                Kind::Date => Cell::Day(unico_core::day::day_of(date(&value).map_err(|m| bad(Reason::BadDate, m))?)),
                Kind::Ts => {
                    let (ts, _) = self.ts.parse(&value).map_err(|m| bad(Reason::BadTimestamp, m))?;
                    Cell::Micros(ts.as_microsecond())
                }
                Kind::LocalDate => {
                    let (_, day) = self.ts.parse(&value).map_err(|m| bad(Reason::BadTimestamp, m))?;
                    Cell::Day(unico_core::day::day_of(day))
                }
            });
        }
        self.check(&cells)?;
        Ok(cells)
    }

    /// Rules across columns.
    fn check(&self, cells: &[Cell]) -> Result<(), Rejection> {
        let reject = |column: &str, reason, message: String| {
            Err(Rejection { column: column.into(), value: String::new(), reason, message })
        };
        match self.dataset {
            Dataset::Campaigns => {
                if let (Cell::Day(start), Cell::Day(end)) = (&cells[3], &cells[4])
                    && end < start
                {
                    return reject(
                        "end",
                        Reason::OutOfRange,
                        format!(
                            "the campaign ends ({}) before it starts ({})",
                            unico_core::day::date_of(*end),
                            unico_core::day::date_of(*start)
                        ),
                    );
                }
            }
            Dataset::Coupons => match (&cells[4], &cells[5]) {
                (Cell::Int(buy), Cell::Int(pay)) if pay >= buy || *buy == 0 => {
                    return reject(
                        "pay_units",
                        Reason::OutOfRange,
                        format!("buy {buy}, pay {pay}: a multi-buy pays for fewer units than it gives"),
                    );
                }
                (Cell::Int(_), Cell::Null) | (Cell::Null, Cell::Int(_)) => {
                    return reject(
                        "buy_units",
                        Reason::MissingValue,
                        "a multi-buy needs both buy_units and pay_units".into(),
                    );
                }
                _ => {}
            },
            Dataset::Redemptions if cells[1] == Cell::Null && cells[2] == Cell::Null => {
                return reject(
                    "coupon_id",
                    Reason::MissingValue,
                    "a redemption names its coupon_id, its campaign_id or both".into(),
                );
            }
            _ => {}
        }
        Ok(())
    }
}

fn to_batch(schema: &SchemaRef, cols: &[Col], rows: &[&Vec<Cell>]) -> RecordBatch {
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (c, spec) in cols.iter().enumerate() {
        let values = rows.iter().map(|r| &r[c]);
        columns.push(match data_type(spec.kind) {
            DataType::Utf8 => {
                let mut b = StringBuilder::new();
                values.for_each(|v| b.append_option(if let Cell::Text(t) = v { Some(t.as_str()) } else { None }));
                Arc::new(b.finish())
            }
            DataType::Int64 => {
                let mut b = Int64Builder::new();
                values.for_each(|v| b.append_option(if let Cell::Int(i) = v { Some(*i) } else { None }));
                Arc::new(b.finish())
            }
            DataType::Float64 => {
                let mut b = Float64Builder::new();
                values.for_each(|v| b.append_option(if let Cell::Float(f) = v { Some(*f) } else { None }));
                Arc::new(b.finish())
            }
            DataType::Date32 => {
                let mut b = Date32Builder::new();
                values.for_each(|v| b.append_option(if let Cell::Day(d) = v { Some(*d) } else { None }));
                Arc::new(b.finish())
            }
            _ => {
                let mut b = TimestampMicrosecondBuilder::new().with_timezone("UTC");
                values.for_each(|v| b.append_option(if let Cell::Micros(t) = v { Some(*t) } else { None }));
                Arc::new(b.finish())
            }
        });
    }
    RecordBatch::try_new(schema.clone(), columns).expect("cells match the schema")
}

/// Which column of a dataset names a campaign or coupon that should already be known, and
/// the warning when it is not.
fn reference(dataset: Dataset) -> Option<(usize, Dataset, &'static str, &'static str)> {
    match dataset {
        Dataset::Coupons => Some((1, Dataset::Campaigns, "campaign_id", "unknown_campaign")),
        Dataset::CampaignMembers => Some((0, Dataset::Campaigns, "campaign_id", "unknown_campaign")),
        Dataset::CouponProducts | Dataset::Redemptions => {
            Some((if dataset == Dataset::Redemptions { 1 } else { 0 }, Dataset::Coupons, "coupon_id", "unknown_coupon"))
        }
        _ => None,
    }
}

pub(super) fn import(
    lake: &Lake,
    lock: &WriteLock,
    dataset: Dataset,
    import_id: &str,
    path: &Path,
    options: &ImportOptions<'_>,
) -> Result<ImportSummary, Error> {
    let started_at = jiff::Timestamp::now().to_string();
    let mut source = open_source(path, &options.mapping)?;
    let by_canon = resolve(dataset, &options.mapping, source.columns())?;
    let canon_index = |name: &str| dataset.columns().iter().position(|c| c.0 == name).expect("spec names canon");
    let (cols, key_len) = spec(dataset);
    let schema = history_schema(dataset);
    let source_tz = match &options.mapping.timezone {
        Some(name) => jiff::tz::TimeZone::get(name).map_err(|e| Error::new(ErrorKind::Mapping, e.to_string()))?,
        None => options.chain_tz.clone(),
    };
    let mut parser = Parser {
        options,
        dataset,
        cols,
        found: cols.iter().map(|c| by_canon[canon_index(c.canon)]).collect(),
        required: cols.iter().map(|c| dataset.columns()[canon_index(c.canon)].1).collect(),
        ts: TimestampParser::new(options.mapping.timestamp_format.clone(), source_tz, options.chain_tz.clone()),
        keys: HashMap::new(),
    };
    let reference = reference(dataset);
    let known = match reference {
        Some((_, other, column, _)) => Some(read::string_column_set(lake, other, column)?),
        None => None,
    };
    let mut merged = read_existing(lake, dataset, key_len)?;
    let mut rejects = RejectsWriter::new(options.rejects_dir.join(format!("{import_id}.csv")));
    let mut first_line: HashMap<String, u64> = HashMap::new();
    let mut warnings: BTreeMap<String, u64> = BTreeMap::new();
    let (mut rows_read, mut imported, mut updated, mut already) = (0u64, 0u64, 0u64, 0u64);
    let total = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    source.for_each(&mut |row| {
        rows_read += 1;
        if rows_read % 65_536 == 0 {
            (options.progress)(Progress { phase: Phase::Reading, done: row.offset().min(total), total });
        }
        match parser.parse(row) {
            Err(r) => rejects.reject(row.line(), &r.column, &r.value, r.reason, &r.message, &row.raw()),
            Ok(cells) => {
                let key = key_of(&cells, key_len);
                if let Some(first) = first_line.get(&key) {
                    let names: Vec<&str> = cols[..key_len].iter().map(|c| c.canon).collect();
                    return rejects.reject(
                        row.line(),
                        names[0],
                        &key.replace('\u{1f}', " "),
                        Reason::DuplicateKey,
                        &format!("the same {} already appears at line {first}", names.join(", ")),
                        &row.raw(),
                    );
                }
                first_line.insert(key.clone(), row.line());
                if let (Some((c, _, _, warning)), Some(known)) = (reference, &known)
                    && let Cell::Text(id) = &cells[c]
                    && !known.contains(id)
                {
                    *warnings.entry(warning.to_string()).or_default() += 1;
                }
                match merged.insert(key, cells.clone()) {
                    None => imported += 1,
                    Some(old) if old == cells => already += 1,
                    Some(_) => updated += 1,
                }
                Ok(())
            }
        }
    })?;
    let (rejects_file, rejected) = rejects.finish()?;
    let summary = ImportSummary {
        import_id: import_id.to_string(),
        dataset: dataset.noun().to_string(),
        file: path.display().to_string(),
        started_at,
        rows_read,
        rows_imported: imported,
        rows_already_in_lake: already,
        rows_updated: updated,
        rejected,
        warnings,
        rejects_file: rejects_file.map(|p| p.display().to_string()),
        months: Vec::new(),
    };
    check_outcome(&summary, options.max_reject_rate)?;
    (options.progress)(Progress { phase: Phase::Publishing, done: 0, total: 1 });
    publish_whole(lake, lock, dataset, schema.clone(), &summary, |w| {
        // Batches of 64k rows keep the writer's buffers small.
        let all: Vec<&Vec<Cell>> = merged.values().collect();
        for chunk in all.chunks(65_536) {
            w.write(&to_batch(&schema, cols, chunk))?;
        }
        Ok(())
    })?;
    Ok(summary)
}
