//! Ingest (SPEC §3): export files → normalised, deduplicated staging tables, every row accounted for.
//!
//! A source format is an adapter behind [`Format`]: it reads one file and returns, for every data row,
//! a canonical row, a rejection with its reason, or "merged into another row". The run
//! ([`run::ingest`]) orders the sources, applies the natural keys (newer wins), merges posts seen in
//! two sources, and commits the staging tables in one manifest swap.

mod accounting;
pub mod columns;
pub mod fields;
pub mod formats;
mod merge;
mod partitioned;
pub mod read;
pub mod run;
pub mod source;

use crate::privacy::Secret;
use crate::table::{self, Row, TableDef};
use read::Loc;
use std::collections::{HashMap, HashSet};

/// A source kind or format name that is none of the known ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnknownName {
    #[error("unknown source kind '{name}' (one of: {known})")]
    Kind { name: String, known: String },
    #[error("unknown format '{name}' (one of: {known})")]
    Format { name: String, known: String },
}

/// The source kinds of SPEC §3, in the order one run ingests them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Calendar,
    Registry,
    Filings,
    Posts,
    Interactions,
    Followers,
    Directives,
    SelfInspections,
    Findings,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::Calendar,
        Kind::Registry,
        Kind::Filings,
        Kind::Posts,
        Kind::Interactions,
        Kind::Followers,
        Kind::Directives,
        Kind::SelfInspections,
        Kind::Findings,
    ];

    pub fn name(self) -> &'static str {
        self.table().name
    }

    pub fn parse(s: &str) -> Result<Kind, UnknownName> {
        Kind::ALL.into_iter().find(|k| k.name() == s.trim()).ok_or_else(|| {
            let names: Vec<_> = Kind::ALL.iter().map(|k| k.name()).collect();
            UnknownName::Kind { name: s.to_string(), known: names.join(", ") }
        })
    }

    /// Whether the kind holds public messages: their rows may name or describe a person, so
    /// neither the row nor a cell's value is kept or shown with a rejection.
    pub fn holds_messages(self) -> bool {
        self == Kind::Interactions
    }

    pub fn table(self) -> &'static TableDef {
        match self {
            Kind::Calendar => &table::CALENDAR,
            Kind::Registry => &table::REGISTRY,
            Kind::Filings => &table::FILINGS,
            Kind::Posts => &table::POSTS,
            Kind::Interactions => &table::INTERACTIONS,
            Kind::Followers => &table::FOLLOWERS,
            Kind::Directives => &table::DIRECTIVES,
            Kind::SelfInspections => &table::SELF_INSPECTIONS,
            Kind::Findings => &table::FINDINGS,
        }
    }
}

/// What one data row of a file became.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// A canonical row (without `source_file` and `ingested_at`, which the run adds).
    Row(Row),
    Rejected(String),
    /// Folded into another row of the same file (a reply that became its message's reply time).
    Merged,
}

#[derive(Debug, Clone)]
pub struct ParsedRow {
    pub loc: Loc,
    pub raw: String,
    pub outcome: Outcome,
}

/// A file that cannot be ingested at all; the run reports it and goes on with the other files.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FileError {
    #[error(transparent)]
    Read(#[from] read::ReadError),
    #[error("missing required column(s) {0}")]
    MissingColumn(String),
    #[error("{0}")]
    Account(String),
    #[error("{0}")]
    Other(String),
}

/// (platform, post_id) → account_id of every post, keyed with the hasher of the ingest's other
/// large maps (`foldhash`): a city's comments look up hundreds of thousands of posts.
pub type PostOwners = HashMap<(String, String), String, foldhash::fast::RandomState>;

/// Facts a file's rows are checked and completed against: the register, the posts seen so far,
/// the run's time.
#[derive(Debug, Default)]
pub struct Lookup {
    /// When the ingest run started (UTC microseconds); instants more than a year after it are
    /// refused. `None` (a file read outside a run): the clock's time.
    pub run_at: Option<i64>,
    /// (platform, account_id) of register accounts.
    pub accounts: HashSet<(String, String)>,
    /// The account_ids of `accounts`, whatever their platform (a file's folder names one).
    pub account_ids: HashSet<String>,
    /// creator_hash → (platform, account_id), for MediaCrawler dumps.
    pub creator_hashes: HashMap<String, (String, String)>,
    /// (platform, post_id) → account_id, merged-away ids included.
    pub post_owners: PostOwners,
}

impl Lookup {
    pub fn add_account(&mut self, platform: &str, account_id: &str) {
        self.accounts.insert((platform.to_string(), account_id.to_string()));
        self.account_ids.insert(account_id.to_string());
        self.creator_hashes.insert(creator_hash(account_id), (platform.to_string(), account_id.to_string()));
    }
    /// [`Lookup::run_at`], or now.
    pub fn run_at(&self) -> i64 {
        self.run_at.unwrap_or_else(|| chrono::Utc::now().timestamp_micros())
    }
    pub fn has_account_id(&self, account_id: &str) -> bool {
        self.account_ids.contains(account_id)
    }
    /// Whether `hash` is the creator_hash of `account_id` (a register account's is looked up, not
    /// computed again).
    pub fn is_creator_hash_of(&self, hash: &str, account_id: &str) -> bool {
        match self.creator_hashes.get(hash) {
            Some((_, a)) => a == account_id,
            None if self.account_ids.contains(account_id) => false,
            None => hash == creator_hash(account_id),
        }
    }
}

/// MediaCrawler's `creator_hash`: hex(sha256(account_id))[:16].
pub fn creator_hash(account_id: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(account_id.as_bytes()))[..16].to_string()
}

/// What a format needs to know about the file it reads.
pub struct FileContext<'a> {
    pub kind: Kind,
    /// The file's path relative to the pipeline file (as stored in `source_file`).
    pub display: String,
    /// The file name's stem (weibo-crawler's user id, a comment file's article).
    pub stem: String,
    /// The account for formats that name none: the source's `account`, else the parent folder.
    pub account: Option<String>,
    /// A platform given for the source, or found in the path (`douyin/`, `weibo/`).
    pub platform: Option<String>,
    pub as_of: Option<chrono::NaiveDate>,
    pub lookup: &'a Lookup,
    pub secret: &'a Secret,
}

impl FileContext<'_> {
    /// The account for a format whose files name none; it must be an account of the register.
    pub fn folder_account(&self) -> Result<String, FileError> {
        let account = self.account.clone().ok_or_else(|| {
            FileError::Account(
                "the file names no account: put it in a folder named after the account_id, or set `account` for the source".into(),
            )
        })?;
        if !self.lookup.has_account_id(&account) {
            return Err(FileError::Account(format!(
                "account '{account}' (from the folder name or the source's `account`) is not an account_id of the register"
            )));
        }
        Ok(account)
    }
}

/// A source format: one adapter per export style.
pub trait Format: Sync {
    fn name(&self) -> &'static str;
    /// The kinds this format can feed.
    fn kinds(&self) -> &'static [Kind];
    fn parse(&self, ctx: &FileContext, bytes: &[u8]) -> Result<Vec<ParsedRow>, FileError>;
    /// The file as Arrow columns, for formats that can read it without row values (large CSV
    /// exports); `None` when this format reads this file only through [`Format::parse`]. Both
    /// give the same rows, rejects and counts.
    fn parse_columns(&self, _ctx: &FileContext, _bytes: &[u8]) -> Option<Result<ColumnarFile, FileError>> {
        None
    }
    /// Whether the format looks up the posts' owners ([`Lookup::post_owners`]).
    fn needs_post_owners(&self) -> bool {
        false
    }
}

/// A file read into columns: the rows it gave (without `source_file` and `ingested_at`), how many
/// data rows it had, and the rejected ones (where, the row as read, why).
pub struct ColumnarFile {
    pub batch: arrow::array::RecordBatch,
    pub read: u64,
    pub rejects: Vec<(Loc, String, String)>,
}
