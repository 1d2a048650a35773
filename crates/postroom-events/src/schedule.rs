//! Schedule expressions of rules: `rate(N unit)` and EventBridge's
//! six-field `cron(minutes hours day-of-month month day-of-week year)`.
//!
//! Cron fields accept `,` lists, `-` ranges, `*` and `/` increments.
//! Day-of-month also takes `?`, `L` (the last day) and `nW` (the weekday
//! nearest day n, within the month). Day-of-week also takes `?`, `nL` (the
//! last such day of the month) and `n#k` (the k-th such day), with days 1-7
//! for SUN-SAT or their names. Months are 1-12 or JAN-DEC. Exactly one of
//! day-of-month and day-of-week is `?`. All times are UTC.

use postroom_queue::time::civil_from_days as civil;
use std::collections::BTreeSet;

const MINUTE_MS: u64 = 60_000;
const DAY_MS: u64 = 86_400_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Schedule {
    /// Every `interval_ms`, counted from when the rule was created.
    Rate { interval_ms: u64 },
    Cron(Box<Cron>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cron {
    minutes: BTreeSet<u32>,
    hours: BTreeSet<u32>,
    day_of_month: DayOfMonth,
    months: BTreeSet<u32>,
    day_of_week: DayOfWeek,
    years: BTreeSet<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum DayOfMonth {
    Any,
    Days(BTreeSet<u32>),
    Last,
    NearestWeekday(u32),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum DayOfWeek {
    Any,
    Days(BTreeSet<u32>),
    /// The last given weekday of the month, 1-7 for SUN-SAT.
    Last(u32),
    /// The k-th given weekday of the month.
    Nth(u32, u32),
}

const MONTHS: [&str; 12] = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

fn value(text: &str, names: &[&str], min: u32, max: u32) -> Option<u32> {
    let number = match names.iter().position(|name| name.eq_ignore_ascii_case(text)) {
        Some(index) => index as u32 + 1,
        None => text.parse().ok()?,
    };
    (min..=max).contains(&number).then_some(number)
}

/// Parses a list of values, ranges, `*` and increments into a set.
fn set(field: &str, names: &[&str], min: u32, max: u32) -> Option<BTreeSet<u32>> {
    let mut values = BTreeSet::new();
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => (range, step.parse::<u32>().ok().filter(|s| *s > 0)?),
            None => (part, 1),
        };
        let (start, end) = if range == "*" {
            (min, max)
        } else if let Some((from, to)) = range.split_once('-') {
            (value(from, names, min, max)?, value(to, names, min, max)?)
        } else {
            let start = value(range, names, min, max)?;
            (start, if part.contains('/') { max } else { start })
        };
        if start > end {
            return None;
        }
        values.extend((start..=end).step_by(step as usize));
    }
    Some(values)
}

impl Schedule {
    /// Parses a schedule expression, or returns `None` when it is invalid.
    pub fn parse(expression: &str) -> Option<Self> {
        let expression = expression.trim();
        if let Some(inner) = expression.strip_prefix("rate(").and_then(|rest| rest.strip_suffix(')')) {
            let (count, unit) = inner.trim().split_once(' ')?;
            let count: u64 = count.parse().ok().filter(|n| *n > 0)?;
            let unit_ms = match (unit, count) {
                ("minute", 1) | ("minutes", 2..) => MINUTE_MS,
                ("hour", 1) | ("hours", 2..) => 60 * MINUTE_MS,
                ("day", 1) | ("days", 2..) => DAY_MS,
                _ => return None,
            };
            return Some(Schedule::Rate { interval_ms: count * unit_ms });
        }
        let inner = expression.strip_prefix("cron(")?.strip_suffix(')')?;
        let fields: Vec<&str> = inner.split_whitespace().collect();
        let [minutes, hours, day_of_month, months, day_of_week, years] = fields.as_slice() else { return None };
        let day_of_month = match *day_of_month {
            "?" => DayOfMonth::Any,
            "L" => DayOfMonth::Last,
            text if text.ends_with('W') => DayOfMonth::NearestWeekday(value(text.trim_end_matches('W'), &[], 1, 31)?),
            text => DayOfMonth::Days(set(text, &[], 1, 31)?),
        };
        let day_of_week = match *day_of_week {
            "?" => DayOfWeek::Any,
            text if text.contains('#') => {
                let (day, nth) = text.split_once('#')?;
                DayOfWeek::Nth(value(day, &DAYS, 1, 7)?, nth.parse().ok().filter(|n| (1..=5).contains(n))?)
            }
            text if text.len() > 1 && text.ends_with('L') => DayOfWeek::Last(value(text.trim_end_matches('L'), &DAYS, 1, 7)?),
            "L" => DayOfWeek::Last(7),
            text => DayOfWeek::Days(set(text, &DAYS, 1, 7)?),
        };
        // Exactly one of the two day fields must be `?`.
        if (day_of_month == DayOfMonth::Any) == (day_of_week == DayOfWeek::Any) {
            return None;
        }
        Some(Schedule::Cron(Box::new(Cron {
            minutes: set(minutes, &[], 0, 59)?,
            hours: set(hours, &[], 0, 23)?,
            day_of_month,
            months: set(months, &MONTHS, 1, 12)?,
            day_of_week,
            years: set(years, &[], 1970, 2199)?,
        })))
    }

    /// Returns the first firing strictly after `after`, for a rule created
    /// at `created_at`.
    pub fn next_after(&self, after: u64, created_at: u64) -> Option<u64> {
        match self {
            Schedule::Rate { interval_ms } => {
                let elapsed = after.saturating_sub(created_at);
                Some(created_at + (elapsed / interval_ms + 1) * interval_ms)
            }
            Schedule::Cron(cron) => cron.next_after(after),
        }
    }
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

impl Cron {
    fn day_matches(&self, days: i64) -> bool {
        let (year, month, day) = civil(days);
        let last = days_in_month(year, month);
        // 1970-01-01 was a Thursday, day 5 of the week in SUN=1 numbering.
        let weekday = ((days.rem_euclid(7) + 4) % 7 + 1) as u32;
        let day_of_month = match &self.day_of_month {
            DayOfMonth::Any => true,
            DayOfMonth::Days(set) => set.contains(&day),
            DayOfMonth::Last => day == last,
            DayOfMonth::NearestWeekday(target) => {
                let target = (*target).min(last);
                let target_weekday = ((i64::from(weekday) - 1 + i64::from(target) - i64::from(day)).rem_euclid(7) + 1) as u32;
                let nearest = match target_weekday {
                    7 if target == 1 => target + 2,
                    7 => target - 1,
                    1 if target == last => target - 2,
                    1 => target + 1,
                    _ => target,
                };
                day == nearest
            }
        };
        let day_of_week = match &self.day_of_week {
            DayOfWeek::Any => true,
            DayOfWeek::Days(set) => set.contains(&weekday),
            DayOfWeek::Last(target) => weekday == *target && day + 7 > last,
            DayOfWeek::Nth(target, nth) => weekday == *target && (day - 1) / 7 + 1 == *nth,
        };
        day_of_month && day_of_week
    }

    fn next_after(&self, after: u64) -> Option<u64> {
        let start = after / MINUTE_MS * MINUTE_MS + MINUTE_MS;
        let first_day = (start / DAY_MS) as i64;
        // Schedules repeat at least once in five years unless their years
        // are over, so the search ends there.
        for days in first_day..first_day + 5 * 366 {
            let (year, month, _) = civil(days);
            if !self.years.contains(&(year as u32)) || !self.months.contains(&month) || !self.day_matches(days) {
                continue;
            }
            let day_start = days as u64 * DAY_MS;
            for hour in &self.hours {
                for minute in &self.minutes {
                    let at = day_start + u64::from(*hour) * 3_600_000 + u64::from(*minute) * MINUTE_MS;
                    if at >= start {
                        return Some(at);
                    }
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-04T21:00:00Z, a Friday.
    const FRIDAY: u64 = 1_796_418_000_000;

    fn next(expression: &str, after: u64) -> String {
        let schedule = Schedule::parse(expression).unwrap_or_else(|| panic!("{expression} is valid"));
        postroom_queue::time::iso8601(schedule.next_after(after, after).expect("fires again"), false)
    }

    #[test]
    fn rates() {
        assert_eq!(Schedule::parse("rate(5 minutes)"), Some(Schedule::Rate { interval_ms: 300_000 }));
        assert_eq!(Schedule::parse("rate(1 hour)"), Some(Schedule::Rate { interval_ms: 3_600_000 }));
        for bad in ["rate(1 minutes)", "rate(2 minute)", "rate(0 minutes)", "rate(5 weeks)", "rate(five minutes)"] {
            assert_eq!(Schedule::parse(bad), None, "{bad}");
        }
        let rate = Schedule::parse("rate(5 minutes)").expect("valid");
        assert_eq!(rate.next_after(1_000, 1_000), Some(301_000));
        assert_eq!(rate.next_after(301_000, 1_000), Some(601_000));
    }

    #[test]
    fn cron_fields() {
        assert_eq!(next("cron(0 12 * * ? *)", FRIDAY), "2026-12-05T12:00:00Z");
        assert_eq!(next("cron(15 10 ? * MON-FRI *)", FRIDAY), "2026-12-07T10:15:00Z");
        assert_eq!(next("cron(0/15 * * * ? *)", FRIDAY), "2026-12-04T21:15:00Z");
        assert_eq!(next("cron(0 8 1 JAN ? *)", FRIDAY), "2027-01-01T08:00:00Z");
        assert_eq!(next("cron(0 0 L * ? *)", FRIDAY), "2026-12-31T00:00:00Z");
        assert_eq!(next("cron(0 9 ? * 6L *)", FRIDAY), "2026-12-25T09:00:00Z", "the last Friday");
        assert_eq!(next("cron(0 9 ? * 2#1 *)", FRIDAY), "2026-12-07T09:00:00Z", "the first Monday of December");
        assert_eq!(next("cron(0 9 5W * ? *)", FRIDAY), "2027-01-05T09:00:00Z", "5 January 2027 is a Tuesday");
        assert_eq!(next("cron(0 9 6W * ? *)", FRIDAY), "2026-12-07T09:00:00Z", "Sunday the 6th moves to Monday");
        assert_eq!(next("cron(0 0 29 FEB ? 2028)", FRIDAY), "2028-02-29T00:00:00Z");
    }

    #[test]
    fn invalid_crons() {
        for bad in [
            "cron(0 12 * * * *)",
            "cron(0 12 ? * ? *)",
            "cron(60 12 * * ? *)",
            "cron(0 24 * * ? *)",
            "cron(0 12 * 13 ? *)",
            "cron(0 12 ? * 8 *)",
            "cron(0 12 * * ?)",
            "cron(0 12 32 * ? *)",
            "cron(0 12 ? * 2#6 *)",
            "every day",
        ] {
            assert_eq!(Schedule::parse(bad), None, "{bad}");
        }
        let over = Schedule::parse("cron(0 0 1 1 ? 1999)").expect("valid");
        assert_eq!(over.next_after(FRIDAY, FRIDAY), None, "its years are over");
    }
}
