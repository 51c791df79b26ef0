//! dataabc/weibo-crawler's `<user_id>.csv`: UTF-8 with BOM, ids ending in a tab, ragged rows, and
//! the 源… columns of reposts after the post's own.

use super::{cell, first_chars, header_with, map_rows, Headers};
use crate::ingest::fields::*;
use crate::ingest::read::read_sheet;
use crate::ingest::{FileContext, FileError, Format, Kind, ParsedRow};
use crate::table::RowBuilder;
use crate::table::{Value, POSTS};

pub struct WeiboCrawler;

const REQUIRED: &[&[&str]] = &[&["id"], &["正文"], &["点赞数"]];

impl Format for WeiboCrawler {
    fn name(&self) -> &'static str {
        "weibo-crawler"
    }
    fn kinds(&self) -> &'static [Kind] {
        &[Kind::Posts]
    }
    fn parse(&self, ctx: &FileContext, bytes: &[u8]) -> Result<Vec<ParsedRow>, FileError> {
        let sheet = read_sheet(bytes, &header_with(REQUIRED), "id, 正文, 点赞数")?;
        let h = Headers::new(&sheet.headers);
        let id = h.require(&["id"])?;
        let bid = h.find(&["bid"]);
        let body = h.require(&["正文"])?;
        let full_date = h.find(&["完整日期"]);
        let date = h.find(&["日期"]);
        if full_date.is_none() && date.is_none() {
            return Err(FileError::MissingColumn("完整日期 or 日期".into()));
        }
        let (likes, comments, shares) = (h.find(&["点赞数"]), h.find(&["评论数"]), h.find(&["转发数"]));
        let original = h.find(&["是否原创"]);
        let source_id = h.find(&["源微博id"]);
        let account = ctx.stem.clone();
        Ok(map_rows(&sheet, |row| {
            let post_id = required_text(cell(row, Some(id)), "id")?;
            let when = match cell(row, full_date) {
                "" => cell(row, date),
                t => t,
            };
            let mut b = RowBuilder::new(&POSTS);
            b.str("platform", "weibo").str("account_id", account.clone()).set("post_id", post_id);
            b.set("published_at", required_instant(when, "完整日期")?);
            b.set("title", text(&first_chars(cell(row, Some(body)), 30))?);
            let is_repost = matches!(cell(row, original).to_ascii_lowercase().as_str(), "false" | "否" | "0");
            if is_repost {
                b.str("kind", "repost").set("repost_of", text(cell(row, source_id))?);
            } else {
                b.str("kind", "original");
            }
            b.set("likes", count(cell(row, likes), "点赞数")?);
            b.set("comments", count(cell(row, comments), "评论数")?);
            b.set("shares", count(cell(row, shares), "转发数")?);
            if let Value::Str(bid) = text(cell(row, bid))? {
                b.str("url", format!("https://weibo.com/{account}/{bid}"));
            }
            Ok(b.finish())
        }))
    }
}
