//! What the viewer shows, as pure data and functions: the explained cloud read back, colour maps,
//! colour modes, legend values, camera fitting, projection and picking. Nothing here draws; the
//! render loop in `render.rs` only turns these values into kiss3d calls.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use palette::{FromColor, Mix, Oklab, Oklch, Srgb};
use pointlime::pipeline::{field_name, Report};

/// An sRGB colour, components in `[0, 1]`.
pub type Rgb = [f32; 3];

/// Points without a value (not explained, or not seen by the network) are drawn in this grey.
pub const NO_VALUE: Rgb = [0.45, 0.45, 0.45];

/// One explained class of the file.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassView {
    pub name: String,
    /// The model's probability of the class, from the report.
    pub probability: Option<f32>,
    /// The surrogate's R² (LIME only), from the report.
    pub r2: Option<f64>,
    /// The explanation method, from the report.
    pub method: Option<String>,
    /// Per point: its supervoxel's value (`importance`, `importance_<class>`).
    pub importance: Vec<f32>,
    /// Per point: the gradient methods' own value (`point_importance…`), NaN where none.
    pub point_importance: Option<Vec<f32>>,
    /// Per segment value, from the report, for picking.
    pub coefficients: Option<Vec<f64>>,
}

/// An explained cloud as the viewer holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Explained {
    pub path: PathBuf,
    /// Positions relative to `centre`, so that f32 keeps millimetres on projected coordinates.
    pub positions: Vec<[f32; 3]>,
    /// The bounding-box centre, world coordinates.
    pub centre: [f64; 3],
    /// Segment id per point, when the file has `segment`.
    pub segments: Option<Vec<u32>>,
    /// At least one.
    pub classes: Vec<ClassView>,
    /// Original colours (`red`/`green`/`blue`, scaled to `[0, 1]`).
    pub rgb: Option<Vec<Rgb>>,
    /// Original intensity, scaled to `[0, 1]` by its 99th percentile.
    pub intensity: Option<Vec<f32>>,
    /// Original classification codes.
    pub classification: Option<Vec<u8>>,
    /// The JSON report, when found.
    pub report: Option<Report>,
    /// Where the report was read from.
    pub report_path: Option<PathBuf>,
}

/// Reads an explained cloud (PLY or LAS/LAZ written by `pointlime explain` or `batch`) and its
/// report: `report` when given, else `X.json` beside `X.ply|las|laz`, else (for `batch` output)
/// `NAME.json` beside `NAME.explained.ply|las|laz`.
///
/// # Errors
/// Unreadable files, a file without an `importance` field, or a report that does not parse.
pub fn load(path: &Path, report: Option<&Path>) -> Result<Explained> {
    let cloud = pointlime::io::read(path)?;
    if cloud.is_empty() {
        bail!("{}: the file holds no points", path.display());
    }
    let attr = |name: &str| cloud.attribute(name).map(|a| &a.values);
    let Some(first) = attr("importance") else {
        bail!(
            "{}: no `importance` field; open a file written by `pointlime explain`",
            path.display()
        );
    };
    let report_path = match report {
        Some(p) => Some(p.to_path_buf()),
        None => default_report(path),
    };
    let report = match &report_path {
        Some(p) => Some(read_report(p)?),
        None => None,
    };
    let f32s = |v: &Vec<f64>| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();

    // The first explained class is `importance`; further ones `importance_<sanitised name>`.
    let explanations = report.as_ref().map(|r| r.explanations.as_slice()).unwrap_or(&[]);
    let mut classes = vec![ClassView {
        name: explanations
            .first()
            .map(|e| e.target_name.clone())
            .unwrap_or_else(|| "importance".into()),
        probability: None,
        r2: None,
        method: None,
        importance: f32s(first),
        point_importance: attr("point_importance").map(f32s),
        coefficients: None,
    }];
    for (i, e) in explanations.iter().enumerate().skip(1) {
        let field = |base: &str| field_name(base, i, &e.target_name);
        if let Some(values) = attr(&field("importance")) {
            classes.push(ClassView {
                name: e.target_name.clone(),
                probability: None,
                r2: None,
                method: None,
                importance: f32s(values),
                point_importance: attr(&field("point_importance")).map(f32s),
                coefficients: None,
            });
        }
    }
    if let Some(r) = &report {
        for (c, e) in classes.iter_mut().zip(&r.explanations) {
            c.probability = r.probabilities.get(e.target).copied();
            c.r2 = e.r2;
            c.method = Some(e.method.name().to_string());
            c.coefficients = Some(e.coefficients.clone());
        }
    }

    let (lo, hi) = cloud.bounds().context("no finite bounds")?;
    let centre: [f64; 3] = std::array::from_fn(|a| 0.5 * (lo[a] + hi[a]));
    let positions = cloud
        .positions
        .iter()
        .map(|p| std::array::from_fn(|a| (p[a] - centre[a]) as f32))
        .collect();
    let rgb = match (attr("red"), attr("green"), attr("blue")) {
        (Some(r), Some(g), Some(b)) => {
            // 8-bit PLY colours or 16-bit LAS colours: scale by the channel type's range.
            let max = r.iter().chain(g).chain(b).fold(0.0f64, |m, &v| m.max(v));
            let full = if max > 255.0 { 65535.0 } else { 255.0 };
            Some(
                (0..cloud.len())
                    .map(|i| [r[i], g[i], b[i]].map(|v| (v / full).clamp(0.0, 1.0) as f32))
                    .collect(),
            )
        }
        _ => None,
    };
    let intensity = attr("intensity").map(|v| {
        let top = percentile(v, 0.99).max(f64::MIN_POSITIVE);
        v.iter().map(|&x| (x / top).clamp(0.0, 1.0) as f32).collect()
    });
    Ok(Explained {
        path: path.to_path_buf(),
        positions,
        centre,
        segments: attr("segment").map(|v| v.iter().map(|&s| s as u32).collect()),
        classes,
        rgb,
        intensity,
        classification: attr("classification").map(|v| v.iter().map(|&c| c as u8).collect()),
        report,
        report_path,
    })
}

fn default_report(path: &Path) -> Option<PathBuf> {
    let beside = path.with_extension("json");
    if beside.is_file() {
        return Some(beside);
    }
    let stem = path.file_stem()?.to_string_lossy();
    let batch = path.with_file_name(format!("{}.json", stem.strip_suffix(".explained")?));
    batch.is_file().then_some(batch)
}

/// A report as `explain` writes it, or the `report` inside a `batch` file's JSON.
fn read_report(path: &Path) -> Result<Report> {
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    let mut value: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: not JSON", path.display()))?;
    if let Some(inner) = value.get_mut("report") {
        value = inner.take();
    }
    serde_json::from_value(value)
        .with_context(|| format!("{}: not a pointlime report", path.display()))
}

fn percentile(values: &[f64], q: f64) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
}

// ---------------------------------------------------------------------------------------------
// Colour maps

fn oklch(l: f32, c: f32, hue_degrees: f32) -> Oklab {
    Oklab::from_color(Oklch::new(l, c, hue_degrees))
}

fn to_rgb(lab: Oklab) -> Rgb {
    let s = Srgb::from_color(lab);
    [s.red, s.green, s.blue].map(|v| v.clamp(0.0, 1.0))
}

/// The ends of the diverging map: a blue and a red of equal Oklab lightness and chroma, so that
/// equal |value| on either side looks equally strong.
const DIVERGING_LIGHTNESS: f32 = 0.48;
const DIVERGING_CHROMA: f32 = 0.15;
const BLUE_HUE: f32 = 255.0;
const RED_HUE: f32 = 25.0;

/// The diverging map at `t` in `[-1, 1]`: blue below 0, white at 0, red above, by straight lines
/// in Oklab from white to each end. Lightness then falls linearly with |t|, identically on both
/// sides (Oklab's lightness is perceptually uniform), which is what makes the map symmetric and
/// perceptually even; lime and captum show such values on RdBu-like maps.
pub fn diverging(t: f32) -> Rgb {
    let t = if t.is_nan() { 0.0 } else { t.clamp(-1.0, 1.0) };
    let white = Oklab::from_color(Srgb::new(1.0f32, 1.0, 1.0));
    let hue = if t < 0.0 { BLUE_HUE } else { RED_HUE };
    let end = oklch(DIVERGING_LIGHTNESS, DIVERGING_CHROMA, hue);
    to_rgb(white.mix(end, t.abs()))
}

/// The linear-light components of an sRGB colour: what a renderer that encodes its output to
/// sRGB (as kiss3d's does) must be given so that the screen shows `c`.
pub fn linear(c: Rgb) -> Rgb {
    let l = Srgb::new(c[0], c[1], c[2]).into_linear();
    [l.red, l.green, l.blue]
}

/// Oklab lightness of an sRGB colour (for tests and the legend's text colour).
pub fn lightness(c: Rgb) -> f32 {
    Oklab::from_color(Srgb::new(c[0], c[1], c[2])).l
}

/// viridis at `t` in `[0, 1]` (perceptually uniform, sequential).
pub fn sequential(t: f32) -> Rgb {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    let c = colorous::VIRIDIS.eval_continuous(t as f64);
    [c.r, c.g, c.b].map(|v| v as f32 / 255.0)
}

/// A distinct colour per id: hues a golden angle apart in Oklch, with lightness cycling through
/// three levels, so that neighbouring ids (often neighbouring supervoxels) never look alike.
pub fn categorical(id: u32) -> Rgb {
    let hue = (id as f32 * 137.507_77) % 360.0;
    let l = [0.72, 0.58, 0.84][(id % 3) as usize];
    to_rgb(oklch(l, 0.13, hue))
}

/// ASPRS LAS classification colours for the common codes; other codes get categorical colours.
pub fn classification_colour(code: u8) -> Rgb {
    match code {
        2 => [0.62, 0.47, 0.30], // ground
        3 => [0.60, 0.80, 0.40], // low vegetation
        4 => [0.30, 0.65, 0.25], // medium vegetation
        5 => [0.10, 0.45, 0.10], // high vegetation
        6 => [0.85, 0.30, 0.25], // building
        7 => [0.90, 0.20, 0.90], // noise
        9 => [0.25, 0.45, 0.90], // water
        _ => categorical(code as u32),
    }
}

// ---------------------------------------------------------------------------------------------
// Colour modes

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
    pub fn available(self, data: &Explained, class: usize) -> bool {
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
    pub fn next(self, data: &Explained, class: usize) -> Mode {
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
        Mode::ALL.into_iter().find(|m| m.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Mode::ALL.iter().map(|m| m.name()).collect();
            format!("unknown mode {s:?}: one of {}", names.join(", "))
        })
    }
}

/// The settings colours depend on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Style {
    pub mode: Mode,
    /// Index into [`Explained::classes`].
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

/// The segments with the `k` largest coefficients (ties by lower id).
pub fn top_segments(coefficients: &[f64], k: usize) -> Vec<u32> {
    let mut ids: Vec<u32> = (0..coefficients.len() as u32).collect();
    ids.sort_by(|&a, &b| {
        coefficients[b as usize]
            .total_cmp(&coefficients[a as usize])
            .then(a.cmp(&b))
    });
    ids.truncate(k);
    ids
}

/// Per-segment values of a class: the report's coefficients, or else read back from the points.
pub fn segment_values(data: &Explained, class: usize) -> Vec<f64> {
    let c = &data.classes[class];
    if let Some(coefficients) = &c.coefficients {
        return coefficients.clone();
    }
    let Some(segments) = &data.segments else {
        return Vec::new();
    };
    let n = segments.iter().max().map_or(0, |&m| m as usize + 1);
    let mut values = vec![f64::NAN; n];
    for (&s, &v) in segments.iter().zip(&c.importance) {
        values[s as usize] = v as f64;
    }
    values
}

/// The colour of every point.
pub fn colours(data: &Explained, style: &Style) -> Vec<Rgb> {
    let class = &data.classes[style.class.min(data.classes.len() - 1)];
    let values = &class.importance;
    let range = symmetric_range(values);
    let signed = |v: f32| if v.is_finite() { diverging(v / range) } else { NO_VALUE };
    let mut out: Vec<Rgb> = match style.mode {
        Mode::Signed => values.iter().map(|&v| signed(v)).collect(),
        Mode::Absolute => values
            .iter()
            .map(|&v| if v.is_finite() { sequential(v.abs() / range) } else { NO_VALUE })
            .collect(),
        Mode::Segments => match &data.segments {
            Some(s) => s.iter().map(|&id| categorical(id)).collect(),
            None => vec![NO_VALUE; values.len()],
        },
        Mode::Rgb => data.rgb.clone().unwrap_or_else(|| vec![NO_VALUE; values.len()]),
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
                    .map(|(id, &v)| if top.contains(id) { signed(v) } else { NO_VALUE })
                    .collect(),
                None => vec![NO_VALUE; values.len()],
            }
        }
        Mode::Threshold => values
            .iter()
            .map(|&v| if v.abs() >= style.threshold * range { signed(v) } else { NO_VALUE })
            .collect(),
        Mode::PointValues => match &class.point_importance {
            Some(p) => {
                let r = symmetric_range(p);
                p.iter()
                    .map(|&v| if v.is_finite() { diverging(v / r) } else { NO_VALUE })
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

// ---------------------------------------------------------------------------------------------
// Legend

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
pub fn legend(data: &Explained, style: &Style) -> Option<Legend> {
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
            diverging_legend(format!("point value for {}", class.name), symmetric_range(p))
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

// ---------------------------------------------------------------------------------------------
// Camera

/// Where the camera looks from: its eye, its target, and its clipping planes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CameraFit {
    pub eye: [f32; 3],
    pub at: [f32; 3],
    pub znear: f32,
    pub zfar: f32,
}

/// The default view direction, from the eye towards the target: horizontal along +y (so +x runs
/// to the right of the screen), tilted 20° down; z is up, as in LiDAR.
pub fn view_direction() -> [f32; 3] {
    let tilt = 20f32.to_radians();
    [0.0, tilt.cos(), -tilt.sin()]
}

/// Fits the camera to the bounding box `lo..hi` (in the viewer's centred frame): the target is
/// the box centre and the eye far enough along [`view_direction`] that the bounding sphere fits
/// both the vertical field of view `fov_y` (radians) and the horizontal one of `aspect`.
pub fn fit_camera(lo: [f32; 3], hi: [f32; 3], fov_y: f32, aspect: f32) -> CameraFit {
    let at: [f32; 3] = std::array::from_fn(|a| 0.5 * (lo[a] + hi[a]));
    let radius = (0..3)
        .map(|a| (hi[a] - lo[a]).powi(2))
        .sum::<f32>()
        .sqrt()
        .max(1e-3)
        * 0.5;
    let fov_x = 2.0 * ((fov_y / 2.0).tan() * aspect).atan();
    let half = 0.5 * fov_y.min(fov_x);
    let dist = radius / half.sin() * 1.05;
    let d = view_direction();
    CameraFit {
        eye: std::array::from_fn(|a| at[a] - d[a] * dist),
        at,
        znear: (dist - radius * 1.5).max(dist * 1e-3),
        zfar: dist + radius * 1.5,
    }
}

/// The bounding box of `positions`.
pub fn bounds(positions: &[[f32; 3]]) -> ([f32; 3], [f32; 3]) {
    let mut lo = [f32::INFINITY; 3];
    let mut hi = [f32::NEG_INFINITY; 3];
    for p in positions {
        for a in 0..3 {
            lo[a] = lo[a].min(p[a]);
            hi[a] = hi[a].max(p[a]);
        }
    }
    if !lo[0].is_finite() {
        return ([0.0; 3], [0.0; 3]);
    }
    (lo, hi)
}

fn sub(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}
fn dot(a: [f32; 3], b: [f32; 3]) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}
fn cross(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}
fn normalise(a: [f32; 3]) -> [f32; 3] {
    let n = dot(a, a).sqrt().max(f32::MIN_POSITIVE);
    a.map(|v| v / n)
}

/// Where a point lands on a `width` × `height` image (pixels, origin top-left) seen from
/// `camera` with a vertical field of view `fov_y` and z up; `None` behind the eye.
pub fn project(camera: &CameraFit, fov_y: f32, width: f32, height: f32, p: [f32; 3]) -> Option<[f32; 2]> {
    let forward = normalise(sub(camera.at, camera.eye));
    let right = normalise(cross(forward, [0.0, 0.0, 1.0]));
    let up = cross(right, forward);
    let v = sub(p, camera.eye);
    let depth = dot(v, forward);
    if depth <= 0.0 {
        return None;
    }
    let f = 1.0 / (fov_y / 2.0).tan();
    let x_ndc = f / (width / height) * dot(v, right) / depth;
    let y_ndc = f * dot(v, up) / depth;
    Some([(x_ndc + 1.0) * width / 2.0, (1.0 - y_ndc) * height / 2.0])
}

/// The point nearest to the ray `origin + t·direction` in angle, if any lies within `max_angle`
/// radians of it: what a click picks.
pub fn pick(positions: &[[f32; 3]], origin: [f32; 3], direction: [f32; 3], max_angle: f32) -> Option<usize> {
    let d = normalise(direction);
    let cos_max = max_angle.cos();
    let mut best: Option<(usize, f32)> = None;
    for (i, &p) in positions.iter().enumerate() {
        let v = sub(p, origin);
        let len = dot(v, v).sqrt();
        if len == 0.0 {
            continue;
        }
        let cos = dot(v, d) / len;
        if cos >= cos_max && best.is_none_or(|(_, c)| cos > c) {
            best = Some((i, cos));
        }
    }
    best.map(|(i, _)| i)
}

/// Every how many points to draw so that at most `budget` are drawn (1 = all): while the camera
/// moves, a software renderer cannot draw a million points per frame fast enough to follow the
/// mouse, so the viewer draws an even subsample until it stops.
pub fn stride(points: usize, budget: usize) -> usize {
    points.div_ceil(budget.max(1)).max(1)
}

/// One line describing a segment: its coefficient for the class, and its point count.
pub fn describe_segment(data: &Explained, class: usize, segment: u32) -> String {
    let values = segment_values(data, class);
    let points = data
        .segments
        .as_ref()
        .map_or(0, |s| s.iter().filter(|&&x| x == segment).count());
    let rank = top_segments(&values, values.len())
        .iter()
        .position(|&s| s == segment)
        .map_or(String::new(), |r| format!(", rank {} of {}", r + 1, values.len()));
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
pub fn heading(data: &Explained, style: &Style) -> Vec<String> {
    let c = &data.classes[style.class.min(data.classes.len() - 1)];
    let mut class = format!("class {} ({}/{})", c.name, style.class + 1, data.classes.len());
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
        Mode::Threshold => mode.push_str(&format!(" (|importance| ≥ {:.0}% of max)", style.threshold * 100.0)),
        _ => {}
    }
    let mut lines = vec![
        format!("{} — {} points", data.path.display(), data.positions.len()),
        class,
        mode,
    ];
    if let Some(r) = &data.report {
        lines.insert(1, format!("predicted {} (p = {:.3})", r.predicted_name, r.probabilities.get(r.predicted).copied().unwrap_or(f32::NAN)));
    }
    lines
}

/// The help panel: every key and what it does.
pub const HELP: &[(&str, &str)] = &[
    ("M / 1-9", "next colour mode / mode by number"),
    ("C / V", "next / previous explained class"),
    ("N / P", "pick next / previous segment by importance"),
    ("Ctrl+click", "pick the segment under the cursor (X clears)"),
    ("[ / ]", "fewer / more top-k segments; lower / raise threshold"),
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

    fn explained(values: Vec<f32>, segments: Vec<u32>) -> Explained {
        let n = values.len();
        Explained {
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
    fn diverging_map_is_white_at_zero_blue_below_red_above() {
        let w = diverging(0.0);
        assert!(w.iter().all(|&v| (v - 1.0).abs() < 1e-3), "{w:?}");
        let b = diverging(-1.0);
        let r = diverging(1.0);
        assert!(b[2] > b[0] + 0.2 && b[2] > b[1], "{b:?}");
        assert!(r[0] > r[2] + 0.2 && r[0] > r[1], "{r:?}");
        assert_eq!(diverging(f32::NAN), w);
        assert_eq!(diverging(3.0), r);
    }

    #[test]
    fn diverging_map_is_symmetric_and_even_in_lightness() {
        // Equal |t| gives equal lightness on both sides, and lightness falls by equal steps.
        let steps = 10;
        let mut previous = lightness(diverging(0.0));
        let mut drops = Vec::new();
        for i in 1..=steps {
            let t = i as f32 / steps as f32;
            let (lb, lr) = (lightness(diverging(-t)), lightness(diverging(t)));
            assert!((lb - lr).abs() < 0.01, "t = {t}: {lb} vs {lr}");
            drops.push(previous - lr);
            previous = lr;
        }
        let mean = drops.iter().sum::<f32>() / steps as f32;
        assert!(mean > 0.0);
        for d in drops {
            assert!((d - mean).abs() < 0.15 * mean, "uneven lightness steps: {d} vs {mean}");
        }
    }

    #[test]
    fn categorical_colours_of_neighbouring_ids_differ() {
        for id in 0..200 {
            let (a, b) = (categorical(id), categorical(id + 1));
            let d: f32 = (0..3).map(|i| (a[i] - b[i]).powi(2)).sum::<f32>().sqrt();
            assert!(d > 0.1, "{id}: {a:?} vs {b:?}");
        }
    }

    #[test]
    fn linear_light_round_trips_the_srgb_curve() {
        assert_eq!(linear([0.0, 1.0, 0.0]), [0.0, 1.0, 0.0]);
        // sRGB 0.5 is about 21.4% linear light (IEC 61966-2-1).
        assert!((linear([0.5; 3])[0] - 0.214).abs() < 1e-3);
    }

    #[test]
    fn sequential_map_gets_lighter() {
        assert!(lightness(sequential(0.0)) < lightness(sequential(0.5)));
        assert!(lightness(sequential(0.5)) < lightness(sequential(1.0)));
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
        assert!(legend(&data, &Style { mode: Mode::Segments, ..Style::default() }).is_none());
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
    fn fitted_camera_sees_the_whole_box() {
        let (lo, hi) = ([-10.0, -2.0, 0.0], [10.0, 2.0, 30.0]);
        for aspect in [0.5f32, 1.0, 16.0 / 9.0] {
            let fov = std::f32::consts::FRAC_PI_4;
            let cam = fit_camera(lo, hi, fov, aspect);
            let (w, h) = (1000.0 * aspect, 1000.0);
            for corner in 0..8 {
                let p = [0, 1, 2].map(|a| if corner >> a & 1 == 1 { hi[a] } else { lo[a] });
                let [x, y] = project(&cam, fov, w, h, p).expect("in front of the eye");
                assert!((0.0..=w).contains(&x) && (0.0..=h).contains(&y), "{aspect}: {p:?} → {x}, {y}");
                let depth = dot(sub(p, cam.eye), normalise(sub(cam.at, cam.eye)));
                assert!(depth > cam.znear && depth < cam.zfar);
            }
            // The centre projects to the image centre, and +x goes right.
            let c = project(&cam, fov, w, h, cam.at).unwrap();
            assert!((c[0] - w / 2.0).abs() < 1e-2 && (c[1] - h / 2.0).abs() < 1e-2);
            let right = project(&cam, fov, w, h, [5.0, 0.0, 15.0]).unwrap();
            assert!(right[0] > c[0]);
            let top = project(&cam, fov, w, h, [0.0, 0.0, 29.0]).unwrap();
            assert!(top[1] < c[1]);
        }
    }

    #[test]
    fn picking_takes_the_point_nearest_the_ray() {
        let pts = [[0.0, 10.0, 0.0], [1.0, 10.0, 0.0], [0.0, -10.0, 0.0]];
        assert_eq!(pick(&pts, [0.0; 3], [0.02, 1.0, 0.0], 0.2), Some(0));
        assert_eq!(pick(&pts, [0.0; 3], [0.09, 1.0, 0.0], 0.2), Some(1));
        assert_eq!(pick(&pts, [0.0; 3], [1.0, 0.0, 0.0], 0.2), None);
    }

    #[test]
    fn stride_keeps_the_drawn_points_within_budget() {
        assert_eq!(stride(1000, 250_000), 1);
        assert_eq!(stride(1_000_000, 250_000), 4);
        assert_eq!(stride(1_000_001, 250_000), 5);
        assert!(1_000_001usize.div_ceil(stride(1_000_001, 250_000)) <= 250_000);
        assert_eq!(stride(10, 0), 10);
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
