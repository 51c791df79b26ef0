//! What the commands print: the ingest summary, the per-model build report, the data tests.

use crate::ingest::run::{FileReport, IngestReport};
use std::collections::HashMap;
use std::io::{self, Write};

/// The ingest summary on stdout (the rejected rows and unreadable files on stderr).
pub fn print_summary(report: &IngestReport) {
    // A closed pipe (`govmedia ingest … | head`) is no reason to fail a committed run.
    let _ = write_summary(&mut io::stdout().lock(), &mut io::stderr().lock(), report);
}

/// The ingest summary: per file the five numbers of SPEC §3 (per kind and format when there are
/// many files; every file is in the `ingest_files` table), then the first rejected rows.
pub fn write_summary(out: &mut impl Write, err: &mut impl Write, report: &IngestReport) -> io::Result<()> {
    if report.files.len() > 30 {
        let groups = by_kind_and_format(&report.files);
        write_file_table(out, &groups)?;
        writeln!(out, "(per file: govmedia sql \"SELECT * FROM ingest_files WHERE run_id = '{}'\")", report.run_id)?;
    } else {
        write_file_table(out, &report.files)?;
    }
    write_totals(out, err, report)
}

/// The files summed per kind and format, in the order each pair first appears, in one pass: a run
/// can hold a hundred thousand files.
fn by_kind_and_format(files: &[FileReport]) -> Vec<FileReport> {
    let mut groups: Vec<(FileReport, u64)> = Vec::new();
    let mut index: HashMap<(&str, &str), usize> = HashMap::new();
    for f in files {
        let i = *index.entry((&f.kind, &f.format)).or_insert_with(|| {
            groups.push((FileReport { read: 0, loaded: 0, rejected: 0, duplicates: 0, merged: 0, error: None, ..f.clone() }, 0));
            groups.len() - 1
        });
        let (g, n) = &mut groups[i];
        *n += 1;
        g.read += f.read;
        g.loaded += f.loaded;
        g.rejected += f.rejected;
        g.duplicates += f.duplicates;
        g.merged += f.merged;
        if f.error.is_some() {
            g.error = Some("some files could not be read".into());
        }
    }
    groups.into_iter().map(|(g, n)| FileReport { source_file: format!("{n} files"), ..g }).collect()
}

fn write_file_table(out: &mut impl Write, files: &[FileReport]) -> io::Result<()> {
    use arrow::array::{ArrayRef, StringArray, UInt64Array};
    use std::sync::Arc;
    let col = |f: &dyn Fn(&FileReport) -> u64| -> ArrayRef { Arc::new(UInt64Array::from(files.iter().map(f).collect::<Vec<_>>())) };
    let text = |f: &dyn Fn(&FileReport) -> String| -> ArrayRef { Arc::new(StringArray::from(files.iter().map(f).collect::<Vec<_>>())) };
    let batch = arrow::array::RecordBatch::try_from_iter(vec![
        ("kind", text(&|f| f.kind.clone())),
        ("format", text(&|f| f.format.clone())),
        ("file", text(&|f| f.source_file.clone())),
        ("read", col(&|f| f.read)),
        ("loaded", col(&|f| f.loaded)),
        ("rejected", col(&|f| f.rejected)),
        ("duplicates", col(&|f| f.duplicates)),
        ("merged", col(&|f| f.merged)),
        ("status", text(&|f| f.error.clone().map(|e| format!("error: {e}")).unwrap_or_else(|| "ok".into()))),
    ]);
    if let Ok(batch) = batch {
        if let Ok(t) = arrow::util::pretty::pretty_format_batches(&[batch]) {
            writeln!(out, "{t}")?;
        }
    }
    Ok(())
}

fn write_totals(out: &mut impl Write, err: &mut impl Write, report: &IngestReport) -> io::Result<()> {
    let sum = |f: &dyn Fn(&FileReport) -> u64| report.files.iter().map(f).sum::<u64>();
    writeln!(
        out,
        "ingest run {}: {} files, {} rows read = {} loaded + {} rejected + {} duplicates + {} merged; manifest version {}",
        report.run_id,
        report.files.len(),
        sum(&|f| f.read),
        sum(&|f| f.loaded),
        sum(&|f| f.rejected),
        sum(&|f| f.duplicates),
        sum(&|f| f.merged),
        report.manifest_version
    )?;
    let tables: Vec<String> = report.tables.iter().map(|(t, n)| format!("{t} {n}")).collect();
    writeln!(out, "staging rows: {}", tables.join(", "))?;
    let row_rejects: Vec<_> = report.rejects.iter().filter(|r| r.loc.is_some()).collect();
    if !row_rejects.is_empty() {
        writeln!(err, "rejected rows ({}; all are in the `rejects` table):", row_rejects.len())?;
        for r in row_rejects.iter().take(20) {
            let loc = r.loc.as_ref().map(|l| l.to_string()).unwrap_or_default();
            writeln!(err, "  {} {}: {}", r.source_file, loc, r.reason)?;
        }
        if row_rejects.len() > 20 {
            writeln!(err, "  … and {} more: govmedia sql \"SELECT * FROM rejects\"", row_rejects.len() - 20)?;
        }
    }
    for f in report.files.iter().filter(|f| f.error.is_some()) {
        writeln!(err, "error: {}: {}", f.source_file, f.error.as_deref().unwrap_or_default())?;
    }
    Ok(())
}

/// Data test results: failures and warnings in full, passes counted.
pub fn print_checks(report: &crate::models::BuildReport) {
    let passed = report.checks.iter().filter(|c| c.status() == "pass").count();
    for c in report.checks.iter().filter(|c| c.status() != "pass") {
        let label = if c.status() == "fail" { "FAIL" } else { "warn" };
        eprintln!("{label} {}.{}: {} failing rows", c.table, c.check, c.failing_rows);
        for row in c.sample.iter().take(3) {
            eprintln!("       {row}");
        }
    }
    for (model, why) in &report.skipped {
        eprintln!("skipped {model}: {why}");
    }
    println!(
        "data tests: {} passed, {} warned, {} failed",
        passed,
        report.checks.iter().filter(|c| c.status() == "warn").count(),
        report.failures().len()
    );
}

/// The per-model build report: rows, time and what each model read.
pub fn print_build(report: &crate::models::BuildReport) {
    use arrow::array::{ArrayRef, StringArray, UInt64Array};
    use std::sync::Arc;
    let runs = &report.runs;
    let batch = arrow::array::RecordBatch::try_from_iter(vec![
        ("model", Arc::new(StringArray::from(runs.iter().map(|r| r.name.clone()).collect::<Vec<_>>())) as ArrayRef),
        ("layer", Arc::new(StringArray::from(runs.iter().map(|r| r.layer.name()).collect::<Vec<_>>())) as ArrayRef),
        (
            "rows",
            Arc::new(StringArray::from(
                runs.iter().map(|r| if r.view { "view".to_string() } else { r.rows.to_string() }).collect::<Vec<_>>(),
            )) as ArrayRef,
        ),
        ("ms", Arc::new(UInt64Array::from(runs.iter().map(|r| r.millis as u64).collect::<Vec<_>>())) as ArrayRef),
        ("reads", Arc::new(StringArray::from(runs.iter().map(|r| r.reads.join(", ")).collect::<Vec<_>>())) as ArrayRef),
    ]);
    if let Ok(batch) = batch {
        if let Ok(t) = arrow::util::pretty::pretty_format_batches(&[batch]) {
            println!("{t}");
        }
    }
    println!(
        "build {}: {} models from {} in {} ms; manifest version {}",
        report.quarter,
        runs.len(),
        report.models_from,
        report.models_millis,
        report.manifest_version
    );
}
