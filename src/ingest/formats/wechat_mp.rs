//! 公众平台 已通知内容 → 下载数据明细 (.xlsx). The export names no account: it comes from the folder
//! or the source's `account`. post_id = 内容url; reads = 总阅读次数; shares = 分享次数.

use super::{cell, header_with, map_rows, Headers};
use crate::ingest::fields::*;
use crate::ingest::read::read_sheet;
use crate::ingest::{FileContext, FileError, Format, Kind, ParsedRow};
use crate::table::RowBuilder;
use crate::table::POSTS;

pub struct WechatMp;

const REQUIRED: &[&[&str]] = &[&["内容标题"], &["发表时间"], &["内容url"]];

impl Format for WechatMp {
    fn name(&self) -> &'static str {
        "wechat-mp"
    }
    fn kinds(&self) -> &'static [Kind] {
        &[Kind::Posts]
    }
    fn parse(&self, ctx: &FileContext, bytes: &[u8]) -> Result<Vec<ParsedRow>, FileError> {
        let account = ctx.folder_account()?;
        let sheet = read_sheet(bytes, &header_with(REQUIRED), "内容标题, 发表时间, 内容url")?;
        let h = Headers::new(&sheet.headers);
        let title = h.require(&["内容标题"])?;
        let when = h.require(&["发表时间"])?;
        let url = h.require(&["内容url"])?;
        let reads = h.find(&["总阅读次数"]);
        let shares = h.find(&["分享次数"]);
        let width = sheet.headers.len();
        Ok(map_rows(&sheet, |row| {
            let mut b = RowBuilder::new(&POSTS);
            b.str("platform", "wechat").str("account_id", account.clone());
            // Some exports leave the empty cells out of a row, so it is shorter than the header and
            // its cells sit left of their columns. The link is then its last cell; the counts
            // cannot be placed with certainty and are left NULL rather than guessed.
            let shifted_link = || {
                let last = row.cells.iter().rposition(|c| !c.is_empty())?;
                let c = &row.cells[last];
                (last + 1 < width && c.starts_with("http")).then_some(c.as_str())
            };
            let (packed, link) = match cell(row, Some(url)) {
                "" => shifted_link().map(|l| (true, l)).unwrap_or((false, "")),
                l => (false, l),
            };
            let post_id = required_text(link, "内容url")?;
            b.set("url", post_id.clone()).set("post_id", post_id);
            b.set("published_at", required_instant(cell(row, Some(when)), "发表时间")?);
            b.set("title", text(cell(row, Some(title)))?);
            b.str("kind", "original");
            if !packed {
                b.set("reads", count(cell(row, reads), "总阅读次数")?);
                b.set("shares", count(cell(row, shares), "分享次数")?);
            }
            Ok(b.finish())
        }))
    }
}
