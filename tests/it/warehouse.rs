//! The warehouse never shows a half-written stage, and one writer at a time.

use crate::common::*;
use govmedia::ingest::run::{ingest, IngestError, IngestOptions};
use govmedia::ingest::source::{resolve_source, SourceSpec};
use govmedia::warehouse::Warehouse;
use std::path::Path;

const POSTS_A: &str = "平台,账号ID,发布ID,发布时间,标题\n微博,1001,a1,2019-07-01 09:00,甲\n微博,1001,a2,2019-07-08 09:00,乙\n";
const POSTS_B: &str = "平台,账号ID,发布ID,发布时间,标题\n微信,gh_x,b1,2019-07-02 09:00,丙\n微博,1001,a1,2019-07-01 09:00,甲改\n";
const MESSAGES: &str = "平台,账号ID,留言ID,留言时间,留言人,回复时间\n微博,1001,q1,2019-07-02 10:00,某人,\n";

fn source(dir: &Path, kind: &str, file: &str) -> govmedia::ingest::source::Source {
    let spec = SourceSpec { kind: kind.into(), format: "canonical".into(), path: file.into(), account: None, platform: None, as_of: None };
    resolve_source(dir, 1, &spec).unwrap()
}

#[test]
fn a_failed_ingest_leaves_the_previous_state() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.csv"), POSTS_A).unwrap();
    std::fs::write(dir.path().join("b.csv"), POSTS_B).unwrap();
    std::fs::write(dir.path().join("m.csv"), MESSAGES).unwrap();
    let wh_dir = dir.path().join("wh");
    let wh = Warehouse::open(wh_dir.to_str().unwrap()).unwrap();
    let rt = rt();
    rt.block_on(ingest(&wh, &[source(dir.path(), "posts", "a.csv")], &IngestOptions::default())).unwrap();
    let before = staging(&wh_dir);
    let manifest_before = rt.block_on(wh.manifest()).unwrap();

    // The second run dies after writing some of its files, before the manifest swap.
    let sources = [source(dir.path(), "posts", "b.csv"), source(dir.path(), "interactions", "m.csv")];
    let opts = IngestOptions { fail_after_writes: Some(2), ..Default::default() };
    let err = rt.block_on(ingest(&wh, &sources, &opts)).unwrap_err();
    assert!(matches!(err, IngestError::Injected(2)));
    assert!(walk_count(&wh_dir.join("staging")) > manifest_before.all_paths().count(), "files were written");
    assert_eq!(staging(&wh_dir), before, "the warehouse still reads as before");
    assert_eq!(rt.block_on(wh.manifest()).unwrap(), manifest_before);

    // The lock was released: the same run now succeeds, and the stray files are cleaned up.
    rt.block_on(ingest(&wh, &sources, &IngestOptions::default())).unwrap();
    let titles = sql(&wh_dir, "SELECT post_id, title FROM posts ORDER BY post_id");
    assert_eq!(titles, vec!["post_id,title", "a1,甲改", "a2,乙", "b1,丙"]);
    let m = rt.block_on(wh.manifest()).unwrap();
    let referenced = m.all_paths().filter(|p| p.starts_with("staging/")).count();
    let previous = manifest_before.all_paths().filter(|p| p.starts_with("staging/")).count();
    assert!(walk_count(&wh_dir.join("staging")) <= referenced + previous);
}

#[test]
fn a_run_rewrites_only_the_partitions_it_changes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("posts.csv"),
        "平台,账号ID,发布ID,发布时间,标题,阅读数\n\
        微博,1001,p1,2019-07-05 09:00,甲,1\n微博,1001,p2,2019-10-05 09:00,乙,2\n抖音,d1,p3,2019-07-06 09:00,丙,3\n",
    )
    .unwrap();
    // p2 again, moved to January (a corrected time), and a new post.
    std::fs::write(
        d.join("fix.csv"),
        "平台,账号ID,发布ID,发布时间,标题,阅读数\n\
        微博,1001,p2,2020-01-01 09:00,乙,2\n微博,1001,p4,2020-01-02 09:00,丁,4\n",
    )
    .unwrap();
    let wh_dir = d.join("wh");
    let wh = Warehouse::open(wh_dir.to_str().unwrap()).unwrap();
    let rt = rt();
    let files = |rt: &tokio::runtime::Runtime| -> Vec<(String, String)> {
        let m = rt.block_on(wh.manifest()).unwrap();
        let mut f: Vec<(String, String)> =
            m.files("posts").iter().map(|e| (format!("{}/{}", e.partition["platform"], e.partition["quarter"]), e.path.clone())).collect();
        f.sort();
        f
    };
    rt.block_on(ingest(&wh, &[source(d, "posts", "posts.csv")], &IngestOptions::default())).unwrap();
    let first = files(&rt);
    let parts: Vec<&str> = first.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(parts, vec!["douyin/2019Q3", "weibo/2019Q3", "weibo/2019Q4"]);

    rt.block_on(ingest(&wh, &[source(d, "posts", "fix.csv")], &IngestOptions::default())).unwrap();
    let second = files(&rt);
    let parts: Vec<&str> = second.iter().map(|(p, _)| p.as_str()).collect();
    // The fourth quarter lost its only post and has no file; 2020Q1 is new; Q3's files are untouched.
    assert_eq!(parts, vec!["douyin/2019Q3", "weibo/2019Q3", "weibo/2020Q1"]);
    assert_eq!(second[..2], first[..2], "the partitions the run did not change keep their files");
    let posts = sql(&wh_dir, "SELECT post_id, cast(published_at AS varchar) AS t FROM posts ORDER BY post_id");
    assert_eq!(
        posts,
        vec!["post_id,t", "p1,2019-07-05T01:00:00Z", "p2,2020-01-01T01:00:00Z", "p3,2019-07-06T01:00:00Z", "p4,2020-01-02T01:00:00Z"]
    );

    // The same file again changes nothing: no partition is written.
    rt.block_on(ingest(&wh, &[source(d, "posts", "fix.csv")], &IngestOptions::default())).unwrap();
    assert_eq!(files(&rt), second);
    // The first file again: p2 goes back to October (newer wins), 2020Q1 keeps p4.
    rt.block_on(ingest(&wh, &[source(d, "posts", "posts.csv")], &IngestOptions::default())).unwrap();
    let parts: Vec<String> = files(&rt).into_iter().map(|(p, _)| p).collect();
    assert_eq!(parts, vec!["douyin/2019Q3", "weibo/2019Q3", "weibo/2019Q4", "weibo/2020Q1"]);
    assert_eq!(sql(&wh_dir, "SELECT count(*) AS n, count(DISTINCT post_id) AS ids FROM posts"), vec!["n,ids", "4,4"]);
}

/// Posts and messages are stored by platform and quarter, each file's rows by account and instant
/// (NULL last), whatever order the sources gave them in; the manifest says so, and DataFusion is
/// told the order only while every file of the table has it.
#[test]
fn posts_and_messages_are_stored_in_account_and_time_order() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("posts.csv"),
        "平台,账号ID,发布ID,发布时间,标题\n\
        微博,b,p1,2019-07-05 09:00,甲\n微博,a,p2,2019-08-05 09:00,乙\n微博,b,p3,2019-07-01 09:00,丙\n\
        微博,a,p4,2019-07-09 09:00,丁\n微博,a,p0,2019-07-09 09:00,戊\n微博,b,p5,2019-09-30 23:59,己\n",
    )
    .unwrap();
    std::fs::write(
        d.join("later.csv"),
        "平台,账号ID,发布ID,发布时间,标题\n微博,ab,p6,2019-08-01 09:00,庚\n微博,a,p7,2019-07-01 08:00,辛\n",
    )
    .unwrap();
    let wh_dir = d.join("wh");
    let wh = Warehouse::open(wh_dir.to_str().unwrap()).unwrap();
    let rt = rt();
    rt.block_on(ingest(&wh, &[source(d, "posts", "posts.csv")], &IngestOptions::default())).unwrap();
    rt.block_on(ingest(&wh, &[source(d, "posts", "later.csv")], &IngestOptions::default())).unwrap();
    let m = rt.block_on(wh.manifest()).unwrap();
    let files = m.files("posts");
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].partition["quarter"], "2019Q3");
    assert_eq!(files[0].sorted_by, vec!["platform", "account_id", "published_at"]);
    // The file's own rows, in the order they were written.
    assert_eq!(stored_ids(&wh_dir.join(&files[0].path), "post_id"), vec!["p7", "p0", "p4", "p2", "p6", "p3", "p1", "p5"]);
    // The order is declared: a window over it needs no sort.
    let plan = sql(
        &wh_dir,
        "EXPLAIN SELECT post_id, lead(published_at) OVER (PARTITION BY platform, account_id ORDER BY published_at) FROM posts",
    )
    .join("\n");
    assert!(!plan.contains("SortExec"), "{plan}");

    // Messages likewise, each platform's and quarter's in a file of its own.
    std::fs::write(
        d.join("messages.csv"),
        "平台,账号ID,留言ID,留言时间,留言人,回复时间\n\
        微博,b,m1,2019-07-05 09:00,甲,2019-07-05 10:00\n抖音,z,m2,2019-07-01 09:00,乙,\n微博,a,m3,2019-10-01 00:00,丙,\n\
        微博,a,m4,2019-09-30 23:00,丁,\n微博,a,m0,2019-07-02 09:00,戊,\n微博,b,m5,2019-07-05 09:00,己,\n",
    )
    .unwrap();
    rt.block_on(ingest(&wh, &[source(d, "interactions", "messages.csv")], &IngestOptions::default())).unwrap();
    let m = rt.block_on(wh.manifest()).unwrap();
    let mut files: Vec<(String, Vec<String>)> = m
        .files("interactions")
        .iter()
        .map(|f| {
            assert_eq!(f.sorted_by, vec!["platform", "account_id", "received_at"]);
            let ids = stored_ids(&wh_dir.join(&f.path), "message_id");
            (format!("{}/{}", f.partition["platform"], f.partition["quarter"]), ids)
        })
        .collect();
    files.sort();
    let want = [("douyin/2019Q3", vec!["m2"]), ("weibo/2019Q3", vec!["m0", "m4", "m1", "m5"]), ("weibo/2019Q4", vec!["m3"])];
    assert_eq!(files, want.map(|(p, ids)| (p.to_string(), ids.iter().map(|i| i.to_string()).collect::<Vec<_>>())).to_vec());
}

/// A stored file's ids, in the order its rows were written. The file's own metadata declares no
/// order: the order is the manifest's to declare, to the sessions that keep it (DataFusion would
/// take it from the file's `sorting_columns` on a cluster too).
fn stored_ids(path: &Path, column: &str) -> Vec<String> {
    let bytes = bytes::Bytes::from(std::fs::read(path).unwrap());
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap();
    assert!(builder.metadata().row_groups().iter().all(|g| g.sorting_columns().is_none()));
    let mut ids = Vec::new();
    for batch in builder.build().unwrap() {
        let batch = batch.unwrap();
        let c = batch.column(batch.schema().index_of(column).unwrap());
        ids.extend(arrow::array::AsArray::as_string::<i32>(c).iter().map(|v| v.unwrap().to_string()));
    }
    ids
}

fn walk_count(dir: &Path) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        n += if p.is_dir() { walk_count(&p) } else { 1 };
    }
    n
}

#[test]
fn a_second_writer_is_refused_with_who_holds_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.csv"), POSTS_A).unwrap();
    let wh_dir = dir.path().join("wh");
    let wh = Warehouse::open(wh_dir.to_str().unwrap()).unwrap();
    let rt = rt();
    let lock = rt.block_on(wh.lock("govmedia test holder")).unwrap();
    let r = govmedia(&wh_dir, &["ingest", "posts", "canonical", dir.path().join("a.csv").to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("is in use by `govmedia test holder`"), "{}", r.stderr);
    rt.block_on(wh.release(lock)).unwrap();
    let r = govmedia(&wh_dir, &["ingest", "posts", "canonical", dir.path().join("a.csv").to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn memory_warehouses_work_through_the_same_code() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.csv"), POSTS_A).unwrap();
    let wh = Warehouse::open("memory://it-test/wh").unwrap();
    let rt = rt();
    let report = rt.block_on(ingest(&wh, &[source(dir.path(), "posts", "a.csv")], &IngestOptions::default())).unwrap();
    assert_eq!(report.tables["posts"], 2);
    let ctx = rt.block_on(govmedia::engine::warehouse_session(&wh)).unwrap();
    let batches = rt.block_on(govmedia::engine::run_query(&ctx, "SELECT count(*) AS n FROM posts")).unwrap();
    let text = arrow::util::pretty::pretty_format_batches(&batches).unwrap().to_string();
    assert!(text.contains("| 2 |"), "{text}");
}
