//! Reading `profiles.parquet` back: the one reader of the file `build` writes, for every
//! consumer (the operational store's published profiles, the campaign plan, the KPIs'
//! segments and model snapshot). Rows stream through a callback, batch by batch.

use crate::build::PROFILES_FILE;
use crate::error::{Error, ErrorKind};
use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, Int64Type, UInt8Type};
use std::path::Path;

/// One customer's profile, as the model wrote it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileRecord {
    /// The pseudonymous key.
    pub customer_key: String,
    /// The RFM segment.
    pub segment: String,
    /// RFM scores (1 = lowest).
    pub r_score: u8,
    /// Frequency score.
    pub f_score: u8,
    /// Monetary score.
    pub m_score: u8,
    /// P(alive) as of the model's date.
    pub p_alive: f64,
    /// Expected purchase days within the file's horizon ([`ProfileColumns::horizon_days`]).
    pub expected_purchases: f64,
    /// Customer lifetime value over [`ProfileColumns::clv_months`], cents.
    pub clv_cents: i64,
    /// Average receipt, cents.
    pub average_receipt_cents: i64,
    /// Share of spend that carried a discount (0–1).
    pub discount_share: f64,
    /// The store they use most (none for online-only customers).
    pub preferred_store_id: Option<String>,
    /// The channel they use most.
    pub preferred_channel: String,
    /// The weekday they shop most.
    pub preferred_weekday: String,
    /// The hour they shop most (0–23).
    pub preferred_hour: u8,
    /// The day of their last purchase (days since 1970-01-01).
    pub last_purchase_day: i32,
}

/// The horizons a profiles file was built with (they name two of its columns).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProfileColumns {
    /// Days of the expected purchases.
    pub horizon_days: u32,
    /// Months of the CLV.
    pub clv_months: u32,
}

/// Calls `each` with every profile of the model in `model_dir`; `Ok(None)` when no model
/// has been built there yet.
pub fn for_each_profile(
    model_dir: &Path,
    mut each: impl FnMut(ProfileRecord),
) -> Result<Option<ProfileColumns>, Error> {
    let path = model_dir.join(PROFILES_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let bad = |what: String| Error::new(ErrorKind::Lake, format!("{}: {what}", path.display()));
    let file = std::fs::File::open(&path).map_err(|e| bad(e.to_string()))?;
    let builder =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| bad(e.to_string()))?;
    let names: Vec<String> = builder.schema().fields().iter().map(|f| f.name().clone()).collect();
    let number = |prefix: &str, suffix: &str| -> Option<(String, u32)> {
        names.iter().find_map(|n| {
            let v = n.strip_prefix(prefix)?.strip_suffix(suffix)?.parse().ok()?;
            Some((n.clone(), v))
        })
    };
    let (expected, horizon_days) =
        number("expected_purchases_", "_days").ok_or_else(|| bad("no expected purchases column".into()))?;
    let (clv, clv_months) = number("clv_", "_months_cents").ok_or_else(|| bad("no CLV column".into()))?;
    let columns = [
        "customer_key",
        "segment",
        "r_score",
        "f_score",
        "m_score",
        "p_alive",
        expected.as_str(),
        clv.as_str(),
        "average_receipt_cents",
        "discount_share",
        "preferred_store_id",
        "preferred_channel",
        "preferred_weekday",
        "preferred_hour",
        "last_purchase_date",
    ];
    unico_lake::read::for_each_batch(&path, &columns, |b| {
        let text = |i: usize| b.column(i).as_string::<i32>();
        let small = |i: usize| b.column(i).as_primitive::<UInt8Type>();
        let real = |i: usize| b.column(i).as_primitive::<Float64Type>();
        let int = |i: usize| b.column(i).as_primitive::<Int64Type>();
        let (key, segment, store, channel, weekday) = (text(0), text(1), text(10), text(11), text(12));
        let (r, f, m, hour) = (small(2), small(3), small(4), small(13));
        let (p_alive, expected, share) = (real(5), real(6), real(9));
        let (clv, average) = (int(7), int(8));
        let last = b.column(14).as_primitive::<Date32Type>();
        for i in 0..b.num_rows() {
            each(ProfileRecord {
                customer_key: key.value(i).to_string(),
                segment: segment.value(i).to_string(),
                r_score: r.value(i),
                f_score: f.value(i),
                m_score: m.value(i),
                p_alive: p_alive.value(i),
                expected_purchases: expected.value(i),
                clv_cents: clv.value(i),
                average_receipt_cents: average.value(i),
                discount_share: share.value(i),
                preferred_store_id: store.is_valid(i).then(|| store.value(i).to_string()),
                preferred_channel: channel.value(i).to_string(),
                preferred_weekday: weekday.value(i).to_string(),
                preferred_hour: hour.value(i),
                last_purchase_day: last.value(i),
            });
        }
        Ok(())
    })
    .map_err(|e| bad(e.to_string()))?;
    Ok(Some(ProfileColumns { horizon_days, clv_months }))
}
