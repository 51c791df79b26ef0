//! Reports (SPEC §8): charts, league tables (XLSX, CSV, HTML), the draft notice (Markdown, HTML,
//! DOCX), one rectification notice per criticised unit (DOCX), PDFs of the DOCX files on request,
//! and one self-contained `index.html` per quarter, all from the marts.

pub mod charts;
pub mod data;
pub mod docx;
pub mod levels;
pub mod notice;
pub mod tables;

use crate::models::rubric::Rubric;
use crate::vocab::Grade;
use crate::warehouse::Warehouse;
use base64::Engine;
use std::path::{Path, PathBuf};

/// Why a report could not be written: each names the mart, chart or file it is about.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{quarter} has not been built in this warehouse: run `govmedia build --quarter {quarter}` first")]
    NotBuilt { quarter: String },
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
    #[error("reading {table}: {source}")]
    Query { table: &'static str, source: crate::engine::EngineError },
    #[error("{table} has no column {column}: was the warehouse built by another version of govmedia?")]
    MissingColumn { table: &'static str, column: String },
    #[error("{table}.{column}: {source}")]
    Column { table: &'static str, column: String, source: arrow::error::ArrowError },
    #[error("notice: {0}")]
    Notice(#[from] crate::pipeline::NoticeDateError),
    #[error(
        "no font with Chinese characters was found (tried {tried}): install one, e.g. `apt-get install fonts-noto-cjk` on Debian/Ubuntu, \
or set GOVMEDIA_CJK_FONT to an installed family"
    )]
    NoCjkFont { tried: String },
    #[error("chart {chart} ({}): {reason}", path.display())]
    Chart { chart: String, path: PathBuf, reason: String },
    #[error("cannot create {}: {source}", path.display())]
    CreateDir { path: PathBuf, source: std::io::Error },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write {}: {source}", path.display())]
    Csv { path: PathBuf, source: csv::Error },
    #[error("cannot write {}{}: {source}", path.display(), sheet.as_ref().map(|s| format!(" (sheet {s})")).unwrap_or_default())]
    Xlsx { path: PathBuf, sheet: Option<String>, source: rust_xlsxwriter::XlsxError },
    #[error("cannot write {}: {reason}", path.display())]
    Docx { path: PathBuf, reason: String },
    #[error("--pdf needs LibreOffice's soffice on PATH: install it (Debian: apt-get install libreoffice-writer)")]
    NoSoffice,
    #[error("cannot run {}: {source}", program.display())]
    RunSoffice { program: PathBuf, source: std::io::Error },
    #[error("LibreOffice did not convert {} to PDF: {stderr}", path.display())]
    Pdf { path: PathBuf, stderr: String },
    #[error("{quarter} has no region roll-up (region_quarter_scores): rebuild it with this version of govmedia ({source})")]
    NoRegions { quarter: String, source: crate::engine::EngineError },
    #[error("{quarter}: no unit of the register names its {region} (所属市, 所属区县), so there is no {office} report: add the columns to the 台账, or report with --level district")]
    NoRegionColumns { quarter: String, region: &'static str, office: &'static str },
}

type Result<T> = std::result::Result<T, ReportError>;

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
    pub pdf_error: Option<ReportError>,
    /// The XLSX with every unit, account and problem.
    pub attachment: PathBuf,
    /// A city's or a province's report: what its notice names.
    pub level: Option<LevelSummary>,
}

/// What a city's or a province's report names, for the terminal: it prints these, not the
/// thousands of criticised units (they are in the attachment).
#[derive(Debug)]
pub struct LevelSummary {
    /// 区县 or 地市.
    pub region_zh: &'static str,
    pub regions: usize,
    pub units: usize,
    /// The units the notice names, in league-table order.
    pub named: Vec<String>,
    /// The regions ranked last, each sent a rectification notice.
    pub last_regions: Vec<String>,
    /// The units sent a rectification notice.
    pub rectified: usize,
}

/// What the office says in its documents, whether to make PDFs of them, and the rubric the
/// quarter was built with (default: the built-in one).
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    pub notice: crate::pipeline::NoticeSpec,
    /// Convert the DOCX files to PDF with LibreOffice.
    pub pdf: bool,
    pub rubric: Rubric,
    /// Whose report (district, city, province); `None`: the level the register's regions imply.
    pub level: Option<levels::Level>,
}

/// Writes `out/QUARTER/…`.
pub async fn report(wh: &Warehouse, quarter: &str, out: &Path, opts: &ReportOptions) -> Result<ReportOutput> {
    let today = chrono::Local::now().date_naive();
    let n = notice::Notice::new(quarter, &opts.notice, today)?;
    let font = charts::cjk_font()?;
    let ctx = crate::engine::warehouse_session(wh).await?;
    let d = data::load(&ctx, quarter, &opts.rubric).await?;
    // A city's or a province's office: its regions ranked and the worst named (issue #16).
    if let Some(level) = levels::regional_level(&ctx, quarter, opts.level).await? {
        return levels::report(&ctx, d, out, opts, &n, &font, level).await;
    }
    let dir = out.join(quarter);
    std::fs::create_dir_all(&dir).map_err(|source| ReportError::CreateDir { path: dir.clone(), source })?;
    let mut files = Vec::new();

    let drawn = charts::draw_all(&d, &dir.join("charts"), &font)?;
    files.extend(drawn.iter().flat_map(|(_, _, p)| p.clone()));

    let written = tables_and_notice_for(&d, &dir, &n)?;
    files.extend(written.files);
    let (league, md) = (written.league, written.notice);
    let docx = written.docx;

    let index = dir.join("index.html");
    write(&index, index_html(&d, &league, &drawn, &md)?)?;
    files.push(index.clone());

    let mut pdf_error = None;
    if opts.pdf {
        match docx::to_pdf(&docx) {
            Ok(pdfs) => files.extend(pdfs),
            Err(e) => pdf_error = Some(e),
        }
    }

    let all = d.platforms.iter().find(|p| p.platform == crate::platform::ALL_PLATFORMS);
    Ok(ReportOutput {
        pdf_error,
        attachment: dir.join(format!("{quarter}_排名.xlsx")),
        level: None,
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
pub fn tables_and_notice(d: &data::ReportData, dir: &Path) -> Result<TablesAndNotice> {
    let today = chrono::Local::now().date_naive();
    let n = notice::Notice::new(&d.quarter, &Default::default(), today)?;
    tables_and_notice_for(d, dir, &n)
}

/// Writes into `dir` the league tables (XLSX, a CSV per table, HTML), the draft notice (Markdown,
/// HTML, DOCX) and the rectification notices (`整改通知/`): all of the report but the charts and
/// the index.
pub fn tables_and_notice_for(d: &data::ReportData, dir: &Path, n: &notice::Notice) -> Result<TablesAndNotice> {
    let quarter = &d.quarter;
    let mut files = Vec::new();
    let league = tables::league_tables(d);
    let xlsx = dir.join(format!("{quarter}_排名.xlsx"));
    tables::write_xlsx(&xlsx, &league)?;
    files.push(xlsx);
    for t in &league {
        let p = dir.join(format!("{quarter}_{}.csv", t.name));
        t.write_csv(&p)?;
        files.push(p);
    }
    let league_html = dir.join(format!("{quarter}_排名.html"));
    write(&league_html, page(&format!("{quarter} 政务新媒体排名"), &league_body(d, &league)))?;
    files.push(league_html);

    let md = notice::markdown(d, n);
    let notice_md = dir.join(format!("{quarter}_通报.md"));
    write(&notice_md, &md)?;
    let notice_html = dir.join(format!("{quarter}_通报.html"));
    write(
        &notice_html,
        page(&format!("{} 通报（草稿）", n.quarter_zh), &format!("<section class=\"notice\">{}</section>", notice::html(&md))),
    )?;
    files.extend([notice_md, notice_html]);
    let notice_docx = dir.join(format!("{quarter}_通报.docx"));
    docx::write_notice(d, n, &notice_docx)?;
    let mut docx_files = vec![notice_docx];
    docx_files.extend(docx::write_rectifications(d, n, &dir.join("整改通知"))?);
    files.extend(docx_files.iter().cloned());
    Ok(TablesAndNotice { files, league, notice: md, docx: docx_files })
}

fn write(path: &Path, contents: impl AsRef<[u8]>) -> Result<()> {
    std::fs::write(path, contents).map_err(|source| ReportError::Write { path: path.to_path_buf(), source })
}

/// The style of every page; the grade rows' fills come from [`Grade::fill`].
fn style() -> String {
    let grades: Vec<String> = Grade::ALL.iter().map(|g| format!("tr.{} td {{ background: #{:06x}; }}", g.css_class(), g.fill())).collect();
    format!("{STYLE_HEAD}{}{STYLE_TAIL}", grades.join(" "))
}

const STYLE_HEAD: &str = r#"
body { font-family: "Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", "PingFang SC", sans-serif; margin: 2em auto; max-width: 1200px; color: #222; padding: 0 1em; }
h1 { font-size: 1.8em; border-bottom: 3px solid #1f4e78; padding-bottom: .3em; }
h2 { color: #1f4e78; margin-top: 2em; }
.cards { display: flex; gap: 1em; flex-wrap: wrap; }
.card { flex: 1; min-width: 160px; background: #f3f6fa; border-radius: 6px; padding: 1em; }
.card .n { font-size: 2em; font-weight: bold; color: #1f4e78; }
table { border-collapse: collapse; width: 100%; margin: 1em 0; font-size: .9em; }
th, td { border: 1px solid #ccc; padding: .3em .5em; text-align: left; }
th { background: #1f4e78; color: #fff; }
"#;

const STYLE_TAIL: &str = r#"
figure { margin: 1.5em 0; page-break-inside: avoid; } figure img { max-width: 100%; border: 1px solid #eee; }
.notice { background: #fffdf5; border: 1px solid #e8e0c0; padding: 1em 2em; }
mark { background: #ffe58f; }
nav a { margin-right: 1em; }
@media print { nav { display: none; } body { max-width: none; margin: 0; } h2 { page-break-before: always; } table { font-size: .75em; } }
"#;

/// A self-contained page in the report's style (the watch list's page too).
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n",
        tables::escape(title),
        style()
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
) -> Result<String> {
    let [units, accounts, issues] = league;
    let all = d.platforms.iter().find(|p| p.platform == crate::platform::ALL_PLATFORMS);
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
            let bytes = std::fs::read(png).map_err(|source| ReportError::Read { path: png.clone(), source })?;
            let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
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
