//! The models against hand-checked expectations: the fixtures' planted facts value by value, and
//! small cases computed by hand for each formula of SPEC §5–§7.

use crate::common::*;

const REGISTRY_HEADER: &str = "单位名称,单位类别,平台,账号名称,账号ID,开设日期,状态,互动功能,运维责任人\n";
const POSTS_HEADER: &str = "平台,账号ID,发布ID,发布时间,标题,类型,转发源ID,位置,阅读数,在看数,点赞数,评论数,转发数,链接\n";
const MESSAGES_HEADER: &str = "平台,账号ID,留言ID,留言时间,留言人,回复时间\n";

fn self_inspections(units: &[&str]) -> String {
    let mut s = String::from("单位名称,月份,公开日期\n");
    for u in units {
        for m in ["2019-07", "2019-08", "2019-09"] {
            s.push_str(&format!("{u},{m},{m}-20\n"));
        }
    }
    s
}

#[test]
fn silent_weeks_and_gaps_with_a_mid_quarter_opening() {
    // Opened Wednesday 2019-08-21: whole Monday–Sunday weeks inside the window start 08-26.
    let registry = format!("{REGISTRY_HEADER}甲单位,街道,微信,甲,gh_a,2019-08-21,正常,是,x\n");
    let posts = format!("{POSTS_HEADER}微信,gh_a,p1,2019-08-22 09:00,一,原创,,1,,,,,,\n微信,gh_a,p2,2019-09-10 10:00,二,原创,,1,,,,,,\n");
    let c = CsvWarehouse::built(&[("registry", &registry), ("posts", &posts)], &[]);
    // Weeks 08-26, 09-02, 09-09 (has p2), 09-16, 09-23 → 4 silent.
    // Gaps: 08-21 00:00→p1 1.375 d; p1→p2 19.04 d; p2→10-01 00:00 20.5833 d.
    assert_eq!(
        c.account("gh_a", "posts, silent_weeks, longest_gap_days, days_since_last_post, veto_no_update, status"),
        "2,4,20.58,20.58,true,sleeping"
    );
}

#[test]
fn reply_limits_across_weekends_national_day_and_a_make_up_working_day() {
    let registry =
        format!("{REGISTRY_HEADER}甲单位,街道,微信,甲,gh_a,2015-01-01,正常,是,x\n甲单位,街道,微博,乙,wb_b,2015-01-01,正常,是,x\n");
    let messages = format!(
        "{MESSAGES_HEADER}\
微信,gh_a,m1,2019-07-05 16:00,某,2019-07-10 23:59\n\
微信,gh_a,m2,2019-07-05 16:00,某,2019-07-11 00:30\n\
微信,gh_a,m3,2019-09-30 10:00,某,2019-10-10 12:00\n\
微信,gh_a,m4,2019-09-26 10:00,某,2019-10-01 08:00\n\
微信,gh_a,m5,2019-09-30 20:00,某,\n\
微博,wb_b,n1,2019-07-01 09:00,某,2019-07-01 10:00\n\
微博,wb_b,n2,2019-07-02 09:00,某,2019-07-02 11:00\n\
微博,wb_b,n3,2019-07-03 09:00,某,2019-07-03 19:00\n"
    );
    // C = 10-10 12:00. m1 (Fri): limit 3rd working day after = Wed 07-10 → on time at 23:59;
    // m2 at 00:30 on 07-11 is late. m3: 10-01..07 are holidays → limit 10-10, answered at C.
    // m4 (Thu 09-26): 27, Sun 29 (make-up), 30 → limit ended 10-01 00:00: late at 08:00.
    // m5: limit 10-10 ends at 10-11 00:00, after C → pending.
    let c = CsvWarehouse::built(&[("registry", &registry), ("interactions", &messages)], &["--check-point", "2019-10-10T12:00:00+08:00"]);
    assert_eq!(c.account("gh_a", "messages, replied, replied_on_time, pending, overdue, response_rate, on_time_rate"), "5,4,2,1,2,0.8,0.5");
    // Hours 118, 127.98, 128.5, 242: median (even) 128.24; p90 128.5 + 0.7 × 113.5 = 207.95.
    assert_eq!(c.account("gh_a", "median_response_hours, p90_response_hours"), "128.24,207.95");
    // Odd count: 1, 2, 10 → median 2; p90 2 + 0.8 × 8 = 8.4.
    assert_eq!(c.account("wb_b", "median_response_hours, p90_response_hours, overdue"), "2.0,8.4,0");
}

#[test]
fn the_fixtures_build_to_their_planted_facts() {
    let Some(_) = shared_fixtures() else { return };
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    let r = govmedia(&wh, &["run", "pipelines/fixtures.toml"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let account = |id: &str, cols: &str| {
        let rows = sql(&wh, &format!("SELECT {cols} FROM account_quarter_indicators WHERE account_id = '{id}'"));
        assert_eq!(rows.len(), 2, "{id}");
        rows[1].clone()
    };
    let unit = |name: &str, cols: &str| {
        let rows = sql(&wh, &format!("SELECT {cols} FROM unit_quarter_scores WHERE unit_name = '{name}'"));
        assert_eq!(rows.len(), 2, "{name}");
        rows[1].clone()
    };
    // 示例教育: 12 posts, silent weeks of Aug 5, 12, 26; two comments answered, one overdue; a
    // corrected typo; D2019-031 on time; self-inspection July and September on time, August late.
    assert_eq!(
        account("gh_edu000000001", "posts, silent_weeks, messages, replied, overdue, findings_typo, findings_uncorrected"),
        "12,3,3,2,1,1,0"
    );
    assert_eq!(unit("示例区教育局", "directives_on_time, directives_late, directives_missed, self_inspections_on_time, self_inspections_late, self_inspections_missing"), "1,0,0,2,1,0");
    // 东湖街道: two wechat accounts open at C; gh_donghu000001 posts every other week, m1 on
    // time, m2, m3, m5 overdue, m4 pending, the duplicate of m1 dropped; followers 5200 → 5350.
    assert_eq!(unit("东湖街道", "duplicate_platform_accounts, directives_on_time, directives_late, directives_missed, self_inspections_on_time, self_inspections_missing"), "1,1,0,1,1,2");
    assert_eq!(
        account(
            "gh_donghu000001",
            "silent_weeks, messages, replied_on_time, overdue, pending, followers_end, follower_growth, veto_no_update"
        ),
        "5,5,1,3,1,5350,150,false"
    );
    // gh_donghu000002: opened after the notice without a filing, no interaction, last post 08-22.
    assert_eq!(
        account("gh_donghu000002", "unfiled, veto_interaction, veto_no_update, status, days_since_last_post, score"),
        "true,true,true,sleeping,39.63,59.0"
    );
    // 西山镇: last post 08-25, D2019-031 late (26 h), D2019-032 missed, an uncorrected serious
    // error; its 变更 of 09-09 filed 09-17 is on time across the Mid-Autumn holiday.
    assert_eq!(
        account(
            "5000000003",
            "veto_no_update, status, veto_content, findings_serious, findings_uncorrected, late_filings, days_since_last_post"
        ),
        "true,sleeping,true,1,1,0,36.26"
    );
    assert_eq!(unit("西山镇", "directives_late, directives_missed, accounts_vetoed"), "1,1,1");
    // 示例文旅: deregistered 08-01, filed late, never announced, posted 08-15; closed, not graded.
    assert_eq!(
        account("5000000004", "status, score, grade, late_filings, unannounced_closures, active_after_closure, veto_no_update"),
        "closed,,,1,1,true,false"
    );
    assert_eq!(
        unit("示例区文化体育和旅游局", "account_score_avg, unit_deductions, score, criticized, directives_due, self_inspections_missing"),
        ",16.0,84.0,false,0,3"
    );
    // 健康示例: four distinct posts across the two douyin sources.
    assert_eq!(account("71000000001", "posts"), "4");
    // The toutiao account in no register.
    assert_eq!(account("1600000000001", "unit_name, registered, unfiled"), ",false,true");
    // 示例区发布 never posted.
    assert_eq!(account("gh_a1b2c3d4e5f6", "status, veto_no_update, posts, days_since_last_post"), "zombie,true,0,");
    // D2019-031's source post is the government office's: it does not apply to it.
    assert_eq!(unit("示例区人民政府办公室", "directives_due"), "0");

    // The notice's units and their categories.
    let items = sql(&wh, "SELECT DISTINCT coalesce(unit_name, '-') AS unit, category FROM criticism_items ORDER BY 1, 2");
    assert_eq!(
        items,
        vec![
            "unit,category",
            "-,运维管理不规范",
            "-,逾期不更新",
            "东湖街道,互动回应不及时",
            "东湖街道,综合评分不合格",
            "东湖街道,运维管理不规范",
            "东湖街道,逾期不更新",
            "示例区人民政府办公室,逾期不更新",
            "示例区卫生健康局,综合评分不合格",
            "西山镇,信息发布不准确",
            "西山镇,综合评分不合格",
            "西山镇,逾期不更新",
        ]
    );
    assert_eq!(
        sql(&wh, "SELECT evidence FROM criticism_items WHERE account_id = '5000000003' AND category = '逾期不更新'"),
        vec!["evidence", "监测时间点前36.26天无更新"]
    );
    assert_eq!(
        sql(&wh, "SELECT unit_name FROM unit_quarter_scores WHERE criticized ORDER BY unit_name"),
        vec!["unit_name", "东湖街道", "示例区人民政府办公室", "示例区卫生健康局", "西山镇"]
    );
    assert_eq!(
        sql(&wh, "SELECT unit_name, score, rank FROM unit_quarter_scores ORDER BY rank, unit_name"),
        vec![
            "unit_name,score,rank",
            "示例区教育局,84.0,1",
            "示例区文化体育和旅游局,84.0,1",
            "示例区人民政府办公室,70.5,3",
            "示例区卫生健康局,57.0,4",
            "东湖街道,51.0,5",
            "西山镇,47.0,6"
        ]
    );
}

#[test]
fn reach_indices_on_worked_examples() {
    let registry = format!(
        "{REGISTRY_HEADER}甲单位,街道,微信,甲,gh_a,2015-01-01,正常,是,x\n甲单位,街道,微博,乙,wb_b,2015-01-01,正常,是,x\n\
乙单位,街道,今日头条,丙,tt_c,2015-01-01,正常,是,x\n乙单位,街道,今日头条,丁,tt_d,2015-01-01,正常,是,x\n"
    );
    let posts = format!(
        "{POSTS_HEADER}\
微信,gh_a,w1,2019-07-10 10:00,一,原创,,1,1000,10,20,,5,\n\
微信,gh_a,w2,2019-07-10 10:00,二,原创,,2,500,,10,,0,\n\
微博,wb_b,b1,2019-07-10 10:00,一,原创,,,,,10,4,6,\n\
微博,wb_b,b2,2019-07-11 10:00,二,转发,x,,,,2,1,0,\n\
今日头条,tt_c,t1,2019-07-10 10:00,一,原创,,,2300,,20,4,6,\n\
今日头条,tt_d,t2,2019-07-10 10:00,一,原创,,,100,,1,0,0,\n"
    );
    let c = CsvWarehouse::built(&[("registry", &registry), ("posts", &posts)], &[]);
    // WCI: O, A, H (headline = position 1), P over 92 days and 2 posts → 130.148…
    assert_eq!(c.account("gh_a", "reach_index, reach_percentile, reads, wows"), "130.15,0.0,1500,10");
    // BCI: W1 = 0.3 ln 3 + 0.7 ln 2; W2 = 0.2 ln 7 + 0.2 ln 6 + 0.25 ln 7 + 0.25 ln 5 + 0.1 ln 13 → 268.36.
    assert_eq!(c.account("wb_b", "reach_index"), "268.36");
    // Other platforms: 100 (0.7 ln(2300/92 + 1) + 0.3 ln(30/92 + 1)) = 236.53; the better of two toutiao
    // accounts is at the 100th percentile and earns the reach bonus.
    assert_eq!(c.account("tt_c", "reach_index, reach_percentile"), "236.53,100.0");
    assert_eq!(c.account("tt_d", "reach_percentile"), "0.0");
}

#[test]
fn ranks_share_ties_and_vetoed_accounts_score_at_most_59() {
    let mut registry = String::from(REGISTRY_HEADER);
    for (u, a) in [("甲", "tt_a"), ("乙", "tt_b"), ("丙", "tt_c"), ("丁", "tt_d")] {
        registry.push_str(&format!("{u}单位,街道,今日头条,{a},{a},2015-01-01,正常,是,x\n"));
    }
    let mut posts = String::from(POSTS_HEADER);
    // Mondays of 2019Q3: 07-01 … 09-23 (13 weeks).
    let mondays: Vec<chrono::NaiveDate> =
        (0..13).map(|w| chrono::NaiveDate::from_ymd_opt(2019, 7, 1).unwrap() + chrono::Duration::weeks(w)).collect();
    for (w, day) in mondays.iter().enumerate() {
        let d = day.format("%Y-%m-%d");
        posts.push_str(&format!("今日头条,tt_a,a{w},{d} 10:00,a{w},原创,,,900,,,,,\n"));
        // tt_b and tt_c: silent in two weeks (−10) and identical → the same score.
        if w != 3 && w != 4 {
            posts.push_str(&format!("今日头条,tt_b,b{w},{d} 10:00,b{w},原创,,,100,,,,,\n"));
            posts.push_str(&format!("今日头条,tt_c,c{w},{d} 10:00,c{w},原创,,,100,,,,,\n"));
        }
        // tt_d stops after August: 4 silent weeks (−20 → 80) and the two-week veto → 59.
        if w < 9 {
            posts.push_str(&format!("今日头条,tt_d,d{w},{d} 10:00,d{w},原创,,,50,,,,,\n"));
        }
    }
    let inspections = self_inspections(&["甲单位", "乙单位", "丙单位", "丁单位"]);
    let c = CsvWarehouse::built(&[("registry", &registry), ("posts", &posts), ("self_inspections", &inspections)], &[]);
    assert_eq!(c.account("tt_d", "silent_weeks, veto_no_update, score, grade, veto_reasons"), "4,true,59.0,不合格,监测时间点前2周内无更新");
    assert_eq!(c.account("tt_b", "silent_weeks, score, grade"), "2,90.0,优秀");
    assert_eq!(
        c.q("SELECT unit_name, score, rank, grade FROM unit_quarter_scores ORDER BY rank, unit_name"),
        vec!["unit_name,score,rank,grade", "甲单位,100.0,1,优秀", "丙单位,90.0,2,优秀", "乙单位,90.0,2,优秀", "丁单位,59.0,4,不合格"]
    );
    assert_eq!(
        c.q("SELECT accounts_checked, accounts_failed, pass_rate FROM platform_quarter_summary WHERE platform = 'all'"),
        vec!["accounts_checked,accounts_failed,pass_rate", "4,1,75.0"]
    );
}
