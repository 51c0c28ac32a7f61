//! The data-quality report: what the lake holds, month by month, and what was rejected.
//!
//! An analyst reads it after every import: receipts and lines per month (a hole means a
//! missing export), the share of revenue and receipts made with a card (the loyalty share),
//! stores and products that sales mention but master data lacks, and rejects by reason.
//! It is computed one month partition at a time, so its memory is one month's receipt ids.

use crate::error::Error;
use crate::lake::{Lake, Month};
use crate::mapping::Dataset;
use crate::read;
use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// One month of receipts.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MonthQuality {
    /// `YYYY-MM` in the chain's zone.
    pub month: String,
    /// Distinct receipts.
    pub receipts: u64,
    /// Receipt lines.
    pub lines: u64,
    /// Net revenue in cents.
    pub revenue_cents: i64,
    /// Net revenue of receipts with a card, in cents.
    pub card_revenue_cents: i64,
    /// Receipts with a card.
    pub card_receipts: u64,
}

/// The whole report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct QualityReport {
    /// Month by month, oldest first.
    pub months: Vec<MonthQuality>,
    /// Stores mentioned by receipts.
    pub stores_in_receipts: u64,
    /// Stores in the store master.
    pub stores_in_master: u64,
    /// Stores mentioned by receipts but missing from the master.
    pub stores_without_master: u64,
    /// Products sold.
    pub products_in_receipts: u64,
    /// Products in the product master.
    pub products_in_master: u64,
    /// Products sold but missing from the master (no category, no cost: no margin).
    pub products_without_master: u64,
    /// Receipt lines whose product is missing from the master.
    pub lines_without_product_master: u64,
    /// Distinct cards (customer keys) seen.
    pub cards: u64,
    /// Imports published, all datasets.
    pub imports: u64,
    /// Rows rejected by all imports, by reason code.
    pub rejected_by_reason: BTreeMap<String, u64>,
}

impl QualityReport {
    /// Share of net revenue made with a card (0–1); `None` with no revenue.
    pub fn card_revenue_share(&self) -> Option<f64> {
        let total: i64 = self.months.iter().map(|m| m.revenue_cents).sum();
        let card: i64 = self.months.iter().map(|m| m.card_revenue_cents).sum();
        (total != 0).then(|| card as f64 / total as f64)
    }

    /// Share of receipts made with a card (0–1); `None` with no receipts.
    pub fn card_receipt_share(&self) -> Option<f64> {
        let total: u64 = self.months.iter().map(|m| m.receipts).sum();
        let card: u64 = self.months.iter().map(|m| m.card_receipts).sum();
        (total != 0).then(|| card as f64 / total as f64)
    }
}

/// Computes the report over the published lake.
pub fn report(lake: &Lake) -> Result<QualityReport, Error> {
    let master_stores = read::string_column_set(lake, Dataset::Stores, "store_id")?;
    let master_skus = read::string_column_set(lake, Dataset::Products, "sku")?;
    let mut by_month: BTreeMap<Month, Vec<std::path::PathBuf>> = BTreeMap::new();
    for f in lake.parquet_files(Dataset::Receipts)? {
        let month = f.parent().and_then(|d| d.file_name()).and_then(|n| Month::from_dir_name(&n.to_string_lossy()));
        if let Some(m) = month {
            by_month.entry(m).or_default().push(f);
        }
    }
    let mut stores = HashSet::new();
    let mut skus = HashSet::new();
    let mut cards: HashSet<u128> = HashSet::new();
    let mut lines_without_product = 0u64;
    let mut months = Vec::new();
    for (month, files) in by_month {
        // receipt hash -> (net cents, has card)
        let mut receipts: HashMap<u64, (i64, bool)> = HashMap::new();
        let mut lines = 0u64;
        for f in files {
            read::for_each_batch(&f, &["receipt_id", "store_id", "customer_key", "sku", "net_amount_cents"], |b| {
                let rid = b.column(0).as_string::<i32>();
                let store = b.column(1).as_string::<i32>();
                let key = b.column(2).as_string::<i32>();
                let sku = b.column(3).as_string::<i32>();
                let net = b.column(4).as_primitive::<Int64Type>();
                for i in 0..b.num_rows() {
                    lines += 1;
                    let e = receipts.entry(xxhash_rust::xxh3::xxh3_64(rid.value(i).as_bytes())).or_default();
                    e.0 += net.value(i);
                    if key.is_valid(i) {
                        e.1 = true;
                        cards.insert(xxhash_rust::xxh3::xxh3_128(key.value(i).as_bytes()));
                    }
                    if !stores.contains(store.value(i)) {
                        stores.insert(store.value(i).to_string());
                    }
                    let s = sku.value(i);
                    if !master_skus.contains(s) {
                        lines_without_product += 1;
                    }
                    if !skus.contains(s) {
                        skus.insert(s.to_string());
                    }
                }
                Ok(())
            })?;
        }
        months.push(MonthQuality {
            month: month.to_string(),
            receipts: receipts.len() as u64,
            lines,
            revenue_cents: receipts.values().map(|r| r.0).sum(),
            card_revenue_cents: receipts.values().filter(|r| r.1).map(|r| r.0).sum(),
            card_receipts: receipts.values().filter(|r| r.1).count() as u64,
        });
    }
    let mut rejected_by_reason = BTreeMap::new();
    let mut imports = 0u64;
    for dataset in Dataset::ALL {
        for path in lake.import_summaries(dataset)? {
            let text = std::fs::read(&path).map_err(|e| Error::io(path.display(), e))?;
            if let Ok(s) = serde_json::from_slice::<crate::ImportSummary>(&text) {
                imports += 1;
                for (k, v) in s.rejected {
                    *rejected_by_reason.entry(k).or_default() += v;
                }
            }
        }
    }
    Ok(QualityReport {
        months,
        stores_in_receipts: stores.len() as u64,
        stores_in_master: master_stores.len() as u64,
        stores_without_master: stores.iter().filter(|s| !master_stores.contains(*s)).count() as u64,
        products_in_receipts: skus.len() as u64,
        products_in_master: master_skus.len() as u64,
        products_without_master: skus.iter().filter(|s| !master_skus.contains(*s)).count() as u64,
        lines_without_product_master: lines_without_product,
        cards: cards.len() as u64,
        imports,
        rejected_by_reason,
    })
}
