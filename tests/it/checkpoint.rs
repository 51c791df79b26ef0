//! As of the check point (SPEC §5): a build with C inside the quarter sees the world as it stood at
//! C, whatever the exports say about later days. One quarter's exports run past
//! C = 2019-09-17 09:00; each rule of "As of C" has a planted case, checked at C and at the
//! quarter's end.

use crate::common::*;
use std::path::Path;

const C: &str = "2019-09-17T09:00:00+08:00";

/// The register as read at C: wb_close was still open then.
const REGISTRY: &str = "单位名称,单位类别,平台,账号名称,账号ID,开设日期,状态,互动功能,运维责任人\n\
发现单位,街道,微信,发现,gh_find,2015-01-01,正常,是,x\n\
关停单位,街道,微博,关停,wb_close,2015-01-01,正常,是,x\n\
关停单位,街道,微博,已关,wb_after,2015-01-01,关停,是,x\n\
关停单位,街道,微博,后发,wb_late,2015-01-01,关停,是,x\n\
备案单位,街道,微信,变更,gh_chg,2015-01-01,正常,是,x\n\
备案单位,街道,抖音,新开,dy_new,2019-09-02,正常,是,x\n\
留言单位,街道,微信,留言,gh_msg,2015-01-01,正常,是,x\n\
留言单位,街道,微博,留言二,wb_msg,2015-01-01,正常,是,x\n\
自查单位,街道,今日头条,自查,tt_self,2015-01-01,正常,是,x\n";

/// The exports as they stood at C.
const BEFORE: &[(&str, &str)] = &[
    ("registry", REGISTRY),
    (
        "filings",
        "单位名称,平台,账号ID,账号名称,事项,事项日期,备案日期,公告日期\n\
关停单位,微博,wb_close,关停,开设,2015-01-01,2015-01-02,2015-01-02\n\
关停单位,微博,wb_after,已关,关停,2019-09-02,2019-09-03,\n\
关停单位,微博,wb_late,后发,关停,2019-09-05,2019-09-06,2019-09-06\n\
备案单位,微信,gh_chg,变更,变更,2019-09-12,,\n\
备案单位,抖音,dy_new,新开,开设,2019-09-02,,\n",
    ),
    (
        "posts",
        "平台,账号ID,发布ID,发布时间,标题,类型,转发源ID,位置,阅读数,在看数,点赞数,评论数,转发数,链接\n\
微博,wb_after,a1,2019-09-10 10:00,闭后一,原创,,,,,,,,\n\
微信,gh_find,f1,2019-09-16 10:00,发现一,原创,,1,,,,,,\n\
今日头条,tt_seen,s1,2019-09-16 10:00,见一,原创,,,,,,,,\n\
今日头条,tt_self,t1,2019-09-16 10:00,自查一,原创,,,,,,,,\n\
微博,wb_msg,w1,2019-09-16 10:00,留言一,原创,,,,,,,,\n",
    ),
    (
        "interactions",
        "平台,账号ID,留言ID,留言时间,留言人,回复时间\n\
微信,gh_msg,m1,2019-09-05 10:00,某,\n\
微信,gh_msg,m2,2019-09-05 11:00,某,\n\
微信,gh_msg,m3,2019-09-16 10:00,某,\n\
微信,gh_msg,m4,2019-09-16 11:00,某,\n\
微信,gh_msg,m5,2019-09-16 12:00,某,\n\
微博,wb_msg,n1,2019-09-05 10:00,某,\n\
微博,wb_msg,n2,2019-09-05 11:00,某,\n\
微博,wb_msg,n3,2019-09-05 12:00,某,\n\
微博,wb_msg,n4,2019-09-16 10:00,某,\n\
微博,wb_msg,n5,2019-09-06 10:00,某,\n",
    ),
    ("findings", "平台,账号ID,发布ID,发现日期,问题类型,整改日期,说明\n微信,gh_find,f1,2019-09-17,错别字,,\n"),
    ("followers", "平台,账号ID,日期,粉丝数\n微信,gh_find,2019-06-30,50\n微信,gh_find,2019-09-17,200\n"),
    ("self_inspections", "单位名称,月份,公开日期\n自查单位,2019-07,2019-07-20\n自查单位,2019-08,2019-08-28\n"),
];

/// What the exports add after C: later posts, messages, replies, findings, follower counts, a
/// directive, a self-inspection, a closure, and filings re-exported with their filed_on and
/// announced_on filled in. The register read after C (it marks wb_close 关停) comes with them:
/// [`ingest_after`].
const AFTER: &[(&str, &str)] = &[
    (
        "filings",
        "单位名称,平台,账号ID,账号名称,事项,事项日期,备案日期,公告日期\n\
关停单位,微博,wb_close,关停,关停,2019-09-20,,\n\
关停单位,微博,wb_after,已关,关停,2019-09-02,2019-09-03,2019-09-25\n\
备案单位,微信,gh_chg,变更,变更,2019-09-12,2019-09-30,\n\
备案单位,抖音,dy_new,新开,开设,2019-09-02,2019-09-25,\n",
    ),
    (
        "posts",
        "平台,账号ID,发布ID,发布时间,标题,类型,转发源ID,位置,阅读数,在看数,点赞数,评论数,转发数,链接\n\
微博,wb_late,l1,2019-09-20 10:00,闭后二,原创,,,,,,,,\n\
今日头条,tt_ghost,g1,2019-09-20 10:00,鬼一,原创,,,,,,,,\n",
    ),
    (
        "interactions",
        "平台,账号ID,留言ID,留言时间,留言人,回复时间\n\
微信,gh_msg,m6,2019-09-18 10:00,某,\n\
微博,wb_msg,n5,2019-09-06 10:00,某,2019-09-20 10:00\n",
    ),
    ("findings", "平台,账号ID,发布ID,发现日期,问题类型,整改日期,说明\n微信,gh_find,f1,2019-09-18,严重表述错误,,\n"),
    ("followers", "平台,账号ID,日期,粉丝数\n微信,gh_find,2019-09-18,300\n"),
    ("self_inspections", "单位名称,月份,公开日期\n自查单位,2019-09,2019-09-20\n"),
    ("directives", "指令ID,标题,源平台,源发布ID,发布时间,时限小时,适用单位\nD1,某通知,微博,x9,2019-09-18 10:00,12,\n"),
];

/// The marts a build writes, every row of the quarter, sorted.
const MARTS: &[&str] = &[
    "account_quarter_indicators",
    "unit_quarter_scores",
    "platform_quarter_summary",
    "criticism_items",
    "account_weekly_posts",
    "directive_reposts",
];

/// The exports dated after C, and the register as read after C.
fn ingest_after(w: &mut CsvWarehouse) {
    w.ingest(AFTER);
    let later = REGISTRY.replace("wb_close,2015-01-01,正常", "wb_close,2015-01-01,关停");
    assert_ne!(later, REGISTRY);
    w.ingest(&[("registry", &later)]);
}

fn marts(wh: &Path) -> Vec<(String, Vec<String>)> {
    MARTS
        .iter()
        .map(|m| {
            let mut rows = sql(wh, &format!("SELECT * FROM {m} WHERE quarter = '2019Q3'"));
            rows[1..].sort();
            (m.to_string(), rows)
        })
        .collect()
}

#[test]
fn a_check_point_inside_the_quarter_sees_the_world_as_it_stood_then() {
    let mut w = CsvWarehouse::new();
    w.ingest(BEFORE);
    ingest_after(&mut w);

    // At the quarter's end everything in the exports has happened.
    w.build_at(None);
    // gh_find: the typo of 09-17 and the serious error of 09-18, both past their limits; followers 300.
    assert_eq!(
        w.account("gh_find", "findings_typo, findings_serious, findings_uncorrected, veto_content, followers_end, follower_growth"),
        "1,1,2,true,300,250"
    );
    // wb_close: closed 09-20, never filed or announced.
    assert_eq!(w.account("wb_close", "status, score, late_filings, unannounced_closures"), "closed,,1,1");
    // wb_after: closed 09-02, announced 09-25.
    assert_eq!(w.account("wb_after", "status, unannounced_closures, active_after_closure"), "closed,0,true");
    // wb_late: closed 09-05, posted 09-20.
    assert_eq!(w.account("wb_late", "status, active_after_closure"), "closed,true");
    // gh_chg: the 变更 of 09-12 (limit 09-20 across the Mid-Autumn holiday) filed 09-30.
    assert_eq!(w.account("gh_chg", "late_filings"), "1");
    // dy_new: opened 09-02, filed 09-25 (limit 09-09).
    assert_eq!(w.account("dy_new", "unfiled, late_filings"), "false,1");
    // tt_ghost: in no register, posted 09-20.
    assert_eq!(w.account("tt_ghost", "registered, posts"), "false,1");
    // gh_msg: six messages, none answered, all due.
    assert_eq!(w.account("gh_msg", "messages, replied, pending, overdue, veto_interaction"), "6,0,0,6,true");
    // wb_msg: n5 answered 09-20 (late).
    assert_eq!(w.account("wb_msg", "messages, replied, pending, veto_interaction"), "5,1,0,false");
    // July on time, August late, September on time.
    assert_eq!(w.unit("自查单位", "self_inspections_on_time, self_inspections_late, self_inspections_missing"), "2,1,0");
    assert_eq!(w.q("SELECT count(*) AS n FROM directive_reposts WHERE directive_id = 'D1'")[1], "5");

    // At C = 09-17 09:00.
    w.build_at(Some(C));
    // The finding dated 09-17 (its 00:00 before C) counts, the one of 09-18 does not; neither
    // limit has ended. The count dated 09-17 is the latest.
    assert_eq!(
        w.account(
            "gh_find",
            "findings_typo, findings_serious, findings_uncorrected, veto_content, veto_reasons, followers_end, follower_growth"
        ),
        "1,0,0,false,,200,150"
    );
    // wb_close: its only closure is after C: the register (read after C) says 关停, but at C it
    // was open: in scope, graded, no closure to file or announce.
    assert_eq!(w.account("wb_close", "status, late_filings, unannounced_closures, active_after_closure"), "zombie,0,0,false");
    assert_ne!(w.account("wb_close", "score"), "");
    // wb_after: its announcement of 09-25 reads as empty at C.
    assert_eq!(w.account("wb_after", "status, unannounced_closures, active_after_closure"), "closed,1,true");
    // wb_late: its post after closure came after C.
    assert_eq!(w.account("wb_late", "status, active_after_closure"), "closed,false");
    // gh_chg: filed_on 09-30 reads as empty, and the limit (09-20) has not ended: not late yet.
    assert_eq!(w.account("gh_chg", "late_filings"), "0");
    // dy_new: not filed at C; its limit ended 09-10 00:00, so late already.
    assert_eq!(w.account("dy_new", "unfiled, late_filings"), "true,1");
    // tt_ghost's only post is after C: out of scope (not a zombie, not counted as failed); tt_seen
    // posted before C.
    assert!(!w.has_account("tt_ghost"));
    assert_eq!(w.account("tt_seen", "registered, posts"), "false,1");
    assert_eq!(w.q("SELECT accounts_checked FROM platform_quarter_summary WHERE platform = 'toutiao'"), vec!["accounts_checked", "2"]);
    // gh_msg: two messages due and unanswered, three received the day before C not yet due: no
    // veto (at least three must be due).
    assert_eq!(w.account("gh_msg", "messages, replied, pending, overdue, veto_interaction"), "5,0,3,2,false");
    // wb_msg: four due (n5's answer came after C), one pending, none answered: vetoed.
    assert_eq!(w.account("wb_msg", "messages, replied, pending, overdue, veto_interaction, veto_reasons"), "5,0,1,4,true,互动回应差");
    // July and August are assessed (their 25th ended before C), September is not.
    assert_eq!(w.unit("自查单位", "self_inspections_on_time, self_inspections_late, self_inspections_missing"), "1,1,0");
    // D1 was published after C.
    assert_eq!(w.q("SELECT count(*) AS n FROM directive_reposts"), vec!["n", "0"]);
}

#[test]
fn exports_dated_after_the_check_point_leave_a_build_at_it_unchanged() {
    let mut w = CsvWarehouse::new();
    w.ingest(BEFORE);
    w.build_at(Some(C));
    let at_c = marts(&w.wh);
    assert_eq!(at_c[0].1.len(), 1 + 9 + 1, "nine register accounts and tt_seen: {:?}", at_c[0].1);

    ingest_after(&mut w);
    // The later exports are in the warehouse (the re-exported rows replaced the earlier ones) …
    assert_eq!(w.q("SELECT count(*) AS n FROM findings"), vec!["n", "2"]);
    assert_eq!(w.q("SELECT count(*) AS n FROM filings WHERE announced_on = DATE '2019-09-25'"), vec!["n", "1"]);
    assert_eq!(w.q("SELECT count(*) AS n FROM interactions WHERE replied_at IS NOT NULL"), vec!["n", "1"]);
    // … and the build at C is the same, mart by mart, row by row.
    w.build_at(Some(C));
    let again = marts(&w.wh);
    for ((name, before), (_, after)) in at_c.iter().zip(&again) {
        assert_eq!(before, after, "{name} changed when exports dated after C were added");
    }
}

#[test]
fn self_inspection_months_and_follower_counts_end_at_midnight() {
    let mut w = CsvWarehouse::new();
    w.ingest(&[
        ("registry", "单位名称,单位类别,平台,账号名称,账号ID,开设日期,状态,互动功能,运维责任人\n自查单位,街道,微信,自查,gh_self,2015-01-01,正常,是,x\n"),
        ("self_inspections", "单位名称,月份,公开日期\n自查单位,2019-07,2019-07-20\n自查单位,2019-08,2019-08-25\n"),
        ("followers", "平台,账号ID,日期,粉丝数\n微信,gh_self,2019-06-30,50\n微信,gh_self,2019-08-25,80\n微信,gh_self,2019-08-26,90\n"),
    ]);
    let months = "self_inspections_on_time, self_inspections_late, self_inspections_missing";
    // A second before August 26: August's 25th has not ended, only July is assessed.
    w.build_at(Some("2019-08-25T23:59:59+08:00"));
    assert_eq!(w.unit("自查单位", months), "1,0,0");
    assert_eq!(w.account("gh_self", "followers_end"), "80");
    // At 08-26 00:00 it has ended: August is assessed (published on the 25th, on time). The count
    // dated 08-26 is dated on a day whose 00:00 is not before C: it does not count yet.
    w.build_at(Some("2019-08-26T00:00:00+08:00"));
    assert_eq!(w.unit("自查单位", months), "2,0,0");
    assert_eq!(w.account("gh_self", "followers_end, follower_growth"), "80,30");
}
