//! The warning list for people: one Chinese line per warning saying what to do by when, grouped
//! by unit; as text for the terminal, CSV and XLSX to send to units, an HTML page, and JSON lines
//! for programs. Spreadsheet and HTML output go through the report's helpers, with their escaping
//! and formula neutralising.

use super::WatchError;
use super::{Warning, WatchReport};
use crate::report::tables::{self, LeagueTable};
use chrono::{Datelike, TimeZone, Timelike};
use std::io::Write;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum WatchFormat {
    /// Grouped lines for the terminal.
    #[default]
    Table,
    /// CSV with a BOM (Excel reads the Chinese), one row per warning.
    Csv,
    /// JSON Lines, one object per warning (the `watch_warnings` mart's columns).
    Json,
    /// An Excel workbook (needs --output).
    Xlsx,
    /// A self-contained HTML page to send or print.
    Html,
}

/// An instant as a Beijing deadline: `2019年9月12日24时` for the end of a day (00:00 of the
/// next), else `2019年9月12日9时30分`.
pub fn deadline_zh(s: i64) -> String {
    let Some(t) = chrono::Utc.timestamp_opt(s, 0).single() else { return s.to_string() };
    let t = t.with_timezone(&crate::time::beijing());
    if t.hour() == 0 && t.minute() == 0 {
        let d = t.date_naive().pred_opt().unwrap_or(t.date_naive());
        return format!("{}年{}月{}日24时", d.year(), d.month(), d.day());
    }
    instant_zh(s)
}

/// An instant as Beijing time: `2019年9月17日9时`, `2019年9月17日9时30分`.
pub fn instant_zh(s: i64) -> String {
    let Some(t) = chrono::Utc.timestamp_opt(s, 0).single() else { return s.to_string() };
    let t = t.with_timezone(&crate::time::beijing());
    let minute = if t.minute() == 0 { String::new() } else { format!("{}分", t.minute()) };
    format!("{}年{}月{}日{}时{minute}", t.year(), t.month(), t.day(), t.hour())
}

/// A span of seconds as days and hours (`2天3小时`, `5小时`, `不足1小时`).
pub fn span_zh(seconds: i64) -> String {
    let (days, hours) = (seconds / 86400, (seconds % 86400) / 3600);
    match (days, hours) {
        (0, 0) => "不足1小时".into(),
        (0, h) => format!("{h}小时"),
        (d, 0) => format!("{d}天"),
        (d, h) => format!("{d}天{h}小时"),
    }
}

/// When, said against the as-of point: `期限…，剩余…`, `期限…已过（逾期…）`, or at once.
pub fn when_zh(w: &Warning, as_of_s: i64) -> String {
    match w.deadline_s {
        None => "已违反规定，请立即办理".into(),
        Some(d) if d <= as_of_s => format!("期限{}已过（逾期{}）", deadline_zh(d), span_zh(as_of_s - d)),
        Some(d) => format!("请于{}前完成（剩余{}）", deadline_zh(d), span_zh(d - as_of_s)),
    }
}

/// The account a warning is about (`微信公众号「区教育局」`), or nothing for a unit's.
fn account_zh(w: &Warning) -> Option<String> {
    let id = w.account_id.as_deref()?;
    let platform = w.platform.as_deref().map(crate::platform::zh).unwrap_or_default();
    Some(format!("{platform}「{}」", w.account_name.as_deref().unwrap_or(id)))
}

/// The one line a person acts on.
pub fn line(w: &Warning, as_of_s: i64) -> String {
    let who = account_zh(w).map(|a| format!("{a}：")).unwrap_or_default();
    format!("{who}{}，{}", w.todo, when_zh(w, as_of_s))
}

fn unit_zh(unit: Option<&str>) -> &str {
    unit.unwrap_or("（未纳入台账的账号）")
}

fn status_zh(w: &Warning, as_of_s: i64) -> &'static str {
    if w.past_due(as_of_s) {
        "已逾期"
    } else {
        "即将到期"
    }
}

/// The title line: as of when, how many, how many past due.
pub fn heading(r: &WatchReport) -> String {
    format!(
        "政务新媒体预警 截至{}（{}）：{}条预警，其中已逾期{}条",
        instant_zh(r.as_of_s),
        crate::report::notice::quarter_zh(&r.quarter.to_string()),
        r.warnings.len(),
        r.past_due()
    )
}

/// The grouped lines for the terminal.
pub fn write_text(r: &WatchReport, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "{}", heading(r))?;
    if r.warnings.is_empty() {
        writeln!(out, "无预警")?;
    }
    for (unit, list) in r.groups() {
        writeln!(out, "\n■ {}（{}条）", unit_zh(unit), list.len())?;
        for w in list {
            // Names come from the exports: shown with control characters escaped.
            writeln!(out, "  [{}] {}", status_zh(w, r.as_of_s), crate::query::escape_text(&line(w, r.as_of_s)))?;
        }
    }
    Ok(())
}

const HEADER: &[&str] = &["单位名称", "平台", "账号名称", "账号ID", "预警类别", "状态", "期限", "待办事项"];

fn rows(r: &WatchReport) -> Vec<Vec<String>> {
    r.warnings
        .iter()
        .map(|w| {
            vec![
                unit_zh(w.unit_name.as_deref()).to_string(),
                w.platform.as_deref().map(crate::platform::zh).unwrap_or_default().to_string(),
                w.account_name.clone().unwrap_or_default(),
                w.account_id.clone().unwrap_or_default(),
                w.problem.clone(),
                status_zh(w, r.as_of_s).to_string(),
                w.deadline_s.map(deadline_zh).unwrap_or_else(|| "立即".into()),
                line(w, r.as_of_s),
            ]
        })
        .collect()
}

/// The list as the report's tables are (one sheet, frozen header, text never a formula).
fn table(r: &WatchReport) -> LeagueTable {
    LeagueTable::text("预警清单", HEADER, rows(r), &[28.0, 11.0, 20.0, 18.0, 16.0, 9.0, 20.0, 80.0])
}

/// Writes the list in `format` to `out` (xlsx needs a file: [`write_file`]).
pub fn write(r: &WatchReport, format: WatchFormat, out: &mut dyn Write) -> Result<(), WatchError> {
    match format {
        WatchFormat::Table => write_text(r, out).map_err(WatchError::Output),
        WatchFormat::Csv => out.write_all(&table(r).csv_bytes().map_err(WatchError::Csv)?).map_err(WatchError::Output),
        WatchFormat::Json => {
            let batch = r.to_batch()?;
            let mut w = arrow::json::LineDelimitedWriter::new(out);
            w.write(&batch)?;
            Ok(w.finish()?)
        }
        WatchFormat::Html => out.write_all(html(r).as_bytes()).map_err(WatchError::Output),
        WatchFormat::Xlsx => Err(WatchError::XlsxNeedsFile),
    }
}

/// Writes the list in `format` to a file.
pub fn write_file(r: &WatchReport, format: WatchFormat, path: &Path) -> Result<(), WatchError> {
    if format == WatchFormat::Xlsx {
        return Ok(tables::write_xlsx(path, &[table(r)])?);
    }
    let mut bytes = Vec::new();
    write(r, format, &mut bytes)?;
    std::fs::write(path, bytes).map_err(|source| WatchError::Write { path: path.to_path_buf(), source })
}

/// A page per run: the heading, then a table per unit (escaped as the report's pages are).
pub fn html(r: &WatchReport) -> String {
    let mut body = format!("<h1>{}</h1>\n", tables::escape(&heading(r)));
    if r.warnings.is_empty() {
        body.push_str("<p>无预警</p>\n");
    }
    for (unit, list) in r.groups() {
        body.push_str(&format!("<h2>{}（{}条）</h2>\n", tables::escape(unit_zh(unit)), list.len()));
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|w| {
                vec![
                    status_zh(w, r.as_of_s).to_string(),
                    w.problem.clone(),
                    w.deadline_s.map(deadline_zh).unwrap_or_else(|| "立即".into()),
                    line(w, r.as_of_s),
                ]
            })
            .collect();
        // Past-due rows in the report's red (its 不合格 class); the status cell is ours, not data.
        let table = tables::html_table(&["状态", "预警类别", "期限", "待办事项"], &rows, None);
        body.push_str(&table.replace("<tr><td>已逾期</td>", "<tr class=\"g-d\"><td>已逾期</td>"));
    }
    crate::report::page(&heading(r), &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: &str) -> i64 {
        crate::time::parse_instant(t).unwrap() / 1_000_000
    }

    #[test]
    fn deadlines_read_as_an_office_writes_them() {
        assert_eq!(deadline_zh(at("2019-09-13T00:00:00+08:00")), "2019年9月12日24时");
        assert_eq!(deadline_zh(at("2019-09-12T21:30:00+08:00")), "2019年9月12日21时30分");
        assert_eq!(deadline_zh(at("2019-09-12T09:00:00+08:00")), "2019年9月12日9时");
        assert_eq!(span_zh(2 * 86400 + 3 * 3600 + 59), "2天3小时");
        assert_eq!(span_zh(86400), "1天");
        assert_eq!(span_zh(1800), "不足1小时");
    }

    #[test]
    fn a_line_says_what_to_do_by_when() {
        let w = super::super::Warning {
            unit_name: Some("区教育局".into()),
            platform: Some("wechat".into()),
            account_id: Some("gh_1".into()),
            account_name: Some("教育<发布>".into()),
            kind: "message_due".into(),
            problem: "留言即将到期".into(),
            subject: None,
            items: 2,
            deadline_s: Some(at("2019-09-13T00:00:00+08:00")),
            todo: "回复2条群众留言".into(),
            model: "watch_messages".into(),
        };
        let as_of = at("2019-09-11T12:00:00+08:00");
        assert_eq!(line(&w, as_of), "微信公众号「教育<发布>」：回复2条群众留言，请于2019年9月12日24时前完成（剩余1天12小时）");
        let late = at("2019-09-14T06:00:00+08:00");
        assert_eq!(line(&w, late), "微信公众号「教育<发布>」：回复2条群众留言，期限2019年9月12日24时已过（逾期1天6小时）");
        let r = WatchReport { as_of_s: as_of, quarter: super::super::quarter_of(as_of), within_s: 0, warnings: vec![w], last_post_s: None };
        let page = html(&r);
        assert!(page.contains("教育&lt;发布&gt;") && !page.contains("教育<发布>"), "{page}");
    }
}
