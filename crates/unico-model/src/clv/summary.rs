//! The repeat-purchase summary of one customer that buy-till-you-die models read.
//!
//! Following Fader, Hardie & Lee, a *transaction* is a day with at least one purchase (several
//! receipts on one day count once); the first transaction starts the customer's clock.
//! `frequency` (x) counts the *repeat* transactions, `recency` (t_x) is the time from the first
//! to the last transaction, `age` (T) the time from the first transaction to the end of the
//! observation period; both in the model's [`TimeUnit`]. `monetary` is the mean value of the
//! repeat transactions (the first is excluded, as in the Gamma-Gamma papers).

use serde::{Deserialize, Serialize};

/// The unit every model time is expressed in; every output names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TimeUnit {
    /// Calendar days.
    #[default]
    Days,
    /// Weeks of seven days.
    Weeks,
}

impl TimeUnit {
    /// Length of one unit in days.
    pub fn days(self) -> f64 {
        match self {
            TimeUnit::Days => 1.0,
            TimeUnit::Weeks => 7.0,
        }
    }

    /// The unit's plural name, as printed next to every number.
    pub fn name(self) -> &'static str {
        match self {
            TimeUnit::Days => "days",
            TimeUnit::Weeks => "weeks",
        }
    }

    /// Converts a number of days into this unit.
    pub fn from_days(self, days: f64) -> f64 {
        days / self.days()
    }
}

impl std::str::FromStr for TimeUnit {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "days" | "day" | "d" => Ok(TimeUnit::Days),
            "weeks" | "week" | "w" => Ok(TimeUnit::Weeks),
            other => Err(format!("unknown time unit {other:?}: use days or weeks")),
        }
    }
}

/// One customer's repeat-purchase summary.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Repeat transactions (transaction days after the first).
    pub frequency: u32,
    /// Time from the first to the last transaction, in the model's unit.
    pub recency: f64,
    /// Time from the first transaction to the end of the observation period, in the unit.
    pub age: f64,
    /// Mean value of the repeat transactions (0 when there is none), in currency units.
    pub monetary: f64,
}

impl Summary {
    /// Summarises transactions given as `(day number, value)` pairs, any order, several per
    /// day allowed, observed until `end_day` inclusive; days are converted to `unit`.
    /// Returns `None` when no transaction falls on or before `end_day`.
    pub fn from_transactions(transactions: &[(i32, f64)], end_day: i32, unit: TimeUnit) -> Option<Summary> {
        let mut days: Vec<(i32, f64)> = transactions.iter().copied().filter(|t| t.0 <= end_day).collect();
        if days.is_empty() {
            return None;
        }
        days.sort_by_key(|t| t.0);
        let mut per_day: Vec<(i32, f64)> = Vec::with_capacity(days.len());
        for (d, v) in days {
            match per_day.last_mut() {
                Some(last) if last.0 == d => last.1 += v,
                _ => per_day.push((d, v)),
            }
        }
        let first = per_day[0].0;
        let last = per_day[per_day.len() - 1].0;
        let frequency = (per_day.len() - 1) as u32;
        let monetary =
            if frequency == 0 { 0.0 } else { per_day[1..].iter().map(|t| t.1).sum::<f64>() / f64::from(frequency) };
        Some(Summary {
            frequency,
            recency: unit.from_days(f64::from(last - first)),
            age: unit.from_days(f64::from(end_day - first)),
            monetary,
        })
    }
}
