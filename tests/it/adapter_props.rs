//! Every ingest format adapter, fed random and mutated files (issue #12): the run never panics,
//! every file's counts reconcile (read = loaded + rejected + duplicates + merged), and no message
//! text or author planted in an input reaches any file of the warehouse.
//!
//! Seeds are the project's own generated exports (`govmedia::generate`), a few rows of each, read
//! into a grid of cells or into JSON records; a case re-encodes a seed (CSV in UTF-8, with a BOM,
//! GBK, Big5 or UTF-16; XLSX with text or typed cells; an HTML table saved as `.xls`; one JSON
//! document or JSON Lines), after mutating its cells (dropped, extra and shifted columns, huge
//! cells, nasty values, header only) and then its bytes (truncated, random bytes spliced in,
//! emptied). Now and then an adapter is fed another adapter's seed. Each case ingests into a fresh
//! warehouse folder, in process, so a panic is caught and shrunk by proptest.
//!
//! `PROPTEST_CASES` sets the cases per adapter (default 24); `ADAPTER_PROPS_LOG=1` prints each case's
//! counts and times.

use crate::common::rt;
use govmedia::ingest::run::{ingest, IngestOptions, IngestReport};
use govmedia::ingest::source::{resolve_source, SourceSpec};
use govmedia::table::{self, Value};
use govmedia::warehouse::Warehouse;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Map, Value as Json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The prefix of every planted message text and author: it is searched for in the warehouse.
/// Not a hex string, so no hash can contain it.
const MARK: &str = "QZXJ";

const DEFAULT_CASES: u32 = 24;
/// Data rows kept of each generated export (the cases stay small and fast).
const SEED_ROWS: usize = 8;

// ---------------------------------------------------------------------------------------------
// Seeds

#[derive(Debug, Clone)]
enum Content {
    /// A table: rows above the header (titles), the header, the data rows.
    Grid { above: Vec<Vec<String>>, header: Vec<String>, rows: Vec<Vec<String>> },
    /// JSON records (flat objects, or `{"comment": [...]}` objects of the WeChat comment API).
    Json(Vec<Json>),
}

#[derive(Debug, Clone)]
struct Seed {
    name: &'static str,
    /// The file's path under the case folder, without extension: its folder names the account
    /// for the formats that take it from there.
    stem: String,
    content: Content,
    /// Whether message texts and authors carrying [`MARK`] were planted.
    planted: bool,
}

/// A warehouse folder's files, written out afresh for each case.
type Snapshot = Vec<(PathBuf, Vec<u8>)>;

struct Seeds {
    seeds: Vec<Seed>,
    /// A warehouse with the generated register.
    registry: Snapshot,
    /// The same, with the MediaCrawler posts (the owners of the MediaCrawler comments).
    registry_posts: Snapshot,
}

impl Seeds {
    fn get(&self, name: &str) -> &Seed {
        self.seeds.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no seed {name}"))
    }
}

fn seeds() -> &'static Seeds {
    static SEEDS: OnceLock<Seeds> = OnceLock::new();
    SEEDS.get_or_init(build_seeds)
}

fn build_seeds() -> Seeds {
    let tmp = tempfile::tempdir().unwrap();
    let demo = tmp.path().join("demo");
    let opts =
        govmedia::generate::GenerateOptions { out: demo.clone(), quarter: govmedia::time::Quarter::parse("2019Q3").unwrap(), seed: 7 };
    govmedia::generate::generate(&opts).unwrap();
    let first = |pattern: &str| -> PathBuf {
        let mut found: Vec<PathBuf> = glob::glob(demo.join(pattern).to_str().unwrap()).unwrap().map(Result::unwrap).collect();
        found.sort();
        found.into_iter().next().unwrap_or_else(|| panic!("the generator wrote no {pattern}"))
    };
    // The folder (an account for some formats) and the file stem of a generated file.
    let stem = |p: &Path, keep_folder: bool| -> String {
        let name = p.file_stem().unwrap().to_string_lossy().to_string();
        match (keep_folder, p.parent().and_then(|d| d.file_name())) {
            (true, Some(dir)) => format!("{}/{name}", dir.to_string_lossy()),
            _ => name,
        }
    };
    let mut seeds = Vec::new();
    let mut grid = |name: &'static str, stem: String, path: &Path| {
        seeds.push(Seed { name, stem, content: read_grid(path), planted: false });
    };
    grid("registry", "registry".into(), &first("registry/*.xlsx"));
    grid("filings", "filings".into(), &first("filings/*.csv"));
    grid("posts", "posts".into(), &first("posts/canonical/*.csv"));
    grid("interactions", "interactions".into(), &first("interactions/canonical/*.csv"));
    grid("followers", "followers".into(), &first("followers/canonical/*.csv"));
    grid("directives", "directives".into(), &first("directives/*.csv"));
    grid("self_inspections", "self_inspections".into(), &first("self_inspections/*.csv"));
    grid("findings", "findings".into(), &first("findings/*.csv"));
    grid("calendar", "calendar".into(), &crate::common::repo().join("data/calendar/holidays_cn.csv"));
    let p = first("posts/weibo-crawler/*/*.csv");
    grid("weibo-crawler", stem(&p, false), &p);
    let p = first("posts/weibospider/*/*.csv");
    grid("weibospider", stem(&p, false), &p);
    let p = first("posts/wechat-mp/*/*.xlsx");
    grid("wechat-mp", stem(&p, true), &p);
    let p = first("posts/douyin-creator/*/*.xlsx");
    grid("douyin-creator", stem(&p, true), &p);
    grid("weibo-crawler-users", "users".into(), &first("followers/weibo-users/*/users.csv"));
    let p = first("followers/wechat-mp-users/*/*.xls");
    grid("wechat-mp-users", stem(&p, true), &p);

    let contents = first("posts/mediacrawler/douyin/*.jsonl");
    seeds.push(Seed { name: "mediacrawler-posts", stem: "douyin/contents".into(), content: read_json_lines(&contents), planted: false });
    let mut comments = read_json_lines(&first("interactions/mediacrawler/douyin/*.jsonl"));
    plant_mediacrawler(&mut comments);
    seeds.push(Seed { name: "mediacrawler-comments", stem: "douyin/comments".into(), content: comments, planted: true });
    let first_comments = first("interactions/wechat-comments/*/*.json");
    let mut records = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(first_comments.parent().unwrap()).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    for f in files.iter().take(3) {
        records.push(serde_json::from_slice::<Json>(&std::fs::read(f).unwrap()).unwrap());
    }
    let mut wechat = Content::Json(records);
    plant_wechat(&mut wechat);
    seeds.push(Seed { name: "wechat-comments", stem: stem(&first_comments, true), content: wechat, planted: true });
    let interactions = seeds.iter_mut().find(|s| s.name == "interactions").unwrap();
    plant_canonical(&mut interactions.content);
    interactions.planted = true;

    // The warehouses the cases start from.
    let rt = rt();
    let wh_dir = tmp.path().join("wh");
    let wh = Warehouse::open(wh_dir.to_str().unwrap()).unwrap();
    let run = |kind: &str, format: &str, path: &str| {
        let spec = SourceSpec { kind: kind.into(), format: format.into(), path: path.into(), account: None, platform: None, as_of: None };
        let source = resolve_source(&demo, 1, &spec).unwrap();
        let report = rt.block_on(ingest(&wh, &[source], &IngestOptions::default())).unwrap();
        assert_eq!(report.failed_files(), 0, "{:?}", report.files);
    };
    run("registry", "canonical", "registry/*.xlsx");
    let registry = snapshot(&wh_dir);
    run("posts", "mediacrawler", "posts/mediacrawler/**/*.jsonl");
    let registry_posts = snapshot(&wh_dir);
    Seeds { seeds, registry, registry_posts }
}

fn snapshot(dir: &Path) -> Snapshot {
    walk(dir).into_iter().map(|p| (p.strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(&p).unwrap())).collect()
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for e in entries {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// A generated table file as cells: CSV (UTF-8 or GBK), XLSX, or an HTML table.
fn read_grid(path: &Path) -> Content {
    let bytes = std::fs::read(path).unwrap();
    let mut rows: Vec<Vec<String>> = if bytes.starts_with(b"PK") {
        use calamine::Reader;
        let mut wb = calamine::open_workbook_auto_from_rs(std::io::Cursor::new(bytes)).unwrap();
        let name = wb.sheet_names()[0].clone();
        let range = wb.worksheet_range(&name).unwrap();
        range.rows().map(|r| r.iter().map(xlsx_cell_text).collect()).collect()
    } else {
        let text = govmedia::ingest::read::decode_text(&bytes).unwrap().into_owned();
        if text.trim_start().starts_with('<') {
            let doc = scraper::Html::parse_document(&text);
            let (tr, cell) = (scraper::Selector::parse("tr").unwrap(), scraper::Selector::parse("th, td").unwrap());
            doc.select(&tr).map(|r| r.select(&cell).map(|c| c.text().collect::<String>()).collect()).collect()
        } else {
            let text = text.trim_start_matches('\u{feff}');
            let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
            reader.records().map(|r| r.unwrap().iter().map(str::to_string).collect()).collect()
        }
    };
    // The header is the first row of three or more cells (the register has a title above it).
    let at = rows.iter().position(|r| r.iter().filter(|c| !c.is_empty()).count() >= 3).unwrap();
    let mut data = rows.split_off(at);
    let header = data.remove(0);
    data.truncate(SEED_ROWS);
    Content::Grid { above: rows, header, rows: data }
}

fn xlsx_cell_text(c: &calamine::Data) -> String {
    use calamine::Data;
    match c {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::DateTime(dt) => match govmedia::time::excel_serial_to_naive(dt.as_f64()) {
            Some(t) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
            None => dt.as_f64().to_string(),
        },
        other => other.to_string(),
    }
}

fn read_json_lines(path: &Path) -> Content {
    let text = std::fs::read_to_string(path).unwrap();
    Content::Json(text.lines().filter(|l| !l.trim().is_empty()).take(SEED_ROWS).map(|l| serde_json::from_str(l).unwrap()).collect())
}

/// Canonical messages: each 留言人 and 留言内容 cell carries a marker.
fn plant_canonical(content: &mut Content) {
    let Content::Grid { header, rows, .. } = content else { unreachable!() };
    let author = header.iter().position(|h| h == "留言人").unwrap();
    let text = header.iter().position(|h| h == "留言内容").unwrap();
    for (i, row) in rows.iter_mut().enumerate() {
        row[author] = format!("{MARK}-author-{i}");
        row[text] = format!("{MARK}-text-{i} 路灯坏了");
    }
}

/// MediaCrawler comments: every text and nickname, and the public commenters' creator_hash.
fn plant_mediacrawler(content: &mut Content) {
    let Content::Json(records) = content else { unreachable!() };
    for (i, r) in records.iter_mut().enumerate() {
        let top = r["parent_comment_id"].as_str() == Some("0");
        r["content"] = json!(format!("{MARK}-text-{i} 请问在哪里办理？"));
        r["nickname"] = json!(format!("{MARK}-nick-{i}"));
        if top {
            r["creator_hash"] = json!(format!("{MARK}-author-{i}"));
        }
    }
}

/// WeChat comments: the text, the reply's text, the openid and a nick_name.
fn plant_wechat(content: &mut Content) {
    let Content::Json(records) = content else { unreachable!() };
    for (f, r) in records.iter_mut().enumerate() {
        for (i, c) in r["comment"].as_array_mut().unwrap().iter_mut().enumerate() {
            c["content"] = json!(format!("{MARK}-text-{f}-{i} 请问这个政策什么时候开始执行？"));
            c["openid"] = json!(format!("{MARK}-openid-{f}-{i}"));
            c["nick_name"] = json!(format!("{MARK}-nick-{f}-{i}"));
            c["reply"] = json!({"content": format!("{MARK}-reply-{f}-{i}"), "create_time": 1567700000});
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Cases: an encoding and mutations

#[derive(Debug, Clone, Copy)]
enum Shape {
    Csv { crlf: bool },
    Xlsx { typed: bool },
    Html,
    JsonDoc { pretty: bool },
    JsonLines,
}

#[derive(Debug, Clone, Copy)]
enum Charset {
    Utf8,
    Utf8Bom,
    Gbk,
    Big5,
    Utf16Le,
}

#[derive(Debug, Clone)]
enum GridMut {
    DropColumn(Index),
    ExtraColumn(Index, String),
    DropCell(Index, Index),
    InsertCell(Index, Index, String),
    ExtraCells(Index, usize),
    SetCell(Index, Index, String),
    HugeCell(Index, Index, usize),
    DuplicateRow(Index),
    DropRow(Index),
    RepeatHeader(Index),
    TitleRow(String),
    HeaderOnly,
}

#[derive(Debug, Clone)]
enum JsonMut {
    RemoveField(Index, Index, Index),
    SetField(Index, Index, Index, Json),
    RenameField(Index, Index, Index, Index),
    HugeField(Index, Index, Index, usize),
    DuplicateRecord(Index),
    DropRecord(Index),
    ReplaceRecord(Index, Json),
    DeepNest(Index, usize),
}

#[derive(Debug, Clone)]
enum ByteMut {
    Truncate(Index),
    Splice(Index, Vec<u8>),
    Overwrite(Index, Vec<u8>),
    Empty,
    /// A workbook's XML part (picked by the index) mutated, the workbook zipped again.
    XlsxPart(Index, Vec<ByteMut>),
    /// A hand-written row put first in a workbook's sheets.
    XlsxRow(&'static str),
}

/// Rows a workbook's reader may not expect: cells out of range, bad shared-string and style
/// indexes, odd types, missing references. (Rows far down or far right are kept small: a sparse
/// cell far away is read into a dense range.)
const XLSX_ROWS: &[&str] = &[
    r#"<row r="1"><c r="A1" t="s"><v>99999</v></c></row>"#,
    r#"<row r="1"><c r="A1" t="s"><v>-1</v></c></row>"#,
    r#"<row r="1"><c r="A1" t="s"><v>x</v></c></row>"#,
    r#"<row r="0"><c r="A0"><v>1</v></c></row>"#,
    r#"<row r="1"><c r="XFE1"><v>1</v></c></row>"#,
    r#"<row r="1"><c r="ZZZZZZZZZZ1"><v>1</v></c></row>"#,
    r#"<row r="1"><c r="A99999999999"><v>1</v></c></row>"#,
    r#"<row r="1"><c r=""><v>1</v></c></row>"#,
    r#"<row><c><v>1</v></c><c><v>2</v></c></row>"#,
    r#"<row r="1"><c r="A1" t="n"><v>1e400</v></c></row>"#,
    r#"<row r="1"><c r="A1" t="n"><v>NaN</v></c></row>"#,
    r#"<row r="1"><c r="A1" t="d"><v>not a date</v></c></row>"#,
    r#"<row r="1"><c r="A1" s="999"><v>43000</v></c></row>"#,
    r#"<row r="1"><c r="A1" s="1"><v>-99999999</v></c></row>"#,
    r#"<row r="1"><c r="A1" s="1"><v>1e300</v></c></row>"#,
    r#"<row r="1"><c r="A1" t="e"><v>#BOGUS!</v></c></row>"#,
    r#"<row r="1"><c r="A1" t="b"><v>7</v></c></row>"#,
    r#"<row r="1"><c r="A1" t="inlineStr"><is><t>x</t></is></c></row>"#,
    r#"<row r="1"><c r="A1" t="inlineStr"><is><r><t>&#0;</t></r></is></c></row>"#,
    r#"<row r="1"><c r="A1" t="str"><f>1/0</f><v>#DIV/0!</v></c></row>"#,
    r#"<row r="1" spans="1:99999999"><c r="A1"><v>1</v></c></row>"#,
    r#"<row r="3000"><c r="B3000"><v>1</v></c></row>"#,
    r#"<row r="1"><c r="A1" t="s"><v>0</v></c><c r="A1" t="s"><v>1</v></c></row>"#,
    r#"<row r="1"><c r="A1"><v>1</v></c></row><row r="1"><c r="A1"><v>2</v></c></row>"#,
];

#[derive(Debug, Clone)]
struct Case {
    /// Another adapter's seed instead of this one's.
    foreign: Option<Index>,
    shape: Shape,
    charset: Charset,
    grid: Vec<GridMut>,
    json: Vec<JsonMut>,
    bytes: Vec<ByteMut>,
}

/// Keys the JSON adapters read; a field is set or renamed to one of them. Renames never produce
/// an id that is stored as it is (a comment id moved onto a text would be stored, by design).
const JSON_KEYS: &[&str] = &[
    "create_time",
    "create_date_time",
    "creator_hash",
    "parent_comment_id",
    "content",
    "nickname",
    "title",
    "desc",
    "liked_count",
    "comment_count",
    "share_count",
    "aweme_url",
    "openid",
    "reply",
    "comment",
    "aweme_id",
];
const ID_KEYS: &[&str] = &["comment_id", "user_comment_id", "msg_data_id", "index", "note_id"];

/// Cell values that have broken parsers elsewhere: numbers at and past the limits, times out of
/// range, quotes and line breaks, control and invisible characters, and random text.
fn nasty() -> impl Strategy<Value = String> {
    let fixed: Vec<&'static str> = vec![
        "",
        " ",
        "-",
        "--",
        "0",
        "-1",
        "1e308",
        "-1e308",
        "NaN",
        "inf",
        "99999999999999999999",
        "18446744073709551616",
        "9223372036854775807",
        "1.2万",
        "9e300万",
        "3亿",
        "1,234",
        ",,,",
        "9999-12-31 23:59:59",
        "0000-01-01 00:00:00",
        "+262143-12-31T23:59:59Z",
        "-262144-01-01",
        "2019-02-30 10:00",
        "99999999999999",
        "100000000000",
        "1e13",
        "2958465.9999",
        "0.5",
        "Sat Jun 01 12:34:56 +0800 262143",
        "2019年13月",
        "\"unclosed",
        "a\"b",
        "line\nbreak",
        "\r",
        "\u{0}",
        "\u{7}",
        "\u{85}",
        "\u{feff}",
        "\u{202e}",
        "微博",
        "抖音",
        "是",
        "转发",
        "留言",
        "holiday",
        "2019-07-01 10:00",
        "1566307800",
        "<td>",
        "</table>",
        "&amp;",
        "=1+1",
        "\t7120015838\t",
    ];
    prop_oneof![
        4 => prop::sample::select(fixed).prop_map(str::to_string),
        // Printable text mostly: a control character makes the whole text file refused.
        2 => prop::collection::vec(prop_oneof![prop::char::range(' ', '~'), prop::char::range('\u{4e00}', '\u{9fff}')], 0..24)
            .prop_map(String::from_iter),
        1 => prop::collection::vec(any::<char>(), 0..24).prop_map(String::from_iter),
        1 => prop::collection::vec(any::<u8>(), 0..24).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => any::<f64>().prop_map(|n| n.to_string()),
    ]
}

fn json_value() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|n| serde_json::Number::from_f64(n).map_or(Json::Null, Json::Number)),
        nasty().prop_map(Json::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Json::Array),
            prop::collection::vec((prop::sample::select(JSON_KEYS), inner), 0..4)
                .prop_map(|kv| Json::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
        ]
    })
}

fn grid_mut() -> impl Strategy<Value = GridMut> {
    let i = any::<Index>;
    prop_oneof![
        1 => i().prop_map(GridMut::DropColumn),
        1 => (i(), nasty()).prop_map(|(c, s)| GridMut::ExtraColumn(c, s)),
        1 => (i(), i()).prop_map(|(r, c)| GridMut::DropCell(r, c)),
        1 => (i(), i(), nasty()).prop_map(|(r, c, s)| GridMut::InsertCell(r, c, s)),
        1 => (i(), 1usize..5).prop_map(|(r, n)| GridMut::ExtraCells(r, n)),
        3 => (i(), i(), nasty()).prop_map(|(r, c, s)| GridMut::SetCell(r, c, s)),
        1 => (i(), i(), 100usize..600).prop_map(|(r, c, k)| GridMut::HugeCell(r, c, k)),
        1 => i().prop_map(GridMut::DuplicateRow),
        1 => i().prop_map(GridMut::DropRow),
        1 => i().prop_map(GridMut::RepeatHeader),
        1 => nasty().prop_map(GridMut::TitleRow),
        1 => Just(GridMut::HeaderOnly),
    ]
}

fn json_mut() -> impl Strategy<Value = JsonMut> {
    let i = any::<Index>;
    prop_oneof![
        1 => (i(), i(), i()).prop_map(|(a, b, k)| JsonMut::RemoveField(a, b, k)),
        3 => (i(), i(), i(), json_value()).prop_map(|(a, b, k, v)| JsonMut::SetField(a, b, k, v)),
        1 => (i(), i(), i(), i()).prop_map(|(a, b, k, to)| JsonMut::RenameField(a, b, k, to)),
        1 => (i(), i(), i(), 100usize..600).prop_map(|(a, b, k, n)| JsonMut::HugeField(a, b, k, n)),
        1 => i().prop_map(JsonMut::DuplicateRecord),
        1 => i().prop_map(JsonMut::DropRecord),
        1 => (i(), json_value()).prop_map(|(a, v)| JsonMut::ReplaceRecord(a, v)),
        1 => (i(), 1usize..300).prop_map(|(a, d)| JsonMut::DeepNest(a, d)),
    ]
}

fn byte_mut() -> impl Strategy<Value = ByteMut> {
    let i = any::<Index>;
    prop_oneof![
        3 => i().prop_map(ByteMut::Truncate),
        3 => (i(), prop::collection::vec(any::<u8>(), 1..48)).prop_map(|(at, b)| ByteMut::Splice(at, b)),
        2 => (i(), prop::collection::vec(any::<u8>(), 1..16)).prop_map(|(at, b)| ByteMut::Overwrite(at, b)),
        1 => Just(ByteMut::Empty),
        3 => (i(), prop::collection::vec(xml_mut(), 1..3)).prop_map(|(part, m)| ByteMut::XlsxPart(part, m)),
        3 => prop::sample::select(XLSX_ROWS).prop_map(ByteMut::XlsxRow),
    ]
}

/// Byte mutations of a workbook's XML part.
fn xml_mut() -> impl Strategy<Value = ByteMut> {
    let i = any::<Index>;
    let tokens: Vec<&'static [u8]> = vec![b"<", b">", b"&", b"&#0;", b"&#xD800;", b"\"", b"</c>", b"</row>", b"<c r=\"A1\">", b"\xff\xfe"];
    prop_oneof![
        1 => i().prop_map(ByteMut::Truncate),
        2 => (i(), prop::collection::vec(any::<u8>(), 1..16)).prop_map(|(at, b)| ByteMut::Splice(at, b)),
        2 => (i(), prop::sample::select(tokens)).prop_map(|(at, t)| ByteMut::Splice(at, t.to_vec())),
    ]
}

fn charset() -> impl Strategy<Value = Charset> {
    prop_oneof![
        5 => Just(Charset::Utf8),
        2 => Just(Charset::Utf8Bom),
        3 => Just(Charset::Gbk),
        1 => Just(Charset::Big5),
        1 => Just(Charset::Utf16Le),
    ]
}

fn case(shapes: Vec<Shape>) -> impl Strategy<Value = Case> {
    (
        prop_oneof![6 => Just(None), 1 => any::<Index>().prop_map(Some)],
        prop::sample::select(shapes),
        charset(),
        prop::collection::vec(grid_mut(), 0..4),
        prop::collection::vec(json_mut(), 0..4),
        prop_oneof![3 => Just(Vec::new()), 1 => prop::collection::vec(byte_mut(), 1..3)],
    )
        .prop_map(|(foreign, shape, charset, grid, json, bytes)| Case { foreign, shape, charset, grid, json, bytes })
}

// ---------------------------------------------------------------------------------------------
// Applying a case

fn huge(kib: usize) -> String {
    // Three bytes a character: `kib` KiB of text, with a break now and then.
    let mut s = String::with_capacity(kib * 1024);
    while s.len() < kib * 1024 {
        s.push_str("长文本单元格内容，");
    }
    s
}

fn mutate_grid(content: &mut Content, muts: &[GridMut]) {
    let Content::Grid { above, header, rows } = content else { return };
    for m in muts {
        match m {
            GridMut::DropColumn(c) if !header.is_empty() => {
                let c = c.index(header.len());
                header.remove(c);
                rows.iter_mut().filter(|r| r.len() > c).for_each(|r| {
                    r.remove(c);
                });
            }
            GridMut::ExtraColumn(c, v) => {
                let c = c.index(header.len() + 1);
                header.insert(c, "额外列".into());
                rows.iter_mut().for_each(|r| r.insert(c.min(r.len()), v.clone()));
            }
            GridMut::DropCell(r, c) if !rows.is_empty() => {
                let n = rows.len();
                let row = &mut rows[r.index(n)];
                if !row.is_empty() {
                    row.remove(c.index(row.len()));
                }
            }
            GridMut::InsertCell(r, c, v) if !rows.is_empty() => {
                let n = rows.len();
                let row = &mut rows[r.index(n)];
                row.insert(c.index(row.len() + 1), v.clone());
            }
            GridMut::ExtraCells(r, extra) if !rows.is_empty() => {
                let n = rows.len();
                let row = &mut rows[r.index(n)];
                row.extend((0..*extra).map(|k| format!("多余{k}")));
            }
            GridMut::SetCell(r, c, v) if !rows.is_empty() => {
                let n = rows.len();
                let row = &mut rows[r.index(n)];
                match row.len() {
                    0 => row.push(v.clone()),
                    k => row[c.index(k)] = v.clone(),
                }
            }
            GridMut::HugeCell(r, c, kib) if !rows.is_empty() => {
                let n = rows.len();
                let row = &mut rows[r.index(n)];
                match row.len() {
                    0 => row.push(huge(*kib)),
                    k => row[c.index(k)] = huge(*kib),
                }
            }
            GridMut::DuplicateRow(r) if !rows.is_empty() => {
                let at = r.index(rows.len());
                rows.insert(at, rows[at].clone());
            }
            GridMut::DropRow(r) if !rows.is_empty() => {
                rows.remove(r.index(rows.len()));
            }
            GridMut::RepeatHeader(r) => {
                let at = r.index(rows.len() + 1);
                rows.insert(at, header.clone());
            }
            GridMut::TitleRow(t) => above.push(vec![t.clone()]),
            GridMut::HeaderOnly => rows.clear(),
            _ => {}
        }
    }
}

/// The object a JSON mutation works on: a record, or a comment of a `{"comment": [...]}` record.
fn pick<'a>(records: &'a mut [Json], a: &Index, b: &Index) -> Option<&'a mut Map<String, Json>> {
    if records.is_empty() {
        return None;
    }
    let rec = &mut records[a.index(records.len())];
    let has_list = rec.get("comment").and_then(Json::as_array).is_some_and(|l| !l.is_empty());
    if has_list {
        let list = rec["comment"].as_array_mut()?;
        let n = list.len();
        return list[b.index(n)].as_object_mut();
    }
    rec.as_object_mut()
}

fn mutate_json(content: &mut Content, muts: &[JsonMut]) {
    let Content::Json(records) = content else { return };
    for m in muts {
        match m {
            JsonMut::RemoveField(a, b, k) => {
                if let Some(o) = pick(records, a, b).filter(|o| !o.is_empty()) {
                    let key = o.keys().nth(k.index(o.len())).cloned().unwrap_or_default();
                    o.remove(&key);
                }
            }
            JsonMut::SetField(a, b, k, v) => {
                if let Some(o) = pick(records, a, b) {
                    let keys: Vec<String> = o.keys().cloned().chain(JSON_KEYS.iter().map(|s| s.to_string())).collect();
                    o.insert(keys[k.index(keys.len())].clone(), v.clone());
                }
            }
            JsonMut::RenameField(a, b, k, to) => {
                if let Some(o) = pick(records, a, b).filter(|o| !o.is_empty()) {
                    let key = o.keys().nth(k.index(o.len())).cloned().unwrap_or_default();
                    let to = JSON_KEYS[to.index(JSON_KEYS.len())];
                    debug_assert!(!ID_KEYS.contains(&to));
                    if let Some(v) = o.remove(&key) {
                        o.insert(to.to_string(), v);
                    }
                }
            }
            JsonMut::HugeField(a, b, k, kib) => {
                if let Some(o) = pick(records, a, b).filter(|o| !o.is_empty()) {
                    let key = o.keys().nth(k.index(o.len())).cloned().unwrap_or_default();
                    o.insert(key, Json::String(huge(*kib)));
                }
            }
            JsonMut::DuplicateRecord(a) if !records.is_empty() => {
                let at = a.index(records.len());
                records.insert(at, records[at].clone());
            }
            JsonMut::DropRecord(a) if !records.is_empty() => {
                records.remove(a.index(records.len()));
            }
            JsonMut::ReplaceRecord(a, v) if !records.is_empty() => {
                let at = a.index(records.len());
                records[at] = v.clone();
            }
            JsonMut::DeepNest(a, depth) if !records.is_empty() => {
                let at = a.index(records.len());
                let mut v = std::mem::take(&mut records[at]);
                for _ in 0..*depth {
                    v = json!({ "comment": [v] });
                }
                records[at] = v;
            }
            _ => {}
        }
    }
}

/// A grid as JSON records (header → cell), or JSON records as a grid (the keys seen, in order).
fn as_grid(content: &Content) -> (Vec<Vec<String>>, Vec<String>, Vec<Vec<String>>) {
    match content {
        Content::Grid { above, header, rows } => (above.clone(), header.clone(), rows.clone()),
        Content::Json(records) => {
            let mut header: Vec<String> = Vec::new();
            for r in records {
                if let Some(o) = r.as_object() {
                    for k in o.keys() {
                        if !header.contains(k) {
                            header.push(k.clone());
                        }
                    }
                }
            }
            let rows = records
                .iter()
                .map(|r| {
                    header
                        .iter()
                        .map(|k| match r.get(k) {
                            None | Some(Json::Null) => String::new(),
                            Some(Json::String(s)) => s.clone(),
                            Some(v) => v.to_string(),
                        })
                        .collect()
                })
                .collect();
            (Vec::new(), header, rows)
        }
    }
}

fn as_json(content: &Content) -> Vec<Json> {
    match content {
        Content::Json(records) => records.clone(),
        Content::Grid { header, rows, .. } => {
            rows.iter().map(|r| Json::Object(header.iter().zip(r).map(|(h, c)| (h.clone(), Json::String(c.clone()))).collect())).collect()
        }
    }
}

fn encode_text(text: &str, charset: Charset) -> Vec<u8> {
    match charset {
        Charset::Utf8 => text.as_bytes().to_vec(),
        Charset::Utf8Bom => [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat(),
        Charset::Gbk => encoding_rs::GBK.encode(text).0.into_owned(),
        Charset::Big5 => encoding_rs::BIG5.encode(text).0.into_owned(),
        Charset::Utf16Le => [0xFF, 0xFE].into_iter().chain(text.encode_utf16().flat_map(u16::to_le_bytes)).collect(),
    }
}

fn csv_text(rows: &[Vec<String>], crlf: bool) -> String {
    let terminator = if crlf { csv::Terminator::CRLF } else { csv::Terminator::Any(b'\n') };
    let mut w = csv::WriterBuilder::new().flexible(true).terminator(terminator).from_writer(Vec::new());
    for r in rows {
        // A record of no cells is written as one empty cell (an empty line).
        let r: &[String] = if r.is_empty() { &[String::new()] } else { r };
        w.write_record(r).expect("test harness: CSV writer");
    }
    String::from_utf8(w.into_inner().expect("test harness: CSV writer")).expect("test harness: CSV is UTF-8")
}

fn html_text(above: &[Vec<String>], header: &[String], rows: &[Vec<String>]) -> String {
    let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let mut s = String::from("<html><head><meta charset=\"utf-8\"></head><body>\n");
    for t in above {
        s.push_str(&format!("<p>{}</p>\n", esc(&t.join(" "))));
    }
    s.push_str("<table border=\"1\">\n<tr>");
    header.iter().for_each(|h| s.push_str(&format!("<th>{}</th>", esc(h))));
    s.push_str("</tr>\n");
    for r in rows {
        s.push_str("<tr>");
        r.iter().for_each(|c| s.push_str(&format!("<td>{}</td>", esc(c))));
        s.push_str("</tr>\n");
    }
    s.push_str("</table></body></html>\n");
    s
}

fn xlsx_bytes(all: &[Vec<String>], typed: bool) -> Vec<u8> {
    use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    let date_fmt = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    for (r, row) in all.iter().enumerate() {
        for (c, cell) in row.iter().enumerate().take(16_000) {
            let (r, c) = (r as u32, c as u16);
            if cell.is_empty() {
                continue;
            }
            if typed {
                if let Ok(n) = cell.parse::<f64>() {
                    if n.is_finite() && ws.write_number(r, c, n).is_ok() {
                        continue;
                    }
                }
                if let Ok(t) = chrono::NaiveDateTime::parse_from_str(cell, "%Y-%m-%d %H:%M:%S") {
                    if let Ok(dt) = ExcelDateTime::parse_from_str(&t.format("%Y-%m-%dT%H:%M:%S").to_string()) {
                        if ws.write_datetime_with_format(r, c, &dt, &date_fmt).is_ok() {
                            continue;
                        }
                    }
                }
            }
            // Excel holds at most 32767 characters in a cell.
            let text: String = cell.chars().take(32_767).collect();
            ws.write_string(r, c, &text).expect("test harness: XLSX cell");
        }
    }
    wb.save_to_buffer().expect("test harness: XLSX workbook")
}

fn encode(content: &Content, shape: Shape, charset: Charset) -> Vec<u8> {
    match shape {
        Shape::Csv { crlf } => {
            let (above, header, rows) = as_grid(content);
            let all: Vec<Vec<String>> = above.into_iter().chain(std::iter::once(header)).chain(rows).collect();
            encode_text(&csv_text(&all, crlf), charset)
        }
        Shape::Html => {
            let (above, header, rows) = as_grid(content);
            encode_text(&html_text(&above, &header, &rows), charset)
        }
        Shape::Xlsx { typed } => {
            let (above, header, rows) = as_grid(content);
            let all: Vec<Vec<String>> = above.into_iter().chain(std::iter::once(header)).chain(rows).collect();
            xlsx_bytes(&all, typed)
        }
        Shape::JsonDoc { pretty } => {
            let records = as_json(content);
            let doc = if records.len() == 1 { records[0].clone() } else { Json::Array(records) };
            let text = if pretty { serde_json::to_string_pretty(&doc) } else { serde_json::to_string(&doc) };
            encode_text(&text.expect("test harness: JSON"), charset)
        }
        Shape::JsonLines => {
            let lines: Vec<String> = as_json(content).iter().map(Json::to_string).collect();
            encode_text(&(lines.join("\n") + "\n"), charset)
        }
    }
}

fn mutate_bytes(bytes: &mut Vec<u8>, muts: &[ByteMut]) {
    for m in muts {
        match m {
            ByteMut::Truncate(at) => {
                let at = at.index(bytes.len() + 1);
                bytes.truncate(at);
            }
            ByteMut::Splice(at, b) => {
                let at = at.index(bytes.len() + 1);
                bytes.splice(at..at, b.iter().copied());
            }
            ByteMut::Overwrite(at, b) => {
                let at = at.index(bytes.len() + 1);
                let end = (at + b.len()).min(bytes.len());
                bytes.splice(at..end, b.iter().copied());
            }
            ByteMut::Empty => bytes.clear(),
            ByteMut::XlsxPart(part, muts) => {
                let Some(names) = xlsx_parts(bytes) else { continue };
                let name = &names[part.index(names.len())];
                if let Some(b) = rezip(bytes, |n, data| {
                    if n == name {
                        mutate_bytes(data, muts)
                    }
                }) {
                    *bytes = b;
                }
            }
            ByteMut::XlsxRow(row) => {
                let rewrite = |n: &str, data: &mut Vec<u8>| {
                    if !n.starts_with("xl/worksheets/") {
                        return;
                    }
                    let tag = b"<sheetData>";
                    if let Some(at) = data.windows(tag.len()).position(|w| w == tag) {
                        data.splice(at + tag.len()..at + tag.len(), row.bytes());
                    }
                };
                if let Some(b) = rezip(bytes, rewrite) {
                    *bytes = b;
                }
            }
        }
    }
}

/// The XML parts of a workbook (`None` when the bytes are not a zip).
fn xlsx_parts(bytes: &[u8]) -> Option<Vec<String>> {
    let zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).ok()?;
    let mut names: Vec<String> =
        zip.file_names().filter_map(|n| n.ok().map(|n| n.into_owned())).filter(|n| n.ends_with(".xml") || n.ends_with(".rels")).collect();
    names.sort();
    (!names.is_empty()).then_some(names)
}

/// The workbook zipped again, each part passed through `rewrite` (`None` when it is not a zip).
fn rezip(bytes: &[u8], mut rewrite: impl FnMut(&str, &mut Vec<u8>)) -> Option<Vec<u8>> {
    use std::io::{Read, Write};
    let mut zin = zip::ZipArchive::new(std::io::Cursor::new(bytes)).ok()?;
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for i in 0..zin.len() {
        let mut f = zin.by_index(i).ok()?;
        let name = f.name().ok()?.into_owned();
        let mut data = Vec::new();
        f.read_to_end(&mut data).ok()?;
        rewrite(&name, &mut data);
        out.start_file(name, opts).ok()?;
        out.write_all(&data).ok()?;
    }
    Some(out.finish().ok()?.into_inner())
}

fn extension(shape: Shape) -> &'static str {
    match shape {
        Shape::Csv { .. } => "csv",
        Shape::Xlsx { .. } => "xlsx",
        Shape::Html => "xls",
        Shape::JsonDoc { .. } => "json",
        Shape::JsonLines => "jsonl",
    }
}

// ---------------------------------------------------------------------------------------------
// Adapters and the properties

#[derive(Clone, Copy, PartialEq)]
enum Base {
    Empty,
    Registry,
    RegistryPosts,
}

struct Adapter {
    kind: &'static str,
    format: &'static str,
    seed: &'static str,
    as_of: Option<&'static str>,
    base: Base,
    shapes: fn() -> Vec<Shape>,
}

fn tabular() -> Vec<Shape> {
    vec![Shape::Csv { crlf: true }, Shape::Csv { crlf: false }, Shape::Xlsx { typed: false }, Shape::Xlsx { typed: true }, Shape::Html]
}

fn json_shapes() -> Vec<Shape> {
    vec![Shape::JsonDoc { pretty: true }, Shape::JsonDoc { pretty: false }, Shape::JsonLines, Shape::JsonLines]
}

fn mediacrawler_shapes() -> Vec<Shape> {
    vec![Shape::JsonLines, Shape::JsonLines, Shape::JsonDoc { pretty: false }, Shape::Csv { crlf: false }, Shape::Xlsx { typed: false }]
}

fn canonical(kind: &'static str, base: Base) -> Adapter {
    Adapter { kind, format: "canonical", seed: kind, as_of: None, base, shapes: tabular }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_CASES)
}

/// Runs the properties over `cases()` random cases of one adapter.
fn check(adapter: Adapter) {
    let seeds = seeds();
    let config = Config { cases: cases(), failure_persistence: None, max_shrink_iters: 512, ..Config::default() };
    let mut runner = TestRunner::new(config);
    let rt = rt();
    let result = runner.run(&case((adapter.shapes)()), |case| run_case(&rt, seeds, &adapter, &case));
    if let Err(e) = result {
        panic!("{} {}: {e}", adapter.kind, adapter.format);
    }
}

fn run_case(rt: &tokio::runtime::Runtime, seeds: &Seeds, adapter: &Adapter, case: &Case) -> Result<(), TestCaseError> {
    let own = seeds.get(adapter.seed);
    let seed = match &case.foreign {
        Some(i) => &seeds.seeds[i.index(seeds.seeds.len())],
        None => own,
    };
    let t0 = std::time::Instant::now();
    let mut content = seed.content.clone();
    mutate_grid(&mut content, &case.grid);
    mutate_json(&mut content, &case.json);
    let mut bytes = encode(&content, case.shape, case.charset);
    mutate_bytes(&mut bytes, &case.bytes);

    let t1 = t0.elapsed();
    let dir = tempfile::tempdir().unwrap();
    let wh_dir = dir.path().join("wh");
    let base = match adapter.base {
        Base::Empty => &[][..],
        Base::Registry => &seeds.registry[..],
        Base::RegistryPosts => &seeds.registry_posts[..],
    };
    for (rel, b) in base {
        let p = wh_dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b).unwrap();
    }
    // The file sits where its own seed's would (its folder may name the account).
    let rel = format!("in/{}.{}", own.stem, extension(case.shape));
    let file = dir.path().join(&rel);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, &bytes).unwrap();
    let spec = SourceSpec {
        kind: adapter.kind.into(),
        format: adapter.format.into(),
        path: rel.clone(),
        account: None,
        platform: None,
        as_of: adapter.as_of.map(str::to_string),
    };
    let source = resolve_source(dir.path(), 1, &spec).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let wh = Warehouse::open(wh_dir.to_str().unwrap()).unwrap();
    let before = rt.block_on(wh.manifest()).unwrap();
    let report = rt
        .block_on(ingest(&wh, &[source], &IngestOptions::default()))
        .map_err(|e| TestCaseError::fail(format!("the run failed (a bad file must not fail the run): {e}")))?;
    let t2 = t0.elapsed();
    let what = format!("seed {} as {:?}/{:?}, {} bytes, {:?}", seed.name, case.shape, case.charset, bytes.len(), report.files);

    counts_reconcile(rt, &wh, &report, adapter, before.rows(table_of(adapter.kind)), &what)?;
    // Posts and messages are merged with the staged rows as columns: the same file again
    // reconciles too, and changes no row count.
    if matches!(adapter.kind, "posts" | "interactions") && report.files[0].loaded > 0 {
        let source = resolve_source(dir.path(), 1, &spec).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let again = rt
            .block_on(ingest(&wh, &[source], &IngestOptions::default()))
            .map_err(|e| TestCaseError::fail(format!("the second run failed: {e}")))?;
        let what = format!("the same file again: {:?}; {what}", again.files);
        counts_reconcile(rt, &wh, &again, adapter, 1, &what)?;
        prop_assert_eq!(&again.tables, &report.tables, "{}", what);
    }
    let t3 = t0.elapsed();
    if seed.planted {
        no_marker_stored(&wh_dir, base, adapter, seed, &what)?;
    }
    if std::env::var_os("ADAPTER_PROPS_LOG").is_some() {
        // What the cases did, to see that the mutations reach the rows (not only the file checks).
        let f = &report.files[0];
        let error: Option<String> = f.error.as_ref().map(|e| e.chars().take(70).collect());
        eprintln!(
            "{} {} seed={} {:?}/{:?} bytes={} read={} loaded={} rejected={} duplicates={} merged={} error={error:?} \
             (encode {:?}, ingest {:?}, counts {:?}, privacy {:?})",
            adapter.kind,
            adapter.format,
            seed.name,
            case.shape,
            case.charset,
            bytes.len(),
            f.read,
            f.loaded,
            f.rejected,
            f.duplicates,
            f.merged,
            t1,
            t2 - t1,
            t3 - t2,
            t0.elapsed() - t3
        );
    }
    Ok(())
}

fn table_of(kind: &str) -> &'static str {
    govmedia::ingest::Kind::parse(kind).map(|k| k.table().name).unwrap_or("")
}

/// read = loaded + rejected + duplicates + merged for every file; each rejected row has its
/// reject; the stored `ingest_files` rows say the same; the table holds the rows loaded.
fn counts_reconcile(
    rt: &tokio::runtime::Runtime,
    wh: &Warehouse,
    report: &IngestReport,
    adapter: &Adapter,
    rows_before: u64,
    what: &str,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(report.files.len(), 1, "{}", what);
    for f in &report.files {
        prop_assert_eq!(f.read, f.loaded + f.rejected + f.duplicates + f.merged, "counts do not reconcile: {}", what);
        let rejects = report.rejects.iter().filter(|r| r.source_file == f.source_file && r.loc.is_some()).count() as u64;
        prop_assert_eq!(f.rejected, rejects, "rejected rows and their rejects differ: {}", what);
        if f.error.is_some() {
            prop_assert_eq!(f.loaded, 0, "a skipped file loaded rows: {}", what);
        }
    }
    let manifest = rt.block_on(wh.manifest()).unwrap();
    let stored = rt.block_on(wh.read_rows(&manifest, &table::INGEST_FILES)).unwrap();
    let def = &table::INGEST_FILES;
    let int = |r: &Vec<Value>, c: &str| match r[def.index(c)] {
        Value::Int(n) => n as u64,
        _ => u64::MAX,
    };
    let ours: Vec<_> = stored.iter().filter(|r| r[def.index("run_id")].as_str() == Some(report.run_id.as_str())).collect();
    prop_assert_eq!(ours.len(), report.files.len(), "ingest_files rows: {}", what);
    for (row, f) in ours.iter().zip(&report.files) {
        let counts = [int(row, "read"), int(row, "loaded"), int(row, "rejected"), int(row, "duplicates"), int(row, "merged")];
        prop_assert_eq!(counts, [f.read, f.loaded, f.rejected, f.duplicates, f.merged], "stored counts: {}", what);
        prop_assert_eq!(counts[0], counts[1..].iter().sum::<u64>(), "stored counts do not reconcile: {}", what);
    }
    let rejects = rt.block_on(wh.read_rows(&manifest, &table::REJECTS)).unwrap();
    let stored_rejects = rejects.iter().filter(|r| r[table::REJECTS.index("run_id")].as_str() == Some(report.run_id.as_str())).count();
    prop_assert_eq!(stored_rejects, report.rejects.len(), "stored rejects: {}", what);
    // A table the base warehouse left empty holds exactly the rows the file loaded (the calendar
    // also holds the built-in days).
    if adapter.kind != "calendar" && rows_before == 0 {
        let loaded: u64 = report.files.iter().map(|f| f.loaded).sum();
        prop_assert_eq!(report.tables[table_of(adapter.kind)], loaded, "table rows and loaded differ: {}", what);
    }
    Ok(())
}

/// Where a planted marker was found: a file of the warehouse, and the column when read back.
#[derive(Debug)]
struct Finding {
    file: String,
    column: Option<String>,
    value: String,
}

/// Every file under the warehouse folder, as bytes and (Parquet) as string columns read back;
/// the files of the `base` warehouse the case started from, as they were, are skipped.
fn findings(wh_dir: &Path, base: &[(PathBuf, Vec<u8>)]) -> Vec<Finding> {
    use arrow::array::{Array, AsArray};
    let mut out = Vec::new();
    for p in walk(wh_dir) {
        let rel = p.strip_prefix(wh_dir).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        if base.iter().any(|(r, b)| r == rel && *b == bytes) {
            continue;
        }
        let rel = rel.to_string_lossy().to_string();
        if let Some(at) = bytes.windows(MARK.len()).position(|w| w == MARK.as_bytes()) {
            let near = String::from_utf8_lossy(&bytes[at..(at + 40).min(bytes.len())]).into_owned();
            out.push(Finding { file: rel.clone(), column: None, value: near });
        }
        if !rel.ends_with(".parquet") {
            continue;
        }
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
            .and_then(|b| b.build())
            .unwrap_or_else(|e| panic!("{rel} is not readable Parquet: {e}"));
        for batch in reader {
            let batch = batch.unwrap();
            for (field, col) in batch.schema().fields().iter().zip(batch.columns()) {
                let Ok(text) = arrow::compute::cast(col, &arrow::datatypes::DataType::Utf8) else { continue };
                let text = text.as_string::<i32>();
                for i in 0..text.len() {
                    if text.is_valid(i) && text.value(i).contains(MARK) {
                        let v: String = text.value(i).chars().take(120).collect();
                        out.push(Finding { file: rel.clone(), column: Some(field.name().clone()), value: v });
                    }
                }
            }
        }
    }
    out
}

/// The defects of issue #12 being fixed at the same time, each recognised by where its marker
/// lands; remove an arm when its fix is in (the ignored tests below then pass).
fn known_defect(_adapter: &Adapter, _seed: &Seed, _f: &Finding) -> Option<&'static str> {
    None
}

/// No planted message text or author in any file of the warehouse.
fn no_marker_stored(wh_dir: &Path, base: &[(PathBuf, Vec<u8>)], adapter: &Adapter, seed: &Seed, what: &str) -> Result<(), TestCaseError> {
    let found = findings(wh_dir, base);
    // A byte match inside a Parquet file is explained by a known defect's column of that file.
    let explained: Vec<&str> =
        found.iter().filter(|f| f.column.is_some() && known_defect(adapter, seed, f).is_some()).map(|f| f.file.as_str()).collect();
    let mut leaks = Vec::new();
    for f in &found {
        match known_defect(adapter, seed, f) {
            Some(defect) => report_known(defect, f),
            None if f.column.is_none() && explained.contains(&f.file.as_str()) => {}
            None => leaks.push(f),
        }
    }
    prop_assert!(leaks.is_empty(), "message text or author stored: {:?}; {}", leaks, what);
    Ok(())
}

/// Says once per defect that the run met it (the test passes: another change fixes it).
fn report_known(defect: &'static str, f: &Finding) {
    static SEEN: OnceLock<std::sync::Mutex<BTreeMap<&'static str, ()>>> = OnceLock::new();
    let seen = SEEN.get_or_init(Default::default);
    if seen.lock().map(|mut s| s.insert(defect, ()).is_none()).unwrap_or(false) {
        eprintln!("adapter_props: known defect of issue #12 met: {defect} ({}, {:?}: {})", f.file, f.column, f.value);
    }
}

macro_rules! adapter_tests {
    ($($name:ident => $adapter:expr;)*) => {$(
        #[test]
        fn $name() {
            check($adapter);
        }
    )*};
}

adapter_tests! {
    canonical_registry => canonical("registry", Base::Empty);
    canonical_filings => canonical("filings", Base::Registry);
    canonical_posts => canonical("posts", Base::Registry);
    canonical_interactions => canonical("interactions", Base::Registry);
    canonical_followers => canonical("followers", Base::Registry);
    canonical_directives => canonical("directives", Base::Registry);
    canonical_self_inspections => canonical("self_inspections", Base::Registry);
    canonical_findings => canonical("findings", Base::Registry);
    canonical_calendar => canonical("calendar", Base::Empty);
    weibo_crawler => Adapter { kind: "posts", format: "weibo-crawler", seed: "weibo-crawler", as_of: None, base: Base::Registry, shapes: tabular };
    weibospider => Adapter { kind: "posts", format: "weibospider", seed: "weibospider", as_of: None, base: Base::Registry, shapes: tabular };
    wechat_mp => Adapter { kind: "posts", format: "wechat-mp", seed: "wechat-mp", as_of: None, base: Base::Registry, shapes: tabular };
    douyin_creator => Adapter { kind: "posts", format: "douyin-creator", seed: "douyin-creator", as_of: None, base: Base::Registry, shapes: tabular };
    mediacrawler_posts => Adapter { kind: "posts", format: "mediacrawler", seed: "mediacrawler-posts", as_of: None, base: Base::Registry, shapes: mediacrawler_shapes };
    mediacrawler_comments => Adapter { kind: "interactions", format: "mediacrawler", seed: "mediacrawler-comments", as_of: None, base: Base::RegistryPosts, shapes: mediacrawler_shapes };
    wechat_comments => Adapter { kind: "interactions", format: "wechat-comments", seed: "wechat-comments", as_of: None, base: Base::Registry, shapes: json_shapes };
    weibo_crawler_users => Adapter { kind: "followers", format: "weibo-crawler-users", seed: "weibo-crawler-users", as_of: Some("2019-09-30"), base: Base::Registry, shapes: tabular };
    wechat_mp_users => Adapter { kind: "followers", format: "wechat-mp-users", seed: "wechat-mp-users", as_of: None, base: Base::Registry, shapes: tabular };
}

/// The privacy scan is not vacuous: a marker in a stored column (a post's title) is found, by
/// column, in the posts file.
#[test]
fn the_privacy_scan_finds_a_stored_marker() {
    let dir = tempfile::tempdir().unwrap();
    let posts = format!("平台,账号ID,发布ID,发布时间,标题\n微博,1001,a1,2019-07-01 09:00,{MARK}-title\n");
    std::fs::write(dir.path().join("p.csv"), posts).unwrap();
    let found = ingest_one(dir.path(), "posts", "canonical", "p.csv");
    assert!(found.iter().any(|f| f.file.starts_with("staging/posts/") && f.column.as_deref() == Some("title")), "{found:?}");
}

/// Ingests one file into a fresh warehouse under `dir` and returns where markers were found.
fn ingest_one(dir: &Path, kind: &str, format: &str, file: &str) -> Vec<Finding> {
    let spec = SourceSpec { kind: kind.into(), format: format.into(), path: file.into(), account: None, platform: None, as_of: None };
    let source = resolve_source(dir, 1, &spec).unwrap();
    let wh_dir = dir.join("wh");
    let wh = Warehouse::open(wh_dir.to_str().unwrap()).unwrap();
    rt().block_on(ingest(&wh, &[source], &IngestOptions::default())).unwrap();
    findings(&wh_dir, &[])
}

// The defects of issue #12 that the properties meet, each as the smallest file that shows it.
// Another change fixes them; these then pass, and the matching arm of `known_defect` goes.

#[test]
fn known_defect_a_message_reject_reason_quotes_no_cell() {
    let dir = tempfile::tempdir().unwrap();
    // The row lacks its 留言人 cell: the message text sits in 回复时间 and is not a time.
    let messages = format!(
        "平台,账号ID,留言ID,渠道,留言时间,留言人,回复时间,留言内容\n微博,1001,m1,留言,2019-07-01 10:00,2019-07-02 09:00,{MARK}-text\n"
    );
    std::fs::write(dir.path().join("m.csv"), messages).unwrap();
    let found = ingest_one(dir.path(), "interactions", "canonical", "m.csv");
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn known_defect_a_comments_dump_given_as_posts_stores_no_text() {
    let dir = tempfile::tempdir().unwrap();
    let hash = govmedia::ingest::creator_hash("d1");
    std::fs::create_dir_all(dir.path().join("douyin")).unwrap();
    std::fs::write(dir.path().join("registry.csv"), "单位名称,平台,账号ID\n某局,抖音,d1\n").unwrap();
    let comments = format!(
        "{{\"aweme_id\":\"v1\",\"comment_id\":\"c1\",\"content\":\"{MARK}-text-1\",\"create_time\":1568541120,\"creator_hash\":\"{MARK}-author\",\"nickname\":\"{MARK}-nick\",\"parent_comment_id\":\"0\"}}\n\
         {{\"aweme_id\":\"v1\",\"comment_id\":\"c1r\",\"content\":\"{MARK}-text-2\",\"create_time\":1568608860,\"creator_hash\":\"{hash}\",\"nickname\":\"某局\",\"parent_comment_id\":\"c1\"}}\n"
    );
    std::fs::write(dir.path().join("douyin/comments.jsonl"), comments).unwrap();
    let spec = |kind: &str, format: &str, path: &str| SourceSpec {
        kind: kind.into(),
        format: format.into(),
        path: path.into(),
        account: None,
        platform: None,
        as_of: None,
    };
    let sources = [
        resolve_source(dir.path(), 1, &spec("registry", "canonical", "registry.csv")).unwrap(),
        resolve_source(dir.path(), 2, &spec("posts", "mediacrawler", "douyin/comments.jsonl")).unwrap(),
    ];
    let wh_dir = dir.path().join("wh");
    let wh = Warehouse::open(wh_dir.to_str().unwrap()).unwrap();
    let report = rt().block_on(ingest(&wh, &sources, &IngestOptions::default())).unwrap();
    let posts = report.files.iter().find(|f| f.kind == "posts").unwrap();
    // Refused: every comment record is a reject (its row withheld), none a post.
    assert!(posts.loaded == 0 && posts.rejected == 2, "{posts:?}");
    let found = findings(&wh_dir, &[]);
    assert!(found.is_empty(), "{found:?}");
}

/// A workbook whose cell reference does not fit the reader's integers (a column of ten letters, a
/// row past 2^32) made calamine panic (an arithmetic overflow), ending the run: the file is now
/// refused as unreadable and the run goes on.
#[test]
fn a_workbook_with_an_overflowing_cell_reference_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let header = ["平台", "账号ID", "发布ID", "发布时间", "标题"].map(str::to_string).to_vec();
    let row = ["微博", "1001", "a1", "2019-07-01 09:00:00", "甲"].map(str::to_string).to_vec();
    let good = xlsx_bytes(&[header, row], false);
    for (i, bad) in [r#"<row r="1"><c r="ZZZZZZZZZZ1"><v>1</v></c></row>"#, r#"<row r="1"><c r="A99999999999"><v>1</v></c></row>"#]
        .into_iter()
        .enumerate()
    {
        let mut bytes = good.clone();
        mutate_bytes(&mut bytes, &[ByteMut::XlsxRow(bad)]);
        assert_ne!(bytes, good);
        std::fs::write(dir.path().join(format!("bad{i}.xlsx")), &bytes).unwrap();
    }
    std::fs::write(dir.path().join("good.xlsx"), &good).unwrap();
    let spec =
        SourceSpec { kind: "posts".into(), format: "canonical".into(), path: "*.xlsx".into(), account: None, platform: None, as_of: None };
    let source = resolve_source(dir.path(), 1, &spec).unwrap();
    let wh = Warehouse::open(dir.path().join("wh").to_str().unwrap()).unwrap();
    let report = rt().block_on(ingest(&wh, &[source], &IngestOptions::default())).unwrap();
    let by_file: BTreeMap<&str, _> = report.files.iter().map(|f| (f.source_file.as_str(), f)).collect();
    for bad in ["bad0.xlsx", "bad1.xlsx"] {
        let error = by_file[bad].error.as_deref().unwrap_or_default();
        assert!(error.contains("the workbook cannot be read"), "{bad}: {error}");
    }
    assert_eq!((by_file["good.xlsx"].loaded, by_file["good.xlsx"].error.as_deref()), (1, None));
}

#[test]
fn known_defect_a_wechat_comments_dump_given_to_mediacrawler_as_posts_stores_no_text() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("douyin")).unwrap();
    let comments = format!(
        "{{\"comment\":[{{\"content\":\"{MARK}-text\",\"create_time\":1567606620,\"openid\":\"{MARK}-openid\",\"user_comment_id\":1}}]}}\n"
    );
    std::fs::write(dir.path().join("douyin/comment_list.jsonl"), comments).unwrap();
    let found = ingest_one(dir.path(), "posts", "mediacrawler", "douyin/comment_list.jsonl");
    assert!(found.is_empty(), "{found:?}");
}
