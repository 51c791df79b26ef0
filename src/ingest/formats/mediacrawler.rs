//! NanmiCoder/MediaCrawler dumps (`.jsonl`, `.json`, `.csv`) of douyin and weibo: contents and
//! comments. Accounts are matched by `creator_hash` = hex(sha256(account_id))[:16] against the
//! register; a comment belongs to the owner of the post it is on.

use super::{first_chars, ParsedRow};
use crate::ingest::fields::*;
use crate::ingest::read::{json_problem, read_json, read_sheet, sniff, Loc, Sniffed};
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
    fields: Result<Map<String, Json>, String>,
}

/// The file's records as JSON objects, whatever the file type (CSV rows become objects of strings).
fn records(bytes: &[u8]) -> Result<Vec<Record>, FileError> {
    if sniff(bytes) == Sniffed::Json {
        return Ok(read_json(bytes)?
            .into_iter()
            .map(|r| Record {
                loc: r.loc,
                raw: r.raw,
                fields: r.value.and_then(|v| match v {
                    Json::Object(m) => Ok(m),
                    _ => Err("not a JSON object".to_string()),
                }),
            })
            .collect());
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
                None => Ok(sheet.headers.iter().zip(row.cells.iter()).map(|(h, c)| (h.clone(), Json::String(c.clone()))).collect()),
            },
        })
        .collect())
}

/// A record's fields, or why they cannot be taken (a value too large, a control character).
fn checked(fields: Result<Map<String, Json>, String>) -> Result<Map<String, Json>, String> {
    let m = fields?;
    match json_problem(&m) {
        Some(problem) => Err(problem),
        None => Ok(m),
    }
}

/// Whether a record is one of MediaCrawler's comments (its comments dumps carry these fields;
/// its contents dumps never do).
fn is_comment(m: &Map<String, Json>) -> bool {
    m.contains_key("comment_id") || m.contains_key("parent_comment_id")
}

/// Why a comment record is not taken as a post. Its text is not kept either: a comment's row
/// names other people (their nicknames, what they wrote).
const COMMENT_AS_POST: &str =
    "a comment record (it has comment_id), not a post: MediaCrawler's comments dumps are ingested as interactions";
const COMMENT_WITHHELD: &str = "(withheld: a comment's row may identify its author)";
const NOT_A_POST_WITHHELD: &str = "(withheld: a record without aweme_id or note_id is not a post, and may identify people)";

/// A field as text: strings as they are, numbers printed; missing or null → "".
fn get(m: &Map<String, Json>, names: &[&str]) -> String {
    for n in names {
        match m.get(*n) {
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

fn content_row(ctx: &FileContext, platform: &str, m: &Map<String, Json>) -> Result<Row, String> {
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
fn read_comment(ctx: &FileContext, platform: &str, m: &Map<String, Json>) -> Result<Comment, String> {
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
