//! The whole job for one cloud: validate → model frame → supervoxels → sample to the network's size
//! → explain → per-point importances and a report, and where the outputs go.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::channels::ChannelTable;
use crate::classifier::Classifier;
use std::borrow::Cow;

use crate::cloud::{Attribute, Axis, FileFormat, Frame, PointCloud, ScalarKind, MIN_POINTS};
use crate::domain::Competence;
use crate::error::{Error, Result};
use crate::explain::{
    self, attribute, Baselines, Explanation, Input, Method, Progress, ScoringPath, Targets,
};
use crate::io;
use crate::sampling::{cover_segments, draw, Sampling};
use crate::scene::{prepare, Removed, SceneConfig, SceneReport};
use crate::segment::{
    from_field, point_counts, supervoxels, Granularity, SegmentConfig, Segmentation,
};
use crate::stats::ranking;
use crate::stats::spearman;

/// Settings of one explanation run. Loads from JSON/TOML-like serde formats; CLI flags override.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExplainConfig {
    /// Explanation method. By default, LIME.
    pub method: Method,
    /// Scene steps before anything else (crop, outliers, ground, largest cluster). By default,
    /// none.
    pub scene: SceneConfig,
    /// Supervoxel settings.
    pub segments: SegmentConfig,
    /// How the network's input points are drawn. By default, at random (as in training).
    pub sampling: Sampling,
    /// Settings of the explainers (sample budget, seed, LIME's kernel and ridge, scoring). Written
    /// as `lime`, the name reports have always used.
    #[serde(rename = "lime")]
    pub explainer: explain::Config,
    /// Classes to explain.
    pub targets: Targets,
    /// Drop points with NaN/Inf coordinates instead of failing. By default, false.
    pub drop_invalid: bool,
    /// The one seed every random step derives from. By default, 0.
    pub seed: u64,
    /// The scan's up axis, turned onto the model's (`Classifier::up`) before the network sees
    /// it. By default (`None`): z for LAS and LAZ (the format's convention), the model's own up
    /// axis for PLY and text, which have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub up: Option<Axis>,
    /// Coarser levels explained beside the supervoxels: level `i` is cut with `2^i` times
    /// fewer segments (or a `2^i` times larger resolution) and nested, each supervoxel inside one
    /// coarse segment ([`Segmentation::parents_in`]). By default, 0 (none).
    pub coarser_levels: usize,
    /// Reference clouds for Expected Gradients (`--baselines`): data, not a setting, so not
    /// written in reports.
    #[serde(skip)]
    pub baselines: Baselines,
}

impl ExplainConfig {
    /// Derives each stage's seed from [`seed`](Self::seed), so that one number fixes the run.
    pub fn seeded(mut self) -> Self {
        self.segments.seed = self.seed;
        self.explainer.seed = self.seed.wrapping_add(1);
        self
    }

    /// Checks the settings once, before any work.
    ///
    /// # Errors
    /// [`Error::Config`] for values out of range or settings that do not
    /// apply to the method.
    pub fn validate(&self) -> Result<()> {
        self.scene.validate()?;
        self.segments.validate()?;
        self.explainer.validate()?;
        if self.coarser_levels > 8 {
            return Err(crate::Error::Config(format!(
                "coarser levels must be at most 8 (each halves the segments), got {}",
                self.coarser_levels
            )));
        }
        if self.method != Method::Lime && self.explainer.lime.auto_samples_max.is_some() {
            return Err(crate::Error::Config(format!(
                "auto-samples applies to LIME only, not to {}",
                self.method
            )));
        }
        Ok(())
    }
}

/// Wall time of each stage, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Timings {
    /// The scene steps (crop, outliers, ground, largest cluster); 0 when none ran.
    #[serde(default)]
    pub scene: f64,
    /// Supervoxels, the model frame and the network's input sample.
    pub segmentation: f64,
    /// Drawing masks and building perturbed clouds (or pooled features).
    pub sampling: f64,
    /// Running the classifier.
    pub inference: f64,
    /// Fitting surrogates (LIME's ridge, KernelSHAP's constrained fit); 0 for other methods.
    pub surrogate_fit: f64,
    /// The whole explanation, reading and writing files excluded.
    pub total: f64,
}

/// One segment in the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentReport {
    /// The segment's label: the value of the `segment` field of its points.
    pub id: usize,
    /// Mean position, world coordinates.
    pub centroid: [f64; 3],
    /// Points of the original cloud in the segment.
    pub points: usize,
    /// Of those, points among the network's input sample.
    pub sampled_points: usize,
    /// Coefficient per explained class, in the order of `explanations`.
    pub coefficients: Vec<f64>,
    /// With segments from a field (`--segments-from`), the field's value on this segment's
    /// points: its organ, class or instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_value: Option<f64>,
}

/// One coarser level of an explanation across scales.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LevelReport {
    /// 1 for the first coarser level, and so on; level 0 is the report's own `segments`.
    pub level: usize,
    /// Segments at this level.
    pub segments: usize,
    /// For each segment of level 0 (the `segment` field of the points), its segment here.
    pub parent: Vec<usize>,
    /// Per explained class, in the order of `explanations`: one value per segment of this level,
    /// by the same method.
    pub coefficients: Vec<Vec<f64>>,
    /// Per explained class: Spearman correlation between this level's values and level 0's
    /// summed over each coarse segment's supervoxels (`null` when either side is constant). High
    /// when the fine explanation, aggregated, ranks the coarse parts as the coarse one does.
    pub rank_correlation: Vec<Option<f64>>,
    /// Seconds to segment and explain this level.
    pub seconds: f64,
}

/// The report format's version, which every report carries as `schema_version`: a reader refuses
/// a report of a later version in one line instead of misreading it. Reports written before the
/// field existed have the same layout and read as version 1.
pub const REPORT_SCHEMA_VERSION: u32 = 1;

fn unversioned_report() -> u32 {
    1
}

/// The JSON report of one explained cloud.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The format's version ([`REPORT_SCHEMA_VERSION`]).
    #[serde(default = "unversioned_report")]
    pub schema_version: u32,
    /// The scan, as given on the command line (batch: relative to the input directory).
    pub input: String,
    /// The model, as given (a directory).
    pub model: String,
    /// The model's classes; indices elsewhere in the report refer to this list.
    pub class_names: Vec<String>,
    /// Class probabilities of the unperturbed cloud.
    pub probabilities: Vec<f32>,
    /// Index of the most probable class (ties to the lower index).
    pub predicted: usize,
    /// Its name.
    pub predicted_name: String,
    /// Points of the scan that were explained (after any dropped ones).
    pub points: usize,
    /// Points dropped for NaN/Inf coordinates (with `drop_invalid`).
    pub dropped_invalid: usize,
    /// What the scene steps removed (all zero when none ran): `points` is its `kept_points`.
    #[serde(default)]
    pub scene: SceneReport,
    /// Segments that had no point among the network's input draws and were given one (a draw of
    /// the most-drawn segment moved to them), so that every importance is about points the
    /// network saw.
    #[serde(default)]
    pub covered_segments: usize,
    /// Segments that could still not be seen (more segments than input points) and were merged
    /// into the segment of the nearest seen point.
    #[serde(default)]
    pub merged_unseen_segments: usize,
    /// How world coordinates were mapped to the model's frame.
    pub frame: Frame,
    /// Every setting of the run: given back to `--config`, it reproduces the explanation.
    pub settings: ExplainConfig,
    /// One explanation per explained class; the first is the one in the `importance` field.
    pub explanations: Vec<Explanation>,
    /// Every segment, by id.
    pub segments: Vec<SegmentReport>,
    /// Coarser levels (`coarser_levels`), finest first; empty when none were asked for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub levels: Vec<LevelReport>,
    /// How well the scan fits what the model was trained on (see [`Classifier::competence`]); absent
    /// for a model without recorded statistics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub competence: Option<Competence>,
    /// Where the time went.
    pub timings: Timings,
    /// How much classifier work the explanation took.
    pub cost: ReportCost,
}

impl Report {
    /// Reads a report as `explain` writes it, or the `report` inside a `batch` file's JSON: what
    /// the viewer opens.
    ///
    /// # Errors
    /// [`Error::Format`] naming `path` for text that is not JSON or not a report.
    pub fn from_json(text: &str, path: &Path) -> Result<Report> {
        let mut value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            Error::format(
                path,
                format!("not JSON: {}", crate::error::json_problem(&e)),
            )
        })?;
        if let Some(inner) = value.get_mut("report") {
            value = inner.take();
        }
        let report: Report = serde_json::from_value(value).map_err(|e| {
            Error::format(
                path,
                format!("not a pointlime report: {}", crate::error::json_problem(&e)),
            )
        })?;
        report.check_version(path)?;
        Ok(report)
    }

    /// Refuses a report of a later format than this build reads.
    ///
    /// # Errors
    /// [`Error::Format`] naming `path`.
    pub fn check_version(&self, path: &Path) -> Result<()> {
        if self.schema_version > REPORT_SCHEMA_VERSION {
            return Err(Error::format(
                path,
                format!(
                    "a report of schema version {}, written by a newer pointlime; this one reads up to version {REPORT_SCHEMA_VERSION}",
                    self.schema_version
                ),
            ));
        }
        Ok(())
    }
}

/// Classifier work behind one explanation, as the report gives it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReportCost {
    /// How the perturbed samples were scored.
    pub scoring: ScoringPath,
    /// Points through the per-point layers.
    pub points_evaluated: u64,
    /// Clouds (or pooled features) through the head.
    pub clouds_evaluated: u64,
}

/// An explained cloud: the report, plus what is needed to write per-point values.
#[derive(Debug, Clone)]
pub struct Explained {
    /// The JSON report.
    pub report: Report,
    pub segmentation: Segmentation,
    /// The gradient methods' per-point values on the explained points, one vector per
    /// explanation: the sum over the point's copies in the network's input, NaN for a point the
    /// network did not see. Empty for the other methods.
    pub point_values: Vec<Vec<f64>>,
    /// Why each point of the scan was left out, when scene steps ran (empty otherwise); the
    /// segmentation and point values are then over the kept points only, in order.
    pub removed: Vec<Removed>,
    /// The network's input points (model frame) the explanation was made from, and their extra
    /// channels ([`ModelInput::channels`]).
    pub input_points: Vec<[f32; 3]>,
    pub input_channels: Vec<f32>,
}

impl Explained {
    /// The cloud with `importance` (f32, first explained class), one `importance_<class>` per
    /// further class, and `segment` (u32) attributes added, and for the per-point methods
    /// (gradient, saliency, cam, critical) `point_importance` (and `point_importance_<class>`)
    /// with each point's own value; existing attributes of those names are replaced, so
    /// re-explaining an explained file works.
    ///
    /// When scene steps removed points, every point of `cloud` is still written: removed points
    /// have NaN importances, segment [`NO_SEGMENT`], and a `removed` (u8) field gives the reason
    /// ([`Removed`] codes: 0 kept, 1 cropped, 2 outlier, 3 ground, 4 detached).
    ///
    /// `cloud` is taken, not copied: a 5 M-point scan's attributes are hundreds of MB.
    pub fn annotate(&self, cloud: PointCloud) -> PointCloud {
        let mut out = cloud;
        let mut new = Vec::new();
        let name = |base: &str, i: usize, e: &Explanation| field_name(base, i, &e.target_name);
        // Values on the explained points, spread onto the whole scan.
        let spread = |values: Vec<f64>, missing: f64| -> Vec<f64> {
            if self.removed.is_empty() {
                return values;
            }
            let mut it = values.into_iter();
            self.removed
                .iter()
                .map(|&r| match r {
                    Removed::Kept => it.next().unwrap_or(missing),
                    _ => missing,
                })
                .collect()
        };
        for (i, e) in self.report.explanations.iter().enumerate() {
            new.push(Attribute {
                name: name("importance", i, e),
                kind: ScalarKind::F32,
                values: spread(
                    e.per_point(&self.segmentation.labels)
                        .into_iter()
                        .map(f64::from)
                        .collect(),
                    f64::NAN,
                ),
            });
        }
        for (i, (e, values)) in self
            .report
            .explanations
            .iter()
            .zip(&self.point_values)
            .enumerate()
        {
            new.push(Attribute {
                name: name("point_importance", i, e),
                kind: ScalarKind::F32,
                values: spread(values.clone(), f64::NAN),
            });
        }
        new.push(Attribute {
            name: "segment".into(),
            kind: ScalarKind::U32,
            values: spread(
                self.segmentation.labels.iter().map(|&l| l as f64).collect(),
                NO_SEGMENT as f64,
            ),
        });
        if !self.removed.is_empty() {
            new.push(Attribute {
                name: "removed".into(),
                kind: ScalarKind::U8,
                values: self.removed.iter().map(|&r| r as u8 as f64).collect(),
            });
        }
        out.attributes
            .retain(|a| !new.iter().any(|n| n.name == a.name));
        out.attributes.extend(new);
        out
    }
}

/// The `segment` value of points that scene steps removed: no segment.
pub const NO_SEGMENT: u32 = u32::MAX;

/// The name of the per-point field `base` (`importance`, `point_importance`) for the `i`-th
/// explained class: `base` for the first, `base_<class>` (lower case, other than ASCII letters and
/// digits replaced by `_`) for the others. Readers of explained files (the viewer) use it too.
pub fn field_name(base: &str, i: usize, class_name: &str) -> String {
    if i == 0 {
        base.to_string()
    } else {
        format!("{base}_{}", sanitize(class_name))
    }
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// The scan's up axis under `config` (see [`ExplainConfig::up`]).
pub fn scan_up(cloud: &PointCloud, classifier: &dyn Classifier, config: &ExplainConfig) -> Axis {
    config.up.unwrap_or_else(|| match cloud.source.format {
        FileFormat::Las | FileFormat::Laz => Axis::Z,
        _ => classifier.up(),
    })
}

/// The model frame of `cloud` for `classifier`: its normalisation, and the scan's up axis turned
/// onto the model's.
fn model_frame(cloud: &PointCloud, classifier: &dyn Classifier, config: &ExplainConfig) -> Frame {
    Frame::fit(&cloud.positions, classifier.normalisation())
        .with_up(scan_up(cloud, classifier, config), classifier.up())
}

/// The cloud's points around the frame's centre, in f32: what segmentation and sampling work on,
/// in the file's units (so a seed resolution means metres for LiDAR).
fn local_points(cloud: &PointCloud, frame: &Frame) -> Vec<[f32; 3]> {
    cloud
        .positions
        .iter()
        .map(|p| {
            [
                (p[0] - frame.center[0]) as f32,
                (p[1] - frame.center[1]) as f32,
                (p[2] - frame.center[2]) as f32,
            ]
        })
        .collect()
}

/// The network's N input points drawn from `local` (the cloud around its frame's centre) by the
/// configured sampling, before any segment is covered.
fn draw_input(local: &[[f32; 3]], classifier: &dyn Classifier, config: &ExplainConfig) -> Vec<u32> {
    draw(
        local,
        classifier.input_points(),
        config.seed,
        config.sampling,
    )
}

/// The points of `cloud` at `index`, in the model frame.
fn model_points(cloud: &PointCloud, frame: &Frame, index: &[u32]) -> Vec<[f32; 3]> {
    index
        .iter()
        .map(|&i| frame.to_model(&cloud.positions[i as usize]))
        .collect()
}

/// A cloud made ready for the explainers: the network's input points in the model frame and
/// their supervoxels, with what is needed to map results back to the cloud.
#[derive(Debug, Clone)]
pub struct ModelInput {
    pub frame: Frame,
    /// The cloud's index of each input point (a point may be drawn more than once).
    pub index: Vec<u32>,
    /// Supervoxels of every point of the cloud.
    pub segmentation: Segmentation,
    /// The network's input points (model frame).
    pub points: Vec<[f32; 3]>,
    /// The supervoxel of each input point.
    pub labels: Vec<u32>,
    /// Segments given a draw by [`cover_segments`].
    pub covered_segments: usize,
    /// Segments merged into a seen neighbour ([`Segmentation::merge_unseen`]).
    pub merged_unseen_segments: usize,
    pub segmentation_seconds: f64,
    /// With segments from a field (`segments.from_field`), each segment's value of the field.
    pub segment_values: Option<Vec<f64>>,
    /// The extra channels of each input point the classifier reads
    /// ([`Classifier::channels`]), row-major; empty when it reads x, y, z alone.
    pub channels: Vec<f32>,
}

/// A classifier as it reads one scan: itself, or bound to the extra channels of the scan's input
/// points ([`Classifier::with_channels`]).
pub enum Reading<'a> {
    /// The classifier reads positions alone.
    Plain(&'a dyn Classifier),
    /// The classifier with the scan's channels.
    Bound(Box<dyn Classifier + 'a>),
}

impl<'a> std::ops::Deref for Reading<'a> {
    type Target = dyn Classifier + 'a;

    fn deref(&self) -> &Self::Target {
        match self {
            Reading::Plain(c) => *c,
            Reading::Bound(b) => b.as_ref(),
        }
    }
}

/// `classifier` reading `channels` (row-major, [`Classifier::channels`]'s width) as the extra
/// channels of `points`.
pub fn reading<'a>(
    classifier: &'a dyn Classifier,
    points: &[[f32; 3]],
    channels: &[f32],
) -> Reading<'a> {
    let width = classifier.channels().extra();
    if width == 0 || channels.is_empty() {
        return Reading::Plain(classifier);
    }
    let table = ChannelTable::new(points, channels.to_vec(), width);
    match classifier.with_channels(table) {
        Some(bound) => Reading::Bound(bound),
        None => Reading::Plain(classifier),
    }
}

impl ModelInput {
    /// `classifier` as it reads this input (see [`reading`]).
    pub fn reading<'a>(&self, classifier: &'a dyn Classifier) -> Reading<'a> {
        reading(classifier, &self.points, &self.channels)
    }

    /// The explainers' view of it.
    pub fn input(&self) -> Input<'_> {
        Input {
            points: &self.points,
            labels: &self.labels,
            n_segments: self.segmentation.count,
            scale: self.frame.scale,
            baselines: &[],
        }
    }
}

/// Segments a validated cloud and draws the network's input from it, as [`explain_cloud`] does
/// (after its scene steps): draws by `config.sampling`, then every segment given a draw
/// ([`cover_segments`]), and segments that still have none merged into a seen neighbour.
///
/// # Errors
/// Segmentation configuration errors.
pub fn model_input_with_segments(
    cloud: &PointCloud,
    classifier: &dyn Classifier,
    config: &ExplainConfig,
) -> Result<ModelInput> {
    let start = Instant::now();
    let frame = model_frame(cloud, classifier, config);
    let local = local_points(cloud, &frame);
    let (mut segmentation, values) = match &config.segments.from_field {
        Some(field) => {
            let attribute = cloud.attribute(field).ok_or_else(|| {
                Error::Config(format!(
                    "no per-point field {field:?} to take segments from; the scan has {}",
                    attribute_names(cloud)
                ))
            })?;
            let (s, v) = from_field(&local, &attribute.values, config.segments.min_part_points);
            (s, Some(v))
        }
        None => (supervoxels(&local, &config.segments)?, None),
    };
    let mut index = draw_input(&local, classifier, config);
    let covered_segments = cover_segments(
        &mut index,
        &segmentation.labels,
        segmentation.count,
        config.seed,
    );
    let before = values.as_ref().map(|_| segmentation.labels.clone());
    let merged_unseen_segments = segmentation.merge_unseen(&local, &index);
    // Merging renumbers segments: each keeps the value of the segment its points came from.
    let segment_values = values.map(|values| {
        let mut out = vec![f64::NAN; segmentation.count];
        for (&new, &old) in segmentation.labels.iter().zip(before.iter().flatten()) {
            let slot = &mut out[new as usize];
            if slot.is_nan() {
                *slot = values[old as usize];
            }
        }
        out
    });
    let segmentation_seconds = start.elapsed().as_secs_f64();
    let points = model_points(cloud, &frame, &index);
    let channels = classifier.channels().of(cloud, &frame, &index, &points)?;
    let labels = index
        .iter()
        .map(|&i| segmentation.labels[i as usize])
        .collect();
    Ok(ModelInput {
        channels,
        frame,
        index,
        segmentation,
        points,
        labels,
        covered_segments,
        merged_unseen_segments,
        segmentation_seconds,
        segment_values,
    })
}

/// The names of a scan's per-point fields, for messages: `none` when it has none.
fn attribute_names(cloud: &PointCloud) -> String {
    if cloud.attributes.is_empty() {
        return "none".into();
    }
    cloud
        .attributes
        .iter()
        .map(|a| a.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The network's input for one validated cloud, after the scene steps of `config`, drawn as
/// [`explain_cloud`] draws it before it makes sure every segment is seen (so without segmenting:
/// the two can differ in a few of the N points). Model frame.
///
/// # Errors
/// [`Error::Scene`] when the scene steps leave too few points.
pub fn network_input(
    cloud: &PointCloud,
    input: &Path,
    classifier: &dyn Classifier,
    config: &ExplainConfig,
) -> Result<Vec<[f32; 3]>> {
    Ok(network_input_channels(cloud, input, classifier, config)?.0)
}

/// Reference clouds for Expected Gradients: up to `count` scans of the training split of `data`
/// (any layout [`Dataset::open_any`](crate::dataset::Dataset::open_any) reads; every scan when it
/// has no training split), chosen by `config.seed`, each drawn into its own model frame as
/// [`network_input`] draws a scan.
///
/// # Errors
/// The dataset's and each scan's read errors, naming the file.
pub fn load_baselines(
    data: &Path,
    classifier: &dyn Classifier,
    config: &ExplainConfig,
    options: &io::ReadOptions,
    count: usize,
) -> Result<Baselines> {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    let dataset = crate::dataset::Dataset::open_any(data)?;
    let mut items = dataset.split(crate::dataset::Split::Train);
    if items.is_empty() {
        items = dataset.items.iter().collect();
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(config.seed ^ 0xba5e);
    items.shuffle(&mut rng);
    items.truncate(count);
    let clouds = items
        .iter()
        .map(|item| {
            let mut cloud = io::read_with(&item.path, options.clone())?;
            cloud.validate(&item.path, true)?;
            network_input(&cloud, &item.path, classifier, config)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Baselines(std::sync::Arc::new(clouds)))
}

/// [`network_input`], and the extra channels of its points that the classifier reads (empty when
/// it reads none; see [`reading`]).
///
/// # Errors
/// [`Error::Scene`] when the scene steps leave too few points; [`Error::Config`] when the scan
/// lacks the fields the channels need.
pub fn network_input_channels(
    cloud: &PointCloud,
    input: &Path,
    classifier: &dyn Classifier,
    config: &ExplainConfig,
) -> Result<(Vec<[f32; 3]>, Vec<f32>)> {
    if let Some(m) = classifier.channels().missing(cloud) {
        return Err(Error::format(input, m));
    }
    let (kept, _, _) = scene_cloud(cloud, input, config)?;
    let frame = model_frame(&kept, classifier, config);
    let local = local_points(&kept, &frame);
    let index = draw_input(&local, classifier, config);
    let points = model_points(&kept, &frame, &index);
    let channels = classifier.channels().of(&kept, &frame, &index, &points)?;
    Ok((points, channels))
}

/// A cloud's class probabilities, and the model's competence on it.
#[derive(Debug, Clone, PartialEq)]
pub struct Classified {
    pub probabilities: Vec<f32>,
    /// `None` for a model without recorded statistics.
    pub competence: Option<Competence>,
}

/// Classifies one validated cloud from its [`network_input`].
///
/// # Errors
/// Classifier errors; [`Error::Scene`] when the scene steps leave too few points.
pub fn classify_cloud(
    cloud: &PointCloud,
    input: &Path,
    classifier: &dyn Classifier,
    config: &ExplainConfig,
) -> Result<Classified> {
    let (points, channels) = network_input_channels(cloud, input, classifier, config)?;
    let classifier = &*reading(classifier, &points, &channels);
    Ok(Classified {
        probabilities: classifier
            .predict_proba(&[&points])?
            .pop()
            .unwrap_or_default(),
        competence: classifier.competence(&points)?,
    })
}

/// The points the scene steps of `config` keep (the cloud itself when none run), each point's
/// removal code (empty when none run) and the report.
///
/// # Errors
/// [`Error::Scene`] when the steps leave fewer than [`MIN_POINTS`] points.
pub fn scene_cloud<'a>(
    cloud: &'a PointCloud,
    input: &Path,
    config: &ExplainConfig,
) -> Result<(Cow<'a, PointCloud>, Vec<Removed>, SceneReport)> {
    if !config.scene.is_active() {
        let report = SceneReport {
            input_points: cloud.len(),
            kept_points: cloud.len(),
            ..Default::default()
        };
        return Ok((Cow::Borrowed(cloud), Vec::new(), report));
    }
    let (removed, report) = prepare(&cloud.positions, &config.scene, config.seed);
    if report.kept_points < MIN_POINTS {
        return Err(Error::Scene {
            path: input.into(),
            message: format!(
                "the scene steps left {} of {} points (cropped {}, outliers {}, ground {}, \
                 detached {}); at least {MIN_POINTS} are needed",
                report.kept_points,
                report.input_points,
                report.cropped,
                report.outliers,
                report.ground,
                report.detached
            ),
        });
    }
    let kept = |i: usize| removed[i] == Removed::Kept;
    let positions = (0..cloud.len())
        .filter(|&i| kept(i))
        .map(|i| cloud.positions[i])
        .collect();
    let mut kept_cloud = PointCloud::from_positions(positions, cloud.source.format);
    // Only the field segments come from travels with the kept points: a phone scan's other
    // attributes would be copied for nothing.
    if let Some(a) = config
        .segments
        .from_field
        .as_ref()
        .and_then(|f| cloud.attribute(f))
    {
        kept_cloud.attributes.push(Attribute {
            name: a.name.clone(),
            kind: a.kind,
            values: (0..cloud.len())
                .filter(|&i| kept(i))
                .map(|i| a.values[i])
                .collect(),
        });
    }
    Ok((Cow::Owned(kept_cloud), removed, report))
}

/// Explains one cloud. `cloud` must already be validated ([`PointCloud::validate`]). The scene
/// steps of `config` run first; the explanation is of the points they keep.
///
/// # Errors
/// Configuration and classifier errors; [`Error::Scene`] when the scene steps leave too few
/// points.
pub fn explain_cloud(
    cloud: &PointCloud,
    input: &Path,
    classifier: &dyn Classifier,
    model_name: &str,
    config: &ExplainConfig,
    dropped_invalid: usize,
    progress: Option<&Progress>,
) -> Result<Explained> {
    config.validate()?;
    if let Some(field) = &config.segments.from_field {
        if cloud.attribute(field).is_none() {
            return Err(Error::format(
                input,
                format!(
                    "no per-point field {field:?} to take segments from; the scan has {}",
                    attribute_names(cloud)
                ),
            ));
        }
    }
    if let Some(m) = classifier.channels().missing(cloud) {
        return Err(Error::format(input, m));
    }
    let start = Instant::now();
    let (kept, removed, scene) = scene_cloud(cloud, input, config)?;
    let t_scene = start.elapsed().as_secs_f64();
    let cloud = kept.as_ref();
    let model_input = model_input_with_segments(cloud, classifier, config)?;
    let reading = model_input.reading(classifier);
    let classifier = &*reading;
    let competence = classifier.competence(&model_input.points)?;
    let result = attribute(
        config.method,
        classifier,
        &model_input.input().with_baselines(&config.baselines),
        &config.targets,
        &config.explainer,
        progress,
    )?;
    let levels = coarser_levels(
        cloud,
        classifier,
        config,
        &model_input,
        &result.explanations,
    )?;
    let ModelInput {
        frame,
        index,
        segmentation,
        labels,
        covered_segments,
        merged_unseen_segments,
        segmentation_seconds: t_segment,
        segment_values,
        points: input_points,
        channels: input_channels,
        ..
    } = model_input;

    let sizes = segmentation.sizes();
    let sampled = point_counts(&labels, segmentation.count);
    let centroids = segmentation.centroids(&cloud.positions);
    let segments = (0..segmentation.count)
        .map(|id| SegmentReport {
            id,
            centroid: centroids[id],
            points: sizes[id],
            sampled_points: sampled[id],
            coefficients: result
                .explanations
                .iter()
                .map(|e| e.coefficients[id])
                .collect(),
            field_value: segment_values.as_ref().map(|v| v[id]),
        })
        .collect();
    let predicted = ranking(&result.probabilities).first().copied().unwrap_or(0);
    let report = Report {
        schema_version: REPORT_SCHEMA_VERSION,
        input: input.display().to_string(),
        model: model_name.to_string(),
        class_names: classifier.class_names().to_vec(),
        predicted,
        predicted_name: classifier.class_names()[predicted].clone(),
        probabilities: result.probabilities,
        points: cloud.len(),
        dropped_invalid,
        scene,
        covered_segments,
        merged_unseen_segments,
        frame,
        settings: config.clone(),
        explanations: result.explanations,
        segments,
        levels,
        competence,
        cost: ReportCost {
            scoring: result.cost.path,
            points_evaluated: result.cost.points_evaluated,
            clouds_evaluated: result.cost.clouds_evaluated,
        },
        timings: Timings {
            scene: t_scene,
            segmentation: t_segment,
            sampling: result.cost.sampling_seconds,
            inference: result.cost.inference_seconds,
            surrogate_fit: result.cost.fit_seconds,
            total: start.elapsed().as_secs_f64(),
        },
    };
    let point_values = result
        .per_point
        .iter()
        .map(|values| {
            let mut on_cloud = vec![f64::NAN; cloud.len()];
            for (&i, v) in index.iter().zip(values) {
                let slot = &mut on_cloud[i as usize];
                *slot = if slot.is_nan() { *v } else { *slot + v };
            }
            on_cloud
        })
        .collect();
    Ok(Explained {
        report,
        segmentation,
        point_values,
        removed,
        input_points,
        input_channels,
    })
}

/// The coarser levels of `config` for an explained cloud: each cut anew from the same points,
/// nested into the supervoxels of `model_input`, and explained by the same method as
/// `explanations` for their classes.
///
/// # Errors
/// Segmentation and explainer errors.
pub fn coarser_levels(
    cloud: &PointCloud,
    classifier: &dyn Classifier,
    config: &ExplainConfig,
    model_input: &ModelInput,
    explanations: &[Explanation],
) -> Result<Vec<LevelReport>> {
    if config.coarser_levels == 0 {
        return Ok(Vec::new());
    }
    let local = local_points(cloud, &model_input.frame);
    let targets = Targets::Classes(explanations.iter().map(|e| e.target).collect());
    let fine = &model_input.segmentation;
    let mut levels = Vec::new();
    for level in 1..=config.coarser_levels {
        let start = Instant::now();
        let factor = 1usize << level;
        let mut segments = config.segments.clone();
        segments.target = match segments.target {
            Granularity::Count(k) => Granularity::Count((k / factor).max(1)),
            Granularity::Resolution(r) => Granularity::Resolution(r * factor as f64),
        };
        let coarse = supervoxels(&local, &segments)?;
        let (parent, m) = fine.parents_in(&coarse);
        let labels: Vec<u32> = model_input
            .labels
            .iter()
            .map(|&l| parent[l as usize])
            .collect();
        let input = Input {
            labels: &labels,
            n_segments: m,
            ..model_input.input()
        }
        .with_baselines(&config.baselines);
        let method = explanations.first().map_or(config.method, |e| e.method);
        let result = attribute(
            method,
            classifier,
            &input,
            &targets,
            &config.explainer,
            None,
        )?;
        let coefficients: Vec<Vec<f64>> = result
            .explanations
            .into_iter()
            .map(|e| e.coefficients)
            .collect();
        let rank_correlation = explanations
            .iter()
            .zip(&coefficients)
            .map(|(e, coarse)| {
                let mut summed = vec![0.0; m];
                for (f, v) in e.coefficients.iter().enumerate() {
                    summed[parent[f] as usize] += v;
                }
                spearman(&summed, coarse)
            })
            .collect();
        levels.push(LevelReport {
            level,
            segments: m,
            parent: parent.into_iter().map(|p| p as usize).collect(),
            coefficients,
            rank_correlation,
            seconds: start.elapsed().as_secs_f64(),
        });
        if m == 1 {
            break;
        }
    }
    Ok(levels)
}

/// The extension an explained copy of `input` is written with: LAS and LAZ keep theirs, every
/// other format (PLY, and text, which cannot hold the new fields) becomes PLY.
pub fn explained_extension(input: &Path) -> &'static str {
    match io::format_of(input) {
        Ok(FileFormat::Las) => "las",
        Ok(FileFormat::Laz) => "laz",
        _ => "ply",
    }
}

/// Where `pointlime explain` writes the explained scan by default: beside the input, as
/// `STEM.explained.EXT` ([`explained_extension`]).
pub fn default_output(input: &Path) -> PathBuf {
    let stem = input.file_stem().unwrap_or_default().to_string_lossy();
    input.with_file_name(format!("{stem}.explained.{}", explained_extension(input)))
}

/// Where the report of an explained scan goes by default: beside it, with `.json`.
pub fn default_report(output: &Path) -> PathBuf {
    output.with_extension("json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_are_named_beside_the_input_keeping_las_and_laz() {
        assert_eq!(
            default_output(Path::new("d/scan.laz")),
            Path::new("d/scan.explained.laz")
        );
        assert_eq!(
            default_output(Path::new("scan.LAS")),
            Path::new("scan.explained.las")
        );
        assert_eq!(
            default_output(Path::new("d/tree.xyz")),
            Path::new("d/tree.explained.ply")
        );
        assert_eq!(explained_extension(Path::new("x.pts")), "ply");
        assert_eq!(
            default_report(Path::new("d/scan.explained.laz")),
            Path::new("d/scan.explained.json")
        );
    }
}
