//! What a run accounts for: per file the five numbers of SPEC §3, the rejected rows, and the rows
//! of this run with their precedence, as the run, the row merge and the partitioned merge share them.

use super::read::Loc;
use crate::table::Row;
use std::collections::BTreeMap;

/// What one file gave: SPEC §3's five numbers (read = loaded + rejected + duplicates + merged).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileReport {
    pub kind: String,
    pub format: String,
    pub source_file: String,
    pub read: u64,
    pub loaded: u64,
    pub rejected: u64,
    pub duplicates: u64,
    pub merged: u64,
    /// Why the whole file was skipped, if it was.
    pub error: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Reject {
    pub kind: String,
    pub format: String,
    pub source_file: String,
    pub loc: Option<Loc>,
    pub reason: String,
    pub raw: String,
}

#[derive(Debug)]
pub struct IngestReport {
    pub run_id: String,
    pub files: Vec<FileReport>,
    pub rejects: Vec<Reject>,
    /// Rows of each staging table after the run.
    pub tables: BTreeMap<String, u64>,
    pub manifest_version: u64,
}

impl IngestReport {
    pub fn failed_files(&self) -> usize {
        self.files.iter().filter(|f| f.error.is_some()).count()
    }
}

/// A row of this run, with where it came from and its precedence (higher = newer).
pub(super) struct Candidate {
    pub(super) row: Row,
    pub(super) file: usize,
    pub(super) seq: u64,
}
