//! NanmiCoder/MediaCrawler dumps (`.jsonl`, `.json`, `.csv`) of douyin and weibo: contents and
//! comments. Accounts are matched by `creator_hash` = hex(sha256(account_id))[:16] against the
//! register; a comment belongs to the owner of the post it is on.

use super::{first_chars, ParsedRow};
use crate::ingest::fields::*;
use crate::ingest::read::{
    has_control, json_line, json_problem, read_json_with, read_sheet, sniff, JsonRecord, Loc, Sniffed, MAX_CELL_BYTES,
};
use crate::ingest::{FileContext, FileError, Format, Kind, Outcome};
use crate::table::RowBuilder;
use crate::table::{Row, Value, INTERACTIONS, POSTS};
use serde_json::{Map, Value as Json};
use std::collections::HashMap;

pub struct MediaCrawler;

impl Format for MediaCrawler {
    fn name(&self) -> &'static str {
        "mediacrawler"
    }
    fn kinds(&self) -> &'static [Kind] {
        &[Kind::Posts, Kind::Interactions]
    }
    fn needs_post_owners(&self) -> bool {
        true
    }
    fn parse(&self, ctx: &FileContext, bytes: &[u8]) -> Result<Vec<ParsedRow>, FileError> {
        let platform = match ctx.platform.as_deref() {
            Some(p @ ("douyin" | "weibo")) => p,
            Some(other) => return Err(FileError::Other(format!("mediacrawler reads douyin and weibo dumps, not '{other}'"))),
            None => {
                return Err(FileError::Other(
                    "cannot tell the platform: put the file under a douyin/ or weibo/ folder, or set `platform` for the source".into(),
                ))
            }
        };
        let records = records(bytes)?;
        Ok(match ctx.kind {
            Kind::Interactions => comments(ctx, platform, records),
            _ => contents(ctx, platform, records),
        })
    }
}

struct Record {
    loc: Loc,
    raw: String,
    fields: Result<Fields, String>,
}

/// A record's fields: an object read whole (a CSV row, a `.json` document's element, a line with
/// something to report), or only the fields this format reads, from a line of JSON Lines.
enum Fields {
    Object(Map<String, Json>),
    Known(Known),
}

/// The names of the fields a record is read by: [`Known`] keeps these and no others.
const KNOWN: [&str; 17] = [
    "aweme_id",
    "note_id",
    "comment_id",
    "parent_comment_id",
    "creator_hash",
    "create_time",
    "create_date_time",
    "title",
    "desc",
    "content",
    "liked_count",
    "comment_count",
    "comments_count",
    "share_count",
    "shared_count",
    "aweme_url",
    "note_url",
];

/// A JSON line's fields of [`KNOWN`], each as `serde_json` would give it (a string or a number;
/// null or true/false for what is neither), read without building the line's whole value. The
/// line is read this way only when it is one object whose values are strings, numbers, true,
/// false or null, and no string is over [`MAX_CELL_BYTES`] or holds a control character: what
/// [`json_problem`] finds nothing in. Any other line is read whole, as before, for its reason.
/// Each field present is kept with its place in [`KNOWN`] (a field given twice: its last value).
struct Known(Vec<(usize, Json)>);

impl Fields {
    fn value(&self, name: &str) -> Option<&Json> {
        match self {
            Fields::Object(m) => m.get(name),
            Fields::Known(k) => {
                debug_assert!(KNOWN.contains(&name), "{name} is read but not among KNOWN");
                let i = KNOWN.iter().position(|n| *n == name)?;
                k.0.iter().find(|(at, _)| *at == i).map(|(_, v)| v)
            }
        }
    }
}

impl<'de> serde::Deserialize<'de> for Known {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(KnownVisitor)
    }
}

struct KnownVisitor;

impl<'de> serde::de::Visitor<'de> for KnownVisitor {
    type Value = Known;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object of plain values")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Known, A::Error> {
        use serde::de::Error;
        let mut known = Known(Vec::with_capacity(8));
        // A key is borrowed from the line: one with an escape in it is read with the whole object.
        while let Some(key) = map.next_key::<&'de str>()? {
            let at = KNOWN.iter().position(|n| *n == key);
            let value = known_value(map.next_value::<Plain<'de>>()?, at.is_some()).map_err(A::Error::custom)?;
            let (Some(i), Some(value)) = (at, value) else { continue };
            match known.0.iter_mut().find(|(at, _)| *at == i) {
                Some((_, slot)) => *slot = value,
                None => known.0.push((i, value)),
            }
        }
        Ok(known)
    }
}

/// A value as `serde_json` gives it (when `keep`: its field is read), if [`json_problem`] would
/// find nothing in it.
fn known_value(value: Plain<'_>, keep: bool) -> Result<Option<Json>, &'static str> {
    match value {
        Plain::Text(s) if s.len() > MAX_CELL_BYTES || has_control(&s) => Err("a value to report"),
        Plain::Nested => Err("a nested value"),
        _ if !keep => Ok(None),
        Plain::Text(s) => Ok(Some(Json::String(s.into_owned()))),
        Plain::Json(v) => Ok(Some(v)),
    }
}

/// A value that is not an object or array: text, or the number, true, false or null as
/// `serde_json::Value` holds it. An object or array is `Nested` (its contents skipped).
enum Plain<'a> {
    Text(std::borrow::Cow<'a, str>),
    Json(Json),
    Nested,
}

impl<'de> serde::Deserialize<'de> for Plain<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Plain<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Plain<'de>, E> {
                Ok(Plain::Text(v.into()))
            }
            fn visit_str<E>(self, v: &str) -> Result<Plain<'de>, E> {
                Ok(Plain::Text(v.to_string().into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Plain<'de>, E> {
                Ok(Plain::Json(Json::Number(v.into())))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Plain<'de>, E> {
                Ok(Plain::Json(Json::Number(v.into())))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Plain<'de>, E> {
                Ok(Plain::Json(serde_json::Number::from_f64(v).map_or(Json::Null, Json::Number)))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Plain<'de>, E> {
                Ok(Plain::Json(Json::Bool(v)))
            }
            fn visit_unit<E>(self) -> Result<Plain<'de>, E> {
                Ok(Plain::Json(Json::Null))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Plain<'de>, A::Error> {
                while map.next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?.is_some() {}
                Ok(Plain::Nested)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Plain<'de>, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Plain::Nested)
            }
        }
        d.deserialize_any(V)
    }
}

/// A line of JSON Lines as a record: its known fields when nothing in it needs reporting, else
/// the whole object (or why it is none), so that every reason stays as [`json_problem`] and the
/// JSON reader give it.
fn line_record(line: u64, text: &str) -> Record {
    let fields = match serde_json::from_str::<Known>(text) {
        Ok(known) => Ok(Fields::Known(known)),
        Err(_) => json_line(text).and_then(object),
    };
    Record { loc: Loc::Line(line), raw: text.to_string(), fields }
}

/// A JSON value as a record's fields: an object's, else why it is none.
fn object(v: Json) -> Result<Fields, String> {
    match v {
        Json::Object(m) => Ok(Fields::Object(m)),
        _ => Err("not a JSON object".to_string()),
    }
}

/// The file's records, whatever the file type (CSV rows become objects of strings).
fn records(bytes: &[u8]) -> Result<Vec<Record>, FileError> {
    if sniff(bytes) == Sniffed::Json {
        let element = |r: JsonRecord| Record { loc: r.loc, raw: r.raw, fields: r.value.and_then(object) };
        return Ok(read_json_with(bytes, element, line_record)?);
    }
    let is_header = |cells: &[String]| cells.iter().any(|c| matches!(c.as_str(), "aweme_id" | "note_id" | "comment_id"));
    let sheet = read_sheet(bytes, &is_header, "aweme_id, note_id or comment_id")?;
    Ok(sheet
        .rows
        .iter()
        .map(|row| Record {
            loc: row.loc.clone(),
            raw: row.raw(),
            // A row the reader could not take (unreadable, a cell too large) carries its reason.
            fields: match row.cells.first().and_then(|c| c.strip_prefix('\u{0}')) {
                Some(reason) => Err(reason.to_string()),
                None => Ok(Fields::Object(
                    sheet.headers.iter().zip(row.cells.iter()).map(|(h, c)| (h.clone(), Json::String(c.clone()))).collect(),
                )),
            },
        })
        .collect())
}

/// A record's fields, or why they cannot be taken (a value too large, a control character).
fn checked(fields: Result<Fields, String>) -> Result<Fields, String> {
    match fields? {
        Fields::Object(m) => match json_problem(&m) {
            Some(problem) => Err(problem),
            None => Ok(Fields::Object(m)),
        },
        // Read field by field only when there was nothing to report (`line_record`).
        known => Ok(known),
    }
}

/// Whether a record is one of MediaCrawler's comments (its comments dumps carry these fields;
/// its contents dumps never do).
fn is_comment(m: &Fields) -> bool {
    m.value("comment_id").is_some() || m.value("parent_comment_id").is_some()
}

/// Why a comment record is not taken as a post. Its text is not kept either: a comment's row
/// names other people (their nicknames, what they wrote).
const COMMENT_AS_POST: &str =
    "a comment record (it has comment_id), not a post: MediaCrawler's comments dumps are ingested as interactions";
const COMMENT_WITHHELD: &str = "(withheld: a comment's row may identify its author)";
const NOT_A_POST_WITHHELD: &str = "(withheld: a record without aweme_id or note_id is not a post, and may identify people)";

/// A field as text: strings as they are, numbers printed; missing or null → "".
fn get(m: &Fields, names: &[&str]) -> String {
    for n in names {
        match m.value(n) {
            Some(Json::String(s)) if !s.trim().is_empty() => return s.trim().to_string(),
            Some(Json::Number(x)) => return x.to_string(),
            _ => {}
        }
    }
    String::new()
}

fn contents(ctx: &FileContext, platform: &str, records: Vec<Record>) -> Vec<ParsedRow> {
    records
        .into_iter()
        .map(|r| {
            if r.fields.as_ref().is_ok_and(is_comment) {
                let outcome = Outcome::Rejected(COMMENT_AS_POST.into());
                return ParsedRow { loc: r.loc, raw: COMMENT_WITHHELD.into(), outcome };
            }
            // A record with no post id is not a post at all (often another tool's message dump:
            // WeChat comments, openids): its row is not kept, as it may name people.
            let has_post_id = r.fields.as_ref().is_ok_and(|m| !get(m, &["aweme_id", "note_id"]).is_empty());
            let outcome = match checked(r.fields).and_then(|m| content_row(ctx, platform, &m)) {
                Ok(row) => Outcome::Row(row),
                Err(reason) => Outcome::Rejected(reason),
            };
            let raw = match (&outcome, has_post_id) {
                (Outcome::Rejected(_), false) => NOT_A_POST_WITHHELD.into(),
                _ => r.raw,
            };
            ParsedRow { loc: r.loc, raw, outcome }
        })
        .collect()
}

fn content_row(ctx: &FileContext, platform: &str, m: &Fields) -> Result<Row, String> {
    let id = required_text(&get(m, &["aweme_id", "note_id"]), "aweme_id/note_id")?;
    let hash = get(m, &["creator_hash"]);
    let (_, account) =
        ctx.lookup.creator_hashes.get(&hash).ok_or_else(|| format!("creator_hash '{hash}' matches no account of the register"))?;
    let mut b = RowBuilder::new(&POSTS);
    b.str("platform", platform).str("account_id", account.clone()).set("post_id", id);
    let when = match get(m, &["create_time"]) {
        t if !t.is_empty() => t,
        _ => get(m, &["create_date_time"]),
    };
    b.set("published_at", required_instant(&when, "create_time")?);
    let title = match get(m, &["title"]) {
        t if !t.is_empty() => t,
        _ => get(m, &["desc", "content"]),
    };
    b.set("title", text(&first_chars(&title, if platform == "weibo" { 30 } else { usize::MAX }))?);
    b.str("kind", "original");
    b.set("likes", count(&get(m, &["liked_count"]), "liked_count")?);
    b.set("comments", count(&get(m, &["comment_count", "comments_count"]), "comment_count")?);
    b.set("shares", count(&get(m, &["share_count", "shared_count"]), "share_count")?);
    b.set("url", text(&get(m, &["aweme_url", "note_url"]))?);
    Ok(b.finish())
}

/// A comment of the file, classified.
struct Comment {
    id: String,
    parent: Option<String>,
    by_account: bool,
    account: String,
    created: i64,
    hash: String,
}

fn comments(ctx: &FileContext, platform: &str, records: Vec<Record>) -> Vec<ParsedRow> {
    // First pass: read every comment; second: fold the account's replies into their messages.
    // Each comment on its own: a large dump's are read on every core.
    use rayon::prelude::*;
    let parsed: Vec<(Loc, String, Result<Comment, String>)> = records
        .into_par_iter()
        .map(|r| {
            let c = checked(r.fields).and_then(|m| read_comment(ctx, platform, &m));
            (r.loc, r.raw, c)
        })
        .collect();
    let by_id: HashMap<&str, &Comment> = parsed.iter().filter_map(|(_, _, c)| c.as_ref().ok()).map(|c| (c.id.as_str(), c)).collect();
    let top_of = |c: &Comment| -> Option<String> {
        let mut cur = c.parent.clone();
        for _ in 0..64 {
            let p = cur?;
            match by_id.get(p.as_str()) {
                Some(pc) if pc.parent.is_none() => return Some(pc.id.clone()),
                Some(pc) => cur = pc.parent.clone(),
                None => return None,
            }
        }
        None
    };
    let mut replied: HashMap<String, i64> = HashMap::new();
    let mut outcomes: Vec<Outcome> = Vec::with_capacity(parsed.len());
    for (_, _, c) in &parsed {
        let outcome = match c {
            Err(reason) => Outcome::Rejected(reason.clone()),
            Ok(c) if c.parent.is_none() && c.by_account => {
                Outcome::Rejected("the account's own top-level comment, not a message from the public".into())
            }
            Ok(c) if c.parent.is_none() => Outcome::Row(Vec::new()),
            Ok(c) if !c.by_account => Outcome::Rejected("a reply by another user, not a message to the account".into()),
            Ok(c) => match top_of(c).filter(|t| by_id.get(t.as_str()).is_some_and(|m| !m.by_account)) {
                Some(top) => {
                    let e = replied.entry(top).or_insert(c.created);
                    *e = (*e).min(c.created);
                    Outcome::Merged
                }
                None => Outcome::Rejected("the account's reply to a comment (parent_comment_id) that is not a message in this file".into()),
            },
        };
        outcomes.push(outcome);
    }
    parsed
        .into_iter()
        .zip(outcomes)
        .map(|((loc, raw, c), outcome)| {
            let outcome = match (outcome, c) {
                (Outcome::Row(_), Ok(c)) => {
                    let mut b = RowBuilder::new(&INTERACTIONS);
                    b.str("platform", platform).str("account_id", c.account.clone()).str("message_id", c.id.clone());
                    b.str("channel", "comment").set("received_at", Value::Instant(c.created));
                    b.str("author", ctx.secret.author_hash(&c.hash));
                    if let Some(t) = replied.get(&c.id) {
                        b.set("replied_at", Value::Instant(*t));
                    }
                    Outcome::Row(b.finish())
                }
                (o, _) => o,
            };
            ParsedRow { loc, raw, outcome }
        })
        .collect()
}

/// A comment record as a message. Its reasons quote no value: a message's cells may name or
/// describe a person.
fn read_comment(ctx: &FileContext, platform: &str, m: &Fields) -> Result<Comment, String> {
    let id = get(m, &["comment_id"]);
    if id.is_empty() {
        if !is_comment(m) && !get(m, &["aweme_id", "note_id"]).is_empty() {
            return Err(
                "a post record (aweme_id/note_id and no comment_id), not a comment: MediaCrawler's contents dumps are ingested as posts"
                    .into(),
            );
        }
        return Err("comment_id is empty".into());
    }
    let post = get(m, &["aweme_id", "note_id"]);
    let account = ctx
        .lookup
        .post_owners
        .get(&(platform.to_string(), post))
        .ok_or_else(|| format!("comment on a post (aweme_id/note_id) that is not among the {platform} posts ingested"))?
        .clone();
    let created = match instant(&get(m, &["create_time"]), "create_time").map_err(|_| "create_time is not a time".to_string())? {
        Value::Instant(t) => t,
        _ => return Err("create_time is empty".into()),
    };
    let parent = get(m, &["parent_comment_id"]);
    let parent = if parent.is_empty() || parent == "0" || parent == id { None } else { Some(parent) };
    let hash = get(m, &["creator_hash"]);
    Ok(Comment { by_account: ctx.lookup.is_creator_hash_of(&hash, &account), id, parent, account, created, hash })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A line as every line was read before [`Known`]: its whole object.
    fn whole(text: &str) -> Result<Fields, String> {
        json_line(text).and_then(|v| match v {
            Json::Object(m) => Ok(Fields::Object(m)),
            _ => Err("not a JSON object".to_string()),
        })
    }

    #[test]
    fn a_line_read_field_by_field_gives_what_its_whole_object_gives() {
        let long = format!(r#"{{"aweme_id":"a","content":"{}"}}"#, "x".repeat(MAX_CELL_BYTES + 1));
        // (line, read field by field)
        let lines: Vec<(&str, bool)> = vec![
            (
                r#"{"aweme_id":"a1","comment_id":"c1","create_time":1562027466,"creator_hash":"9b32","parent_comment_id":"0","nickname":"x"}"#,
                true,
            ),
            (r#"{"title":"a\"b\u4e2d\/","aweme_id":" a2 ","note_url":"  "}"#, true),
            (r#"{"liked_count":1.5e3,"comment_count":-3,"share_count":18446744073709551615,"shared_count":0.1}"#, true),
            (r#"{"comment_id":null,"title":true,"desc":false}"#, true),
            (r#"{"aweme_id":"x","aweme_id":"y","note_id":7}"#, true),
            (r#"{}"#, true),
            (r#"{"aweme\u005fid":"a","title":"t"}"#, false),
            (r#"{"aweme_id":"a","nickname":"a\u0001b"}"#, false),
            (r#"{"aweme_id":"a","title":"a\u0085"}"#, false),
            (r#"{"aweme_id":"a","title":"a\u007f"}"#, false),
            (r#"{"aweme_id":"a","extra":{"k":"v"},"tags":[1,"b"]}"#, false),
            (r#"{"aweme_id":"a","extra":["\u0002"]}"#, false),
            (&long, false),
            (r#"[1,2]"#, false),
            (r#""text""#, false),
            (r#"{"aweme_id":"a""#, false),
            (r#"{"a":1} x"#, false),
        ];
        for (line, field_by_field) in lines {
            let record = line_record(1, line);
            assert_eq!(matches!(record.fields, Ok(Fields::Known(_))), field_by_field, "{line}");
            match (checked(record.fields), checked(whole(line))) {
                (Ok(fast), Ok(slow)) => {
                    for name in KNOWN {
                        assert_eq!(get(&fast, &[name]), get(&slow, &[name]), "{line}: {name}");
                        assert_eq!(fast.value(name), slow.value(name), "{line}: {name}");
                    }
                    assert_eq!(is_comment(&fast), is_comment(&slow), "{line}");
                }
                (Err(fast), Err(slow)) => assert_eq!(fast, slow, "{line}"),
                (fast, slow) => panic!("{line}: read field by field {}, whole {}", fast.is_ok(), slow.is_ok()),
            }
        }
    }
}
