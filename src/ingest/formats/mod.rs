//! Source formats: one adapter per export style (SPEC §3). Adding a platform's export is adding a
//! file here and a line to [`all`].

mod canonical;
mod douyin_creator;
mod mediacrawler;
mod wechat_comments;
mod wechat_mp;
mod wechat_mp_users;
mod weibo_crawler;
mod weibo_crawler_users;
mod weibospider;

use super::read::{RawRow, Sheet};
use super::{FileError, Format, Outcome, ParsedRow};

pub fn all() -> &'static [&'static dyn Format] {
    &[
        &canonical::Canonical,
        &weibo_crawler::WeiboCrawler,
        &weibospider::WeiboSpider,
        &wechat_mp::WechatMp,
        &douyin_creator::DouyinCreator,
        &mediacrawler::MediaCrawler,
        &wechat_comments::WechatComments,
        &weibo_crawler_users::WeiboCrawlerUsers,
        &wechat_mp_users::WechatMpUsers,
    ]
}

pub fn by_name(name: &str) -> Result<&'static dyn Format, super::UnknownName> {
    all().iter().copied().find(|f| f.name() == name.trim()).ok_or_else(|| {
        let names: Vec<_> = all().iter().map(|f| f.name()).collect();
        super::UnknownName::Format { name: name.to_string(), known: names.join(", ") }
    })
}

/// A header cell in a comparable form: `单位名称 (unit_name)` and `单位名称（unit_name）` both give
/// `单位名称`, and English aliases compare case-insensitively.
pub fn norm_header(h: &str) -> String {
    let t = h.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    let t = t.split(['(', '（']).next().unwrap_or(t).trim();
    t.to_lowercase()
}

/// Column positions of a sheet's header, looked up by any of a column's names.
pub struct Headers {
    names: Vec<String>,
}

impl Headers {
    pub fn new(sheet_headers: &[String]) -> Headers {
        Headers { names: sheet_headers.iter().map(|h| norm_header(h)).collect() }
    }

    /// The position of the first of `names` present in the header.
    pub fn find(&self, names: &[&str]) -> Option<usize> {
        names.iter().find_map(|n| {
            let n = norm_header(n);
            self.names.iter().position(|h| *h == n)
        })
    }

    pub fn require(&self, names: &[&str]) -> Result<usize, FileError> {
        self.find(names).ok_or_else(|| FileError::MissingColumn(describe(names)))
    }
}

fn describe(names: &[&str]) -> String {
    match names {
        [zh, en, ..] => format!("{zh} ({en})"),
        [one] => (*one).to_string(),
        [] => String::new(),
    }
}

/// A header recogniser for [`super::read::read_sheet`]: the row holds all `required` names.
pub fn header_with<'a>(required: &'a [&'a [&'a str]]) -> impl Fn(&[String]) -> bool + 'a {
    move |cells: &[String]| {
        let h = Headers::new(cells);
        required.iter().all(|names| h.find(names).is_some())
    }
}

/// The cell at `i` of a ragged row ("" when the row is short).
pub fn cell(row: &RawRow, i: Option<usize>) -> &str {
    match i {
        Some(i) => row.cells.get(i).map(String::as_str).unwrap_or(""),
        None => "",
    }
}

/// Turns each row with a per-row closure into a [`ParsedRow`]; a row that could not be read as
/// CSV is rejected with the parser's reason.
pub fn map_rows(sheet: &Sheet, mut f: impl FnMut(&RawRow) -> Result<super::Row, String>) -> Vec<ParsedRow> {
    sheet
        .rows
        .iter()
        .map(|row| {
            let outcome = match row.cells.first().and_then(|c| c.strip_prefix('\u{0}')) {
                Some(reason) => Outcome::Rejected(reason.to_string()),
                None => match f(row) {
                    Ok(r) => Outcome::Row(r),
                    Err(reason) => Outcome::Rejected(reason),
                },
            };
            ParsedRow { loc: row.loc.clone(), raw: row.raw(), outcome }
        })
        .collect()
}

/// The first `n` characters of a text (titles from post bodies: the body itself is not stored).
pub fn first_chars(s: &str, n: usize) -> String {
    s.trim().chars().take(n).collect()
}

/// A short stable id from parts (for exports that carry no post id).
pub fn hash_id(parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0x1f]);
    }
    hex::encode(h.finalize())[..16].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_match_chinese_english_and_annotated_names() {
        let h = Headers::new(&["\u{feff}单位名称 (unit_name)".into(), "Platform".into(), "账号ID（account_id）".into()]);
        assert_eq!(h.find(&["单位名称", "unit_name"]), Some(0));
        assert_eq!(h.find(&["平台", "platform"]), Some(1));
        assert_eq!(h.find(&["账号ID", "account_id"]), Some(2));
        assert!(matches!(h.require(&["发布ID", "post_id"]), Err(FileError::MissingColumn(c)) if c == "发布ID (post_id)"));
    }
}
