//! Data tests in the style of dbt's (SPEC §6 `data_quality`): declared in a TOML beside each model
//! (`not_null`, `unique`, `accepted_values`, `relationships`, custom SQL `assert`), plus checks on
//! the ingested data (schema drift, failed files). Each has a severity: `error` stops the models
//! that depend on the tested one; `warn` is reported and the build goes on.

use super::ModelError;
use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use datafusion::prelude::SessionContext;
use serde::Deserialize;
use std::collections::HashSet;
use std::sync::Arc;

/// A model's `.toml`: its grain, description and tests.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub grain: Option<String>,
    pub description: Option<String>,
    /// `view` or `table`: overrides how the model's folder keeps it (a view is recomputed where it
    /// is read, and holds no memory: for large per-row models).
    pub materialized: Option<String>,
    #[serde(default)]
    pub tests: Vec<TestSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestSpec {
    pub name: Option<String>,
    #[serde(default)]
    pub severity: Severity,
    pub not_null: Option<Vec<String>>,
    pub unique: Option<Vec<String>>,
    pub accepted_values: Option<AcceptedValues>,
    pub relationships: Option<Relationship>,
    /// A condition every row must meet (dbt_utils' `expression_is_true`): the rows where it is
    /// false fail; a row where it is NULL passes, as in a `WHERE NOT (…)`.
    pub expression_is_true: Option<String>,
    /// A query returning the failing rows.
    #[serde(rename = "assert")]
    pub assertion: Option<String>,
    /// `false`: only `govmedia test` runs it, not every build. For a check that ingest already
    /// guarantees and that would cost a large share of a national build (the uniqueness of every
    /// post or message).
    #[serde(default = "in_every_build")]
    pub in_build: bool,
}

fn in_every_build() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptedValues {
    pub column: String,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Relationship {
    pub column: String,
    pub to: String,
    pub field: String,
}

#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    #[default]
    Error,
    Warn,
}

/// One check's outcome.
#[derive(Debug, Clone)]
pub struct CheckResult {
    pub check: String,
    pub table: String,
    pub severity: Severity,
    pub failing_rows: u64,
    /// Up to 20 failing rows, as JSON lines.
    pub sample: Vec<String>,
}

impl CheckResult {
    pub fn status(&self) -> &'static str {
        match (self.failing_rows, self.severity) {
            (0, _) => "pass",
            (_, Severity::Warn) => "warn",
            (_, Severity::Error) => "fail",
        }
    }
}

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

impl TestSpec {
    /// For a test that fails row by row (`not_null`, `accepted_values`, `expression_is_true`): its
    /// name and the condition a failing row meets. The tests of a table that have one are counted
    /// together, in one pass over it (see [`run_tests`]).
    fn row_condition(&self) -> Option<(String, String)> {
        if let Some(cols) = &self.not_null {
            Some((format!("not_null({})", cols.join(", ")), any_null(cols)))
        } else if let Some(a) = &self.accepted_values {
            let values = a.values.iter().map(|v| literal(v)).collect::<Vec<_>>().join(", ");
            Some((format!("accepted_values({})", a.column), format!("{c} IS NOT NULL AND {c} NOT IN ({values})", c = quote(&a.column))))
        } else {
            self.expression_is_true.as_ref().map(|e| (format!("expression_is_true({e})"), format!("NOT ({e})")))
        }
    }

    /// The test's row condition for one pass over the table, leaving out the `not_null` columns
    /// that `null_free` holds (statistics prove they hold no NULL): None for a test that is not
    /// row by row; a condition of None when nothing is left to look at, so the test passes.
    fn row_condition_given(&self, null_free: &HashSet<String>) -> Option<(String, Option<String>)> {
        let (name, cond) = self.row_condition()?;
        Some(match &self.not_null {
            // No columns: the condition as it is (an error, as before).
            Some(cols) if cols.is_empty() => (name, Some(cond)),
            Some(cols) => {
                let left: Vec<&String> = cols.iter().filter(|c| !null_free.contains(*c)).collect();
                (name, (!left.is_empty()).then(|| any_null(left)))
            }
            None => (name, Some(cond)),
        })
    }

    /// The check's name: the test's own, else the one its kind gives it (`default`).
    fn check_name(&self, default: String) -> String {
        self.name.clone().unwrap_or(default)
    }

    /// The check's name and the query returning its failing rows.
    pub fn query(&self, table: &str) -> Result<(String, String), ModelError> {
        let t = quote(table);
        let (default_name, sql) = if let Some((name, cond)) = self.row_condition() {
            (name, format!("SELECT * FROM {t} WHERE {cond}"))
        } else if let Some(cols) = &self.unique {
            let list = cols.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", ");
            (format!("unique({})", cols.join(", ")), format!("SELECT {list}, count(*) AS n FROM {t} GROUP BY {list} HAVING count(*) > 1"))
        } else if let Some(r) = &self.relationships {
            (
                format!("relationships({} → {}.{})", r.column, r.to, r.field),
                format!(
                    "SELECT * FROM {t} AS child WHERE child.{c} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {to} AS parent WHERE parent.{f} = child.{c})",
                    c = quote(&r.column),
                    to = quote(&r.to),
                    f = quote(&r.field)
                ),
            )
        } else if let Some(q) = &self.assertion {
            ("assert".to_string(), q.clone())
        } else {
            return Err(ModelError::TestWithoutCheck { table: table.to_string() });
        };
        Ok((self.check_name(default_name), sql))
    }
}

pub fn parse_spec(text: &str, origin: &str) -> Result<ModelSpec, ModelError> {
    toml::from_str(text).map_err(|source| ModelError::Spec { origin: origin.to_string(), source })
}

/// The condition of a row with a NULL in any of `columns`.
fn any_null<'a>(columns: impl IntoIterator<Item = &'a String>) -> String {
    columns.into_iter().map(|c| format!("{} IS NULL", quote(c))).collect::<Vec<_>>().join(" OR ")
}

/// Runs a table's tests. Those that fail row by row are counted together in one pass over the
/// table (a staging view of every post is read once for them, not once per test); a sample of
/// failing rows is then read only for a test whose count is not zero. The others run one by one.
pub async fn run_tests(ctx: &SessionContext, table: &str, tests: &[&TestSpec]) -> Result<Vec<CheckResult>, ModelError> {
    let not_null: Vec<&str> = tests.iter().flat_map(|t| t.not_null.iter().flatten().map(String::as_str)).collect();
    let null_free = columns_without_nulls(ctx, table, &not_null).await;
    // Each test's check and count of failing rows, when counted in the one pass (or proven).
    let mut counted: Vec<Option<(String, u64)>> = vec![None; tests.len()];
    // (test, its check's name, the condition a failing row meets) of the row-by-row tests left
    // to count; a `not_null` test whose columns statistics prove complete passes as it is.
    let mut by_row: Vec<(usize, String, String)> = Vec::new();
    for (i, t) in tests.iter().enumerate() {
        match t.row_condition_given(&null_free) {
            Some((name, Some(cond))) => by_row.push((i, t.check_name(name), cond)),
            Some((name, None)) => counted[i] = Some((t.check_name(name), 0)),
            None => {}
        }
    }
    if !by_row.is_empty() {
        let counts =
            by_row.iter().enumerate().map(|(k, (_, _, cond))| format!("count(*) FILTER (WHERE {cond}) AS f{k}")).collect::<Vec<_>>();
        let sql = format!("SELECT {} FROM {}", counts.join(", "), quote(table));
        let names = by_row.iter().map(|(_, name, _)| name.as_str()).collect::<Vec<_>>().join(", ");
        let failed = |source| ModelError::Test { check: names.clone(), table: table.to_string(), source };
        let batches = ctx.sql(&sql).await.map_err(failed)?.collect().await.map_err(failed)?;
        // One row of counts (an aggregate without groups); anything else is an error, never a pass.
        let row = batches.iter().find(|b| b.num_rows() > 0);
        for (k, (i, name, _)) in by_row.into_iter().enumerate() {
            let n = row
                .and_then(|b| b.column(k).as_any().downcast_ref::<Int64Array>())
                .map(|a| a.value(0))
                .ok_or_else(|| ModelError::Invalid(format!("{table}: the data test {name} gave no count of failing rows")))?;
            counted[i] = Some((name, n.max(0) as u64));
        }
    }
    let mut out = Vec::with_capacity(tests.len());
    for (test, counted) in tests.iter().zip(counted) {
        out.push(match counted {
            Some((check, 0)) => {
                CheckResult { check, table: table.to_string(), severity: test.severity, failing_rows: 0, sample: Vec::new() }
            }
            Some((_, n)) => CheckResult { failing_rows: n, ..run_test(ctx, table, test, Some(20)).await? },
            None => run_test(ctx, table, test, None).await?,
        });
    }
    Ok(out)
}

/// The `columns` of `table` that hold no NULL by its statistics: the null counts Parquet files
/// keep for each column chunk (summed over the files), or those of batches held in memory. Only
/// an exact count of 0 proves a column complete, and only through a plan that reads, filters,
/// projects and unions (a staging view): an outer join makes NULLs its statistics do not count,
/// so a view with any join or aggregate is left to the scan, as is a column that is an
/// expression, or of a file without null counts. At the national tier this spares the build a
/// pass decoding 100 million messages' identifiers.
async fn columns_without_nulls(ctx: &SessionContext, table: &str, columns: &[&str]) -> HashSet<String> {
    use datafusion::common::stats::Precision;
    use datafusion::physical_plan::{StatisticsArgs, StatisticsContext};
    // Each column once: a query naming one twice is refused.
    let columns: Vec<&str> = columns.iter().copied().collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    if columns.is_empty() {
        return HashSet::new();
    }
    let list = columns.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", ");
    let plan = match ctx.sql(&format!("SELECT {list} FROM {}", quote(table))).await {
        Ok(df) => df.create_physical_plan().await,
        Err(e) => Err(e),
    };
    let Ok(plan) = plan else {
        return HashSet::new();
    };
    if !keeps_null_counts(plan.as_ref()) {
        return HashSet::new();
    }
    let Ok(stats) = StatisticsContext::new().compute(plan.as_ref(), &StatisticsArgs::new()) else {
        return HashSet::new();
    };
    columns
        .iter()
        .zip(stats.column_statistics.iter())
        .filter(|(_, s)| s.null_count == Precision::Exact(0))
        .map(|(c, _)| c.to_string())
        .collect()
}

/// Whether every operator of `plan` is one whose statistics count the NULLs of its output as
/// they are: scans of files or batches, filters (fewer rows), projections (a plain column's count
/// as it is; an expression's unknown), unions (the sum), and the operators that only move batches.
fn keeps_null_counts(plan: &dyn datafusion::physical_plan::ExecutionPlan) -> bool {
    const KEEPING: [&str; 8] = [
        "DataSourceExec",
        "FilterExec",
        "ProjectionExec",
        "UnionExec",
        "CoalesceBatchesExec",
        "CoalescePartitionsExec",
        "RepartitionExec",
        "CooperativeExec",
    ];
    KEEPING.contains(&plan.name()) && plan.children().iter().all(|c| keeps_null_counts(c.as_ref()))
}

/// Runs one test against a registered table: its failing rows counted and the first 20 kept, or
/// only read up to `limit` rows.
async fn run_test(ctx: &SessionContext, table: &str, test: &TestSpec, limit: Option<usize>) -> Result<CheckResult, ModelError> {
    let (check, sql) = test.query(table)?;
    let failed = |source| ModelError::Test { check: check.clone(), table: table.to_string(), source };
    let mut df = ctx.sql(&sql).await.map_err(failed)?;
    if let Some(n) = limit {
        df = df.limit(0, Some(n)).map_err(failed)?;
    }
    // Failing rows stream past: counted, and the first 20 kept (a test failing on every row of a
    // large table holds no more than that).
    let mut stream = df.execute_stream().await.map_err(failed)?;
    let mut failing: u64 = 0;
    let mut sample = Vec::new();
    while let Some(b) = futures::StreamExt::next(&mut stream).await {
        let b = b.map_err(failed)?;
        failing += b.num_rows() as u64;
        if sample.len() < 20 {
            let b = b.slice(0, b.num_rows().min(20 - sample.len()));
            let mut buf = Vec::new();
            let mut w = arrow::json::LineDelimitedWriter::new(&mut buf);
            if w.write(&b).is_ok() && w.finish().is_ok() {
                sample.extend(String::from_utf8_lossy(&buf).lines().map(str::to_string));
            }
        }
    }
    Ok(CheckResult { check, table: table.to_string(), severity: test.severity, failing_rows: failing, sample })
}

/// The `data_quality` table (SPEC §6): check, table, status, failing_rows.
pub fn data_quality_batch(results: &[CheckResult]) -> Result<RecordBatch, arrow::error::ArrowError> {
    RecordBatch::try_from_iter(vec![
        ("check", Arc::new(StringArray::from(results.iter().map(|r| r.check.clone()).collect::<Vec<_>>())) as ArrayRef),
        ("table", Arc::new(StringArray::from(results.iter().map(|r| r.table.clone()).collect::<Vec<_>>())) as ArrayRef),
        ("status", Arc::new(StringArray::from(results.iter().map(|r| r.status()).collect::<Vec<_>>())) as ArrayRef),
        ("failing_rows", Arc::new(Int64Array::from(results.iter().map(|r| r.failing_rows as i64).collect::<Vec<_>>())) as ArrayRef),
    ])
}

/// `data_quality_failures`: up to 20 failing rows of each failed check, as JSON.
pub fn failures_batch(results: &[CheckResult]) -> Result<RecordBatch, arrow::error::ArrowError> {
    let rows: Vec<(&CheckResult, &String)> = results.iter().flat_map(|r| r.sample.iter().map(move |s| (r, s))).collect();
    RecordBatch::try_from_iter(vec![
        ("check", Arc::new(StringArray::from(rows.iter().map(|(r, _)| r.check.clone()).collect::<Vec<_>>())) as ArrayRef),
        ("table", Arc::new(StringArray::from(rows.iter().map(|(r, _)| r.table.clone()).collect::<Vec<_>>())) as ArrayRef),
        ("row", Arc::new(StringArray::from(rows.iter().map(|(_, s)| (*s).clone()).collect::<Vec<_>>())) as ArrayRef),
    ])
}

/// Types equal up to string representation (DataFusion reads strings as views).
fn same_type(a: &arrow::datatypes::DataType, b: &arrow::datatypes::DataType) -> bool {
    use arrow::datatypes::DataType::*;
    let norm = |t: &arrow::datatypes::DataType| match t {
        Utf8View | LargeUtf8 => Utf8,
        other => other.clone(),
    };
    norm(a) == norm(b)
}

/// Checks on the ingested data: every staging table has the columns govmedia writes (schema
/// drift), and the latest ingest run read every file.
pub async fn ingest_checks(ctx: &SessionContext) -> Vec<CheckResult> {
    let mut out = Vec::new();
    for def in crate::table::STAGING {
        let expected = def.schema();
        let actual = match ctx.table_provider(def.name).await {
            Ok(t) => t.schema(),
            Err(_) => continue,
        };
        let drift: Vec<String> = expected
            .fields()
            .iter()
            .filter_map(|f| match actual.field_with_name(f.name()) {
                Ok(a) if same_type(a.data_type(), f.data_type()) => None,
                Ok(a) => {
                    Some(format!("{{\"column\":\"{}\",\"expected\":\"{}\",\"found\":\"{}\"}}", f.name(), f.data_type(), a.data_type()))
                }
                Err(_) => Some(format!("{{\"column\":\"{}\",\"expected\":\"{}\",\"found\":null}}", f.name(), f.data_type())),
            })
            .collect();
        out.push(CheckResult {
            check: "schema_drift".into(),
            table: def.name.into(),
            severity: Severity::Error,
            failing_rows: drift.len() as u64,
            sample: drift,
        });
    }
    let failed_files = TestSpec {
        name: Some("latest_ingest_read_every_file".into()),
        severity: Severity::Warn,
        not_null: None,
        unique: None,
        accepted_values: None,
        relationships: None,
        expression_is_true: None,
        in_build: true,
        assertion: Some(
            "SELECT source_file, error FROM ingest_files WHERE status = 'error' AND run_id = (SELECT max(run_id) FROM ingest_files)".into(),
        ),
    };
    if let Ok(r) = run_test(ctx, "ingest_files", &failed_files, None).await {
        out.push(r);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};

    /// A table of a complete column `a` and a column `b` with one NULL.
    fn batch() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, true), Field::new("b", DataType::Int64, true)]));
        let a: ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 3]));
        let b: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), None, Some(3)]));
        RecordBatch::try_new(schema, vec![a, b]).unwrap()
    }

    #[tokio::test]
    async fn statistics_prove_a_column_complete_and_a_not_null_test_still_finds_nulls() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let file = std::fs::File::create(&path).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(file, batch().schema(), None).unwrap();
        w.write(&batch()).unwrap();
        w.close().unwrap();
        let ctx = crate::engine::session().unwrap();
        ctx.register_parquet("files", path.to_str().unwrap(), Default::default()).await.unwrap();
        ctx.register_batch("held", batch()).unwrap();
        ctx.sql("create view over_files as select a, b, a + 1 as c from files where a > 0").await.unwrap();
        // A left join's right side: complete in its table, NULL where no row matches.
        ctx.sql("create view joined as select f.a, h.a as matched from files f left join (select a from held where a < 2) h on h.a = f.a")
            .await
            .unwrap();
        for table in ["files", "held", "over_files"] {
            let proven = columns_without_nulls(&ctx, table, &["a", "b", "a"]).await;
            assert_eq!(proven, HashSet::from(["a".to_string()]), "{table}");
        }
        // An expression's null count is not known from the file's, nor is a join's: the scan counts.
        assert!(columns_without_nulls(&ctx, "over_files", &["c"]).await.is_empty());
        assert!(columns_without_nulls(&ctx, "joined", &["a", "matched"]).await.is_empty());
        // The tests: a passes by its statistics; c, b and the join's column are counted.
        let spec = "[[tests]]\nnot_null = [\"a\"]\n[[tests]]\nnot_null = [\"c\"]\n[[tests]]\nnot_null = [\"b\"]\n";
        let spec = parse_spec(spec, "test").unwrap();
        let tests: Vec<&TestSpec> = spec.tests.iter().collect();
        let results = run_tests(&ctx, "over_files", &tests).await.unwrap();
        let found: Vec<(String, u64)> = results.iter().map(|r| (r.check.clone(), r.failing_rows)).collect();
        let expected = [("not_null(a)", 0), ("not_null(c)", 0), ("not_null(b)", 1)];
        assert_eq!(found, expected.map(|(c, n)| (c.to_string(), n)).to_vec());
        assert_eq!(results[2].sample.len(), 1);
        let spec = parse_spec("[[tests]]\nnot_null = [\"a\", \"matched\"]\n", "test").unwrap();
        let results = run_tests(&ctx, "joined", &spec.tests.iter().collect::<Vec<_>>()).await.unwrap();
        assert_eq!(results[0].failing_rows, 2, "the two rows the join leaves unmatched");
    }
}
