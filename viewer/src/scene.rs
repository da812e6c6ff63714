//! What the viewer shows, as pure data and functions: colour modes, the colour of every point, the
//! legend, and the overlay's text. Nothing here draws; the render loop in `render.rs` only turns
//! these values into kiss3d calls. Reading the file is [`crate::load`], colour maps
//! [`crate::colour`], the camera [`crate::camera`].

use pointlime::pipeline::NO_SEGMENT;
use pointlime::stats::top_k;

use crate::colour::{categorical, classification_colour, diverging, sequential, Rgb, NO_VALUE};
use crate::load::ExplainedScan;

/// How points are coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Signed importance on the diverging map, symmetric around 0.
    Signed,
    /// |importance| on viridis.
    Absolute,
    /// Segment ids in distinct colours.
    Segments,
    /// The original colours.
    Rgb,
    /// The original intensity, grey.
    Intensity,
    /// The original classification codes.
    Classification,
    /// Signed importance of the k most important segments only (largest coefficients, the ones
    /// that speak most for the class); the rest grey.
    TopK,
    /// Signed importance where |importance| ≥ threshold × max |importance|; the rest grey.
    Threshold,
    /// The gradient methods' per-point values, signed, on the diverging map.
    PointValues,
}

impl Mode {
    pub const ALL: [Mode; 9] = [
        Mode::Signed,
        Mode::Absolute,
        Mode::Segments,
        Mode::Rgb,
        Mode::Intensity,
        Mode::Classification,
        Mode::TopK,
        Mode::Threshold,
        Mode::PointValues,
    ];

    /// The name used by `--mode` and shown on screen.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Signed => "signed",
            Mode::Absolute => "absolute",
            Mode::Segments => "segments",
            Mode::Rgb => "rgb",
            Mode::Intensity => "intensity",
            Mode::Classification => "classification",
            Mode::TopK => "top-k",
            Mode::Threshold => "threshold",
            Mode::PointValues => "point-values",
        }
    }

    /// Whether `data` has what this mode shows.
    pub fn available(self, data: &ExplainedScan, class: usize) -> bool {
        match self {
            Mode::Signed | Mode::Absolute | Mode::Threshold => true,
            Mode::Segments | Mode::TopK => data.segments.is_some(),
            Mode::Rgb => data.rgb.is_some(),
            Mode::Intensity => data.intensity.is_some(),
            Mode::Classification => data.classification.is_some(),
            Mode::PointValues => data.classes[class].point_importance.is_some(),
        }
    }

    /// The next available mode after this one (wrapping).
    pub fn next(self, data: &ExplainedScan, class: usize) -> Mode {
        let i = Mode::ALL.iter().position(|&m| m == self).unwrap_or(0);
        (1..=Mode::ALL.len())
            .map(|d| Mode::ALL[(i + d) % Mode::ALL.len()])
            .find(|m| m.available(data, class))
            .unwrap_or(Mode::Signed)
    }
}

impl std::str::FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Mode, String> {
        Mode::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Mode::ALL.iter().map(|m| m.name()).collect();
                format!("unknown mode {s:?}: one of {}", names.join(", "))
            })
    }
}

/// The settings colours depend on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Style {
    pub mode: Mode,
    /// Index into [`ExplainedScan::classes`].
    pub class: usize,
    /// Segments shown in [`Mode::TopK`].
    pub top_k: usize,
    /// Fraction of the largest |importance| shown in [`Mode::Threshold`].
    pub threshold: f32,
    /// A picked segment, drawn in full colour while the others are dimmed.
    pub selected: Option<u32>,
}

impl Default for Style {
    fn default() -> Self {
        Style {
            mode: Mode::Signed,
            class: 0,
            top_k: 5,
            threshold: 0.5,
            selected: None,
        }
    }
}

/// The largest finite |value| (1 when there is none), the half-range of the diverging map.
pub fn symmetric_range(values: &[f32]) -> f32 {
    let m = values
        .iter()
        .filter(|v| v.is_finite())
        .fold(0.0f32, |m, v| m.max(v.abs()));
    if m > 0.0 {
        m
    } else {
        1.0
    }
}

/// The segments with the `k` largest coefficients (ties by lower id), as the library ranks them.
pub fn top_segments(coefficients: &[f64], k: usize) -> Vec<u32> {
    top_k(coefficients, k)
        .into_iter()
        .map(|i| i as u32)
        .collect()
}

/// Per-segment values of a class: the report's coefficients, or else read back from the points.
pub fn segment_values(data: &ExplainedScan, class: usize) -> Vec<f64> {
    let c = &data.classes[class];
    if let Some(coefficients) = &c.coefficients {
        return coefficients.clone();
    }
    let Some(segments) = &data.segments else {
        return Vec::new();
    };
    // Points the scene steps removed have no segment.
    let explained = || segments.iter().filter(|&&s| s != NO_SEGMENT);
    let n = explained().max().map_or(0, |&m| m as usize + 1);
    let mut values = vec![f64::NAN; n];
    for (&s, &v) in segments.iter().zip(&c.importance) {
        if s != NO_SEGMENT {
            values[s as usize] = v as f64;
        }
    }
    values
}

/// The colour of every point.
pub fn colours(data: &ExplainedScan, style: &Style) -> Vec<Rgb> {
    let class = &data.classes[style.class.min(data.classes.len() - 1)];
    let values = &class.importance;
    let range = symmetric_range(values);
    let signed = |v: f32| {
        if v.is_finite() {
            diverging(v / range)
        } else {
            NO_VALUE
        }
    };
    let mut out: Vec<Rgb> = match style.mode {
        Mode::Signed => values.iter().map(|&v| signed(v)).collect(),
        Mode::Absolute => values
            .iter()
            .map(|&v| {
                if v.is_finite() {
                    sequential(v.abs() / range)
                } else {
                    NO_VALUE
                }
            })
            .collect(),
        Mode::Segments => match &data.segments {
            Some(s) => s
                .iter()
                .map(|&id| {
                    if id == NO_SEGMENT {
                        NO_VALUE
                    } else {
                        categorical(id)
                    }
                })
                .collect(),
            None => vec![NO_VALUE; values.len()],
        },
        Mode::Rgb => data
            .rgb
            .clone()
            .unwrap_or_else(|| vec![NO_VALUE; values.len()]),
        Mode::Intensity => match &data.intensity {
            Some(i) => i.iter().map(|&v| [v; 3]).collect(),
            None => vec![NO_VALUE; values.len()],
        },
        Mode::Classification => match &data.classification {
            Some(c) => c.iter().map(|&code| classification_colour(code)).collect(),
            None => vec![NO_VALUE; values.len()],
        },
        Mode::TopK => {
            let top = top_segments(&segment_values(data, style.class), style.top_k);
            match &data.segments {
                Some(s) => s
                    .iter()
                    .zip(values)
                    .map(|(id, &v)| {
                        if top.contains(id) {
                            signed(v)
                        } else {
                            NO_VALUE
                        }
                    })
                    .collect(),
                None => vec![NO_VALUE; values.len()],
            }
        }
        Mode::Threshold => values
            .iter()
            .map(|&v| {
                if v.abs() >= style.threshold * range {
                    signed(v)
                } else {
                    NO_VALUE
                }
            })
            .collect(),
        Mode::PointValues => match &class.point_importance {
            Some(p) => {
                let r = symmetric_range(p);
                p.iter()
                    .map(|&v| {
                        if v.is_finite() {
                            diverging(v / r)
                        } else {
                            NO_VALUE
                        }
                    })
                    .collect()
            }
            None => vec![NO_VALUE; values.len()],
        },
    };
    if let (Some(sel), Some(segments)) = (style.selected, &data.segments) {
        for (c, &s) in out.iter_mut().zip(segments) {
            if s != sel {
                *c = c.map(|v| 0.3 * v + 0.7 * 0.25);
            }
        }
    }
    out
}

/// The colour scale shown beside the cloud: colour stops from bottom to top and labelled ticks.
#[derive(Debug, Clone, PartialEq)]
pub struct Legend {
    pub title: String,
    /// `(position in [0, 1] from the bottom, colour)`, evenly spaced.
    pub stops: Vec<(f32, Rgb)>,
    /// `(position in [0, 1] from the bottom, label)`.
    pub ticks: Vec<(f32, String)>,
}

/// A number with three significant digits, in plain or scientific notation as fits.
pub fn format_value(v: f32) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if (1e-3..1e4).contains(&a) {
        let decimals = (2 - a.log10().floor() as i32).max(0) as usize;
        format!("{v:.decimals$}")
    } else {
        format!("{v:.2e}")
    }
}

/// The legend of the current style, or `None` for modes without a numeric scale.
pub fn legend(data: &ExplainedScan, style: &Style) -> Option<Legend> {
    let class = &data.classes[style.class.min(data.classes.len() - 1)];
    const STOPS: usize = 64;
    let diverging_legend = |title: String, range: f32| Legend {
        title,
        stops: (0..STOPS)
            .map(|i| {
                let p = i as f32 / (STOPS - 1) as f32;
                (p, diverging(2.0 * p - 1.0))
            })
            .collect(),
        ticks: [-1.0f32, -0.5, 0.0, 0.5, 1.0]
            .iter()
            .map(|&t| ((t + 1.0) / 2.0, format_value(t * range)))
            .collect(),
    };
    let range = symmetric_range(&class.importance);
    match style.mode {
        Mode::Signed | Mode::TopK | Mode::Threshold => Some(diverging_legend(
            format!("importance for {}", class.name),
            range,
        )),
        Mode::PointValues => class.point_importance.as_ref().map(|p| {
            diverging_legend(
                format!("point value for {}", class.name),
                symmetric_range(p),
            )
        }),
        Mode::Absolute => Some(Legend {
            title: format!("|importance| for {}", class.name),
            stops: (0..STOPS)
                .map(|i| {
                    let p = i as f32 / (STOPS - 1) as f32;
                    (p, sequential(p))
                })
                .collect(),
            ticks: [0.0f32, 0.25, 0.5, 0.75, 1.0]
                .iter()
                .map(|&t| (t, format_value(t * range)))
                .collect(),
        }),
        Mode::Intensity => Some(Legend {
            title: "intensity (to its 99th percentile)".into(),
            stops: vec![(0.0, [0.0; 3]), (1.0, [1.0; 3])],
            ticks: vec![(0.0, "0".into()), (1.0, "p99".into())],
        }),
        Mode::Segments | Mode::Rgb | Mode::Classification => None,
    }
}

/// One line describing a segment: its coefficient for the class, and its point count.
pub fn describe_segment(data: &ExplainedScan, class: usize, segment: u32) -> String {
    if segment == NO_SEGMENT {
        return "a point the scene steps removed (crop, outliers, ground or detached): not explained"
            .to_string();
    }
    let values = segment_values(data, class);
    let points = data
        .segments
        .as_ref()
        .map_or(0, |s| s.iter().filter(|&&x| x == segment).count());
    let rank = top_segments(&values, values.len())
        .iter()
        .position(|&s| s == segment)
        .map_or(String::new(), |r| {
            format!(", rank {} of {}", r + 1, values.len())
        });
    match values.get(segment as usize) {
        Some(v) => format!(
            "segment {segment}: importance {} for {}{rank}, {points} points",
            format_value(*v as f32),
            data.classes[class].name
        ),
        None => format!("segment {segment}: {points} points"),
    }
}

/// The heading lines of the overlay: file, class with probability, method and R², mode.
pub fn heading(data: &ExplainedScan, style: &Style) -> Vec<String> {
    let c = &data.classes[style.class.min(data.classes.len() - 1)];
    let mut class = format!(
        "class {} ({}/{})",
        c.name,
        style.class + 1,
        data.classes.len()
    );
    if let Some(p) = c.probability {
        class.push_str(&format!(", p = {p:.3}"));
    }
    if let Some(m) = &c.method {
        class.push_str(&format!(", {m}"));
    }
    if let Some(r2) = c.r2 {
        class.push_str(&format!(", surrogate R² = {r2:.3}"));
    }
    let mut mode = format!("mode: {}", style.mode.name());
    match style.mode {
        Mode::TopK => mode.push_str(&format!(" (k = {})", style.top_k)),
        Mode::Threshold => mode.push_str(&format!(
            " (|importance| ≥ {:.0}% of max)",
            style.threshold * 100.0
        )),
        _ => {}
    }
    let mut lines = vec![
        format!("{} — {} points", data.path.display(), data.positions.len()),
        class,
        mode,
    ];
    if let Some(r) = &data.report {
        lines.insert(
            1,
            format!(
                "predicted {} (p = {:.3})",
                r.predicted_name,
                r.probabilities
                    .get(r.predicted)
                    .copied()
                    .unwrap_or(f32::NAN)
            ),
        );
    }
    lines
}

/// The help panel: every key and what it does.
pub const HELP: &[(&str, &str)] = &[
    ("M / 1-9", "next colour mode / mode by number"),
    ("C / V", "next / previous explained class"),
    ("N / P", "pick next / previous segment by importance"),
    ("Ctrl+click", "pick the segment under the cursor (X clears)"),
    (
        "[ / ]",
        "fewer / more top-k segments; lower / raise threshold",
    ),
    ("+ / -", "larger / smaller points"),
    ("B", "background: dark, white, black"),
    ("R", "refit the camera"),
    ("S", "screenshot (PNG beside the file)"),
    ("H", "hide / show this help"),
    ("mouse", "drag: rotate; right-drag: pan; wheel: zoom"),
    ("Esc / Q", "quit"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::ClassView;

    fn explained(values: Vec<f32>, segments: Vec<u32>) -> ExplainedScan {
        let n = values.len();
        ExplainedScan {
            path: "x.ply".into(),
            positions: (0..n).map(|i| [i as f32, 0.0, 0.0]).collect(),
            centre: [0.0; 3],
            segments: Some(segments),
            classes: vec![ClassView {
                name: "pole".into(),
                probability: Some(0.9),
                r2: Some(0.5),
                method: Some("lime".into()),
                importance: values,
                point_importance: None,
                coefficients: None,
            }],
            rgb: None,
            intensity: None,
            classification: None,
            report: None,
            report_path: None,
        }
    }

    #[test]
    fn colour_modes_follow_the_values() {
        let data = explained(vec![-2.0, 0.0, 1.0, 2.0, f32::NAN], vec![0, 1, 2, 3, 3]);
        let mut style = Style::default();
        let c = colours(&data, &style);
        assert_eq!(c[0], diverging(-1.0));
        assert_eq!(c[1], diverging(0.0));
        assert_eq!(c[2], diverging(0.5));
        assert_eq!(c[3], diverging(1.0));
        assert_eq!(c[4], NO_VALUE);

        style.mode = Mode::TopK;
        style.top_k = 1;
        let c = colours(&data, &style);
        // Segment 3 has the largest value (2.0): only its points keep their colour.
        assert_eq!(c[3], diverging(1.0));
        assert_eq!(&c[..3], &[NO_VALUE; 3]);

        style.mode = Mode::Threshold;
        style.threshold = 0.75;
        let c = colours(&data, &style);
        assert_eq!(c[0], diverging(-1.0));
        assert_eq!(c[2], NO_VALUE);
        assert_eq!(c[3], diverging(1.0));

        style.mode = Mode::Absolute;
        let c = colours(&data, &style);
        assert_eq!(c[0], c[3]);
        assert_eq!(c[1], sequential(0.0));

        style.mode = Mode::Segments;
        let c = colours(&data, &style);
        assert_eq!(c[3], c[4]);
        assert_ne!(c[2], c[3]);
    }

    #[test]
    fn modes_without_data_are_skipped() {
        let data = explained(vec![1.0, 2.0], vec![0, 1]);
        // No rgb, intensity, classification or point values: Segments → TopK.
        assert_eq!(Mode::Segments.next(&data, 0), Mode::TopK);
        assert_eq!(Mode::Threshold.next(&data, 0), Mode::Signed);
        assert!("top-k".parse::<Mode>().is_ok());
        assert!("nope".parse::<Mode>().is_err());
    }

    #[test]
    fn legend_is_symmetric_with_the_largest_value_at_the_ends() {
        let data = explained(vec![-0.02, 0.05, 0.01], vec![0, 1, 2]);
        let l = legend(&data, &Style::default()).unwrap();
        let labels: Vec<&str> = l.ticks.iter().map(|t| t.1.as_str()).collect();
        assert_eq!(labels, ["-0.0500", "-0.0250", "0", "0.0250", "0.0500"]);
        assert_eq!(l.ticks[2].0, 0.5);
        assert_eq!(l.stops.first().unwrap().1, diverging(-1.0));
        assert_eq!(l.stops.last().unwrap().1, diverging(1.0));
        assert!(legend(
            &data,
            &Style {
                mode: Mode::Segments,
                ..Style::default()
            }
        )
        .is_none());
    }

    #[test]
    fn points_the_scene_steps_removed_are_grey_and_in_no_segment() {
        // Two explained points in segments 0 and 1, and a removed point (NaN, NO_SEGMENT).
        let data = explained(vec![1.0, -1.0, f32::NAN], vec![0, 1, NO_SEGMENT]);
        assert_eq!(segment_values(&data, 0), [1.0, -1.0]);
        for mode in [Mode::Signed, Mode::Segments, Mode::Threshold] {
            let c = colours(
                &data,
                &Style {
                    mode,
                    ..Style::default()
                },
            );
            assert_eq!(c[2], NO_VALUE, "{mode:?}");
            assert_ne!(c[0], NO_VALUE, "{mode:?}");
        }
        assert!(describe_segment(&data, 0, NO_SEGMENT).contains("removed"));
    }

    #[test]
    fn values_are_formatted_with_three_significant_digits() {
        assert_eq!(format_value(0.123_456), "0.123");
        assert_eq!(format_value(-12.345), "-12.3");
        assert_eq!(format_value(1234.0), "1234");
        assert_eq!(format_value(0.000_012_3), "1.23e-5");
        assert_eq!(format_value(0.0), "0");
    }

    #[test]
    fn top_segments_and_descriptions() {
        assert_eq!(top_segments(&[0.1, 0.5, -0.3, 0.5], 2), [1, 3]);
        let data = explained(vec![-2.0, 0.0, 1.0, 2.0, 2.0], vec![0, 1, 2, 3, 3]);
        assert_eq!(
            describe_segment(&data, 0, 3),
            "segment 3: importance 2.00 for pole, rank 1 of 4, 2 points"
        );
    }
}
