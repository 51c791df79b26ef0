//! Parsing the time and date styles of SPEC §3 into UTC instants and Beijing dates.
//!
//! Every naive time is Beijing time (UTC+8, no daylight saving since 1991), so a fixed offset is
//! exact for the period the project covers; the warehouse stores UTC microseconds.

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};

/// Beijing time, UTC+8.
pub fn beijing() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// Days from 1970-01-01 to the date (Arrow's Date32).
pub fn date_to_days(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32
}

pub fn days_to_date(days: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch") + Duration::days(days as i64)
}

/// The UTC instant of a Beijing wall-clock time, as microseconds since the epoch.
pub fn beijing_micros(t: NaiveDateTime) -> i64 {
    // A fixed offset: every wall-clock time is one instant, eight hours before the same time in UTC.
    t.and_utc().timestamp_micros() - 8 * 3_600_000_000
}

/// Beijing date of a UTC instant (microseconds).
pub fn beijing_date_of(micros: i64) -> NaiveDate {
    let dt = Utc.timestamp_micros(micros).single().unwrap_or_default();
    dt.with_timezone(&beijing()).date_naive()
}

/// The Beijing quarter of an instant, as `year * 4 + quarter - 1` (civil-from-days arithmetic, as
/// in H. Hinnant's `chrono` algorithms: a call per row of tens of millions).
pub fn quarter_of_instant(micros: i64) -> i32 {
    let days = (micros + 8 * 3_600_000_000).div_euclid(86_400_000_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year * 4 + (month - 1) / 3) as i32
}

/// A quarter of [`quarter_of_instant`] as a partition names it (`2019Q3`), or `unknown` for
/// `i32::MIN` (rows without an instant).
pub fn quarter_label(q: i32) -> String {
    if q == i32::MIN {
        "unknown".into()
    } else {
        format!("{:04}Q{}", q.div_euclid(4), q.rem_euclid(4) + 1)
    }
}

/// A date at 00:00 Beijing time, as UTC microseconds.
pub fn date_start_micros(d: NaiveDate) -> i64 {
    beijing_micros(d.and_time(NaiveTime::MIN))
}

pub fn format_micros_beijing(micros: i64) -> String {
    let dt = Utc.timestamp_micros(micros).single().unwrap_or_default();
    dt.with_timezone(&beijing()).format("%Y-%m-%d %H:%M:%S").to_string()
}

/// Excel's day 0 for serial numbers (the 1900 leap-year bug makes it 1899-12-30).
fn excel_epoch() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(1899, 12, 30).expect("excel epoch").and_time(NaiveTime::MIN)
}

/// Excel serial day number (may be fractional) as a naive wall-clock time, rounded to the second.
pub fn excel_serial_to_naive(serial: f64) -> Option<NaiveDateTime> {
    if !(1.0..2_958_466.0).contains(&serial) {
        return None;
    }
    let secs = (serial * 86_400.0).round() as i64;
    Some(excel_epoch() + Duration::seconds(secs))
}

const DATETIME_FORMATS: &[&str] = &[
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y年%m月%d日 %H:%M:%S",
    "%Y年%m月%d日 %H:%M",
    "%Y年%m月%d日%H:%M",
];

const DATE_FORMATS: &[&str] = &["%Y-%m-%d", "%Y/%m/%d", "%Y年%m月%d日", "%Y%m%d", "%Y.%m.%d"];

/// A text that is not the time, date, month or quarter it should be (the text is in the message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("empty time")]
    EmptyTime,
    #[error("'{0}' is not a time")]
    NotATime(String),
    #[error("empty date")]
    EmptyDate,
    #[error("'{0}' is not a date")]
    NotADate(String),
    #[error("'{0}' is not a month (YYYY-MM or YYYY年M月)")]
    NotAMonth(String),
    #[error("'{0}' is not a quarter (write it like 2019Q3)")]
    NotAQuarter(String),
}

/// Parses any time style of SPEC §3 into UTC microseconds. Naive times are Beijing time.
pub fn parse_instant(text: &str) -> Result<i64, TimeError> {
    let s = text.trim();
    if s.is_empty() {
        return Err(TimeError::EmptyTime);
    }
    if let Some(t) = plain_datetime(s) {
        return Ok(beijing_micros(t));
    }
    if let Some(n) = parse_number(s) {
        return number_to_instant(n).ok_or_else(|| TimeError::NotATime(s.to_string()));
    }
    for f in DATETIME_FORMATS {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Ok(beijing_micros(t));
        }
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_micros());
    }
    // Weibo API style: `Sat Jun 01 12:34:56 +0800 2024`.
    if let Ok(t) = DateTime::parse_from_str(s, "%a %b %d %H:%M:%S %z %Y") {
        return Ok(t.timestamp_micros());
    }
    for f in DATE_FORMATS {
        if let Ok(d) = NaiveDate::parse_from_str(s, f) {
            return Ok(date_start_micros(d));
        }
    }
    Err(TimeError::NotATime(s.to_string()))
}

/// `YYYY-MM-DD HH:MM:SS` read digit by digit: the style of nearly every export cell, and the first
/// of [`DATETIME_FORMATS`], which reads any other spelling of it the same way.
fn plain_datetime(s: &str) -> Option<NaiveDateTime> {
    let b = s.as_bytes();
    if b.len() != 19 || b[4] != b'-' || b[7] != b'-' || b[10] != b' ' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u32> {
        b[from..to].iter().try_fold(0u32, |n, &c| c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0')))
    };
    let date = NaiveDate::from_ymd_opt(num(0, 4)? as i32, num(5, 7)?, num(8, 10)?)?;
    date.and_hms_opt(num(11, 13)?, num(14, 16)?, num(17, 19)?)
}

/// Numbers: Unix milliseconds (≥ 1e11), Unix seconds (≥ 1e8), or an Excel serial day (< 1e6).
fn number_to_instant(n: f64) -> Option<i64> {
    if (1e11..1e14).contains(&n) {
        Some((n * 1000.0).round() as i64)
    } else if (1e8..1e11).contains(&n) {
        Some((n * 1_000_000.0).round() as i64)
    } else if n > 0.0 && n < 1e6 {
        excel_serial_to_naive(n).map(beijing_micros)
    } else {
        None
    }
}

fn parse_number(s: &str) -> Option<f64> {
    if !s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    s.parse::<f64>().ok()
}

/// Parses a date in any of the styles of SPEC §3 (a time part, if present, is dropped after
/// converting to Beijing time).
pub fn parse_date(text: &str) -> Result<NaiveDate, TimeError> {
    let s = text.trim();
    if s.is_empty() {
        return Err(TimeError::EmptyDate);
    }
    for f in DATE_FORMATS {
        if let Ok(d) = NaiveDate::parse_from_str(s, f) {
            return Ok(d);
        }
    }
    match parse_instant(s) {
        Ok(m) => Ok(beijing_date_of(m)),
        Err(_) => Err(TimeError::NotADate(s.to_string())),
    }
}

/// `YYYY-MM` or `YYYY年M月` → `YYYY-MM`.
pub fn parse_month(text: &str) -> Result<String, TimeError> {
    let s = text.trim();
    let bad = || TimeError::NotAMonth(s.to_string());
    let (y, m) = if let Some(rest) = s.strip_suffix('月') {
        let (y, m) = rest.split_once('年').ok_or_else(bad)?;
        (y, m)
    } else if let Some((y, m)) = s.split_once('-').or_else(|| s.split_once('/')) {
        (y, m)
    } else {
        return Err(bad());
    };
    let y: i32 = y.trim().parse().map_err(|_| bad())?;
    let m: u32 = m.trim().parse().map_err(|_| bad())?;
    if !(1..=12).contains(&m) || !(1900..=2200).contains(&y) {
        return Err(bad());
    }
    Ok(format!("{y:04}-{m:02}"))
}

/// A quarter such as `2019Q3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quarter {
    pub year: i32,
    pub q: u32,
}

impl Quarter {
    pub fn parse(s: &str) -> Result<Quarter, TimeError> {
        let t = s.trim().to_ascii_uppercase();
        let bad = || TimeError::NotAQuarter(s.to_string());
        let (y, q) = t.split_once('Q').ok_or_else(bad)?;
        let year: i32 = y.parse().map_err(|_| bad())?;
        let q: u32 = q.parse().map_err(|_| bad())?;
        if !(1..=4).contains(&q) || !(2000..=2100).contains(&year) {
            return Err(bad());
        }
        Ok(Quarter { year, q })
    }
    pub fn start(&self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, 3 * (self.q - 1) + 1, 1).expect("quarter start")
    }
    pub fn next(&self) -> Quarter {
        if self.q == 4 {
            Quarter { year: self.year + 1, q: 1 }
        } else {
            Quarter { year: self.year, q: self.q + 1 }
        }
    }
    pub fn prev(&self) -> Quarter {
        if self.q == 1 {
            Quarter { year: self.year - 1, q: 4 }
        } else {
            Quarter { year: self.year, q: self.q - 1 }
        }
    }
    pub fn end(&self) -> NaiveDate {
        self.next().start()
    }
    pub fn of_date(d: NaiveDate) -> Quarter {
        Quarter { year: d.year(), q: (d.month() - 1) / 3 + 1 }
    }
}

impl std::fmt::Display for Quarter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}Q{}", self.year, self.q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bj(s: &str) -> i64 {
        beijing_micros(NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap())
    }

    #[test]
    fn every_time_style_of_the_spec() {
        let want = bj("2019-08-20 21:30:00");
        for s in [
            "2019-08-20 21:30",
            "2019-08-20 21:30:00",
            "2019/8/20 21:30",
            "2019/08/20 21:30:00",
            "2019年8月20日 21:30",
            "2019-08-20T21:30:00",
            "2019-08-20T21:30:00+08:00",
            "2019-08-20T13:30:00Z",
            "Tue Aug 20 21:30:00 +0800 2019",
            "1566307800",
            "1566307800000",
        ] {
            assert_eq!(parse_instant(s), Ok(want), "{s}");
        }
        // Excel serial 43710.77083333334 is 2019-09-02 18:30 (Beijing wall-clock time).
        assert_eq!(parse_instant("43710.77083333334"), Ok(bj("2019-09-02 18:30:00")));
        // The digit-by-digit reading agrees with the formats it stands in for, and leaves the rest to them.
        for s in ["2019-08-20 21:30:00", "2020-02-29 23:59:59", "1999-12-31 00:00:00"] {
            let slow = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap();
            assert_eq!(plain_datetime(s), Some(slow), "{s}");
        }
        for s in ["2019-02-30 10:00:00", "2019-08-20 24:00:00", "2019-08-2x 21:30:00", "2019-08-20T21:30:00"] {
            assert_eq!(plain_datetime(s), None, "{s}");
        }
        assert!(parse_instant("2019-02-30 10:00:00").is_err());
        // Beijing midnight is 16:00 UTC of the day before.
        assert_eq!(bj("2019-07-01 00:00:00"), 1_561_910_400_000_000);
    }

    #[test]
    fn beijing_is_chronos_fixed_offset() {
        let mut t = NaiveDate::from_ymd_opt(1890, 1, 1).unwrap().and_hms_opt(0, 0, 0).unwrap();
        while t.year() < 2110 {
            let want = beijing().from_local_datetime(&t).single().unwrap().timestamp_micros();
            assert_eq!(beijing_micros(t), want, "{t}");
            t += Duration::seconds(86_400 * 13 + 3_607);
        }
    }

    #[test]
    fn impossible_times_are_errors() {
        for s in ["2019-13-45 25:61", "", "yesterday", "-5", "2019-02-30"] {
            assert!(parse_instant(s).is_err(), "{s}");
        }
    }

    #[test]
    fn dates_and_months() {
        let d = NaiveDate::from_ymd_opt(2019, 9, 17).unwrap();
        assert_eq!(parse_date("2019年9月17日"), Ok(d));
        assert_eq!(parse_date("2019/9/17"), Ok(d));
        assert_eq!(parse_date("2019-09-17"), Ok(d));
        assert_eq!(parse_month("2019年9月"), Ok("2019-09".into()));
        assert_eq!(parse_month("2019-07"), Ok("2019-07".into()));
        assert!(parse_month("2019-13").is_err());
    }

    #[test]
    fn quarters() {
        let q = Quarter::parse("2019q3").unwrap();
        assert_eq!(q.to_string(), "2019Q3");
        assert_eq!(q.start(), NaiveDate::from_ymd_opt(2019, 7, 1).unwrap());
        assert_eq!(q.end(), NaiveDate::from_ymd_opt(2019, 10, 1).unwrap());
        assert_eq!(Quarter::parse("2019Q4").unwrap().end(), NaiveDate::from_ymd_opt(2020, 1, 1).unwrap());
        assert!(Quarter::parse("2019Q5").is_err());
    }
}
