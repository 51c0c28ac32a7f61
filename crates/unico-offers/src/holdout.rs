//! The randomised holdout: customers who get nothing, the basis of every uplift figure.
//!
//! Customers are grouped into strata (segment × preferred store); within each stratum
//! they are put in a random order drawn from the campaign's seed and the first
//! `share × size` are held out, the fractional parts carried from stratum to stratum so
//! the total is `share × N` to within one customer. Every stratum is held out in the same
//! proportion (to within one customer), so the holdout looks like the treated group in
//! segment and store mix by construction, and the same seed and customers give the same
//! holdout whatever order they come in.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use std::collections::BTreeMap;
use std::hash::BuildHasher;

/// For each customer `(key, stratum)`, whether they are held out.
pub fn draw<K: AsRef<str>, S: AsRef<str>>(customers: &[(K, S)], share: f64, seed: u64) -> Vec<bool> {
    draw_by(customers.len(), |i| customers[i].0.as_ref(), |i| customers[i].1.as_ref(), share, seed)
}

/// For each of `n` customers (their key and stratum by index), whether they are held out.
pub fn draw_by<'a>(
    n: usize,
    key: impl Fn(usize) -> &'a str,
    stratum_of: impl Fn(usize) -> &'a str,
    share: f64,
    seed: u64,
) -> Vec<bool> {
    let mut strata: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    for i in 0..n {
        strata.entry(stratum_of(i)).or_default().push(i as u32);
    }
    let mut out = vec![false; n];
    let mut carried = 0.0;
    for (stratum, mut members) in strata {
        members.sort_by(|a, b| key(*a as usize).cmp(key(*b as usize)));
        let stream = foldhash::fast::FixedState::with_seed(seed).hash_one(stratum);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ stream);
        members.shuffle(&mut rng);
        let target = carried + share * members.len() as f64;
        let take = target.floor() as usize;
        carried = target - take as f64;
        for i in members.into_iter().take(take) {
            out[i as usize] = true;
        }
    }
    out
}

/// A stable stratum name from segment and store.
pub fn stratum(segment: &str, store: Option<&str>) -> String {
    format!("{segment}|{}", store.unwrap_or("-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_holdout_is_balanced_and_stable() {
        let customers: Vec<(String, String)> = (0..10_000)
            .map(|i| (format!("k{i}"), stratum(["champions", "loyal", "new"][i % 3], Some(["s1", "s2"][i % 7 % 2]))))
            .collect();
        let h = draw(&customers, 0.1, 7);
        let total = h.iter().filter(|b| **b).count();
        assert!((999..=1001).contains(&total), "{total}");
        let mut by: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for ((_, s), held) in customers.iter().zip(&h) {
            let e = by.entry(s.as_str()).or_default();
            e.0 += 1;
            e.1 += usize::from(*held);
        }
        for (s, (n, held)) in by {
            assert!((held as f64 - 0.1 * n as f64).abs() <= 1.0, "{s}: {held} of {n}");
        }
        // Order of the input does not matter; the seed does.
        let mut reversed = customers.clone();
        reversed.reverse();
        let mut hr = draw(&reversed, 0.1, 7);
        hr.reverse();
        assert_eq!(h, hr);
        assert_ne!(h, draw(&customers, 0.1, 8));
    }
}
