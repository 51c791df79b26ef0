//! A local warehouse's files as the query engine reads them: the byte ranges of a Parquet file
//! (its column chunks) are slices of the span of the file mapped into memory, where the local
//! store reads each range into a fresh buffer it has zeroed first. Everything else is the local
//! store's.
//!
//! A province build reads its 326 MB of staging Parquet several times over (each model scans the
//! posts or messages it needs): copying the page cache into zeroed buffers was 5 % of its CPU
//! time (`perf`: the kernel's copy to user memory 3.6 %, the zeroing 1 %), besides the fresh
//! memory those buffers took. A mapped file costs a page-table entry per page of it; the pages are
//! the page cache's, asked for ahead of use (`MADV_WILLNEED`) so that a cold file is read by the
//! kernel before the decoder touches it.
//!
//! What this assumes: govmedia never changes a warehouse file in place (a file is written under a
//! temporary name and renamed over, and removed by unlinking it), and a file removed while mapped
//! stays readable until its ranges are dropped. A mapping is shared with the file, so a file
//! truncated or rewritten in place by another program while a query reads it (or a disk error
//! under it) stops the process with SIGBUS where a read would have returned an error: the same
//! trade ingest makes for the export files it maps.

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

/// The ranges of the file at `path`, as slices of one mapping of the span they cover.
fn mapped_ranges(path: &std::path::Path, ranges: &[Range<u64>]) -> std::io::Result<Vec<Bytes>> {
    let file = std::fs::File::open(path)?;
    if ranges.is_empty() {
        return Ok(Vec::new());
    }
    let size = file.metadata()?.len();
    if let Some(r) = ranges.iter().find(|r| r.start > r.end) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("bytes {}..{} asked of {}", r.start, r.end, path.display()),
        ));
    }
    if let Some(r) = ranges.iter().find(|r| r.end > size) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("bytes {}..{} asked of {}, which has {size}", r.start, r.end, path.display()),
        ));
    }
    let from = ranges.iter().map(|r| r.start).min().unwrap_or(0);
    let to = ranges.iter().map(|r| r.end).max().unwrap_or(0);
    if to == from {
        return Ok(ranges.iter().map(|_| Bytes::new()).collect());
    }
    let span = usize::try_from(to - from).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    // SAFETY: a read-only mapping of bytes inside the file's size; see the module's notes for
    // what it assumes of the file. The slices keep the mapping alive as long as any of them lives.
    let map = unsafe { memmap2::MmapOptions::new().offset(from).len(span).map(&file)? };
    for r in ranges.iter().filter(|r| r.end > r.start) {
        // Advice only: the kernel may ignore it.
        let _ = map.advise_range(memmap2::Advice::WillNeed, (r.start - from) as usize, (r.end - r.start) as usize);
    }
    let map = Bytes::from_owner(map);
    Ok(ranges.iter().map(|r| map.slice((r.start - from) as usize..(r.end - from) as usize)).collect())
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
        #[allow(clippy::reversed_empty_ranges)]
        let backwards = [5..3, 0..1];
        assert!(store.get_ranges(&at, &backwards).await.is_err());
        assert!(store.get_ranges(&at, &[]).await.unwrap().is_empty());
        // A span that starts inside a page, not at the file's start.
        let got = store.get_ranges(&at, &[5_003..5_010, 8_191..8_197]).await.unwrap();
        assert_eq!((got[0].as_ref(), got[1].as_ref()), (&bytes[5_003..5_010], &bytes[8_191..8_197]));
        let empty = Path::from_absolute_path(dir.path().join("empty.bin")).unwrap();
        assert!(store.get_ranges(&empty, &[0..0, 0..0]).await.unwrap().iter().all(Bytes::is_empty));
        let missing = Path::from_absolute_path(dir.path().join("missing.bin")).unwrap();
        assert!(matches!(store.get_ranges(&missing, &[0..1, 1..2]).await, Err(object_store::Error::NotFound { .. })));
    }
}
