//! Writing a query's rows: batch by batch as the engine produces them, so a large result never
//! sits whole in memory (the engine's own operators stay within the session's memory pool). An
//! aligned table needs its rows at hand to size the columns, so it shows at most `max_rows`.

use super::QueryError;
use arrow::array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use std::io::Write;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum OutputFormat {
    /// An aligned text table (at most --max-rows rows; control characters shown escaped).
    #[default]
    Table,
    /// CSV with a header row (UTF-8 with BOM when written to a file, so Excel reads Chinese).
    Csv,
    /// JSON Lines: one object per row.
    Json,
    /// Parquet (needs --output).
    Parquet,
}

/// Where and how rows are written.
pub struct Sink<'a> {
    pub format: OutputFormat,
    pub out: &'a mut dyn Write,
    /// A byte-order mark before CSV (files meant for Excel).
    pub bom: bool,
    /// The table format's row cap.
    pub max_rows: usize,
}

/// What was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub rows: usize,
    /// The table format stopped at its cap with rows left.
    pub truncated: bool,
}

/// Runs a read-only query and writes its rows as they arrive.
pub async fn stream_query(ctx: &SessionContext, sql: &str, sink: Sink<'_>) -> Result<Written, QueryError> {
    let df = crate::engine::read_only_query(ctx, sql).await?;
    let mut stream = df.execute_stream().await?;
    // The physical schema, which the batches carry (nullability may differ from the plan's).
    let schema: Arc<Schema> = stream.schema();
    let mut rows = 0usize;
    match sink.format {
        OutputFormat::Table => {
            let mut shown = Vec::new();
            let mut truncated = false;
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                let room = sink.max_rows - rows;
                if batch.num_rows() > room {
                    truncated = true;
                    if room > 0 {
                        shown.push(batch.slice(0, room));
                        rows += room;
                    }
                    // Dropping the stream stops the query.
                    break;
                }
                rows += batch.num_rows();
                shown.push(batch);
            }
            write_table(&schema, &shown, sink.out)?;
            Ok(Written { rows, truncated })
        }
        OutputFormat::Csv => {
            if sink.bom {
                sink.out.write_all(b"\xEF\xBB\xBF")?;
            }
            let mut w = arrow::csv::WriterBuilder::new().with_header(true).build(&mut *sink.out);
            let mut any = false;
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                rows += batch.num_rows();
                any = true;
                w.write(&batch)?;
            }
            if !any {
                // No rows: still the header, so the file says what its columns are.
                w.write(&RecordBatch::new_empty(schema))?;
            }
            Ok(Written { rows, truncated: false })
        }
        OutputFormat::Json => {
            let mut w = arrow::json::LineDelimitedWriter::new(&mut *sink.out);
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                rows += batch.num_rows();
                w.write(&batch)?;
            }
            w.finish()?;
            Ok(Written { rows, truncated: false })
        }
        OutputFormat::Parquet => {
            // The encoder writes into a buffer that is emptied into the output after each batch
            // (the writer counts offsets itself), so the output need not be `Send`.
            let mut w = parquet::arrow::ArrowWriter::try_new(Vec::new(), schema, None)?;
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                rows += batch.num_rows();
                w.write(&batch)?;
                let encoded = w.inner_mut();
                sink.out.write_all(encoded)?;
                encoded.clear();
            }
            sink.out.write_all(&w.into_inner()?)?;
            Ok(Written { rows, truncated: false })
        }
    }
}

/// Writes batches already in memory (the shell's meta-commands, small results).
pub fn write_batches(batches: &[RecordBatch], format: OutputFormat, out: &mut dyn Write, bom: bool) -> Result<(), QueryError> {
    match format {
        OutputFormat::Table => {
            let schema = batches.first().map(|b| b.schema()).unwrap_or_else(|| Arc::new(Schema::empty()));
            write_table(&schema, batches, out)?;
        }
        OutputFormat::Csv => {
            if bom {
                out.write_all(b"\xEF\xBB\xBF")?;
            }
            let mut w = arrow::csv::WriterBuilder::new().with_header(true).build(out);
            for b in batches {
                w.write(b)?;
            }
        }
        OutputFormat::Json => {
            let mut w = arrow::json::LineDelimitedWriter::new(out);
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
        }
        OutputFormat::Parquet => return Err(QueryError::ParquetNeedsFile),
    }
    Ok(())
}

/// An aligned table. Text is shown with its control characters escaped (`\u{1b}`, `\n`): cell
/// values come from exports, and raw escape sequences would drive the terminal.
fn write_table(schema: &Arc<Schema>, batches: &[RecordBatch], out: &mut dyn Write) -> Result<(), QueryError> {
    let shown: Vec<RecordBatch> = batches.iter().map(escape_controls).collect::<Result<_, _>>()?;
    let table = if shown.is_empty() {
        arrow::util::pretty::pretty_format_batches_with_schema(schema.clone(), &[])?.to_string()
    } else {
        arrow::util::pretty::pretty_format_batches(&shown)?.to_string()
    };
    writeln!(out, "{table}")?;
    Ok(())
}

/// The batch with every text column's control characters written as escapes.
pub fn escape_controls(batch: &RecordBatch) -> Result<RecordBatch, arrow::error::ArrowError> {
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        let is_text = matches!(field.data_type(), DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
        if !is_text {
            fields.push(field.as_ref().clone());
            columns.push(column.clone());
            continue;
        }
        let text = arrow::compute::cast(column, &DataType::Utf8)?;
        let text = text
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| arrow::error::ArrowError::CastError(format!("column {} is not text", field.name())))?;
        let escaped: StringArray = text.iter().map(|v| v.map(escape_text)).collect();
        fields.push(Field::new(field.name(), DataType::Utf8, field.is_nullable()));
        columns.push(Arc::new(escaped) as ArrayRef);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}

/// Characters a terminal table must not show raw: controls (escape sequences), and the
/// bidirectional marks and overrides that can reorder what a row appears to say.
fn is_unsafe(c: char) -> bool {
    c.is_control() || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with control characters and bidirectional overrides as Rust-style escapes; other
/// text unchanged.
pub fn escape_text(text: &str) -> String {
    if !text.chars().any(is_unsafe) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_unsafe(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_in_tables() {
        assert_eq!(escape_text("a\u{1b}[31mb\nc"), "a\\u{1b}[31mb\\u{a}c");
        assert_eq!(escape_text("x\u{202e}y"), "x\\u{202e}y");
        assert_eq!(escape_text("区政府"), "区政府");
        let batch = RecordBatch::try_from_iter(vec![("name", Arc::new(StringArray::from(vec!["x\u{7}"])) as ArrayRef)]).unwrap();
        let mut out = Vec::new();
        write_batches(&[batch], OutputFormat::Table, &mut out, false).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("x\\u{7}") && !text.contains('\u{7}'), "{text}");
    }
}
