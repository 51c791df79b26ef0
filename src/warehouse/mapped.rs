//! A local warehouse's files as the query engine reads them: the byte ranges of a Parquet file
//! (its column chunks) are slices of the file mapped into memory, where the local store reads
//! each range into a fresh buffer it has zeroed first. Everything else is the local store's.
//!
//! A province build reads its 326 MB of staging Parquet several times over (each model scans the
//! posts or messages it needs): copying the page cache into zeroed buffers was 5 % of its CPU
//! time (`perf`: the kernel's copy to user memory 3.6 %, the zeroing 1 %), besides the fresh
//! memory those buffers took. A mapped file costs a page-table entry per page of it.
//!
//! The warehouse never changes a file in place (a file is written under a new name and renamed,
//! and removed only by a later commit), so a mapping sees the bytes the file had when it was
//! opened; a file removed while mapped stays readable until its ranges are dropped.

use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMultipartOptions, PutOptions, PutPayload,
    PutResult, RenameOptions, Result,
};
use std::ops::Range;

#[derive(Debug, Default)]
pub struct MappedLocal {
    local: LocalFileSystem,
}

impl MappedLocal {
    pub fn new() -> MappedLocal {
        MappedLocal { local: LocalFileSystem::new() }
    }
}

impl std::fmt::Display for MappedLocal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MappedLocal({})", self.local)
    }
}

/// The ranges of the file at `path`, as slices of one mapping of it.
fn mapped_ranges(path: &std::path::Path, ranges: &[Range<u64>]) -> std::io::Result<Vec<Bytes>> {
    let file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    if let Some(r) = ranges.iter().find(|r| r.start > r.end || r.end > size) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("bytes {}..{} asked of {}, which has {size}", r.start, r.end, path.display()),
        ));
    }
    if size == 0 {
        return Ok(ranges.iter().map(|_| Bytes::new()).collect());
    }
    // SAFETY: the mapping is read only, and warehouse files are never written in place (see the
    // module's notes); the slices keep the mapping alive as long as any of them lives.
    let map = unsafe { memmap2::Mmap::map(&file)? };
    let map = Bytes::from_owner(map);
    Ok(ranges.iter().map(|r| map.slice(r.start as usize..r.end as usize)).collect())
}

#[async_trait::async_trait]
impl ObjectStore for MappedLocal {
    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> Result<PutResult> {
        self.local.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(&self, location: &Path, opts: PutMultipartOptions) -> Result<Box<dyn MultipartUpload>> {
        self.local.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.local.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        let path = self.local.path_to_filesystem(location)?;
        let ranges = ranges.to_vec();
        let shown = location.to_string();
        tokio::task::spawn_blocking(move || mapped_ranges(&path, &ranges))
            .await
            .map_err(|e| object_store::Error::Generic { store: "MappedLocal", source: Box::new(e) })?
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => object_store::Error::NotFound { path: shown, source: Box::new(e) },
                _ => object_store::Error::Generic { store: "MappedLocal", source: Box::new(e) },
            })
    }

    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        self.local.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.local.list(prefix)
    }

    fn list_with_offset(&self, prefix: Option<&Path>, offset: &Path) -> BoxStream<'static, Result<ObjectMeta>> {
        self.local.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.local.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.local.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.local.rename_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::ObjectStoreExt;

    #[tokio::test]
    async fn ranges_are_the_files_bytes_and_a_range_past_the_end_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f.bin");
        let bytes: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&file, &bytes).unwrap();
        std::fs::write(dir.path().join("empty.bin"), b"").unwrap();
        let store = MappedLocal::new();
        let at = Path::from_absolute_path(&file).unwrap();
        let got = store.get_ranges(&at, &[0..3, 4096..5000, 9_990..10_000, 7..7]).await.unwrap();
        assert_eq!(got[0].as_ref(), &bytes[0..3]);
        assert_eq!(got[1].as_ref(), &bytes[4096..5000]);
        assert_eq!(got[2].as_ref(), &bytes[9_990..10_000]);
        assert!(got[3].is_empty());
        // The same as the local store reads.
        assert_eq!(store.get_range(&at, 100..200).await.unwrap().as_ref(), &bytes[100..200]);
        assert!(store.get_ranges(&at, &[0..1, 9_000..10_001]).await.is_err());
        let empty = Path::from_absolute_path(dir.path().join("empty.bin")).unwrap();
        assert!(store.get_ranges(&empty, &[0..0, 0..0]).await.unwrap().iter().all(Bytes::is_empty));
        let missing = Path::from_absolute_path(dir.path().join("missing.bin")).unwrap();
        assert!(matches!(store.get_ranges(&missing, &[0..1, 1..2]).await, Err(object_store::Error::NotFound { .. })));
    }
}
