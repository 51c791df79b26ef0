//! The command line (SPEC §10). Parsed flags become plain values before any work starts; nothing
//! past this module sees clap.

pub mod print;

use crate::ingest::run::{ingest, IngestOptions, IngestReport};
use print::{print_build, print_checks, print_summary};
use crate::pipeline::{resolve_source, Pipeline, SourceSpec};
use crate::query::{self, OutputFormat};
use crate::warehouse::Warehouse;
use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
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
        #[arg(long, default_value = "2019Q3")]
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Stage {
    Ingest,
    Build,
    Report,
}

pub fn main_with_args(args: impl IntoIterator<Item = OsString>) -> anyhow::Result<i32> {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return Ok(if e.use_stderr() { 1 } else { 0 });
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<i32> {
    // Commands that only read (or build from what is there) need a warehouse that exists: a
    // mistyped --warehouse is reported, never created and read as empty.
    let reads_only = matches!(cli.command, Command::Sql { .. } | Command::Report { .. } | Command::Build(_) | Command::Test(_));
    let wh = if reads_only { Warehouse::open_existing(&cli.warehouse)? } else { Warehouse::open(&cli.warehouse)? };
    match cli.command {
        Command::Init => {
            let m = wh.init().await?;
            println!("warehouse {} ready (manifest version {})", wh.display, m.version);
            Ok(0)
        }
        Command::Run { pipeline, stages, quarter, pdf } => {
            let p = Pipeline::load(&pipeline).map_err(anyhow::Error::msg)?;
            // --quarter, else the pipeline file's `quarter`.
            let stage_quarter = |stage: &str| {
                quarter.clone().or_else(|| p.spec.quarter.clone()).ok_or_else(|| {
                    anyhow::anyhow!("the {stage} stage needs a quarter: set `quarter` in {} or pass --quarter", pipeline.display())
                })
            };
            let mut code = 0;
            for stage in stages {
                let started = std::time::Instant::now();
                eprintln!("== {stage:?} stage");
                match stage {
                    Stage::Build => {
                        let q = stage_quarter("build")?;
                        let rubric = p.spec.rubric.as_ref().map(|r| p.dir.join(r));
                        build_and_print(&wh, &q, p.spec.check_point.as_deref(), rubric.as_deref(), None).await?;
                    }
                    Stage::Report => {
                        let q = stage_quarter("report")?;
                        let out = p.spec.report_dir.as_ref().map(|r| p.dir.join(r)).unwrap_or_else(|| PathBuf::from("reports"));
                        let opts = crate::report::ReportOptions { notice: p.spec.notice.clone(), pdf };
                        if report_and_print(&wh, &q, &out, &opts).await?.pdf_error.is_some() {
                            code = code.max(1);
                        }
                    }
                    Stage::Ingest => {
                        let sources = p.sources().map_err(anyhow::Error::msg)?;
                        let report = ingest_with_signal(&wh, &sources).await?;
                        print_summary(&report);
                        if report.failed_files() > 0 {
                            code = 2;
                        }
                    }
                }
                eprintln!("== {stage:?} stage done in {:.1} s", started.elapsed().as_secs_f64());
            }
            Ok(code)
        }
        Command::Ingest { kind, format, paths, account, platform, as_of } => {
            let base = std::env::current_dir()?;
            let mut sources = Vec::new();
            for (i, path) in paths.iter().enumerate() {
                let spec = SourceSpec {
                    kind: kind.clone(),
                    format: format.clone(),
                    path: path.clone(),
                    account: account.clone(),
                    platform: platform.clone(),
                    as_of: as_of.clone(),
                };
                sources.push(resolve_source(&base, i + 1, &spec).map_err(anyhow::Error::msg)?);
            }
            let report = ingest_with_signal(&wh, &sources).await?;
            print_summary(&report);
            Ok(if report.failed_files() > 0 { 2 } else { 0 })
        }
        Command::Demo { out, seed } => {
            let quarter = crate::time::Quarter { year: 2019, q: 3 };
            let g = crate::generate::generate(&crate::generate::GenerateOptions { out: out.clone(), quarter, seed })
                .map_err(anyhow::Error::msg)?;
            println!("generated {} demo files in {}", g.files, out.display());
            let p = Pipeline::load(&g.pipeline).map_err(anyhow::Error::msg)?;
            let sources = p.sources().map_err(anyhow::Error::msg)?;
            let started = std::time::Instant::now();
            let report = ingest_with_signal(&wh, &sources).await?;
            print_summary(&report);
            eprintln!("ingest done in {:.1} s", started.elapsed().as_secs_f64());
            let started = std::time::Instant::now();
            build_and_print(&wh, "2019Q3", None, None, None).await?;
            eprintln!("build done in {:.1} s", started.elapsed().as_secs_f64());
            let out_dir = out.join("reports");
            let opts = crate::report::ReportOptions { notice: p.spec.notice.clone(), pdf: false };
            let r = report_and_print(&wh, "2019Q3", &out_dir, &opts).await?;
            println!("try: govmedia --warehouse {} sql \"SELECT unit_name, score, rank FROM unit_quarter_scores ORDER BY rank\"", wh.display);
            println!("report: {}", r.index.display());
            Ok(if report.failed_files() > 0 { 2 } else { 0 })
        }
        Command::Generate { out, quarter, seed, tier: Some(tier), exports, force } => {
            let _ = out;
            let quarter = crate::time::Quarter::parse(&quarter).map_err(anyhow::Error::msg)?;
            let started = std::time::Instant::now();
            let s = crate::generate::tiers::generate_tier(&wh, tier, quarter, seed, force).await.map_err(anyhow::Error::msg)?;
            println!(
                "generated the {} tier for {quarter} into {}: {} units, {} accounts, {} posts, {} messages in {} files ({:.1} s)",
                tier.name(), wh.display, s.units, s.accounts, s.posts, s.messages, s.files, started.elapsed().as_secs_f64()
            );
            if let Some(dir) = exports {
                let started = std::time::Instant::now();
                let written = crate::generate::tier_exports::write_exports(&wh, &dir).await.map_err(anyhow::Error::msg)?;
                let bytes: u64 = written.iter().map(|w| w.3).sum();
                println!(
                    "wrote {} export files ({:.1} MB of CSV) to {} ({:.1} s)",
                    written.len(),
                    bytes as f64 / 1e6,
                    dir.display(),
                    started.elapsed().as_secs_f64()
                );
            }
            Ok(0)
        }
        Command::Generate { out, quarter, seed, tier: None, .. } => {
            let quarter = crate::time::Quarter::parse(&quarter).map_err(anyhow::Error::msg)?;
            let g = crate::generate::generate(&crate::generate::GenerateOptions { out: out.clone(), quarter, seed })
                .map_err(anyhow::Error::msg)?;
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
        Command::Report { quarter, out, pdf } => {
            let opts = crate::report::ReportOptions { pdf, ..Default::default() };
            let r = report_and_print(&wh, &quarter, &out, &opts).await?;
            Ok(if r.pdf_error.is_some() { 1 } else { 0 })
        }
        Command::Build(a) => {
            build_and_print(&wh, &a.quarter, a.check_point.as_deref(), a.rubric.as_deref(), a.models.as_deref()).await?;
            Ok(0)
        }
        Command::Test(a) => {
            let (scope, rubric) = build_inputs(&a.quarter, a.check_point.as_deref(), a.rubric.as_deref())?;
            let report = crate::models::build(&wh, scope, &rubric, a.models.as_deref(), false).await?;
            print_checks(&report);
            Ok(if report.failures().is_empty() { 0 } else { 1 })
        }
        Command::Sql { query: sql, format, output, max_rows } => {
            if let Some(path) = &output {
                refuse_inside_warehouse(&wh, path)?;
            }
            let ctx = query::warehouse_session(&wh).await?;
            let Some(sql) = sql else {
                query::shell::run(&ctx, format, max_rows).await?;
                return Ok(0);
            };
            let written = match output {
                Some(path) => {
                    let file = std::fs::File::create(&path).with_context(|| format!("cannot write {}", path.display()))?;
                    let mut file = std::io::BufWriter::new(file);
                    let sink = query::Sink { format, out: &mut file, bom: true, max_rows };
                    let written = query::stream_query(&ctx, &sql, sink).await?;
                    std::io::Write::flush(&mut file).with_context(|| format!("cannot write {}", path.display()))?;
                    written
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
    }
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
            let parent = std::fs::canonicalize(parent).with_context(|| format!("cannot write {}: its folder does not exist", path.display()))?;
            parent.join(path.file_name().unwrap_or_default())
        }
    };
    if resolved.starts_with(&root) {
        bail!(
            "refused: --output {} is inside the warehouse {}; write query results elsewhere",
            path.display(),
            wh.display
        );
    }
    Ok(())
}

async fn report_and_print(
    wh: &Warehouse,
    quarter: &str,
    out: &std::path::Path,
    opts: &crate::report::ReportOptions,
) -> anyhow::Result<crate::report::ReportOutput> {
    let q = crate::time::Quarter::parse(quarter).map_err(anyhow::Error::msg)?;
    let started = std::time::Instant::now();
    let r = crate::report::report(wh, &q.to_string(), out, opts).await?;
    println!(
        "report {q}: {} files in {} ({:.1} s); {} accounts checked, {} failed, pass rate {}",
        r.files.len(),
        r.dir.display(),
        started.elapsed().as_secs_f64(),
        r.checked,
        r.failed,
        r.pass_rate.map(|p| format!("{p:.2}%")).unwrap_or_else(|| "—".into())
    );
    if r.criticised.is_empty() {
        println!("no unit is criticised this quarter");
    } else {
        println!("criticised ({}): {}", r.criticised.len(), r.criticised.join("、"));
    }
    println!("open {}", r.index.display());
    if let Some(e) = &r.pdf_error {
        eprintln!("error: {e}");
    }
    Ok(r)
}

/// The quarter, check point and rubric of a build, checked.
fn build_inputs(
    quarter: &str,
    check_point: Option<&str>,
    rubric: Option<&std::path::Path>,
) -> anyhow::Result<(crate::models::BuildScope, crate::models::rubric::Rubric)> {
    use crate::models::{rubric::Rubric, BuildScope};
    let q = crate::time::Quarter::parse(quarter).map_err(anyhow::Error::msg)?;
    let scope = BuildScope::new(q, check_point).map_err(anyhow::Error::msg)?;
    let rubric = match rubric {
        Some(p) => Rubric::load(p).map_err(anyhow::Error::msg)?,
        None => Rubric::builtin(),
    };
    Ok((scope, rubric))
}

async fn build_and_print(
    wh: &Warehouse,
    quarter: &str,
    check_point: Option<&str>,
    rubric: Option<&std::path::Path>,
    models: Option<&std::path::Path>,
) -> anyhow::Result<crate::models::BuildReport> {
    let (scope, rubric) = build_inputs(quarter, check_point, rubric)?;
    let report = tokio::select! {
        r = crate::models::build(wh, scope, &rubric, models, true) => r?,
        _ = tokio::signal::ctrl_c() => {
            wh.release_held_lock().await?;
            bail!("interrupted: nothing was committed; the marts are as they were before this build")
        }
    };
    print_build(&report);
    print_checks(&report);
    if !report.failures().is_empty() {
        bail!(
            "build {} stopped: {} error-severity data test(s) failed; the marts of {} were not replaced (see data_quality and data_quality_failures)",
            report.quarter,
            report.failures().len(),
            report.quarter
        );
    }
    Ok(report)
}



/// Ingest, with Ctrl-C leaving the warehouse as it was: the run stops before its manifest swap and
/// the lock is released.
async fn ingest_with_signal(wh: &Warehouse, sources: &[crate::pipeline::Source]) -> anyhow::Result<IngestReport> {
    let opts = IngestOptions { progress: std::io::stderr().is_terminal(), ..Default::default() };
    tokio::select! {
        r = ingest(wh, sources, &opts) => Ok(r?),
        _ = tokio::signal::ctrl_c() => {
            wh.release_held_lock().await?;
            bail!("interrupted: nothing was committed; the warehouse is as it was before this run")
        }
    }
}

