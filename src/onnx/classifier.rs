//! The ONNX model behind the [`Classifier`] interface, plain or bound to one scan's channels.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rayon::prelude::*;
use tract_onnx::pb;
use tract_onnx::prelude::*;

use super::config::{competence_path, Layout, OnnxConfig, Task};
use super::plan::{
    input_dims, plan, plan_inputs, point_tensor, read, run_inputs, run_plan, words, Plans, BATCH,
};
use super::split::{
    point_features, pooled_shape, probe_pool, run_head, same_scores, Split, TransformSplit,
};
use crate::channels::{ChannelTable, Channels};
use crate::classifier::{
    max_pool, mean_over_points, Classifier, InputTransform, MaxPooled, Output, PerPoint,
    Randomisable,
};
use crate::cloud::{Axis, Normalisation};
use crate::domain::Domain;
use crate::error::{Error, Result};

/// An ONNX point-cloud classifier.
pub struct OnnxClassifier {
    pub(super) path: PathBuf,
    pub(super) config: OnnxConfig,
    /// The file as read, for randomised copies.
    pub(super) proto: pb::ModelProto,
    /// The file as tract reads it, before any shape is fixed.
    pub(super) model: InferenceModel,
    /// Points per cloud.
    pub(super) points: usize,
    /// Plans by input shape.
    pub(super) plans: Plans,
    /// The network split at its max-pool, when it is one (see [`Split`]).
    pub(super) split: Option<Split>,
    /// Why there is no split.
    pub(super) no_split: String,
    /// The network cut after its input transform's max-pool, when it has no split and this cut
    /// saves work (see [`TransformSplit`]).
    pub(super) transform: Option<TransformSplit>,
    /// Competence statistics, from `FILE.competence.json` beside the model.
    pub(super) domain: Option<Domain>,
    /// Clouds per tract run; a larger call is split and the parts run in parallel. 1 for a
    /// network that searches neighbours (a `TopK` in its graph: DGCNN's k-NN, PointNet++'s ball
    /// query), whose `[B, N, N]` distance tensors make each cloud slower in a larger batch (in
    /// PyTorch too; measured in docs/models.md, with a tenth of the memory); [`BATCH`] otherwise.
    pub(super) chunk: usize,
}

impl std::fmt::Debug for OnnxClassifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxClassifier")
            .field("path", &self.path)
            .field("classes", &self.config.class_names)
            .finish()
    }
}

impl OnnxClassifier {
    /// Loads `path` with `config` and runs it once on a fixed cloud, so that a file tract cannot
    /// run, or whose output does not match the class names, fails here in one line.
    ///
    /// # Errors
    /// [`Error::Model`] naming the file and the problem.
    pub fn load(path: &Path, config: OnnxConfig) -> Result<OnnxClassifier> {
        Self::load_with(path, config, true)
    }

    /// As [`load`](Self::load); with `competence` false, the competence statistics beside the
    /// file are left unread (for recording them anew).
    ///
    /// # Errors
    /// As [`load`](Self::load).
    pub fn load_with(path: &Path, config: OnnxConfig, competence: bool) -> Result<OnnxClassifier> {
        let (proto, model) = read(path)?;
        let mut classifier = Self::from_proto(path, proto, model, config)?;
        let statistics = competence_path(path);
        if competence && statistics.is_file() {
            let domain = crate::domain::read_domain(&statistics)?;
            classifier.set_domain(domain, &statistics)?;
        }
        Ok(classifier)
    }

    /// How clouds go through tract, for `model inspect`.
    pub fn runs(&self) -> String {
        if self.chunk == 1 {
            "one cloud a tract run, the clouds of a call in parallel (the graph searches \
             neighbours with TopK: larger batches are slower per cloud)"
                .into()
        } else {
            format!(
                "up to {} clouds a tract run, larger calls split and run in parallel",
                self.chunk
            )
        }
    }

    pub(super) fn from_proto(
        path: &Path,
        proto: pb::ModelProto,
        model: InferenceModel,
        mut config: OnnxConfig,
    ) -> Result<OnnxClassifier> {
        let bad = |m: String| Error::model(path, m);
        let points = checked_input(&model, &config).map_err(bad)?;
        let searches = proto
            .graph
            .iter()
            .flat_map(|g| &g.node)
            .any(|n| n.op_type == "TopK");
        let mut classifier = OnnxClassifier {
            chunk: if searches { 1 } else { BATCH },
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
        let width = match config.task {
            Task::Classify => raw.len(),
            // One cloud of `points` points: a score per point and class.
            Task::Segment if raw.len() % points == 0 => raw.len() / points,
            Task::Segment => {
                return Err(bad(format!(
                    "output {} has {} values for one cloud of {points} points; a segmentation \
                     output has a multiple of the point count (task \"segment\")",
                    config.output,
                    raw.len()
                )))
            }
        };
        if config.class_names.is_empty() {
            config.class_names = (0..width).map(|i| format!("class_{i}")).collect();
        }
        if width != config.class_names.len() || width < 2 {
            return Err(bad(format!(
                "output {} has {width} values per {} for {} class names",
                config.output,
                match config.task {
                    Task::Classify => "cloud",
                    Task::Segment => "point",
                },
                config.class_names.len()
            )));
        }
        if raw.iter().any(|v| !v.is_finite()) {
            return Err(bad("the model gives non-finite scores".into()));
        }
        classifier.config = config;
        if classifier.config.task == Task::Segment {
            // The fast paths cut a network at the max-pool its per-cloud head reads; a
            // segmentation head reads every point beside the pooled feature.
            classifier.no_split = "a segmentation network's head reads every point".into();
            return Ok(classifier);
        }
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
            &run_head(split, &self.config, &pooled).map_err(|e| e.to_string())?,
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
        self.config.scores.convert(v, c, output);
    }

    /// The settings in use (with class names filled in).
    pub fn config(&self) -> &OnnxConfig {
        &self.config
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the scores depend only on the set of points: the sidecar says so, or the network
    /// was cut at its max-pool (then every aggregation over points is that maximum). The generic
    /// scoring path then feeds clouds of their kept points only, and `run_with` pads them.
    fn is_set_function(&self) -> bool {
        self.split.is_some() || self.config.set_function
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
            && (n == self.points || (self.is_set_function() && (1..self.points).contains(&n)));
        if !sizes_ok {
            return Err(Error::Classifier(format!(
                "the ONNX model takes clouds of {} points{}, got sizes {:?}",
                self.points,
                if self.is_set_function() {
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
        let n = if self.is_set_function() && n < self.points && self.config.task == Task::Classify {
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
        if self.config.task == Task::Segment {
            // The cloud's score is the mean of its points' scores: the whole cloud as one region.
            let c = self.config.class_names.len();
            let v = self.predict_points_with(clouds, output, table)?;
            return Ok(mean_over_points(&v, clouds, c));
        }
        let parts: Vec<Vec<f32>> = clouds
            .par_chunks(self.chunk)
            .map(|chunk| self.run_with(chunk, None, table))
            .collect::<Result<_>>()?;
        let mut v: Vec<f32> = parts.into_iter().flatten().collect();
        self.convert(&mut v, output);
        Ok(v)
    }

    /// Per-point scores, `[clouds × points × classes]` whatever the output's layout.
    fn predict_points_with(
        &self,
        clouds: &[&[[f32; 3]]],
        output: Output,
        table: Option<&ChannelTable>,
    ) -> Result<Vec<f32>> {
        if self.config.task != Task::Segment {
            return Err(Error::Classifier(
                "the model scores whole clouds (its sidecar has no \"task\": \"segment\")".into(),
            ));
        }
        let c = self.config.class_names.len();
        let parts: Vec<Vec<f32>> = clouds
            .par_chunks(self.chunk)
            .map(|chunk| {
                let raw = self.run_with(chunk, None, table)?;
                let points: usize = chunk.iter().map(|p| p.len()).sum();
                if raw.len() != points * c {
                    return Err(Error::Classifier(format!(
                        "output {} has {} values for {points} points of {c} classes",
                        self.config.output,
                        raw.len()
                    )));
                }
                let layout = self.config.output_layout.unwrap_or(self.config.layout);
                Ok(match layout {
                    Layout::Bnc => raw,
                    // [b, C, n] -> [b, n, C], one cloud at a time.
                    Layout::Bcn => {
                        let n = chunk.first().map_or(0, |p| p.len());
                        let mut out = vec![0.0f32; raw.len()];
                        for (src, dst) in raw.chunks_exact(n * c).zip(out.chunks_exact_mut(n * c)) {
                            for k in 0..c {
                                for i in 0..n {
                                    dst[i * c + k] = src[k * n + i];
                                }
                            }
                        }
                        out
                    }
                })
            })
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
            .par_chunks(self.chunk)
            .zip(pooled.par_chunks(self.chunk * ch))
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
        let mut v = run_head(split, &self.config, globals)?;
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
                self.model().is_set_function()
            }

            fn runtime(&self) -> String {
                "tract".into()
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

            fn per_point(&self) -> Option<&dyn PerPoint> {
                (self.model().config.task == Task::Segment).then_some(self as &dyn PerPoint)
            }
        }

        impl PerPoint for $t {
            fn predict_points(&self, clouds: &[&[[f32; 3]]], output: Output) -> Result<Vec<f32>> {
                self.model()
                    .predict_points_with(clouds, output, self.table())
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
pub(super) struct WithChannels<'a> {
    pub(super) model: &'a OnnxClassifier,
    pub(super) table: ChannelTable,
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

/// The points per cloud the model's input takes (its fixed point axis, else the sidecar's
/// `num_points`), after checking that the input is one point tensor of the sidecar's layout and
/// channels; otherwise what is wrong with it.
fn checked_input(
    model: &InferenceModel,
    config: &OnnxConfig,
) -> std::result::Result<usize, String> {
    if model.inputs.len() != 1 {
        return Err(format!(
            "the model takes {} inputs; pointlime gives one point tensor",
            model.inputs.len()
        ));
    }
    let dims = input_dims(model).map_err(|e| words(&e))?;
    if !dims.is_empty() && dims.len() != 3 {
        return Err(format!(
            "its input has {} dimensions; a point tensor has 3 ([B, 3, N] or [B, N, 3])",
            dims.len()
        ));
    }
    let (channels, n) = match (config.layout, dims.as_slice()) {
        (Layout::Bcn, [_, c, n]) => (*c, *n),
        (Layout::Bnc, [_, n, c]) => (*c, *n),
        _ => (None, None),
    };
    // A free channel axis beside a point axis of exactly 3 is the other layout, read the
    // wrong way round (it would run, on clouds of 3 points).
    if channels.is_none() && n == Some(3) {
        return Err(format!(
            "its input is {} with a free point axis; set \"layout\": \"{}\" in the sidecar",
            match config.layout {
                Layout::Bcn => "[B, N, 3]",
                Layout::Bnc => "[B, 3, N]",
            },
            match config.layout {
                Layout::Bcn => "bnc",
                Layout::Bnc => "bcn",
            }
        ));
    }
    let given = 3 + config.channels.extra();
    if let Some(c) = channels.filter(|&c| c != given) {
        return Err(format!(
            "the input takes {c} channels per point in layout {:?}; the sidecar's channels \
             {:?} give {given} (a wrong \"layout\" or \"channels\" in the sidecar?)",
            config.layout,
            config.channels.name()
        ));
    }
    let points = n.unwrap_or(config.num_points);
    if points == 0 || points > 1 << 20 {
        return Err(format!("{points} points per cloud is out of range"));
    }
    Ok(points)
}
