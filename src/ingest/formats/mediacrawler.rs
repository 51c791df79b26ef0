//! NanmiCoder/MediaCrawler dumps (`.jsonl`, `.json`, `.csv`) of douyin and weibo: contents and
//! comments. Accounts are matched by `creator_hash` = hex(sha256(account_id))[:16] against the
//! register; a comment belongs to the owner of the post it is on.

use super::{first_chars, ParsedRow};
use crate::ingest::fields::*;
use crate::ingest::read::{read_json, read_sheet, sniff, Loc, Sniffed};
use crate::ingest::{creator_hash, FileContext, FileError, Format, Kind, Outcome, RowBuilder};
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
            Some(other) => {
                return Err(FileError::Other(format!("mediacrawler reads douyin and weibo dumps, not '{other}'")))
            }
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
    let is_header = |cells: &[String]| {
        cells.iter().any(|c| matches!(c.as_str(), "aweme_id" | "note_id" | "comment_id"))
    };
    let sheet = read_sheet(bytes, &is_header, "aweme_id, note_id or comment_id")?;
    Ok(sheet
        .rows
        .iter()
        .map(|row| Record {
            loc: row.loc.clone(),
            raw: row.raw(),
            fields: Ok(sheet
                .headers
                .iter()
                .zip(row.cells.iter())
                .map(|(h, c)| (h.clone(), Json::String(c.clone())))
                .collect()),
        })
        .collect())
}

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
            let outcome = match r.fields.and_then(|m| content_row(ctx, platform, &m)) {
                Ok(row) => Outcome::Row(row),
                Err(reason) => Outcome::Rejected(reason),
            };
            ParsedRow { loc: r.loc, raw: r.raw, outcome }
        })
        .collect()
}

fn content_row(ctx: &FileContext, platform: &str, m: &Map<String, Json>) -> Result<Row, String> {
    let id = required_text(&get(m, &["aweme_id", "note_id"]), "aweme_id/note_id")?;
    let hash = get(m, &["creator_hash"]);
    let (_, account) = ctx
        .lookup
        .creator_hashes
        .get(&hash)
        .ok_or_else(|| format!("creator_hash '{hash}' matches no account of the register"))?;
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
    let parsed: Vec<(Loc, String, Result<Comment, String>)> = records
        .into_iter()
        .map(|r| {
            let c = r.fields.and_then(|m| read_comment(ctx, platform, &m));
            (r.loc, r.raw, c)
        })
        .collect();
    let by_id: HashMap<&str, &Comment> =
        parsed.iter().filter_map(|(_, _, c)| c.as_ref().ok()).map(|c| (c.id.as_str(), c)).collect();
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
            Ok(c) if !c.by_account => {
                Outcome::Rejected("a reply by another user, not a message to the account".into())
            }
            Ok(c) => match top_of(c).filter(|t| by_id.get(t.as_str()).is_some_and(|m| !m.by_account)) {
                Some(top) => {
                    let e = replied.entry(top).or_insert(c.created);
                    *e = (*e).min(c.created);
                    Outcome::Merged
                }
                None => Outcome::Rejected(format!(
                    "the account's reply to comment '{}', which is not a message in this file",
                    c.parent.clone().unwrap_or_default()
                )),
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

fn read_comment(ctx: &FileContext, platform: &str, m: &Map<String, Json>) -> Result<Comment, String> {
    let id = get(m, &["comment_id"]);
    if id.is_empty() {
        return Err("comment_id is empty".into());
    }
    let post = get(m, &["aweme_id", "note_id"]);
    let account = ctx
        .lookup
        .post_owners
        .get(&(platform.to_string(), post.clone()))
        .ok_or_else(|| format!("comment on post '{post}', which is not among the {platform} posts ingested"))?
        .clone();
    let created = match instant(&get(m, &["create_time"]), "create_time")? {
        Value::Instant(t) => t,
        _ => return Err("create_time is empty".into()),
    };
    let parent = get(m, &["parent_comment_id"]);
    let parent = if parent.is_empty() || parent == "0" || parent == id { None } else { Some(parent) };
    let hash = get(m, &["creator_hash"]);
    Ok(Comment { by_account: hash == creator_hash(&account), id, parent, account, created, hash })
}
