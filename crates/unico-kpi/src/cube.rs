//! One streaming pass over the lake's receipt lines that folds them into a cube of additive
//! sales measures and distinct-customer counts per period and group (store, channel,
//! segment), for cardholders and for purchases without a card apart.
//!
//! Months are independent for sales: each month is read and folded on its own thread (one per
//! core), and the main thread merges the months in calendar order, which is what customer
//! counts need — a customer is *new* in the period of their first purchase ever and
//! *retained* when they also bought in the period before. Months before the range are read
//! for two columns only (day and customer), to learn first purchases. Memory is the cube, one
//! entry per customer and group seen, and one month per core in flight, whatever the number of
//! lines.
//!
//! Customers are told apart by a 64-bit hash of their pseudonymous key: with a million
//! customers the chance that two share a hash is about 3 in 100 million.

use crate::days::Grain;
use crate::error::Error;
use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, Int64Type};
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use unico_lake::lake::Month;
use unico_lake::{Dataset, Lake};

/// The canonical purchase channels, in index order.
pub const CHANNELS: [&str; 3] = ["store", "ecommerce", "app"];

/// A group's member "not split" (every store, channel or segment together).
pub const ALL: u16 = u16::MAX;

/// Which dimensions rows are split by, besides time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Split {
    /// One row per store.
    pub store: bool,
    /// One row per purchase channel.
    pub channel: bool,
    /// One row per RFM segment (from the model; purchases without a card form their own).
    pub segment: bool,
}

/// A group of rows: indexes into the cube's stores, [`CHANNELS`] and segments, or [`ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Group {
    /// Store index.
    pub store: u16,
    /// Channel index.
    pub channel: u16,
    /// Segment index.
    pub segment: u16,
}

impl Group {
    /// Every store, channel and segment together.
    pub const TOTAL: Group = Group { store: ALL, channel: ALL, segment: ALL };
}

/// Additive sales measures of one period and group, for one side (card or no card).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Sales {
    /// Distinct receipts.
    pub receipts: u64,
    /// Receipt lines.
    pub lines: u64,
    /// Net revenue (what was paid), cents.
    pub revenue_cents: i64,
    /// Discounts given, cents.
    pub discount_cents: i64,
    /// Net revenue of the lines whose product has a unit cost, cents.
    pub costed_revenue_cents: i64,
    /// Cost of goods of those lines (quantity × unit cost), cents.
    pub cost_cents: i64,
}

impl Sales {
    fn add(&mut self, o: &Sales) {
        self.receipts += o.receipts;
        self.lines += o.lines;
        self.revenue_cents += o.revenue_cents;
        self.discount_cents += o.discount_cents;
        self.costed_revenue_cents += o.costed_revenue_cents;
        self.cost_cents += o.cost_cents;
    }

    /// Margin of the costed lines, cents.
    pub fn margin_cents(&self) -> i64 {
        self.costed_revenue_cents - self.cost_cents
    }
}

/// One period and group of the cube.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Cell {
    /// Purchases with a loyalty card (or e-shop account).
    pub card: Sales,
    /// Purchases without.
    pub no_card: Sales,
    /// Cardholders with at least one purchase.
    pub active: u64,
    /// Of them, those whose first purchase ever is in this period.
    pub new: u64,
    /// Of them, those who also bought in the previous period (in the same group).
    pub retained: u64,
}

impl Cell {
    /// Adds another cell's measures.
    pub fn add(&mut self, o: &Cell) {
        self.card.add(&o.card);
        self.no_card.add(&o.no_card);
        self.active += o.active;
        self.new += o.new;
        self.retained += o.retained;
    }
}

/// RFM segments of the cardholders, from the model.
#[derive(Debug, Clone, Default)]
pub struct Segments {
    /// Segment names by index.
    pub names: Vec<String>,
    /// Segment index by [`key_hash`] of the customer key.
    pub of: HashMap<u64, u16>,
}

impl Segments {
    /// Index of a segment name, added if new.
    pub fn intern(&mut self, name: &str) -> u16 {
        intern_name(&mut self.names, name)
    }
}

/// The index of `name` in a short list of names (stores, segments), added if new.
pub fn intern_name(names: &mut Vec<String>, name: &str) -> u16 {
    match names.iter().position(|n| n == name) {
        Some(i) => i as u16,
        None => {
            names.push(name.to_string());
            (names.len() - 1) as u16
        }
    }
}

/// The segment of purchases without a card.
pub const NO_CARD_SEGMENT: &str = "no card";
/// The segment of cardholders the model has not scored yet.
pub const UNSCORED_SEGMENT: &str = "not scored";

/// The 64-bit hash customers are told apart by.
pub fn key_hash(key: &str) -> u64 {
    use std::hash::BuildHasher;
    foldhash::quality::FixedState::with_seed(0x6b70_6900_756e_6963).hash_one(key)
}

/// What to compute.
pub struct Query<'a> {
    /// First day reported (day number, chain's zone).
    pub from: i32,
    /// Last day reported, inclusive.
    pub to: i32,
    /// Period length.
    pub grain: Grain,
    /// Dimensions.
    pub split: Split,
    /// Unit cost by sku, cents (for margins).
    pub costs: &'a HashMap<String, i64>,
    /// Segments by customer, needed when splitting by segment.
    pub segments: &'a Segments,
    /// Threads (at least one).
    pub threads: usize,
}

/// The folded cube.
#[derive(Debug, Clone, Default)]
pub struct Cube {
    /// The first day of the first period held: the period before the one `from` falls in,
    /// so that the first reported period has a previous one to compare with.
    pub first_period: i32,
    /// Cells by (period start, group).
    pub cells: BTreeMap<(i32, Group), Cell>,
    /// Store ids by index.
    pub stores: Vec<String>,
    /// Segment names by index (with [`NO_CARD_SEGMENT`] and [`UNSCORED_SEGMENT`] added).
    pub segments: Vec<String>,
    /// Lines read in the periods held.
    pub lines: u64,
    /// First and last day with data anywhere in the lake up to `to`.
    pub data_days: Option<(i32, i32)>,
}

/// A month's fold, before merging.
struct Part {
    cells: HashMap<(i32, Group), Cell>,
    /// (customer, day, group) of every purchase day, sorted, distinct.
    visits: Vec<(u64, i32, Group)>,
    stores: Vec<String>,
    lines: u64,
    days: Option<(i32, i32)>,
}

const COLUMNS: [&str; 9] = [
    "local_date",
    "customer_key",
    "receipt_id",
    "store_id",
    "channel",
    "sku",
    "quantity",
    "net_amount_cents",
    "discount_cents",
];

/// The receipt-line files of each month up to the one `to` falls in, in calendar order.
pub fn months_up_to(lake: &Lake, to: i32) -> Result<Vec<(Month, Vec<PathBuf>)>, Error> {
    let mut by_month: BTreeMap<Month, Vec<PathBuf>> = BTreeMap::new();
    for f in lake.parquet_files(Dataset::Receipts)? {
        let month = f.parent().and_then(|d| d.file_name()).and_then(|n| Month::from_dir_name(&n.to_string_lossy()));
        if let Some(m) = month {
            by_month.entry(m).or_default().push(f);
        }
    }
    let last = Month::of(crate::days::date_of(to));
    Ok(by_month.into_iter().filter(|(m, _)| *m <= last).collect())
}

/// Rows of a Parquet file, from its footer.
pub fn rows_of(path: &std::path::Path) -> u64 {
    use parquet::file::reader::FileReader;
    std::fs::File::open(path)
        .ok()
        .and_then(|f| parquet::file::reader::SerializedFileReader::new(f).ok())
        .map(|r| r.metadata().file_metadata().num_rows() as u64)
        .unwrap_or(0)
}

/// Folds the lake into the cube. `progress(lines done, lines total)` is called after each
/// month.
pub fn compute(lake: &Lake, q: &Query<'_>, progress: &(dyn Fn(u64, u64) + Sync)) -> Result<Cube, Error> {
    let first_period = q.grain.previous(q.grain.start(q.from));
    let months = months_up_to(lake, q.to)?;
    let total: u64 = months.iter().flat_map(|(_, fs)| fs.iter()).map(|f| rows_of(f)).sum();
    let mut segments = q.segments.names.clone();
    let no_card = segments.len() as u16;
    segments.push(NO_CARD_SEGMENT.into());
    let unscored = segments.len() as u16;
    segments.push(UNSCORED_SEGMENT.into());
    let ctx = Ctx { q, first_period, no_card, unscored };

    let mut cube = Cube { first_period, segments, ..Default::default() };
    let mut store_index: HashMap<String, u16> = HashMap::new();
    let mut first_day: HashMap<u64, i32> = HashMap::new();
    let mut last_period: HashMap<(u64, Group), i32> = HashMap::new();
    let mut done = 0u64;

    let threads = q.threads.max(1);
    let next = AtomicUsize::new(0);
    // Months merged so far: a worker waits before reading a month more than `ahead` beyond it,
    // which bounds the months held in memory.
    let merged = (Mutex::new(0usize), Condvar::new());
    let ahead = threads * 2;
    let (tx, rx) = std::sync::mpsc::channel::<(usize, Result<Part, Error>)>();
    std::thread::scope(|scope| -> Result<(), Error> {
        for _ in 0..threads {
            let tx = tx.clone();
            let (next, merged, months, ctx) = (&next, &merged, &months, &ctx);
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= months.len() {
                        return;
                    }
                    {
                        let (lock, cv) = merged;
                        let mut m = lock.lock().expect("not poisoned");
                        while i >= *m + ahead {
                            m = cv.wait(m).expect("not poisoned");
                        }
                    }
                    let (month, files) = &months[i];
                    let part = fold_month(*month, files, ctx);
                    let failed = part.is_err();
                    if tx.send((i, part)).is_err() || failed {
                        return;
                    }
                }
            });
        }
        drop(tx);
        let mut pending: BTreeMap<usize, Part> = BTreeMap::new();
        let mut want = 0usize;
        let mut result = Ok(());
        for (i, part) in rx.iter() {
            match part {
                Ok(p) => {
                    pending.insert(i, p);
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
            while let Some(p) = pending.remove(&want) {
                done += p.lines;
                merge(&mut cube, p, &ctx, &mut store_index, &mut first_day, &mut last_period);
                want += 1;
                let (lock, cv) = &merged;
                *lock.lock().expect("not poisoned") = want;
                cv.notify_all();
                progress(done.min(total), total);
            }
        }
        if result.is_err() {
            // Let waiting workers run out.
            next.store(usize::MAX / 2, Ordering::SeqCst);
            let (lock, cv) = &merged;
            *lock.lock().expect("not poisoned") = usize::MAX / 2;
            cv.notify_all();
        }
        result
    })?;
    cube.stores = {
        let mut s = vec![String::new(); store_index.len()];
        for (name, i) in store_index {
            s[i as usize] = name;
        }
        s
    };
    Ok(cube)
}

struct Ctx<'a> {
    q: &'a Query<'a>,
    first_period: i32,
    no_card: u16,
    unscored: u16,
}

fn fold_month(month: Month, files: &[PathBuf], ctx: &Ctx<'_>) -> Result<Part, Error> {
    let q = ctx.q;
    let month_start = crate::days::day_of(jiff::civil::date(month.year, month.month, 1));
    let month_end = Grain::Month.next(month_start) - 1;
    // A month entirely before the periods held only tells first purchases.
    let early = month_end < ctx.first_period;
    let mut part = Part { cells: HashMap::new(), visits: Vec::new(), stores: Vec::new(), lines: 0, days: None };
    let mut store_index: HashMap<String, u16> = HashMap::new();
    let mut receipts: HashSet<u64> = HashSet::new();
    let mut cell_index: HashMap<(i32, Group), usize> = HashMap::new();
    let mut cells: Vec<((i32, Group), Cell)> = Vec::new();
    let columns: &[&str] = if early { &COLUMNS[..2] } else { &COLUMNS };
    for file in files {
        unico_lake::read::for_each_batch(file, columns, |b| {
            let date = b.column(0).as_primitive::<Date32Type>();
            let key = b.column(1).as_string::<i32>();
            part.lines += b.num_rows() as u64;
            if early {
                let mut last: Option<(usize, i32)> = None;
                for i in 0..b.num_rows() {
                    let day = date.value(i);
                    if day > q.to || key.is_null(i) {
                        continue;
                    }
                    part.days = widen(part.days, day);
                    if let Some((j, d)) = last
                        && d == day
                        && key.value(j) == key.value(i)
                    {
                        continue;
                    }
                    last = Some((i, day));
                    part.visits.push((key_hash(key.value(i)), day, Group::TOTAL));
                }
                return Ok(());
            }
            let rid = b.column(2).as_string::<i32>();
            let store = b.column(3).as_string::<i32>();
            let channel = b.column(4).as_string::<i32>();
            let sku = b.column(5).as_string::<i32>();
            let qty = b.column(6).as_primitive::<Float64Type>();
            let net = b.column(7).as_primitive::<Int64Type>();
            let disc = b.column(8).as_primitive::<Int64Type>();
            // Lines of one receipt are adjacent: what depends on the receipt alone is reused.
            let mut last: Option<(usize, usize, u64)> = None; // (line, cell, customer hash)
            for i in 0..b.num_rows() {
                let day = date.value(i);
                if day > q.to {
                    continue;
                }
                part.days = widen(part.days, day);
                let card = !key.is_null(i);
                let same_receipt = last.is_some_and(|(j, _, _)| rid.value(j) == rid.value(i));
                let (ci, customer) = match last {
                    Some((_, ci, customer)) if same_receipt => (ci, customer),
                    _ => {
                        let customer = if card { key_hash(key.value(i)) } else { 0 };
                        if day < ctx.first_period {
                            // Before the periods held (in this month): first purchases only.
                            if card {
                                part.visits.push((customer, day, Group::TOTAL));
                            }
                            last = None;
                            continue;
                        }
                        let group = Group {
                            store: if q.split.store {
                                intern(&mut store_index, &mut part.stores, store.value(i))
                            } else {
                                ALL
                            },
                            channel: if q.split.channel {
                                CHANNELS.iter().position(|c| *c == channel.value(i)).unwrap_or(0) as u16
                            } else {
                                ALL
                            },
                            segment: if !q.split.segment {
                                ALL
                            } else if !card {
                                ctx.no_card
                            } else {
                                q.segments.of.get(&customer).copied().unwrap_or(ctx.unscored)
                            },
                        };
                        let k = (q.grain.start(day), group);
                        let ci = *cell_index.entry(k).or_insert_with(|| {
                            cells.push((k, Cell::default()));
                            cells.len() - 1
                        });
                        let side = if card { &mut cells[ci].1.card } else { &mut cells[ci].1.no_card };
                        if receipts.insert(receipt_hash(rid.value(i))) {
                            side.receipts += 1;
                        }
                        if card {
                            part.visits.push((customer, day, group));
                        }
                        (ci, customer)
                    }
                };
                if day < ctx.first_period {
                    continue;
                }
                last = Some((i, ci, customer));
                let side = if card { &mut cells[ci].1.card } else { &mut cells[ci].1.no_card };
                side.lines += 1;
                let n = net.value(i);
                side.revenue_cents += n;
                side.discount_cents += disc.value(i);
                if let Some(&c) = q.costs.get(sku.value(i)) {
                    side.costed_revenue_cents += n;
                    side.cost_cents += (qty.value(i) * c as f64).round() as i64;
                }
            }
            Ok(())
        })?;
    }
    part.cells = cells.into_iter().collect();
    part.visits.sort_unstable();
    part.visits.dedup();
    Ok(part)
}

fn widen(days: Option<(i32, i32)>, day: i32) -> Option<(i32, i32)> {
    Some(match days {
        None => (day, day),
        Some((a, b)) => (a.min(day), b.max(day)),
    })
}

fn intern(index: &mut HashMap<String, u16>, values: &mut Vec<String>, value: &str) -> u16 {
    if let Some(&i) = index.get(value) {
        return i;
    }
    let i = values.len() as u16;
    index.insert(value.to_string(), i);
    values.push(value.to_string());
    i
}

fn receipt_hash(s: &str) -> u64 {
    use std::hash::BuildHasher;
    foldhash::quality::FixedState::with_seed(0x0072_6563_6569_7074).hash_one(s)
}

fn merge(
    cube: &mut Cube,
    part: Part,
    ctx: &Ctx<'_>,
    store_index: &mut HashMap<String, u16>,
    first_day: &mut HashMap<u64, i32>,
    last_period: &mut HashMap<(u64, Group), i32>,
) {
    let grain = ctx.q.grain;
    let remap: Vec<u16> = part
        .stores
        .iter()
        .map(|s| {
            let n = store_index.len() as u16;
            *store_index.entry(s.clone()).or_insert(n)
        })
        .collect();
    let global = |g: Group| Group { store: if g.store == ALL { ALL } else { remap[g.store as usize] }, ..g };
    if let Some((a, b)) = part.days {
        cube.data_days = Some(match cube.data_days {
            None => (a, b),
            Some((x, y)) => (x.min(a), y.max(b)),
        });
    }
    for (k, cell) in part.cells {
        cube.lines += cell.card.lines + cell.no_card.lines;
        cube.cells.entry((k.0, global(k.1))).or_default().add(&cell);
    }
    for (customer, day, group) in part.visits {
        let first = *first_day.entry(customer).or_insert(day);
        if day < ctx.first_period {
            continue;
        }
        let g = global(group);
        let p = grain.start(day);
        let last = last_period.insert((customer, g), p);
        if last == Some(p) {
            continue;
        }
        let cell = cube.cells.entry((p, g)).or_default();
        cell.active += 1;
        if grain.start(first) == p {
            cell.new += 1;
        }
        if last == Some(grain.previous(p)) {
            cell.retained += 1;
        }
    }
}

/// Unit cost by sku (cents) from the lake's products; products without a cost are left out.
pub fn unit_costs(lake: &Lake) -> Result<HashMap<String, i64>, Error> {
    let mut out = HashMap::new();
    for file in lake.parquet_files(Dataset::Products)? {
        unico_lake::read::for_each_batch(&file, &["sku", "unit_cost_cents"], |b| {
            let sku = b.column(0).as_string::<i32>();
            let cost = b.column(1).as_primitive::<Int64Type>();
            for i in 0..b.num_rows() {
                if !cost.is_null(i) {
                    out.insert(sku.value(i).to_string(), cost.value(i));
                }
            }
            Ok(())
        })?;
    }
    Ok(out)
}
