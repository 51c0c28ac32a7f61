//! Goals: a KPI, a target and a deadline, checked against the KPI's daily series.
//!
//! A goal's value is the KPI over the last seven days (a whole week, so the weekday cycle
//! cancels out): the week's sum for a sum (revenue, offers issued), the week's ratio for a
//! ratio (average receipt, loyalty share). The trajectory is a least-squares fit of the daily
//! values on a linear trend plus one effect per weekday, over the last 26 weeks; the
//! projection is the fitted week that ends on the deadline, with its prediction standard
//! error. The state follows from the probability that the deadline week meets the target:
//! on track from 70 %, at risk from 30 %, off track below. What moved it: the stores and
//! the segments whose change over the last week moved the KPI most.

use crate::kpis::{Kpi, Measures};
use crate::stats::normal_cdf;
use serde::Serialize;
use std::collections::BTreeMap;

/// Days of history the trajectory is fitted on (at most): half a year, so that a seasonal
/// dip of a few weeks does not become a trend (on the simulated chain, an August dip fitted
/// over eight weeks projected revenue to halve by October).
pub const FIT_DAYS: i32 = 182;
/// Days of history needed before a projection is made.
pub const MIN_DAYS: i32 = 14;

/// Whether a KPI adds up over days (else it is a ratio of sums).
pub fn is_sum(kpi: Kpi) -> bool {
    matches!(kpi.unit(), crate::kpis::Unit::Cents | crate::kpis::Unit::Count)
        && !matches!(
            kpi,
            Kpi::AverageReceiptCard | Kpi::AverageReceiptNoCard | Kpi::AverageReceiptGap | Kpi::AverageReceiptGapChange
        )
}

/// A goal's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Likely to be met (projection meets the target with probability ≥ 70 %).
    OnTrack,
    /// Could go either way (30–70 %).
    AtRisk,
    /// Unlikely to be met (< 30 %).
    OffTrack,
    /// The deadline has passed and the target was met.
    Met,
    /// The deadline has passed and the target was not met.
    Missed,
    /// Fewer than two weeks of history: no projection yet.
    NotEnoughData,
}

impl State {
    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            State::OnTrack => "on_track",
            State::AtRisk => "at_risk",
            State::OffTrack => "off_track",
            State::Met => "met",
            State::Missed => "missed",
            State::NotEnoughData => "not_enough_data",
        }
    }
}

/// A group's part in the last week's change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mover {
    /// `store` or `segment`.
    pub dimension: String,
    /// The store id or segment name.
    pub name: String,
    /// The KPI now minus the KPI with this group as it was the week before (KPI units).
    pub contribution: f64,
}

/// The daily measures of a goal's scope split one way (by store, by segment): every split
/// adds up to the same totals.
pub struct Breakdown<'a> {
    /// `store` or `segment`.
    pub dimension: &'a str,
    /// `daily[day][group]`.
    pub daily: &'a BTreeMap<i32, BTreeMap<u16, Measures>>,
    /// Group names by index.
    pub names: &'a [String],
}

/// Where a goal stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    /// The KPI over the last seven days.
    pub current: Option<f64>,
    /// The KPI over the seven days before them.
    pub previous_week: Option<f64>,
    /// The projected KPI over the week ending on the deadline.
    pub projected: Option<f64>,
    /// Its standard error.
    pub projected_standard_error: Option<f64>,
    /// Probability that the deadline week meets the target.
    pub probability: Option<f64>,
    /// The state.
    pub state: State,
    /// The stores and the segments that moved the KPI most over the last week, largest
    /// first within each.
    pub movers: Vec<Mover>,
    /// Days of history used.
    pub history_days: u32,
}

/// Evaluates a goal on `as_of` from daily measures already restricted to the goal's scope,
/// split by one or more dimensions (the first gives the series; each gives its movers).
pub fn evaluate(kpi: Kpi, target: f64, deadline: i32, as_of: i32, breakdowns: &[Breakdown<'_>]) -> Status {
    let empty = BTreeMap::new();
    let daily = breakdowns.first().map_or(&empty, |b| b.daily);
    let week = |end: i32| -> Measures {
        let mut m = Measures::default();
        for (_, by_store) in daily.range(end - 6..=end) {
            for s in by_store.values() {
                m.add(s);
            }
        }
        m
    };
    let current = week(as_of).value(kpi, None);
    let previous_week = week(as_of - 7).value(kpi, None);
    let meets = |v: f64| if kpi.higher_is_better() { v >= target } else { v <= target };
    let first = daily.keys().next().copied().unwrap_or(as_of).max(as_of - FIT_DAYS + 1);
    let history_days = (as_of - first + 1).max(0) as u32;
    let movers: Vec<Mover> = breakdowns.iter().flat_map(|b| movers(kpi, b, as_of)).collect();
    if as_of >= deadline {
        let v = week(deadline.min(as_of)).value(kpi, None);
        return Status {
            current,
            previous_week,
            projected: v,
            projected_standard_error: Some(0.0),
            probability: v.map(|v| if meets(v) { 1.0 } else { 0.0 }),
            state: if v.is_some_and(meets) { State::Met } else { State::Missed },
            movers,
            history_days,
        };
    }
    // Daily values over the fit window.
    let points: Vec<(i32, f64)> = (first..=as_of)
        .filter_map(|d| {
            let mut m = Measures::default();
            for s in daily.get(&d)?.values() {
                m.add(s);
            }
            m.value(kpi, None).map(|v| (d, v))
        })
        .collect();
    let projection = (history_days as i32 >= MIN_DAYS).then(|| project(&points, deadline, is_sum(kpi))).flatten();
    let Some((projected, se)) = projection else {
        return Status {
            current,
            previous_week,
            projected: None,
            projected_standard_error: None,
            probability: None,
            state: State::NotEnoughData,
            movers,
            history_days,
        };
    };
    let z = if se > 0.0 {
        (projected - target) / se * if kpi.higher_is_better() { 1.0 } else { -1.0 }
    } else if meets(projected) {
        f64::INFINITY
    } else {
        f64::NEG_INFINITY
    };
    let p = normal_cdf(z);
    let state = if p >= 0.7 {
        State::OnTrack
    } else if p >= 0.3 {
        State::AtRisk
    } else {
        State::OffTrack
    };
    Status {
        current,
        previous_week,
        projected: Some(projected),
        projected_standard_error: Some(se),
        probability: Some(p),
        state,
        movers,
        history_days,
    }
}

/// Fits y = a + b·t + weekday effect on `points` (day, value) and predicts the week that
/// ends on `deadline`: its sum when `sum`, else its mean, with the prediction's standard
/// error (parameter uncertainty plus the week's own noise).
pub fn project(points: &[(i32, f64)], deadline: i32, sum: bool) -> Option<(f64, f64)> {
    const P: usize = 8; // intercept, trend, six weekday contrasts (Monday is the base)
    if points.len() < P + 2 {
        return None;
    }
    let t0 = points[0].0;
    let row = |d: i32| -> [f64; P] {
        let mut x = [0.0; P];
        x[0] = 1.0;
        x[1] = f64::from(d - t0);
        let w = crate::days::weekday(d);
        if w > 0 {
            x[1 + w] = 1.0;
        }
        x
    };
    let mut xtx = [[0.0; P]; P];
    let mut xty = [0.0; P];
    for &(d, y) in points {
        let x = row(d);
        for i in 0..P {
            xty[i] += x[i] * y;
            for j in 0..P {
                xtx[i][j] += x[i] * x[j];
            }
        }
    }
    let inv = invert(xtx)?;
    let beta: Vec<f64> = (0..P).map(|i| (0..P).map(|j| inv[i][j] * xty[j]).sum()).collect();
    let fitted = |x: &[f64; P]| -> f64 { x.iter().zip(&beta).map(|(a, b)| a * b).sum() };
    let rss: f64 = points.iter().map(|&(d, y)| (y - fitted(&row(d))).powi(2)).sum();
    let sigma2 = rss / (points.len() - P) as f64;
    // The deadline week: mean of its seven rows.
    let mut xf = [0.0; P];
    for d in deadline - 6..=deadline {
        let x = row(d);
        for i in 0..P {
            xf[i] += x[i] / 7.0;
        }
    }
    let mean = fitted(&xf);
    let quad: f64 = (0..P).map(|i| (0..P).map(|j| xf[i] * inv[i][j] * xf[j]).sum::<f64>()).sum();
    let var_mean = sigma2 * (quad + 1.0 / 7.0);
    let (value, se) = if sum { (mean * 7.0, var_mean.sqrt() * 7.0) } else { (mean, var_mean.sqrt()) };
    Some((value, se))
}

fn invert<const P: usize>(mut a: [[f64; P]; P]) -> Option<[[f64; P]; P]> {
    let mut inv = [[0.0; P]; P];
    for (i, row) in inv.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    for c in 0..P {
        let pivot = (c..P).max_by(|&x, &y| a[x][c].abs().total_cmp(&a[y][c].abs()))?;
        if a[pivot][c].abs() < 1e-12 {
            return None;
        }
        a.swap(c, pivot);
        inv.swap(c, pivot);
        let p = a[c][c];
        for j in 0..P {
            a[c][j] /= p;
            inv[c][j] /= p;
        }
        for r in 0..P {
            if r != c {
                let f = a[r][c];
                if f != 0.0 {
                    for j in 0..P {
                        a[r][j] -= f * a[c][j];
                        inv[r][j] -= f * inv[c][j];
                    }
                }
            }
        }
    }
    Some(inv)
}

/// Each group's contribution to the last week's change, largest first (at most three).
fn movers(kpi: Kpi, b: &Breakdown<'_>, as_of: i32) -> Vec<Mover> {
    let daily = b.daily;
    let by_store = |end: i32| -> BTreeMap<u16, Measures> {
        let mut out: BTreeMap<u16, Measures> = BTreeMap::new();
        for (_, s) in daily.range(end - 6..=end) {
            for (k, m) in s {
                out.entry(*k).or_default().add(m);
            }
        }
        out
    };
    let (now, before) = (by_store(as_of), by_store(as_of - 7));
    let total = |m: &BTreeMap<u16, Measures>, swap: Option<u16>| {
        let mut t = Measures::default();
        let keys: std::collections::BTreeSet<u16> = m.keys().chain(before.keys()).copied().collect();
        for k in keys {
            let src = if Some(k) == swap { before.get(&k) } else { m.get(&k) };
            if let Some(x) = src {
                t.add(x);
            }
        }
        t.value(kpi, None)
    };
    let Some(current) = total(&now, None) else { return Vec::new() };
    if b.names.len() < 2 {
        return Vec::new();
    }
    let mut out: Vec<Mover> = now
        .keys()
        .chain(before.keys())
        .copied()
        .collect::<std::collections::BTreeSet<u16>>()
        .into_iter()
        .filter_map(|k| {
            let without = total(&now, Some(k))?;
            Some(Mover {
                dimension: b.dimension.to_string(),
                name: b.names.get(k as usize).cloned().unwrap_or_default(),
                contribution: current - without,
            })
        })
        .filter(|m| m.contribution != 0.0)
        .collect();
    out.sort_by(|a, b| b.contribution.abs().total_cmp(&a.contribution.abs()));
    out.truncate(3);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projection_recovers_a_planted_trend_and_weekly_cycle() {
        // 1000 + 5/day, Saturdays +300: the week ending 30 days after the last point.
        let points: Vec<(i32, f64)> = (0..56)
            .map(|d| {
                let w = crate::days::weekday(d);
                (d, 1000.0 + 5.0 * f64::from(d) + if w == 5 { 300.0 } else { 0.0 })
            })
            .collect();
        let (v, se) = project(&points, 85, true).expect("enough points");
        let truth: f64 = (79..=85)
            .map(|d| 1000.0 + 5.0 * f64::from(d) + if crate::days::weekday(d) == 5 { 300.0 } else { 0.0 })
            .sum();
        assert!((v - truth).abs() < 1e-6, "{v} vs {truth}");
        assert!(se < 1e-6);
    }

    #[test]
    fn what_moved_it_is_the_group_that_changed() {
        // Two stores, 14 days: A sells 100 a day throughout, B 50 a day, then 80 from day 7.
        let mut daily: BTreeMap<i32, BTreeMap<u16, Measures>> = BTreeMap::new();
        for d in 0..14 {
            for (store, revenue) in [(0u16, 100), (1u16, if d >= 7 { 80 } else { 50 })] {
                let mut m = Measures::default();
                m.cell.card.revenue_cents = revenue;
                m.cell.card.receipts = 1;
                daily.entry(d).or_default().insert(store, m);
            }
        }
        let names = ["A".to_string(), "B".to_string()];
        let b = [Breakdown { dimension: "store", daily: &daily, names: &names }];
        let s = evaluate(Kpi::Revenue, 2000.0, 100, 13, &b);
        assert_eq!(s.current, Some(7.0 * 180.0));
        assert_eq!(s.previous_week, Some(7.0 * 150.0));
        assert_eq!(s.movers.len(), 1, "A did not move: {:?}", s.movers);
        assert_eq!((s.movers[0].name.as_str(), s.movers[0].contribution), ("B", 210.0));
    }
}
