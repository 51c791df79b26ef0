//! Outputs for people: league-table CSVs that Excel cannot run, a notice whose Markdown names
//! cannot break, ranks and grades that float noise cannot split, and an ingest summary that stays
//! fast with many files.

use crate::common::*;
use calamine::{Data, Reader, Xlsx};
use std::path::{Path, PathBuf};

const REGISTRY_HEADER: &str = "单位名称,单位类别,平台,账号名称,账号ID,开设日期,状态,互动功能,运维责任人\n";
const POSTS_HEADER: &str = "平台,账号ID,发布ID,发布时间,标题,类型,转发源ID,位置,阅读数,在看数,点赞数,评论数,转发数,链接\n";
const INSPECTIONS_HEADER: &str = "单位名称,月份,公开日期\n";

/// Writes the 2019Q3 league tables and notice as `report` does (all of it but the charts,
/// which need a CJK font) and returns their folder.
fn tables_and_notice(c: &CsvWarehouse) -> PathBuf {
    let dir = c.dir.path().join("report");
    std::fs::create_dir_all(&dir).unwrap();
    let wh = govmedia::warehouse::Warehouse::open(c.wh.to_str().unwrap()).unwrap();
    rt().block_on(async {
        let ctx = govmedia::engine::warehouse_session(&wh).await.unwrap();
        let d = govmedia::report::data::load(&ctx, "2019Q3", &Default::default()).await.unwrap();
        govmedia::report::tables_and_notice(&d, &dir).unwrap();
    });
    dir
}

/// The Mondays of 2019Q3's thirteen whole weeks (07-01 … 09-23).
fn mondays() -> Vec<String> {
    (0..13)
        .map(|w| (chrono::NaiveDate::from_ymd_opt(2019, 7, 1).unwrap() + chrono::Duration::weeks(w)).format("%Y-%m-%d").to_string())
        .collect()
}

/// Posts at 10:00 on the Mondays of the given weeks (0-based), with no reads or reactions, so every
/// account's reach index is 0 and none earns the reach bonus.
fn posts_in_weeks(platform: &str, account: &str, weeks: impl IntoIterator<Item = usize>) -> String {
    let days = mondays();
    weeks.into_iter().map(|w| format!("{platform},{account},{account}_{w},{} 10:00,t{w},原创,,,0,0,0,0,0,\n", days[w])).collect()
}

fn on_time_inspections(units: &[&str]) -> String {
    let mut s = String::from(INSPECTIONS_HEADER);
    for u in units {
        for m in ["2019-07", "2019-08", "2019-09"] {
            s.push_str(&format!("{},{m},{m}-20\n", csv_field(u)));
        }
    }
    s
}

/// One CSV field, quoted when it must be.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn read_csv(path: &Path) -> Vec<Vec<String>> {
    let bytes = std::fs::read(path).unwrap();
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").expect("a BOM for Excel");
    let mut r = csv::ReaderBuilder::new().has_headers(false).from_reader(body);
    r.records().map(|rec| rec.unwrap().iter().map(str::to_string).collect()).collect()
}

// ---- Item 15: formula injection in the CSVs, Markdown injection in the notice ----------------

const FORMULA_UNIT: &str = "=HYPERLINK(\"http://x\",\"y\")";
const AT_UNIT: &str = "@SUM(1)";
const MINUS_UNIT: &str = "-2+3";
const PLUS_ACCOUNT: &str = "+cmd|' /C calc'!A0";
const PIPE_UNIT: &str = "甲|乙单位";
const HEADING_UNIT: &str = "# 伪造标题";
const MARKUP_ACCOUNT: &str = "<img src=x onerror=alert(1)> [点我](http://x) **粗**";
const NEWLINE_UNIT: &str = "换行单位\n# 伪造小节\r\n| a | b |";

/// Units and accounts named like formulas and like Markdown markup. `# 伪造标题` posts every week
/// (rank 1, so it opens the notice's 前列 sentence); the others are vetoed (no posts), so the
/// notice names them under 存在问题 and in its tables.
fn hostile_case() -> CsvWarehouse {
    let units = [HEADING_UNIT, FORMULA_UNIT, AT_UNIT, MINUS_UNIT, PIPE_UNIT, NEWLINE_UNIT, "\t=1+1"];
    let mut registry = String::from(REGISTRY_HEADER);
    for (i, u) in units.iter().enumerate() {
        let account = if i == 2 {
            PLUS_ACCOUNT.to_string()
        } else if i == 4 {
            MARKUP_ACCOUNT.to_string()
        } else {
            format!("账号{i}")
        };
        registry.push_str(&format!("{},街道,今日头条,{},tt_{i},2015-01-01,正常,是,x\n", csv_field(u), csv_field(&account)));
    }
    let posts = format!("{POSTS_HEADER}{}", posts_in_weeks("今日头条", "tt_0", 0..13));
    CsvWarehouse::built(&[("registry", &registry), ("posts", &posts), ("self_inspections", &on_time_inspections(&units))], &[])
}

/// OWASP: a cell Excel would read as a formula starts with one of these.
fn formula_like(cell: &str) -> bool {
    cell.starts_with(['=', '+', '-', '@', '\t', '\r'])
}

#[test]
fn league_table_csvs_do_not_start_text_cells_with_formula_characters() {
    let c = hostile_case();
    let q = tables_and_notice(&c);
    let mut seen = Vec::new();
    for name in ["单位排名", "账号得分", "通报问题"] {
        let rows = read_csv(&q.join(format!("2019Q3_{name}.csv")));
        assert!(rows.len() > 1, "{name}: {rows:?}");
        for row in &rows {
            for cell in row {
                assert!(!formula_like(cell), "{name}: a cell Excel would run as a formula: {cell:?} in {row:?}");
                seen.push(cell.clone());
            }
        }
    }
    // The names are kept, behind the apostrophe Excel hides.
    for name in [FORMULA_UNIT, AT_UNIT, MINUS_UNIT, PLUS_ACCOUNT] {
        assert!(seen.contains(&format!("'{name}")), "{name} is missing from the CSVs");
    }
    // Numbers stay numbers: the units' table has ranks and scores as written.
    let units = read_csv(&q.join("2019Q3_单位排名.csv"));
    let top = units.iter().find(|r| r[1] == HEADING_UNIT).unwrap();
    assert_eq!((top[0].as_str(), top[9].as_str(), top[10].as_str()), ("1", "100", "优秀"), "{top:?}");

    // The workbook keeps the names as they are, as text, never as formulas.
    let mut wb: Xlsx<_> = calamine::open_workbook(q.join("2019Q3_排名.xlsx")).unwrap();
    for sheet in ["单位排名", "账号得分", "通报问题"] {
        let formulas = wb.worksheet_formula(sheet).unwrap();
        assert!(formulas.used_cells().all(|(_, _, f)| f.is_empty()), "{sheet} has formulas");
    }
    let units = wb.worksheet_range("单位排名").unwrap();
    let names: Vec<&Data> = units.rows().skip(1).map(|r| &r[1]).collect();
    for name in [FORMULA_UNIT, AT_UNIT, MINUS_UNIT] {
        assert!(names.contains(&&Data::String(name.to_string())), "{name}: {names:?}");
    }
    assert!(units.rows().skip(1).all(|r| matches!(r[0], Data::Float(_) | Data::Int(_))), "ranks are numbers");
}

/// The cells ingest cannot carry (it trims names) and the markers the notice's template does not
/// reach, one by one.
#[test]
fn every_formula_character_and_markdown_marker_is_neutralised() {
    use govmedia::report::{notice::md_text, tables::csv_text_cell};
    for (cell, safe) in [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@A1", "'@A1"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("甲单位", "甲单位"),
        ("1+1", "1+1"),
        ("a=b", "a=b"),
    ] {
        assert_eq!(csv_text_cell(cell), safe);
    }
    for (name, md) in [
        ("- 甲", "\\- 甲"),
        ("+ 甲", "\\+ 甲"),
        ("1. 甲", "1\\. 甲"),
        ("2019) 甲", "2019\\) 甲"),
        ("> 甲", "\\> 甲"),
        ("甲 - 乙 1. 丙", "甲 - 乙 1. 丙"),
        ("a\\|b", "a\\\\\\|b"),
        ("`x` ~~y~~ _z_", "\\`x\\` \\~\\~y\\~\\~ \\_z\\_"),
        ("\n甲\r\n\u{2028}乙\n", "甲 乙"),
    ] {
        assert_eq!(md_text(name), md, "{name:?}");
    }
}

/// A Markdown table row's cells, split on the pipes that are not escaped.
fn md_cells(line: &str) -> Vec<String> {
    let mut cells = vec![String::new()];
    let mut chars = line.trim().strip_prefix('|').unwrap_or(line).chars();
    while let Some(ch) = chars.next() {
        match ch {
            '\\' => {
                let cell = cells.last_mut().unwrap();
                cell.push('\\');
                cell.extend(chars.next());
            }
            '|' => cells.push(String::new()),
            _ => cells.last_mut().unwrap().push(ch),
        }
    }
    if cells.last().is_some_and(|c| c.trim().is_empty()) {
        cells.pop();
    }
    cells
}

#[test]
fn names_cannot_break_the_notice_tables_or_forge_its_headings() {
    let c = hostile_case();
    let q = tables_and_notice(&c);
    let md = std::fs::read_to_string(q.join("2019Q3_通报.md")).unwrap();

    // Headings are the notice's own: the title, its sections, categories and annexes.
    for line in md.lines().filter(|l| l.starts_with('#')) {
        let own = line.starts_with("# 关于") || line.starts_with("## ") || line.starts_with("### （") || line.starts_with("### 附件");
        assert!(own, "a forged heading: {line:?}\n{md}");
    }
    // No list item carries a block of its own (a heading or quote inside `- `).
    for line in md.lines().filter_map(|l| l.strip_prefix("- ")) {
        assert!(!line.starts_with(['#', '>', '-', '+', '*']), "{line:?}");
    }
    // Every table row has as many cells as its header.
    let mut width = None;
    for line in md.lines() {
        if !line.starts_with('|') {
            width = None;
            continue;
        }
        let n = md_cells(line).len();
        let w = *width.get_or_insert(n);
        assert_eq!(n, w, "a broken table row: {line:?}\n{md}");
    }
    // Raw HTML, links and emphasis in names are text, not markup: every such character is escaped.
    for (i, ch) in md.char_indices().filter(|(_, ch)| matches!(ch, '<' | '>' | '[' | ']' | '*')) {
        assert!(md[..i].ends_with('\\'), "{ch:?} unescaped after {:?}\n{md}", md[..i].lines().last());
    }

    // The HTML shows the names as written, escaped, in the right cells.
    let html = std::fs::read_to_string(q.join("2019Q3_通报.html")).unwrap();
    assert!(!html.contains("<img"), "{html}");
    assert!(html.contains("<td>甲|乙单位</td>"), "{html}");
    assert!(html.contains("<td>&lt;img src=x onerror=alert(1)&gt; [点我](http://x) **粗**</td>"), "{html}");
    assert!(html.contains("<p># 伪造标题、") && !html.contains(">伪造标题"), "{html}");
    assert!(html.contains("换行单位 # 伪造小节 | a | b |") && !html.contains(">伪造小节"), "{html}");
    assert_eq!(html.matches("notice-title").count(), 1, "{html}");
    assert!(!html.contains('\\'), "escapes are for Markdown only: {html}");
}

// ---- Item 16: equal scores share a grade and a rank --------------------------------------------

/// Two units whose scores are the same number reached by different float sums:
/// 甲 = (70 + 59 + 59) / 3 = 62.666666666666664 with no deductions, and
/// 乙 = (85 + 59 + 59) / 3 − 5 = 62.66666666666667 (a missing and two late self-inspections).
/// 丙 scores 100.
#[test]
fn units_with_equal_scores_share_a_rank_whatever_the_float_sums() {
    let mut registry = String::from(REGISTRY_HEADER);
    let mut posts = String::from(POSTS_HEADER);
    for (u, weeks) in [("甲单位", 11..13), ("乙单位", 3..13), ("丙单位", 0..13)] {
        for (i, platform) in ["今日头条", "抖音", "快手"].iter().enumerate() {
            let account = format!("{u}{i}");
            registry.push_str(&format!("{u},街道,{platform},{account},{account},2015-01-01,正常,是,x\n"));
            // The first account posts in the given weeks (70, 85, 100); the others never, a veto (59),
            // except for 丙 whose accounts all post.
            if i == 0 || u == "丙单位" {
                posts.push_str(&posts_in_weeks(platform, &account, weeks.clone()));
            }
        }
    }
    let mut inspections = on_time_inspections(&["甲单位", "丙单位"]);
    inspections.push_str("乙单位,2019-08,2019-08-28\n乙单位,2019-09,2019-09-27\n");
    let c = CsvWarehouse::built(&[("registry", &registry), ("posts", &posts), ("self_inspections", &inspections)], &[]);
    assert_eq!(
        c.q("SELECT unit_name, account_score_avg, unit_deductions FROM unit_quarter_scores ORDER BY unit_name"),
        vec![
            "unit_name,account_score_avg,unit_deductions",
            "丙单位,100.0,0.0",
            "乙单位,67.66666666666667,5.0",
            "甲单位,62.666666666666664,0.0"
        ]
    );
    assert_eq!(
        c.q("SELECT unit_name, rank, grade FROM unit_quarter_scores ORDER BY rank, unit_name"),
        vec!["unit_name,rank,grade", "丙单位,1,优秀", "乙单位,2,合格", "甲单位,2,合格"]
    );
    // The league table shows the shared rank.
    let q = tables_and_notice(&c);
    let units = read_csv(&q.join("2019Q3_单位排名.csv"));
    let ranks: Vec<(&str, &str)> = units.iter().skip(1).map(|r| (r[0].as_str(), r[1].as_str())).collect();
    assert_eq!(ranks, vec![("1", "丙单位"), ("2", "乙单位"), ("2", "甲单位")]);
}

/// Grades compare the score rounded to 4 places: with 0.1 a silent week and 0.2 for an unfiled
/// account, 100 − 4 × 0.1 − 0.2 is 99.39999999999999 in floating point, 99.4 in fact, and so at a
/// 99.4 bar it is 优秀. The same bar for units: 甲's score is that account's.
#[test]
fn account_and_unit_grades_compare_scores_rounded_to_4_places() {
    let rubric = pipelines_rubric()
        .replace("silent_week_points = 5 ", "silent_week_points = 0.1 ")
        .replace("unfiled_points = 5 ", "unfiled_points = 0.2 ")
        .replace("filing_required_from = 2019-08-16", "filing_required_from = 2000-01-01")
        .replace("excellent = 90 ", "excellent = 99.4 ");
    assert!(rubric.contains("= 0.1 ") && rubric.contains("= 0.2 ") && rubric.contains("= 99.4 ") && rubric.contains("2000-01-01"));
    let registry = format!("{REGISTRY_HEADER}甲单位,街道,今日头条,甲,tt_a,2015-01-01,正常,是,x\n");
    let posts = format!("{POSTS_HEADER}{}", posts_in_weeks("今日头条", "tt_a", 4..13));
    let dir = tempfile::tempdir().unwrap();
    let rubric_path = dir.path().join("rubric.toml");
    std::fs::write(&rubric_path, rubric).unwrap();
    let c = CsvWarehouse::built(
        &[("registry", &registry), ("posts", &posts), ("self_inspections", &on_time_inspections(&["甲单位"]))],
        &["--rubric", rubric_path.to_str().unwrap()],
    );
    assert_eq!(
        c.q("SELECT silent_weeks, unfiled, score, grade FROM account_quarter_indicators"),
        vec!["silent_weeks,unfiled,score,grade", "4,true,99.39999999999999,优秀"]
    );
    assert_eq!(c.q("SELECT rank, grade FROM unit_quarter_scores"), vec!["rank,grade", "1,优秀"]);
}

fn pipelines_rubric() -> String {
    std::fs::read_to_string(repo().join("pipelines/rubric.toml")).unwrap()
}

// ---- Item 18: the ingest summary in one pass ---------------------------------------------------

#[test]
fn the_ingest_summary_of_many_files_is_grouped_in_one_pass() {
    use govmedia::ingest::run::{FileReport, IngestReport};
    let file = |i: usize, kind: &str, format: &str, error: Option<&str>| FileReport {
        kind: kind.into(),
        format: format.into(),
        source_file: format!("{kind}/{i}.csv"),
        read: 3,
        loaded: 1,
        rejected: 1,
        duplicates: 1,
        merged: 0,
        error: error.map(str::to_string),
    };
    // 20,000 files of three (kind, format) pairs, interleaved, one of them unreadable.
    let mut files = Vec::new();
    for i in 0..20_000 {
        files.push(match i % 4 {
            0 | 1 => file(i, "posts", "canonical", None),
            2 => file(i, "messages", "canonical", None),
            _ => file(i, "posts", "wechat", (i == 7).then_some("not UTF-8")),
        });
    }
    let report = IngestReport { run_id: "r1".into(), files, rejects: Vec::new(), tables: Default::default(), manifest_version: 2 };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let started = std::time::Instant::now();
    govmedia::cli::print::write_summary(&mut out, &mut err, &report).unwrap();
    let took = started.elapsed();
    let (out, err) = (String::from_utf8(out).unwrap(), String::from_utf8(err).unwrap());
    let rows: Vec<Vec<&str>> = out
        .lines()
        .filter(|l| l.starts_with("| ") && !l.contains(" kind "))
        .map(|l| l.trim_matches('|').split('|').map(str::trim).collect())
        .collect();
    assert_eq!(
        rows,
        vec![
            vec!["posts", "canonical", "10000 files", "30000", "10000", "10000", "10000", "0", "ok"],
            vec!["messages", "canonical", "5000 files", "15000", "5000", "5000", "5000", "0", "ok"],
            vec!["posts", "wechat", "5000 files", "15000", "5000", "5000", "5000", "0", "error: some files could not be read"],
        ],
        "{out}"
    );
    assert!(
        out.contains(
            "ingest run r1: 20000 files, 60000 rows read = 20000 loaded + 20000 rejected + 20000 duplicates + 0 merged; manifest version 2"
        ),
        "{out}"
    );
    assert!(err.contains("error: posts/7.csv: not UTF-8"), "{err}");
    // One pass: milliseconds, where the quadratic grouping took tens of seconds.
    assert!(took < std::time::Duration::from_secs(2), "the summary of 20,000 files took {took:?}");
}
