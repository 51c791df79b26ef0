//! Pipeline files (SPEC §10): the quarter, check point, rubric and the `[[source]]` list an analyst
//! edits each quarter. Paths are relative to the pipeline file's folder; globs allowed.

use crate::ingest::source::{resolve_source, Source, SourceError, SourceSpec};
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("cannot read pipeline file {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}: {source}", path.display())]
    Parse { path: PathBuf, source: toml::de::Error },
    #[error("{}: {source}", path.display())]
    Notice { path: PathBuf, source: NoticeDateError },
    #[error(transparent)]
    Source(#[from] SourceError),
}

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
    /// How many of the worst units and accounts a city's or a province's notice names (default
    /// 10); the rest are in its XLSX attachment.
    pub named: Option<usize>,
}

/// A date of the `[notice]` table that is not a date, with its key.
#[derive(Debug, thiserror::Error)]
#[error("[notice] {key} = \"{value}\": {source}")]
pub struct NoticeDateError {
    pub key: &'static str,
    pub value: String,
    pub source: crate::time::TimeError,
}

impl NoticeSpec {
    /// Checks the dates: a bad one is an error naming its key.
    pub fn check(&self) -> Result<(), NoticeDateError> {
        self.date()?;
        self.deadline()?;
        Ok(())
    }

    /// `date`, read.
    pub fn date(&self) -> Result<Option<chrono::NaiveDate>, NoticeDateError> {
        date_of("date", &self.date)
    }

    /// `deadline`, read.
    pub fn deadline(&self) -> Result<Option<chrono::NaiveDate>, NoticeDateError> {
        date_of("deadline", &self.deadline)
    }
}

fn date_of(key: &'static str, value: &Option<String>) -> Result<Option<chrono::NaiveDate>, NoticeDateError> {
    let Some(v) = value else { return Ok(None) };
    crate::time::parse_date(v).map(Some).map_err(|source| NoticeDateError { key, value: v.clone(), source })
}

/// A pipeline file, read and checked.
#[derive(Debug)]
pub struct Pipeline {
    pub file: PathBuf,
    pub dir: PathBuf,
    pub spec: PipelineFile,
}

impl Pipeline {
    pub fn load(file: &Path) -> Result<Pipeline, PipelineError> {
        let text = std::fs::read_to_string(file).map_err(|source| PipelineError::Read { path: file.to_path_buf(), source })?;
        let spec: PipelineFile = toml::from_str(&text).map_err(|source| PipelineError::Parse { path: file.to_path_buf(), source })?;
        spec.notice.check().map_err(|source| PipelineError::Notice { path: file.to_path_buf(), source })?;
        let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
        let dir = if dir.as_os_str().is_empty() { PathBuf::from(".") } else { dir };
        Ok(Pipeline { file: file.to_path_buf(), dir, spec })
    }

    /// The sources with their files expanded, in pipeline order.
    pub fn sources(&self) -> Result<Vec<Source>, PipelineError> {
        self.spec.sources.iter().enumerate().map(|(i, s)| resolve_source(&self.dir, i + 1, s).map_err(PipelineError::from)).collect()
    }
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
}
