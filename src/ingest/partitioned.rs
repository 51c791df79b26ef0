//! The natural keys and merges of SPEC §3 for the two large tables, posts and public messages, done
//! on Arrow columns: the same rules as [`super::merge`] applies to row values (newer wins within the
//! run, a row equal to the staged one keeps the staged row, the same post seen twice is one post),
//! with hash maps over borrowed keys instead of row values.
//!
//! Both tables are stored by platform and quarter (Beijing time), each file's rows in the order of
//! [`table::stored_order`]: by account, then instant. A quarter's build reads only the files it
//! needs, and the models' per-account windows and aggregates read each file's rows in order. Only
//! the files of the platforms a run brings rows for are read, and only the partitions whose rows
//! change are written again; the others keep their files.

use super::accounting::{Candidate, FileReport};
use super::merge::{alias_row, fold_same_posts, merge_cross_source, same_content};
use crate::table::{self, Row, TableDef, Value};
use crate::warehouse::FileEntry;
use arrow::array::{Array, AsArray, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::error::ArrowError;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{BuildHasher, Hash};

/// Row numbers indexed by a key computed from the row: an entry is the row's number (4 bytes),
/// not its key, so tens of millions of rows fit in a few hundred megabytes. Each row's hash is
/// computed once ([`hash_rows`]): growing the table and probing it compare hashes, and a key is
/// read only when two hashes agree.
struct KeyIndex<'h, K, F: Fn(usize) -> K> {
    table: hashbrown::HashTable<u32>,
    key: F,
    hashes: &'h [u64],
}

impl<'h, K: Eq, F: Fn(usize) -> K> KeyIndex<'h, K, F> {
    fn new(capacity: usize, key: F, hashes: &'h [u64]) -> Self {
        KeyIndex { table: hashbrown::HashTable::with_capacity(capacity), key, hashes }
    }

    fn entry(&mut self, i: usize) -> hashbrown::hash_table::Entry<'_, u32> {
        let (key, hashes) = (&self.key, self.hashes);
        let h = hashes[i];
        self.table.entry(h, |&j| hashes[j as usize] == h && key(j as usize) == key(i), |&j| hashes[j as usize])
    }

    /// Puts row `i` under its key and returns the row that was there.
    fn replace(&mut self, i: usize) -> Option<u32> {
        match self.entry(i) {
            hashbrown::hash_table::Entry::Occupied(mut e) => Some(std::mem::replace(e.get_mut(), i as u32)),
            hashbrown::hash_table::Entry::Vacant(e) => {
                e.insert(i as u32);
                None
            }
        }
    }

    /// Puts row `i` under its key unless a row is there, and returns that row.
    fn first(&mut self, i: usize) -> Option<u32> {
        match self.entry(i) {
            hashbrown::hash_table::Entry::Occupied(e) => Some(*e.get()),
            hashbrown::hash_table::Entry::Vacant(e) => {
                e.insert(i as u32);
                None
            }
        }
    }

    /// The row under the key of row `i` (of another part of the universe).
    fn get(&self, i: usize) -> Option<u32> {
        let h = self.hashes[i];
        self.table.find(h, |&j| self.hashes[j as usize] == h && (self.key)(j as usize) == (self.key)(i)).copied()
    }
}

/// The hash of every row's key, `key_at(batch, row)`, batch by batch.
fn hash_rows<K: Hash>(u: &Universe, key_at: impl Fn(usize, usize) -> K) -> Vec<u64> {
    let state = foldhash::fast::FixedState::default();
    let mut out = Vec::with_capacity(u.len());
    for b in 0..u.batches.len() {
        out.extend((0..u.starts[b + 1] - u.starts[b]).map(|r| state.hash_one(key_at(b, r))));
    }
    out
}

/// Rows of one file of this run, in the table's layout. Their `source_file` and `ingested_at` are
/// NULL: the file's name and the run's time are filled in where a row is copied or compared, not
/// stored once per row.
pub(super) struct NewRows {
    pub file: usize,
    pub batch: RecordBatch,
}

/// The rows one merge decides about. Keys never cross platforms, so a run's rows are merged
/// platform by platform, each with the staged files of its platform.
pub(super) struct Group {
    pub staged: Vec<FileEntry>,
    pub new: Vec<NewRows>,
}

impl Group {
    /// Rows to merge, for scheduling the largest first.
    pub fn rows(&self) -> u64 {
        self.staged.iter().map(|e| e.rows).sum::<u64>() + self.new.iter().map(|n| n.batch.num_rows() as u64).sum::<u64>()
    }
}

/// The run's rows by platform (in platform order), each with the staged files of its platform to
/// read back; and the staged files of the platforms the run brings no rows for, which stay as they
/// are. A staged file without a platform (written before partitioning) may hold any platform: it is
/// read back, and the run is merged as one group.
pub(super) fn groups(def: &TableDef, staged: &[FileEntry], new: Vec<NewRows>) -> Result<(Vec<Group>, Vec<FileEntry>), ArrowError> {
    let mut by: BTreeMap<String, Group> = BTreeMap::new();
    fn slot<'a>(by: &'a mut BTreeMap<String, Group>, p: &str) -> &'a mut Group {
        by.entry(p.to_string()).or_insert_with(|| Group { staged: Vec::new(), new: Vec::new() })
    }
    let c = def.index("platform");
    for n in new {
        let platforms = n.batch.column(c).as_string::<i32>();
        let platform_of = |r: usize| if platforms.is_valid(r) { platforms.value(r) } else { "unknown" };
        let first = if n.batch.num_rows() > 0 { platform_of(0) } else { continue };
        if (1..n.batch.num_rows()).all(|r| platform_of(r) == first) {
            let first = first.to_string();
            slot(&mut by, &first).new.push(n);
            continue;
        }
        // A file of several platforms: its rows by platform, in file order.
        let mut rows: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
        (0..n.batch.num_rows()).for_each(|r| rows.entry(platform_of(r)).or_default().push(r as u32));
        for (p, idx) in rows {
            let batch = arrow::compute::take_record_batch(&n.batch, &arrow::array::UInt32Array::from(idx))?;
            slot(&mut by, p).new.push(NewRows { file: n.file, batch });
        }
    }
    let mut untouched = Vec::new();
    let mut unpartitioned = Vec::new();
    for e in staged {
        match e.partition.get("platform") {
            None => unpartitioned.push(e.clone()),
            Some(p) => match by.get_mut(p) {
                Some(group) => group.staged.push(e.clone()),
                None => untouched.push(e.clone()),
            },
        }
    }
    if unpartitioned.is_empty() {
        return Ok((by.into_values().collect(), untouched));
    }
    let mut all = Group { staged: unpartitioned, new: Vec::new() };
    for group in by.into_values() {
        all.staged.extend(group.staged);
        all.new.extend(group.new);
    }
    Ok((vec![all], untouched))
}

/// A staged file of the table, read back.
pub(super) struct Staged {
    pub entry: FileEntry,
    pub batch: RecordBatch,
}

/// What the run does to the table: the files it keeps, and the partitions it writes again.
pub(super) struct Update {
    /// Staged files that stay as they are.
    pub keep: Vec<FileEntry>,
    /// Partitions whose rows changed: their values and rows (a partition whose rows all went is
    /// in neither list).
    pub parts: Vec<(BTreeMap<String, String>, Vec<u32>)>,
    /// Whether any staged file is replaced or dropped, or any row added.
    pub changed: bool,
    universe: Universe,
    patched: Patched,
}

impl Update {
    /// The rows of `parts[i]`, in the stored order.
    pub fn rows(&self, i: usize) -> Result<PartitionRows<'_>, ArrowError> {
        partition_rows(&self.universe, &self.patched, &self.parts[i].1)
    }
}

/// A partition's rows in the stored order, copied out a slice at a time.
pub(super) struct PartitionRows<'u> {
    u: &'u Universe,
    /// The rows a merge changed, as one batch after the universe's.
    changed: RecordBatch,
    /// Where each row is: (batch, row).
    picks: Vec<(usize, usize)>,
}

impl PartitionRows<'_> {
    pub fn len(&self) -> usize {
        self.picks.len()
    }

    /// Rows `start..start + len` as one batch, stamped.
    pub fn slice(&self, start: usize, len: usize) -> Result<RecordBatch, ArrowError> {
        let mut sources: Vec<&RecordBatch> = self.u.batches.iter().collect();
        sources.push(&self.changed);
        let picks = &self.picks[start..(start + len).min(self.picks.len())];
        stamp(self.u, arrow::compute::interleave_record_batch(&sources, picks)?, picks)
    }
}

/// The platform of a table's partition and the quarter, as `year * 4 + quarter - 1` (`i32::MIN`
/// when the row has no time).
type Part<'a> = (&'a str, i32);

/// Every row the run decides about: the staged rows of the platforms it touches, then the run's
/// rows in precedence order (the order of the sources and of their files' rows). Rows are numbered
/// across the batches, which are not copied into one.
struct Universe {
    def: &'static TableDef,
    batches: Vec<RecordBatch>,
    /// The number of the first row of each batch, and the number of rows at the end.
    starts: Vec<usize>,
    /// Rows `..staged` are staged rows.
    staged: usize,
    /// For a staged row, the index of its file in `Staged`; for a new row, its file's report.
    origin: Vec<u32>,
    /// Batches `..staged_batches` hold the staged rows.
    staged_batches: usize,
    /// The stamp of the run's rows: each file's name (by report) and the run's time.
    names: Vec<String>,
    run_at: i64,
}

/// Rows whose values a merge changed (a post that took counts from its duplicates).
type Patched = BTreeMap<u32, Row>;

fn locate(starts: &[usize], i: usize) -> (usize, usize) {
    let b = starts.partition_point(|&s| s <= i) - 1;
    (b, i - starts[b])
}

/// A string column across the universe's batches.
struct Strings<'a> {
    starts: &'a [usize],
    arrays: Vec<&'a StringArray>,
}

impl<'a> Strings<'a> {
    fn get(&self, i: usize) -> Option<&'a str> {
        let (b, r) = locate(self.starts, i);
        self.at(b, r)
    }

    fn at(&self, b: usize, r: usize) -> Option<&'a str> {
        let a = self.arrays[b];
        a.is_valid(r).then(|| a.value(r))
    }
}

/// A time column across the universe's batches.
struct Times<'a> {
    starts: &'a [usize],
    arrays: Vec<&'a TimestampMicrosecondArray>,
}

impl Times<'_> {
    fn get(&self, i: usize) -> Option<i64> {
        let (b, r) = locate(self.starts, i);
        self.at(b, r)
    }

    fn at(&self, b: usize, r: usize) -> Option<i64> {
        let a = self.arrays[b];
        a.is_valid(r).then(|| a.value(r))
    }
}

impl Universe {
    fn len(&self) -> usize {
        self.starts.last().copied().unwrap_or(0)
    }

    fn strings(&self, column: &str) -> Strings<'_> {
        let c = self.def.index(column);
        Strings { starts: &self.starts, arrays: self.batches.iter().map(|b| b.column(c).as_string::<i32>()).collect() }
    }

    fn times(&self, column: &str) -> Times<'_> {
        let c = self.def.index(column);
        Times { starts: &self.starts, arrays: self.batches.iter().map(|b| b.column(c).as_primitive()).collect() }
    }

    /// Row `i`, stamped.
    fn row(&self, patched: &Patched, i: u32) -> Row {
        match patched.get(&i) {
            Some(r) => r.clone(),
            None => {
                let (b, r) = locate(&self.starts, i as usize);
                let mut row = self.def.row_at(&self.batches[b], r);
                if let Some(name) = self.name_of(i as usize) {
                    row[self.def.index("source_file")] = Value::Str(name.to_string());
                    row[self.def.index("ingested_at")] = Value::Instant(self.run_at);
                }
                row
            }
        }
    }

    /// The file a row of this run came from (`None` for a staged row).
    fn name_of(&self, i: usize) -> Option<&str> {
        (i >= self.staged).then(|| self.names[self.origin[i] as usize].as_str())
    }
}

pub(super) fn merge(
    def: &'static TableDef,
    staged: Vec<Staged>,
    new: Vec<NewRows>,
    run_at: i64,
    files: &mut [FileReport],
    aliases: &mut Vec<Row>,
) -> Result<Update, ArrowError> {
    let this_run = &Value::Instant(run_at);
    let mut origin: Vec<u32> = Vec::new();
    let mut batches: Vec<RecordBatch> = Vec::new();
    let mut starts = vec![0];
    for (i, s) in staged.iter().enumerate() {
        origin.extend(std::iter::repeat_n(i as u32, s.batch.num_rows()));
        batches.push(s.batch.clone());
        starts.push(origin.len());
    }
    let (n_staged, staged_batches) = (origin.len(), batches.len());
    for n in new {
        origin.extend(std::iter::repeat_n(n.file as u32, n.batch.num_rows()));
        batches.push(n.batch);
        starts.push(origin.len());
    }
    let names = files.iter().map(|f| f.source_file.clone()).collect();
    let u = Universe { def, batches, starts, staged: n_staged, origin, staged_batches, names, run_at };
    let n = u.len();
    let is_posts = def.name == table::POSTS.name;

    let keys: Vec<Strings> = def.key.iter().map(|c| u.strings(c)).collect();
    let key_at = |b: usize, r: usize| -> [Option<&str>; 3] {
        let mut k = [None; 3];
        for (slot, col) in k.iter_mut().zip(&keys) {
            *slot = col.at(b, r);
        }
        k
    };
    let key = |i: usize| {
        let (b, r) = locate(&u.starts, i);
        key_at(b, r)
    };
    // Hashed on the key's last column alone (the id): the platform is the group's, and the
    // account adds nothing to an id's spread. Keys are still compared whole.
    let last = keys.last();
    let hashes = hash_rows(&u, |b, r| last.and_then(|col| col.at(b, r)));

    // Newer wins within the run: the later row of a key; the others are duplicates of their files.
    let mut alive = vec![true; n];
    let mut newest = KeyIndex::new(n - n_staged, key, &hashes);
    for i in n_staged..n {
        if let Some(j) = newest.replace(i) {
            alive[j as usize] = false;
            files[u.origin[j as usize] as usize].duplicates += 1;
        }
    }
    drop(newest);

    // The same post seen in two sources of the run is one post.
    let mut patched = Patched::new();
    if is_posts {
        for group in same_post_groups(&u, (n_staged..n).filter(|&i| alive[i])) {
            let candidates = group
                .iter()
                .map(|&i| Candidate { row: u.row(&patched, i), file: u.origin[i as usize] as usize, seq: u64::from(i) })
                .collect();
            for winner in merge_cross_source(candidates, files, aliases).0 {
                let w = winner.seq as u32;
                group.iter().filter(|&&i| i != w).for_each(|&i| alive[i as usize] = false);
                patched.insert(w, winner.row);
            }
        }
    }

    // Against the staged rows: an equal row keeps the staged one (re-ingesting changes nothing),
    // any other replaces it. `order` is the row path's order: the run's rows, then the staged rows
    // no run row took.
    let mut staged_keys = KeyIndex::new(n_staged, key, &hashes);
    for j in 0..n_staged {
        staged_keys.replace(j);
    }
    let source_files = u.strings("source_file");
    let mut comparators: HashMap<(usize, usize), Vec<Comparator>> = HashMap::new();
    let mut same = |a: u32, b: u32| -> Result<bool, ArrowError> {
        if patched.contains_key(&a) || patched.contains_key(&b) {
            return Ok(same_content(def, &u.row(&patched, a), &u.row(&patched, b)));
        }
        let ((ba, ra), (bb, rb)) = (locate(&u.starts, a as usize), locate(&u.starts, b as usize));
        let cmp = match comparators.entry((ba, bb)) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => e.insert(content_comparators(def, &u.batches[ba], &u.batches[bb])?),
        };
        let file_of = |i: u32| u.name_of(i as usize).or_else(|| source_files.get(i as usize));
        let same_file = file_of(a) == file_of(b);
        Ok(same_file && cmp.iter().all(|c| c(ra, rb).is_eq()))
    };
    let mut taken = vec![false; n_staged];
    let mut order: Vec<u32> = Vec::with_capacity(n);
    for i in n_staged..n {
        if !alive[i] {
            continue;
        }
        files[u.origin[i] as usize].loaded += 1;
        match staged_keys.get(i) {
            Some(j) if same(j, i as u32)? => {
                taken[j as usize] = true;
                alive[i] = false;
                order.push(j);
            }
            Some(j) => {
                taken[j as usize] = true;
                alive[j as usize] = false;
                order.push(i as u32);
            }
            None => order.push(i as u32),
        }
    }
    drop(staged_keys);
    order.extend((0..n_staged as u32).filter(|&j| !taken[j as usize]));

    // The same post in this run and an earlier one: the newer row survives. (Posts of one run
    // were merged above, so without staged rows there is nothing to do.)
    if is_posts && n_staged > 0 {
        let at = def.index("ingested_at");
        for group in same_post_groups(&u, order.iter().map(|&i| i as usize)) {
            let items: Vec<(u32, Row)> = group.iter().map(|&i| (i, u.row(&patched, i))).collect();
            let mut losers: Vec<u32> = Vec::new();
            let (survivors, _) = fold_same_posts(
                items,
                |(_, r)| r,
                |(_, r)| r,
                |(_, r)| r[at].as_instant().unwrap_or(0),
                |(i, loser), winner| {
                    // A row of this run merged into an earlier run's: from loaded to merged.
                    if &loser[at] == this_run {
                        let f = &mut files[u.origin[*i as usize] as usize];
                        f.loaded = f.loaded.saturating_sub(1);
                        f.merged += 1;
                    }
                    aliases.push(alias_row(loser, winner));
                    losers.push(*i);
                },
            );
            losers.iter().for_each(|&i| alive[i as usize] = false);
            for (i, row) in survivors {
                patched.insert(i, row);
            }
        }
    }

    Ok(partition(u, patched, &staged, &order, &alive))
}

/// Groups of rows that are the same post ([`super::merge::same_post_key`]: platform, account,
/// title and minute), in the order of their first rows; rows alone are left out.
fn same_post_groups(u: &Universe, rows: impl Iterator<Item = usize>) -> Vec<Vec<u32>> {
    let (platform, account, title) = (u.strings("platform"), u.strings("account_id"), u.strings("title"));
    let published = u.times("published_at");
    let same_post_at = |b: usize, r: usize| {
        let t = title.at(b, r).map(str::trim).filter(|t| !t.is_empty())?;
        let minute = published.at(b, r)?.div_euclid(60_000_000);
        Some((platform.at(b, r), account.at(b, r), t, minute))
    };
    let same_post = |i: usize| {
        let (b, r) = locate(&u.starts, i);
        same_post_at(b, r)
    };
    let hashes = hash_rows(u, same_post_at);
    let mut first = KeyIndex::new(u.len() - u.staged, same_post, &hashes);
    let mut groups: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for i in rows {
        if same_post(i).is_none() {
            continue;
        }
        if let Some(f) = first.first(i) {
            groups.entry(f).or_insert_with(|| vec![f]).push(i as u32);
        }
    }
    groups.into_values().collect()
}

type Comparator = arrow::array::DynComparator;

/// One comparator per column but `ingested_at` and `source_file` (compared by the caller, as a new
/// row's is not stored), between rows of two batches: two rows have the same content when all agree.
fn content_comparators(def: &TableDef, left: &RecordBatch, right: &RecordBatch) -> Result<Vec<Comparator>, ArrowError> {
    let skip = [def.index("ingested_at"), def.index("source_file")];
    (0..def.columns.len())
        .filter(|c| !skip.contains(c))
        .map(|c| arrow::array::make_comparator(left.column(c).as_ref(), right.column(c).as_ref(), Default::default()))
        .collect()
}

/// The rows that survive, by partition: partitions that gained, lost or changed a row are written
/// again, the others keep their files.
fn partition(u: Universe, patched: Patched, staged: &[Staged], order: &[u32], alive: &[bool]) -> Update {
    let platform = u.strings("platform");
    let time = u.times(table::instant_column(u.def));
    let part_of = |i: usize| -> Part {
        let p = platform.get(i).unwrap_or("unknown");
        let m = time.get(i).map_or(i32::MIN, crate::time::quarter_of_instant);
        (p, m)
    };
    let staged_parts: Vec<Option<(String, i32)>> = staged.iter().map(|s| entry_part(&s.entry)).collect();

    // The surviving rows by partition; a partition is dirty when a row of it is new, changed or
    // not where its file says.
    let mut parts: Vec<(Part, Vec<u32>, bool)> = Vec::new();
    let mut ids: HashMap<Part, usize> = HashMap::new();
    let mut last: Option<(Part, usize)> = None;
    for &i in order {
        if !alive[i as usize] {
            continue;
        }
        let p = part_of(i as usize);
        let id = match last {
            Some((q, id)) if q == p => id,
            _ => {
                let id = *ids.entry(p).or_insert_with(|| {
                    parts.push((p, Vec::new(), false));
                    parts.len() - 1
                });
                last = Some((p, id));
                id
            }
        };
        let unchanged = (i as usize) < u.staged
            && !patched.contains_key(&i)
            && staged_parts[u.origin[i as usize] as usize].as_ref().is_some_and(|(sp, sm)| sp == p.0 && *sm == p.1);
        parts[id].1.push(i);
        parts[id].2 |= !unchanged;
    }
    let mut dirty: BTreeSet<(String, i32)> = parts.iter().filter(|p| p.2).map(|((p, m), _, _)| (p.to_string(), *m)).collect();
    // A staged row that went (replaced, merged away) changes its partition.
    let mut lost = vec![false; staged.len()];
    (0..u.staged).filter(|&j| !alive[j]).for_each(|j| lost[u.origin[j] as usize] = true);
    dirty.extend(staged_parts.iter().zip(&lost).filter(|(_, l)| **l).filter_map(|(p, _)| p.clone()));
    let changed = !dirty.is_empty() || staged.iter().any(|s| s.entry.partition.is_empty());

    let keep = staged
        .iter()
        .zip(&staged_parts)
        .filter(|(_, p)| p.as_ref().is_some_and(|p| !dirty.contains(p)))
        .map(|(s, _)| s.entry.clone())
        .collect();
    let mut write: Vec<(BTreeMap<String, String>, Vec<u32>)> = parts
        .into_iter()
        .filter(|((p, m), _, _)| dirty.contains(&(p.to_string(), *m)))
        .map(|((p, q), idx, _)| {
            (BTreeMap::from([("platform".to_string(), p.to_string()), ("quarter".to_string(), crate::time::quarter_label(q))]), idx)
        })
        .collect();
    write.sort_by(|a, b| a.0.cmp(&b.0));
    drop((platform, time));
    Update { keep, parts: write, changed, universe: u, patched }
}

/// A partition's rows in the stored order ([`table::stored_order`]: the platform is the
/// partition's, so by account, then instant), rows of the same account and instant by their id.
fn partition_rows<'u>(u: &'u Universe, patched: &Patched, idx: &[u32]) -> Result<PartitionRows<'u>, ArrowError> {
    let changed: Vec<Row> = idx.iter().filter_map(|i| patched.get(i).cloned()).collect();
    let changed = u.def.to_batch(&changed)?;
    let mut sources: Vec<&RecordBatch> = u.batches.iter().collect();
    sources.push(&changed);
    let strings = |c: &str| -> Vec<&StringArray> { sources.iter().map(|b| b.column(u.def.index(c)).as_string::<i32>()).collect() };
    let (accounts, ids) = (strings("account_id"), strings(u.def.key.last().copied().unwrap_or("account_id")));
    let times: Vec<&TimestampMicrosecondArray> =
        sources.iter().map(|b| b.column(u.def.index(table::instant_column(u.def))).as_primitive()).collect();
    fn string<'a>(col: &[&'a StringArray], (b, r): (usize, usize)) -> Option<&'a str> {
        col[b].is_valid(r).then(|| col[b].value(r))
    }
    let mut next_changed = 0;
    let at: Vec<(usize, usize)> = idx
        .iter()
        .map(|&i| {
            if patched.contains_key(&i) {
                next_changed += 1;
                (sources.len() - 1, next_changed - 1)
            } else {
                locate(&u.starts, i as usize)
            }
        })
        .collect();
    // NULLs last, as the order is declared: (is NULL, value).
    let instant = |(b, r): (usize, usize)| -> (bool, i64) {
        if times[b].is_valid(r) {
            (false, times[b].value(r))
        } else {
            (true, 0)
        }
    };
    let picks = sort_by_two_keys(
        at,
        |at| string(&accounts, at),
        |at| {
            let id = string(&ids, at);
            (instant(at), id.is_none(), id)
        },
    );
    Ok(PartitionRows { u, changed, picks })
}

/// Rows sorted by two keys whose first repeats (an account has many messages): a bucket per
/// first value, the buckets in order (NULL last), then each bucket sorted by the second key (and
/// the row). Fewer and cheaper comparisons than sorting by both.
fn sort_by_two_keys<'a, K: Ord>(
    rows: Vec<(usize, usize)>,
    first: impl Fn((usize, usize)) -> Option<&'a str>,
    second: impl Fn((usize, usize)) -> K,
) -> Vec<(usize, usize)> {
    let mut ranks: hashbrown::HashMap<Option<&str>, u32, foldhash::fast::FixedState> =
        hashbrown::HashMap::with_capacity_and_hasher(rows.len() / 16, Default::default());
    let rank: Vec<u32> = rows
        .iter()
        .map(|&at| {
            let next = ranks.len() as u32;
            *ranks.entry(first(at)).or_insert(next)
        })
        .collect();
    let mut distinct: Vec<(Option<&str>, u32)> = ranks.into_iter().collect();
    distinct.sort_unstable_by_key(|&(v, _)| (v.is_none(), v));
    let mut bucket_of = vec![0usize; distinct.len()];
    for (b, &(_, r)) in distinct.iter().enumerate() {
        bucket_of[r as usize] = b;
    }
    let mut start = vec![0usize; distinct.len() + 1];
    rank.iter().for_each(|&r| start[bucket_of[r as usize] + 1] += 1);
    for b in 1..start.len() {
        start[b] += start[b - 1];
    }
    let mut next = start.clone();
    let mut sorted = vec![(0, 0); rows.len()];
    for (&at, &r) in rows.iter().zip(&rank) {
        let b = bucket_of[r as usize];
        sorted[next[b]] = at;
        next[b] += 1;
    }
    for w in start.windows(2) {
        sorted[w[0]..w[1]].sort_unstable_by_key(|&at| (second(at), at));
    }
    sorted
}

/// Fills in the file and the run's time of the partition's rows that came from this run's batches.
fn stamp(u: &Universe, batch: RecordBatch, picks: &[(usize, usize)]) -> Result<RecordBatch, ArrowError> {
    let new_batch = |b: usize| b >= u.staged_batches && b < u.batches.len();
    if !picks.iter().any(|&(b, _)| new_batch(b)) {
        return Ok(batch);
    }
    let (sf, ia) = (u.def.index("source_file"), u.def.index("ingested_at"));
    let (names, times) =
        (batch.column(sf).as_string::<i32>(), batch.column(ia).as_primitive::<arrow::datatypes::TimestampMicrosecondType>());
    let mut name = arrow::array::StringBuilder::with_capacity(picks.len(), 0);
    let mut time = arrow::array::TimestampMicrosecondBuilder::with_capacity(picks.len());
    for (k, &(b, r)) in picks.iter().enumerate() {
        if new_batch(b) {
            name.append_value(&u.names[u.origin[u.starts[b] + r] as usize]);
            time.append_value(u.run_at);
        } else {
            name.append_option(names.is_valid(k).then(|| names.value(k)));
            time.append_option(times.is_valid(k).then(|| times.value(k)));
        }
    }
    let mut columns = batch.columns().to_vec();
    columns[sf] = std::sync::Arc::new(name.finish());
    columns[ia] = std::sync::Arc::new(time.finish().with_timezone("UTC"));
    RecordBatch::try_new(batch.schema(), columns)
}

/// A staged file's partition, if it has one. Files written before partitioning have none, and
/// files of a month (the layout before quarters) are not in the stored order: their rows are
/// written again by quarter.
fn entry_part(e: &FileEntry) -> Option<(String, i32)> {
    let platform = e.partition.get("platform")?.clone();
    let quarter = e.partition.get("quarter")?;
    let q = if quarter == "unknown" {
        i32::MIN
    } else {
        let (y, q) = quarter.split_once('Q')?;
        let q = q.parse::<i32>().ok().filter(|q| (1..=4).contains(q))?;
        y.parse::<i32>().ok()? * 4 + q - 1
    };
    Some((platform, q))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_keys_sort_as_the_pairs_do() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        let accounts = ["b", "a", "", "ab", "a\u{0}", "中"];
        let ids = ["x", "x1", "", "y", "10", "9"];
        let pick = |n: usize, of: &[&'static str], rng: &mut rand::rngs::SmallRng| -> Vec<Option<&'static str>> {
            (0..n).map(|_| if rng.random_range(0..8) == 0 { None } else { Some(of[rng.random_range(0..of.len())]) }).collect()
        };
        for n in [0, 1, 2, 50, 1000] {
            let (first, second) = (pick(n, &accounts, &mut rng), pick(n, &ids, &mut rng));
            // Rows in two batches, in shuffled order.
            let mut rows: Vec<(usize, usize)> = (0..n).map(|i| (i % 2, i / 2)).collect();
            rand::seq::SliceRandom::shuffle(rows.as_mut_slice(), &mut rng);
            let at = |(b, r): (usize, usize)| r * 2 + b;
            // The first key with NULLs last, as the stored order declares it.
            let mut want: Vec<_> = rows.iter().map(|&p| (first[at(p)].is_none(), first[at(p)], second[at(p)], p)).collect();
            want.sort();
            let got = sort_by_two_keys(rows, |p| first[at(p)], |p| second[at(p)]);
            assert_eq!(got, want.into_iter().map(|w| w.3).collect::<Vec<_>>(), "{n}");
        }
    }

    #[test]
    fn quarter_labels_round_trip() {
        for label in ["2019Q1", "2019Q4", "2020Q3", "unknown"] {
            let e = FileEntry {
                path: String::new(),
                rows: 0,
                bytes: 0,
                partition: BTreeMap::from([("platform".into(), "weibo".into()), ("quarter".into(), label.into())]),
                sorted_by: Vec::new(),
            };
            let (_, q) = entry_part(&e).unwrap();
            assert_eq!(crate::time::quarter_label(q), label);
        }
        // A month's file (the layout before quarters) and a malformed label are not partitions.
        for (key, label) in [("month", "2019-07"), ("quarter", "2019Q5"), ("quarter", "2019-07")] {
            let e = FileEntry {
                path: String::new(),
                rows: 0,
                bytes: 0,
                partition: BTreeMap::from([("platform".into(), "weibo".into()), (key.into(), label.into())]),
                sorted_by: Vec::new(),
            };
            assert!(entry_part(&e).is_none(), "{key}={label}");
        }
        // Quarters of Beijing time, across month, year and leap-day boundaries and before 1970.
        let mut t = crate::time::parse_instant("1969-12-31 23:00:00").unwrap();
        let end = crate::time::parse_instant("2032-03-02 00:00:00").unwrap();
        while t < end {
            let date = crate::time::beijing_date_of(t);
            let want = format!("{}Q{}", date.format("%Y"), (chrono::Datelike::month0(&date) / 3) + 1);
            assert_eq!(crate::time::quarter_label(crate::time::quarter_of_instant(t)), want, "{t}");
            t += 7 * 3_600_000_000;
        }
    }
}
