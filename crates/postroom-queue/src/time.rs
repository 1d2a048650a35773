//! Timestamps in the ISO 8601 form that AWS APIs and events use.

/// Formats milliseconds since the Unix epoch as `2026-12-04T21:00:00Z`, or
/// with `with_millis` as `2026-12-04T21:00:00.123Z`.
pub fn iso8601(millis: u64, with_millis: bool) -> String {
    let seconds = millis / 1000;
    let days = (seconds / 86_400) as i64;
    let remainder = seconds % 86_400;
    // Civil date from days since 1970-01-01, in the proleptic Gregorian
    // calendar (Howard Hinnant's days_from_civil, inverted).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
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
}
