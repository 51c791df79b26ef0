//! One writer at a time: a `_lock` object created only if absent (a conditional put, which local
//! folders, memory and S3 all support). A lock left by a process that has died on this host is
//! taken over; any other is reported with who holds it.

use super::{Warehouse, WarehouseError};
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LockInfo {
    pub pid: u32,
    pub host: String,
    pub since: String,
    pub command: String,
}

/// Held while a stage writes; release it with [`WriteLock::release`].
#[derive(Debug)]
pub struct WriteLock {
    released: bool,
    path: object_store::path::Path,
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

impl Warehouse {
    pub async fn lock(&self, command: &str) -> Result<WriteLock, WarehouseError> {
        let path = self.path("_lock");
        let info = LockInfo {
            pid: std::process::id(),
            host: hostname(),
            since: chrono::Utc::now().to_rfc3339(),
            command: command.to_string(),
        };
        let body = serde_json::to_vec_pretty(&info).map_err(|e| WarehouseError::Other(e.to_string()))?;
        for _attempt in 0..2 {
            let opts = PutOptions { mode: PutMode::Create, ..Default::default() };
            match self.store.put_opts(&path, PutPayload::from(body.clone()), opts).await {
                Ok(_) => return Ok(WriteLock { released: false, path }),
                Err(object_store::Error::AlreadyExists { .. }) => {
                    let held = self.store.get(&path).await;
                    let holder: Option<LockInfo> = match held {
                        Ok(r) => r.bytes().await.ok().and_then(|b| serde_json::from_slice(&b).ok()),
                        Err(_) => None,
                    };
                    match holder {
                        Some(h) if h.host == info.host && (h.pid == info.pid || !process_alive(h.pid)) => {
                            // Left behind by a run that died: take it over.
                            let _ = self.store.delete(&path).await;
                        }
                        Some(h) => {
                            return Err(WarehouseError::Locked(format!(
                                "warehouse {} is in use by `{}` (pid {} on {}, since {}); wait for it to finish, or if no run is active remove {}",
                                self.display, h.command, h.pid, h.host, h.since, self.display_path("_lock")
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
                Err(e) => return Err(e.into()),
            }
        }
        Err(WarehouseError::Locked(format!("could not lock warehouse {}", self.display)))
    }

    pub async fn release(&self, mut lock: WriteLock) -> Result<(), WarehouseError> {
        lock.released = true;
        self.store.delete(&lock.path).await?;
        Ok(())
    }
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        // An unreleased lock (an error path) is left for the pid check to clear: deleting here
        // would need the runtime, and a dead pid is recognised on the next run anyway.
        let _ = self.released;
    }
}
