//! Money as integer cents, and the exact decimal parsing every amount goes through.
//!
//! Retail exports write amounts as `1.234,50`, `1234.5`, `-0,99` or as binary floats in
//! Parquet. All of them become an `i64` count of cents (or another fixed scale, such as
//! thousandths for weighed quantities) by parsing the *decimal text*, never by multiplying a
//! float: `0.145` is 15 cents, although the nearest `f64` is 0.144999…. Halves round away
//! from zero (commercial rounding), which is what tills and invoices do.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An amount of money in integer cents of the chain's currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Money(i64);

impl Money {
    /// Zero cents.
    pub const ZERO: Money = Money(0);

    /// An amount from a count of cents.
    pub const fn from_cents(cents: i64) -> Self {
        Money(cents)
    }

    /// The amount in cents.
    pub const fn cents(self) -> i64 {
        self.0
    }

    /// Parses a decimal amount written with the given separators (`"1.234,56"` with a decimal
    /// comma and `.` thousands gives 123456 cents). Extra decimals are rounded half away from
    /// zero.
    pub fn parse(text: &str, format: DecimalFormat) -> Result<Self, AmountError> {
        parse_scaled(text, format, 2).map(Money)
    }

    /// Converts a binary float (as Parquet or JSON carry amounts) to cents through its
    /// shortest decimal representation, so `0.145` gives 15 cents.
    pub fn from_f64(value: f64) -> Result<Self, AmountError> {
        scaled_from_f64(value, 2).map(Money)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

/// How a source writes decimal numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecimalFormat {
    /// The decimal separator: `.` or `,`.
    pub decimal: u8,
    /// The thousands separator, if the source uses one (`.`, `,`, `'`, or a space).
    pub thousands: Option<u8>,
}

impl Default for DecimalFormat {
    fn default() -> Self {
        DecimalFormat { decimal: b'.', thousands: None }
    }
}

/// Why a text or float is not an amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AmountError {
    /// Nothing but white space.
    #[error("empty amount")]
    Empty,
    /// A character that is neither a digit nor one of the declared separators.
    #[error("unexpected character {0:?} in amount")]
    BadCharacter(char),
    /// More than one decimal separator, a sign in the middle, or no digits.
    #[error("malformed amount")]
    Malformed,
    /// Larger than an `i64` count of the smallest unit can hold.
    #[error("amount out of range")]
    OutOfRange,
    /// NaN or infinity.
    #[error("amount is not a finite number")]
    NotFinite,
}

/// Parses decimal text into an integer count of `10^-scale` units, rounding half away from zero.
///
/// Accepts an optional leading `+`/`-` (a trailing `-`, as some ERPs print, is accepted too),
/// surrounding white space, the declared thousands separator between digits of the integer
/// part, and an exponent-free decimal part of any length.
pub fn parse_scaled(text: &str, format: DecimalFormat, scale: u32) -> Result<i64, AmountError> {
    let mut bytes = text.trim_ascii().as_bytes();
    if bytes.is_empty() {
        return Err(AmountError::Empty);
    }
    let mut negative = false;
    match bytes[0] {
        b'-' => {
            negative = true;
            bytes = &bytes[1..];
        }
        b'+' => bytes = &bytes[1..],
        _ => {}
    }
    if let Some((&b'-', rest)) = bytes.split_last() {
        if negative {
            return Err(AmountError::Malformed);
        }
        negative = true;
        bytes = rest;
    }
    let mut int_part: i128 = 0;
    let mut frac_digits: u32 = 0;
    let mut frac_value: i128 = 0;
    let mut round_digit: Option<u8> = None;
    let mut seen_decimal = false;
    let mut digits = 0usize;
    for &b in bytes {
        match b {
            b'0'..=b'9' => {
                digits += 1;
                let d = (b - b'0') as i128;
                if !seen_decimal {
                    int_part = int_part * 10 + d;
                    if int_part > i64::MAX as i128 {
                        return Err(AmountError::OutOfRange);
                    }
                } else if frac_digits < scale {
                    frac_value = frac_value * 10 + d;
                    frac_digits += 1;
                } else if round_digit.is_none() {
                    round_digit = Some(b - b'0');
                }
            }
            _ if b == format.decimal => {
                if seen_decimal {
                    return Err(AmountError::Malformed);
                }
                seen_decimal = true;
            }
            _ if Some(b) == format.thousands && !seen_decimal => {
                if digits == 0 {
                    return Err(AmountError::Malformed);
                }
            }
            _ => {
                let c = text.trim()[..].chars().find(|c| c.is_ascii() && *c as u8 == b).unwrap_or('\u{fffd}');
                return Err(AmountError::BadCharacter(c));
            }
        }
    }
    if digits == 0 {
        return Err(AmountError::Malformed);
    }
    while frac_digits < scale {
        frac_value *= 10;
        frac_digits += 1;
    }
    let mut units = int_part * 10i128.pow(scale) + frac_value;
    if round_digit.is_some_and(|d| d >= 5) {
        units += 1;
    }
    if negative {
        units = -units;
    }
    i64::try_from(units).map_err(|_| AmountError::OutOfRange)
}

/// Converts a float to an integer count of `10^-scale` units via its shortest round-trip
/// decimal text (what a person sees when the value is printed), then rounds that decimal.
pub fn scaled_from_f64(value: f64, scale: u32) -> Result<i64, AmountError> {
    if !value.is_finite() {
        return Err(AmountError::NotFinite);
    }
    // `{}` on f64 prints the shortest representation that round-trips, never an exponent.
    let text = format!("{value}");
    parse_scaled(&text, DecimalFormat::default(), scale)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const COMMA: DecimalFormat = DecimalFormat { decimal: b',', thousands: Some(b'.') };

    #[test]
    fn parses_the_ways_retailers_write_amounts() {
        let dot = DecimalFormat::default();
        assert_eq!(Money::parse("12.34", dot).unwrap().cents(), 1234);
        assert_eq!(Money::parse("12.3", dot).unwrap().cents(), 1230);
        assert_eq!(Money::parse("12", dot).unwrap().cents(), 1200);
        assert_eq!(Money::parse(".5", dot).unwrap().cents(), 50);
        assert_eq!(Money::parse(" -0.99 ", dot).unwrap().cents(), -99);
        assert_eq!(Money::parse("0.99-", dot).unwrap().cents(), -99);
        assert_eq!(Money::parse("1.234,56", COMMA).unwrap().cents(), 123456);
        assert_eq!(Money::parse("-1.234.567,8", COMMA).unwrap().cents(), -123456780);
        assert_eq!(Money::parse("0,005", COMMA).unwrap().cents(), 1);
        assert_eq!(Money::parse("0,0049", COMMA).unwrap().cents(), 0);
        assert_eq!(Money::parse("-2,675", COMMA).unwrap().cents(), -268);
    }

    #[test]
    fn rejects_what_is_not_an_amount() {
        let dot = DecimalFormat::default();
        assert_eq!(Money::parse("", dot), Err(AmountError::Empty));
        assert_eq!(Money::parse("1.2.3", dot), Err(AmountError::Malformed));
        assert_eq!(Money::parse("12,50", dot), Err(AmountError::BadCharacter(',')));
        assert_eq!(Money::parse("abc", dot), Err(AmountError::BadCharacter('a')));
        assert_eq!(Money::parse("-", dot), Err(AmountError::Malformed));
        assert_eq!(Money::parse("-5-", dot), Err(AmountError::Malformed));
        assert_eq!(Money::parse("99999999999999999999", dot), Err(AmountError::OutOfRange));
        assert_eq!(Money::parse(".123.456,00", COMMA), Err(AmountError::Malformed));
    }

    #[test]
    fn floats_round_by_their_decimal_text() {
        // 0.145 is stored as 0.1449999999999999900079927783735911361873149871826171875.
        assert_eq!(Money::from_f64(0.145).unwrap().cents(), 15);
        assert_eq!(Money::from_f64(2.675).unwrap().cents(), 268);
        assert_eq!(Money::from_f64(-1.005).unwrap().cents(), -101);
        assert_eq!(Money::from_f64(19.99).unwrap().cents(), 1999);
        assert_eq!(Money::from_f64(1e-7).unwrap().cents(), 0);
        assert_eq!(Money::from_f64(f64::NAN), Err(AmountError::NotFinite));
    }

    #[test]
    fn displays_with_two_decimals() {
        assert_eq!(Money::from_cents(-5).to_string(), "-0.05");
        assert_eq!(Money::from_cents(123456).to_string(), "1234.56");
    }

    proptest! {
        #[test]
        fn printed_cents_parse_back(cents in -1_000_000_000_000i64..1_000_000_000_000) {
            let m = Money::from_cents(cents);
            prop_assert_eq!(Money::parse(&m.to_string(), DecimalFormat::default()).unwrap(), m);
            let comma = m.to_string().replace('.', ",");
            prop_assert_eq!(Money::parse(&comma, COMMA).unwrap(), m);
        }

        #[test]
        fn thousands_separators_do_not_change_the_value(cents in 0i64..1_000_000_000_000) {
            let plain = Money::from_cents(cents).to_string().replace('.', ",");
            let (int, frac) = plain.split_once(',').unwrap();
            let mut grouped = String::new();
            for (i, ch) in int.chars().enumerate() {
                if i > 0 && (int.len() - i) % 3 == 0 { grouped.push('.'); }
                grouped.push(ch);
            }
            let text = format!("{grouped},{frac}");
            prop_assert_eq!(Money::parse(&text, COMMA).unwrap().cents(), cents);
        }

        #[test]
        fn rounding_is_half_away_from_zero(thousandths in -10_000_000_000i64..10_000_000_000) {
            // Three decimals: the third decides, halves go away from zero.
            let abs = thousandths.unsigned_abs() as i64;
            let sign = if thousandths < 0 { "-" } else { "" };
            let text = format!("{sign}{}.{:03}", abs / 1000, abs % 1000);
            let expected_abs = (abs + 5) / 10;
            let expected = if thousandths < 0 { -expected_abs } else { expected_abs };
            prop_assert_eq!(parse_scaled(&text, DecimalFormat::default(), 2).unwrap(), expected);
        }
    }
}
