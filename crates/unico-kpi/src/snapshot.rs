//! What the behavioural model says at its date: lapsed customers and lifetime value, and the
//! segments KPIs are split by.

use crate::cube::{Segments, key_hash};
use serde::Serialize;
use std::collections::BTreeMap;

/// A customer is lapsed when the model's P(alive) is under this.
pub const LAPSED_BELOW: f64 = 0.5;

/// The model's view of a group of customers.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Snapshot {
    /// Scored cardholders.
    pub customers: u64,
    /// Of them, with P(alive) under 0.5.
    pub lapsed: u64,
    /// lapsed ÷ customers.
    pub lapsed_share: f64,
    /// Mean P(alive).
    pub mean_p_alive: f64,
    /// Mean CLV over the model's horizon, cents.
    pub average_clv_cents: i64,
}

/// The model's profiles, read once.
#[derive(Debug, Clone, Default)]
pub struct Profiles {
    /// Segments by customer.
    pub segments: Segments,
    /// Months of the CLV column.
    pub clv_months: u32,
    rows: Vec<(u16, Option<String>, f64, i64)>, // segment, preferred store, p_alive, clv
}

impl Profiles {
    /// Empty profiles of a model whose CLV spans `clv_months` (the model's own reader
    /// fills them with [`Profiles::push`]).
    pub fn new(clv_months: u32) -> Profiles {
        Profiles { clv_months, ..Profiles::default() }
    }

    /// Adds one customer's profile.
    pub fn push(
        &mut self,
        customer_key: &str,
        segment: &str,
        preferred_store: Option<String>,
        p_alive: f64,
        clv_cents: i64,
    ) {
        let s = self.segments.intern(segment);
        self.segments.of.insert(key_hash(customer_key), s);
        self.rows.push((s, preferred_store, p_alive, clv_cents));
    }

    /// The snapshot of every profile passing `keep(segment, preferred store)`.
    pub fn snapshot(&self, keep: impl Fn(&str, Option<&str>) -> bool) -> Snapshot {
        let mut s = Snapshot::default();
        let (mut p_sum, mut clv_sum) = (0.0, 0i64);
        for (seg, store, p, clv) in &self.rows {
            if !keep(&self.segments.names[*seg as usize], store.as_deref()) {
                continue;
            }
            s.customers += 1;
            s.lapsed += u64::from(*p < LAPSED_BELOW);
            p_sum += p;
            clv_sum += clv;
        }
        if s.customers > 0 {
            s.lapsed_share = s.lapsed as f64 / s.customers as f64;
            s.mean_p_alive = p_sum / s.customers as f64;
            s.average_clv_cents = (clv_sum as f64 / s.customers as f64).round() as i64;
        }
        s
    }

    /// Snapshots by segment.
    pub fn by_segment(&self) -> BTreeMap<String, Snapshot> {
        self.segments.names.iter().map(|n| (n.clone(), self.snapshot(|s, _| s == n))).collect()
    }
}
