//! The shared fixtures (`../shared/fixtures`): every input format, with the facts their README
//! plants. Read in place, never written.

use crate::common::*;
use govmedia::table::{Value, FOLLOWERS, INTERACTIONS, POSTS, REGISTRY};

fn ingested() -> Option<(tempfile::TempDir, std::path::PathBuf)> {
    shared_fixtures()?;
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    let r = govmedia(&wh, &["run", "pipelines/fixtures.toml", "--stages", "ingest"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    Some((dir, wh))
}

#[test]
fn fixtures_stage_the_planted_rows() {
    let Some((_dir, wh)) = ingested() else { return };
    // Posts per account.
    let counts = sql(&wh, "SELECT platform, account_id, count(*) AS n FROM posts GROUP BY 1, 2 ORDER BY 1, 2");
    assert_eq!(
        counts,
        vec![
            "platform,account_id,n",
            "douyin,71000000001,4",
            "toutiao,1600000000001,2",
            "wechat,gh_donghu000001,8",
            "wechat,gh_donghu000002,1",
            "wechat,gh_edu000000001,12",
            "weibo,5000000001,14",
            "weibo,5000000003,4",
            "weibo,5000000004,2",
        ]
    );
    let posts = rows_of(&wh, "posts");
    let at = |id: &str| posts.iter().find(|r| s(get(&POSTS, r, "post_id")) == id).map(|r| get(&POSTS, r, "published_at").clone());
    // Each time style, as a UTC instant.
    assert_eq!(at("dh-0"), Some(Value::Instant(bj("2019-07-02 10:00:00"))), "YYYY/MM/DD HH:MM");
    assert_eq!(at("dh-dir"), Some(Value::Instant(bj("2019-08-20 21:30:00"))), "YYYY年M月D日 HH:MM");
    assert_eq!(at("tt-1"), Some(Value::Instant(1_566_000_000_000_000)), "Unix seconds");
    assert_eq!(at("tt-2"), Some(Value::Instant(1_567_000_000_000_000)), "Unix milliseconds");
    assert_eq!(at("4390000000000001"), Some(Value::Instant(bj("2019-07-01 09:00:00"))), "weibo-crawler 完整日期, id tab trimmed");
    assert_eq!(at("Ia1b2c3d5"), Some(Value::Instant(bj("2019-08-15 20:00:00"))), "weibospider");
    assert_eq!(at("https://mp.weixin.qq.com/s/edu2019q3s0"), Some(Value::Instant(bj("2019-09-02 18:30:00"))), "Excel date cell");
    assert_eq!(at("https://mp.weixin.qq.com/s/edu2019q300"), Some(Value::Instant(bj("2019-07-01 18:30:00"))), "text in xlsx");
    assert_eq!(at("7390000000000000002"), Some(Value::Instant(1_568_779_200_000_000)), "mediacrawler create_time");

    // The repost names its source; the ragged row with an extra cell still loads.
    let repost = posts.iter().find(|r| s(get(&POSTS, r, "post_id")) == "4390000000100003").unwrap();
    assert_eq!(s(get(&POSTS, repost, "kind")), "repost");
    assert_eq!(s(get(&POSTS, repost, "repost_of")), "4390000000009999");
    assert!(posts.iter().any(|r| s(get(&POSTS, r, "post_id")) == "4390000000100002"));

    // 健康示例: 4 distinct posts; the video in both douyin sources is one post whose counts come
    // from MediaCrawler (the later source) where it has them, else from the creator export.
    let shared = posts.iter().find(|r| s(get(&POSTS, r, "title")) == "夏季防暑小知识").unwrap();
    assert_eq!(s(get(&POSTS, shared, "post_id")), "7390000000000000001");
    assert_eq!(get(&POSTS, shared, "likes"), &Value::Int(410));
    assert_eq!(get(&POSTS, shared, "shares"), &Value::Int(1));
    assert_eq!(get(&POSTS, shared, "comments"), &Value::Int(2));
    assert_eq!(get(&POSTS, shared, "reads"), &Value::Int(15320));
    // `-` is NULL, not 0.
    let vaccine = posts.iter().find(|r| s(get(&POSTS, r, "title")) == "疫苗接种须知").unwrap();
    assert_eq!(get(&POSTS, vaccine, "reads"), &Value::Null);

    // Interactions: m1's duplicate dropped; reply times from three formats.
    let msgs = rows_of(&wh, "interactions");
    assert_eq!(msgs.iter().filter(|r| s(get(&INTERACTIONS, r, "message_id")) == "m1").count(), 1);
    assert_eq!(msgs.len(), 13);
    let reply =
        |id: &str| msgs.iter().find(|r| s(get(&INTERACTIONS, r, "message_id")) == id).map(|r| get(&INTERACTIONS, r, "replied_at").clone());
    assert_eq!(reply("c1"), Some(Value::Instant(1_562_310_000_000_000)), "the account's own reply by creator_hash");
    assert_eq!(reply("c2"), Some(Value::Null));
    assert_eq!(reply("comment_list_2415000001:1"), Some(Value::Instant(1_562_635_800_000_000)));
    assert_eq!(reply("m3"), Some(Value::Null));

    // Followers from the three formats.
    let followers = rows_of(&wh, "followers");
    let f = |acct: &str, date: &str| {
        let d = govmedia::time::date_to_days(chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap());
        followers
            .iter()
            .find(|r| s(get(&FOLLOWERS, r, "account_id")) == acct && get(&FOLLOWERS, r, "date") == &Value::Date(d))
            .map(|r| get(&FOLLOWERS, r, "followers").clone())
    };
    assert_eq!(f("gh_donghu000001", "2019-09-30"), Some(Value::Int(5350)));
    assert_eq!(f("5000000003", "2019-09-30"), Some(Value::Int(3301)));
    assert_eq!(f("gh_edu000000001", "2019-06-30"), Some(Value::Int(20319)));

    // Filing dates in three styles; coded values in English.
    let filings = sql(&wh, "SELECT action, action_date, filed_on FROM filings WHERE account_id = '5000000003' ORDER BY action_date");
    assert_eq!(filings, vec!["action,action_date,filed_on", "open,2014-07-07,2014-07-08", "change,2019-09-09,2019-09-17"]);
    let reg = rows_of(&wh, "registry");
    let donghu2 = reg.iter().find(|r| s(get(&REGISTRY, r, "account_id")) == "gh_donghu000002").unwrap();
    assert_eq!(get(&REGISTRY, donghu2, "interaction_enabled"), &Value::Bool(false));
    assert!(reg.iter().any(|r| s(get(&REGISTRY, r, "state")) == "deregistered"));
    assert_eq!(
        sql(&wh, "SELECT month FROM self_inspections WHERE unit_name = '示例区教育局' ORDER BY 1"),
        vec!["month", "2019-07", "2019-08", "2019-09"]
    );

    // The unknown creator is rejected with its reason and line.
    let rejects = sql(&wh, "SELECT source_file, line, reason FROM rejects");
    assert_eq!(rejects.len(), 2, "{rejects:?}");
    assert!(rejects[1].contains("search_contents_2019-09-30.jsonl,3,creator_hash 'ffffffffffffffff' matches no account"), "{rejects:?}");
}

#[test]
fn every_file_reconciles_and_loaded_rows_are_in_staging() {
    let Some((_dir, wh)) = ingested() else { return };
    let files = sql(&wh, "SELECT kind, source_file, read, loaded, rejected, duplicates, merged FROM ingest_files");
    assert_eq!(files.len(), 19, "{files:?}");
    for line in &files[1..] {
        let c: Vec<&str> = line.split(',').collect();
        let n: Vec<i64> = c[2..].iter().map(|x| x.parse().unwrap()).collect();
        assert_eq!(n[0], n[1] + n[2] + n[3] + n[4], "{line}");
        assert!(n[0] > 0, "{line}");
        // Loaded rows are exactly the staging rows from the file.
        let staged = sql(&wh, &format!("SELECT count(*) FROM {} WHERE source_file = '{}'", c[0], c[1]));
        assert_eq!(staged[1], c[3], "{line}");
    }
}

#[test]
fn gbk_csv_and_xlsx_registers_stage_identically() {
    let Some(fx) = shared_fixtures() else { return };
    let dir = tempfile::tempdir().unwrap();
    let strip = |rows: Vec<Vec<Value>>| -> Vec<Vec<Value>> {
        rows.into_iter()
            .map(|mut r| {
                r.truncate(REGISTRY.index("source_file"));
                r
            })
            .collect()
    };
    let mut registers = Vec::new();
    for file in ["registry/台账_2019Q3.xlsx", "registry/台账_2019Q3_gbk.csv"] {
        let wh = dir.path().join(file.replace('/', "_"));
        let r = govmedia(&wh, &["ingest", "registry", "canonical", fx.join(file).to_str().unwrap()]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        registers.push(strip(rows_of(&wh, "registry")));
    }
    assert_eq!(registers[0].len(), 8);
    assert_eq!(registers[0], registers[1]);
}

#[test]
fn ingesting_twice_changes_nothing() {
    let Some((_dir, wh)) = ingested() else { return };
    let first = staging(&wh);
    let r = govmedia(&wh, &["run", "pipelines/fixtures.toml", "--stages", "ingest"]);
    assert_eq!(r.code, 0);
    assert_eq!(staging(&wh), first);
}

#[test]
fn bad_files_give_clear_errors_or_rejected_rows() {
    let Some(fx) = shared_fixtures() else { return };
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    let bad = |f: &str| fx.join("bad").join(f).to_str().unwrap().to_string();
    // The register first, so MediaCrawler rows can find their account.
    let r = govmedia(&wh, &["ingest", "registry", "canonical", fx.join("registry/台账_2019Q3.xlsx").to_str().unwrap()]);
    assert_eq!(r.code, 0);

    let r = govmedia(&wh, &["ingest", "posts", "canonical", &bad("posts_bad_values.csv")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for reason in [
        "line 2: 发布时间 '2019-13-45 25:61' is not a time",
        "line 3: 阅读数 '-5' is negative",
        "line 4: 平台 '火星平台' is not a known platform",
        "line 5: 账号ID is empty",
    ] {
        assert!(r.stderr.contains(reason), "{reason}\n{}", r.stderr);
    }
    assert_eq!(sql(&wh, "SELECT post_id FROM posts"), vec!["post_id", "x5"], "the good row loads");

    let r = govmedia(&wh, &["ingest", "registry", "canonical", &bad("registry_missing_account_id.csv")]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("registry_missing_account_id.csv: missing required column(s) 账号ID (account_id)"), "{}", r.stderr);
    assert_eq!(rows_of(&wh, "registry").len(), 8, "a register file that cannot be read does not empty the register");

    let r = govmedia(&wh, &["ingest", "posts", "mediacrawler", &bad("truncated.jsonl"), "--platform", "douyin"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("truncated.jsonl line 2: not valid JSON"), "{}", r.stderr);
    assert_eq!(sql(&wh, "SELECT count(*) FROM posts WHERE post_id = '1'")[1], "1", "line 1 loads");

    let r = govmedia(&wh, &["ingest", "posts", "canonical", &bad("empty.csv"), &bad("not_utf8_or_gbk.csv")]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("empty.csv: the file is empty"), "{}", r.stderr);
    assert!(r.stderr.contains("not_utf8_or_gbk.csv: the file is neither UTF-8 nor GB18030/GBK"), "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"));

    // Every file of every run reconciles.
    let files = sql(&wh, "SELECT read - loaded - rejected - duplicates - merged FROM ingest_files");
    assert!(files[1..].iter().all(|d| d == "0"), "{files:?}");
}

#[test]
fn no_message_text_or_author_reaches_the_warehouse() {
    let Some((_dir, wh)) = ingested() else { return };
    let secrets = [
        "请问社区卫生服务点开放时间",
        "小区路灯坏了",
        "居民甲",
        "居民乙",
        "居民丙",
        "oABC123",
        "oDEF456",
        "1111aaaa2222bbbb",
        "3333cccc4444dddd",
        "社区医生能打疫苗吗",
        "用***户",
    ];
    let mut scanned = 0;
    for entry in walk(&wh) {
        let bytes = std::fs::read(&entry).unwrap();
        let mut texts = vec![String::from_utf8_lossy(&bytes).into_owned()];
        if entry.extension().is_some_and(|e| e == "parquet") {
            texts.push(decoded_strings(&bytes));
        }
        for t in &texts {
            for secret in secrets {
                assert!(!t.contains(secret), "{secret} found in {}", entry.display());
            }
        }
        scanned += 1;
    }
    assert!(scanned > 10);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p))
        } else {
            out.push(p)
        }
    }
    out
}

/// Every string value of a Parquet file, decompressed.
fn decoded_strings(bytes: &[u8]) -> String {
    use arrow::array::Array;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::copy_from_slice(bytes))
        .unwrap()
        .build()
        .unwrap();
    let mut out = String::new();
    for batch in reader {
        let batch = batch.unwrap();
        for col in batch.columns() {
            if let Some(a) = col.as_any().downcast_ref::<arrow::array::StringArray>() {
                for i in 0..a.len() {
                    if a.is_valid(i) {
                        out.push_str(a.value(i));
                        out.push('\n');
                    }
                }
            }
        }
    }
    out
}

/// `govmedia watch` on the fixtures at a point mid-quarter and on the quarter's last day: every
/// warning as (unit, account id, kind, status, deadline), in the order the list gives them.
/// Worked out from the README's planted facts: 东湖街道's m3 (Mon 08-05, unanswered) is due at the
/// end of 08-08; its m5 (Thu 09-26) is due at the end of 09-30 only because 09-29 was a make-up
/// working day, so on 09-30 at noon it is due within the --within window; m2 was answered late and
/// m4's limit lies after the National Day holiday, so neither is a warning. gh_donghu000002 (opened
/// 08-19) should have filed by 08-26 (5 working days) and last posted 08-22 09:00 (veto from
/// 09-05 09:00); 西山镇 last posted 08-25 17:45. 示例教育 published its September self-inspection
/// between the two points; no unit had by 09-30.
#[test]
fn watch_lists_the_fixtures_warnings_at_two_points() {
    let Some((_dir, wh)) = ingested() else { return };
    let list = |as_of: &str| -> (i32, Vec<[String; 5]>) {
        let r = govmedia(&wh, &["watch", "--as-of", as_of, "--format", "csv"]);
        let mut rows = csv::ReaderBuilder::new().from_reader(r.stdout.trim_start_matches('\u{feff}').as_bytes());
        let rows = rows
            .records()
            .map(|row| {
                let row = row.unwrap();
                [0, 3, 4, 5, 6].map(|i| row.get(i).unwrap_or_default().to_string())
            })
            .collect();
        (r.code, rows)
    };
    let expect = |rows: &[(&str, &str, &str, &str, &str)]| -> Vec<[String; 5]> {
        rows.iter().map(|(a, b, c, d, e)| [a, b, c, d, e].map(|s| s.to_string())).collect()
    };
    let (code, mid) = list("2019-09-17T09:00:00+08:00");
    assert_eq!(code, 3, "warnings past due: exit 3");
    let soon = "即将到期";
    let past = "已逾期";
    let sept25 = "2019年9月25日24时";
    assert_eq!(
        mid,
        expect(&[
            ("示例区人民政府办公室", "gh_a1b2c3d4e5f6", "逾期不更新", past, "立即"),
            ("示例区人民政府办公室", "", "自查情况未公开", soon, sept25),
            ("示例区文化体育和旅游局", "5000000004", "关停未公告", past, "立即"),
            ("示例区文化体育和旅游局", "", "自查情况未公开", soon, sept25),
            ("（未纳入台账的账号）", "1600000000001", "账号未备案", past, "立即"),
            ("（未纳入台账的账号）", "1600000000001", "逾期不更新", past, "2019年9月11日21时46分"),
            ("东湖街道", "gh_donghu000001", "留言超期未回复", past, "2019年8月8日24时"),
            ("东湖街道", "gh_donghu000002", "账号未备案", past, "2019年8月26日24时"),
            ("东湖街道", "gh_donghu000002", "留言超期未回复", past, "2019年8月28日24时"),
            ("东湖街道", "gh_donghu000002", "逾期不更新", past, "2019年9月5日9时"),
            ("东湖街道", "", "自查情况未公开", soon, sept25),
            ("示例区教育局", "gh_edu000000001", "留言超期未回复", past, "2019年9月5日24时"),
            ("示例区教育局", "", "自查情况未公开", soon, sept25),
            ("西山镇", "5000000003", "逾期不更新", past, "2019年9月8日17时45分"),
            ("西山镇", "", "自查情况未公开", soon, sept25),
            ("示例区卫生健康局", "71000000001", "逾期不更新", past, "2019年9月13日12时"),
            ("示例区卫生健康局", "", "自查情况未公开", soon, sept25),
        ])
    );
    let (code, last) = list("2019-09-30T12:00:00+08:00");
    assert_eq!(code, 3);
    assert_eq!(
        last,
        expect(&[
            ("示例区人民政府办公室", "gh_a1b2c3d4e5f6", "逾期不更新", past, "立即"),
            ("示例区人民政府办公室", "", "自查情况未公开", past, sept25),
            ("示例区文化体育和旅游局", "5000000004", "关停未公告", past, "立即"),
            ("示例区文化体育和旅游局", "", "自查情况未公开", past, sept25),
            ("（未纳入台账的账号）", "1600000000001", "账号未备案", past, "立即"),
            ("（未纳入台账的账号）", "1600000000001", "逾期不更新", past, "2019年9月11日21时46分"),
            ("东湖街道", "gh_donghu000001", "留言超期未回复", past, "2019年8月8日24时"),
            ("东湖街道", "gh_donghu000002", "账号未备案", past, "2019年8月26日24时"),
            ("东湖街道", "gh_donghu000002", "留言超期未回复", past, "2019年8月28日24时"),
            ("东湖街道", "gh_donghu000002", "逾期不更新", past, "2019年9月5日9时"),
            ("东湖街道", "", "自查情况未公开", past, sept25),
            ("东湖街道", "gh_donghu000001", "留言即将到期", soon, "2019年9月30日24时"),
            ("示例区教育局", "gh_edu000000001", "留言超期未回复", past, "2019年9月5日24时"),
            ("西山镇", "5000000003", "逾期不更新", past, "2019年9月8日17时45分"),
            ("西山镇", "", "自查情况未公开", past, sept25),
            ("示例区卫生健康局", "71000000001", "留言超期未回复", past, "2019年9月23日24时"),
            ("示例区卫生健康局", "", "自查情况未公开", past, sept25),
            ("示例区卫生健康局", "71000000001", "逾期不更新", soon, "2019年10月2日12时"),
        ])
    );
}
