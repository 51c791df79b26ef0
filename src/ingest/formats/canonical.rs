//! The canonical templates (SPEC §3): Chinese headers with English aliases, one table per kind,
//! as CSV (UTF-8 or GBK) or XLSX.

use super::{cell, map_rows, Headers};
use crate::ingest::fields::{self, *};
use crate::ingest::read::{read_sheet, RawRow};
use crate::ingest::{FileContext, FileError, Format, Kind, ParsedRow, RowBuilder};
use crate::table::Value;

pub struct Canonical;

#[derive(Clone, Copy)]
enum Parse {
    Text,
    RequiredText,
    Platform,
    Code(&'static [(&'static str, &'static str)]),
    YesNo,
    Count,
    Instant,
    RequiredInstant,
    Date,
    RequiredDate,
    Month,
    /// Stored only as the warehouse's keyed hash.
    Author,
    Units,
    CalendarKind,
}

/// One column of a template: canonical column, header names (Chinese first, then the alias),
/// whether the header must be present, and how a cell is read.
struct Field {
    column: &'static str,
    headers: &'static [&'static str],
    required: bool,
    parse: Parse,
}

const fn f(column: &'static str, headers: &'static [&'static str], required: bool, parse: Parse) -> Field {
    Field { column, headers, required, parse }
}

use Parse::*;

const REGISTRY: &[Field] = &[
    f("unit_name", &["单位名称", "unit_name"], true, RequiredText),
    f("unit_type", &["单位类别", "unit_type"], false, Text),
    f("platform", &["平台", "platform"], true, Platform),
    f("account_name", &["账号名称", "account_name"], false, Text),
    f("account_id", &["账号ID", "account_id"], true, RequiredText),
    f("opened_on", &["开设日期", "opened_on"], false, Date),
    f("state", &["状态", "state"], false, Code(STATES)),
    f("interaction_enabled", &["互动功能", "interaction_enabled"], false, YesNo),
    f("maintainer", &["运维责任人", "maintainer"], false, Text),
];

const FILINGS: &[Field] = &[
    f("unit_name", &["单位名称", "unit_name"], false, Text),
    f("platform", &["平台", "platform"], true, Platform),
    f("account_id", &["账号ID", "account_id"], true, RequiredText),
    f("account_name", &["账号名称", "account_name"], false, Text),
    f("action", &["事项", "action"], true, Code(ACTIONS)),
    f("action_date", &["事项日期", "action_date"], true, RequiredDate),
    f("filed_on", &["备案日期", "filed_on"], true, Date),
    f("announced_on", &["公告日期", "announced_on"], false, Date),
];

const POSTS: &[Field] = &[
    f("platform", &["平台", "platform"], true, Platform),
    f("account_id", &["账号ID", "account_id"], true, RequiredText),
    f("post_id", &["发布ID", "post_id"], true, RequiredText),
    f("published_at", &["发布时间", "published_at"], true, RequiredInstant),
    f("title", &["标题", "title"], false, Text),
    f("kind", &["类型", "kind"], false, Code(POST_KINDS)),
    f("repost_of", &["转发源ID", "repost_of"], false, Text),
    f("position", &["位置", "position"], false, Count),
    f("reads", &["阅读数", "reads"], false, Count),
    f("wows", &["在看数", "wows"], false, Count),
    f("likes", &["点赞数", "likes"], false, Count),
    f("comments", &["评论数", "comments"], false, Count),
    f("shares", &["转发数", "shares"], false, Count),
    f("url", &["链接", "url"], false, Text),
];

const INTERACTIONS: &[Field] = &[
    f("platform", &["平台", "platform"], true, Platform),
    f("account_id", &["账号ID", "account_id"], true, RequiredText),
    f("message_id", &["留言ID", "message_id"], true, RequiredText),
    f("channel", &["渠道", "channel"], false, Code(CHANNELS)),
    f("received_at", &["留言时间", "received_at"], true, RequiredInstant),
    f("author", &["留言人", "author"], false, Author),
    f("replied_at", &["回复时间", "replied_at"], true, Instant),
    // 留言内容 (message text) is accepted and never read.
];

const FOLLOWERS: &[Field] = &[
    f("platform", &["平台", "platform"], true, Platform),
    f("account_id", &["账号ID", "account_id"], true, RequiredText),
    f("date", &["日期", "date"], true, RequiredDate),
    f("followers", &["粉丝数", "followers"], true, Count),
];

const DIRECTIVES: &[Field] = &[
    f("directive_id", &["指令ID", "directive_id"], true, RequiredText),
    f("title", &["标题", "title"], true, Text),
    f("source_platform", &["源平台", "source_platform"], false, Platform),
    f("source_post_id", &["源发布ID", "source_post_id"], false, Text),
    f("published_at", &["发布时间", "published_at"], true, RequiredInstant),
    f("deadline_hours", &["时限小时", "deadline_hours"], false, Count),
    f("units", &["适用单位", "units"], false, Units),
];

const SELF_INSPECTIONS: &[Field] = &[
    f("unit_name", &["单位名称", "unit_name"], true, RequiredText),
    f("month", &["月份", "month"], true, Month),
    f("published_on", &["公开日期", "published_on"], true, Date),
    f("url", &["链接", "url"], false, Text),
];

const FINDINGS: &[Field] = &[
    f("platform", &["平台", "platform"], true, Platform),
    f("account_id", &["账号ID", "account_id"], true, RequiredText),
    f("post_id", &["发布ID", "post_id"], false, Text),
    f("found_on", &["发现日期", "found_on"], true, RequiredDate),
    f("kind", &["问题类型", "kind"], true, Code(FINDING_KINDS)),
    f("corrected_on", &["整改日期", "corrected_on"], false, Date),
    f("note", &["说明", "note"], false, Text),
];

const CALENDAR: &[Field] = &[
    f("date", &["日期", "date"], true, RequiredDate),
    f("kind", &["类型", "kind"], true, CalendarKind),
    f("name", &["名称", "name"], false, Text),
];

fn fields_of(kind: Kind) -> &'static [Field] {
    match kind {
        Kind::Calendar => CALENDAR,
        Kind::Registry => REGISTRY,
        Kind::Filings => FILINGS,
        Kind::Posts => POSTS,
        Kind::Interactions => INTERACTIONS,
        Kind::Followers => FOLLOWERS,
        Kind::Directives => DIRECTIVES,
        Kind::SelfInspections => SELF_INSPECTIONS,
        Kind::Findings => FINDINGS,
    }
}

impl Format for Canonical {
    fn name(&self) -> &'static str {
        "canonical"
    }
    fn kinds(&self) -> &'static [Kind] {
        &Kind::ALL
    }
    fn parse(&self, ctx: &FileContext, bytes: &[u8]) -> Result<Vec<ParsedRow>, FileError> {
        let fields = fields_of(ctx.kind);
        let required: Vec<&[&str]> = fields.iter().filter(|f| f.required).map(|f| f.headers).collect();
        // The header row is the first row naming any column of the template, so that a header
        // missing required columns is reported with the names of those columns.
        let recognise = |cells: &[String]| {
            let h = Headers::new(cells);
            fields.iter().any(|f| h.find(f.headers).is_some())
        };
        let wanted = required.iter().map(|n| n[0]).collect::<Vec<_>>().join(", ");
        let sheet = read_sheet(bytes, &recognise, &wanted)?;
        let headers = Headers::new(&sheet.headers);
        let missing: Vec<String> = fields
            .iter()
            .filter(|f| f.required && headers.find(f.headers).is_none())
            .map(|f| format!("{} ({})", f.headers[0], f.headers[1]))
            .collect();
        if !missing.is_empty() {
            return Err(FileError::MissingColumn(missing.join(", ")));
        }
        let mut positions = Vec::with_capacity(fields.len());
        for field in fields {
            let pos = if field.required { Some(headers.require(field.headers)?) } else { headers.find(field.headers) };
            positions.push(pos);
        }
        Ok(map_rows(&sheet, |row| parse_row(ctx, fields, &positions, row)))
    }
}

fn parse_row(ctx: &FileContext, fields: &[Field], positions: &[Option<usize>], row: &RawRow) -> Result<crate::table::Row, String> {
    let table = ctx.kind.table();
    let mut b = RowBuilder::new(table);
    for (field, pos) in fields.iter().zip(positions) {
        let raw = cell(row, *pos);
        let what = field.headers[0];
        let v = match field.parse {
            Text => fields::text(raw)?,
            RequiredText => required_text(raw, what)?,
            Platform => fields::platform(raw)?,
            Code(table) => code(raw, table, what)?,
            YesNo => yes_no(raw, what)?,
            Count => count(raw, what)?,
            Instant => instant(raw, what)?,
            RequiredInstant => required_instant(raw, what)?,
            Date => date(raw, what)?,
            RequiredDate => match date(raw, what)? {
                Value::Null => return Err(format!("{what} is empty")),
                v => v,
            },
            Month => fields::month(raw, what)?,
            Author => match fields::text(raw)? {
                Value::Str(s) => Value::Str(ctx.secret.author_hash(&s)),
                v => v,
            },
            Units => unit_list(raw)?,
            CalendarKind => match crate::calendar::DayKind::parse(raw) {
                Some(k) => Value::Str(k.code().into()),
                None => return Err(format!("{what} '{raw}' is not holiday or workday")),
            },
        };
        b.set(field.column, v);
    }
    let mut row = b.finish();
    complete(ctx.kind, table, &mut row);
    Ok(row)
}

/// Defaults the templates leave implicit (SPEC §3).
fn complete(kind: Kind, table: &crate::table::TableDef, row: &mut crate::table::Row) {
    match kind {
        Kind::Posts => {
            // No kind: an original post unless it names a repost_of.
            let k = table.index("kind");
            if row[k].is_null() {
                let repost = !row[table.index("repost_of")].is_null();
                row[k] = Value::Str(if repost { "repost" } else { "original" }.into());
            }
        }
        Kind::Directives => {
            let d = table.index("deadline_hours");
            if row[d].is_null() {
                row[d] = Value::Int(12);
            }
        }
        _ => {}
    }
}
