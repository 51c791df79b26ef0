//! A hash join builds its table on the side that streams less of the large tables.
//!
//! The models put the small side of each join first (the accounts' windows, the calendar's
//! limits) so that the posts and messages stream past a hash table built on it. DataFusion's
//! join selection swaps the sides when its estimates say the other is smaller, and its estimates
//! of a join's or a filter's output are guesses: at the city tier it built the interaction
//! model's table on the 680,600 messages (after their join with the windows, estimated small) and
//! probed it with the 4,018 calendar days, where the days' table takes microseconds to build.
//!
//! Here, after DataFusion's choice, a join whose build side streams rows of a table at least
//! [`RATIO`] times the rows the probe side streams, and at least [`LARGE`] rows, is swapped back.
//! What a side streams is counted from what it reads, not guessed from its filters: the rows of
//! the largest table it scans (exact, from the Parquet footers and the in-memory tables), through
//! every operator but an aggregate, which counts as the groups DataFusion estimates for it (at most
//! its input's rows). A filter may keep few of a scan's rows, so the count is an upper bound; the
//! swap is only made where the bounds are lopsided, and the cost of a wrong swap is a hash table
//! of the other side, which streams fewer rows.

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::Result;
use datafusion::config::ConfigOptions;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::AggregateExec;
use datafusion::physical_plan::joins::{HashJoinExec, PartitionMode};
use datafusion::physical_plan::statistics::{StatisticsArgs, StatisticsContext};
use datafusion::physical_plan::ExecutionPlan;
use std::sync::Arc;

/// How many times more rows the build side must stream than the probe side to be swapped.
const RATIO: usize = 16;
/// The fewest rows a build side must stream to be swapped: below, a hash table costs little.
const LARGE: usize = 100_000;

/// The rule, placed right after DataFusion's join selection (see the module's documentation).
#[derive(Debug, Default)]
pub struct BuildOnTheSmallerStream;

impl PhysicalOptimizerRule for BuildOnTheSmallerStream {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        let stats = StatisticsContext::new();
        plan.transform_up(|node| Ok(swapped(&node, &stats)?.map_or_else(|| Transformed::no(node), Transformed::yes))).map(|t| t.data)
    }

    fn name(&self) -> &str {
        "build_on_the_smaller_stream"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// DataFusion's physical optimizer rules with [`BuildOnTheSmallerStream`] right after its join
/// selection (before the rules that add repartitions and dynamic filters to the joins).
pub fn rules_with_build_sides() -> Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>> {
    let mut rules = datafusion::physical_optimizer::optimizer::PhysicalOptimizer::default().rules;
    let at = rules.iter().position(|r| r.name() == "join_selection").map_or(0, |i| i + 1);
    rules.insert(at, Arc::new(BuildOnTheSmallerStream));
    rules
}

/// A hash join that collects its left side, with its sides swapped when the left streams
/// lopsidedly more; `None` for any other node.
fn swapped(node: &Arc<dyn ExecutionPlan>, stats: &StatisticsContext) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some(join) = node.downcast_ref::<HashJoinExec>() else { return Ok(None) };
    if *join.partition_mode() != PartitionMode::CollectLeft || !join.join_type().supports_swap() || join.null_aware {
        return Ok(None);
    }
    let (build, probe) = (streamed(join.left(), stats)?, streamed(join.right(), stats)?);
    if build < LARGE || build / RATIO < probe.max(1) {
        return Ok(None);
    }
    join.swap_inputs(PartitionMode::CollectLeft).map(Some)
}

/// The rows of the tables `plan` reads that can stream out of it: the largest table it scans,
/// through any operator but an aggregate (counted as its estimated groups; 0 when unknown).
fn streamed(plan: &Arc<dyn ExecutionPlan>, stats: &StatisticsContext) -> Result<usize> {
    if plan.children().is_empty() || plan.downcast_ref::<AggregateExec>().is_some() {
        let rows = stats.compute(plan.as_ref(), &StatisticsArgs::new())?.num_rows;
        return Ok(rows.get_value().copied().unwrap_or(0));
    }
    plan.children().into_iter().try_fold(0, |most, child| Ok(most.max(streamed(child, stats)?)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, Int64Array};

    /// The plan's hash joins as (rows its build side streams, rows its probe side streams).
    fn joins(plan: &Arc<dyn ExecutionPlan>, out: &mut Vec<(usize, usize)>) {
        if let Some(j) = plan.downcast_ref::<HashJoinExec>() {
            let stats = StatisticsContext::new();
            out.push((streamed(j.left(), &stats).unwrap_or(0), streamed(j.right(), &stats).unwrap_or(0)));
        }
        plan.children().into_iter().for_each(|c| joins(c, out));
    }

    /// The build and probe sides of `sql`'s hash joins, and its one number.
    async fn planned(sql: &str) -> (Vec<(usize, usize)>, i64) {
        let ctx = crate::engine::session().expect("a session");
        // The SQL's order stands (DataFusion's swaps off): the large side is written first.
        ctx.sql("set datafusion.optimizer.join_reordering = false").await.expect("set");
        for table in [
            "create table messages as select v % 3 as account, v % 4 as day from unnest(range(300000)) as g(v)",
            "create table accounts as select v as account from unnest(range(3)) as g(v)",
            "create table days as select v as day from unnest(range(4)) as g(v)",
        ] {
            ctx.sql(table).await.expect("a table").collect().await.expect("made");
        }
        let df = ctx.sql(sql).await.expect("plans");
        let plan = df.clone().create_physical_plan().await.expect("a physical plan");
        let mut found = Vec::new();
        joins(&plan, &mut found);
        let rows = df.collect().await.expect("runs");
        let n = rows[0].column(0).as_any().downcast_ref::<Int64Array>().filter(|a| !a.is_empty()).map_or(-1, |a| a.value(0));
        (found, n)
    }

    #[tokio::test]
    async fn a_join_builds_on_the_side_that_streams_fewer_rows() {
        // The messages written first, a join with the accounts, then one with the days: both
        // hash tables are built on the small sides, and the answer is the same.
        let (found, n) = planned(
            "select count(*) from (select m.day from messages m join accounts a on m.account = a.account) x join days d on x.day = d.day",
        )
        .await;
        assert_eq!(found, vec![(4, 300_000), (3, 300_000)]);
        assert_eq!(n, 300_000);
    }

    #[tokio::test]
    async fn an_aggregate_streams_what_its_estimate_gives_and_small_sides_stay_as_written() {
        // The messages' days first: an aggregate DataFusion estimates at up to its input's rows
        // (300,000), so the hash table goes to the other side (4 rows); there the days and the
        // accounts (4 and 3 rows) stay as written.
        let (found, n) = planned(
            "select count(*) from (select day from messages group by day) x join (select m.day from days m join accounts a on m.day = a.account) y on x.day = y.day",
        )
        .await;
        assert_eq!(found, vec![(4, 300_000), (4, 3)]);
        assert_eq!(n, 3);
    }
}
