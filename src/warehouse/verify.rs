//! Data files are checked against what the manifest recorded of them (size and rows) whenever
//! they are read: a file swapped for another valid Parquet file would otherwise give wrong
//! counts with no error.

use super::{FileEntry, Result, Warehouse, WarehouseError};
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::metadata::ParquetMetaDataReader;
use parquet::file::reader::ChunkReader;

/// Footers read at once when a whole table is checked.
const CONCURRENT_CHECKS: usize = 32;

impl Warehouse {
    fn mismatch(&self, entry: &FileEntry, what: &str, recorded: u64, found: u64) -> WarehouseError {
        WarehouseError::Damaged(format!(
            "{} does not match the manifest: {what} {found}, recorded {recorded}; the file was replaced or damaged \
             outside govmedia. Restore it, or restore the manifest that names it",
            self.display_path(&entry.path)
        ))
    }

    /// Opens a whole file, as read into memory, checked against its entry: its size, then the
    /// rows its footer declares (the footer parsed once, for the reader too).
    pub(super) fn open_checked<R: ChunkReader + 'static>(&self, entry: &FileEntry, data: R) -> Result<ParquetRecordBatchReaderBuilder<R>> {
        if data.len() != entry.bytes {
            return Err(self.mismatch(entry, "size", entry.bytes, data.len()));
        }
        let builder = ParquetRecordBatchReaderBuilder::try_new(data)?;
        let rows = builder.metadata().file_metadata().num_rows().max(0) as u64;
        if rows != entry.rows {
            return Err(self.mismatch(entry, "rows", entry.rows, rows));
        }
        Ok(builder)
    }

    /// The rows a Parquet file's footer declares (two small ranged reads).
    async fn footer_rows(&self, entry: &FileEntry, path: &object_store::path::Path, size: u64) -> Result<u64> {
        let not_parquet = || WarehouseError::Damaged(format!("{} is not a Parquet file", self.display_path(&entry.path)));
        if size < 12 {
            return Err(not_parquet());
        }
        let tail = self.store.get_range(path, size - 8..size).await?;
        if &tail[4..] != b"PAR1" {
            return Err(not_parquet());
        }
        let len = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]) as u64;
        if len + 8 > size {
            return Err(not_parquet());
        }
        let footer = self.store.get_range(path, size - 8 - len..size - 8).await?;
        let meta = ParquetMetaDataReader::decode_metadata(&footer)?;
        Ok(meta.file_metadata().num_rows().max(0) as u64)
    }

    /// Checks each file's size (a `head`) and its rows (the Parquet footer), before a query
    /// engine reads them.
    pub async fn verify_files(&self, files: &[FileEntry]) -> Result<()> {
        // The checks are the futures of a named async fn, not of a closure's async block: the
        // compiler can then prove the whole future `Send` where it must (`govmedia serve`'s
        // generic protocol handlers open a version's tables with it).
        let checks: Vec<_> = files.iter().map(|entry| self.verify_file(entry)).collect();
        futures::stream::iter(checks).buffer_unordered(CONCURRENT_CHECKS).try_collect::<Vec<()>>().await?;
        Ok(())
    }

    async fn verify_file(&self, entry: &FileEntry) -> Result<()> {
        let path = self.path(&entry.path);
        let size = match self.store.head(&path).await {
            Ok(meta) => meta.size,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(WarehouseError::Damaged(format!(
                    "{} is named by the manifest but missing; restore it, or restore the manifest of a version without it",
                    self.display_path(&entry.path)
                )))
            }
            Err(e) => return Err(e.into()),
        };
        if size != entry.bytes {
            return Err(self.mismatch(entry, "size", entry.bytes, size));
        }
        let rows = self.footer_rows(entry, &path, size).await?;
        if rows != entry.rows {
            return Err(self.mismatch(entry, "rows", entry.rows, rows));
        }
        Ok(())
    }
}
