//! `govmedia cluster scheduler` and `govmedia cluster executor` (feature `cluster`): the two kinds
//! of process of a Ballista cluster, started from the ballista-scheduler and ballista-executor
//! libraries, so that the client (`govmedia build --cluster`), the scheduler and the executors are
//! one binary on one DataFusion version. A build sends each model's query plan to the scheduler,
//! which splits it into stages whose tasks the executors run, reading the warehouse themselves.

use ballista_core::error::BallistaError;
use ballista_core::RuntimeProducer;
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::SessionConfig;
use object_store::ObjectStore;
use std::net::SocketAddr;
use std::sync::Arc;
use url::Url;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cluster scheduler on {bind}: {source}")]
    Scheduler { bind: SocketAddr, source: BallistaError },
    #[error("cluster executor on {bind} (scheduler {scheduler}): {source}")]
    Executor { bind: SocketAddr, scheduler: String, source: BallistaError },
    #[error("cluster executor: --scheduler {0} is not HOST:PORT")]
    SchedulerAddress(String),
}

/// What `govmedia cluster scheduler` was asked for.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// Where clients and executors reach it (gRPC).
    pub bind: SocketAddr,
    /// The host name executors reach it by, when not the bound address (e.g. bound to 0.0.0.0).
    pub external_host: Option<String>,
    /// Seconds without a heartbeat after which an executor counts as lost and its tasks are
    /// run again elsewhere.
    pub executor_timeout_s: u64,
}

/// What `govmedia cluster executor` was asked for.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler's HOST:PORT.
    pub scheduler: String,
    /// Its Arrow Flight service, where other executors and the client fetch task results.
    pub bind: SocketAddr,
    /// Its gRPC service, where the scheduler hands it tasks.
    pub grpc_port: u16,
    /// The host name the others reach it by, when not the bound address (e.g. bound to 0.0.0.0).
    pub external_host: Option<String>,
    /// Tasks it runs at once.
    pub concurrency: usize,
    /// Where task results (shuffle files) and spills are written; default a temporary folder.
    pub work_dir: Option<String>,
    /// Seconds between its heartbeats to the scheduler.
    pub heartbeat_s: u64,
}

/// Ballista's log lines on stderr, at the level `GOVMEDIA_CLUSTER_LOG` names (error, warn, info,
/// debug, trace; default info): what a job, a stage and an executor did.
pub fn log_to_stderr() {
    struct Stderr;
    impl log::Log for Stderr {
        fn enabled(&self, m: &log::Metadata) -> bool {
            m.level() <= log::max_level()
        }
        fn log(&self, r: &log::Record) {
            if self.enabled(r.metadata()) {
                eprintln!("{} {:5} {}: {}", chrono::Utc::now().format("%H:%M:%S%.3f"), r.level(), r.target(), r.args());
            }
        }
        fn flush(&self) {}
    }
    let level = std::env::var("GOVMEDIA_CLUSTER_LOG").ok().and_then(|l| l.parse().ok()).unwrap_or(log::LevelFilter::Info);
    // A static logger: log's boxed one needs its `std` feature, which would rebuild every crate
    // that logs (DataFusion included).
    static LOGGER: Stderr = Stderr;
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(level);
    }
}

/// Runs a scheduler until the process is stopped.
pub async fn scheduler(o: SchedulerOptions) -> Result<(), ClusterError> {
    log_to_stderr();
    use ballista_scheduler::cluster::BallistaCluster;
    use ballista_scheduler::config::SchedulerConfig;
    use ballista_scheduler::scheduler_process::{create_scheduler, start_grpc_service_with_listener};
    use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
    let err = |source| ClusterError::Scheduler { bind: o.bind, source };
    let mut config = SchedulerConfig::default();
    config.bind_host = o.bind.ip().to_string();
    config.bind_port = o.bind.port();
    config.executor_timeout_seconds = o.executor_timeout_s;
    config.no_executors_grace_period_seconds = o.executor_timeout_s;
    // Lost executors are looked for several times per time-out, not every 15 s whatever it is.
    config.expire_dead_executor_interval_seconds = (o.executor_timeout_s / 3).clamp(1, 15);
    // The scheduler lists the warehouse's files when it plans a scan.
    config.override_session_builder = Some(Arc::new(|config: SessionConfig| {
        let runtime = RuntimeEnvBuilder::new().with_object_store_registry(Arc::new(WarehouseStores::default())).build_arc()?;
        let state = ballista_core::utils::default_session_builder(config)?;
        // The functions govmedia puts in DataFusion's place: a plan names them, and the
        // scheduler must read them as the client meant (percentile_cont's exact interpolation).
        let mut state = SessionStateBuilder::new_from_existing(state).with_runtime_env(runtime).build();
        crate::engine::register_functions_in(&mut state)?;
        Ok(state)
    }));
    // Bound first, so that port 0 (the system's choice) is known: executors report their tasks
    // to the host and port the scheduler gives them.
    let listener = tokio::net::TcpListener::bind(o.bind).await.map_err(|e| err(e.into()))?;
    let bound = listener.local_addr().map_err(|e| err(e.into()))?;
    config.bind_port = bound.port();
    config.external_host = match &o.external_host {
        Some(host) => host.clone(),
        None if bound.ip().is_unspecified() => "localhost".into(),
        None => bound.ip().to_string(),
    };
    config.validate().map_err(err)?;
    let cluster = BallistaCluster::new_from_config(&config).await.map_err(err)?;
    let scheduler = create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(cluster, Arc::new(config)).await.map_err(err)?;
    println!("govmedia cluster scheduler: listening on {bound} (build with --cluster df://{bound})");
    start_grpc_service_with_listener(listener, scheduler).await.map_err(err)
}

/// Runs an executor until the process is stopped (or the scheduler stops it).
pub async fn executor(o: ExecutorOptions) -> Result<(), ClusterError> {
    use ballista_executor::executor_process::{start_executor_process, ExecutorProcessConfig};
    log_to_stderr();
    let (host, port) = o
        .scheduler
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.trim_start_matches('[').trim_end_matches(']').to_string(), p.parse::<u16>().ok()?)))
        .ok_or_else(|| ClusterError::SchedulerAddress(o.scheduler.clone()))?;
    let work_dir = o.work_dir.clone();
    let runtime: RuntimeProducer = Arc::new(move |_: &SessionConfig| {
        let mut builder = RuntimeEnvBuilder::new().with_object_store_registry(Arc::new(WarehouseStores::default()));
        if let Some(dir) = &work_dir {
            builder = builder.with_temp_file_path(dir.clone());
        }
        builder.build_arc()
    });
    // The functions a task's plan may name: Ballista's executor registry leaves out the nested
    // ones (string_to_array, which the models use), which its client and scheduler know.
    let mut functions = ballista_core::registry::BallistaFunctionRegistry::default();
    functions.scalar_functions.extend(ballista_core::extension::ballista_scalar_functions().into_iter().map(|f| (f.name().to_string(), f)));
    // And govmedia's own, under every name they answer to (percentile_cont, quantile_cont).
    for f in crate::engine::functions().into_iter().map(Arc::new) {
        for name in std::iter::once(f.name()).chain(f.aliases().iter().map(String::as_str)) {
            functions.aggregate_functions.insert(name.to_string(), f.clone());
        }
    }
    let config = ExecutorProcessConfig {
        override_function_registry: Some(Arc::new(functions)),
        bind_host: o.bind.ip().to_string(),
        port: o.bind.port(),
        grpc_port: o.grpc_port,
        external_host: o.external_host.clone(),
        scheduler_host: host,
        scheduler_port: port,
        // Waits for a scheduler that is still starting instead of failing at once.
        scheduler_connect_timeout_seconds: 30,
        vcores: o.concurrency.max(1),
        work_dir: o.work_dir.clone(),
        executor_heartbeat_interval_seconds: o.heartbeat_s.max(1),
        // The memory every task of this executor shares (GOVMEDIA_MEMORY_LIMIT, as a local build).
        memory_pool_size: Some(crate::engine::memory_limit() as u64),
        override_runtime_producer: Some(runtime),
        ..Default::default()
    };
    eprintln!(
        "govmedia cluster executor: {} task(s) at once, Flight on {}, gRPC on port {}, scheduler {}",
        config.vcores, o.bind, o.grpc_port, o.scheduler
    );
    start_executor_process(Arc::new(config)).await.map_err(|source| ClusterError::Executor {
        bind: o.bind,
        scheduler: o.scheduler.clone(),
        source,
    })
}

/// The object stores a scheduler or executor reads the warehouse through: local folders
/// (DataFusion's default), and an `s3://` bucket opened as the warehouse opens it (from the same
/// AWS_* and GOVMEDIA_S3_* environment) the first time a plan names it.
#[derive(Debug, Default)]
struct WarehouseStores {
    stores: DefaultObjectStoreRegistry,
}

impl ObjectStoreRegistry for WarehouseStores {
    fn register_store(&self, url: &Url, store: Arc<dyn ObjectStore>) -> Option<Arc<dyn ObjectStore>> {
        self.stores.register_store(url, store)
    }

    fn deregister_store(&self, url: &Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        self.stores.deregister_store(url)
    }

    fn get_store(&self, url: &Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        if let Ok(store) = self.stores.get_store(url) {
            return Ok(store);
        }
        if !matches!(url.scheme(), "s3" | "s3a") {
            return self.stores.get_store(url);
        }
        let root = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
        let wh = crate::warehouse::Warehouse::open_existing(&root)
            .map_err(|e| datafusion::error::DataFusionError::External(format!("cannot open {root}: {e}").into()))?;
        self.stores.register_store(url, wh.store().clone());
        Ok(wh.store().clone())
    }
}
