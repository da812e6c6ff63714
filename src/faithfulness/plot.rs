//! PNG charts (plotters is named only here): side-by-side panels of named curves, used for the
//! deletion and insertion curves of `pointlime faithfulness`, and the attention graph of a
//! structural explanation (`explain --method sag`).

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;

use super::curves::{mean_curve, Curves};
use super::object::ObjectResult;
use crate::error::{Error, Result};
use crate::explain::{Method, Structure};

/// One curve of a panel.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    /// `(x, y)` points, in order.
    pub points: Vec<(f64, f64)>,
    /// A reference curve (drawn dashed and grey), such as a random baseline.
    pub reference: bool,
}

/// One chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
}

/// Colour-blind-safe categorical colours (Okabe and Ito, 2008), in drawing order.
const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(240, 228, 66),
];

const FONT: &str = "sans-serif";

/// plotters draws text with ab_glyph from fonts registered by name; the DejaVu font is embedded
/// so that charts look the same on every machine, with no system font lookup.
fn register_font() -> Result<()> {
    static ONCE: Once = Once::new();
    let mut result = Ok(());
    ONCE.call_once(|| {
        if plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).is_err()
        {
            result = Err(Error::Config("the embedded chart font is invalid".into()));
        }
    });
    result
}

/// Draws `panels` side by side under `title` into a `width` × `height` PNG at `path`, written to
/// a temporary file beside it and renamed, so a failed run leaves no partial chart.
///
/// # Errors
/// [`Error::Io`] when the file cannot be written; [`Error::Config`] for no panels or a drawing
/// failure.
pub fn write_png(
    path: &Path,
    title: &str,
    panels: &[Panel],
    width: u32,
    height: u32,
) -> Result<()> {
    write_chart(path, panels.is_empty(), |tmp| {
        draw(tmp, title, panels, width, height)
    })
}

type Drawn = std::result::Result<(), Box<dyn std::error::Error>>;

/// Draws a chart of panels with `draw` into a temporary file beside `path`, renamed on success.
fn write_chart(path: &Path, no_panels: bool, draw: impl FnOnce(&Path) -> Drawn) -> Result<()> {
    if no_panels {
        return Err(Error::Config("a chart needs at least one panel".into()));
    }
    register_font()?;
    crate::io::write_atomic_at(path, ".png", |tmp| {
        draw(tmp)
            .map_err(|e| Error::Config(format!("{}: cannot draw the chart: {e}", path.display())))
    })
}

fn draw(path: &Path, title: &str, panels: &[Panel], width: u32, height: u32) -> Drawn {
    let root = BitMapBackend::new(path, (width, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, (FONT, 22))?;
    let areas = root.split_evenly((1, panels.len()));
    for (area, panel) in areas.iter().zip(panels) {
        let (lo, hi) = y_range(panel);
        let mut chart = ChartBuilder::on(area)
            .caption(&panel.title, (FONT, 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..1.0, lo..hi)?;
        chart
            .configure_mesh()
            .x_desc(&panel.x_label)
            .y_desc(&panel.y_label)
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 14))
            .max_light_lines(1)
            .light_line_style(RGBColor(240, 240, 240))
            .draw()?;
        let mut colour = PALETTE.iter().cycle();
        for s in &panel.series {
            let points = s.points.iter().copied();
            if s.reference {
                let style = RGBColor(110, 110, 110).stroke_width(2);
                chart
                    .draw_series(DashedLineSeries::new(points, 6, 4, style))?
                    .label(&s.name)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
            } else {
                let style = colour.next().copied().unwrap_or(BLACK).stroke_width(2);
                chart
                    .draw_series(LineSeries::new(points, style))?
                    .label(&s.name)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .label_font((FONT, 13))
            .draw()?;
    }
    root.present()?;
    Ok(())
}

/// One scatter chart: points in named groups, each group one colour.
#[derive(Debug, Clone, PartialEq)]
pub struct Scatter {
    pub title: String,
    pub groups: Vec<(String, Vec<(f64, f64)>)>,
}

/// Draws `charts` side by side under `title` into a `width` × `height` PNG at `path`, written
/// atomically as [`write_png`].
///
/// # Errors
/// As [`write_png`].
pub fn write_scatter_png(
    path: &Path,
    title: &str,
    charts: &[Scatter],
    width: u32,
    height: u32,
) -> Result<()> {
    write_chart(path, charts.is_empty(), |tmp| {
        draw_scatter(tmp, title, charts, width, height)
    })
}

fn draw_scatter(path: &Path, title: &str, charts: &[Scatter], width: u32, height: u32) -> Drawn {
    let root = BitMapBackend::new(path, (width, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, (FONT, 22))?;
    let areas = root.split_evenly((1, charts.len()));
    for (area, chart) in areas.iter().zip(charts) {
        let all = || chart.groups.iter().flat_map(|g| g.1.iter());
        let range = |f: fn(&(f64, f64)) -> f64| {
            let (lo, hi) = all()
                .map(f)
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
                    (l.min(v), h.max(v))
                });
            let pad = ((hi - lo) * 0.05).max(1e-3);
            if lo.is_finite() {
                (lo - pad)..(hi + pad)
            } else {
                0.0..1.0
            }
        };
        let mut c = ChartBuilder::on(area)
            .caption(&chart.title, (FONT, 18))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(40)
            .build_cartesian_2d(range(|p| p.0), range(|p| p.1))?;
        c.configure_mesh()
            .label_style((FONT, 12))
            .max_light_lines(1)
            .light_line_style(RGBColor(240, 240, 240))
            .draw()?;
        for ((name, points), colour) in chart.groups.iter().zip(PALETTE.iter().cycle()) {
            let style = colour.filled();
            c.draw_series(points.iter().map(|&p| Circle::new(p, 3, style)))?
                .label(name)
                .legend(move |(x, y)| Circle::new((x + 8, y), 4, style));
        }
        c.configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .label_font((FONT, 13))
            .draw()?;
    }
    root.present()?;
    Ok(())
}

/// The y range of a panel's finite values, padded by 5%, never empty.
fn y_range(panel: &Panel) -> (f64, f64) {
    let (lo, hi) = panel
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .filter(|y| y.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), y| {
            (l.min(y), h.max(y))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05).max(1e-3);
    (lo - pad, hi + pad)
}
/// Deletion and insertion panels: each method's mean curve over `objects`, and the random
/// orders' mean curve as the reference. `score` names the explained score for the y axis.
pub fn curve_panels(objects: &[ObjectResult], methods: &[Method], score: &str) -> Vec<Panel> {
    // Enough steps to pass through every segment fraction of the largest segmentation.
    let n = objects.iter().map(|o| o.segments).max().unwrap_or(1) * 4 + 1;
    let panel = |deletion: bool| {
        let pick = |c: &'_ Curves| -> Vec<f64> {
            if deletion {
                c.deletion.clone()
            } else {
                c.insertion.clone()
            }
        };
        let mut series: Vec<Series> = methods
            .iter()
            .map(|&m| {
                let curves: Vec<Vec<f64>> = objects
                    .iter()
                    .flat_map(|o| o.methods.iter().filter(|r| r.method == m))
                    .map(|r| pick(&r.curves))
                    .collect();
                Series {
                    name: m.name().to_string(),
                    points: mean_curve(curves.iter().map(Vec::as_slice), n),
                    reference: false,
                }
            })
            .collect();
        let random: Vec<Vec<f64>> = objects.iter().map(|o| pick(&o.random_curves)).collect();
        series.push(Series {
            name: "random order".into(),
            points: mean_curve(random.iter().map(Vec::as_slice), n),
            reference: true,
        });
        Panel {
            title: if deletion {
                "Deletion: most important supervoxels removed first (lower is better)".into()
            } else {
                "Insertion: most important supervoxels kept first (higher is better)".into()
            },
            x_label: if deletion {
                "fraction of supervoxels removed".into()
            } else {
                "fraction of supervoxels kept".into()
            },
            y_label: format!(
                "{score} of the explained class (mean over {} objects)",
                objects.len()
            ),
            series,
        }
    };
    vec![panel(true), panel(false)]
}

/// Draws the attention graph of `structure` (the explanation of `class`) into a PNG at `path`:
/// one row per sufficient set, the set on top and below it one node per member removed, each with
/// the explained class's probability; node colour goes from red (nothing left) to yellow (just
/// under the threshold), green for the sets themselves. Written atomically, as [`write_png`].
///
/// # Errors
/// As [`write_png`]; [`Error::Config`] for a structure with no sets.
pub fn write_graph_png(path: &Path, class: &str, structure: &Structure) -> Result<()> {
    crate::io::write_atomic_at(path, ".png", |tmp| {
        draw_graph_png(tmp, path, class, structure)
    })
}

/// [`write_graph_png`] into the file `at` as it is (a temporary file of
/// [`Outputs`](crate::io::Outputs)); `path`, the destination it stands for, names it in errors.
///
/// # Errors
/// As [`write_graph_png`].
pub fn draw_graph_png(at: &Path, path: &Path, class: &str, structure: &Structure) -> Result<()> {
    if structure.sets.is_empty() {
        return Err(Error::Config(format!(
            "{}: no sufficient set was found, so there is no graph to draw",
            path.display()
        )));
    }
    register_font()?;
    draw_graph(at, class, structure)
        .map_err(|e| Error::Config(format!("{}: cannot draw the graph: {e}", path.display())))
}

fn draw_graph(
    path: &Path,
    class: &str,
    structure: &Structure,
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    const WIDTH: i32 = 1400;
    const ROW: i32 = 210;
    const TOP: i32 = 70;
    // Rows beyond these would make an image tens of thousands of pixels high; the report has
    // every set.
    const MAX_ROWS: usize = 12;
    let shown = &structure.sets[..structure.sets.len().min(MAX_ROWS)];
    let rows = shown.len() as i32;
    let root =
        BitMapBackend::new(path, (WIDTH as u32, (TOP + rows * ROW) as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let threshold = structure.threshold * structure.original_probability;
    let mut title = format!(
        "Sufficient sets for {class}: each alone keeps p \u{2265} {:.0}% of {:.3} = {:.3}; \
         below, the set less one member",
        structure.threshold * 100.0,
        structure.original_probability,
        threshold
    );
    if shown.len() < structure.sets.len() {
        title.push_str(&format!(
            " (the first {} of {} sets)",
            shown.len(),
            structure.sets.len()
        ));
    }
    root.draw(&Text::new(title, (20, 20), (FONT, 20).into_font()))?;
    let warm = |p: f64| {
        // Red at 0, yellow at the threshold.
        let t = if threshold > 0.0 {
            (p / threshold).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * t).round() as u8;
        RGBColor(mix(215, 254), mix(48, 224), mix(39, 139))
    };
    let text = |s: &str, x: i32, y: i32, size: u32| {
        Text::new(
            s.to_string(),
            (x, y),
            (FONT, size)
                .into_font()
                .color(&BLACK)
                .pos(plotters::style::text_anchor::Pos::new(
                    plotters::style::text_anchor::HPos::Center,
                    plotters::style::text_anchor::VPos::Center,
                )),
        )
    };
    for (i, set) in shown.iter().enumerate() {
        let y0 = TOP + i as i32 * ROW;
        let ids: Vec<String> = set.segments.iter().map(|s| s.to_string()).collect();
        let label = format!(
            "set {}: {{{}}}  p = {:.3}",
            i + 1,
            if ids.is_empty() {
                "nothing".to_string()
            } else {
                ids.join(", ")
            },
            set.probability
        );
        let (rw, rh) = ((label.len() as i32 * 10 + 30).min(WIDTH - 40), 44);
        let rx = (WIDTH - rw) / 2;
        let n = set.children.len().max(1) as i32;
        let slot = (WIDTH - 40) / n;
        // Narrow boxes for large sets never overlap; below 40 pixels they carry colour only.
        let (cw, ch) = (((slot - 12).min(160)).max((slot - 2).min(40)), 64);
        let cy = y0 + 110;
        for (j, child) in set.children.iter().enumerate() {
            let cx = 20 + j as i32 * slot + (slot - cw) / 2;
            root.draw(&PathElement::new(
                vec![(WIDTH / 2, y0 + rh), (cx + cw / 2, cy)],
                RGBColor(150, 150, 150).stroke_width(1),
            ))?;
            root.draw(&Rectangle::new(
                [(cx, cy), (cx + cw, cy + ch)],
                warm(child.probability).filled(),
            ))?;
            root.draw(&Rectangle::new(
                [(cx, cy), (cx + cw, cy + ch)],
                RGBColor(90, 90, 90).stroke_width(1),
            ))?;
            if cw < 40 {
                continue;
            }
            let size = if cw < 90 { 11 } else { 14 };
            // What is left, when short enough to read: identical children of different sets
            // show which members are interchangeable.
            let left: Vec<String> = set
                .segments
                .iter()
                .filter(|&&s| s != child.removed)
                .map(|s| s.to_string())
                .collect();
            let left = format!("{{{}}}", left.join(","));
            let x = cx + cw / 2;
            root.draw(&text(
                &format!("\u{2212}{}", child.removed),
                x,
                cy + 13,
                size,
            ))?;
            if left.len() as i32 * (size as i32 * 6 / 10) < cw - 6 {
                root.draw(&text(&left, x, cy + 32, size))?;
            }
            root.draw(&text(
                &format!("p {:.3}", child.probability),
                x,
                cy + 51,
                size,
            ))?;
        }
        root.draw(&Rectangle::new(
            [(rx, y0), (rx + rw, y0 + rh)],
            RGBColor(120, 198, 121).filled(),
        ))?;
        root.draw(&Rectangle::new(
            [(rx, y0), (rx + rw, y0 + rh)],
            RGBColor(60, 60, 60).stroke_width(1),
        ))?;
        root.draw(&text(&label, WIDTH / 2, y0 + rh / 2, 17))?;
    }
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::explain::sag::{Child, SufficientSet};

    #[test]
    fn a_graph_of_many_large_sets_is_drawn_within_bounds() {
        let set = |first: usize, n: usize| SufficientSet {
            segments: (first..first + n).collect(),
            probability: 0.95,
            children: (first..first + n)
                .map(|removed| Child {
                    removed,
                    probability: 0.1,
                })
                .collect(),
        };
        let structure = Structure {
            threshold: 0.9,
            original_probability: 1.0,
            empty_probability: 0.0,
            sets: (0..30)
                .map(|i| set(i, if i == 0 { 60 } else { 2 }))
                .collect(),
            evaluations: 100,
            budget_exhausted: false,
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.png");
        write_graph_png(&path, "car", &structure).unwrap();
        let img = image::open(&path).unwrap().to_rgb8();
        // Twelve rows at most.
        assert_eq!(img.dimensions(), (1400, 70 + 12 * 210));
        let empty = Structure {
            sets: Vec::new(),
            ..structure
        };
        let err = write_graph_png(&path, "car", &empty)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no sufficient set"), "{err}");
    }
}
