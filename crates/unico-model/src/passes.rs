//! The per-customer passes on Arrow record batches sorted by customer: how the model's work
//! runs on an engine that already splits data by customer (Apache Spark's `mapInArrow`
//! through the `unico` Python package, or any other that hands over sorted batches).
//!
//! `unico model build` reads the month-ordered lake; an engine instead hands over a
//! partition's receipt lines sorted by customer, in batches of any size, a customer's lines
//! possibly straddling two batches. [`ProfilePass`] and [`HabitPass`] keep the current
//! customer open across batches and emit a row per finished customer. What they compute
//! goes through the same functions as the build (the day fold of [`crate::features`], the
//! habits of [`crate::habits`], the columns below), so the results are equal: integers
//! exactly, floats to the last bit but for the fits' sums.
//!
//! The population steps stay global: the fits ([`crate::clv::Grouped::from_rows`],
//! [`crate::clv::GammaGamma::fit_grouped`]) take grouped counts in any order, and the RFM
//! scores take the rank of each value among all customers ([`crate::rfm::score_of_rank`]).

use crate::build::{ModelSettings, Scores, summary_of};
use crate::clv::{BgNbd, GammaGamma, Summary, TimeUnit};
use crate::error::{Error, ErrorKind};
use crate::features::{self, CustomerState, ReceiptAgg};
use crate::habits::{self, Catalogue, HabitColumns, HabitSettings};
use crate::lines::LineRecord;
use crate::rfm::{RfmScore, Segment};
use arrow_array::builder::{Date32Builder, Float64Builder, Int64Builder, StringBuilder, UInt8Builder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, Int64Type, TimestampMicrosecondType, UInt8Type};
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray, UInt8Array};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use foldhash::HashMap;
use std::sync::Arc;

fn input(what: impl Into<String>) -> Error {
    Error::new(ErrorKind::Input, what.into())
}

fn column<'a>(b: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef, Error> {
    b.column_by_name(name).ok_or_else(|| input(format!("the batch has no column {name}")))
}

fn text<'a>(b: &'a RecordBatch, name: &str) -> Result<&'a StringArray, Error> {
    column(b, name)?.as_string_opt::<i32>().ok_or_else(|| input(format!("column {name} is not utf8 text")))
}

fn ints<'a>(b: &'a RecordBatch, name: &str) -> Result<&'a arrow_array::Int64Array, Error> {
    column(b, name)?.as_primitive_opt::<Int64Type>().ok_or_else(|| input(format!("column {name} is not int64")))
}

fn dates<'a>(b: &'a RecordBatch, name: &str) -> Result<&'a arrow_array::Date32Array, Error> {
    column(b, name)?.as_primitive_opt::<Date32Type>().ok_or_else(|| input(format!("column {name} is not date32")))
}

fn reals<'a>(b: &'a RecordBatch, name: &str) -> Result<&'a arrow_array::Float64Array, Error> {
    column(b, name)?.as_primitive_opt::<Float64Type>().ok_or_else(|| input(format!("column {name} is not float64")))
}

fn small<'a>(b: &'a RecordBatch, name: &str) -> Result<&'a UInt8Array, Error> {
    column(b, name)?.as_primitive_opt::<UInt8Type>().ok_or_else(|| input(format!("column {name} is not uint8")))
}

/// Whether a line of `key` starts a new customer after `current`; an error when the lines
/// are not sorted by customer.
fn starts_customer(current: Option<&str>, key: &str) -> Result<bool, Error> {
    match current {
        Some(c) if c == key => Ok(false),
        Some(c) if c > key => Err(input(format!("lines are not sorted by customer_key ({c} came before {key})"))),
        _ => Ok(true),
    }
}

/// Receipt-line columns [`ProfilePass`] reads.
pub const PROFILE_INPUT_COLUMNS: [&str; 8] =
    ["local_date", "customer_key", "receipt_id", "net_amount_cents", "discount_cents", "store_id", "channel", "ts"];

/// Receipt-line columns [`HabitPass`] reads.
pub const HABIT_INPUT_COLUMNS: [&str; 4] = ["local_date", "customer_key", "sku", "net_amount_cents"];

/// The columns of a customer state: the profile's columns known from the customer's own
/// receipts, before the population's fits and ranks.
pub fn state_schema(unit: TimeUnit) -> SchemaRef {
    let unit = unit.name();
    let col = |name: String, t: DataType, nullable: bool| Field::new(name, t, nullable);
    Arc::new(Schema::new(vec![
        col("customer_key".into(), DataType::Utf8, false),
        col("first_purchase_date".into(), DataType::Date32, false),
        col("last_purchase_date".into(), DataType::Date32, false),
        col("receipts".into(), DataType::Int64, false),
        col("purchase_days".into(), DataType::Int64, false),
        col("spend_cents".into(), DataType::Int64, false),
        col("average_receipt_cents".into(), DataType::Int64, false),
        col("items_per_receipt".into(), DataType::Float64, false),
        col("discount_share".into(), DataType::Float64, false),
        col("preferred_store_id".into(), DataType::Utf8, true),
        col("preferred_channel".into(), DataType::Utf8, false),
        col("preferred_weekday".into(), DataType::Utf8, false),
        col("preferred_hour".into(), DataType::UInt8, false),
        col("recency_days".into(), DataType::Int64, false),
        col("rfm_frequency".into(), DataType::Int64, false),
        col("rfm_monetary_cents".into(), DataType::Int64, false),
        col("repeat_purchases".into(), DataType::Int64, false),
        col(format!("bgnbd_recency_{unit}"), DataType::Float64, false),
        col(format!("bgnbd_age_{unit}"), DataType::Float64, false),
        // Mean net spend of the repeat purchase days, currency units (Gamma-Gamma's m).
        col("repeat_mean_value".into(), DataType::Float64, false),
        col("lines".into(), DataType::Int64, false),
    ]))
}

/// Customer states being built into a batch of [`state_schema`].
pub(crate) struct StateColumns {
    schema: SchemaRef,
    key: StringBuilder,
    first: Date32Builder,
    last: Date32Builder,
    receipts: Int64Builder,
    days: Int64Builder,
    spend: Int64Builder,
    average: Int64Builder,
    items: Float64Builder,
    discount_share: Float64Builder,
    store: StringBuilder,
    channel: StringBuilder,
    weekday: StringBuilder,
    hour: UInt8Builder,
    recency_days: Int64Builder,
    rfm_frequency: Int64Builder,
    rfm_monetary: Int64Builder,
    repeat: Int64Builder,
    recency: Float64Builder,
    age: Float64Builder,
    mean_value: Float64Builder,
    lines: Int64Builder,
    pub(crate) rows: usize,
}

impl StateColumns {
    pub(crate) fn new(unit: TimeUnit) -> StateColumns {
        StateColumns {
            schema: state_schema(unit),
            key: StringBuilder::new(),
            first: Date32Builder::new(),
            last: Date32Builder::new(),
            receipts: Int64Builder::new(),
            days: Int64Builder::new(),
            spend: Int64Builder::new(),
            average: Int64Builder::new(),
            items: Float64Builder::new(),
            discount_share: Float64Builder::new(),
            store: StringBuilder::new(),
            channel: StringBuilder::new(),
            weekday: StringBuilder::new(),
            hour: UInt8Builder::new(),
            recency_days: Int64Builder::new(),
            rfm_frequency: Int64Builder::new(),
            rfm_monetary: Int64Builder::new(),
            repeat: Int64Builder::new(),
            recency: Float64Builder::new(),
            age: Float64Builder::new(),
            mean_value: Float64Builder::new(),
            lines: Int64Builder::new(),
            rows: 0,
        }
    }

    /// Appends one customer; `stores` names the state's store indices.
    pub(crate) fn append(&mut self, key: &str, c: &CustomerState, stores: &[String], as_of_day: i32, unit: TimeUnit) {
        let s = summary_of(c, as_of_day, unit);
        self.key.append_value(key);
        self.first.append_value(c.first_day);
        self.last.append_value(c.last_day);
        self.receipts.append_value(i64::from(c.receipts));
        self.days.append_value(i64::from(c.purchase_days));
        self.spend.append_value(c.spend_cents);
        self.average.append_value((c.spend_cents as f64 / f64::from(c.receipts.max(1))).round() as i64);
        self.items.append_value(c.lines as f64 / f64::from(c.receipts.max(1)));
        let gross = c.spend_cents + c.discount_cents;
        self.discount_share.append_value(if gross > 0 { c.discount_cents as f64 / gross as f64 } else { 0.0 });
        self.store.append_option(c.preferred_store().map(|s| stores[s as usize].as_str()));
        self.channel.append_value(c.preferred_channel());
        self.weekday.append_value(c.preferred_weekday());
        self.hour.append_value(c.preferred_hour());
        self.recency_days.append_value(i64::from(as_of_day - c.last_day));
        self.rfm_frequency.append_value(i64::from(c.window_days));
        self.rfm_monetary.append_value(c.window_spend_cents);
        self.repeat.append_value(i64::from(s.frequency));
        self.recency.append_value(s.recency);
        self.age.append_value(s.age);
        self.mean_value.append_value(s.monetary);
        self.lines.append_value(c.lines as i64);
        self.rows += 1;
    }

    pub(crate) fn finish(&mut self) -> Result<RecordBatch, Error> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.key.finish()),
            Arc::new(self.first.finish()),
            Arc::new(self.last.finish()),
            Arc::new(self.receipts.finish()),
            Arc::new(self.days.finish()),
            Arc::new(self.spend.finish()),
            Arc::new(self.average.finish()),
            Arc::new(self.items.finish()),
            Arc::new(self.discount_share.finish()),
            Arc::new(self.store.finish()),
            Arc::new(self.channel.finish()),
            Arc::new(self.weekday.finish()),
            Arc::new(self.hour.finish()),
            Arc::new(self.recency_days.finish()),
            Arc::new(self.rfm_frequency.finish()),
            Arc::new(self.rfm_monetary.finish()),
            Arc::new(self.repeat.finish()),
            Arc::new(self.recency.finish()),
            Arc::new(self.age.finish()),
            Arc::new(self.mean_value.finish()),
            Arc::new(self.lines.finish()),
        ];
        self.rows = 0;
        RecordBatch::try_new(self.schema.clone(), columns).map_err(|e| Error::io("customer states", e))
    }
}

/// The repeat-purchase summaries of a batch of [`state_schema`].
pub fn summaries_of(states: &RecordBatch, unit: TimeUnit) -> Result<Vec<Summary>, Error> {
    let repeat = ints(states, "repeat_purchases")?;
    let recency = reals(states, &format!("bgnbd_recency_{}", unit.name()))?;
    let age = reals(states, &format!("bgnbd_age_{}", unit.name()))?;
    let mean = reals(states, "repeat_mean_value")?;
    Ok((0..states.num_rows())
        .map(|i| Summary {
            frequency: repeat.value(i) as u32,
            recency: recency.value(i),
            age: age.value(i),
            monetary: mean.value(i),
        })
        .collect())
}

/// The schema of `profiles.parquet` for `settings`.
pub fn profile_schema(settings: &ModelSettings) -> SchemaRef {
    let state = state_schema(settings.unit);
    let f = |i: usize| state.field(i).clone();
    let mut fields: Vec<Field> = (0..16).map(f).collect();
    fields.push(Field::new("r_score", DataType::UInt8, false));
    fields.push(Field::new("f_score", DataType::UInt8, false));
    fields.push(Field::new("m_score", DataType::UInt8, false));
    fields.push(Field::new("segment", DataType::Utf8, false));
    fields.extend((16..19).map(f));
    fields.push(Field::new("p_alive", DataType::Float64, false));
    fields.push(Field::new(format!("expected_purchases_{}_days", settings.horizon_days), DataType::Float64, false));
    fields.push(Field::new("expected_spend_cents", DataType::Int64, false));
    fields.push(Field::new(format!("clv_{}_months_cents", settings.clv_months), DataType::Int64, false));
    Arc::new(Schema::new(fields))
}

/// The profiles of a batch of customer states, given their RFM scores and model scores (in
/// the batch's order): the one assembler of `profiles.parquet`'s rows.
pub fn profile_batch(
    states: &RecordBatch,
    rfm: &[RfmScore],
    scores: &[Scores],
    settings: &ModelSettings,
) -> Result<RecordBatch, Error> {
    let cents = |v: f64| (v * 100.0).round() as i64;
    let mut columns: Vec<ArrayRef> = (0..16).map(|i| states.column(i).clone()).collect();
    columns.push(Arc::new(UInt8Array::from_iter_values(rfm.iter().map(|s| s.r))));
    columns.push(Arc::new(UInt8Array::from_iter_values(rfm.iter().map(|s| s.f))));
    columns.push(Arc::new(UInt8Array::from_iter_values(rfm.iter().map(|s| s.m))));
    columns.push(Arc::new(StringArray::from_iter_values(rfm.iter().map(|s| s.segment.name()))));
    columns.extend((16..19).map(|i| states.column(i).clone()));
    columns.push(Arc::new(arrow_array::Float64Array::from_iter_values(scores.iter().map(|s| s.p_alive))));
    columns.push(Arc::new(arrow_array::Float64Array::from_iter_values(scores.iter().map(|s| s.expected_purchases))));
    columns.push(Arc::new(arrow_array::Int64Array::from_iter_values(scores.iter().map(|s| cents(s.expected_spend)))));
    columns.push(Arc::new(arrow_array::Int64Array::from_iter_values(scores.iter().map(|s| cents(s.clv)))));
    RecordBatch::try_new(profile_schema(settings), columns).map_err(|e| Error::io("profiles", e))
}

/// The profiles of states that carry their RFM scores (`r_score`, `f_score`, `m_score`
/// columns, from the population's ranks), scored with the fitted models.
pub fn score_states(
    states: &RecordBatch,
    bgnbd: &BgNbd,
    gamma_gamma: &GammaGamma,
    settings: &ModelSettings,
) -> Result<RecordBatch, Error> {
    let bins = settings.rfm.bins.max(2);
    let (r, f, m) = (small(states, "r_score")?, small(states, "f_score")?, small(states, "m_score")?);
    let rfm: Vec<RfmScore> = (0..states.num_rows())
        .map(|i| {
            let (r, f, m) = (r.value(i), f.value(i), m.value(i));
            RfmScore { r, f, m, segment: Segment::of(r, f, m, bins) }
        })
        .collect();
    let summaries = summaries_of(states, settings.unit)?;
    let scores = crate::build::score_all(bgnbd, gamma_gamma, &summaries, settings);
    profile_batch(states, &rfm, &scores, settings)
}

/// Folds receipt lines sorted by customer into customer states, batch after batch.
pub struct ProfilePass {
    as_of_day: i32,
    window_start_day: i32,
    unit: TimeUnit,
    tz: jiff::tz::TimeZone,
    current: Option<String>,
    receipts: HashMap<u64, ReceiptAgg>,
    stores: Vec<String>,
    store_index: HashMap<String, u32>,
    out: StateColumns,
    lines: u64,
}

impl ProfilePass {
    /// A pass as of `as_of_day` (days since 1970-01-01, inclusive) with the settings' RFM
    /// window and time unit; hours are read in `tz`, the chain's zone.
    pub fn new(as_of_day: i32, settings: &ModelSettings, tz: jiff::tz::TimeZone) -> ProfilePass {
        ProfilePass {
            as_of_day,
            window_start_day: as_of_day - settings.rfm_window_days as i32 + 1,
            unit: settings.unit,
            tz,
            current: None,
            receipts: HashMap::default(),
            stores: Vec::new(),
            store_index: HashMap::default(),
            out: StateColumns::new(settings.unit),
            lines: 0,
        }
    }

    /// Card lines read up to the as-of day.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    fn close_customer(&mut self) {
        let Some(key) = self.current.take() else { return };
        let mut receipts: Vec<(u64, ReceiptAgg)> = self.receipts.drain().collect();
        if receipts.is_empty() {
            return;
        }
        // Day then receipt hash: the order the month-ordered build folds them in.
        receipts.sort_unstable_by_key(|(h, r)| (r.day, *h));
        let receipts: Vec<ReceiptAgg> = receipts.into_iter().map(|(_, r)| r).collect();
        let mut state = CustomerState::default();
        for day in receipts.chunk_by(|a, b| a.day == b.day) {
            features::fold_day(&mut state, day, self.window_start_day);
        }
        self.out.append(&key, &state, &self.stores, self.as_of_day, self.unit);
    }

    /// Reads a batch of lines ([`PROFILE_INPUT_COLUMNS`]) and returns the states of the
    /// customers it finished (all but the last one, which may go on in the next batch).
    pub fn push(&mut self, b: &RecordBatch) -> Result<RecordBatch, Error> {
        let date = dates(b, "local_date")?;
        let key = text(b, "customer_key")?;
        let rid = text(b, "receipt_id")?;
        let (net, disc) = (ints(b, "net_amount_cents")?, ints(b, "discount_cents")?);
        let (store, channel) = (text(b, "store_id")?, text(b, "channel")?);
        let ts = column(b, "ts")?
            .as_primitive_opt::<TimestampMicrosecondType>()
            .ok_or_else(|| input("column ts is not a timestamp in microseconds"))?;
        for i in 0..b.num_rows() {
            let day = date.value(i);
            if day > self.as_of_day || key.is_null(i) {
                continue;
            }
            if starts_customer(self.current.as_deref(), key.value(i))? {
                self.close_customer();
                self.current = Some(key.value(i).to_string());
            }
            self.lines += 1;
            let agg = self.receipts.entry(features::receipt_hash(rid.value(i))).or_insert_with(|| {
                let store = features::intern(&mut self.store_index, &mut self.stores, store.value(i));
                let channel = features::CHANNELS.iter().position(|&ch| ch == channel.value(i)).unwrap_or(0) as u8;
                let hour = features::local_hour(ts.value(i), &self.tz);
                ReceiptAgg { day, customer: 0, store, channel, hour, lines: 0, net_cents: 0, discount_cents: 0 }
            });
            agg.lines += 1;
            agg.net_cents += net.value(i);
            agg.discount_cents += disc.value(i);
        }
        self.out.finish()
    }

    /// The last customer's state, once every batch was pushed.
    pub fn finish(&mut self) -> Result<RecordBatch, Error> {
        self.close_customer();
        self.out.finish()
    }
}

/// Finds every customer's habits in receipt lines sorted by customer, batch after batch.
pub struct HabitPass {
    catalogue: Catalogue,
    as_of_day: i32,
    settings: HabitSettings,
    current: Option<String>,
    records: Vec<LineRecord>,
    skus: Vec<String>,
    sku_index: HashMap<String, u32>,
    category_of_item: Vec<u32>,
    out: HabitColumns,
}

impl HabitPass {
    /// A pass as of `as_of_day` (inclusive) over the products of `catalogue`.
    pub fn new(catalogue: Catalogue, as_of_day: i32, settings: &HabitSettings) -> HabitPass {
        HabitPass {
            catalogue,
            as_of_day,
            settings: settings.clone(),
            current: None,
            records: Vec::new(),
            skus: Vec::new(),
            sku_index: HashMap::default(),
            category_of_item: Vec::new(),
            out: HabitColumns::new(),
        }
    }

    fn close_customer(&mut self) {
        let Some(key) = self.current.take() else { return };
        if self.records.is_empty() {
            return;
        }
        self.records.sort_unstable_by_key(|r| (r.item, r.day, r.net_cents));
        let habits = habits::customer_habits(&self.records, &self.category_of_item, &self.settings);
        self.records.clear();
        self.out.append(&key, habits, &self.skus, &self.catalogue, self.as_of_day);
    }

    /// Reads a batch of lines ([`HABIT_INPUT_COLUMNS`]) and returns the habit rows of the
    /// customers it finished.
    pub fn push(&mut self, b: &RecordBatch) -> Result<RecordBatch, Error> {
        let date = dates(b, "local_date")?;
        let key = text(b, "customer_key")?;
        let sku = text(b, "sku")?;
        let net = ints(b, "net_amount_cents")?;
        for i in 0..b.num_rows() {
            let day = date.value(i);
            if day > self.as_of_day || key.is_null(i) {
                continue;
            }
            if starts_customer(self.current.as_deref(), key.value(i))? {
                self.close_customer();
                self.current = Some(key.value(i).to_string());
            }
            let item = features::intern(&mut self.sku_index, &mut self.skus, sku.value(i));
            if item as usize == self.category_of_item.len() {
                self.category_of_item.push(self.catalogue.category_of(sku.value(i)));
            }
            self.records.push(LineRecord { customer: 0, item, day, net_cents: net.value(i) });
        }
        self.out.finish()
    }

    /// The last customer's habits, once every batch was pushed.
    pub fn finish(&mut self) -> Result<RecordBatch, Error> {
        self.close_customer();
        self.out.finish()
    }

    /// Counts over every habit row returned so far.
    pub fn counts(&self) -> habits::HabitCounts {
        self.out.counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Date32Array, Int64Array, TimestampMicrosecondArray};

    fn lines(rows: &[(&str, &str, i32, i64, &str)]) -> RecordBatch {
        // (customer, receipt, day, net cents, store)
        let schema = Arc::new(Schema::new(vec![
            Field::new("local_date", DataType::Date32, false),
            Field::new("customer_key", DataType::Utf8, true),
            Field::new("receipt_id", DataType::Utf8, false),
            Field::new("net_amount_cents", DataType::Int64, false),
            Field::new("discount_cents", DataType::Int64, false),
            Field::new("store_id", DataType::Utf8, false),
            Field::new("channel", DataType::Utf8, false),
            Field::new("ts", DataType::Timestamp(arrow_schema::TimeUnit::Microsecond, None), false),
            Field::new("sku", DataType::Utf8, false),
        ]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Date32Array::from_iter_values(rows.iter().map(|r| r.2))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.3))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|_| 0))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.4))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|_| "store"))),
            Arc::new(TimestampMicrosecondArray::from_iter_values(
                rows.iter().map(|r| i64::from(r.2) * 86_400_000_000 + 10 * 3_600_000_000),
            )),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| if r.3 > 500 { "coffee" } else { "milk" }))),
        ];
        RecordBatch::try_new(schema, columns).unwrap()
    }

    #[test]
    fn a_customer_straddling_batches_is_one_row_whatever_the_batch_size() {
        let rows = [
            ("a", "r1", 100, 300, "s1"),
            ("a", "r1", 100, 200, "s1"),
            ("a", "r2", 107, 900, "s2"),
            ("a", "r3", 114, 400, "s2"),
            ("b", "r4", 101, 700, "s1"),
            ("b", "r5", 130, 100, "s1"),
        ];
        let settings = ModelSettings::default();
        let run = |size: usize| {
            let mut pass = ProfilePass::new(120, &settings, jiff::tz::TimeZone::UTC);
            let mut out = Vec::new();
            for chunk in rows.chunks(size) {
                out.push(pass.push(&lines(chunk)).unwrap());
            }
            out.push(pass.finish().unwrap());
            arrow_select::concat::concat_batches(&state_schema(settings.unit), &out).unwrap()
        };
        let whole = run(rows.len());
        for size in 1..rows.len() {
            assert_eq!(run(size), whole, "batches of {size}");
        }
        assert_eq!(whole.num_rows(), 2);
        assert_eq!(text(&whole, "customer_key").unwrap().value(0), "a");
        assert_eq!(ints(&whole, "receipts").unwrap().values(), &[3, 1], "b's day 130 is after the as-of day");
        assert_eq!(ints(&whole, "spend_cents").unwrap().values(), &[1800, 700]);
        assert_eq!(ints(&whole, "repeat_purchases").unwrap().values(), &[2, 0]);
        // a's repeat days spent 900 and 400: a mean of 6.50.
        assert_eq!(reals(&whole, "repeat_mean_value").unwrap().value(0), 6.5);
        // Two receipts in s2, one in s1.
        assert_eq!(text(&whole, "preferred_store_id").unwrap().value(0), "s2");
        assert_eq!(small(&whole, "preferred_hour").unwrap().value(0), 10);
    }

    #[test]
    fn unsorted_lines_are_refused() {
        let rows = [("b", "r1", 100, 300, "s1"), ("a", "r2", 100, 300, "s1")];
        let mut pass = ProfilePass::new(120, &ModelSettings::default(), jiff::tz::TimeZone::UTC);
        let e = pass.push(&lines(&rows)).unwrap_err();
        assert!(e.to_string().contains("not sorted by customer_key"), "{e}");
    }

    #[test]
    fn habits_straddling_batches_equal_one_batch() {
        let rows: Vec<(&str, &str, i32, i64, &str)> =
            (0..8).map(|i| ("a", "r", 100 + 7 * i, if i % 2 == 0 { 600 } else { 300 }, "s1")).collect();
        let products = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("sku", DataType::Utf8, false),
                Field::new("name", DataType::Utf8, true),
                Field::new("category", DataType::Utf8, true),
            ])),
            vec![
                Arc::new(StringArray::from(vec!["coffee", "milk"])),
                Arc::new(StringArray::from(vec!["Coffee", "Milk"])),
                Arc::new(StringArray::from(vec!["hot drinks", "dairy"])),
            ],
        )
        .unwrap();
        let run = |size: usize| {
            let catalogue = Catalogue::from_batches(std::slice::from_ref(&products)).unwrap();
            let mut pass = HabitPass::new(catalogue, 200, &HabitSettings::default());
            let mut out = Vec::new();
            for chunk in rows.chunks(size) {
                out.push(pass.push(&lines(chunk)).unwrap());
            }
            out.push(pass.finish().unwrap());
            arrow_select::concat::concat_batches(&habits::habits_schema(), &out).unwrap()
        };
        let whole = run(rows.len());
        assert_eq!(run(3), whole);
        // Two categories, each with its product (4 purchase days every 14 days, visits
        // every 7: the need lies between 7 and 14 days).
        assert_eq!(whole.num_rows(), 4);
        assert_eq!(text(&whole, "category").unwrap().value(0), "hot drinks");
        assert_eq!(reals(&whole, "cycle_days").unwrap().value(0), 10.5);
    }
}
