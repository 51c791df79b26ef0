//! The query engine every stage and command runs on: the one place a DataFusion session is made
//! (its memory pool and spilling), the warehouse's object store is registered in it, and the
//! allocator's policy is set. The build, the report, the tier exports and `govmedia sql` share it;
//! [`Engine`] says whether a session runs here or on a Ballista cluster (`build --cluster`).

mod build_side;
mod constants;
mod lead;
mod monotonic;
mod one_phase;
mod percentile;

use crate::warehouse::{Manifest, Warehouse, WarehouseError};
use arrow::array::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::{SessionConfig, SessionContext};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The runtime (memory pool, spill folder) could not be made: no session runs unbounded.
    #[error("cannot start the query engine with a memory pool of {limit} bytes spilling to the system's temporary folder: {source}")]
    Runtime { limit: usize, source: DataFusionError },
    /// A statement that would change the warehouse (its first word).
    #[error("refused: `{0} …` would change the warehouse; `govmedia sql` and `govmedia serve` only read (use the pipeline stages to change data)")]
    Refused(String),
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
    #[error("{0}")]
    DataFusion(#[from] DataFusionError),
    /// `--cluster` (or GOVMEDIA_CLUSTER) that is not `df://HOST:PORT`.
    #[error("cluster {url}: {reason} (expected df://HOST:PORT, e.g. df://127.0.0.1:50050)")]
    ClusterUrl { url: String, reason: String },
    /// The scheduler does not answer: said before any model runs.
    #[error("cannot reach the Ballista scheduler at {url}: {source} (start one with `govmedia cluster scheduler`)")]
    ClusterUnreachable { url: String, source: std::io::Error },
    #[error("cluster {0}: this govmedia was built without the `cluster` feature (cargo build --features cluster)")]
    NoClusterFeature(String),
}

/// Where a session's queries run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Engine {
    /// In this process, within its memory pool.
    #[default]
    Local,
    /// On a Ballista cluster: the scheduler at `df://HOST:PORT` plans each query into stages and
    /// its executors run them; this process only plans the SQL and collects the results.
    Cluster { url: String, host: String, port: u16 },
}

impl Engine {
    /// `df://HOST:PORT` (the port defaults to Ballista's 50050); None is the local engine.
    pub fn from_cluster_url(url: Option<&str>) -> Result<Engine, EngineError> {
        let Some(url) = url.map(str::trim).filter(|u| !u.is_empty()) else { return Ok(Engine::Local) };
        let bad = |reason: &str| EngineError::ClusterUrl { url: url.to_string(), reason: reason.to_string() };
        let parsed = url::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
        if parsed.scheme() != "df" {
            return Err(bad(&format!("scheme {}:// is not df://", parsed.scheme())));
        }
        let host = parsed.host_str().filter(|h| !h.is_empty()).ok_or_else(|| bad("no host"))?;
        if !cfg!(feature = "cluster") {
            return Err(EngineError::NoClusterFeature(url.to_string()));
        }
        Ok(Engine::Cluster { url: url.to_string(), host: host.to_string(), port: parsed.port().unwrap_or(50050) })
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self, Engine::Cluster { .. })
    }

    /// A session on this engine: [`session`] here, or one whose queries the cluster runs. Its
    /// options (target partitions, DATAFUSION_* overrides) travel with each query to the
    /// scheduler; a cluster's differ in three (`remote_session`): joins are repartitioned, and
    /// no order of files is relied on.
    pub async fn session(&self) -> Result<SessionContext, EngineError> {
        match self {
            Engine::Local => session(),
            Engine::Cluster { url, host, port } => {
                // Ballista's client connects only at the first query; an address that does not
                // answer is said here, before a build takes the warehouse's lock for nothing.
                let addr = format!("{host}:{port}");
                let connect = tokio::net::TcpStream::connect(&addr);
                match tokio::time::timeout(std::time::Duration::from_secs(10), connect).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(source)) => return Err(EngineError::ClusterUnreachable { url: url.clone(), source }),
                    Err(_) => {
                        let source = std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer in 10 s");
                        return Err(EngineError::ClusterUnreachable { url: url.clone(), source });
                    }
                }
                remote_session(host, *port)
            }
        }
    }
}

#[cfg(feature = "cluster")]
fn remote_session(host: &str, port: u16) -> Result<SessionContext, EngineError> {
    use ballista_core::extension::{SessionConfigExt, SessionStateExt};
    use datafusion::physical_optimizer::PhysicalOptimizerRule as _;
    // The client's own runtime keeps the memory pool for what it collects.
    let local = session_in(runtime()?).state();
    // Ballista 55's adaptive planner (on by default) left a build's query waiting for ever on
    // the district tier; its static planner runs every model.
    let mut config = local.config().clone().upgrade_for_ballista().with_ballista_adaptive_query_planner(false);
    // Joins are repartitioned on a cluster whatever the local choice: a join that builds its
    // left side once (CollectLeft) is run by each task with its own copy of that side, and a
    // LEFT join then emits the unmatched left rows once per task (the district tier's
    // account_weekly_posts came out with rows twice).
    config.options_mut().optimizer.repartition_joins = true;
    // A cluster's shuffles do not keep the order of the rows they move: a plan that relies on an
    // order after a repartition (a window or an aggregate over posts in their files' order) would
    // see an account's rows in several runs. The session is marked so that no file order is
    // declared to it ([`reads_files_in_order`]). And DataFusion's defaults come back for the two
    // options that keep orders: an order-preserving repartition, planned for any order (one a sort
    // made, too), is a plain shuffle on Ballista.
    config.options_mut().execution.split_file_groups_by_statistics = false;
    config.options_mut().optimizer.prefer_existing_sort = false;
    let config = config.with_extension(std::sync::Arc::new(UnorderedShuffles));
    // The plan runs on the scheduler's executors, which know DataFusion's operators and
    // expressions only: the rules that put govmedia's own in their place are left out.
    let rules = physical_rules_without(&local, &[lead::LeadInOnePass.name(), constants::ConstantArgumentsOnce.name()]);
    let state = datafusion::execution::SessionStateBuilder::new_from_existing(local)
        .with_config(config)
        .with_physical_optimizer_rules(rules)
        .build();
    let mut state = state.upgrade_for_ballista(format!("http://{host}:{port}"))?;
    // Ballista's upgrade puts DataFusion's aggregate functions back in place of the session's:
    // govmedia's are registered again, so that the client plans with them (a list of percentiles
    // is theirs alone), as the scheduler and the executors do.
    register_functions_in(&mut state)?;
    Ok(SessionContext::new_with_state(state))
}

#[cfg(not(feature = "cluster"))]
fn remote_session(host: &str, port: u16) -> Result<SessionContext, EngineError> {
    Err(EngineError::NoClusterFeature(format!("df://{host}:{port}")))
}

/// A session whose operators work within a memory pool ([`memory_limit`]) and spill to temporary
/// files beyond it, so memory stays bounded as data grows.
pub fn session() -> Result<SessionContext, EngineError> {
    Ok(session_in(runtime()?))
}

/// The runtime of a session: its memory pool ([`memory_limit`]) and spill folder. Sessions made
/// with [`session_in`] from one runtime share its pool (`govmedia serve` makes a session per
/// warehouse version, and every client's query draws from the one pool).
pub fn runtime() -> Result<std::sync::Arc<datafusion::execution::runtime_env::RuntimeEnv>, EngineError> {
    return_freed_memory_soon();
    use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
    use datafusion::execution::memory_pool::FairSpillPool;
    use datafusion::execution::runtime_env::RuntimeEnvBuilder;
    let limit = memory_limit();
    RuntimeEnvBuilder::new()
        .with_memory_pool(std::sync::Arc::new(FairSpillPool::new(limit)))
        .with_disk_manager_builder(DiskManagerBuilder::default().with_mode(DiskManagerMode::OsTmpDirectory))
        .build_arc()
        .map_err(|source| EngineError::Runtime { limit, source })
}

/// A session in `runtime` (its memory pool and spill folder), with the engine's options.
pub fn session_in(runtime: std::sync::Arc<datafusion::execution::runtime_env::RuntimeEnv>) -> SessionContext {
    let mut config = SessionConfig::new()
        .with_information_schema(true)
        .with_target_partitions(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2));
    // Joins are not repartitioned: each hash join builds its small side once (the models put it on
    // the left; DataFusion swaps the sides when statistics show the right one smaller) and the
    // large side streams past it in its own partitions. The models join the accounts' windows
    // (300,000 rows nationally) and the calendar against posts and messages, and repartitioning
    // 100 million messages by account would cost more than the whole model.
    config.options_mut().optimizer.repartition_joins = false;
    // Posts and messages (`interactions`) are stored sorted by (platform, account, instant), declared
    // to a local session when every file is (`warehouse::declared_order`, [`reads_files_in_order`]).
    // Files that do not overlap in that order are read one after another as one ordered stream, and
    // an order already there is kept (merged across partitions) rather than sorted again: the
    // per-account windows and aggregates then stream.
    config.options_mut().execution.split_file_groups_by_statistics = true;
    config.options_mut().optimizer.prefer_existing_sort = true;
    // Any DataFusion option can be set from the environment, over the choices above, e.g.
    // DATAFUSION_EXECUTION_TARGET_PARTITIONS=4.
    for entry in config.options().entries() {
        let var = entry.key.to_ascii_uppercase().replace('.', "_");
        if let Ok(value) = std::env::var(&var) {
            if let Err(e) = config.options_mut().set(&entry.key, &value) {
                eprintln!("govmedia: ignoring {var}={value}: {e}");
            }
        }
    }
    let state = datafusion::execution::SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_default_features()
        // A hash join builds on the side that reads fewer rows, whatever the estimates said
        // (build_side), list-valued aggregates run in one phase (one_phase), `lead` over rows in
        // partition order runs a batch at a time (lead), and the constant arguments of counts and
        // percentiles are made into arrays once (constants).
        .with_physical_optimizer_rules(build_side::rules_with_build_sides())
        .with_physical_optimizer_rule(std::sync::Arc::new(one_phase::OnePhaseForValueLists))
        .with_physical_optimizer_rule(std::sync::Arc::new(lead::LeadInOnePass))
        .with_physical_optimizer_rule(std::sync::Arc::new(constants::ConstantArgumentsOnce))
        .build();
    let ctx = SessionContext::new_with_state(state);
    register_functions(&ctx);
    ctx
}

/// The functions govmedia puts in DataFusion's place: `percentile_cont` interpolating exactly
/// ([`percentile`]), and `to_unixtime` telling the planner it keeps an instant's order
/// ([`monotonic`]). A cluster's scheduler and executors register the same aggregates
/// ([`functions`]); an executor runs DataFusion's own `to_unixtime`, which computes the same
/// seconds (the order matters only to the scheduler's planning).
pub fn register_functions(ctx: &SessionContext) {
    for f in functions() {
        ctx.register_udaf(f);
    }
    ctx.register_udf(monotonic::to_unixtime());
}

/// [`register_functions`] in a session's state: a cluster's scheduler, and a cluster client's
/// session after Ballista's upgrade (which puts DataFusion's own aggregate functions back).
#[cfg(feature = "cluster")]
pub fn register_functions_in(state: &mut datafusion::execution::SessionState) -> Result<(), DataFusionError> {
    for f in functions() {
        datafusion::execution::FunctionRegistry::register_udaf(state, std::sync::Arc::new(f))?;
    }
    datafusion::execution::FunctionRegistry::register_udf(state, std::sync::Arc::new(monotonic::to_unixtime()))?;
    Ok(())
}

/// The aggregate functions of [`register_functions`].
pub fn functions() -> Vec<datafusion::logical_expr::AggregateUDF> {
    vec![percentile::percentile_cont()]
}

/// A session with every table of the warehouse's current manifest registered.
pub async fn warehouse_session(wh: &Warehouse) -> Result<SessionContext, EngineError> {
    let ctx = session()?;
    let manifest = wh.existing_manifest().await?;
    register_warehouse(&ctx, wh, &manifest).await?;
    Ok(ctx)
}

/// Registers the warehouse's object store in the session, then the manifest's tables by name.
pub async fn register_warehouse(ctx: &SessionContext, wh: &Warehouse, manifest: &Manifest) -> Result<(), EngineError> {
    ctx.runtime_env().register_object_store(wh.store_url(), wh.store().clone());
    wh.register_tables(ctx, manifest, reads_files_in_order(ctx)).await?;
    Ok(())
}

/// Whether a table's stored order may be declared to the session: a local session keeps an order
/// across its repartitions; a cluster's session is marked [`UnorderedShuffles`] (its shuffles
/// between stages do not keep one). With `split_file_groups_by_statistics` or
/// `prefer_existing_sort` turned off locally (DATAFUSION_* overrides), a declared order is still
/// true: DataFusion then sorts again where it needs an order.
pub fn reads_files_in_order(ctx: &SessionContext) -> bool {
    ctx.state().config().get_extension::<UnorderedShuffles>().is_none()
}

/// Marks a session whose queries run on a cluster, where a shuffle between stages does not keep
/// the order of the rows it moves: no file order is declared to it.
#[derive(Debug)]
pub struct UnorderedShuffles;

/// Statements that would change the warehouse are refused.
pub fn read_only() -> SQLOptions {
    SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false)
}

/// Plans a read-only statement; a statement that would write is refused by name.
pub async fn read_only_query(ctx: &SessionContext, sql: &str) -> Result<datafusion::dataframe::DataFrame, EngineError> {
    ctx.sql_with_options(sql, read_only()).await.map_err(|e| explain_refusal(sql, e))
}

/// Checks that a planned statement only reads (the check [`read_only_query`] makes), for plans
/// made elsewhere (`govmedia serve` plans the statements its clients send); `sql` names the
/// statement in the refusal.
pub fn verify_read_only(plan: &datafusion::logical_expr::LogicalPlan, sql: &str) -> Result<(), EngineError> {
    read_only().verify_plan(plan).map_err(|e| explain_refusal(sql, e))
}

/// Runs a read-only statement and collects its rows.
pub async fn run_query(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>, EngineError> {
    Ok(read_only_query(ctx, sql).await?.collect().await?)
}

fn explain_refusal(sql: &str, e: DataFusionError) -> EngineError {
    let msg = e.to_string();
    if msg.contains("not supported") && (msg.contains("DDL") || msg.contains("DML") || msg.contains("Statement")) {
        EngineError::Refused(sql.split_whitespace().next().unwrap_or("").to_uppercase())
    } else {
        EngineError::DataFusion(e)
    }
}

/// From the first query on, freed memory goes back to the system after 100 ms (mimalloc, the
/// allocator of the binary). Returned at once (0), every batch an operator makes is fresh memory
/// the kernel must zero first: a province build took a million page faults and a fifth more CPU
/// time (15.2 s against 13.2 s). Kept longer, a national build, which frees gigabytes per model,
/// holds what it freed beside what it uses: its peak RSS doubled with mimalloc's own delays.
/// With 100 ms and the 1.5 GiB pool its peak was 2.5–3.0 GiB in three runs (BENCHMARKS.md).
fn return_freed_memory_soon() {
    set_purge_delay(100);
}

/// A build over staging tables small beside the memory pool keeps what it frees, as ingest does:
/// its peak stays well under the pool's bound while no batch has to be zeroed by the kernel again.
/// The province tier's staging (326 MB of Parquet) built with a peak of 0.9 GiB returning freed
/// memory after 100 ms and 1.3 GiB keeping it, the kernel zeroing pages being a tenth of the
/// build's CPU time the first way. Over half the pool's size of Parquet (the national tier's
/// 3.2 GB), freed memory still goes back after 100 ms: there the peak is what must stay bounded.
pub fn keep_freed_memory_below(staged_bytes: u64) {
    if staged_bytes.saturating_mul(2) <= memory_limit() as u64 {
        keep_freed_memory();
    }
}

/// How many models a build runs at once (models that do not read each other): one per core when
/// its staging files come to at most half the memory pool, else one. At the district and city tiers most of a
/// model's time is planning it and starting its operators, on one core: two at once, the city's
/// models took 0.43 s instead of 0.56 s. Models that run at once share the pool: nationally (3.2 GB
/// of staging) the posting and interaction models spilled more side by side, 55.2 s of models
/// against 43.6 s one at a time. GOVMEDIA_MODELS_AT_ONCE in the environment sets the number.
pub fn models_at_once(staged_bytes: u64) -> usize {
    if let Some(n) = std::env::var("GOVMEDIA_MODELS_AT_ONCE").ok().and_then(|v| v.trim().parse::<usize>().ok()) {
        return n.max(1);
    }
    if staged_bytes.saturating_mul(2) > memory_limit() as u64 {
        return 1;
    }
    std::thread::available_parallelism().map(usize::from).unwrap_or(1)
}

/// Builds and ingests take their memory from the system in 4 KiB pages, not the 2 MiB transparent
/// huge pages mimalloc asks Linux for: the kernel zeroes a whole huge page on the first touch of
/// any byte of it. A build's operators touch many buffers sparsely: ten alternating pairs of runs
/// on the province tier, the models faster without huge pages in nine (medians 4.71 s with,
/// 4.38 s without), the peak 0.71–0.95 GiB with, 0.64–0.74 GiB without; the district tier's peak
/// halves (237 → 123 MiB); the national tier's time is the same either way. Ingest fills its
/// columns densely, yet the kernel's zeroing of huge pages was a quarter of its CPU time: the
/// province's posts (447 MB of CSV), alternating runs, took 3.9–4.5 s with (2.0–2.9 s of it in
/// the kernel) and 3.3–3.4 s without (0.6–0.7 s in the kernel); its messages 4.7–5.2 s against
/// 4.4–4.5 s.
/// MIMALLOC_ALLOW_THP in the environment (mimalloc's own setting) is left to rule.
pub fn take_memory_in_small_pages() {
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_some() {
        return;
    }
    #[cfg(target_os = "linux")]
    // SAFETY: sets a flag of this process (no pointers); later page faults honour it. An error
    // (a kernel without the option) leaves huge pages as they were.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// Ingest keeps what it frees for its next file instead (a file's buffers and columns are freed
/// as the next file's are made): fresh memory from the system must be zeroed first, which took a
/// third of ingest's time.
pub fn keep_freed_memory() {
    set_purge_delay(-1);
}

/// mimalloc's purge delay in milliseconds (-1: never). MIMALLOC_PURGE_DELAY in the environment
/// (mimalloc's own setting) is left to rule.
fn set_purge_delay(ms: std::ffi::c_long) {
    // 15 = mi_option_purge_delay in mimalloc.h (v2 and v3), which the bindings leave unnamed.
    // SAFETY (below): sets a process-wide option, which mimalloc allows at any time; harmless
    // when mimalloc is not the allocator (the library's tests).
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        unsafe { libmimalloc_sys::mi_option_set(15, ms) };
    }
}

/// The memory pool of a session: `GOVMEDIA_MEMORY_LIMIT` (bytes, or with a unit: `512MiB`,
/// `3GiB`), else a fifth of the machine's memory, at most 1.5 GiB. Memory the pool does not see
/// (Parquet's decoding buffers, batches between operators, the allocator's own pages) comes on
/// top: about 1 GiB at the national tier, whose build peaked at 3.3 GiB with a 3 GiB pool, at
/// 2.9 GiB with 2 GiB, and at 2.5–3.0 GiB in three runs with 1.5 GiB and freed memory kept
/// 100 ms (see BENCHMARKS.md).
pub fn memory_limit() -> usize {
    if let Some(v) = std::env::var("GOVMEDIA_MEMORY_LIMIT").ok().and_then(|s| parse_size(&s)) {
        return v;
    }
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().find(|l| l.starts_with("MemTotal:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<usize>().ok()))
        .map(|kib| kib * 1024)
        .unwrap_or(8 << 30);
    (total / 5).min(3 << 29)
}

pub fn parse_size(s: &str) -> Option<usize> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: f64 = n.parse().ok()?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some((n * mult) as usize)
}

/// The session's physical optimizer rules but those named in `names`.
#[cfg(any(test, feature = "cluster"))]
fn physical_rules_without(
    state: &datafusion::execution::SessionState,
    names: &[&str],
) -> Vec<std::sync::Arc<dyn datafusion::physical_optimizer::PhysicalOptimizerRule + Send + Sync>> {
    state.physical_optimizers().iter().filter(|r| !names.contains(&r.name())).cloned().collect()
}

/// A local session without the physical optimizer rule named `rule`: the tests of govmedia's rules
/// compare what a query answers with and without one.
#[cfg(test)]
pub(crate) fn session_without_rule(rule: &str) -> SessionContext {
    let state = session().expect("a session").state();
    let rules = physical_rules_without(&state, &[rule]);
    SessionContext::new_with_state(
        datafusion::execution::SessionStateBuilder::new_from_existing(state).with_physical_optimizer_rules(rules).build(),
    )
}

#[cfg(test)]
mod tests {
    /// A local session is told the stored order of posts and messages; a cluster's, whose shuffles
    /// do not keep it, is not.
    #[tokio::test]
    async fn only_a_local_session_reads_files_in_order() {
        assert!(super::reads_files_in_order(&super::session().unwrap()));
        #[cfg(feature = "cluster")]
        {
            let remote = super::remote_session("127.0.0.1", 9).unwrap();
            assert!(!super::reads_files_in_order(&remote));
        }
    }
}
