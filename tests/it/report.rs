//! Reports: the league table read back from XLSX, the notice's units, the charts, two quarters'
//! trend, and the HTML report in headless Chromium.

use crate::common::*;
use calamine::{Reader, Xlsx};
use std::path::{Path, PathBuf};

fn png_size(path: &Path) -> (u32, u32) {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[1..4], b"PNG", "{}", path.display());
    (u32::from_be_bytes(b[16..20].try_into().unwrap()), u32::from_be_bytes(b[20..24].try_into().unwrap()))
}

fn fixtures_report() -> Option<(tempfile::TempDir, PathBuf, PathBuf)> {
    shared_fixtures()?;
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    let r = govmedia(&wh, &["run", "pipelines/fixtures.toml", "--stages", "ingest,build"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = dir.path().join("reports");
    let r = govmedia(&wh, &["report", "--quarter", "2019Q3", "--out", out.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("criticised (4): 示例区卫生健康局、东湖街道、西山镇、示例区人民政府办公室")
            || r.stdout.contains("criticised (4)"),
        "{}",
        r.stdout
    );
    Some((dir, wh, out.join("2019Q3")))
}

#[test]
fn the_fixture_report_has_the_league_table_notice_and_charts() {
    let Some((_dir, _wh, q)) = fixtures_report() else { return };
    // XLSX read back: ranks and grades of the units.
    let mut wb: Xlsx<_> = calamine::open_workbook(q.join("2019Q3_排名.xlsx")).unwrap();
    assert_eq!(wb.sheet_names(), vec!["单位排名", "账号得分", "通报问题"]);
    let units = wb.worksheet_range("单位排名").unwrap();
    let rows: Vec<(String, String, String)> =
        units.rows().skip(1).map(|r| (r[0].to_string(), r[1].to_string(), r[10].to_string())).collect();
    assert_eq!(
        rows,
        vec![
            ("1".into(), "示例区教育局".into(), "良好".into()),
            ("1".into(), "示例区文化体育和旅游局".into(), "良好".into()),
            ("3".into(), "示例区人民政府办公室".into(), "合格".into()),
            ("4".into(), "示例区卫生健康局".into(), "不合格".into()),
            ("5".into(), "东湖街道".into(), "不合格".into()),
            ("6".into(), "西山镇".into(), "不合格".into()),
        ]
    );
    let accounts = wb.worksheet_range("账号得分").unwrap();
    assert_eq!(accounts.height(), 10, "a header and 9 in-scope accounts");

    // The notice names exactly the criticised units, with their categories.
    let md = std::fs::read_to_string(q.join("2019Q3_通报.md")).unwrap();
    let sentence = md.lines().find(|l| l.ends_with("予以通报批评。")).unwrap();
    let mut named: Vec<&str> = sentence.trim_start_matches('对').trim_end_matches("予以通报批评。").split('、').collect();
    named.sort();
    assert_eq!(named, vec!["东湖街道", "示例区人民政府办公室", "示例区卫生健康局", "西山镇"]);
    for part in [
        "## 一、总体情况",
        "本季度共检查政务新媒体账号8个，不合格4个，总体合格率50.00%",
        "### （一）逾期不更新",
        "西山镇（微博“西山发布”）：监测时间点前2周内无更新（监测时间点前36.26天无更新）",
        "### （二）信息发布不准确",
        "互动回应不及时",
        "运维管理不规范",
        "综合评分不合格",
        "【待填写：工作要求】",
        "【整改期限",
        "### 附件1：单项否决问题清单",
        "### 附件2：扣分问题清单",
    ] {
        assert!(md.contains(part), "notice lacks {part}\n{md}");
    }
    assert!(!md.contains("### （五）转载不及时"), "no unit missed two directives");

    // Every chart, as a real PNG of its size and an SVG with its Chinese labels.
    for (name, w, label) in [
        ("score_distribution", 2000, "账号得分分布"),
        ("league_table", 2000, "单位综合得分排名"),
        ("pass_rate_by_platform", 2000, "各平台合格率"),
        ("accounts_by_status", 2000, "账号运行状态"),
        ("response_time", 2000, "留言回复时长分布"),
        ("weekly_heatmap", 2400, "每周发布热力图"),
        ("directive_delays", 2000, "重要信息转载时长"),
    ] {
        let png = q.join(format!("charts/{name}.png"));
        let (pw, ph) = png_size(&png);
        assert_eq!(pw, w, "{name}");
        assert!(ph >= 500, "{name}");
        assert!(std::fs::metadata(&png).unwrap().len() > 10_000, "{name} is a real image");
        let svg = std::fs::read_to_string(q.join(format!("charts/{name}.svg"))).unwrap();
        assert!(svg.contains(label), "{name}.svg lacks {label}");
        assert!(svg.contains("Noto Sans CJK SC") || std::env::var("GOVMEDIA_CJK_FONT").is_ok());
    }
    assert!(!q.join("charts/pass_rate_trend.png").exists(), "one quarter has no trend");

    // CSV opens in Excel: UTF-8 with a BOM.
    let csv = std::fs::read(q.join("2019Q3_单位排名.csv")).unwrap();
    assert!(csv.starts_with(b"\xEF\xBB\xBF"));
    assert!(String::from_utf8_lossy(&csv).contains("西山镇"));

    // index.html is self-contained: no external resources, charts embedded.
    let index = std::fs::read_to_string(q.join("index.html")).unwrap();
    assert!(!index.contains("src=\"http") && !index.contains("href=\"http") && !index.contains("<script"));
    assert_eq!(index.matches("data:image/png;base64,").count(), 7);
}

#[test]
fn two_quarters_show_a_trend_and_rank_changes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let wh = dir.path().join("wh");
    assert_eq!(govmedia(&wh, &["generate", "--out", out.to_str().unwrap()]).code, 0);
    let r = govmedia(&wh, &["run", out.join("pipeline.toml").to_str().unwrap(), "--stages", "ingest,build"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = govmedia(&wh, &["build", "--quarter", "2019Q4"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let reports = dir.path().join("reports");
    let r = govmedia(&wh, &["report", "--quarter", "2019Q4", "--out", reports.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let q = reports.join("2019Q4");
    let svg = std::fs::read_to_string(q.join("charts/pass_rate_trend.svg")).unwrap();
    assert!(svg.contains("2019年第三季度") && svg.contains("2019年第四季度") && svg.contains("合格率季度走势"));
    assert!(png_size(&q.join("charts/pass_rate_trend.png")).0 == 2000);
    let csv = String::from_utf8(std::fs::read(q.join("2019Q4_单位排名.csv")).unwrap()).unwrap();
    let changes: Vec<&str> = csv.lines().skip(1).map(|l| l.rsplit(',').next().unwrap()).collect();
    assert_eq!(changes.len(), 40);
    assert!(changes.iter().all(|c| c.starts_with('↑') || c.starts_with('↓') || *c == "—"), "{changes:?}");
    assert!(changes.iter().any(|c| c.starts_with('↑') || c.starts_with('↓')));
    let index = std::fs::read_to_string(q.join("index.html")).unwrap();
    assert!(index.contains("与2019Q3相比，合格率"));
}

#[test]
fn the_html_report_loads_in_headless_chromium_without_errors_or_network() {
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].into_iter().map(PathBuf::from).find(|p| p.exists());
    let Some(chromium) = chromium else {
        assert!(std::env::var("CI").is_err(), "CI must install chromium");
        eprintln!("skipped: no chromium");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    let out = dir.path().join("demo");
    let r = govmedia(&wh, &["demo", "--out", out.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let index = out.join("reports/2019Q3/index.html");
    assert!(r.stdout.contains(&format!("report: {}", index.display())), "{}", r.stdout);
    let netlog = dir.path().join("netlog.json");
    let shot = dir.path().join("screenshot.png");
    let output = std::process::Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1280,2000",
        ])
        .arg(format!("--user-data-dir={}", dir.path().join("profile").display()))
        .arg(format!("--log-net-log={}", netlog.display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", index.display()))
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:?}");
    // Requests the page made (the browser's own have no origin).
    let net: serde_json::Value = serde_json::from_slice(&std::fs::read(&netlog).unwrap()).unwrap();
    let page_requests: Vec<String> = net["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["params"]["url"].is_string() && e["params"]["initiator"].is_string() && e["params"]["initiator"] != "not an origin")
        .map(|e| e["params"]["url"].as_str().unwrap().to_string())
        .collect();
    assert!(page_requests.is_empty(), "the report made network requests: {page_requests:?}");
    let (w, h) = png_size(&shot);
    assert_eq!((w, h), (1280, 2000));
    assert!(std::fs::metadata(&shot).unwrap().len() > 50_000, "the screenshot shows content");
    // Kept for people to look at.
    let keep = repo().join("target/report-screenshot.png");
    let _ = std::fs::copy(&shot, keep);
}

#[test]
fn without_a_cjk_font_the_report_says_what_to_install() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    assert_eq!(govmedia(&wh, &["init"]).code, 0);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_govmedia"))
        .args(["--warehouse", wh.to_str().unwrap(), "report", "--quarter", "2019Q3", "--out", dir.path().join("r").to_str().unwrap()])
        .env("GOVMEDIA_CJK_FONT", "No Such Font Family")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("apt-get install fonts-noto-cjk") && stderr.contains("No Such Font Family"), "{stderr}");
}
