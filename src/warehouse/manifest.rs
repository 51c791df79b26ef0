//! The manifest: the one object that says which files make up each table. A stage writes new files
//! and then replaces the manifest in one put, so readers see the old state or the new, never half.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// Increases by one with every commit.
    pub version: u64,
    pub updated_at: String,
    /// What made this version (e.g. `ingest run 20191001-…`).
    pub updated_by: String,
    pub tables: BTreeMap<String, TableFiles>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TableFiles {
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileEntry {
    /// Path relative to the warehouse root.
    pub path: String,
    pub rows: u64,
    pub bytes: u64,
    /// Partition values (`platform`, `quarter`; `month` in warehouses written before quarters), so a reader can pick only what it needs.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub partition: BTreeMap<String, String>,
    /// The columns the file's rows are sorted by (`crate::table::stored_order`), when they are.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sorted_by: Vec<String>,
}

impl Manifest {
    pub fn files(&self, table: &str) -> &[FileEntry] {
        self.tables.get(table).map(|t| t.files.as_slice()).unwrap_or(&[])
    }
    pub fn rows(&self, table: &str) -> u64 {
        self.files(table).iter().map(|f| f.rows).sum()
    }
    pub fn has(&self, table: &str) -> bool {
        self.tables.contains_key(table)
    }
    /// Replaces a table's files.
    pub fn set(&mut self, table: &str, files: Vec<FileEntry>) {
        self.tables.insert(table.to_string(), TableFiles { files });
    }
    /// Adds files to a table (append-only tables such as `rejects`).
    pub fn append(&mut self, table: &str, files: Vec<FileEntry>) {
        self.tables.entry(table.to_string()).or_default().files.extend(files);
    }
    /// Replaces the files of one partition value (e.g. one quarter of a mart).
    pub fn replace_partition(&mut self, table: &str, key: &str, value: &str, files: Vec<FileEntry>) {
        let t = self.tables.entry(table.to_string()).or_default();
        t.files.retain(|f| f.partition.get(key).map(String::as_str) != Some(value));
        t.files.extend(files);
    }
    pub fn all_paths(&self) -> impl Iterator<Item = &str> {
        self.tables.values().flat_map(|t| t.files.iter().map(|f| f.path.as_str()))
    }
}
