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
use arrow_array::cast::AsArray as _;
use arrow_array::types::{Date32Type, Float64Type, Int64Type};
use arrow_array::{Array, ArrayRef, Date32Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use foldhash::{HashMap, HashMapExt, HashSet};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
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

use unico_lake::read::rows_of;

/// Folds the lake into the cube. `progress(lines done, lines total)` is called after each
/// month.
pub fn compute(lake: &Lake, q: &Query<'_>, progress: &(dyn Fn(u64, u64) + Sync)) -> Result<Cube, Error> {
    let months = months_up_to(lake, q.to)?;
    let total: u64 = months.iter().flat_map(|(_, fs)| fs.iter()).map(|f| rows_of(f)).sum();
    let ctx = Ctx::new(q);
    let mut cube = ctx.empty_cube();
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
    cube.stores = names_by_index(store_index);
    Ok(cube)
}

/// The cube of one slice of the receipt lines, folded batch by batch, for an engine that
/// splits the lines itself (Spark through the `unico` Python package): the cubes of disjoint
/// slices add up ([`Cube::add`]) to the cube [`compute`] folds from the whole lake, provided
/// every cardholder's lines are in one slice (their first purchase and their previous period
/// are theirs alone) and every receipt's lines too (receipts are counted once). Repartitioning
/// by the customer key, and by the receipt id where there is no card, does both.
///
/// Batches come in any order and hold at least the columns [`COLUMNS`] names (by name, any
/// order, more allowed). Memory is the slice's cells, its receipts and its customer-days.
pub struct CubePass<'a> {
    ctx: Ctx<'a>,
    fold: Fold,
}

impl<'a> CubePass<'a> {
    /// A pass computing what `q` asks (its `threads` are not used).
    pub fn new(q: &'a Query<'a>) -> Self {
        CubePass { ctx: Ctx::new(q), fold: Fold::default() }
    }

    /// Folds a batch of receipt lines.
    pub fn push(&mut self, batch: &RecordBatch) -> Result<(), Error> {
        let schema = batch.schema();
        let mut columns = Vec::with_capacity(COLUMNS.len());
        for name in COLUMNS {
            let i = schema.index_of(name).map_err(|_| {
                Error::new(crate::error::ErrorKind::Input, format!("receipt lines need a `{name}` column"))
            })?;
            let want = match name {
                "local_date" => DataType::Date32,
                "quantity" => DataType::Float64,
                "net_amount_cents" | "discount_cents" => DataType::Int64,
                _ => DataType::Utf8,
            };
            if schema.field(i).data_type() != &want {
                return Err(Error::new(
                    crate::error::ErrorKind::Input,
                    format!("column `{name}` is {}, not {want}", schema.field(i).data_type()),
                ));
            }
            columns.push(i);
        }
        let b = batch.project(&columns).map_err(|e| Error::new(crate::error::ErrorKind::Input, e.to_string()))?;
        self.fold.lines_of(&b, &self.ctx);
        Ok(())
    }

    /// The slice's cube.
    pub fn finish(self) -> Cube {
        let mut cube = self.ctx.empty_cube();
        let mut store_index = HashMap::new();
        merge(&mut cube, self.fold.into_part(), &self.ctx, &mut store_index, &mut HashMap::new(), &mut HashMap::new());
        cube.stores = names_by_index(store_index);
        cube
    }
}

fn names_by_index(index: HashMap<String, u16>) -> Vec<String> {
    let mut s = vec![String::new(); index.len()];
    for (name, i) in index {
        s[i as usize] = name;
    }
    s
}

/// The cube's counters as columns, in this order after the group's labels.
const COUNTERS: [&str; 15] = [
    "card_receipts",
    "card_lines",
    "card_revenue_cents",
    "card_discount_cents",
    "card_costed_revenue_cents",
    "card_cost_cents",
    "no_card_receipts",
    "no_card_lines",
    "no_card_revenue_cents",
    "no_card_discount_cents",
    "no_card_costed_revenue_cents",
    "no_card_cost_cents",
    "active",
    "new",
    "retained",
];

fn counters(c: &Cell) -> [i64; 15] {
    let s = |s: &Sales| {
        [s.receipts as i64, s.lines as i64, s.revenue_cents, s.discount_cents, s.costed_revenue_cents, s.cost_cents]
    };
    let (a, b) = (s(&c.card), s(&c.no_card));
    [
        a[0],
        a[1],
        a[2],
        a[3],
        a[4],
        a[5],
        b[0],
        b[1],
        b[2],
        b[3],
        b[4],
        b[5],
        c.active as i64,
        c.new as i64,
        c.retained as i64,
    ]
}

fn cell_of(v: &[i64; 15]) -> Cell {
    let s = |o: usize| Sales {
        receipts: v[o] as u64,
        lines: v[o + 1] as u64,
        revenue_cents: v[o + 2],
        discount_cents: v[o + 3],
        costed_revenue_cents: v[o + 4],
        cost_cents: v[o + 5],
    };
    Cell { card: s(0), no_card: s(6), active: v[12] as u64, new: v[13] as u64, retained: v[14] as u64 }
}

impl Cube {
    /// Adds the cube of a disjoint slice of the lines computed for the same query (see
    /// [`CubePass`]): stores and segments are matched by name.
    pub fn add(&mut self, other: &Cube) {
        if self.cells.is_empty() && self.stores.is_empty() && self.lines == 0 {
            self.first_period = other.first_period;
        }
        let stores: Vec<u16> = other.stores.iter().map(|s| intern_name(&mut self.stores, s)).collect();
        let segments: Vec<u16> = other.segments.iter().map(|s| intern_name(&mut self.segments, s)).collect();
        let map = |i: u16, to: &[u16]| if i == ALL { ALL } else { to[i as usize] };
        for (&(p, g), cell) in &other.cells {
            let g = Group { store: map(g.store, &stores), channel: g.channel, segment: map(g.segment, &segments) };
            self.cells.entry((p, g)).or_default().add(cell);
        }
        self.lines += other.lines;
        if let Some((a, b)) = other.data_days {
            self.data_days = Some(self.data_days.map_or((a, b), |(x, y)| (x.min(a), y.max(b))));
        }
    }

    /// The Arrow schema of [`Cube::to_batch`]: the period's first day, the group's labels
    /// (null where not split) and the additive counters (money in cents).
    pub fn schema() -> Arc<Schema> {
        let mut fields = vec![
            Field::new("period_start", DataType::Date32, false),
            Field::new("store", DataType::Utf8, true),
            Field::new("channel", DataType::Utf8, true),
            Field::new("segment", DataType::Utf8, true),
        ];
        fields.extend(COUNTERS.iter().map(|c| Field::new(*c, DataType::Int64, false)));
        Arc::new(Schema::new(fields))
    }

    /// The cells as one row each, in period and group order. Rows of several cubes with the
    /// same period and labels add up column by column (a `GROUP BY … SUM` merges them).
    pub fn to_batch(&self) -> RecordBatch {
        let label = |i: u16, names: &[String]| (i != ALL).then(|| names.get(i as usize).cloned().unwrap_or_default());
        let keys = self.cells.keys();
        let period = Date32Array::from_iter_values(keys.clone().map(|k| k.0));
        let store: StringArray = keys.clone().map(|k| label(k.1.store, &self.stores)).collect();
        let channel: StringArray = keys
            .clone()
            .map(|k| (k.1.channel != ALL).then(|| CHANNELS.get(k.1.channel as usize).copied().unwrap_or("store")))
            .collect();
        let segment: StringArray = keys.map(|k| label(k.1.segment, &self.segments)).collect();
        let mut columns: Vec<ArrayRef> = vec![Arc::new(period), Arc::new(store), Arc::new(channel), Arc::new(segment)];
        let values: Vec<[i64; 15]> = self.cells.values().map(counters).collect();
        for j in 0..COUNTERS.len() {
            columns.push(Arc::new(values.iter().map(|v| v[j]).collect::<Int64Array>()));
        }
        RecordBatch::try_new(Cube::schema(), columns).expect("columns match the schema")
    }

    /// A cube from rows of [`Cube::to_batch`] (rows with the same period and labels add up).
    /// `first_period` is the first period held ([`Cube::first_period`] of the query); the
    /// lake's data days are not in the rows and stay unknown.
    pub fn from_batches<'b>(
        first_period: i32,
        batches: impl IntoIterator<Item = &'b RecordBatch>,
    ) -> Result<Cube, Error> {
        let mut cube = Cube { first_period, ..Default::default() };
        let want = Cube::schema();
        for b in batches {
            let s = b.schema();
            let mut idx = Vec::with_capacity(want.fields().len());
            for f in want.fields() {
                let i = s.index_of(f.name()).map_err(|_| {
                    Error::new(crate::error::ErrorKind::Input, format!("cube rows need a `{}` column", f.name()))
                })?;
                if s.field(i).data_type() != f.data_type() {
                    return Err(Error::new(
                        crate::error::ErrorKind::Input,
                        format!("cube column `{}` is {}, not {}", f.name(), s.field(i).data_type(), f.data_type()),
                    ));
                }
                idx.push(i);
            }
            let period = b.column(idx[0]).as_primitive::<Date32Type>();
            let text = |j: usize| b.column(idx[j]).as_string::<i32>();
            let (store, channel, segment) = (text(1), text(2), text(3));
            let ints: Vec<&Int64Array> = (4..idx.len()).map(|j| b.column(idx[j]).as_primitive::<Int64Type>()).collect();
            for i in 0..b.num_rows() {
                if period.is_null(i) || ints.iter().any(|a| a.is_null(i)) {
                    return Err(Error::new(
                        crate::error::ErrorKind::Input,
                        format!("cube row {i} has a null period or counter"),
                    ));
                }
                let g = Group {
                    store: if store.is_null(i) { ALL } else { intern_name(&mut cube.stores, store.value(i)) },
                    channel: if channel.is_null(i) {
                        ALL
                    } else {
                        CHANNELS.iter().position(|c| *c == channel.value(i)).ok_or_else(|| {
                            Error::new(
                                crate::error::ErrorKind::Input,
                                format!("cube row {i}: unknown channel `{}`", channel.value(i)),
                            )
                        })? as u16
                    },
                    segment: if segment.is_null(i) { ALL } else { intern_name(&mut cube.segments, segment.value(i)) },
                };
                let mut v = [0i64; 15];
                for (j, a) in ints.iter().enumerate() {
                    v[j] = a.value(i);
                }
                let cell = cell_of(&v);
                cube.lines += cell.card.lines + cell.no_card.lines;
                cube.cells.entry((period.value(i), g)).or_default().add(&cell);
            }
        }
        Ok(cube)
    }
}

impl<'a> Ctx<'a> {
    fn new(q: &'a Query<'a>) -> Self {
        let first_period = q.grain.previous(q.grain.start(q.from));
        let no_card = q.segments.names.len() as u16;
        Ctx { q, first_period, no_card, unscored: no_card + 1 }
    }

    /// A cube with no cells yet, its segments named.
    fn empty_cube(&self) -> Cube {
        let mut segments = self.q.segments.names.clone();
        segments.push(NO_CARD_SEGMENT.into());
        segments.push(UNSCORED_SEGMENT.into());
        Cube { first_period: self.first_period, segments, ..Default::default() }
    }
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
    let mut fold = Fold::default();
    let columns: &[&str] = if early { &COLUMNS[..2] } else { &COLUMNS };
    for file in files {
        unico_lake::read::for_each_batch(file, columns, |b| {
            if !early {
                fold.lines_of(&b, ctx);
                return Ok(());
            }
            let date = b.column(0).as_primitive::<Date32Type>();
            let key = b.column(1).as_string::<i32>();
            fold.lines += b.num_rows() as u64;
            let mut last: Option<(usize, i32)> = None;
            for i in 0..b.num_rows() {
                let day = date.value(i);
                if day > q.to || key.is_null(i) {
                    continue;
                }
                fold.days = widen(fold.days, day);
                if let Some((j, d)) = last
                    && d == day
                    && key.value(j) == key.value(i)
                {
                    continue;
                }
                last = Some((i, day));
                fold.visits.push((key_hash(key.value(i)), day, Group::TOTAL));
            }
            Ok(())
        })?;
    }
    Ok(fold.into_part())
}

/// What a fold of receipt lines accumulates: a month's in [`compute`], a partition's in a
/// [`CubePass`].
#[derive(Default)]
struct Fold {
    cells: Vec<((i32, Group), Cell)>,
    cell_index: HashMap<(i32, Group), usize>,
    store_index: HashMap<String, u16>,
    stores: Vec<String>,
    receipts: HashSet<u64>,
    visits: Vec<(u64, i32, Group)>,
    lines: u64,
    days: Option<(i32, i32)>,
}

impl Fold {
    /// Folds a batch whose columns are [`COLUMNS`], in that order.
    fn lines_of(&mut self, b: &RecordBatch, ctx: &Ctx<'_>) {
        let q = ctx.q;
        let date = b.column(0).as_primitive::<Date32Type>();
        let key = b.column(1).as_string::<i32>();
        let rid = b.column(2).as_string::<i32>();
        let store = b.column(3).as_string::<i32>();
        let channel = b.column(4).as_string::<i32>();
        let sku = b.column(5).as_string::<i32>();
        let qty = b.column(6).as_primitive::<Float64Type>();
        let net = b.column(7).as_primitive::<Int64Type>();
        let disc = b.column(8).as_primitive::<Int64Type>();
        self.lines += b.num_rows() as u64;
        // Lines of one receipt are adjacent: what depends on the receipt alone is reused.
        let mut last: Option<(usize, usize, u64)> = None; // (line, cell, customer hash)
        for i in 0..b.num_rows() {
            let day = date.value(i);
            if day > q.to {
                continue;
            }
            self.days = widen(self.days, day);
            let card = !key.is_null(i);
            let same_receipt = last.is_some_and(|(j, _, _)| rid.value(j) == rid.value(i));
            let (ci, customer) = match last {
                Some((_, ci, customer)) if same_receipt => (ci, customer),
                _ => {
                    let customer = if card { key_hash(key.value(i)) } else { 0 };
                    if day < ctx.first_period {
                        // Before the periods held: first purchases only.
                        if card {
                            self.visits.push((customer, day, Group::TOTAL));
                        }
                        last = None;
                        continue;
                    }
                    let group = Group {
                        store: if q.split.store {
                            intern(&mut self.store_index, &mut self.stores, store.value(i))
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
                    let cells = &mut self.cells;
                    let ci = *self.cell_index.entry(k).or_insert_with(|| {
                        cells.push((k, Cell::default()));
                        cells.len() - 1
                    });
                    let side = if card { &mut cells[ci].1.card } else { &mut cells[ci].1.no_card };
                    if self.receipts.insert(receipt_hash(rid.value(i))) {
                        side.receipts += 1;
                    }
                    if card {
                        self.visits.push((customer, day, group));
                    }
                    (ci, customer)
                }
            };
            if day < ctx.first_period {
                continue;
            }
            last = Some((i, ci, customer));
            let side = if card { &mut self.cells[ci].1.card } else { &mut self.cells[ci].1.no_card };
            side.lines += 1;
            let n = net.value(i);
            side.revenue_cents += n;
            side.discount_cents += disc.value(i);
            if let Some(&c) = q.costs.get(sku.value(i)) {
                side.costed_revenue_cents += n;
                side.cost_cents += (qty.value(i) * c as f64).round() as i64;
            }
        }
    }

    fn into_part(self) -> Part {
        let mut visits = self.visits;
        visits.sort_unstable();
        visits.dedup();
        Part {
            cells: self.cells.into_iter().collect(),
            visits,
            stores: self.stores,
            lines: self.lines,
            days: self.days,
        }
    }
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
