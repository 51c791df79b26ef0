//! One writer at a time: a `_lock` object created only if absent (a conditional put, which local
//! folders, memory and S3 all support). A lock left by a process that has died on this host is
//! taken over with a compare-and-swap on the stale lock, so of two runs that find the same stale
//! lock only one takes it; any other lock is reported with who holds it. Each lock carries a
//! random token, and only the process holding a token releases that lock.

use super::{Warehouse, WarehouseError};
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LockInfo {
    pub pid: u32,
    pub host: String,
    pub since: String,
    pub command: String,
    /// Names this holding of the lock (a pid can be reused).
    #[serde(default)]
    pub token: String,
}

/// Held while a stage writes; release it with [`Warehouse::release`].
#[derive(Debug)]
#[must_use = "a write lock must be released with Warehouse::release"]
pub struct WriteLock {
    token: String,
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "localhost".into())
}

fn process_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        std::path::Path::new(&format!("/proc/{pid}")).exists()
    } else {
        true
    }
}

/// The tokens of the locks this process holds (on any warehouse).
fn held_here() -> std::sync::MutexGuard<'static, std::collections::HashSet<String>> {
    static HELD: std::sync::OnceLock<std::sync::Mutex<std::collections::HashSet<String>>> = std::sync::OnceLock::new();
    HELD.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner())
}

/// A lock of this host is stale when its process is gone, or when it names this very process
/// (a reused pid) but this process does not hold it.
fn is_stale(h: &LockInfo) -> bool {
    if h.pid == std::process::id() {
        return !held_here().contains(&h.token);
    }
    !process_alive(h.pid)
}

fn new_token() -> String {
    let mut bytes = [0u8; 16];
    // Without randomness, the time and pid still tell this holding from an earlier one.
    if getrandom::fill(&mut bytes).is_err() {
        let t = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
        bytes[..8].copy_from_slice(&t.to_le_bytes());
        bytes[8..12].copy_from_slice(&std::process::id().to_le_bytes());
    }
    hex::encode(bytes)
}

/// Attempts at taking the lock: each lost race re-reads who holds it.
const ATTEMPTS: usize = 4;

/// Where the check of a store's conditional puts writes (and then removes) its object.
const PROBE_DIR: &str = "_probe";

impl Warehouse {
    /// Refuses to write to a remote store that does not honour conditional puts: the lock and
    /// the manifest swap would then pass for two runs at once. Checked once per process.
    pub(super) async fn ensure_conditional_puts(&self) -> Result<(), WarehouseError> {
        let Some(checked) = &self.conditional_checked else {
            return Ok(());
        };
        checked.get_or_try_init(|| self.probe_conditional_puts()).await.map(|_| ())
    }

    /// Creates a fresh object twice (the second must fail as existing), replaces it under a wrong
    /// ETag (must fail) and under its own (must succeed), then removes it.
    async fn probe_conditional_puts(&self) -> Result<(), WarehouseError> {
        let path = self.path(&format!("{PROBE_DIR}/{}", new_token()));
        let shown = self.display_path(&format!("{PROBE_DIR}/{}", path.filename().unwrap_or_default()));
        let refuse = |what: String| {
            WarehouseError::Other(format!(
                "refused to write to warehouse {}: the store does not honour conditional writes ({what}). \
                 The write lock and the manifest swap need a put that creates only if absent (If-None-Match: *) \
                 and one that replaces only if unchanged (If-Match: <ETag>); without them two runs could both commit. \
                 Use a store that supports both (AWS S3, MinIO, Ceph RGW in recent versions)",
                self.display
            ))
        };
        let failed = |e: object_store::Error| {
            WarehouseError::Other(format!("checking that {} honours conditional writes: {}", self.display, super::error_chain(&e)))
        };
        let create = || PutOptions { mode: PutMode::Create, ..Default::default() };
        let first = match self.store.put_opts(&path, PutPayload::from_static(b"1"), create()).await {
            Ok(put) => UpdateVersion { e_tag: put.e_tag, version: put.version },
            // A retried put whose first answer was lost: the name is fresh, so the object is this one.
            Err(object_store::Error::AlreadyExists { .. }) => {
                let meta = self.store.head(&path).await.map_err(failed)?;
                UpdateVersion { e_tag: meta.e_tag, version: meta.version }
            }
            Err(e) => return Err(failed(e)),
        };
        let checked = async {
            match self.store.put_opts(&path, PutPayload::from_static(b"2"), create()).await {
                Err(object_store::Error::AlreadyExists { .. }) => {}
                Ok(_) => return Err(refuse(format!("a second create-if-absent put of {shown} succeeded"))),
                Err(e) => return Err(failed(e)),
            }
            let wrong = UpdateVersion { e_tag: Some("\"govmedia-probe-no-such-etag\"".into()), version: None };
            let update = |v: UpdateVersion| PutOptions { mode: PutMode::Update(v), ..Default::default() };
            match self.store.put_opts(&path, PutPayload::from_static(b"3"), update(wrong)).await {
                Err(object_store::Error::Precondition { .. }) => {}
                Ok(_) => return Err(refuse(format!("a put of {shown} under an ETag it does not have succeeded"))),
                Err(e) => return Err(failed(e)),
            }
            match self.store.put_opts(&path, PutPayload::from_static(b"4"), update(first)).await {
                Ok(_) => Ok(()),
                Err(object_store::Error::Precondition { .. }) => Err(refuse(format!("a put of {shown} under its own ETag was refused"))),
                Err(e) => Err(failed(e)),
            }
        }
        .await;
        let _ = self.store.delete(&path).await;
        checked
    }

    pub async fn lock(&self, command: &str) -> Result<WriteLock, WarehouseError> {
        self.ensure_conditional_puts().await?;
        let path = self.path("_lock");
        let info = LockInfo {
            pid: std::process::id(),
            host: hostname(),
            since: chrono::Utc::now().to_rfc3339(),
            command: command.to_string(),
            token: new_token(),
        };
        let body = serde_json::to_vec_pretty(&info).map_err(|e| WarehouseError::Other(e.to_string()))?;
        // Counted as held from before the first put: another task of this process that reads
        // the new lock must see it as live even before this call returns.
        held_here().insert(info.token.clone());
        // Known to this warehouse before the put too: an interrupt that drops this call midway
        // must still find (and release) a lock whose put has landed.
        self.set_held(Some(info.token.clone()));
        let taken = self.take(&path, &info, body).await;
        if taken.is_err() {
            held_here().remove(&info.token);
            self.clear_held(&info.token);
        }
        taken
    }

    async fn take(&self, path: &object_store::path::Path, info: &LockInfo, body: Vec<u8>) -> Result<WriteLock, WarehouseError> {
        let path = path.clone();
        for _attempt in 0..ATTEMPTS {
            let opts = PutOptions { mode: PutMode::Create, ..Default::default() };
            match self.store.put_opts(&path, PutPayload::from(body.clone()), opts).await {
                Ok(_) => return Ok(WriteLock { token: info.token.clone() }),
                Err(object_store::Error::AlreadyExists { .. }) => {}
                // A create whose answer was lost (a dropped connection; a conditional put is not
                // retried) may have landed: the lock read back says.
                Err(e) => {
                    return match self.lock_holder().await {
                        Ok(Some(h)) if h.token == info.token => Ok(WriteLock { token: info.token.clone() }),
                        _ => Err(e.into()),
                    }
                }
            }
            let (holder, version) = match self.store.get(&path).await {
                Ok(r) => {
                    let version = UpdateVersion { e_tag: r.meta.e_tag.clone(), version: r.meta.version.clone() };
                    let holder: Option<LockInfo> = r.bytes().await.ok().and_then(|b| serde_json::from_slice(&b).ok());
                    (holder, version)
                }
                // Released in between: try again.
                Err(object_store::Error::NotFound { .. }) => continue,
                Err(e) => return Err(e.into()),
            };
            match holder {
                // A put that landed though its answer was lost (then retried): the lock is ours.
                Some(h) if h.token == info.token => return Ok(WriteLock { token: info.token.clone() }),
                Some(h) if h.host == info.host && is_stale(&h) => {
                    // Left behind by a run that died: take it over, only if it is still that lock.
                    match self.swap(&path, Some(version), body.clone()).await {
                        Ok(()) => return Ok(WriteLock { token: info.token.clone() }),
                        Err(WarehouseError::Conflict(_)) => continue,
                        Err(e) => return Err(e),
                    }
                }
                Some(h) => {
                    return Err(WarehouseError::Locked(format!(
                        "warehouse {} is in use by `{}` (pid {} on {}, since {}); wait for it to finish, or if no run is active remove {}",
                        self.display,
                        h.command,
                        h.pid,
                        h.host,
                        h.since,
                        self.display_path("_lock")
                    )))
                }
                None => {
                    return Err(WarehouseError::Locked(format!(
                        "warehouse {} is locked by another run; if no run is active remove {}",
                        self.display,
                        self.display_path("_lock")
                    )))
                }
            }
        }
        Err(WarehouseError::Locked(format!("could not lock warehouse {}: other runs keep taking it; try again", self.display)))
    }

    fn set_held(&self, token: Option<String>) {
        if let Ok(mut held) = self.held_lock.lock() {
            *held = token;
        }
    }

    /// Forgets `token`, and only it: a lock this warehouse holds under another token stays known.
    fn clear_held(&self, token: &str) {
        if let Ok(mut held) = self.held_lock.lock() {
            if held.as_deref() == Some(token) {
                *held = None;
            }
        }
    }

    /// Releases a lock this process took.
    pub async fn release(&self, lock: WriteLock) -> Result<(), WarehouseError> {
        self.release_token(&lock.token).await
    }

    /// Releases the lock this process holds, if any: for an interrupt, which drops the running
    /// stage (and its [`WriteLock`]) without releasing it. Another process's lock is never touched.
    pub async fn release_held_lock(&self) -> Result<(), WarehouseError> {
        let Some(token) = self.held_lock.lock().ok().and_then(|held| held.clone()) else {
            return Ok(());
        };
        // The interrupted call may have a put in flight (local puts run on a blocking thread,
        // which dropping the call does not stop): give it a moment to land, so it is released
        // rather than left behind for the next run's takeover.
        for _ in 0..10 {
            if self.lock_holder().await?.is_some_and(|h| h.token == token) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        self.release_token(&token).await
    }

    async fn lock_holder(&self) -> Result<Option<LockInfo>, WarehouseError> {
        match self.store.get(&self.path("_lock")).await {
            Ok(r) => Ok(r.bytes().await.ok().and_then(|b| serde_json::from_slice(&b).ok())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn release_token(&self, token: &str) -> Result<(), WarehouseError> {
        let path = self.path("_lock");
        let holder = self.lock_holder().await?;
        // While this process lives and counts the token as held, nobody takes the lock over, so
        // the lock read is still ours until it is deleted: the token is let go only after.
        if holder.is_some_and(|h| h.token == token) {
            // A delete whose answer was lost (a dropped connection is not retried) may have
            // landed: the lock read back says, and a lock still there is deleted again.
            let mut attempts = 0;
            while let Err(e) = self.store.delete(&path).await {
                attempts += 1;
                let still_ours = self.lock_holder().await.map(|h| h.is_some_and(|h| h.token == token));
                match still_ours {
                    Ok(false) => break,
                    _ if attempts >= 3 => return Err(e.into()),
                    _ => {}
                }
            }
        }
        held_here().remove(token);
        self.clear_held(token);
        Ok(())
    }
}
