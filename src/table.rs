//! Rows and schemas of the warehouse tables: one generic row type, converted to and from Arrow.
//!
//! Every staging table (SPEC §4, §10) is described as data: its columns, their Arrow types, and its
//! natural key. Ingest adapters produce [`Row`]s in that column order; this module turns them into
//! `RecordBatch`es and back, so no per-table conversion code exists.

use arrow::array::{
    Array, ArrayRef, BooleanArray, BooleanBuilder, Date32Array, Date32Builder, Float64Array, Float64Builder, Int64Array, Int64Builder,
    LargeStringArray, RecordBatch, StringArray, StringBuilder, StringViewArray, TimestampMicrosecondArray, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    Utf8,
    Int64,
    Float64,
    Boolean,
    /// Arrow Date32 (a Beijing calendar date).
    Date,
    /// Arrow Timestamp(Microsecond, "UTC").
    Instant,
}

impl ColType {
    pub fn arrow(self) -> DataType {
        match self {
            ColType::Utf8 => DataType::Utf8,
            ColType::Int64 => DataType::Int64,
            ColType::Float64 => DataType::Float64,
            ColType::Boolean => DataType::Boolean,
            ColType::Date => DataType::Date32,
            ColType::Instant => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// Days since 1970-01-01.
    Date(i32),
    /// Microseconds since the epoch, UTC.
    Instant(i64),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_instant(&self) -> Option<i64> {
        match self {
            Value::Instant(v) => Some(*v),
            _ => None,
        }
    }
    pub fn as_date(&self) -> Option<i32> {
        match self {
            Value::Date(v) => Some(*v),
            _ => None,
        }
    }
    /// A key fragment: equal values give equal strings.
    pub fn key_part(&self) -> String {
        match self {
            Value::Null => "\u{0}".into(),
            Value::Str(s) => s.clone(),
            Value::Int(v) => v.to_string(),
            Value::Float(v) => v.to_string(),
            Value::Bool(v) => v.to_string(),
            Value::Date(v) => format!("d{v}"),
            Value::Instant(v) => format!("t{v}"),
        }
    }
}

pub type Row = Vec<Value>;

/// Builds a canonical row by column name; unset columns are NULL.
pub struct RowBuilder {
    table: &'static TableDef,
    values: Row,
}

impl RowBuilder {
    pub fn new(table: &'static TableDef) -> RowBuilder {
        RowBuilder { table, values: vec![Value::Null; table.columns.len()] }
    }
    pub fn set(&mut self, column: &str, v: Value) -> &mut Self {
        let i = self.table.index(column);
        self.values[i] = v;
        self
    }
    pub fn str(&mut self, column: &str, s: impl Into<String>) -> &mut Self {
        self.set(column, Value::Str(s.into()))
    }
    pub fn finish(self) -> Row {
        self.values
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub ty: ColType,
}

pub const fn col(name: &'static str, ty: ColType) -> Column {
    Column { name, ty }
}

/// A warehouse table: name, columns and natural key (column names).
#[derive(Debug)]
pub struct TableDef {
    pub name: &'static str,
    pub columns: &'static [Column],
    pub key: &'static [&'static str],
}

impl TableDef {
    pub fn index(&self, name: &str) -> usize {
        self.columns.iter().position(|c| c.name == name).unwrap_or_else(|| panic!("table {} has no column {name}", self.name))
    }

    pub fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new(self.columns.iter().map(|c| Field::new(c.name, c.ty.arrow(), true)).collect::<Vec<_>>()))
    }

    pub fn key_of(&self, row: &Row) -> String {
        let mut k = String::new();
        for name in self.key {
            k.push_str(&row[self.index(name)].key_part());
            k.push('\u{1f}');
        }
        k
    }

    pub fn to_batch(&self, rows: &[Row]) -> Result<RecordBatch, arrow::error::ArrowError> {
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.columns.len());
        for (i, c) in self.columns.iter().enumerate() {
            arrays.push(build_array(c.ty, rows, i));
        }
        RecordBatch::try_new(self.schema(), arrays)
    }

    /// Row `i` of a batch in this table's layout (columns in the table's order).
    pub fn row_at(&self, batch: &RecordBatch, i: usize) -> Row {
        batch.columns().iter().map(|a| value_at(a.as_ref(), i)).collect()
    }

    /// Rows of a batch read back from the warehouse; columns are matched by name, and a column the
    /// batch lacks (an older layout) reads as NULL.
    pub fn rows_from_batch(&self, batch: &RecordBatch) -> Vec<Row> {
        let n = batch.num_rows();
        let mut rows: Vec<Row> = (0..n).map(|_| Vec::with_capacity(self.columns.len())).collect();
        for c in self.columns {
            match batch.column_by_name(c.name) {
                Some(a) => {
                    for (i, row) in rows.iter_mut().enumerate() {
                        row.push(value_at(a.as_ref(), i));
                    }
                }
                None => rows.iter_mut().for_each(|r| r.push(Value::Null)),
            }
        }
        rows
    }
}

/// Column `i` of `rows` as an array of its type. The builders are sized to the rows: a builder's
/// default capacity (1,024 values) stays with the array it makes, and an ingest of 50,000 small
/// files (a WeChat comment list per article) held gigabytes of it.
fn build_array(ty: ColType, rows: &[Row], i: usize) -> ArrayRef {
    let n = rows.len();
    let values = rows.iter().map(|r| &r[i]);
    match ty {
        ColType::Utf8 => {
            let bytes = values.clone().map(|v| if let Value::Str(s) = v { s.len() } else { 0 }).sum();
            let mut b = StringBuilder::with_capacity(n, bytes);
            for v in values {
                match v {
                    Value::Str(s) => b.append_value(s),
                    _ => b.append_null(),
                }
            }
            Arc::new(b.finish())
        }
        ColType::Int64 => {
            let mut b = Int64Builder::with_capacity(n);
            values.for_each(|v| b.append_option(if let Value::Int(x) = v { Some(*x) } else { None }));
            Arc::new(b.finish())
        }
        ColType::Float64 => {
            let mut b = Float64Builder::with_capacity(n);
            values.for_each(|v| b.append_option(if let Value::Float(x) = v { Some(*x) } else { None }));
            Arc::new(b.finish())
        }
        ColType::Boolean => {
            let mut b = BooleanBuilder::with_capacity(n);
            values.for_each(|v| b.append_option(if let Value::Bool(x) = v { Some(*x) } else { None }));
            Arc::new(b.finish())
        }
        ColType::Date => {
            let mut b = Date32Builder::with_capacity(n);
            values.for_each(|v| b.append_option(if let Value::Date(x) = v { Some(*x) } else { None }));
            Arc::new(b.finish())
        }
        ColType::Instant => {
            let mut b = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
            values.for_each(|v| b.append_option(if let Value::Instant(x) = v { Some(*x) } else { None }));
            Arc::new(b.finish())
        }
    }
}

fn value_at(a: &dyn Array, i: usize) -> Value {
    if a.is_null(i) {
        return Value::Null;
    }
    let any = a.as_any();
    if let Some(x) = any.downcast_ref::<StringArray>() {
        Value::Str(x.value(i).to_string())
    } else if let Some(x) = any.downcast_ref::<StringViewArray>() {
        Value::Str(x.value(i).to_string())
    } else if let Some(x) = any.downcast_ref::<LargeStringArray>() {
        Value::Str(x.value(i).to_string())
    } else if let Some(x) = any.downcast_ref::<Int64Array>() {
        Value::Int(x.value(i))
    } else if let Some(x) = any.downcast_ref::<Float64Array>() {
        Value::Float(x.value(i))
    } else if let Some(x) = any.downcast_ref::<BooleanArray>() {
        Value::Bool(x.value(i))
    } else if let Some(x) = any.downcast_ref::<Date32Array>() {
        Value::Date(x.value(i))
    } else if let Some(x) = any.downcast_ref::<TimestampMicrosecondArray>() {
        Value::Instant(x.value(i))
    } else {
        Value::Null
    }
}

use ColType::*;

const REGISTRY_COLS: &[Column] = &[
    col("unit_name", Utf8),
    col("unit_type", Utf8),
    col("platform", Utf8),
    col("account_name", Utf8),
    col("account_id", Utf8),
    col("opened_on", Date),
    col("state", Utf8),
    col("interaction_enabled", Boolean),
    col("maintainer", Utf8),
    // Where the unit sits (optional, SPEC §3.1 as extended by issue #16): the city (所属市) and the
    // district or county (所属区县). Registers without them load as before, with both NULL.
    col("city", Utf8),
    col("district", Utf8),
    col("source_file", Utf8),
    col("ingested_at", Instant),
];
pub static REGISTRY: TableDef = TableDef { name: "registry", columns: REGISTRY_COLS, key: &["platform", "account_id"] };

const FILINGS_COLS: &[Column] = &[
    col("unit_name", Utf8),
    col("platform", Utf8),
    col("account_id", Utf8),
    col("account_name", Utf8),
    col("action", Utf8),
    col("action_date", Date),
    col("filed_on", Date),
    col("announced_on", Date),
    col("source_file", Utf8),
    col("ingested_at", Instant),
];
pub static FILINGS: TableDef =
    TableDef { name: "filings", columns: FILINGS_COLS, key: &["platform", "account_id", "action", "action_date"] };

const POSTS_COLS: &[Column] = &[
    col("platform", Utf8),
    col("account_id", Utf8),
    col("post_id", Utf8),
    col("published_at", Instant),
    col("title", Utf8),
    col("kind", Utf8),
    col("repost_of", Utf8),
    col("position", Int64),
    col("reads", Int64),
    col("wows", Int64),
    col("likes", Int64),
    col("comments", Int64),
    col("shares", Int64),
    col("url", Utf8),
    col("source_file", Utf8),
    col("ingested_at", Instant),
];
pub static POSTS: TableDef = TableDef { name: "posts", columns: POSTS_COLS, key: &["platform", "post_id"] };

/// Post ids merged into another post (SPEC §5 preamble): they still lead comments to the account.
const POST_ALIASES_COLS: &[Column] = &[
    col("platform", Utf8),
    col("post_id", Utf8),
    col("account_id", Utf8),
    col("merged_into", Utf8),
    col("source_file", Utf8),
    col("ingested_at", Instant),
];
pub static POST_ALIASES: TableDef = TableDef { name: "post_aliases", columns: POST_ALIASES_COLS, key: &["platform", "post_id"] };

const INTERACTIONS_COLS: &[Column] = &[
    col("platform", Utf8),
    col("account_id", Utf8),
    col("message_id", Utf8),
    col("channel", Utf8),
    col("received_at", Instant),
    // HMAC-SHA256 of the author with the warehouse secret; never the author in clear.
    col("author", Utf8),
    col("replied_at", Instant),
    col("source_file", Utf8),
    col("ingested_at", Instant),
];
pub static INTERACTIONS: TableDef =
    TableDef { name: "interactions", columns: INTERACTIONS_COLS, key: &["platform", "account_id", "message_id"] };

/// The order of the rows in each stored file of posts and of public messages: by platform, account
/// and instant, each ascending with NULLs last (the order SQL's `ORDER BY … ASC` asks for, strings
/// by their bytes). Ingest and the generator write their files in it and record it in the manifest
/// (`FileEntry::sorted_by`); a build declares it to DataFusion for a table whose every file has it,
/// so that the per-account windows and aggregates of the models read the rows in order instead of
/// sorting or hashing them again.
pub fn stored_order(def: &TableDef) -> Option<[&'static str; 3]> {
    (def.name == POSTS.name || def.name == INTERACTIONS.name).then(|| ["platform", "account_id", instant_column(def)])
}

/// [`stored_order`] as a file's manifest entry records it (`FileEntry::sorted_by`): empty for a
/// table stored in no order.
pub fn stored_order_names(def: &TableDef) -> Vec<String> {
    stored_order(def).map(|o| o.map(String::from).to_vec()).unwrap_or_default()
}

/// The instant of a post or a public message: it orders an account's rows ([`stored_order`]), and
/// with the platform it names the partition (the quarter) a row is stored in.
pub fn instant_column(def: &TableDef) -> &'static str {
    if def.name == POSTS.name {
        "published_at"
    } else {
        "received_at"
    }
}

const FOLLOWERS_COLS: &[Column] = &[
    col("platform", Utf8),
    col("account_id", Utf8),
    col("date", Date),
    col("followers", Int64),
    col("source_file", Utf8),
    col("ingested_at", Instant),
];
pub static FOLLOWERS: TableDef = TableDef { name: "followers", columns: FOLLOWERS_COLS, key: &["platform", "account_id", "date"] };

const DIRECTIVES_COLS: &[Column] = &[
    col("directive_id", Utf8),
    col("title", Utf8),
    col("source_platform", Utf8),
    col("source_post_id", Utf8),
    col("published_at", Instant),
    col("deadline_hours", Int64),
    // Unit names joined by `、`; NULL = every unit of the register.
    col("units", Utf8),
    col("source_file", Utf8),
    col("ingested_at", Instant),
];
pub static DIRECTIVES: TableDef = TableDef { name: "directives", columns: DIRECTIVES_COLS, key: &["directive_id"] };

const SELF_INSPECTIONS_COLS: &[Column] = &[
    col("unit_name", Utf8),
    col("month", Utf8),
    col("published_on", Date),
    col("url", Utf8),
    col("source_file", Utf8),
    col("ingested_at", Instant),
];
pub static SELF_INSPECTIONS: TableDef = TableDef { name: "self_inspections", columns: SELF_INSPECTIONS_COLS, key: &["unit_name", "month"] };

const FINDINGS_COLS: &[Column] = &[
    col("platform", Utf8),
    col("account_id", Utf8),
    col("post_id", Utf8),
    col("found_on", Date),
    col("kind", Utf8),
    col("corrected_on", Date),
    col("note", Utf8),
    col("source_file", Utf8),
    col("ingested_at", Instant),
];
pub static FINDINGS: TableDef =
    TableDef { name: "findings", columns: FINDINGS_COLS, key: &["platform", "account_id", "post_id", "found_on", "kind"] };

const CALENDAR_COLS: &[Column] =
    &[col("date", Date), col("kind", Utf8), col("name", Utf8), col("source_file", Utf8), col("ingested_at", Instant)];
pub static CALENDAR: TableDef = TableDef { name: "calendar", columns: CALENDAR_COLS, key: &["date"] };

const REJECTS_COLS: &[Column] = &[
    col("run_id", Utf8),
    col("kind", Utf8),
    col("format", Utf8),
    col("source_file", Utf8),
    col("line", Int64),
    col("sheet", Utf8),
    col("reason", Utf8),
    col("raw", Utf8),
    col("ingested_at", Instant),
];
/// Rejected rows and files (SPEC §3): append-only, one batch per run.
pub static REJECTS: TableDef = TableDef { name: "rejects", columns: REJECTS_COLS, key: &[] };

const INGEST_FILES_COLS: &[Column] = &[
    col("run_id", Utf8),
    col("kind", Utf8),
    col("format", Utf8),
    col("source_file", Utf8),
    col("status", Utf8),
    col("read", Int64),
    col("loaded", Int64),
    col("rejected", Int64),
    col("duplicates", Int64),
    col("merged", Int64),
    col("error", Utf8),
    col("ingested_at", Instant),
];
/// The ingest summary of every file of every run.
pub static INGEST_FILES: TableDef = TableDef { name: "ingest_files", columns: INGEST_FILES_COLS, key: &[] };

/// Staging tables, in the order SPEC §3 ingests their kinds.
pub static STAGING: &[&TableDef] =
    &[&CALENDAR, &REGISTRY, &FILINGS, &POSTS, &POST_ALIASES, &INTERACTIONS, &FOLLOWERS, &DIRECTIVES, &SELF_INSPECTIONS, &FINDINGS];

pub fn staging_table(name: &str) -> Option<&'static TableDef> {
    STAGING.iter().copied().find(|t| t.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_survive_a_round_trip_through_arrow() {
        let rows = vec![vec![
            Value::Str("weibo".into()),
            Value::Str("5000000001".into()),
            Value::Str("p1".into()),
            Value::Instant(1_561_910_400_000_000),
            Value::Str("标题".into()),
            Value::Str("original".into()),
            Value::Null,
            Value::Int(1),
            Value::Int(10),
            Value::Null,
            Value::Int(3),
            Value::Null,
            Value::Int(0),
            Value::Null,
            Value::Str("f.csv".into()),
            Value::Instant(1),
        ]];
        let batch = POSTS.to_batch(&rows).unwrap();
        assert_eq!(POSTS.rows_from_batch(&batch), rows);
        assert_eq!(batch.schema().field(3).data_type(), &ColType::Instant.arrow());
    }
}
