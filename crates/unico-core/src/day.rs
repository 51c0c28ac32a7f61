//! Calendar days as Unico counts them everywhere (the lake's `local_date`, the model, the
//! KPIs): days since 1970-01-01 in the chain's own calendar, Arrow's `Date32`. This is the
//! one converter between day numbers and civil dates.

const EPOCH: jiff::civil::Date = jiff::civil::date(1970, 1, 1);

/// The day number of a civil date: Howard Hinnant's `days_from_civil`, exact over the whole
/// proleptic Gregorian calendar and cheap enough for every imported line.
pub fn day_of(d: jiff::civil::Date) -> i32 {
    let (y, m, day) = (d.year() as i64, d.month() as i64, d.day() as i64);
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe - 719_468) as i32
}

/// The civil date of a day number (clamped to jiff's range).
pub fn date_of(day: i32) -> jiff::civil::Date {
    jiff::Span::new()
        .try_days(i64::from(day))
        .ok()
        .and_then(|span| EPOCH.checked_add(span).ok())
        .unwrap_or(if day < 0 { jiff::civil::Date::MIN } else { jiff::civil::Date::MAX })
}

/// Monday = 0 … Sunday = 6 of a day number (1970-01-01 was a Thursday).
pub fn weekday(day: i32) -> usize {
    (day + 3).rem_euclid(7) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_numbers_agree_with_jiff_both_ways() {
        for d in [
            jiff::civil::date(1970, 1, 1),
            jiff::civil::date(1969, 12, 31),
            jiff::civil::date(2000, 2, 29),
            jiff::civil::date(2024, 3, 31),
            jiff::civil::date(1900, 3, 1),
            jiff::civil::date(2100, 12, 31),
            jiff::civil::date(1, 1, 1),
        ] {
            assert_eq!(day_of(d), (d - EPOCH).get_days(), "{d}");
            assert_eq!(date_of(day_of(d)), d);
        }
        assert_eq!(weekday(day_of(jiff::civil::date(2026, 11, 30))), 0, "a Monday");
    }
}
