//! The league tables: XLSX (what offices circulate: frozen header, widths, grade colours, a sheet
//! per level), CSV with a BOM (so Excel reads the Chinese), and HTML.

use super::data::{status_zh, ReportData};
use super::ReportError;
use crate::platform::zh as platform_zh;
use crate::vocab::Grade;
use rust_xlsxwriter::{Color, Format, FormatAlign, Workbook, XlsxError};
use std::borrow::Cow;
use std::path::Path;

const UNIT_HEADER: &[&str] = &[
    "排名",
    "单位名称",
    "单位类别",
    "账号数",
    "否决账号数",
    "未转载",
    "迟转载",
    "自查缺失",
    "单位扣分",
    "综合得分",
    "等级",
    "通报批评",
    "排名变化",
];
const ACCOUNT_HEADER: &[&str] = &[
    "单位名称",
    "平台",
    "账号名称",
    "账号ID",
    "运行状态",
    "发布数",
    "无更新周数",
    "距上次发布天数",
    "留言数",
    "超期未回复",
    "回复时长中位数(小时)",
    "传播力指数",
    "得分",
    "等级",
    "单项否决",
];
const ISSUE_HEADER: &[&str] = &["问题类别", "单位名称", "平台", "账号名称", "账号ID", "问题", "依据"];

fn num(v: Option<f64>) -> String {
    v.map(|x| format!("{}", (x * 100.0).round() / 100.0)).unwrap_or_default()
}

/// The rank change against the previous quarter: ↑3, ↓2, —, or 新 for a unit new to the table.
pub fn rank_change(previous: Option<i64>, now: i64, has_previous_quarter: bool) -> String {
    match (has_previous_quarter, previous) {
        (false, _) => String::new(),
        (true, None) => "新".into(),
        (true, Some(p)) if p > now => format!("↑{}", p - now),
        (true, Some(p)) if p < now => format!("↓{}", now - p),
        (true, Some(_)) => "—".into(),
    }
}

fn unit_rows(d: &ReportData) -> Vec<Vec<String>> {
    let has_prev = d.previous_quarter.is_some();
    d.units
        .iter()
        .map(|u| {
            vec![
                u.rank.to_string(),
                u.unit_name.clone(),
                u.unit_type.clone(),
                u.accounts.to_string(),
                u.accounts_vetoed.to_string(),
                u.directives_missed.to_string(),
                u.directives_late.to_string(),
                u.self_inspections_missing.to_string(),
                num(Some(u.unit_deductions)),
                num(Some(u.score)),
                u.grade.clone(),
                if u.criticized { "是".into() } else { "否".into() },
                rank_change(u.previous_rank, u.rank, has_prev),
            ]
        })
        .collect()
}

fn account_rows(d: &ReportData) -> Vec<Vec<String>> {
    d.accounts
        .iter()
        .map(|a| {
            vec![
                a.unit_name.clone().unwrap_or_else(|| "（未纳入台账）".into()),
                platform_zh(&a.platform).to_string(),
                a.account_name.clone(),
                a.account_id.clone(),
                status_zh(&a.status).to_string(),
                a.posts.to_string(),
                a.silent_weeks.to_string(),
                num(a.days_since_last_post),
                a.messages.to_string(),
                a.overdue.to_string(),
                num(a.median_response_hours),
                num(a.reach_index),
                num(a.score),
                a.grade.clone().unwrap_or_else(|| "不参评".into()),
                a.veto_reasons.clone().unwrap_or_default(),
            ]
        })
        .collect()
}

fn issue_rows(d: &ReportData) -> Vec<Vec<String>> {
    d.criticism
        .iter()
        .map(|c| {
            vec![
                c.category.clone(),
                c.unit_name.clone().unwrap_or_else(|| "（未纳入台账）".into()),
                c.platform.as_deref().map(platform_zh).unwrap_or_default().to_string(),
                c.account_name.clone().unwrap_or_default(),
                c.account_id.clone().unwrap_or_default(),
                c.problem.clone(),
                c.evidence.clone(),
            ]
        })
        .collect()
}

/// A text cell of a CSV meant for people, safe to open in Excel or LibreOffice: text that starts
/// with a character a spreadsheet reads as the start of a formula (`=`, `+`, `-`, `@`, tab, CR;
/// OWASP "CSV Injection") gets a leading `'`, which spreadsheets hide and which makes the cell
/// text. A unit named `=HYPERLINK(…)` then shows its name instead of running it.
pub fn csv_text_cell(value: &str) -> Cow<'_, str> {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{value}"))
    } else {
        Cow::Borrowed(value)
    }
}

fn grade_color(grade: &str) -> Option<Color> {
    Grade::from_label(grade).map(|g| Color::RGB(g.fill()))
}

/// One league table: its sheet (and file) name, header and rows, the column whose grade colours a
/// row, and for Excel its column widths and the columns written as numbers.
pub struct LeagueTable {
    pub name: &'static str,
    pub header: &'static [&'static str],
    pub rows: Vec<Vec<String>>,
    pub grade_col: Option<usize>,
    widths: &'static [f64],
    numeric: &'static [usize],
}

impl LeagueTable {
    /// A table of text columns (the warning list): no grade colours, no numeric columns.
    pub fn text(name: &'static str, header: &'static [&'static str], rows: Vec<Vec<String>>, widths: &'static [f64]) -> LeagueTable {
        LeagueTable::new(name, header, rows, None, widths, &[])
    }

    pub fn html(&self) -> String {
        html_table(self.header, &self.rows, self.grade_col)
    }

    /// The table as CSV with a BOM (so Excel reads the Chinese) and CRLF line ends. Names come from
    /// the register and the exports, so text cells are made safe for a spreadsheet
    /// ([`csv_text_cell`]); numbers are written as they are, so a negative one stays a number.
    pub fn write_csv(&self, path: &Path) -> Result<(), ReportError> {
        let bytes = self.csv_bytes().map_err(|source| ReportError::Csv { path: path.to_path_buf(), source })?;
        std::fs::write(path, bytes).map_err(|source| ReportError::Write { path: path.to_path_buf(), source })
    }

    /// The CSV file's bytes ([`LeagueTable::write_csv`]).
    pub fn csv_bytes(&self) -> Result<Vec<u8>, csv::Error> {
        let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(b"\xEF\xBB\xBF".to_vec());
        w.write_record(self.header)?;
        for row in &self.rows {
            let cells: Vec<Cow<str>> = row
                .iter()
                .enumerate()
                .map(|(c, v)| if self.is_number(c, v) { Cow::Borrowed(v.as_str()) } else { csv_text_cell(v) })
                .collect();
            w.write_record(cells.iter().map(|c| c.as_bytes()))?;
        }
        // Writing into memory cannot fail; the error keeps its message all the same.
        w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
    }

    /// Whether a cell is a number in one of the columns that hold numbers.
    fn is_number(&self, column: usize, value: &str) -> bool {
        self.numeric.contains(&column) && value.parse::<f64>().is_ok_and(f64::is_finite)
    }
}

/// The quarter's league tables (units, accounts, issues), their rows made once for the workbook,
/// the CSV files and the HTML pages.
pub fn league_tables(d: &ReportData) -> [LeagueTable; 3] {
    [
        LeagueTable {
            name: "单位排名",
            header: UNIT_HEADER,
            rows: unit_rows(d),
            grade_col: Some(10),
            widths: &[6.0, 30.0, 10.0, 8.0, 10.0, 8.0, 8.0, 9.0, 9.0, 9.0, 8.0, 9.0, 9.0],
            numeric: &[0, 3, 4, 5, 6, 7, 8, 9],
        },
        LeagueTable {
            name: "账号得分",
            header: ACCOUNT_HEADER,
            rows: account_rows(d),
            grade_col: Some(13),
            widths: &[28.0, 11.0, 20.0, 18.0, 9.0, 8.0, 10.0, 12.0, 8.0, 10.0, 14.0, 11.0, 8.0, 8.0, 30.0],
            numeric: &[5, 6, 7, 8, 9, 10, 11, 12],
        },
        LeagueTable {
            name: "通报问题",
            header: ISSUE_HEADER,
            rows: issue_rows(d),
            grade_col: None,
            widths: &[16.0, 28.0, 11.0, 20.0, 18.0, 24.0, 60.0],
            numeric: &[],
        },
    ]
}

/// A sheet per table. Columns that hold numbers are written as numbers, so Excel can sort and
/// sum them.
pub fn write_xlsx(path: &Path, tables: &[LeagueTable]) -> Result<(), ReportError> {
    let failed = |sheet: Option<&str>| {
        let (path, sheet) = (path.to_path_buf(), sheet.map(String::from));
        move |source: XlsxError| ReportError::Xlsx { path, sheet, source }
    };
    let mut wb = Workbook::new();
    for t in tables {
        write_sheet(&mut wb, t).map_err(failed(Some(t.name)))?;
    }
    wb.save(path).map_err(failed(None))
}

fn write_sheet(wb: &mut Workbook, t: &LeagueTable) -> Result<(), XlsxError> {
    let ws = wb.add_worksheet();
    ws.set_name(t.name)?;
    let head = Format::new()
        .set_bold()
        .set_background_color(Color::RGB(0x1F4E78))
        .set_font_color(Color::White)
        .set_align(FormatAlign::Center)
        .set_text_wrap();
    for (c, h) in t.header.iter().enumerate() {
        ws.write_string_with_format(0, c as u16, *h, &head)?;
        ws.set_column_width(c as u16, t.widths.get(c).copied().unwrap_or(12.0))?;
    }
    ws.set_row_height(0, 30)?;
    ws.set_freeze_panes(1, 0)?;
    for (i, row) in t.rows.iter().enumerate() {
        let r = i as u32 + 1;
        let fill = t.grade_col.and_then(|g| row.get(g)).and_then(|g| grade_color(g));
        let fmt = match fill {
            Some(c) => Format::new().set_background_color(c),
            None => Format::new(),
        };
        for (c, v) in row.iter().enumerate() {
            // Text is written as a string, never as a formula, whatever it starts with.
            match v.parse::<f64>() {
                Ok(x) if t.is_number(c, v) => ws.write_number_with_format(r, c as u16, x, &fmt).map(|_| ()),
                _ => ws.write_string_with_format(r, c as u16, v, &fmt).map(|_| ()),
            }?;
        }
    }
    ws.autofilter(0, 0, t.rows.len() as u32, t.header.len().saturating_sub(1) as u16)?;
    Ok(())
}

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// An HTML table; rows whose `grade_col` holds a grade get its class.
pub fn html_table(header: &[&str], rows: &[Vec<String>], grade_col: Option<usize>) -> String {
    let mut s = String::from("<table>\n<thead><tr>");
    for h in header {
        s.push_str(&format!("<th>{}</th>", escape(h)));
    }
    s.push_str("</tr></thead>\n<tbody>\n");
    for r in rows {
        let class = match grade_col.and_then(|g| r.get(g)).and_then(|g| Grade::from_label(g)) {
            Some(g) => format!(" class=\"{}\"", g.css_class()),
            None => String::new(),
        };
        s.push_str(&format!("<tr{class}>"));
        for v in r {
            s.push_str(&format!("<td>{}</td>", escape(v)));
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</tbody>\n</table>\n");
    s
}

impl LeagueTable {
    /// A table other than the district report's three (a city's or province's regions, units with
    /// their region), written by the same code.
    pub fn new(
        name: &'static str,
        header: &'static [&'static str],
        rows: Vec<Vec<String>>,
        grade_col: Option<usize>,
        widths: &'static [f64],
        numeric: &'static [usize],
    ) -> LeagueTable {
        LeagueTable { name, header, rows, grade_col, widths, numeric }
    }
}
