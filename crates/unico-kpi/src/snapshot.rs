//! What the behavioural model says at its date: lapsed customers and lifetime value, and the
//! segments KPIs are split by.

use crate::cube::{Segments, key_hash};
use crate::error::{Error, ErrorKind};
use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

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
    /// Reads `profiles.parquet`; an absent file gives empty profiles.
    pub fn read(path: &Path) -> Result<Profiles, Error> {
        let mut out = Profiles::default();
        if !path.exists() {
            return Ok(out);
        }
        let file =
            std::fs::File::open(path).map_err(|e| Error::new(ErrorKind::Lake, format!("{}: {e}", path.display())))?;
        let meta = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|e| Error::new(ErrorKind::Lake, format!("{}: {e}", path.display())))?;
        let clv = meta
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .find(|n| n.starts_with("clv_") && n.ends_with("_months_cents"))
            .ok_or_else(|| Error::new(ErrorKind::Lake, format!("{} has no CLV column", path.display())))?;
        out.clv_months = clv.trim_start_matches("clv_").trim_end_matches("_months_cents").parse().unwrap_or(0);
        let columns = ["customer_key", "segment", "preferred_store_id", "p_alive", clv.as_str()];
        unico_lake::read::for_each_batch(path, &columns, |b| {
            let key = b.column(0).as_string::<i32>();
            let seg = b.column(1).as_string::<i32>();
            let store = b.column(2).as_string::<i32>();
            let p = b.column(3).as_primitive::<Float64Type>();
            let clv = b.column(4).as_primitive::<Int64Type>();
            for i in 0..b.num_rows() {
                let s = out.segments.intern(seg.value(i));
                out.segments.of.insert(key_hash(key.value(i)), s);
                let st = (!store.is_null(i)).then(|| store.value(i).to_string());
                out.rows.push((s, st, p.value(i), clv.value(i)));
            }
            Ok(())
        })?;
        Ok(out)
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
