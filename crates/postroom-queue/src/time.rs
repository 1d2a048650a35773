//! Timestamps in the ISO 8601 form that AWS APIs and events use.

/// Returns the civil date of a day number since 1970-01-01: year, month
/// 1-12 and day 1-31, in the proleptic Gregorian calendar (Howard Hinnant's
/// `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 } as u32;
    (year_of_era + era * 400 + i64::from(month <= 2), month, day)
}

/// Returns the day number since 1970-01-01 of a civil date.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let (year, month) = (year - i64::from(month <= 2), i64::from(month));
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * month_index + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Parses `2026-12-04T21:00:00Z`, with or without fractional seconds,
/// into milliseconds since the Unix epoch.
pub fn parse_iso8601(text: &str) -> Option<u64> {
    let numbers: Vec<u64> = text.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty()).filter_map(|s| s.parse().ok()).collect();
    let [year, month, day, hour, minute, second, ..] = numbers.as_slice() else { return None };
    let days = days_from_civil(*year as i64, *month as u32, *day as u32);
    let seconds = days * 86_400 + (*hour as i64) * 3_600 + (*minute as i64) * 60 + *second as i64;
    u64::try_from(seconds).ok().map(|s| s * 1000)
}

/// Formats milliseconds since the Unix epoch as `2026-12-04T21:00:00Z`, or
/// with `with_millis` as `2026-12-04T21:00:00.123Z`.
pub fn iso8601(millis: u64, with_millis: bool) -> String {
    let seconds = millis / 1000;
    let remainder = seconds % 86_400;
    let (year, month, day) = civil_from_days((seconds / 86_400) as i64);
    let time = format!("{:02}:{:02}:{:02}", remainder / 3_600, remainder % 3_600 / 60, remainder % 60);
    if with_millis {
        format!("{year:04}-{month:02}-{day:02}T{time}.{:03}Z", millis % 1000)
    } else {
        format!("{year:04}-{month:02}-{day:02}T{time}Z")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(iso8601(0, false), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(951_782_400_000, false), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601(1_796_418_000_999, false), "2026-12-04T21:00:00Z");
        assert_eq!(iso8601(1_796_418_000_999, true), "2026-12-04T21:00:00.999Z");
    }

    #[test]
    fn parses_what_it_formats() {
        for millis in [0, 951_782_400_000, 1_796_418_000_000] {
            assert_eq!(parse_iso8601(&iso8601(millis, false)), Some(millis));
        }
        assert_eq!(parse_iso8601("not a time"), None);
    }
}
