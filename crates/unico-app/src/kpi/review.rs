//! The programme at a glance, as the back office's daily review shows it: each KPI over the
//! last four weeks of data, against the four weeks before and the same four weeks a year
//! earlier (364 days: the same weekdays), with its last 13 weekly values.

use super::{Grain, KpiRequest, Measures, Row};
use crate::error::Result;
use crate::{App, Silent};
use serde::Serialize;
use unico_kpi::kpis::Kpi;

/// The review of some KPIs.
#[derive(Debug, Clone, Serialize)]
pub struct KpiReview {
    /// The last day of data (the end of the current four weeks).
    pub to: jiff::civil::Date,
    /// One store's figures, or the chain's.
    pub store: Option<String>,
    /// Each KPI asked for, in order.
    pub kpis: Vec<ReviewedKpi>,
}

/// One KPI reviewed (values in the KPI's unit; none where undefined or without data).
#[derive(Debug, Clone, Serialize)]
pub struct ReviewedKpi {
    /// Its name.
    pub kpi: &'static str,
    /// Over the last 28 days.
    pub now: Option<f64>,
    /// Over the 28 days before them.
    pub previous: Option<f64>,
    /// Over the same 28 days a year (364 days) earlier.
    pub last_year: Option<f64>,
    /// Over each of the last 13 weeks (seven days ending on `to`, `to` − 7, …), oldest first.
    pub weekly: Vec<Option<f64>>,
}

fn day(d: jiff::civil::Date, n: i64) -> jiff::civil::Date {
    d.checked_add(jiff::Span::new().days(n)).unwrap_or(d)
}

/// The measures of the rows whose day is in [from, to], summed (none without a row).
fn window(rows: &[Row], from: jiff::civil::Date, to: jiff::civil::Date) -> Option<Measures> {
    let mut m = Measures::default();
    let mut any = false;
    for r in rows {
        let Ok(d) = r.period_start.parse::<jiff::civil::Date>() else { continue };
        if d >= from && d <= to {
            m.add(&r.measures);
            any = true;
        }
    }
    any.then_some(m)
}

impl App {
    /// Reviews `kpis` for the chain or one store (one daily pass over the last 392 days).
    /// Only KPIs summed from daily measures (those allowed for goals) can be reviewed over
    /// any four weeks; others come out as none.
    pub fn kpi_review(&self, store: Option<&str>, kpis: &[Kpi]) -> Result<KpiReview> {
        let to = self.last_day()?;
        let req = KpiRequest {
            from: Some(day(to, -364 - 27).to_string()),
            to: Some(to.to_string()),
            by: Grain::Day,
            by_store: false,
            by_channel: false,
            by_segment: false,
            store: store.map(str::to_string),
        };
        let rows = self.kpis(&req, &Silent)?.rows;
        let now = window(&rows, day(to, -27), to);
        let previous = window(&rows, day(to, -55), day(to, -28));
        let last_year = window(&rows, day(to, -364 - 27), day(to, -364));
        let weeks: Vec<Option<Measures>> =
            (0..13).rev().map(|w| window(&rows, day(to, -7 * w - 6), day(to, -7 * w))).collect();
        let value = |m: &Option<Measures>, k: Kpi| {
            if k.goal_allowed() { m.as_ref().and_then(|m| m.value(k, None)) } else { None }
        };
        Ok(KpiReview {
            to,
            store: store.map(str::to_string),
            kpis: kpis
                .iter()
                .map(|&k| ReviewedKpi {
                    kpi: k.name(),
                    now: value(&now, k),
                    previous: value(&previous, k),
                    last_year: value(&last_year, k),
                    weekly: weeks.iter().map(|m| value(m, k)).collect(),
                })
                .collect(),
        })
    }
}
