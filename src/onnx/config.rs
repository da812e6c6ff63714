//! What an ONNX file's numbers mean: the sidecar settings, and where the competence statistics live.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::channels::Channels;
use crate::classifier::{softmax_rows, Output};
use crate::cloud::{Axis, Normalisation};
use crate::error::{Error, Result};

/// How the points are laid out in the input tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// `[batch, channels, points]` (PyTorch's `Conv1d` PointNets).
    #[default]
    Bcn,
    /// `[batch, points, channels]`.
    Bnc,
}

/// What the model's output holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scores {
    /// Logits (pre-softmax).
    #[default]
    Logits,
    /// Probabilities (after a softmax).
    Probabilities,
    /// Log-probabilities (after a log-softmax, as `nll_loss` training exports).
    LogProbabilities,
}

impl Scores {
    /// Rows of `classes` scores as the model gives them, turned into `output`'s in place.
    pub fn convert(self, v: &mut [f32], classes: usize, output: Output) {
        match (self, output) {
            (Scores::Logits | Scores::LogProbabilities, Output::Logit)
            | (Scores::Probabilities, Output::Probability) => {}
            (Scores::Logits | Scores::LogProbabilities, Output::Probability) => {
                softmax_rows(v, classes)
            }
            // A log-probability is a logit: its softmax is the probability.
            (Scores::Probabilities, Output::Logit) => {
                v.iter_mut().for_each(|p| *p = p.max(1e-30).ln())
            }
        }
    }
}

/// What the model scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// One score per class for the whole cloud. By default, this.
    #[default]
    Classify,
    /// One score per point and class (a segmentation network; LAS classification codes).
    Segment,
}

/// What an ONNX file cannot say about itself: `MODEL.json` beside `MODEL.onnx`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OnnxConfig {
    /// Class names in output order. Empty: `class_0`, `class_1`, … from the output's width.
    pub class_names: Vec<String>,
    /// By default, `bcn`.
    pub layout: Layout,
    /// Points per cloud, for a model whose point axis is free (a fixed one is read from the
    /// file). By default, 1024.
    pub num_points: usize,
    /// World-to-model mapping the model was trained with. By default, the unit sphere.
    pub normalisation: Normalisation,
    /// The up axis of its training scans. By default, z.
    pub up: Axis,
    /// What the network reads per point. By default, x, y, z alone.
    pub channels: Channels,
    /// Which output holds the scores. By default, 0.
    pub output: usize,
    /// What the output holds. By default, logits.
    pub scores: Scores,
    /// Whether the output scores the cloud or every point. By default, the cloud.
    pub task: Task,
    /// For `task: segment`, how the output's point and class axes are laid out: `bcn` is
    /// `[batch, classes, points]` (a `Conv1d` head), `bnc` `[batch, points, classes]`. By
    /// default, the input's layout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_layout: Option<Layout>,
    /// The scores depend only on the set of points: every aggregation over points is a maximum
    /// (PointNet, with or without T-Nets). Then a cloud may have fewer points than
    /// `num_points`, and explanations drop removed points instead of refilling the cloud. Off
    /// by default (it cannot be read from a graph); `pointlime export` sets it. A network cut at
    /// its max-pool (the exact path) is one anyway.
    #[serde(default)]
    pub set_function: bool,
}

impl Default for OnnxConfig {
    fn default() -> Self {
        OnnxConfig {
            class_names: Vec::new(),
            layout: Layout::Bcn,
            num_points: 1024,
            normalisation: Normalisation::UnitSphere,
            up: Axis::Z,
            channels: Channels::Xyz,
            output: 0,
            scores: Scores::Logits,
            task: Task::Classify,
            output_layout: None,
            set_function: false,
        }
    }
}

impl OnnxConfig {
    /// The sidecar of `model` (`model` with the extension `.json`), or the defaults when there is
    /// none.
    ///
    /// # Errors
    /// [`Error::Model`] for a sidecar that is not valid.
    pub fn for_model(model: &Path) -> Result<OnnxConfig> {
        let path = model.with_extension("json");
        if !path.is_file() {
            return Ok(OnnxConfig::default());
        }
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        serde_json::from_str(&text).map_err(|e| {
            Error::model(
                &path,
                format!(
                    "not a valid ONNX sidecar: {}",
                    crate::error::json_problem(&e)
                ),
            )
        })
    }
}

/// Where an ONNX model's competence statistics are kept: `FILE.competence.json` beside
/// `FILE.onnx`.
pub fn competence_path(model: &Path) -> PathBuf {
    model.with_extension("competence.json")
}
