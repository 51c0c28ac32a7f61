//! One streaming pass over the lake's receipt lines that folds every customer's purchases
//! into a fixed-size state: first and last purchase day, purchase days, receipts, spend,
//! discounts, spend in the RFM window, and the store and channel they use most.
//!
//! The lake is partitioned by month; months are read in calendar order and each month's
//! receipts are folded in day order, so a customer's state never needs their history again.
//! Memory is one small record per customer plus one month of receipts, whatever the number
//! of lines.

use crate::error::Error;
use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Int64Type, TimestampMicrosecondType};
use foldhash::HashMap;
use std::collections::BTreeMap;
use unico_core::day::{date_of, weekday as weekday_of};
use unico_lake::lake::Month;
use unico_lake::{Dataset, Lake};

/// Channels of the canonical schema, in the order of [`CustomerState::channel_receipts`].
pub const CHANNELS: [&str; 3] = ["store", "ecommerce", "app"];

/// What the pass keeps per customer.
#[derive(Debug, Clone, Default)]
pub struct CustomerState {
    /// First purchase day (days since 1970-01-01, chain's time zone).
    pub first_day: i32,
    /// Last purchase day.
    pub last_day: i32,
    /// Days with a purchase.
    pub purchase_days: u32,
    /// Receipts.
    pub receipts: u32,
    /// Receipt lines.
    pub lines: u64,
    /// Net spend, cents.
    pub spend_cents: i64,
    /// Net spend of the first purchase day, cents (Gamma-Gamma leaves it out).
    pub first_day_spend_cents: i64,
    /// Discounts received, cents.
    pub discount_cents: i64,
    /// Purchase days inside the RFM window.
    pub window_days: u32,
    /// Net spend inside the RFM window, cents.
    pub window_spend_cents: i64,
    /// Receipts per store (store index into [`Features::stores`]).
    pub store_receipts: Vec<(u32, u32)>,
    /// Receipts per channel, in [`CHANNELS`] order.
    pub channel_receipts: [u32; 3],
    /// Receipts per weekday, Monday first (chain's time zone).
    pub weekday_receipts: [u32; 7],
    /// Receipts per hour of the day (chain's time zone).
    pub hour_receipts: [u32; 24],
}

impl CustomerState {
    /// The store with the most receipts (first seen wins ties).
    pub fn preferred_store(&self) -> Option<u32> {
        let mut best: Option<(u32, u32)> = None;
        for &(s, n) in &self.store_receipts {
            if best.is_none_or(|b| n > b.1) {
                best = Some((s, n));
            }
        }
        best.map(|b| b.0)
    }

    /// The channel with the most receipts.
    pub fn preferred_channel(&self) -> &'static str {
        let i = (0..3).max_by_key(|&i| (self.channel_receipts[i], std::cmp::Reverse(i))).unwrap_or(0);
        CHANNELS[i]
    }

    /// The weekday with the most receipts (Monday first wins ties).
    pub fn preferred_weekday(&self) -> &'static str {
        WEEKDAYS[argmax(&self.weekday_receipts)]
    }

    /// The hour of the day (0–23) with the most receipts (earliest wins ties).
    pub fn preferred_hour(&self) -> u8 {
        argmax(&self.hour_receipts) as u8
    }
}

/// Weekday names, Monday first, as profiles write them.
pub const WEEKDAYS: [&str; 7] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];

fn argmax(counts: &[u32]) -> usize {
    let mut best = 0;
    for (i, &n) in counts.iter().enumerate() {
        if n > counts[best] {
            best = i;
        }
    }
    best
}

/// Every customer's state after the pass.
#[derive(Debug, Default)]
pub struct Features {
    /// Pseudonymous customer keys, index-aligned with `customers`.
    pub keys: Vec<String>,
    /// Per-customer state.
    pub customers: Vec<CustomerState>,
    /// Store ids by index.
    pub stores: Vec<String>,
    /// Lines read (with or without a card, up to the as-of day).
    pub lines_read: u64,
}

/// One receipt of one customer, summed over its lines.
pub(crate) struct ReceiptAgg {
    pub(crate) day: i32,
    pub(crate) customer: u32,
    pub(crate) store: u32,
    pub(crate) channel: u8,
    pub(crate) hour: u8,
    pub(crate) lines: u32,
    pub(crate) net_cents: i64,
    pub(crate) discount_cents: i64,
}

/// Reads the receipt lines up to `as_of_day` (inclusive) and returns each customer's state;
/// `window_start_day` starts the RFM window; hours are read in `tz`, the chain's zone.
/// `progress(lines done, lines total)` is called after each file.
pub fn compute(
    lake: &Lake,
    as_of_day: i32,
    window_start_day: i32,
    tz: &jiff::tz::TimeZone,
    progress: &dyn Fn(u64, u64),
) -> Result<Features, Error> {
    let mut by_month: BTreeMap<Month, Vec<std::path::PathBuf>> = BTreeMap::new();
    for f in lake.parquet_files(Dataset::Receipts)? {
        let month = f.parent().and_then(|d| d.file_name()).and_then(|n| Month::from_dir_name(&n.to_string_lossy()));
        if let Some(m) = month {
            by_month.entry(m).or_default().push(f);
        }
    }
    let as_of = date_of(as_of_day);
    by_month.retain(|m, _| *m <= Month::of(as_of));
    let total: u64 = by_month.values().flatten().map(|f| rows_of(f)).sum();

    let mut out = Features::default();
    let mut index: HashMap<String, u32> = HashMap::default();
    let mut store_index: HashMap<String, u32> = HashMap::default();
    let mut done = 0u64;
    let months: Vec<&Vec<std::path::PathBuf>> = by_month.values().collect();
    // One month of receipts with a card, keyed by (customer, receipt id hash).
    let mut receipts: HashMap<(u32, u64), ReceiptAgg> = HashMap::default();
    read_months(&months, &COLUMNS, |event| {
        let b = match event {
            Event::Batch(b) => b,
            Event::FileDone => {
                progress(done, total);
                return Ok(());
            }
            Event::MonthDone => {
                fold_month(std::mem::take(&mut receipts), &mut out.customers, window_start_day);
                return Ok(());
            }
        };
        let date = b.column(0).as_primitive::<Date32Type>();
        let key = b.column(1).as_string::<i32>();
        let rid = b.column(2).as_string::<i32>();
        let net = b.column(3).as_primitive::<Int64Type>();
        let disc = b.column(4).as_primitive::<Int64Type>();
        let store = b.column(5).as_string::<i32>();
        let channel = b.column(6).as_string::<i32>();
        let ts = b.column(7).as_primitive::<TimestampMicrosecondType>();
        done += b.num_rows() as u64;
        // Lines of one receipt are adjacent: the customer and receipt of the previous line
        // are reused without hashing when they repeat.
        let mut last: Option<(usize, u32, u64)> = None;
        for i in 0..b.num_rows() {
            let day = date.value(i);
            if day > as_of_day || key.is_null(i) {
                continue;
            }
            out.lines_read += 1;
            let slot = match last {
                Some((j, c, r)) if rid.value(j) == rid.value(i) && key.value(j) == key.value(i) => (c, r),
                _ => {
                    let c = intern(&mut index, &mut out.keys, key.value(i));
                    if c as usize == out.customers.len() {
                        out.customers.push(CustomerState::default());
                    }
                    (c, receipt_hash(rid.value(i)))
                }
            };
            last = Some((i, slot.0, slot.1));
            let c = slot.0;
            let agg = receipts.entry(slot).or_insert_with(|| {
                let store = intern(&mut store_index, &mut out.stores, store.value(i));
                let channel = CHANNELS.iter().position(|&ch| ch == channel.value(i)).unwrap_or(0) as u8;
                let hour = local_hour(ts.value(i), tz);
                ReceiptAgg { day, customer: c, store, channel, hour, lines: 0, net_cents: 0, discount_cents: 0 }
            });
            agg.lines += 1;
            agg.net_cents += net.value(i);
            agg.discount_cents += disc.value(i);
        }
        Ok(())
    })?;
    Ok(out)
}

/// What the reader thread of [`read_months`] hands over.
pub(crate) enum Event {
    /// A batch of the current file.
    Batch(arrow_array::RecordBatch),
    /// The current file is finished.
    FileDone,
    /// Every file of the current month is finished.
    MonthDone,
}

/// Reads the files of `months` (in order) on a reader thread that decodes Parquet while
/// `on` runs on this one; a bounded channel keeps at most a few batches in flight.
pub(crate) fn read_months(
    months: &[&Vec<std::path::PathBuf>],
    columns: &[&str],
    mut on: impl FnMut(Event) -> Result<(), Error>,
) -> Result<(), Error> {
    enum Msg {
        Event(Event),
        Failed(unico_lake::Error),
    }
    let (tx, rx) = std::sync::mpsc::sync_channel::<Msg>(4);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            for files in months {
                for file in files.iter() {
                    let r = unico_lake::read::for_each_batch(file, columns, |b| {
                        tx.send(Msg::Event(Event::Batch(b)))
                            .map_err(|_| unico_lake::Error::io("reader", std::io::Error::other("stopped")))
                    });
                    if let Err(e) = r {
                        let _ = tx.send(Msg::Failed(e));
                        return;
                    }
                    if tx.send(Msg::Event(Event::FileDone)).is_err() {
                        return;
                    }
                }
                if tx.send(Msg::Event(Event::MonthDone)).is_err() {
                    return;
                }
            }
        });
        for msg in rx {
            match msg {
                Msg::Event(e) => on(e)?,
                Msg::Failed(e) => return Err(e.into()),
            }
        }
        Ok(())
    })
}

const COLUMNS: [&str; 8] =
    ["local_date", "customer_key", "receipt_id", "net_amount_cents", "discount_cents", "store_id", "channel", "ts"];

/// Folds one month of receipts into the customers' states, customer by customer in day order.
fn fold_month(receipts: HashMap<(u32, u64), ReceiptAgg>, customers: &mut [CustomerState], window_start_day: i32) {
    // Ordered by customer, day and receipt: the hash map's order changes from one process
    // to the next, and ties (the store a customer uses most) must not.
    let mut keyed: Vec<(u64, ReceiptAgg)> = receipts.into_iter().map(|((_, h), r)| (h, r)).collect();
    keyed.sort_unstable_by_key(|(h, r)| (r.customer, r.day, *h));
    let month: Vec<ReceiptAgg> = keyed.into_iter().map(|(_, r)| r).collect();
    for day in month.chunk_by(|a, b| a.customer == b.customer && a.day == b.day) {
        fold_day(&mut customers[day[0].customer as usize], day, window_start_day);
    }
}

/// Folds one customer-day's receipts (in receipt-hash order) into the customer's state; days
/// come in calendar order. The one fold of both the month-ordered build and the
/// customer-sorted passes of [`crate::passes`].
pub(crate) fn fold_day(st: &mut CustomerState, receipts: &[ReceiptAgg], window_start_day: i32) {
    let day = receipts[0].day;
    let mut day_net = 0i64;
    for r in receipts {
        st.receipts += 1;
        st.lines += u64::from(r.lines);
        st.spend_cents += r.net_cents;
        st.discount_cents += r.discount_cents;
        day_net += r.net_cents;
        st.channel_receipts[usize::from(r.channel)] += 1;
        st.weekday_receipts[weekday_of(r.day)] += 1;
        st.hour_receipts[usize::from(r.hour)] += 1;
        match st.store_receipts.iter_mut().find(|s| s.0 == r.store) {
            Some(s) => s.1 += 1,
            None => st.store_receipts.push((r.store, 1)),
        }
    }
    if st.purchase_days == 0 {
        st.first_day = day;
        st.first_day_spend_cents = day_net;
    }
    st.purchase_days += 1;
    st.last_day = day;
    if day >= window_start_day {
        st.window_days += 1;
        st.window_spend_cents += day_net;
    }
}

/// The index of `value` in `values`, appending it the first time it is seen.
pub fn intern(index: &mut HashMap<String, u32>, values: &mut Vec<String>, value: &str) -> u32 {
    if let Some(&i) = index.get(value) {
        return i;
    }
    let i = values.len() as u32;
    index.insert(value.to_string(), i);
    values.push(value.to_string());
    i
}

/// The hour of the day of a UTC instant (microseconds) in `tz`.
pub(crate) fn local_hour(micros: i64, tz: &jiff::tz::TimeZone) -> u8 {
    let Ok(ts) = jiff::Timestamp::from_microsecond(micros) else { return 0 };
    let offset = tz.to_offset(ts).seconds() as i64;
    ((micros.div_euclid(1_000_000) + offset).rem_euclid(86_400) / 3600) as u8
}

pub(crate) fn receipt_hash(s: &str) -> u64 {
    use std::hash::BuildHasher;
    foldhash::quality::FixedState::with_seed(0x0075_6e69_636f).hash_one(s)
}

pub(crate) use unico_lake::read::rows_of;
