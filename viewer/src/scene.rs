//! What the viewer shows, as pure data and functions: colour modes, the colour of every point, the
//! legend, and the overlay's text. Nothing here draws; the render loop in `render.rs` only turns
//! these values into kiss3d calls. Reading the file is [`pointlime::view`], colour maps
//! [`crate::colour`], the camera [`crate::camera`].

use pointlime::explain::SufficientSet;
use pointlime::pipeline::NO_SEGMENT;
use pointlime::stats::top_k;

use crate::colour::{
    categorical, class_colour, classification_colour, diverging, sequential, Rgb, NO_VALUE,
};
use pointlime::view::ExplainedScan;

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
    /// A per-point model's class of each point: the ASPRS colour of a class named as a LAS
    /// class (ground, building, …), a categorical colour otherwise.
    Predicted,
    /// Signed importance of the k most important segments only (largest coefficients, the ones
    /// that speak most for the class); the rest grey.
    TopK,
    /// Signed importance where |importance| ≥ threshold × max |importance|; the rest grey.
    Threshold,
    /// The gradient methods' per-point values, signed, on the diverging map.
    PointValues,
    /// One sufficient set of a structural explanation (`--method sag`) in its values' colours,
    /// the rest of the cloud dimmed; `G` moves to the next set.
    Sets,
}

impl Mode {
    pub const ALL: [Mode; 11] = [
        Mode::Signed,
        Mode::Absolute,
        Mode::Segments,
        Mode::Rgb,
        Mode::Intensity,
        Mode::Classification,
        Mode::Predicted,
        Mode::TopK,
        Mode::Threshold,
        Mode::PointValues,
        Mode::Sets,
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
            Mode::Predicted => "predicted",
            Mode::TopK => "top-k",
            Mode::Threshold => "threshold",
            Mode::PointValues => "point-values",
            Mode::Sets => "sets",
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
            Mode::Predicted => data.predicted.is_some(),
            Mode::PointValues => data.classes[class].point_importance.is_some(),
            Mode::Sets => {
                data.segments.is_some()
                    && data.classes[class]
                        .structure
                        .as_ref()
                        .is_some_and(|s| !s.sets.is_empty())
            }
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
    /// The sufficient set shown in [`Mode::Sets`] (wrapping).
    pub set: usize,
    /// The level shown: 0 the supervoxels, `i` the report's `i`-th coarser level (when it has
    /// one; else the supervoxels).
    pub level: usize,
}

impl Default for Style {
    fn default() -> Self {
        Style {
            mode: Mode::Signed,
            class: 0,
            top_k: 5,
            threshold: 0.5,
            selected: None,
            set: 0,
            level: 0,
        }
    }
}

/// The largest finite |value| (1 when there is none), the half-range of the diverging map.
pub fn symmetric_range(values: &[f32]) -> f32 {
    largest_magnitude(values.iter().copied())
}

fn largest_magnitude(values: impl Iterator<Item = f32>) -> f32 {
    let m = values
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

/// The coarser level `style` shows, from the report: its number, segment count, rank agreement
/// with the supervoxels, values per segment and each supervoxel's parent. `None` at level 0, or
/// when the report has no such level. Cheap (borrowed): the heading and legend ask every frame;
/// [`LevelView::per_point`] spreads it onto the points when colours change.
pub fn level_view<'a>(data: &'a ExplainedScan, style: &Style) -> Option<LevelView<'a>> {
    let level = data
        .report
        .as_ref()?
        .levels
        .get(style.level.checked_sub(1)?)?;
    // Levels map supervoxels, so a file without them has none to show.
    data.segments.as_ref()?;
    Some(LevelView {
        level: level.level,
        count: level.segments,
        rank_correlation: level.rank_correlation.get(style.class).copied().flatten(),
        coefficients: level.coefficients.get(style.class)?,
        parent: &level.parent,
    })
}

/// A coarser level as the viewer shows it ([`level_view`]).
#[derive(Debug, Clone, PartialEq)]
pub struct LevelView<'a> {
    pub level: usize,
    pub count: usize,
    pub rank_correlation: Option<f64>,
    /// Per segment of the level.
    pub coefficients: &'a [f64],
    /// Per supervoxel: its segment at the level.
    pub parent: &'a [usize],
}

impl LevelView<'_> {
    /// Per point of `segments` (supervoxel ids): its level segment's value (NaN for points in no
    /// segment) and its segment at the level.
    pub fn per_point(&self, segments: &[u32]) -> (Vec<f32>, Vec<u32>) {
        segments
            .iter()
            .map(|&s| match self.parent.get(s as usize) {
                Some(&p) => (
                    self.coefficients.get(p).map_or(f32::NAN, |&v| v as f32),
                    p as u32,
                ),
                None => (f32::NAN, NO_SEGMENT),
            })
            .unzip()
    }

    /// The largest |value| of the level, the half-range of its diverging map: every level
    /// segment holds a supervoxel, so this is [`symmetric_range`] of the per-point values.
    pub fn range(&self) -> f32 {
        largest_magnitude(self.coefficients.iter().map(|&v| v as f32))
    }
}

/// The levels the report has beyond the supervoxels.
pub fn level_count(data: &ExplainedScan) -> usize {
    data.report.as_ref().map_or(0, |r| r.levels.len())
}

/// The sufficient set shown in [`Mode::Sets`], with its number (from 0) and the set count.
pub fn current_set<'a>(
    data: &'a ExplainedScan,
    style: &Style,
) -> Option<(usize, usize, &'a SufficientSet)> {
    let sets = &data.classes.get(style.class)?.structure.as_ref()?.sets;
    if sets.is_empty() {
        return None;
    }
    let i = style.set % sets.len();
    Some((i, sets.len(), &sets[i]))
}

/// The colour of every point.
pub fn colours(data: &ExplainedScan, style: &Style) -> Vec<Rgb> {
    let class = &data.classes[style.class.min(data.classes.len() - 1)];
    let level = level_view(data, style);
    let spread = match (&level, &data.segments) {
        (Some(l), Some(segments)) => Some(l.per_point(segments)),
        _ => None,
    };
    let (values, point_segments) = match &spread {
        Some((v, s)) => (v, Some(s)),
        None => (&class.importance, data.segments.as_ref()),
    };
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
        Mode::Segments => match point_segments {
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
        Mode::Predicted => {
            let names = data.report.as_ref().map_or(&[][..], |r| &r.class_names[..]);
            predicted_colours(data, names)
        }
        Mode::TopK => {
            let per_segment = match &level {
                Some(l) => l.coefficients.to_vec(),
                None => segment_values(data, style.class),
            };
            let top = top_segments(&per_segment, style.top_k);
            match point_segments {
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
        Mode::Sets => {
            let members = current_set(data, style).map(|(_, _, s)| &s.segments);
            match (members, &data.segments) {
                (Some(m), Some(s)) => s
                    .iter()
                    .zip(&class.importance)
                    .map(|(&id, &v)| {
                        if m.contains(&(id as usize)) {
                            signed(v)
                        } else {
                            dim(NO_VALUE)
                        }
                    })
                    .collect(),
                _ => vec![NO_VALUE; values.len()],
            }
        }
    };
    if let (Some(sel), Some(segments)) = (style.selected, &data.segments) {
        for (c, &s) in out.iter_mut().zip(segments) {
            if s != sel {
                *c = dim(*c);
            }
        }
    }
    out
}

/// A colour faded towards dark grey: what is not in focus.
fn dim(c: Rgb) -> Rgb {
    c.map(|v| 0.3 * v + 0.7 * 0.25)
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
    let level = level_view(data, style);
    let range = match &level {
        Some(l) => l.range(),
        None => symmetric_range(&class.importance),
    };
    match style.mode {
        Mode::Signed | Mode::TopK | Mode::Threshold | Mode::Sets => Some(diverging_legend(
            match (&level, style.mode) {
                (_, Mode::Sets) => format!("probability of {} lost without it", class.name),
                (Some(l), _) => format!("importance for {} at level {}", class.name, l.level),
                (None, _) => format!("importance for {}", class.name),
            },
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
        Mode::Segments | Mode::Rgb | Mode::Classification | Mode::Predicted => None,
    }
}

/// The colour of each point's predicted class (see [`Mode::Predicted`]); `names` are the
/// model's classes.
pub fn predicted_colours(data: &ExplainedScan, names: &[String]) -> Vec<Rgb> {
    let colour_of = |k: usize| class_colour(names, k);
    match &data.predicted {
        Some(p) => p
            .iter()
            .map(|&k| {
                if k == pointlime::pipeline::NO_CLASS {
                    NO_VALUE
                } else {
                    colour_of(k as usize)
                }
            })
            .collect(),
        None => vec![NO_VALUE; data.positions.len()],
    }
}

/// One line of the key: a colour swatch (none for a heading) and its text; `current` marks the
/// region on view.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyLine {
    pub colour: Option<Rgb>,
    pub text: String,
    pub current: bool,
}

/// The key of categories beside the cloud, top to bottom: in the predicted-class and the
/// classification modes, each class with its colour and its share of the points; and for a
/// per-point model's explanation, in every mode, the regions explained, each with its class's
/// colour, the one on view (the class switch steps through them) marked.
pub fn key(data: &ExplainedScan, style: &Style) -> Vec<KeyLine> {
    let mut lines = Vec::new();
    let line = |colour, text, current| KeyLine {
        colour,
        text,
        current,
    };
    let share = |count: usize, total: usize| {
        format!(
            "{count} points ({:.1}%)",
            100.0 * count as f64 / total.max(1) as f64
        )
    };
    let names = data.report.as_ref().map_or(&[][..], |r| &r.class_names[..]);
    match (style.mode, &data.predicted, &data.classification) {
        (Mode::Predicted, Some(predicted), _) => {
            let scored = predicted
                .iter()
                .filter(|&&k| k != pointlime::pipeline::NO_CLASS)
                .count();
            lines.push(line(None, "predicted class".into(), false));
            for (k, name) in names.iter().enumerate() {
                let count = predicted.iter().filter(|&&p| p as usize == k).count();
                let text = format!("{name}: {}", share(count, scored));
                lines.push(line(Some(class_colour(names, k)), text, false));
            }
        }
        (Mode::Classification, _, Some(codes)) => {
            lines.push(line(None, "classification (the file's own)".into(), false));
            let mut counts = [0usize; 256];
            codes.iter().for_each(|&c| counts[c as usize] += 1);
            for (code, &count) in counts.iter().enumerate().filter(|(_, &n)| n > 0) {
                let name = pointlime::labels::asprs_name(code as u8)
                    .map_or_else(|| format!("code {code}"), |n| format!("{code} {n}"));
                let text = format!("{name}: {}", share(count, codes.len()));
                lines.push(line(Some(classification_colour(code as u8)), text, false));
            }
        }
        _ => {}
    }
    let regions = data.report.as_ref().map_or(&[][..], |r| &r.regions[..]);
    if !regions.is_empty() {
        lines.push(line(None, "regions explained".into(), false));
        for (i, r) in regions.iter().enumerate() {
            let p = r.probabilities.get(r.target).copied().unwrap_or(f32::NAN);
            let text = format!(
                "{}: why {}, {} points, p = {p:.2}",
                r.spec, r.target_name, r.points
            );
            let current = i == style.class;
            lines.push(line(Some(class_colour(names, r.target)), text, current));
        }
    }
    lines
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
    // Segments taken from a field (--segments-from) are named by its value: organ 2, class 6.
    let name = data
        .report
        .as_ref()
        .and_then(|r| {
            let field = r.settings.segments.from_field.as_ref()?;
            let value = r.segments.get(segment as usize)?.field_value?;
            Some(format!("segment {segment} ({field} {value})"))
        })
        .unwrap_or_else(|| format!("segment {segment}"));
    match values.get(segment as usize) {
        Some(v) => format!(
            "{name}: importance {} for {}{rank}, {points} points",
            format_value(*v as f32),
            data.classes[class].name
        ),
        None => format!("{name}: {points} points"),
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
        Mode::Sets => {
            if let (Some((i, n, set)), Some(s)) = (current_set(data, style), &c.structure) {
                let ids: Vec<String> = set.segments.iter().map(|x| x.to_string()).collect();
                mode.push_str(&format!(
                    " — set {}/{n}: supervoxels {{{}}} alone give p = {:.3} (threshold {:.3})",
                    i + 1,
                    ids.join(", "),
                    set.probability,
                    s.threshold * s.original_probability
                ));
            }
        }
        _ => {}
    }
    if let Some(l) = level_view(data, style) {
        mode.push_str(&format!(
            "; level {} of {}: {} segments, rank agreement with the supervoxels {}",
            l.level,
            level_count(data),
            l.count,
            l.rank_correlation
                .map_or("undefined".into(), |r| format!("{r:.2}"))
        ));
    }
    let mut lines = vec![
        format!("{} — {} points", data.path.display(), data.positions.len()),
        class,
        mode,
    ];
    if let Some(r) = &data.report {
        let mut predicted = format!(
            "predicted {} (p = {:.3})",
            r.predicted_name,
            r.probabilities
                .get(r.predicted)
                .copied()
                .unwrap_or(f32::NAN)
        );
        // A scan the model does not know gets no confident-looking heading.
        match &r.competence {
            Some(c) if !c.in_domain => predicted.push_str(&format!(
                " — OUTSIDE WHAT THE MODEL WAS TRAINED ON (competence {}): not to be trusted",
                pointlime::competence::format_score(c.score)
            )),
            Some(c) => predicted.push_str(&format!(
                ", competence {}",
                pointlime::competence::format_score(c.score)
            )),
            None => {}
        }
        lines.insert(1, predicted);
    }
    lines
}

/// The help panel: every key and what it does.
pub const HELP: &[(&str, &str)] = &[
    ("M / 1-9", "next colour mode / mode by number"),
    ("C / V", "next / previous explained class"),
    ("G", "next sufficient set (sets mode, --method sag)"),
    (
        "L",
        "next level: supervoxels, then coarser (--coarser-levels)",
    ),
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
mod tests;
