//! The report of a city's or a province's office (issue #16). A district office checks its units
//! one by one (the report of `super::report`); a city ranks its districts and a province its
//! cities, names only the worst units and accounts, and circulates the full lists as an XLSX
//! attachment. Its charts summarise (distribution, regions ranked, best and worst units, pass
//! rates), so every output keeps the size of a few pages whatever the number of units.

use super::charts::level::{draw_level, LevelCharts};
use super::data::{Account, ReportData, Rows, Unit};
use super::ReportError;
type Result<T, E = ReportError> = std::result::Result<T, E>;
use super::notice::{numeral, parts_markdown, quarter_zh, Notice, Part, Seg};
use super::tables::{escape, html_table, LeagueTable};
use super::{page, ReportOptions, ReportOutput};
use crate::engine::run_query;
use crate::platform::zh as platform_zh;
use crate::vocab::Category;
use base64::Engine;
use datafusion::prelude::SessionContext;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// Whose report: the office of a district (区县), a city (市) or a province (省).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Level {
    District,
    City,
    Province,
}

impl Level {
    /// The level of `region_quarter_scores` this office ranks: a city its districts, a province
    /// its cities; a district ranks units, not regions.
    pub fn ranked(self) -> Option<&'static str> {
        match self {
            Level::District => None,
            Level::City => Some("district"),
            Level::Province => Some("city"),
        }
    }

    /// What the ranked regions are called.
    pub fn region_zh(self) -> &'static str {
        match self {
            Level::Province => "地市",
            _ => "区县",
        }
    }

    fn office_zh(self) -> &'static str {
        match self {
            Level::District => "区县级",
            Level::City => "市级",
            Level::Province => "省级",
        }
    }
}

/// How many of the worst units and accounts a notice names when the `[notice]` table does not say.
pub const DEFAULT_NAMED: usize = 10;

/// One row of `region_quarter_scores`.
#[derive(Debug, Clone)]
pub struct Region {
    pub level: String,
    pub region_path: String,
    pub region: String,
    pub parent: Option<String>,
    pub units: i64,
    pub units_failed: i64,
    pub units_criticized: i64,
    pub accounts: i64,
    pub accounts_vetoed: i64,
    pub accounts_checked: i64,
    pub accounts_failed: i64,
    pub pass_rate: Option<f64>,
    pub criticism_items: i64,
    pub unit_score_avg: f64,
    pub rank: i64,
    pub grade: String,
}

/// What a regional report adds to a district's data: the regions and where each unit sits.
pub struct LevelData {
    pub level: Level,
    /// The regions this office ranks, by parent then rank.
    pub regions: Vec<Region>,
    /// Every district and city row, for the attachment.
    pub all_regions: Vec<Region>,
    /// unit → (city, district).
    pub unit_region: HashMap<String, (String, Option<String>)>,
    /// How many of the worst units and accounts are named.
    pub named: usize,
}

fn q(s: &str) -> String {
    s.replace('\'', "''")
}

/// The level the register's regions imply for a quarter: a province when its units lie in more
/// than one city, a city when in more than one district, else a district (a register without
/// regions, or a warehouse built before regions were, is a district's).
pub async fn implied_level(ctx: &SessionContext, quarter: &str) -> Result<Level> {
    let sql = format!(
        "SELECT count(DISTINCT city) AS cities, count(DISTINCT CASE WHEN level = 'district' THEN region_path END) AS districts \
         FROM region_quarter_scores WHERE quarter = '{}'",
        q(quarter)
    );
    let Ok(batches) = run_query(ctx, &sql).await else {
        return Ok(Level::District);
    };
    let c = Rows { table: "region_quarter_scores", batches };
    let (cities, districts) = (c.ints("cities")?.first().copied().unwrap_or(0), c.ints("districts")?.first().copied().unwrap_or(0));
    Ok(if cities > 1 {
        Level::Province
    } else if districts > 1 {
        Level::City
    } else {
        Level::District
    })
}

/// The level to report at, if a city's or a province's: the one asked for, else the implied one.
pub async fn regional_level(ctx: &SessionContext, quarter: &str, asked: Option<Level>) -> Result<Option<Level>> {
    let level = match asked {
        Some(l) => l,
        None => implied_level(ctx, quarter).await?,
    };
    Ok((level != Level::District).then_some(level))
}

/// Reads the quarter's regions and units' regions. A level whose regions the quarter lacks (a
/// register without 所属市 and 所属区县) is an error that says so.
pub async fn load(ctx: &SessionContext, quarter: &str, level: Level, named: usize) -> Result<LevelData> {
    let ranked = level.ranked().unwrap_or("district");
    let sql =
        format!("SELECT * FROM region_quarter_scores WHERE quarter = '{}' ORDER BY level, parent NULLS FIRST, rank, region", q(quarter));
    let batches = run_query(ctx, &sql).await.map_err(|source| ReportError::NoRegions { quarter: quarter.to_string(), source })?;
    let c = Rows { table: "region_quarter_scores", batches };
    let (lv, path, region, parent) = (c.text("level")?, c.text("region_path")?, c.text("region")?, c.strings("parent")?);
    let (units, failed, crit, accounts) = (c.ints("units")?, c.ints("units_failed")?, c.ints("units_criticized")?, c.ints("accounts")?);
    let (vetoed, checked, acc_failed, rate) =
        (c.ints("accounts_vetoed")?, c.ints("accounts_checked")?, c.ints("accounts_failed")?, c.floats("pass_rate")?);
    let (items, avg, rank, grade) = (c.ints("criticism_items")?, c.floats("unit_score_avg")?, c.ints("rank")?, c.text("grade")?);
    let all_regions: Vec<Region> = (0..lv.len())
        .map(|i| Region {
            level: lv[i].clone(),
            region_path: path[i].clone(),
            region: region[i].clone(),
            parent: parent[i].clone(),
            units: units[i],
            units_failed: failed[i],
            units_criticized: crit[i],
            accounts: accounts[i],
            accounts_vetoed: vetoed[i],
            accounts_checked: checked[i],
            accounts_failed: acc_failed[i],
            pass_rate: rate[i],
            criticism_items: items[i],
            unit_score_avg: avg[i].unwrap_or(0.0),
            rank: rank[i],
            grade: grade[i].clone(),
        })
        .collect();
    let regions: Vec<Region> = all_regions.iter().filter(|r| r.level == ranked).cloned().collect();
    if regions.is_empty() {
        return Err(ReportError::NoRegionColumns {
            quarter: quarter.to_string(),
            region: if ranked == "city" { "city" } else { "district" },
            office: level.office_zh(),
        });
    }
    let sql = format!("SELECT unit_name, city, district FROM unit_regions WHERE quarter = '{}'", q(quarter));
    let u = Rows::query(ctx, "unit_regions", &sql).await?;
    let unit_region =
        u.text("unit_name")?.into_iter().zip(u.text("city")?.into_iter().zip(u.strings("district")?)).collect::<HashMap<_, _>>();
    Ok(LevelData { level, regions, all_regions, unit_region, named })
}

/// A score as ranks and grades compare it (SPEC §7): rounded to 4 places, half away from zero.
fn rounded(score: f64) -> i64 {
    ((score + 1e-9) * 1e4).round() as i64
}

/// The worst `n` units: lowest score first (compared rounded), ties by name.
pub fn worst_units(d: &ReportData, n: usize) -> Vec<&Unit> {
    let mut units: Vec<&Unit> = d.units.iter().collect();
    units.sort_by(|a, b| rounded(a.score).cmp(&rounded(b.score)).then_with(|| a.unit_name.cmp(&b.unit_name)));
    units.truncate(n);
    units
}

/// The best `n` units, in rank order (ties by name).
pub fn best_units(d: &ReportData, n: usize) -> Vec<&Unit> {
    let mut units: Vec<&Unit> = d.units.iter().collect();
    units.sort_by(|a, b| a.rank.cmp(&b.rank).then_with(|| a.unit_name.cmp(&b.unit_name)));
    units.truncate(n);
    units
}

/// The worst `n` graded accounts: lowest score first (compared rounded), ties by platform and id.
pub fn worst_accounts(d: &ReportData, n: usize) -> Vec<&Account> {
    let mut accounts: Vec<(&Account, i64)> = d.accounts.iter().filter_map(|a| a.score.map(|s| (a, rounded(s)))).collect();
    accounts.sort_by(|(a, sa), (b, sb)| sa.cmp(sb).then_with(|| a.platform.cmp(&b.platform)).then_with(|| a.account_id.cmp(&b.account_id)));
    accounts.into_iter().take(n).map(|(a, _)| a).collect()
}

impl LevelData {
    /// Whether the ranked regions fall under more than one parent (districts of several cities).
    fn several_parents(&self) -> bool {
        self.regions.iter().map(|r| &r.parent).collect::<BTreeSet<_>>().len() > 1
    }

    /// A region as the report names it: a district with its city when districts of several
    /// cities are ranked (district names repeat from city to city).
    pub fn label(&self, r: &Region) -> String {
        match (&r.parent, self.several_parents()) {
            (Some(p), true) => format!("{p}{}", r.region),
            _ => r.region.clone(),
        }
    }

    /// Where a unit sits, as the tables show it.
    fn unit_place(&self, unit: &str) -> (String, String) {
        match self.unit_region.get(unit) {
            Some((c, d)) => (c.clone(), d.clone().unwrap_or_default()),
            None => (String::new(), String::new()),
        }
    }

    fn unit_place_text(&self, unit: &str) -> String {
        let (c, d) = self.unit_place(unit);
        format!("{c}{d}")
    }

    /// A unit as the notice names it: with its region in brackets, when it has one.
    fn unit_named(&self, unit: &str) -> String {
        match self.unit_place_text(unit) {
            p if p.is_empty() => unit.to_string(),
            p => format!("{unit}（{p}）"),
        }
    }
}

/// A score with two decimals, rounded half away from zero as the marts round (75.125 → 75.13;
/// `{:.2}` would print the binary float's 75.12).
fn f2(v: f64) -> String {
    format!("{:.2}", ((v + 1e-9) * 100.0).round() / 100.0)
}

fn num(v: f64) -> String {
    format!("{}", (v * 100.0).round() / 100.0)
}

const REGION_HEADER: &[&str] = &[
    "排名",
    "上级",
    "名称",
    "参评单位",
    "不合格单位",
    "被通报单位",
    "账号数",
    "否决账号",
    "检查账号",
    "不合格账号",
    "合格率(%)",
    "单位平均得分",
    "等级",
    "问题数",
];
const REGION_WIDTHS: &[f64] = &[6.0, 10.0, 12.0, 9.0, 10.0, 10.0, 8.0, 9.0, 9.0, 10.0, 10.0, 12.0, 8.0, 8.0];
const REGION_NUMERIC: &[usize] = &[0, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13];
const UNIT_HEADER: &[&str] =
    &["排名", "所属市", "所属区县", "单位名称", "单位类别", "账号数", "否决账号数", "单位扣分", "综合得分", "等级", "通报批评"];
const UNIT_WIDTHS: &[f64] = &[6.0, 10.0, 10.0, 30.0, 10.0, 8.0, 10.0, 9.0, 9.0, 8.0, 9.0];
const UNIT_NUMERIC: &[usize] = &[0, 5, 6, 7, 8];

fn region_row(r: &Region) -> Vec<String> {
    vec![
        r.rank.to_string(),
        r.parent.clone().unwrap_or_default(),
        r.region.clone(),
        r.units.to_string(),
        r.units_failed.to_string(),
        r.units_criticized.to_string(),
        r.accounts.to_string(),
        r.accounts_vetoed.to_string(),
        r.accounts_checked.to_string(),
        r.accounts_failed.to_string(),
        r.pass_rate.map(num).unwrap_or_default(),
        num(r.unit_score_avg),
        r.grade.clone(),
        r.criticism_items.to_string(),
    ]
}

/// A region's row in the ranking the notice and `index.html` show: rank, name, units (and, with
/// `criticized`, the units criticised), accounts checked and failed, pass rate, average unit score
/// and grade. The attachment's fuller row is [`region_row`].
fn ranking_row(l: &LevelData, r: &Region, criticized: bool) -> Vec<String> {
    let mut row = vec![r.rank.to_string(), l.label(r), r.units.to_string()];
    if criticized {
        row.push(r.units_criticized.to_string());
    }
    row.extend([
        r.accounts_checked.to_string(),
        r.accounts_failed.to_string(),
        r.pass_rate.map(|p| format!("{p:.2}%")).unwrap_or_default(),
        f2(r.unit_score_avg),
        r.grade.clone(),
    ]);
    row
}

fn unit_row(l: &LevelData, u: &Unit) -> Vec<String> {
    let (city, district) = l.unit_place(&u.unit_name);
    vec![
        u.rank.to_string(),
        city,
        district,
        u.unit_name.clone(),
        u.unit_type.clone(),
        u.accounts.to_string(),
        u.accounts_vetoed.to_string(),
        num(u.unit_deductions),
        num(u.score),
        u.grade.clone(),
        if u.criticized { "是".into() } else { "否".into() },
    ]
}

/// The attachment's sheets: the regions ranked (and at a province, every district too), every
/// unit with its region, every account, every problem.
fn attachment_tables(d: &ReportData, l: &LevelData) -> Vec<LeagueTable> {
    let mut out = Vec::new();
    let sheet = if l.level == Level::Province { "地市排名" } else { "区县排名" };
    out.push(LeagueTable::new(sheet, REGION_HEADER, l.regions.iter().map(region_row).collect(), Some(12), REGION_WIDTHS, REGION_NUMERIC));
    if l.level == Level::Province {
        let districts = l.all_regions.iter().filter(|r| r.level == "district").map(region_row).collect();
        out.push(LeagueTable::new("区县排名", REGION_HEADER, districts, Some(12), REGION_WIDTHS, REGION_NUMERIC));
    }
    out.push(LeagueTable::new(
        "单位排名",
        UNIT_HEADER,
        d.units.iter().map(|u| unit_row(l, u)).collect(),
        Some(9),
        UNIT_WIDTHS,
        UNIT_NUMERIC,
    ));
    let [_, accounts, issues] = super::tables::league_tables(d);
    out.push(accounts);
    out.push(issues);
    out
}

/// Problems per category, in the notice's order: (category, problems, units concerned).
fn category_counts(d: &ReportData) -> Vec<(&'static str, usize, usize)> {
    Category::ALL
        .iter()
        .map(|cat| {
            let items: Vec<_> = d.criticism.iter().filter(|c| c.category == cat.label()).collect();
            let units: BTreeSet<_> = items.iter().filter_map(|c| c.unit_name.as_deref()).collect();
            (cat.label(), items.len(), units.len())
        })
        .filter(|(_, n, _)| *n > 0)
        .collect()
}

fn account_who(l: &LevelData, a: &Account) -> String {
    let unit = match &a.unit_name {
        Some(u) => l.unit_named(u),
        None => "未纳入台账账号".into(),
    };
    format!("{unit}{}“{}”", platform_zh(&a.platform), a.account_name)
}

/// The notice of a city's or a province's office: the overview, the regions ranked, the worst
/// units and accounts named, the problems counted by category, and the attachment. Written once as
/// [`Part`]s and set both as Markdown and as the 公文 DOCX, so the two name the same units.
pub fn notice_parts(d: &ReportData, l: &LevelData, n: &Notice) -> Vec<Part> {
    let region_zh = l.level.region_zh();
    let t = |s: String| vec![Seg::Text(s)];
    let mut p = vec![Part::Head { number: n.number.clone(), title: n.title(), addressee: n.addressee_segs() }];
    p.push(Part::Para(t(super::notice::opening(d, n))));
    p.push(Part::Heading1("一、总体情况".into()));
    p.push(Part::Para(t(format!("{}参评单位分布在{}个{region_zh}。", super::notice::overview(d), l.regions.len()))));

    p.push(Part::Heading1(format!("二、各{region_zh}排名")));
    p.push(Part::Para(t(format!("各{region_zh}按所辖单位综合得分的平均值排名（并列者名次相同）。"))));
    let header = ["排名", region_zh, "参评单位", "检查账号", "不合格账号", "合格率", "单位平均得分", "等级"];
    let rows = l.regions.iter().map(|r| ranking_row(l, r, false)).collect();
    p.push(Part::Table { header: header.iter().map(|h| h.to_string()).collect(), widths: vec![7, 15, 10, 10, 11, 15, 14, 9], rows });

    p.push(Part::Heading1("三、存在问题".into()));
    let counts = category_counts(d);
    if counts.is_empty() {
        p.push(Part::Para(t("本季度检查未发现需通报的问题。".into())));
    } else {
        let total: usize = counts.iter().map(|c| c.1).sum();
        let parts: Vec<String> = counts.iter().map(|(c, n, u)| format!("{c}{n}个（涉及{u}个单位）")).collect();
        let criticised = d.units.iter().filter(|u| u.criticized).count();
        p.push(Part::Para(t(format!("本季度共发现问题{total}个，其中{}。{criticised}个单位被通报批评。", parts.join("、")))));
    }
    let mut sub = 0;
    let worst = worst_units(d, l.named);
    if !worst.is_empty() {
        p.push(Part::Heading2(format!("（{}）综合得分最低的{}个单位", numeral(sub), worst.len())));
        sub += 1;
        for u in &worst {
            let problems = counts_for_unit(d, &u.unit_name);
            p.push(Part::Item {
                lead: format!("{}：", l.unit_named(&u.unit_name)),
                rest: format!(
                    "综合得分{}，{}，排名第{}位{}。",
                    f2(u.score),
                    u.grade,
                    u.rank,
                    if problems.is_empty() { String::new() } else { format!("；{}", problems.join("、")) }
                ),
            });
        }
        if let Some(last) = worst.last() {
            let tied = d.units.iter().filter(|u| rounded(u.score) == rounded(last.score)).count()
                - worst.iter().filter(|u| rounded(u.score) == rounded(last.score)).count();
            if tied > 0 {
                p.push(Part::Para(t(format!("另有{tied}个单位综合得分同为{}，见附件。", f2(last.score)))));
            }
        }
    }
    let accounts = worst_accounts(d, l.named);
    if !accounts.is_empty() {
        p.push(Part::Heading2(format!("（{}）得分最低的{}个账号", numeral(sub), accounts.len())));
        for a in &accounts {
            p.push(Part::Item {
                lead: format!("{}：", account_who(l, a)),
                rest: format!(
                    "得分{}{}。",
                    a.score.map(f2).unwrap_or_default(),
                    a.veto_reasons.as_deref().map(|v| format!("，单项否决：{v}")).unwrap_or_default()
                ),
            });
        }
        if let Some(score) = accounts.last().and_then(|a| a.score) {
            let same = |x: Option<f64>| x.is_some_and(|x| rounded(x) == rounded(score));
            let tied = d.accounts.iter().filter(|a| same(a.score)).count() - accounts.iter().filter(|a| same(a.score)).count();
            if tied > 0 {
                p.push(Part::Para(t(format!("另有{tied}个账号得分同为{}，见附件。", f2(score)))));
            }
        }
    }
    p.push(Part::Para(t(format!(
        "全部{}个单位的排名、{}个账号的得分和{}个问题的清单见附件。",
        d.units.len(),
        d.accounts.len(),
        d.criticism.len()
    ))));

    p.push(Part::Heading1("四、工作要求".into()));
    p.extend(n.requirements_paragraphs().into_iter().map(Part::Para));
    let (units, last) = (rectified_units(d, l), last_regions(l));
    if !units.is_empty() || !last.is_empty() {
        let mut to = Vec::new();
        if !units.is_empty() {
            to.push(format!("以上点名的{}个单位", units.len()));
        }
        if !last.is_empty() {
            let names: Vec<String> = last.iter().map(|r| l.label(r)).collect();
            to.push(format!("排名末位的{}", names.join("、")));
        }
        p.push(Part::Para(t(format!("对{}，另发整改通知单。", to.join("和")))));
    }
    p.push(Part::Para(n.deadline_sentence()));
    p.push(Part::Annexes(vec![format!("各{region_zh}排名、单位排名、账号得分及通报问题清单（{}_排名.xlsx）", d.quarter)]));
    p.push(Part::Signature { office: n.office_segs(), date: n.date_zh() });
    p
}

/// The notice of a city's or a province's office, as Markdown.
pub fn markdown(d: &ReportData, l: &LevelData, n: &Notice) -> String {
    parts_markdown(&notice_parts(d, l, n))
}

/// Who gets a rectification notice from a city's or a province's office: the units its notice
/// names (the worst units and the units of the worst accounts) that have a problem to rectify.
/// Every criticised unit hears from its own district's office; the city or the province writes to
/// the few it names itself, in league-table order. (A named unit without a problem, say a low
/// score without a veto or a deduction, has nothing to list, so it gets none.)
pub fn rectified_units(d: &ReportData, l: &LevelData) -> Vec<String> {
    let (_, named) = named(d, l);
    let has_problem: BTreeSet<&str> = d.criticism.iter().filter_map(|c| c.unit_name.as_deref()).collect();
    d.units
        .iter()
        .filter(|u| named.contains(&u.unit_name) && has_problem.contains(u.unit_name.as_str()))
        .map(|u| u.unit_name.clone())
        .collect()
}

/// The regions ranked last among their siblings (all of them when tied), one rectification notice
/// each, addressed to that region's office: the office answers for its units' ranking. A region
/// alone under its parent is ranked by nobody and is not "last".
pub fn last_regions(l: &LevelData) -> Vec<&Region> {
    let mut out = Vec::new();
    let parents: BTreeSet<&Option<String>> = l.regions.iter().map(|r| &r.parent).collect();
    for parent in parents {
        let siblings: Vec<&Region> = l.regions.iter().filter(|r| &r.parent == parent).collect();
        let worst = siblings.iter().map(|r| r.rank).max().unwrap_or(0);
        if siblings.len() > 1 && siblings.iter().any(|r| r.rank < worst) {
            out.extend(siblings.into_iter().filter(|r| r.rank == worst));
        }
    }
    out
}

/// Whether a unit lies in a region.
fn in_region(l: &LevelData, unit: &str, r: &Region) -> bool {
    match l.unit_region.get(unit) {
        Some((city, district)) if r.level == "city" => *city == r.region,
        Some((city, Some(district))) => Some(city) == r.parent.as_ref() && *district == r.region,
        _ => false,
    }
}

/// The rectification notice of a region ranked last: its numbers, its worst criticised units (the
/// rest in the attachment), the deadline; addressed to the region's office.
fn region_parts(d: &ReportData, l: &LevelData, n: &Notice, r: &Region) -> Vec<Part> {
    let (region_zh, label) = (l.level.region_zh(), l.label(r));
    let t = |s: String| vec![Seg::Text(s)];
    let mut p = vec![Part::Title {
        title: t("政务新媒体检查排名末位整改通知单".into()),
        addressee: t(format!("{label}政务新媒体主管部门")),
    }];
    let siblings = l.regions.iter().filter(|s| s.parent == r.parent).count();
    p.push(Part::Para(t(format!(
        "经{}政务新媒体检查，你{}所属单位平均得分{}，在{siblings}个{region_zh}中排名第{}位（末位），等级为{}。\
         参评单位{}个，其中不合格{}个、被通报批评{}个；检查账号{}个，不合格{}个，合格率{}；发现问题{}个。\
         现予通知，请督促所属单位逐项整改。",
        n.quarter_zh,
        if r.level == "city" { "市" } else { "区（县）" },
        f2(r.unit_score_avg),
        r.rank,
        r.grade,
        r.units,
        r.units_failed,
        r.units_criticized,
        r.accounts_checked,
        r.accounts_failed,
        r.pass_rate.map(|p| format!("{p:.2}%")).unwrap_or_else(|| "—".into()),
        r.criticism_items
    ))));
    let mut units: Vec<&Unit> = d.units.iter().filter(|u| u.criticized && in_region(l, &u.unit_name, r)).collect();
    units.sort_by(|a, b| rounded(a.score).cmp(&rounded(b.score)).then_with(|| a.unit_name.cmp(&b.unit_name)));
    let total = units.len();
    units.truncate(l.named);
    if !units.is_empty() {
        p.push(Part::Heading1(format!("一、综合得分最低的{}个被通报单位", units.len())));
        let rows = units
            .iter()
            .map(|u| {
                vec![u.rank.to_string(), u.unit_name.clone(), f2(u.score), u.grade.clone(), counts_for_unit(d, &u.unit_name).join("、")]
            })
            .collect();
        let header = ["排名", "单位", "综合得分", "等级", "问题"].iter().map(|h| h.to_string()).collect();
        p.push(Part::Table { header, widths: vec![8, 30, 12, 10, 40], rows });
        let (you, column) = if r.level == "city" { ("你市", "所属市") } else { ("你区（县）", "所属区县") };
        p.push(Part::Para(t(format!("{you}被通报批评的全部{total}个单位及其问题见附件（单位排名表按{column}筛选）。"))));
    }
    p.push(Part::Para(vec![
        Seg::Text("请于".into()),
        n.deadline.map(|d| Seg::Text(super::notice::date_zh(d))).unwrap_or(Seg::Blank(super::notice::Blank::Deadline)),
        Seg::Text("前督促所属单位完成整改，并将整改情况报送".into()),
        n.office_segs().remove(0),
        Seg::Text("。".into()),
    ]));
    p.push(Part::Annexes(vec![format!("单位排名及通报问题清单（{}_排名.xlsx）", d.quarter)]));
    p.push(Part::Signature { office: n.office_segs(), date: n.date_zh() });
    p
}

/// The rectification notices of a city's or a province's office into `dir`: one per unit it names
/// (and the file of all of them), one per region ranked last. Returns the files written.
fn write_rectifications(d: &ReportData, l: &LevelData, n: &Notice, dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = super::docx::write_rectifications_for(d, n, dir, &rectified_units(d, l))?;
    for r in last_regions(l) {
        let path = dir.join(format!("{}_排名末位整改通知单.docx", super::docx::file_name(&l.label(r))));
        super::docx::write_parts(&region_parts(d, l, n, r), &path)?;
        files.push(path);
    }
    Ok(files)
}

/// A unit's problems counted by category: 逾期不更新2个.
fn counts_for_unit(d: &ReportData, unit: &str) -> Vec<String> {
    Category::ALL
        .iter()
        .filter_map(|cat| {
            let n = d.criticism.iter().filter(|c| c.category == cat.label() && c.unit_name.as_deref() == Some(unit)).count();
            (n > 0).then(|| format!("{}{n}个", cat.label()))
        })
        .collect()
}

/// The names a notice gives: the regions ranked, and the units it names (the worst units and the
/// units of the worst accounts).
pub fn named(d: &ReportData, l: &LevelData) -> (Vec<String>, BTreeSet<String>) {
    let regions = l.regions.iter().map(|r| l.label(r)).collect();
    let mut units: BTreeSet<String> = worst_units(d, l.named).iter().map(|u| u.unit_name.clone()).collect();
    units.extend(worst_accounts(d, l.named).iter().filter_map(|a| a.unit_name.clone()));
    (regions, units)
}

/// Writes a city's or a province's report into `out/QUARTER/`: summarising charts, the notice
/// (Markdown, HTML), the XLSX attachment with every list, and one `index.html`.
pub async fn report(
    ctx: &SessionContext,
    d: ReportData,
    out: &Path,
    opts: &ReportOptions,
    n: &Notice,
    font: &str,
    level: Level,
) -> Result<ReportOutput> {
    let named = opts.notice.named.unwrap_or(DEFAULT_NAMED);
    let l = load(ctx, &d.quarter, level, named).await?;
    let dir = out.join(&d.quarter);
    std::fs::create_dir_all(&dir).map_err(|source| ReportError::CreateDir { path: dir.clone(), source })?;

    let xlsx = dir.join(format!("{}_排名.xlsx", d.quarter));
    // The XLSX attachment (every unit, account and problem: 50,000 rows at a province's scale) is
    // the largest piece of the report's work, most of it deflating its sheets; it is written on a
    // thread of its own while the charts and the documents are drawn.
    let (written, documents) = std::thread::scope(|s| {
        let attachment = s.spawn(|| super::tables::write_xlsx(&xlsx, &attachment_tables(&d, &l)));
        let documents = charts_and_documents(&d, &l, n, &dir, font, level, named);
        (attachment.join(), documents)
    });
    let (mut files, docx, index) = documents?;
    match written {
        Ok(written) => written?,
        Err(panic) => std::panic::resume_unwind(panic),
    }
    files.push(xlsx.clone());

    let mut pdf_error = None;
    if opts.pdf {
        match super::docx::to_pdf(&docx) {
            Ok(pdfs) => files.extend(pdfs),
            Err(e) => pdf_error = Some(e),
        }
    }

    let (_, named_units) = self::named(&d, &l);
    let summary = super::LevelSummary {
        region_zh: level.region_zh(),
        regions: l.regions.len(),
        units: d.units.len(),
        named: d.units.iter().filter(|u| named_units.contains(&u.unit_name)).map(|u| u.unit_name.clone()).collect(),
        last_regions: last_regions(&l).iter().map(|r| l.label(r)).collect(),
        rectified: rectified_units(&d, &l).len(),
    };
    let all = d.platforms.iter().find(|p| p.platform == "all");
    Ok(ReportOutput {
        pdf_error,
        attachment: xlsx.clone(),
        level: Some(summary),
        dir,
        index,
        files,
        criticised: super::notice::criticised_units(&d),
        checked: all.map(|p| p.checked).unwrap_or(0),
        failed: all.map(|p| p.failed).unwrap_or(0),
        pass_rate: all.and_then(|p| p.pass_rate),
    })
}

/// The level report's charts, notice (Markdown, HTML, DOCX), rectification notices and
/// `index.html`: the files written, the DOCX among them, and the index.
fn charts_and_documents(
    d: &ReportData,
    l: &LevelData,
    n: &Notice,
    dir: &Path,
    font: &str,
    level: Level,
    named: usize,
) -> Result<(Vec<PathBuf>, Vec<PathBuf>, PathBuf)> {
    let mut files = Vec::new();
    let top = best_units(d, named);
    // The worst in league-table order, as the chart lists them below the best.
    let mut bottom = worst_units(d, named);
    bottom.sort_by(|a, b| a.rank.cmp(&b.rank).then_with(|| a.unit_name.cmp(&b.unit_name)));
    let label = |u: &Unit| format!("{}. {}", u.rank, u.unit_name);
    let mut by_rate: Vec<&Region> = l.regions.iter().collect();
    by_rate
        .sort_by(|a, b| b.pass_rate.unwrap_or(0.0).total_cmp(&a.pass_rate.unwrap_or(0.0)).then_with(|| a.region_path.cmp(&b.region_path)));
    let c = LevelCharts {
        d,
        region_zh: level.region_zh(),
        region_scores: l.regions.iter().map(|r| (format!("{}. {}", r.rank, l.label(r)), r.unit_score_avg, r.grade.clone())).collect(),
        region_pass_rates: by_rate.iter().map(|r| (l.label(r), r.pass_rate.unwrap_or(0.0))).collect(),
        top: top.iter().map(|u| (label(u), u.score, u.grade.clone())).collect(),
        bottom: bottom.iter().map(|u| (label(u), u.score, u.grade.clone())).collect(),
    };
    let drawn = draw_level(&c, &dir.join("charts"), font)?;
    files.extend(drawn.iter().flat_map(|(_, _, p)| p.clone()));

    let quarter = &d.quarter;
    let parts = notice_parts(d, l, n);
    let md = parts_markdown(&parts);
    let notice_md = dir.join(format!("{quarter}_通报.md"));
    write(&notice_md, md.as_bytes())?;
    let notice_html = dir.join(format!("{quarter}_通报.html"));
    let notice_page =
        page(&format!("{} 通报（草稿）", n.quarter_zh), &format!("<section class=\"notice\">{}</section>", super::notice::html(&md)));
    write(&notice_html, notice_page.as_bytes())?;
    files.extend([notice_md, notice_html]);
    // The same 公文 as the district's notice; the lists stay in the XLSX, so it keeps to a few pages.
    let notice_docx = dir.join(format!("{quarter}_通报.docx"));
    super::docx::write_parts(&parts, &notice_docx)?;
    let mut docx = vec![notice_docx];
    docx.extend(write_rectifications(d, l, n, &dir.join("整改通知"))?);
    files.extend(docx.iter().cloned());

    let index = dir.join("index.html");
    write(&index, index_html(d, l, &drawn, &md, &top, &worst_units(d, named))?.as_bytes())?;
    files.push(index.clone());
    Ok((files, docx, index))
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    std::fs::write(path, bytes).map_err(|source| ReportError::Write { path: path.to_path_buf(), source })
}

/// The regional `index.html`: cards, the charts embedded, the regions ranked, the best and worst
/// units, the worst accounts, the problems counted, the notice; the lists are in the attachment.
fn index_html(
    d: &ReportData,
    l: &LevelData,
    charts: &[(String, String, Vec<PathBuf>)],
    md: &str,
    top: &[&Unit],
    worst: &[&Unit],
) -> Result<String> {
    let region_zh = l.level.region_zh();
    let all = d.platforms.iter().find(|p| p.platform == "all");
    let title = format!("{} 政务新媒体检查报告（{}）", quarter_zh(&d.quarter), l.level.office_zh());
    let mut body = format!("<h1>{}</h1>\n", escape(&title));
    body.push_str(&format!(
        "<nav><a href=\"#overview\">总体情况</a><a href=\"#regions\">{region_zh}排名</a><a href=\"#charts\">图表</a><a href=\"#units\">单位</a><a href=\"#accounts\">账号</a><a href=\"#notice\">通报（草稿）</a></nav>\n"
    ));
    body.push_str("<section id=\"overview\"><div class=\"cards\">\n");
    let cards = [
        ("检查账号", all.map(|p| p.checked.to_string()).unwrap_or_default()),
        ("不合格账号", all.map(|p| p.failed.to_string()).unwrap_or_default()),
        ("合格率", all.and_then(|p| p.pass_rate).map(|r| format!("{r:.2}%")).unwrap_or_default()),
        ("参评单位", d.units.len().to_string()),
        (if l.level == Level::Province { "地市" } else { "区县" }, l.regions.len().to_string()),
        ("通报批评单位", d.units.iter().filter(|u| u.criticized).count().to_string()),
    ];
    for (label, v) in cards {
        body.push_str(&format!("<div class=\"card\"><div>{label}</div><div class=\"n\">{}</div></div>\n", escape(&v)));
    }
    body.push_str("</div>\n");
    body.push_str(&format!(
        "<p>完整的单位排名（{}个单位）、账号得分（{}个账号）和问题清单（{}个问题）见附件 <a href=\"{q}_排名.xlsx\">{q}_排名.xlsx</a>。</p>\n</section>\n",
        d.units.len(),
        d.accounts.len(),
        d.criticism.len(),
        q = escape(&d.quarter)
    ));
    body.push_str(&format!("<h2 id=\"regions\">各{region_zh}排名</h2>\n"));
    let rows: Vec<Vec<String>> = l.regions.iter().map(|r| ranking_row(l, r, true)).collect();
    body.push_str(&html_table(
        &["排名", region_zh, "参评单位", "被通报单位", "检查账号", "不合格账号", "合格率", "单位平均得分", "等级"],
        &rows,
        Some(8),
    ));
    body.push_str("<h2 id=\"charts\">图表</h2>\n");
    for (_, title, paths) in charts {
        if let Some(png) = paths.iter().find(|p| p.extension().is_some_and(|e| e == "png")) {
            let b64 = base64::engine::general_purpose::STANDARD
                .encode(std::fs::read(png).map_err(|source| ReportError::Read { path: png.clone(), source })?);
            body.push_str(&format!(
                "<figure><img alt=\"{t}\" src=\"data:image/png;base64,{b64}\"><figcaption>{t}</figcaption></figure>\n",
                t = escape(title)
            ));
        }
    }
    let unit_rows = |units: &[&Unit]| -> Vec<Vec<String>> {
        units
            .iter()
            .map(|u| vec![u.rank.to_string(), u.unit_name.clone(), l.unit_place_text(&u.unit_name), f2(u.score), u.grade.clone()])
            .collect()
    };
    let header = ["排名", "单位", "所属地区", "综合得分", "等级"];
    body.push_str(&format!("<h2 id=\"units\">综合得分前{}名单位</h2>\n", top.len()));
    body.push_str(&html_table(&header, &unit_rows(top), Some(4)));
    body.push_str(&format!("<h2>综合得分最低的{}个单位</h2>\n", worst.len()));
    body.push_str(&html_table(&header, &unit_rows(worst), Some(4)));
    let accounts = worst_accounts(d, l.named);
    body.push_str(&format!("<h2 id=\"accounts\">得分最低的{}个账号</h2>\n", accounts.len()));
    let rows: Vec<Vec<String>> = accounts
        .iter()
        .map(|a| {
            vec![
                a.unit_name.clone().unwrap_or_else(|| "（未纳入台账）".into()),
                a.unit_name.as_deref().map(|u| l.unit_place_text(u)).unwrap_or_default(),
                platform_zh(&a.platform).to_string(),
                a.account_name.clone(),
                a.score.map(f2).unwrap_or_default(),
                a.grade.clone().unwrap_or_default(),
                a.veto_reasons.clone().unwrap_or_default(),
            ]
        })
        .collect();
    body.push_str(&html_table(&["单位", "所属地区", "平台", "账号", "得分", "等级", "单项否决"], &rows, Some(5)));
    body.push_str("<h2>问题分类统计</h2>\n");
    let rows: Vec<Vec<String>> = category_counts(d).iter().map(|(c, n, u)| vec![c.to_string(), n.to_string(), u.to_string()]).collect();
    body.push_str(&html_table(&["问题类别", "问题数", "涉及单位"], &rows, None));
    body.push_str(&format!("<h2 id=\"notice\">通报（草稿）</h2>\n<section class=\"notice\">{}</section>\n", super::notice::html(md)));
    Ok(page(&title, &body))
}
