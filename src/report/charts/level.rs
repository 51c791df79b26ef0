//! The charts of a city's or a province's report (issue #16): summaries that stay one page wide
//! whatever the number of units (a distribution, the regions ranked, the best and worst units, the
//! pass rates), never a bar per unit or a row per account. Drawn with the district report's
//! helpers (its fonts, colours, PNG and SVG pair), which is why this is a child of `charts`.

use super::*;

/// One horizontal bar: its label, value and colour.
pub type Bar = (String, f64, RGBColor);

/// What a regional report's charts show, in the order they are drawn.
pub struct LevelCharts<'a> {
    pub d: &'a ReportData,
    /// What the ranked regions are called: 区县 or 地市.
    pub region_zh: &'a str,
    /// The regions in rank order: (rank. name, average unit score, grade).
    pub region_scores: Vec<(String, f64, String)>,
    /// The regions by pass rate: (name, pass rate).
    pub region_pass_rates: Vec<(String, f64)>,
    /// The best and the worst units: (rank. name, score, grade), best first.
    pub top: Vec<(String, f64, String)>,
    pub bottom: Vec<(String, f64, String)>,
}

/// Height of a chart with `n` horizontal bars.
fn bars_height(n: usize) -> u32 {
    (150 + 26 * n as u32).max(420)
}

/// Draws the regional charts into `dir`; returns (chart name, Chinese title, PNG and SVG paths).
pub fn draw_level(c: &LevelCharts, dir: &Path, font: &str) -> Result<Vec<(String, String, Vec<PathBuf>)>, ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::CreateDir { path: dir.to_path_buf(), source })?;
    let d = c.d;
    let q = quarter_zh(&d.quarter);
    let mut out = Vec::new();
    let title = format!("{q} 各{}单位平均得分排名", c.region_zh);
    let bars: Vec<Bar> = c.region_scores.iter().map(|(n, v, g)| (n.clone(), *v, grade_color(g))).collect();
    let h = bars_height(bars.len());
    let key: Vec<(&str, RGBColor)> = grade_key(false);
    out.push((
        "region_scores".into(),
        title.clone(),
        chart!(dir, "region_scores", (1000, h), font, |r, k| hbars(r, k, (&title, "单位平均得分"), &bars, 100.0, &key))?,
    ));
    let title_rate = format!("{q} 各{}账号合格率", c.region_zh);
    let rates: Vec<Bar> = c.region_pass_rates.iter().map(|(n, v)| (n.clone(), *v, BLUE)).collect();
    out.push((
        "region_pass_rate".into(),
        title_rate.clone(),
        chart!(dir, "region_pass_rate", (1000, h), font, |r, k| hbars(r, k, (&title_rate, "合格率（%）"), &rates, 100.0, &[]))?,
    ));
    let title_units = format!("{q} 综合得分前{}名与后{}名单位", c.top.len(), c.bottom.len());
    // The best first, then the worst; a grey gap bar-less row between them marks the omitted middle.
    let mut units: Vec<Bar> = c.top.iter().map(|(n, v, g)| (n.clone(), *v, grade_color(g))).collect();
    units.push(("……".into(), f64::NAN, GREY));
    units.extend(c.bottom.iter().map(|(n, v, g)| (n.clone(), *v, grade_color(g))));
    let hu = bars_height(units.len());
    out.push((
        "units_top_bottom".into(),
        title_units.clone(),
        chart!(dir, "units_top_bottom", (1000, hu), font, |r, k| hbars(r, k, (&title_units, "综合得分"), &units, 100.0, &key))?,
    ));
    for chart in
        [Summary::ScoreDistribution, Summary::PassRateByPlatform, Summary::AccountsByStatus, Summary::ResponseTime, Summary::PassRateTrend]
    {
        out.extend(draw_summary(d, dir, font, chart)?);
    }
    Ok(out)
}

/// Horizontal bars, the first at the top, each labelled on the left and with its value at its
/// end; a bar whose value is NaN is a labelled gap.
fn hbars<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    k: Ink,
    (title, x_desc): (&str, &str),
    bars: &[Bar],
    x_max: f64,
    key: &[(&str, RGBColor)],
) -> DrawResult {
    let n = bars.len().max(1);
    // A single bar still gets a range of two segments: an empty range (0..0) would collapse the
    // chart to a line (one region in a city's or a province's report).
    let mut chart = ChartBuilder::on(&root)
        .caption(title, k.caption())
        .margin(k.px(20))
        .x_label_area_size(k.px(40))
        .y_label_area_size(k.px(260))
        .build_cartesian_2d(0f64..x_max * 1.1, (0..n.max(2) - 1).into_segmented())
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(225, 225, 225).stroke_width(k.px(1)))
        .x_desc(x_desc)
        .x_labels(12)
        .x_label_formatter(&|v| if *v <= x_max { whole(v) } else { String::new() })
        .axis_desc_style(k.text(17))
        .label_style(k.text(14))
        .y_labels(n)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => n.checked_sub(1 + *i).and_then(|j| bars.get(j)).map(|b| clip(&b.0, 18)).unwrap_or_default(),
            _ => String::new(),
        })
        .draw()
        .map_err(err)?;
    for (j, (_, v, color)) in bars.iter().enumerate() {
        if !v.is_finite() {
            continue;
        }
        let i = n.saturating_sub(1 + j);
        let mut bar = Rectangle::new([(0.0, SegmentValue::Exact(i)), (*v, SegmentValue::Exact(i + 1))], color.filled());
        bar.set_margin(k.px(3), k.px(3), 0, 0);
        chart.draw_series(std::iter::once(bar)).map_err(err)?;
        let style = k.text(12).pos(Pos::new(HPos::Left, VPos::Center));
        chart.draw_series(std::iter::once(Text::new(format!(" {v:.2}"), (*v, SegmentValue::CenterOf(i)), style))).map_err(err)?;
    }
    if key.is_empty() {
        return Ok(());
    }
    legend(&mut chart, k, key, SeriesLabelPosition::LowerRight)
}
