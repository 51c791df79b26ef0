//! Synthetic inputs: a fictional district's quarter of exports in the real formats (the demo and
//! the project's own tests), deterministic for a seed. The district (青禾区), its units, accounts
//! and people are invented; maintainers are pseudonyms.
//!
//! [`plan`] decides who does what (including the planted problems, listed in the output's
//! README.md and `planted.json`); [`exports`] writes the files an office would collect.

mod exports;
mod plan;
pub mod tier_exports;
pub mod tiers;

pub use plan::{Plan, Planted};

use crate::time::Quarter;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("cannot create {}: {source}", path.display())]
    CreateDir { path: PathBuf, source: std::io::Error },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
    /// A generated file could not be encoded; `what` names it.
    #[error("{what}: {reason}")]
    Encode { what: String, reason: String },
    /// A tier's export file; `source` says what failed.
    #[error("{}: {source}", path.display())]
    Export { path: PathBuf, source: Box<GenerateError> },
    /// `generate --tier` over a warehouse that holds data, without --force.
    #[error("warehouse {warehouse} already holds data (manifest version {version}, last written by `{by}`); generate --tier would replace all of it: choose an empty --warehouse, or pass --force to replace it")]
    NotEmpty { warehouse: String, version: u64, by: String },
    #[error(transparent)]
    Warehouse(#[from] crate::warehouse::WarehouseError),
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
    #[error("{0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("csv: {0}")]
    Csv(#[from] csv::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// An encoding failure of the file `what`.
fn encode(what: impl std::fmt::Display) -> impl Fn(&dyn std::fmt::Display) -> GenerateError {
    let what = what.to_string();
    move |e| GenerateError::Encode { what: what.clone(), reason: e.to_string() }
}

#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub out: PathBuf,
    pub quarter: Quarter,
    pub seed: u64,
}

/// What was written: the pipeline file to run and the planted facts.
#[derive(Debug)]
pub struct Generated {
    pub pipeline: PathBuf,
    pub files: usize,
    pub plan: Plan,
}

pub fn generate(opts: &GenerateOptions) -> Result<Generated, GenerateError> {
    let plan = plan::district(opts.quarter, opts.seed);
    std::fs::create_dir_all(&opts.out).map_err(|source| GenerateError::CreateDir { path: opts.out.clone(), source })?;
    let files = exports::write_all(&plan, &opts.out)?;
    let write = |path: PathBuf, text: String| std::fs::write(&path, text).map_err(|source| GenerateError::Write { path, source });
    let pipeline = opts.out.join("pipeline.toml");
    write(pipeline.clone(), exports::pipeline_toml(&plan))?;
    write(opts.out.join("README.md"), plan.readme())?;
    let planted_file = opts.out.join("planted.json");
    let planted = serde_json::to_string_pretty(&plan.planted).map_err(|e| encode(planted_file.display())(&e))?;
    write(planted_file, planted)?;
    Ok(Generated { pipeline, files: files + 3, plan })
}

/// The demo's quarter (`govmedia demo`, and `generate`'s default).
pub const DEMO_QUARTER: Quarter = Quarter { year: 2019, q: 3 };

pub fn default_out() -> &'static Path {
    Path::new("demo")
}
