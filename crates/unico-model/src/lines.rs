//! The customer-partitioned pass: every receipt line with a card, reduced to a 20-byte
//! record (customer, item, day, net cents) and split by customer into partitions that each
//! fit in memory.
//!
//! Habits and recommendations need each customer's whole purchase history by product, which
//! the month-ordered lake does not give in one place. One scan of the lake routes every
//! record to partition `customer % P`; a partition is then read back, sorted by customer,
//! item and day, and handed over customer by customer. `P` is chosen from the number of
//! lines and the memory budget: one partition (nothing written to disk) up to
//! `max_lines_in_memory`, and partitions spilled to temporary files beyond it, so a billion
//! lines run in the memory of `max_lines_in_memory` records. The same split is how the work
//! maps onto a distributed engine: one task per partition.

use crate::error::Error;
use crate::features::Event;
use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Int64Type};
use foldhash::HashMap;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use unico_core::day::date_of;
use unico_lake::lake::Month;
use unico_lake::{Dataset, Lake};

/// One receipt line with a card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LineRecord {
    /// Customer index into [`Partitioned::keys`].
    pub customer: u32,
    /// Item index into [`Partitioned::skus`].
    pub item: u32,
    /// Day (days since 1970-01-01, chain's calendar).
    pub day: i32,
    /// Net amount of the line, cents.
    pub net_cents: i64,
}

const RECORD_BYTES: usize = 20;

impl LineRecord {
    fn write(&self, w: &mut impl Write) -> std::io::Result<()> {
        let mut b = [0u8; RECORD_BYTES];
        b[0..4].copy_from_slice(&self.customer.to_le_bytes());
        b[4..8].copy_from_slice(&self.item.to_le_bytes());
        b[8..12].copy_from_slice(&self.day.to_le_bytes());
        b[12..20].copy_from_slice(&self.net_cents.to_le_bytes());
        w.write_all(&b)
    }

    fn read(b: &[u8]) -> LineRecord {
        let u = |r: std::ops::Range<usize>| b[r].try_into().expect("4 bytes");
        LineRecord {
            customer: u32::from_le_bytes(u(0..4)),
            item: u32::from_le_bytes(u(4..8)),
            day: i32::from_le_bytes(u(8..12)),
            net_cents: i64::from_le_bytes(b[12..20].try_into().expect("8 bytes")),
        }
    }
}

enum Part {
    Memory(Vec<LineRecord>),
    Spilled { path: PathBuf, records: u64 },
}

/// The lake's card lines between two days, split by customer.
pub struct Partitioned {
    /// Pseudonymous customer keys by index.
    pub keys: Vec<String>,
    /// Skus by item index.
    pub skus: Vec<String>,
    /// Lines read.
    pub lines: u64,
    parts: Vec<Part>,
    _spill: Option<tempfile::TempDir>,
}

impl Partitioned {
    /// One in-memory partition of `records` (for tests and small inputs).
    pub fn from_records(keys: Vec<String>, skus: Vec<String>, mut records: Vec<LineRecord>) -> Partitioned {
        records.sort_unstable();
        let lines = records.len() as u64;
        Partitioned { keys, skus, lines, parts: vec![Part::Memory(records)], _spill: None }
    }

    /// Number of partitions.
    pub fn partitions(&self) -> usize {
        self.parts.len()
    }

    /// Reads partition `p` back, sorted by customer, item and day.
    pub fn load(&self, p: usize) -> Result<Cow<'_, [LineRecord]>, Error> {
        let records = match &self.parts[p] {
            Part::Memory(v) => return Ok(Cow::Borrowed(v)),
            Part::Spilled { path, records } => {
                let f = std::fs::File::open(path).map_err(|e| Error::io(path.display(), e))?;
                let mut r = BufReader::with_capacity(1 << 20, f);
                let mut out = Vec::with_capacity(*records as usize);
                let mut buf = vec![0u8; RECORD_BYTES * 4096];
                let mut left = *records as usize;
                while left > 0 {
                    let n = left.min(4096);
                    r.read_exact(&mut buf[..n * RECORD_BYTES]).map_err(|e| Error::io(path.display(), e))?;
                    out.extend(buf[..n * RECORD_BYTES].chunks_exact(RECORD_BYTES).map(LineRecord::read));
                    left -= n;
                }
                out
            }
        };
        Ok(Cow::Owned(sort_by_customer(records, self.keys.len())))
    }

    /// Calls `f` with each customer's records (sorted by item and day), partition by partition.
    pub fn for_each_customer(&self, mut f: impl FnMut(u32, &[LineRecord])) -> Result<(), Error> {
        for p in 0..self.partitions() {
            let records = self.load(p)?;
            for group in records.chunk_by(|a, b| a.customer == b.customer) {
                f(group[0].customer, group);
            }
        }
        Ok(())
    }
}

/// Reads the card lines with `from_day <= day <= to_day` into customer partitions of at most
/// about `max_lines_in_memory` records each (spilled under `spill_dir` when more than one).
/// `progress(lines done, lines total)` is called after each file.
pub fn scan(
    lake: &Lake,
    from_day: i32,
    to_day: i32,
    max_lines_in_memory: u64,
    spill_dir: &Path,
    progress: &dyn Fn(u64, u64),
) -> Result<Partitioned, Error> {
    let mut by_month: BTreeMap<Month, Vec<PathBuf>> = BTreeMap::new();
    for f in lake.parquet_files(Dataset::Receipts)? {
        let month = f.parent().and_then(|d| d.file_name()).and_then(|n| Month::from_dir_name(&n.to_string_lossy()));
        if let Some(m) = month {
            by_month.entry(m).or_default().push(f);
        }
    }
    // Days beyond the civil calendar (i32::MIN for "from the start") filter no month.
    let month_of = |day: i32| (-2_000_000..2_000_000).contains(&day).then(|| Month::of(date_of(day)));
    let (from, to) = (month_of(from_day), month_of(to_day));
    by_month.retain(|m, _| from.is_none_or(|f| f <= *m) && to.is_none_or(|t| *m <= t));
    let total: u64 = by_month.values().flatten().map(|f| crate::features::rows_of(f)).sum();
    let n_parts = total.div_ceil(max_lines_in_memory.max(1)).max(1) as usize;

    let spill = if n_parts > 1 {
        std::fs::create_dir_all(spill_dir).map_err(|e| Error::io(spill_dir.display(), e))?;
        Some(
            tempfile::Builder::new()
                .prefix("lines-")
                .tempdir_in(spill_dir)
                .map_err(|e| Error::io(spill_dir.display(), e))?,
        )
    } else {
        None
    };
    let mut memory: Vec<LineRecord> = Vec::new();
    let mut writers: Vec<(PathBuf, BufWriter<std::fs::File>, u64)> = Vec::new();
    if let Some(dir) = &spill {
        for p in 0..n_parts {
            let path = dir.path().join(format!("part-{p:05}.bin"));
            let f = std::fs::File::create(&path).map_err(|e| Error::io(path.display(), e))?;
            writers.push((path, BufWriter::with_capacity(256 * 1024, f), 0));
        }
    }

    let mut keys: Vec<String> = Vec::new();
    let mut skus: Vec<String> = Vec::new();
    let mut key_index: HashMap<String, u32> = HashMap::default();
    let mut sku_index: HashMap<String, u32> = HashMap::default();
    let (mut done, mut lines) = (0u64, 0u64);
    let months: Vec<&Vec<PathBuf>> = by_month.values().collect();
    let columns = ["local_date", "customer_key", "sku", "net_amount_cents"];
    crate::features::read_months(&months, &columns, |event| {
        let b = match event {
            Event::Batch(b) => b,
            Event::FileDone => {
                progress(done, total);
                return Ok(());
            }
            Event::MonthDone => return Ok(()),
        };
        let date = b.column(0).as_primitive::<Date32Type>();
        let key = b.column(1).as_string::<i32>();
        let sku = b.column(2).as_string::<i32>();
        let net = b.column(3).as_primitive::<Int64Type>();
        done += b.num_rows() as u64;
        // Lines of one receipt are adjacent: the previous line's customer is reused.
        let mut last: Option<(usize, u32)> = None;
        for i in 0..b.num_rows() {
            let day = date.value(i);
            if day < from_day || day > to_day || key.is_null(i) {
                continue;
            }
            lines += 1;
            let customer = match last {
                Some((j, c)) if key.value(j) == key.value(i) => c,
                _ => crate::features::intern(&mut key_index, &mut keys, key.value(i)),
            };
            last = Some((i, customer));
            let r = LineRecord {
                customer,
                item: crate::features::intern(&mut sku_index, &mut skus, sku.value(i)),
                day,
                net_cents: net.value(i),
            };
            if writers.is_empty() {
                memory.push(r);
            } else {
                let w = &mut writers[r.customer as usize % n_parts];
                r.write(&mut w.1).map_err(|e| Error::io(w.0.display(), e))?;
                w.2 += 1;
            }
        }
        Ok(())
    })?;
    let parts = if writers.is_empty() {
        vec![Part::Memory(sort_by_customer(memory, keys.len()))]
    } else {
        let mut parts = Vec::with_capacity(n_parts);
        for (path, mut w, records) in writers {
            w.flush().map_err(|e| Error::io(path.display(), e))?;
            parts.push(Part::Spilled { path, records });
        }
        parts
    };
    Ok(Partitioned { keys, skus, lines, parts, _spill: spill })
}

/// Computes `f` for every customer, in parallel within each partition (customers split
/// across the machine's cores), and hands the results to `sink` in partition order.
pub fn map_customers<T: Send>(
    parts: &Partitioned,
    f: impl Fn(&[LineRecord]) -> T + Sync,
    mut sink: impl FnMut(u32, T),
) -> Result<(), Error> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 16);
    for p in 0..parts.partitions() {
        let records = parts.load(p)?;
        let customers: Vec<&[LineRecord]> = records.chunk_by(|a, b| a.customer == b.customer).collect();
        // Rounds of 16K customers per core keep the results in flight small.
        for round in customers.chunks(16 * 1024 * threads) {
            let chunk = round.len().div_ceil(threads).max(1);
            let f = &f;
            let results: Vec<Vec<(u32, T)>> = std::thread::scope(|scope| {
                let handles: Vec<_> = round
                    .chunks(chunk)
                    .map(|part| scope.spawn(move || part.iter().map(|r| (r[0].customer, f(r))).collect::<Vec<_>>()))
                    .collect();
                handles.into_iter().map(|h| h.join().expect("customer worker")).collect()
            });
            for (customer, value) in results.into_iter().flatten() {
                sink(customer, value);
            }
        }
    }
    Ok(())
}

/// Sorts records by customer, item and day: a counting sort on the customer (linear), then
/// each customer's few records by item and day. Several times faster than a comparison sort
/// of the whole partition, which dominated the pass.
fn sort_by_customer(records: Vec<LineRecord>, customers: usize) -> Vec<LineRecord> {
    let mut start = vec![0usize; customers + 1];
    for r in &records {
        start[r.customer as usize + 1] += 1;
    }
    for c in 0..customers {
        start[c + 1] += start[c];
    }
    let mut out = vec![LineRecord { customer: 0, item: 0, day: 0, net_cents: 0 }; records.len()];
    let mut next = start.clone();
    for r in records {
        let at = &mut next[r.customer as usize];
        out[*at] = r;
        *at += 1;
    }
    for c in 0..customers {
        let slice = &mut out[start[c]..start[c + 1]];
        if slice.len() > 1 {
            slice.sort_unstable_by_key(|r| (r.item, r.day, r.net_cents));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_counting_sort_orders_like_a_full_sort() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut rng = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let records: Vec<LineRecord> = (0..5000)
            .map(|_| LineRecord {
                customer: (rng() % 97) as u32,
                item: (rng() % 13) as u32,
                day: (rng() % 50) as i32,
                net_cents: (rng() % 7) as i64,
            })
            .collect();
        let mut expected = records.clone();
        expected.sort_unstable();
        assert_eq!(sort_by_customer(records, 97), expected);
    }
}
