//! Calendar days as the lake stores them (days since 1970-01-01 in the chain's zone) and the
//! periods KPIs are grouped by.

use serde::{Deserialize, Serialize};

pub use unico_core::day::{date_of, day_of, weekday};

/// How KPIs are grouped in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Grain {
    /// Calendar days.
    Day,
    /// ISO weeks, Monday to Sunday.
    Week,
    /// Calendar months.
    Month,
}

impl Grain {
    /// Parses `day`, `week` or `month`.
    pub fn parse(s: &str) -> Option<Grain> {
        match s {
            "day" => Some(Grain::Day),
            "week" => Some(Grain::Week),
            "month" => Some(Grain::Month),
            _ => None,
        }
    }

    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Grain::Day => "day",
            Grain::Week => "week",
            Grain::Month => "month",
        }
    }

    /// The first day of the period `day` falls in.
    pub fn start(self, day: i32) -> i32 {
        match self {
            Grain::Day => day,
            Grain::Week => day - weekday(day) as i32,
            Grain::Month => day_of(date_of(day).first_of_month()),
        }
    }

    /// The first day of the period after the one starting on `start`.
    pub fn next(self, start: i32) -> i32 {
        match self {
            Grain::Day => start + 1,
            Grain::Week => start + 7,
            Grain::Month => day_of(date_of(start).last_of_month()) + 1,
        }
    }

    /// The first day of the period before the one starting on `start`.
    pub fn previous(self, start: i32) -> i32 {
        self.start(start - 1)
    }

    /// The period's label: `2025-03-14`, `2025-W11` or `2025-03`.
    pub fn label(self, start: i32) -> String {
        let d = date_of(start);
        match self {
            Grain::Day => d.to_string(),
            Grain::Week => {
                let w = d.iso_week_date();
                format!("{:04}-W{:02}", w.year(), w.week())
            }
            Grain::Month => format!("{:04}-{:02}", d.year(), d.month()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_start_on_monday_and_the_first_of_the_month() {
        let d = day_of(jiff::civil::date(2025, 3, 14)); // a Friday
        assert_eq!(date_of(Grain::Week.start(d)), jiff::civil::date(2025, 3, 10));
        assert_eq!(date_of(Grain::Month.start(d)), jiff::civil::date(2025, 3, 1));
        assert_eq!(date_of(Grain::Month.next(Grain::Month.start(d))), jiff::civil::date(2025, 4, 1));
        assert_eq!(date_of(Grain::Month.previous(Grain::Month.start(d))), jiff::civil::date(2025, 2, 1));
        assert_eq!(Grain::Week.label(Grain::Week.start(d)), "2025-W11");
        assert_eq!(weekday(day_of(jiff::civil::date(2026, 11, 23))), 0);
        assert_eq!(date_of(day_of(jiff::civil::date(2024, 2, 29))), jiff::civil::date(2024, 2, 29));
    }
}
