//! Field parsers shared by every format: coded values (platforms, states, actions…), counts,
//! times and dates, each returning a reason a person can act on.

use crate::table::Value;
use crate::time;

pub type FieldResult = Result<Value, String>;

/// Platform names of SPEC §3 → codes ([`crate::platform::code`]).
pub fn platform_code(s: &str) -> Option<&'static str> {
    crate::platform::code(s)
}

pub fn platform(s: &str) -> FieldResult {
    platform_str(s).map(|c| Value::Str(c.into()))
}

/// The platform code of a required platform cell.
pub fn platform_str(s: &str) -> Result<&'static str, String> {
    if s.trim().is_empty() {
        return Err("平台 (platform) is empty".into());
    }
    platform_code(s).ok_or_else(|| format!("平台 '{s}' is not a known platform"))
}

/// Maps a coded Chinese (or English) term through a table of (term, code).
pub fn code(s: &str, table: &[(&str, &'static str)], what: &str) -> FieldResult {
    Ok(code_str(s, table, what)?.map_or(Value::Null, |c| Value::Str(c.into())))
}

/// [`code`] without allocating: the code, or `None` for an empty cell.
pub fn code_str(s: &str, table: &[(&str, &'static str)], what: &str) -> Result<Option<&'static str>, String> {
    let t = s.trim();
    if t.is_empty() {
        return Ok(None);
    }
    table.iter().find(|(term, code)| *term == t || code.eq_ignore_ascii_case(t)).map(|(_, code)| Some(*code)).ok_or_else(|| {
        let allowed: Vec<&str> = table.iter().map(|(t, _)| *t).collect();
        format!("{what} '{t}' is not one of {}", allowed.join(" / "))
    })
}

pub const STATES: &[(&str, &str)] = &[("正常", "normal"), ("关停", "suspended"), ("注销", "deregistered")];
pub const ACTIONS: &[(&str, &str)] = &[("开设", "open"), ("变更", "change"), ("关停", "suspend"), ("注销", "deregister")];
pub const POST_KINDS: &[(&str, &str)] = &[("原创", "original"), ("转发", "repost"), ("转载", "repost")];
pub const CHANNELS: &[(&str, &str)] = &[("留言", "message"), ("私信", "private_message"), ("评论", "comment")];
pub const FINDING_KINDS: &[(&str, &str)] =
    &[("严重表述错误", "serious_error"), ("泄密", "leak"), ("错别字", "typo"), ("链接失效", "broken_link"), ("其他", "other")];

pub fn yes_no(s: &str, what: &str) -> FieldResult {
    match s.trim().to_ascii_lowercase().as_str() {
        "" => Ok(Value::Null),
        "是" | "有" | "开通" | "true" | "yes" | "1" | "y" => Ok(Value::Bool(true)),
        "否" | "无" | "未开通" | "false" | "no" | "0" | "n" => Ok(Value::Bool(false)),
        _ => Err(format!("{what} '{s}' is not 是 or 否")),
    }
}

pub fn text(s: &str) -> FieldResult {
    Ok(text_str(s).map_or(Value::Null, |t| Value::Str(t.to_string())))
}

/// The text of a cell, trimmed; `None` for an empty cell or `-`.
pub fn text_str(s: &str) -> Option<&str> {
    let t = s.trim();
    (!t.is_empty() && t != "-").then_some(t)
}

pub fn required_text(s: &str, what: &str) -> FieldResult {
    match text(s)? {
        Value::Null => Err(format!("{what} is empty")),
        v => Ok(v),
    }
}

/// A count: empty or `-` is NULL (not 0); negatives and non-numbers are errors.
/// Thousands separators and `1.2万` (ten thousands) are understood.
pub fn count(s: &str, what: &str) -> FieldResult {
    // Plain digits (nearly every cell of an export) need no copy and no float.
    let plain = s.trim();
    if !plain.is_empty() && plain.len() <= 18 && plain.bytes().all(|b| b.is_ascii_digit()) {
        return plain.parse().map(Value::Int).map_err(|_| format!("{what} '{s}' is not a number"));
    }
    let t = plain.replace(',', "");
    if t.is_empty() || t == "-" || t == "--" {
        return Ok(Value::Null);
    }
    let (num, mult) = if let Some(n) = t.strip_suffix('万') {
        (n.to_string(), 10_000.0)
    } else if let Some(n) = t.strip_suffix("亿") {
        (n.to_string(), 100_000_000.0)
    } else {
        (t.clone(), 1.0)
    };
    let v: f64 = num.parse().map_err(|_| format!("{what} '{s}' is not a number"))?;
    if v < 0.0 {
        return Err(format!("{what} '{s}' is negative"));
    }
    if !v.is_finite() {
        return Err(format!("{what} '{s}' is not a number"));
    }
    Ok(Value::Int((v * mult).round() as i64))
}

pub fn instant(s: &str, what: &str) -> FieldResult {
    if s.trim().is_empty() || s.trim() == "-" {
        return Ok(Value::Null);
    }
    time::parse_instant(s).map(Value::Instant).map_err(|e| format!("{what} {e}"))
}

pub fn required_instant(s: &str, what: &str) -> FieldResult {
    match instant(s, what)? {
        Value::Null => Err(format!("{what} is empty")),
        v => Ok(v),
    }
}

/// The earliest instant ingest takes: 2000-01-01 00:00 Beijing time. No government account
/// posted or answered on these platforms before it (Weibo opened in 2009); an earlier time is a
/// misread cell (a count taken for an Excel serial day, a two-digit year).
pub const EARLIEST_INSTANT_MICROS: i64 = 946_656_000 * 1_000_000;

/// How far after the ingest run an instant may lie: 366 days. Exports are of the past; a year
/// leaves room for clocks set wrong and time zones, and still refuses a phone number read as
/// Unix seconds (13800138000 is in the year 2407).
pub const AFTER_RUN_MICROS: i64 = 366 * 86_400 * 1_000_000;

/// Checks an instant against [`EARLIEST_INSTANT_MICROS`] and `latest` (the run's time plus
/// [`AFTER_RUN_MICROS`]). The reason names the column and the bound, not the value.
pub fn plausible_instant(micros: i64, what: &str, latest: i64) -> Result<i64, String> {
    if micros < EARLIEST_INSTANT_MICROS {
        return Err(format!("{what} is before 2000: a misread cell?"));
    }
    if micros > latest {
        return Err(format!("{what} is more than a year after this ingest run: a misread cell?"));
    }
    Ok(micros)
}

pub fn date(s: &str, what: &str) -> FieldResult {
    if s.trim().is_empty() || s.trim() == "-" {
        return Ok(Value::Null);
    }
    time::parse_date(s).map(|d| Value::Date(time::date_to_days(d))).map_err(|e| format!("{what} {e}"))
}

pub fn month(s: &str, what: &str) -> FieldResult {
    time::parse_month(s).map(Value::Str).map_err(|e| format!("{what} {e}"))
}

/// `适用单位`: names separated by `、`, `,`, `，`, `;` or `；`, normalised to `、`; empty = all units.
pub fn unit_list(s: &str) -> FieldResult {
    let names: Vec<&str> = s.split(['、', ',', '，', ';', '；']).map(str::trim).filter(|n| !n.is_empty()).collect();
    Ok(if names.is_empty() { Value::Null } else { Value::Str(names.join("、")) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_map_to_codes() {
        for (name, code) in [
            ("新浪微博", "weibo"),
            ("微信公众号", "wechat"),
            ("公众号", "wechat"),
            ("抖音", "douyin"),
            ("今日头条", "toutiao"),
            ("头条号", "toutiao"),
            ("快手", "kuaishou"),
            ("视频号", "channels"),
            ("B站", "bilibili"),
            ("哔哩哔哩", "bilibili"),
            ("APP", "app"),
            ("客户端", "app"),
            ("Weibo", "weibo"),
        ] {
            assert_eq!(platform_code(name), Some(code), "{name}");
        }
        assert!(platform("火星平台").unwrap_err().contains("火星平台"));
    }

    #[test]
    fn counts() {
        assert_eq!(count("", "x"), Ok(Value::Null));
        assert_eq!(count("-", "x"), Ok(Value::Null));
        assert_eq!(count("1,234", "x"), Ok(Value::Int(1234)));
        assert_eq!(count("1.2万", "x"), Ok(Value::Int(12000)));
        assert!(count("-5", "阅读数").unwrap_err().contains("negative"));
        assert!(count("abc", "x").is_err());
    }

    #[test]
    fn coded_values() {
        assert_eq!(code("注销", STATES, "状态"), Ok(Value::Str("deregistered".into())));
        assert_eq!(code("变更", ACTIONS, "事项"), Ok(Value::Str("change".into())));
        assert!(code("删除", ACTIONS, "事项").is_err());
        assert_eq!(yes_no("否", "互动功能"), Ok(Value::Bool(false)));
        assert_eq!(unit_list("西山镇、东湖街道"), Ok(Value::Str("西山镇、东湖街道".into())));
        assert_eq!(unit_list("西山镇, 东湖街道"), Ok(Value::Str("西山镇、东湖街道".into())));
    }
}
