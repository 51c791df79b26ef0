//! Hostile inputs to ingest: file names, folder loops, decompression bombs, deep HTML, comment dumps
//! given as posts, over-long rows and cells, control characters, and message values in reasons.

use crate::common::*;
use govmedia::ingest::run::{ingest, IngestOptions, IngestReport};
use govmedia::ingest::source::{expand, resolve_source, Source, SourceSpec};
use govmedia::table::{INTERACTIONS, POSTS};
use govmedia::warehouse::Warehouse;
use std::path::Path;

const REGISTRY: &str = "单位名称,平台,账号ID\n东湖街道,微博,1001\n东湖街道,抖音,d1\n东湖街道,微信,gh_x\n";

fn spec(kind: &str, format: &str, path: &str) -> SourceSpec {
    SourceSpec { kind: kind.into(), format: format.into(), path: path.into(), account: None, platform: None, as_of: None }
}

fn source(dir: &Path, kind: &str, format: &str, path: &str) -> Source {
    resolve_source(dir, 1, &spec(kind, format, path)).unwrap()
}

/// One ingest run of `sources` into the warehouse at `dir/wh` (created with the register first).
fn run(dir: &Path, sources: &[Source]) -> IngestReport {
    let wh = Warehouse::open(dir.join("wh").to_str().unwrap()).unwrap();
    rt().block_on(ingest(&wh, sources, &IngestOptions::default())).unwrap()
}

/// A warehouse with the register of `REGISTRY` in it.
fn with_register(dir: &Path) {
    std::fs::write(dir.join("registry.csv"), REGISTRY).unwrap();
    let report = run(dir, &[source(dir, "registry", "canonical", "registry.csv")]);
    assert_eq!(report.failed_files(), 0, "{:?}", report.files);
}

fn reasons(report: &IngestReport) -> Vec<String> {
    report.rejects.iter().map(|r| r.reason.clone()).collect()
}

/// An XLSX workbook of one sheet, from (row, column, text) cells.
fn xlsx(cells: &[(u32, u16, &str)]) -> Vec<u8> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let sheet = wb.add_worksheet();
    for (r, c, t) in cells {
        sheet.write_string(*r, *c, *t).unwrap();
    }
    wb.save_to_buffer().unwrap()
}

/// Sets the uncompressed size a zip declares for `entry` (local header and central directory) to
/// `size`, leaving its data as it is: the size a bomb declares.
fn declare_size(zip: &mut [u8], entry: &str, size: u32) {
    let name = entry.as_bytes();
    let mut patched = 0;
    for at in 0..zip.len().saturating_sub(46) {
        let (sig, name_at, size_at) = match &zip[at..at + 4] {
            b"PK\x03\x04" => ("local", at + 30, at + 22),
            b"PK\x01\x02" => ("central", at + 46, at + 24),
            _ => continue,
        };
        let len_at = if sig == "local" { at + 26 } else { at + 28 };
        let len = u16::from_le_bytes([zip[len_at], zip[len_at + 1]]) as usize;
        if zip.get(name_at..name_at + len) == Some(name) {
            zip[size_at..size_at + 4].copy_from_slice(&size.to_le_bytes());
            patched += 1;
        }
    }
    assert_eq!(patched, 2, "{entry} is in the zip");
}

const POSTS_HEADER: [&str; 5] = ["平台", "账号ID", "发布ID", "发布时间", "标题"];

fn posts_sheet(rows: &[[&str; 5]]) -> Vec<u8> {
    let mut cells = Vec::new();
    for (r, row) in std::iter::once(&POSTS_HEADER).chain(rows).enumerate() {
        for (c, t) in row.iter().enumerate() {
            cells.push((r as u32, c as u16, *t));
        }
    }
    xlsx(&cells)
}

// ---- 6. file names that are not UTF-8 --------------------------------------------------------

#[cfg(target_os = "linux")]
#[test]
fn a_file_name_that_is_not_utf8_is_named_and_the_other_files_load() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    with_register(d);
    std::fs::create_dir_all(d.join("exports/sub")).unwrap();
    std::fs::write(d.join("exports/posts.csv"), "平台,账号ID,发布ID,发布时间\n微博,1001,p1,2019-07-01 10:00\n").unwrap();
    // 测试.txt and 测试.csv in GBK, as a zip made on Chinese Windows unpacks them.
    let gbk = |ext: &str| [b"\xb2\xe2\xca\xd4".as_slice(), ext.as_bytes()].concat();
    std::fs::write(d.join("exports/sub").join(std::ffi::OsStr::from_bytes(&gbk(".txt"))), "x").unwrap();

    // A name the pattern does not match is passed over.
    let files: Vec<String> = expand(d, "exports/**/*.csv").unwrap().into_iter().map(|(_, s)| s).collect();
    assert_eq!(files, vec!["exports/posts.csv"]);

    // A name it does match is reported by name as a file that cannot be read; the others load.
    std::fs::write(d.join("exports/sub").join(std::ffi::OsStr::from_bytes(&gbk(".csv"))), "x").unwrap();
    let report = run(d, &[source(d, "posts", "canonical", "exports/**/*.csv")]);
    assert_eq!(report.files.len(), 2, "{:?}", report.files);
    let bad = report.files.iter().find(|f| f.error.is_some()).expect("the GBK name is reported");
    assert!(bad.source_file.starts_with("exports/sub/") && bad.source_file.ends_with(".csv"), "{bad:?}");
    assert!(bad.error.as_deref().unwrap().contains("not UTF-8"), "{bad:?}");
    assert_eq!(rows_of(&d.join("wh"), "posts").len(), 1);
}

// ---- 11. symlink loops and huge cells ----------------------------------------------------------

#[cfg(unix)]
#[test]
fn symlinked_folders_are_not_followed_and_a_file_is_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("a")).unwrap();
    std::fs::write(d.join("a/posts.csv"), "平台,账号ID,发布ID,发布时间\n微博,1001,p1,2019-07-01 10:00\n").unwrap();
    // A folder linked to its parent (a loop), and a second name for the same file.
    std::os::unix::fs::symlink("..", d.join("a/loop")).unwrap();
    std::os::unix::fs::symlink("a/posts.csv", d.join("again.csv")).unwrap();
    let files: Vec<String> = expand(d, "**/*.csv").unwrap().into_iter().map(|(_, s)| s).collect();
    assert_eq!(files, vec!["a/posts.csv"]);
    // A folder named in the pattern itself is followed, link or not.
    std::os::unix::fs::symlink("a", d.join("linked")).unwrap();
    let files: Vec<String> = expand(d, "linked/*.csv").unwrap().into_iter().map(|(_, s)| s).collect();
    assert_eq!(files, vec!["linked/posts.csv"]);
}

#[test]
fn a_cell_over_64_kib_is_rejected_with_its_column() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let title = "长".repeat(30_000); // 90,000 bytes
    std::fs::write(
        d.join("posts.csv"),
        format!("平台,账号ID,发布ID,发布时间,标题\n微博,1001,p1,2019-07-01 10:00,{title}\n微博,1001,p2,2019-07-01 11:00,短\n"),
    )
    .unwrap();
    std::fs::write(
        d.join("posts.xlsx"),
        posts_sheet(&[["微博", "1001", "p3", "2019-07-01 10:00", &title], ["微博", "1001", "p4", "2019-07-02 11:00", "也短"]]),
    )
    .unwrap();
    let author = "某".repeat(30_000);
    std::fs::write(
        d.join("messages.csv"),
        format!(
            "平台,账号ID,留言ID,留言时间,留言人,回复时间\n微博,1001,m1,2019-07-01 10:00,{author},\n微博,1001,m2,2019-07-01 10:00,某人,\n"
        ),
    )
    .unwrap();
    let report = run(d, &[source(d, "posts", "canonical", "posts.*"), source(d, "interactions", "canonical", "messages.csv")]);
    assert_eq!(report.failed_files(), 0, "{:?}", report.files);
    let reasons = reasons(&report);
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    for r in &reasons {
        assert!(r.contains("64 KiB") && (r.contains("标题") || r.contains("留言人")), "{r}");
        assert!(!r.contains("长长") && !r.contains("某某"), "the reason quotes the cell: {}", &r[..200.min(r.len())]);
    }
    assert!(report.rejects.iter().all(|r| r.raw.len() < 70_000), "rejects.raw holds the cell");
    let ids: Vec<String> = rows_of(&d.join("wh"), "posts").iter().map(|r| s(get(&POSTS, r, "post_id")).to_string()).collect();
    assert_eq!(ids, vec!["p2", "p4"], "{:?} {:?}", report.files, report.rejects);
    assert_eq!(rows_of(&d.join("wh"), "interactions").len(), 1);
}

// ---- 7. XLSX decompression bombs ---------------------------------------------------------------

#[test]
fn a_workbook_declaring_gigabytes_of_xml_is_refused_before_it_is_opened() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut bomb = posts_sheet(&[["微博", "1001", "p1", "2019-07-01 10:00", "好"]]);
    declare_size(&mut bomb, "xl/worksheets/sheet1.xml", 3_000_000_000);
    std::fs::write(d.join("bomb.xlsx"), bomb).unwrap();
    let report = run(d, &[source(d, "posts", "canonical", "bomb.xlsx")]);
    let error = report.files[0].error.clone().unwrap_or_default();
    assert!(error.contains("xl/worksheets/sheet1.xml") && error.contains("uncompressed"), "{:?}", report.files);
}

#[test]
fn a_workbook_with_too_many_cells_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // One value in the sheet's last column on each of 1,100 rows: 18 million cells once each row
    // is spread out to that column.
    let mut cells: Vec<(u32, u16, &str)> = POSTS_HEADER.iter().enumerate().map(|(c, h)| (0, c as u16, *h)).collect();
    cells.extend((1..=1100).map(|r| (r, 16_383, "x")));
    std::fs::write(d.join("wide.xlsx"), xlsx(&cells)).unwrap();
    let report = run(d, &[source(d, "posts", "canonical", "wide.xlsx")]);
    let error = report.files[0].error.clone().unwrap_or_default();
    assert!(error.contains("cells"), "{:?}", report.files);
}

/// A value in the sheet's last cell (XFD1048576) once made the reader lay out the whole sheet,
/// 17 billion cells. The binary runs here with its address space limited to 4 GiB.
#[cfg(target_os = "linux")]
#[test]
fn a_value_in_the_last_cell_of_a_sheet_costs_no_memory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut cells: Vec<(u32, u16, &str)> = POSTS_HEADER.iter().enumerate().map(|(c, h)| (0, c as u16, *h)).collect();
    cells.extend(["微博", "1001", "p1", "2019-07-01 10:00", "好"].iter().enumerate().map(|(c, t)| (1, c as u16, *t)));
    cells.push((1_048_575, 16_383, "x"));
    std::fs::write(d.join("corner.xlsx"), xlsx(&cells)).unwrap();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 4194304 && exec \"$0\" --warehouse \"$1\" ingest posts canonical \"$2\"")
        .arg(env!("CARGO_BIN_EXE_govmedia"))
        .arg(d.join("wh"))
        .arg(d.join("corner.xlsx"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(rows_of(&d.join("wh"), "posts").len(), 1);
}

// ---- 8. deeply nested HTML ---------------------------------------------------------------------

#[test]
fn deeply_nested_html_is_refused_and_plain_html_still_loads() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    with_register(d);
    std::fs::create_dir_all(d.join("gh_x")).unwrap();
    let table = "<table><tr><th>时间</th><th>累积关注人数</th></tr><tr><td>2019-07-01</td><td>100</td></tr></table>";
    std::fs::write(d.join("gh_x/plain.xls"), format!("<html><body><div>{table}</div></body></html>")).unwrap();
    std::fs::write(d.join("gh_x/deep.xls"), format!("<html><body>{}{table}</body></html>", "<div>".repeat(20_000))).unwrap();
    let started = std::time::Instant::now();
    let report = run(d, &[source(d, "followers", "wechat-mp-users", "gh_x/*.xls")]);
    assert!(started.elapsed().as_secs() < 20, "{:?}", started.elapsed());
    let deep = report.files.iter().find(|f| f.source_file.ends_with("deep.xls")).unwrap();
    assert!(deep.error.as_deref().is_some_and(|e| e.contains("nested")), "{deep:?}");
    let plain = report.files.iter().find(|f| f.source_file.ends_with("plain.xls")).unwrap();
    assert_eq!((plain.loaded, plain.error.as_deref()), (1, None), "{plain:?}");
}

// ---- 9. comment dumps given as posts -----------------------------------------------------------

#[test]
fn comments_given_as_posts_are_refused_and_posts_given_as_comments_too() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    with_register(d);
    let account = govmedia::ingest::creator_hash("d1");
    let other = govmedia::ingest::creator_hash("someone");
    std::fs::create_dir_all(d.join("douyin")).unwrap();
    std::fs::write(
        d.join("douyin/contents.jsonl"),
        format!("{{\"aweme_id\": \"v1\", \"title\": \"真标题\", \"create_time\": 1561950000, \"creator_hash\": \"{account}\", \"liked_count\": \"5\"}}\n"),
    )
    .unwrap();
    std::fs::write(
        d.join("douyin/search_comments_2019.jsonl"),
        format!(
            "{{\"comment_id\": \"c1\", \"aweme_id\": \"v1\", \"content\": \"路灯坏了\", \"create_time\": 1561960000, \"creator_hash\": \"{other}\", \"nickname\": \"张三\", \"parent_comment_id\": \"0\"}}\n\
             {{\"comment_id\": \"c2\", \"aweme_id\": \"v1\", \"content\": \"已转交\", \"create_time\": 1561970000, \"creator_hash\": \"{account}\", \"nickname\": \"东湖发布\", \"parent_comment_id\": \"c1\"}}\n"
        ),
    )
    .unwrap();
    let report = run(
        d,
        &[
            source(d, "posts", "mediacrawler", "douyin/contents.jsonl"),
            source(d, "posts", "mediacrawler", "douyin/search_comments_2019.jsonl"),
        ],
    );
    let posts = rows_of(&d.join("wh"), "posts");
    assert_eq!(posts.len(), 1);
    assert_eq!(s(get(&POSTS, &posts[0], "title")), "真标题", "a comment overwrote the post");
    let rejects: Vec<_> = report.rejects.iter().filter(|r| r.source_file.contains("comments")).collect();
    assert!(!rejects.is_empty(), "{:?}", report.files);
    for r in &rejects {
        assert!(r.reason.contains("comment") && r.reason.contains("interactions"), "{}", r.reason);
        assert!(!r.raw.contains("张三") && !r.raw.contains("路灯"), "rejects.raw keeps a comment: {}", r.raw);
    }

    // And the contents given as comments.
    let report = run(d, &[source(d, "interactions", "mediacrawler", "douyin/contents.jsonl")]);
    assert_eq!(report.rejects.len(), 1);
    assert!(report.rejects[0].reason.contains("post") && report.rejects[0].reason.contains("posts"), "{}", report.rejects[0].reason);
}

// ---- 10. over-long rows and implausible times -------------------------------------------------

#[test]
fn a_row_longer_than_its_header_and_times_far_from_now_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("messages.csv"),
        "平台,账号ID,留言ID,渠道,留言时间,留言人,回复时间\n\
         微博,1001,m1,留言,2019-07-02 10:00,张三,13800138000,2019-07-03 10:00\n\
         微博,1001,m2,留言,2019-07-02 10:00,李四,13800138000\n\
         微博,1001,m3,留言,1999-12-31 10:00,王五,\n\
         微博,1001,m4,留言,2019-07-02 10:00,赵六,2019-07-03 10:00,\n",
    )
    .unwrap();
    let mut sheet = posts_sheet(&[["微博", "1001", "p1", "2019-07-01 10:00", "好"]]);
    // The same over-long row in a workbook (an extra cell right of 标题).
    sheet = {
        let mut cells: Vec<(u32, u16, &str)> = POSTS_HEADER.iter().enumerate().map(|(c, h)| (0, c as u16, *h)).collect();
        cells.extend(["微博", "1001", "p2", "2019-07-01 10:00", "好", "13800138000"].iter().enumerate().map(|(c, t)| (1, c as u16, *t)));
        cells.extend(["微博", "1001", "p3", "2419-07-01 10:00", "远"].iter().enumerate().map(|(c, t)| (2, c as u16, *t)));
        let _ = sheet;
        xlsx(&cells)
    };
    std::fs::write(d.join("posts.xlsx"), sheet).unwrap();
    let report = run(d, &[source(d, "interactions", "canonical", "messages.csv"), source(d, "posts", "canonical", "posts.xlsx")]);
    let mut by_line: Vec<(String, u64, String)> =
        report.rejects.iter().map(|r| (r.source_file.clone(), r.loc.as_ref().map_or(0, |l| l.number()), r.reason.clone())).collect();
    by_line.sort();
    assert_eq!(by_line.len(), 5, "{by_line:?}");
    assert!(by_line[0].1 == 2 && by_line[0].2.contains("8 cells") && by_line[0].2.contains("7"), "{by_line:?}");
    assert!(by_line[1].1 == 3 && by_line[1].2.contains("回复时间") && by_line[1].2.contains("after"), "{by_line:?}");
    assert!(by_line[2].1 == 4 && by_line[2].2.contains("留言时间") && by_line[2].2.contains("2000"), "{by_line:?}");
    assert!(by_line[3].1 == 2 && by_line[3].2.contains("6 cells"), "{by_line:?}");
    assert!(by_line[4].1 == 3 && by_line[4].2.contains("发布时间"), "{by_line:?}");
    // A trailing empty cell is no extra value: m4 loads.
    let ids: Vec<String> =
        rows_of(&d.join("wh"), "interactions").iter().map(|r| s(get(&INTERACTIONS, r, "message_id")).to_string()).collect();
    assert_eq!(ids, vec!["m4"]);
}

// ---- 12. control characters in workbook cells --------------------------------------------------

#[test]
fn control_characters_in_workbook_cells_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("posts.xlsx"),
        posts_sheet(&[
            ["微博", "1001", "p1", "2019-07-01 10:00", "\u{1b}]0;pwned\u{7}\u{1b}[2J"],
            ["微博", "1001", "p2", "2019-07-01 11:00", "好"],
        ]),
    )
    .unwrap();
    let report = run(d, &[source(d, "posts", "canonical", "posts.xlsx")]);
    let reasons = reasons(&report);
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(reasons[0].contains("标题") && reasons[0].contains("control character"), "{reasons:?}");
    assert!(!report.rejects[0].raw.contains('\u{1b}'), "{:?}", report.rejects[0].raw);
    let titles: Vec<String> = rows_of(&d.join("wh"), "posts").iter().map(|r| s(get(&POSTS, r, "title")).to_string()).collect();
    assert_eq!(titles, vec!["好"]);
}

// ---- 13. reasons of message rejects quote no value ---------------------------------------------

#[test]
fn message_reject_reasons_name_the_column_not_the_value() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    with_register(d);
    let secrets = ["身份证110101199001011234", "张三13800138000", "住址东湖路1号"];
    std::fs::write(
        d.join("messages.csv"),
        format!(
            "平台,账号ID,留言ID,渠道,留言时间,留言人,回复时间\n\
             微博,1001,m1,留言,2019-07-02 10:00,某人,{0}\n\
             {1},1001,m2,留言,2019-07-02 10:00,某人,\n\
             微博,1001,m3,{2},2019-07-02 10:00,某人,\n\
             微博,1001,m4,留言,{0},某人,\n",
            secrets[0], secrets[1], secrets[2]
        ),
    )
    .unwrap();
    // The same in the other message formats: a comment list and a MediaCrawler dump.
    std::fs::create_dir_all(d.join("gh_x")).unwrap();
    std::fs::write(
        d.join("gh_x/a1.json"),
        format!("{{\"comment\": [{{\"user_comment_id\": 1, \"create_time\": \"{0}\", \"openid\": \"o1\"}}, {{\"user_comment_id\": 2, \"create_time\": 1561960000, \"openid\": \"o2\", \"reply\": {{\"create_time\": \"{1}\"}}}}]}}", secrets[0], secrets[1]),
    )
    .unwrap();
    std::fs::create_dir_all(d.join("douyin")).unwrap();
    let account = govmedia::ingest::creator_hash("d1");
    std::fs::write(
        d.join("douyin/contents.jsonl"),
        format!("{{\"aweme_id\": \"v1\", \"title\": \"t\", \"create_time\": 1561950000, \"creator_hash\": \"{account}\"}}\n"),
    )
    .unwrap();
    std::fs::write(
        d.join("douyin/comments.jsonl"),
        format!(
            "{{\"comment_id\": \"c1\", \"aweme_id\": \"v1\", \"create_time\": \"{0}\", \"creator_hash\": \"x\"}}\n\
             {{\"comment_id\": \"c2\", \"aweme_id\": \"{1}\", \"create_time\": 1561960000, \"creator_hash\": \"x\"}}\n\
             {{\"comment_id\": \"c3\", \"aweme_id\": \"v1\", \"create_time\": 1561960000, \"creator_hash\": \"{account}\", \"parent_comment_id\": \"{2}\"}}\n",
            secrets[0], secrets[1], secrets[2]
        ),
    )
    .unwrap();
    let mut gh = source(d, "interactions", "wechat-comments", "gh_x/a1.json");
    gh.account = Some("gh_x".into());
    let report = run(
        d,
        &[
            source(d, "posts", "mediacrawler", "douyin/contents.jsonl"),
            source(d, "interactions", "canonical", "messages.csv"),
            gh,
            source(d, "interactions", "mediacrawler", "douyin/comments.jsonl"),
        ],
    );
    let rejects: Vec<_> = report.rejects.iter().filter(|r| r.kind == "interactions").collect();
    assert_eq!(rejects.len(), 9, "{:?}", rejects.iter().map(|r| &r.reason).collect::<Vec<_>>());
    for r in rejects {
        for secret in secrets.iter().chain(&["1101011990", "13800138000"]) {
            assert!(!r.reason.contains(secret), "{}: {}", r.source_file, r.reason);
        }
    }
}
