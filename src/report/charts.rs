//! The charts of SPEC §8, each drawn as PNG and SVG with plotters, Chinese text in a CJK font.

use super::data::{status_zh, ReportData};
use super::notice::quarter_zh;
use super::ReportError;
use crate::models::rubric::{round4, Grades};
use crate::platform::zh as platform_zh;
use crate::vocab::Grade;
use plotters::coord::ranged1d::SegmentedCoord;
use plotters::coord::types::{RangedCoordf64, RangedCoordusize};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::{Path, PathBuf};

/// Why plotters could not draw (its error, as text: its types are generic over the backend).
#[derive(Debug)]
pub struct DrawError(String);

impl std::fmt::Display for DrawError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

type DrawResult = Result<(), DrawError>;

/// A chart whose x axis is a row of named categories (one segment each).
type CategoryChart<'a, DB> = ChartContext<'a, DB, Cartesian2d<SegmentedCoord<RangedCoordusize>, RangedCoordf64>>;

fn err<E: std::fmt::Debug>(e: E) -> DrawError {
    DrawError(format!("{e:?}"))
}

const BLUE: RGBColor = RGBColor(45, 105, 170);
const RED: RGBColor = RGBColor(200, 60, 50);
const GREEN: RGBColor = RGBColor(60, 150, 90);
const ORANGE: RGBColor = RGBColor(230, 140, 40);
const GREY: RGBColor = RGBColor(150, 150, 150);

/// The CJK font family charts use: `GOVMEDIA_CJK_FONT`, else the first of the usual families that
/// fontconfig can find. With none, a clear error naming the package to install.
pub fn cjk_font() -> Result<String, ReportError> {
    let candidates: Vec<String> = match std::env::var("GOVMEDIA_CJK_FONT") {
        Ok(f) if !f.trim().is_empty() => vec![f],
        _ => [
            "Noto Sans CJK SC",
            "Noto Sans SC",
            "Source Han Sans SC",
            "WenQuanYi Zen Hei",
            "WenQuanYi Micro Hei",
            "Microsoft YaHei",
            "PingFang SC",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
    };
    for family in &candidates {
        if font_has_cjk(family) {
            return Ok(family.clone());
        }
    }
    Err(ReportError::NoCjkFont { tried: candidates.join(", ") })
}

/// Whether fontconfig resolves the family to a font that has glyphs for Chinese text (a family
/// that is not installed resolves to a default Latin font, which has none).
fn font_has_cjk(family: &str) -> bool {
    let Ok(out) = std::process::Command::new("fc-match").args(["-f", "%{family}|%{lang}", family]).output() else {
        return false;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let (families, langs) = text.split_once('|').unwrap_or((&text, ""));
    families.split(',').any(|f| f.trim().eq_ignore_ascii_case(family)) && langs.split('|').any(|l| l.starts_with("zh"))
}

/// Pixel scale: the PNG is drawn at twice the SVG's size (print resolution), everything in it
/// (text, margins, marks) scaled alike.
#[derive(Clone, Copy)]
struct Ink<'a> {
    font: &'a str,
    s: u32,
}

impl<'a> Ink<'a> {
    fn px(&self, n: u32) -> u32 {
        n * self.s
    }
    fn i(&self, n: i32) -> i32 {
        n * self.s as i32
    }
    fn text(&self, size: u32) -> TextStyle<'a> {
        (self.font, (size * self.s) as f64).into_font().color(&BLACK)
    }
    fn caption(&self) -> TextStyle<'a> {
        self.text(26)
    }
}

/// Draws one chart to `dir/name.png` (twice `size`) and `dir/name.svg`.
fn both(
    dir: &Path,
    name: &str,
    size: (u32, u32),
    draw_png: impl Fn(DrawingArea<BitMapBackend, Shift>, u32) -> DrawResult,
    draw_svg: impl Fn(DrawingArea<SVGBackend, Shift>, u32) -> DrawResult,
) -> Result<Vec<PathBuf>, ReportError> {
    let png = dir.join(format!("{name}.png"));
    let svg = dir.join(format!("{name}.svg"));
    let failed = |path: &Path| {
        let path = path.to_path_buf();
        move |e: DrawError| ReportError::Chart { chart: name.to_string(), path, reason: e.0 }
    };
    (|| {
        let (w, h) = (size.0 * 2, size.1 * 2);
        let mut rgb = vec![0u8; w as usize * h as usize * 3];
        {
            let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
            root.fill(&WHITE).map_err(err)?;
            draw_png(root.clone(), 2)?;
            root.present().map_err(err)?;
        }
        write_png(&png, (w, h), &rgb).map_err(err)
    })()
    .map_err(failed(&png))?;
    (|| {
        let root = SVGBackend::new(&svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        draw_svg(root.clone(), 1)?;
        root.present().map_err(err)
    })()
    .map_err(failed(&svg))?;
    Ok(vec![png, svg])
}

/// Writes an RGB image as PNG with each row's filter chosen for it (adaptive). plotters' own
/// writer filters no row: the weekly heat map of a district's 120 accounts (2400 × 4364 pixels,
/// its hatched cells and text) came to 1.43 MB, and to about 0.6 MB with adaptive filters, at the
/// same compression level.
fn write_png(path: &Path, (w, h): (u32, u32), rgb: &[u8]) -> Result<(), png::EncodingError> {
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut encoder = png::Encoder::new(file, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_adaptive_filter(png::AdaptiveFilterType::Adaptive);
    encoder.set_compression(png::Compression::Default);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()
}

macro_rules! chart {
    ($dir:expr, $name:expr, $size:expr, $font:expr, $f:expr) => {
        both($dir, $name, $size, |r, s| $f(r, Ink { font: $font, s }), |r, s| $f(r, Ink { font: $font, s }))
    };
}

// After the macro, which it uses (macros are in scope from their definition on).
pub mod level;

/// A drawn chart: its name, its Chinese title, and its PNG and SVG paths.
pub type Drawn = (String, String, Vec<PathBuf>);

/// The charts every level's report draws the same way, from the quarter's accounts.
#[derive(Debug, Clone, Copy)]
pub(super) enum Summary {
    ScoreDistribution,
    PassRateByPlatform,
    AccountsByStatus,
    ResponseTime,
    /// Drawn only with two quarters or more.
    PassRateTrend,
}

/// Draws one of the [`Summary`] charts into `dir` (`None`: the trend of a single quarter).
pub(super) fn draw_summary(d: &ReportData, dir: &Path, font: &str, chart: Summary) -> Result<Option<Drawn>, ReportError> {
    let q = quarter_zh(&d.quarter);
    let (name, title, paths) = match chart {
        Summary::ScoreDistribution => {
            let name = "score_distribution";
            (name, format!("{q} 账号得分分布"), chart!(dir, name, (1000, 600), font, |r, k| score_distribution(r, d, k))?)
        }
        Summary::PassRateByPlatform => {
            let name = "pass_rate_by_platform";
            (name, format!("{q} 各平台合格率"), chart!(dir, name, (1000, 600), font, |r, k| pass_rate_by_platform(r, d, k))?)
        }
        Summary::AccountsByStatus => {
            let name = "accounts_by_status";
            (name, format!("{q} 账号运行状态"), chart!(dir, name, (1000, 600), font, |r, k| accounts_by_status(r, d, k))?)
        }
        Summary::ResponseTime => {
            let name = "response_time";
            (name, format!("{q} 留言回复时长分布"), chart!(dir, name, (1000, 600), font, |r, k| response_time(r, d, k))?)
        }
        Summary::PassRateTrend if d.trend.len() >= 2 => {
            let name = "pass_rate_trend";
            (name, "合格率季度走势".to_string(), chart!(dir, name, (1000, 600), font, |r, k| pass_rate_trend(r, d, k))?)
        }
        Summary::PassRateTrend => return Ok(None),
    };
    Ok(Some((name.to_string(), title, paths)))
}

/// Draws every chart; returns (chart name, Chinese title, PNG and SVG paths).
pub fn draw_all(d: &ReportData, dir: &Path, font: &str) -> Result<Vec<Drawn>, ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::CreateDir { path: dir.to_path_buf(), source })?;
    let summary = |chart| draw_summary(d, dir, font, chart);
    let mut out = Vec::new();
    let q = quarter_zh(&d.quarter);
    let title = |t: &str| format!("{q} {t}");
    out.extend(summary(Summary::ScoreDistribution)?);
    let league_h = (140 + 24 * d.units.len() as u32).max(500);
    out.push((
        "league_table".into(),
        title("单位综合得分排名"),
        chart!(dir, "league_table", (1000, league_h), font, |r, k| league_table(r, d, k))?,
    ));
    out.extend(summary(Summary::PassRateByPlatform)?);
    out.extend(summary(Summary::AccountsByStatus)?);
    out.extend(summary(Summary::ResponseTime)?);
    let heat_h = heatmap_height(d).max(500);
    out.push((
        "weekly_heatmap".into(),
        title("每周发布热力图"),
        chart!(dir, "weekly_heatmap", (1200, heat_h), font, |r, k| weekly_heatmap(r, d, k))?,
    ));
    out.push((
        "directive_delays".into(),
        title("重要信息转载时长"),
        chart!(dir, "directive_delays", (1000, 600), font, |r, k| directive_delays(r, d, k))?,
    ));
    out.extend(summary(Summary::PassRateTrend)?);
    Ok(out)
}

/// A y-axis label: whole numbers as such ("20", not "20.0"); a tick between them unlabelled.
fn whole(v: &f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        String::new()
    }
}

/// A chart with `names` along x (captioned, its mesh and labels drawn) and 0..`y_max` along y.
fn category_chart<'a, DB: DrawingBackend>(
    root: &'a DrawingArea<DB, Shift>,
    k: Ink,
    title: &str,
    y_desc: &str,
    names: &[String],
    y_max: f64,
    label_size: u32,
) -> Result<CategoryChart<'a, DB>, DrawError> {
    let n = names.len().max(1);
    let mut chart = ChartBuilder::on(root)
        .caption(title, k.caption())
        .margin(k.px(20))
        .x_label_area_size(k.px(50))
        .y_label_area_size(k.px(70))
        .build_cartesian_2d((0..n.max(2) - 1).into_segmented(), 0f64..y_max)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(225, 225, 225).stroke_width(k.px(1)))
        .axis_style(BLACK.stroke_width(k.px(1)))
        .y_desc(y_desc)
        .axis_desc_style(k.text(17))
        .label_style(k.text(label_size))
        .x_labels(n)
        .y_labels(8)
        .y_label_formatter(&whole)
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => names.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .draw()
        .map_err(err)?;
    Ok(chart)
}

/// A legend of coloured squares, drawn in the top right corner of the plot.
fn legend<'a, DB: DrawingBackend + 'a, X: Ranged, Y: Ranged>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    k: Ink,
    entries: &[(&str, RGBColor)],
    at: SeriesLabelPosition,
) -> DrawResult {
    for (name, color) in entries {
        let c = *color;
        let size = k.i(7);
        chart
            .draw_series(std::iter::empty::<Circle<(X::ValueType, Y::ValueType), i32>>())
            .map_err(err)?
            .label(*name)
            .legend(move |(x, y)| Rectangle::new([(x, y - size), (x + 2 * size, y + size)], c.filled()));
    }
    chart
        .configure_series_labels()
        .position(at)
        .margin(k.px(10))
        .legend_area_size(k.px(26))
        .label_font(k.text(15))
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(200, 200, 200))
        .draw()
        .map_err(err)
}

/// Bars over named categories, each with its value above it.
fn category_bars<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    k: Ink,
    (title, y_desc): (&str, &str),
    bars: &[(String, f64, RGBColor)],
    y_max: f64,
    unit: &str,
    key: &[(&str, RGBColor)],
) -> DrawResult {
    let names: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
    let mut chart = category_chart(&root, k, title, y_desc, &names, y_max, 15)?;
    for (i, (_, v, color)) in bars.iter().enumerate() {
        let mut bar = Rectangle::new([(SegmentValue::Exact(i), 0.0), (SegmentValue::Exact(i + 1), *v)], color.filled());
        bar.set_margin(0, 0, k.px(14), k.px(14));
        chart.draw_series(std::iter::once(bar)).map_err(err)?;
        let text = if unit == "%" { format!("{v:.2}%") } else { format!("{}{unit}", (v * 100.0).round() / 100.0) };
        let style = k.text(15).pos(Pos::new(HPos::Center, VPos::Bottom));
        chart.draw_series(std::iter::once(Text::new(text, (SegmentValue::CenterOf(i), *v), style))).map_err(err)?;
    }
    if !key.is_empty() {
        // The key sits in the top quarter, above the bars (see `headroom`).
        legend(&mut chart, k, key, SeriesLabelPosition::UpperRight)?;
    }
    Ok(())
}

/// Room above the tallest bar for its label, and for a key (the top quarter) if it has one:
/// whole-number steps.
fn headroom(max: f64, key: bool) -> f64 {
    (max * if key { 1.45 } else { 1.15 }).max(max + 1.0).ceil().max(1.0)
}

fn rgb(hex: u32) -> RGBColor {
    RGBColor((hex >> 16) as u8, (hex >> 8) as u8, hex as u8)
}

/// The grades and their colours for a key: best first, or worst first.
fn grade_key(worst_first: bool) -> Vec<(&'static str, RGBColor)> {
    let mut key: Vec<_> = Grade::ALL.iter().map(|g| (g.label(), rgb(g.colour()))).collect();
    if worst_first {
        key.reverse();
    }
    key
}

fn grade_color(grade: &str) -> RGBColor {
    Grade::from_label(grade).map(|g| rgb(g.colour())).unwrap_or(GREY)
}

/// A bar of the score chart: scores from `lo` (inclusive) to `hi` (exclusive, inclusive for the
/// last band, which ends at 100), all of one grade.
#[derive(Debug, Clone, PartialEq)]
struct Band {
    lo: f64,
    hi: f64,
    grade: Grade,
}

impl Band {
    /// `60–69` for whole-number bounds (the scores a person reads as 60 to 69), else `62.5–70`.
    fn label(&self, last: bool) -> String {
        let whole = |v: f64| v.fract() == 0.0;
        match whole(self.lo) && whole(self.hi) && !last {
            true => format!("{}–{}", self.lo, self.hi - 1.0),
            false => format!("{}–{}", self.lo, self.hi),
        }
    }
}

/// The score chart's bands: one per grade from the rubric's thresholds, the passing grades cut
/// into bands of 10 points from their threshold, so the default rubric gives 0–59, 60–69, 70–79,
/// 80–89, 90–100 and another rubric's grades are never split across a bar.
fn score_bands(g: &Grades) -> Vec<Band> {
    // Worst first: each grade's floor (0 for the failing grade) up to the next grade's floor.
    let worst_first: Vec<Grade> = Grade::ALL.iter().rev().copied().collect();
    let floor = |grade: Grade| g.threshold(grade).unwrap_or(0.0).clamp(0.0, 100.0);
    let mut bands = Vec::new();
    for (i, &grade) in worst_first.iter().enumerate() {
        let lo = floor(grade);
        let hi = worst_first.get(i + 1).map(|&next| floor(next)).unwrap_or(100.0);
        let top = i + 1 == worst_first.len();
        if lo >= hi && !(top && lo == hi) {
            continue; // a grade no score can have under this rubric (or the top one at exactly 100)
        }
        let step = if grade == Grade::Fail { hi - lo } else { 10.0 };
        let mut at = lo;
        loop {
            let end = (at + step).min(hi);
            bands.push(Band { lo: at, hi: end, grade });
            if end >= hi || step <= 0.0 {
                break;
            }
            at = end;
        }
    }
    bands
}

fn score_distribution<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, d: &ReportData, k: Ink) -> DrawResult {
    let bands = score_bands(&d.rubric.grades);
    let mut counts = vec![0f64; bands.len()];
    // Scores are binned as they are graded: rounded to 4 places.
    for s in d.accounts.iter().filter_map(|a| a.score).map(round4) {
        if let Some(i) = bands.iter().rposition(|b| s >= b.lo).or((!bands.is_empty()).then_some(0)) {
            counts[i] += 1.0;
        }
    }
    let last = bands.len().saturating_sub(1);
    let bars: Vec<_> =
        bands.iter().enumerate().zip(&counts).map(|((i, b), c)| (format!("{}分", b.label(i == last)), *c, rgb(b.grade.colour()))).collect();
    let max = counts.iter().cloned().fold(0.0, f64::max);
    let key = grade_key(true);
    let title = format!("{} 账号得分分布（{}个参评账号）", quarter_zh(&d.quarter), counts.iter().sum::<f64>());
    category_bars(root, k, (&title, "账号数"), &bars, headroom(max, true), "", &key)
}

fn league_table<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, d: &ReportData, k: Ink) -> DrawResult {
    let n = d.units.len().max(1);
    let names: Vec<String> = d.units.iter().map(|u| format!("{}. {}", u.rank, u.unit_name)).collect();
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("{} 单位综合得分排名", quarter_zh(&d.quarter)), k.caption())
        .margin(k.px(20))
        .x_label_area_size(k.px(40))
        .y_label_area_size(k.px(280))
        .build_cartesian_2d(0f64..110f64, (0..n.max(2) - 1).into_segmented())
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(225, 225, 225).stroke_width(k.px(1)))
        .x_desc("综合得分")
        .x_labels(12)
        .x_label_formatter(&|v| if *v <= 100.0 { whole(v) } else { String::new() })
        .axis_desc_style(k.text(17))
        .label_style(k.text(14))
        .y_labels(n)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => n.checked_sub(1 + *i).and_then(|j| names.get(j)).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .draw()
        .map_err(err)?;
    for (j, u) in d.units.iter().enumerate() {
        let i = n.saturating_sub(1 + j);
        let mut bar =
            Rectangle::new([(0.0, SegmentValue::Exact(i)), (u.score, SegmentValue::Exact(i + 1))], grade_color(&u.grade).filled());
        bar.set_margin(k.px(3), k.px(3), 0, 0);
        chart.draw_series(std::iter::once(bar)).map_err(err)?;
        let style = k.text(12).pos(Pos::new(HPos::Left, VPos::Center));
        chart
            .draw_series(std::iter::once(Text::new(format!(" {:.2}", u.score), (u.score, SegmentValue::CenterOf(i)), style)))
            .map_err(err)?;
    }
    let key: Vec<(&str, RGBColor)> = grade_key(false);
    // The lowest scores are at the bottom: the key sits beside their short bars.
    legend(&mut chart, k, &key, SeriesLabelPosition::LowerRight)
}

fn pass_rate_by_platform<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, d: &ReportData, k: Ink) -> DrawResult {
    let bars: Vec<_> = d
        .platforms
        .iter()
        .map(|p| {
            (
                format!("{}（{}个）", platform_zh(&p.platform), p.checked),
                p.pass_rate.unwrap_or(0.0),
                if p.platform == crate::platform::ALL_PLATFORMS { GREY } else { BLUE },
            )
        })
        .collect();
    category_bars(root, k, (&format!("{} 各平台合格率", quarter_zh(&d.quarter)), "合格率（%）"), &bars, 110.0, "%", &[])
}

/// The status colours, used wherever an account's status is shown.
const STATUSES: [(&str, RGBColor); 4] = [("zombie", RED), ("sleeping", ORANGE), ("active", GREEN), ("closed", GREY)];

fn status_color(status: &str) -> RGBColor {
    STATUSES.iter().find(|s| s.0 == status).map(|s| s.1).unwrap_or(GREY)
}

fn accounts_by_status<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, d: &ReportData, k: Ink) -> DrawResult {
    let order = ["active", "sleeping", "zombie", "closed"];
    let bars: Vec<_> = order
        .iter()
        .map(|s| (status_zh(s).to_string(), d.accounts.iter().filter(|a| a.status == *s).count() as f64, status_color(s)))
        .collect();
    let max = bars.iter().map(|b| b.1).fold(0.0, f64::max);
    category_bars(root, k, (&format!("{} 账号运行状态", quarter_zh(&d.quarter)), "账号数"), &bars, headroom(max, false), "", &[])
}

fn response_time<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, d: &ReportData, k: Ink) -> DrawResult {
    let edges =
        [(0.0, 6.0, "6小时内"), (6.0, 24.0, "6–24小时"), (24.0, 72.0, "1–3天"), (72.0, 168.0, "3–7天"), (168.0, f64::MAX, "7天以上")];
    let bars: Vec<_> = edges
        .iter()
        .enumerate()
        .map(|(i, (lo, hi, name))| {
            let n = d.accounts.iter().filter_map(|a| a.median_response_hours).filter(|h| h >= lo && h < hi).count() as f64;
            (
                name.to_string(),
                n,
                if i < 2 {
                    GREEN
                } else if i < 3 {
                    ORANGE
                } else {
                    RED
                },
            )
        })
        .collect();
    let max = bars.iter().map(|b| b.1).fold(0.0, f64::max);
    let key = [("24小时内", GREEN), ("1–3天", ORANGE), ("3天以上", RED)];
    category_bars(
        root,
        k,
        (&format!("{} 留言回复时长分布（按账号中位数）", quarter_zh(&d.quarter)), "账号数"),
        &bars,
        headroom(max, true),
        "",
        &key,
    )
}

/// Posts-per-week classes of the heat map: (lowest count, label, colour). 0 is silence.
const HEAT: [(i64, &str, RGBColor); 6] = [
    (0, "无发布", RGBColor(246, 200, 180)),
    (1, "1条", RGBColor(222, 235, 247)),
    (2, "2条", RGBColor(170, 204, 232)),
    (3, "3–4条", RGBColor(107, 163, 214)),
    (5, "5–7条", RGBColor(45, 105, 170)),
    (8, "8条及以上", RGBColor(16, 60, 120)),
];
/// A partial week's cell with no posts: not silence, the week is cut short by the quarter.
const PARTIAL: RGBColor = RGBColor(236, 236, 236);

fn heat_color(posts: i64) -> RGBColor {
    HEAT.iter().rev().find(|h| posts >= h.0).map(|h| h.2).unwrap_or(HEAT[0].2)
}

/// The heat map's rows: accounts grouped by unit, units with a zombie or sleeping account first
/// (then in league-table order), accounts within a unit by status (僵尸, 睡眠, 正常更新, 已关停).
fn heat_rows(d: &ReportData) -> Vec<(Option<&str>, &super::data::WeeklyRow, &str)> {
    let status_of = |r: &super::data::WeeklyRow| {
        d.accounts.iter().find(|a| a.platform == r.platform && a.account_id == r.account_id).map(|a| a.status.as_str()).unwrap_or("active")
    };
    let severity = |s: &str| STATUSES.iter().position(|x| x.0 == s).unwrap_or(STATUSES.len());
    let rank = |u: Option<&str>| u.and_then(|u| d.units.iter().find(|x| x.unit_name == u)).map(|x| x.rank).unwrap_or(i64::MAX);
    let mut rows: Vec<(Option<&str>, &super::data::WeeklyRow, &str)> =
        d.weekly.iter().map(|r| (r.unit_name.as_deref(), r, status_of(r))).collect();
    let worst = |u: Option<&str>| rows.iter().filter(|r| r.0 == u).map(|r| severity(r.2)).min().unwrap_or(STATUSES.len());
    let keys: Vec<(bool, usize, i64)> = rows.iter().map(|r| (r.0.is_none(), worst(r.0), rank(r.0))).collect();
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by(|&a, &b| {
        (keys[a], rows[a].0, severity(rows[a].2), &rows[a].1.platform, &rows[a].1.account_id).cmp(&(
            keys[b],
            rows[b].0,
            severity(rows[b].2),
            &rows[b].1.platform,
            &rows[b].1.account_id,
        ))
    });
    let sorted = order.iter().map(|&i| rows[i]).collect();
    rows.clear();
    sorted
}

const HEAT_ROW: u32 = 16;
const HEAT_TOP: u32 = 112;
const HEAT_BOTTOM: u32 = 150;

fn heatmap_height(d: &ReportData) -> u32 {
    HEAT_TOP + HEAT_ROW * d.weekly.len() as u32 + HEAT_BOTTOM
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

/// The weekly heat map, drawn cell by cell: every row labelled with its unit (once per group),
/// platform and account, a status mark, the weeks' Mondays along the top, partial weeks hatched,
/// and a key of the colour classes and statuses.
fn weekly_heatmap<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, d: &ReportData, k: Ink) -> DrawResult {
    let (w, _) = root.dim_in_pixel();
    let rows = heat_rows(d);
    let weeks: Vec<(chrono::NaiveDate, u32)> = if d.weeks.is_empty() {
        let n = d.weekly.iter().map(|r| r.posts.len()).max().unwrap_or(0);
        (0..n).map(|_| (chrono::NaiveDate::MIN, 7)).collect()
    } else {
        d.weeks.clone()
    };
    let n_weeks = weeks.len().max(1) as i32;
    let (unit_w, acct_w, mark_w) = (k.i(190), k.i(210), k.i(18));
    let x0 = k.i(20) + unit_w + acct_w + mark_w;
    let x1 = w as i32 - k.i(30);
    let cell_w = (x1 - x0) / n_weeks;
    let (y0, row_h) = (k.i(HEAT_TOP as i32), k.i(HEAT_ROW as i32));
    let draw = |e: Result<(), DrawingAreaErrorKind<DB::ErrorType>>| e.map_err(err);

    let partial_weeks = weeks.iter().filter(|w| w.1 < 7).count();
    let title = format!("{} 每周发布热力图（{}个账号 × {}周）", quarter_zh(&d.quarter), rows.len(), weeks.len());
    draw(root.draw(&Text::new(title, ((w as i32) / 2, k.i(18)), k.caption().pos(Pos::new(HPos::Center, VPos::Top)))))?;
    // Week headers: number and Monday; a partial week says how many of its days are in the quarter.
    for (i, (monday, days)) in weeks.iter().enumerate() {
        let cx = x0 + cell_w * i as i32 + cell_w / 2;
        draw(root.draw(&Text::new(format!("{}", i + 1), (cx, y0 - k.i(40)), k.text(13).pos(Pos::new(HPos::Center, VPos::Top)))))?;
        let sub = if *days < 7 {
            format!("{days}天")
        } else if *monday != chrono::NaiveDate::MIN {
            monday.format("%-m/%-d").to_string()
        } else {
            String::new()
        };
        draw(root.draw(&Text::new(sub, (cx, y0 - k.i(22)), k.text(11).pos(Pos::new(HPos::Center, VPos::Top)))))?;
    }
    draw(root.draw(&Text::new("周次（周一）", (x0 - k.i(6), y0 - k.i(40)), k.text(13).pos(Pos::new(HPos::Right, VPos::Top)))))?;

    let mut last_unit: Option<Option<&str>> = None;
    for (j, (unit, row, status)) in rows.iter().enumerate() {
        let y = y0 + row_h * j as i32;
        if last_unit != Some(*unit) {
            if j > 0 {
                draw(root.draw(&PathElement::new(vec![(k.i(20), y), (x1, y)], RGBColor(120, 120, 120).stroke_width(k.px(1)))))?;
            }
            let name = unit.map(|u| clip(u, 14)).unwrap_or_else(|| "未纳入台账".into());
            draw(root.draw(&Text::new(name, (k.i(20), y + row_h / 2), k.text(12).pos(Pos::new(HPos::Left, VPos::Center)))))?;
            last_unit = Some(*unit);
        }
        let label = format!("{} {}", crate::platform::short_zh(&row.platform), clip(&row.account_name, 12));
        draw(root.draw(&Text::new(label, (k.i(20) + unit_w, y + row_h / 2), k.text(11).pos(Pos::new(HPos::Left, VPos::Center)))))?;
        let m = k.i(4);
        draw(root.draw(&Rectangle::new([(x0 - mark_w + m / 2, y + m), (x0 - m, y + row_h - m)], status_color(status).filled())))?;
        for (i, (_, days)) in weeks.iter().enumerate() {
            let posts = row.posts.get(i).copied().unwrap_or(0);
            let (cx0, cy0) = (x0 + cell_w * i as i32, y);
            let (cx1, cy1) = (cx0 + cell_w, y + row_h);
            let color = if *days < 7 && posts == 0 { PARTIAL } else { heat_color(posts) };
            draw(root.draw(&Rectangle::new([(cx0, cy0), (cx1, cy1)], color.filled())))?;
            draw(root.draw(&Rectangle::new([(cx0, cy0), (cx1, cy1)], WHITE.stroke_width(k.px(1)))))?;
            if *days < 7 {
                hatch(&root, k, (cx0, cy0), (cx1, cy1))?;
            }
        }
    }

    // The key: colour classes, the partial week, the statuses.
    let ky = y0 + row_h * rows.len() as i32 + k.i(24);
    let sw = k.i(22);
    let mut x = x0;
    draw(root.draw(&Text::new("每周发布条数：", (x - k.i(6), ky + sw / 2), k.text(13).pos(Pos::new(HPos::Right, VPos::Center)))))?;
    for (_, label, color) in HEAT {
        draw(root.draw(&Rectangle::new([(x, ky), (x + sw * 2, ky + sw)], color.filled())))?;
        draw(root.draw(&Text::new(label, (x + sw * 2 + k.i(4), ky + sw / 2), k.text(12).pos(Pos::new(HPos::Left, VPos::Center)))))?;
        x += sw * 2 + k.i(86);
    }
    if partial_weeks > 0 {
        let y = ky + sw + k.i(14);
        draw(root.draw(&Rectangle::new([(x0, y), (x0 + sw * 2, y + sw)], PARTIAL.filled())))?;
        hatch(&root, k, (x0, y), (x0 + sw * 2, y + sw))?;
        let note = "部分周：季度首尾不足7天的周（斜线），该周无发布不计为沉默";
        draw(root.draw(&Text::new(note, (x0 + sw * 2 + k.i(6), y + sw / 2), k.text(12).pos(Pos::new(HPos::Left, VPos::Center)))))?;
    }
    let y = ky + 2 * (sw + k.i(14));
    let mut x = x0;
    draw(root.draw(&Text::new("账号状态：", (x - k.i(6), y + sw / 2), k.text(13).pos(Pos::new(HPos::Right, VPos::Center)))))?;
    for (code, color) in STATUSES {
        draw(root.draw(&Rectangle::new([(x, y + k.i(4)), (x + k.i(12), y + sw - k.i(4))], color.filled())))?;
        draw(root.draw(&Text::new(
            status_zh(code).to_string(),
            (x + k.i(18), y + sw / 2),
            k.text(12).pos(Pos::new(HPos::Left, VPos::Center)),
        )))?;
        x += k.i(110);
    }
    Ok(())
}

/// Diagonal lines across a cell (the partial-week mark).
fn hatch<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, k: Ink, (x0, y0): (i32, i32), (x1, y1): (i32, i32)) -> DrawResult {
    let step = k.i(6);
    let mut c = x0 + y0 + step;
    while c < x1 + y1 {
        // Points of x + y = c inside the cell.
        let (ax, bx) = ((c - y1).max(x0), (c - y0).min(x1));
        if ax < bx {
            root.draw(&PathElement::new(vec![(ax, c - ax), (bx, c - bx)], RGBColor(130, 130, 130).stroke_width(k.px(1)))).map_err(err)?;
        }
        c += step;
    }
    Ok(())
}

fn directive_delays<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, d: &ReportData, k: Ink) -> DrawResult {
    let ids: Vec<String> = {
        let mut v: Vec<String> = d.reposts.iter().map(|r| r.directive_id.clone()).collect();
        v.dedup();
        v
    };
    let top = (d.reposts.iter().filter_map(|r| r.delay_hours).fold(24.0, f64::max).min(96.0) * 1.15).ceil();
    let deadline = d.reposts.first().map(|r| r.deadline_hours).unwrap_or(d.rubric.directive_deadline_hours() as f64);
    let title = format!("{} 重要信息转载时长（每点一个单位）", quarter_zh(&d.quarter));
    // The unreposted row at `top`, the key above it.
    let mut chart = category_chart(&root, k, &title, "发布后小时数", &ids, (top * 1.4).ceil(), 14)?;
    chart
        .draw_series(LineSeries::new(vec![(SegmentValue::Exact(0), deadline), (SegmentValue::Last, deadline)], RED.stroke_width(k.px(2))))
        .map_err(err)?;
    let style = k.text(13).pos(Pos::new(HPos::Left, VPos::Bottom));
    chart
        .draw_series(std::iter::once(Text::new(format!(" {deadline}小时时限"), (SegmentValue::Exact(0), deadline), style)))
        .map_err(err)?;
    let unreposted = k.text(13).pos(Pos::new(HPos::Left, VPos::Bottom));
    chart.draw_series(std::iter::once(Text::new(" 未转载", (SegmentValue::Exact(0), top), unreposted))).map_err(err)?;
    for (i, id) in ids.iter().enumerate() {
        chart
            .draw_series(d.reposts.iter().filter(|r| &r.directive_id == id).map(|r| {
                let (y, color) = match r.delay_hours {
                    Some(h) => (h.min(top), if r.verdict == "on_time" { GREEN } else { ORANGE }),
                    None => (top, RED),
                };
                Circle::new((SegmentValue::CenterOf(i), y), k.i(4), color.mix(0.75).filled())
            }))
            .map_err(err)?;
    }
    legend(&mut chart, k, &[("按时转载", GREEN), ("超时转载", ORANGE), ("未转载", RED)], SeriesLabelPosition::UpperRight)
}

fn pass_rate_trend<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, d: &ReportData, k: Ink) -> DrawResult {
    let names: Vec<String> = d.trend.iter().map(|t| quarter_zh(&t.0)).collect();
    // Quarters as categories: each point in the middle of its own segment, clear of the axes.
    let mut chart = category_chart(&root, k, "合格率季度走势", "合格率（%）", &names, 110.0, 15)?;
    let at = |i: usize, t: &(String, f64)| (SegmentValue::CenterOf(i), t.1);
    chart.draw_series(LineSeries::new(d.trend.iter().enumerate().map(|(i, t)| at(i, t)), BLUE.stroke_width(k.px(3)))).map_err(err)?;
    chart.draw_series(d.trend.iter().enumerate().map(|(i, t)| Circle::new(at(i, t), k.i(6), BLUE.filled()))).map_err(err)?;
    let style = k.text(15).pos(Pos::new(HPos::Center, VPos::Bottom));
    chart
        .draw_series(
            d.trend
                .iter()
                .enumerate()
                .map(|(i, t)| Text::new(format!("{:.2}%", t.1), (SegmentValue::CenterOf(i), t.1 + 3.0), style.clone())),
        )
        .map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::data::{Account, Unit, WeeklyRow};

    #[test]
    fn a_chart_png_reads_back_as_the_pixels_drawn() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.png");
        // 3 × 2 pixels: a gradient row and a row of primaries.
        let rgb: Vec<u8> = vec![0, 0, 0, 100, 100, 100, 255, 255, 255, 255, 0, 0, 0, 255, 0, 0, 0, 255];
        write_png(&path, (3, 2), &rgb).unwrap();
        let decoder = png::Decoder::new(std::fs::File::open(&path).unwrap());
        let mut reader = decoder.read_info().unwrap();
        let mut read = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut read).unwrap();
        assert_eq!((info.width, info.height, info.color_type), (3, 2, png::ColorType::Rgb));
        assert_eq!(&read[..info.buffer_size()], &rgb[..]);
        // A buffer that is not the image's size is an error, not a panic.
        assert!(write_png(&path, (3, 3), &rgb).is_err());
    }

    fn account(unit: Option<&str>, id: &str, status: &str) -> Account {
        Account {
            unit_name: unit.map(String::from),
            platform: "weibo".into(),
            account_id: id.into(),
            account_name: id.into(),
            registered: unit.is_some(),
            status: status.into(),
            posts: 0,
            silent_weeks: 0,
            days_since_last_post: None,
            messages: 0,
            overdue: 0,
            median_response_hours: None,
            reach_index: None,
            score: None,
            grade: None,
            veto_reasons: None,
        }
    }

    fn unit(name: &str, rank: i64) -> Unit {
        Unit {
            unit_name: name.into(),
            unit_type: "局".into(),
            accounts: 1,
            accounts_vetoed: 0,
            directives_missed: 0,
            directives_late: 0,
            self_inspections_missing: 0,
            unit_deductions: 0.0,
            score: 90.0,
            rank,
            grade: "优秀".into(),
            criticized: false,
            previous_rank: None,
        }
    }

    #[test]
    fn heat_map_rows_are_grouped_by_unit_with_the_worst_status_first() {
        let accounts = vec![
            account(Some("甲"), "a1", "active"),
            account(Some("乙"), "b1", "active"),
            account(Some("乙"), "b2", "zombie"),
            account(None, "x", "active"),
            account(Some("丙"), "c1", "sleeping"),
        ];
        let weekly = accounts
            .iter()
            .map(|a| WeeklyRow {
                unit_name: a.unit_name.clone(),
                platform: a.platform.clone(),
                account_id: a.account_id.clone(),
                account_name: a.account_name.clone(),
                posts: vec![1],
            })
            .collect();
        let d = ReportData {
            quarter: "2019Q3".into(),
            accounts,
            units: vec![unit("甲", 1), unit("乙", 2), unit("丙", 3)],
            platforms: vec![],
            criticism: vec![],
            reposts: vec![],
            weekly,
            weeks: vec![],
            trend: vec![],
            previous_quarter: None,
            rubric: crate::models::rubric::Rubric::builtin(),
        };
        let order: Vec<&str> = heat_rows(&d).iter().map(|r| r.1.account_id.as_str()).collect();
        assert_eq!(order, vec!["b2", "b1", "c1", "a1", "x"]);
    }

    #[test]
    fn score_bands_follow_the_rubric_grades() {
        let labels = |g: &Grades| {
            let bands = score_bands(g);
            let last = bands.len() - 1;
            bands.iter().enumerate().map(|(i, b)| format!("{} {}", b.label(i == last), b.grade.label())).collect::<Vec<_>>()
        };
        let builtin = crate::models::rubric::Rubric::builtin().grades;
        assert_eq!(labels(&builtin), ["0–59 不合格", "60–69 合格", "70–79 合格", "80–89 良好", "90–100 优秀"]);
        let strict = Grades { excellent: 95.0, good: 85.0, pass: 70.0 };
        assert_eq!(labels(&strict), ["0–69 不合格", "70–79 合格", "80–84 合格", "85–94 良好", "95–100 优秀"]);
        let halves = Grades { excellent: 92.5, good: 80.0, pass: 60.0 };
        assert_eq!(labels(&halves)[3..], ["80–89 良好", "90–92.5 良好", "92.5–100 优秀"]);
        let top = Grades { excellent: 100.0, good: 100.0, pass: 60.0 };
        assert_eq!(labels(&top)[4..], ["90–99 合格", "100–100 优秀"]);
    }

    #[test]
    fn axes_label_whole_numbers_only() {
        assert_eq!(whole(&20.0), "20");
        assert_eq!(whole(&0.0), "0");
        assert_eq!(whole(&2.5), "");
        assert_eq!(headroom(76.0, true), 111.0);
        assert_eq!(headroom(0.0, false), 1.0);
    }
}
