//! The command line (SPEC §10). Parsed flags become plain values before any work starts; nothing
//! past this module sees clap.

pub mod print;

use crate::ingest::run::{ingest, IngestOptions, IngestReport};
use crate::ingest::source::{resolve_source, Source, SourceSpec};
use crate::pipeline::Pipeline;
use crate::query::{self, OutputFormat};
use crate::stages::{self, StagePlan};
use crate::warehouse::Warehouse;
use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use print::{print_build, print_checks, print_summary};
use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "govmedia",
    version,
    about = "Quarterly assessment of government new-media accounts (政务新媒体): ingest exports, build indicators, report",
    long_about = "govmedia ingests platform exports, crawler dumps, the account register and filing records into a \
Parquet warehouse, derives the quarterly indicators with SQL models, and writes the league tables and the draft notice.\n\n\
Typical quarter:\n  govmedia run pipelines/2019Q3.toml          # every stage of a pipeline file\n  \
govmedia sql \"SELECT * FROM posts LIMIT 5\"    # ask the warehouse\n\n\
Exit status: 0 success; 1 error (one line on stderr); 2 the run finished but some files could not be read."
)]
pub struct Cli {
    /// Warehouse root: a folder or an object-store URL (file://, memory://, s3:// with the s3 feature).
    #[arg(long, global = true, env = "GOVMEDIA_WAREHOUSE", default_value = "./warehouse")]
    pub warehouse: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a warehouse and its secret (the key that hashes message authors). Optional: the first
    /// ingest does it too.
    Init,
    /// Run the stages of a pipeline file in order.
    #[command(after_help = "Example:\n  govmedia run pipelines/fixtures.toml --stages ingest")]
    Run {
        /// The pipeline file (TOML; see pipelines/example.toml).
        pipeline: PathBuf,
        /// Stages to run, comma separated.
        #[arg(long, value_delimiter = ',', default_value = "ingest,build,report")]
        stages: Vec<Stage>,
        /// Quarter to build and report (overrides the pipeline file's `quarter`).
        #[arg(long)]
        quarter: Option<String>,
        /// Also convert the report's DOCX files to PDF (needs LibreOffice's soffice).
        #[arg(long)]
        pdf: bool,
    },
    /// Ingest one source by hand: a kind, a format and files.
    #[command(after_help = "Examples:\n  govmedia ingest registry canonical 台账.xlsx\n  \
govmedia ingest posts wechat-mp exports/gh_edu000000001/*.xlsx\n  \
govmedia ingest followers weibo-crawler-users users.csv --as-of 2019-09-30\n\n\
Kinds: calendar registry filings posts interactions followers directives self_inspections findings\n\
Formats: canonical weibo-crawler weibospider wechat-mp douyin-creator mediacrawler wechat-comments weibo-crawler-users wechat-mp-users")]
    Ingest {
        kind: String,
        format: String,
        /// Files or glob patterns.
        #[arg(required = true)]
        paths: Vec<String>,
        /// The account of formats whose files name none (default: the file's folder name).
        #[arg(long)]
        account: Option<String>,
        /// The platform of MediaCrawler dumps (default: a douyin/ or weibo/ folder in the path).
        #[arg(long)]
        platform: Option<String>,
        /// The date of a follower snapshot that carries none (weibo-crawler-users).
        #[arg(long)]
        as_of: Option<String>,
    },
    /// Run the SQL models for a quarter: every indicator, the scores and the marts.
    #[command(after_help = "Examples:\n  govmedia build --quarter 2019Q3\n  \
govmedia build --quarter 2019Q3 --check-point 2019-09-20T00:00:00+08:00 --rubric my_rubric.toml\n\n\
Marts are kept per quarter: building 2019Q4 keeps 2019Q3; rebuilding a quarter replaces only it.")]
    Build(BuildArgs),
    /// Write a quarter's report: charts, league tables (XLSX, CSV, HTML), the draft notice and index.html.
    #[command(after_help = "Example:\n  govmedia report --quarter 2019Q3 --out reports\n\n\
Charts need a font with Chinese characters (Debian: apt-get install fonts-noto-cjk), or GOVMEDIA_CJK_FONT=FAMILY.")]
    Report {
        #[arg(long)]
        quarter: String,
        /// Folder for the report (a subfolder per quarter).
        #[arg(long, default_value = "reports")]
        out: PathBuf,
        /// Also convert the notice and rectification notices (DOCX) to PDF (needs LibreOffice's soffice).
        #[arg(long)]
        pdf: bool,
        /// The rubric file the quarter was built with (its grades band the score chart); default:
        /// the built-in rubric.
        #[arg(long, value_name = "FILE")]
        rubric: Option<PathBuf>,
        /// Whose report: a district office's (its units), a city's (its districts ranked, the worst
        /// units named) or a province's (its cities ranked). Default: the level the register's
        /// regions imply (所属市, 所属区县), a district without them.
        #[arg(long, value_enum)]
        level: Option<crate::report::levels::Level>,
    },
    /// Run the data tests: the models' declared tests and the ingest checks, without writing.
    #[command(after_help = "Tests live beside the models (sql/**/MODEL.toml). Exit status 1 when an error-severity test fails.")]
    Test(BuildArgs),
    /// Query the warehouse in SQL: every staging table and mart by name. Read-only.
    #[command(after_help = "Examples:\n  govmedia sql \"SELECT platform, count(*) FROM posts GROUP BY platform\"\n  \
govmedia sql \"SELECT * FROM rejects\" --format csv --output rejects.csv")]
    Sql {
        /// The query; without one, an interactive shell.
        query: Option<String>,
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
        /// Write the result to this file instead of the terminal (never inside the warehouse).
        #[arg(long)]
        output: Option<PathBuf>,
        /// The most rows the table format shows (the other formats write every row).
        #[arg(long, default_value_t = 1000)]
        max_rows: usize,
    },
    /// Serve the warehouse to Postgres clients (psql, DBeaver, ODBC, pandas, BI tools): every
    /// staging table and mart, read-only.
    #[cfg(feature = "serve")]
    #[command(after_help = "Examples:\n  govmedia serve                                   # 127.0.0.1:5433, no password\n  \
psql -h 127.0.0.1 -p 5433 -c '\\dt'\n  \
GOVMEDIA_PG_PASSWORD=… govmedia serve --listen 0.0.0.0:5433 --tls-cert cert.pem --tls-key key.pem\n\n\
A password (GOVMEDIA_PG_PASSWORD or --password-file; any user name) is required of every client when set, and must be set \
to listen on an address other than loopback (a host name: unless all its addresses are loopback). \
A cancel request (psql's Ctrl-C) stops the client's running statement. Each statement sees the warehouse's latest committed version.")]
    Serve {
        /// HOST:PORT to listen on: an IP address or a host name (localhost:5433), resolved once at
        /// start; every address it resolves to is served.
        #[arg(long, default_value = "127.0.0.1:5433")]
        listen: String,
        /// A file whose first line is the password (instead of GOVMEDIA_PG_PASSWORD).
        #[arg(long)]
        password_file: Option<PathBuf>,
        /// A PEM certificate chain: with --tls-key, clients may connect with TLS (sslmode=require).
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The PEM private key of --tls-cert.
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
    },
    /// The processes of a Ballista cluster that `build --cluster` runs the models on.
    #[cfg(feature = "cluster")]
    #[command(
        subcommand,
        after_help = "Example (one machine, two executors):\n  govmedia cluster scheduler --bind 127.0.0.1:50050 &\n  \
govmedia cluster executor --bind 127.0.0.1:50051 --concurrency 1 &\n  \
govmedia cluster executor --bind 127.0.0.1:50061 --concurrency 1 &\n  \
govmedia build --quarter 2019Q3 --cluster df://127.0.0.1:50050"
    )]
    Cluster(ClusterCommand),
    /// Early warnings (预警) between quarterly checks: what is about to break or has just broken,
    /// per unit and account, as of a point. Reads only, unless --save.
    #[command(after_help = "Examples:\n  govmedia watch\n  \
govmedia watch --as-of 2019-09-17T09:00:00+08:00 --within 3d\n  \
govmedia watch --format xlsx --output 预警.xlsx --save\n\n\
Exit status: 0 no warning is past due; 3 some warning is already past due (for a scheduled job to alert); 1 error.")]
    Watch {
        /// The as-of point (RFC 3339); default: now.
        #[arg(long)]
        as_of: Option<String>,
        /// Messages due within this long are listed, and directive windows closed this long ago (3d, 36h, 2w).
        #[arg(long, default_value = "3d")]
        within: String,
        #[arg(long, value_enum, default_value_t = crate::watch::output::WatchFormat::Table)]
        format: crate::watch::output::WatchFormat,
        /// Write the list to this file (xlsx needs one); default: the terminal.
        #[arg(long)]
        output: Option<PathBuf>,
        /// Keep the list in the warehouse as the watch_warnings mart (a partition per as-of date).
        #[arg(long)]
        save: bool,
        /// A rubric file (warn_no_update_days and the limits); default: the built-in rubric.
        #[arg(long)]
        rubric: Option<PathBuf>,
        /// A folder of SQL models (staging/, intermediate/, marts/, watch/); default: ./sql if present, else the built-in models.
        #[arg(long)]
        models: Option<PathBuf>,
    },
    /// Generate the demo district's exports into ./demo and run every stage on them.
    Demo {
        /// Folder for the generated exports.
        #[arg(long, default_value = "demo")]
        out: PathBuf,
        #[arg(long, default_value_t = 2019)]
        seed: u64,
    },
    /// Write a fictional district's quarter of exports in the real formats, with a pipeline file.
    #[command(after_help = "Example:\n  govmedia generate --out demo --seed 7 && govmedia run demo/pipeline.toml")]
    Generate {
        /// Folder to write (created; existing files are overwritten).
        #[arg(long, default_value = "demo")]
        out: PathBuf,
        /// The quarter the exports cover.
        #[arg(long, default_value_t = crate::generate::DEMO_QUARTER.to_string())]
        quarter: String,
        /// Same seed, same files.
        #[arg(long, default_value_t = 2019)]
        seed: u64,
        /// Instead of export files, write a synthetic quarter of this size straight into the
        /// warehouse's staging tables (for benchmarks): district ~120 accounts, city ~2,000,
        /// province ~30,000 (~5M posts), national ~300,000 (~50M posts, ~100M messages).
        #[arg(long, value_enum)]
        tier: Option<crate::generate::tiers::Tier>,
        /// With --tier: also write the tier's register, posts and messages as canonical CSV
        /// exports into this folder (DIR/registry, DIR/posts, DIR/interactions, one file per
        /// platform), for timing ingest.
        #[arg(long, requires = "tier", value_name = "DIR")]
        exports: Option<PathBuf>,
        /// With --exports: canonical CSV, or the platforms' own formats (CSV, XLSX, JSON and
        /// JSON Lines per platform, as the demo's) with DIR/pipeline.toml to ingest them; these
        /// are held in memory while written: for the district and city tiers.
        #[arg(long, requires = "exports", value_enum, default_value_t)]
        formats: crate::generate::tier_exports::ExportFormats,
        /// With --tier: replace a warehouse that already holds data (all of it).
        #[arg(long, requires = "tier")]
        force: bool,
    },
}

/// What a build (or a test run) assesses, and with which rubric and models.
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The quarter, e.g. 2019Q3.
    #[arg(long)]
    pub quarter: String,
    /// The check point (RFC 3339); default: the end of the quarter.
    #[arg(long)]
    pub check_point: Option<String>,
    /// A rubric file (see pipelines/rubric.toml); default: the built-in rubric.
    #[arg(long)]
    pub rubric: Option<PathBuf>,
    /// A folder of SQL models (staging/, intermediate/, marts/); default: ./sql if present, else the built-in models.
    #[arg(long)]
    pub models: Option<PathBuf>,
    /// Run the models on a Ballista cluster: its scheduler, df://HOST:PORT (see `govmedia cluster`).
    /// Its executors read the warehouse themselves: a folder they all see, or s3://.
    #[arg(long, env = "GOVMEDIA_CLUSTER")]
    pub cluster: Option<String>,
}

/// The processes of a Ballista cluster (`govmedia build --cluster`).
#[cfg(feature = "cluster")]
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// The scheduler: plans each query into stages and hands their tasks to the executors.
    Scheduler {
        /// The address and port clients and executors reach it on.
        #[arg(long, default_value = "127.0.0.1:50050")]
        bind: std::net::SocketAddr,
        /// The host name executors reach it by, if not --bind's address (needed with 0.0.0.0).
        #[arg(long)]
        external_host: Option<String>,
        /// Seconds without a heartbeat after which an executor counts as lost and its tasks run elsewhere.
        #[arg(long, default_value_t = 30)]
        executor_timeout: u64,
    },
    /// An executor: runs the tasks the scheduler hands it, reading the warehouse itself.
    Executor {
        /// The scheduler's HOST:PORT.
        #[arg(long, default_value = "127.0.0.1:50050")]
        scheduler: String,
        /// The address and port of its Arrow Flight service (task results are fetched there).
        #[arg(long, default_value = "127.0.0.1:50051")]
        bind: std::net::SocketAddr,
        /// The port of its gRPC service (tasks are handed to it there); default: --bind's port + 1.
        #[arg(long)]
        grpc_port: Option<u16>,
        /// The host name the scheduler and other executors reach it by, if not --bind's address.
        #[arg(long)]
        external_host: Option<String>,
        /// Tasks run at once; default: the machine's cores.
        #[arg(long)]
        concurrency: Option<usize>,
        /// Where task results and spills are written; default: a temporary folder.
        #[arg(long)]
        work_dir: Option<PathBuf>,
        /// Seconds between heartbeats to the scheduler (keep it well under its --executor-timeout).
        #[arg(long, default_value_t = 5)]
        heartbeat: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Stage {
    Ingest,
    Build,
    Report,
}

impl From<Stage> for stages::Stage {
    fn from(s: Stage) -> stages::Stage {
        match s {
            Stage::Ingest => stages::Stage::Ingest,
            Stage::Build => stages::Stage::Build,
            Stage::Report => stages::Stage::Report,
        }
    }
}

/// An error and its causes in one line, `outer: cause: …`, each text once: a cause whose text its
/// error already shows (DataFusion's errors wrap and repeat their sources) is not said again.
pub fn error_chain(e: &anyhow::Error) -> String {
    let mut line = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
    }
    line
}

pub fn main_with_args(args: impl IntoIterator<Item = OsString>) -> anyhow::Result<i32> {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return Ok(if e.use_stderr() { 1 } else { 0 });
        }
    };
    // Query plans are encoded, decoded and planned by recursion: a Ballista scheduler (and
    // its client) on a model's plan overflowed the 2 MiB a thread has by default. The stack is
    // reserved, not used, until a deep plan needs it.
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().thread_stack_size(32 << 20).build()?;
    rt.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<i32> {
    // Commands that only read (or build from what is there) need a warehouse that exists: a
    // mistyped --warehouse is reported, never created and read as empty.
    // Export files only: no warehouse is opened (or created).
    if let Command::Generate { out, quarter, seed, tier: None, .. } = &cli.command {
        return generate_exports(out, quarter, *seed);
    }
    // A cluster's processes open no warehouse: each query names the files it reads.
    #[cfg(feature = "cluster")]
    if let Command::Cluster(role) = cli.command {
        return cluster(role).await;
    }
    let reads_only =
        matches!(cli.command, Command::Sql { .. } | Command::Report { .. } | Command::Build(_) | Command::Test(_) | Command::Watch { .. });
    #[cfg(feature = "serve")]
    let reads_only = reads_only || matches!(cli.command, Command::Serve { .. });
    let wh = if reads_only { Warehouse::open_existing(&cli.warehouse)? } else { Warehouse::open(&cli.warehouse)? };
    match cli.command {
        Command::Init => {
            let m = wh.init().await?;
            println!("warehouse {} ready (manifest version {})", wh.display, m.version);
            Ok(0)
        }
        Command::Run { pipeline, stages, quarter, pdf } => {
            let p = Pipeline::load(&pipeline)?;
            let quarter = quarter.as_deref().map(crate::time::Quarter::parse).transpose()?;
            let plan = StagePlan { pipeline: &p, quarter, report_dir: None, ingest: ingest_options(), pdf };
            let stages: Vec<stages::Stage> = stages.into_iter().map(Stage::into).collect();
            let outcome = run_stages_with_signal(&wh, &plan, &stages).await?;
            Ok(if outcome.failed_files > 0 {
                2
            } else if outcome.pdf_failed {
                1
            } else {
                0
            })
        }
        Command::Ingest { kind, format, paths, account, platform, as_of } => {
            // Every path shares the rest of the spec.
            let spec = SourceSpec { kind, format, path: String::new(), account, platform, as_of };
            ingest_files(&wh, &spec, &paths).await
        }
        Command::Demo { out, seed } => demo(&wh, &out, seed).await,
        Command::Generate { out: _, quarter, seed, tier: Some(tier), exports, formats, force } => {
            generate_tier(&wh, tier, &quarter, seed, force, exports.as_deref().map(|dir| (dir, formats))).await
        }
        Command::Generate { out, quarter, seed, tier: None, .. } => generate_exports(&out, &quarter, seed),
        Command::Report { quarter, out, pdf, rubric, level } => {
            let quarter = crate::time::Quarter::parse(&quarter)?;
            let rubric = match rubric {
                Some(path) => crate::models::rubric::Rubric::load(&path)?,
                None => crate::models::rubric::Rubric::builtin(),
            };
            let opts = crate::report::ReportOptions { pdf, rubric, level, ..Default::default() };
            let r = stages::report(&wh, quarter, &out, &opts, &mut print_event).await?;
            Ok(if r.pdf_error.is_some() { 1 } else { 0 })
        }
        Command::Build(a) => {
            let quarter = crate::time::Quarter::parse(&a.quarter)?;
            let mut on = print_event;
            let engine = crate::engine::Engine::from_cluster_url(a.cluster.as_deref())?;
            let build =
                stages::build_on(&engine, &wh, quarter, a.check_point.as_deref(), a.rubric.as_deref(), a.models.as_deref(), &mut on);
            let at_start = wh.commits_made();
            interruptible(&wh, async { Ok(build.await?) }, || (stages::Stage::Build, at_start)).await?;
            Ok(0)
        }
        Command::Test(a) => {
            let quarter = crate::time::Quarter::parse(&a.quarter)?;
            let (scope, rubric) = stages::build_inputs(quarter, a.check_point.as_deref(), a.rubric.as_deref())?;
            let engine = crate::engine::Engine::from_cluster_url(a.cluster.as_deref())?;
            let report = crate::models::build_on(&engine, &wh, scope, &rubric, a.models.as_deref(), false).await?;
            print_checks(&report);
            Ok(if report.failures().is_empty() { 0 } else { 1 })
        }
        Command::Sql { query, format, output, max_rows } => sql(&wh, query, format, output, max_rows).await,
        // Started above, before a warehouse is opened; here for completeness.
        #[cfg(feature = "cluster")]
        Command::Cluster(role) => cluster(role).await,
        #[cfg(feature = "serve")]
        Command::Serve { listen, password_file, tls_cert, tls_key } => serve(wh, listen, password_file, tls_cert.zip(tls_key)).await,
        Command::Watch { as_of, within, format, output, save, rubric, models } => {
            let opts = crate::watch::WatchOptions {
                as_of,
                now_s: chrono::Utc::now().timestamp(),
                within_s: crate::watch::parse_within(&within)?,
                rubric,
                models,
            };
            watch(&wh, &opts, format, output, save).await
        }
    }
}

/// `watch`: the warnings printed or written, kept with --save; exit status 3 when one is past due.
async fn watch(
    wh: &Warehouse,
    opts: &crate::watch::WatchOptions,
    format: crate::watch::output::WatchFormat,
    output: Option<PathBuf>,
    save: bool,
) -> anyhow::Result<i32> {
    use crate::watch::output;
    if let Some(path) = &output {
        refuse_inside_warehouse(wh, path)?;
    }
    let report = crate::watch::watch(wh, opts).await?;
    if let Some(last) = report.last_post_s.filter(|l| report.as_of_s - l > 7 * 86400) {
        eprintln!(
            "note: the newest post in the warehouse is of {}: ingest newer exports for warnings that reflect today",
            crate::time::format_micros_beijing(last * 1_000_000)
        );
    }
    match &output {
        Some(path) => {
            output::write_file(&report, format, path)?;
            eprintln!("{}; written to {}", output::heading(&report), path.display());
        }
        None => {
            let stdout = std::io::stdout();
            output::write(&report, format, &mut stdout.lock())?;
        }
    }
    if save {
        let at_start = wh.commits_made();
        let version = interruptible(wh, async { Ok(crate::watch::save(wh, &report).await?) }, || (stages::Stage::Build, at_start)).await?;
        eprintln!("saved {} warnings to {} (manifest version {version})", report.warnings.len(), crate::watch::MART);
    }
    Ok(if report.past_due() > 0 { 3 } else { 0 })
}

/// `cluster scheduler|executor`: a Ballista process of the cluster until Ctrl-C.
#[cfg(feature = "cluster")]
async fn cluster(role: ClusterCommand) -> anyhow::Result<i32> {
    use crate::cluster::{ExecutorOptions, SchedulerOptions};
    match role {
        ClusterCommand::Scheduler { bind, external_host, executor_timeout } => {
            crate::cluster::scheduler(SchedulerOptions { bind, external_host, executor_timeout_s: executor_timeout }).await?
        }
        ClusterCommand::Executor { scheduler, bind, grpc_port, external_host, concurrency, work_dir, heartbeat } => {
            let grpc_port = match grpc_port {
                Some(p) => p,
                None => bind.port().checked_add(1).context("--bind's port is the last one: give --grpc-port")?,
            };
            let concurrency = concurrency.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2));
            let work_dir = work_dir.map(|d| d.display().to_string());
            let o = ExecutorOptions { scheduler, bind, grpc_port, external_host, concurrency, work_dir, heartbeat_s: heartbeat };
            crate::cluster::executor(o).await?
        }
    }
    Ok(0)
}

/// `serve`: the warehouse to Postgres clients until Ctrl-C.
#[cfg(feature = "serve")]
async fn serve(wh: Warehouse, listen: String, password_file: Option<PathBuf>, tls: Option<(PathBuf, PathBuf)>) -> anyhow::Result<i32> {
    let password = match &password_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read the password file {}", path.display()))?;
            let line = text.lines().next().unwrap_or("").trim_end_matches('\r').to_string();
            if line.is_empty() {
                bail!("the password file {} is empty: its first line is the password", path.display());
            }
            Some(line)
        }
        None => std::env::var("GOVMEDIA_PG_PASSWORD").ok().filter(|p| !p.is_empty()),
    };
    let secured = password.is_some();
    let encrypted = tls.is_some();
    let opts = crate::serve::ServeOptions { listen, password, tls };
    let display = wh.display.clone();
    crate::serve::serve(wh, &opts, |addrs, version| {
        let addrs = addrs.iter().map(ToString::to_string).collect::<Vec<_>>().join(" and ");
        println!(
            "govmedia serve: listening on {addrs} (warehouse {display}, manifest version {version}; read-only; {}, {})",
            if secured { "password required" } else { "no password" },
            if encrypted { "TLS available" } else { "no TLS" }
        );
        let _ = std::io::Write::flush(&mut std::io::stdout());
    })
    .await?;
    Ok(0)
}

/// `ingest`: every path (a file or a glob) is one source of the same kind and format.
async fn ingest_files(wh: &Warehouse, spec: &SourceSpec, paths: &[String]) -> anyhow::Result<i32> {
    let base = std::env::current_dir()?;
    let mut sources = Vec::new();
    for (i, path) in paths.iter().enumerate() {
        let spec = SourceSpec { path: path.clone(), ..spec.clone() };
        sources.push(resolve_source(&base, i + 1, &spec)?);
    }
    let report = ingest_with_signal(wh, &sources).await?;
    print_summary(&report);
    Ok(if report.failed_files() > 0 { 2 } else { 0 })
}

/// `demo`: generates the demo district's exports, then runs every stage on them.
async fn demo(wh: &Warehouse, out: &std::path::Path, seed: u64) -> anyhow::Result<i32> {
    let quarter = crate::generate::DEMO_QUARTER;
    let g = crate::generate::generate(&crate::generate::GenerateOptions { out: out.to_path_buf(), quarter, seed })?;
    println!("generated {} demo files in {}", g.files, out.display());
    let p = Pipeline::load(&g.pipeline)?;
    // The quarter is the generated pipeline file's.
    let plan = StagePlan { pipeline: &p, quarter: None, report_dir: Some(out.join("reports")), ingest: ingest_options(), pdf: false };
    let all = [stages::Stage::Ingest, stages::Stage::Build, stages::Stage::Report];
    let outcome = run_stages_with_signal(wh, &plan, &all).await?;
    println!("try: govmedia --warehouse {} sql \"SELECT unit_name, score, rank FROM unit_quarter_scores ORDER BY rank\"", wh.display);
    if let Some(r) = &outcome.report {
        println!("report: {}", r.index.display());
    }
    Ok(if outcome.failed_files > 0 { 2 } else { 0 })
}

/// `generate --tier`: a synthetic quarter straight into the warehouse, and optionally its exports.
async fn generate_tier(
    wh: &Warehouse,
    tier: crate::generate::tiers::Tier,
    quarter: &str,
    seed: u64,
    force: bool,
    exports: Option<(&std::path::Path, crate::generate::tier_exports::ExportFormats)>,
) -> anyhow::Result<i32> {
    let quarter = crate::time::Quarter::parse(quarter)?;
    let started = std::time::Instant::now();
    let s = crate::generate::tiers::generate_tier(wh, tier, quarter, seed, force).await?;
    println!(
        "generated the {} tier for {quarter} into {}: {} units, {} accounts, {} posts, {} messages in {} files ({:.1} s)",
        tier.name(),
        wh.display,
        s.units,
        s.accounts,
        s.posts,
        s.messages,
        s.files,
        started.elapsed().as_secs_f64()
    );
    if let Some((dir, formats)) = exports {
        let started = std::time::Instant::now();
        let written = crate::generate::tier_exports::write_exports(wh, dir, formats, quarter).await?;
        let bytes: u64 = written.iter().map(|w| w.3).sum();
        let what = match formats {
            crate::generate::tier_exports::ExportFormats::Canonical => "of CSV",
            crate::generate::tier_exports::ExportFormats::Platform => "in the platforms' formats; ingest them with DIR/pipeline.toml",
        };
        println!(
            "wrote {} export files ({:.1} MB {what}) to {} ({:.1} s)",
            written.len(),
            bytes as f64 / 1e6,
            dir.display(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(0)
}

/// `generate`: the demo district's export files and their pipeline file.
fn generate_exports(out: &std::path::Path, quarter: &str, seed: u64) -> anyhow::Result<i32> {
    let quarter = crate::time::Quarter::parse(quarter)?;
    let g = crate::generate::generate(&crate::generate::GenerateOptions { out: out.to_path_buf(), quarter, seed })?;
    println!(
        "wrote {} files for {} units and {} accounts ({} posts, {} messages; {} planted problems) to {}",
        g.files,
        g.plan.units.len(),
        g.plan.accounts.len(),
        g.plan.posts.len(),
        g.plan.messages.len(),
        g.plan.planted.len(),
        out.display()
    );
    println!("next: govmedia run {}", g.pipeline.display());
    Ok(0)
}

/// `sql`: one query printed or written to a file, or the shell when no query is given.
async fn sql(wh: &Warehouse, sql: Option<String>, format: OutputFormat, output: Option<PathBuf>, max_rows: usize) -> anyhow::Result<i32> {
    if let Some(path) = &output {
        refuse_inside_warehouse(wh, path)?;
    }
    let ctx = crate::engine::warehouse_session(wh).await?;
    let Some(sql) = sql else {
        query::shell::run(&ctx, format, max_rows).await?;
        return Ok(0);
    };
    let written = match output {
        Some(path) => {
            // Written beside the target and renamed over it once complete: a failed or refused
            // query leaves an earlier result as it was, never a truncated one, and a link at the
            // target is replaced, never followed.
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let partial = path.with_file_name(format!(".{name}.{}.partial", std::process::id()));
            let file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&partial)
                .with_context(|| format!("cannot write {}", partial.display()))?;
            let mut file = std::io::BufWriter::new(file);
            let sink = query::Sink { format, out: &mut file, bom: true, max_rows };
            let result = query::stream_query(&ctx, &sql, sink).await.and_then(|w| {
                std::io::Write::flush(&mut file)?;
                Ok(w)
            });
            drop(file);
            match result.and_then(|w| std::fs::rename(&partial, &path).map(|_| w).map_err(Into::into)) {
                Ok(w) => w,
                Err(e) => {
                    let _ = std::fs::remove_file(&partial);
                    return Err(anyhow::Error::from(e).context(format!("nothing was written to {}", path.display())));
                }
            }
        }
        None if format == OutputFormat::Parquet => bail!("--format parquet writes a file: give --output FILE"),
        None => {
            let stdout = std::io::stdout();
            let mut lock = stdout.lock();
            query::stream_query(&ctx, &sql, query::Sink { format, out: &mut lock, bom: false, max_rows }).await?
        }
    };
    if written.truncated {
        eprintln!(
            "first {} rows shown; more rows not shown: add a LIMIT, raise --max-rows, or write them all with --format csv --output FILE",
            written.rows
        );
    }
    Ok(0)
}

/// `sql --output` must never overwrite a warehouse file: an output path inside a local warehouse
/// is refused (its folder, followed through links, is compared with the warehouse's).
fn refuse_inside_warehouse(wh: &Warehouse, path: &std::path::Path) -> anyhow::Result<()> {
    let Some(root) = wh.local_root() else { return Ok(()) };
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let resolved = match std::fs::canonicalize(path) {
        Ok(p) => p,
        Err(_) => {
            let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
            let parent =
                std::fs::canonicalize(parent).with_context(|| format!("cannot write {}: its folder does not exist", path.display()))?;
            parent.join(path.file_name().unwrap_or_default())
        }
    };
    if resolved.starts_with(&root) {
        bail!("refused: --output {} is inside the warehouse {}; write query results elsewhere", path.display(), wh.display);
    }
    Ok(())
}

/// Prints what the stages tell as it happens.
fn print_event(event: stages::Event<'_>) {
    use stages::Event;
    match event {
        Event::Started(stage) => eprintln!("== {stage:?} stage"),
        Event::Ingested(report) => print_summary(report),
        Event::Built(report) => {
            print_build(report);
            print_checks(report);
        }
        Event::Reported { quarter, report: r, elapsed } => {
            println!(
                "report {quarter}: {} files in {} ({:.1} s); {} accounts checked, {} failed, pass rate {}",
                r.files.len(),
                r.dir.display(),
                elapsed.as_secs_f64(),
                r.checked,
                r.failed,
                r.pass_rate.map(|p| format!("{p:.2}%")).unwrap_or_else(|| "—".into())
            );
            print_criticised(r);
            println!("open {}", r.index.display());
            if let Some(e) = &r.pdf_error {
                eprintln!("error: {e}");
            }
        }
        Event::Finished(stage, elapsed) => eprintln!("== {stage:?} stage done in {:.1} s", elapsed.as_secs_f64()),
    }
}

/// How many criticised units a district's report lists on the terminal; beyond it (a district's
/// report asked of a province's warehouse) the rest are counted and left to the attachment.
const CRITICISED_LISTED: usize = 30;

/// The criticised units: at a district's level each of them (a few dozen); at a city's or a
/// province's, the counts and the units the notice names, the thousands in the attachment.
fn print_criticised(r: &crate::report::ReportOutput) {
    // A closed pipe (`govmedia report … | head`) is no reason to fail a written report.
    let _ = write_criticised(&mut std::io::stdout().lock(), r);
}

fn write_criticised(out: &mut impl std::io::Write, r: &crate::report::ReportOutput) -> std::io::Result<()> {
    if let Some(l) = &r.level {
        writeln!(
            out,
            "criticised: {} of {} units in {} {}; the notice names {}: {}",
            r.criticised.len(),
            l.units,
            l.regions,
            l.region_zh,
            l.named.len(),
            l.named.join("、")
        )?;
        let last = if l.last_regions.is_empty() { String::new() } else { format!(" and the last-ranked {}", l.last_regions.join("、")) };
        writeln!(out, "rectification notices: {} named units{last}", l.rectified)?;
        writeln!(out, "every unit, account and problem: {}", r.attachment.display())
    } else if r.criticised.is_empty() {
        writeln!(out, "no unit is criticised this quarter")
    } else if r.criticised.len() > CRITICISED_LISTED {
        writeln!(
            out,
            "criticised ({}): {}… and {} more, every one in {}",
            r.criticised.len(),
            r.criticised[..CRITICISED_LISTED].join("、"),
            r.criticised.len() - CRITICISED_LISTED,
            r.attachment.display()
        )
    } else {
        writeln!(out, "criticised ({}): {}", r.criticised.len(), r.criticised.join("、"))
    }
}

/// What an interrupt leaves, by the stage it stopped.
fn interrupted(stage: stages::Stage) -> &'static str {
    match stage {
        stages::Stage::Ingest => "interrupted: nothing was committed; the warehouse is as it was before this run",
        stages::Stage::Build => "interrupted: nothing was committed; the marts are as they were before this build",
        stages::Stage::Report => "interrupted: the warehouse is unchanged; the report's folder may be incomplete",
    }
}

/// Runs `work`, with Ctrl-C (SIGINT) stopping it: a commit under way is waited for and none
/// starts after, the lock this process holds is released, and the message says whether the
/// interrupted stage (`stage()`: the stage, and this process's commit count when it started)
/// committed or not.
async fn interruptible<T>(
    wh: &Warehouse,
    work: impl std::future::Future<Output = anyhow::Result<T>>,
    stage: impl Fn() -> (stages::Stage, u64),
) -> anyhow::Result<T> {
    let interrupt = interrupt()?;
    tokio::select! {
        r = work => r,
        _ = interrupt => {
            let commits = wh.stop_commits().await;
            wh.release_held_lock().await?;
            let (stage, at_start) = stage();
            match commits.last {
                Some(version) if commits.committed > at_start => bail!(
                    "interrupted after the {} stage committed manifest version {version}; the stages after it did not run",
                    format!("{stage:?}").to_lowercase()
                ),
                _ => bail!("{}", interrupted(stage)),
            }
        }
    }
}

/// Resolves at the first Ctrl-C (SIGINT). The handler is installed by this call, before the work
/// starts, not at the first poll: a signal that arrives just after a stage has taken the
/// warehouse's lock is caught and the lock released, instead of ending the process with it held.
fn interrupt() -> std::io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
        Ok(async move {
            sigint.recv().await;
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

fn ingest_options() -> IngestOptions {
    IngestOptions { progress: std::io::stderr().is_terminal(), ..Default::default() }
}

/// The stages, with Ctrl-C leaving the warehouse as the last committed stage left it: the running
/// stage stops before its manifest swap and the lock this process holds is released.
async fn run_stages_with_signal(wh: &Warehouse, plan: &StagePlan<'_>, stages: &[stages::Stage]) -> anyhow::Result<stages::Outcome> {
    let current = std::cell::Cell::new((stages::Stage::Ingest, wh.commits_made()));
    let mut on = |event: stages::Event<'_>| {
        if let stages::Event::Started(stage) = event {
            current.set((stage, wh.commits_made()));
        }
        print_event(event);
    };
    let work = async { Ok(stages::run_stages(wh, plan, stages, &mut on).await?) };
    interruptible(wh, work, || current.get()).await
}

/// Ingest, with Ctrl-C leaving the warehouse as it was: the run stops before its manifest swap and
/// the lock is released.
async fn ingest_with_signal(wh: &Warehouse, sources: &[Source]) -> anyhow::Result<IngestReport> {
    let opts = ingest_options();
    let at_start = wh.commits_made();
    interruptible(wh, async { Ok(ingest(wh, sources, &opts).await?) }, || (stages::Stage::Ingest, at_start)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(criticised: usize) -> crate::report::ReportOutput {
        crate::report::ReportOutput {
            dir: "r/2019Q3".into(),
            index: "r/2019Q3/index.html".into(),
            files: Vec::new(),
            criticised: (0..criticised).map(|i| format!("单位{i:04}")).collect(),
            checked: 0,
            failed: 0,
            pass_rate: None,
            pdf_error: None,
            attachment: "r/2019Q3/2019Q3_排名.xlsx".into(),
            level: None,
        }
    }

    fn printed(r: &crate::report::ReportOutput) -> String {
        let mut out = Vec::new();
        write_criticised(&mut out, r).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_district_report_lists_its_criticised_units_up_to_thirty() {
        let few = printed(&output(4));
        assert_eq!(few, "criticised (4): 单位0000、单位0001、单位0002、单位0003\n");
        // A district's report of a province's warehouse: 30 named, the rest counted.
        let many = printed(&output(5410));
        assert_eq!(many.matches("单位").count(), 30, "{many}");
        assert!(
            many.starts_with("criticised (5410): 单位0000、") && many.contains("… and 5380 more, every one in r/2019Q3/2019Q3_排名.xlsx")
        );
    }

    #[test]
    fn a_regional_report_prints_counts_and_the_named_units() {
        let mut r = output(5410);
        r.level = Some(crate::report::LevelSummary {
            region_zh: "地市",
            regions: 13,
            units: 10000,
            named: vec!["单位0007".into(), "单位0009".into()],
            last_regions: vec!["市13".into()],
            rectified: 2,
        });
        let text = printed(&r);
        assert_eq!(text.matches("单位").count(), 2, "{text}");
        assert!(text.contains("criticised: 5410 of 10000 units in 13 地市; the notice names 2: 单位0007、单位0009"), "{text}");
        assert!(text.contains("rectification notices: 2 named units and the last-ranked 市13"), "{text}");
        assert!(text.contains("every unit, account and problem: r/2019Q3/2019Q3_排名.xlsx"), "{text}");
    }
}
