//! The benchmark tiers: a generated tier's export files ingest back to the same staging rows.

use crate::common::*;

#[test]
fn a_tiers_export_files_ingest_back_to_its_staging_rows() {
    let dir = tempfile::tempdir().unwrap();
    let generated = dir.path().join("generated");
    let exports = dir.path().join("exports");
    let r = govmedia(&generated, &["generate", "--tier", "district", "--seed", "3", "--exports", exports.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("export files"), "{}", r.stdout);

    let ingested = dir.path().join("ingested");
    for kind in ["registry", "posts", "interactions"] {
        let files = exports.join(kind).join("*.csv");
        let r = govmedia(&ingested, &["ingest", kind, "canonical", files.to_str().unwrap()]);
        assert_eq!(r.code, 0, "{kind}: {}", r.stderr);
        assert!(r.stdout.contains(" 0 rejected + 0 duplicates"), "{kind}: {}", r.stdout);
    }

    let queries = [
        "SELECT unit_name, unit_type, platform, account_id, account_name, opened_on, state, interaction_enabled, city, district \
         FROM registry ORDER BY platform, account_id",
        "SELECT platform, post_id, account_id, published_at, title, kind, repost_of, position, reads, wows, likes, comments, shares \
         FROM posts ORDER BY platform, post_id",
        "SELECT platform, account_id, message_id, channel, received_at, replied_at \
         FROM interactions ORDER BY platform, account_id, message_id",
    ];
    for q in queries {
        let a = sql(&generated, q);
        let b = sql(&ingested, q);
        assert!(a.len() > 100, "{q}: only {} rows", a.len());
        assert_eq!(a.len(), b.len(), "{q}");
        if let Some((x, y)) = a.iter().zip(&b).find(|(x, y)| x != y) {
            panic!("{q}:\n generated {x}\n ingested  {y}");
        }
    }
}

#[test]
fn a_tiers_exports_in_the_platforms_formats_ingest_back_to_every_post_and_message() {
    let dir = tempfile::tempdir().unwrap();
    let generated = dir.path().join("generated");
    let exports = dir.path().join("exports");
    let args = ["generate", "--tier", "district", "--seed", "3", "--exports", exports.to_str().unwrap(), "--formats", "platform"];
    let r = govmedia(&generated, &args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("in the platforms' formats"), "{}", r.stdout);
    // The platforms' own formats, not canonical CSV: workbooks, JSON lines, comment lists, crawler CSV.
    for folder in ["posts/wechat-mp", "posts/douyin-creator", "posts/mediacrawler", "posts/weibo-crawler", "interactions/wechat-comments"] {
        assert!(exports.join(folder).read_dir().is_ok_and(|mut d| d.next().is_some()), "nothing in {folder}");
    }

    let ingested = dir.path().join("ingested");
    let pipeline = exports.join("pipeline.toml");
    let r = govmedia(&ingested, &["run", pipeline.to_str().unwrap(), "--stages", "ingest"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains(" 0 rejected + 0 duplicates"), "{}", r.stdout);
    // Every post and message comes back once, with its account and its times (the Douyin creator
    // centre's workbook rows merge into MediaCrawler's videos; a WeChat comment's id is its
    // article's and its number in the list, as the format names it).
    let queries = [
        "SELECT platform, account_id, count(*) AS n FROM posts GROUP BY platform, account_id ORDER BY platform, account_id",
        "SELECT platform, account_id, received_at, replied_at FROM interactions ORDER BY platform, account_id, received_at, replied_at",
    ];
    for q in queries {
        let (a, b) = (sql(&generated, q), sql(&ingested, q));
        assert!(a.len() > 100, "{q}: only {} rows", a.len());
        assert_eq!(a.len(), b.len(), "{q}");
        if let Some((x, y)) = a.iter().zip(&b).find(|(x, y)| x != y) {
            panic!("{q}:\n generated {x}\n ingested  {y}");
        }
    }
}
