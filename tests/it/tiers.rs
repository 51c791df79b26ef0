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
    for wh in [&generated, &ingested] {
        assert_stored_in_order(wh);
    }
}

/// Every file of posts and messages is in the stored order the manifest says it is in (platform,
/// account, instant, NULL last), of one platform and quarter; and the files of a partition do not
/// overlap in accounts, so that DataFusion reads them one after another as one ordered stream.
fn assert_stored_in_order(wh: &std::path::Path) {
    use arrow::array::{Array, AsArray};
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(wh.join("_manifest.json")).unwrap()).unwrap();
    for (table, time) in [("posts", "published_at"), ("interactions", "received_at")] {
        let files = m["tables"][table]["files"].as_array().unwrap();
        assert!(!files.is_empty());
        let mut ranges: std::collections::BTreeMap<String, Vec<(String, String)>> = Default::default();
        for f in files {
            let sorted: Vec<&str> = f["sorted_by"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
            assert_eq!(sorted, vec!["platform", "account_id", time], "{f}");
            let bytes = bytes::Bytes::from(std::fs::read(wh.join(f["path"].as_str().unwrap())).unwrap());
            let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap().build().unwrap();
            let mut rows: Vec<(String, String, Option<i64>)> = Vec::new();
            for batch in reader {
                let batch = batch.unwrap();
                let s = |c: &str| batch.column(batch.schema().index_of(c).unwrap()).as_string::<i32>().clone();
                let (p, a) = (s("platform"), s("account_id"));
                let t = batch
                    .column(batch.schema().index_of(time).unwrap())
                    .as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
                    .clone();
                rows.extend(
                    (0..batch.num_rows()).map(|r| (p.value(r).to_string(), a.value(r).to_string(), t.is_valid(r).then(|| t.value(r)))),
                );
            }
            let key = |r: &(String, String, Option<i64>)| (r.0.clone(), r.1.clone(), r.2.is_none(), r.2);
            assert!(rows.windows(2).all(|w| key(&w[0]) <= key(&w[1])), "{table}: {} is out of order", f["path"]);
            assert!(rows.iter().all(|r| r.0 == f["partition"]["platform"].as_str().unwrap()), "{f}");
            let part = format!("{}/{}", f["partition"]["platform"], f["partition"]["quarter"]);
            ranges.entry(part).or_default().push((rows[0].1.clone(), rows[rows.len() - 1].1.clone()));
        }
        for (part, mut r) in ranges {
            r.sort();
            assert!(r.windows(2).all(|w| w[0].1 < w[1].0), "{table} {part}: files overlap in accounts: {r:?}");
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
