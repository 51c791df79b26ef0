//! 公众号 comment list API JSON (`comment/list`): `{"comment": [{user_comment_id, create_time,
//! openid, reply: {create_time}}]}`, one object per file or JSON Lines of objects. Times are Unix
//! seconds; the account comes from the folder. message_id = `<article>:<user_comment_id>`.

use crate::ingest::fields::*;
use crate::ingest::read::{json_problem, read_json, Loc};
use crate::ingest::{FileContext, FileError, Format, Kind, Outcome, ParsedRow};
use crate::table::RowBuilder;
use crate::table::{Row, Value, INTERACTIONS};
use serde_json::Value as Json;

pub struct WechatComments;

impl Format for WechatComments {
    fn name(&self) -> &'static str {
        "wechat-comments"
    }
    fn kinds(&self) -> &'static [Kind] {
        &[Kind::Interactions]
    }
    fn parse(&self, ctx: &FileContext, bytes: &[u8]) -> Result<Vec<ParsedRow>, FileError> {
        let account = ctx.folder_account()?;
        let mut out = Vec::new();
        let records = read_json(bytes)?;
        let single = records.len() == 1;
        for rec in records {
            let obj = match rec.value {
                Ok(v) => v,
                Err(reason) => {
                    out.push(ParsedRow { loc: rec.loc, raw: rec.raw, outcome: Outcome::Rejected(reason) });
                    continue;
                }
            };
            let Some(list) = obj.get("comment").and_then(Json::as_array) else {
                out.push(ParsedRow { loc: rec.loc, raw: rec.raw, outcome: Outcome::Rejected("no \"comment\" list in this object".into()) });
                continue;
            };
            let article = article_of(&obj).unwrap_or_else(|| ctx.stem.clone());
            for (i, c) in list.iter().enumerate() {
                // One object per file: a comment's place is its element; JSON Lines: its line.
                let loc = if single { Loc::Element(i as u64 + 1) } else { rec.loc.clone() };
                let problem = c.as_object().and_then(json_problem).or_else(|| {
                    crate::ingest::read::has_control(&article).then(|| "the article id (msg_data_id) holds a control character".to_string())
                });
                out.push(match problem.map_or_else(|| comment_row(ctx, &account, &article, c), Err) {
                    Ok(row) => ParsedRow { loc, raw: String::new(), outcome: Outcome::Row(row) },
                    Err(reason) => ParsedRow { loc, raw: shown(c), outcome: Outcome::Rejected(reason) },
                });
            }
        }
        Ok(out)
    }
}

/// The raw text kept for a rejected comment: the comment without what people wrote. (Only a
/// rejected row's text is kept, so a good comment's is never made.)
fn shown(c: &Json) -> String {
    let mut shown = c.clone();
    if let Some(m) = shown.as_object_mut() {
        m.remove("content");
        if let Some(r) = m.get_mut("reply").and_then(Json::as_object_mut) {
            r.remove("content");
        }
    }
    shown.to_string()
}

fn article_of(obj: &Json) -> Option<String> {
    let id = match obj.get("msg_data_id")? {
        Json::String(s) if !s.is_empty() => s.clone(),
        Json::Number(n) => n.to_string(),
        _ => return None,
    };
    Some(match obj.get("index") {
        Some(Json::Number(n)) => format!("{id}-{n}"),
        Some(Json::String(s)) if !s.is_empty() => format!("{id}-{s}"),
        _ => id,
    })
}

fn num_text(v: Option<&Json>) -> String {
    match v {
        Some(Json::Number(n)) => n.to_string(),
        Some(Json::String(s)) => s.clone(),
        _ => String::new(),
    }
}

fn comment_row(ctx: &FileContext, account: &str, article: &str, c: &Json) -> Result<Row, String> {
    let id = num_text(c.get("user_comment_id"));
    if id.is_empty() {
        return Err("user_comment_id is missing".into());
    }
    let mut b = RowBuilder::new(&INTERACTIONS);
    b.str("platform", "wechat").str("account_id", account).str("message_id", format!("{article}:{id}"));
    b.str("channel", "comment");
    // A message's reasons quote no value: its cells may name or describe a person.
    let created = num_text(c.get("create_time"));
    b.set("received_at", required_instant(&created, "create_time").map_err(|e| value_free(e, &created, "create_time"))?);
    if let Some(openid) = c.get("openid").and_then(Json::as_str).filter(|s| !s.is_empty()) {
        b.str("author", ctx.secret.author_hash(openid));
    }
    if let Some(reply) = c.get("reply").filter(|r| r.is_object()) {
        let replied = num_text(reply.get("create_time"));
        match instant(&replied, "reply.create_time").map_err(|e| value_free(e, &replied, "reply.create_time"))? {
            Value::Null => {}
            v => {
                b.set("replied_at", v);
            }
        }
    }
    Ok(b.finish())
}

/// A time's reason without the value: "… is empty" as it was, else "… is not a time".
fn value_free(reason: String, value: &str, what: &str) -> String {
    if text_str(value).is_none() {
        reason
    } else {
        format!("{what} is not a time")
    }
}
