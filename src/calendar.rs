//! The PRC working-day calendar (法定节假日与调休, SPEC §3.9): shipped data and working-day arithmetic.
//!
//! The models do their own working-day arithmetic in SQL by joining the calendar table; this module
//! loads the shipped file, answers "is this a working day" for ingest-time checks and tests, and
//! expands the calendar into one row per day with a working-day ordinal.

use chrono::{Datelike, NaiveDate, Weekday};
use std::collections::HashMap;

/// The shipped calendar, `data/calendar/holidays_cn.csv`.
pub const SHIPPED_CSV: &str = include_str!("../data/calendar/holidays_cn.csv");
pub const SHIPPED_PATH: &str = "data/calendar/holidays_cn.csv";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayKind {
    /// 法定节假日 (a day off, weekend days inside a holiday period included).
    Holiday,
    /// 调休上班: a weekend day that is a working day.
    Workday,
}

impl DayKind {
    pub fn code(self) -> &'static str {
        match self {
            DayKind::Holiday => "holiday",
            DayKind::Workday => "workday",
        }
    }
    pub fn parse(s: &str) -> Option<DayKind> {
        match s.trim() {
            "holiday" | "节假日" | "假日" | "休" | "放假" => Some(DayKind::Holiday),
            "workday" | "调休上班" | "上班" | "班" | "补班" => Some(DayKind::Workday),
            _ => None,
        }
    }
}

/// The days of the shipped file: (date, holiday or make-up working day, the festival's name).
pub fn shipped_days() -> impl Iterator<Item = (NaiveDate, DayKind, &'static str)> {
    SHIPPED_CSV.lines().skip(1).filter_map(|line| {
        let mut it = line.split(',');
        let (d, k, name) = (it.next()?, it.next()?, it.next().unwrap_or(""));
        Some((NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()?, DayKind::parse(k)?, name))
    })
}

#[derive(Debug, Clone, Default)]
pub struct Calendar {
    exceptions: HashMap<NaiveDate, DayKind>,
}

impl Calendar {
    pub fn shipped() -> Calendar {
        Calendar::from_rows(shipped_days().map(|(d, k, _)| (d, k)))
    }

    pub fn from_rows(rows: impl IntoIterator<Item = (NaiveDate, DayKind)>) -> Calendar {
        Calendar { exceptions: rows.into_iter().collect() }
    }

    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        match self.exceptions.get(&d) {
            Some(DayKind::Holiday) => false,
            Some(DayKind::Workday) => true,
            None => !matches!(d.weekday(), Weekday::Sat | Weekday::Sun),
        }
    }

    /// The nth working day strictly after `d` (SPEC §5: limits in working days).
    pub fn nth_working_day_after(&self, d: NaiveDate, n: u32) -> NaiveDate {
        let mut day = d;
        let mut left = n;
        while left > 0 {
            day = day.succ_opt().expect("date in range");
            if self.is_working_day(day) {
                left -= 1;
            }
        }
        day
    }

    /// Years the calendar has data for.
    pub fn years(&self) -> std::collections::BTreeSet<i32> {
        self.exceptions.keys().map(|d| d.year()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn known_days_of_2019() {
        let cal = Calendar::shipped();
        assert!(cal.is_working_day(d("2019-09-29")), "2019-09-29 was a make-up working Sunday");
        assert!(cal.is_working_day(d("2019-10-12")), "2019-10-12 was a make-up working Saturday");
        for day in 1..=7 {
            assert!(!cal.is_working_day(d(&format!("2019-10-0{day}"))), "National Day 2019-10-0{day}");
        }
        assert!(cal.is_working_day(d("2019-02-02")) && cal.is_working_day(d("2019-02-03")));
        assert!(!cal.is_working_day(d("2019-09-13")), "Mid-Autumn Festival");
        assert!(cal.is_working_day(d("2019-09-12")));
        assert!(!cal.is_working_day(d("2019-09-28")), "an ordinary Saturday");
        // Labour Day 2019 as amended: 1–4 May off, 28 April and 5 May worked.
        assert!(!cal.is_working_day(d("2019-05-04")) && cal.is_working_day(d("2019-05-05")));
        // 2020's Spring Festival was extended to 2 February; 1 February was no longer worked.
        assert!(!cal.is_working_day(d("2020-02-01")));
        assert_eq!(cal.years(), (2019..=2026).collect());
    }

    #[test]
    fn limits_count_working_days_strictly_after() {
        let cal = Calendar::shipped();
        // Received Thursday 2019-09-26: Fri 27, Sun 29 (make-up), Mon 30 → the limit is 09-30.
        assert_eq!(cal.nth_working_day_after(d("2019-09-26"), 3), d("2019-09-30"));
        // A change on Mon 2019-09-09: 10, 11, 12, (13–15 holiday), 16, 17 → 5th is 09-17.
        assert_eq!(cal.nth_working_day_after(d("2019-09-09"), 5), d("2019-09-17"));
        // Friday → across the weekend.
        assert_eq!(cal.nth_working_day_after(d("2019-07-05"), 3), d("2019-07-10"));
    }
}
