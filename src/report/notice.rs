//! The draft notice (通报): 总体情况, 存在问题 by category with the evidence, 附件 tables of
//! single-veto and deduction problems, and marked places for 工作要求 and the deadline.

use super::data::{platform_zh, ReportData};

/// The categories of SPEC §7 in the order a notice lists them.
pub const CATEGORIES: &[&str] = &["逾期不更新", "信息发布不准确", "互动回应不及时", "运维管理不规范", "转载不及时", "综合评分不合格"];
const NUMERALS: &[&str] = &["一", "二", "三", "四", "五", "六", "七", "八"];
/// Veto (单项否决) categories; the others are deductions (扣分).
const VETO: &[&str] = &["逾期不更新", "信息发布不准确", "互动回应不及时"];

fn who(c: &super::data::Criticism) -> String {
    let unit = c.unit_name.clone().unwrap_or_else(|| "未纳入台账账号".into());
    match (&c.account_name, &c.account_id, &c.platform) {
        (Some(name), _, Some(p)) => format!("{unit}（{}“{name}”）", platform_zh(p)),
        (None, Some(id), Some(p)) => format!("{unit}（{}账号{id}）", platform_zh(p)),
        _ => unit,
    }
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
    if let Some(top) = d.units.iter().filter(|u| u.rank <= 3).map(|u| u.unit_name.clone()).collect::<Vec<_>>().first() {
        let tops: Vec<String> = d.units.iter().filter(|u| u.rank <= 3).map(|u| u.unit_name.clone()).collect();
        let _ = top;
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
            s.push_str(&format!("- {}：{}（{}）。\n", who(c), c.problem, c.evidence));
        }
        s.push('\n');
    }
    if n == 0 {
        s.push_str("本季度检查未发现需通报的问题。\n\n");
    }
    let criticised = criticised_units(d);
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
            c.unit_name.clone().unwrap_or_else(|| "未纳入台账".into()),
            c.platform.as_deref().map(platform_zh).unwrap_or(""),
            c.account_name.clone().or_else(|| c.account_id.clone()).unwrap_or_default(),
            c.category,
            c.problem,
            c.evidence
        ));
    }
    s.push_str("\n### 附件2：扣分问题清单\n\n| 单位 | 未转载 | 迟转载 | 自查缺失 | 单位扣分 | 其他问题 |\n|---|---|---|---|---|---|\n");
    for u in d.units.iter().filter(|u| u.unit_deductions > 0.0) {
        let other: Vec<String> = d
            .criticism
            .iter()
            .filter(|c| !VETO.contains(&c.category.as_str()) && c.unit_name.as_deref() == Some(u.unit_name.as_str()))
            .map(|c| c.problem.clone())
            .collect();
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            u.unit_name,
            u.directives_missed,
            u.directives_late,
            u.self_inspections_missing,
            (u.unit_deductions * 100.0).round() / 100.0,
            other.join("；")
        ));
    }
    s.push_str("\n### 附件3：单位综合得分排名\n\n| 排名 | 单位 | 综合得分 | 等级 |\n|---|---|---|---|\n");
    for u in &d.units {
        s.push_str(&format!("| {} | {} | {:.2} | {} |\n", u.rank, u.unit_name, u.score, u.grade));
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
        if let Some(h) = t.strip_prefix("### ") {
            out.push_str(&format!("<h4>{}</h4>\n", escape(h)));
        } else if let Some(h) = t.strip_prefix("## ") {
            out.push_str(&format!("<h3>{}</h3>\n", escape(h)));
        } else if let Some(h) = t.strip_prefix("# ") {
            out.push_str(&format!("<h2 class=\"notice-title\">{}</h2>\n", escape(h)));
        } else if let Some(item) = t.strip_prefix("- ") {
            if !in_list {
                out.push_str("<ul>\n");
                in_list = true;
            }
            out.push_str(&format!("<li>{}</li>\n", escape(item)));
        } else if t.starts_with('|') {
            let cells: Vec<&str> = t.trim_matches('|').split('|').map(str::trim).collect();
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
                out.push_str(&format!("<{tag}>{}</{tag}>", escape(c)));
            }
            out.push_str("</tr>\n");
        } else if !t.is_empty() {
            let text = escape(t);
            let text = text.replace('【', "<mark>【").replace('】', "】</mark>");
            out.push_str(&format!("<p>{text}</p>\n"));
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
