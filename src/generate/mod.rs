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

pub fn generate(opts: &GenerateOptions) -> Result<Generated, String> {
    let plan = plan::district(opts.quarter, opts.seed);
    std::fs::create_dir_all(&opts.out).map_err(|e| format!("cannot create {}: {e}", opts.out.display()))?;
    let files = exports::write_all(&plan, &opts.out)?;
    let pipeline = opts.out.join("pipeline.toml");
    std::fs::write(&pipeline, exports::pipeline_toml(&plan)).map_err(|e| e.to_string())?;
    std::fs::write(opts.out.join("README.md"), plan.readme()).map_err(|e| e.to_string())?;
    let planted = serde_json::to_string_pretty(&plan.planted).map_err(|e| e.to_string())?;
    std::fs::write(opts.out.join("planted.json"), planted).map_err(|e| e.to_string())?;
    Ok(Generated { pipeline, files: files + 3, plan })
}

/// The demo's quarter (`govmedia demo`, and `generate`'s default).
pub const DEMO_QUARTER: Quarter = Quarter { year: 2019, q: 3 };

pub fn default_out() -> &'static Path {
    Path::new("demo")
}
