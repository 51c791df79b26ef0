//! Pipeline files (SPEC §10): the quarter, check point, rubric and the `[[source]]` list an analyst
//! edits each quarter. Paths are relative to the pipeline file's folder; globs allowed.

use crate::ingest::{formats, Format, Kind};
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineFile {
    pub quarter: Option<String>,
    pub check_point: Option<String>,
    pub rubric: Option<String>,
    pub report_dir: Option<String>,
    /// Who issues the notice and what it asks of the units (the documents of `report`).
    #[serde(default)]
    pub notice: NoticeSpec,
    #[serde(default, rename = "source")]
    pub sources: Vec<SourceSpec>,
}

/// The `[notice]` table: what the issuing office writes into its notice and rectification notices.
/// Every value is optional; where one is missing the documents keep a visible placeholder for the
/// office to fill in, never a made-up value.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoticeSpec {
    /// The issuing office (发文机关), e.g. 福州市鼓楼区人民政府办公室: the signature, and where
    /// rectification reports go.
    pub office: Option<String>,
    /// The area the notice covers (e.g. 鼓楼区), as the title names it.
    pub area: Option<String>,
    /// The addressee line (主送机关), e.g. 各街道办事处，区直各单位.
    pub addressee: Option<String>,
    /// The document number (文号), e.g. 鼓政办〔2019〕12号.
    pub number: Option<String>,
    /// The date of the notice (成文日期); default: the day the report is written.
    pub date: Option<String>,
    /// The work requirements (工作要求); one paragraph a line.
    pub requirements: Option<String>,
    /// The rectification deadline (整改期限), a date.
    pub deadline: Option<String>,
}

impl NoticeSpec {
    /// Checks the dates: a bad one is an error naming its key.
    pub fn check(&self) -> Result<(), String> {
        for (key, v) in [("date", &self.date), ("deadline", &self.deadline)] {
            if let Some(v) = v {
                crate::time::parse_date(v).map_err(|e| format!("[notice] {key} = \"{v}\": {e}"))?;
            }
        }
        Ok(())
    }
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

/// A pipeline file, read and checked.
#[derive(Debug)]
pub struct Pipeline {
    pub file: PathBuf,
    pub dir: PathBuf,
    pub spec: PipelineFile,
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

impl Pipeline {
    pub fn load(file: &Path) -> Result<Pipeline, String> {
        let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read pipeline file {}: {e}", file.display()))?;
        let spec: PipelineFile = toml::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
        spec.notice.check().map_err(|e| format!("{}: {e}", file.display()))?;
        let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
        let dir = if dir.as_os_str().is_empty() { PathBuf::from(".") } else { dir };
        Ok(Pipeline { file: file.to_path_buf(), dir, spec })
    }

    /// The sources with their files expanded, in pipeline order.
    pub fn sources(&self) -> Result<Vec<Source>, String> {
        self.spec
            .sources
            .iter()
            .enumerate()
            .map(|(i, s)| resolve_source(&self.dir, i + 1, s))
            .collect()
    }
}

/// Checks a source and expands its path pattern (relative to `base`).
pub fn resolve_source(base: &Path, number: usize, s: &SourceSpec) -> Result<Source, String> {
    let what = format!("source #{number} ({} {} \"{}\")", s.kind, s.format, s.path);
    let kind = Kind::parse(&s.kind).map_err(|e| format!("{what}: {e}"))?;
    let format = formats::by_name(&s.format).map_err(|e| format!("{what}: {e}"))?;
    if !format.kinds().contains(&kind) {
        let kinds: Vec<_> = format.kinds().iter().map(|k| k.name()).collect();
        return Err(format!("{what}: format {} reads {}, not {}", format.name(), kinds.join(" or "), kind.name()));
    }
    let platform = match &s.platform {
        Some(p) => Some(
            crate::ingest::fields::platform_code(p)
                .ok_or_else(|| format!("{what}: platform '{p}' is not a known platform"))?
                .to_string(),
        ),
        None => None,
    };
    let as_of = match &s.as_of {
        Some(d) => Some(crate::time::parse_date(d).map_err(|e| format!("{what}: as_of {e}"))?),
        None => None,
    };
    let files = expand(base, &s.path).map_err(|e| format!("{what}: {e}"))?;
    if files.is_empty() {
        return Err(format!("{what}: the path matches no file (relative to {})", base.display()));
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
pub fn expand(base: &Path, pattern: &str) -> Result<Vec<(PathBuf, String)>, String> {
    let full = if Path::new(pattern).is_absolute() { PathBuf::from(pattern) } else { base.join(pattern) };
    let (mut root, parts) = split_pattern(&full)?;
    if root.as_os_str().is_empty() {
        root = PathBuf::from(".");
    }
    let mut found = Vec::new();
    walk(&root, &parts, &mut found)?;
    let mut out: Vec<(PathBuf, String)> = found
        .into_iter()
        .filter(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
            !(name.starts_with('.') || name.starts_with("~$"))
        })
        .map(|p| {
            let shown = p.strip_prefix(base).unwrap_or(&p).to_string_lossy().to_string();
            (p, shown)
        })
        .collect();
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out.dedup_by(|a, b| a.0 == b.0);
    // One file under two names (a symlink to it, or a folder linked by name): read once.
    let mut seen = std::collections::HashSet::new();
    out.retain(|(p, _)| seen.insert(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())));
    Ok(out)
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
fn split_pattern(full: &Path) -> Result<(PathBuf, Vec<Part>), String> {
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
            return Err(format!("bad path pattern: `**` must be a whole folder name, not part of '{t}'"));
        } else {
            parts.push(Part::Glob(glob::Pattern::new(t).map_err(|e| format!("bad path pattern: {e}"))?));
        }
    }
    Ok((root, parts))
}

/// Adds the files under `dir` that match `parts` to `out`.
fn walk(dir: &Path, parts: &[Part], out: &mut Vec<PathBuf>) -> Result<(), String> {
    let Some((part, rest)) = parts.split_first() else {
        if dir.is_file() {
            out.push(dir.to_path_buf());
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
fn entries(dir: &Path) -> Result<Vec<(PathBuf, std::ffi::OsString, bool)>, String> {
    let list = match std::fs::read_dir(dir) {
        Ok(list) => list,
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot read {}: {e}", dir.display())),
    };
    let mut out = Vec::new();
    for entry in list {
        let entry = entry.map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        let is_folder = entry.file_type().is_ok_and(|t| t.is_dir());
        out.push((entry.path(), entry.file_name(), is_folder));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_pipeline_files_parse() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        for f in ["pipelines/example.toml", "pipelines/fixtures.toml"] {
            let p = Pipeline::load(&root.join(f)).unwrap();
            assert_eq!(p.spec.quarter.as_deref(), Some("2019Q3"), "{f}");
            assert!(p.spec.sources.len() >= 13, "{f}");
        }
        let err = toml::from_str::<PipelineFile>("quater = \"2019Q3\"").unwrap_err().to_string();
        assert!(err.contains("quater"), "{err}");
        let example = Pipeline::load(&root.join("pipelines/example.toml")).unwrap();
        assert_eq!(example.spec.notice.office.as_deref(), Some("福州市鼓楼区人民政府办公室"));
    }

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
        let spec = SourceSpec { kind: "posts".into(), format: "canonical".into(), path: "none/*.csv".into(),
            account: None, platform: None, as_of: None };
        let err = resolve_source(d, 3, &spec).unwrap_err();
        assert!(err.contains("source #3") && err.contains("matches no file"), "{err}");
        let spec = SourceSpec { format: "wechat-mp-users".into(), ..spec };
        assert!(resolve_source(d, 1, &spec).unwrap_err().contains("reads followers"));
    }
}
