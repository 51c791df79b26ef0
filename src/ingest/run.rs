//! One ingest run: sources in kind order, natural keys (newer wins), the cross-source post merge,
//! rejects and the per-file summary, committed in one manifest swap under the write lock.

use super::accounting::Candidate;
pub use super::accounting::{FileReport, IngestReport, Reject};
use super::columns;
use super::merge::{calendar_rows, keep_newest, keep_unchanged, same_content};
use super::partitioned::{self, NewRows, Staged};
use super::read::Loc;
use super::source::Source;
use super::{FileContext, FileError, Kind, Lookup, Outcome};
use crate::privacy::Secret;
use crate::table::{self, Row, TableDef, Value};
use crate::warehouse::{FileEntry, Manifest, Warehouse, WarehouseError};
use arrow::array::RecordBatch;
use std::collections::HashMap;

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
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("injected failure after {0} files were written (test hook)")]
    Injected(usize),
}

const WITHHELD: &str = "(withheld: a public message's row may identify its author)";

pub async fn ingest(wh: &Warehouse, sources: &[Source], opts: &IngestOptions) -> Result<IngestReport, IngestError> {
    let lock = wh.lock("govmedia ingest").await?;
    let result = ingest_locked(wh, sources, opts).await;
    // Released whether or not the run succeeded: nothing was committed on failure.
    wh.release(lock).await?;
    result
}

async fn ingest_locked(wh: &Warehouse, sources: &[Source], opts: &IngestOptions) -> Result<IngestReport, IngestError> {
    crate::engine::keep_freed_memory();
    crate::engine::take_memory_in_small_pages();
    let started = chrono::Utc::now();
    let manifest = wh.manifest().await?;
    let secret = wh.secret().await?;
    let run = RunIds {
        run_id: format!("{}-{:04x}", started.format("%Y%m%dT%H%M%S%3fZ"), std::process::id() & 0xffff),
        version: manifest.version + 1,
        ingested_at: Value::Instant(started.timestamp_micros()),
        ingested_micros: started.timestamp_micros(),
        writes: std::sync::atomic::AtomicUsize::new(0),
        opts,
    };

    // What earlier runs left: the register is looked up by later kinds.
    let mut lookup = Lookup { run_at: Some(started.timestamp_micros()), ..Default::default() };
    let mut gathered = Gathered { staged: read_small_tables(wh, &manifest, sources).await?, ..Default::default() };
    refresh_accounts(&mut lookup, &gathered.staged[table::REGISTRY.name]);

    let total_files: usize = sources.iter().map(|s| s.files.len()).sum();
    let bar = progress_bar(opts.progress, total_files as u64);
    for kind in Kind::ALL {
        let of_kind: Vec<&Source> = sources.iter().filter(|s| s.kind == kind).collect();
        if of_kind.is_empty() && kind != Kind::Calendar {
            continue;
        }
        let def = kind.table();
        if kind == Kind::Interactions && of_kind.iter().any(|s| s.format.needs_post_owners()) {
            let posts = match gathered.rewritten.iter().find(|(d, _)| d.name == table::POSTS.name) {
                Some((_, entries)) => entries.clone(),
                None => manifest.files(table::POSTS.name).to_vec(),
            };
            lookup.post_owners = post_owners(wh, &posts, &gathered.staged[table::POST_ALIASES.name]).await?;
        }
        let jobs: Vec<Job> = of_kind.iter().flat_map(|s| s.files.iter().map(move |(path, shown)| Job { source: s, path, shown })).collect();
        let reads = read_files(&jobs, kind, &lookup, &secret, &bar);
        if is_partitioned(def) {
            bar.set_message(format!("{}: merging with the staged rows, writing the changed partitions", def.name));
            stage_partitioned(wh, &manifest, &run, kind, reads, &mut gathered).await?;
        } else {
            stage_rows(&manifest, &run, kind, reads, &mut gathered, &mut lookup);
        }
    }
    bar.finish_and_clear();
    // The lookups (a city's posts' owners: a million strings) are freed beside the commit.
    std::thread::spawn(move || drop(lookup));
    commit_run(wh, manifest, &run, gathered).await
}

/// What names and stamps everything one run writes, and counts its writes (for the test hook).
struct RunIds<'a> {
    run_id: String,
    /// The manifest version the run commits.
    version: u64,
    ingested_at: Value,
    ingested_micros: i64,
    writes: std::sync::atomic::AtomicUsize,
    opts: &'a IngestOptions,
}

/// What a run has gathered so far: every file's report and rejects, the small tables as they now
/// stand, and the tables it changed.
#[derive(Default)]
struct Gathered {
    files: Vec<FileReport>,
    rejects: Vec<Reject>,
    staged: HashMap<&'static str, Vec<Row>>,
    /// Small tables (one file each) to write.
    changed: Vec<&'static TableDef>,
    /// Tables stored by partition that the run rewrote, with all their files.
    rewritten: Vec<(&'static TableDef, Vec<FileEntry>)>,
}

impl Gathered {
    /// Records a file's report and rejects; returns the file's position.
    fn add_report(&mut self, report: FileReport, rejects: Vec<Reject>) -> usize {
        self.files.push(report);
        self.rejects.extend(rejects);
        self.files.len() - 1
    }
}

/// The small tables the run needs, read as rows: the calendar and register always, aliases when
/// posts or messages come in, and every table the run ingests. Posts and messages are read as
/// columns later, and only where a run changes them.
async fn read_small_tables(
    wh: &Warehouse,
    manifest: &Manifest,
    sources: &[Source],
) -> Result<HashMap<&'static str, Vec<Row>>, IngestError> {
    let ingests = |t: &TableDef| sources.iter().any(|s| s.kind.table().name == t.name);
    let mut staged: HashMap<&'static str, Vec<Row>> = HashMap::new();
    for def in table::STAGING.iter().filter(|d| !is_partitioned(d)) {
        let needed = [&table::CALENDAR, &table::REGISTRY].iter().any(|t| t.name == def.name)
            || (def.name == table::POST_ALIASES.name && (ingests(&table::POSTS) || ingests(&table::INTERACTIONS)))
            || ingests(def);
        if needed {
            staged.insert(def.name, wh.read_rows(manifest, def).await?);
        }
    }
    Ok(staged)
}

/// Posts or messages: the new rows are merged with the staged partitions of the platforms they
/// touch, and the partitions that changed are written.
async fn stage_partitioned(
    wh: &Warehouse,
    manifest: &Manifest,
    run: &RunIds<'_>,
    kind: Kind,
    reads: Vec<FileRead>,
    g: &mut Gathered,
) -> Result<(), IngestError> {
    let def = kind.table();
    let mut new = Vec::new();
    for read in reads {
        let file = g.add_report(read.report, read.rejects);
        if let Some(batch) = read.batch {
            new.push(NewRows { file, batch });
        }
    }
    // Only the staged files of the platforms the run brings rows for are read back.
    let (groups, untouched) = partitioned::groups(def, manifest.files(def.name), new)?;
    let (version, run_id) = (run.version, &run.run_id);
    let name = format!("v{version:06}-{run_id}");
    let merged = merge_and_write(wh, def, groups, run.ingested_micros, &mut g.files, &name, &run.writes, run.opts)?;
    if kind == Kind::Posts {
        merge_aliases(&mut g.staged, merged.aliases, &mut g.changed);
    }
    if merged.changed || manifest.files(def.name).is_empty() {
        let mut entries = merged.entries;
        entries.extend(untouched);
        if entries.is_empty() {
            // An empty table still gets a file, so that readers find its columns.
            let rel = format!("{}/{name}.parquet", crate::warehouse::table_dir(def.name));
            entries.push(wh.write_batches(&rel, def.schema(), [RecordBatch::new_empty(def.schema())]).await?);
            count_write(&run.writes, run.opts)?;
        }
        entries.sort_by(|a, b| (&a.partition, &a.path).cmp(&(&b.partition, &b.path)));
        g.rewritten.push((def, entries));
    }
    Ok(())
}

/// A small table: the run's rows are keyed (newer wins), then merged with the staged rows; the
/// register refreshes the accounts later kinds look up.
fn stage_rows(manifest: &Manifest, run: &RunIds<'_>, kind: Kind, reads: Vec<FileRead>, g: &mut Gathered, lookup: &mut Lookup) {
    let def = kind.table();
    let mut candidates: Vec<Candidate> = Vec::new();
    for read in reads {
        let file = g.add_report(read.report, read.rejects);
        for mut row in read.rows {
            row[def.index("source_file")] = Value::Str(g.files[file].source_file.clone());
            row[def.index("ingested_at")] = run.ingested_at.clone();
            let seq = candidates.len() as u64 + 1;
            candidates.push(Candidate { row, file, seq });
        }
    }
    let files = &mut g.files;
    // Newer wins within the run: the later candidate of a key; the others are duplicates.
    let winners = keep_newest(def, candidates, files);
    let existing = g.staged.remove(def.name).unwrap_or_default();
    let next = match kind {
        // The register is a snapshot: a run with registry sources replaces it. When one of
        // them could not be read the snapshot is incomplete, so its rows are merged into the
        // register instead (nothing is lost to a bad file).
        Kind::Registry => {
            let complete = files.iter().filter(|f| f.kind == "registry").all(|f| f.error.is_none());
            keep_unchanged(def, &existing, winners, files, complete)
        }
        Kind::Calendar => calendar_rows(def, existing.clone(), winners, &run.ingested_at, files),
        _ => keep_unchanged(def, &existing, winners, files, false),
    };
    // Loaded = every surviving row this run produced.
    let mut next = next;
    sort_by_key(def, &mut next);
    if kind == Kind::Registry {
        refresh_accounts(lookup, &next);
    }
    let mut before = existing;
    sort_by_key(def, &mut before);
    if next != before || manifest.files(def.name).is_empty() {
        g.changed.push(def);
    }
    g.staged.insert(def.name, next);
}

/// Writes what changed, the rejects and the per-file summary, then swaps the manifest.
async fn commit_run(wh: &Warehouse, manifest: Manifest, run: &RunIds<'_>, g: Gathered) -> Result<IngestReport, IngestError> {
    let (version, run_id) = (run.version, run.run_id.clone());
    let mut next_manifest: Manifest = manifest;
    // The small tables are one file each.
    for def in &g.changed {
        let rel = format!("{}/v{version:06}-{run_id}.parquet", crate::warehouse::table_dir(def.name));
        let entry = wh.write_rows(def, &rel, &g.staged[def.name]).await?;
        count_write(&run.writes, run.opts)?;
        next_manifest.set(def.name, vec![entry]);
    }
    for (def, entries) in g.rewritten {
        next_manifest.set(def.name, entries);
    }
    let reject_rows = reject_rows(&run_id, &g.rejects, &run.ingested_at);
    if !reject_rows.is_empty() {
        let rel = format!("raw/rejects/v{version:06}-{run_id}.parquet");
        let entry = wh.write_rows(&table::REJECTS, &rel, &reject_rows).await?;
        next_manifest.append("rejects", vec![entry]);
    }
    let file_rows = file_rows(&run_id, &g.files, &run.ingested_at);
    if !file_rows.is_empty() {
        let rel = format!("raw/ingest_files/v{version:06}-{run_id}.parquet");
        let entry = wh.write_rows(&table::INGEST_FILES, &rel, &file_rows).await?;
        next_manifest.append("ingest_files", vec![entry]);
    }
    let committed = wh.commit(next_manifest, &format!("ingest run {run_id}")).await?;
    let tables = table::STAGING.iter().map(|d| (d.name.to_string(), committed.rows(d.name))).collect();
    Ok(IngestReport { run_id, files: g.files, rejects: g.rejects, tables, manifest_version: committed.version })
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
    parts[..parts.len().saturating_sub(1)].iter().rev().find_map(|p| crate::ingest::fields::platform_code(p)).map(str::to_string)
}

fn refresh_accounts(lookup: &mut Lookup, registry: &[Row]) {
    let def = &table::REGISTRY;
    let (p, a) = (def.index("platform"), def.index("account_id"));
    lookup.accounts.clear();
    lookup.account_ids.clear();
    lookup.creator_hashes.clear();
    for r in registry {
        if let (Some(p), Some(a)) = (r[p].as_str(), r[a].as_str()) {
            lookup.add_account(p, a);
        }
    }
}

fn sort_by_key(def: &TableDef, rows: &mut [Row]) {
    rows.sort_by_cached_key(|r| def.key_of(r));
}

/// Posts and messages are stored by platform and quarter, and merged as columns ([`partitioned`]).
fn is_partitioned(def: &TableDef) -> bool {
    def.name == table::POSTS.name || def.name == table::INTERACTIONS.name
}

/// One file of a source.
struct Job<'a> {
    source: &'a Source,
    path: &'a std::path::Path,
    shown: &'a String,
}

/// What one file gave: its report and rejects, and its rows (as values for the small tables, as
/// columns for posts and messages).
struct FileRead {
    report: FileReport,
    rejects: Vec<Reject>,
    rows: Vec<Row>,
    batch: Option<RecordBatch>,
}

/// Reads a kind's files, as many at once as there are cores; the results keep the files' order.
fn read_files(jobs: &[Job], kind: Kind, lookup: &Lookup, secret: &Secret, bar: &indicatif::ProgressBar) -> Vec<FileRead> {
    use rayon::prelude::*;
    jobs.par_iter()
        .map(|job| {
            bar.set_message(job.shown.clone());
            let read = read_file(job, kind, lookup, secret);
            bar.inc(1);
            read
        })
        .collect()
}

fn read_file(job: &Job, kind: Kind, lookup: &Lookup, secret: &Secret) -> FileRead {
    let (source, shown) = (job.source, job.shown);
    let def = kind.table();
    let mut read = FileRead {
        report: FileReport {
            kind: kind.name().into(),
            format: source.format.name().into(),
            source_file: shown.clone(),
            ..Default::default()
        },
        rejects: Vec::new(),
        rows: Vec::new(),
        batch: None,
    };
    let ctx = FileContext {
        kind,
        display: shown.clone(),
        stem: job.path.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default(),
        account: source.account.clone().or_else(|| parent_folder(job.path)),
        platform: source.platform.clone().or_else(|| platform_in_path(shown)),
        as_of: source.as_of,
        lookup,
        secret,
    };
    let reject = |read: &mut FileRead, loc: Option<Loc>, reason: String, raw: String| {
        // A public message's row may hold its author and text, which are never stored: the file
        // and line lead to it instead. Another row is kept up to a cell's size.
        let raw = if kind.holds_messages() && loc.is_some() { WITHHELD.to_string() } else { shortened(raw) };
        read.rejects.push(Reject {
            kind: read.report.kind.clone(),
            format: read.report.format.clone(),
            source_file: shown.clone(),
            loc,
            reason,
            raw,
        });
    };
    // A name that is not UTF-8 cannot be stored or shown as it is: the file is named (in its
    // lossy form) and skipped rather than stored under a name that may stand for another.
    let opened = match job.path.to_str() {
        None => Err(std::io::Error::other(
            "its name is not UTF-8 (a GBK name from a zip made on Windows? unzip it with `unzip -O GBK`, or rename it)",
        )),
        Some(_) => FileBytes::open(job.path),
    };
    let bytes = match opened {
        Ok(b) => b,
        Err(e) => {
            let e = FileError::Other(format!("cannot read the file: {e}"));
            read.report.error = Some(e.to_string());
            reject(&mut read, None, format!("file skipped: {e}"), String::new());
            return read;
        }
    };
    let latest = lookup.run_at().saturating_add(crate::ingest::fields::AFTER_RUN_MICROS);
    let columnar = if is_partitioned(def) { source.format.parse_columns(&ctx, &bytes) } else { None };
    let parsed = match columnar {
        Some(Ok(file)) => {
            read.report.read = file.read;
            read.report.rejected = file.rejects.len() as u64;
            for (loc, raw, reason) in file.rejects {
                reject(&mut read, Some(loc), reason, raw);
            }
            read.batch = Some(file.batch);
            return read;
        }
        Some(Err(e)) => Err(e),
        None => source.format.parse(&ctx, &bytes),
    };
    match parsed {
        Err(e) => {
            read.report.error = Some(e.to_string());
            reject(&mut read, None, format!("file skipped: {e}"), String::new());
        }
        Ok(rows) => {
            for p in rows {
                read.report.read += 1;
                // Every format's times are held to the run's bounds (the canonical templates
                // check them as they parse, naming their headers).
                let outcome = match p.outcome {
                    Outcome::Row(row) => match implausible_instant(def, &row, latest) {
                        Some(reason) => Outcome::Rejected(reason),
                        None => Outcome::Row(row),
                    },
                    other => other,
                };
                match outcome {
                    Outcome::Row(row) => read.rows.push(row),
                    Outcome::Merged => read.report.merged += 1,
                    Outcome::Rejected(reason) => {
                        read.report.rejected += 1;
                        reject(&mut read, Some(p.loc), reason, p.raw);
                    }
                }
            }
        }
    }
    if is_partitioned(def) {
        match def.to_batch(&read.rows) {
            Ok(batch) => read.batch = Some(batch),
            Err(e) => read.report.error = Some(format!("cannot build the table's columns: {e}")),
        }
        read.rows = Vec::new();
    }
    read
}

/// The first instant column of a row outside the bounds of [`crate::ingest::fields::plausible_instant`]
/// (the run's own stamp, not yet set, aside), as a reason.
fn implausible_instant(def: &TableDef, row: &Row, latest: i64) -> Option<String> {
    def.columns.iter().zip(row).find_map(|(c, v)| match v {
        Value::Instant(t) if c.name != "ingested_at" => crate::ingest::fields::plausible_instant(*t, c.name, latest).err(),
        _ => None,
    })
}

/// A rejected row's text as stored, cut at [`crate::ingest::read::MAX_CELL_BYTES`]: a row of
/// megabytes (a JSON line with a huge field) is not copied into the rejects table whole.
fn shortened(raw: String) -> String {
    let max = crate::ingest::read::MAX_CELL_BYTES;
    if raw.len() <= max {
        return raw;
    }
    let cut = (0..=max).rev().find(|&i| raw.is_char_boundary(i)).unwrap_or(0);
    format!("{}… ({} bytes in all)", &raw[..cut], raw.len())
}

/// A file's bytes. A large file is mapped rather than read: its pages come from the page cache
/// as they are parsed, with no copy and no fresh memory.
enum FileBytes {
    Read(Vec<u8>),
    Mapped(memmap2::Mmap),
}

impl FileBytes {
    const MAP_FROM: u64 = 1 << 20;

    fn open(path: &std::path::Path) -> std::io::Result<FileBytes> {
        let file = std::fs::File::open(path)?;
        if file.metadata()?.len() < Self::MAP_FROM {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut { file }, &mut bytes)?;
            return Ok(FileBytes::Read(bytes));
        }
        // SAFETY: the map is read-only and lives only while the file is parsed. Exports are not
        // written while ingest reads them; a file truncated meanwhile would end the process (the
        // warehouse keeps its last committed state).
        unsafe { memmap2::MmapOptions::new().populate().map(&file) }.map(FileBytes::Mapped)
    }
}

impl std::ops::Deref for FileBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            FileBytes::Read(b) => b,
            FileBytes::Mapped(m) => m,
        }
    }
}

/// What merging a partitioned kind did: the table's files (those kept and those written), whether
/// anything changed, and the posts merged away.
struct Merged {
    entries: Vec<FileEntry>,
    changed: bool,
    aliases: Vec<Row>,
}

/// Counts a data file written; the test hook fails the run at its count.
fn count_write(writes: &std::sync::atomic::AtomicUsize, opts: &IngestOptions) -> Result<(), IngestError> {
    let n = writes.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
    match opts.fail_after_writes {
        Some(at) if n >= at => Err(IngestError::Injected(n)),
        _ => Ok(()),
    }
}

/// Merges each group (a platform) with its staged files and writes the partitions it changed, on
/// every core: a group's partitions are sorted, encoded and stored as soon as its merge is done,
/// while other groups merge. Files are written now, while the rows are at hand; nothing reads them
/// before the manifest names them.
#[allow(clippy::too_many_arguments)]
fn merge_and_write(
    wh: &Warehouse,
    def: &'static TableDef,
    groups: Vec<partitioned::Group>,
    run_at: i64,
    files: &mut [FileReport],
    name: &str,
    writes: &std::sync::atomic::AtomicUsize,
    opts: &IngestOptions,
) -> Result<Merged, IngestError> {
    use std::sync::{Arc, Mutex};
    let handle = tokio::runtime::Handle::current();
    let base: Vec<FileReport> = files.to_vec();
    let dir = crate::warehouse::table_dir(def.name);
    // Per group: its reports' counts, its aliases and kept files, whether it changed; and every
    // partition written, or the first error.
    type Done = (Vec<FileReport>, Vec<Row>, Vec<FileEntry>, bool);
    let done: Mutex<Vec<Option<Done>>> = Mutex::new((0..groups.len()).map(|_| None).collect());
    let written: Mutex<Vec<FileEntry>> = Mutex::new(Vec::new());
    let failed: Mutex<Option<IngestError>> = Mutex::new(None);
    let fail = |e: IngestError| {
        if let Ok(mut f) = failed.lock() {
            f.get_or_insert(e);
        }
    };
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by_key(|&g| std::cmp::Reverse(groups[g].rows()));
    let mut groups: Vec<Option<partitioned::Group>> = groups.into_iter().map(Some).collect();
    let work = || {
        rayon::scope(|scope| {
            for g in order {
                let Some(group) = groups[g].take() else { continue };
                let (handle, done, written, fail, dir, base) = (&handle, &done, &written, &fail, &dir, &base);
                scope.spawn(move |scope| {
                    let merged = (|| -> Result<(Done, partitioned::Update), IngestError> {
                        let mut staged = Vec::with_capacity(group.staged.len());
                        for entry in group.staged {
                            let batch = columns::conform(def, &handle.block_on(wh.read_batch(&entry, &def.schema()))?)?;
                            staged.push(Staged { entry, batch });
                        }
                        let (mut reports, mut aliases) = (base.clone(), Vec::new());
                        let update = partitioned::merge(def, staged, group.new, run_at, &mut reports, &mut aliases)?;
                        Ok(((reports, aliases, update.keep.clone(), update.changed), update))
                    })();
                    let update = match merged {
                        Ok((d, update)) => {
                            if let Ok(mut done) = done.lock() {
                                done[g] = Some(d);
                            }
                            Arc::new(update)
                        }
                        Err(e) => return fail(e),
                    };
                    for i in 0..update.parts.len() {
                        let update = Arc::clone(&update);
                        scope.spawn(move |_| {
                            let values = &update.parts[i].0;
                            let stored = (|| -> Result<FileEntry, IngestError> {
                                // Copied out and encoded a slice at a time: the slices reuse memory.
                                const SLICE: usize = 64 * 1024;
                                let rows = update.rows(i)?;
                                let slices = (0..rows.len()).step_by(SLICE).map(|start| rows.slice(start, SLICE));
                                let bytes = crate::warehouse::encode_parquet_batches(def.schema(), slices).map_err(WarehouseError::from)?;
                                let sub: String = values.iter().map(|(k, v)| format!("{k}={v}/")).collect();
                                let rel = format!("{dir}/{sub}{name}.parquet");
                                let mut entry = handle.block_on(wh.put_parquet(&rel, bytes, rows.len() as u64))?;
                                entry.partition = values.clone();
                                entry.sorted_by = table::stored_order_names(def);
                                count_write(writes, opts)?;
                                Ok(entry)
                            })();
                            match stored {
                                Ok(entry) => written.lock().map(|mut w| w.push(entry)).unwrap_or(()),
                                Err(e) => fail(e),
                            }
                        });
                    }
                });
            }
        })
    };
    // The pool's threads wait on the store; tell the runtime this thread blocks meanwhile.
    match handle.runtime_flavor() {
        tokio::runtime::RuntimeFlavor::CurrentThread => work(),
        _ => tokio::task::block_in_place(work),
    }
    if let Some(e) = failed.into_inner().ok().flatten() {
        return Err(e);
    }
    let mut merged = Merged { entries: written.into_inner().unwrap_or_default(), changed: false, aliases: Vec::new() };
    for (reports, aliases, keep, changed) in done.into_inner().unwrap_or_default().into_iter().flatten() {
        // Each group counted on a copy of the reports: add what it counted.
        for ((f, mine), was) in files.iter_mut().zip(&reports).zip(&base) {
            f.loaded = (f.loaded + mine.loaded).saturating_sub(was.loaded);
            f.duplicates = (f.duplicates + mine.duplicates).saturating_sub(was.duplicates);
            f.merged = (f.merged + mine.merged).saturating_sub(was.merged);
        }
        merged.aliases.extend(aliases);
        merged.entries.extend(keep);
        merged.changed |= changed;
    }
    Ok(merged)
}

/// (platform, post_id) → account_id of every post, merged-away ids included (MediaCrawler's
/// comments name their post, not their account). The three columns are read from each staged
/// file, not its whole rows.
async fn post_owners(wh: &Warehouse, entries: &[FileEntry], aliases: &[Row]) -> Result<super::PostOwners, WarehouseError> {
    use arrow::array::AsArray;
    let def = &table::POSTS;
    let mut owners = super::PostOwners::default();
    for e in entries {
        let batch = columns::conform(def, &wh.read_batch(e, &def.schema()).await?)?;
        let column = |name: &str| batch.column(def.index(name)).as_string::<i32>();
        let (platforms, ids, accounts) = (column("platform"), column("post_id"), column("account_id"));
        owners.reserve(batch.num_rows());
        for ((p, id), a) in platforms.iter().zip(ids).zip(accounts) {
            if let (Some(p), Some(id), Some(a)) = (p, id, a) {
                owners.insert((p.to_string(), id.to_string()), a.to_string());
            }
        }
    }
    let al = &table::POST_ALIASES;
    let (p, id, a) = (al.index("platform"), al.index("post_id"), al.index("account_id"));
    for r in aliases {
        if let (Some(p), Some(id), Some(a)) = (r[p].as_str(), r[id].as_str(), r[a].as_str()) {
            owners.entry((p.to_string(), id.to_string())).or_insert_with(|| a.to_string());
        }
    }
    Ok(owners)
}

/// Adds the run's merged-away post ids to `post_aliases` (a newer alias of an id replaces it).
fn merge_aliases(staged: &mut HashMap<&'static str, Vec<Row>>, aliases: Vec<Row>, changed: &mut Vec<&'static TableDef>) {
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
    staged.insert(alias_def.name, all);
}

fn reject_rows(run_id: &str, rejects: &[Reject], at: &Value) -> Vec<Row> {
    rejects
        .iter()
        .map(|r| {
            let mut b = table::RowBuilder::new(&table::REJECTS);
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
            let mut b = table::RowBuilder::new(&table::INGEST_FILES);
            b.str("run_id", run_id).str("kind", f.kind.clone()).str("format", f.format.clone());
            b.str("source_file", f.source_file.clone());
            b.str("status", if f.error.is_some() { "error" } else { "ok" });
            for (c, v) in
                [("read", f.read), ("loaded", f.loaded), ("rejected", f.rejected), ("duplicates", f.duplicates), ("merged", f.merged)]
            {
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

#[cfg(test)]
mod tests {
    use super::FileBytes;

    #[test]
    fn files_read_or_mapped_give_their_bytes() {
        let dir = tempfile::tempdir().unwrap();
        for len in [0, 10, FileBytes::MAP_FROM as usize - 1, FileBytes::MAP_FROM as usize, 3 << 20] {
            let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let path = dir.path().join(format!("f{len}.csv"));
            std::fs::write(&path, &bytes).unwrap();
            let read = FileBytes::open(&path).unwrap();
            assert_eq!(matches!(read, FileBytes::Mapped(_)), len as u64 >= FileBytes::MAP_FROM, "{len}");
            assert!(*read == *bytes, "{len}");
        }
        assert!(FileBytes::open(&dir.path().join("missing.csv")).is_err());
        assert!(FileBytes::open(dir.path()).is_err(), "a folder is not a file");
    }
}
