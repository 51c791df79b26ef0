//! Constant arguments of aggregates are made into arrays once per operator, not once per batch.
//!
//! DataFusion hands every argument of an aggregate to its accumulator as an array as long as the
//! batch: `count(*)` (planned as `count(1)`) has an array of 8,192 ones made for each batch, and
//! the interaction model's `percentile_cont([0.5, 0.9])` a list array of 8,192 copies of the list.
//! Over the national tier's 96 million messages that was 1.5 s of the interaction aggregate's CPU
//! time (its `aggregate_arguments_time`), for arrays the accumulators never read: `count` counts
//! the rows its filter keeps (the ones are never NULL), and `percentile_cont` reads its
//! percentiles once, when its accumulator is made. Here a literal argument of those two is
//! replaced by the same value keeping its array ([`Repeated`]): made for the longest batch seen,
//! then a slice of it for each batch. Other aggregates are left as they are: some read their
//! literal arguments (a separator, an offset) by looking for DataFusion's own literal.

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::{DataType, Field, FieldRef, Schema};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Result, ScalarValue};
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::ColumnarValue;
use datafusion::physical_expr::aggregate::AggregateFunctionExpr;
use datafusion::physical_expr::expressions::Literal;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::AggregateExec;
use datafusion::physical_plan::ExecutionPlan;
use std::sync::{Arc, Mutex};

/// The rule, added after DataFusion's own (see the module's documentation).
#[derive(Debug, Default)]
pub struct ConstantArgumentsOnce;

impl PhysicalOptimizerRule for ConstantArgumentsOnce {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let Some(aggregate) = node.downcast_ref::<AggregateExec>() else { return Ok(Transformed::no(node)) };
            let replaced: Vec<Option<AggregateFunctionExpr>> = aggregate.aggr_expr().iter().map(|e| with_repeated(e)).collect();
            if replaced.iter().all(Option::is_none) {
                return Ok(Transformed::no(node));
            }
            let exprs: Vec<Arc<AggregateFunctionExpr>> =
                replaced.into_iter().zip(aggregate.aggr_expr()).map(|(new, old)| new.map_or_else(|| Arc::clone(old), Arc::new)).collect();
            Ok(Transformed::yes(Arc::new(aggregate.with_new_aggr_exprs(exprs)) as Arc<dyn ExecutionPlan>))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "constant_arguments_once"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `e` with its literal arguments as [`Repeated`], when `e` is `count` (not distinct) or
/// govmedia's `percentile_cont` and has one.
fn with_repeated(e: &AggregateFunctionExpr) -> Option<AggregateFunctionExpr> {
    let ours = (e.fun().name() == "count" && !e.is_distinct()) || super::percentile::is_exact(e.fun());
    if !ours {
        return None;
    }
    let args = e.expressions();
    if !args.iter().any(|a| a.downcast_ref::<Literal>().is_some()) {
        return None;
    }
    let args = args
        .into_iter()
        .map(|a| match a.downcast_ref::<Literal>() {
            Some(literal) => Arc::new(Repeated::new(literal.value().clone())) as Arc<dyn PhysicalExpr>,
            None => a,
        })
        .collect();
    let order_by = e.order_bys().iter().map(|s| Arc::clone(&s.expr)).collect();
    e.with_new_expressions(args, order_by)
}

/// A constant whose array is made once: over no rows it is the value itself (as a literal is,
/// which is how `percentile_cont` reads its percentiles), over a batch a slice of an array of it.
#[derive(Debug)]
pub struct Repeated {
    value: ScalarValue,
    made: Mutex<Option<ArrayRef>>,
}

impl Repeated {
    pub fn new(value: ScalarValue) -> Self {
        Repeated { value, made: Mutex::new(None) }
    }

    /// The value repeated `n` times: a slice of the array made for the most rows yet.
    fn array(&self, n: usize) -> Result<ArrayRef> {
        let mut made = self.made.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match made.as_ref() {
            Some(array) if array.len() >= n => Ok(array.slice(0, n)),
            _ => {
                let array = self.value.to_array_of_size(n)?;
                *made = Some(Arc::clone(&array));
                Ok(array)
            }
        }
    }
}

impl PartialEq for Repeated {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl Eq for Repeated {}

impl std::hash::Hash for Repeated {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.value.hash(state);
    }
}

impl std::fmt::Display for Repeated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.value)
    }
}

impl PhysicalExpr for Repeated {
    fn data_type(&self, _input_schema: &Schema) -> Result<DataType> {
        Ok(self.value.data_type())
    }

    fn nullable(&self, _input_schema: &Schema) -> Result<bool> {
        Ok(self.value.is_null())
    }

    fn return_field(&self, _input_schema: &Schema) -> Result<FieldRef> {
        Ok(Arc::new(Field::new(self.value.to_string(), self.value.data_type(), self.value.is_null())))
    }

    fn evaluate(&self, batch: &RecordBatch) -> Result<ColumnarValue> {
        match batch.num_rows() {
            0 => Ok(ColumnarValue::Scalar(self.value.clone())),
            n => Ok(ColumnarValue::Array(self.array(n)?)),
        }
    }

    fn children(&self) -> Vec<&Arc<dyn PhysicalExpr>> {
        Vec::new()
    }

    fn with_new_children(self: Arc<Self>, _children: Vec<Arc<dyn PhysicalExpr>>) -> Result<Arc<dyn PhysicalExpr>> {
        Ok(self)
    }

    fn fmt_sql(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};

    /// A repeated constant is its value over no rows, and its array over a batch, as long as the
    /// batch, whether longer or shorter than the last.
    #[test]
    fn a_repeated_constant_is_its_value_at_every_length() -> Result<()> {
        let list =
            ScalarValue::List(Arc::new(arrow::array::ListArray::from_iter_primitive::<arrow::datatypes::Float64Type, _, _>(vec![Some(
                vec![Some(0.5), Some(0.9)],
            )])));
        let r = Repeated::new(list.clone());
        let rows = |n: usize| {
            RecordBatch::try_new_with_options(
                Arc::new(Schema::empty()),
                vec![],
                &arrow::array::RecordBatchOptions::new().with_row_count(Some(n)),
            )
        };
        assert!(matches!(r.evaluate(&rows(0)?)?, ColumnarValue::Scalar(v) if v == list));
        for n in [3, 10, 2, 10, 11] {
            let ColumnarValue::Array(a) = r.evaluate(&rows(n)?)? else { panic!("an array for {n} rows") };
            assert_eq!(a.len(), n);
            let lists = a.as_list::<i32>();
            for i in 0..n {
                assert_eq!(lists.value(i).as_primitive::<arrow::datatypes::Float64Type>().values().to_vec(), vec![0.5, 0.9]);
            }
        }
        Ok(())
    }

    /// Counts and percentiles answer the same with their constants made once, and the plan has them.
    #[tokio::test]
    async fn counts_and_percentiles_answer_alike_with_constants_made_once() -> Result<()> {
        let sql = "select g, count(*) as n, count(*) filter (where x > 1) as big, count(distinct x) as distinct_x, \
                          percentile_cont([0.5, 0.9]) within group (order by x) as ps, \
                          percentile_cont(0.5) within group (order by x) filter (where x > 1) as p50 \
                   from (values (1, 1.0), (1, 2.0), (1, 4.0), (2, 3.0), (2, null), (3, 1.0)) t(g, x) group by g order by g";
        let run = |once: bool| async move {
            let ctx = if once {
                crate::engine::session().expect("a session")
            } else {
                crate::engine::session_without_rule("constant_arguments_once")
            };
            let df = ctx.sql(sql).await?;
            let plan = df.clone().create_physical_plan().await?;
            let shown = format!("{plan:?}");
            let rows = arrow::util::pretty::pretty_format_batches(&df.collect().await?)?.to_string();
            Ok::<_, datafusion::error::DataFusionError>((shown.contains("Repeated"), rows))
        };
        let (repeated, ours) = run(true).await?;
        let (plain, theirs) = run(false).await?;
        assert!(repeated && !plain, "the rule replaced the constants, and only when it ran");
        assert_eq!(ours, theirs);
        assert!(ours.contains("| 1 | 3 | 2   | 3          | [2.0, 3.6] | 3.0 |"), "{ours}");
        Ok(())
    }
}
