//! A tier's quarter as export files: the register, posts and public messages just generated into
//! staging, written back out as canonical CSV templates (SPEC §3.1, §3.3, §3.4) with their Chinese
//! headers and Beijing times, one file per platform. They are what an ingest benchmark reads.

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

/// Writes the warehouse's register, posts and messages to `dir/<kind>/<platform>.csv`.
pub async fn write_exports(wh: &Warehouse, dir: &Path) -> Result<Written, GenerateError> {
    let ctx = crate::engine::warehouse_session(wh).await?;
    let mut written = Vec::new();
    for e in EXPORTS {
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
