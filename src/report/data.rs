//! What a report shows, read from the marts of one quarter (and earlier quarters for the trend).

use super::ReportError;
use crate::engine::run_query;
use crate::models::rubric::Rubric;
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::prelude::SessionContext;

type Result<T> = std::result::Result<T, ReportError>;

/// Column access by name over query results, whatever the stored types.
pub(super) struct Rows {
    /// The mart the rows come from, for messages.
    pub(super) table: &'static str,
    pub(super) batches: Vec<RecordBatch>,
}

impl Rows {
    pub(super) async fn query(ctx: &SessionContext, table: &'static str, sql: &str) -> Result<Rows> {
        let batches = run_query(ctx, sql).await.map_err(|source| ReportError::Query { table, source })?;
        Ok(Rows { table, batches })
    }

    fn column(&self, name: &str, to: &DataType) -> Result<Vec<arrow::array::ArrayRef>> {
        let (table, column) = (self.table, name.to_string());
        self.batches
            .iter()
            .map(|b| {
                let c = b.column_by_name(name).ok_or_else(|| ReportError::MissingColumn { table, column: column.clone() })?;
                arrow::compute::cast(c, to).map_err(|source| ReportError::Column { table, column: column.clone(), source })
            })
            .collect()
    }

    pub(super) fn strings(&self, name: &str) -> Result<Vec<Option<String>>> {
        let mut out = Vec::new();
        for a in self.column(name, &DataType::Utf8)? {
            let a = a.as_string::<i32>();
            out.extend((0..a.len()).map(|i| a.is_valid(i).then(|| a.value(i).to_string())));
        }
        Ok(out)
    }

    pub(super) fn text(&self, name: &str) -> Result<Vec<String>> {
        Ok(self.strings(name)?.into_iter().map(Option::unwrap_or_default).collect())
    }

    pub(super) fn floats(&self, name: &str) -> Result<Vec<Option<f64>>> {
        let mut out = Vec::new();
        for a in self.column(name, &DataType::Float64)? {
            let a = a.as_primitive::<Float64Type>();
            out.extend((0..a.len()).map(|i| a.is_valid(i).then(|| a.value(i))));
        }
        Ok(out)
    }

    pub(super) fn ints(&self, name: &str) -> Result<Vec<i64>> {
        let mut out = Vec::new();
        for a in self.column(name, &DataType::Int64)? {
            let a = a.as_primitive::<Int64Type>();
            out.extend((0..a.len()).map(|i| if a.is_valid(i) { a.value(i) } else { 0 }));
        }
        Ok(out)
    }

    fn bools(&self, name: &str) -> Result<Vec<bool>> {
        let mut out = Vec::new();
        for a in self.column(name, &DataType::Boolean)? {
            let a = a.as_boolean();
            out.extend((0..a.len()).map(|i| a.is_valid(i) && a.value(i)));
        }
        Ok(out)
    }
}

#[derive(Debug, Clone)]
pub struct Account {
    pub unit_name: Option<String>,
    pub platform: String,
    pub account_id: String,
    pub account_name: String,
    pub registered: bool,
    pub status: String,
    pub posts: i64,
    pub silent_weeks: i64,
    pub days_since_last_post: Option<f64>,
    pub messages: i64,
    pub overdue: i64,
    pub median_response_hours: Option<f64>,
    pub reach_index: Option<f64>,
    pub score: Option<f64>,
    pub grade: Option<String>,
    pub veto_reasons: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Unit {
    pub unit_name: String,
    pub unit_type: String,
    pub accounts: i64,
    pub accounts_vetoed: i64,
    pub directives_missed: i64,
    pub directives_late: i64,
    pub self_inspections_missing: i64,
    pub unit_deductions: f64,
    pub score: f64,
    pub rank: i64,
    pub grade: String,
    pub criticized: bool,
    /// The unit's rank in the previous quarter built, if any.
    pub previous_rank: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct Platform {
    pub platform: String,
    pub checked: i64,
    pub failed: i64,
    pub pass_rate: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct Criticism {
    pub unit_name: Option<String>,
    pub platform: Option<String>,
    pub account_id: Option<String>,
    pub account_name: Option<String>,
    pub category: String,
    pub problem: String,
    pub evidence: String,
}

#[derive(Debug, Clone)]
pub struct Repost {
    pub directive_id: String,
    pub unit_name: String,
    pub deadline_hours: f64,
    pub delay_hours: Option<f64>,
    pub verdict: String,
}

/// One account's row of the weekly heat map.
#[derive(Debug, Clone)]
pub struct WeeklyRow {
    pub unit_name: Option<String>,
    pub platform: String,
    pub account_id: String,
    pub account_name: String,
    /// Posts in week 1, 2, …
    pub posts: Vec<i64>,
}

/// Everything one quarter's report shows.
#[derive(Debug, Clone)]
pub struct ReportData {
    pub quarter: String,
    pub accounts: Vec<Account>,
    pub units: Vec<Unit>,
    pub platforms: Vec<Platform>,
    pub criticism: Vec<Criticism>,
    pub reposts: Vec<Repost>,
    /// Posts per week of each in-scope account, in unit, platform, account order.
    pub weekly: Vec<WeeklyRow>,
    /// The quarter's weeks (Monday to Sunday): their Monday and how many of their days fall in the
    /// quarter (fewer than 7 for a partial first or last week).
    pub weeks: Vec<(chrono::NaiveDate, u32)>,
    /// (quarter, overall pass rate) for this quarter and the earlier ones built.
    pub trend: Vec<(String, f64)>,
    pub previous_quarter: Option<String>,
    /// The rubric the quarter was built with: its grade thresholds band the score chart, its
    /// directive deadline is the line of the repost chart when the quarter has no directive.
    pub rubric: Rubric,
}

fn q(s: &str) -> String {
    s.replace('\'', "''")
}

/// Reads a quarter's marts; `rubric` is the one the quarter was built with.
pub async fn load(ctx: &SessionContext, quarter: &str, rubric: &Rubric) -> Result<ReportData> {
    let qq = q(quarter);
    let built =
        Rows::query(ctx, "unit_quarter_scores", &format!("SELECT count(*) AS n FROM unit_quarter_scores WHERE quarter = '{qq}'")).await;
    if built.map(|r| r.ints("n").map(|v| v.first().copied().unwrap_or(0)).unwrap_or(0)).unwrap_or(0) == 0 {
        return Err(ReportError::NotBuilt { quarter: quarter.to_string() });
    }
    let a = Rows::query(
        ctx,
        "account_quarter_indicators",
        &format!("SELECT * FROM account_quarter_indicators WHERE quarter = '{qq}' ORDER BY unit_name NULLS LAST, platform, account_id"),
    )
    .await?;
    let accounts = {
        let (unit, platform, id, name) = (a.strings("unit_name")?, a.text("platform")?, a.text("account_id")?, a.strings("account_name")?);
        let (reg, status, posts, silent) = (a.bools("registered")?, a.text("status")?, a.ints("posts")?, a.ints("silent_weeks")?);
        let (dslp, messages, overdue, median) =
            (a.floats("days_since_last_post")?, a.ints("messages")?, a.ints("overdue")?, a.floats("median_response_hours")?);
        let (reach, score, grade, veto) = (a.floats("reach_index")?, a.floats("score")?, a.strings("grade")?, a.strings("veto_reasons")?);
        (0..id.len())
            .map(|i| Account {
                unit_name: unit[i].clone(),
                platform: platform[i].clone(),
                account_id: id[i].clone(),
                account_name: name[i].clone().unwrap_or_else(|| id[i].clone()),
                registered: reg[i],
                status: status[i].clone(),
                posts: posts[i],
                silent_weeks: silent[i],
                days_since_last_post: dslp[i],
                messages: messages[i],
                overdue: overdue[i],
                median_response_hours: median[i],
                reach_index: reach[i],
                score: score[i],
                grade: grade[i].clone(),
                veto_reasons: veto[i].clone(),
            })
            .collect()
    };
    let previous =
        Rows::query(ctx, "unit_quarter_scores", &format!("SELECT max(quarter) AS q FROM unit_quarter_scores WHERE quarter < '{qq}'"))
            .await?;
    let previous_quarter = previous.strings("q")?.into_iter().next().flatten();
    let mut previous_ranks = std::collections::HashMap::new();
    if let Some(pq) = &previous_quarter {
        let p = Rows::query(
            ctx,
            "unit_quarter_scores",
            &format!("SELECT unit_name, rank FROM unit_quarter_scores WHERE quarter = '{}'", q(pq)),
        )
        .await?;
        for (n, r) in p.text("unit_name")?.into_iter().zip(p.ints("rank")?) {
            previous_ranks.insert(n, r);
        }
    }
    let u = Rows::query(
        ctx,
        "unit_quarter_scores",
        &format!("SELECT * FROM unit_quarter_scores WHERE quarter = '{qq}' ORDER BY rank, unit_name"),
    )
    .await?;
    let units = {
        let (name, ty, accounts, vetoed) = (u.text("unit_name")?, u.text("unit_type")?, u.ints("accounts")?, u.ints("accounts_vetoed")?);
        let (missed, late, missing) = (u.ints("directives_missed")?, u.ints("directives_late")?, u.ints("self_inspections_missing")?);
        let (ded, score, rank, grade, crit) =
            (u.floats("unit_deductions")?, u.floats("score")?, u.ints("rank")?, u.text("grade")?, u.bools("criticized")?);
        (0..name.len())
            .map(|i| Unit {
                previous_rank: previous_ranks.get(&name[i]).copied(),
                unit_name: name[i].clone(),
                unit_type: ty[i].clone(),
                accounts: accounts[i],
                accounts_vetoed: vetoed[i],
                directives_missed: missed[i],
                directives_late: late[i],
                self_inspections_missing: missing[i],
                unit_deductions: ded[i].unwrap_or(0.0),
                score: score[i].unwrap_or(0.0),
                rank: rank[i],
                grade: grade[i].clone(),
                criticized: crit[i],
            })
            .collect()
    };
    let p = Rows::query(
        ctx,
        "platform_quarter_summary",
        &format!(
            "SELECT * FROM platform_quarter_summary WHERE quarter = '{qq}' ORDER BY CASE WHEN platform = 'all' THEN 1 ELSE 0 END, platform"
        ),
    )
    .await?;
    let platforms = {
        let (name, checked, failed, rate) =
            (p.text("platform")?, p.ints("accounts_checked")?, p.ints("accounts_failed")?, p.floats("pass_rate")?);
        (0..name.len())
            .map(|i| Platform { platform: name[i].clone(), checked: checked[i], failed: failed[i], pass_rate: rate[i] })
            .collect()
    };
    let c = Rows::query(
        ctx,
        "criticism_items",
        &format!("SELECT * FROM criticism_items WHERE quarter = '{qq}' ORDER BY category, unit_name NULLS LAST, platform, account_id"),
    )
    .await?;
    let criticism = {
        let (unit, platform, id, name) =
            (c.strings("unit_name")?, c.strings("platform")?, c.strings("account_id")?, c.strings("account_name")?);
        let (cat, problem, evidence) = (c.text("category")?, c.text("problem")?, c.text("evidence")?);
        (0..cat.len())
            .map(|i| Criticism {
                unit_name: unit[i].clone(),
                platform: platform[i].clone(),
                account_id: id[i].clone(),
                account_name: name[i].clone(),
                category: cat[i].clone(),
                problem: problem[i].clone(),
                evidence: evidence[i].clone(),
            })
            .collect()
    };
    let r = Rows::query(
        ctx,
        "directive_reposts",
        &format!("SELECT * FROM directive_reposts WHERE quarter = '{qq}' ORDER BY directive_id, unit_name"),
    )
    .await?;
    let reposts = {
        let (id, unit, deadline, delay, verdict) =
            (r.text("directive_id")?, r.text("unit_name")?, r.floats("deadline_hours")?, r.floats("delay_hours")?, r.text("verdict")?);
        (0..id.len())
            .map(|i| Repost {
                directive_id: id[i].clone(),
                unit_name: unit[i].clone(),
                deadline_hours: deadline[i].unwrap_or(rubric.directive_deadline_hours() as f64),
                delay_hours: delay[i],
                verdict: verdict[i].clone(),
            })
            .collect()
    };
    let w = Rows::query(ctx, "account_weekly_posts", &format!(
        "SELECT unit_name, platform, account_id, account_name, week, week_start, posts FROM account_weekly_posts WHERE quarter = '{qq}' ORDER BY unit_name NULLS LAST, platform, account_id, week"
    )).await?;
    let mut weekly: Vec<WeeklyRow> = Vec::new();
    let mut week_starts: std::collections::BTreeMap<i64, chrono::NaiveDate> = Default::default();
    let (units_w, starts) = (w.strings("unit_name")?, w.strings("week_start")?);
    for (i, ((platform, id), ((name, week), posts))) in w
        .text("platform")?
        .into_iter()
        .zip(w.text("account_id")?)
        .zip(w.text("account_name")?.into_iter().zip(w.ints("week")?).zip(w.ints("posts")?))
        .enumerate()
    {
        if let Some(d) = starts[i].as_deref().and_then(|s| chrono::NaiveDate::parse_from_str(s.get(..10).unwrap_or(s), "%Y-%m-%d").ok()) {
            week_starts.insert(week, d);
        }
        let same = weekly.last().is_some_and(|r| r.platform == platform && r.account_id == id);
        if !same {
            weekly.push(WeeklyRow { unit_name: units_w[i].clone(), platform, account_id: id, account_name: name, posts: Vec::new() });
        }
        if let Some(r) = weekly.last_mut() {
            let idx = (week.max(1) - 1) as usize;
            if r.posts.len() <= idx {
                r.posts.resize(idx + 1, 0);
            }
            r.posts[idx] = posts;
        }
    }
    let weeks = match crate::time::Quarter::parse(quarter) {
        Ok(q) => week_starts
            .values()
            .map(|&monday| {
                let days = (0..7).filter(|k| {
                    let day = monday + chrono::Duration::days(*k);
                    day >= q.start() && day < q.end()
                });
                (monday, days.count() as u32)
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    let t = Rows::query(
        ctx,
        "platform_quarter_summary",
        &format!("SELECT quarter, pass_rate FROM platform_quarter_summary WHERE platform = 'all' AND quarter <= '{qq}' ORDER BY quarter"),
    )
    .await?;
    let trend = t.text("quarter")?.into_iter().zip(t.floats("pass_rate")?).filter_map(|(q, r)| r.map(|r| (q, r))).collect();
    Ok(ReportData {
        quarter: quarter.to_string(),
        accounts,
        units,
        platforms,
        criticism,
        reposts,
        weekly,
        weeks,
        trend,
        previous_quarter,
        rubric: rubric.clone(),
    })
}

pub fn status_zh(code: &str) -> &str {
    match code {
        "active" => "正常更新",
        "sleeping" => "睡眠",
        "zombie" => "僵尸",
        "closed" => "已关停",
        other => other,
    }
}
