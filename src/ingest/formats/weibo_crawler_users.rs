//! weibo-crawler's `users.csv`: one row per account with its 粉丝数; the file carries no date, so the
//! source's `as_of` is required.

use super::{cell, header_with, map_rows, Headers};
use crate::ingest::fields::*;
use crate::ingest::read::read_sheet;
use crate::ingest::{FileContext, FileError, Format, Kind, ParsedRow};
use crate::table::RowBuilder;
use crate::table::{Value, FOLLOWERS};

pub struct WeiboCrawlerUsers;

const REQUIRED: &[&[&str]] = &[&["用户id"], &["粉丝数"]];

impl Format for WeiboCrawlerUsers {
    fn name(&self) -> &'static str {
        "weibo-crawler-users"
    }
    fn kinds(&self) -> &'static [Kind] {
        &[Kind::Followers]
    }
    fn parse(&self, ctx: &FileContext, bytes: &[u8]) -> Result<Vec<ParsedRow>, FileError> {
        let as_of = ctx.as_of.ok_or_else(|| {
            FileError::Other("users.csv carries no date: set `as_of` (e.g. as_of = \"2019-09-30\") for the source".into())
        })?;
        let sheet = read_sheet(bytes, &header_with(REQUIRED), "用户id, 粉丝数")?;
        let h = Headers::new(&sheet.headers);
        let id = h.require(&["用户id"])?;
        let followers = h.require(&["粉丝数"])?;
        Ok(map_rows(&sheet, |row| {
            let mut b = RowBuilder::new(&FOLLOWERS);
            b.str("platform", "weibo").set("account_id", required_text(cell(row, Some(id)), "用户id")?);
            b.set("date", Value::Date(crate::time::date_to_days(as_of)));
            match count(cell(row, Some(followers)), "粉丝数")? {
                Value::Null => return Err("粉丝数 is empty".into()),
                v => b.set("followers", v),
            };
            Ok(b.finish())
        }))
    }
}
