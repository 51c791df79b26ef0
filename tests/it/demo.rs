//! The project's own data: the generated demo district in every real format, and small bad files
//! written by the tests themselves (a fresh clone has no shared fixtures).

use crate::common::*;

fn generated(seed: &str) -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let wh = dir.path().join("wh");
    let r = govmedia(&wh, &["generate", "--out", out.to_str().unwrap(), "--seed", seed]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    (dir, out, wh)
}

#[test]
fn the_demo_district_ingests_completely_and_reconciles() {
    let (_dir, out, wh) = generated("7");
    let r = govmedia(&wh, &["run", out.join("pipeline.toml").to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    // No file fails and no row is rejected: every format the generator writes is read.
    assert_eq!(sql(&wh, "SELECT count(*) FROM rejects")[1], "0");
    let by_format = sql(&wh, "SELECT format, sum(read) - sum(loaded) - sum(rejected) - sum(duplicates) - sum(merged) AS gap, sum(loaded) > 0 AS some FROM ingest_files GROUP BY 1 ORDER BY 1");
    assert_eq!(by_format.len(), 10, "{by_format:?}");
    for line in &by_format[1..] {
        // The creator export's videos are all merged into MediaCrawler's (the later source).
        let want = if line.starts_with("douyin-creator") { ",0,false" } else { ",0,true" };
        assert!(line.ends_with(want), "{line}");
    }
    // Every douyin video is in both douyin exports and is staged once.
    let dup = sql(&wh, "SELECT count(*) FROM (SELECT account_id, title, published_at FROM posts GROUP BY 1, 2, 3 HAVING count(*) > 1)");
    assert_eq!(dup[1], "0");
    let merged = sql(&wh, "SELECT sum(merged) FROM ingest_files WHERE format = 'douyin-creator'")[1].clone();
    let aliases = sql(&wh, "SELECT count(*) FROM post_aliases")[1].clone();
    assert_eq!(merged, aliases);
    // The planted unregistered account posts, and its posts are staged.
    let planted: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("planted.json")).unwrap()).unwrap();
    let unregistered = planted.as_array().unwrap().iter().find(|p| p["unit_name"].is_null()).unwrap();
    let id = unregistered["account_id"].as_str().unwrap();
    assert!(sql(&wh, &format!("SELECT count(*) FROM posts WHERE account_id = '{id}'"))[1].parse::<i64>().unwrap() > 10);
    assert_eq!(sql(&wh, &format!("SELECT count(*) FROM registry WHERE account_id = '{id}'"))[1], "0");
    // Message authors are hashed: none of the generated names is stored.
    assert_eq!(sql(&wh, "SELECT count(*) FROM interactions WHERE author LIKE '市民%'")[1], "0");
    assert_eq!(sql(&wh, "SELECT min(length(author)) FROM interactions")[1], "64");
}

#[test]
fn the_generator_is_deterministic_for_a_seed() {
    let (_a, out_a, _) = generated("11");
    let (_b, out_b, _) = generated("11");
    let (_c, out_c, _) = generated("12");
    let read = |d: &std::path::Path, f: &str| std::fs::read(d.join(f)).unwrap();
    for f in ["filings/备案记录.csv", "interactions/canonical/留言办理.csv", "posts/canonical/头条号发布记录.csv", "planted.json"]
    {
        assert_eq!(read(&out_a, f), read(&out_b, f), "{f}");
    }
    assert_ne!(read(&out_a, "interactions/canonical/留言办理.csv"), read(&out_c, "interactions/canonical/留言办理.csv"));
}

#[test]
fn bad_files_of_our_own_are_reported_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let wh = d.join("wh");
    std::fs::write(d.join("empty.csv"), b"").unwrap();
    std::fs::write(d.join("binary.csv"), b"\xff\xfe\x00\x00\x80\x81garbage\xc3(").unwrap();
    std::fs::write(d.join("no_id.csv"), "\u{feff}单位名称,平台,账号名称\r\n某单位,微博,某账号\r\n").unwrap();
    let (gbk, _, _) = encoding_rs::GBK.encode("平台,账号ID,发布ID,发布时间,标题,阅读数\r\n微博,1,a,2019-07-01 10:00,好,5\r\n微博,1,b,2019-02-30 10:00,坏日期,5\r\n抖音,1,c,2019-07-01 10:00,负数,-1\r\n");
    std::fs::write(d.join("posts_gbk.csv"), &gbk).unwrap();
    let r = govmedia(&wh, &["ingest", "posts", "canonical", d.join("*.csv").to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("empty.csv: the file is empty"), "{}", r.stderr);
    assert!(r.stderr.contains("binary.csv: the file is neither UTF-8 nor GB18030/GBK"), "{}", r.stderr);
    assert!(
        r.stderr.contains("no_id.csv: missing required column(s) 账号ID (account_id), 发布ID (post_id), 发布时间 (published_at)"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("posts_gbk.csv line 3: 发布时间 '2019-02-30 10:00' is not a time"), "{}", r.stderr);
    assert!(r.stderr.contains("posts_gbk.csv line 4: 阅读数 '-1' is negative"), "{}", r.stderr);
    assert_eq!(sql(&wh, "SELECT post_id, title FROM posts"), vec!["post_id,title", "a,好"]);
    let files = sql(&wh, "SELECT source_file, status, read, loaded, rejected FROM ingest_files ORDER BY 1");
    assert_eq!(files[1..].len(), 4);
    assert!(
        files.contains(&"posts_gbk.csv,ok,3,1,2".to_string()) || files.iter().any(|l| l.ends_with("posts_gbk.csv,ok,3,1,2")),
        "{files:?}"
    );
    assert!(!r.stderr.contains("panicked"));
}

#[test]
fn the_demo_builds_and_its_planted_problems_are_criticised() {
    let (_dir, out, wh) = generated("2019");
    let r = govmedia(&wh, &["run", out.join("pipeline.toml").to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let planted: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("planted.json")).unwrap()).unwrap();
    let items = sql(&wh, "SELECT coalesce(unit_name, '-'), coalesce(account_id, '-'), category FROM criticism_items");
    let mut checked = 0;
    for p in planted.as_array().unwrap() {
        let category = p["category"].as_str().unwrap();
        let unit = p["unit_name"].as_str().unwrap_or("-");
        let account = p["account_id"].as_str().unwrap_or("-");
        if category == "deduction" {
            // Deductions lower the unit's score; they are not criticism on their own.
            let deducted = sql(&wh, &format!("SELECT unit_deductions > 0 FROM unit_quarter_scores WHERE unit_name = '{unit}'"));
            assert_eq!(deducted.get(1).map(String::as_str), Some("true"), "{p}");
        } else {
            let want = format!("{unit},{account},{category}");
            assert!(items.contains(&want), "planted {want} not in criticism_items: {items:?}");
        }
        checked += 1;
    }
    assert!(checked >= 20);
}

#[test]
fn quarters_live_side_by_side_and_a_rebuild_replaces_only_its_own() {
    let (_dir, out, wh) = generated("5");
    let r = govmedia(&wh, &["run", out.join("pipeline.toml").to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = govmedia(&wh, &["build", "--quarter", "2019Q4"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let per_quarter = "SELECT quarter, count(*) AS n FROM account_quarter_indicators GROUP BY quarter ORDER BY quarter";
    let before = sql(&wh, per_quarter);
    assert_eq!(before.len(), 3, "{before:?}");
    let q4 = sql(&wh, "SELECT * FROM unit_quarter_scores WHERE quarter = '2019Q4' ORDER BY unit_name");
    // Rebuild 2019Q3 with another check point: 2019Q4 is untouched, 2019Q3 replaced (not doubled).
    let r = govmedia(&wh, &["build", "--quarter", "2019Q3", "--check-point", "2019-09-15T00:00:00+08:00"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(sql(&wh, "SELECT * FROM unit_quarter_scores WHERE quarter = '2019Q4' ORDER BY unit_name"), q4);
    assert_eq!(sql(&wh, per_quarter), before);
    // A check point at the quarter's start is refused.
    let r = govmedia(&wh, &["build", "--quarter", "2019Q3", "--check-point", "2019-07-01T00:00:00+08:00"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("at or before the start of 2019Q3"), "{}", r.stderr);
}
