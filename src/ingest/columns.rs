//! A staging table's rows as Arrow columns: builders filled cell by cell (no row values in
//! between), and batches read back from the warehouse in the table's current layout.

use crate::table::{ColType, TableDef, Value};
use arrow::array::{
    new_null_array, Array, ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, RecordBatch, StringBuilder,
    TimestampMicrosecondBuilder,
};
use std::sync::Arc;

/// One parsed cell, borrowed from the file where it can be.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    Null,
    Str(&'a str),
    Owned(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Date(i32),
    Instant(i64),
}

impl Cell<'_> {
    pub fn is_null(&self) -> bool {
        matches!(self, Cell::Null)
    }
}

impl From<Value> for Cell<'static> {
    fn from(v: Value) -> Self {
        match v {
            Value::Null => Cell::Null,
            Value::Str(s) => Cell::Owned(s),
            Value::Int(x) => Cell::Int(x),
            Value::Float(x) => Cell::Float(x),
            Value::Bool(x) => Cell::Bool(x),
            Value::Date(x) => Cell::Date(x),
            Value::Instant(x) => Cell::Instant(x),
        }
    }
}

impl From<Cell<'_>> for Value {
    fn from(c: Cell) -> Self {
        match c {
            Cell::Null => Value::Null,
            Cell::Str(s) => Value::Str(s.to_string()),
            Cell::Owned(s) => Value::Str(s),
            Cell::Int(x) => Value::Int(x),
            Cell::Float(x) => Value::Float(x),
            Cell::Bool(x) => Value::Bool(x),
            Cell::Date(x) => Value::Date(x),
            Cell::Instant(x) => Value::Instant(x),
        }
    }
}

enum Builder {
    Str(StringBuilder),
    Int(Int64Builder),
    Float(Float64Builder),
    Bool(BooleanBuilder),
    Date(Date32Builder),
    Instant(TimestampMicrosecondBuilder),
}

impl Builder {
    fn append_null(&mut self) {
        match self {
            Builder::Str(b) => b.append_null(),
            Builder::Int(b) => b.append_null(),
            Builder::Float(b) => b.append_null(),
            Builder::Bool(b) => b.append_null(),
            Builder::Date(b) => b.append_null(),
            Builder::Instant(b) => b.append_null(),
        }
    }

    fn append_nulls(&mut self, n: usize) {
        match self {
            Builder::Str(b) => b.append_nulls(n),
            Builder::Int(b) => b.append_nulls(n),
            Builder::Float(b) => b.append_nulls(n),
            Builder::Bool(b) => b.append_nulls(n),
            Builder::Date(b) => b.append_nulls(n),
            Builder::Instant(b) => b.append_nulls(n),
        }
    }
}

/// Appends rows of cells (in the table's column order) to one Arrow builder per column.
pub struct TableBuilder {
    def: &'static TableDef,
    columns: Vec<Builder>,
    /// Per column, `Some(n)` while it has held only NULLs (n of them): they are appended when its
    /// first value comes, and a column that never gets one is made NULL at once. A file without an
    /// optional column, and the stamp columns a run fills later, cost no memory per row.
    leading_nulls: Vec<Option<usize>>,
    rows: usize,
}

impl TableBuilder {
    pub fn new(def: &'static TableDef) -> TableBuilder {
        TableBuilder::with_capacity(def, 0, &[])
    }

    /// Builders for `rows` rows, string column `i` with `bytes[i]` bytes of text (0 when absent):
    /// each column is allocated once instead of doubling as it fills.
    pub fn with_capacity(def: &'static TableDef, rows: usize, bytes: &[usize]) -> TableBuilder {
        let columns = def
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| match c.ty {
                ColType::Utf8 => Builder::Str(StringBuilder::with_capacity(rows, bytes.get(i).copied().unwrap_or(0))),
                ColType::Int64 => Builder::Int(Int64Builder::with_capacity(rows)),
                ColType::Float64 => Builder::Float(Float64Builder::with_capacity(rows)),
                ColType::Boolean => Builder::Bool(BooleanBuilder::with_capacity(rows)),
                ColType::Date => Builder::Date(Date32Builder::with_capacity(rows)),
                ColType::Instant => Builder::Instant(TimestampMicrosecondBuilder::with_capacity(rows).with_timezone("UTC")),
            })
            .collect();
        TableBuilder { def, columns, leading_nulls: vec![Some(0); def.columns.len()], rows: 0 }
    }

    /// Appends one row. A cell of another type than its column's is a bug of the parser that made
    /// it; it is stored as NULL (the conformance tests compare every column with the row path).
    pub fn push(&mut self, cells: &[Cell]) {
        debug_assert_eq!(cells.len(), self.columns.len());
        self.rows += 1;
        for ((b, c), nulls) in self.columns.iter_mut().zip(cells).zip(self.leading_nulls.iter_mut()) {
            if let Some(n) = nulls {
                if c.is_null() {
                    *n += 1;
                    continue;
                }
                b.append_nulls(*n);
                *nulls = None;
            }
            match (b, c) {
                (Builder::Str(b), Cell::Str(s)) => b.append_value(s),
                (Builder::Str(b), Cell::Owned(s)) => b.append_value(s),
                (Builder::Int(b), Cell::Int(x)) => b.append_value(*x),
                (Builder::Float(b), Cell::Float(x)) => b.append_value(*x),
                (Builder::Bool(b), Cell::Bool(x)) => b.append_value(*x),
                (Builder::Date(b), Cell::Date(x)) => b.append_value(*x),
                (Builder::Instant(b), Cell::Instant(x)) => b.append_value(*x),
                (b, c) => {
                    debug_assert!(c.is_null(), "{c:?} in a column of another type");
                    b.append_null()
                }
            }
        }
    }

    pub fn finish(mut self) -> Result<RecordBatch, arrow::error::ArrowError> {
        let schema = self.def.schema();
        let arrays: Vec<ArrayRef> = self
            .columns
            .iter_mut()
            .zip(&self.leading_nulls)
            .zip(schema.fields())
            .map(|((b, nulls), field)| -> ArrayRef {
                if nulls.is_some() {
                    return new_null_array(field.data_type(), self.rows);
                }
                match b {
                    Builder::Str(b) => Arc::new(b.finish()),
                    Builder::Int(b) => Arc::new(b.finish()),
                    Builder::Float(b) => Arc::new(b.finish()),
                    Builder::Bool(b) => Arc::new(b.finish()),
                    Builder::Date(b) => Arc::new(b.finish()),
                    Builder::Instant(b) => Arc::new(b.finish()),
                }
            })
            .collect();
        RecordBatch::try_new(schema, arrays)
    }
}

/// A batch in the table's current layout: columns matched by name, a column the batch lacks (an
/// older layout) NULL, and other string and time encodings cast to the table's.
pub fn conform(def: &TableDef, batch: &RecordBatch) -> Result<RecordBatch, arrow::error::ArrowError> {
    let schema = def.schema();
    let mut arrays = Vec::with_capacity(def.columns.len());
    for field in schema.fields() {
        let a = match batch.column_by_name(field.name()) {
            Some(a) if a.data_type() == field.data_type() => a.clone(),
            Some(a) => arrow::compute::cast(a, field.data_type())?,
            None => new_null_array(field.data_type(), batch.num_rows()),
        };
        arrays.push(a);
    }
    RecordBatch::try_new(schema, arrays)
}
