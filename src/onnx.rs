//! The user's own classifier, exported to ONNX, run with tract (pure Rust) behind the
//! [`Classifier`] interface. tract is named in this module only.
//!
//! An ONNX file says nothing of what its numbers mean; a sidecar JSON (`MODEL.json` beside
//! `MODEL.onnx`, or the same settings given as flags) says it: the class names, the input layout,
//! how many points the network takes, the normalisation it was trained with, and which output
//! holds the scores, as logits, probabilities or log-probabilities. The defaults are those of the
//! common PyTorch PointNet export: `[B, 3, N]`, unit sphere, logits, the first output.
//!
//! Plans (tract's optimised, runnable graphs) are built once per batch size and kept; batches of
//! a call run in parallel on the shared thread pool.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::DimLike;
use tract_onnx::tract_hir::infer::Factoid;

use crate::classifier::{softmax_rows, Classifier, Output};
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
    /// Which output holds the scores. By default, 0.
    pub output: usize,
    /// What the output holds. By default, logits.
    pub scores: Scores,
}

impl Default for OnnxConfig {
    fn default() -> Self {
        OnnxConfig {
            class_names: Vec::new(),
            layout: Layout::Bcn,
            num_points: 1024,
            normalisation: Normalisation::UnitSphere,
            up: Axis::Z,
            output: 0,
            scores: Scores::Logits,
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
        serde_json::from_str(&text)
            .map_err(|e| Error::model(&path, format!("not a valid ONNX sidecar: {e}")))
    }
}

/// Batches of more clouds than this are split, and the parts run in parallel.
const BATCH: usize = 32;

/// An ONNX point-cloud classifier.
pub struct OnnxClassifier {
    path: PathBuf,
    config: OnnxConfig,
    /// The file as tract reads it, before any shape is fixed.
    model: InferenceModel,
    /// Points per cloud.
    points: usize,
    /// Plans by batch size.
    plans: Mutex<HashMap<usize, Arc<TypedRunnableModel>>>,
}

impl std::fmt::Debug for OnnxClassifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxClassifier")
            .field("path", &self.path)
            .field("classes", &self.config.class_names)
            .finish()
    }
}

/// tract's error and its causes on one line.
fn words(e: &TractError) -> String {
    e.chain()
        .map(|c| c.to_string().replace('\n', " "))
        .collect::<Vec<_>>()
        .join(": ")
}

/// The input's dimensions as tract reads them from the file: a number, or `None` for a named
/// (free) axis.
fn input_dims(model: &InferenceModel) -> TractResult<Vec<Option<usize>>> {
    let fact = model.input_fact(0)?;
    let shape = fact
        .shape
        .dims()
        .map(|d| d.concretize().and_then(|d| d.to_usize().ok()))
        .collect();
    Ok(shape)
}

impl OnnxClassifier {
    /// Loads `path` with `config` and runs it once on a fixed cloud, so that a file tract cannot
    /// run, or whose output does not match the class names, fails here in one line.
    ///
    /// # Errors
    /// [`Error::Model`] naming the file and the problem.
    pub fn load(path: &Path, mut config: OnnxConfig) -> Result<OnnxClassifier> {
        let bad = |m: String| Error::model(path, m);
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let model = tract_onnx::onnx()
            .model_for_read(&mut bytes.as_slice())
            .map_err(|e| bad(format!("cannot read as ONNX: {}", words(&e))))?;
        if model.inputs.len() != 1 {
            return Err(bad(format!(
                "the model takes {} inputs; pointlime gives one point tensor",
                model.inputs.len()
            )));
        }
        let dims = input_dims(&model).map_err(|e| bad(words(&e)))?;
        if !dims.is_empty() && dims.len() != 3 {
            return Err(bad(format!(
                "its input has {} dimensions; a point tensor has 3 ([B, 3, N] or [B, N, 3])",
                dims.len()
            )));
        }
        let (channels, n) = match (config.layout, dims.as_slice()) {
            (Layout::Bcn, [_, c, n]) => (*c, *n),
            (Layout::Bnc, [_, n, c]) => (*c, *n),
            _ => (None, None),
        };
        // A free channel axis beside a point axis of exactly 3 is the other layout, read the
        // wrong way round (it would run, on clouds of 3 points).
        if channels.is_none() && n == Some(3) {
            return Err(bad(format!(
                "its input is {} with a free point axis; set \"layout\": \"{}\" in the sidecar",
                match config.layout {
                    Layout::Bcn => "[B, N, 3]",
                    Layout::Bnc => "[B, 3, N]",
                },
                match config.layout {
                    Layout::Bcn => "bnc",
                    Layout::Bnc => "bcn",
                }
            )));
        }
        if let Some(c) = channels.filter(|&c| c != 3) {
            return Err(bad(format!(
                "the input takes {c} channels per point in layout {:?}; pointlime gives x, y, z \
                 (a wrong \"layout\" in the sidecar?)",
                config.layout
            )));
        }
        let points = n.unwrap_or(config.num_points);
        if points == 0 || points > 1 << 20 {
            return Err(bad(format!("{points} points per cloud is out of range")));
        }
        let classifier = OnnxClassifier {
            path: path.to_path_buf(),
            model,
            points,
            plans: Mutex::new(HashMap::new()),
            config: config.clone(),
        };
        // One run: the output's width, and a first plan.
        let probe: Vec<[f32; 3]> = (0..points)
            .map(|i| {
                let t = (i as f32 + 0.5) / points as f32;
                let (z, a) = (1.0 - 2.0 * t, i as f32 * 2.399_963);
                let r = (1.0 - z * z).max(0.0).sqrt();
                [r * a.cos(), r * a.sin(), z]
            })
            .collect();
        let raw = classifier
            .run(&[&probe])
            .map_err(|e| bad(format!("cannot run: {e}")))?;
        let width = raw.len();
        if config.class_names.is_empty() {
            config.class_names = (0..width).map(|i| format!("class_{i}")).collect();
        }
        if width != config.class_names.len() || width < 2 {
            return Err(bad(format!(
                "output {} has {width} values per cloud for {} class names",
                config.output,
                config.class_names.len()
            )));
        }
        if raw.iter().any(|v| !v.is_finite()) {
            return Err(bad("the model gives non-finite scores".into()));
        }
        Ok(OnnxClassifier {
            config,
            ..classifier
        })
    }

    /// The settings in use (with class names filled in).
    pub fn config(&self) -> &OnnxConfig {
        &self.config
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The plan for `batch` clouds, built on first use.
    fn plan(&self, batch: usize) -> Result<Arc<TypedRunnableModel>> {
        let mut plans = self.plans.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = plans.get(&batch) {
            return Ok(p.clone());
        }
        let shape = match self.config.layout {
            Layout::Bcn => [batch, 3, self.points],
            Layout::Bnc => [batch, self.points, 3],
        };
        let plan = self
            .model
            .clone()
            .with_input_fact(0, f32::fact(shape).into())
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(|e| Error::Classifier(words(&e)))?;
        plans.insert(batch, plan.clone());
        Ok(plan)
    }

    /// The raw scores of one batch (all clouds of `points` points), row-major.
    fn run(&self, clouds: &[&[[f32; 3]]]) -> Result<Vec<f32>> {
        let (b, n) = (clouds.len(), self.points);
        if clouds.iter().any(|c| c.len() != n) {
            return Err(Error::Classifier(format!(
                "the ONNX model takes clouds of {n} points, got sizes {:?}",
                clouds.iter().map(|c| c.len()).collect::<Vec<_>>()
            )));
        }
        let mut flat = vec![0.0f32; b * n * 3];
        for (i, cloud) in clouds.iter().enumerate() {
            for (j, p) in cloud.iter().enumerate() {
                for (k, &v) in p.iter().enumerate() {
                    let at = match self.config.layout {
                        Layout::Bcn => (i * 3 + k) * n + j,
                        Layout::Bnc => (i * n + j) * 3 + k,
                    };
                    flat[at] = v;
                }
            }
        }
        let shape = match self.config.layout {
            Layout::Bcn => [b, 3, n],
            Layout::Bnc => [b, n, 3],
        };
        let input = Tensor::from_shape(&shape, &flat).map_err(|e| Error::Classifier(words(&e)))?;
        let outputs = self
            .plan(b)?
            .run(tvec!(input.into()))
            .map_err(|e| Error::Classifier(words(&e)))?;
        let out = outputs.get(self.config.output).ok_or_else(|| {
            Error::Classifier(format!(
                "the model has {} outputs; the sidecar asks for output {}",
                outputs.len(),
                self.config.output
            ))
        })?;
        let view = out
            .to_plain_array_view::<f32>()
            .map_err(|e| Error::Classifier(words(&e)))?;
        if view.shape().first() != Some(&b) || view.len() % b.max(1) != 0 {
            return Err(Error::Classifier(format!(
                "output {} has shape {:?} for a batch of {b}",
                self.config.output,
                view.shape()
            )));
        }
        Ok(view.iter().copied().collect())
    }
}

impl Classifier for OnnxClassifier {
    fn class_names(&self) -> &[String] {
        &self.config.class_names
    }

    fn input_points(&self) -> usize {
        self.points
    }

    fn normalisation(&self) -> Normalisation {
        self.config.normalisation
    }

    fn up(&self) -> Axis {
        self.config.up
    }

    fn predict(&self, clouds: &[&[[f32; 3]]], output: Output) -> Result<Vec<f32>> {
        let c = self.config.class_names.len();
        let parts: Vec<Vec<f32>> = clouds
            .par_chunks(BATCH)
            .map(|chunk| self.run(chunk))
            .collect::<Result<_>>()?;
        let mut v: Vec<f32> = parts.into_iter().flatten().collect();
        match (self.config.scores, output) {
            (Scores::Logits, Output::Logit) | (Scores::LogProbabilities, Output::Logit) => {}
            (Scores::Probabilities, Output::Probability) => {}
            (Scores::Logits, Output::Probability)
            | (Scores::LogProbabilities, Output::Probability) => softmax_rows(&mut v, c),
            // A log-probability is a logit: its softmax is the probability.
            (Scores::Probabilities, Output::Logit) => {
                v.iter_mut().for_each(|p| *p = p.max(1e-30).ln())
            }
        }
        Ok(v)
    }
}

/// What `pointlime model inspect` prints of an ONNX file: its inputs and outputs with their
/// dimensions (numbers, or the names of free axes) and the operators it uses, with how many of
/// each.
///
/// # Errors
/// [`Error::Model`] when tract cannot read the file.
pub fn describe(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let model = tract_onnx::onnx()
        .model_for_read(&mut bytes.as_slice())
        .map_err(|e| Error::model(path, format!("cannot read as ONNX: {}", words(&e))))?;
    let mut text = String::new();
    let fact = |o: OutletId| {
        model
            .outlet_fact(o)
            .map(|f| format!("{f:?}").replace(",..", ", ?").replace(',', ", "))
            .unwrap_or_else(|e| words(&e))
    };
    for (i, &o) in model.inputs.iter().enumerate() {
        text.push_str(&format!(
            "input {i}:    {} [{}]\n",
            model.node(o.node).name,
            fact(o)
        ));
    }
    for (i, &o) in model.outputs.iter().enumerate() {
        text.push_str(&format!(
            "output {i}:   {} [{}]\n",
            model.node(o.node).name,
            fact(o)
        ));
    }
    // The operators as the file names them (tract renames some as it translates them).
    let proto = tract_onnx::onnx()
        .proto_model_for_read(&mut bytes.as_slice())
        .map_err(|e| Error::model(path, format!("cannot read as ONNX: {}", words(&e))))?;
    let mut ops: std::collections::BTreeMap<&str, usize> = Default::default();
    for node in proto.graph.iter().flat_map(|g| &g.node) {
        *ops.entry(node.op_type.as_str()).or_default() += 1;
    }
    let ops: Vec<String> = ops.iter().map(|(k, v)| format!("{k} ×{v}")).collect();
    let opsets: Vec<String> = proto
        .opset_import
        .iter()
        .map(|o| {
            format!(
                "{} {}",
                if o.domain.is_empty() {
                    "ai.onnx"
                } else {
                    &o.domain
                },
                o.version
            )
        })
        .collect();
    text.push_str(&format!(
        "producer:   {} {}; opset {}\n",
        proto.producer_name,
        proto.producer_version,
        opsets.join(", ")
    ));
    text.push_str(&format!("operators:  {}\n", ops.join(", ")));
    Ok(text)
}
