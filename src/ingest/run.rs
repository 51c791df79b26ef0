//! One ingest run: sources in kind order, natural keys (newer wins), the cross-source post merge,
//! rejects and the per-file summary, committed in one manifest swap under the write lock.

use super::read::Loc;
use super::{FileContext, FileError, Kind, Lookup, Outcome};
use crate::pipeline::Source;
use crate::table::{self, Row, TableDef, Value};
use crate::warehouse::{FileEntry, Manifest, Warehouse, WarehouseError};
use std::collections::{BTreeMap, HashMap};

/// What one file gave: SPEC §3's five numbers (read = loaded + rejected + duplicates + merged).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileReport {
    pub kind: String,
    pub format: String,
    pub source_file: String,
    pub read: u64,
    pub loaded: u64,
    pub rejected: u64,
    pub duplicates: u64,
    pub merged: u64,
    /// Why the whole file was skipped, if it was.
    pub error: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Reject {
    pub kind: String,
    pub format: String,
    pub source_file: String,
    pub loc: Option<Loc>,
    pub reason: String,
    pub raw: String,
}

#[derive(Debug)]
pub struct IngestReport {
    pub run_id: String,
    pub files: Vec<FileReport>,
    pub rejects: Vec<Reject>,
    /// Rows of each staging table after the run.
    pub tables: BTreeMap<String, u64>,
    pub manifest_version: u64,
}

impl IngestReport {
    pub fn failed_files(&self) -> usize {
        self.files.iter().filter(|f| f.error.is_some()).count()
    }
}

#[derive(Debug, Default, Clone)]
pub struct IngestOptions {
    /// Show a progress bar (it stays hidden when stderr is not a terminal).
    pub progress: bool,
    /// Tests: fail after this many data files are written, before the manifest swap.
    pub fail_after_writes: Option<usize>,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
    #[error("injected failure after {0} files were written (test hook)")]
    Injected(usize),
}

const WITHHELD: &str = "(withheld: a public message's row may identify its author)";
const BUILTIN_CALENDAR: &str = "data/calendar/holidays_cn.csv (built in)";

/// A row of this run, with where it came from and its precedence (higher = newer).
struct Candidate {
    row: Row,
    file: usize,
    seq: u64,
}

pub async fn ingest(wh: &Warehouse, sources: &[Source], opts: &IngestOptions) -> Result<IngestReport, IngestError> {
    let lock = wh.lock("govmedia ingest").await?;
    let result = ingest_locked(wh, sources, opts).await;
    // Released whether or not the run succeeded: nothing was committed on failure.
    wh.release(lock).await?;
    result
}

async fn ingest_locked(wh: &Warehouse, sources: &[Source], opts: &IngestOptions) -> Result<IngestReport, IngestError> {
    let started = chrono::Utc::now();
    let run_id = format!("{}-{:04x}", started.format("%Y%m%dT%H%M%S%3fZ"), std::process::id() & 0xffff);
    let ingested_at = Value::Instant(started.timestamp_micros());
    let manifest = wh.manifest().await?;
    let secret = wh.secret().await?;

    // What earlier runs left: the register and the posts' owners are looked up by later kinds.
    let mut lookup = Lookup::default();
    let mut staged: HashMap<&'static str, Vec<Row>> = HashMap::new();
    for def in table::STAGING {
        staged.insert(def.name, wh.read_rows(&manifest, def).await?);
    }
    refresh_accounts(&mut lookup, &staged[table::REGISTRY.name]);
    refresh_posts(&mut lookup, &staged[table::POSTS.name], &staged[table::POST_ALIASES.name]);

    let mut files: Vec<FileReport> = Vec::new();
    let mut rejects: Vec<Reject> = Vec::new();
    let mut changed: Vec<&'static TableDef> = Vec::new();
    let total_files: usize = sources.iter().map(|s| s.files.len()).sum();
    let bar = progress_bar(opts.progress, total_files as u64);

    for kind in Kind::ALL {
        let of_kind: Vec<&Source> = sources.iter().filter(|s| s.kind == kind).collect();
        if of_kind.is_empty() && kind != Kind::Calendar {
            continue;
        }
        let def = kind.table();
        let mut candidates: Vec<Candidate> = Vec::new();
        let mut seq = 0u64;
        for source in &of_kind {
            for (path, shown) in &source.files {
                bar.set_message(shown.clone());
                let file_idx = files.len();
                let mut report = FileReport {
                    kind: kind.name().into(),
                    format: source.format.name().into(),
                    source_file: shown.clone(),
                    ..Default::default()
                };
                let ctx = FileContext {
                    kind,
                    display: shown.clone(),
                    stem: path.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default(),
                    account: source.account.clone().or_else(|| parent_folder(path)),
                    platform: source.platform.clone().or_else(|| platform_in_path(shown)),
                    as_of: source.as_of,
                    lookup: &lookup,
                    secret: &secret,
                };
                let parsed = std::fs::read(path)
                    .map_err(|e| FileError::Other(format!("cannot read the file: {e}")))
                    .and_then(|bytes| source.format.parse(&ctx, &bytes));
                match parsed {
                    Err(e) => {
                        report.error = Some(e.to_string());
                        rejects.push(Reject {
                            kind: report.kind.clone(),
                            format: report.format.clone(),
                            source_file: shown.clone(),
                            loc: None,
                            reason: format!("file skipped: {e}"),
                            raw: String::new(),
                        });
                    }
                    Ok(rows) => {
                        for p in rows {
                            report.read += 1;
                            match p.outcome {
                                Outcome::Row(mut row) => {
                                    row[def.index("source_file")] = Value::Str(shown.clone());
                                    row[def.index("ingested_at")] = ingested_at.clone();
                                    seq += 1;
                                    candidates.push(Candidate { row, file: file_idx, seq });
                                }
                                Outcome::Merged => report.merged += 1,
                                Outcome::Rejected(reason) => {
                                    report.rejected += 1;
                                    // A public message's row may hold its author and text, which
                                    // are never stored: the file and line lead to it instead.
                                    let raw = if kind == Kind::Interactions { WITHHELD.to_string() } else { p.raw };
                                    rejects.push(Reject {
                                        kind: report.kind.clone(),
                                        format: report.format.clone(),
                                        source_file: shown.clone(),
                                        loc: Some(p.loc),
                                        reason,
                                        raw,
                                    });
                                }
                            }
                        }
                    }
                }
                files.push(report);
                bar.inc(1);
            }
        }

        // Newer wins within the run: the later candidate of a key; the others are duplicates.
        let winners = keep_newest(def, candidates, &mut files);
        let mut aliases: Vec<Row> = Vec::new();
        let winners = if kind == Kind::Posts {
            merge_cross_source(winners, &[], &mut files, &mut aliases).0
        } else {
            winners
        };
        let existing = staged.remove(def.name).unwrap_or_default();
        let next = match kind {
            // The register is a snapshot: a run with registry sources replaces it. When one of
            // them could not be read the snapshot is incomplete, so its rows are merged into the
            // register instead (nothing is lost to a bad file).
            Kind::Registry => {
                let complete = files.iter().filter(|f| f.kind == "registry").all(|f| f.error.is_none());
                keep_unchanged(def, &existing, winners, &mut files, complete)
            }
            Kind::Calendar => calendar_rows(def, existing.clone(), winners, &ingested_at, &mut files),
            Kind::Posts => {
                let merged = keep_unchanged(def, &existing, winners, &mut files, false);
                let (rows, _) = merge_existing(merged, &ingested_at, &mut files, &mut aliases);
                rows
            }
            _ => keep_unchanged(def, &existing, winners, &mut files, false),
        };
        // Loaded = every surviving row this run produced.
        let mut next = next;
        sort_by_key(def, &mut next);
        if kind == Kind::Posts {
            let alias_def = &table::POST_ALIASES;
            let old_aliases = staged.remove(alias_def.name).unwrap_or_default();
            let mut all = old_aliases.clone();
            let mut seen: HashMap<String, usize> = all.iter().enumerate().map(|(i, r)| (alias_def.key_of(r), i)).collect();
            for a in aliases {
                let k = alias_def.key_of(&a);
                match seen.get(&k) {
                    Some(&i) if same_content(alias_def, &all[i], &a) => {}
                    Some(&i) => all[i] = a,
                    None => {
                        seen.insert(k, all.len());
                        all.push(a);
                    }
                }
            }
            sort_by_key(alias_def, &mut all);
            if all != old_aliases {
                changed.push(alias_def);
            }
            refresh_posts(&mut lookup, &next, &all);
            staged.insert(alias_def.name, all);
        }
        if kind == Kind::Registry {
            refresh_accounts(&mut lookup, &next);
        }
        let mut before = existing;
        sort_by_key(def, &mut before);
        if next != before || manifest.files(def.name).is_empty() {
            changed.push(def);
        }
        staged.insert(def.name, next);
    }
    bar.finish_and_clear();


    // Write what changed, then swap the manifest.
    let mut next_manifest: Manifest = manifest.clone();
    let mut writes = 0usize;
    let version = manifest.version + 1;
    for def in &changed {
        let rows = &staged[def.name];
        let mut entries = Vec::new();
        for (partition, part_rows) in partitions(def, rows) {
            let dir = crate::warehouse::table_dir(def.name);
            let sub: String = partition.iter().map(|(k, v)| format!("{k}={v}/")).collect();
            let rel = format!("{dir}/{sub}v{version:06}-{run_id}.parquet");
            let mut entry = wh.write_rows(def, &rel, &part_rows).await?;
            entry.partition = partition;
            entries.push(entry);
            writes += 1;
            if opts.fail_after_writes.is_some_and(|n| writes >= n) {
                return Err(IngestError::Injected(writes));
            }
        }
        next_manifest.set(def.name, entries);
    }
    let reject_rows = reject_rows(&run_id, &rejects, &ingested_at);
    if !reject_rows.is_empty() {
        let rel = format!("raw/rejects/v{version:06}-{run_id}.parquet");
        let entry = wh.write_rows(&table::REJECTS, &rel, &reject_rows).await?;
        next_manifest.append("rejects", vec![entry]);
    }
    let file_rows = file_rows(&run_id, &files, &ingested_at);
    if !file_rows.is_empty() {
        let rel = format!("raw/ingest_files/v{version:06}-{run_id}.parquet");
        let entry = wh.write_rows(&table::INGEST_FILES, &rel, &file_rows).await?;
        next_manifest.append("ingest_files", vec![entry]);
    }
    let committed = wh.commit(next_manifest, &format!("ingest run {run_id}")).await?;
    let tables = table::STAGING.iter().map(|d| (d.name.to_string(), committed.rows(d.name))).collect();
    Ok(IngestReport { run_id, files, rejects, tables, manifest_version: committed.version })
}

fn progress_bar(show: bool, total: u64) -> indicatif::ProgressBar {
    if !show || total < 2 {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} ingest [{bar:30}] {pos}/{len} files  {wide_msg}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

fn parent_folder(path: &std::path::Path) -> Option<String> {
    path.parent()?.file_name().map(|n| n.to_string_lossy().to_string())
}

/// A platform named by a folder of the path (`…/douyin/…`), for MediaCrawler dumps.
fn platform_in_path(shown: &str) -> Option<String> {
    let parts: Vec<&str> = shown.split(['/', '\\']).collect();
    parts[..parts.len().saturating_sub(1)]
        .iter()
        .rev()
        .find_map(|p| crate::ingest::fields::platform_code(p))
        .map(str::to_string)
}

fn refresh_accounts(lookup: &mut Lookup, registry: &[Row]) {
    let def = &table::REGISTRY;
    let (p, a) = (def.index("platform"), def.index("account_id"));
    lookup.accounts.clear();
    lookup.creator_hashes.clear();
    for r in registry {
        if let (Some(p), Some(a)) = (r[p].as_str(), r[a].as_str()) {
            lookup.add_account(p, a);
        }
    }
}

fn refresh_posts(lookup: &mut Lookup, posts: &[Row], aliases: &[Row]) {
    let def = &table::POSTS;
    let (p, id, a) = (def.index("platform"), def.index("post_id"), def.index("account_id"));
    lookup.post_owners.clear();
    for r in posts {
        if let (Some(p), Some(id), Some(a)) = (r[p].as_str(), r[id].as_str(), r[a].as_str()) {
            lookup.post_owners.insert((p.to_string(), id.to_string()), a.to_string());
        }
    }
    let al = &table::POST_ALIASES;
    let (p, id, a) = (al.index("platform"), al.index("post_id"), al.index("account_id"));
    for r in aliases {
        if let (Some(p), Some(id), Some(a)) = (r[p].as_str(), r[id].as_str(), r[a].as_str()) {
            lookup.post_owners.entry((p.to_string(), id.to_string())).or_insert_with(|| a.to_string());
        }
    }
}

/// Keeps the newest candidate of each key (the last in precedence order); counts the others as
/// duplicates of their files.
fn keep_newest(def: &TableDef, candidates: Vec<Candidate>, files: &mut [FileReport]) -> Vec<Candidate> {
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
fn same_content(def: &TableDef, a: &Row, b: &Row) -> bool {
    let skip = def.index("ingested_at");
    a.iter().zip(b).enumerate().all(|(i, (x, y))| i == skip || x == y)
}

/// The table after this run's rows: a row equal to the staged one of its key keeps the staged row
/// (so re-ingesting changes nothing), any other replaces it. `replace_all` drops staged rows the
/// run does not have (the register is a snapshot).
fn keep_unchanged(def: &TableDef, existing: &[Row], new: Vec<Candidate>, files: &mut [FileReport], replace_all: bool) -> Vec<Row> {
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
fn merge_cross_source(
    rows: Vec<Candidate>,
    _existing: &[Row],
    files: &mut [FileReport],
    aliases: &mut Vec<Row>,
) -> (Vec<Candidate>, usize) {
    let def = &table::POSTS;
    let mut groups: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, c) in rows.iter().enumerate() {
        if let Some(k) = same_post_key(&c.row) {
            groups.entry(k).or_default().push(i);
        }
    }
    let mut drop = vec![false; rows.len()];
    let mut rows = rows;
    let mut merged = 0;
    for members in groups.values().filter(|m| m.len() > 1) {
        let mut by_age = members.clone();
        by_age.sort_by_key(|&i| std::cmp::Reverse(rows[i].seq));
        let winner = by_age[0];
        for &loser in &by_age[1..] {
            let loser_row = rows[loser].row.clone();
            fill_nulls(def, &mut rows[winner].row, &loser_row);
            drop[loser] = true;
            files[rows[loser].file].merged += 1;
            merged += 1;
            aliases.push(alias_row(&loser_row, &rows[winner].row));
        }
    }
    let out = rows.into_iter().zip(drop).filter(|(_, d)| !d).map(|(c, _)| c).collect();
    (out, merged)
}

/// The same merge between this run's posts and earlier runs' (rows are already key-unique).
/// Rows of this run carry a newer `ingested_at`, which decides who survives.
fn merge_existing(rows: Vec<Row>, this_run: &Value, files: &mut [FileReport], aliases: &mut Vec<Row>) -> (Vec<Row>, usize) {
    let def = &table::POSTS;
    let at = def.index("ingested_at");
    let mut groups: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, r) in rows.iter().enumerate() {
        if let Some(k) = same_post_key(r) {
            groups.entry(k).or_default().push(i);
        }
    }
    let mut rows = rows;
    let mut drop = vec![false; rows.len()];
    let mut merged = 0;
    for members in groups.values().filter(|m| m.len() > 1) {
        let mut by_age = members.clone();
        by_age.sort_by_key(|&i| std::cmp::Reverse(rows[i][at].as_instant().unwrap_or(0)));
        let winner = by_age[0];
        for &loser in &by_age[1..] {
            let loser_row = rows[loser].clone();
            fill_nulls(def, &mut rows[winner], &loser_row);
            drop[loser] = true;
            merged += 1;
            // A row of this run merged into an earlier run's: move it from loaded to merged.
            if &loser_row[at] == this_run {
                let src = loser_row[def.index("source_file")].as_str().unwrap_or_default();
                if let Some(f) = files.iter_mut().find(|f| f.kind == "posts" && f.source_file == src && f.loaded > 0) {
                    f.loaded -= 1;
                    f.merged += 1;
                }
            }
            aliases.push(alias_row(&loser_row, &rows[winner]));
        }
    }
    (rows.into_iter().zip(drop).filter(|(_, d)| !d).map(|(r, _)| r).collect(), merged)
}

/// (platform, account, title, minute) of a post with a title.
fn same_post_key(row: &Row) -> Option<String> {
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

fn fill_nulls(def: &TableDef, winner: &mut Row, older: &Row) {
    let skip = [def.index("source_file"), def.index("ingested_at"), def.index("post_id")];
    for i in 0..winner.len() {
        if !skip.contains(&i) && winner[i].is_null() {
            winner[i] = older[i].clone();
        }
    }
}

fn alias_row(loser: &Row, winner: &Row) -> Row {
    let p = &table::POSTS;
    let mut b = super::RowBuilder::new(&table::POST_ALIASES);
    b.set("platform", loser[p.index("platform")].clone());
    b.set("post_id", loser[p.index("post_id")].clone());
    b.set("account_id", loser[p.index("account_id")].clone());
    b.set("merged_into", winner[p.index("post_id")].clone());
    b.set("source_file", loser[p.index("source_file")].clone());
    b.set("ingested_at", loser[p.index("ingested_at")].clone());
    b.finish()
}

/// The calendar: the shipped days, then days from earlier calendar sources, then this run's.
fn calendar_rows(def: &'static TableDef, existing: Vec<Row>, new: Vec<Candidate>, ingested_at: &Value, files: &mut [FileReport]) -> Vec<Row> {
    let src = def.index("source_file");
    let mut shipped: Vec<Candidate> = Vec::new();
    for line in crate::calendar::SHIPPED_CSV.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        if cells.len() < 3 {
            continue;
        }
        let Ok(d) = crate::time::parse_date(cells[0]) else { continue };
        let mut b = super::RowBuilder::new(def);
        b.set("date", Value::Date(crate::time::date_to_days(d))).str("kind", cells[1]).str("name", cells[2]);
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

fn sort_by_key(def: &TableDef, rows: &mut [Row]) {
    rows.sort_by_cached_key(|r| def.key_of(r));
}

/// Files of a table: posts and interactions by platform and month, the rest in one file.
fn partitions(def: &TableDef, rows: &[Row]) -> Vec<(BTreeMap<String, String>, Vec<Row>)> {
    let time_col = match def.name {
        "posts" => Some("published_at"),
        "interactions" => Some("received_at"),
        _ => None,
    };
    let Some(time_col) = time_col else {
        return vec![(BTreeMap::new(), rows.to_vec())];
    };
    let (p, t) = (def.index("platform"), def.index(time_col));
    let mut parts: BTreeMap<(String, String), Vec<Row>> = BTreeMap::new();
    for r in rows {
        let platform = r[p].as_str().unwrap_or("unknown").to_string();
        let month = r[t]
            .as_instant()
            .map(|m| crate::time::beijing_date_of(m).format("%Y-%m").to_string())
            .unwrap_or_else(|| "unknown".into());
        parts.entry((platform, month)).or_default().push(r.clone());
    }
    if parts.is_empty() {
        return vec![(BTreeMap::new(), Vec::new())];
    }
    parts
        .into_iter()
        .map(|((platform, month), rows)| {
            (BTreeMap::from([("platform".to_string(), platform), ("month".to_string(), month)]), rows)
        })
        .collect()
}

fn reject_rows(run_id: &str, rejects: &[Reject], at: &Value) -> Vec<Row> {
    rejects
        .iter()
        .map(|r| {
            let mut b = super::RowBuilder::new(&table::REJECTS);
            b.str("run_id", run_id).str("kind", r.kind.clone()).str("format", r.format.clone());
            b.str("source_file", r.source_file.clone()).str("reason", r.reason.clone()).str("raw", r.raw.clone());
            if let Some(loc) = &r.loc {
                b.set("line", Value::Int(loc.number() as i64));
                if let Some(s) = loc.sheet() {
                    b.str("sheet", s);
                }
            }
            b.set("ingested_at", at.clone());
            b.finish()
        })
        .collect()
}

fn file_rows(run_id: &str, files: &[FileReport], at: &Value) -> Vec<Row> {
    files
        .iter()
        .map(|f| {
            let mut b = super::RowBuilder::new(&table::INGEST_FILES);
            b.str("run_id", run_id).str("kind", f.kind.clone()).str("format", f.format.clone());
            b.str("source_file", f.source_file.clone());
            b.str("status", if f.error.is_some() { "error" } else { "ok" });
            for (c, v) in [("read", f.read), ("loaded", f.loaded), ("rejected", f.rejected), ("duplicates", f.duplicates), ("merged", f.merged)] {
                b.set(c, Value::Int(v as i64));
            }
            if let Some(e) = &f.error {
                b.str("error", e.clone());
            }
            b.set("ingested_at", at.clone());
            b.finish()
        })
        .collect()
}

pub type Entries = Vec<FileEntry>;
