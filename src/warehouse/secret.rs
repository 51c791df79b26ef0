//! The HMAC key that hashes message authors. Whoever reads it can test guesses of who wrote a
//! message, so it is readable by its owner only, and it can live outside the warehouse
//! (`GOVMEDIA_SECRET_FILE`): then copying or sharing a warehouse does not hand out the key.

use super::{Result, Warehouse, WarehouseError};
use crate::privacy::Secret;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};
use std::io::Write;
use std::path::Path;

/// The environment variable naming a key file outside the warehouse.
pub const SECRET_FILE_VAR: &str = "GOVMEDIA_SECRET_FILE";
const SECRET: &str = "_secret.key";

impl Warehouse {
    /// The warehouse's HMAC secret, created on first use: in `GOVMEDIA_SECRET_FILE` when set, else
    /// in the warehouse (`_secret.key`, mode 0600 in a local folder).
    pub async fn secret(&self) -> Result<Secret> {
        if let Some(file) = std::env::var_os(SECRET_FILE_VAR).filter(|v| !v.is_empty()) {
            let file = Path::new(&file);
            // A warehouse keyed in place must not be silently re-keyed by pointing elsewhere:
            // its authors' hashes would no longer match. The key is moved, not made anew.
            if !file.exists() && self.has_own_key().await? {
                return Err(WarehouseError::Other(format!(
                    "{SECRET_FILE_VAR} names {}, which does not exist, but this warehouse has its own key {}; \
                     move that key there (mv {} {}) rather than start a new one",
                    file.display(),
                    self.display_path(SECRET),
                    self.display_path(SECRET),
                    file.display()
                )));
            }
            return local_secret(file);
        }
        if let Some(root) = &self.local_root {
            return local_secret(&root.join(SECRET));
        }
        let path = self.path(SECRET);
        match self.store.get(&path).await {
            Ok(r) => {
                let text = String::from_utf8_lossy(&r.bytes().await?).to_string();
                return Secret::from_hex(&text).map_err(|e| WarehouseError::Other(format!("{}: {e}", self.display_path(SECRET))));
            }
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        // Two runs creating the key at once must agree on one: only a create-if-absent does that.
        self.ensure_conditional_puts().await?;
        let secret = Secret::generate().map_err(|e| WarehouseError::Other(e.to_string()))?;
        let opts = PutOptions { mode: PutMode::Create, ..Default::default() };
        match self.store.put_opts(&path, PutPayload::from(secret.to_hex().into_bytes()), opts).await {
            Ok(_) => Ok(secret),
            // Another run created it first: use theirs.
            Err(object_store::Error::AlreadyExists { .. }) => Box::pin(self.secret()).await,
            Err(e) => Err(e.into()),
        }
    }
}

impl Warehouse {
    async fn has_own_key(&self) -> Result<bool> {
        match self.store.head(&self.path(SECRET)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

/// Reads a key file, or creates it (owner-only from its first byte; an existing key readable by
/// others is narrowed to its owner).
fn local_secret(file: &Path) -> Result<Secret> {
    let fail = |what: &str, e: std::io::Error| WarehouseError::Other(format!("cannot {what} the warehouse secret {}: {e}", file.display()));
    match std::fs::read_to_string(file) {
        Ok(text) => {
            restrict_to_owner(file).map_err(|e| fail("restrict", e))?;
            return Secret::from_hex(&text).map_err(|e| WarehouseError::Other(format!("{}: {e}", file.display())));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(fail("read", e)),
    }
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| fail("create the folder of", e))?;
    }
    let secret = Secret::generate().map_err(|e| WarehouseError::Other(e.to_string()))?;
    // Written whole under a temporary name, then linked into place (fails if the key exists), so
    // a run starting at the same moment never reads a half-written key.
    // A fresh name (never an existing file or link someone else made): created here, owner-only.
    let mut nonce = [0u8; 8];
    getrandom::fill(&mut nonce).map_err(|e| WarehouseError::Other(format!("no randomness for the warehouse secret: {e}")))?;
    let tmp = file.with_extension(format!("tmp-{}-{}", std::process::id(), hex::encode(nonce)));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options
        .open(&tmp)
        .and_then(|mut f| f.write_all(secret.to_hex().as_bytes()).and_then(|_| f.sync_all()))
        .and_then(|_| std::fs::hard_link(&tmp, file));
    let _ = std::fs::remove_file(&tmp);
    match written {
        Ok(()) => Ok(secret),
        // Another run created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => local_secret(file),
        Err(e) => Err(fail("create", e)),
    }
}

#[cfg(unix)]
fn restrict_to_owner(file: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(file)?.permissions().mode();
    if mode & 0o077 != 0 {
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(mode & 0o700))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn restrict_to_owner(_file: &Path) -> std::io::Result<()> {
    Ok(())
}
