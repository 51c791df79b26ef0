//! The charts of SPEC §8, each drawn as PNG and SVG with plotters, Chinese text in a CJK font.

use super::data::{platform_zh, status_zh, ReportData};
use plotters::coord::ranged1d::SegmentedCoord;
use plotters::coord::types::{RangedCoordf64, RangedCoordusize};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

type DrawResult = Result<(), String>;

/// A chart whose x axis is a row of named categories (one segment each).
type CategoryChart<'a, DB> = ChartContext<'a, DB, Cartesian2d<SegmentedCoord<RangedCoordusize>, RangedCoordf64>>;

fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}

const BLUE: RGBColor = RGBColor(45, 105, 170);
const RED: RGBColor = RGBColor(200, 60, 50);
const GREEN: RGBColor = RGBColor(60, 150, 90);
const ORANGE: RGBColor = RGBColor(230, 140, 40);
const GREY: RGBColor = RGBColor(150, 150, 150);

/// The CJK font family charts use: `GOVMEDIA_CJK_FONT`, else the first of the usual families that
/// fontconfig can find. With none, a clear error naming the package to install.
pub fn cjk_font() -> Result<String, String> {
    let candidates: Vec<String> = match std::env::var("GOVMEDIA_CJK_FONT") {
        Ok(f) if !f.trim().is_empty() => vec![f],
        _ => ["Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Microsoft YaHei", "PingFang SC"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
    };
    for family in &candidates {
        if font_has_cjk(family) {
            return Ok(family.clone());
        }
    }
    Err(format!(
        "no font with Chinese characters was found (tried {}): install one, e.g. `apt-get install fonts-noto-cjk` on Debian/Ubuntu, \
or set GOVMEDIA_CJK_FONT to an installed family",
        candidates.join(", ")
    ))
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

/// Draws one chart to `dir/name.png` and `dir/name.svg`.
fn both(
    dir: &Path,
    name: &str,
    size: (u32, u32),
    draw_png: impl Fn(DrawingArea<BitMapBackend, Shift>) -> DrawResult,
    draw_svg: impl Fn(DrawingArea<SVGBackend, Shift>) -> DrawResult,
) -> Result<Vec<PathBuf>, String> {
    let png = dir.join(format!("{name}.png"));
    let svg = dir.join(format!("{name}.svg"));
    {
        let root = BitMapBackend::new(&png, size).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        draw_png(root.clone())?;
        root.present().map_err(err)?;
    }
    {
        let root = SVGBackend::new(&svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        draw_svg(root.clone())?;
        root.present().map_err(err)?;
    }
    Ok(vec![png, svg])
}

macro_rules! chart {
    ($dir:expr, $name:expr, $size:expr, $f:expr) => {
        both($dir, $name, $size, |r| $f(r), |r| $f(r))
    };
}

/// Draws every chart; returns (chart name, Chinese title, PNG and SVG paths).
pub fn draw_all(d: &ReportData, dir: &Path, font: &str) -> Result<Vec<(String, String, Vec<PathBuf>)>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut out = Vec::new();
    let f = font;
    let q = &d.quarter;
    let title = |t: &str| format!("{q} {t}");
    out.push(("score_distribution".into(), title("账号得分分布"), chart!(dir, "score_distribution", (1000, 600), |r| score_distribution(r, d, f))?));
    let league_h = (120 + 26 * d.units.len() as u32).max(500);
    out.push(("league_table".into(), title("单位综合得分排名"), chart!(dir, "league_table", (1000, league_h), |r| league_table(r, d, f))?));
    out.push(("pass_rate_by_platform".into(), title("各平台合格率"), chart!(dir, "pass_rate_by_platform", (1000, 600), |r| pass_rate_by_platform(r, d, f))?));
    out.push(("accounts_by_status".into(), title("账号运行状态"), chart!(dir, "accounts_by_status", (1000, 600), |r| accounts_by_status(r, d, f))?));
    out.push(("response_time".into(), title("留言回复时长分布"), chart!(dir, "response_time", (1000, 600), |r| response_time(r, d, f))?));
    let heat_h = (140 + 14 * d.weekly.len() as u32).max(500);
    out.push(("weekly_heatmap".into(), title("每周发布热力图"), chart!(dir, "weekly_heatmap", (1200, heat_h), |r| weekly_heatmap(r, d, f))?));
    out.push(("directive_delays".into(), title("重要信息转载时长"), chart!(dir, "directive_delays", (1000, 600), |r| directive_delays(r, d, f))?));
    if d.trend.len() >= 2 {
        out.push(("pass_rate_trend".into(), "合格率季度走势".into(), chart!(dir, "pass_rate_trend", (1000, 600), |r| pass_rate_trend(r, d, f))?));
    }
    Ok(out)
}

fn caption<'a>(font: &'a str) -> TextStyle<'a> {
    (font, 28).into_font().color(&BLACK)
}

fn label<'a>(font: &'a str, size: u32) -> TextStyle<'a> {
    (font, size).into_font().color(&BLACK)
}

/// A chart with `names` along x (captioned, its mesh and labels drawn) and 0..`y_max` along y.
fn category_chart<'a, DB: DrawingBackend>(
    root: &'a DrawingArea<DB, Shift>,
    font: &str,
    title: &str,
    y_desc: &str,
    names: &[String],
    y_max: f64,
    label_size: u32,
) -> Result<CategoryChart<'a, DB>, String> {
    let n = names.len().max(1);
    let mut chart = ChartBuilder::on(root)
        .caption(title, caption(font))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d((0..n - 1).into_segmented(), 0f64..y_max)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .y_desc(y_desc)
        .axis_desc_style(label(font, 18))
        .label_style(label(font, label_size))
        .x_labels(n)
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => names.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .draw()
        .map_err(err)?;
    Ok(chart)
}

/// Bars over named categories.
fn category_bars<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    font: &str,
    title: &str,
    y_desc: &str,
    bars: &[(String, f64, RGBColor)],
    y_max: f64,
) -> DrawResult {
    let names: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
    let mut chart = category_chart(&root, font, title, y_desc, &names, y_max, 16)?;
    for (i, (_, v, color)) in bars.iter().enumerate() {
        let mut bar = Rectangle::new([(SegmentValue::Exact(i), 0.0), (SegmentValue::Exact(i + 1), *v)], color.mix(0.85).filled());
        bar.set_margin(0, 0, 14, 14);
        chart.draw_series(std::iter::once(bar)).map_err(err)?;
        chart
            .draw_series(std::iter::once(Text::new(
                format!("{}", (v * 100.0).round() / 100.0),
                (SegmentValue::CenterOf(i), *v + y_max * 0.02),
                label(font, 16),
            )))
            .map_err(err)?;
    }
    Ok(())
}

fn score_distribution<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, d: &ReportData, font: &str) -> DrawResult {
    let ranges = ["0–59", "60–69", "70–79", "80–89", "90–100"];
    let mut counts = [0f64; 5];
    for s in d.accounts.iter().filter_map(|a| a.score) {
        let i = if s < 60.0 { 0 } else if s < 70.0 { 1 } else if s < 80.0 { 2 } else if s < 90.0 { 3 } else { 4 };
        counts[i] += 1.0;
    }
    let colors = [RED, ORANGE, BLUE, BLUE, GREEN];
    let bars: Vec<_> = ranges.iter().zip(counts).zip(colors).map(|((r, c), col)| (r.to_string(), c, col)).collect();
    let max = counts.iter().cloned().fold(1.0, f64::max) * 1.2;
    category_bars(root, font, &format!("{} 账号得分分布（{}个参评账号）", d.quarter, counts.iter().sum::<f64>()), "账号数", &bars, max)
}

fn league_table<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, d: &ReportData, font: &str) -> DrawResult {
    let n = d.units.len().max(1);
    let names: Vec<String> = d.units.iter().map(|u| format!("{}. {}", u.rank, u.unit_name)).collect();
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("{} 单位综合得分排名", d.quarter), caption(font))
        .margin(20)
        .x_label_area_size(40)
        .y_label_area_size(300)
        .build_cartesian_2d(0f64..105f64, (0..n - 1).into_segmented())
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc("综合得分")
        .axis_desc_style(label(font, 18))
        .label_style(label(font, 15))
        .y_labels(n)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => n.checked_sub(1 + *i).and_then(|k| names.get(k)).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .draw()
        .map_err(err)?;
    for (k, u) in d.units.iter().enumerate() {
        let i = n.saturating_sub(1 + k);
        let color = match u.grade.as_str() {
            "优秀" => GREEN,
            "良好" => BLUE,
            "合格" => ORANGE,
            _ => RED,
        };
        let mut bar = Rectangle::new([(0.0, SegmentValue::Exact(i)), (u.score, SegmentValue::Exact(i + 1))], color.mix(0.85).filled());
        bar.set_margin(3, 3, 0, 0);
        chart.draw_series(std::iter::once(bar)).map_err(err)?;
    }
    Ok(())
}

fn pass_rate_by_platform<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, d: &ReportData, font: &str) -> DrawResult {
    let bars: Vec<_> = d
        .platforms
        .iter()
        .map(|p| (format!("{}（{}个）", platform_zh(&p.platform), p.checked), p.pass_rate.unwrap_or(0.0), if p.platform == "all" { GREY } else { BLUE }))
        .collect();
    category_bars(root, font, &format!("{} 各平台合格率", d.quarter), "合格率（%）", &bars, 115.0)
}

fn accounts_by_status<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, d: &ReportData, font: &str) -> DrawResult {
    let statuses = [("active", GREEN), ("sleeping", ORANGE), ("zombie", RED), ("closed", GREY)];
    let bars: Vec<_> = statuses
        .iter()
        .map(|(s, c)| (status_zh(s).to_string(), d.accounts.iter().filter(|a| a.status == *s).count() as f64, *c))
        .collect();
    let max = bars.iter().map(|b| b.1).fold(1.0, f64::max) * 1.2;
    category_bars(root, font, &format!("{} 账号运行状态", d.quarter), "账号数", &bars, max)
}

fn response_time<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, d: &ReportData, font: &str) -> DrawResult {
    let edges = [(0.0, 6.0, "6小时内"), (6.0, 24.0, "6–24小时"), (24.0, 72.0, "1–3天"), (72.0, 168.0, "3–7天"), (168.0, f64::MAX, "7天以上")];
    let bars: Vec<_> = edges
        .iter()
        .enumerate()
        .map(|(i, (lo, hi, name))| {
            let n = d.accounts.iter().filter_map(|a| a.median_response_hours).filter(|h| h >= lo && h < hi).count() as f64;
            (name.to_string(), n, if i < 2 { GREEN } else if i < 3 { BLUE } else { RED })
        })
        .collect();
    let max = bars.iter().map(|b| b.1).fold(1.0, f64::max) * 1.2;
    category_bars(root, font, &format!("{} 留言回复时长分布（按账号中位数）", d.quarter), "账号数", &bars, max)
}

fn weekly_heatmap<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, d: &ReportData, font: &str) -> DrawResult {
    let weeks = d.weekly.iter().map(|(_, v)| v.len()).max().unwrap_or(1).max(1);
    let rows = d.weekly.len().max(1);
    let max = d.weekly.iter().flat_map(|(_, v)| v.iter().copied()).max().unwrap_or(1).max(1) as f64;
    let names: Vec<String> = d.weekly.iter().map(|(n, _)| n.clone()).collect();
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("{} 每周发布热力图（空白为当周无发布）", d.quarter), caption(font))
        .margin(20)
        .x_label_area_size(40)
        .y_label_area_size(220)
        .build_cartesian_2d(0..weeks, 0..rows)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("周次")
        .axis_desc_style(label(font, 16))
        .label_style(label(font, 11))
        .x_labels(weeks)
        .x_label_formatter(&|w| format!("{}", w + 1))
        .y_labels(rows.min(60))
        .y_label_formatter(&|r| rows.checked_sub(1 + *r).and_then(|k| names.get(k)).cloned().unwrap_or_default())
        .draw()
        .map_err(err)?;
    for (k, (_, counts)) in d.weekly.iter().enumerate() {
        let row = rows.saturating_sub(1 + k);
        chart
            .draw_series(counts.iter().enumerate().map(|(w, &c)| {
                let color = if c == 0 {
                    RGBColor(250, 235, 230)
                } else {
                    let t = (c as f64 / max).sqrt();
                    RGBColor((200.0 - 160.0 * t) as u8, (225.0 - 120.0 * t) as u8, (245.0 - 75.0 * t) as u8)
                };
                Rectangle::new([(w, row), (w + 1, row + 1)], color.filled())
            }))
            .map_err(err)?;
    }
    Ok(())
}

fn directive_delays<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, d: &ReportData, font: &str) -> DrawResult {
    let ids: Vec<String> = {
        let mut v: Vec<String> = d.reposts.iter().map(|r| r.directive_id.clone()).collect();
        v.dedup();
        v
    };
    let top = d.reposts.iter().filter_map(|r| r.delay_hours).fold(24.0, f64::max).min(96.0) * 1.15;
    let title = format!("{} 重要信息转载时长（红线为12小时时限；顶部为未转载）", d.quarter);
    let mut chart = category_chart(&root, font, &title, "发布后小时数", &ids, top * 1.1, 15)?;
    let deadline = d.reposts.first().map(|r| r.deadline_hours).unwrap_or(12.0);
    chart
        .draw_series(LineSeries::new(vec![(SegmentValue::Exact(0), deadline), (SegmentValue::Last, deadline)], RED.stroke_width(2)))
        .map_err(err)?;
    for (i, id) in ids.iter().enumerate() {
        chart
            .draw_series(d.reposts.iter().filter(|r| &r.directive_id == id).map(|r| {
                let (y, color) = match r.delay_hours {
                    Some(h) => (h.min(top), if r.verdict == "on_time" { GREEN } else { ORANGE }),
                    None => (top, RED),
                };
                Circle::new((SegmentValue::CenterOf(i), y), 4, color.mix(0.7).filled())
            }))
            .map_err(err)?;
    }
    Ok(())
}

fn pass_rate_trend<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, d: &ReportData, font: &str) -> DrawResult {
    let n = d.trend.len();
    let names: Vec<String> = d.trend.iter().map(|t| t.0.clone()).collect();
    let mut chart = ChartBuilder::on(&root)
        .caption("合格率季度走势", caption(font))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(0..n.saturating_sub(1).max(1), 0f64..105f64)
        .map_err(err)?;
    chart
        .configure_mesh()
        .y_desc("合格率（%）")
        .axis_desc_style(label(font, 18))
        .label_style(label(font, 16))
        .x_labels(n)
        .x_label_formatter(&|i| names.get(*i).cloned().unwrap_or_default())
        .draw()
        .map_err(err)?;
    chart.draw_series(LineSeries::new(d.trend.iter().enumerate().map(|(i, t)| (i, t.1)), BLUE.stroke_width(3))).map_err(err)?;
    chart
        .draw_series(d.trend.iter().enumerate().map(|(i, t)| Circle::new((i, t.1), 6, BLUE.filled())))
        .map_err(err)?;
    chart
        .draw_series(d.trend.iter().enumerate().map(|(i, t)| Text::new(format!("{:.2}%", t.1), (i, t.1 + 3.0), label(font, 16))))
        .map_err(err)?;
    Ok(())
}
