//! Ad-hoc SQL over the warehouse (`govmedia sql`, SPEC §10): the shell and one-shot printing of a
//! query's rows as a table, CSV, JSON or Parquet. The session they run in is the engine's
//! ([`crate::engine::warehouse_session`]): every staging table and mart by name, read-only.

mod output;
pub mod shell;

pub use output::{escape_controls, escape_text, stream_query, write_batches, OutputFormat, Sink, Written};

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
    #[error("{0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
    #[error("{0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("{0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the shell's line editor: {0}")]
    Readline(#[from] rustyline::error::ReadlineError),
    #[error("--format parquet writes a file: give --output FILE")]
    ParquetNeedsFile,
}
