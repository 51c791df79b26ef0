//! `govmedia watch`: the warnings of a small district at two as-of points of 2019Q3, worked out by
//! hand from the exports below — mid-quarter (Tuesday 2019-09-17 09:00, just after the
//! Mid-Autumn holiday of 13–15 September) and the quarter's last day (2019-09-30 12:00) — with
//! the bad as-of points, an empty warehouse, the exit status, the files and `--save`.

use crate::common::*;
use govmedia::watch::{watch, WatchOptions, WatchReport};
use std::path::Path;

const MID: &str = "2019-09-17T09:00:00+08:00";
const LAST_DAY: &str = "2019-09-30T12:00:00+08:00";

/// 甲单位 posts and answers on its WeChat account and lets its Weibo account and messages slip;
/// 乙单位 opened a Douyin account on 12 September without filing it and reposts nothing; 丙单位
/// closed its Toutiao account in August without announcing it; tt_x is in no register.
const EXPORTS: &[(&str, &str)] = &[
    (
        "registry",
        "单位名称,单位类别,平台,账号名称,账号ID,开设日期,状态,互动功能,运维责任人\n\
甲单位,区直,微信,甲微信,gh_a,2015-01-01,正常,是,x\n\
甲单位,区直,微博,甲微博,wb_a,2015-01-01,正常,是,x\n\
乙单位,街道,抖音,乙抖音,dy_b,2019-09-12,正常,是,x\n\
乙单位,街道,微博,乙微博,wb_b,2015-01-01,正常,是,x\n\
丙单位,街道,今日头条,丙头条,tt_c,2015-01-01,关停,是,x\n",
    ),
    (
        "filings",
        "单位名称,平台,账号ID,账号名称,事项,事项日期,备案日期,公告日期\n\
丙单位,今日头条,tt_c,丙头条,关停,2019-08-20,2019-08-21,\n",
    ),
    (
        "posts",
        "平台,账号ID,发布ID,发布时间,标题,类型,转发源ID,位置,阅读数,在看数,点赞数,评论数,转发数,链接\n\
微信,gh_a,a1,2019-07-02 10:00,甲一,原创,,1,,,,,,\n\
微信,gh_a,a2,2019-09-16 10:00,甲二,原创,,1,,,,,,\n\
微信,gh_a,a3,2019-09-17 08:00,转载一,原创,,1,,,,,,\n\
微信,gh_a,a4,2019-09-29 10:00,甲四,原创,,1,,,,,,\n\
微信,gh_a,a5,2019-09-30 09:00,转载二,转发,src2,1,,,,,,\n\
微博,wb_a,b1,2019-09-05 08:00,甲微博一,原创,,,,,,,,\n\
抖音,dy_b,d1,2019-09-12 11:00,乙抖音一,原创,,,,,,,,\n\
抖音,dy_b,d2,2019-09-16 10:00,乙抖音二,原创,,,,,,,,\n\
抖音,dy_b,d3,2019-09-28 10:00,乙抖音三,原创,,,,,,,,\n\
微博,wb_b,c1,2019-09-10 10:00,乙微博一,原创,,,,,,,,\n\
今日头条,tt_c,t1,2019-08-01 10:00,丙一,原创,,,,,,,,\n\
今日头条,tt_x,x1,2019-09-16 10:00,无主一,原创,,,,,,,,\n",
    ),
    (
        "interactions",
        "平台,账号ID,留言ID,留言时间,留言人,回复时间\n\
微信,gh_a,m1,2019-09-11 10:00,某甲,\n\
微信,gh_a,m2,2019-09-05 10:00,某乙,\n\
微信,gh_a,m3,2019-09-16 09:00,某丙,2019-09-16 15:00\n\
微博,wb_a,n1,2019-09-16 10:00,某丁,2019-09-18 10:00\n\
微博,wb_a,n2,2019-09-17 08:00,某戊,\n",
    ),
    (
        "directives",
        "指令ID,标题,源平台,源发布ID,发布时间,时限小时,适用单位\n\
D1,转载一,微信,src1,2019-09-17 01:00,12,\n\
D2,转载二,微信,src2,2019-09-30 00:30,12,\n\
D3,转载三,微信,src3,2019-09-29 10:00,12,\n",
    ),
    (
        "self_inspections",
        "单位名称,月份,公开日期\n\
甲单位,2019-09,2019-09-10\n\
丙单位,2019-09,2019-09-27\n",
    ),
];

fn at(t: &str) -> i64 {
    govmedia::time::parse_instant(t).unwrap() / 1_000_000
}

fn run_watch(wh: &Path, as_of: &str) -> WatchReport {
    let opts = WatchOptions {
        as_of: Some(as_of.into()),
        now_s: at("2026-11-29T00:00:00+08:00"),
        within_s: 3 * 86400,
        rubric: None,
        models: Some(repo().join("sql")),
    };
    let wh = govmedia::warehouse::Warehouse::open_existing(wh.to_str().unwrap()).unwrap();
    rt().block_on(watch(&wh, &opts)).unwrap()
}

/// (unit, account or subject, kind, deadline as MM-DD HH:MM Beijing time, or "" for at once),
/// in the report's order.
fn listed(r: &WatchReport) -> Vec<(String, String, String, String)> {
    r.warnings
        .iter()
        .map(|w| {
            let deadline = w.deadline_s.map(|d| govmedia::time::format_micros_beijing(d * 1_000_000)[5..16].to_string());
            (
                w.unit_name.clone().unwrap_or_default(),
                w.account_id.clone().or(w.subject.clone()).unwrap_or_default(),
                w.kind.clone(),
                deadline.unwrap_or_default(),
            )
        })
        .collect()
}

fn expect(rows: &[(&str, &str, &str, &str)]) -> Vec<(String, String, String, String)> {
    rows.iter().map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), d.to_string())).collect()
}

fn warehouse() -> CsvWarehouse {
    let mut c = CsvWarehouse::new();
    c.ingest(EXPORTS);
    c
}

#[test]
fn warnings_mid_quarter_and_on_the_last_day() {
    let c = warehouse();
    let mid = run_watch(&c.wh, MID);
    assert_eq!(mid.quarter.to_string(), "2019Q3");
    assert_eq!(
        listed(&mid),
        expect(&[
            // No limit in the rules: at once, so these units come first.
            ("丙单位", "tt_c", "unannounced_closure", ""),
            ("丙单位", "2019-09", "self_inspection", "09-26 00:00"),
            ("", "tt_x", "unfiled", ""),
            // m2 (Thursday 5 September): 6, 9, 10 September, past due.
            ("甲单位", "gh_a", "message_overdue", "09-11 00:00"),
            // m1, received Wednesday 11 September: 12, (13–15 the holiday), 16, 17 September.
            ("甲单位", "gh_a", "message_due", "09-18 00:00"),
            // Last post 5 September 08:00, 12 days before: the veto applies 14 days after it.
            ("甲单位", "wb_a", "no_update", "09-19 08:00"),
            // n1 is answered, but after the as-of point; n2 (due 20 September, end of day) is beyond 3 days.
            ("甲单位", "wb_a", "message_due", "09-20 00:00"),
            // D1's window (01:00 + 12 h) closes on the as-of day; 甲 reposted it at 08:00.
            ("乙单位", "D1", "directive_open", "09-17 13:00"),
            // Opened Thursday 12 September: the 5th working day after is 20 September.
            ("乙单位", "dy_b", "unfiled", "09-21 00:00"),
            ("乙单位", "2019-09", "self_inspection", "09-26 00:00"),
        ])
    );
    assert_eq!(mid.past_due(), 3);

    let last = run_watch(&c.wh, LAST_DAY);
    assert_eq!(
        listed(&last),
        expect(&[
            ("丙单位", "tt_c", "unannounced_closure", ""),
            ("", "tt_x", "unfiled", ""),
            ("", "tt_x", "no_update", "09-30 10:00"),
            ("甲单位", "gh_a", "message_overdue", "09-11 00:00"),
            ("甲单位", "wb_a", "no_update", "09-19 08:00"),
            ("甲单位", "wb_a", "message_overdue", "09-21 00:00"),
            // D3 closed at 22:00 yesterday (within 3 days); D1 closed 13 days ago and is no longer listed.
            ("甲单位", "D3", "directive_missed", "09-29 22:00"),
            ("乙单位", "dy_b", "unfiled", "09-21 00:00"),
            ("乙单位", "wb_b", "no_update", "09-24 10:00"),
            ("乙单位", "2019-09", "self_inspection", "09-26 00:00"),
            ("乙单位", "D3", "directive_missed", "09-29 22:00"),
            // D2 (00:30) closes on the as-of day, at 12:30; 甲 reposted it by its source id.
            ("乙单位", "D2", "directive_open", "09-30 12:30"),
        ])
    );
    // Two messages past due on gh_a, one line for them with the earlier limit.
    let gh_a = last.warnings.iter().find(|w| w.account_id.as_deref() == Some("gh_a")).unwrap();
    assert_eq!(gh_a.items, 2);
    assert_eq!(last.past_due(), 11);
}

#[test]
fn the_command_prints_writes_keeps_and_exits_3_when_past_due() {
    let c = warehouse();
    let r = govmedia(&c.wh, &["watch", "--as-of", MID]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stdout.contains("10条预警，其中已逾期3条"), "{}", r.stdout);
    assert!(r.stdout.contains("微信公众号「甲微信」：回复1条群众留言，请于2019年9月17日24时前完成（剩余15小时）"), "{}", r.stdout);
    assert!(r.stdout.find("■ 丙单位") < r.stdout.find("■ 甲单位"), "{}", r.stdout);

    // Read-only: no mart until --save.
    assert!(c.q("SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'watch_warnings'")[1] == "0");
    let html = c.dir.path().join("预警.html");
    let r = govmedia(&c.wh, &["watch", "--as-of", MID, "--format", "html", "--output", html.to_str().unwrap()]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<h2>乙单位（3条）</h2>") && page.contains("转载重要信息《转载一》"), "{page}");
    assert_eq!(page.matches("<tr class=\"g-d\"><td>已逾期</td>").count(), 3, "{page}");

    let xlsx = c.dir.path().join("预警.xlsx");
    let r = govmedia(&c.wh, &["watch", "--as-of", LAST_DAY, "--format", "xlsx", "--output", xlsx.to_str().unwrap(), "--save"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    use calamine::Reader;
    let mut wb = calamine::open_workbook_auto(&xlsx).unwrap();
    let sheet = wb.worksheet_range("预警清单").unwrap();
    assert_eq!(sheet.height(), 13);
    assert_eq!(sheet.get((1, 0)).unwrap().to_string(), "丙单位");

    // Saved twice for one day: the day's partition is replaced; another day adds its own.
    let r = govmedia(&c.wh, &["watch", "--as-of", LAST_DAY, "--format", "json", "--save"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(r.stdout.lines().count(), 12);
    let r = govmedia(&c.wh, &["watch", "--as-of", MID, "--format", "csv", "--save"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    let saved = c.q("SELECT CAST(as_of_date AS VARCHAR) AS d, count(*) AS n, sum(CASE WHEN past_due THEN 1 ELSE 0 END) AS late FROM watch_warnings GROUP BY as_of_date ORDER BY d");
    assert_eq!(saved, ["d,n,late", "2019-09-17,10,3", "2019-09-30,12,11"]);
}

#[test]
fn bad_as_of_points_and_an_empty_warehouse_are_refused_clearly() {
    let c = warehouse();
    for (as_of, says) in [
        ("2099-01-01T00:00:00+08:00", "is after now"),
        ("2019-06-01T00:00:00+08:00", "before the warehouse's data (its first post is of 2019-07-02 10:00:00)"),
        ("next tuesday", "--as-of 'next tuesday' is not a time"),
    ] {
        let r = govmedia(&c.wh, &["watch", "--as-of", as_of]);
        assert_eq!(r.code, 1, "{as_of}: {}", r.stdout);
        assert!(r.stderr.contains(says), "{as_of}: {}", r.stderr);
    }
    let r = govmedia(&c.wh, &["watch", "--as-of", MID, "--within", "3x"]);
    assert!(r.code == 1 && r.stderr.contains("--within '3x' is not a duration"), "{}", r.stderr);

    let empty = c.dir.path().join("empty");
    assert_eq!(govmedia(&empty, &["init"]).code, 0);
    let r = govmedia(&empty, &["watch", "--as-of", MID]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("holds no staging data"), "{}", r.stderr);
}

#[test]
fn nothing_past_due_exits_0() {
    let mut c = CsvWarehouse::new();
    c.ingest(&[
        ("registry", "单位名称,单位类别,平台,账号名称,账号ID,开设日期,状态,互动功能,运维责任人\n丁单位,区直,微信,丁微信,gh_d,2015-01-01,正常,是,x\n"),
        ("posts", "平台,账号ID,发布ID,发布时间,标题,类型,转发源ID,位置,阅读数,在看数,点赞数,评论数,转发数,链接\n微信,gh_d,p1,2019-09-16 10:00,丁一,原创,,1,,,,,,\n"),
    ]);
    let r = govmedia(&c.wh, &["watch", "--as-of", MID, "--format", "csv"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Only the month's self-inspection, due on the 25th.
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", r.stdout);
    assert!(lines[1].starts_with("丁单位,,,,自查情况未公开,即将到期,2019年9月25日24时,"), "{}", lines[1]);
}

/// The demo district's planted problems, as warnings at the end of its quarter: the silent
/// accounts past the veto, the unanswered accounts past their limits, the account opened on
/// Sunday 25 August and never filed (due by the 5th working day after, Friday 30 August), the
/// account in no register, and the closure never announced.
#[test]
fn the_demo_district_gets_its_planted_problems_as_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let (out, wh) = (dir.path().join("demo"), dir.path().join("wh"));
    let r = govmedia(&wh, &["generate", "--out", out.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = govmedia(&wh, &["run", out.join("pipeline.toml").to_str().unwrap(), "--stages", "ingest"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let end = "2019-10-01T00:00:00+08:00";
    let report = run_watch(&wh, end);
    let found = listed(&report);
    let has = |account: &str, kind: &str, deadline: Option<&str>| {
        found.iter().any(|(_, a, k, d)| a == account && k == kind && deadline.is_none_or(|want| d == want))
    };
    let planted: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("planted.json")).unwrap()).unwrap();
    let mut checked = 0;
    for p in planted.as_array().unwrap() {
        let account = p["account_id"].as_str().unwrap_or_default();
        let expected = match (p["category"].as_str().unwrap(), p["problem"].as_str().unwrap()) {
            ("逾期不更新", _) => ("no_update", None),
            (_, "留言无一回复") => ("message_overdue", None),
            (_, "新开设账号未备案") => ("unfiled", Some("08-31 00:00")),
            (_, "未纳入台账 (unregistered)") => ("unfiled", Some("")),
            (_, "注销后仍发布、备案逾期、未公告") => ("unannounced_closure", Some("")),
            _ => continue,
        };
        assert!(has(account, expected.0, expected.1), "planted {p} has no {expected:?} warning: {found:?}");
        checked += 1;
    }
    assert_eq!(checked, 13);
    // Each of them is past due at the quarter's end; the scheduled job is told so.
    assert!(report.past_due() >= checked);
    assert_eq!(govmedia(&wh, &["watch", "--as-of", end]).code, 3);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// An analyst's warning is one SQL file in watch/ (here: accounts with interaction switched off);
/// one that does not return the warning columns is named with what it lacks.
#[test]
fn one_sql_file_adds_a_warning() {
    let mut c = CsvWarehouse::new();
    c.ingest(&[
        (
            "registry",
            "单位名称,单位类别,平台,账号名称,账号ID,开设日期,状态,互动功能,运维责任人\n\
丁单位,区直,微信,丁微信,gh_d,2015-01-01,正常,否,x\n\
丁单位,区直,微博,丁微博,wb_d,2015-01-01,正常,是,x\n",
        ),
        (
            "posts",
            "平台,账号ID,发布ID,发布时间,标题,类型,转发源ID,位置,阅读数,在看数,点赞数,评论数,转发数,链接\n\
微信,gh_d,p1,2019-09-16 10:00,丁一,原创,,1,,,,,,\n\
微博,wb_d,p2,2019-09-16 10:00,丁二,原创,,,,,,,,\n",
        ),
        ("self_inspections", "单位名称,月份,公开日期\n丁单位,2019-09,2019-09-02\n"),
    ]);
    let models = c.dir.path().join("sql");
    copy_dir(&repo().join("sql"), &models);
    std::fs::write(
        models.join("watch/watch_interaction_off.sql"),
        "select unit_name, platform, account_id, account_name, 'interaction_off' as kind, '互动功能未开通' as problem,\n\
         cast(null as varchar) as subject, 1 as items, cast(null as bigint) as deadline_s, '开通留言互动功能' as todo\n\
         from int_account_windows where not interaction_enabled\n",
    )
    .unwrap();
    let wh = govmedia::warehouse::Warehouse::open_existing(c.wh.to_str().unwrap()).unwrap();
    let opts = WatchOptions {
        as_of: Some(MID.into()),
        now_s: at("2026-11-29T00:00:00+08:00"),
        within_s: 3 * 86400,
        rubric: None,
        models: Some(models.clone()),
    };
    let r = rt().block_on(watch(&wh, &opts)).unwrap();
    assert_eq!(listed(&r), expect(&[("丁单位", "gh_d", "interaction_off", "")]));
    assert_eq!(r.warnings[0].model, "watch_interaction_off");
    assert_eq!(govmedia::watch::output::line(&r.warnings[0], r.as_of_s), "微信公众号「丁微信」：开通留言互动功能，已违反规定，请立即办理");

    std::fs::write(models.join("watch/watch_bad.sql"), "select unit_name, platform, account_id from int_account_windows\n").unwrap();
    let e = rt().block_on(watch(&wh, &opts)).unwrap_err().to_string();
    assert!(e.contains("watch model watch_bad: missing column(s) account_name, kind, problem, subject, items, deadline_s, todo"), "{e}");
}
