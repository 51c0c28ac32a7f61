//! The assignment over parts: customers split into parts of whole blocks, each part's
//! options held in a compact form (value, cost, worst case, which budgets they use), in
//! memory while a byte budget lasts and in a temporary file after it. Every pass of the
//! solver reads the parts in order, so memory follows the part size and the budget, not the
//! number of customers.
//!
//! The same plan whatever the parts: every sum is taken block by block (a block is
//! [`BLOCK`] customers of the input, and parts are whole blocks) and the blocks' sums are
//! added in order, and every sequential step (repair, fill, one-is-one) walks customers in
//! their order. One part in memory and many parts on disk give the same plan bit for bit
//! (a property test checks it).

use crate::assign::{Assignment, Budgets, Option_, capacities, usage_of};
use std::collections::{BinaryHeap, HashSet};
use std::fs::File;
use std::hash::BuildHasher;
use std::io::{self, Write};
use std::path::PathBuf;

/// Customers of the input per block: the unit every sum is taken over.
pub const BLOCK: usize = 1024;

/// Candidates the fill and the repair rank in memory at once (they run in rounds).
pub const RANK_BATCH: usize = 1 << 18;

/// How a plan holds its options.
#[derive(Debug, Clone, PartialEq)]
pub struct Streaming {
    /// Customers of the input per part (rounded up to whole blocks).
    pub part_customers: usize,
    /// Bytes of compact options kept in memory; parts past it go to temporary files.
    pub memory_bytes: usize,
    /// Where those files go (the system's temporary directory when none).
    pub spill_dir: Option<PathBuf>,
    /// Candidates the fill and the repair rank in memory at once.
    pub rank_batch: usize,
}

impl Streaming {
    /// Everything in memory.
    pub fn in_memory() -> Self {
        Streaming { part_customers: 32 * BLOCK, memory_bytes: usize::MAX, spill_dir: None, rank_batch: RANK_BATCH }
    }

    /// Customers per part, whole blocks.
    pub fn part_size(&self) -> usize {
        self.part_customers.max(1).div_ceil(BLOCK) * BLOCK
    }
}

impl Default for Streaming {
    /// Parts of 16,384 customers; 1 GiB of options in memory (some 48 million options of
    /// 22 bytes), the rest on disk.
    fn default() -> Self {
        Streaming { part_customers: 16 * BLOCK, memory_bytes: 1 << 30, spill_dir: None, rank_batch: RANK_BATCH }
    }
}

/// One part as the solver sees it: per customer their candidates, per candidate its
/// options, per option its value, its cost on the budgets' basis, its worst case and which
/// budgets it uses (an index into the combinations of limits).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Part {
    /// The part's customer index where each of its blocks starts, plus the end.
    pub block_starts: Vec<u32>,
    /// Start of each customer's candidates, plus the end.
    pub customer_starts: Vec<u32>,
    /// Start of each candidate's options, plus the end.
    pub option_starts: Vec<u32>,
    /// Most offers for each customer.
    pub caps: Vec<u8>,
    /// Objective value of each option, cents.
    pub value: Vec<f64>,
    /// Cost on the budgets' basis, cents.
    pub cost: Vec<f64>,
    /// Worst case, cents (whole cents: exact in 32 bits up to 42,949,672.95).
    pub worst: Vec<u32>,
    /// Index into [`Combos`] (at most 65,536 combinations of budgets).
    pub combo: Vec<u16>,
    /// Whether each candidate's options are best first and each customer's candidates in
    /// order of their best option (the assignment then reads less).
    pub ordered: bool,
}

/// The combinations of (budget limits, counted in the total) options have.
#[derive(Debug, Clone, Default)]
pub struct Combos {
    list: Vec<(u64, bool)>,
    index: std::collections::HashMap<(u64, bool), u32, foldhash::fast::FixedState>,
}

impl Combos {
    /// The index of a combination, added when new.
    pub fn id(&mut self, limits: u64, in_total: bool) -> u32 {
        if let Some(i) = self.index.get(&(limits, in_total)) {
            return *i;
        }
        let i = self.list.len() as u32;
        self.list.push((limits, in_total));
        self.index.insert((limits, in_total), i);
        i
    }

    /// The index of a combination already added.
    pub fn get(&self, limits: u64, in_total: bool) -> u32 {
        self.index[&(limits, in_total)]
    }
}

impl Part {
    /// A part from full options (the combinations already in `combos`).
    #[allow(clippy::too_many_arguments)] // the part's layout, then what it is made from
    pub fn new(
        block_starts: Vec<u32>,
        customer_starts: Vec<u32>,
        option_starts: Vec<u32>,
        caps: Vec<u8>,
        options: &[Option_],
        budgets: &Budgets,
        combos: &Combos,
        ordered: bool,
    ) -> io::Result<Part> {
        let basis = |o: &Option_| if budgets.expected_basis { o.expected_cost } else { o.worst_cost as f64 };
        let too_big = |what: String| io::Error::new(io::ErrorKind::InvalidInput, what);
        let worst = options
            .iter()
            .map(|o| {
                u32::try_from(o.worst_cost).map_err(|_| {
                    too_big(format!(
                        "an offer's worst case of {} cents is outside what a plan counts (0 to 4,294,967,295 cents)",
                        o.worst_cost
                    ))
                })
            })
            .collect::<io::Result<Vec<u32>>>()?;
        let combo = options
            .iter()
            .map(|o| {
                u16::try_from(combos.get(o.limits, o.in_total))
                    .map_err(|_| too_big("more than 65,536 combinations of budget limits among the offers".into()))
            })
            .collect::<io::Result<Vec<u16>>>()?;
        Ok(Part {
            block_starts,
            customer_starts,
            option_starts,
            caps,
            value: options.iter().map(|o| o.value).collect(),
            cost: options.iter().map(basis).collect(),
            worst,
            combo,
            ordered,
        })
    }

    fn customers(&self) -> usize {
        self.customer_starts.len().saturating_sub(1)
    }

    fn bytes(&self) -> usize {
        4 * (self.block_starts.len() + self.customer_starts.len() + self.option_starts.len() + self.worst.len())
            + 2 * self.combo.len()
            + self.caps.len()
            + 1
            + 8 * (self.value.len() + self.cost.len())
    }

    fn write(&self, out: &mut impl Write) -> io::Result<()> {
        fn u32s(out: &mut impl Write, v: &[u32]) -> io::Result<()> {
            out.write_all(&(v.len() as u64).to_le_bytes())?;
            v.iter().try_for_each(|x| out.write_all(&x.to_le_bytes()))
        }
        fn f64s(out: &mut impl Write, v: &[f64]) -> io::Result<()> {
            out.write_all(&(v.len() as u64).to_le_bytes())?;
            v.iter().try_for_each(|x| out.write_all(&x.to_le_bytes()))
        }
        u32s(out, &self.block_starts)?;
        u32s(out, &self.customer_starts)?;
        u32s(out, &self.option_starts)?;
        out.write_all(&(self.caps.len() as u64).to_le_bytes())?;
        out.write_all(&self.caps)?;
        out.write_all(&[u8::from(self.ordered)])?;
        f64s(out, &self.value)?;
        f64s(out, &self.cost)?;
        u32s(out, &self.worst)?;
        out.write_all(&(self.combo.len() as u64).to_le_bytes())?;
        self.combo.iter().try_for_each(|x| out.write_all(&x.to_le_bytes()))
    }

    /// Reads what [`Part::write`] wrote into `self`, keeping what it has allocated.
    fn read_into(&mut self, bytes: &[u8]) {
        let mut r = Reader { bytes, at: 0 };
        r.u32s(&mut self.block_starts);
        r.u32s(&mut self.customer_starts);
        r.u32s(&mut self.option_starts);
        let n = r.len();
        self.caps.clear();
        self.caps.extend_from_slice(r.take(n));
        self.ordered = r.take(1)[0] == 1;
        r.f64s(&mut self.value);
        r.f64s(&mut self.cost);
        r.u32s(&mut self.worst);
        r.u16s(&mut self.combo);
    }
}

/// Reads back what [`Part::write`] wrote.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let s = &self.bytes[self.at..self.at + n];
        self.at += n;
        s
    }

    fn len(&mut self) -> usize {
        u64::from_le_bytes(self.take(8).try_into().expect("8 bytes")) as usize
    }

    fn u32s(&mut self, into: &mut Vec<u32>) {
        let n = self.len();
        into.clear();
        into.extend(self.take(4 * n).chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes"))));
    }

    fn u16s(&mut self, into: &mut Vec<u16>) {
        let n = self.len();
        into.clear();
        into.extend(self.take(2 * n).chunks_exact(2).map(|c| u16::from_le_bytes(c.try_into().expect("2 bytes"))));
    }

    fn f64s(&mut self, into: &mut Vec<f64>) {
        let n = self.len();
        into.clear();
        into.extend(self.take(8 * n).chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes"))));
    }
}

enum Held {
    Memory(Part),
    Disk { file: File, len: usize },
}

/// The parts of a plan, in order, and what they are solved under.
pub struct Parts {
    held: Vec<Held>,
    combos: Vec<(u64, bool)>,
    budgets: Budgets,
    in_memory: usize,
    settings: Streaming,
    passes: std::sync::atomic::AtomicU64,
    /// Buffers a part read from disk goes through, reused (fresh ones for every part of
    /// every pass were a tenth of a plan's time: zeroing, page faults, freeing).
    scratch: std::sync::Mutex<Vec<(Vec<u8>, Part)>>,
}

impl Parts {
    /// No parts yet.
    pub fn new(budgets: Budgets, combos: &Combos, settings: Streaming) -> Parts {
        Parts {
            held: Vec::new(),
            combos: combos.list.clone(),
            budgets,
            in_memory: 0,
            settings,
            passes: std::sync::atomic::AtomicU64::new(0),
            scratch: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Adds the next part: in memory while the budget lasts, else to a temporary file.
    pub fn push(&mut self, part: Part) -> io::Result<()> {
        let bytes = part.bytes();
        if self.in_memory.saturating_add(bytes) <= self.settings.memory_bytes {
            self.in_memory += bytes;
            self.held.push(Held::Memory(part));
            return Ok(());
        }
        let dir = self.settings.spill_dir.clone().unwrap_or_else(std::env::temp_dir);
        let file = tempfile::tempfile_in(&dir)?;
        let mut out = io::BufWriter::with_capacity(1 << 20, file);
        part.write(&mut out)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        self.held.push(Held::Disk { file, len: 0 });
        if let Some(Held::Disk { len, file }) = self.held.last_mut() {
            *len = file.metadata()?.len() as usize;
        }
        Ok(())
    }

    fn with<R>(&self, i: usize, f: impl FnOnce(&Part) -> R) -> io::Result<R> {
        match &self.held[i] {
            Held::Memory(p) => Ok(f(p)),
            Held::Disk { file, len } => {
                let pool = || self.scratch.lock().unwrap_or_else(|p| p.into_inner());
                let (mut bytes, mut part) = pool().pop().unwrap_or_default();
                if bytes.len() < *len {
                    bytes.resize(*len, 0);
                }
                read_at(file, &mut bytes[..*len])?;
                part.read_into(&bytes[..*len]);
                let r = f(&part);
                pool().push((bytes, part));
                Ok(r)
            }
        }
    }

    /// `f` on every part, up to a part per core at once; `sink` takes the results in order.
    fn each<R: Send>(&self, f: impl Fn(usize, &Part) -> R + Sync, mut sink: impl FnMut(R)) -> io::Result<()> {
        let threads = std::thread::available_parallelism().map_or(1, |t| t.get()).min(16);
        for group in (0..self.held.len()).collect::<Vec<_>>().chunks(threads) {
            if group.len() == 1 {
                sink(self.with(group[0], |p| f(group[0], p))?);
                continue;
            }
            let results: Vec<io::Result<R>> = std::thread::scope(|s| {
                let handles: Vec<_> = group
                    .iter()
                    .map(|&i| {
                        let f = &f;
                        s.spawn(move || self.with(i, |p| f(i, p)))
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().expect("plan worker")).collect()
            });
            for r in results {
                sink(r?);
            }
        }
        Ok(())
    }

    /// `f` on every part; the results in order.
    fn map<R: Send>(&self, f: impl Fn(usize, &Part) -> R + Sync) -> io::Result<Vec<R>> {
        let mut out = Vec::with_capacity(self.held.len());
        self.each(f, |r| out.push(r))?;
        Ok(out)
    }

    /// Per combination, the price of a cent of cost and of a cent of worst case at `mu`.
    fn prices(&self, mu: &[f64]) -> Vec<(f64, f64)> {
        self.combos
            .iter()
            .map(|&(limits, in_total)| {
                let (mut a, mut b) = (0.0, 0.0);
                if in_total {
                    a += mu[0];
                    b += mu[1];
                }
                let mut bits = limits;
                while bits != 0 {
                    a += mu[2 + bits.trailing_zeros() as usize];
                    bits &= bits - 1;
                }
                (a, b)
            })
            .collect()
    }

    /// Option `o`'s value less its budgets at `prices`.
    fn reduced(p: &Part, o: usize, prices: &[(f64, f64)]) -> f64 {
        let (a, b) = prices[p.combo[o] as usize];
        p.value[o] - (a * p.cost[o] + b * f64::from(p.worst[o]))
    }

    fn add_usage(&self, p: &Part, o: usize, usage: &mut [f64], sign: f64) {
        let (limits, in_total) = self.combos[p.combo[o] as usize];
        let c = p.cost[o];
        if in_total {
            usage[0] += sign * c;
            usage[1] += sign * f64::from(p.worst[o]);
        }
        let mut bits = limits;
        while bits != 0 {
            let j = bits.trailing_zeros() as usize;
            usage[2 + j] += sign * c;
            bits &= bits - 1;
        }
    }

    fn use_of(&self, p: &Part, o: usize) -> Vec<f64> {
        let mut u = vec![0.0; 2 + self.budgets.limits.len()];
        self.add_usage(p, o, &mut u, 1.0);
        u
    }

    /// Customer `c`'s best options at `prices` (one per candidate, at most their cap),
    /// best first.
    ///
    /// A part's options are best first within each candidate and its candidates in order of
    /// their best option (the plan builds them so), and an option's reduced value is at most
    /// its value: the reading stops where no value left can beat what is held.
    fn select(p: &Part, c: usize, prices: &[(f64, f64)], best: &mut Vec<(f64, u32)>) {
        best.clear();
        let k = usize::from(p.caps[c]);
        if k == 0 {
            return;
        }
        for cand in p.customer_starts[c]..p.customer_starts[c + 1] {
            let (lo, hi) = (p.option_starts[cand as usize], p.option_starts[cand as usize + 1]);
            if p.ordered && best.len() == k && p.value[lo as usize] <= best[k - 1].0 {
                break;
            }
            let mut top: Option<(f64, u32)> = None;
            for o in lo..hi {
                if p.ordered && top.is_some_and(|(t, _)| p.value[o as usize] <= t) {
                    break;
                }
                let r = Self::reduced(p, o as usize, prices);
                if r > 0.0 && top.is_none_or(|(t, _)| r > t) {
                    top = Some((r, o));
                }
            }
            // Kept best first, the earlier candidate first among equals.
            if let Some(t) = top
                && (best.len() < k || t.0 > best[k - 1].0)
            {
                if best.len() == k {
                    best.pop();
                }
                let at = best.partition_point(|x| x.0 >= t.0);
                best.insert(at, t);
            }
        }
    }

    fn constraints(&self) -> usize {
        2 + self.budgets.limits.len()
    }

    /// The usage of every constraint at prices `mu`, summed block by block.
    fn usage_at(&self, mu: &[f64]) -> io::Result<Vec<f64>> {
        let m = self.constraints();
        let prices = self.prices(mu);
        let blocks = self.map(|_, p| {
            let mut best = Vec::new();
            p.block_starts
                .windows(2)
                .map(|w| {
                    let mut usage = vec![0.0; m];
                    for c in w[0] as usize..w[1] as usize {
                        Self::select(p, c, &prices, &mut best);
                        for (_, o) in &best {
                            self.add_usage(p, *o as usize, &mut usage, 1.0);
                        }
                    }
                    usage
                })
                .collect::<Vec<_>>()
        })?;
        Ok(fold(blocks.into_iter().flatten(), m))
    }

    /// [`Parts::usage_at`], reporting how many passes were made.
    fn pass(&self, mu: &[f64], report: &dyn Fn(u64)) -> io::Result<Vec<f64>> {
        let usage = self.usage_at(mu)?;
        report(self.passes.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1);
        Ok(usage)
    }

    /// The usage of the chosen options, summed block by block.
    fn usage_of_chosen(&self, chosen: &[Vec<u32>]) -> io::Result<Vec<f64>> {
        let m = self.constraints();
        let blocks = self.map(|i, p| {
            let by = customer_ranges(p, &chosen[i]);
            p.block_starts
                .windows(2)
                .map(|w| {
                    let mut usage = vec![0.0; m];
                    for c in w[0] as usize..w[1] as usize {
                        for o in &chosen[i][by[c]..by[c + 1]] {
                            self.add_usage(p, *o as usize, &mut usage, 1.0);
                        }
                    }
                    usage
                })
                .collect::<Vec<_>>()
        })?;
        Ok(fold(blocks.into_iter().flatten(), m))
    }

    /// The budget prices: the least multipliers at which every budget holds.
    ///
    /// All binding budgets are bracketed and bisected at once, each pass over the customers
    /// giving the usage of every budget (budgets mostly price different options, so they
    /// settle together); the interplay can leave some exceeded at the joint prices, and
    /// those are bracketed again from a little above their price and bisected together,
    /// twice at most (the repair after the selection covers anything left).
    fn multipliers(&self, caps: &[f64], report: &dyn Fn(u64)) -> io::Result<Vec<f64>> {
        let m = caps.len();
        let mut mu = vec![0.0; m];
        for round in 0..3 {
            let usage = self.pass(&mu, report)?;
            let binding: Vec<usize> = (0..m).filter(|j| usage[*j] > caps[*j]).collect();
            if binding.is_empty() {
                break;
            }
            let mut lo = mu.clone();
            let mut hi = mu.clone();
            for &j in &binding {
                hi[j] = if round == 0 || mu[j] == 0.0 { 1e-3 } else { mu[j] * 1.05 };
            }
            self.bisect(&mut mu, &binding, (&mut lo, &mut hi), caps, &usage, report)?;
        }
        Ok(mu)
    }

    /// Brackets (raising each price sixteenfold until its budget holds) and narrows, to 0.1 %
    /// (the fill spends what the last steps would leave), the prices of `binding` at once;
    /// `mu` ends at the upper ends.
    ///
    /// Each narrowing step tries, for every price, where the line through its bracket's ends
    /// (price, usage over the budget) crosses zero, with the Illinois rule (an end kept twice
    /// counts half as much, so both ends close in) and never nearer an end than a hundredth
    /// of the bracket: a budget's usage falls smoothly with its price over a million
    /// customers, and this takes about half the passes of halving the bracket.
    fn bisect(
        &self,
        mu: &mut [f64],
        binding: &[usize],
        (lo, hi): (&mut [f64], &mut [f64]),
        caps: &[f64],
        at_lo: &[f64],
        report: &dyn Fn(u64),
    ) -> io::Result<()> {
        let over = |usage: &[f64], j: usize| usage[j] > caps[j];
        // Usage less the budget at each end of each bracket (indexed as `mu`).
        let mut f_lo: Vec<f64> = (0..mu.len()).map(|j| at_lo[j] - caps[j]).collect();
        let mut f_hi = vec![0.0; mu.len()];
        let mut open: Vec<usize> = binding.iter().copied().filter(|j| over(at_lo, *j)).collect();
        while !open.is_empty() {
            for &j in binding {
                mu[j] = hi[j];
            }
            let usage = self.pass(mu, report)?;
            for &j in binding {
                f_hi[j] = usage[j] - caps[j];
            }
            open.retain(|&j| {
                if over(&usage, j) && hi[j] < 1e9 {
                    (lo[j], f_lo[j]) = (hi[j], usage[j] - caps[j]);
                    hi[j] *= 16.0;
                    true
                } else {
                    false
                }
            });
        }
        // Which end each price's last step moved: -1 the lower, 1 the upper, 0 neither yet.
        let mut moved = vec![0i8; mu.len()];
        for _ in 0..40 {
            if binding.iter().all(|&j| hi[j] - lo[j] <= 1e-3 * hi[j]) {
                break;
            }
            for &j in binding {
                let width = hi[j] - lo[j];
                let (a, b) = (f_lo[j].max(0.0), f_hi[j].min(0.0));
                let cross = if a - b > 0.0 { lo[j] + width * a / (a - b) } else { lo[j] + 0.5 * width };
                mu[j] = cross.clamp(lo[j] + 0.01 * width, hi[j] - 0.01 * width);
            }
            let usage = self.pass(mu, report)?;
            for &j in binding {
                let f = usage[j] - caps[j];
                if f > 0.0 {
                    (lo[j], f_lo[j]) = (mu[j], f);
                    if moved[j] == -1 {
                        f_hi[j] *= 0.5;
                    }
                    moved[j] = -1;
                } else {
                    (hi[j], f_hi[j]) = (mu[j], f);
                    if moved[j] == 1 {
                        f_lo[j] *= 0.5;
                    }
                    moved[j] = 1;
                }
            }
        }
        for &j in binding {
            mu[j] = hi[j];
        }
        Ok(())
    }

    /// Solves the assignment: the chosen options of each part (grouped by customer, in
    /// order), with what they use, the prices and the dual bound; `report` hears of every
    /// pass the prices take.
    pub fn solve(&self, report: &dyn Fn(u64)) -> io::Result<(Vec<Vec<u32>>, Assignment)> {
        let caps = capacities(&self.budgets);
        let m = caps.len();
        let mu = self.multipliers(&caps, report)?;
        // The selection at the final prices. Its reduced values plus the budgets at their
        // prices are the Lagrangian dual: an upper bound on the best possible value.
        let prices = self.prices(&mu);
        let selected = self.map(|_, p| {
            let mut chosen = Vec::new();
            let mut best = Vec::new();
            let duals: Vec<f64> = p
                .block_starts
                .windows(2)
                .map(|w| {
                    let mut dual = 0.0;
                    for c in w[0] as usize..w[1] as usize {
                        Self::select(p, c, &prices, &mut best);
                        chosen.extend(best.iter().map(|(_, o)| *o));
                        dual += best.iter().map(|(r, _)| r).sum::<f64>();
                    }
                    dual
                })
                .collect();
            (chosen, duals)
        })?;
        let mut dual = 0.0;
        let mut chosen = Vec::with_capacity(selected.len());
        for (c, d) in selected {
            chosen.push(c);
            for x in d {
                dual += x;
            }
        }
        dual += mu.iter().zip(&caps).filter(|(m, _)| **m > 0.0).map(|(m, c)| m * c).sum::<f64>();
        // Repair: while a budget is exceeded, drop the chosen options that use it with the
        // least value per cent of it (then in their order), ranked in rounds of at most
        // `Streaming::rank_batch`.
        let mut usage = self.usage_of_chosen(&chosen)?;
        let mut repaired = 0;
        while let Some(j) = (0..m).find(|j| usage[*j] > caps[*j] * (1.0 + 1e-12)) {
            let mut users = Bounded::new(self.settings.rank_batch.max(1));
            self.each(
                |i, p| {
                    let mut local = Bounded::new(self.settings.rank_batch.max(1));
                    for (k, o) in chosen[i].iter().enumerate() {
                        let u = self.use_of(p, *o as usize)[j];
                        if u > 0.0 {
                            local.push(Ranked { key: p.value[*o as usize] / u, at: (i as u32, k as u32), what: u });
                        }
                    }
                    local.into_vec()
                },
                |list| list.into_iter().for_each(|r| users.push(r)),
            )?;
            let mut users = users.into_vec();
            users.sort();
            let mut drop: Vec<HashSet<u32>> = vec![HashSet::new(); chosen.len()];
            let mut left = usage[j];
            for r in users {
                if left <= caps[j] {
                    break;
                }
                left -= r.what;
                drop[r.at.0 as usize].insert(r.at.1);
                repaired += 1;
            }
            for (list, d) in chosen.iter_mut().zip(&drop) {
                if !d.is_empty() {
                    *list =
                        list.iter().enumerate().filter(|(k, _)| !d.contains(&(*k as u32))).map(|(_, o)| *o).collect();
                }
            }
            // Recount from scratch: no drift from repeated subtraction.
            usage = self.usage_of_chosen(&chosen)?;
        }
        let filled = self.fill(&mut chosen, &mut usage, &caps)?;
        let value = self
            .map(|i, p| chosen[i].iter().map(|o| p.value[*o as usize]).collect::<Vec<_>>())?
            .into_iter()
            .flatten()
            .sum::<f64>();
        let assignment = Assignment {
            chosen: Vec::new(),
            usage,
            multipliers: mu,
            value,
            upper_bound: dual.max(value),
            repaired,
            filled,
        };
        Ok((chosen, assignment))
    }

    /// Spends what the multipliers left: ties and the last steps of the bisection can
    /// leave budget that options outside the selection could use. Each candidate's best
    /// option not taken is added, in order of value per cent of cost (then the candidates'
    /// order), when the customer has room and every budget still holds. The candidates that
    /// fit are ranked in rounds of at most `Streaming::rank_batch`, each a pass over the
    /// parts, until none is left. Returns how many were added.
    fn fill(&self, chosen: &mut [Vec<u32>], usage: &mut [f64], caps: &[f64]) -> io::Result<usize> {
        /// What adding a candidate's best option needs to know.
        #[derive(Clone, Copy, PartialEq)]
        struct Add {
            option: u32,
            customer: u32,
            cap: u8,
            combo: u16,
            cost: f64,
            worst: f64,
        }
        let mut counts: Vec<Vec<u8>> = Vec::with_capacity(chosen.len());
        for (i, list) in chosen.iter().enumerate() {
            counts.push(self.with(i, |p| {
                let by = customer_ranges(p, list);
                (0..p.customers()).map(|c| (by[c + 1] - by[c]) as u8).collect()
            })?);
        }
        let mut after: Option<(f64, (u32, u32))> = None;
        let mut added = 0;
        let mut grown = vec![false; chosen.len()];
        loop {
            // The next round: the best `rank_batch` candidates after the last one ranked
            // (value per cent, best first, then the candidates' order) among those that fit
            // now (usage only grows: one that does not fit now never will).
            let mut round = Bounded::new(self.settings.rank_batch.max(1));
            let mut overflowed = false;
            let counts_now = &counts;
            let usage_now = &*usage;
            let chosen_now = &*chosen;
            self.each(
                |i, p| {
                    let list = &chosen_now[i];
                    let mut taken = vec![false; p.option_starts.len().saturating_sub(1)];
                    for o in list {
                        taken[p.option_starts.partition_point(|s| *s <= *o) - 1] = true;
                    }
                    let mut local = Bounded::new(self.settings.rank_batch.max(1));
                    let mut single = vec![0.0; usage_now.len()];
                    #[allow(clippy::needless_range_loop)] // c indexes the part's arrays too
                    for c in 0..p.customers() {
                        if counts_now[i][c] >= p.caps[c] {
                            continue;
                        }
                        for cand in p.customer_starts[c]..p.customer_starts[c + 1] {
                            if taken[cand as usize] {
                                continue;
                            }
                            let (a, b) = (p.option_starts[cand as usize], p.option_starts[cand as usize + 1]);
                            let best = (a..b)
                                .filter(|o| p.value[*o as usize] > 0.0)
                                .max_by(|x, y| p.value[*x as usize].total_cmp(&p.value[*y as usize]));
                            let Some(o) = best else { continue };
                            let o = o as usize;
                            // Best value per cent first: ranked by its negative.
                            let key = -(p.value[o] / p.cost[o].max(1e-9));
                            let at = (i as u32, cand);
                            if after.is_some_and(|a| key.total_cmp(&a.0).then(at.cmp(&a.1)).is_le()) {
                                continue;
                            }
                            single.iter_mut().for_each(|v| *v = 0.0);
                            self.add_combo(p.combo[o], p.cost[o], f64::from(p.worst[o]), &mut single);
                            if !usage_now.iter().zip(&single).zip(caps).all(|((u, s), cap)| u + s <= *cap) {
                                continue;
                            }
                            let what = Add {
                                option: o as u32,
                                customer: c as u32,
                                cap: p.caps[c],
                                combo: p.combo[o],
                                cost: p.cost[o],
                                worst: f64::from(p.worst[o]),
                            };
                            local.push(Ranked { key, at, what });
                        }
                    }
                    (local.overflowed, local.into_vec())
                },
                |(over, list)| {
                    overflowed |= over;
                    list.into_iter().for_each(|r| round.push(r));
                },
            )?;
            let complete = !round.overflowed && !overflowed;
            let mut round = round.into_vec();
            round.sort();
            let mut single = vec![0.0; usage.len()];
            for r in &round {
                let (i, c) = (r.at.0 as usize, r.what.customer as usize);
                if counts[i][c] >= r.what.cap {
                    continue;
                }
                single.iter_mut().for_each(|v| *v = 0.0);
                self.add_combo(r.what.combo, r.what.cost, r.what.worst, &mut single);
                if usage.iter().zip(&single).zip(caps).all(|((u, s), cap)| u + s <= *cap) {
                    for (u, s) in usage.iter_mut().zip(&single) {
                        *u += s;
                    }
                    counts[i][c] += 1;
                    chosen[i].push(r.what.option);
                    grown[i] = true;
                    added += 1;
                }
            }
            after = round.last().map(|r| (r.key, r.at));
            // Done when every candidate that fitted was ranked.
            if complete {
                break;
            }
        }
        // Keep the order by customer (stable: each customer's selection first, then what
        // the fill added).
        for (i, list) in chosen.iter_mut().enumerate() {
            if grown[i] {
                self.with(i, |p| {
                    list.sort_by_cached_key(|o| {
                        let cand = p.option_starts.partition_point(|s| *s <= *o) - 1;
                        p.customer_starts.partition_point(|s| *s as usize <= cand) - 1
                    });
                })?;
            }
        }
        Ok(added)
    }

    fn add_combo(&self, combo: u16, c: f64, w: f64, usage: &mut [f64]) {
        let (limits, in_total) = self.combos[combo as usize];
        if in_total {
            usage[0] += c;
            usage[1] += w;
        }
        let mut bits = limits;
        while bits != 0 {
            let j = bits.trailing_zeros() as usize;
            usage[2 + j] += c;
            bits &= bits - 1;
        }
    }
}

/// Something ranked by `key` (least first), then by where it is (`at`, ascending).
#[derive(Clone, Copy)]
struct Ranked<T> {
    key: f64,
    at: (u32, u32),
    what: T,
}

impl<T> PartialEq for Ranked<T> {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o).is_eq()
    }
}
impl<T> Eq for Ranked<T> {}
impl<T> PartialOrd for Ranked<T> {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl<T> Ord for Ranked<T> {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.key.total_cmp(&o.key).then(self.at.cmp(&o.at))
    }
}

/// The `k` first of what is pushed, in bounded memory.
struct Bounded<T> {
    heap: BinaryHeap<Ranked<T>>,
    k: usize,
    overflowed: bool,
}

impl<T> Bounded<T> {
    fn new(k: usize) -> Self {
        Bounded { heap: BinaryHeap::new(), k, overflowed: false }
    }

    fn push(&mut self, r: Ranked<T>) {
        if self.heap.len() == self.k {
            self.overflowed = true;
            if self.heap.peek().is_some_and(|top| r < *top) {
                self.heap.pop();
            } else {
                return;
            }
        }
        self.heap.push(r);
    }

    fn into_vec(self) -> Vec<Ranked<T>> {
        self.heap.into_vec()
    }
}

/// For each customer of `p`, where their options start in `chosen` (grouped by customer),
/// plus the end.
fn customer_ranges(p: &Part, chosen: &[u32]) -> Vec<usize> {
    let n = p.customers();
    let mut by = vec![0usize; n + 1];
    let mut k = 0;
    for (c, start) in by.iter_mut().take(n).enumerate() {
        *start = k;
        let end = p.option_starts[p.customer_starts[c + 1] as usize];
        while k < chosen.len() && chosen[k] < end {
            k += 1;
        }
    }
    by[n] = k;
    by
}

fn fold(blocks: impl Iterator<Item = Vec<f64>>, m: usize) -> Vec<f64> {
    let mut total = vec![0.0; m];
    for b in blocks {
        for (t, x) in total.iter_mut().zip(b) {
            *t += x;
        }
    }
    total
}

#[cfg(unix)]
fn read_at(file: &File, bytes: &mut [u8]) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, bytes, 0)
}

#[cfg(not(unix))]
fn read_at(file: &File, bytes: &mut [u8]) -> io::Result<()> {
    use std::io::{Read, Seek};
    let mut f = file.try_clone()?;
    f.seek(io::SeekFrom::Start(0))?;
    f.read_exact(bytes)
}

/// One is one, customer by customer in order: a customer whose offer set is the same as an
/// earlier customer's gets a set of their own at the least cost in value. Every swap of
/// one chosen offer for another of the customer's options (another product, or another
/// depth of the same one) and, when the customer has room, every added option, is tried;
/// the one losing least value is made if it loses at most `max_loss` of the customer's set
/// value, keeps every budget, and gives a set no one has yet. Sets are remembered by a
/// 128-bit digest of their sorted keys.
pub struct Diversifier {
    seen: HashSet<u128, foldhash::fast::FixedState>,
    /// Use of every constraint, kept current.
    pub usage: Vec<f64>,
    caps: Vec<f64>,
    /// Value given up (negative: gained), cents.
    pub loss: f64,
    /// Customers given a set of their own.
    pub changed: usize,
    max_loss: f64,
}

impl Diversifier {
    /// Starts from the assignment's usage.
    pub fn new(budgets: &Budgets, usage: Vec<f64>, max_loss: f64) -> Diversifier {
        Diversifier {
            seen: HashSet::with_hasher(foldhash::fast::FixedState::with_seed(0)),
            usage,
            caps: capacities(budgets),
            loss: 0.0,
            changed: 0,
            max_loss,
        }
    }

    fn digest(mut sig: Vec<(u64, i64)>) -> u128 {
        sig.sort_unstable();
        let a = foldhash::fast::FixedState::with_seed(0x756e_6963_6f31).hash_one(&sig);
        let b = foldhash::fast::FixedState::with_seed(0x756e_6963_6f32).hash_one(&sig);
        (u128::from(a) << 64) | u128::from(b)
    }

    /// One customer's set (option indices into `options`; their candidates
    /// `cands`, each candidate's options from `option_starts`), changed in place when it
    /// repeats an earlier one and a set of their own is worth it; `consider` false keeps it
    /// as it is. `cap`: most offers for them.
    #[allow(clippy::too_many_arguments)]
    pub fn customer(
        &mut self,
        options: &[Option_],
        option_starts: &[u32],
        cands: std::ops::Range<u32>,
        budgets: &Budgets,
        cap: usize,
        set: &mut Vec<u32>,
        key: &dyn Fn(&Option_) -> (u64, i64),
        consider: bool,
    ) {
        let signature = |set: &[u32]| Self::digest(set.iter().map(|o| key(&options[*o as usize])).collect());
        if set.is_empty() || !consider {
            return;
        }
        let sig = signature(set);
        if self.seen.insert(sig) {
            return;
        }
        let m = self.caps.len();
        let use_of = |o: u32| {
            let mut u = vec![0.0; m];
            usage_of(&options[o as usize], budgets, &mut u);
            u
        };
        let total: f64 = set.iter().map(|o| options[*o as usize].value).sum();
        let in_set = |cand: u32, set: &[u32]| set.iter().any(|o| options[*o as usize].candidate == cand);
        // (loss, option out or none, option in)
        let mut best: Option<(f64, Option<usize>, u32)> = None;
        for cand in cands {
            for o2 in option_starts[cand as usize]..option_starts[cand as usize + 1] {
                let v2 = options[o2 as usize].value;
                if v2 <= 0.0 || set.contains(&o2) {
                    continue;
                }
                let u2 = use_of(o2);
                // Swaps: out one offer (of the same candidate when o2 is another depth of it).
                for (i, &out) in set.iter().enumerate() {
                    let out_cand = options[out as usize].candidate;
                    if out_cand != cand && in_set(cand, set) {
                        continue;
                    }
                    let loss = options[out as usize].value - v2;
                    if loss > self.max_loss * total || best.as_ref().is_some_and(|b| b.0 <= loss) {
                        continue;
                    }
                    let u1 = use_of(out);
                    if (0..m).any(|j| self.usage[j] - u1[j] + u2[j] > self.caps[j] * (1.0 + 1e-12)) {
                        continue;
                    }
                    let mut trial = set.clone();
                    trial[i] = o2;
                    if !self.seen.contains(&signature(&trial)) {
                        best = Some((loss, Some(i), o2));
                    }
                }
                // Additions, when the customer has room: a gain, not a loss.
                if set.len() < cap && !in_set(cand, set) {
                    let loss = -v2;
                    if best.as_ref().is_some_and(|b| b.0 <= loss) {
                        continue;
                    }
                    if (0..m).any(|j| self.usage[j] + u2[j] > self.caps[j] * (1.0 + 1e-12)) {
                        continue;
                    }
                    let mut trial = set.clone();
                    trial.push(o2);
                    if !self.seen.contains(&signature(&trial)) {
                        best = Some((loss, None, o2));
                    }
                }
            }
        }
        let Some((loss, out, o2)) = best else {
            return;
        };
        let u2 = use_of(o2);
        match out {
            Some(i) => {
                let u1 = use_of(set[i]);
                for ((u, add), sub) in self.usage.iter_mut().zip(&u2).zip(&u1) {
                    *u += add - sub;
                }
                set[i] = o2;
            }
            None => {
                for (u, add) in self.usage.iter_mut().zip(&u2) {
                    *u += add;
                }
                set.push(o2);
            }
        }
        self.loss += loss;
        self.seen.insert(signature(set));
        self.changed += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assign::Mechanic;

    fn option(worst_cost: i64) -> Option_ {
        Option_ {
            candidate: 0,
            discount_cents: worst_cost,
            percent: 0,
            mechanic: Mechanic::Unit,
            value: 1.5,
            expected_cost: 0.25,
            worst_cost,
            incremental_margin: 1.5,
            p_redeem: 0.5,
            limits: 0,
            in_total: true,
        }
    }

    fn part(worst_cost: i64) -> io::Result<Part> {
        let mut combos = Combos::default();
        combos.id(0, true);
        let budgets = Budgets { expected_basis: true, total: 1.0, worst_case: None, limits: vec![], per_customer: 1 };
        Part::new(vec![0, 1], vec![0, 1], vec![0, 1], vec![1], &[option(worst_cost)], &budgets, &combos, true)
    }

    /// The compact worst case is exact up to 2^32 − 1 cents, kept bit for bit through a
    /// temporary file, and a larger one is a clear error, not a wrong budget.
    #[test]
    fn compact_options_are_exact_or_refused() {
        let p = part(4_294_967_295).expect("the largest worst case a part holds");
        assert_eq!(f64::from(p.worst[0]), 4_294_967_295.0);
        let mut bytes = Vec::new();
        p.write(&mut bytes).expect("to memory");
        let mut back = Part::default();
        back.read_into(&bytes);
        assert_eq!(back, p);
        let err = part(4_294_967_296).expect_err("above 32 bits");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("4294967296 cents"), "{err}");
        assert!(part(-1).is_err());
    }
}
