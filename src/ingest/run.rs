//! One ingest run: sources in kind order, natural keys (newer wins), the cross-source post merge,
//! rejects and the per-file summary, committed in one manifest swap under the write lock.

use super::read::Loc;
use super::merge::{calendar_rows, keep_newest, keep_unchanged, merge_cross_source, merge_existing, same_content};
use super::{FileContext, FileError, Kind, Lookup, Outcome};
use crate::pipeline::Source;
use crate::table::{self, Row, TableDef, Value};
use crate::warehouse::{Manifest, Warehouse, WarehouseError};
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
pub(super) const BUILTIN_CALENDAR: &str = "data/calendar/holidays_cn.csv (built in)";

/// A row of this run, with where it came from and its precedence (higher = newer).
pub(super) struct Candidate {
    pub(super) row: Row,
    pub(super) file: usize,
    pub(super) seq: u64,
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
    // Only the tables this run changes, and those the lookups need, are read: the posts' owners
    // only when the run has public messages (a comment names its post, not its account) or posts.
    let ingests = |t: &TableDef| sources.iter().any(|s| s.kind.table().name == t.name);
    let posts_needed = ingests(&table::POSTS) || ingests(&table::INTERACTIONS);
    let mut staged: HashMap<&'static str, Vec<Row>> = HashMap::new();
    for def in table::STAGING {
        let needed = [&table::CALENDAR, &table::REGISTRY].iter().any(|t| t.name == def.name)
            || (posts_needed && [&table::POSTS, &table::POST_ALIASES].iter().any(|t| t.name == def.name))
            || ingests(def);
        if needed {
            staged.insert(def.name, wh.read_rows(&manifest, def).await?);
        }
    }
    refresh_accounts(&mut lookup, &staged[table::REGISTRY.name]);
    if posts_needed {
        refresh_posts(&mut lookup, &staged[table::POSTS.name], &staged[table::POST_ALIASES.name]);
    }

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
            merge_cross_source(winners, &mut files, &mut aliases).0
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

