//! Grouped aggregates whose state is a list of values run in one phase.
//!
//! DataFusion plans a grouped aggregate over several partitions in two phases: a partial aggregate
//! per input partition, a repartition of its states by the group keys, and a final aggregate that
//! merges them. That pays when a state is smaller than the rows it sums up (a count, a sum). When
//! a state is the list of a group's values (`percentile_cont`, `array_agg`, a distinct count), the
//! partial phase reduces nothing: every value is appended to its group's list, the lists are
//! copied into list arrays, repartitioned, and appended again to the final aggregate's lists. The
//! interaction model's two percentiles took the national build's messages (97 million) through
//! that twice, with 4.2 GB of list arrays between the phases. Here the rows are repartitioned by
//! the group keys instead and aggregated once (`SinglePartitioned`), as DataFusion does when the
//! input already comes partitioned by them; the aggregate still spills beyond its memory. An
//! aggregate that depends on the order of its rows, or approximates, keeps its two phases.

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::Result;
use datafusion::config::ConfigOptions;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::{ExecutionPlan, InputOrderMode, Partitioning};
use std::sync::Arc;

/// The rule, added after DataFusion's own (see the module's documentation).
#[derive(Debug, Default)]
pub struct OnePhaseForValueLists;

impl PhysicalOptimizerRule for OnePhaseForValueLists {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| Ok(one_phase(&node)?.map_or_else(|| Transformed::no(node), Transformed::yes))).map(|t| t.data)
    }

    fn name(&self) -> &str {
        "one_phase_for_value_lists"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `FinalPartitioned ← Repartition(hash) ← Partial ← input` with a list state among the partial's
/// aggregates, as `SinglePartitioned ← Repartition(hash of the group keys) ← input`; `None` for
/// any other node.
fn one_phase(node: &Arc<dyn ExecutionPlan>) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some(last) = node.downcast_ref::<AggregateExec>() else { return Ok(None) };
    let Some(repartition) = last.input().downcast_ref::<RepartitionExec>() else { return Ok(None) };
    let Some(first) = repartition.input().downcast_ref::<AggregateExec>() else { return Ok(None) };
    let &Partitioning::Hash(_, partitions) = repartition.partitioning() else { return Ok(None) };
    let phases = *last.mode() == AggregateMode::FinalPartitioned && *first.mode() == AggregateMode::Partial;
    // A plain GROUP BY (no grouping sets), with no limit pushed into either phase.
    let plain = first.group_expr().is_single()
        && !first.group_expr().expr().is_empty()
        && first.limit_options().is_none()
        && last.limit_options().is_none();
    // Nothing that depends on the order rows arrive in, which a hash repartition does not keep:
    // no ordering the partial aggregate requires or relies on (`array_agg(x order by y)` over
    // sorted input), no ordered grouping, and no ordered aggregate but percentile_cont, which
    // orders a group's values itself.
    let unordered = first.required_input_ordering().iter().all(Option::is_none)
        && *first.input_order_mode() == InputOrderMode::Linear
        && !repartition.preserve_order()
        && first.aggr_expr().iter().all(|f| f.order_bys().is_empty() || f.fun().name() == "percentile_cont");
    if !(phases && plain && unordered && keeps_values(first)?) {
        return Ok(None);
    }
    let keys = first.group_expr().input_exprs();
    let rows = Arc::new(RepartitionExec::try_new(Arc::clone(first.input()), Partitioning::Hash(keys, partitions))?);
    let once = AggregateExec::try_new(
        AggregateMode::SinglePartitioned,
        first.group_expr().clone(),
        first.aggr_expr().to_vec(),
        first.filter_expr().to_vec(),
        rows,
        first.input_schema(),
    )?;
    // The rows it gives must be the final aggregate's, column for column.
    Ok((once.schema() == last.schema()).then(|| Arc::new(once) as Arc<dyn ExecutionPlan>))
}

/// Whether one of the aggregate's functions keeps a list of values as its state, and none is an
/// approximation (`approx_percentile_cont`'s digest of a group would differ, merged or not).
fn keeps_values(agg: &AggregateExec) -> Result<bool> {
    if agg.aggr_expr().iter().any(|f| f.fun().name().starts_with("approx_")) {
        return Ok(false);
    }
    for f in agg.aggr_expr() {
        if f.state_fields()?
            .iter()
            .any(|s| matches!(s.data_type(), arrow::datatypes::DataType::List(_) | arrow::datatypes::DataType::LargeList(_)))
        {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, AsArray, RecordBatch};
    use arrow::datatypes::{Float64Type, Int64Type};

    /// The percentiles of a grouped aggregate over two partitions: planned in one phase, with the
    /// answers of DataFusion's two phases.
    #[tokio::test]
    async fn grouped_percentiles_run_in_one_phase_with_the_same_answers() {
        use datafusion::execution::SessionStateBuilder;
        use datafusion::prelude::{SessionConfig, SessionContext};
        let values: Vec<String> = (0..2000).map(|i| format!("({}, {}.0)", i % 7, (i * 7919) % 1000)).collect();
        let sql = format!(
            "select g, count(*) as n, percentile_cont(0.5) within group (order by x) as p50, \
                    percentile_cont(0.9) within group (order by x) filter (where x > 100) as p90 \
             from (values {}) t(g, x) group by g order by g",
            values.join(", ")
        );
        let answer = |ctx: SessionContext| {
            let sql = sql.clone();
            async move {
                crate::engine::register_functions(&ctx);
                let plan = ctx.sql(&sql).await.unwrap().create_physical_plan().await.unwrap();
                let shown = datafusion::physical_plan::displayable(plan.as_ref()).indent(true).to_string();
                (datafusion::physical_plan::collect(plan, ctx.task_ctx()).await.unwrap(), shown)
            }
        };
        // Two partitions whatever the machine's cores: DataFusion's own rules, with and without this one.
        let config = SessionConfig::new().with_target_partitions(2);
        let with_rule = SessionStateBuilder::new()
            .with_config(config.clone())
            .with_default_features()
            .with_physical_optimizer_rule(std::sync::Arc::new(super::OnePhaseForValueLists))
            .build();
        let (once, plan) = answer(SessionContext::new_with_state(with_rule)).await;
        assert!(plan.contains("mode=SinglePartitioned") && !plan.contains("mode=Partial"), "{plan}");
        let (twice, plan) = answer(SessionContext::new_with_config(config)).await;
        assert!(plan.contains("mode=Partial"), "{plan}");
        let all = |b: &[RecordBatch]| arrow::compute::concat_batches(&b[0].schema(), b).unwrap();
        let (once, twice) = (all(&once), all(&twice));
        assert_eq!(once, twice);
        assert_eq!(once.num_rows(), 7);
        assert_eq!(once.column(1).as_primitive::<Int64Type>().values().iter().sum::<i64>(), 2000);
        assert_eq!(once.column(2).as_primitive::<Float64Type>().null_count(), 0);
        // An ordered aggregate keeps its two phases: the order of a group's values is its answer.
        let ordered = "select g, array_agg(x order by x desc) as xs from (values (1, 2.0), (1, 3.0), (2, 1.0), (1, 1.0)) t(g, x) group by g order by g";
        let ctx = SessionContext::new_with_state(
            SessionStateBuilder::new()
                .with_config(SessionConfig::new().with_target_partitions(2))
                .with_default_features()
                .with_physical_optimizer_rule(std::sync::Arc::new(super::OnePhaseForValueLists))
                .build(),
        );
        let plan = ctx.sql(ordered).await.unwrap().create_physical_plan().await.unwrap();
        let shown = datafusion::physical_plan::displayable(plan.as_ref()).indent(true).to_string();
        assert!(!shown.contains("mode=SinglePartitioned"), "{shown}");
        let rows = all(&datafusion::physical_plan::collect(plan, ctx.task_ctx()).await.unwrap());
        let first = rows.column(1).as_list::<i32>().value(0);
        assert_eq!(first.as_primitive::<Float64Type>().values().to_vec(), vec![3.0, 2.0, 1.0]);
        // The engine's sessions have the rule.
        let ours = crate::engine::session().unwrap();
        assert!(ours.state().physical_optimizers().iter().any(|r| r.name() == "one_phase_for_value_lists"));
    }
}
