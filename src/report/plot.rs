//! The plots of the reports, as SVG strings for inline use, drawn with plotters: grouped bars,
//! lines, heat maps, histograms and greyscale images. Every plot has a title and labelled axes,
//! and a legend where it has several series. Colours: Okabe-Ito for series, viridis (monotone in
//! lightness, so it reads in greyscale) for heat maps.

use crate::error::{Error, Result};
use plotters::chart::MeshStyle;
use plotters::coord::Shift;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::prelude::*;

/// Series colours: the Okabe-Ito palette, told apart by colour-blind readers.
const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(0, 0, 0),
];

/// The colour of the `i`-th series.
pub fn series_colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

const FONT: &str = "sans-serif";

fn report_error(e: impl std::fmt::Display) -> Error {
    Error::Report(e.to_string())
}

/// Draws on a fresh `width x height` SVG and returns it.
fn svg(width: u32, height: u32, draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Result<()>) -> Result<String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(report_error)?;
        draw(&root)?;
        root.present().map_err(report_error)?;
    }
    Ok(out)
}

/// Axis titles and the plot's.
#[derive(Clone, Copy, Debug)]
pub struct Labels<'a> {
    pub title: &'a str,
    pub x: &'a str,
    pub y: &'a str,
}

/// The label of category axis value `v`: categories sit at the integers.
fn category(categories: &[String], v: f64) -> String {
    let i = v.round();
    if (v - i).abs() > 1e-6 || i < 0.0 { String::new() } else { categories.get(i as usize).cloned().unwrap_or_default() }
}

/// Width of the legend column beside a chart with several series.
const LEGEND_WIDTH: u32 = 104;

/// Splits off a legend column on the right when there are several series, and draws in it a
/// swatch and a name for each, so the legend never covers the data.
fn with_legend<'a>(root: &DrawingArea<SVGBackend<'a>, Shift>, names: &[&str]) -> Result<DrawingArea<SVGBackend<'a>, Shift>> {
    if names.len() < 2 {
        return Ok(root.clone());
    }
    legend_column(root, names, LEGEND_WIDTH)
}

/// [`with_legend`]'s column, `width` pixels wide, whatever the number of names.
fn legend_column<'a>(root: &DrawingArea<SVGBackend<'a>, Shift>, names: &[&str], width: u32) -> Result<DrawingArea<SVGBackend<'a>, Shift>> {
    let (plot, side) = root.split_horizontally(root.dim_in_pixel().0.saturating_sub(width));
    for (k, name) in names.iter().enumerate() {
        let y = 44 + 20 * k as i32;
        side.draw(&Rectangle::new([(6, y - 6), (20, y + 6)], series_colour(k).filled())).map_err(report_error)?;
        side.draw(&Text::new(name.to_string(), (26, y - 7), (FONT, 13))).map_err(report_error)?;
    }
    Ok(plot)
}

/// A plot with a legend column when `series` has several, drawn by `draw` on the rest.
fn svg_with_legend<T>(
    size: (u32, u32), series: &[(String, T)], draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Result<()>,
) -> Result<String> {
    let names: Vec<&str> = series.iter().map(|(n, _)| n.as_str()).collect();
    svg(size.0, size.1, |root| draw(&with_legend(root, &names)?))
}

/// The settings every chart shares: its title, a margin, room for the axis labels.
fn builder<'a, 'b>(area: &'a DrawingArea<SVGBackend<'b>, Shift>, title: &str) -> ChartBuilder<'a, 'b, SVGBackend<'b>> {
    let mut b = ChartBuilder::on(area);
    b.caption(title, (FONT, 16)).margin(8).x_label_area_size(36).y_label_area_size(56);
    b
}

/// The axes every chart shares: tick labels and both axis titles, styled alike.
fn axes<'a, 'b, X, Y>(
    chart: &'b mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>, labels: Labels,
) -> MeshStyle<'a, 'b, X, Y, SVGBackend<'a>>
where
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let mut mesh = chart.configure_mesh();
    mesh.label_style((FONT, 12)).axis_desc_style((FONT, 13)).x_desc(labels.x).y_desc(labels.y);
    mesh
}

/// Tick labels of a log axis: the round values only, so they do not crowd.
fn log_tick(v: f64) -> String {
    let decade = 10f64.powf(v.log10().floor());
    let m = v / decade;
    if [1.0, 2.0, 5.0].iter().any(|r| (m - r).abs() < 1e-6) { format!("{v}") } else { String::new() }
}

/// Bars of each series side by side over `categories`.
pub fn grouped_bars(labels: Labels, categories: &[String], series: &[(String, Vec<f64>)], size: (u32, u32)) -> Result<String> {
    let top = series.iter().flat_map(|(_, v)| v.iter().copied()).filter(|v| v.is_finite()).fold(0.0f64, f64::max);
    let n = categories.len() as f64;
    svg_with_legend(size, series, |area| {
        let mut chart = builder(area, labels.title).build_cartesian_2d(-0.5..n - 0.5, 0.0..(top * 1.12).max(1e-9)).map_err(report_error)?;
        axes(&mut chart, labels)
            .disable_x_mesh()
            .x_labels(categories.len())
            .x_label_formatter(&|v| category(categories, *v))
            .draw()
            .map_err(report_error)?;
        let width = 0.8 / series.len().max(1) as f64;
        for (k, (_, values)) in series.iter().enumerate() {
            let colour = series_colour(k);
            let bars = values.iter().enumerate().filter(|(_, v)| v.is_finite()).map(move |(i, &v)| {
                let left = i as f64 - 0.4 + k as f64 * width;
                Rectangle::new([(left, 0.0), (left + width, v)], colour.filled())
            });
            chart.draw_series(bars).map_err(report_error)?;
        }
        Ok(())
    })
}

/// One bar across for each of `names`, top to bottom, with its value at its end: for long
/// names, which a category axis below the bars would overlap. With `ratios`, the axis is
/// logarithmic and each bar runs from 1 (parity, drawn as a line) to its value, left of it where
/// the value is under 1.
pub fn bars_across(labels: Labels, names: &[String], values: &[f64], ratios: bool, size: (u32, u32)) -> Result<String> {
    let shown: Vec<f64> = values.iter().copied().filter(|v| v.is_finite() && (!ratios || *v > 0.0)).collect();
    let top = shown.iter().copied().fold(if ratios { 1.0 } else { 0.0 }, f64::max);
    let n = names.len() as f64;
    let widest = names.iter().map(|s| s.chars().count()).max().unwrap_or(0) as u32;
    svg(size.0, size.1, |area| {
        let mut builder = ChartBuilder::on(area);
        builder.caption(labels.title, (FONT, 16)).margin(8).x_label_area_size(36).y_label_area_size(24 + 7 * widest);
        let ys = -0.5..n - 0.5;
        if ratios {
            let low = shown.iter().copied().fold(1.0, f64::min);
            let mut chart = builder.build_cartesian_2d((low / 1.5..top * 1.5).log_scale(), ys).map_err(report_error)?;
            draw_bars_across(&mut chart, labels, names, values, 1.0, Some(&|v| log_tick(*v)))?;
            chart
                .draw_series(std::iter::once(PathElement::new([(1.0, -0.5), (1.0, n - 0.5)], BLACK.stroke_width(1))))
                .map_err(report_error)?;
        } else {
            let mut chart = builder.build_cartesian_2d(0.0..(top * 1.15).max(1e-9), ys).map_err(report_error)?;
            draw_bars_across(&mut chart, labels, names, values, 0.0, None)?;
        }
        Ok(())
    })
}

/// [`bars_across`]' axes (`x_tick` formats the values' axis, where given), its bars from `base`
/// to each value, and the values beside their ends.
fn draw_bars_across<'a, X>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, plotters::coord::types::RangedCoordf64>>, labels: Labels, names: &[String],
    values: &[f64], base: f64, x_tick: Option<&dyn Fn(&f64) -> String>,
) -> Result<()>
where
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let n = values.len() as f64;
    // Category i sits at y = n - 1 - i, so the first name is at the top.
    let name_at = |v: &f64| category(names, n - 1.0 - v);
    let mut mesh = axes(chart, labels);
    mesh.disable_y_mesh().light_line_style(WHITE).y_labels(names.len()).y_label_formatter(&name_at);
    if let Some(x_tick) = x_tick {
        mesh.x_label_formatter(x_tick);
    }
    mesh.draw().map_err(report_error)?;
    let shown = || {
        values.iter().enumerate().filter(|(_, v)| v.is_finite() && (base == 0.0 || **v > 0.0)).map(move |(i, &v)| (n - 1.0 - i as f64, v))
    };
    let colour = series_colour(0);
    chart.draw_series(shown().map(|(y, v)| Rectangle::new([(base, y - 0.35), (v, y + 0.35)], colour.filled()))).map_err(report_error)?;
    let text = |v: f64| if v.abs() < 10.0 { format!("{v:.1}") } else { format!("{v:.0}") };
    chart.draw_series(shown().map(|(y, v)| Text::new(text(v), (v, y + 0.2), (FONT, 11)))).map_err(report_error)?;
    Ok(())
}

/// Lines through each series' points (with markers), on a log x axis when `log_x`.
pub fn lines(labels: Labels, series: &[(String, Vec<(f64, f64)>)], log_x: bool, size: (u32, u32)) -> Result<String> {
    lines_with_error_bars(labels, series, &[], log_x, size)
}

/// [`lines`] with a bar of `errors[k][i]` either way at point `i` of series `k` (none where
/// `errors` has no entry or it is 0): means and their standard deviations.
pub fn lines_with_error_bars(
    labels: Labels, series: &[(String, Vec<(f64, f64)>)], errors: &[Vec<f64>], log_x: bool, size: (u32, u32),
) -> Result<String> {
    let error = |k: usize, i: usize| errors.get(k).and_then(|e| e.get(i)).copied().filter(|e| e.is_finite()).unwrap_or(0.0);
    let spans: Vec<(f64, f64, f64)> = series
        .iter()
        .enumerate()
        .flat_map(|(k, (_, p))| p.iter().enumerate().map(move |(i, &(x, y))| (x, y - error(k, i), y + error(k, i))))
        .filter(|(x, lo, hi)| x.is_finite() && lo.is_finite() && hi.is_finite())
        .collect();
    let (x0, x1) = spans.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &(x, _, _)| (a.min(x), b.max(x)));
    let (y0, y1) = spans.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &(_, lo, hi)| (a.min(lo), b.max(hi)));
    let (x0, x1) = if x0 < x1 { (x0, x1) } else { (x0 - 1.0, x0 + 1.0) };
    let pad = ((y1 - y0) * 0.08).max(1e-9);
    let (y0, y1) = (if y0 >= 0.0 { (y0 - pad).max(0.0) } else { y0 - pad }, y1 + pad);
    let bars = || {
        series.iter().enumerate().flat_map(move |(k, (_, p))| {
            let style = series_colour(k).stroke_width(2);
            p.iter()
                .enumerate()
                .filter(move |&(i, _)| error(k, i) > 0.0)
                .map(move |(i, &(x, y))| ErrorBar::new_vertical(x, y - error(k, i), y, y + error(k, i), style, 8))
        })
    };
    svg_with_legend(size, series, |area| {
        let mut builder = builder(area, labels.title);
        if log_x {
            let mut chart = builder.build_cartesian_2d((x0 * 0.9..x1 * 1.1).log_scale(), y0..y1).map_err(report_error)?;
            axes(&mut chart, labels).light_line_style(WHITE).x_label_formatter(&|v| log_tick(*v)).draw().map_err(report_error)?;
            chart.draw_series(bars()).map_err(report_error)?;
            draw_lines(&mut chart, series)?;
        } else {
            let mut chart = builder.build_cartesian_2d(x0..x1, y0..y1).map_err(report_error)?;
            axes(&mut chart, labels).draw().map_err(report_error)?;
            chart.draw_series(bars()).map_err(report_error)?;
            draw_lines(&mut chart, series)?;
        }
        Ok(())
    })
}

fn draw_lines<'a, X>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, plotters::coord::types::RangedCoordf64>>,
    series: &[(String, Vec<(f64, f64)>)],
) -> Result<()>
where
    X: Ranged<ValueType = f64>,
{
    for (k, (_, points)) in series.iter().enumerate() {
        let colour = series_colour(k);
        chart.draw_series(LineSeries::new(points.iter().copied(), colour.stroke_width(2))).map_err(report_error)?;
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, colour.filled()))).map_err(report_error)?;
    }
    Ok(())
}

/// A roof of a roofline plot: a rate no kernel can pass.
#[derive(Clone, Debug)]
pub enum Roof {
    /// An arithmetic peak, GFLOP/s, whatever the bytes.
    Compute { name: String, gflops: f64 },
    /// A memory bandwidth, GB/s: `gbps * intensity` GFLOP/s at each intensity.
    Memory { name: String, gbps: f64 },
}

impl Roof {
    fn name(&self) -> &str {
        match self {
            Roof::Compute { name, .. } | Roof::Memory { name, .. } => name,
        }
    }

    /// Its GFLOP/s or GB/s.
    fn rate(&self) -> f64 {
        match self {
            Roof::Compute { gflops, .. } => *gflops,
            Roof::Memory { gbps, .. } => *gbps,
        }
    }
}

/// A roofline plot, log-log: arithmetic intensity (FLOP per byte) across, GFLOP/s up; each roof
/// a dashed line with its name on it, each kernel a point named in the legend.
pub fn roofline(labels: Labels, roofs: &[Roof], points: &[(String, f64, f64)], size: (u32, u32)) -> Result<String> {
    let positive = |v: f64| v.is_finite() && v > 0.0;
    let points: Vec<&(String, f64, f64)> = points.iter().filter(|(_, x, y)| positive(*x) && positive(*y)).collect();
    let roofs: Vec<&Roof> = roofs.iter().filter(|r| positive(r.rate())).collect();
    let (lo, hi) = points.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| (a.min(p.1), b.max(p.1)));
    let (x0, x1) = if lo <= hi { (lo / 4.0, hi * 4.0) } else { (0.1, 1000.0) };
    // Up to the highest peak, which cuts the memory roof; with no peak (a GPU), up to the memory
    // roof at the right edge.
    let peak = roofs.iter().filter(|r| matches!(r, Roof::Compute { .. })).map(|r| r.rate()).reduce(f64::max);
    let memory = roofs.iter().filter(|r| matches!(r, Roof::Memory { .. })).map(|r| r.rate() * x1).reduce(f64::max);
    let top = points.iter().map(|p| p.2).chain(peak.or(memory)).fold(1e-6, f64::max);
    let lowest = points.iter().map(|p| p.2).fold(top, f64::min);
    let (y0, y1) = (lowest / 2.0, top * 1.6);
    let names: Vec<&str> = points.iter().map(|p| p.0.as_str()).collect();
    svg(size.0, size.1, |root| {
        let area = legend_column(root, &names, 150)?;
        let mut chart =
            builder(&area, labels.title).build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale()).map_err(report_error)?;
        axes(&mut chart, labels)
            .light_line_style(WHITE)
            .x_label_formatter(&|v| log_tick(*v))
            .y_label_formatter(&|v| log_tick(*v))
            .draw()
            .map_err(report_error)?;
        let style = RGBColor(90, 90, 90).stroke_width(2);
        for (r, roof) in roofs.iter().enumerate() {
            // Each name inside the plot: a peak's above its right end, stacked so that two
            // vector widths with one peak stay readable; a bandwidth's beside its line, half a
            // decade below the top.
            let (line, anchor, offset) = match roof {
                Roof::Compute { gflops, .. } => {
                    ([(x0, *gflops), (x1, *gflops)], (x1, *gflops), (-7 * roof.name().len() as i32 - 4, -16 - 14 * r as i32))
                }
                Roof::Memory { gbps, .. } => {
                    let (from, until) = (x0.max(y0 / gbps), x1.min(y1 / gbps));
                    let at = (y1 / 3.0 / gbps).clamp(from, until.max(from));
                    ([(from, gbps * from), (until, gbps * until)], (at, gbps * at), (8, 0))
                }
            };
            chart.draw_series(DashedLineSeries::new(line, 6, 4, style)).map_err(report_error)?;
            let (x, y) = chart.backend_coord(&anchor);
            area.draw(&Text::new(roof.name().to_string(), (x + offset.0, y + offset.1), (FONT, 12))).map_err(report_error)?;
        }
        for (k, (_, x, y)) in points.iter().enumerate() {
            chart.draw_series(std::iter::once(Circle::new((*x, *y), 5, series_colour(k).filled()))).map_err(report_error)?;
        }
        Ok(())
    })
}

/// A `rows x cols` matrix as coloured cells (row 0 at the top), NaN cells left white, each cell
/// with its value; a colour bar on the right gives the scale.
pub fn heat_map(labels: Labels, rows: &[String], cols: &[String], values: &[f64], digits: usize, size: (u32, u32)) -> Result<String> {
    let (r, c) = (rows.len(), cols.len());
    assert_eq!(values.len(), r * c, "heat_map: {} values for {r}x{c}", values.len());
    let finite = || values.iter().copied().filter(|v| v.is_finite());
    let (lo, hi) = (finite().fold(f64::INFINITY, f64::min), finite().fold(f64::NEG_INFINITY, f64::max));
    let (lo, hi) = if lo < hi { (lo, hi) } else { (lo.min(0.0), lo.max(0.0) + 1e-9) };
    let shade = move |v: f64| ViridisRGB.get_color(((v - lo) / (hi - lo)) as f32);
    svg(size.0, size.1, |root| {
        let (plot, bar) = root.split_horizontally(size.0 - 100);
        let mut chart = ChartBuilder::on(&plot)
            .caption(labels.title, (FONT, 16))
            .margin(8)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(-0.5..c as f64 - 0.5, -0.5..r as f64 - 0.5)
            .map_err(report_error)?;
        let flip = |v: f64| r as f64 - 1.0 - v;
        axes(&mut chart, labels)
            .disable_mesh()
            .x_labels(c)
            .y_labels(r)
            .x_label_formatter(&|v| category(cols, *v))
            .y_label_formatter(&|v| category(rows, flip(*v)))
            .draw()
            .map_err(report_error)?;
        let cells = (0..r * c).filter(|&e| values[e].is_finite()).map(|e| {
            let (i, j) = ((e / c) as f64, (e % c) as f64);
            Rectangle::new([(j - 0.5, flip(i) - 0.5), (j + 0.5, flip(i) + 0.5)], shade(values[e]).filled())
        });
        chart.draw_series(cells).map_err(report_error)?;
        if r * c <= 400 {
            let text = (0..r * c).filter(|&e| values[e].is_finite()).map(|e| {
                let (i, j) = ((e / c) as f64, (e % c) as f64);
                // Light text on the dark end of the map, dark on the light end.
                let ink = if (values[e] - lo) / (hi - lo) < 0.55 { WHITE } else { BLACK };
                Text::new(format!("{:.*}", digits, values[e]), (j - 0.3, flip(i) + 0.15), (FONT, 10).into_font().color(&ink))
            });
            chart.draw_series(text).map_err(report_error)?;
        }
        colour_bar(&bar, lo, hi, digits)
    })
}

/// The heat maps' scale: the colour map from `lo` (bottom) to `hi` (top), with both values.
fn colour_bar(area: &DrawingArea<SVGBackend, Shift>, lo: f64, hi: f64, digits: usize) -> Result<()> {
    let mut chart = ChartBuilder::on(area)
        .margin_top(40)
        .margin_bottom(48)
        .margin_left(4)
        .right_y_label_area_size(56)
        .build_cartesian_2d(0.0..1.0, lo..hi)
        .map_err(report_error)?;
    chart
        .configure_mesh()
        .label_style((FONT, 12))
        .axis_desc_style((FONT, 13))
        .disable_mesh()
        .disable_x_axis()
        .y_labels(5)
        .y_label_formatter(&|v| format!("{:.*}", digits, v))
        .draw()
        .map_err(report_error)?;
    let steps = 64;
    let band = (0..steps).map(|k| {
        let (a, b) = (lo + (hi - lo) * k as f64 / steps as f64, lo + (hi - lo) * (k + 1) as f64 / steps as f64);
        Rectangle::new([(0.0, a), (1.0, b)], ViridisRGB.get_color(k as f32 / (steps - 1) as f32).filled())
    });
    chart.draw_series(band).map_err(report_error)?;
    Ok(())
}

/// Histograms of each series over shared bins, as outlined steps so they can overlap.
pub fn histograms(labels: Labels, series: &[(String, Vec<f64>)], bins: usize, size: (u32, u32)) -> Result<String> {
    let finite = || series.iter().flat_map(|(_, v)| v.iter().copied()).filter(|v| v.is_finite());
    let (lo, hi) = (finite().fold(f64::INFINITY, f64::min), finite().fold(f64::NEG_INFINITY, f64::max));
    let (lo, hi) = if lo < hi { (lo, hi) } else { (lo - 0.5, lo + 0.5) };
    let width = (hi - lo) / bins as f64;
    let counts: Vec<Vec<usize>> = series
        .iter()
        .map(|(_, v)| {
            let mut c = vec![0; bins];
            for &x in v.iter().filter(|x| x.is_finite()) {
                c[(((x - lo) / width) as usize).min(bins - 1)] += 1;
            }
            c
        })
        .collect();
    let top = counts.iter().flatten().copied().max().unwrap_or(1).max(1) as f64;
    let steps: Vec<(String, Vec<(f64, f64)>)> = series
        .iter()
        .zip(&counts)
        .map(|((name, _), c)| {
            let mut pts = vec![(lo, 0.0)];
            for (b, &n) in c.iter().enumerate() {
                let (x0, x1) = (lo + b as f64 * width, lo + (b + 1) as f64 * width);
                pts.extend([(x0, n as f64), (x1, n as f64)]);
            }
            pts.push((hi, 0.0));
            (name.clone(), pts)
        })
        .collect();
    svg_with_legend(size, series, |area| {
        let mut chart = builder(area, labels.title).build_cartesian_2d(lo..hi, 0.0..top * 1.1).map_err(report_error)?;
        axes(&mut chart, labels).y_label_formatter(&|v| format!("{v:.0}")).draw().map_err(report_error)?;
        for (k, (_, pts)) in steps.iter().enumerate() {
            let colour = series_colour(k);
            chart.draw_series(std::iter::once(Polygon::new(pts.clone(), colour.mix(0.25).filled()))).map_err(report_error)?;
            chart.draw_series(LineSeries::new(pts.iter().copied(), colour.stroke_width(2))).map_err(report_error)?;
        }
        Ok(())
    })
}

/// A `height x width` image of values in [0, 1] (larger darker, as ink on paper), titled.
pub fn image(title: &str, pixels: &[f32], height: usize, width: usize, size: (u32, u32)) -> Result<String> {
    assert_eq!(pixels.len(), height * width, "image: {} pixels for {height}x{width}", pixels.len());
    svg(size.0, size.1, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 13))
            .margin(4)
            .build_cartesian_2d(0.0..width as f64, 0.0..height as f64)
            .map_err(report_error)?;
        let cells = pixels.iter().enumerate().filter(|(_, v)| **v > 0.0).map(|(e, &v)| {
            let (y, x) = ((height - 1 - e / width) as f64, (e % width) as f64);
            let grey = (255.0 * (1.0 - v.clamp(0.0, 1.0))) as u8;
            Rectangle::new([(x, y), (x + 1.0, y + 1.0)], RGBColor(grey, grey, grey).filled())
        });
        chart.draw_series(cells).map_err(report_error)?;
        Ok(())
    })
}
