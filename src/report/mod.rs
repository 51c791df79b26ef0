//! Reports (SPEC §8): charts, league tables (XLSX, CSV, HTML), the draft notice (Markdown, HTML,
//! DOCX), one rectification notice per criticised unit (DOCX), PDFs of the DOCX files on request,
//! and one self-contained `index.html` per quarter, all from the marts.

pub mod charts;
pub mod data;
pub mod docx;
pub mod levels;
pub mod notice;
pub mod tables;

use crate::warehouse::Warehouse;
use base64::Engine;
use std::path::{Path, PathBuf};

/// What a report run wrote.
#[derive(Debug)]
pub struct ReportOutput {
    pub dir: PathBuf,
    pub index: PathBuf,
    pub files: Vec<PathBuf>,
    pub criticised: Vec<String>,
    pub checked: i64,
    pub failed: i64,
    pub pass_rate: Option<f64>,
    /// Why the PDFs asked for were not written (the other outputs were).
    pub pdf_error: Option<String>,
}

/// What the office says in its documents, and whether to make PDFs of them.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    pub notice: crate::pipeline::NoticeSpec,
    /// Convert the DOCX files to PDF with LibreOffice.
    pub pdf: bool,
    /// Whose report (district, city, province); `None`: the level the register's regions imply.
    pub level: Option<levels::Level>,
}

/// Writes `out/QUARTER/…`.
pub async fn report(wh: &Warehouse, quarter: &str, out: &Path, opts: &ReportOptions) -> anyhow::Result<ReportOutput> {
    let today = chrono::Local::now().date_naive();
    let n = notice::Notice::new(quarter, &opts.notice, today).map_err(anyhow::Error::msg)?;
    let font = charts::cjk_font().map_err(anyhow::Error::msg)?;
    let ctx = crate::engine::warehouse_session(wh).await?;
    let d = data::load(&ctx, quarter).await?;
    // A city's or a province's office: its regions ranked and the worst named (issue #16).
    if let Some(level) = levels::regional_level(&ctx, quarter, opts.level).await? {
        return levels::report(&ctx, d, out, opts, &n, &font, level).await;
    }
    let dir = out.join(quarter);
    std::fs::create_dir_all(&dir)?;
    let mut files = Vec::new();

    let drawn = charts::draw_all(&d, &dir.join("charts"), &font).map_err(anyhow::Error::msg)?;
    files.extend(drawn.iter().flat_map(|(_, _, p)| p.clone()));

    let written = tables_and_notice_for(&d, &dir, &n)?;
    files.extend(written.files);
    let (league, md) = (written.league, written.notice);
    let docx = written.docx;

    let index = dir.join("index.html");
    std::fs::write(&index, index_html(&d, &league, &drawn, &md)?)?;
    files.push(index.clone());

    let mut pdf_error = None;
    if opts.pdf {
        match docx::to_pdf(&docx) {
            Ok(pdfs) => files.extend(pdfs),
            Err(e) => pdf_error = Some(e),
        }
    }

    let all = d.platforms.iter().find(|p| p.platform == "all");
    Ok(ReportOutput {
        pdf_error,
        dir,
        index,
        files,
        criticised: notice::criticised_units(&d),
        checked: all.map(|p| p.checked).unwrap_or(0),
        failed: all.map(|p| p.failed).unwrap_or(0),
        pass_rate: all.and_then(|p| p.pass_rate),
    })
}

/// The league tables and the notice as written for one quarter.
pub struct TablesAndNotice {
    pub files: Vec<PathBuf>,
    pub league: [tables::LeagueTable; 3],
    /// The notice's Markdown.
    pub notice: String,
    /// The DOCX files: the notice, then the rectification notices.
    pub docx: Vec<PathBuf>,
}

/// [`tables_and_notice_for`] with an empty `[notice]` table (placeholders) dated today.
pub fn tables_and_notice(d: &data::ReportData, dir: &Path) -> anyhow::Result<TablesAndNotice> {
    let today = chrono::Local::now().date_naive();
    let n = notice::Notice::new(&d.quarter, &Default::default(), today).map_err(anyhow::Error::msg)?;
    tables_and_notice_for(d, dir, &n)
}

/// Writes into `dir` the league tables (XLSX, a CSV per table, HTML), the draft notice (Markdown,
/// HTML, DOCX) and the rectification notices (`整改通知/`): all of the report but the charts and
/// the index.
pub fn tables_and_notice_for(d: &data::ReportData, dir: &Path, n: &notice::Notice) -> anyhow::Result<TablesAndNotice> {
    let quarter = &d.quarter;
    let mut files = Vec::new();
    let league = tables::league_tables(d);
    let xlsx = dir.join(format!("{quarter}_排名.xlsx"));
    tables::write_xlsx(&xlsx, &league).map_err(anyhow::Error::msg)?;
    files.push(xlsx);
    for t in &league {
        let p = dir.join(format!("{quarter}_{}.csv", t.name));
        t.write_csv(&p).map_err(anyhow::Error::msg)?;
        files.push(p);
    }
    let league_html = dir.join(format!("{quarter}_排名.html"));
    std::fs::write(&league_html, page(&format!("{quarter} 政务新媒体排名"), &league_body(d, &league)))?;
    files.push(league_html);

    let md = notice::markdown(d, n);
    let notice_md = dir.join(format!("{quarter}_通报.md"));
    std::fs::write(&notice_md, &md)?;
    let notice_html = dir.join(format!("{quarter}_通报.html"));
    std::fs::write(
        &notice_html,
        page(&format!("{} 通报（草稿）", n.quarter_zh), &format!("<section class=\"notice\">{}</section>", notice::html(&md))),
    )?;
    files.extend([notice_md, notice_html]);
    let notice_docx = dir.join(format!("{quarter}_通报.docx"));
    docx::write_notice(d, n, &notice_docx).map_err(anyhow::Error::msg)?;
    let mut docx_files = vec![notice_docx];
    docx_files.extend(docx::write_rectifications(d, n, &dir.join("整改通知")).map_err(anyhow::Error::msg)?);
    files.extend(docx_files.iter().cloned());
    Ok(TablesAndNotice { files, league, notice: md, docx: docx_files })
}

const STYLE: &str = r#"
body { font-family: "Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", "PingFang SC", sans-serif; margin: 2em auto; max-width: 1200px; color: #222; padding: 0 1em; }
h1 { font-size: 1.8em; border-bottom: 3px solid #1f4e78; padding-bottom: .3em; }
h2 { color: #1f4e78; margin-top: 2em; }
.cards { display: flex; gap: 1em; flex-wrap: wrap; }
.card { flex: 1; min-width: 160px; background: #f3f6fa; border-radius: 6px; padding: 1em; }
.card .n { font-size: 2em; font-weight: bold; color: #1f4e78; }
table { border-collapse: collapse; width: 100%; margin: 1em 0; font-size: .9em; }
th, td { border: 1px solid #ccc; padding: .3em .5em; text-align: left; }
th { background: #1f4e78; color: #fff; }
tr.g-a td { background: #c6efce; } tr.g-b td { background: #ddebf7; } tr.g-c td { background: #ffeb9c; } tr.g-d td { background: #ffc7ce; }
figure { margin: 1.5em 0; page-break-inside: avoid; } figure img { max-width: 100%; border: 1px solid #eee; }
.notice { background: #fffdf5; border: 1px solid #e8e0c0; padding: 1em 2em; }
mark { background: #ffe58f; }
nav a { margin-right: 1em; }
@media print { nav { display: none; } body { max-width: none; margin: 0; } h2 { page-break-before: always; } table { font-size: .75em; } }
"#;

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n",
        tables::escape(title)
    )
}

fn league_body(d: &data::ReportData, league: &[tables::LeagueTable; 3]) -> String {
    let [units, accounts, issues] = league;
    format!(
        "<h1>{q} 政务新媒体排名</h1>\n<h2>单位排名</h2>\n{}\n<h2>账号得分</h2>\n{}\n<h2>通报问题</h2>\n{}",
        units.html(),
        accounts.html(),
        issues.html(),
        q = d.quarter
    )
}

/// One page with everything: the charts are embedded as data URIs, nothing is loaded from
/// elsewhere, and it prints with each section on its own page.
fn index_html(
    d: &data::ReportData,
    league: &[tables::LeagueTable; 3],
    charts: &[(String, String, Vec<PathBuf>)],
    md: &str,
) -> anyhow::Result<String> {
    let [units, accounts, issues] = league;
    let all = d.platforms.iter().find(|p| p.platform == "all");
    let criticised = notice::criticised_units(d);
    let mut body = format!("<h1>{} 政务新媒体检查报告</h1>\n", d.quarter);
    body.push_str("<nav><a href=\"#overview\">总体情况</a><a href=\"#charts\">图表</a><a href=\"#league\">排名</a><a href=\"#issues\">问题清单</a><a href=\"#notice\">通报（草稿）</a></nav>\n");
    body.push_str("<section id=\"overview\"><div class=\"cards\">\n");
    let cards = [
        ("检查账号", all.map(|p| p.checked.to_string()).unwrap_or_default()),
        ("不合格账号", all.map(|p| p.failed.to_string()).unwrap_or_default()),
        ("合格率", all.and_then(|p| p.pass_rate).map(|r| format!("{r:.2}%")).unwrap_or_default()),
        ("参评单位", d.units.len().to_string()),
        ("通报批评单位", criticised.len().to_string()),
    ];
    for (label, n) in cards {
        body.push_str(&format!("<div class=\"card\"><div>{label}</div><div class=\"n\">{}</div></div>\n", tables::escape(&n)));
    }
    body.push_str("</div>\n");
    if let Some(pq) = &d.previous_quarter {
        let prev = d.trend.iter().rev().nth(1).map(|t| t.1);
        if let (Some(p), Some(now)) = (prev, all.and_then(|a| a.pass_rate)) {
            body.push_str(&format!(
                "<p>与{pq}相比，合格率{}{:.2}个百分点。</p>\n",
                if now >= p { "上升" } else { "下降" },
                (now - p).abs()
            ));
        }
    }
    body.push_str("</section>\n<h2 id=\"charts\">图表</h2>\n");
    for (_, title, paths) in charts {
        if let Some(png) = paths.iter().find(|p| p.extension().is_some_and(|e| e == "png")) {
            let b64 = base64::engine::general_purpose::STANDARD.encode(std::fs::read(png)?);
            body.push_str(&format!(
                "<figure><img alt=\"{t}\" src=\"data:image/png;base64,{b64}\"><figcaption>{t}</figcaption></figure>\n",
                t = tables::escape(title)
            ));
        }
    }
    body.push_str("<h2 id=\"league\">单位排名</h2>\n");
    body.push_str(&units.html());
    body.push_str("<h2>账号得分</h2>\n");
    body.push_str(&accounts.html());
    body.push_str("<h2 id=\"issues\">问题清单</h2>\n");
    body.push_str(&issues.html());
    body.push_str(&format!("<h2 id=\"notice\">通报（草稿）</h2>\n<section class=\"notice\">{}</section>\n", notice::html(md)));
    Ok(page(&format!("{} 政务新媒体检查报告", d.quarter), &body))
}
