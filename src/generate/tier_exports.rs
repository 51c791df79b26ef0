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
    let ctx = crate::engine::warehouse_session(wh).await?;
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
    let mut index: std::collections::HashMap<(String, String), usize> = Default::default();
    let accounts = "select distinct platform, account_id from posts union select distinct platform, account_id from interactions \
                    order by platform, account_id";
    for row in rows(&ctx, accounts).await? {
        let [platform, id] = [&row[0], &row[1]];
        let Some(code) = crate::platform::of(&platform.text()).map(|p| p.code) else { continue };
        index.insert((code.to_string(), id.text()), plan.accounts.len());
        plan.accounts.push(Account {
            unit: 0,
            platform: code,
            id: id.text(),
            name: id.text(),
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
    let posts = "select platform, account_id, post_id, published_at, title, kind, repost_of, reads, wows, likes, comments, shares \
                 from posts order by platform, account_id, published_at, post_id";
    // Each account's posts in time order: a message on WeChat or Douyin comments on the account's
    // latest post before it (its first post when it has none before).
    let mut posts_of: Vec<Vec<(chrono::NaiveDateTime, usize)>> = vec![Vec::new(); plan.accounts.len()];
    for r in rows(&ctx, posts).await? {
        let Some(&account) = index.get(&(r[0].text(), r[1].text())) else { continue };
        let Some(at) = r[3].when() else { continue };
        posts_of[account].push((at, plan.posts.len()));
        plan.posts.push(Post {
            account,
            id: r[2].text(),
            at,
            title: r[4].text(),
            repost_of: (r[5].text() == "repost").then(|| r[6].text()).filter(|s| !s.is_empty()),
            headline: true,
            reads: r[7].int(),
            wows: r[8].int(),
            likes: r[9].int(),
            comments: r[10].int(),
            shares: r[11].int(),
        });
    }
    let messages = "select platform, account_id, message_id, channel, received_at, author, replied_at from interactions \
                    order by platform, account_id, received_at, message_id";
    for r in rows(&ctx, messages).await? {
        let Some(&account) = index.get(&(r[0].text(), r[1].text())) else { continue };
        let Some(at) = r[4].when() else { continue };
        let a = &plan.accounts[account];
        let commented = matches!(a.platform, "wechat" | "douyin") && r[3].text() == "comment";
        let post = commented
            .then(|| {
                let own = &posts_of[account];
                let before = own.partition_point(|(t, _)| *t <= at);
                own.get(before.saturating_sub(1)).map(|(_, i)| plan.posts[*i].id.clone())
            })
            .flatten();
        plan.messages.push(Message {
            account,
            id: r[2].text(),
            channel: match r[3].text().as_str() {
                "private_message" => "私信",
                "comment" => "评论",
                _ => "留言",
            },
            at,
            author: r[5].text(),
            replied: r[6].when(),
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
    let sources = [
        ("registry", "canonical", "registry/*.csv"),
        ("posts", "weibo-crawler", "posts/weibo-crawler/**/*.csv"),
        ("posts", "weibospider", "posts/weibospider/**/*.csv"),
        ("posts", "wechat-mp", "posts/wechat-mp/*/*.xlsx"),
        ("posts", "douyin-creator", "posts/douyin-creator/*/*.xlsx"),
        ("posts", "mediacrawler", "posts/mediacrawler/**/*.jsonl"),
        ("posts", "canonical", "posts/canonical/*.csv"),
        ("interactions", "canonical", "interactions/canonical/*.csv"),
        ("interactions", "wechat-comments", "interactions/wechat-comments/*/*.json"),
        ("interactions", "mediacrawler", "interactions/mediacrawler/**/*.jsonl"),
    ];
    for (kind, format, path) in sources {
        s.push_str(&format!("[[source]]\nkind = \"{kind}\"\nformat = \"{format}\"\npath = \"{path}\"\n\n"));
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

/// A cell of a query's row, read as text, an integer or a Beijing time.
struct Cell(Option<String>, Option<i64>);

impl Cell {
    fn text(&self) -> String {
        self.0.clone().unwrap_or_default()
    }
    fn int(&self) -> i64 {
        self.1.unwrap_or(0)
    }
    fn when(&self) -> Option<chrono::NaiveDateTime> {
        let micros = self.1?;
        chrono::DateTime::from_timestamp_micros(micros).map(|t| t.with_timezone(&crate::time::beijing()).naive_local())
    }
}

/// A query's rows: each cell as text, and as an integer when it is a number or an instant (its
/// microseconds).
async fn rows(ctx: &datafusion::prelude::SessionContext, sql: &str) -> Result<Vec<Vec<Cell>>, GenerateError> {
    let batches = ctx.sql(sql).await?.collect().await?;
    let mut out = Vec::new();
    for b in &batches {
        let columns: Vec<(ArrayFormatter, Option<arrow::array::ArrayRef>)> = b
            .columns()
            .iter()
            .map(|a| {
                let ints = match a.data_type() {
                    DataType::Timestamp(_, _) => arrow::compute::cast(a, &DataType::Timestamp(TimeUnit::Microsecond, None))
                        .and_then(|t| arrow::compute::cast(&t, &DataType::Int64))
                        .ok(),
                    t if t.is_integer() => arrow::compute::cast(a, &DataType::Int64).ok(),
                    _ => None,
                };
                Ok((ArrayFormatter::try_new(a.as_ref(), &FormatOptions::default())?, ints))
            })
            .collect::<Result<_, GenerateError>>()?;
        for i in 0..b.num_rows() {
            out.push(
                columns
                    .iter()
                    .zip(b.columns())
                    .map(|((f, ints), a)| {
                        let text = a.is_valid(i).then(|| f.value(i).to_string());
                        let int = ints.as_ref().and_then(|n| {
                            let n = n.as_any().downcast_ref::<arrow::array::Int64Array>()?;
                            n.is_valid(i).then(|| n.value(i))
                        });
                        Cell(text, int)
                    })
                    .collect(),
            );
        }
    }
    Ok(out)
}
