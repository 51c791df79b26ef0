//! Synthetic quarters at the sizes of SPEC §1 (district → national), written straight to staging
//! Parquet for benchmarks: a few very active accounts and many quiet ones, sleeping and zombie
//! accounts, reposting bursts after each directive, replies from minutes to weeks late.
//! Big tables are built column by column and flushed in chunks, so memory stays flat.

use super::GenerateError;
use crate::table::{self, Row, Value};
use crate::time::{beijing_micros, date_to_days, Quarter};
use crate::warehouse::{FileEntry, Manifest, Warehouse};
use arrow::array::{ArrayRef, BooleanBuilder, Int64Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder};
use chrono::{Datelike, Duration, NaiveDate, NaiveTime};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Tier {
    /// ~120 accounts
    District,
    /// ~2,000 accounts
    City,
    /// ~30,000 accounts, ~5M posts, ~10M messages
    Province,
    /// ~300,000 accounts, ~50M posts, ~100M messages
    National,
}

impl Tier {
    pub fn accounts(self) -> usize {
        match self {
            Tier::District => 120,
            Tier::City => 2_000,
            Tier::Province => 30_000,
            Tier::National => 300_000,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Tier::District => "district",
            Tier::City => "city",
            Tier::Province => "province",
            Tier::National => "national",
        }
    }
}

const PLATFORMS: [&str; 4] = crate::platform::GENERATED;
const CHUNK: usize = 1 << 20;

#[derive(Debug)]
pub struct TierSummary {
    pub accounts: usize,
    pub units: usize,
    pub posts: u64,
    pub messages: u64,
    pub files: usize,
}

struct Account {
    platform: &'static str,
    id: String,
    unit: usize,
    /// Expected posts per day.
    rate: f64,
    /// Last day it posts (sleeping accounts stop early).
    stops: i64,
    zombie: bool,
}

/// Posts and messages as Arrow columns, flushed to Parquet every CHUNK rows.
struct Columns {
    def: &'static table::TableDef,
    strings: Vec<(usize, StringBuilder)>,
    ints: Vec<(usize, Int64Builder)>,
    times: Vec<(usize, TimestampMicrosecondBuilder)>,
    bools: Vec<(usize, BooleanBuilder)>,
    rows: usize,
}

impl Columns {
    fn new(def: &'static table::TableDef) -> Columns {
        let mut c = Columns { def, strings: vec![], ints: vec![], times: vec![], bools: vec![], rows: 0 };
        for (i, col) in def.columns.iter().enumerate() {
            match col.ty {
                table::ColType::Utf8 => c.strings.push((i, StringBuilder::new())),
                table::ColType::Int64 => c.ints.push((i, Int64Builder::new())),
                table::ColType::Instant => c.times.push((i, TimestampMicrosecondBuilder::new().with_timezone("UTC"))),
                table::ColType::Boolean => c.bools.push((i, BooleanBuilder::new())),
                _ => {}
            }
        }
        c
    }
    fn s(&mut self, col: usize) -> &mut StringBuilder {
        &mut self.strings.iter_mut().find(|(i, _)| *i == col).expect("string column").1
    }
    fn i(&mut self, col: usize) -> &mut Int64Builder {
        &mut self.ints.iter_mut().find(|(i, _)| *i == col).expect("int column").1
    }
    fn t(&mut self, col: usize) -> &mut TimestampMicrosecondBuilder {
        &mut self.times.iter_mut().find(|(i, _)| *i == col).expect("time column").1
    }
    fn finish(&mut self) -> Result<RecordBatch, arrow::error::ArrowError> {
        let mut arrays: Vec<(usize, ArrayRef)> = Vec::new();
        arrays.extend(self.strings.iter_mut().map(|(i, b)| (*i, Arc::new(b.finish()) as ArrayRef)));
        arrays.extend(self.ints.iter_mut().map(|(i, b)| (*i, Arc::new(b.finish()) as ArrayRef)));
        arrays.extend(self.times.iter_mut().map(|(i, b)| (*i, Arc::new(b.finish()) as ArrayRef)));
        arrays.extend(self.bools.iter_mut().map(|(i, b)| (*i, Arc::new(b.finish()) as ArrayRef)));
        arrays.sort_by_key(|(i, _)| *i);
        self.rows = 0;
        RecordBatch::try_new(self.def.schema(), arrays.into_iter().map(|(_, a)| a).collect())
    }
}

/// One generated post.
struct PostRow<'a> {
    platform: &'a str,
    account: &'a str,
    id: String,
    at: i64,
    title: String,
    /// A repost names its source; the others are originals.
    repost_of: Option<String>,
    position: i64,
    /// reads, wows, likes, comments, shares.
    counts: [i64; 5],
}

/// Column positions of `posts`, looked up once (the generator appends millions of rows).
struct PostColumns {
    platform: usize,
    account: usize,
    id: usize,
    at: usize,
    title: usize,
    kind: usize,
    repost_of: usize,
    position: usize,
    counts: [usize; 5],
    url: usize,
    source: usize,
    ingested: usize,
}

impl PostColumns {
    fn new() -> PostColumns {
        let p = &table::POSTS;
        PostColumns {
            platform: p.index("platform"),
            account: p.index("account_id"),
            id: p.index("post_id"),
            at: p.index("published_at"),
            title: p.index("title"),
            kind: p.index("kind"),
            repost_of: p.index("repost_of"),
            position: p.index("position"),
            counts: ["reads", "wows", "likes", "comments", "shares"].map(|c| p.index(c)),
            url: p.index("url"),
            source: p.index("source_file"),
            ingested: p.index("ingested_at"),
        }
    }

    fn push(&self, cols: &mut Columns, post: PostRow, ingested_at: i64) {
        cols.rows += 1;
        cols.s(self.platform).append_value(post.platform);
        cols.s(self.account).append_value(post.account);
        cols.s(self.id).append_value(post.id);
        cols.t(self.at).append_value(post.at);
        cols.s(self.title).append_value(post.title);
        cols.s(self.kind).append_value(if post.repost_of.is_some() { "repost" } else { "original" });
        cols.s(self.repost_of).append_option(post.repost_of);
        cols.i(self.position).append_value(post.position);
        for (c, v) in self.counts.iter().zip(post.counts) {
            cols.i(*c).append_value(v);
        }
        cols.s(self.url).append_null();
        cols.s(self.source).append_value("generated");
        cols.t(self.ingested).append_value(ingested_at);
    }
}

struct Writer<'a> {
    wh: &'a Warehouse,
    run: String,
    files: BTreeMap<&'static str, Vec<FileEntry>>,
    n: usize,
}

impl Writer<'_> {
    /// Writes the posts or messages built so far, in the stored order, a file per quarter of
    /// their instants (a message can arrive, and a late repost be posted, after the quarter ends).
    async fn flush(&mut self, cols: &mut Columns, platform: &str) -> Result<(), GenerateError> {
        if cols.rows == 0 {
            return Ok(());
        }
        use arrow::array::{Array, AsArray};
        let def = cols.def;
        let batch = in_stored_order(def, cols.finish()?)?;
        let times = batch.column(def.index(table::instant_column(def))).as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
        let mut quarters: BTreeMap<i32, Vec<u32>> = BTreeMap::new();
        for r in 0..batch.num_rows() {
            let q = if times.is_valid(r) { crate::time::quarter_of_instant(times.value(r)) } else { i32::MIN };
            quarters.entry(q).or_default().push(r as u32);
        }
        for (q, rows) in quarters {
            let part = if rows.len() == batch.num_rows() {
                batch.clone()
            } else {
                arrow::compute::take_record_batch(&batch, &arrow::array::UInt32Array::from(rows))?
            };
            let partition = [("platform", platform.to_string()), ("quarter", crate::time::quarter_label(q))];
            self.n += 1;
            let sub: String = partition.iter().map(|(k, v)| format!("{k}={v}/")).collect();
            let rel = format!("{}/{sub}{}-{:05}.parquet", crate::warehouse::table_dir(def.name), self.run, self.n);
            let mut entry = self.wh.write_batches(&rel, def.schema(), [part]).await?;
            entry.partition = partition.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
            entry.sorted_by = table::stored_order_names(def);
            self.files.entry(def.name).or_default().push(entry);
        }
        Ok(())
    }
    async fn rows(&mut self, def: &'static table::TableDef, rows: &[Row]) -> Result<(), GenerateError> {
        self.n += 1;
        let rel = format!("{}/{}-{:05}.parquet", crate::warehouse::table_dir(def.name), self.run, self.n);
        let entry = self.wh.write_rows(def, &rel, rows).await?;
        self.files.entry(def.name).or_default().push(entry);
        Ok(())
    }
}

fn s(v: &str) -> Value {
    Value::Str(v.to_string())
}

/// Generates a tier's quarter into the warehouse's staging tables (replacing them).
/// Writes a tier's quarter into the warehouse, replacing every table, under the warehouse's lock.
/// A warehouse that already holds data is refused unless `force`: the tier replaces all of it.
pub async fn generate_tier(wh: &Warehouse, tier: Tier, quarter: Quarter, seed: u64, force: bool) -> Result<TierSummary, GenerateError> {
    let lock = wh.lock(&format!("govmedia generate --tier {}", tier.name())).await?;
    let result = async {
        let current = wh.manifest().await?;
        if !current.tables.is_empty() && !force {
            return Err(GenerateError::NotEmpty {
                warehouse: wh.display.clone(),
                version: current.version,
                by: current.updated_by.clone(),
            });
        }
        generate_tier_locked(wh, tier, quarter, seed, current.version).await
    }
    .await;
    wh.release(lock).await?;
    result
}

async fn generate_tier_locked(
    wh: &Warehouse,
    tier: Tier,
    quarter: Quarter,
    seed: u64,
    base_version: u64,
) -> Result<TierSummary, GenerateError> {
    let mut rng = SmallRng::seed_from_u64(seed ^ 0x9e37_79b9);
    let clock = Clock {
        quarter,
        start: quarter.start(),
        days: (quarter.end() - quarter.start()).num_days(),
        now: Value::Instant(chrono::Utc::now().timestamp_micros()),
    };
    let n_accounts = tier.accounts();
    let n_units = n_accounts.div_ceil(3).max(1);
    // The random draws happen in this order; every seed's quarter depends on it.
    let accounts = accounts(n_accounts, clock.days, &mut rng);
    let mut w = Writer { wh, run: format!("gen-{}-{seed}", tier.name()), files: BTreeMap::new(), n: 0 };
    write_registers(&mut w, &accounts, n_units, &clock, &mut rng).await?;
    let directives = Directives::new(&accounts, clock.days);
    w.rows(&table::DIRECTIVES, &directives.rows(&clock)).await?;
    w.rows(&table::CALENDAR, &calendar_rows(&clock)).await?;
    let (n_posts, n_messages) = write_activity(&mut w, &accounts, &directives, &clock, &mut rng).await?;
    let files = commit_tables(wh, &mut w, base_version, tier).await?;
    Ok(TierSummary { accounts: n_accounts, units: n_units, posts: n_posts, messages: n_messages, files })
}

/// The quarter's days and the time every row is stamped as ingested.
struct Clock {
    quarter: Quarter,
    start: NaiveDate,
    days: i64,
    now: Value,
}

impl Clock {
    /// The instant `secs` seconds into day `day` of the quarter (Beijing time).
    fn at(&self, day: i64, secs: i64) -> i64 {
        beijing_micros(self.start.and_time(NaiveTime::MIN) + Duration::days(day) + Duration::seconds(secs))
    }
}

/// Accounts: activity is heavy-tailed; some sleep, a few are zombies.
fn accounts(n_accounts: usize, days: i64, rng: &mut SmallRng) -> Vec<Account> {
    let mut accounts = Vec::with_capacity(n_accounts);
    for k in 0..n_accounts {
        // Three accounts a unit, on three platforms; one unit in 30 runs a second account on a
        // platform it already uses (SPEC §5.7).
        let unit = k / 3;
        let platform = match k % 3 == 2 && unit % 30 == 0 {
            true => PLATFORMS[(k - 1) % PLATFORMS.len()],
            false => PLATFORMS[k % PLATFORMS.len()],
        };
        let u: f64 = rng.random();
        let rate = 0.3 * (1.0 / (1.0 - u * 0.97)).powf(1.1); // Pareto-like: median ≈ 0.6 posts a day
        let kind: f64 = rng.random();
        let (stops, zombie) = if kind < 0.05 {
            (-1, true)
        } else if kind < 0.15 {
            (rng.random_range(10..days - 15), false)
        } else {
            (days, false)
        };
        accounts.push(Account { platform, id: format!("{platform}{k:07}"), unit, rate, stops, zombie });
    }
    accounts
}

/// Register, filings, followers, self-inspections.
async fn write_registers(
    w: &mut Writer<'_>,
    accounts: &[Account],
    n_units: usize,
    clock: &Clock,
    rng: &mut SmallRng,
) -> Result<(), GenerateError> {
    let (generated, now) = (s("generated"), &clock.now);
    let unit_name = |u: usize| format!("单位{u:06}");
    let reg: Vec<Row> = accounts
        .iter()
        .map(|a| {
            let mut b = table::RowBuilder::new(&table::REGISTRY);
            b.set("unit_name", s(&unit_name(a.unit))).set("unit_type", s(if a.unit % 5 == 0 { "街道" } else { "区直部门" }));
            b.set("platform", s(a.platform)).set("account_name", s(&a.id)).set("account_id", s(&a.id));
            b.set("opened_on", Value::Date(date_to_days(NaiveDate::from_ymd_opt(2016, 1, 1).expect("date"))));
            b.set("state", s("normal")).set("interaction_enabled", Value::Bool(a.unit % 97 != 0)).set("maintainer", s("运维员"));
            let (city, district) = region_of(a.unit);
            b.set("city", s(&city)).set("district", s(&district));
            b.set("source_file", generated.clone()).set("ingested_at", now.clone());
            b.finish()
        })
        .collect();
    w.rows(&table::REGISTRY, &reg).await?;
    let filings: Vec<Row> = accounts
        .iter()
        .map(|a| {
            let mut b = table::RowBuilder::new(&table::FILINGS);
            b.set("unit_name", s(&unit_name(a.unit))).set("platform", s(a.platform)).set("account_id", s(&a.id));
            b.set("action", s("open")).set("action_date", Value::Date(date_to_days(NaiveDate::from_ymd_opt(2016, 1, 1).expect("date"))));
            b.set("filed_on", Value::Date(date_to_days(NaiveDate::from_ymd_opt(2016, 1, 4).expect("date"))));
            b.set("source_file", generated.clone()).set("ingested_at", now.clone());
            b.finish()
        })
        .collect();
    w.rows(&table::FILINGS, &filings).await?;
    let (start, end) = (clock.start, clock.quarter.end());
    let mut followers = Vec::new();
    for a in accounts {
        let base: i64 = rng.random_range(100..200_000);
        for (d, f) in [(start - Duration::days(1), base), (end - Duration::days(1), base + rng.random_range(0..5_000))] {
            let mut b = table::RowBuilder::new(&table::FOLLOWERS);
            b.set("platform", s(a.platform)).set("account_id", s(&a.id)).set("date", Value::Date(date_to_days(d)));
            b.set("followers", Value::Int(f)).set("source_file", generated.clone()).set("ingested_at", now.clone());
            followers.push(b.finish());
        }
    }
    w.rows(&table::FOLLOWERS, &followers).await?;
    let mut inspections = Vec::new();
    for u in 0..n_units {
        for m in 0..3u32 {
            if rng.random::<f64>() < 0.1 {
                continue;
            }
            let month = NaiveDate::from_ymd_opt(start.year(), start.month0() + 1 + m, 1).expect("month");
            let mut b = table::RowBuilder::new(&table::SELF_INSPECTIONS);
            b.set("unit_name", s(&unit_name(u))).set("month", s(&month.format("%Y-%m").to_string()));
            b.set("published_on", Value::Date(date_to_days(month + Duration::days(rng.random_range(10..28)))));
            b.set("source_file", generated.clone()).set("ingested_at", now.clone());
            inspections.push(b.finish());
        }
    }
    w.rows(&table::SELF_INSPECTIONS, &inspections).await
}

/// Units to a district and districts to a city, as a province's offices are laid out: a district
/// office over its 40 units, a city over its 20 districts. District names repeat from city to city
/// (as 鼓楼区 does in 福州 and 南京), so a district is known by its city and name together.
const UNITS_PER_DISTRICT: usize = 40;
const DISTRICTS_PER_CITY: usize = 20;

/// The (city, district) a tier's unit belongs to: the district tier is one district, the city tier
/// one city, the province tier a province's cities.
pub fn region_of(unit: usize) -> (String, String) {
    let district = unit / UNITS_PER_DISTRICT;
    (format!("市{:02}", district / DISTRICTS_PER_CITY + 1), format!("区{:02}", district % DISTRICTS_PER_CITY + 1))
}

/// Directives: published by the first weibo account; the others repost within hours, some late.
struct Directives {
    /// The publishing account.
    source: usize,
    source_platform: &'static str,
    /// The days of the quarter they are published on, at 9:00.
    days: Vec<i64>,
}

impl Directives {
    fn new(accounts: &[Account], days: i64) -> Directives {
        let source = accounts.iter().position(|a| a.platform == "weibo").unwrap_or(0);
        Directives { source, source_platform: accounts[source].platform, days: (0..10).map(|k| 3 + k * (days - 10) / 10).collect() }
    }

    fn rows(&self, clock: &Clock) -> Vec<Row> {
        let mut directives = Vec::new();
        // The deadline an office usually gives: the rubric's default.
        let deadline = crate::models::rubric::Rubric::builtin().directive_deadline_hours();
        for (k, d) in self.days.iter().enumerate() {
            let mut b = table::RowBuilder::new(&table::DIRECTIVES);
            b.set("directive_id", s(&format!("D{k:03}"))).set("title", s(&format!("重要通知{k:03}")));
            b.set("source_platform", s(self.source_platform)).set("source_post_id", s(&format!("dir-{k:03}")));
            b.set("published_at", Value::Instant(clock.at(*d, 9 * 3600))).set("deadline_hours", Value::Int(deadline));
            b.set("source_file", s("generated")).set("ingested_at", clock.now.clone());
            directives.push(b.finish());
        }
        directives
    }
}

fn calendar_rows(clock: &Clock) -> Vec<Row> {
    crate::calendar::shipped_days()
        .map(|(d, kind, name)| {
            let mut b = table::RowBuilder::new(&table::CALENDAR);
            b.set("date", Value::Date(date_to_days(d))).set("kind", s(kind.code())).set("name", s(name));
            b.set("source_file", s("generated")).set("ingested_at", clock.now.clone());
            b.finish()
        })
        .collect()
}

/// Column positions of `interactions`, looked up once.
struct MessageColumns {
    platform: usize,
    account: usize,
    id: usize,
    channel: usize,
    received: usize,
    author: usize,
    replied: usize,
    source: usize,
    ingested: usize,
}

impl MessageColumns {
    fn new() -> MessageColumns {
        let m = &table::INTERACTIONS;
        MessageColumns {
            platform: m.index("platform"),
            account: m.index("account_id"),
            id: m.index("message_id"),
            channel: m.index("channel"),
            received: m.index("received_at"),
            author: m.index("author"),
            replied: m.index("replied_at"),
            source: m.index("source_file"),
            ingested: m.index("ingested_at"),
        }
    }
}

/// A batch of posts or messages in the stored order (`table::stored_order`: by account, then
/// instant; the platform is the partition's), rows of the same instant by their id.
fn in_stored_order(def: &table::TableDef, batch: RecordBatch) -> Result<RecordBatch, arrow::error::ArrowError> {
    let Some([_, account, at]) = table::stored_order(def) else { return Ok(batch) };
    let id = def.key.last().copied().unwrap_or(account);
    let last = arrow::compute::SortOptions { descending: false, nulls_first: false };
    let columns: Vec<arrow::compute::SortColumn> = [account, at, id]
        .iter()
        .map(|c| arrow::compute::SortColumn { values: batch.column(def.index(c)).clone(), options: Some(last) })
        .collect();
    let indices = arrow::compute::lexsort_to_indices(&columns, None)?;
    arrow::compute::take_record_batch(&batch, &indices)
}

/// Posts and messages, platform by platform, each platform's accounts in the order of their ids
/// (the staging partitions: platform and quarter, files in the stored order that do not overlap:
/// each file ends between two accounts).
/// The directives' source posts are among their account's. Returns how many posts and messages
/// were written.
async fn write_activity(
    w: &mut Writer<'_>,
    accounts: &[Account],
    directives: &Directives,
    clock: &Clock,
    rng: &mut SmallRng,
) -> Result<(u64, u64), GenerateError> {
    let (start, p) = (clock.start, &table::POSTS);
    let pc = PostColumns::new();
    let now_us = clock.now.as_instant().unwrap_or(0);
    let (mut n_posts, mut n_messages) = (0u64, 0u64);
    let days = (clock.quarter.end() - start).num_days();
    let mut by_id: Vec<usize> = (0..accounts.len()).collect();
    by_id.sort_by(|&i, &j| accounts[i].id.cmp(&accounts[j].id));
    // Zombies' last posts, long before the quarter.
    for platform in PLATFORMS {
        let mut posts = Columns::new(p);
        for a in by_id.iter().map(|&k| &accounts[k]).filter(|a| a.platform == platform && a.zombie) {
            n_posts += 1;
            let post = PostRow {
                platform,
                account: &a.id,
                id: format!("{}-h", a.id),
                at: clock.at(-150, 36_000),
                title: "旧文".into(),
                repost_of: None,
                position: 1,
                counts: [1; 5],
            };
            pc.push(&mut posts, post, now_us);
        }
        w.flush(&mut posts, platform).await?;
        let mut out = Activity::new(now_us);
        for &k in by_id.iter().filter(|&&k| accounts[k].platform == platform) {
            let a = &accounts[k];
            let reposts = k != directives.source;
            if !a.zombie {
                for day in 0..days.min(a.stops + 1) {
                    account_day(&mut out, a, day, reposts, directives, clock, rng);
                }
            }
            if k == directives.source {
                out.n_posts += directive_sources(&mut out.posts, &pc, a, directives, clock, now_us);
            }
            // Files end between accounts, so that no two of a partition overlap.
            if out.posts.rows >= CHUNK {
                w.flush(&mut out.posts, platform).await?;
            }
            if out.msgs.rows >= CHUNK {
                w.flush(&mut out.msgs, platform).await?;
            }
        }
        w.flush(&mut out.posts, platform).await?;
        w.flush(&mut out.msgs, platform).await?;
        n_posts += out.n_posts;
        n_messages += out.n_messages;
    }
    Ok((n_posts, n_messages))
}

/// A partition's posts and messages being built, and how many of each.
struct Activity {
    posts: Columns,
    msgs: Columns,
    post_columns: PostColumns,
    message_columns: MessageColumns,
    /// When the rows count as ingested.
    now_us: i64,
    n_posts: u64,
    n_messages: u64,
}

impl Activity {
    fn new(now_us: i64) -> Activity {
        Activity {
            posts: Columns::new(&table::POSTS),
            msgs: Columns::new(&table::INTERACTIONS),
            post_columns: PostColumns::new(),
            message_columns: MessageColumns::new(),
            now_us,
            n_posts: 0,
            n_messages: 0,
        }
    }
}

/// One account's posts on one day (a repost when a directive is published that day and the
/// account `reposts`), each with its messages.
fn account_day(out: &mut Activity, a: &Account, day: i64, reposts: bool, directives: &Directives, clock: &Clock, rng: &mut SmallRng) {
    let (platform, now_us, mc) = (a.platform, out.now_us, &out.message_columns);
    let mut n = 0;
    let mut x = rng.random::<f64>();
    while x < a.rate.min(20.0) / (n as f64 + 1.0) {
        n += 1;
        x = rng.random::<f64>();
    }
    let directive = directives.days.iter().position(|d| *d == day);
    for j in 0..n + usize::from(directive.is_some() && reposts && rng.random::<f64>() < 0.9) {
        let is_repost = directive.is_some() && j == n;
        let late = rng.random::<f64>() >= 0.85;
        let secs = if is_repost {
            9 * 3600 + rng.random_range(600..if late { 40 * 3600 } else { 11 * 3600 })
        } else {
            rng.random_range(25_200..79_200)
        };
        let t = clock.at(day, secs);
        let reads = (rng.random::<f64>().powi(3) * 50_000.0) as i64;
        out.n_posts += 1;
        let (title, repost_of) = match directive.filter(|_| is_repost) {
            Some(d) => (format!("重要通知{d:03}"), Some(format!("dir-{d:03}"))),
            None => (format!("t{day}-{j}"), None),
        };
        let post = PostRow {
            platform,
            account: &a.id,
            id: format!("{}-{day}-{j}", a.id),
            at: t,
            title,
            repost_of,
            position: 1 + j as i64 % 3,
            counts: [reads, reads / 60, reads / 25, reads / 120, reads / 80],
        };
        out.post_columns.push(&mut out.posts, post, now_us);
        // Two messages a post on average; replies minutes to weeks late, some never.
        let messages = rng.random_range(0..5);
        for q in 0..messages {
            let rec = t + rng.random_range(60..3 * 86_400) * 1_000_000;
            let r: f64 = rng.random();
            let delay_h = if r < 0.6 {
                rng.random_range(0.1..48.0)
            } else if r < 0.85 {
                rng.random_range(48.0..240.0)
            } else if r < 0.95 {
                rng.random_range(240.0..720.0)
            } else {
                -1.0
            };
            out.n_messages += 1;
            let msgs = &mut out.msgs;
            msgs.rows += 1;
            msgs.s(mc.platform).append_value(platform);
            msgs.s(mc.account).append_value(&a.id);
            msgs.s(mc.id).append_value(format!("{}-{day}-{j}-{q}", a.id));
            msgs.s(mc.channel).append_value("comment");
            msgs.t(mc.received).append_value(rec);
            msgs.s(mc.author).append_value(format!("{:016x}", rng.random::<u64>()));
            if delay_h < 0.0 {
                msgs.t(mc.replied).append_null();
            } else {
                // Exports carry whole seconds.
                msgs.t(mc.replied).append_value(rec + (delay_h * 3600.0) as i64 * 1_000_000);
            }
            msgs.s(mc.source).append_value("generated");
            msgs.t(mc.ingested).append_value(now_us);
        }
    }
}

/// The directives' source posts, by their source account; returns how many.
fn directive_sources(posts: &mut Columns, pc: &PostColumns, a: &Account, directives: &Directives, clock: &Clock, now_us: i64) -> u64 {
    for (k, d) in directives.days.iter().enumerate() {
        let post = PostRow {
            platform: directives.source_platform,
            account: &a.id,
            id: format!("dir-{k:03}"),
            at: clock.at(*d, 9 * 3600),
            title: format!("重要通知{k:03}"),
            repost_of: None,
            position: 100,
            counts: [100; 5],
        };
        pc.push(posts, post, now_us);
    }
    directives.days.len() as u64
}

/// Every table is replaced (the tier writes no aliases or findings: they are left empty); the
/// version is the one read under the lock. Returns how many data files the tables hold.
async fn commit_tables(wh: &Warehouse, w: &mut Writer<'_>, base_version: u64, tier: Tier) -> Result<usize, GenerateError> {
    let mut next = Manifest { version: base_version, ..Manifest::default() };
    let mut files = 0;
    for (name, entries) in std::mem::take(&mut w.files) {
        files += entries.len();
        next.set(name, entries);
    }
    for def in [&table::POST_ALIASES, &table::FINDINGS] {
        let entry = wh.write_rows(def, &format!("{}/{}-empty.parquet", crate::warehouse::table_dir(def.name), w.run), &[]).await?;
        next.set(def.name, vec![entry]);
    }
    wh.commit(next, &format!("generate --tier {}", tier.name())).await?;
    Ok(files)
}
