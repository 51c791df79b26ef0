//! The stages of a quarter in order — ingest, build, report — as `govmedia run` runs a pipeline
//! file's and `govmedia demo` the generated district's. What happens is told to the caller as
//! [`Event`]s (the command line prints them); nothing here prints.

use crate::ingest::run::{ingest, IngestError, IngestOptions, IngestReport};
use crate::models::rubric::Rubric;
use crate::models::{BuildReport, BuildScope, ModelError};
use crate::pipeline::{Pipeline, PipelineError};
use crate::report::ReportOutput;
use crate::time::{Quarter, TimeError};
use crate::warehouse::Warehouse;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Ingest,
    Build,
    Report,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::Ingest => "ingest",
            Stage::Build => "build",
            Stage::Report => "report",
        }
    }
}

/// What the stages run on besides the warehouse.
pub struct StagePlan<'a> {
    pub pipeline: &'a Pipeline,
    /// The quarter to build and report, over the pipeline file's `quarter`.
    pub quarter: Option<Quarter>,
    /// The report folder, over the pipeline file's `report_dir` (default `reports`).
    pub report_dir: Option<PathBuf>,
    pub ingest: IngestOptions,
    /// Convert the report's DOCX documents to PDF (LibreOffice).
    pub pdf: bool,
}

/// What happened, as it happens.
pub enum Event<'a> {
    Started(Stage),
    Ingested(&'a IngestReport),
    Built(&'a BuildReport),
    Reported { quarter: Quarter, report: &'a ReportOutput, elapsed: Duration },
    Finished(Stage, Duration),
}

/// What a run of stages leaves to say.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Files an ingest stage could not read (the run went on without them).
    pub failed_files: usize,
    pub report: Option<ReportOutput>,
    /// The report's documents could not be converted to PDF (everything else was written).
    pub pdf_failed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error("the {stage} stage needs a quarter: set `quarter` in {} or pass --quarter", file.display())]
    NoQuarter { stage: &'static str, file: PathBuf },
    #[error("{}: quarter {source}", file.display())]
    PipelineQuarter { file: PathBuf, source: TimeError },
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
    #[error("build {quarter} stopped: {failed} error-severity data test(s) failed; the marts of {quarter} were not replaced (see data_quality and data_quality_failures)")]
    ChecksFailed { quarter: String, failed: usize },
}

/// Runs `stages` in the order given.
pub async fn run_stages(
    wh: &Warehouse,
    plan: &StagePlan<'_>,
    stages: &[Stage],
    on: &mut dyn FnMut(Event<'_>),
) -> Result<Outcome, StageError> {
    let p = plan.pipeline;
    let quarter = |stage: Stage| -> Result<Quarter, StageError> {
        if let Some(q) = plan.quarter {
            return Ok(q);
        }
        let text = p.spec.quarter.as_deref().ok_or_else(|| StageError::NoQuarter { stage: stage.name(), file: p.file.clone() })?;
        Quarter::parse(text).map_err(|source| StageError::PipelineQuarter { file: p.file.clone(), source })
    };
    let mut outcome = Outcome::default();
    for &stage in stages {
        let started = Instant::now();
        on(Event::Started(stage));
        match stage {
            Stage::Ingest => {
                let sources = p.sources()?;
                let report = ingest(wh, &sources, &plan.ingest).await?;
                on(Event::Ingested(&report));
                outcome.failed_files += report.failed_files();
            }
            Stage::Build => {
                let rubric = p.spec.rubric.as_ref().map(|r| p.dir.join(r));
                build(wh, quarter(stage)?, p.spec.check_point.as_deref(), rubric.as_deref(), None, on).await?;
            }
            Stage::Report => {
                let out = match &plan.report_dir {
                    Some(dir) => dir.clone(),
                    None => p.spec.report_dir.as_ref().map(|r| p.dir.join(r)).unwrap_or_else(|| PathBuf::from("reports")),
                };
                // The rubric of the build: the report bands scores by its grades.
                let rubric = match &p.spec.rubric {
                    Some(r) => Rubric::load(&p.dir.join(r))?,
                    None => Rubric::builtin(),
                };
                let opts = crate::report::ReportOptions { notice: p.spec.notice.clone(), pdf: plan.pdf, rubric, level: None };
                let r = report(wh, quarter(stage)?, &out, &opts, on).await?;
                outcome.pdf_failed |= r.pdf_error.is_some();
                outcome.report = Some(r);
            }
        }
        on(Event::Finished(stage, started.elapsed()));
    }
    Ok(outcome)
}

/// The build inputs, checked: the scope (quarter and check point) and the rubric (built in unless
/// a file is given).
pub fn build_inputs(quarter: Quarter, check_point: Option<&str>, rubric: Option<&Path>) -> Result<(BuildScope, Rubric), ModelError> {
    let scope = BuildScope::new(quarter, check_point)?;
    let rubric = match rubric {
        Some(p) => Rubric::load(p)?,
        None => Rubric::builtin(),
    };
    Ok((scope, rubric))
}

/// Builds a quarter and commits its marts; a failed error-severity data test is an error (the
/// marts stay as they were).
pub async fn build(
    wh: &Warehouse,
    quarter: Quarter,
    check_point: Option<&str>,
    rubric: Option<&Path>,
    models: Option<&Path>,
    on: &mut dyn FnMut(Event<'_>),
) -> Result<BuildReport, StageError> {
    build_on(&crate::engine::Engine::Local, wh, quarter, check_point, rubric, models, on).await
}

/// [`build`] on an engine: this process, or a Ballista cluster (`build --cluster`).
pub async fn build_on(
    engine: &crate::engine::Engine,
    wh: &Warehouse,
    quarter: Quarter,
    check_point: Option<&str>,
    rubric: Option<&Path>,
    models: Option<&Path>,
    on: &mut dyn FnMut(Event<'_>),
) -> Result<BuildReport, StageError> {
    let (scope, rubric) = build_inputs(quarter, check_point, rubric)?;
    let report = crate::models::build_on(engine, wh, scope, &rubric, models, true).await?;
    on(Event::Built(&report));
    if !report.failures().is_empty() {
        return Err(StageError::ChecksFailed { quarter: report.quarter.to_string(), failed: report.failures().len() });
    }
    Ok(report)
}

/// Writes a quarter's report into `out/QUARTER/`.
pub async fn report(
    wh: &Warehouse,
    quarter: Quarter,
    out: &Path,
    opts: &crate::report::ReportOptions,
    on: &mut dyn FnMut(Event<'_>),
) -> Result<ReportOutput, StageError> {
    let started = Instant::now();
    let r = crate::report::report(wh, &quarter.to_string(), out, opts).await?;
    on(Event::Reported { quarter, report: &r, elapsed: started.elapsed() });
    Ok(r)
}
