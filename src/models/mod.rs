//! The SQL models (`sql/`): found, ordered by the tables their SQL names, and run on DataFusion;
//! marts are written to the warehouse, one partition per quarter, in one manifest swap.

pub mod checks;
pub mod rubric;

use crate::engine::Engine;
use crate::time::Quarter;
use crate::warehouse::{Warehouse, WarehouseError};
use arrow::array::{ArrayRef, Date32Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::SchemaRef;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded_models.rs"));
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Layer {
    /// A view over warehouse tables.
    Staging,
    /// A table kept in memory for the build.
    Intermediate,
    /// Parquet in the warehouse, partitioned by quarter.
    Mart,
    /// An early warning (`govmedia watch`): kept in memory, never run by a build.
    Watch,
}

impl Layer {
    fn of_folder(folder: &str) -> Option<Layer> {
        match folder {
            "staging" => Some(Layer::Staging),
            "intermediate" => Some(Layer::Intermediate),
            "marts" => Some(Layer::Mart),
            "watch" => Some(Layer::Watch),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Layer::Staging => "staging",
            Layer::Intermediate => "intermediate",
            Layer::Mart => "mart",
            Layer::Watch => "watch",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Model {
    pub name: String,
    pub layer: Layer,
    /// `staging/stg_posts.sql`.
    pub path: String,
    pub sql: String,
    /// The model's spec (the `.toml` beside it, parsed; default when there is none).
    pub spec: checks::ModelSpec,
    /// Models and tables its SQL names.
    pub reads: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{0}")]
    Invalid(String),
    #[error("model {model} ({path}): {source}")]
    Sql { model: String, path: String, source: datafusion::error::DataFusionError },
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
    #[error("cannot read rubric {}: {source}", path.display())]
    RubricRead { path: std::path::PathBuf, source: std::io::Error },
    /// A rubric file that does not parse or whose values do not hold (`origin` names the file).
    #[error("rubric {origin}: {reason}")]
    Rubric { origin: String, reason: String },
    /// A model's `.toml` that does not parse.
    #[error("{origin}: {source}")]
    Spec { origin: String, source: toml::de::Error },
    #[error("a test on {table} needs one of not_null, unique, accepted_values, relationships, assert")]
    TestWithoutCheck { table: String },
    #[error("test {check} on {table}: {source}")]
    Test { check: String, table: String, source: datafusion::error::DataFusionError },
    #[error("check point {0}")]
    CheckPoint(crate::time::TimeError),
    #[error("the check point {check_point} is at or before the start of {quarter}")]
    CheckPointTooEarly { check_point: String, quarter: Quarter },
    #[error("datafusion: {0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// A build on a cluster that failed: what failed, and where (a scheduler that stopped answering
    /// shows as a connection error of the model running then).
    #[error("{inner} (building on the Ballista cluster at {url})")]
    OnCluster { url: String, inner: Box<ModelError> },
}

/// The model files: from `dir` if given (or `./sql` if present), else the shipped ones.
pub fn model_files(dir: Option<&Path>) -> Result<(String, Vec<(String, String)>), ModelError> {
    let dir = dir.map(Path::to_path_buf).or_else(|| {
        let local = Path::new("sql");
        local.join("marts").is_dir().then(|| local.to_path_buf())
    });
    let Some(dir) = dir else {
        let files = embedded::EMBEDDED.iter().map(|(p, s)| (p.to_string(), s.to_string())).collect();
        return Ok(("the models built into govmedia".into(), files));
    };
    let mut files = Vec::new();
    for layer in ["staging", "intermediate", "marts", "watch"] {
        let folder = dir.join(layer);
        let Ok(entries) = std::fs::read_dir(&folder) else { continue };
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            if matches!(p.extension().and_then(|e| e.to_str()), Some("sql") | Some("toml")) {
                let text = std::fs::read_to_string(&p).map_err(|e| ModelError::Invalid(format!("cannot read {}: {e}", p.display())))?;
                let name = p.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
                files.push((format!("{layer}/{name}"), text));
            }
        }
    }
    if files.is_empty() {
        return Err(ModelError::Invalid(format!("no models in {} (expected staging/, intermediate/, marts/)", dir.display())));
    }
    Ok((dir.display().to_string(), files))
}

/// Table names of a SQL text: identifiers right after FROM or JOIN, and after each comma of a FROM
/// list (`from a, b x, c as y`), outside comments and string literals, lower-cased.
fn identifiers(sql: &str) -> BTreeSet<String> {
    let words = words(sql);
    let is_name = |w: &str| w.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let mut out = BTreeSet::new();
    for (i, w) in words.iter().enumerate() {
        if !(i > 0 && matches!(words[i - 1].as_str(), "from" | "join") && is_name(w)) {
            continue;
        }
        out.insert(w.clone());
        if words[i - 1] != "from" {
            continue;
        }
        // A FROM list: after a table, its alias (with or without AS), then a comma and the next.
        let mut j = i + 1;
        loop {
            if words.get(j).is_some_and(|w| w == "as") {
                j += 1;
            }
            if words.get(j).is_some_and(|w| is_name(w) && !ends_a_table(w)) {
                j += 1;
            }
            match (words.get(j).map(String::as_str), words.get(j + 1)) {
                (Some(","), Some(next)) if is_name(next) => {
                    out.insert(next.clone());
                    j += 2;
                }
                _ => break,
            }
        }
    }
    out
}

/// Words that may follow a table in a FROM clause and are not its alias.
fn ends_a_table(w: &str) -> bool {
    matches!(
        w,
        "where"
            | "join"
            | "inner"
            | "left"
            | "right"
            | "full"
            | "cross"
            | "natural"
            | "on"
            | "using"
            | "group"
            | "order"
            | "having"
            | "limit"
            | "offset"
            | "union"
            | "intersect"
            | "except"
            | "window"
            | "qualify"
            | "select"
    )
}

/// The words of a SQL text (identifiers, and `(` `)` `,` as tokens of their own), outside
/// comments and string literals, lower-cased.
fn words(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let chars: Vec<char> = sql.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '-' && chars.get(i + 1) == Some(&'-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            i += 2;
            while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                i += 1;
            }
            i += 2;
        } else if c == '\'' {
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                i += 1;
            }
            i += 1;
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(chars[start..i].iter().collect::<String>().to_ascii_lowercase());
        } else {
            if matches!(c, '(' | ')' | ',') {
                out.push(c.to_string());
            }
            i += 1;
        }
    }
    out
}

/// Parses model files into models whose `reads` name other models or the given tables, ordered
/// so that every model comes after what it reads.
pub fn plan(files: &[(String, String)], tables: &BTreeSet<String>) -> Result<Vec<Model>, ModelError> {
    let mut models: Vec<Model> = Vec::new();
    let specs: HashMap<&str, &str> = files.iter().filter_map(|(p, s)| p.strip_suffix(".toml").map(|stem| (stem, s.as_str()))).collect();
    for (path, sql) in files.iter().filter(|(p, _)| p.ends_with(".sql")) {
        let (folder, file) = path.split_once('/').unwrap_or(("", path));
        let layer = Layer::of_folder(folder)
            .ok_or_else(|| ModelError::Invalid(format!("{path}: models live in staging/, intermediate/, marts/ or watch/")))?;
        let name = file.trim_end_matches(".sql").to_string();
        if models.iter().any(|m| m.name == name) {
            return Err(ModelError::Invalid(format!("two models are named {name}")));
        }
        let spec = match specs.get(path.trim_end_matches(".sql")) {
            Some(text) => checks::parse_spec(text, &path.replace(".sql", ".toml"))?,
            None => checks::ModelSpec::default(),
        };
        models.push(Model { name, layer, path: path.clone(), sql: sql.clone(), spec, reads: Vec::new() });
    }
    let names: BTreeSet<String> = models.iter().map(|m| m.name.clone()).collect();
    for m in &mut models {
        // A model's tests read tables too: they come after it in the order, like its SQL's.
        let mut ids = identifiers(&m.sql);
        for t in &m.spec.tests {
            if let Some(q) = &t.assertion {
                ids.extend(identifiers(q));
            }
            if let Some(r) = &t.relationships {
                ids.insert(r.to.to_ascii_lowercase());
            }
        }
        m.reads = ids.into_iter().filter(|id| *id != m.name && (names.contains(id) || tables.contains(id))).collect();
    }
    // Kahn's algorithm, alphabetical among the ready ones so the order is stable.
    let mut ordered: Vec<Model> = Vec::new();
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut left: BTreeMap<String, Model> = models.into_iter().map(|m| (m.name.clone(), m)).collect();
    while !left.is_empty() {
        let ready: Vec<String> =
            left.values().filter(|m| m.reads.iter().all(|r| done.contains(r) || !names.contains(r))).map(|m| m.name.clone()).collect();
        if ready.is_empty() {
            let stuck: Vec<_> = left.keys().cloned().collect();
            return Err(ModelError::Invalid(format!("models read each other in a cycle: {}", stuck.join(", "))));
        }
        for name in ready {
            if let Some(m) = left.remove(&name) {
                done.insert(name);
                ordered.push(m);
            }
        }
    }
    Ok(ordered)
}

/// The quarter and check point a build assesses.
#[derive(Debug, Clone, Copy)]
pub struct BuildScope {
    pub quarter: Quarter,
    /// Unix seconds.
    pub check_point: i64,
}

impl BuildScope {
    /// `check_point` as RFC 3339 (or any time style of SPEC §3); default the end of the quarter.
    pub fn new(quarter: Quarter, check_point: Option<&str>) -> Result<BuildScope, ModelError> {
        let start = crate::time::date_start_micros(quarter.start()) / 1_000_000;
        let end = crate::time::date_start_micros(quarter.end()) / 1_000_000;
        let c = match check_point {
            Some(s) => crate::time::parse_instant(s).map_err(ModelError::CheckPoint)? / 1_000_000,
            None => end,
        };
        if c <= start {
            return Err(ModelError::CheckPointTooEarly { check_point: check_point.unwrap_or("").to_string(), quarter });
        }
        Ok(BuildScope { quarter, check_point: c })
    }

    pub fn params_batch(&self) -> Result<RecordBatch, arrow::error::ArrowError> {
        let q = self.quarter;
        let s = |v: i64| -> ArrayRef { Arc::new(Int64Array::from(vec![v])) };
        let d = |v| -> ArrayRef { Arc::new(Date32Array::from(vec![crate::time::date_to_days(v)])) };
        RecordBatch::try_from_iter(vec![
            ("quarter", Arc::new(StringArray::from(vec![q.to_string()])) as ArrayRef),
            ("q_start_s", s(crate::time::date_start_micros(q.start()) / 1_000_000)),
            ("q_end_s", s(crate::time::date_start_micros(q.end()) / 1_000_000)),
            ("c_s", s(self.check_point)),
            ("q_start_date", d(q.start())),
            ("q_end_date", d(q.end())),
        ])
    }
}

/// The files a quarter's build reads: posts up to the check point's quarter (the history before Q
/// counts for days since the last post), public messages of Q (and of the check point's quarter)
/// only. Files of a month (warehouses written before quarters) are chosen by their month.
///
/// The models compare Unix seconds, truncated: a post counts at C when its second is C's (a post
/// at C itself, at the end of a quarter, is in the next quarter's file), a message only when its
/// second is before C's.
fn prune_for(manifest: &crate::warehouse::Manifest, scope: &BuildScope) -> crate::warehouse::Manifest {
    // An instant's labels as the partitions name them: its quarter (`time::quarter_label`, as
    // ingest and the generator label their files) and its month (the layout before quarters).
    let labels = |t: i64| {
        let quarter = crate::time::quarter_label(crate::time::quarter_of_instant(t));
        (quarter, crate::time::beijing_date_of(t).format("%Y-%m").to_string())
    };
    let c = scope.check_point * 1_000_000;
    let q_start = crate::time::date_start_micros(scope.quarter.start());
    let mut m = manifest.clone();
    for (table, last, from) in [("posts", c + 999_999, None), ("interactions", c - 1, Some(q_start))] {
        if let Some(t) = m.tables.get_mut(table) {
            let (last, from) = (labels(last), from.map(labels));
            let within = |v: &str, last: &str, first: Option<&str>| v == "unknown" || (v <= last && first.is_none_or(|f| v >= f));
            t.files.retain(|f| match (f.partition.get("quarter"), f.partition.get("month")) {
                (Some(q), _) => within(q, &last.0, from.as_ref().map(|f| f.0.as_str())),
                (None, Some(mo)) => within(mo, &last.1, from.as_ref().map(|f| f.1.as_str())),
                _ => true,
            });
        }
    }
    m
}

/// What one model did.
#[derive(Debug, Clone)]
pub struct ModelRun {
    pub name: String,
    pub layer: Layer,
    /// Registered as a view (no rows of its own).
    pub view: bool,
    pub rows: u64,
    pub millis: u128,
    pub reads: Vec<String>,
}

#[derive(Debug)]
pub struct BuildReport {
    pub quarter: Quarter,
    pub models_from: String,
    pub runs: Vec<ModelRun>,
    pub checks: Vec<checks::CheckResult>,
    /// Models not run, and why (what they depend on failed an error-severity test).
    pub skipped: Vec<(String, String)>,
    /// The wall time in which at least one model ran (models that do not read each other run at
    /// once; their tests are not counted, as in each model's own time).
    pub models_millis: u128,
    /// The marts were committed (false for `govmedia test`, or when an error-severity test failed).
    pub committed: bool,
    pub manifest_version: u64,
}

impl BuildReport {
    /// Error-severity checks that failed.
    pub fn failures(&self) -> Vec<&checks::CheckResult> {
        self.checks.iter().filter(|c| c.status() == "fail").collect()
    }
}

/// A batch that owns just its rows: string views keep the whole buffers of the batches they were
/// cut from (a 300,000-row table could hold gigabytes of the posts it was aggregated from), so
/// a table kept for the rest of the build is copied into buffers of its own size.
fn compact(batch: &RecordBatch) -> Result<RecordBatch, arrow::error::ArrowError> {
    use arrow::array::{Array, AsArray};
    let columns = batch
        .columns()
        .iter()
        .map(|c| match c.data_type() {
            arrow::datatypes::DataType::Utf8View => Arc::new(c.as_string_view().gc()) as ArrayRef,
            _ => c.clone(),
        })
        .collect();
    RecordBatch::try_new(batch.schema(), columns)
}

/// `batches` cut into batches of at most `size` rows, in order. An operator may emit a whole table
/// as one batch (an outer join's unmatched build rows, all at its end), and a model kept as one
/// batch is read on one core by the models after it, whose joins probe it slowly: the national
/// account scores probed the filing model's 300,000 rows, one batch, in 555 ms, and the same
/// number of rows in 37 batches in 51–109 ms. A cut batch's pieces are copied out of it (then
/// compacted, [`compact`]): a slice would keep the whole batch's buffers, and an in-memory table
/// counts its bytes by the buffers its batches hold, so that the pieces of one batch would count
/// as many times its size in the statistics that choose a join's sides.
fn in_batches_of(batches: Vec<RecordBatch>, size: usize) -> Result<Vec<RecordBatch>, arrow::error::ArrowError> {
    let size = size.max(1);
    let mut out = Vec::with_capacity(batches.len());
    for batch in batches {
        if batch.num_rows() <= size {
            out.push(batch);
            continue;
        }
        let mut start = 0;
        while start < batch.num_rows() {
            let len = size.min(batch.num_rows() - start);
            let rows = arrow::array::UInt32Array::from_iter_values(start as u32..(start + len) as u32);
            out.push(arrow::compute::take_record_batch(&batch, &rows)?);
            start += len;
        }
    }
    Ok(out)
}

/// The `platforms` table the models name platforms from: each code and the name reports give it
/// ([`crate::platform`], their one home).
fn platforms_batch() -> Result<RecordBatch, arrow::error::ArrowError> {
    let column = |f: fn(&crate::platform::Platform) -> &'static str| -> ArrayRef {
        Arc::new(StringArray::from(crate::platform::ALL.iter().map(f).collect::<Vec<_>>()))
    };
    RecordBatch::try_from_iter(vec![("platform", column(|p| p.code)), ("platform_zh", column(|p| p.zh))])
}

/// Where a run keeps the tables it makes for the models after it (`params`, `rubric`,
/// `platforms`, empty staging tables, each materialized model's rows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kept {
    /// In this process's memory (the local engine).
    Memory,
    /// As Parquet in the warehouse under this folder (`_scratch/<build>`): on a cluster the
    /// executors run every query and read only what the warehouse holds; a table in the
    /// client's memory does not travel with a query plan.
    Scratch(String),
}

impl Kept {
    /// Registers `batches` under `name`, replacing a table of that name.
    async fn keep(
        &self,
        ctx: &SessionContext,
        wh: &Warehouse,
        name: &str,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
    ) -> Result<(), ModelError> {
        match self {
            Kept::Memory => {
                let table = MemTable::try_new(schema, vec![batches])?;
                ctx.deregister_table(name)?;
                ctx.register_table(name, Arc::new(table))?;
            }
            Kept::Scratch(dir) => {
                let rel = format!("{dir}/{name}.parquet");
                wh.write_batches(&rel, schema.clone(), batches).await?;
                register_parquet(ctx, wh, name, &rel, schema)?;
            }
        }
        Ok(())
    }
}

/// Registers one Parquet file of the warehouse under `name`, with the schema it was written with.
fn register_parquet(ctx: &SessionContext, wh: &Warehouse, name: &str, rel: &str, schema: SchemaRef) -> Result<(), ModelError> {
    use datafusion::datasource::file_format::parquet::ParquetFormat;
    use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
    let url = ListingTableUrl::parse(wh.file_url(rel))?;
    let options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let config = ListingTableConfig::new(url).with_listing_options(options).with_schema(schema);
    ctx.deregister_table(name)?;
    ctx.register_table(name, Arc::new(ListingTable::try_new(config)?))?;
    Ok(())
}

/// Prints a model's physical plan with the metrics of one run of it to stderr
/// (`GOVMEDIA_EXPLAIN=model[,model]`): rows, time and memory per operator, for tuning a model.
async fn explain_analyze(ctx: &SessionContext, m: &Model) -> Result<(), datafusion::error::DataFusionError> {
    let plan = ctx.sql(&m.sql).await?.create_physical_plan().await?;
    datafusion::physical_plan::collect(plan.clone(), ctx.task_ctx()).await?;
    let shown = datafusion::physical_plan::display::DisplayableExecutionPlan::with_metrics(plan.as_ref()).indent(true);
    eprintln!("-- {} ({}): plan with metrics\n{shown}", m.name, m.path);
    Ok(())
}

/// Runs the models for a quarter and commits the marts (replacing only that quarter's partition).
/// With `commit` false (`govmedia test`) nothing is written: the models and their tests run only.
pub async fn build(
    wh: &Warehouse,
    scope: BuildScope,
    rubric: &rubric::Rubric,
    models_dir: Option<&Path>,
    commit: bool,
) -> Result<BuildReport, ModelError> {
    build_on(&Engine::Local, wh, scope, rubric, models_dir, commit).await
}

/// [`build`] on an engine: here, or on a Ballista cluster. The marts are collected here and
/// committed the same way either way (files written, then one manifest swap), so a build that
/// fails midway, an executor lost included, leaves the committed marts as they were.
pub async fn build_on(
    engine: &Engine,
    wh: &Warehouse,
    scope: BuildScope,
    rubric: &rubric::Rubric,
    models_dir: Option<&Path>,
    commit: bool,
) -> Result<BuildReport, ModelError> {
    // Said before the lock is taken: a scheduler that does not answer stops nothing else.
    let ctx = engine.session().await?;
    let lock = wh.lock(if commit { "govmedia build" } else { "govmedia test" }).await?;
    let result = async {
        let kept = match engine {
            Engine::Local => Kept::Memory,
            Engine::Cluster { .. } => {
                // What a killed build left: no other build runs while this one holds the lock.
                wh.remove_folder(crate::warehouse::SCRATCH).await?;
                let id = format!("{}-{}", chrono::Utc::now().format("%Y%m%dT%H%M%S%.3f"), std::process::id());
                Kept::Scratch(format!("{}/{id}", crate::warehouse::SCRATCH))
            }
        };
        let result = build_locked(ctx, &kept, wh, scope, rubric, models_dir, commit).await;
        if let Kept::Scratch(dir) = &kept {
            // A folder left behind (a store that refused the delete) is harmless: no manifest
            // names it, and the next build on a cluster removes it.
            let _ = wh.remove_folder(dir).await;
        }
        result
    }
    .await;
    wh.release(lock).await?;
    match engine {
        Engine::Cluster { url, .. } => result.map_err(|e| ModelError::OnCluster { url: url.clone(), inner: Box::new(e) }),
        Engine::Local => result,
    }
}

/// A session set up for a scope: the warehouse's tables (pruned to what the scope reads), `params`,
/// `rubric`, and the models planned in order.
pub struct Prepared {
    pub ctx: SessionContext,
    pub manifest: crate::warehouse::Manifest,
    /// Where the models came from (a folder, or the built-in ones).
    pub models_from: String,
    pub models: Vec<Model>,
}

/// Sets up the session a build (or a watch run) runs its models in. `extra` are one-row tables
/// the caller registers too (the watch's own parameters), named so the models can read them.
pub async fn prepare(
    ctx: SessionContext,
    kept: &Kept,
    wh: &Warehouse,
    scope: BuildScope,
    rubric: &rubric::Rubric,
    models_dir: Option<&Path>,
    extra: Vec<(&str, RecordBatch)>,
) -> Result<Prepared, ModelError> {
    let manifest = wh.existing_manifest().await?;
    let pruned = prune_for(&manifest, &scope);
    crate::engine::register_warehouse(&ctx, wh, &pruned).await?;
    if kept != &Kept::Memory {
        // The warehouse registers a staging table it does not hold yet as an empty one in memory.
        let defaults = crate::table::STAGING.iter().copied().chain([&crate::table::REJECTS, &crate::table::INGEST_FILES]);
        for def in defaults.filter(|d| pruned.files(d.name).is_empty()) {
            kept.keep(&ctx, wh, def.name, def.schema(), Vec::new()).await?;
        }
    }
    let one = |batch: RecordBatch| (batch.schema(), vec![batch]);
    for (name, (schema, batches)) in
        [("params", one(scope.params_batch()?)), ("rubric", one(rubric.to_batch()?)), ("platforms", one(platforms_batch()?))]
    {
        kept.keep(&ctx, wh, name, schema, batches).await?;
    }
    let mut tables: BTreeSet<String> = ctx.catalog_names().into_iter().collect();
    for (name, batch) in extra {
        kept.keep(&ctx, wh, name, batch.schema(), vec![batch]).await?;
        tables.insert(name.to_string());
    }
    tables.extend(crate::table::STAGING.iter().map(|t| t.name.to_string()));
    tables.extend(manifest.tables.keys().cloned());
    tables.extend(["params".to_string(), "rubric".to_string(), "platforms".into(), "rejects".into(), "ingest_files".into()]);
    let (models_from, files) = model_files(models_dir)?;
    let models = plan(&files, &tables)?;
    Ok(Prepared { ctx, manifest, models_from, models })
}

/// Where a run writes its marts: the warehouse, the quarter's partition, the version's files.
struct MartSink<'a> {
    quarter: &'a str,
    version: u64,
}

/// What running a list of models did.
pub struct Ran {
    pub runs: Vec<ModelRun>,
    pub checks: Vec<checks::CheckResult>,
    pub skipped: Vec<(String, String)>,
    /// The wall time in which at least one model ran.
    pub models_millis: u128,
    /// The marts' files written (with a sink only).
    outputs: Vec<(String, Vec<crate::warehouse::FileEntry>)>,
}

/// Runs `models` in the prepared session, each registered under its name for those after it,
/// with the ingest checks and the models' tests (those kept out of the build only when
/// `all_tests`). A model reading one that failed an error-severity test is skipped.
///
/// Up to `at_once` models run at the same time: a model starts once every model it reads has
/// run, in the order the models are planned in. What a run reports (its models, tests and files)
/// is in that order whatever order the models finished in.
async fn run_models(
    ctx: &SessionContext,
    (wh, kept): (&Warehouse, &Kept),
    models: &[&Model],
    all_tests: bool,
    marts: Option<MartSink<'_>>,
    at_once: usize,
) -> Result<Ran, ModelError> {
    // Tables some model (or its tests) reads: a mart no model reads is not kept in memory.
    let read: BTreeSet<&str> = models.iter().flat_map(|m| m.reads.iter().map(String::as_str)).collect();
    let mut results = checks::ingest_checks(ctx).await;
    // Tables and models that failed an error-severity test, and why.
    let mut blocked: HashMap<String, String> =
        results.iter().filter(|r| r.status() == "fail").map(|r| (r.table.clone(), blocked_by(r))).collect();
    // A bar on the terminal (hidden when stderr is not one): national builds take minutes.
    let bar = indicatif::ProgressBar::new(models.len() as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} models [{bar:30}] {pos}/{len}  {elapsed}  {wide_msg}") {
        bar.set_style(style.progress_chars("=> "));
    }
    let position: HashMap<&str, usize> = models.iter().enumerate().map(|(i, m)| (m.name.as_str(), i)).collect();
    let mut finished: Vec<bool> = vec![false; models.len()];
    let mut waiting: Vec<usize> = (0..models.len()).collect();
    let mut running = futures::stream::FuturesUnordered::new();
    let mut done: Vec<(usize, ModelDone)> = Vec::new();
    let mut skipped: Vec<(usize, String, String)> = Vec::new();
    // The error of the first model in plan order that failed: once one has, no other starts, and
    // those running finish, so the error reported is the one a run one at a time would give.
    let mut failed: Option<(usize, ModelError)> = None;
    loop {
        // Start, in plan order, every model whose inputs are made, up to `at_once` running.
        let mut i = 0;
        while failed.is_none() && i < waiting.len() && running.len() < at_once.max(1) {
            let m = models[waiting[i]];
            let ready = m.reads.iter().all(|r| r == &m.name || position.get(r.as_str()).is_none_or(|&p| finished[p]));
            if !ready {
                i += 1;
                continue;
            }
            let at = waiting.remove(i);
            if let Some(why) = m.reads.iter().find_map(|r| blocked.get(r)).cloned() {
                bar.inc(1);
                blocked.insert(m.name.clone(), why.clone());
                skipped.push((at, m.name.clone(), why));
                finished[at] = true;
                // A skipped model may be all a later one waited for.
                i = 0;
                continue;
            }
            bar.set_message(m.name.clone());
            let stored_at = match m.layer {
                Layer::Mart => mart_path(m, &marts),
                _ => None,
            };
            // A mart no model reads is streamed to its encoder (locally, when the run stores marts).
            let streamed = stored_at.is_some() && kept == &Kept::Memory && !read.contains(m.name.as_str());
            running.push(async move { (at, run_model(ctx, (wh, kept), m, stored_at, streamed, all_tests).await) });
        }
        let Some((at, outcome)) = running.next().await else { break };
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(e) => {
                if failed.as_ref().is_none_or(|(first, _)| at < *first) {
                    failed = Some((at, e));
                }
                continue;
            }
        };
        bar.inc(1);
        for r in outcome.results.iter().filter(|r| r.status() == "fail") {
            blocked.insert(models[at].name.clone(), blocked_by(r));
        }
        finished[at] = true;
        done.push((at, outcome));
    }
    bar.finish_and_clear();
    if let Some((_, e)) = failed {
        return Err(e);
    }
    if let Some(&at) = waiting.first() {
        return Err(ModelError::Invalid(format!("model {} waits for a model that never runs", models[at].name)));
    }
    done.sort_by_key(|(at, _)| *at);
    skipped.sort_by_key(|(at, ..)| *at);
    let models_millis = covered(done.iter().map(|(_, d)| d.span)).as_millis();
    let mut runs = Vec::new();
    let mut writes: Vec<PendingMart> = Vec::new();
    let mut streamed: Vec<StreamedMart> = Vec::new();
    for (at, outcome) in done {
        runs.push(outcome.run);
        results.extend(outcome.results);
        match outcome.made {
            Stored::Nothing => {}
            Stored::Write(write) => writes.push(write),
            Stored::Streamed { rel, rows, schema, encoded } => {
                streamed.push(StreamedMart { model: models[at], rel, rows, schema, encoded })
            }
        }
    }
    let mut stored: Vec<(String, crate::warehouse::FileEntry)> = Vec::new();
    for StreamedMart { model, rel, rows, schema, encoded } in streamed {
        stored.push((model.name.clone(), store_encoded(wh, &model.name, &rel, rows, encoded).await?));
        register_parquet(ctx, wh, &model.name, &rel, schema)?;
        results.extend(checks::run_tests(ctx, &model.name, &tests_run(model, all_tests)).await?);
    }
    for write in writes {
        stored.push(match write {
            PendingMart::Written(name, entry) => (name, entry),
            PendingMart::Encoding { name, rel, rows, encoded } => {
                let entry = store_encoded(wh, &name, &rel, rows, encoded).await?;
                (name, entry)
            }
        });
    }
    let outputs = stored
        .into_iter()
        .map(|(name, mut entry)| {
            if let Some(sink) = &marts {
                entry.partition.insert("quarter".into(), sink.quarter.to_string());
            }
            (name, vec![entry])
        })
        .collect();
    let skipped = skipped.into_iter().map(|(_, name, why)| (name, why)).collect();
    Ok(Ran { runs, checks: results, skipped, models_millis, outputs })
}

/// The time covered by at least one of the spans.
fn covered(spans: impl Iterator<Item = (Instant, Instant)>) -> std::time::Duration {
    let mut spans: Vec<(Instant, Instant)> = spans.collect();
    spans.sort();
    let mut total = std::time::Duration::ZERO;
    let mut open: Option<(Instant, Instant)> = None;
    for (from, to) in spans {
        open = match open {
            Some((a, b)) if from <= b => Some((a, b.max(to))),
            Some((a, b)) => {
                total += b - a;
                Some((from, to))
            }
            None => Some((from, to)),
        };
    }
    total + open.map_or(std::time::Duration::ZERO, |(a, b)| b - a)
}

/// Why what reads a table that failed an error-severity test is skipped.
fn blocked_by(r: &checks::CheckResult) -> String {
    format!("{} failed {} ({} rows)", r.table, r.check, r.failing_rows)
}

/// What running one model did.
struct ModelDone {
    run: ModelRun,
    /// When the model started and when its rows were registered (its tests not counted).
    span: (Instant, Instant),
    /// Its tests' results (none yet for a streamed mart: its tests run from its file).
    results: Vec<checks::CheckResult>,
    made: Stored,
}

/// What becomes of a model's rows once it has run.
enum Stored {
    /// A view or an intermediate table: registered in the session only.
    Nothing,
    /// A mart kept in memory, its file being encoded or written.
    Write(PendingMart),
    /// A mart no model reads, encoded on a thread of its own as its rows came.
    Streamed { rel: String, rows: u64, schema: SchemaRef, encoded: Encoded },
}

/// What a model's query made, on the task it ran on.
enum Made {
    View,
    Streamed { rows: u64, schema: SchemaRef, encoded: Encoded },
    Rows { schema: SchemaRef, batches: Vec<RecordBatch>, rows: u64 },
}

/// Runs one model and its tests. Its planning, its query and its tests run as tasks of their own,
/// so models that do not read each other plan and run on every core at once; registering its
/// table and its file is done here.
async fn run_model(
    ctx: &SessionContext,
    (wh, kept): (&Warehouse, &Kept),
    m: &Model,
    stored_at: Option<String>,
    streamed: bool,
    all_tests: bool,
) -> Result<ModelDone, ModelError> {
    let started = Instant::now();
    let as_view = match m.spec.materialized.as_deref() {
        Some("view") => m.layer != Layer::Mart,
        Some("table") => false,
        None => m.layer == Layer::Staging,
        Some(other) => return Err(ModelError::Invalid(format!("{}: materialized = \"{other}\" (view or table)", m.path))),
    };
    let made = on_a_task_of_its_own(&m.name, make(ctx.clone(), m.clone(), as_view, streamed && !as_view)).await?;
    let (rows, made) = match (made, stored_at) {
        (Made::View, _) => (None, Stored::Nothing),
        (Made::Streamed { rows, schema, encoded }, Some(rel)) => (Some(rows), Stored::Streamed { rel, rows, schema, encoded }),
        (Made::Streamed { .. }, None) => return Err(ModelError::Invalid(format!("{}: streamed with no file to store", m.name))),
        (Made::Rows { schema, batches, rows }, stored_at) => {
            let stored = match (kept, stored_at) {
                // On a cluster the mart's own file, written to the warehouse first, serves the
                // models after it.
                (Kept::Scratch(_), Some(rel)) => {
                    let entry = wh.write_batches(&rel, schema.clone(), batches).await?;
                    register_parquet(ctx, wh, &m.name, &rel, schema)?;
                    Stored::Write(PendingMart::Written(m.name.clone(), entry))
                }
                // Here the mart is kept in memory for the models after it, and its Parquet is
                // encoded on a thread of its own while they run; the files are stored once
                // every model has run, before the commit.
                (Kept::Memory, Some(rel)) => {
                    let (encode_schema, encode_batches) = (schema.clone(), batches.clone());
                    let encoded = tokio::task::spawn_blocking(move || {
                        crate::warehouse::encode_parquet_batches(encode_schema, encode_batches.into_iter().map(Ok))
                    });
                    kept.keep(ctx, wh, &m.name, schema, batches).await?;
                    Stored::Write(PendingMart::Encoding { name: m.name.clone(), rel, rows, encoded })
                }
                (_, None) => {
                    kept.keep(ctx, wh, &m.name, schema, batches).await?;
                    Stored::Nothing
                }
            };
            (Some(rows), stored)
        }
    };
    let ended = Instant::now();
    let run = ModelRun {
        name: m.name.clone(),
        layer: m.layer,
        view: rows.is_none(),
        rows: rows.unwrap_or(0),
        millis: (ended - started).as_millis(),
        reads: m.reads.clone(),
    };
    let results = match made {
        Stored::Streamed { .. } => Vec::new(),
        _ => {
            let (ctx, name, tests) = (ctx.clone(), m.name.clone(), tests_run(m, all_tests).into_iter().cloned().collect::<Vec<_>>());
            on_a_task_of_its_own(&m.name, async move { checks::run_tests(&ctx, &name, &tests.iter().collect::<Vec<_>>()).await }).await?
        }
    };
    Ok(ModelDone { run, span: (started, ended), results, made })
}

/// Plans and runs a model's query: registers a view, streams a mart no model reads to its
/// encoder, or collects the rows.
async fn make(ctx: SessionContext, m: Model, as_view: bool, streamed: bool) -> Result<Made, ModelError> {
    let sql_err = |source| ModelError::Sql { model: m.name.clone(), path: m.path.clone(), source };
    if std::env::var("GOVMEDIA_EXPLAIN").is_ok_and(|v| v.split(',').any(|n| n.trim() == m.name)) {
        explain_analyze(&ctx, &m).await.map_err(sql_err)?;
    }
    let df = ctx.sql(&m.sql).await.map_err(sql_err)?;
    // A mart of earlier builds (all quarters) is replaced by this build's in the session.
    ctx.deregister_table(m.name.as_str())?;
    if as_view {
        ctx.register_table(m.name.as_str(), df.into_view())?;
        return Ok(Made::View);
    }
    if streamed {
        // A mart no model reads is encoded into Parquet on a thread of its own as its rows come,
        // and never held whole (the largest, a row per account and week, is 4 million rows for
        // a country). Its tests run once its file is stored, after the last model.
        let mut stream = df.execute_stream().await.map_err(sql_err)?;
        let schema = stream.schema();
        let (sender, received) = std::sync::mpsc::channel::<RecordBatch>();
        let encode_schema = schema.clone();
        let encoded =
            tokio::task::spawn_blocking(move || crate::warehouse::encode_parquet_batches(encode_schema, received.into_iter().map(Ok)));
        let mut rows = 0u64;
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(sql_err)?;
            rows += batch.num_rows() as u64;
            // Only a stopped encoder drops its end; its error comes when it is awaited.
            if sender.send(batch).is_err() {
                break;
            }
        }
        return Ok(Made::Streamed { rows, schema, encoded });
    }
    let schema = Arc::new(df.schema().as_arrow().clone());
    let batch_size = ctx.state().config().batch_size();
    let collected = df.collect().await.map_err(sql_err)?;
    let batches: Vec<RecordBatch> = in_batches_of(collected, batch_size)?.iter().map(compact).collect::<Result<_, _>>()?;
    let schema = batches.first().map(|b| b.schema()).unwrap_or(schema);
    let rows: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
    Ok(Made::Rows { schema, batches, rows })
}

/// Runs `work` as a task of its own on the runtime (any of its threads), a panic in it going on
/// as this one's. Dropped before it ends (the build stopped by Ctrl-C or by another model's
/// error), the task is stopped too.
async fn on_a_task_of_its_own<T: Send + 'static>(
    model: &str,
    work: impl std::future::Future<Output = Result<T, ModelError>> + Send + 'static,
) -> Result<T, ModelError> {
    struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);
    impl<T> Drop for AbortOnDrop<T> {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let mut task = AbortOnDrop(tokio::spawn(work));
    match (&mut task.0).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(ModelError::Invalid(format!("model {model} stopped: {e}"))),
    }
}

/// A mart's Parquet being encoded on a thread of its own.
type Encoded = tokio::task::JoinHandle<Result<Vec<u8>, parquet::errors::ParquetError>>;

/// Stores a mart's Parquet once its encoder (on a thread of its own) has made it.
async fn store_encoded(
    wh: &Warehouse,
    name: &str,
    rel: &str,
    rows: u64,
    encoded: Encoded,
) -> Result<crate::warehouse::FileEntry, ModelError> {
    let bytes = encoded
        .await
        .map_err(|e| ModelError::Invalid(format!("encoding the mart {name} stopped: {e}")))?
        .map_err(|e| ModelError::Warehouse(e.into()))?;
    Ok(wh.put_parquet(rel, bytes, rows).await?)
}

/// The tests of a model a run runs: all of them (`govmedia test`), or those of every build.
fn tests_run(m: &Model, all_tests: bool) -> Vec<&checks::TestSpec> {
    m.spec.tests.iter().filter(|t| t.in_build || all_tests).collect()
}

/// A mart's Parquet file's path in the warehouse, when the run stores marts.
fn mart_path(m: &Model, marts: &Option<MartSink<'_>>) -> Option<String> {
    marts.as_ref().map(|sink| format!("marts/{}/quarter={}/v{:06}.parquet", m.name, sink.quarter, sink.version))
}

/// A mart no model reads, encoded on a thread of its own from its rows as they came.
struct StreamedMart<'a> {
    model: &'a Model,
    rel: String,
    rows: u64,
    schema: SchemaRef,
    encoded: Encoded,
}

/// A mart's Parquet file: written already (on a cluster), or being encoded on a thread of its own.
enum PendingMart {
    Written(String, crate::warehouse::FileEntry),
    Encoding { name: String, rel: String, rows: u64, encoded: Encoded },
}

/// The bytes of the warehouse's staging files.
fn staged_bytes(manifest: &crate::warehouse::Manifest) -> u64 {
    crate::table::STAGING.iter().flat_map(|t| manifest.files(t.name)).map(|f| f.bytes).sum()
}

async fn build_locked(
    ctx: SessionContext,
    kept: &Kept,
    wh: &Warehouse,
    scope: BuildScope,
    rubric: &rubric::Rubric,
    models_dir: Option<&Path>,
    commit: bool,
) -> Result<BuildReport, ModelError> {
    let Prepared { ctx, manifest, models_from: from, models } = prepare(ctx, kept, wh, scope, rubric, models_dir, Vec::new()).await?;
    let staged = staged_bytes(&manifest);
    crate::engine::keep_freed_memory_below(staged);
    crate::engine::take_memory_in_small_pages();
    // The warnings are `govmedia watch`'s: a build neither runs nor tests them.
    let models: Vec<&Model> = models.iter().filter(|m| m.layer != Layer::Watch).collect();
    let quarter = scope.quarter.to_string();
    let version = manifest.version + 1;
    let sink = commit.then_some(MartSink { quarter: &quarter, version });
    // On a cluster the executors' cores and memory are not this machine's: one model at a time.
    let at_once = if kept == &Kept::Memory { crate::engine::models_at_once(staged) } else { 1 };
    let Ran { runs, checks: results, skipped, models_millis, outputs } =
        run_models(&ctx, (wh, kept), &models, !commit, sink, at_once).await?;
    let failed = results.iter().any(|r| r.status() == "fail");
    if !commit {
        return Ok(BuildReport {
            quarter: scope.quarter,
            models_from: from,
            runs,
            checks: results,
            skipped,
            models_millis,
            committed: false,
            manifest_version: manifest.version,
        });
    }
    // The checks are kept whatever they found; the marts only when no error-severity test failed.
    let mut next = manifest.clone();
    if !failed {
        for (name, entries) in outputs {
            next.replace_partition(&name, "quarter", &quarter, entries);
        }
    }
    for (name, batch) in
        [("data_quality", checks::data_quality_batch(&results)?), ("data_quality_failures", checks::failures_batch(&results)?)]
    {
        let rel = format!("marts/{name}/quarter={quarter}/v{version:06}.parquet");
        let mut entry = wh.write_batches(&rel, batch.schema(), [batch]).await?;
        entry.partition.insert("quarter".into(), quarter.clone());
        next.replace_partition(name, "quarter", &quarter, vec![entry]);
    }
    let committed = wh.commit(next, &format!("build {quarter}")).await?;
    Ok(BuildReport {
        quarter: scope.quarter,
        models_from: from,
        runs,
        checks: results,
        skipped,
        models_millis,
        committed: !failed,
        manifest_version: committed.version,
    })
}

/// Runs the watch models (`watch/`) and only the models they read, in memory, in a session
/// prepared for the scope; writes nothing. Returns the session (each model registered under its
/// name), the watch models' names in order, and what ran.
pub async fn run_watch_models(
    wh: &Warehouse,
    scope: BuildScope,
    rubric: &rubric::Rubric,
    models_dir: Option<&Path>,
    extra: Vec<(&str, RecordBatch)>,
) -> Result<(SessionContext, Vec<String>, Ran), ModelError> {
    let ctx = crate::engine::session()?;
    let Prepared { ctx, models, manifest, .. } = prepare(ctx, &Kept::Memory, wh, scope, rubric, models_dir, extra).await?;
    let staged = staged_bytes(&manifest);
    // What the warnings read, and what that reads, back to staging: nothing else is run.
    let mut needed: BTreeSet<&str> = models.iter().filter(|m| m.layer == Layer::Watch).map(|m| m.name.as_str()).collect();
    for m in models.iter().rev() {
        if needed.contains(m.name.as_str()) {
            needed.extend(m.reads.iter().map(String::as_str));
        }
    }
    let run: Vec<&Model> = models.iter().filter(|m| needed.contains(m.name.as_str())).collect();
    let watch = run.iter().filter(|m| m.layer == Layer::Watch).map(|m| m.name.clone()).collect();
    let ran = run_models(&ctx, (wh, &Kept::Memory), &run, false, None, crate::engine::models_at_once(staged)).await?;
    Ok((ctx, watch, ran))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kept model's batches come in slices of at most a batch's rows, in order, none lost.
    #[test]
    fn kept_rows_are_cut_into_batches_of_the_session_size() {
        let batch = |from: i64, n: i64| {
            RecordBatch::try_from_iter(vec![("n", Arc::new(arrow::array::Int64Array::from_iter_values(from..from + n)) as ArrayRef)])
                .expect("one column")
        };
        let cut = in_batches_of(vec![batch(0, 5), batch(5, 25), batch(30, 10), batch(40, 0)], 10).expect("cut");
        assert_eq!(cut.iter().map(RecordBatch::num_rows).collect::<Vec<_>>(), vec![5, 10, 10, 5, 10, 0]);
        // The pieces of the cut batch hold buffers of their own size, not the whole batch's.
        assert!(cut[1..4].iter().all(|b| b.get_array_memory_size() < batch(0, 25).get_array_memory_size()));
        let rows: Vec<i64> = cut
            .iter()
            .flat_map(|b| b.column(0).as_any().downcast_ref::<arrow::array::Int64Array>().map(|a| a.values().to_vec()).unwrap_or_default())
            .collect();
        assert_eq!(rows, (0..40).collect::<Vec<_>>());
    }

    /// A quarter's build reads the posts up to the check point's quarter and the messages of the
    /// quarter (files of a quarter, or of a month in a warehouse written before quarters).
    #[test]
    fn a_build_reads_the_files_of_its_quarters() {
        use crate::warehouse::manifest::{FileEntry, Manifest, TableFiles};
        let file = |table: &str, key: &str, value: &str| FileEntry {
            path: format!("{table}/{key}={value}"),
            rows: 1,
            bytes: 1,
            partition: BTreeMap::from([("platform".to_string(), "weibo".to_string()), (key.to_string(), value.to_string())]),
            sorted_by: Vec::new(),
        };
        let mut m = Manifest::default();
        for table in ["posts", "interactions"] {
            let files = ["2019Q1", "2019Q2", "2019Q3", "2019Q4", "unknown"]
                .iter()
                .map(|q| file(table, "quarter", q))
                .chain(["2019-06", "2019-07", "2019-09", "2019-10"].iter().map(|mo| file(table, "month", mo)))
                .collect();
            m.tables.insert(table.to_string(), TableFiles { files });
        }
        let read = |c: &str| {
            let quarter = Quarter::parse("2019Q3").unwrap();
            let c = if c.is_empty() { crate::time::date_start_micros(quarter.end()) } else { crate::time::parse_instant(c).unwrap() }
                / 1_000_000;
            let pruned = prune_for(&m, &BuildScope { quarter, check_point: c });
            ["posts", "interactions"]
                .map(|t| pruned.files(t).iter().map(|f| f.path.rsplit('=').next().unwrap_or("").to_string()).collect::<Vec<_>>().join(" "))
        };
        // C at the quarter's end (1 October 00:00): a post in C's own second counts, so the posts of
        // the fourth quarter and of October are read; no message of October is.
        assert_eq!(read(""), ["2019Q1 2019Q2 2019Q3 2019Q4 unknown 2019-06 2019-07 2019-09 2019-10", "2019Q3 unknown 2019-07 2019-09"]);
        // C in August: the September month's file is not read; the quarter's is.
        assert_eq!(read("2019-08-15 00:00:00"), ["2019Q1 2019Q2 2019Q3 unknown 2019-06 2019-07", "2019Q3 unknown 2019-07"]);
    }

    #[test]
    fn dependencies_come_from_the_sql_and_order_the_models() {
        let files = vec![
            ("marts/m.sql".to_string(), "select * from int_b join int_a using (x) -- from stg_ignored".to_string()),
            ("intermediate/int_b.sql".to_string(), "select * from int_a where y = 'stg_c'".to_string()),
            ("intermediate/int_a.sql".to_string(), "select * from posts".to_string()),
        ];
        let tables: BTreeSet<String> = ["posts".to_string()].into();
        // A FROM list names each of its tables; a CTE list's commas name none.
        let listed = identifiers(
            "with a as (select * from t1 x), b as (select 1 from t2) select * from t3, t4 as y, t5 z, (select 1) s where x in (select q from t6)",
        );
        assert_eq!(listed.into_iter().collect::<Vec<_>>(), vec!["t1", "t2", "t3", "t4", "t5", "t6"]);
        let order = plan(&files, &tables).unwrap();
        let names: Vec<_> = order.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, vec!["int_a", "int_b", "m"]);
        assert_eq!(order[0].reads, vec!["posts"]);
        assert_eq!(order[2].reads, vec!["int_a", "int_b"]);
        let cycle = vec![
            ("intermediate/a.sql".to_string(), "select * from b".to_string()),
            ("intermediate/b.sql".to_string(), "select * from a".to_string()),
        ];
        assert!(plan(&cycle, &tables).unwrap_err().to_string().contains("cycle"));
    }

    #[test]
    fn the_models_time_is_the_time_some_model_ran() {
        let t = Instant::now();
        let ms = |n: u64| t + std::time::Duration::from_millis(n);
        // 0–10 and 5–20 overlap, 20–25 touches, 30–40 stands alone: 25 + 10 ms.
        let spans = [(ms(5), ms(20)), (ms(0), ms(10)), (ms(30), ms(40)), (ms(20), ms(25))];
        assert_eq!(covered(spans.into_iter()).as_millis(), 35);
        assert_eq!(covered(std::iter::empty()).as_millis(), 0);
    }

    #[test]
    fn check_points_at_or_before_the_quarter_are_refused() {
        let q = Quarter::parse("2019Q3").unwrap();
        assert!(BuildScope::new(q, Some("2019-07-01T00:00:00+08:00")).is_err());
        let s = BuildScope::new(q, None).unwrap();
        assert_eq!(s.check_point, 1_569_859_200);
    }
}
