//! govmedia: the pipeline and warehouse for assessing government new-media accounts
//! (政务新媒体). Exports → [`ingest`] → staging Parquet in the [`warehouse`] → SQL models → marts →
//! reports. See `SPEC.md`-derived docs in the README.

pub mod calendar;
pub mod cli;
#[cfg(feature = "cluster")]
pub mod cluster;
pub mod engine;
pub mod generate;
pub mod ingest;
pub mod models;
pub mod pipeline;
pub mod platform;
pub mod privacy;
pub mod query;
pub mod report;
#[cfg(feature = "serve")]
pub mod serve;
pub mod stages;
pub mod table;
pub mod time;
pub mod vocab;
pub mod warehouse;
pub mod watch;
