//! Customers grouped into distinct `(x, t_x, T)` rows with a count, and the parallel sum of
//! a per-row log-likelihood over them.
//!
//! Fitting evaluates the likelihood hundreds of times; grouping identical summaries (many
//! customers share a frequency, recency and age measured in whole days) and splitting the
//! sum across cores makes each evaluation proportional to the distinct rows, not customers.

use super::summary::Summary;
use foldhash::HashMap;

/// A fixed pseudo-random rank of a row's key, for a canonical order that scatters the keys.
pub(crate) fn canonical_rank<K: std::hash::Hash>(key: &K) -> u64 {
    use std::hash::BuildHasher;
    foldhash::quality::FixedState::with_seed(0x0067_726f_7570).hash_one(key)
}

/// Distinct repeat-purchase summaries with how many customers share each.
#[derive(Debug, Clone, Default)]
pub struct Grouped {
    /// Repeat transactions.
    pub x: Vec<u32>,
    /// Recency t_x.
    pub recency: Vec<f64>,
    /// Age T.
    pub age: Vec<f64>,
    /// Number of customers with this row.
    pub weight: Vec<f64>,
    /// Distinct recency values, and each row's index into them.
    pub recency_values: Vec<f64>,
    /// Index of each row's recency in `recency_values`.
    pub recency_index: Vec<u32>,
    /// Distinct age values.
    pub age_values: Vec<f64>,
    /// Index of each row's age in `age_values`.
    pub age_index: Vec<u32>,
    /// Total number of customers.
    pub customers: f64,
    /// Largest `x`.
    pub max_x: u32,
}

impl Grouped {
    /// Every k-th row, keeping its weight, so that it has about `rows` rows; `None` when
    /// there are not more than `rows` already.
    pub fn sample(&self, rows: usize) -> Option<Grouped> {
        if self.x.len() <= rows {
            return None;
        }
        let k = self.x.len().div_ceil(rows);
        // The kept rows keep their weights and, being a subsequence of the canonical order,
        // their order.
        let g = Grouped::from_rows_in_order(
            (0..self.x.len()).step_by(k).map(|i| (self.x[i], self.recency[i], self.age[i], self.weight[i])),
        );
        Some(g)
    }

    /// Groups the summaries, in the order each distinct row first appears.
    pub fn new<'a>(summaries: impl IntoIterator<Item = &'a Summary>) -> Grouped {
        Grouped::from_rows_in_order(summaries.into_iter().map(|s| (s.frequency, s.recency, s.age, 1.0)))
    }

    /// Groups `(x, t_x, T, customers)` rows, already grouped or not (a distributed engine's
    /// group-by hands them over in any order). Rows are kept in one canonical order — the
    /// most common first, ties by `(x, t_x, T)` — so that the likelihood's sums, and so the
    /// fit, are the same to the last bit whatever order the customers came in: what
    /// `unico model build` and the Spark job use. The price, measured on 1M simulated
    /// customers: BG/NBD fits in 1.9 s where the order of first appearance
    /// ([`Grouped::from_rows_in_order`], which no other engine can reproduce) takes 0.65 s,
    /// with about as many iterations; sorted by key alone 2.6 s, by a hash of the key 2.0 s
    /// (decision 0029).
    pub fn from_rows(rows: impl IntoIterator<Item = (u32, f64, f64, f64)>) -> Grouped {
        let mut distinct = Self::distinct(rows);
        distinct.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        Self::of_distinct(distinct)
    }

    /// Groups rows keeping the order in which each distinct row first appears (the order of
    /// one machine's pass, and the fastest to fit).
    pub fn from_rows_in_order(rows: impl IntoIterator<Item = (u32, f64, f64, f64)>) -> Grouped {
        Self::of_distinct(Self::distinct(rows))
    }

    fn distinct(rows: impl IntoIterator<Item = (u32, f64, f64, f64)>) -> Vec<((u32, u64, u64), f64)> {
        let mut index: HashMap<(u32, u64, u64), usize> = HashMap::default();
        let mut distinct: Vec<((u32, u64, u64), f64)> = Vec::new();
        for (x, recency, age, weight) in rows {
            let key = (x, recency.to_bits(), age.to_bits());
            let i = *index.entry(key).or_insert_with(|| {
                distinct.push((key, 0.0));
                distinct.len() - 1
            });
            distinct[i].1 += weight;
        }
        distinct
    }

    fn of_distinct(distinct: Vec<((u32, u64, u64), f64)>) -> Grouped {
        let mut g = Grouped::default();
        for ((x, recency, age), weight) in distinct {
            g.x.push(x);
            g.recency.push(f64::from_bits(recency));
            g.age.push(f64::from_bits(age));
            g.weight.push(weight);
            g.customers += weight;
            g.max_x = g.max_x.max(x);
        }
        // Times measured in whole days take few distinct values: per-evaluation terms that
        // depend on one time only (ln(α + T)) are computed once per value, not per row.
        let index = |values: &[f64]| -> (Vec<f64>, Vec<u32>) {
            let mut map: HashMap<u64, u32> = HashMap::default();
            let mut distinct = Vec::new();
            let idx = values
                .iter()
                .map(|v| {
                    *map.entry(v.to_bits()).or_insert_with(|| {
                        distinct.push(*v);
                        (distinct.len() - 1) as u32
                    })
                })
                .collect();
            (distinct, idx)
        };
        (g.recency_values, g.recency_index) = index(&g.recency);
        (g.age_values, g.age_index) = index(&g.age);
        g
    }

    /// `Σ f(i)` over row indices `0..n`, split across the machine's cores.
    pub fn parallel_sums<const N: usize>(n: usize, f: &(impl Fn(usize) -> [f64; N] + Sync)) -> [f64; N] {
        let part = |lo: usize, hi: usize| -> [f64; N] {
            let mut acc = [0.0; N];
            for i in lo..hi {
                let v = f(i);
                for k in 0..N {
                    acc[k] += v[k];
                }
            }
            acc
        };
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
        if n < 20_000 || threads == 1 {
            return part(0, n);
        }
        let chunk = n.div_ceil(threads);
        std::thread::scope(|scope| {
            let handles: Vec<_> =
                (0..threads).map(|t| scope.spawn(move || part((t * chunk).min(n), ((t + 1) * chunk).min(n)))).collect();
            handles.into_iter().map(|h| h.join().expect("likelihood worker")).fold([0.0; N], |mut a, b| {
                for k in 0..N {
                    a[k] += b[k];
                }
                a
            })
        })
    }

    /// Number of distinct rows.
    pub fn len(&self) -> usize {
        self.x.len()
    }

    /// Whether there is no customer.
    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
    }

    /// `Σ weight · f(row)` over all rows, split across the machine's cores.
    pub fn weighted_sum(&self, f: &(impl Fn(u32, f64, f64) -> f64 + Sync)) -> f64 {
        self.weighted_sums(&|x, tx, t| [f(x, tx, t)])[0]
    }

    /// `Σ weight · f(row)` of a vector-valued `f` (a gradient in one pass).
    pub fn weighted_sums<const N: usize>(&self, f: &(impl Fn(u32, f64, f64) -> [f64; N] + Sync)) -> [f64; N] {
        Self::parallel_sums(self.len(), &|i| {
            let mut v = f(self.x[i], self.recency[i], self.age[i]);
            for k in v.iter_mut() {
                *k *= self.weight[i];
            }
            v
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_keeps_every_kth_row_with_its_weight() {
        // 1,000 distinct rows, row i held by i % 3 + 1 customers.
        let summaries: Vec<Summary> = (0..1000u32)
            .flat_map(|i| {
                std::iter::repeat_n(
                    Summary { frequency: i % 7, recency: f64::from(i % 7), age: f64::from(i) + 10.0, monetary: 0.0 },
                    (i % 3 + 1) as usize,
                )
            })
            .collect();
        let g = Grouped::new(&summaries);
        assert_eq!(g.x.len(), 1000);
        assert!(g.sample(1000).is_none(), "no sample when the rows are few enough");
        let s = g.sample(100).unwrap();
        assert_eq!(s.x.len(), 100);
        for (j, i) in (0..1000).step_by(10).enumerate() {
            assert_eq!((s.x[j], s.age[j], s.weight[j]), (g.x[i], g.age[i], g.weight[i]));
        }
        assert_eq!(s.customers, s.weight.iter().sum::<f64>());
        assert_eq!(s.age_values.len(), 100, "the value tables are rebuilt for the sample");
    }
}
