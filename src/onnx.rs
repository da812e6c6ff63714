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
use tract_onnx::pb;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::DimLike;
use tract_onnx::tract_hir::infer::Factoid;

use crate::channels::{ChannelTable, Channels};
use crate::classifier::{
    max_pool, softmax_rows, Classifier, InputTransform, MaxPooled, Output, Randomisable,
};
use crate::cloud::{Axis, Normalisation};
use crate::domain::Domain;
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
    /// What the network reads per point. By default, x, y, z alone.
    pub channels: Channels,
    /// Which output holds the scores. By default, 0.
    pub output: usize,
    /// What the output holds. By default, logits.
    pub scores: Scores,
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

/// Batches of more clouds than this are split, and the parts run in parallel.
const BATCH: usize = 32;

/// An ONNX point-cloud classifier.
pub struct OnnxClassifier {
    path: PathBuf,
    config: OnnxConfig,
    /// The file as read, for randomised copies.
    proto: pb::ModelProto,
    /// The file as tract reads it, before any shape is fixed.
    model: InferenceModel,
    /// Points per cloud.
    points: usize,
    /// Plans by input shape.
    plans: Plans,
    /// The network split at its max-pool, when it is one (see [`Split`]).
    split: Option<Split>,
    /// Why there is no split.
    no_split: String,
    /// The network cut after its input transform's max-pool, when it has no split and this cut
    /// saves work (see [`TransformSplit`]).
    transform: Option<TransformSplit>,
    /// Competence statistics, from `FILE.competence.json` beside the model.
    domain: Option<Domain>,
}

/// Where an ONNX model's competence statistics are kept: `FILE.competence.json` beside
/// `FILE.onnx`.
pub fn competence_path(model: &Path) -> PathBuf {
    model.with_extension("competence.json")
}

/// Plans by input shape, built on first use.
type Plans = Mutex<HashMap<Vec<usize>, Arc<TypedRunnableModel>>>;

/// The plan of `model` for an input of `shape`, from `cache` or built and kept there.
fn plan(model: &InferenceModel, cache: &Plans, shape: &[usize]) -> Result<Arc<TypedRunnableModel>> {
    plan_inputs(model, cache, &[shape])
}

/// [`plan`] for a model of several inputs, of `shapes`.
fn plan_inputs(
    model: &InferenceModel,
    cache: &Plans,
    shapes: &[&[usize]],
) -> Result<Arc<TypedRunnableModel>> {
    let key: Vec<usize> = shapes.iter().flat_map(|s| s.iter().copied()).collect();
    let mut plans = cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = plans.get(&key) {
        return Ok(p.clone());
    }
    let mut model = model.clone();
    for (i, shape) in shapes.iter().enumerate() {
        model = model
            .with_input_fact(i, f32::fact(*shape).into())
            .map_err(|e| Error::Classifier(words(&e)))?;
    }
    let plan = model
        .into_optimized()
        .and_then(|m| m.into_runnable())
        .map_err(|e| Error::Classifier(words(&e)))?;
    plans.insert(key, plan.clone());
    Ok(plan)
}

/// Runs `plan` on one f32 tensor and returns its output `index`: shape and values.
fn run_plan(
    plan: &Arc<TypedRunnableModel>,
    input: Tensor,
    index: usize,
) -> Result<(Vec<usize>, Vec<f32>)> {
    run_inputs(plan, tvec!(input.into()), index)
}

/// [`run_plan`] with several inputs.
fn run_inputs(
    plan: &Arc<TypedRunnableModel>,
    inputs: TVec<TValue>,
    index: usize,
) -> Result<(Vec<usize>, Vec<f32>)> {
    let outputs = plan.run(inputs).map_err(|e| Error::Classifier(words(&e)))?;
    let out = outputs.get(index).ok_or_else(|| {
        Error::Classifier(format!(
            "the model has {} outputs; the sidecar asks for output {index}",
            outputs.len()
        ))
    })?;
    let view = out
        .to_plain_array_view::<f32>()
        .map_err(|e| Error::Classifier(words(&e)))?;
    Ok((view.shape().to_vec(), view.iter().copied().collect()))
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

/// The file's protobuf (for the graph walks) and the model tract makes of it, from one read.
fn read(path: &Path) -> Result<(pb::ModelProto, InferenceModel)> {
    let bad = |e: TractError| Error::model(path, format!("cannot read as ONNX: {}", words(&e)));
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let onnx = tract_onnx::onnx();
    let proto = onnx
        .proto_model_for_read(&mut bytes.as_slice())
        .map_err(bad)?;
    let model = onnx.model_for_proto_model(&proto).map_err(bad)?;
    Ok((proto, model))
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
    pub fn load(path: &Path, config: OnnxConfig) -> Result<OnnxClassifier> {
        let (proto, model) = read(path)?;
        Self::from_proto(path, proto, model, config)
    }

    fn from_proto(
        path: &Path,
        proto: pb::ModelProto,
        model: InferenceModel,
        mut config: OnnxConfig,
    ) -> Result<OnnxClassifier> {
        let bad = |m: String| Error::model(path, m);
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
        let given = 3 + config.channels.extra();
        if let Some(c) = channels.filter(|&c| c != given) {
            return Err(bad(format!(
                "the input takes {c} channels per point in layout {:?}; the sidecar's channels \
                 {:?} give {given} (a wrong \"layout\" or \"channels\" in the sidecar?)",
                config.layout,
                config.channels.name()
            )));
        }
        let points = n.unwrap_or(config.num_points);
        if points == 0 || points > 1 << 20 {
            return Err(bad(format!("{points} points per cloud is out of range")));
        }
        let mut classifier = OnnxClassifier {
            path: path.to_path_buf(),
            proto,
            model,
            points,
            plans: Mutex::new(HashMap::new()),
            config: config.clone(),
            split: None,
            no_split: String::new(),
            transform: None,
            domain: None,
        };
        // One run: the output's width, and a first plan.
        let probe = crate::classifier::probe_cloud(points);
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
        classifier.config = config;
        // The split is kept only when it gives the whole network's scores on the probe cloud.
        match Split::new(&classifier.proto, classifier.config.layout) {
            Ok(split) => {
                classifier.split = Some(split);
                if let Err(why) = classifier.check_split(&probe, &raw) {
                    classifier.split = None;
                    classifier.no_split = why;
                }
            }
            Err(why) => classifier.no_split = why,
        }
        if classifier.split.is_none() {
            if let Ok(t) = TransformSplit::new(&classifier.proto, classifier.config.layout) {
                classifier.transform = Some(t);
                if classifier.check_transform(&probe, &raw).is_err() {
                    classifier.transform = None;
                }
            }
        }
        let competence = competence_path(path);
        if competence.is_file() {
            let domain = crate::domain::read_domain(&competence)?;
            classifier.set_domain(domain, &competence)?;
        }
        Ok(classifier)
    }

    /// Sets the competence statistics, checked against the classes and the feature's width.
    ///
    /// # Errors
    /// [`Error::Model`] naming `source` when they do not fit this model.
    pub fn set_domain(&mut self, domain: Domain, source: &Path) -> Result<()> {
        domain.check_for(&self.config.class_names, self.feature_width(), source)?;
        self.domain = Some(domain);
        Ok(())
    }

    /// Width of [`Classifier::embed`]'s feature: the max-pooled per-point features of the split,
    /// or of the input transform; 0 when there is neither.
    fn feature_width(&self) -> usize {
        match (&self.split, &self.transform) {
            (Some(s), _) => s.channels,
            (None, Some(t)) => t.channels,
            (None, None) => 0,
        }
    }

    /// Records the per-point features' width in the split and checks that the split network
    /// gives `raw`, the whole network's scores, on `probe`.
    fn check_split(&mut self, probe: &[[f32; 3]], raw: &[f32]) -> std::result::Result<(), String> {
        let layout = self.config.layout;
        let split = self.split.as_mut().ok_or("no split")?;
        let extra = self.config.channels.extra();
        let (ch, pooled) = probe_pool(&split.points, &split.point_plans, layout, probe, extra)?;
        split.channels = ch;
        let split = self.split.as_ref().ok_or("no split")?;
        same_scores(
            &run_head(split, self, &pooled).map_err(|e| e.to_string())?,
            raw,
        )
    }

    /// As [`check_split`](Self::check_split), for the transform split.
    fn check_transform(
        &mut self,
        probe: &[[f32; 3]],
        raw: &[f32],
    ) -> std::result::Result<(), String> {
        let layout = self.config.layout;
        let extra = self.config.channels.extra();
        let t = self.transform.as_mut().ok_or("no transform split")?;
        let (ch, pooled) = probe_pool(&t.psi, &t.psi_plans, layout, probe, extra)?;
        t.channels = ch;
        same_scores(
            &self
                .run_with(&[probe], Some(&pooled), None)
                .map_err(|e| e.to_string())?,
            raw,
        )
    }

    /// Whether the exact fast path applies, and if not, why.
    pub fn fast_path(&self) -> std::result::Result<(), &str> {
        match &self.split {
            Some(_) => Ok(()),
            None => Err(&self.no_split),
        }
    }

    /// Raw scores as the model gives them, turned into `output`.
    fn convert(&self, v: &mut [f32], output: Output) {
        let c = self.config.class_names.len();
        match (self.config.scores, output) {
            (Scores::Logits | Scores::LogProbabilities, Output::Logit)
            | (Scores::Probabilities, Output::Probability) => {}
            (Scores::Logits | Scores::LogProbabilities, Output::Probability) => softmax_rows(v, c),
            // A log-probability is a logit: its softmax is the probability.
            (Scores::Probabilities, Output::Logit) => {
                v.iter_mut().for_each(|p| *p = p.max(1e-30).ln())
            }
        }
    }

    /// The settings in use (with class names filled in).
    pub fn config(&self) -> &OnnxConfig {
        &self.config
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The raw scores of one batch (all clouds of `points` points), row-major.
    fn run(&self, clouds: &[&[[f32; 3]]]) -> Result<Vec<f32>> {
        self.run_with(clouds, None, None)
    }

    /// [`run`](Self::run) with the points' extra channels from `table`, or, given the input
    /// transform's pooled features (`[b × C]`), the rest of the network after the transform
    /// split.
    fn run_with(
        &self,
        clouds: &[&[[f32; 3]]],
        pooled: Option<&[f32]>,
        table: Option<&ChannelTable>,
    ) -> Result<Vec<f32>> {
        let b = clouds.len();
        let n = clouds.first().map_or(self.points, |c| c.len());
        let sizes_ok = clouds.iter().all(|c| c.len() == n)
            && (n == self.points || (self.config.set_function && (1..self.points).contains(&n)));
        if !sizes_ok {
            return Err(Error::Classifier(format!(
                "the ONNX model takes clouds of {} points{}, got sizes {:?}",
                self.points,
                if self.config.set_function {
                    " or fewer, one size per call"
                } else {
                    ""
                },
                clouds.iter().map(|c| c.len()).collect::<Vec<_>>()
            )));
        }
        // A set function's clouds are padded, by repeating their own points (which changes no
        // score), to the next multiple of 64: the kept-points path gives every batch its own
        // size, and a plan per exact size would pile up over a directory of scans.
        let n = if self.config.set_function && n < self.points {
            n.div_ceil(64).saturating_mul(64).min(self.points)
        } else {
            n
        };
        let (shape, flat) = point_tensor(self.config.layout, clouds, n, self.extra(), table);
        let input = Tensor::from_shape(&shape, &flat).map_err(|e| Error::Classifier(words(&e)))?;
        let (shape, values) = match (pooled, &self.transform) {
            (Some(g), Some(t)) => {
                let g_shape = pooled_shape(t.keepdims, self.config.layout, b, t.channels);
                let g =
                    Tensor::from_shape(&g_shape, g).map_err(|e| Error::Classifier(words(&e)))?;
                let plan = plan_inputs(&t.rest, &t.rest_plans, &[&shape, &g_shape])?;
                run_inputs(&plan, tvec!(input.into(), g.into()), self.config.output)?
            }
            _ => run_plan(
                &plan(&self.model, &self.plans, &shape)?,
                input,
                self.config.output,
            )?,
        };
        if shape.first() != Some(&b) || values.len() % b.max(1) != 0 {
            return Err(Error::Classifier(format!(
                "output {} has shape {shape:?} for a batch of {b}",
                self.config.output
            )));
        }
        Ok(values)
    }
}

/// The work behind the classifier traits, reading the points' extra channels from `table` (zeros
/// without one): the model itself passes none, [`WithChannels`] its scan's.
impl OnnxClassifier {
    /// Channels after x, y, z.
    fn extra(&self) -> usize {
        self.config.channels.extra()
    }

    fn predict_with(
        &self,
        clouds: &[&[[f32; 3]]],
        output: Output,
        table: Option<&ChannelTable>,
    ) -> Result<Vec<f32>> {
        let parts: Vec<Vec<f32>> = clouds
            .par_chunks(BATCH)
            .map(|chunk| self.run_with(chunk, None, table))
            .collect::<Result<_>>()?;
        let mut v: Vec<f32> = parts.into_iter().flatten().collect();
        self.convert(&mut v, output);
        Ok(v)
    }

    /// The max-pooled per-point features: the global feature a split network's head reads, or,
    /// with no split, the one its input transform reads (a description of the raw shape only).
    fn embed_with(
        &self,
        clouds: &[&[[f32; 3]]],
        table: Option<&ChannelTable>,
    ) -> Option<Result<Vec<f32>>> {
        let (model, plans, ch) = match (&self.split, &self.transform) {
            (Some(s), _) => (&s.points, &s.point_plans, s.channels),
            (None, Some(t)) => (&t.psi, &t.psi_plans, t.channels),
            (None, None) => return None,
        };
        let layout = self.config.layout;
        let pooled: Result<Vec<Vec<f32>>> = clouds
            .par_iter()
            .map(|c| {
                let rows = point_features(model, plans, layout, ch, c, self.extra(), table)?;
                Ok(max_pool(&rows, ch).0)
            })
            .collect();
        Some(pooled.map(|rows| rows.concat()))
    }

    fn point_features_with(
        &self,
        points: &[[f32; 3]],
        table: Option<&ChannelTable>,
    ) -> Result<Vec<f32>> {
        let split = self
            .split
            .as_ref()
            .ok_or_else(|| Error::Classifier("no split network".into()))?;
        let (layout, ch) = (self.config.layout, split.channels);
        point_features(
            &split.points,
            &split.point_plans,
            layout,
            ch,
            points,
            self.extra(),
            table,
        )
    }

    fn transform_features_with(
        &self,
        points: &[[f32; 3]],
        table: Option<&ChannelTable>,
    ) -> Result<Vec<f32>> {
        let t = self
            .transform
            .as_ref()
            .ok_or_else(|| Error::Classifier("no transform split".into()))?;
        let (layout, ch) = (self.config.layout, t.channels);
        point_features(
            &t.psi,
            &t.psi_plans,
            layout,
            ch,
            points,
            self.extra(),
            table,
        )
    }

    fn predict_given_with(
        &self,
        clouds: &[&[[f32; 3]]],
        pooled: &[f32],
        output: Output,
        table: Option<&ChannelTable>,
    ) -> Result<Vec<f32>> {
        let ch = self.transform.as_ref().map_or(1, |t| t.channels.max(1));
        let parts: Vec<Vec<f32>> = clouds
            .par_chunks(BATCH)
            .zip(pooled.par_chunks(BATCH * ch))
            .map(|(chunk, g)| self.run_with(chunk, Some(g), table))
            .collect::<Result<_>>()?;
        let mut v: Vec<f32> = parts.into_iter().flatten().collect();
        self.convert(&mut v, output);
        Ok(v)
    }

    fn head_scores(&self, globals: &[f32], output: Output) -> Result<Vec<f32>> {
        let split = self
            .split
            .as_ref()
            .ok_or_else(|| Error::Classifier("no split network".into()))?;
        let mut v = run_head(split, self, globals)?;
        self.convert(&mut v, output);
        Ok(v)
    }
}

/// The classifier traits of an ONNX model, on `$t` whose `model()` is the model and `table()` the
/// channel table: the model itself and a model bound to one scan's channels.
macro_rules! onnx_traits {
    ($t:ty) => {
        impl Classifier for $t {
            fn class_names(&self) -> &[String] {
                &self.model().config.class_names
            }

            fn input_points(&self) -> usize {
                self.model().points
            }

            fn normalisation(&self) -> Normalisation {
                self.model().config.normalisation
            }

            fn up(&self) -> Axis {
                self.model().config.up
            }

            fn predict(&self, clouds: &[&[[f32; 3]]], output: Output) -> Result<Vec<f32>> {
                self.model().predict_with(clouds, output, self.table())
            }

            /// A split network is a max over points of per-point features, so a set function.
            fn set_function(&self) -> bool {
                self.model().split.is_some() || self.model().config.set_function
            }

            fn max_pooled(&self) -> Option<&dyn MaxPooled> {
                self.model().split.as_ref().map(|_| self as &dyn MaxPooled)
            }

            fn input_transform(&self) -> Option<&dyn InputTransform> {
                let m = self.model();
                m.transform.as_ref().map(|_| self as &dyn InputTransform)
            }

            fn embed(&self, clouds: &[&[[f32; 3]]]) -> Option<Result<Vec<f32>>> {
                self.model().embed_with(clouds, self.table())
            }

            fn domain(&self) -> Option<&Domain> {
                self.model().domain.as_ref()
            }

            fn channels(&self) -> Channels {
                self.model().config.channels
            }

            fn with_channels(&self, table: ChannelTable) -> Option<Box<dyn Classifier + '_>> {
                (self.model().extra() > 0).then(|| {
                    Box::new(WithChannels {
                        model: self.model(),
                        table,
                    }) as Box<dyn Classifier>
                })
            }

            fn randomisable(&self) -> Option<&dyn Randomisable> {
                Some(self.model())
            }
        }

        impl MaxPooled for $t {
            fn feature_dim(&self) -> usize {
                self.model().split.as_ref().map_or(0, |s| s.channels)
            }

            fn point_features(&self, points: &[[f32; 3]]) -> Result<Vec<f32>> {
                self.model().point_features_with(points, self.table())
            }

            fn head(&self, globals: &[f32], output: Output) -> Result<Vec<f32>> {
                self.model().head_scores(globals, output)
            }
        }

        impl InputTransform for $t {
            fn transform_dim(&self) -> usize {
                self.model().transform.as_ref().map_or(0, |t| t.channels)
            }

            fn transform_features(&self, points: &[[f32; 3]]) -> Result<Vec<f32>> {
                self.model().transform_features_with(points, self.table())
            }

            fn predict_given(
                &self,
                clouds: &[&[[f32; 3]]],
                pooled: &[f32],
                output: Output,
            ) -> Result<Vec<f32>> {
                self.model()
                    .predict_given_with(clouds, pooled, output, self.table())
            }
        }
    };
}

impl OnnxClassifier {
    fn model(&self) -> &OnnxClassifier {
        self
    }

    fn table(&self) -> Option<&ChannelTable> {
        None
    }
}

/// An ONNX model reading one scan's extra channels (see [`crate::channels`]).
struct WithChannels<'a> {
    model: &'a OnnxClassifier,
    table: ChannelTable,
}

impl WithChannels<'_> {
    fn model(&self) -> &OnnxClassifier {
        self.model
    }

    fn table(&self) -> Option<&ChannelTable> {
        Some(&self.table)
    }
}

onnx_traits!(OnnxClassifier);
onnx_traits!(WithChannels<'_>);

/// What a randomised initialiser is drawn as.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fresh {
    /// Uniform on `[-bound, bound]`.
    Uniform(f32),
    /// Every element this value.
    Value(f32),
}

/// One layer of an ONNX graph for the randomisation checks: a node with a weight initialiser
/// (Conv, Gemm, MatMul) and the batch norm and bias addition that act directly on its output.
#[derive(Debug)]
struct Layer {
    name: String,
    /// Initialisers (by index) and how each is drawn afresh.
    tensors: Vec<(usize, Fresh)>,
    /// `1 / sqrt(fan_in)` of the weight.
    bound: f32,
}

/// The graph's layers, input to output. A fresh layer is drawn as PyTorch initialises one
/// (weights and biases uniform on `±1/sqrt(fan_in)`, the bound its Kaiming-uniform default gives;
/// batch norm as the identity: scale 1, shift 0, mean 0, variance 1), since the file does not say
/// how its network was initialised.
fn layers(graph: &pb::GraphProto) -> Vec<Layer> {
    let floats: HashMap<&str, usize> = graph
        .initializer
        .iter()
        .enumerate()
        .filter(|(_, t)| t.data_type == pb::tensor_proto::DataType::Float as i32)
        .map(|(i, t)| (t.name.as_str(), i))
        .collect();
    let init = |name: Option<&String>| name.and_then(|n| floats.get(n.as_str()).copied());
    let mut layers: Vec<Layer> = Vec::new();
    // Which layer produced a tensor.
    let mut owner: HashMap<&str, usize> = HashMap::new();
    for (i, node) in graph.node.iter().enumerate() {
        let op = node.op_type.as_str();
        let follows = node
            .input
            .first()
            .and_then(|x| owner.get(x.as_str()))
            .copied();
        let layer = match (op, init(node.input.get(1))) {
            ("Conv" | "Gemm" | "MatMul", Some(w)) => {
                let d = &graph.initializer[w].dims;
                let fan_in = match op {
                    "Conv" => d.iter().skip(1).product::<i64>(),
                    "Gemm" if attr(node, "transB").is_some_and(|a| a.i != 0) => {
                        d.get(1).copied().unwrap_or(1)
                    }
                    _ => d.len().checked_sub(2).map_or(1, |k| d[k]),
                };
                let bound = 1.0 / (fan_in.max(1) as f32).sqrt();
                let mut tensors = vec![(w, Fresh::Uniform(bound))];
                tensors.extend(init(node.input.get(2)).map(|b| (b, Fresh::Uniform(bound))));
                let base = if node.name.is_empty() {
                    format!("{op}_{i}")
                } else {
                    node.name.clone()
                };
                let taken = |n: &str| layers.iter().any(|l| l.name == n);
                let name = if taken(&base) {
                    format!("{base}_{i}")
                } else {
                    base
                };
                layers.push(Layer {
                    name,
                    tensors,
                    bound,
                });
                Some(layers.len() - 1)
            }
            ("BatchNormalization", _) => follows.inspect(|&l| {
                let identity = [1.0, 0.0, 0.0, 1.0];
                for (k, v) in identity.into_iter().enumerate() {
                    if let Some(t) = init(node.input.get(k + 1)) {
                        layers[l].tensors.push((t, Fresh::Value(v)));
                    }
                }
            }),
            ("Add", Some(b)) => follows.inspect(|&l| {
                let bound = layers[l].bound;
                layers[l].tensors.push((b, Fresh::Uniform(bound)));
            }),
            _ => None,
        };
        if let Some(l) = layer {
            for out in &node.output {
                owner.insert(out, l);
            }
        }
    }
    layers
}

impl Randomisable for OnnxClassifier {
    /// The nodes with weight initialisers, by their names in the file (`Conv_3` when unnamed).
    fn layer_names(&self) -> Vec<String> {
        self.proto
            .graph
            .as_ref()
            .map(|g| layers(g).into_iter().map(|l| l.name).collect())
            .unwrap_or_default()
    }

    fn randomised(&self, names: &[String], seed: u64) -> Result<Box<dyn Classifier>> {
        use rand::{Rng, SeedableRng};
        let mut proto = self.proto.clone();
        let graph = proto
            .graph
            .as_mut()
            .ok_or_else(|| Error::model(&self.path, "no graph"))?;
        let all = layers(graph);
        for name in names {
            let Some((index, layer)) = all.iter().enumerate().find(|(_, l)| &l.name == name) else {
                return Err(Error::Config(format!(
                    "no layer {name:?}; the layers are {}",
                    self.layer_names().join(", ")
                )));
            };
            // One stream per layer: its new weights do not depend on which others are drawn.
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(index as u64);
            for &(t, fresh) in &layer.tensors {
                let tensor = &mut graph.initializer[t];
                let n: usize = tensor.dims.iter().map(|&d| d.max(0) as usize).product();
                tensor.float_data = (0..n)
                    .map(|_| match fresh {
                        Fresh::Uniform(b) => rng.random_range(-b..=b),
                        Fresh::Value(v) => v,
                    })
                    .collect();
                tensor.raw_data.clear();
                // Inline now, wherever it was stored.
                tensor.external_data.clear();
                tensor.data_location = None;
            }
        }
        let model = tract_onnx::onnx()
            .model_for_proto_model(&proto)
            .map_err(|e| Error::model(&self.path, words(&e)))?;
        Ok(Box::new(Self::from_proto(
            &self.path,
            proto,
            model,
            self.config.clone(),
        )?))
    }
}

/// What `pointlime model inspect` prints of an ONNX file: its inputs and outputs with their
/// dimensions (numbers, or the names of free axes) and the operators it uses, with how many of
/// each.
///
/// # Errors
/// [`Error::Model`] when tract cannot read the file.
pub fn describe(path: &Path) -> Result<String> {
    let (proto, model) = read(path)?;
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

/// A max-pooled network cut in two at its max-pool: the per-point part (every operator acts on
/// each point alone: 1×1 convolutions, batch norm, activations, per-channel constants) and the
/// head that reads only the pooled feature. Scoring a mask then needs the per-point features
/// once and the head per sample, exactly as for pointlime's own max-pooled models.
struct Split {
    /// Input: the points; output: the per-point features (`[1, C, m]` or `[1, m, C]`).
    points: InferenceModel,
    /// Input: the pooled feature (`[b, C]`, or with the pooled axis kept as 1); output: the
    /// scores.
    head: InferenceModel,
    /// Whether the max-pool keeps the point axis.
    keepdims: bool,
    /// C.
    channels: usize,
    point_plans: Plans,
    head_plans: Plans,
}

/// ONNX operators that act on each point alone, whatever their constant operands.
const POINTWISE: &[&str] = &[
    "BatchNormalization",
    "Relu",
    "LeakyRelu",
    "Sigmoid",
    "Tanh",
    "Clip",
    "Identity",
    "Elu",
    "Selu",
    "HardSigmoid",
    "Softplus",
    "Dropout",
];
/// Element-wise operators of two operands: per point when the second is a constant that does not
/// vary along the batch or point axis.
const BINARY: &[&str] = &["Add", "Sub", "Mul", "Div"];

fn attr<'a>(node: &'a pb::NodeProto, name: &str) -> Option<&'a pb::AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

/// Which nodes of a graph act on each point alone, fed by the points through such nodes only.
struct PerPoint<'a> {
    /// Per node.
    before: Vec<bool>,
    /// The tensors they make, and the points.
    tensors: std::collections::HashSet<&'a str>,
    /// The graph's data input.
    input: &'a str,
    /// The nodes that max-pool per-point tensors over the point axis, in graph order.
    pools: Vec<usize>,
}

/// The max-pool to split `proto` at and, per node, whether it is before it (per point); or why
/// there is none.
fn find_split(
    proto: &pb::ModelProto,
    layout: Layout,
) -> std::result::Result<(usize, Vec<bool>), String> {
    let graph = proto.graph.as_ref().ok_or("no graph")?;
    let PerPoint {
        before,
        tensors: per_point,
        pools,
        ..
    } = per_point(graph, layout)?;
    let mut why = "no max over the point axis after per-point layers".to_string();
    for r in pools {
        let node = &graph.node[r];
        // Past the max-pool, nothing may look at the points again.
        let leaks = graph.node.iter().enumerate().any(|(j, other)| {
            j != r && !before[j] && other.input.iter().any(|t| per_point.contains(t.as_str()))
        }) || graph
            .output
            .iter()
            .any(|o| per_point.contains(o.name.as_str()));
        if leaks {
            why = format!(
                "the points reach the head around the max-pool {:?} (T-Nets or skip connections)",
                node.name
            );
            continue;
        }
        return Ok((r, before));
    }
    Err(why)
}

/// Finds the per-point nodes and the max-pools over them (see [`PerPoint`]).
fn per_point(graph: &pb::GraphProto, layout: Layout) -> std::result::Result<PerPoint<'_>, String> {
    use std::collections::HashSet;
    let inputs: Vec<&pb::ValueInfoProto> = graph
        .input
        .iter()
        .filter(|i| !graph.initializer.iter().any(|t| t.name == i.name))
        .collect();
    let [input] = inputs[..] else {
        return Err("not one data input".into());
    };
    let point_axis: i64 = match layout {
        Layout::Bcn => 2,
        Layout::Bnc => 1,
    };
    // Constant tensors (initialisers, Constant nodes) and their dimensions.
    let mut constant: HashMap<&str, Vec<i64>> = graph
        .initializer
        .iter()
        .map(|t| (t.name.as_str(), t.dims.clone()))
        .collect();
    for node in &graph.node {
        let value = attr(node, "value").and_then(|a| a.t.as_ref());
        if let (true, Some(out), Some(t)) = (node.op_type == "Constant", node.output.first(), value)
        {
            constant.insert(out, t.dims.clone());
        }
    }
    // Tensors that depend on the points, and those computed from them by per-point operators
    // only.
    let mut derived: HashSet<&str> = [input.name.as_str()].into();
    let mut per_point = derived.clone();
    let mut before = vec![false; graph.node.len()];
    for (i, node) in graph.node.iter().enumerate() {
        let data: Vec<&str> = node
            .input
            .iter()
            .map(String::as_str)
            .filter(|t| derived.contains(t))
            .collect();
        if data.is_empty() {
            continue;
        }
        let first_is_data = data.len() == 1 && node.input[0] == data[0];
        let others_constant = node
            .input
            .iter()
            .skip(1)
            .all(|t| t.is_empty() || constant.contains_key(t.as_str()));
        let weight = |rank: usize| {
            node.input
                .get(1)
                .and_then(|w| constant.get(w.as_str()))
                .is_some_and(|d| d.len() == rank && (rank != 3 || d[2] == 1))
        };
        let all = |name: &str, value: i64| {
            attr(node, name).is_none_or(|a| a.ints.iter().all(|&v| v == value))
        };
        let op = node.op_type.as_str();
        let pointwise = per_point.contains(data[0])
            && first_is_data
            && others_constant
            && match op {
                _ if POINTWISE.contains(&op) => true,
                "Conv" => {
                    layout == Layout::Bcn
                        && weight(3)
                        && all("strides", 1)
                        && all("dilations", 1)
                        && all("pads", 0)
                        && attr(node, "group").is_none_or(|g| g.i == 1)
                }
                "MatMul" => layout == Layout::Bnc && weight(2),
                _ if BINARY.contains(&op) => node.input.iter().skip(1).all(|t| {
                    // Right-aligned to rank 3, the constant spans neither batch nor points.
                    constant.get(t.as_str()).is_some_and(|d| {
                        d.len() <= 3
                            && (0..3i64).all(|axis| {
                                let k = axis - (3 - d.len() as i64);
                                k < 0 || (axis != 0 && axis != point_axis) || d[k as usize] == 1
                            })
                    })
                }),
                _ => false,
            };
        before[i] = pointwise;
        for out in &node.output {
            derived.insert(out);
            if pointwise {
                per_point.insert(out);
            }
        }
    }
    let pools = graph
        .node
        .iter()
        .enumerate()
        .filter(|(_, node)| {
            let on_features = node
                .input
                .first()
                .is_some_and(|t| per_point.contains(t.as_str()));
            let axes: Vec<i64> = attr(node, "axes")
                .map(|a| {
                    a.ints
                        .iter()
                        .map(|&x| if x < 0 { x + 3 } else { x })
                        .collect()
                })
                .unwrap_or_default();
            node.op_type == "ReduceMax"
                && on_features
                && node.input.len() == 1
                && axes == [point_axis]
        })
        .map(|(r, _)| r)
        .collect();
    Ok(PerPoint {
        before,
        tensors: per_point,
        input: input.name.as_str(),
        pools,
    })
}

impl Split {
    /// Cuts `proto` at its max-pool, or says why it cannot be cut.
    fn new(proto: &pb::ModelProto, layout: Layout) -> std::result::Result<Split, String> {
        let (r, before) = find_split(proto, layout)?;
        let graph = proto.graph.as_ref().ok_or("no graph")?;
        let pool = &graph.node[r];
        let mut points = graph.clone();
        points.node = part(graph, &|i| before[i]);
        points.output = vec![value(&pool.input[0])];
        points.value_info.clear();
        let mut head = graph.clone();
        head.node = part(graph, &|i| i != r && !before[i]);
        head.input = vec![value(&pool.output[0])];
        head.value_info.clear();
        Ok(Split {
            points: load_graph(proto, points)?,
            head: load_graph(proto, head)?,
            keepdims: attr(pool, "keepdims").is_none_or(|a| a.i != 0),
            channels: 0,
            point_plans: Mutex::new(HashMap::new()),
            head_plans: Mutex::new(HashMap::new()),
        })
    }
}

/// The shape of `b` pooled features of `ch` channels, with the pooled axis kept or not.
fn pooled_shape(keepdims: bool, layout: Layout, b: usize, ch: usize) -> Vec<usize> {
    match (keepdims, layout) {
        (false, _) => vec![b, ch],
        (true, Layout::Bcn) => vec![b, ch, 1],
        (true, Layout::Bnc) => vec![b, 1, ch],
    }
}

/// A float tensor of a shape left to the plan (tract wants a type on a graph input).
fn value(name: &str) -> pb::ValueInfoProto {
    pb::ValueInfoProto {
        name: name.to_string(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: 1,
                shape: None,
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The nodes of `graph` that `keep` picks, and every Constant node (each part keeps what it
/// uses).
fn part(graph: &pb::GraphProto, keep: &dyn Fn(usize) -> bool) -> Vec<pb::NodeProto> {
    let (constants, rest): (Vec<_>, Vec<_>) = graph
        .node
        .iter()
        .enumerate()
        .partition(|(_, n)| n.op_type == "Constant");
    constants
        .into_iter()
        .chain(rest.into_iter().filter(|&(i, _)| keep(i)))
        .map(|(_, n)| n.clone())
        .collect()
}

/// `graph` as a model of its own, with `proto`'s opsets and metadata.
fn load_graph(
    proto: &pb::ModelProto,
    graph: pb::GraphProto,
) -> std::result::Result<InferenceModel, String> {
    let model = pb::ModelProto {
        graph: Some(graph),
        ..proto.clone()
    };
    tract_onnx::onnx()
        .model_for_proto_model(&model)
        .map_err(|e| words(&e))
}

/// A network whose input transform is predicted from a max-pool over per-point features of the
/// raw points (a PointNet's input T-Net), cut in two: those per-point features, and the rest of
/// the network, which reads the points and the pooled features. Scoring a mask then needs the
/// per-point features once per input (see [`InputTransform`]).
struct TransformSplit {
    /// Input: the points; output: the transform's per-point features.
    psi: InferenceModel,
    /// Inputs: the points and the pooled features; output: the model's outputs.
    rest: InferenceModel,
    /// Whether the max-pool keeps the point axis.
    keepdims: bool,
    /// Width of the per-point features.
    channels: usize,
    psi_plans: Plans,
    rest_plans: Plans,
}

impl TransformSplit {
    /// Cuts `proto` at the first max-pool of per-point features, or says why that saves nothing.
    fn new(proto: &pb::ModelProto, layout: Layout) -> std::result::Result<TransformSplit, String> {
        let graph = proto.graph.as_ref().ok_or("no graph")?;
        let pp = per_point(graph, layout)?;
        let &r = pp
            .pools
            .first()
            .ok_or("no max over the point axis after per-point layers")?;
        let pool = &graph.node[r];
        let producer: HashMap<&str, usize> = graph
            .node
            .iter()
            .enumerate()
            .flat_map(|(i, n)| n.output.iter().map(move |o| (o.as_str(), i)))
            .collect();
        // The nodes that `from` needs, walking back and stopping at `stop` tensors.
        let needed = |from: Vec<&str>, stop: &str, only_per_point: bool| {
            let mut keep = vec![false; graph.node.len()];
            let mut stack = from;
            while let Some(t) = stack.pop() {
                let Some(&i) = producer.get(t).filter(|_| t != stop) else {
                    continue;
                };
                if keep[i] || (only_per_point && !pp.before[i]) {
                    continue;
                }
                keep[i] = true;
                stack.extend(graph.node[i].input.iter().map(String::as_str));
            }
            keep
        };
        let psi = needed(vec![pool.input[0].as_str()], "", true);
        let outputs = graph.output.iter().map(|o| o.name.as_str()).collect();
        let rest = needed(outputs, pool.output[0].as_str(), false);
        if psi.iter().zip(&rest).any(|(&a, &b)| a && b) {
            return Err(format!(
                "the network reads the per-point features of the max-pool {:?} elsewhere too",
                pool.name
            ));
        }
        let mut psi_graph = graph.clone();
        psi_graph.node = part(graph, &|i| psi[i]);
        psi_graph.output = vec![value(&pool.input[0])];
        psi_graph.value_info.clear();
        let mut rest_graph = graph.clone();
        rest_graph.node = part(graph, &|i| rest[i]);
        rest_graph.input.retain(|i| i.name == pp.input);
        rest_graph.input.push(value(&pool.output[0]));
        rest_graph.value_info.clear();
        Ok(TransformSplit {
            psi: load_graph(proto, psi_graph)?,
            rest: load_graph(proto, rest_graph)?,
            keepdims: attr(pool, "keepdims").is_none_or(|a| a.i != 0),
            channels: 0,
            psi_plans: Mutex::new(HashMap::new()),
            rest_plans: Mutex::new(HashMap::new()),
        })
    }
}

/// The per-point part's output for `m` points (`ch * m` values) as one row of `ch` per point.
fn point_rows(layout: Layout, values: Vec<f32>, ch: usize, m: usize) -> Vec<f32> {
    match layout {
        // [1, C, m] → [m × C]
        Layout::Bcn => {
            let mut out = vec![0.0; m * ch];
            for k in 0..ch {
                for j in 0..m {
                    out[j * ch + k] = values[k * m + j];
                }
            }
            out
        }
        Layout::Bnc => values,
    }
}

/// The per-point part on one cloud: its output's shape and values.
fn run_points(
    model: &InferenceModel,
    plans: &Plans,
    layout: Layout,
    points: &[[f32; 3]],
    extra: usize,
    table: Option<&ChannelTable>,
) -> Result<(Vec<usize>, Vec<f32>)> {
    let (shape, flat) = point_tensor(layout, &[points], points.len(), extra, table);
    let input = Tensor::from_shape(&shape, &flat).map_err(|e| Error::Classifier(words(&e)))?;
    run_plan(&plan(model, plans, &shape)?, input, 0)
}

/// The points of `clouds` as one input tensor: each cloud's first `n` points, repeated when it has
/// fewer, with `extra` channels after x, y, z from `table` (zeros without one).
fn point_tensor(
    layout: Layout,
    clouds: &[&[[f32; 3]]],
    n: usize,
    extra: usize,
    table: Option<&ChannelTable>,
) -> ([usize; 3], Vec<f32>) {
    let (b, c) = (clouds.len(), 3 + extra);
    let mut flat = vec![0.0f32; b * n * c];
    for (i, cloud) in clouds.iter().enumerate() {
        for j in 0..n {
            let p = &cloud[j % cloud.len()];
            let more = table.map_or(&[][..], |t| t.get(p));
            for (k, &v) in p.iter().chain(more).enumerate() {
                let at = match layout {
                    Layout::Bcn => (i * c + k) * n + j,
                    Layout::Bnc => (i * n + j) * c + k,
                };
                flat[at] = v;
            }
        }
    }
    let shape = match layout {
        Layout::Bcn => [b, c, n],
        Layout::Bnc => [b, n, c],
    };
    (shape, flat)
}

/// The per-point part `model` on one cloud, one row of `ch` features per point.
fn point_features(
    model: &InferenceModel,
    plans: &Plans,
    layout: Layout,
    ch: usize,
    points: &[[f32; 3]],
    extra: usize,
    table: Option<&ChannelTable>,
) -> Result<Vec<f32>> {
    let (shape, values) = run_points(model, plans, layout, points, extra, table)?;
    let m = points.len();
    if shape.iter().product::<usize>() != ch * m {
        return Err(Error::Classifier(format!(
            "per-point features of shape {shape:?} for {m} points"
        )));
    }
    Ok(point_rows(layout, values, ch, m))
}

/// The width of per-point features of `shape` (`[1, C, m]` or `[1, m, C]`), and their maximum
/// over the points: what a check of a split runs on the probe cloud.
fn probe_pool(
    model: &InferenceModel,
    plans: &Plans,
    layout: Layout,
    probe: &[[f32; 3]],
    extra: usize,
) -> std::result::Result<(usize, Vec<f32>), String> {
    let (shape, values) =
        run_points(model, plans, layout, probe, extra, None).map_err(|e| e.to_string())?;
    let ch = match (layout, shape.as_slice()) {
        (Layout::Bcn, [_, c, _]) | (Layout::Bnc, [_, _, c]) => *c,
        _ => return Err(format!("per-point features of shape {shape:?}")),
    };
    let rows = point_rows(layout, values, ch, probe.len());
    Ok((ch, max_pool(&rows, ch).0))
}

/// Whether a split network's `scores` are the whole network's `raw` ones.
fn same_scores(scores: &[f32], raw: &[f32]) -> std::result::Result<(), String> {
    let same = scores.len() == raw.len()
        && scores
            .iter()
            .zip(raw)
            .all(|(a, b)| (a - b).abs() <= 1e-4 * (1.0 + b.abs()));
    if same {
        Ok(())
    } else {
        Err("the split network's scores differ from the whole network's".into())
    }
}

/// The head on pooled features `[b × C]`: the raw scores, `[b × classes]`.
fn run_head(split: &Split, c: &OnnxClassifier, globals: &[f32]) -> Result<Vec<f32>> {
    let ch = split.channels;
    let b = globals.len() / ch.max(1);
    let shape = pooled_shape(split.keepdims, c.config.layout, b, ch);
    let input = Tensor::from_shape(&shape, globals).map_err(|e| Error::Classifier(words(&e)))?;
    let head = plan(&split.head, &split.head_plans, &shape)?;
    Ok(run_plan(&head, input, c.config.output)?.1)
}

pub use crate::dense::{Dense, Portable, TNetLayers};

/// Builds an ONNX graph node by node.
#[derive(Default)]
struct GraphBuilder {
    nodes: Vec<pb::NodeProto>,
    initializer: Vec<pb::TensorProto>,
}

fn ints_attr(name: &str, v: Vec<i64>) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.to_string(),
        r#type: 7, // INTS
        ints: v,
        ..Default::default()
    }
}

impl GraphBuilder {
    /// Adds a node whose output is named after it; returns that name.
    fn node(
        &mut self,
        op: &str,
        name: &str,
        inputs: &[&str],
        attribute: Vec<pb::AttributeProto>,
    ) -> String {
        self.nodes.push(pb::NodeProto {
            op_type: op.to_string(),
            name: name.to_string(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![name.to_string()],
            attribute,
            ..Default::default()
        });
        name.to_string()
    }

    fn floats(&mut self, name: &str, dims: Vec<i64>, values: &[f32]) -> String {
        self.initializer.push(pb::TensorProto {
            name: name.to_string(),
            dims,
            data_type: 1, // FLOAT
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
        name.to_string()
    }

    fn int64s(&mut self, name: &str, values: &[i64]) -> String {
        self.initializer.push(pb::TensorProto {
            name: name.to_string(),
            dims: vec![values.len() as i64],
            data_type: 7, // INT64
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
        name.to_string()
    }

    /// Per-point layers on `[B, C, N]`: each a 1×1 `Conv` (weight `[out, in, 1]`, the transpose
    /// of `x·W`'s), then ReLU.
    fn points(&mut self, mut x: String, layers: &[Dense], prefix: &str, first: usize) -> String {
        for (i, l) in layers.iter().enumerate() {
            let name = format!("{prefix}.{}", first + i);
            let mut w = vec![0.0f32; l.weight.len()];
            for a in 0..l.inputs {
                for b in 0..l.outputs {
                    w[b * l.inputs + a] = l.weight[a * l.outputs + b];
                }
            }
            let dims = vec![l.outputs as i64, l.inputs as i64, 1];
            let w = self.floats(&format!("{name}.weight"), dims, &w);
            let b = self.floats(&format!("{name}.bias"), vec![l.outputs as i64], &l.bias);
            x = self.node(
                "Conv",
                &format!("{name}.conv"),
                &[&x, &w, &b],
                vec![ints_attr("kernel_shape", vec![1])],
            );
            if l.relu {
                x = self.node("Relu", &format!("{name}.relu"), &[&x], vec![]);
            }
        }
        x
    }

    /// The max over points, `[B, C, N]` → `[B, C]`.
    fn pool(&mut self, x: &str, name: &str) -> String {
        let keep = pb::AttributeProto {
            name: "keepdims".into(),
            r#type: 2, // INT
            i: 0,
            ..Default::default()
        };
        self.node(
            "ReduceMax",
            name,
            &[x],
            vec![ints_attr("axes", vec![2]), keep],
        )
    }

    /// Dense layers on `[B, C]` as `Gemm`s; the last named `last`.
    fn head(&mut self, mut x: String, layers: &[Dense], prefix: &str, last: &str) -> String {
        for (i, l) in layers.iter().enumerate() {
            let name = format!("{prefix}.{i}");
            let dims = vec![l.inputs as i64, l.outputs as i64];
            let w = self.floats(&format!("{name}.weight"), dims, &l.weight);
            let b = self.floats(&format!("{name}.bias"), vec![l.outputs as i64], &l.bias);
            let out = if i + 1 == layers.len() {
                last.to_string()
            } else {
                format!("{name}.gemm")
            };
            x = self.node("Gemm", &out, &[&x, &w, &b], vec![]);
            if l.relu && i + 1 < layers.len() {
                x = self.node("Relu", &format!("{name}.relu"), &[&x], vec![]);
            }
        }
        x
    }

    /// `x` (`[B, k, N]`) transformed by the T-Net's matrix `M` as pointlime applies it to each
    /// point (`p·M`): `Mᵀ·x`.
    fn tnet(&mut self, x: String, t: &TNetLayers, prefix: &str) -> String {
        let h = self.points(x.clone(), &t.points, &format!("{prefix}.points"), 0);
        let g = self.pool(&h, &format!("{prefix}.pool"));
        let m = self.head(
            g,
            &t.head,
            &format!("{prefix}.head"),
            &format!("{prefix}.matrix"),
        );
        let k = t.k as i64;
        let shape = self.int64s(&format!("{prefix}.shape"), &[-1, k, k]);
        let m = self.node(
            "Reshape",
            &format!("{prefix}.reshape"),
            &[&m, &shape],
            vec![],
        );
        let mt = self.node(
            "Transpose",
            &format!("{prefix}.transpose"),
            &[&m],
            vec![ints_attr("perm", vec![0, 2, 1])],
        );
        self.node("MatMul", &format!("{prefix}.apply"), &[&mt, &x], vec![])
    }
}

/// Writes a PointNet as ONNX (opset 13, input `points` `[batch, 3, n]` with free batch and point
/// axes, output `logits` `[batch, classes]`): each per-point layer a 1×1 `Conv` with its batch
/// norm folded in, the max over points a `ReduceMax`, each head layer a `Gemm`, a T-Net as the
/// same plus `Reshape`, `Transpose` and `MatMul`; and `config` as the sidecar beside it (`path`
/// with the extension `.json`). Both files are written atomically.
///
/// # Errors
/// [`Error::Config`] for layers whose sizes do not chain; I/O errors.
pub fn write_pointnet(path: &Path, net: &Portable, config: &OnnxConfig) -> Result<()> {
    use prost::Message;
    let chain = |start: usize, layers: &[Dense]| -> Result<usize> {
        let mut width = start;
        for l in layers {
            if l.inputs != width
                || l.weight.len() != l.inputs * l.outputs
                || l.bias.len() != l.outputs
            {
                return Err(Error::Config(format!(
                    "a layer of {}×{} does not follow one of width {width}",
                    l.inputs, l.outputs
                )));
            }
            width = l.outputs;
        }
        Ok(width)
    };
    let classes = chain(chain(3, &net.points)?, &net.head)?;
    for t in net.input_tnet.iter().chain(&net.feature_tnet) {
        if chain(chain(t.k, &t.points)?, &t.head)? != t.k * t.k {
            return Err(Error::Config(format!(
                "a T-Net of {0}×{0} does not regress {0}² values",
                t.k
            )));
        }
    }
    let mut g = GraphBuilder::default();
    let mut x = "points".to_string();
    if let Some(t) = &net.input_tnet {
        x = g.tnet(x, t, "input_tnet");
    }
    // The feature T-Net acts after the first point layer.
    let (first, rest) = net.points.split_at(net.points.len().min(1));
    x = g.points(x, first, "points", 0);
    if let Some(t) = &net.feature_tnet {
        x = g.tnet(x, t, "feature_tnet");
    }
    x = g.points(x, rest, "points", 1);
    let pooled = g.pool(&x, "pool");
    g.head(pooled, &net.head, "head", "logits");

    use pb::tensor_shape_proto::dimension::Value as D;
    let dim = |d: D| pb::tensor_shape_proto::Dimension {
        value: Some(d),
        ..Default::default()
    };
    let value = |name: &str, dims: Vec<pb::tensor_shape_proto::Dimension>| pb::ValueInfoProto {
        name: name.to_string(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: 1,
                shape: Some(pb::TensorShapeProto { dim: dims }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    };
    let batch = || dim(D::DimParam("batch".into()));
    let model = pb::ModelProto {
        ir_version: 7,
        producer_name: "pointlime".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        graph: Some(pb::GraphProto {
            name: "pointnet".into(),
            node: g.nodes,
            initializer: g.initializer,
            input: vec![value(
                "points",
                vec![batch(), dim(D::DimValue(3)), dim(D::DimParam("n".into()))],
            )],
            output: vec![value(
                "logits",
                vec![batch(), dim(D::DimValue(classes as i64))],
            )],
            ..Default::default()
        }),
        ..Default::default()
    };
    let bytes = model.encode_to_vec();
    crate::io::write_atomic(path, |mut f| {
        std::io::Write::write_all(&mut f, &bytes).map_err(|e| Error::io(path, e))
    })?;
    crate::io::write_json(&path.with_extension("json"), config)
}
