//! The draft notice (通报): 总体情况, 存在问题 by category with the evidence, 附件 tables of
//! single-veto and deduction problems, and marked places for 工作要求 and the deadline.

use super::data::ReportData;
use crate::pipeline::NoticeDateError;
use crate::platform::zh as platform_zh;
use crate::vocab::{Category, Grade};

const NUMERALS: &[&str] = &["一", "二", "三", "四", "五", "六", "七", "八"];

/// Whether a criticism is a single veto (单项否决) rather than a deduction (扣分).
fn is_veto(c: &super::data::Criticism) -> bool {
    Category::from_label(&c.category).is_some_and(Category::is_veto)
}

/// Who a criticism is about, as Markdown text.
fn who(c: &super::data::Criticism) -> String {
    let unit = c.unit_name.as_deref().map(md_text).unwrap_or_else(|| "未纳入台账账号".into());
    match (&c.account_name, &c.account_id, &c.platform) {
        (Some(name), _, Some(p)) => format!("{unit}（{}“{}”）", md_text(platform_zh(p)), md_text(name)),
        (None, Some(id), Some(p)) => format!("{unit}（{}账号{}）", md_text(platform_zh(p)), md_text(id)),
        _ => unit,
    }
}

/// Text from the data (names, problems, evidence) as Markdown that reads as written and is never
/// markup: a line break becomes a space (a name cannot end a table row or begin a line of its
/// own); `|` is escaped so it cannot split a table cell; `#`, `>` and a list marker cannot open a
/// heading, quote or list; `<`, `[`, `*`, `_` and `` ` `` cannot make HTML, links, emphasis or code.
pub fn md_text(s: &str) -> String {
    md_escape(s, true)
}

/// Text from the data as a Markdown table cell: as [`md_text`], but nothing at a cell's start
/// opens a list or a heading, so a score (`75.13`) or a rank stays as written.
pub fn md_cell(s: &str) -> String {
    md_escape(s, false)
}

fn md_escape(s: &str, line_start: bool) -> String {
    let breaks = |c: char| c.is_control() || c.is_whitespace();
    let mut out = String::with_capacity(s.len() + 8);
    let mut leading_digits = true;
    for ch in s.trim_matches(breaks).chars() {
        if ch.is_control() || matches!(ch, '\u{2028}' | '\u{2029}') {
            if !out.ends_with(' ') {
                out.push(' ');
            }
            continue;
        }
        let markup = matches!(ch, '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '|' | '~')
            // At the start of a line these open a list (`- `, `+ `, `1. `, `1) `) or underline a heading.
            || (line_start && out.is_empty() && matches!(ch, '-' | '+' | '='))
            || (line_start && leading_digits && !out.is_empty() && matches!(ch, '.' | ')'));
        leading_digits &= ch.is_ascii_digit();
        if markup {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// Markdown text back to what it reads as: `\x` is `x` for ASCII punctuation (CommonMark).
fn md_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(ch) = chars.next() {
        match chars.peek() {
            Some(&next) if ch == '\\' && next.is_ascii_punctuation() => {
                out.push(next);
                chars.next();
            }
            _ => out.push(ch),
        }
    }
    out
}

/// A Markdown table row's cells, split on the pipes that are not escaped, still escaped.
fn table_cells(row: &str) -> Vec<&str> {
    let row = row.trim();
    let row = row.strip_prefix('|').unwrap_or(row);
    let mut cells = Vec::new();
    let (mut start, mut escaped) = (0, false);
    for (i, ch) in row.char_indices() {
        match ch {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '|' => {
                cells.push(row[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    let last = row[start..].trim();
    if !last.is_empty() {
        cells.push(last);
    }
    cells
}

/// The criticised units, in league-table order.
pub fn criticised_units(d: &ReportData) -> Vec<String> {
    d.units.iter().filter(|u| u.criticized).map(|u| u.unit_name.clone()).collect()
}

/// A quarter as people write it: `2019Q3` → 2019年第三季度 (file names keep `2019Q3`).
pub fn quarter_zh(quarter: &str) -> String {
    match crate::time::Quarter::parse(quarter) {
        Ok(q) => format!("{}年第{}季度", q.year, ["一", "二", "三", "四"][(q.q as usize).clamp(1, 4) - 1]),
        Err(_) => quarter.to_string(),
    }
}

/// A date as a 公文 writes it: 2019年10月8日.
pub fn date_zh(d: chrono::NaiveDate) -> String {
    use chrono::Datelike;
    format!("{}年{}月{}日", d.year(), d.month(), d.day())
}

/// What the office has not said and must fill in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Blank {
    Office,
    Area,
    Addressee,
    Number,
    Requirements,
    Deadline,
}

impl Blank {
    pub fn label(self) -> &'static str {
        match self {
            Blank::Office => "发文机关",
            Blank::Area => "地区",
            Blank::Addressee => "主送机关",
            Blank::Number => "文号",
            Blank::Requirements => "待填写：工作要求",
            Blank::Deadline => "整改期限：____年__月__日",
        }
    }
}

/// A piece of a line: text, or a placeholder the office fills in.
#[derive(Debug, Clone, PartialEq)]
pub enum Seg {
    Text(String),
    Blank(Blank),
}

/// The `[notice]` table resolved for one report: the values given, the date defaulted.
#[derive(Debug, Clone)]
pub struct Notice {
    pub quarter_zh: String,
    pub office: Option<String>,
    pub area: Option<String>,
    pub addressee: Option<String>,
    pub number: Option<String>,
    pub requirements: Option<String>,
    pub date: chrono::NaiveDate,
    pub deadline: Option<chrono::NaiveDate>,
}

impl Notice {
    /// `today` is the report's date, the notice's date unless the table gives one.
    pub fn new(quarter: &str, spec: &crate::pipeline::NoticeSpec, today: chrono::NaiveDate) -> Result<Notice, NoticeDateError> {
        let given = |v: &Option<String>| v.as_ref().map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        Ok(Notice {
            quarter_zh: quarter_zh(quarter),
            office: given(&spec.office),
            area: given(&spec.area),
            addressee: given(&spec.addressee).map(|a| a.trim_end_matches(['：', ':']).to_string()),
            number: given(&spec.number),
            requirements: given(&spec.requirements),
            date: spec.date()?.unwrap_or(today),
            deadline: spec.deadline()?,
        })
    }

    fn or_blank(v: &Option<String>, b: Blank) -> Seg {
        v.clone().map(Seg::Text).unwrap_or(Seg::Blank(b))
    }

    pub fn title(&self) -> Vec<Seg> {
        vec![
            Seg::Text("关于".into()),
            Self::or_blank(&self.area, Blank::Area),
            Seg::Text(format!("{}政务新媒体检查情况的通报", self.quarter_zh)),
        ]
    }

    pub fn office_segs(&self) -> Vec<Seg> {
        vec![Self::or_blank(&self.office, Blank::Office)]
    }

    pub fn addressee_segs(&self) -> Vec<Seg> {
        vec![Self::or_blank(&self.addressee, Blank::Addressee)]
    }

    pub fn date_zh(&self) -> String {
        date_zh(self.date)
    }

    /// The work requirements, a paragraph a line, or the placeholder.
    pub fn requirements_paragraphs(&self) -> Vec<Vec<Seg>> {
        match &self.requirements {
            Some(r) => r.lines().map(str::trim).filter(|l| !l.is_empty()).map(|l| vec![Seg::Text(l.to_string())]).collect(),
            None => vec![vec![Seg::Blank(Blank::Requirements)]],
        }
    }

    /// 请被通报单位于（期限）前完成整改，并将整改情况报送（发文机关）。
    pub fn deadline_sentence(&self) -> Vec<Seg> {
        vec![
            Seg::Text("请被通报单位于".into()),
            self.deadline.map(|d| Seg::Text(date_zh(d))).unwrap_or(Seg::Blank(Blank::Deadline)),
            Seg::Text("前完成整改，并将整改情况报送".into()),
            Self::or_blank(&self.office, Blank::Office),
            Seg::Text("。".into()),
        ]
    }
}

/// Segments as Markdown: text escaped, placeholders as 【…】 (the HTML marks them).
pub fn md_segs(parts: &[Seg]) -> String {
    parts
        .iter()
        .map(|p| match p {
            Seg::Text(t) => md_text(t),
            Seg::Blank(b) => format!("【{}】", b.label()),
        })
        .collect()
}

pub fn numeral(i: usize) -> &'static str {
    NUMERALS.get(i).copied().unwrap_or("…")
}

/// The opening sentence.
pub fn opening(d: &ReportData, n: &Notice) -> String {
    let _ = d;
    format!("根据政务新媒体管理有关规定，现将{}政务新媒体检查情况通报如下。", n.quarter_zh)
}

/// 总体情况: accounts checked and failed, overall and per platform, and the units' grades.
pub fn overview(d: &ReportData) -> String {
    let mut s = String::new();
    if let Some(a) = d.platforms.iter().find(|p| p.platform == crate::platform::ALL_PLATFORMS) {
        s.push_str(&format!(
            "本季度共检查政务新媒体账号{}个，不合格{}个，总体合格率{:.2}%。",
            a.checked,
            a.failed,
            a.pass_rate.unwrap_or(0.0)
        ));
    }
    let per: Vec<String> = d
        .platforms
        .iter()
        .filter(|p| p.platform != crate::platform::ALL_PLATFORMS)
        .map(|p| format!("{}检查{}个、不合格{}个、合格率{:.2}%", platform_zh(&p.platform), p.checked, p.failed, p.pass_rate.unwrap_or(0.0)))
        .collect();
    if !per.is_empty() {
        s.push_str(&format!("其中，{}。", per.join("；")));
    }
    let grades = Grade::ALL
        .iter()
        .map(|g| format!("{}{}个", g.label(), d.units.iter().filter(|u| u.grade == g.label()).count()))
        .collect::<Vec<_>>()
        .join("、");
    s.push_str(&format!("参评单位{}个，综合评分{}。", d.units.len(), grades));
    s
}

/// The units ranked in the top three.
pub fn top_units(d: &ReportData) -> Vec<String> {
    d.units.iter().filter(|u| u.rank <= 3).map(|u| u.unit_name.clone()).collect()
}

/// The problems by category, in the notice's order, categories without problems left out.
pub fn problems_by_category(d: &ReportData) -> Vec<(&'static str, Vec<&super::data::Criticism>)> {
    Category::ALL
        .iter()
        .map(|cat| (cat.label(), d.criticism.iter().filter(|c| c.category == cat.label()).collect::<Vec<_>>()))
        .filter(|(_, items)| !items.is_empty())
        .collect()
}

/// Who a criticism is about, as plain text.
pub fn who_plain(c: &super::data::Criticism) -> String {
    let unit = c.unit_name.clone().unwrap_or_else(|| "未纳入台账账号".into());
    match (&c.account_name, &c.account_id, &c.platform) {
        (Some(name), _, Some(p)) => format!("{unit}（{}“{name}”）", platform_zh(p)),
        (None, Some(id), Some(p)) => format!("{unit}（{}账号{id}）", platform_zh(p)),
        _ => unit,
    }
}

/// An attachment table: its title, header, relative column widths and rows (plain text).
pub struct Annex {
    pub title: String,
    pub header: &'static [&'static str],
    pub widths: &'static [usize],
    pub rows: Vec<Vec<String>>,
}

/// The notice's attachments: single-veto problems, deduction problems, the units' ranking.
pub fn annexes(d: &ReportData) -> Vec<Annex> {
    let veto = d
        .criticism
        .iter()
        .filter(|c| is_veto(c))
        .map(|c| {
            vec![
                c.unit_name.clone().unwrap_or_else(|| "未纳入台账".into()),
                c.platform.as_deref().map(platform_zh).unwrap_or("").to_string(),
                c.account_name.clone().or_else(|| c.account_id.clone()).unwrap_or_default(),
                c.category.clone(),
                c.problem.clone(),
                c.evidence.clone(),
            ]
        })
        .collect();
    let deductions = d
        .units
        .iter()
        .filter(|u| u.unit_deductions > 0.0)
        .map(|u| {
            let other: Vec<String> = d
                .criticism
                .iter()
                .filter(|c| !is_veto(c) && c.unit_name.as_deref() == Some(u.unit_name.as_str()))
                .map(|c| c.problem.clone())
                .collect();
            vec![
                u.unit_name.clone(),
                u.directives_missed.to_string(),
                u.directives_late.to_string(),
                u.self_inspections_missing.to_string(),
                ((u.unit_deductions * 100.0).round() / 100.0).to_string(),
                other.join("；"),
            ]
        })
        .collect();
    let ranking =
        d.units.iter().map(|u| vec![u.rank.to_string(), u.unit_name.clone(), format!("{:.2}", u.score), u.grade.clone()]).collect();
    vec![
        Annex {
            title: "单项否决问题清单".into(),
            header: &["单位", "平台", "账号", "问题类别", "问题", "依据"],
            widths: &[17, 13, 15, 12, 18, 25],
            rows: veto,
        },
        Annex {
            title: "扣分问题清单".into(),
            header: &["单位", "未转载", "迟转载", "自查缺失", "单位扣分", "其他问题"],
            widths: &[20, 9, 9, 10, 10, 42],
            rows: deductions,
        },
        Annex {
            title: "单位综合得分排名".into(), header: &["排名", "单位", "综合得分", "等级"], widths: &[10, 50, 20, 20], rows: ranking
        },
    ]
}

pub fn markdown(d: &ReportData, n: &Notice) -> String {
    let mut s = String::new();
    s.push_str(&format!("# {}（草稿）\n\n", md_segs(&n.title())));
    if let Some(number) = &n.number {
        s.push_str(&format!("{}\n\n", md_text(number)));
    }
    s.push_str(&format!("{}：\n\n", md_segs(&n.addressee_segs())));
    s.push_str(&format!("{}\n\n## 一、总体情况\n\n", opening(d, n)));
    s.push_str(&md_text(&overview(d)));
    s.push_str("\n\n");
    let tops: Vec<String> = top_units(d).iter().map(|u| md_text(u)).collect();
    if !tops.is_empty() {
        s.push_str(&format!("{}等单位政务新媒体运维管理规范，综合得分位居前列。\n\n", tops.join("、")));
    }

    s.push_str("## 二、存在问题\n\n");
    let groups = problems_by_category(d);
    for (i, (cat, items)) in groups.iter().enumerate() {
        s.push_str(&format!("### （{}）{}\n\n", numeral(i), cat));
        for c in items {
            s.push_str(&format!("- {}：{}（{}）。\n", who(c), md_text(&c.problem), md_text(&c.evidence)));
        }
        s.push('\n');
    }
    if groups.is_empty() {
        s.push_str("本季度检查未发现需通报的问题。\n\n");
    }
    let criticised: Vec<String> = criticised_units(d).iter().map(|u| md_text(u)).collect();
    if !criticised.is_empty() {
        s.push_str(&format!("对{}予以通报批评。\n\n", criticised.join("、")));
    }

    s.push_str("## 三、工作要求\n\n");
    for p in n.requirements_paragraphs() {
        s.push_str(&format!("{}\n\n", md_segs(&p)));
    }
    s.push_str(&format!("{}\n\n", md_segs(&n.deadline_sentence())));
    s.push_str(&format!("{}\n\n{}\n\n", md_segs(&n.office_segs()), md_text(&n.date_zh())));

    s.push_str("## 附件\n");
    for (i, a) in annexes(d).iter().enumerate() {
        s.push_str(&format!("\n### 附件{}：{}\n\n", i + 1, a.title));
        s.push_str(&format!("| {} |\n|{}\n", a.header.join(" | "), "---|".repeat(a.header.len())));
        for r in &a.rows {
            let cells: Vec<String> = r.iter().map(|c| md_text(c)).collect();
            s.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
    }
    s
}

/// A part of a notice written once and set twice, as Markdown ([`parts_markdown`]) and as a 公文
/// DOCX (`docx::write_parts`), so the two name the same units in the same order. A city's and a
/// province's notice and the rectification notices of their regions are made of these; the
/// district's notice keeps its own writers (its attachments are tables in the document).
#[derive(Debug, Clone)]
pub enum Part {
    /// The 文号 (a placeholder in the DOCX when not given), the title and the addressee.
    Head {
        number: Option<String>,
        title: Vec<Seg>,
        addressee: Vec<Seg>,
    },
    /// A title alone (a rectification notice's), the addressee below it.
    Title {
        title: Vec<Seg>,
        addressee: Vec<Seg>,
    },
    /// 一、…
    Heading1(String),
    /// （一）…
    Heading2(String),
    Para(Vec<Seg>),
    /// A numbered item: its lead (who) and the rest; numbered from 1 after each heading.
    Item {
        lead: String,
        rest: String,
    },
    /// A table across the text block; `widths` are relative.
    Table {
        header: Vec<String>,
        widths: Vec<usize>,
        rows: Vec<Vec<String>>,
    },
    /// 附件: one line per attachment (a separate file).
    Annexes(Vec<String>),
    /// The issuing office and the date.
    Signature {
        office: Vec<Seg>,
        date: String,
    },
}

/// Parts as Markdown: text from the data escaped, placeholders as 【…】.
pub fn parts_markdown(parts: &[Part]) -> String {
    let mut s = String::new();
    let mut in_items = false;
    for p in parts {
        if in_items && !matches!(p, Part::Item { .. }) {
            s.push('\n');
            in_items = false;
        }
        match p {
            Part::Head { number, title, addressee } => {
                s.push_str(&format!("# {}（草稿）\n\n", md_segs(title)));
                if let Some(number) = number {
                    s.push_str(&format!("{}\n\n", md_text(number)));
                }
                s.push_str(&format!("{}：\n\n", md_segs(addressee)));
            }
            Part::Title { title, addressee } => s.push_str(&format!("# {}\n\n{}：\n\n", md_segs(title), md_segs(addressee))),
            Part::Heading1(h) => s.push_str(&format!("## {}\n\n", md_text(h))),
            Part::Heading2(h) => s.push_str(&format!("### {}\n\n", md_text(h))),
            Part::Para(segs) => s.push_str(&format!("{}\n\n", md_segs(segs))),
            Part::Item { lead, rest } => {
                s.push_str(&format!("- {}{}\n", md_text(lead), md_cell(rest)));
                in_items = true;
            }
            Part::Table { header, rows, .. } => {
                s.push_str(&format!("| {} |\n|{}\n", header.join(" | "), "---|".repeat(header.len())));
                for r in rows {
                    s.push_str(&format!("| {} |\n", r.iter().map(|c| md_cell(c)).collect::<Vec<_>>().join(" | ")));
                }
                s.push('\n');
            }
            Part::Annexes(lines) => {
                for (i, a) in lines.iter().enumerate() {
                    let lead = if i == 0 { "附件：" } else { "　　　" };
                    s.push_str(&format!("{lead}{}.{}\n\n", i + 1, md_cell(a)));
                }
            }
            Part::Signature { office, date } => s.push_str(&format!("{}\n\n{}\n\n", md_segs(office), md_text(date))),
        }
    }
    s
}

/// The notice as HTML (from its Markdown: headings, lists, tables, paragraphs).
pub fn html(md: &str) -> String {
    use super::tables::escape;
    let mut out = String::new();
    let mut in_list = false;
    let mut in_table = false;
    for line in md.lines() {
        let t = line.trim();
        if in_list && !t.starts_with("- ") {
            out.push_str("</ul>\n");
            in_list = false;
        }
        if in_table && !t.starts_with('|') {
            out.push_str("</table>\n");
            in_table = false;
        }
        // Text is unescaped from Markdown, then escaped for HTML.
        let text = |s: &str| escape(&md_unescape(s));
        if let Some(h) = t.strip_prefix("### ") {
            out.push_str(&format!("<h4>{}</h4>\n", text(h)));
        } else if let Some(h) = t.strip_prefix("## ") {
            out.push_str(&format!("<h3>{}</h3>\n", text(h)));
        } else if let Some(h) = t.strip_prefix("# ") {
            out.push_str(&format!("<h2 class=\"notice-title\">{}</h2>\n", text(h)));
        } else if let Some(item) = t.strip_prefix("- ") {
            if !in_list {
                out.push_str("<ul>\n");
                in_list = true;
            }
            out.push_str(&format!("<li>{}</li>\n", text(item)));
        } else if t.starts_with('|') {
            let cells = table_cells(t);
            if cells.iter().all(|c| c.chars().all(|ch| ch == '-')) {
                continue;
            }
            let tag = if in_table { "td" } else { "th" };
            if !in_table {
                out.push_str("<table>\n");
                in_table = true;
            }
            out.push_str("<tr>");
            for c in cells {
                out.push_str(&format!("<{tag}>{}</{tag}>", text(c)));
            }
            out.push_str("</tr>\n");
        } else if !t.is_empty() {
            let para = text(t).replace('【', "<mark>【").replace('】', "】</mark>");
            out.push_str(&format!("<p>{para}</p>\n"));
        }
    }
    if in_list {
        out.push_str("</ul>\n");
    }
    if in_table {
        out.push_str("</table>\n");
    }
    out
}
