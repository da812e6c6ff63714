//! The JSON report of one explained cloud, and its format's version.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::config::ExplainConfig;
use super::region::RegionSpec;
use crate::cloud::Frame;
use crate::domain::Competence;
use crate::error::{Error, Result};
use crate::explain::{Explanation, ScoringPath};
use crate::scene::SceneReport;

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

/// One region of a per-point model's explanation (see [`RegionSpec`]), in the order of
/// `explanations`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegionReport {
    /// Its name in the output fields: `importance_NAME`.
    pub name: String,
    /// As given, or `class=C` for one of the default regions.
    pub spec: RegionSpec,
    /// Its points among the network's input.
    pub points: usize,
    /// The class explained.
    pub target: usize,
    /// Its name.
    pub target_name: String,
    /// Each class's mean probability over the region's points, unperturbed.
    pub probabilities: Vec<f32>,
    /// For `point=I`: how far (file units) the input point standing for point I is from it; 0
    /// when the network saw the point itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stand_in_distance: Option<f64>,
}

/// A per-point model's predictions on the network's input points against the scan's own classes
/// (`--labels`); points whose class the model does not have are left out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelScores {
    /// The labels as given.
    pub labels: String,
    /// The input points with a class the model has.
    pub points: usize,
    /// The share of them the model gives their class.
    pub overall_accuracy: f64,
    /// Each class's intersection over union (`None` for a class neither present nor predicted).
    pub iou: Vec<Option<f64>>,
    /// Their mean over the classes that have one.
    pub miou: f64,
}

/// The report format's version, which every report carries as `schema_version`: a reader refuses
/// a report of a later version in one line instead of misreading it. Reports written before the
/// field existed read as version 1. Version 2 nests each method's settings under its name and an
/// explanation's extra results under `payload`; [`legacy`](super::legacy) reads version 1.
pub const REPORT_SCHEMA_VERSION: u32 = 2;

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
    #[serde(deserialize_with = "super::legacy::settings")]
    pub settings: ExplainConfig,
    /// One explanation per explained class, or per region of a per-point model; the first is
    /// the one in the `importance` field (see [`explanation_field`](super::explanation_field)).
    #[serde(deserialize_with = "super::legacy::explanations")]
    pub explanations: Vec<Explanation>,
    /// For a per-point model, the region of each explanation; empty for a model of whole clouds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<RegionReport>,
    /// For a per-point model, each class's share of the network's input points as it labels
    /// them; empty for a model of whole clouds. Its `probabilities` are then each class's mean
    /// probability over the input points.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub predicted_shares: Vec<f64>,
    /// A per-point model's classes scored against the scan's own (`--labels`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_scores: Option<LabelScores>,
    /// Every segment, by id.
    pub segments: Vec<SegmentReport>,
    /// Coarser levels (`coarser_levels`), finest first; empty when none were asked for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub levels: Vec<LevelReport>,
    /// How well the scan fits what the model was trained on (see
    /// [`Classifier::competence`](crate::classifier::Classifier::competence)); absent
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportCost {
    /// What ran the network ([`Classifier::runtime`](crate::Classifier::runtime)); absent in
    /// reports from before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    /// How the perturbed samples were scored.
    pub scoring: ScoringPath,
    /// Points through the per-point layers.
    pub points_evaluated: u64,
    /// Clouds (or pooled features) through the head.
    pub clouds_evaluated: u64,
    /// The process's peak resident memory when the explanation ended, in bytes (Linux's
    /// `VmHWM`: every scan the process handled before counts too; absent elsewhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_memory_bytes: Option<u64>,
}

/// The process's peak resident memory so far (`VmHWM` of `/proc/self/status`), where Linux
/// gives it.
pub fn peak_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
