//! A tier's quarter as export files: the register, posts and public messages just generated into
//! staging, written back out either as canonical CSV templates (SPEC §3.1, §3.3, §3.4) with their
//! Chinese headers and Beijing times, one file per platform, or in the platforms' own formats as
//! the demo district's are (with a pipeline file that ingests them). They are what an ingest
//! benchmark reads.

use super::GenerateError;
use crate::warehouse::Warehouse;
use arrow::array::{Array, RecordBatch, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, TimeUnit};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use futures::StreamExt;
use std::path::{Path, PathBuf};

/// One export: a kind's canonical template, per platform.
struct Export {
    kind: &'static str,
    /// Selects the template's columns (Chinese headers) from the staging table, for one platform.
    sql: &'static str,
}

const EXPORTS: &[Export] = &[
    Export {
        kind: "registry",
        sql: r#"select unit_name as "单位名称", unit_type as "单位类别", platform as "平台", account_id as "账号ID",
                account_name as "账号名称", opened_on as "开设日期",
                case state when 'normal' then '正常' when 'suspended' then '关停' else '注销' end as "状态",
                case when interaction_enabled then '是' when not interaction_enabled then '否' end as "互动功能",
                city as "所属市", district as "所属区县"
                from registry where platform = '{platform}'"#,
    },
    Export {
        kind: "posts",
        sql: r#"select platform as "平台", account_id as "账号ID", post_id as "发布ID", published_at as "发布时间",
                title as "标题", case kind when 'repost' then '转发' else '原创' end as "类型", repost_of as "转发源ID",
                position as "位置", reads as "阅读数", wows as "在看数", likes as "点赞数", comments as "评论数",
                shares as "转发数"
                from posts where platform = '{platform}'"#,
    },
    Export {
        kind: "interactions",
        sql: r#"select platform as "平台", account_id as "账号ID", message_id as "留言ID",
                case channel when 'private_message' then '私信' when 'comment' then '评论' else '留言' end as "渠道",
                received_at as "留言时间", replied_at as "回复时间"
                from interactions where platform = '{platform}'"#,
    },
];

/// What was written: (kind, file, rows, bytes) per file.
pub type Written = Vec<(String, PathBuf, u64, u64)>;

/// The files `generate --tier … --exports DIR` writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormats {
    /// One canonical CSV per kind and platform (registry, posts, interactions).
    #[default]
    Canonical,
    /// The platforms' own formats, as the demo district's exports: weibo-crawler and weiboSpider
    /// CSV and the WeChat back office's and Douyin creator centre's workbooks (XLSX) per account,
    /// MediaCrawler's JSON lines of Douyin videos and comments, WeChat comment lists (JSON), the
    /// office's CSV (GBK) of Toutiao posts and its 留言办理 CSV of the other messages; the register
    /// as canonical CSV; DIR/pipeline.toml ingests them all (`govmedia run DIR/pipeline.toml
    /// --stages ingest`).
    Platform,
}

/// Writes the warehouse's register, posts and messages into `dir` in `formats`.
pub async fn write_exports(
    wh: &Warehouse,
    dir: &Path,
    formats: ExportFormats,
    quarter: crate::time::Quarter,
) -> Result<Written, GenerateError> {
    match formats {
        ExportFormats::Canonical => write_canonical(wh, dir, &["registry", "posts", "interactions"]).await,
        ExportFormats::Platform => {
            let mut written = write_canonical(wh, dir, &["registry"]).await?;
            written.extend(write_platform_formats(wh, dir, quarter).await?);
            Ok(written)
        }
    }
}

/// Writes the warehouse's `kinds` (register, posts, messages) to `dir/<kind>/<platform>.csv`.
async fn write_canonical(wh: &Warehouse, dir: &Path, kinds: &[&str]) -> Result<Written, GenerateError> {
    let ctx = crate::engine::warehouse_session(wh).await?;
    let mut written = Vec::new();
    for e in EXPORTS.iter().filter(|e| kinds.contains(&e.kind)) {
        let folder = dir.join(e.kind);
        std::fs::create_dir_all(&folder).map_err(|source| GenerateError::CreateDir { path: folder.clone(), source })?;
        for platform in platforms(&ctx, e.kind).await? {
            let path = folder.join(format!("{platform}.csv"));
            let sql = e.sql.replace("{platform}", &platform.replace('\'', "''"));
            let rows = write_csv(&ctx, &sql, &path).await.map_err(|e| GenerateError::Export { path: path.clone(), source: Box::new(e) })?;
            if rows == 0 {
                let _ = std::fs::remove_file(&path);
                continue;
            }
            let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            written.push((e.kind.to_string(), path, rows, bytes));
        }
    }
    Ok(written)
}

/// The platforms of a staging table (each gets its own file, as offices export them).
async fn platforms(ctx: &datafusion::prelude::SessionContext, table: &str) -> Result<Vec<String>, GenerateError> {
    let sql = format!("select distinct platform from {table} where platform is not null order by platform");
    let batches = ctx.sql(&sql).await?.collect().await?;
    let mut out = Vec::new();
    for b in &batches {
        let f = ArrayFormatter::try_new(b.column(0).as_ref(), &FormatOptions::default())?;
        out.extend((0..b.num_rows()).map(|i| f.value(i).to_string()));
    }
    Ok(out)
}

/// Streams a query's rows into a CSV file (header = the column names); instants in Beijing time.
async fn write_csv(ctx: &datafusion::prelude::SessionContext, sql: &str, path: &Path) -> Result<u64, GenerateError> {
    let df = ctx.sql(sql).await?;
    let headers: Vec<String> = df.schema().fields().iter().map(|f| f.name().clone()).collect();
    let mut stream = df.execute_stream().await?;
    let file = std::fs::File::create(path)?;
    let mut w = csv::Writer::from_writer(std::io::BufWriter::with_capacity(1 << 20, file));
    w.write_record(&headers)?;
    let mut rows = 0u64;
    let mut record: Vec<String> = Vec::new();
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        write_batch(&mut w, &batch, &mut record)?;
        rows += batch.num_rows() as u64;
    }
    w.flush()?;
    Ok(rows)
}

fn write_batch<W: std::io::Write>(w: &mut csv::Writer<W>, batch: &RecordBatch, record: &mut Vec<String>) -> Result<(), GenerateError> {
    let options = FormatOptions::default();
    let columns: Vec<Column> = batch
        .columns()
        .iter()
        .map(|a| match a.data_type() {
            DataType::Timestamp(TimeUnit::Microsecond, _) => a
                .as_any()
                .downcast_ref::<TimestampMicrosecondArray>()
                .map(Column::Instant)
                .ok_or_else(|| GenerateError::Encode { what: "a timestamp column".into(), reason: "not microseconds".into() }),
            _ => ArrayFormatter::try_new(a.as_ref(), &options).map(Column::Other).map_err(GenerateError::from),
        })
        .collect::<Result<_, _>>()?;
    for row in 0..batch.num_rows() {
        record.clear();
        for c in &columns {
            record.push(match c {
                Column::Instant(a) if a.is_valid(row) => crate::time::format_micros_beijing(a.value(row)),
                Column::Instant(_) => String::new(),
                Column::Other(f) => f.value(row).to_string(),
            });
        }
        w.write_record(record.iter())?;
    }
    Ok(())
}

enum Column<'a> {
    Instant(&'a TimestampMicrosecondArray),
    Other(ArrayFormatter<'a>),
}

/// The posts and messages of the warehouse (one quarter of a tier) in the platforms' own formats,
/// written by the demo's writers from a plan made of the staging rows, and the pipeline file that
/// ingests them with the register. Every row is held in memory: meant for the district and city
/// tiers.
async fn write_platform_formats(wh: &Warehouse, dir: &Path, quarter: crate::time::Quarter) -> Result<Written, GenerateError> {
    use super::plan::{Account, Behaviour, Message, Plan, Post};
    use crate::table::{Value, INTERACTIONS, POSTS};
    let manifest = wh.existing_manifest().await?;
    let (mut posts, mut messages) = (wh.read_rows(&manifest, &POSTS).await?, wh.read_rows(&manifest, &INTERACTIONS).await?);
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let int = |v: &Value| if let Value::Int(n) = v { *n } else { 0 };
    let when = |v: &Value| {
        let micros = v.as_instant()?;
        chrono::DateTime::from_timestamp_micros(micros).map(|t| t.with_timezone(&crate::time::beijing()).naive_local())
    };
    let (pc, mc) = (|c| POSTS.index(c), |c| INTERACTIONS.index(c));
    let (p_platform, p_account, p_id, p_at) = (pc("platform"), pc("account_id"), pc("post_id"), pc("published_at"));
    let (m_platform, m_account, m_id, m_at) = (mc("platform"), mc("account_id"), mc("message_id"), mc("received_at"));
    // Posts and messages in (platform, account, time, id) order: the files come out the same every
    // time, and each account's posts are in time order.
    fn key(r: &crate::table::Row, (platform, account, at, id): (usize, usize, usize, usize)) -> impl Ord + '_ {
        (r[platform].as_str(), r[account].as_str(), r[at].as_instant(), r[id].as_str())
    }
    let (post_key, message_key) = ((p_platform, p_account, p_at, p_id), (m_platform, m_account, m_at, m_id));
    posts.sort_by(|x, y| key(x, post_key).cmp(&key(y, post_key)));
    messages.sort_by(|x, y| key(x, message_key).cmp(&key(y, message_key)));

    let mut plan = Plan {
        quarter,
        units: Vec::new(),
        accounts: Vec::new(),
        posts: Vec::new(),
        messages: Vec::new(),
        directives: Vec::new(),
        filings: Vec::new(),
        self_inspections: Vec::new(),
        findings: Vec::new(),
        planted: Vec::new(),
    };
    let mut keys: Vec<(String, String)> = posts
        .iter()
        .map(|r| (text(&r[p_platform]), text(&r[p_account])))
        .chain(messages.iter().map(|r| (text(&r[m_platform]), text(&r[m_account]))))
        .collect();
    keys.sort();
    keys.dedup();
    let mut index: std::collections::HashMap<(String, String), usize> = Default::default();
    for (platform, id) in keys {
        let Some(code) = crate::platform::of(&platform).map(|p| p.code) else { continue };
        index.insert((code.to_string(), id.clone()), plan.accounts.len());
        plan.accounts.push(Account {
            unit: 0,
            platform: code,
            id: id.clone(),
            name: id,
            opened_on: quarter.start(),
            registered: true,
            interaction_enabled: true,
            behaviour: Behaviour::Active,
            ignores_messages: false,
            closed_on: None,
            filed_open: true,
            maintainer: String::new(),
            followers_start: 0,
            weight: 1.0,
        });
    }
    // Each account's posts in time order: a message on WeChat or Douyin comments on the account's
    // latest post before it (its first post when it has none before).
    let mut posts_of: Vec<Vec<(chrono::NaiveDateTime, usize)>> = vec![Vec::new(); plan.accounts.len()];
    for r in &posts {
        let Some(&account) = index.get(&(text(&r[p_platform]), text(&r[p_account]))) else { continue };
        let Some(at) = when(&r[p_at]) else { continue };
        posts_of[account].push((at, plan.posts.len()));
        plan.posts.push(Post {
            account,
            id: text(&r[p_id]),
            at,
            title: text(&r[pc("title")]),
            repost_of: (text(&r[pc("kind")]) == "repost").then(|| text(&r[pc("repost_of")])).filter(|s| !s.is_empty()),
            headline: true,
            reads: int(&r[pc("reads")]),
            wows: int(&r[pc("wows")]),
            likes: int(&r[pc("likes")]),
            comments: int(&r[pc("comments")]),
            shares: int(&r[pc("shares")]),
        });
    }
    for r in &messages {
        let Some(&account) = index.get(&(text(&r[m_platform]), text(&r[m_account]))) else { continue };
        let Some(at) = when(&r[m_at]) else { continue };
        let channel = text(&r[mc("channel")]);
        let commented = matches!(plan.accounts[account].platform, "wechat" | "douyin") && channel == "comment";
        let post = commented
            .then(|| {
                let own = &posts_of[account];
                let before = own.partition_point(|(t, _)| *t <= at);
                own.get(before.saturating_sub(1)).map(|(_, i)| plan.posts[*i].id.clone())
            })
            .flatten();
        plan.messages.push(Message {
            account,
            id: text(&r[m_id]),
            channel: match channel.as_str() {
                "private_message" => "私信",
                "comment" => "评论",
                _ => "留言",
            },
            at,
            author: text(&r[mc("author")]),
            replied: when(&r[mc("replied_at")]),
            post,
        });
    }
    let before = files_under(dir);
    super::exports::write_posts(&plan, dir)?;
    super::exports::write_mediacrawler_videos(&plan, dir)?;
    super::exports::write_canonical_posts(&plan, dir)?;
    super::exports::write_messages(&plan, dir)?;
    let pipeline = dir.join("pipeline.toml");
    std::fs::write(&pipeline, platform_pipeline(quarter)).map_err(|source| GenerateError::Write { path: pipeline.clone(), source })?;
    let mut written = Vec::new();
    for path in files_under(dir).into_iter().filter(|p| !before.contains(p) && p.extension().is_some_and(|e| e != "toml")) {
        let kind = path.strip_prefix(dir).ok().and_then(|p| p.iter().next()).map(|k| k.to_string_lossy().to_string()).unwrap_or_default();
        let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        written.push((kind, path, 0, bytes));
    }
    Ok(written)
}

/// The pipeline file of [`write_platform_formats`]'s exports: the register, then the posts (the
/// Douyin comments name their videos), then the messages.
fn platform_pipeline(quarter: crate::time::Quarter) -> String {
    let mut s = format!("# Generated by `govmedia generate --tier … --exports DIR --formats platform`.\nquarter = \"{quarter}\"\n\n");
    s.push_str(&super::exports::source_toml("registry", "canonical", "registry/*.csv", None));
    for (kind, format, path) in super::exports::ACTIVITY_SOURCES {
        s.push_str(&super::exports::source_toml(kind, format, path, None));
    }
    s
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> std::collections::BTreeSet<PathBuf> {
    let mut out = std::collections::BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(path);
            }
        }
    }
    out
}
