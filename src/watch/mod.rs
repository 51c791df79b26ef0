//! `govmedia watch`: early warnings (预警) between the quarterly checks. The quarter's models run
//! in memory with the as-of point as their check point, then the warning models of `sql/watch/`
//! read their intermediates; nothing is written unless the list is saved ([`save`]) as the
//! `watch_warnings` mart, one partition per as-of date.
//!
//! Every warning model returns the same columns ([`COLUMNS`]), so a new warning is one SQL file.

pub mod output;

use crate::models::rubric::Rubric;
use crate::models::{BuildScope, ModelError};
use crate::time::{Quarter, TimeError};
use crate::warehouse::{Warehouse, WarehouseError};
use arrow::array::{Array, ArrayRef, AsArray, Date32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Int64Type};
use std::path::PathBuf;
use std::sync::Arc;

/// The columns every warning model returns.
pub const COLUMNS: &[&str] =
    &["unit_name", "platform", "account_id", "account_name", "kind", "problem", "subject", "items", "deadline_s", "todo"];

/// The mart `--save` keeps the list in, partitioned by the as-of date.
pub const MART: &str = "watch_warnings";

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("--as-of {0}")]
    AsOf(TimeError),
    #[error("--within '{0}' is not a duration: write it like 3d, 36h or 2w")]
    Within(String),
    #[error("--as-of {as_of} is after now ({now}): warnings are about what has happened; leave --as-of out for now")]
    AfterNow { as_of: String, now: String },
    #[error("--as-of {as_of} is before the warehouse's data (its first post is of {first}): choose a later point")]
    BeforeData { as_of: String, first: String },
    #[error("warehouse {warehouse} holds no staging data (no register and no posts): ingest the exports first (govmedia ingest, or govmedia run PIPELINE)")]
    NoData { warehouse: String },
    #[error("watch model {model}: missing column(s) {missing} (every model in sql/watch/ returns {})", COLUMNS.join(", "))]
    Shape { model: String, missing: String },
    #[error("the warnings would be incomplete: {} (run govmedia test --quarter {quarter} --check-point … for the failing rows)", failed.join("; "))]
    ChecksFailed { quarter: Quarter, failed: Vec<String> },
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
    #[error("datafusion: {0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("cannot write the warnings: {0}")]
    Output(std::io::Error),
    #[error("cannot write the warnings as CSV: {0}")]
    Csv(csv::Error),
    #[error("--format xlsx writes a workbook: give --output FILE.xlsx")]
    XlsxNeedsFile,
    #[error("cannot write {}: {source}", path.display())]
    Write { path: std::path::PathBuf, source: std::io::Error },
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
}

/// What a watch run looks at.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// The as-of point (RFC 3339 or any time style of SPEC §3); `None`: now.
    pub as_of: Option<String>,
    /// Now, Unix seconds (a parameter, so tests are not tied to the clock).
    pub now_s: i64,
    /// Messages due within this many seconds after the as-of point, and directive windows closed
    /// this long before it, are listed.
    pub within_s: i64,
    pub rubric: Option<PathBuf>,
    pub models: Option<PathBuf>,
}

/// One warning: who, what to do, by when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// None for an account missing from the register.
    pub unit_name: Option<String>,
    pub platform: Option<String>,
    pub account_id: Option<String>,
    pub account_name: Option<String>,
    /// The warning's code (`no_update`, `message_overdue`, …) and its Chinese name.
    pub kind: String,
    pub problem: String,
    /// What within the kind: a directive id, a month, a limit day.
    pub subject: Option<String>,
    pub items: i64,
    /// Unix seconds; None: already broken with no limit (at once).
    pub deadline_s: Option<i64>,
    /// What to do, in Chinese.
    pub todo: String,
    /// The model that raised it.
    pub model: String,
}

impl Warning {
    /// Past due at the as-of point: its deadline has passed, or it has none.
    pub fn past_due(&self, as_of_s: i64) -> bool {
        self.deadline_s.is_none_or(|d| d <= as_of_s)
    }

    /// The order of urgency: the earliest deadline first, those with none before all.
    fn urgency(&self) -> i64 {
        self.deadline_s.unwrap_or(i64::MIN)
    }
}

/// The warnings of one as-of point, grouped by unit (the unit with the most urgent warning
/// first) and by urgency within a unit.
#[derive(Debug, Clone)]
pub struct WatchReport {
    pub as_of_s: i64,
    pub quarter: Quarter,
    pub within_s: i64,
    pub warnings: Vec<Warning>,
    /// The newest post in the warehouse (Unix seconds), to say when the data is older than the as-of point.
    pub last_post_s: Option<i64>,
}

impl WatchReport {
    pub fn past_due(&self) -> usize {
        self.warnings.iter().filter(|w| w.past_due(self.as_of_s)).count()
    }

    /// The warnings by unit, in order.
    pub fn groups(&self) -> Vec<(Option<&str>, Vec<&Warning>)> {
        let mut groups: Vec<(Option<&str>, Vec<&Warning>)> = Vec::new();
        for w in &self.warnings {
            match groups.last_mut() {
                Some((unit, list)) if *unit == w.unit_name.as_deref() => list.push(w),
                _ => groups.push((w.unit_name.as_deref(), vec![w])),
            }
        }
        groups
    }

    /// The list as the `watch_warnings` mart's rows.
    pub fn to_batch(&self) -> Result<RecordBatch, arrow::error::ArrowError> {
        let n = self.warnings.len();
        let text = |f: &dyn Fn(&Warning) -> Option<String>| -> ArrayRef { Arc::new(self.warnings.iter().map(f).collect::<StringArray>()) };
        let as_of = TimestampMicrosecondArray::from(vec![self.as_of_s * 1_000_000; n]).with_timezone("UTC");
        let day = crate::time::date_to_days(crate::time::beijing_date_of(self.as_of_s * 1_000_000));
        let deadline: TimestampMicrosecondArray =
            self.warnings.iter().map(|w| w.deadline_s.map(|d| d * 1_000_000)).collect::<TimestampMicrosecondArray>().with_timezone("UTC");
        RecordBatch::try_from_iter(vec![
            ("as_of", Arc::new(as_of) as ArrayRef),
            ("as_of_date", Arc::new(Date32Array::from(vec![day; n])) as ArrayRef),
            ("quarter", Arc::new(StringArray::from(vec![self.quarter.to_string(); n])) as ArrayRef),
            ("unit_name", text(&|w| w.unit_name.clone())),
            ("platform", text(&|w| w.platform.clone())),
            ("account_id", text(&|w| w.account_id.clone())),
            ("account_name", text(&|w| w.account_name.clone())),
            ("kind", text(&|w| Some(w.kind.clone()))),
            ("problem", text(&|w| Some(w.problem.clone()))),
            ("subject", text(&|w| w.subject.clone())),
            ("items", Arc::new(self.warnings.iter().map(|w| w.items).collect::<Int64Array>()) as ArrayRef),
            ("deadline", Arc::new(deadline) as ArrayRef),
            ("past_due", Arc::new(self.warnings.iter().map(|w| Some(w.past_due(self.as_of_s))).collect::<arrow::array::BooleanArray>())),
            ("todo", text(&|w| Some(w.todo.clone()))),
            ("line", text(&|w| Some(output::line(w, self.as_of_s)))),
            ("model", text(&|w| Some(w.model.clone()))),
        ])
    }
}

/// `3d`, `36h`, `2w`, `90m` (or a bare number of days) as seconds.
pub fn parse_within(text: &str) -> Result<i64, WatchError> {
    let t = text.trim();
    let bad = || WatchError::Within(text.to_string());
    let (number, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => t.split_at(i),
        None => (t, "d"),
    };
    let n: i64 = number.parse().map_err(|_| bad())?;
    let unit_s = match unit.trim() {
        "w" => 7 * 86400,
        "d" => 86400,
        "h" => 3600,
        "m" => 60,
        _ => return Err(bad()),
    };
    n.checked_mul(unit_s).filter(|s| *s <= 366 * 86400).ok_or_else(bad)
}

/// The quarter whose models see the world as at `as_of_s`: the one holding the instant just
/// before it, so that the end of a quarter (00:00 of the next one's first day) is that quarter's
/// last moment, as a build's default check point is.
pub fn quarter_of(as_of_s: i64) -> Quarter {
    Quarter::of_date(crate::time::beijing_date_of((as_of_s - 1) * 1_000_000))
}

/// Runs the warnings at the as-of point. Reads only.
pub async fn watch(wh: &Warehouse, opts: &WatchOptions) -> Result<WatchReport, WatchError> {
    let as_of_s = match &opts.as_of {
        Some(s) => crate::time::parse_instant(s).map_err(WatchError::AsOf)? / 1_000_000,
        None => opts.now_s,
    };
    let shown = |s: i64| crate::time::format_micros_beijing(s * 1_000_000);
    if as_of_s > opts.now_s {
        return Err(WatchError::AfterNow { as_of: shown(as_of_s), now: shown(opts.now_s) });
    }
    let manifest = wh.existing_manifest().await?;
    if manifest.files("registry").is_empty() && manifest.files("posts").is_empty() {
        return Err(WatchError::NoData { warehouse: wh.display.clone() });
    }
    let (first_post_s, last_post_s) = post_range(wh).await?;
    if let Some(first) = first_post_s.filter(|f| as_of_s <= *f) {
        return Err(WatchError::BeforeData { as_of: shown(as_of_s), first: shown(first) });
    }
    let rubric = match &opts.rubric {
        Some(p) => Rubric::load(p)?,
        None => Rubric::builtin(),
    };
    let quarter = quarter_of(as_of_s);
    let scope = BuildScope { quarter, check_point: as_of_s };
    let watch_params = RecordBatch::try_from_iter(vec![("within_s", Arc::new(Int64Array::from(vec![opts.within_s])) as ArrayRef)])?;
    let (ctx, models, ran) =
        crate::models::run_watch_models(wh, scope, &rubric, opts.models.as_deref(), vec![("watch_params", watch_params)]).await?;
    let failed: Vec<String> = ran
        .checks
        .iter()
        .filter(|c| c.status() == "fail")
        .map(|c| format!("{} failed {} ({} rows)", c.table, c.check, c.failing_rows))
        .collect();
    if !failed.is_empty() {
        return Err(WatchError::ChecksFailed { quarter, failed });
    }
    let mut warnings = Vec::new();
    for model in &models {
        let batches = ctx.table(model.as_str()).await?.collect().await?;
        for batch in &batches {
            warnings.extend(read_warnings(model, batch)?);
        }
    }
    sort(&mut warnings);
    Ok(WatchReport { as_of_s, quarter, within_s: opts.within_s, warnings, last_post_s })
}

/// The first and last post in the warehouse (Unix seconds).
async fn post_range(wh: &Warehouse) -> Result<(Option<i64>, Option<i64>), WatchError> {
    let ctx = crate::engine::warehouse_session(wh).await?;
    let batches = ctx
        .sql("SELECT CAST(to_unixtime(min(published_at)) AS BIGINT) AS first_s, CAST(to_unixtime(max(published_at)) AS BIGINT) AS last_s FROM posts")
        .await?
        .collect()
        .await?;
    let value = |col: usize| -> Option<i64> {
        let b = batches.iter().find(|b| b.num_rows() > 0)?;
        let a = b.column(col).as_primitive_opt::<Int64Type>()?;
        a.is_valid(0).then(|| a.value(0))
    };
    Ok((value(0), value(1)))
}

/// By unit (the unit whose most urgent warning is earliest first; the unregistered accounts'
/// group among them by the same rule), then by urgency.
fn sort(warnings: &mut [Warning]) {
    let mut first: std::collections::HashMap<Option<String>, i64> = std::collections::HashMap::new();
    for w in warnings.iter() {
        let e = first.entry(w.unit_name.clone()).or_insert(i64::MAX);
        *e = (*e).min(w.urgency());
    }
    warnings.sort_by(|a, b| {
        let key = |w: &Warning| (first.get(&w.unit_name).copied().unwrap_or(i64::MAX), w.unit_name.is_none(), w.unit_name.clone());
        key(a)
            .cmp(&key(b))
            .then(a.urgency().cmp(&b.urgency()))
            .then_with(|| (&a.kind, &a.platform, &a.account_id, &a.subject).cmp(&(&b.kind, &b.platform, &b.account_id, &b.subject)))
    });
}

/// A watch model's rows as warnings; its columns are cast to text and integers, so a model may
/// produce them in any string or integer type.
fn read_warnings(model: &str, batch: &RecordBatch) -> Result<Vec<Warning>, WatchError> {
    let schema = batch.schema();
    let missing: Vec<&str> = COLUMNS.iter().copied().filter(|c| schema.index_of(c).is_err()).collect();
    if !missing.is_empty() {
        return Err(WatchError::Shape { model: model.to_string(), missing: missing.join(", ") });
    }
    let column = |name: &str, to: &DataType| -> Result<ArrayRef, WatchError> {
        let c = batch.column(schema.index_of(name)?);
        Ok(arrow::compute::cast(c, to)?)
    };
    let text = |name: &str| -> Result<Vec<Option<String>>, WatchError> {
        let a = column(name, &DataType::Utf8)?;
        Ok(a.as_string::<i32>().iter().map(|v| v.map(str::to_string)).collect())
    };
    let ints = |name: &str| -> Result<Vec<Option<i64>>, WatchError> {
        let a = column(name, &DataType::Int64)?;
        Ok(a.as_primitive::<Int64Type>().iter().collect())
    };
    let (unit, platform, account, name) = (text("unit_name")?, text("platform")?, text("account_id")?, text("account_name")?);
    let (kind, problem, subject, todo) = (text("kind")?, text("problem")?, text("subject")?, text("todo")?);
    let (items, deadline) = (ints("items")?, ints("deadline_s")?);
    Ok((0..batch.num_rows())
        .map(|i| Warning {
            unit_name: unit[i].clone(),
            platform: platform[i].clone(),
            account_id: account[i].clone(),
            account_name: name[i].clone(),
            kind: kind[i].clone().unwrap_or_default(),
            problem: problem[i].clone().unwrap_or_default(),
            subject: subject[i].clone(),
            items: items[i].unwrap_or(1),
            deadline_s: deadline[i],
            todo: todo[i].clone().unwrap_or_default(),
            model: model.to_string(),
        })
        .collect())
}

/// Keeps the list as the `watch_warnings` mart's partition for the as-of date (replacing an
/// earlier run's of the same date), in one commit under the warehouse's lock. Returns the
/// manifest version committed.
pub async fn save(wh: &Warehouse, report: &WatchReport) -> Result<u64, WatchError> {
    let lock = wh.lock("govmedia watch --save").await?;
    let result = save_locked(wh, report).await;
    wh.release(lock).await?;
    result
}

async fn save_locked(wh: &Warehouse, report: &WatchReport) -> Result<u64, WatchError> {
    let manifest = wh.existing_manifest().await?;
    let version = manifest.version + 1;
    let day = crate::time::beijing_date_of(report.as_of_s * 1_000_000).format("%Y-%m-%d").to_string();
    let batch = report.to_batch()?;
    let rel = format!("marts/{MART}/as_of={day}/v{version:06}.parquet");
    let mut entry = wh.write_batches(&rel, batch.schema(), [batch]).await?;
    entry.partition.insert("as_of".into(), day.clone());
    let mut next = manifest.clone();
    next.replace_partition(MART, "as_of", &day, vec![entry]);
    let committed = wh.commit(next, &format!("watch {day}")).await?;
    Ok(committed.version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn horizons_read_in_days_hours_and_weeks() {
        assert_eq!(parse_within("3d").unwrap(), 3 * 86400);
        assert_eq!(parse_within("36h").unwrap(), 36 * 3600);
        assert_eq!(parse_within("2w").unwrap(), 14 * 86400);
        assert_eq!(parse_within("5").unwrap(), 5 * 86400);
        for bad in ["", "d", "3x", "-3d", "999999999999d", "400d"] {
            assert!(parse_within(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_end_of_a_quarter_belongs_to_it() {
        let end = crate::time::parse_instant("2019-10-01T00:00:00+08:00").unwrap() / 1_000_000;
        assert_eq!(quarter_of(end).to_string(), "2019Q3");
        assert_eq!(quarter_of(end + 1).to_string(), "2019Q4");
    }

    fn w(unit: Option<&str>, kind: &str, deadline_s: Option<i64>) -> Warning {
        Warning {
            unit_name: unit.map(str::to_string),
            platform: None,
            account_id: None,
            account_name: None,
            kind: kind.into(),
            problem: String::new(),
            subject: None,
            items: 1,
            deadline_s,
            todo: String::new(),
            model: String::new(),
        }
    }

    #[test]
    fn units_come_by_their_most_urgent_warning() {
        let mut list = vec![w(Some("乙"), "a", Some(50)), w(Some("甲"), "b", Some(20)), w(Some("乙"), "c", Some(10)), w(None, "d", None)];
        sort(&mut list);
        let order: Vec<_> = list.iter().map(|w| w.kind.as_str()).collect();
        assert_eq!(order, ["d", "c", "a", "b"]);
        let r = WatchReport { as_of_s: 30, quarter: quarter_of(30), within_s: 0, warnings: list, last_post_s: None };
        assert_eq!(r.past_due(), 3);
        assert_eq!(r.groups().len(), 3);
        assert_eq!(r.to_batch().unwrap().num_rows(), 4);
    }
}
