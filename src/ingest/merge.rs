//! Natural keys and merges of one ingest run (SPEC §3, §5 preamble): the newest row of a key
//! wins, a row equal to the staged one keeps the staged row (re-ingesting changes nothing), and
//! posts of one account with the same title in the same minute are one post.

use super::accounting::{Candidate, FileReport};
use crate::table::{self, Row, TableDef, Value};
use std::collections::{BTreeMap, HashMap};

const BUILTIN_CALENDAR: &str = "data/calendar/holidays_cn.csv (built in)";

/// Keeps the newest candidate of each key (the last in precedence order); counts the others as
/// duplicates of their files.
pub(super) fn keep_newest(def: &TableDef, candidates: Vec<Candidate>, files: &mut [FileReport]) -> Vec<Candidate> {
    let mut best: HashMap<String, usize> = HashMap::new();
    let mut out: Vec<Option<Candidate>> = Vec::with_capacity(candidates.len());
    for c in candidates {
        let key = def.key_of(&c.row);
        if let Some(&i) = best.get(&key) {
            if let Some(old) = out[i].take() {
                files[old.file].duplicates += 1;
            }
        }
        best.insert(key, out.len());
        out.push(Some(c));
    }
    out.into_iter().flatten().collect()
}

/// Two rows with the same content, whenever they were ingested.
pub(super) fn same_content(def: &TableDef, a: &Row, b: &Row) -> bool {
    let skip = def.index("ingested_at");
    a.iter().zip(b).enumerate().all(|(i, (x, y))| i == skip || x == y)
}

/// The table after this run's rows: a row equal to the staged one of its key keeps the staged row
/// (so re-ingesting changes nothing), any other replaces it. `replace_all` drops staged rows the
/// run does not have (the register is a snapshot).
pub(super) fn keep_unchanged(
    def: &TableDef,
    existing: &[Row],
    new: Vec<Candidate>,
    files: &mut [FileReport],
    replace_all: bool,
) -> Vec<Row> {
    let index: HashMap<String, usize> = existing.iter().enumerate().map(|(i, r)| (def.key_of(r), i)).collect();
    let mut taken = vec![false; existing.len()];
    let mut out: Vec<Row> = Vec::with_capacity(existing.len() + new.len());
    for c in new {
        files[c.file].loaded += 1;
        match index.get(&def.key_of(&c.row)) {
            Some(&i) if same_content(def, &existing[i], &c.row) => {
                taken[i] = true;
                out.push(existing[i].clone());
            }
            Some(&i) => {
                taken[i] = true;
                out.push(c.row);
            }
            None => out.push(c.row),
        }
    }
    if !replace_all {
        out.extend(existing.iter().zip(taken).filter(|(_, t)| !t).map(|(r, _)| r.clone()));
    }
    out
}

/// Posts of one account with the same title published in the same minute are one post (SPEC §5):
/// the newest row survives, each count taken from the newest row where it is not NULL.
/// Returns the survivors; merged-away rows are counted for their files and become aliases.
pub(super) fn merge_cross_source(rows: Vec<Candidate>, files: &mut [FileReport], aliases: &mut Vec<Row>) -> (Vec<Candidate>, usize) {
    fold_same_posts(
        rows,
        |c| &c.row,
        |c| &mut c.row,
        |c| c.seq as i64,
        |loser, winner| {
            files[loser.file].merged += 1;
            aliases.push(alias_row(&loser.row, winner));
        },
    )
}

/// The fold both merges share: items whose rows are the same post ([`same_post_key`]) are one
/// item, the one with the greatest `newer` key, which takes each NULL from the others (newest
/// first); `merged(loser, winner_row)` hears of each other one before it is dropped. Returns the
/// survivors and how many were merged away.
pub(super) fn fold_same_posts<T>(
    items: Vec<T>,
    row: impl Fn(&T) -> &Row,
    row_mut: impl Fn(&mut T) -> &mut Row,
    newer: impl Fn(&T) -> i64,
    mut merged: impl FnMut(&T, &Row),
) -> (Vec<T>, usize) {
    let def = &table::POSTS;
    let mut groups: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        if let Some(k) = same_post_key(row(item)) {
            groups.entry(k).or_default().push(i);
        }
    }
    let mut items = items;
    let mut drop = vec![false; items.len()];
    let mut count = 0;
    for members in groups.values().filter(|m| m.len() > 1) {
        let mut by_age = members.clone();
        by_age.sort_by_key(|&i| std::cmp::Reverse(newer(&items[i])));
        let winner = by_age[0];
        for &loser in &by_age[1..] {
            let loser_row = row(&items[loser]).clone();
            fill_nulls(def, row_mut(&mut items[winner]), &loser_row);
            drop[loser] = true;
            count += 1;
            merged(&items[loser], row(&items[winner]));
        }
    }
    (items.into_iter().zip(drop).filter(|(_, d)| !d).map(|(item, _)| item).collect(), count)
}

/// (platform, account, title, minute) of a post with a title.
pub(super) fn same_post_key(row: &Row) -> Option<String> {
    let def = &table::POSTS;
    let title = row[def.index("title")].as_str()?.trim();
    if title.is_empty() {
        return None;
    }
    let at = row[def.index("published_at")].as_instant()?;
    let minute = at.div_euclid(60_000_000);
    Some(format!(
        "{}\u{1f}{}\u{1f}{}\u{1f}{}",
        row[def.index("platform")].key_part(),
        row[def.index("account_id")].key_part(),
        title,
        minute
    ))
}

pub(super) fn fill_nulls(def: &TableDef, winner: &mut Row, older: &Row) {
    let skip = [def.index("source_file"), def.index("ingested_at"), def.index("post_id")];
    for i in 0..winner.len() {
        if !skip.contains(&i) && winner[i].is_null() {
            winner[i] = older[i].clone();
        }
    }
}

pub(super) fn alias_row(loser: &Row, winner: &Row) -> Row {
    let p = &table::POSTS;
    let mut b = table::RowBuilder::new(&table::POST_ALIASES);
    b.set("platform", loser[p.index("platform")].clone());
    b.set("post_id", loser[p.index("post_id")].clone());
    b.set("account_id", loser[p.index("account_id")].clone());
    b.set("merged_into", winner[p.index("post_id")].clone());
    b.set("source_file", loser[p.index("source_file")].clone());
    b.set("ingested_at", loser[p.index("ingested_at")].clone());
    b.finish()
}

/// The calendar: the shipped days, then days from earlier calendar sources, then this run's.
pub(super) fn calendar_rows(
    def: &'static TableDef,
    existing: Vec<Row>,
    new: Vec<Candidate>,
    ingested_at: &Value,
    files: &mut [FileReport],
) -> Vec<Row> {
    let src = def.index("source_file");
    let mut shipped: Vec<Candidate> = Vec::new();
    for (d, kind, name) in crate::calendar::shipped_days() {
        let mut b = table::RowBuilder::new(def);
        b.set("date", Value::Date(crate::time::date_to_days(d))).str("kind", kind.code()).str("name", name);
        b.str("source_file", BUILTIN_CALENDAR).set("ingested_at", ingested_at.clone());
        shipped.push(Candidate { row: b.finish(), file: usize::MAX, seq: 0 });
    }
    let from_sources: Vec<Row> = existing.iter().filter(|r| r[src].as_str() != Some(BUILTIN_CALENDAR)).cloned().collect();
    // Built-in rows first, overridden by earlier sources, overridden by this run.
    let mut by_key: BTreeMap<String, Row> = BTreeMap::new();
    for c in shipped {
        by_key.insert(def.key_of(&c.row), c.row);
    }
    for r in from_sources {
        by_key.insert(def.key_of(&r), r);
    }
    for c in new {
        files[c.file].loaded += 1;
        by_key.insert(def.key_of(&c.row), c.row);
    }
    // Keep rows unchanged since the last run as they were (their ingested_at included).
    let old: HashMap<String, &Row> = existing.iter().map(|r| (def.key_of(r), r)).collect();
    by_key
        .into_iter()
        .map(|(k, r)| match old.get(&k) {
            Some(o) if same_content(def, o, &r) => (*o).clone(),
            _ => r,
        })
        .collect()
}
