//! The warehouse (SPEC §4): a root folder or object-store URL holding `raw/`, `staging/` and
//! `marts/` Parquet datasets and the manifest that makes a stage's output visible at once.
//! Every read and write goes through `object_store`, so local folders, `file://`, `memory://` and
//! `s3://` (with the `s3` feature) differ only in the root.

mod commit;
mod lock;
pub mod manifest;
mod mapped;
#[cfg(feature = "s3")]
pub mod s3;
mod secret;
mod verify;

pub use commit::CommitCount;
pub use lock::{LockInfo, WriteLock};
pub use manifest::{FileEntry, Manifest};

use crate::table::{Row, TableDef};
use datafusion::prelude::SessionContext;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::AsyncArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use std::sync::{Arc, Mutex, OnceLock};
use url::Url;

/// How every Parquet file of the warehouse is written.
fn writer_properties() -> WriterProperties {
    // LZ4 (the raw block format current Parquet readers know: DuckDB, Polars, pyarrow, Spark):
    // decompressing Snappy was 8 % of a province build's CPU time, and the same build reads LZ4
    // faster, for files 6 % larger (BENCHMARKS.md). Snappy files of older builds stay readable.
    let mut b = WriterProperties::builder().set_compression(Compression::LZ4_RAW).set_max_row_group_row_count(Some(256 * 1024));
    // The ids of posts and messages are unique, and so nearly are the instants they were posted,
    // received and answered: a dictionary of them only costs time to build (it grows to its
    // bound, then the column chunk goes on without one), and time to read.
    for unique in ["post_id", "message_id", "published_at", "received_at", "replied_at"] {
        b = b.set_column_dictionary_enabled(unique.into(), false);
    }
    // Minimum and maximum per column chunk (a row group), not per page: no query of the models
    // filters a column against a constant a page could answer (a province build pruned none of
    // its 525 pages of messages), and a page index costs its writing and its reading. Titles and
    // the file a row came from have none: nobody filters on a range of them, and comparing each
    // value with the chunk's least and greatest is most of what their statistics cost. The ids
    // keep theirs: a chunk's null count proves `not_null` without a scan (src/models/checks.rs),
    // and a file is in account order, so row groups' ranges of account ids (and of post ids that
    // begin with their account's, as many platforms' do) prune lookups by id.
    b = b.set_statistics_enabled(EnabledStatistics::Chunk);
    // No `sorting_columns`: DataFusion would take a table's order from them without being told
    // (`declared_order`), on a cluster too, whose shuffles do not keep it
    // (`engine::reads_files_in_order`).
    for text in ["title", "source_file"] {
        b = b.set_column_statistics_enabled(text.into(), EnabledStatistics::None);
    }
    b.build()
}

/// Batches, made one after another (each can be dropped once written), as the bytes of one Parquet
/// file written as [`Warehouse::write_batches`] writes: to encode files on several threads, then
/// store them with [`Warehouse::put_parquet`].
pub fn encode_parquet_batches(
    schema: arrow::datatypes::SchemaRef,
    batches: impl IntoIterator<Item = std::result::Result<arrow::array::RecordBatch, arrow::error::ArrowError>>,
) -> std::result::Result<Vec<u8>, parquet::errors::ParquetError> {
    let mut out = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, schema, Some(writer_properties()))?;
    for batch in batches {
        w.write(&batch?)?;
    }
    w.close()?;
    Ok(out)
}

#[derive(Debug, thiserror::Error)]
pub enum WarehouseError {
    #[error("{0}")]
    Locked(String),
    /// Another run committed since this one read the manifest.
    #[error("{0}")]
    Conflict(String),
    /// `_manifest.json` is gone while earlier versions or data files exist.
    #[error("{0}")]
    ManifestMissing(String),
    #[error("{0}")]
    NotAWarehouse(String),
    /// The process was interrupted before this commit began; nothing was written.
    #[error("{0}")]
    Interrupted(String),
    /// A data file does not match what the manifest recorded of it.
    #[error("{0}")]
    Damaged(String),
    /// Its causes are part of the message, once each (not a source: printed with its sources,
    /// a store's error repeats each cause several times).
    #[error("object store: {}", error_chain(.0))]
    Store(object_store::Error),
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("datafusion: {0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
    #[error("{0}")]
    Other(String),
}

impl From<object_store::Error> for WarehouseError {
    fn from(e: object_store::Error) -> Self {
        WarehouseError::Store(e)
    }
}

pub type Result<T, E = WarehouseError> = std::result::Result<T, E>;

/// An error with its causes, each once: a store's error hides the last cause (the time-out, the
/// refused connection) in its sources.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        source = cause.source();
    }
    text
}

/// Where a table lives under the root.
pub fn table_dir(table: &str) -> String {
    match table {
        "rejects" | "ingest_files" => format!("raw/{table}"),
        t if crate::table::staging_table(t).is_some() => format!("staging/{t}"),
        t => format!("marts/{t}"),
    }
}

/// Where a build on a cluster keeps the tables it passes between models (`_scratch/<build>/`):
/// the executors read them from the warehouse like any staging table. Never named by a manifest;
/// removed when the build ends, and leftovers of a killed build by the next one (under the lock).
pub const SCRATCH: &str = "_scratch";

pub struct Warehouse {
    store: Arc<dyn ObjectStore>,
    /// The store's URL root (scheme and host), as DataFusion's registry knows it.
    store_url: Url,
    prefix: StorePath,
    /// How the root is shown to people.
    pub display: String,
    /// The folder, when the warehouse is a local one.
    local_root: Option<std::path::PathBuf>,
    /// The token of the write lock this process holds, if any (see `lock.rs`).
    held_lock: Mutex<Option<String>>,
    /// This process's commits, which an interrupt waits for and then stops (see `commit.rs`).
    commits: Arc<commit::CommitGate>,
    /// Set once a remote store has shown that it honours conditional puts (see `lock.rs`); None
    /// for stores known to (memory) or swapped under a file lock (local folders).
    conditional_checked: Option<Arc<tokio::sync::OnceCell<()>>>,
}

impl std::fmt::Debug for Warehouse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Warehouse({})", self.display)
    }
}

/// `memory://NAME` stores live as long as the process, shared by every `open` of the same name.
fn memory_store(name: &str) -> Arc<dyn ObjectStore> {
    static STORES: OnceLock<Mutex<std::collections::HashMap<String, Arc<dyn ObjectStore>>>> = OnceLock::new();
    let map = STORES.get_or_init(Default::default);
    let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
    map.entry(name.to_string()).or_insert_with(|| Arc::new(object_store::memory::InMemory::new())).clone()
}

impl Warehouse {
    /// Opens a warehouse root to write: a local folder (created if missing) or a URL.
    pub fn open(location: &str) -> Result<Warehouse> {
        Warehouse::open_with(location, true)
    }

    /// Opens a warehouse root that must exist already (commands that only read): a mistyped
    /// local folder is reported, not created.
    pub fn open_existing(location: &str) -> Result<Warehouse> {
        Warehouse::open_with(location, false)
    }

    fn new(
        store: Arc<dyn ObjectStore>,
        store_url: Url,
        prefix: StorePath,
        display: String,
        local_root: Option<std::path::PathBuf>,
    ) -> Warehouse {
        Warehouse {
            store,
            store_url,
            prefix,
            display,
            local_root,
            held_lock: Mutex::new(None),
            commits: Default::default(),
            conditional_checked: None,
        }
    }

    /// A remote store: its conditional puts are checked before the first write.
    fn remote(mut self) -> Warehouse {
        self.conditional_checked = Some(Default::default());
        self
    }

    fn open_with(location: &str, create: bool) -> Result<Warehouse> {
        let url = if location.contains("://") {
            Url::parse(location).map_err(|e| WarehouseError::Other(format!("'{location}' is not a URL: {e}")))?
        } else {
            let dir = std::path::Path::new(location);
            if !create && !dir.is_dir() {
                return Err(WarehouseError::NotAWarehouse(format!(
                    "no warehouse at {location}: the folder does not exist; check --warehouse or GOVMEDIA_WAREHOUSE"
                )));
            }
            std::fs::create_dir_all(dir).map_err(|e| WarehouseError::Other(format!("cannot create warehouse folder {location}: {e}")))?;
            let abs =
                std::fs::canonicalize(dir).map_err(|e| WarehouseError::Other(format!("cannot open warehouse folder {location}: {e}")))?;
            Url::from_directory_path(&abs).map_err(|_| WarehouseError::Other(format!("cannot use {} as a warehouse", abs.display())))?
        };
        Warehouse::open_url(&url, location.to_string(), create)
    }

    fn open_url(url: &Url, display: String, create: bool) -> Result<Warehouse> {
        let scheme = url.scheme();
        match scheme {
            "file" => {
                let path = url.to_file_path().map_err(|_| WarehouseError::Other(format!("'{url}' is not a local path")))?;
                if !create && !path.is_dir() {
                    return Err(WarehouseError::NotAWarehouse(format!(
                        "no warehouse at {display}: the folder does not exist; check --warehouse or GOVMEDIA_WAREHOUSE"
                    )));
                }
                std::fs::create_dir_all(&path).map_err(|e| WarehouseError::Other(format!("cannot create {}: {e}", path.display())))?;
                let prefix = StorePath::from_absolute_path(&path)
                    .map_err(|e| WarehouseError::Other(format!("bad warehouse path {}: {e}", path.display())))?;
                Ok(Warehouse::new(
                    Arc::new(mapped::MappedLocal::new()),
                    Url::parse("file:///").expect("file URL"),
                    prefix,
                    display,
                    Some(path),
                ))
            }
            "memory" => {
                let name = url.host_str().unwrap_or("default").to_string();
                Ok(Warehouse::new(
                    memory_store(&name),
                    Url::parse(&format!("memory://{name}/")).expect("memory URL"),
                    StorePath::from(url.path().trim_matches('/')),
                    display,
                    None,
                ))
            }
            #[cfg(feature = "s3")]
            "s3" | "s3a" => {
                let (store, prefix) = s3::open(url)?;
                let root = Url::parse(&format!("{scheme}://{}/", url.host_str().unwrap_or_default()))
                    .map_err(|e| WarehouseError::Other(format!("cannot open warehouse {url}: {e}")))?;
                Ok(Warehouse::new(store, root, prefix, display, None).remote())
            }
            _ => {
                let (store, prefix) = object_store::parse_url_opts(url, std::env::vars().map(|(k, v)| (k.to_ascii_lowercase(), v)))
                    .map_err(|e| {
                        // Only reached for s3:// when the build left out the `s3` feature.
                        let note = if matches!(scheme, "s3" | "s3a") {
                            " (s3:// warehouses need govmedia built with the `s3` feature: cargo install --path . --features s3)"
                        } else {
                            ""
                        };
                        WarehouseError::Other(format!("cannot open warehouse {url}: {e}{note}"))
                    })?;
                let mut root = url.clone();
                root.set_path("/");
                Ok(Warehouse::new(Arc::from(store), root, prefix, display, None).remote())
            }
        }
    }

    /// The folder of a local warehouse.
    pub fn local_root(&self) -> Option<&std::path::Path> {
        self.local_root.as_deref()
    }

    /// The store's URL root, under which a query engine registers [`Warehouse::store`].
    pub fn store_url(&self) -> &Url {
        &self.store_url
    }

    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// A path under the root.
    pub fn path(&self, rel: &str) -> StorePath {
        let mut p = self.prefix.clone();
        for part in rel.split('/').filter(|s| !s.is_empty()) {
            p = p.clone().join(part);
        }
        p
    }

    pub fn display_path(&self, rel: &str) -> String {
        format!("{}/{}", self.display.trim_end_matches('/'), rel)
    }

    /// The URL DataFusion reads a file at.
    pub fn file_url(&self, rel: &str) -> String {
        format!("{}{}", self.store_url, self.path(rel))
    }

    /// Writes rows as one Parquet file at `rel` and returns its manifest entry.
    pub async fn write_rows(&self, table: &TableDef, rel: &str, rows: &[Row]) -> Result<FileEntry> {
        let batch = table.to_batch(rows)?;
        self.write_batches(rel, table.schema(), std::iter::once(batch)).await
    }

    pub async fn write_batches(
        &self,
        rel: &str,
        schema: arrow::datatypes::SchemaRef,
        batches: impl IntoIterator<Item = arrow::array::RecordBatch>,
    ) -> Result<FileEntry> {
        let path = self.path(rel);
        let writer = object_store::buffered::BufWriter::new(self.store.clone(), path.clone());
        let mut w = AsyncArrowWriter::try_new(writer, schema, Some(writer_properties()))?;
        let mut rows = 0u64;
        for b in batches {
            rows += b.num_rows() as u64;
            w.write(&b).await?;
        }
        w.close().await?;
        let bytes = self.store.head(&path).await?.size;
        Ok(FileEntry { path: rel.to_string(), rows, bytes, partition: Default::default(), sorted_by: Vec::new() })
    }

    /// Deletes every object under the folder `rel` (a build's scratch tables, see
    /// [`SCRATCH`]): no manifest names them, and the build that wrote them holds the lock.
    pub async fn remove_folder(&self, rel: &str) -> Result<()> {
        use futures::TryStreamExt;
        let listed: Vec<_> = self.store.list(Some(&self.path(rel))).try_collect().await?;
        for meta in listed {
            self.store.delete(&meta.location).await?;
        }
        Ok(())
    }

    /// Stores a Parquet file made by [`encode_parquet_batches`] at `rel` and returns its manifest entry.
    pub async fn put_parquet(&self, rel: &str, bytes: Vec<u8>, rows: u64) -> Result<FileEntry> {
        let size = bytes.len() as u64;
        self.store.put(&self.path(rel), PutPayload::from(bytes)).await?;
        Ok(FileEntry { path: rel.to_string(), rows, bytes: size, partition: Default::default(), sorted_by: Vec::new() })
    }

    /// Reads one file as one batch (empty, with `schema`, when the file has no rows).
    pub async fn read_batch(&self, entry: &FileEntry, schema: &arrow::datatypes::SchemaRef) -> Result<arrow::array::RecordBatch> {
        let bytes = self.store.get(&self.path(&entry.path)).await?.bytes().await?;
        let reader = self.open_checked(entry, bytes)?.build()?;
        let batches = reader.collect::<std::result::Result<Vec<_>, _>>()?;
        match batches.first() {
            Some(b) => Ok(arrow::compute::concat_batches(&b.schema(), &batches)?),
            None => Ok(arrow::array::RecordBatch::new_empty(schema.clone())),
        }
    }

    /// Reads a staging table's rows (as the manifest lists its files).
    pub async fn read_rows(&self, manifest: &Manifest, table: &TableDef) -> Result<Vec<Row>> {
        let mut rows = Vec::new();
        for f in manifest.files(table.name) {
            let bytes = self.store.get(&self.path(&f.path)).await?.bytes().await?;
            for batch in self.open_checked(f, bytes)?.build()? {
                rows.extend(table.rows_from_batch(&batch?));
            }
        }
        Ok(rows)
    }

    /// Registers every table of the manifest in a DataFusion session under its name; staging tables
    /// with no files yet are registered empty, so queries and models can name them. The session
    /// must know the store already (`engine::register_warehouse` does both). With `ordered`, the
    /// order of posts' and messages' files is declared (`declared_order`): only for a session that
    /// keeps it (`engine::reads_files_in_order`).
    pub async fn register_tables(&self, ctx: &SessionContext, manifest: &Manifest, ordered: bool) -> Result<()> {
        use datafusion::datasource::file_format::parquet::ParquetFormat;
        use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
        use datafusion::datasource::MemTable;

        for (name, t) in &manifest.tables {
            if t.files.is_empty() {
                continue;
            }
            self.verify_files(&t.files).await?;
            let urls =
                t.files.iter().map(|f| ListingTableUrl::parse(self.file_url(&f.path))).collect::<std::result::Result<Vec<_>, _>>()?;
            let mut options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
            if let Some(order) = declared_order(name, &t.files).filter(|_| ordered) {
                options = options.with_file_sort_order(vec![order]);
            }
            let config = ListingTableConfig::new_with_multi_paths(urls).with_listing_options(options);
            let config = config.infer_schema(&ctx.state()).await?;
            let config = with_later_columns(name, config);
            let table = ListingTable::try_new(config)?;
            ctx.register_table(name.as_str(), Arc::new(table))?;
        }
        let defaults = crate::table::STAGING.iter().copied().chain([&crate::table::REJECTS, &crate::table::INGEST_FILES]);
        for def in defaults {
            if manifest.files(def.name).is_empty() {
                let empty = MemTable::try_new(def.schema(), vec![vec![]])?;
                ctx.register_table(def.name, Arc::new(empty))?;
            }
        }
        Ok(())
    }
}

/// The order of a table's rows in each of its files, as DataFusion is told it: the table's stored
/// order (`crate::table::stored_order`) when the manifest says every file is in it, else none.
/// DataFusion trusts a declared order, and keeps it for a scan only where the files it reads one
/// after another do not overlap (by their statistics); a table with a file in any other order (a
/// warehouse written before the order) is read as unordered.
fn declared_order(name: &str, files: &[FileEntry]) -> Option<Vec<datafusion::logical_expr::SortExpr>> {
    let def = crate::table::staging_table(name)?;
    let order = crate::table::stored_order(def)?;
    let recorded = crate::table::stored_order_names(def);
    files.iter().all(|f| f.sorted_by == recorded).then(|| order.iter().map(|c| datafusion::prelude::col(*c).sort(true, false)).collect())
}

/// A staging table written before a column was added to it (the register's optional `city` and
/// `district`) reads with that column NULL, so that its models run unchanged; a column present
/// with another type is still reported as schema drift.
fn with_later_columns(
    name: &str,
    config: datafusion::datasource::listing::ListingTableConfig,
) -> datafusion::datasource::listing::ListingTableConfig {
    let (Some(def), Some(schema)) = (crate::table::staging_table(name), config.file_schema.clone()) else {
        return config;
    };
    let expected = def.schema();
    let missing: Vec<_> = expected.fields().iter().filter(|f| schema.field_with_name(f.name()).is_err()).cloned().collect();
    if missing.is_empty() {
        return config;
    }
    let mut fields: Vec<_> = schema.fields().iter().cloned().collect();
    fields.extend(missing.into_iter().map(|f| Arc::new(f.as_ref().clone().with_nullable(true))));
    config.with_schema(Arc::new(arrow::datatypes::Schema::new(fields)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The order is declared only for posts and messages whose every file is in it: a file from
    /// before the order (no `sorted_by`), or in another, withholds it.
    #[test]
    fn an_order_is_declared_only_when_every_file_has_it() {
        let file = |sorted_by: &[&str]| FileEntry {
            path: "f".into(),
            rows: 1,
            bytes: 1,
            partition: Default::default(),
            sorted_by: sorted_by.iter().map(|c| c.to_string()).collect(),
        };
        let posts = ["platform", "account_id", "published_at"];
        let shown = |o: Option<Vec<datafusion::logical_expr::SortExpr>>| o.map(|o| o.iter().map(|e| e.to_string()).collect::<Vec<_>>());
        assert_eq!(
            shown(declared_order("posts", &[file(&posts), file(&posts)])),
            Some(vec!["platform ASC NULLS LAST".to_string(), "account_id ASC NULLS LAST".into(), "published_at ASC NULLS LAST".into()])
        );
        assert!(declared_order("posts", &[file(&posts), file(&[])]).is_none());
        assert!(declared_order("posts", &[file(&["platform", "account_id"])]).is_none());
        assert!(declared_order("interactions", &[file(&posts)]).is_none());
        assert!(declared_order("registry", &[file(&posts)]).is_none());
        assert!(declared_order("interactions", &[file(&["platform", "account_id", "received_at"])]).is_some());
    }
}
