//! The draft notice (通报): 总体情况, 存在问题 by category with the evidence, 附件 tables of
//! single-veto and deduction problems, and marked places for 工作要求 and the deadline.

use super::data::{platform_zh, ReportData};

/// The categories of SPEC §7 in the order a notice lists them.
pub const CATEGORIES: &[&str] = &["逾期不更新", "信息发布不准确", "互动回应不及时", "运维管理不规范", "转载不及时", "综合评分不合格"];
const NUMERALS: &[&str] = &["一", "二", "三", "四", "五", "六", "七", "八"];
/// Veto (单项否决) categories; the others are deductions (扣分).
const VETO: &[&str] = &["逾期不更新", "信息发布不准确", "互动回应不及时"];

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
            || (out.is_empty() && matches!(ch, '-' | '+' | '='))
            || (leading_digits && !out.is_empty() && matches!(ch, '.' | ')'));
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

pub fn markdown(d: &ReportData) -> String {
    let mut s = String::new();
    let all = d.platforms.iter().find(|p| p.platform == "all");
    s.push_str(&format!("# 关于{}政务新媒体检查情况的通报（草稿）\n\n", d.quarter));
    s.push_str("各单位：\n\n");
    s.push_str(&format!(
        "根据政务新媒体管理有关规定，现将{}政务新媒体检查情况通报如下。\n\n## 一、总体情况\n\n",
        d.quarter
    ));
    if let Some(a) = all {
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
        .filter(|p| p.platform != "all")
        .map(|p| format!("{}检查{}个、不合格{}个、合格率{:.2}%", platform_zh(&p.platform), p.checked, p.failed, p.pass_rate.unwrap_or(0.0)))
        .collect();
    if !per.is_empty() {
        s.push_str(&format!("其中，{}。", per.join("；")));
    }
    let grades = ["优秀", "良好", "合格", "不合格"]
        .iter()
        .map(|g| format!("{g}{}个", d.units.iter().filter(|u| u.grade == *g).count()))
        .collect::<Vec<_>>()
        .join("、");
    s.push_str(&format!("参评单位{}个，综合评分{}。\n\n", d.units.len(), grades));
    let tops: Vec<String> = d.units.iter().filter(|u| u.rank <= 3).map(|u| md_text(&u.unit_name)).collect();
    if !tops.is_empty() {
        s.push_str(&format!("{}等单位政务新媒体运维管理规范，综合得分位居前列。\n\n", tops.join("、")));
    }

    s.push_str("## 二、存在问题\n\n");
    let mut n = 0;
    for cat in CATEGORIES {
        let items: Vec<_> = d.criticism.iter().filter(|c| c.category == *cat).collect();
        if items.is_empty() {
            continue;
        }
        s.push_str(&format!("### （{}）{}\n\n", NUMERALS[n], cat));
        n += 1;
        for c in items {
            s.push_str(&format!("- {}：{}（{}）。\n", who(c), md_text(&c.problem), md_text(&c.evidence)));
        }
        s.push('\n');
    }
    if n == 0 {
        s.push_str("本季度检查未发现需通报的问题。\n\n");
    }
    let criticised: Vec<String> = criticised_units(d).iter().map(|u| md_text(u)).collect();
    if !criticised.is_empty() {
        s.push_str(&format!("对{}予以通报批评。\n\n", criticised.join("、")));
    }

    s.push_str("## 三、工作要求\n\n");
    s.push_str("【待填写：工作要求】\n\n");
    s.push_str("请被通报单位于【整改期限：____年__月__日】前完成整改，并将整改情况报送区政府办公室。\n\n");

    s.push_str("## 附件\n\n### 附件1：单项否决问题清单\n\n| 单位 | 平台 | 账号 | 问题类别 | 问题 | 依据 |\n|---|---|---|---|---|---|\n");
    for c in d.criticism.iter().filter(|c| VETO.contains(&c.category.as_str())) {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            c.unit_name.as_deref().map(md_text).unwrap_or_else(|| "未纳入台账".into()),
            md_text(c.platform.as_deref().map(platform_zh).unwrap_or("")),
            md_text(c.account_name.as_deref().or(c.account_id.as_deref()).unwrap_or_default()),
            md_text(&c.category),
            md_text(&c.problem),
            md_text(&c.evidence)
        ));
    }
    s.push_str("\n### 附件2：扣分问题清单\n\n| 单位 | 未转载 | 迟转载 | 自查缺失 | 单位扣分 | 其他问题 |\n|---|---|---|---|---|---|\n");
    for u in d.units.iter().filter(|u| u.unit_deductions > 0.0) {
        let other: Vec<String> = d
            .criticism
            .iter()
            .filter(|c| !VETO.contains(&c.category.as_str()) && c.unit_name.as_deref() == Some(u.unit_name.as_str()))
            .map(|c| md_text(&c.problem))
            .collect();
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            md_text(&u.unit_name),
            u.directives_missed,
            u.directives_late,
            u.self_inspections_missing,
            (u.unit_deductions * 100.0).round() / 100.0,
            other.join("；")
        ));
    }
    s.push_str("\n### 附件3：单位综合得分排名\n\n| 排名 | 单位 | 综合得分 | 等级 |\n|---|---|---|---|\n");
    for u in &d.units {
        s.push_str(&format!("| {} | {} | {:.2} | {} |\n", u.rank, md_text(&u.unit_name), u.score, md_text(&u.grade)));
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
