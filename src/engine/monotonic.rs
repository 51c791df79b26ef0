//! `to_unixtime` of an instant or a date, known to keep its argument's order.
//!
//! The staging models give every instant in Unix seconds (`to_unixtime(published_at)`), and the
//! posts and messages are stored in the order of their instants per account
//! (`crate::table::stored_order`). DataFusion's own `to_unixtime` says nothing about order, so a
//! window `order by published_s` sorted rows that were in that order already. This is the same
//! function, computed by DataFusion's own code, that tells the planner what is true of it: seconds
//! truncated from a timestamp or a date never decrease as the argument grows (truncating toward
//! zero is monotonic on either side of 1970). A string, a number or a format argument make no such
//! promise, and the function then says nothing, as DataFusion's does.

use arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::logical_expr::{ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature};
use std::sync::Arc;

/// DataFusion's `to_unixtime`, under its own name, with the order it keeps.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct OrderedToUnixtime {
    inner: Arc<ScalarUDF>,
}

/// The function to register in place of DataFusion's.
pub fn to_unixtime() -> ScalarUDF {
    ScalarUDF::new_from_impl(OrderedToUnixtime { inner: datafusion::functions::datetime::to_unixtime() })
}

impl ScalarUDFImpl for OrderedToUnixtime {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<arrow::datatypes::FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        self.inner.invoke_with_args(args)
    }

    fn output_ordering(&self, inputs: &[ExprProperties]) -> Result<SortProperties> {
        match inputs {
            [only] if keeps_order(only.range.data_type()) => Ok(only.sort_properties),
            _ => Ok(SortProperties::Unordered),
        }
    }

    fn preserves_lex_ordering(&self, inputs: &[ExprProperties]) -> Result<bool> {
        Ok(matches!(inputs, [only] if keeps_order(only.range.data_type()) && only.preserves_lex_ordering))
    }

    fn documentation(&self) -> Option<&datafusion::logical_expr::Documentation> {
        self.inner.documentation()
    }
}

/// An argument whose order the seconds keep: an instant or a date.
fn keeps_order(t: DataType) -> bool {
    matches!(t, DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64)
}

#[cfg(test)]
mod tests {
    use arrow::array::{AsArray, RecordBatch};
    use arrow::datatypes::Int64Type;
    use datafusion::prelude::SessionContext;

    /// A window over rows already ordered by an instant, in the order of its seconds: no sort in
    /// the plan, and the answers DataFusion's own function gives after sorting.
    #[tokio::test]
    async fn seconds_of_ordered_instants_need_no_sort() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        // Instants in order, some before 1970 and within a second of each other.
        let micros: Vec<i64> = vec![-2_500_000, -1_500_000, -500_000, 0, 400_000, 1_600_000, 1_700_000, 86_400_000_000];
        let ts = arrow::array::TimestampMicrosecondArray::from(micros.clone()).with_timezone("UTC");
        // Strings in their own order, which is not their instants' (10:00+08:00 is 02:00Z).
        let text = arrow::array::StringArray::from(vec![
            "2019-07-01T03:00:00Z",
            "2019-07-01T10:00:00+08:00",
            "2019-07-02T00:00:00Z",
            "2019-07-02T07:00:00+08:00",
            "2019-07-03T00:00:00Z",
            "2019-07-03T01:00:00Z",
            "2019-07-04T00:00:00Z",
            "2019-07-05T00:00:00Z",
        ]);
        let batch = RecordBatch::try_from_iter([
            ("at", std::sync::Arc::new(ts) as arrow::array::ArrayRef),
            ("s", std::sync::Arc::new(text) as arrow::array::ArrayRef),
        ])
        .unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let run = |ordered: bool, sql: &'static str| {
            let path = path.clone();
            async move {
                let ctx = SessionContext::new();
                if ordered {
                    ctx.register_udf(super::to_unixtime());
                }
                let options = datafusion::datasource::listing::ListingOptions::new(std::sync::Arc::new(
                    datafusion::datasource::file_format::parquet::ParquetFormat::default(),
                ))
                .with_file_sort_order(vec![
                    vec![datafusion::prelude::col("at").sort(true, false)],
                    vec![datafusion::prelude::col("s").sort(true, false)],
                ]);
                ctx.register_listing_table("t", path.to_str().unwrap(), options, None, None).await.unwrap();
                let df = ctx.sql(sql).await.unwrap();
                let plan = df.clone().create_physical_plan().await.unwrap();
                let shown = datafusion::physical_plan::displayable(plan.as_ref()).indent(true).to_string();
                (df.collect().await.unwrap(), shown)
            }
        };
        let sql = "select to_unixtime(at) as s, lead(to_unixtime(at)) over (order by to_unixtime(at)) as next from t";
        let (ours, plan) = run(true, sql).await;
        assert!(!plan.contains("SortExec"), "{plan}");
        let (theirs, plan) = run(false, sql).await;
        assert!(plan.contains("SortExec"), "{plan}");
        let all = |b: &[RecordBatch]| arrow::compute::concat_batches(&b[0].schema(), b).unwrap();
        assert_eq!(all(&ours), all(&theirs));
        let s: Vec<i64> = all(&ours).column(0).as_primitive::<Int64Type>().values().to_vec();
        assert_eq!(s, vec![-2, -1, 0, 0, 0, 1, 1, 86_400]);
        // A string's seconds keep no order (the strings are in theirs): the planner is told nothing.
        let (_, plan) = run(true, "select lead(s) over (order by to_unixtime(s)) from t").await;
        assert!(plan.contains("SortExec"), "{plan}");
        let (_, plan) = run(true, "select lead(s) over (order by s) from t").await;
        assert!(!plan.contains("SortExec"), "{plan}");
    }
}
