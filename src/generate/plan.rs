//! Who does what in the demo district: units, accounts, their behaviour over two quarters, and
//! the problems planted for the build to find.

use crate::time::{beijing_micros, Quarter};
use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

pub const DISTRICT: &str = "青禾区";
/// The city the demo district belongs to (fictional, as the district is).
pub const CITY: &str = "云溪市";

#[derive(Debug, Clone)]
pub struct Unit {
    pub name: String,
    pub unit_type: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Posts most weeks.
    Active,
    /// Posts every few weeks (silent weeks) but recently.
    Irregular,
    /// Stopped posting 3–8 weeks before the check point.
    Sleeping,
    /// No post for more than 90 days, or never.
    Zombie,
}

#[derive(Debug, Clone)]
pub struct Account {
    pub unit: usize,
    pub platform: &'static str,
    pub id: String,
    pub name: String,
    pub opened_on: NaiveDate,
    pub registered: bool,
    pub interaction_enabled: bool,
    pub behaviour: Behaviour,
    /// Answers no message at all.
    pub ignores_messages: bool,
    pub closed_on: Option<NaiveDate>,
    /// Has a 开设 filing with a filed_on.
    pub filed_open: bool,
    pub maintainer: String,
    pub followers_start: i64,
    /// Relative activity (skew: a few very active accounts, many quiet ones).
    pub weight: f64,
}

#[derive(Debug, Clone)]
pub struct Post {
    pub account: usize,
    pub id: String,
    pub at: NaiveDateTime,
    pub title: String,
    pub repost_of: Option<String>,
    pub headline: bool,
    pub reads: i64,
    pub wows: i64,
    pub likes: i64,
    pub comments: i64,
    pub shares: i64,
}

#[derive(Debug, Clone)]
pub struct Message {
    pub account: usize,
    pub id: String,
    pub channel: &'static str,
    pub at: NaiveDateTime,
    pub author: String,
    pub replied: Option<NaiveDateTime>,
    /// For comments: the post commented on.
    pub post: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Directive {
    pub id: String,
    pub title: String,
    pub source_post: String,
    pub at: NaiveDateTime,
    pub units: Vec<usize>,
}

#[derive(Debug, Clone)]
pub struct Filing {
    pub account: usize,
    pub action: &'static str,
    pub action_date: NaiveDate,
    pub filed_on: Option<NaiveDate>,
    pub announced_on: Option<NaiveDate>,
}

#[derive(Debug, Clone)]
pub struct SelfInspection {
    pub unit: usize,
    pub month: (i32, u32),
    pub published_on: NaiveDate,
}

#[derive(Debug, Clone)]
pub struct Finding {
    pub account: usize,
    pub post: String,
    pub found_on: NaiveDate,
    pub kind: &'static str,
    pub corrected_on: Option<NaiveDate>,
}

/// A problem the build must find (SPEC §7 categories).
#[derive(Debug, Clone, Serialize)]
pub struct Planted {
    pub unit_name: Option<String>,
    pub account_id: Option<String>,
    pub category: String,
    pub problem: String,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub quarter: Quarter,
    pub units: Vec<Unit>,
    pub accounts: Vec<Account>,
    pub posts: Vec<Post>,
    pub messages: Vec<Message>,
    pub directives: Vec<Directive>,
    pub filings: Vec<Filing>,
    pub self_inspections: Vec<SelfInspection>,
    pub findings: Vec<Finding>,
    pub planted: Vec<Planted>,
}

const DEPARTMENTS: &[&str] = &[
    "人民政府办公室",
    "发展和改革局",
    "教育局",
    "科学技术局",
    "公安分局",
    "民政局",
    "司法局",
    "财政局",
    "人力资源和社会保障局",
    "自然资源局",
    "生态环境局",
    "住房和城乡建设局",
    "交通运输局",
    "农业农村局",
    "商务局",
    "文化体育和旅游局",
    "卫生健康局",
    "退役军人事务局",
    "应急管理局",
    "审计局",
    "市场监督管理局",
    "统计局",
    "医疗保障局",
    "城市管理局",
    "行政审批局",
    "信访局",
];
const STREETS: &[&str] = &["临江街道", "望山街道", "柳岸街道", "新桥街道", "北苑街道", "南塘街道", "西坊街道", "青禾街道"];
const TOWNS: &[&str] = &["石门镇", "白沙镇", "云溪镇", "松林镇", "枫港镇", "梅岭乡"];
const TOPICS: &[&str] =
    &["政策解读", "办事指南", "便民提醒", "工作动态", "通知公告", "民生实事", "安全提示", "志愿服务", "招聘信息", "活动预告"];

fn short_name(unit: &str) -> String {
    unit.trim_start_matches(DISTRICT).trim_end_matches("人民政府办公室").trim_end_matches('局').to_string()
}

/// The demo district's plan for a quarter and the one before it; the same seed gives the same plan.
pub fn district(quarter: Quarter, seed: u64) -> Plan {
    let mut rng = SmallRng::seed_from_u64(seed);
    let units = units();
    let mut planted: Vec<Planted> = Vec::new();
    // The random draws happen in this order; every seed's plan depends on it.
    let (mut accounts, next_id) = accounts(&units, &mut rng);
    plant_behaviour(&mut accounts, &units, &mut planted);
    add_irregular_accounts(&mut accounts, &units, next_id, quarter, &mut planted);
    let mut posts = posts(&accounts, &units, quarter, &mut rng, &mut planted);
    let directives = directives(&accounts, &units, quarter, &mut rng, &mut posts, &mut planted);
    let messages = messages(&accounts, &posts, quarter, &mut rng);
    let filings = filings(&accounts, &units, quarter, &mut rng, &mut planted);
    let self_inspections = self_inspections(&units, quarter, &mut rng, &mut planted);
    let findings = findings(&accounts, &units, &posts, quarter, &mut planted);
    posts.sort_by_key(|a| (a.account, a.at));
    Plan { quarter, units, accounts, posts, messages, directives, filings, self_inspections, findings, planted }
}

fn units() -> Vec<Unit> {
    let mut units = Vec::new();
    for d in DEPARTMENTS {
        units.push(Unit { name: format!("{DISTRICT}{d}"), unit_type: "区直部门" });
    }
    for s in STREETS {
        units.push(Unit { name: format!("{DISTRICT}{s}"), unit_type: "街道" });
    }
    for t in TOWNS {
        units.push(Unit { name: format!("{DISTRICT}{t}"), unit_type: "乡镇" });
    }
    units
}

/// Every unit has a wechat account; most a weibo; some douyin and toutiao. Returns the accounts and
/// the next free account number.
fn accounts(units: &[Unit], rng: &mut SmallRng) -> (Vec<Account>, u64) {
    let mut accounts: Vec<Account> = Vec::new();
    let mut next_id = 1u64;
    for (u, unit) in units.iter().enumerate() {
        let mut platforms = vec!["wechat"];
        if u % 8 != 7 {
            platforms.push("weibo");
        }
        if u % 2 == 0 {
            platforms.push("douyin");
        }
        if u % 3 == 1 {
            platforms.push("toutiao");
        }
        for p in platforms {
            let id = account_id(p, next_id);
            next_id += 1;
            let label = match p {
                "wechat" => "",
                "weibo" => "发布",
                "douyin" => "抖音",
                _ => "头条",
            };
            let opened =
                NaiveDate::from_ymd_opt(2013 + rng.random_range(0..6), rng.random_range(1..=12), rng.random_range(1..=28)).expect("date");
            accounts.push(Account {
                unit: u,
                platform: p,
                id,
                name: format!("{}{}", short_name(&unit.name), label),
                opened_on: opened,
                registered: true,
                interaction_enabled: true,
                behaviour: Behaviour::Active,
                ignores_messages: false,
                closed_on: None,
                filed_open: true,
                maintainer: format!("运维员{:02}", u + 1),
                followers_start: (300.0 * (rng.random::<f64>() * 5.0).exp()) as i64,
                weight: (rng.random::<f64>() * 2.2).exp() / 3.0,
            });
        }
    }
    (accounts, next_id)
}

fn plant(planted: &mut Vec<Planted>, unit: Option<String>, account: Option<&Account>, category: &str, problem: &str) {
    planted.push(Planted {
        unit_name: unit,
        account_id: account.map(|a| a.id.clone()),
        category: category.into(),
        problem: problem.into(),
    });
}

/// The `nth` account of a platform (planted problems sit on fixed positions so that every seed
/// plants the same problems).
fn pick(accounts: &[Account], platform: &str, nth: usize) -> usize {
    accounts.iter().enumerate().filter(|(_, a)| a.platform == platform).nth(nth).map(|(i, _)| i).expect("account")
}

/// Sleeping, zombie and irregular accounts, interaction switched off, messages never answered.
fn plant_behaviour(accounts: &mut [Account], units: &[Unit], planted: &mut Vec<Planted>) {
    let unit_of = |accounts: &[Account], a: usize| units[accounts[a].unit].name.clone();
    for (platform, nth) in [("weibo", 3), ("wechat", 7), ("wechat", 20), ("douyin", 2), ("toutiao", 1), ("weibo", 15)] {
        let a = pick(accounts, platform, nth);
        accounts[a].behaviour = Behaviour::Sleeping;
        let unit = unit_of(accounts, a);
        plant(planted, Some(unit), Some(&accounts[a]), "逾期不更新", "监测时间点前2周内无更新 (sleeping)");
    }
    for (platform, nth) in [("weibo", 9), ("wechat", 33)] {
        let a = pick(accounts, platform, nth);
        accounts[a].behaviour = Behaviour::Zombie;
        let unit = unit_of(accounts, a);
        plant(planted, Some(unit), Some(&accounts[a]), "逾期不更新", "监测时间点前2周内无更新 (zombie)");
    }
    for (platform, nth) in [("wechat", 4), ("weibo", 20)] {
        let a = pick(accounts, platform, nth);
        accounts[a].behaviour = Behaviour::Irregular;
    }
    for (platform, nth) in [("wechat", 12), ("weibo", 6)] {
        let a = pick(accounts, platform, nth);
        accounts[a].interaction_enabled = false;
        let unit = unit_of(accounts, a);
        plant(planted, Some(unit), Some(&accounts[a]), "互动回应不及时", "互动功能未开通");
    }
    for (platform, nth) in [("wechat", 15), ("douyin", 4)] {
        let a = pick(accounts, platform, nth);
        accounts[a].ignores_messages = true;
        let unit = unit_of(accounts, a);
        plant(planted, Some(unit), Some(&accounts[a]), "互动回应不及时", "留言无一回复");
    }
}

/// The accounts the register gets wrong: second accounts on a platform, one opened and never
/// filed, one in no register, one deregistered mid-quarter.
fn add_irregular_accounts(accounts: &mut Vec<Account>, units: &[Unit], mut next_id: u64, quarter: Quarter, planted: &mut Vec<Planted>) {
    let q_start = quarter.start();
    // Two units run a second wechat account (one per platform is the rule).
    for u in [10usize, 28] {
        let id = account_id("wechat", next_id);
        next_id += 1;
        let unit_name = units[u].name.clone();
        accounts.push(Account {
            unit: u,
            platform: "wechat",
            id,
            name: format!("{}服务号", short_name(&unit_name)),
            opened_on: NaiveDate::from_ymd_opt(2018, 3, 1 + u as u32 % 20).expect("date"),
            registered: true,
            interaction_enabled: true,
            behaviour: Behaviour::Active,
            ignores_messages: false,
            closed_on: None,
            filed_open: true,
            maintainer: format!("运维员{:02}", u + 1),
            followers_start: 800,
            weight: 0.5,
        });
        plant(planted, Some(unit_name), None, "运维管理不规范", "同一平台开设多个账号");
    }
    // A new account opened after the notice and never filed.
    {
        let u = 31;
        let id = account_id("douyin", next_id);
        next_id += 1;
        accounts.push(Account {
            unit: u,
            platform: "douyin",
            id,
            name: format!("{}短视频", short_name(&units[u].name)),
            opened_on: q_start + Duration::days(55),
            registered: true,
            interaction_enabled: true,
            behaviour: Behaviour::Active,
            ignores_messages: false,
            closed_on: None,
            filed_open: false,
            maintainer: format!("运维员{:02}", u + 1),
            followers_start: 0,
            weight: 0.6,
        });
        let unit = units[u].name.clone();
        let last = accounts.len() - 1;
        plant(planted, Some(unit), Some(&accounts[last]), "运维管理不规范", "新开设账号未备案");
    }
    // An account posting that is in no register.
    {
        let id = account_id("toutiao", next_id);
        accounts.push(Account {
            unit: 5,
            platform: "toutiao",
            id,
            name: "青禾民生资讯".into(),
            opened_on: NaiveDate::from_ymd_opt(2018, 6, 1).expect("date"),
            registered: false,
            interaction_enabled: true,
            behaviour: Behaviour::Active,
            ignores_messages: false,
            closed_on: None,
            filed_open: false,
            maintainer: String::new(),
            followers_start: 1500,
            weight: 0.8,
        });
        let last = accounts.len() - 1;
        plant(planted, None, Some(&accounts[last]), "运维管理不规范", "未纳入台账 (unregistered)");
    }
    // An account deregistered mid-quarter, filed late, never announced, still posting after.
    let closed = pick(accounts, "weibo", 24);
    accounts[closed].closed_on = Some(q_start + Duration::days(40));
}

/// Posts over two quarters (history counts for days since the last post).
fn posts(accounts: &[Account], units: &[Unit], quarter: Quarter, rng: &mut SmallRng, planted: &mut Vec<Planted>) -> Vec<Post> {
    let q_end = quarter.end();
    let history = quarter.prev().start();
    let mut posts = Vec::new();
    for (a, acct) in accounts.iter().enumerate() {
        let start = history.max(acct.opened_on);
        let last_day = match acct.behaviour {
            Behaviour::Sleeping => q_end - Duration::days(20 + (a as i64 % 5) * 8),
            Behaviour::Zombie if a % 2 == 0 => history - Duration::days(1),
            Behaviour::Zombie => history + Duration::days(3),
            _ => q_end - Duration::days(1),
        };
        let mut day = start;
        let mut n = 0;
        while day <= last_day {
            let p = match acct.behaviour {
                Behaviour::Irregular => {
                    if (day - start).num_days() / 7 % 3 == 0 {
                        0.35
                    } else {
                        0.0
                    }
                }
                _ => (0.1 + 0.3 * acct.weight).min(0.9),
            };
            let weekend = matches!(day.weekday(), chrono::Weekday::Sat | chrono::Weekday::Sun);
            let p = if weekend { p * 0.4 } else { p };
            // The closed account posts once more after its closure.
            let after_closure = acct.closed_on.is_some_and(|c| day >= c);
            let p = if after_closure {
                if day == acct.closed_on.unwrap_or(day) + Duration::days(9) {
                    1.0
                } else {
                    0.0
                }
            } else {
                p
            };
            let per_day = if rng.random::<f64>() < p { 1 + usize::from(rng.random::<f64>() < acct.weight * 0.3) } else { 0 };
            for _ in 0..per_day {
                n += 1;
                let at = day.and_time(NaiveTime::from_hms_opt(rng.random_range(7..22), rng.random_range(0..60), 0).expect("time"));
                let serial = posts.len();
                posts.push(new_post(rng, serial, a, acct, n, at, None, format!("{} {} 第{}期", acct.name, TOPICS[n % TOPICS.len()], n)));
            }
            day += Duration::days(1);
        }
        if acct.closed_on.is_some() {
            let unit = units[acct.unit].name.clone();
            plant(planted, Some(unit), Some(acct), "deduction", "注销后仍发布、备案逾期、未公告");
        }
    }
    posts
}

/// Directives: the district office's weibo publishes, every unit reposts within 12 hours (the
/// reposts are added to `posts`).
fn directives(
    accounts: &[Account],
    units: &[Unit],
    quarter: Quarter,
    rng: &mut SmallRng,
    posts: &mut Vec<Post>,
    planted: &mut Vec<Planted>,
) -> Vec<Directive> {
    let q_start = quarter.start();
    let office_weibo = accounts.iter().position(|a| a.unit == 0 && a.platform == "weibo").expect("office weibo");
    let mut directives = Vec::new();
    let directive_days = [9i64, 24, 38, 52, 71];
    let careless_units = [13usize, 34];
    for (k, d) in directive_days.iter().enumerate() {
        let at = (q_start + Duration::days(*d)).and_time(NaiveTime::from_hms_opt(9 + k as u32, 0, 0).expect("time"));
        let title = format!(
            "【重要】{DISTRICT}关于{}的通知",
            ["做好防汛防台工作", "开展安全生产大检查", "做好开学季校园安全", "加强政务新媒体管理", "做好国庆节假日值班"][k]
        );
        let id = format!("D{}-{:03}", quarter.year, k + 1);
        let source = new_post(rng, posts.len(), office_weibo, &accounts[office_weibo], 900 + k, at, None, title.clone());
        let source_id = source.id.clone();
        posts.push(source);
        let named: Vec<usize> =
            if k == 2 { (0..units.len()).filter(|u| units[*u].unit_type != "区直部门").collect() } else { Vec::new() };
        let applies: Vec<usize> = if named.is_empty() { (0..units.len()).collect() } else { named.clone() };
        for u in applies {
            if u == 0 {
                continue;
            }
            let Some(acct) = repost_account(accounts, u, at.date()) else { continue };
            let roll = rng.random::<f64>();
            let delay_h = if careless_units.contains(&u) && k < 3 {
                continue; // planted: misses directives
            } else if roll < 0.82 {
                rng.random_range(1.0..11.5)
            } else if roll < 0.94 {
                rng.random_range(13.0..60.0)
            } else {
                continue;
            };
            let when = at + Duration::minutes((delay_h * 60.0) as i64);
            let a = &accounts[acct];
            let repost_of = (a.platform == "weibo").then(|| source_id.clone());
            // The repost carries the directive's title, so exports without the source id (weiboSpider,
            // WeChat) are matched by title.
            let title = title.clone();
            let serial = posts.len();
            posts.push(new_post(rng, serial, acct, a, 1000 + k, when, repost_of, title));
        }
        directives.push(Directive { id, title, source_post: source_id, at, units: named });
    }
    for u in careless_units {
        plant(planted, Some(units[u].name.clone()), None, "转载不及时", "2条以上重要信息未转载");
    }
    directives
}

/// Messages and answers.
fn messages(accounts: &[Account], posts: &[Post], quarter: Quarter, rng: &mut SmallRng) -> Vec<Message> {
    let (q_start, q_end) = (quarter.start(), quarter.end());
    let mut messages = Vec::new();
    for (a, acct) in accounts.iter().enumerate() {
        if !acct.registered || acct.closed_on.is_some() {
            continue;
        }
        let n = if acct.ignores_messages { 4 } else { rng.random_range(0..10) };
        let account_posts: Vec<&Post> = posts.iter().filter(|p| p.account == a && p.at.date() >= q_start).collect();
        for m in 0..n {
            let day = q_start + Duration::days(rng.random_range(0..(q_end - q_start).num_days() - 2));
            let at = day.and_time(NaiveTime::from_hms_opt(rng.random_range(6..23), rng.random_range(0..60), 0).expect("time"));
            let roll = rng.random::<f64>();
            let replied = if acct.ignores_messages || !acct.interaction_enabled {
                None
            } else if roll < 0.78 {
                Some(at + Duration::minutes(rng.random_range(20..2 * 24 * 60)))
            } else if roll < 0.93 {
                Some(at + Duration::hours(rng.random_range(5 * 24..20 * 24)))
            } else {
                None
            };
            let (channel, post) = match acct.platform {
                "douyin" | "wechat" if !account_posts.is_empty() && m % 2 == 0 => {
                    ("评论", Some(account_posts[rng.random_range(0..account_posts.len())].id.clone()))
                }
                _ => (if m % 3 == 0 { "私信" } else { "留言" }, None),
            };
            messages.push(Message {
                account: a,
                id: format!("{}-m{:03}", acct.id, m + 1),
                channel,
                at,
                author: format!("市民{:04}", rng.random_range(0..5000)),
                replied,
                post,
            });
        }
    }
    messages
}

/// Filings: every registered account's opening (the unfiled one excepted), a few changes, and the
/// closure (filed late, never announced).
fn filings(accounts: &[Account], units: &[Unit], quarter: Quarter, rng: &mut SmallRng, planted: &mut Vec<Planted>) -> Vec<Filing> {
    let q_start = quarter.start();
    let mut filings = Vec::new();
    for (a, acct) in accounts.iter().enumerate() {
        if !acct.registered || !acct.filed_open {
            continue;
        }
        let filed = acct.opened_on + Duration::days(rng.random_range(1..4));
        filings
            .push(Filing { account: a, action: "开设", action_date: acct.opened_on, filed_on: Some(filed), announced_on: Some(filed) });
        if a % 17 == 3 {
            let d = q_start + Duration::days(rng.random_range(5..70));
            let late = a % 34 == 3;
            let filed = d + Duration::days(if late { 16 } else { 2 });
            filings.push(Filing { account: a, action: "变更", action_date: d, filed_on: Some(filed), announced_on: Some(filed) });
            if late {
                plant(planted, Some(units[acct.unit].name.clone()), Some(acct), "deduction", "变更备案逾期");
            }
        }
        if let Some(c) = acct.closed_on {
            filings
                .push(Filing { account: a, action: "注销", action_date: c, filed_on: Some(c + Duration::days(21)), announced_on: None });
        }
    }
    filings
}

/// Monthly self-inspections, due by the 25th.
fn self_inspections(units: &[Unit], quarter: Quarter, rng: &mut SmallRng, planted: &mut Vec<Planted>) -> Vec<SelfInspection> {
    let mut self_inspections = Vec::new();
    let lax_units = [7usize, 22, 36];
    for u in 0..units.len() {
        for m in 0..3 {
            let first = crate::time::Quarter { year: quarter.year, q: quarter.q }.start();
            let month_start = NaiveDate::from_ymd_opt(first.year(), first.month() + m, 1).expect("month");
            let roll = rng.random::<f64>();
            let day = if lax_units.contains(&u) {
                if m == 0 {
                    Some(28)
                } else {
                    None
                }
            } else if roll < 0.85 {
                Some(rng.random_range(10..=25))
            } else if roll < 0.95 {
                Some(rng.random_range(26..=28))
            } else {
                None
            };
            if let Some(day) = day {
                self_inspections.push(SelfInspection {
                    unit: u,
                    month: (month_start.year(), month_start.month()),
                    published_on: NaiveDate::from_ymd_opt(month_start.year(), month_start.month(), day).expect("day"),
                });
            }
        }
    }
    for u in lax_units {
        plant(planted, Some(units[u].name.clone()), None, "deduction", "自查情况未按月公开");
    }
    self_inspections
}

/// Inspectors' findings: typos (mostly corrected), and serious errors left uncorrected.
fn findings(accounts: &[Account], units: &[Unit], posts: &[Post], quarter: Quarter, planted: &mut Vec<Planted>) -> Vec<Finding> {
    let (q_start, q_end) = (quarter.start(), quarter.end());
    let mut findings = Vec::new();
    let in_q: Vec<usize> = (0..posts.len()).filter(|&i| posts[i].at.date() >= q_start && posts[i].at.date() < q_end).collect();
    for k in 0..10 {
        let p = &posts[in_q[(k * 7919 + 13) % in_q.len()]];
        let found = p.at.date() + Duration::days(3);
        if found >= q_end {
            continue;
        }
        findings.push(Finding {
            account: p.account,
            post: p.id.clone(),
            found_on: found,
            kind: if k % 4 == 3 { "链接失效" } else { "错别字" },
            corrected_on: if k % 5 == 4 { None } else { Some(found + Duration::days(1)) },
        });
    }
    for (platform, nth) in [("wechat", 25), ("weibo", 11)] {
        let a = pick(accounts, platform, nth);
        if let Some(p) = posts.iter().find(|p| p.account == a && p.at.date() >= q_start + Duration::days(20)) {
            findings.push(Finding {
                account: a,
                post: p.id.clone(),
                found_on: p.at.date() + Duration::days(2),
                kind: "严重表述错误",
                corrected_on: None,
            });
            let unit = units[accounts[a].unit].name.clone();
            plant(planted, Some(unit), Some(&accounts[a]), "信息发布不准确", "严重表述错误未整改");
        }
    }
    findings
}

/// The account a unit reposts directives with: its weibo if it has one, else its wechat.
fn repost_account(accounts: &[Account], unit: usize, day: NaiveDate) -> Option<usize> {
    let usable = |a: &Account| {
        a.unit == unit && a.registered && a.behaviour == Behaviour::Active && a.closed_on.is_none_or(|c| c > day) && a.opened_on <= day
    };
    accounts
        .iter()
        .position(|a| usable(a) && a.platform == "weibo")
        .or_else(|| accounts.iter().position(|a| usable(a) && a.platform == "wechat"))
}

fn account_id(platform: &str, n: u64) -> String {
    match platform {
        "weibo" => format!("71{:08}", 20_000_000 + n * 7919 % 10_000_000),
        "wechat" => format!("gh_qh{:010x}", 0x5a5a_0000 + n * 2654435761 % 0xffff_ffff),
        "douyin" => format!("68{:09}", 300_000_000 + n * 104_729),
        _ => format!("16{:011}", 50_000_000_000 + n * 1_299_709),
    }
}

#[allow(clippy::too_many_arguments)]
fn new_post(
    rng: &mut SmallRng,
    serial: usize,
    account: usize,
    acct: &Account,
    n: usize,
    at: NaiveDateTime,
    repost_of: Option<String>,
    title: String,
) -> Post {
    let scale = acct.followers_start.max(100) as f64;
    let heat = (rng.random::<f64>() * 3.0).exp();
    let reads = (scale * 0.05 * heat) as i64 + rng.random_range(0..50);
    let id = match acct.platform {
        "weibo" => format!("44{:014}", 10_000_000_000u64 + serial as u64 * 7),
        "wechat" => format!("https://mp.weixin.qq.com/s/qh{account:04}x{n:06}"),
        "douyin" => format!("7{:018}", 390_000_000_000_000_000u64 + serial as u64),
        _ => format!("tt{:09}", serial),
    };
    Post {
        account,
        id,
        at,
        title,
        repost_of,
        headline: !n.is_multiple_of(3),
        reads,
        wows: reads / 60,
        likes: reads / 25 + rng.random_range(0..5),
        comments: reads / 120,
        shares: reads / 80,
    }
}

impl Plan {
    pub fn q_instant(t: NaiveDateTime) -> i64 {
        beijing_micros(t)
    }

    pub fn readme(&self) -> String {
        let mut s = format!(
            "# Demo exports: {DISTRICT}, {} (fictional)\n\nGenerated by `govmedia generate`. The district, its {} units, {} accounts and every \
person are invented. Run `govmedia run pipeline.toml` on this folder.\n\n## Planted problems\n\n| unit | account | category | problem |\n|---|---|---|---|\n",
            self.quarter,
            self.units.len(),
            self.accounts.len()
        );
        for p in &self.planted {
            s.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                p.unit_name.clone().unwrap_or_else(|| "—".into()),
                p.account_id.clone().unwrap_or_else(|| "—".into()),
                p.category,
                p.problem
            ));
        }
        s
    }
}
