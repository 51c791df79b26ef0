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
    #[serde(default, rename = "source")]
    pub sources: Vec<SourceSpec>,
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
        let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
        let dir = if dir.as_os_str().is_empty() { PathBuf::from(".") } else { dir };
        Ok(Pipeline { file: file.to_path_buf(), dir, spec })
    }

    /// The sources with their files expanded, in pipeline order.
    pub fn sources(&self) -> Result<Vec<Source>, PipelineError> {
        self.spec
            .sources
            .iter()
            .enumerate()
            .map(|(i, s)| resolve_source(&self.dir, i + 1, s).map_err(PipelineError::from))
            .collect()
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
    }
}
