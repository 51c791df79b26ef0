//! dataabc/weiboSpider's CSV: `发布时间` to the minute, and the header row repeated inside the file
//! (skipped, not rejected). The account is the file name's stem.

use super::{cell, first_chars, header_with, map_rows, Headers};
use crate::ingest::fields::*;
use crate::ingest::read::read_sheet;
use crate::ingest::{FileContext, FileError, Format, Kind, ParsedRow};
use crate::table::RowBuilder;
use crate::table::POSTS;

pub struct WeiboSpider;

const REQUIRED: &[&[&str]] = &[&["微博id"], &["发布时间"]];

impl Format for WeiboSpider {
    fn name(&self) -> &'static str {
        "weibospider"
    }
    fn kinds(&self) -> &'static [Kind] {
        &[Kind::Posts]
    }
    fn parse(&self, ctx: &FileContext, bytes: &[u8]) -> Result<Vec<ParsedRow>, FileError> {
        let sheet = read_sheet(bytes, &header_with(REQUIRED), "微博id, 发布时间")?;
        let h = Headers::new(&sheet.headers);
        let id = h.require(&["微博id"])?;
        let when = h.require(&["发布时间"])?;
        let body = h.find(&["微博正文"]);
        let original = h.find(&["是否为原创微博"]);
        let (likes, shares, comments) = (h.find(&["点赞数"]), h.find(&["转发数"]), h.find(&["评论数"]));
        let account = ctx.stem.clone();
        Ok(map_rows(&sheet, |row| {
            let mut b = RowBuilder::new(&POSTS);
            b.str("platform", "weibo").str("account_id", account.clone());
            b.set("post_id", required_text(cell(row, Some(id)), "微博id")?);
            b.set("published_at", required_instant(cell(row, Some(when)), "发布时间")?);
            b.set("title", text(&first_chars(cell(row, body), 30))?);
            let is_repost = matches!(cell(row, original).to_ascii_lowercase().as_str(), "false" | "否" | "0");
            b.str("kind", if is_repost { "repost" } else { "original" });
            b.set("likes", count(cell(row, likes), "点赞数")?);
            b.set("shares", count(cell(row, shares), "转发数")?);
            b.set("comments", count(cell(row, comments), "评论数")?);
            Ok(b.finish())
        }))
    }
}
