//! 抖音创作者中心 作品数据 export (.xlsx): `-` for missing values; no post id, so post_id is a hash of
//! (account, 作品名称, 发布时间). reads = 播放量.

use super::{cell, hash_id, header_with, map_rows, Headers};
use crate::ingest::fields::*;
use crate::ingest::read::read_sheet;
use crate::ingest::{FileContext, FileError, Format, Kind, ParsedRow};
use crate::table::RowBuilder;
use crate::table::{Value, POSTS};

pub struct DouyinCreator;

const REQUIRED: &[&[&str]] = &[&["作品名称"], &["发布时间"]];

impl Format for DouyinCreator {
    fn name(&self) -> &'static str {
        "douyin-creator"
    }
    fn kinds(&self) -> &'static [Kind] {
        &[Kind::Posts]
    }
    fn parse(&self, ctx: &FileContext, bytes: &[u8]) -> Result<Vec<ParsedRow>, FileError> {
        let account = ctx.folder_account()?;
        let sheet = read_sheet(bytes, &header_with(REQUIRED), "作品名称, 发布时间")?;
        let h = Headers::new(&sheet.headers);
        let title = h.require(&["作品名称"])?;
        let when = h.require(&["发布时间"])?;
        let (plays, likes, shares, comments) = (h.find(&["播放量"]), h.find(&["点赞量"]), h.find(&["分享量"]), h.find(&["评论量"]));
        Ok(map_rows(&sheet, |row| {
            let name = required_text(cell(row, Some(title)), "作品名称")?;
            let published = required_instant(cell(row, Some(when)), "发布时间")?;
            let (Value::Str(name_s), Value::Instant(at)) = (&name, &published) else {
                return Err("作品名称 or 发布时间 is empty".into());
            };
            let mut b = RowBuilder::new(&POSTS);
            b.str("platform", "douyin").str("account_id", account.clone());
            b.str("post_id", format!("dc-{}", hash_id(&[&account, name_s, &at.to_string()])));
            b.set("published_at", published.clone()).set("title", name.clone()).str("kind", "original");
            b.set("reads", count(cell(row, plays), "播放量")?);
            b.set("likes", count(cell(row, likes), "点赞量")?);
            b.set("shares", count(cell(row, shares), "分享量")?);
            b.set("comments", count(cell(row, comments), "评论量")?);
            Ok(b.finish())
        }))
    }
}
