//! 公众平台 用户分析 export: an HTML table saved as `.xls`. followers = 累积关注人数 (some exports
//! spell it 累计关注人数) on each 时间 date. The account comes from the folder.

use super::{cell, header_with, map_rows, Headers};
use crate::ingest::fields::*;
use crate::ingest::read::read_sheet;
use crate::ingest::{FileContext, FileError, Format, Kind, ParsedRow};
use crate::table::RowBuilder;
use crate::table::{Value, FOLLOWERS};

pub struct WechatMpUsers;

const TOTAL: &[&str] = &["累积关注人数", "累计关注人数"];
const REQUIRED: &[&[&str]] = &[&["时间"], TOTAL];

impl Format for WechatMpUsers {
    fn name(&self) -> &'static str {
        "wechat-mp-users"
    }
    fn kinds(&self) -> &'static [Kind] {
        &[Kind::Followers]
    }
    fn parse(&self, ctx: &FileContext, bytes: &[u8]) -> Result<Vec<ParsedRow>, FileError> {
        let account = ctx.folder_account()?;
        let sheet = read_sheet(bytes, &header_with(REQUIRED), "时间, 累积关注人数")?;
        let h = Headers::new(&sheet.headers);
        let day = h.require(&["时间"])?;
        let total = h.require(TOTAL)?;
        Ok(map_rows(&sheet, |row| {
            let mut b = RowBuilder::new(&FOLLOWERS);
            b.str("platform", "wechat").str("account_id", account.clone());
            match date(cell(row, Some(day)), "时间")? {
                Value::Null => return Err("时间 is empty".into()),
                v => b.set("date", v),
            };
            match count(cell(row, Some(total)), "累积关注人数")? {
                Value::Null => return Err("累积关注人数 is empty".into()),
                v => b.set("followers", v),
            };
            Ok(b.finish())
        }))
    }
}
