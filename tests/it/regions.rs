//! Regions (issue #16): the register's optional 所属市 / 所属区县 columns, the roll-up of units to
//! districts and cities, and the report of a city's office on the city tier (667 units in 17
//! districts): the roll-up against a GROUP BY of its own, the size budgets, and the notice naming
//! exactly the regions and units the rules select.

use crate::common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The city tier generated and built once for every test of this module (it is the costly part:
/// about a minute and a half in a debug build).
struct City {
    _dir: tempfile::TempDir,
    wh: PathBuf,
    root: PathBuf,
}

fn city() -> &'static City {
    static CITY: OnceLock<City> = OnceLock::new();
    CITY.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let wh = dir.path().join("wh");
        let r = govmedia(&wh, &["generate", "--tier", "city", "--quarter", "2019Q3", "--seed", "7"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let r = govmedia(&wh, &["build", "--quarter", "2019Q3"]);
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        let root = dir.path().to_path_buf();
        City { _dir: dir, wh, root }
    })
}

/// CSV lines split into cells (the queries below return no quoted commas).
fn table(lines: &[String]) -> Vec<Vec<String>> {
    lines.iter().skip(1).map(|l| l.split(',').map(str::to_string).collect()).collect()
}

/// A score as ranks compare it (SPEC §7): rounded to 4 places.
fn rounded(s: f64) -> i64 {
    ((s + 1e-9) * 1e4).round() as i64
}

#[test]
fn the_region_roll_up_equals_a_group_by_over_unit_quarter_scores() {
    let c = city();
    // One way: the mart.
    let mart = table(&sql(
        &c.wh,
        "SELECT level, region_path, units, units_failed, units_criticized, accounts, accounts_vetoed, accounts_checked, \
         accounts_failed, pass_rate, round(unit_score_avg, 6) AS avg, rank, grade FROM region_quarter_scores \
         WHERE quarter = '2019Q3' ORDER BY level, region_path",
    ));
    // The other: the units' scores grouped by the region the register (the warehouse's own
    // `registry` table, not the models) gives their accounts, with accounts counted from
    // account_quarter_indicators.
    let grouped = |key: &str, level: &str| {
        format!(
            "WITH regions AS (SELECT unit_name, min(city) AS city, min(district) AS district FROM registry GROUP BY unit_name), \
             acc AS (SELECT unit_name, sum(CASE WHEN score IS NOT NULL THEN 1 ELSE 0 END) AS checked, \
                            sum(CASE WHEN grade = '不合格' THEN 1 ELSE 0 END) AS failed \
                     FROM account_quarter_indicators WHERE quarter = '2019Q3' AND registered GROUP BY unit_name) \
             SELECT '{level}' AS level, {key} AS region_path, count(*) AS units, \
                    sum(CASE WHEN u.grade = '不合格' THEN 1 ELSE 0 END) AS units_failed, \
                    sum(CASE WHEN u.criticized THEN 1 ELSE 0 END) AS units_criticized, \
                    sum(u.accounts) AS accounts, sum(u.accounts_vetoed) AS accounts_vetoed, \
                    sum(a.checked) AS accounts_checked, sum(a.failed) AS accounts_failed, \
                    round(100.0 * (sum(a.checked) - sum(a.failed)) / sum(a.checked) + 1e-9, 2) AS pass_rate, \
                    round(avg(u.score), 6) AS avg \
             FROM unit_quarter_scores u JOIN regions r ON r.unit_name = u.unit_name JOIN acc a ON a.unit_name = u.unit_name \
             WHERE u.quarter = '2019Q3' GROUP BY {key} ORDER BY region_path"
        )
    };
    let mut other = table(&sql(&c.wh, &grouped("r.city", "city")));
    other.extend(table(&sql(&c.wh, &grouped("concat(r.city, '/', r.district)", "district"))));
    // Ranks among siblings, as units rank: 1 + the siblings with a higher rounded average.
    let parent = |row: &[String]| if row[0] == "district" { row[1].split('/').next().unwrap_or("").to_string() } else { String::new() };
    let scores: Vec<(String, String, i64)> =
        other.iter().map(|r| (r[0].clone(), parent(r), rounded(r[10].parse::<f64>().unwrap()))).collect();
    for (i, row) in other.iter_mut().enumerate() {
        let (level, p, s) = &scores[i];
        let rank = 1 + scores.iter().filter(|(l, q, t)| l == level && q == p && t > s).count();
        row.push(rank.to_string());
        let avg = row[10].parse::<f64>().unwrap();
        row.push(
            if avg >= 90.0 {
                "优秀"
            } else if avg >= 80.0 {
                "良好"
            } else if avg >= 60.0 {
                "合格"
            } else {
                "不合格"
            }
            .to_string(),
        );
    }
    other.sort();
    assert_eq!(mart.len(), 1 + 17, "one city and its 17 districts: {mart:?}");
    assert_eq!(mart, other);
    // Every unit is in exactly one district of the one city.
    let units: i64 = mart.iter().filter(|r| r[0] == "district").map(|r| r[2].parse::<i64>().unwrap()).sum();
    assert_eq!(units, 667);
    assert_eq!(mart.iter().find(|r| r[0] == "city").unwrap()[2], "667");
}

/// Pixel width and height of a PNG (its IHDR chunk).
fn png_size(path: &Path) -> (u32, u32) {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[1..4], b"PNG", "{}", path.display());
    let be = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    (be(16), be(20))
}

/// Pages of a notice as a 公文 sets it (GB/T 9704: 22 lines of 28 characters): each Markdown line
/// takes its characters over 28, rounded up, table rows included.
fn notice_pages(md: &str) -> f64 {
    let lines: usize = md
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("|---"))
        .map(|l| l.trim_start_matches(['#', '-', ' ']).chars().filter(|c| *c != '|').count().div_ceil(28).max(1))
        .sum();
    lines as f64 / 22.0
}

/// The city's report, written once (the charts take about 20 s in a debug build) at the level the
/// register's regions imply, with the default N (10) of units and accounts named, and PDFs when
/// LibreOffice is installed: its folder and what it printed.
fn city_report_run() -> &'static (PathBuf, String) {
    static REPORT: OnceLock<(PathBuf, String)> = OnceLock::new();
    REPORT.get_or_init(|| {
        let c = city();
        let out = c.root.join("reports");
        let mut args = vec!["report", "--quarter", "2019Q3", "--out", out.to_str().unwrap()];
        if crate::documents::clients().is_some() {
            args.push("--pdf");
        }
        let t = std::time::Instant::now();
        let r = govmedia(&c.wh, &args);
        eprintln!("report at the city's level (debug build, {args:?}): {:?}", t.elapsed());
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        (out.join("2019Q3"), r.stdout)
    })
}

fn city_report() -> &'static PathBuf {
    &city_report_run().0
}

#[test]
fn the_city_report_stays_within_its_size_budgets() {
    // The register's regions imply the city's level: no --level needed.
    let dir = city_report();
    let index = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert!(index.contains("（市级）"), "not a city's report");
    let size = std::fs::metadata(dir.join("index.html")).unwrap().len();
    assert!(size <= 5 << 20, "index.html is {size} bytes");
    // Summaries only: no bar per unit, no row per account in the page.
    let pngs: Vec<PathBuf> = std::fs::read_dir(dir.join("charts"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    assert!(pngs.len() >= 6, "{pngs:?}");
    for p in &pngs {
        let bytes = std::fs::metadata(p).unwrap().len();
        assert!(bytes <= 1 << 20, "{}: {bytes} bytes", p.display());
        // Readable at A4 width: drawn 2000 px wide (190 dpi over A4's 210 mm, at twice the
        // on-screen size), never so tall that a page shrinks it below legibility.
        let (w, h) = png_size(p);
        assert_eq!(w, 2000, "{}", p.display());
        assert!(h <= 2 * 1414, "{}: {w}×{h}", p.display());
    }
    assert!(!dir.join("charts/weekly_heatmap.png").exists() && !dir.join("charts/league_table.png").exists());
    let account_rows = index.matches("douyin0").count() + index.matches("weibo0").count();
    assert!(account_rows <= 2 * 10, "{account_rows} accounts named in index.html");
    // The notice: at most 10 pages; the lists are the attachment, a separate file.
    let md = std::fs::read_to_string(dir.join("2019Q3_通报.md")).unwrap();
    let pages = notice_pages(&md);
    assert!(pages <= 10.0, "the notice takes {pages:.1} pages");
    let xlsx = dir.join("2019Q3_排名.xlsx");
    let mut book: calamine::Xlsx<_> = calamine::open_workbook(&xlsx).unwrap();
    use calamine::Reader;
    assert_eq!(book.sheet_names(), ["区县排名", "单位排名", "账号得分", "通报问题"]);
    let units = book.worksheet_range("单位排名").unwrap();
    assert_eq!(units.height(), 1 + 667);
    let accounts = book.worksheet_range("账号得分").unwrap();
    assert_eq!(accounts.height(), 1 + 2000);
    let districts = book.worksheet_range("区县排名").unwrap();
    assert_eq!(districts.height(), 1 + 17);
}

/// The unit names a notice gives (the tier's units are 单位 and six digits).
fn units_named(md: &str) -> BTreeSet<String> {
    let chars: Vec<char> = md.chars().collect();
    let mut out = BTreeSet::new();
    for i in 0..chars.len().saturating_sub(7) {
        if chars[i] == '单' && chars[i + 1] == '位' && chars[i + 2..i + 8].iter().all(char::is_ascii_digit) {
            out.insert(chars[i..i + 8].iter().collect());
        }
    }
    out
}

/// The regions of the notice's ranking table: (rank, region) per row.
fn regions_ranked(md: &str) -> BTreeMap<String, String> {
    let section = md.split("## 二、").nth(1).unwrap().split("## 三、").next().unwrap();
    section
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| 排名"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells[2].to_string(), cells[1].to_string())
        })
        .collect()
}

/// What the rules select, asked of the marts: the worst `n` units and the units of the worst `n`
/// accounts (lowest rounded score first, ties by name, platform and id), and the districts ranked.
fn selected(wh: &Path, n: usize) -> (BTreeSet<String>, BTreeMap<String, String>) {
    let mut units: BTreeSet<String> = sql(
        wh,
        &format!("SELECT unit_name FROM unit_quarter_scores WHERE quarter = '2019Q3' ORDER BY round(score + 1e-9, 4), unit_name LIMIT {n}"),
    )
    .into_iter()
    .skip(1)
    .collect();
    units.extend(
        sql(
            wh,
            &format!(
                "SELECT unit_name FROM account_quarter_indicators WHERE quarter = '2019Q3' AND score IS NOT NULL \
                 ORDER BY round(score + 1e-9, 4), platform, account_id LIMIT {n}"
            ),
        )
        .into_iter()
        .skip(1),
    );
    let regions = table(&sql(wh, "SELECT region, rank FROM region_quarter_scores WHERE quarter = '2019Q3' AND level = 'district'"))
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    (units, regions)
}

#[test]
fn the_city_notice_names_exactly_the_regions_and_units_the_rules_select() {
    let c = city();
    let md = std::fs::read_to_string(city_report().join("2019Q3_通报.md")).unwrap();
    let (units, regions) = selected(&c.wh, 10);
    assert!(units.len() >= 10, "{units:?}");
    assert_eq!(units_named(&md), units);
    assert_eq!(regions_ranked(&md), regions);
    assert_eq!(regions.len(), 17);
}

#[test]
fn the_city_notice_is_a_docx_of_at_most_ten_pages_naming_the_units_of_its_markdown() {
    let c = city();
    let dir = city_report();
    let md = std::fs::read_to_string(dir.join("2019Q3_通报.md")).unwrap();
    let named = units_named(&md);
    // The units sent a rectification notice: those the notice names that have a problem listed.
    let with_problems: BTreeSet<String> =
        sql(&c.wh, "SELECT DISTINCT unit_name FROM criticism_items WHERE quarter = '2019Q3' AND unit_name IS NOT NULL")
            .into_iter()
            .skip(1)
            .collect();
    let folder = dir.join("整改通知");
    let mut sent = BTreeSet::new();
    let mut regional = Vec::new();
    for e in std::fs::read_dir(&folder).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if let Some(unit) = name.strip_suffix("_整改通知单.docx").and_then(|n| n.split_once('_')).map(|(_, u)| u.to_string()) {
            sent.insert(unit);
        } else if let Some(region) = name.strip_suffix("_排名末位整改通知单.docx") {
            regional.push(region.to_string());
        }
    }
    let want: BTreeSet<String> = named.intersection(&with_problems).cloned().collect();
    assert!(!want.is_empty());
    assert_eq!(sent, want, "one rectification notice per named unit with a problem");
    // And one to each district ranked last of the city's districts.
    let last = sql(
        &c.wh,
        "SELECT region FROM region_quarter_scores WHERE quarter = '2019Q3' AND level = 'district' \
         AND rank = (SELECT max(rank) FROM region_quarter_scores WHERE quarter = '2019Q3' AND level = 'district') ORDER BY region",
    );
    regional.sort();
    assert_eq!(regional, last[1..]);
    assert!(folder.join("2019Q3_整改通知单_全部.docx").is_file());

    // What the terminal prints: counts, the named units and the attachment, never every
    // criticised unit (279 of them here).
    let stdout = &city_report_run().1;
    let criticised = sql(&c.wh, "SELECT count(*) AS n FROM unit_quarter_scores WHERE quarter = '2019Q3' AND criticized")[1].clone();
    assert!(criticised.parse::<usize>().unwrap() > 3 * named.len(), "{criticised}");
    assert!(stdout.contains(&format!("criticised: {criticised} of 667 units in 17 区县")), "{stdout}");
    assert_eq!(units_named(stdout), named, "{stdout}");
    assert!(stdout.contains("2019Q3_排名.xlsx"), "{stdout}");

    // LibreOffice's PDF of the DOCX: at most 10 pages, naming the units the Markdown names.
    let Some(()) = crate::documents::clients() else { return };
    let pdf = dir.join("2019Q3_通报.pdf");
    let info = std::process::Command::new("pdfinfo").arg(&pdf).output().unwrap();
    let info = String::from_utf8_lossy(&info.stdout);
    let pages: usize = info.lines().find_map(|l| l.strip_prefix("Pages:")).map(|p| p.trim().parse().unwrap()).unwrap();
    assert!((1..=10).contains(&pages), "{info}");
    let text = crate::documents::pdftotext(&pdf);
    // pdftotext may read a table by columns: the header 参评单位 then the counts 40, 40, 40 read
    // as a name. Only the register's units count.
    let units: BTreeSet<String> = sql(&c.wh, "SELECT unit_name FROM unit_quarter_scores").into_iter().skip(1).collect();
    assert_eq!(units_named(&text).intersection(&units).cloned().collect::<BTreeSet<_>>(), named);
    for want in ["二、各区县排名", "三、存在问题", "附件：1.", "2019Q3_排名.xlsx", "—1—"] {
        assert!(text.contains(want), "the notice's PDF lacks {want}");
    }
    for region in &last[1..] {
        let text = crate::documents::pdftotext(&folder.join(format!("{region}_排名末位整改通知单.pdf")));
        let rank = &sql(&c.wh, &format!("SELECT rank FROM region_quarter_scores WHERE level = 'district' AND region = '{region}'"))[1];
        assert!(text.contains(&format!("{region}政务新媒体主管部门")) && text.contains(&format!("在17个区县中排名第{rank}位")), "{text}");
    }
}

const REGISTER: &str = "单位名称,单位类别,平台,账号名称,账号ID,开设日期,状态,互动功能,运维责任人,所属市,所属区县\n\
    甲局,区直部门,微博,甲,a1,2015-01-01,正常,是,x,云溪市,东区\n\
    乙局,区直部门,微博,乙,b1,2015-01-01,正常,是,x,云溪市,东区\n\
    丙局,区直部门,微博,丙,c1,2015-01-01,正常,是,x,云溪市,西区\n\
    丁局,区直部门,微博,丁,d1,2015-01-01,正常,是,x,,\n";

#[test]
fn a_registers_regions_are_optional_and_roll_up_the_units_that_have_them() {
    let c = CsvWarehouse::built(&[("registry", REGISTER)], &[]);
    let regions = c.q("SELECT unit_name, city, district FROM unit_regions ORDER BY unit_name");
    assert_eq!(regions[1..], ["丙局,云溪市,西区", "乙局,云溪市,东区", "甲局,云溪市,东区"]);
    // 丁局 names no region: in no region's row, and ranked as a unit as before.
    let rows = c.q("SELECT level, region_path, units, rank FROM region_quarter_scores ORDER BY level, region_path");
    assert_eq!(rows[1..], ["city,云溪市,3,1", "district,云溪市/东区,2,1", "district,云溪市/西区,1,1"]);
    assert_eq!(c.unit("丁局", "accounts"), "1");

    // Two districts of one city: a city's report by default, naming as many of the worst units
    // and accounts as the pipeline file's [notice] table says.
    let pipeline = c.dir.path().join("city.toml");
    std::fs::write(&pipeline, "quarter = \"2019Q3\"\nreport_dir = \"reports\"\n\n[notice]\narea = \"云溪市\"\nnamed = 1\n").unwrap();
    let r = govmedia(&c.wh, &["run", pipeline.to_str().unwrap(), "--stages", "report"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let dir = c.dir.path().join("reports/2019Q3");
    let index = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert!(index.contains("（市级）") && index.contains("东区"));
    let md = std::fs::read_to_string(dir.join("2019Q3_通报.md")).unwrap();
    assert!(md.contains("关于云溪市"), "{md}");
    let worst_unit = c.q("SELECT unit_name FROM unit_quarter_scores ORDER BY round(score + 1e-9, 4), unit_name LIMIT 1");
    let worst_account = c.q(
        "SELECT unit_name FROM account_quarter_indicators WHERE score IS NOT NULL ORDER BY round(score + 1e-9, 4), platform, account_id LIMIT 1",
    );
    let expected: BTreeSet<&str> = [worst_unit[1].as_str(), worst_account[1].as_str()].into();
    let named: BTreeSet<&str> = ["甲局", "乙局", "丙局", "丁局"].into_iter().filter(|u| md.contains(&format!("- {u}"))).collect();
    assert_eq!(named, expected, "{md}");
    let ranked = c.q("SELECT region, rank FROM region_quarter_scores WHERE level = 'district'");
    let ranked: BTreeMap<String, String> = table(&ranked).into_iter().map(|r| (r[0].clone(), r[1].clone())).collect();
    assert_eq!(ranked.len(), 2);
    assert_eq!(regions_ranked(&md), ranked);
}

#[test]
fn a_register_without_regions_reports_as_a_district_and_refuses_a_city_level() {
    let register = "单位名称,单位类别,平台,账号名称,账号ID,开设日期,状态,互动功能,运维责任人\n\
        甲局,区直部门,微博,甲,a1,2015-01-01,正常,是,x\n";
    let c = CsvWarehouse::built(&[("registry", register)], &[]);
    assert_eq!(c.q("SELECT count(*) AS n FROM region_quarter_scores")[1], "0");
    let out = c.dir.path().join("reports");
    let r = govmedia(&c.wh, &["report", "--quarter", "2019Q3", "--out", out.to_str().unwrap(), "--level", "city"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stderr.contains("所属区县") && r.stderr.contains("--level district"), "{}", r.stderr);
}

#[test]
fn a_warehouse_written_before_regions_builds_with_its_register_s_regions_null() {
    let mut c = CsvWarehouse::new();
    let register = "单位名称,单位类别,平台,账号名称,账号ID,开设日期,状态,互动功能,运维责任人\n\
        甲局,区直部门,微博,甲,a1,2015-01-01,正常,是,x\n乙局,区直部门,微博,乙,b1,2015-01-01,正常,是,x\n";
    c.ingest(&[("registry", register)]);
    // The register as an older govmedia stored it: no city or district columns in the file.
    let wh = govmedia::warehouse::Warehouse::open(c.wh.to_str().unwrap()).unwrap();
    rt().block_on(async {
        let m = wh.manifest().await.unwrap();
        let def = &govmedia::table::REGISTRY;
        let batch = def.to_batch(&wh.read_rows(&m, def).await.unwrap()).unwrap();
        let keep: Vec<usize> = (0..def.columns.len()).filter(|&i| !["city", "district"].contains(&def.columns[i].name)).collect();
        let old = batch.project(&keep).unwrap();
        let rel = format!("{}/older-layout.parquet", govmedia::warehouse::table_dir(def.name));
        let entry = wh.write_batches(&rel, old.schema(), [old]).await.unwrap();
        let mut next = m.clone();
        next.set(def.name, vec![entry]);
        wh.commit(next, "test: a register in the layout before regions").await.unwrap();
    });
    c.build(&[]);
    assert_eq!(c.q("SELECT count(*) AS n FROM registry WHERE city IS NULL AND district IS NULL")[1], "2");
    assert_eq!(c.q("SELECT count(*) AS n FROM unit_quarter_scores")[1], "2");
    assert_eq!(c.q("SELECT count(*) AS n FROM region_quarter_scores")[1], "0");
    let drift = c.q("SELECT failing_rows FROM data_quality WHERE \"check\" = 'schema_drift' AND \"table\" = 'registry'");
    assert_eq!(drift[1..], ["0"]);
}
