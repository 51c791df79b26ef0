//! Reading and replacing the manifest. A commit is a compare-and-swap on `_manifest.json`: it
//! fails when another run committed since this one read the manifest, so two writers can never
//! both commit (and the later clean-up can never delete the other's files). Every version is also
//! kept as `_manifests/NNNNNNNN.json`, written only if absent, so a version number is never reused.

use super::{Result, Warehouse, WarehouseError};

/// This process's commits to one warehouse: held for the whole of each commit, so that an
/// interrupt either waits for a commit to land or stops it before it starts, never between.
#[derive(Debug, Default)]
pub(super) struct CommitGate {
    state: tokio::sync::Mutex<GateState>,
    /// Commits made, readable without waiting for one under way.
    committed: std::sync::atomic::AtomicU64,
}

#[derive(Debug, Default)]
struct GateState {
    stopped: bool,
    last: Option<u64>,
}

/// What [`Warehouse::stop_commits`] found: the commits this process made, and the last version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitCount {
    pub committed: u64,
    pub last: Option<u64>,
}
use crate::warehouse::Manifest;
use futures::TryStreamExt;
use object_store::path::Path as StorePath;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};

const MANIFEST: &str = "_manifest.json";
const ARCHIVE: &str = "_manifests";

/// The manifest as read, with what identifies the stored object (for the swap).
pub(super) struct Read {
    pub manifest: Manifest,
    /// None when there is no `_manifest.json` (a new warehouse).
    pub version: Option<UpdateVersion>,
}

impl Warehouse {
    /// The current manifest; empty for a new warehouse. A warehouse whose `_manifest.json` is
    /// missing while earlier versions or data files exist is an error, never an empty warehouse:
    /// reading it as empty would answer 0 to every query and the next commit would delete the data.
    pub async fn manifest(&self) -> Result<Manifest> {
        Ok(self.read_manifest().await?.manifest)
    }

    /// The current manifest of a warehouse that must already exist: for commands that only read,
    /// so that a mistyped `--warehouse` is reported instead of answering 0.
    pub async fn existing_manifest(&self) -> Result<Manifest> {
        let read = self.read_manifest().await?;
        if read.version.is_none() {
            return Err(WarehouseError::NotAWarehouse(format!(
                "{} is not a govmedia warehouse (it has no {MANIFEST}); check --warehouse or GOVMEDIA_WAREHOUSE, \
                 or create one with `govmedia init` or a first ingest",
                self.display
            )));
        }
        Ok(read.manifest)
    }

    pub(super) async fn read_manifest(&self) -> Result<Read> {
        self.read_manifest_checking(true).await
    }

    /// `data_files`: also refuse data files without a manifest. A commit reads with it off: its
    /// own run's new files are there, and the run checked when it first read the manifest.
    async fn read_manifest_checking(&self, data_files: bool) -> Result<Read> {
        match self.store.get(&self.path(MANIFEST)).await {
            Ok(r) => {
                let version = UpdateVersion { e_tag: r.meta.e_tag.clone(), version: r.meta.version.clone() };
                let bytes = r.bytes().await?;
                let manifest = serde_json::from_slice(&bytes).map_err(|e| {
                    WarehouseError::Other(format!(
                        "{} is damaged: {e}; restore the newest good copy from {}/",
                        self.display_path(MANIFEST),
                        self.display_path(ARCHIVE)
                    ))
                })?;
                Ok(Read { manifest, version: Some(version) })
            }
            Err(object_store::Error::NotFound { .. }) => {
                self.check_really_new(data_files).await?;
                Ok(Read { manifest: Manifest::default(), version: None })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// With no `_manifest.json`, the warehouse must hold nothing else of a warehouse either.
    async fn check_really_new(&self, data_files: bool) -> Result<()> {
        if let Some(newest) = self.newest_archived_version().await? {
            let copy = format!("{ARCHIVE}/{newest:08}.json");
            return Err(WarehouseError::ManifestMissing(format!(
                "{} is missing, but this warehouse has earlier manifests (the newest is {}); nothing was changed. \
                 Restore it (e.g. `cp {} {}`) and run again",
                self.display_path(MANIFEST),
                self.display_path(&copy),
                self.display_path(&copy),
                self.display_path(MANIFEST)
            )));
        }
        for dir in ["staging", "raw", "marts"].into_iter().filter(|_| data_files) {
            let mut listed = self.store.list(Some(&self.path(dir)));
            if let Some(meta) = listed.try_next().await? {
                return Err(WarehouseError::ManifestMissing(format!(
                    "{} is missing, but the warehouse holds data files (e.g. {}); nothing was changed. \
                     Restore {MANIFEST} from a backup, or move the data away to start a new warehouse",
                    self.display_path(MANIFEST),
                    meta.location
                )));
            }
        }
        Ok(())
    }

    /// The highest version number in `_manifests/`, if any.
    async fn newest_archived_version(&self) -> Result<Option<u64>> {
        let listed: Vec<_> = self.store.list(Some(&self.path(ARCHIVE))).try_collect().await?;
        Ok(listed.iter().filter_map(|m| m.location.filename()?.strip_suffix(".json")?.parse::<u64>().ok()).max())
    }

    /// Makes a new manifest visible (one atomic swap), keeping a copy of every version.
    ///
    /// `next` must carry the version of the manifest the run read (as [`Warehouse::manifest`]
    /// returned it, changed in place): if another run committed since, nothing is written and the
    /// commit fails with [`WarehouseError::Conflict`].
    ///
    /// The commit runs to its end as a task of its own: a caller dropped midway (Ctrl-C) cannot
    /// leave a swap half-known, and [`Warehouse::stop_commits`] waits for it.
    pub async fn commit(&self, next: Manifest, by: &str) -> Result<Manifest> {
        let mut this =
            Warehouse::new(self.store.clone(), self.store_url.clone(), self.prefix.clone(), self.display.clone(), self.local_root.clone());
        this.conditional_checked = self.conditional_checked.clone();
        let gate = self.commits.clone();
        let by = by.to_string();
        let task = tokio::spawn(async move {
            let mut state = gate.state.lock().await;
            if state.stopped {
                return Err(WarehouseError::Interrupted("interrupted: nothing was committed".into()));
            }
            let committed = this.commit_now(next, &by).await?;
            state.last = Some(committed.version);
            gate.committed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(committed)
        });
        task.await.map_err(|e| WarehouseError::Other(format!("the commit task failed: {e}")))?
    }

    /// Stops this process's commits: waits for one under way to end, refuses any later one, and
    /// says how many this process made and the last version committed. An interrupt calls it
    /// before it reports what the warehouse holds.
    pub async fn stop_commits(&self) -> CommitCount {
        let mut state = self.commits.state.lock().await;
        state.stopped = true;
        CommitCount { committed: self.commits_made(), last: state.last }
    }

    /// How many commits this process has made so far (a stage compares it with its start).
    pub fn commits_made(&self) -> u64 {
        self.commits.committed.load(std::sync::atomic::Ordering::SeqCst)
    }

    async fn commit_now(&self, mut next: Manifest, by: &str) -> Result<Manifest> {
        self.ensure_conditional_puts().await?;
        let current = self.read_manifest_checking(false).await?;
        if current.manifest.version != next.version {
            return Err(self.conflict(next.version, &current.manifest));
        }
        // Past the archive's newest too: a restored older manifest must not reuse a number.
        let archived = self.newest_archived_version().await?.unwrap_or(0);
        next.version = current.manifest.version.max(archived) + 1;
        next.updated_at = chrono::Utc::now().to_rfc3339();
        next.updated_by = by.to_string();
        let body = serde_json::to_vec_pretty(&next).map_err(|e| WarehouseError::Other(e.to_string()))?;
        let archive = self.path(&format!("{ARCHIVE}/{:08}.json", next.version));
        let create = PutOptions { mode: PutMode::Create, ..Default::default() };
        match self.store.put_opts(&archive, PutPayload::from(body.clone()), create).await {
            Ok(_) => {}
            Err(object_store::Error::AlreadyExists { .. }) => {
                let now = self.manifest().await?;
                return Err(self.conflict(current.manifest.version, &now));
            }
            Err(e) => return Err(e.into()),
        }
        if let Err(e) = self.swap(&self.path(MANIFEST), current.version, body).await {
            // A put whose answer was lost may still have landed (a retried conditional put then
            // reads as a conflict): what is current now decides.
            let now = self.manifest().await;
            if now.as_ref().is_ok_and(|m| *m == next) {
                return Ok(next);
            }
            // The archived copy of a version that never became current would block nothing (numbers
            // only go up) but would mislead someone restoring: remove it, only when another
            // manifest is provably current.
            if let Ok(now) = &now {
                let _ = self.store.delete(&archive).await;
                if let WarehouseError::Conflict(_) = e {
                    return Err(self.conflict(current.manifest.version, now));
                }
            }
            return Err(e);
        }
        // A previous manifest with no tables (a new warehouse) names nothing to keep: cleaning up
        // against it would delete every data file.
        if !current.manifest.tables.is_empty() {
            // Committed already: a failed clean-up only leaves files for the next commit's.
            if let Err(e) = self.collect_garbage(&current.manifest, &next).await {
                eprintln!("govmedia: warning: version {} is committed, but removing unused files failed: {e}", next.version);
            }
        }
        Ok(next)
    }

    fn conflict(&self, read: u64, now: &Manifest) -> WarehouseError {
        WarehouseError::Conflict(format!(
            "warehouse {} changed while this run worked (it read manifest version {read}; version {} was committed by `{}` at {}); \
             nothing was committed: run again",
            self.display, now.version, now.updated_by, now.updated_at
        ))
    }

    /// Replaces the object at `path` only if it is still `expected` (None: only if absent).
    /// Stores with conditional puts (memory, S3) do it themselves; a local folder has none in
    /// object_store, so the check and the put (an atomic rename) run under an exclusive file lock
    /// that every govmedia process on this machine takes for its swaps.
    pub(super) async fn swap(&self, path: &StorePath, expected: Option<UpdateVersion>, body: Vec<u8>) -> Result<()> {
        let Some(root) = &self.local_root else {
            let mode = match expected {
                Some(v) => PutMode::Update(v),
                None => PutMode::Create,
            };
            return match self.store.put_opts(path, PutPayload::from(body), PutOptions { mode, ..Default::default() }).await {
                Ok(_) => Ok(()),
                Err(object_store::Error::Precondition { .. } | object_store::Error::AlreadyExists { .. }) => {
                    Err(WarehouseError::Conflict(format!("{path} changed")))
                }
                Err(e) => Err(e.into()),
            };
        };
        let guard_path = root.join("_swap.lock");
        // Waiting for the file lock blocks, so it waits on a blocking thread: two swaps in one
        // process (tasks of one runtime) must not block each other's thread.
        let guard = tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
            let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&guard_path)?;
            file.lock()?;
            Ok(file)
        })
        .await
        .map_err(|e| WarehouseError::Other(format!("cannot lock {}: {e}", root.join("_swap.lock").display())))?
        .map_err(|e| WarehouseError::Other(format!("cannot lock {}: {e}", root.join("_swap.lock").display())))?;
        let now = match self.store.head(path).await {
            Ok(meta) => Some(UpdateVersion { e_tag: meta.e_tag, version: meta.version }),
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        if now != expected {
            return Err(WarehouseError::Conflict(format!("{path} changed")));
        }
        self.store.put(path, PutPayload::from(body)).await?;
        drop(guard);
        Ok(())
    }

    /// Deletes data files that neither the new nor the previous manifest names (files of failed
    /// runs; files replaced two versions ago). The previous version's files stay for readers
    /// that opened it just before the commit.
    async fn collect_garbage(&self, previous: &Manifest, next: &Manifest) -> Result<()> {
        let keep: std::collections::HashSet<&str> = previous.all_paths().chain(next.all_paths()).collect();
        for dir in ["staging", "raw", "marts"] {
            let listed: Vec<_> = self.store.list(Some(&self.path(dir))).try_collect().await?;
            for meta in listed {
                let rel = meta.location.as_ref().strip_prefix(self.prefix.as_ref()).unwrap_or(meta.location.as_ref());
                let rel = rel.trim_start_matches('/');
                if rel.ends_with(".parquet") && !keep.contains(rel) {
                    let _ = self.store.delete(&meta.location).await;
                }
            }
        }
        Ok(())
    }
}

impl Warehouse {
    /// Makes this root a warehouse: its secret, and a first (empty) manifest if it has none, so
    /// that commands that only read recognise it.
    pub async fn init(&self) -> Result<Manifest> {
        self.secret().await?;
        let read = self.read_manifest().await?;
        if read.version.is_some() {
            return Ok(read.manifest);
        }
        match self.commit(Manifest::default(), "init").await {
            Err(WarehouseError::Conflict(_)) => self.manifest().await,
            r => r,
        }
    }
}
