//! A hash join builds its table on the side that reads fewer rows.
//!
//! The models put the small side of each join first (the accounts' windows, the calendar's
//! limits) so that the posts and messages stream past a hash table built on it. DataFusion's
//! join selection swaps the sides when its estimates say the other is smaller, and its estimates
//! of a join's or a filter's output are guesses: at the city tier it built the interaction
//! model's table on the 680,600 messages (after their join with the windows, estimated small) and
//! probed it with the 4,018 calendar days, where the days' table takes microseconds to build.
//!
//! Here, after DataFusion's choice, a join is swapped back when its build side reads a table of
//! at least [`LARGE`] rows and at least [`RATIO`] times the rows that can reach the join from its
//! probe side. Both are counted from what the sides read, not guessed from their filters:
//! - the build side by the largest table it reads (the rows of its scans, from the Parquet
//!   footers and the in-memory tables, through every operator but an aggregate, which counts as
//!   the groups DataFusion estimates for it);
//! - the probe side by an upper bound of its rows: the same scans through filters and
//!   projections, multiplied through a join (the product of its inputs), added through a union,
//!   an aggregate again at its estimate (at most its input's rows).
//!
//! So the table a swap builds on can never hold more than a sixteenth of the largest table the
//! other side reads, however selective that side's filters turn out: a swap that was not needed
//! builds a small table instead of another small one. A side whose rows are unknown (a table
//! without statistics, an `unnest`) is left as DataFusion planned it.
//!
//! The rule runs whatever `datafusion.optimizer.join_reordering` says: it corrects sides by what
//! they read, not by estimates. A Ballista cluster plans with its scheduler's own rules, so
//! there the sides are DataFusion's.

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::Result;
use datafusion::config::ConfigOptions;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::AggregateExec;
use datafusion::physical_plan::joins::{HashJoinExec, PartitionMode};
use datafusion::physical_plan::statistics::{StatisticsArgs, StatisticsContext};
use datafusion::physical_plan::union::{InterleaveExec, UnionExec};
use datafusion::physical_plan::unnest::UnnestExec;
use datafusion::physical_plan::ExecutionPlan;
use std::sync::Arc;

/// How many times more rows than can reach the join from the probe side the build side's largest
/// table must hold for a swap.
const RATIO: usize = 16;
/// The fewest rows the build side's largest table must hold for a swap: below, a hash table costs
/// little.
const LARGE: usize = 100_000;

/// The rule, placed right after DataFusion's join selection (see the module's documentation).
#[derive(Debug, Default)]
pub struct BuildOnTheSmallerSide;

impl PhysicalOptimizerRule for BuildOnTheSmallerSide {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| Ok(swapped(&node)?.map_or_else(|| Transformed::no(node), Transformed::yes))).map(|t| t.data)
    }

    fn name(&self) -> &str {
        "build_on_the_smaller_side"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// DataFusion's physical optimizer rules with [`BuildOnTheSmallerSide`] right after its join
/// selection (before the rules that add repartitions and dynamic filters to the joins).
pub fn rules_with_build_sides() -> Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>> {
    let mut rules = datafusion::physical_optimizer::optimizer::PhysicalOptimizer::default().rules;
    let at = rules.iter().position(|r| r.name() == "join_selection").map_or(0, |i| i + 1);
    rules.insert(at, Arc::new(BuildOnTheSmallerSide));
    rules
}

/// A hash join that collects its left side, with its sides swapped when the left reads lopsidedly
/// more than can reach the join from the right; `None` for any other node, or when a side's rows
/// are unknown.
fn swapped(node: &Arc<dyn ExecutionPlan>) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some(join) = node.downcast_ref::<HashJoinExec>() else { return Ok(None) };
    if *join.partition_mode() != PartitionMode::CollectLeft || !join.join_type().supports_swap() || join.null_aware {
        return Ok(None);
    }
    // A cache of its own: the context keys its statistics by the nodes' addresses, which nodes
    // made by the rewrite (above this join) may take over from nodes it dropped.
    let stats = &StatisticsContext::new();
    let (Some(build), Some(probe)) = (rows(join.left(), Count::Largest, stats), rows(join.right(), Count::AtMost, stats)) else {
        return Ok(None);
    };
    if build < LARGE || build / RATIO < probe.max(1) {
        return Ok(None);
    }
    join.swap_inputs(PartitionMode::CollectLeft).map(Some)
}

/// How [`rows`] counts a plan's rows.
#[derive(Clone, Copy)]
enum Count {
    /// The largest table it reads.
    Largest,
    /// At most how many rows can come out of it.
    AtMost,
}

/// The rows of `plan`, counted from the tables it reads (see the module's documentation); `None`
/// when some part of it is unknown.
fn rows(plan: &Arc<dyn ExecutionPlan>, count: Count, stats: &StatisticsContext) -> Option<usize> {
    let children = plan.children();
    if children.is_empty() || plan.downcast_ref::<AggregateExec>().is_some() {
        return stats.compute(plan.as_ref(), &StatisticsArgs::new()).ok()?.num_rows.get_value().copied();
    }
    if plan.downcast_ref::<UnnestExec>().is_some() {
        return None;
    }
    let counts = children.into_iter().map(|child| rows(child, count, stats)).collect::<Option<Vec<usize>>>()?;
    let union = plan.downcast_ref::<UnionExec>().is_some() || plan.downcast_ref::<InterleaveExec>().is_some();
    Some(match (counts.as_slice(), count) {
        ([one], _) => *one,
        (_, Count::Largest) => counts.iter().copied().max().unwrap_or(0),
        (_, Count::AtMost) if union => counts.iter().fold(0, |sum, n| sum.saturating_add(*n)),
        // A join: at most every pair (an outer join's unmatched rows among them, counted at 1).
        (_, Count::AtMost) => counts.iter().fold(1, |product, n| product.saturating_mul((*n).max(1))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, Int64Array};

    /// The plan's hash joins as (at most the rows of its build side, at most those of its probe
    /// side; 0 unknown).
    fn joins(plan: &Arc<dyn ExecutionPlan>, out: &mut Vec<(usize, usize)>) {
        if let Some(j) = plan.downcast_ref::<HashJoinExec>() {
            let stats = StatisticsContext::new();
            let at_most = |side| rows(side, Count::AtMost, &stats).unwrap_or(0);
            out.push((at_most(j.left()), at_most(j.right())));
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
    async fn a_join_builds_on_the_side_that_reads_fewer_rows() {
        // The messages written first, a join with the accounts, then one with the days: both
        // hash tables are built on the small sides, and the answer is the same.
        let (found, n) = planned(
            "select count(*) from (select m.day from messages m join accounts a on m.account = a.account) x join days d on x.day = d.day",
        )
        .await;
        // The outer join's probe side: the messages joined with the accounts, 300,000 × 3 at most.
        assert_eq!(found, vec![(4, 900_000), (3, 300_000)]);
        assert_eq!(n, 300_000);
    }

    #[tokio::test]
    async fn an_aggregate_counts_as_its_estimate_and_small_sides_stay_as_written() {
        // The messages' days first: an aggregate DataFusion estimates at up to its input's rows
        // (300,000), so the hash table goes to the other side (the days joined with the accounts,
        // 4 × 3 at most); there the days and the accounts (4 and 3 rows) stay as written.
        let (found, n) = planned(
            "select count(*) from (select day from messages group by day) x join (select m.day from days m join accounts a on m.day = a.account) y on x.day = y.day",
        )
        .await;
        assert_eq!(found, vec![(12, 300_000), (4, 3)]);
        assert_eq!(n, 3);
    }

    #[tokio::test]
    async fn a_side_of_unknown_size_is_left_as_planned() {
        // The days come from an unnest, whose rows no statistics bound: the messages stay the
        // build side, as written.
        let (found, n) = planned("select count(*) from messages m join (select unnest([0, 1]) as day) d on m.day = d.day").await;
        assert_eq!(found, vec![(300_000, 0)]);
        assert_eq!(n, 150_000);
    }
}
