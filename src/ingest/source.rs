//! A source to ingest (SPEC §3, §10): a kind, a format and the files a path or glob names, as a
//! pipeline file's `[[source]]` or the `ingest` command gives it. Paths are relative to a base
//! folder (the pipeline file's).

use super::{formats, Format, Kind};
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A source's kind, format, platform, date or path does not hold; `what` names the source.
    #[error("{what}: {reason}")]
    Invalid { what: String, reason: String },
    #[error("bad path pattern: {0}")]
    Pattern(String),
    #[error("cannot read {}: {source}", path.display())]
    Folder { path: PathBuf, source: std::io::Error },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    pub kind: String,
    pub format: String,
    pub path: String,
    pub account: Option<String>,
    pub platform: Option<String>,
    pub as_of: Option<String>,
}

/// One source, ready to ingest: its files found, its options checked.
pub struct Source {
    /// 1-based position in the pipeline file (for messages).
    pub number: usize,
    pub kind: Kind,
    pub format: &'static dyn Format,
    /// (path on disk, path as shown and stored in `source_file`).
    pub files: Vec<(PathBuf, String)>,
    pub account: Option<String>,
    pub platform: Option<String>,
    pub as_of: Option<chrono::NaiveDate>,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Source({} {} {} files)", self.kind.name(), self.format.name(), self.files.len())
    }
}

/// Checks a source and expands its path pattern (relative to `base`).
pub fn resolve_source(base: &Path, number: usize, s: &SourceSpec) -> Result<Source, SourceError> {
    let what = format!("source #{number} ({} {} \"{}\")", s.kind, s.format, s.path);
    let invalid = |reason: String| SourceError::Invalid { what: what.clone(), reason };
    let kind = Kind::parse(&s.kind).map_err(|e| invalid(e.to_string()))?;
    let format = formats::by_name(&s.format).map_err(|e| invalid(e.to_string()))?;
    if !format.kinds().contains(&kind) {
        let kinds: Vec<_> = format.kinds().iter().map(|k| k.name()).collect();
        return Err(invalid(format!("format {} reads {}, not {}", format.name(), kinds.join(" or "), kind.name())));
    }
    let platform = match &s.platform {
        Some(p) => {
            Some(super::fields::platform_code(p).ok_or_else(|| invalid(format!("platform '{p}' is not a known platform")))?.to_string())
        }
        None => None,
    };
    let as_of = match &s.as_of {
        Some(d) => Some(crate::time::parse_date(d).map_err(|e| invalid(format!("as_of {e}")))?),
        None => None,
    };
    let files = expand(base, &s.path).map_err(|e| invalid(e.to_string()))?;
    if files.is_empty() {
        return Err(invalid(format!("the path matches no file (relative to {})", base.display())));
    }
    Ok(Source { number, kind, format, files, account: s.account.clone(), platform, as_of })
}

/// Expands a path or glob relative to `base`; `**` matches zero or more folders. Hidden files and
/// Excel lock files (`~$…`) are ignored. Sorted, so "the later path" is well defined.
///
/// Folders are walked on their names as the system gives them (`OsStr`), not as text: a name that
/// is not UTF-8 (GBK names from a zip made on Windows) is matched by its lossy form and left for
/// the run to report by name, instead of stopping the walk. A wildcard never enters a symlinked
/// folder (a link to a parent would loop); a folder the pattern names is followed. A file reached
/// under two names is listed once, under the first.
pub fn expand(base: &Path, pattern: &str) -> Result<Vec<(PathBuf, String)>, SourceError> {
    let full = if Path::new(pattern).is_absolute() { PathBuf::from(pattern) } else { base.join(pattern) };
    let (mut root, parts) = split_pattern(&full)?;
    if root.as_os_str().is_empty() {
        root = PathBuf::from(".");
    }
    let mut found = Vec::new();
    walk(&root, &parts, &mut found)?;
    let mut out: Vec<(PathBuf, String, FileId)> = found
        .into_iter()
        .filter(|(p, _)| {
            let name = p.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
            !(name.starts_with('.') || name.starts_with("~$"))
        })
        .map(|(p, id)| {
            let shown = p.strip_prefix(base).unwrap_or(&p).to_string_lossy().to_string();
            (p, shown, id)
        })
        .collect();
    out.sort_by(|a, b| a.1.cmp(&b.1));
    // One file under two names (the same name twice, a symlink to it, or a folder linked by
    // name): read once.
    let mut seen = std::collections::HashSet::new();
    Ok(out.into_iter().filter_map(|(p, shown, id)| seen.insert(id).then_some((p, shown))).collect())
}

/// What a file is whatever name reaches it: its device and inode, from the one `stat` that finds
/// it is a file (a canonical path costs a system call per folder of the path, for each of the
/// tens of thousands of files a platform's exports can be).
#[cfg(unix)]
type FileId = (u64, u64);
#[cfg(not(unix))]
type FileId = PathBuf;

#[cfg(unix)]
fn file_id(_: &Path, meta: &std::fs::Metadata) -> FileId {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

#[cfg(not(unix))]
fn file_id(path: &Path, _: &std::fs::Metadata) -> FileId {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// One folder level of a path pattern after its literal start.
enum Part {
    Literal(std::ffi::OsString),
    Glob(glob::Pattern),
    /// `**`: zero or more folders.
    AnyFolders,
}

const MATCH: glob::MatchOptions =
    glob::MatchOptions { case_sensitive: true, require_literal_separator: true, require_literal_leading_dot: true };

/// The folder a pattern's walk starts from (its components before the first wildcard), and the
/// levels below it.
fn split_pattern(full: &Path) -> Result<(PathBuf, Vec<Part>), SourceError> {
    let mut root = PathBuf::new();
    let mut parts = Vec::new();
    for c in full.components() {
        let text = c.as_os_str().to_str();
        let wild = text.is_some_and(|t| t.contains(['*', '?', '[']));
        if !wild {
            match parts.is_empty() {
                true => root.push(c),
                false => parts.push(Part::Literal(c.as_os_str().to_os_string())),
            }
            continue;
        }
        let t = text.unwrap_or_default();
        if t == "**" {
            parts.push(Part::AnyFolders);
        } else if t.contains("**") {
            return Err(SourceError::Pattern(format!("`**` must be a whole folder name, not part of '{t}'")));
        } else {
            parts.push(Part::Glob(glob::Pattern::new(t).map_err(|e| SourceError::Pattern(e.to_string()))?));
        }
    }
    Ok((root, parts))
}

/// Adds the files under `dir` that match `parts` to `out`.
fn walk(dir: &Path, parts: &[Part], out: &mut Vec<(PathBuf, FileId)>) -> Result<(), SourceError> {
    let Some((part, rest)) = parts.split_first() else {
        if let Some(meta) = std::fs::metadata(dir).ok().filter(std::fs::Metadata::is_file) {
            out.push((dir.to_path_buf(), file_id(dir, &meta)));
        }
        return Ok(());
    };
    match part {
        Part::Literal(name) => walk(&dir.join(name), rest, out),
        Part::Glob(pattern) => {
            for (path, name, is_folder) in entries(dir)? {
                let name = name.to_string_lossy();
                if pattern.matches_with(&name, MATCH) && (rest.is_empty() || is_folder) {
                    walk(&path, rest, out)?;
                }
            }
            Ok(())
        }
        Part::AnyFolders => {
            walk(dir, rest, out)?;
            for (path, name, is_folder) in entries(dir)? {
                // As `**` in a glob: hidden folders are not entered.
                if is_folder && !name.to_string_lossy().starts_with('.') {
                    walk(&path, parts, out)?;
                }
            }
            Ok(())
        }
    }
}

/// A folder's entries: path, name, and whether it is a folder that is not a symlink. A missing
/// folder has none.
fn entries(dir: &Path) -> Result<Vec<(PathBuf, std::ffi::OsString, bool)>, SourceError> {
    let list = match std::fs::read_dir(dir) {
        Ok(list) => list,
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) => return Ok(Vec::new()),
        Err(source) => return Err(SourceError::Folder { path: dir.to_path_buf(), source }),
    };
    let mut out = Vec::new();
    for entry in list {
        let entry = entry.map_err(|source| SourceError::Folder { path: dir.to_path_buf(), source })?;
        let is_folder = entry.file_type().is_ok_and(|t| t.is_dir());
        out.push((entry.path(), entry.file_name(), is_folder));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_zero_or_more_folders_and_skip_lock_files() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("a/b")).unwrap();
        for f in ["x.csv", "a/y.csv", "a/b/z.csv", "a/~$lock.csv", "a/.hidden.csv", "a/b/w.txt"] {
            std::fs::write(d.join(f), "h\n").unwrap();
        }
        let got: Vec<String> = expand(d, "**/*.csv").unwrap().into_iter().map(|(_, s)| s).collect();
        assert_eq!(got, vec!["a/b/z.csv", "a/y.csv", "x.csv"]);
        let spec = SourceSpec {
            kind: "posts".into(),
            format: "canonical".into(),
            path: "none/*.csv".into(),
            account: None,
            platform: None,
            as_of: None,
        };
        let err = resolve_source(d, 3, &spec).unwrap_err().to_string();
        assert!(err.contains("source #3") && err.contains("matches no file"), "{err}");
        let spec = SourceSpec { format: "wechat-mp-users".into(), ..spec };
        assert!(resolve_source(d, 1, &spec).unwrap_err().to_string().contains("reads followers"));
    }
}
