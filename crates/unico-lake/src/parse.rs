//! Turning source values into canonical ones: instants, cents, quantities, integers, flags.
//!
//! Each parser returns a plain-words reason on failure; the import puts it in the rejects
//! file next to the line, the column and the value.

use crate::source::Value;
use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use unico_core::{DecimalFormat, Money, parse_scaled, scaled_from_f64};

/// Parses timestamps as the mapping declares them and places them on the chain's calendar.
pub struct TimestampParser {
    format: Option<String>,
    source_tz: TimeZone,
    chain_tz: TimeZone,
    last_text: String,
    last: Option<Result<(Timestamp, Date), String>>,
}

impl TimestampParser {
    /// A parser for `format` (strftime; `None` for ISO 8601), reading wall-clock times in
    /// `source_tz` and giving local dates in `chain_tz`.
    pub fn new(format: Option<String>, source_tz: TimeZone, chain_tz: TimeZone) -> Self {
        TimestampParser { format, source_tz, chain_tz, last_text: String::new(), last: None }
    }

    /// The exact instant and the chain-local calendar date of a value.
    pub fn parse(&mut self, value: &Value<'_>) -> Result<(Timestamp, Date), String> {
        match value {
            Value::Text(t) => {
                let t = t.trim_ascii();
                // Lines of one receipt share a timestamp: parse each distinct text once.
                if let Some(last) = self.last.as_ref().filter(|_| self.last_text == t) {
                    return last.clone();
                }
                let r = self.parse_text(t).and_then(|ts| self.place(ts));
                self.last_text.clear();
                self.last_text.push_str(t);
                self.last = Some(r.clone());
                r
            }
            Value::Instant(ts) => self.place(*ts),
            Value::Civil(dt) => self.local(*dt).and_then(|ts| self.place(ts)),
            Value::Null => Err("missing timestamp".into()),
            other => Err(format!("expected a date and time, found {}", other.display())),
        }
    }

    fn place(&self, ts: Timestamp) -> Result<(Timestamp, Date), String> {
        Ok((ts, self.chain_tz.to_datetime(ts).date()))
    }

    fn local(&self, dt: DateTime) -> Result<Timestamp, String> {
        // A wall-clock time skipped or repeated by a DST change resolves as most systems do
        // ("compatible": later offset in a gap, earlier in a fold).
        self.source_tz
            .to_ambiguous_timestamp(dt)
            .compatible()
            .map_err(|e| format!("{dt} does not exist in the source zone: {e}"))
    }

    fn parse_text(&self, text: &str) -> Result<Timestamp, String> {
        if text.is_empty() {
            return Err("missing timestamp".into());
        }
        match &self.format {
            Some(fmt) => {
                let tm = jiff::fmt::strtime::parse(fmt, text)
                    .map_err(|_| format!("{text:?} does not match the format {fmt:?}"))?;
                if tm.offset().is_some() {
                    return tm.to_timestamp().map_err(|e| format!("{text:?}: {e}"));
                }
                let dt = match tm.to_datetime() {
                    Ok(dt) => dt,
                    Err(_) => {
                        tm.to_date().map_err(|e| format!("{text:?}: {e}"))?.to_datetime(jiff::civil::Time::midnight())
                    }
                };
                self.local(dt)
            }
            None => {
                if text.contains('[') {
                    // An RFC 9557 zone annotation must name a real zone that agrees with
                    // the offset: `[Mars/Base]` is refused, not ignored.
                    return text
                        .parse::<jiff::ZonedDateTime>()
                        .map(|z| z.timestamp())
                        .map_err(|e| format!("{text:?} is not a valid zoned date and time: {e}"));
                }
                if let Ok(ts) = text.parse::<Timestamp>() {
                    check_offset(text)?;
                    return Ok(ts);
                }
                if let Ok(dt) = text.parse::<DateTime>() {
                    return self.local(dt);
                }
                if let Ok(d) = text.parse::<Date>() {
                    return self.local(d.to_datetime(jiff::civil::Time::midnight()));
                }
                Err(format!("{text:?} is not an ISO 8601 date and time (declare timestamp_format in the mapping)"))
            }
        }
    }
}

/// The widest offset of any time zone on Earth (UTC+14:00, the Line Islands).
const MAX_OFFSET_MINUTES: i32 = 14 * 60;

/// Refuses a UTC offset no time zone has (`+25:00`), which ISO 8601 parsers accept.
fn check_offset(text: &str) -> Result<(), String> {
    let Some(t) = text.find(['T', 't', ' ']) else { return Ok(()) };
    let time = &text[t + 1..];
    let Some(sign_at) = time.rfind(['+', '-']) else { return Ok(()) };
    let digits: String = time[sign_at + 1..].chars().filter(|c| c.is_ascii_digit()).collect();
    let (hours, minutes) = match digits.len() {
        2 => (digits[..2].parse::<i32>().unwrap_or(0), 0),
        4 | 6 => (digits[..2].parse::<i32>().unwrap_or(0), digits[2..4].parse::<i32>().unwrap_or(0)),
        _ => return Ok(()),
    };
    if hours * 60 + minutes > MAX_OFFSET_MINUTES {
        return Err(format!("{text:?} has the offset {}, beyond any time zone (at most ±14:00)", &time[sign_at..]));
    }
    Ok(())
}

/// Parses an amount of money into cents.
pub fn money(value: &Value<'_>, format: DecimalFormat) -> Result<i64, String> {
    match value {
        Value::Text(t) => {
            Money::parse(t, format).map(|m| m.cents()).map_err(|e| format!("{:?} is not an amount: {e}", t.as_ref()))
        }
        Value::Int(i) => i.checked_mul(100).ok_or_else(|| "amount out of range".to_string()),
        Value::Float(f) => Money::from_f64(*f).map(|m| m.cents()).map_err(|e| format!("{f} is not an amount: {e}")),
        Value::Decimal { units, scale } if *scale <= 2 => {
            units.checked_mul(10i64.pow(2 - scale)).ok_or_else(|| "amount out of range".to_string())
        }
        Value::Decimal { units, scale } => {
            parse_scaled(&crate::source::decimal_text(*units as i128, *scale as i8), DecimalFormat::default(), 2)
                .map_err(|e| format!("{} is not an amount: {e}", value.display()))
        }
        Value::Null => Err("missing amount".into()),
        other => Err(format!("expected an amount, found {}", other.display())),
    }
}

/// Parses a quantity (pieces or weight) exactly to thousandths, returned as a float.
pub fn quantity(value: &Value<'_>, format: DecimalFormat) -> Result<f64, String> {
    let milli = match value {
        Value::Text(t) => {
            // Quantities are kept to the thousandth (grams, millilitres): finer ones would
            // be rounded away unseen.
            let text = t.trim();
            if let Some((_, decimals)) = text.split_once(format.decimal as char)
                && decimals.trim_end_matches('0').len() > 3
            {
                return Err(format!("{text:?} has more than 3 decimals: quantities are kept to the thousandth"));
            }
            parse_scaled(t, format, 3).map_err(|e| format!("{:?} is not a quantity: {e}", t.as_ref()))?
        }
        Value::Int(i) => i.checked_mul(1000).ok_or_else(|| "quantity out of range".to_string())?,
        Value::Float(f) => scaled_from_f64(*f, 3).map_err(|e| format!("{f} is not a quantity: {e}"))?,
        Value::Decimal { units, scale } => {
            parse_scaled(&crate::source::decimal_text(*units as i128, *scale as i8), DecimalFormat::default(), 3)
                .map_err(|e| format!("{} is not a quantity: {e}", value.display()))?
        }
        Value::Null => return Err("missing quantity".into()),
        other => return Err(format!("expected a quantity, found {}", other.display())),
    };
    Ok(milli as f64 / 1000.0)
}

/// Parses a whole number (line numbers).
pub fn integer(value: &Value<'_>) -> Result<i64, String> {
    match value {
        Value::Text(t) => t.trim().parse::<i64>().map_err(|_| format!("{:?} is not a whole number", t.as_ref())),
        Value::Int(i) => Ok(*i),
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 9e15 => Ok(*f as i64),
        other => Err(format!("{} is not a whole number", other.display())),
    }
}

/// Parses a yes/no flag: true/false, yes/no, y/n, 1/0, sì/si/no, x/empty.
pub fn flag(value: &Value<'_>) -> Result<bool, String> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::Int(0) => Ok(false),
        Value::Int(1) => Ok(true),
        Value::Null => Ok(false),
        Value::Text(t) => {
            let t = t.trim().to_lowercase();
            match t.as_str() {
                "true" | "yes" | "y" | "1" | "t" | "sì" | "si" | "s" | "x" => Ok(true),
                "false" | "no" | "n" | "0" | "f" | "" => Ok(false),
                _ => Err(format!("{t:?} is not yes or no")),
            }
        }
        other => Err(format!("{} is not yes or no", other.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn text(s: &str) -> Value<'_> {
        Value::Text(Cow::Borrowed(s))
    }

    #[test]
    fn local_times_take_the_source_zone_and_dates_the_chain_zone() {
        let rome = TimeZone::get("Europe/Rome").unwrap();
        let mut p = TimestampParser::new(Some("%d/%m/%Y %H:%M".into()), rome.clone(), rome.clone());
        let (ts, date) = p.parse(&text("31/12/2024 23:30")).unwrap();
        assert_eq!(ts.to_string(), "2024-12-31T22:30:00Z");
        assert_eq!(date.to_string(), "2024-12-31");
        // Summer time: UTC+2.
        let (ts, _) = p.parse(&text("01/07/2024 08:00")).unwrap();
        assert_eq!(ts.to_string(), "2024-07-01T06:00:00Z");
        assert!(p.parse(&text("2024-07-01 08:00")).unwrap_err().contains("does not match"));
    }

    #[test]
    fn iso_with_and_without_offset() {
        let rome = TimeZone::get("Europe/Rome").unwrap();
        let mut p = TimestampParser::new(None, rome.clone(), rome);
        assert_eq!(p.parse(&text("2024-03-01T10:00:00Z")).unwrap().0.to_string(), "2024-03-01T10:00:00Z");
        assert_eq!(p.parse(&text("2024-03-01 10:00:00")).unwrap().0.to_string(), "2024-03-01T09:00:00Z");
        assert_eq!(p.parse(&text("2024-03-01T10:00:00+05:00")).unwrap().0.to_string(), "2024-03-01T05:00:00Z");
        // Just after midnight UTC on the 1st is still the evening of the 31st... no: in Rome it is later.
        let (_, d) = p.parse(&text("2024-03-31T23:30:00Z")).unwrap();
        assert_eq!(d.to_string(), "2024-04-01");
        assert_eq!(p.parse(&text("2024-03-01")).unwrap().0.to_string(), "2024-02-29T23:00:00Z");
        assert!(p.parse(&text("yesterday")).is_err());
        assert!(p.parse(&text("2024-02-30 10:00")).is_err());
    }

    #[test]
    fn amounts_quantities_and_flags() {
        let comma = DecimalFormat { decimal: b',', thousands: Some(b'.') };
        assert_eq!(money(&text("1.234,5"), comma).unwrap(), 123450);
        assert_eq!(money(&Value::Float(0.145), DecimalFormat::default()).unwrap(), 15);
        assert_eq!(money(&Value::Int(3), DecimalFormat::default()).unwrap(), 300);
        assert!(money(&text("12,50 EUR"), comma).is_err());
        assert_eq!(quantity(&text("0,350"), comma).unwrap(), 0.35);
        assert_eq!(quantity(&Value::Float(2.0), comma).unwrap(), 2.0);
        assert_eq!(integer(&text(" 7 ")).unwrap(), 7);
        assert!(integer(&text("7.5")).is_err());
        assert!(flag(&text("Sì")).unwrap());
        assert!(!flag(&text("")).unwrap());
        assert!(flag(&text("maybe")).is_err());
    }
}
