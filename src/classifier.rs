//! The classifier interface explainers see: clouds in, class scores out. No tensor library here,
//! so explainers and their tests never depend on burn (captum's `forward_func`, lime's
//! `classifier_fn`).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::channels::{ChannelTable, Channels};
use crate::cloud::{Axis, Normalisation};
use crate::domain::{shape, Competence, Domain};
use crate::error::Result;
use crate::perturb::Removal;

/// Which class score to return.
///
/// The type's own default is the probability, which is what a classifier is asked for when
/// nothing else is said; explanations default to the logit instead
/// (`explain::ScoringConfig`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Output {
    /// Softmax probabilities.
    #[default]
    Probability,
    /// Raw logits (pre-softmax scores).
    Logit,
}

impl Output {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Output::Probability => "probability",
            Output::Logit => "logit",
        }
    }
}

impl std::str::FromStr for Output {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Output, String> {
        match s {
            "logit" => Ok(Output::Logit),
            "probability" => Ok(Output::Probability),
            _ => Err(format!("unknown output {s:?}: logit or probability")),
        }
    }
}

/// A point-cloud classifier.
///
/// Inputs are point sets already in the model frame (see [`crate::cloud::Frame`]) with exactly
/// [`input_points`](Classifier::input_points) points each: the perturbed clouds of an explanation
/// carry positions only, so the interface takes positions rather than full
/// [`PointCloud`](crate::cloud::PointCloud)s with their attributes.
pub trait Classifier: Send + Sync {
    /// Class names; scores come in this order.
    fn class_names(&self) -> &[String];

    /// Points per input cloud.
    fn input_points(&self) -> usize;

    /// What runs the network, for reports (`burn Flex(Cpu)`, `tract`, `python callable`). By default,
    /// `rust`: a classifier written against this trait (the tests' analytic ones).
    fn runtime(&self) -> String {
        "rust".into()
    }

    /// How world coordinates map to the model frame.
    fn normalisation(&self) -> Normalisation {
        Normalisation::UnitSphere
    }

    /// The up axis of the data the model was trained on: a scan's up axis is turned onto it.
    fn up(&self) -> Axis {
        Axis::Z
    }

    /// The side of the square horizontal windows (file units, metres for LiDAR) the model reads
    /// of a larger scan, when it was trained on windows of tiles; `None` (the default): it reads
    /// whole scans.
    fn window(&self) -> Option<f64> {
        None
    }

    /// Scores for a batch: row-major `[clouds.len() × n_classes]`.
    ///
    /// # Errors
    /// [`Error::Classifier`](crate::Error::Classifier) when the backend fails.
    fn predict(&self, clouds: &[&[[f32; 3]]], output: Output) -> Result<Vec<f32>>;

    /// Class probabilities for a batch, one row per cloud.
    fn predict_proba(&self, clouds: &[&[[f32; 3]]]) -> Result<Vec<Vec<f32>>> {
        let n = self.class_names().len();
        Ok(self
            .predict(clouds, Output::Probability)?
            .chunks(n)
            .map(<[f32]>::to_vec)
            .collect())
    }

    /// Whether the scores depend only on the *set* of input points: every aggregation over points
    /// is a maximum (PointNet with or without T-Nets, in inference mode, where batch norm is a
    /// per-point affine map). Then repeating a point changes nothing, and a cloud may be given
    /// with any number of points from 1 to [`input_points`](Classifier::input_points) (all clouds
    /// of one call the same size). `false` by default.
    fn set_function(&self) -> bool {
        false
    }

    /// The network split at its max-pool, when it has one that nothing after the per-point layers
    /// looks past (PointNet without T-Nets): the exact fast scoring path
    /// (`explain::ScoringPath::ExactMaxPool`) uses it. `None`
    /// by default.
    fn max_pooled(&self) -> Option<&dyn MaxPooled> {
        None
    }

    /// The network's input transform, when it is predicted from a max-pool over per-point
    /// features of the raw points (PointNet's input T-Net): the scoring computes those features
    /// once per input instead of once per sample
    /// (`explain::ScoringPath::PooledInputTransform`).
    /// `None` by default.
    fn input_transform(&self) -> Option<&dyn InputTransform> {
        None
    }

    /// What the network reads per point besides x, y, z. By default, nothing.
    fn channels(&self) -> Channels {
        Channels::Xyz
    }

    /// This classifier reading `table`'s extra channels for the points of the clouds it is
    /// given (see [`crate::channels`]); `None` for one that reads none (the default).
    fn with_channels(&self, table: ChannelTable) -> Option<Box<dyn Classifier + '_>> {
        let _ = table;
        None
    }

    /// The network read at its global max-pool, T-Nets and all (Grad-CAM needs it); `None` by
    /// default.
    fn pool_layer(&self) -> Option<&dyn PoolLayer> {
        None
    }

    /// The network as plain dense layers (batch norms folded), when it is a PointNet whose
    /// weights can be read: what layer-wise relevance propagation walks back through. None by
    /// default.
    fn dense_layers(&self) -> Option<crate::dense::Portable> {
        None
    }

    /// Named layers that can be re-initialised, for the model-randomisation sanity checks;
    /// `None` by default.
    fn randomisable(&self) -> Option<&dyn Randomisable> {
        None
    }

    /// Gradients with respect to the input points, when the classifier can give them (gradient
    /// and saliency explainers need them); `None` by default.
    fn differentiable(&self) -> Option<&dyn Differentiable> {
        None
    }

    /// The classifier's own summary of each cloud, row-major `[clouds.len() × width]` (PointNet:
    /// the max-pooled global feature its head reads), for the competence check
    /// ([`competence`](Classifier::competence)); `None` (the default) when it has none.
    fn embed(&self, clouds: &[&[[f32; 3]]]) -> Option<Result<Vec<f32>>> {
        let _ = clouds;
        None
    }

    /// Statistics of [`embed`](Classifier::embed) on the classifier's training scans, when they
    /// were recorded; `None` by default.
    fn domain(&self) -> Option<&Domain> {
        None
    }

    /// Per-point scores, when the model labels every point (a segmentation network) rather than,
    /// or besides, the whole cloud; `None` (the default) for a per-cloud classifier. Such a model
    /// is explained through [`Region`], which reads it as a classifier of one region's points, so
    /// that every explainer and the pipeline take it unchanged.
    fn per_point(&self) -> Option<&dyn PerPoint> {
        None
    }

    /// A per-point model's per-point head read past its global max-pool
    /// ([`PointPooled`]), when it has one (pointlime's PointNet segmentation network without
    /// T-Nets): [`Region::keeping`] then scores perturbed clouds on the exact max-pool path.
    /// `None` by default.
    fn point_pooled(&self) -> Option<&dyn PointPooled> {
        None
    }

    /// The competence of the classifier on one cloud of its input points (model frame), when it
    /// has both a feature ([`embed`](Classifier::embed)) and recorded statistics
    /// ([`domain`](Classifier::domain)); `None` otherwise.
    ///
    /// # Errors
    /// Classifier errors.
    fn competence(&self, points: &[[f32; 3]]) -> Result<Option<Competence>> {
        let Some(domain) = self.domain() else {
            return Ok(None);
        };
        match self.embed(&[points]) {
            Some(feature) => Ok(Some(domain.assess(&feature?, &shape(points, self.up())))),
            None => Ok(None),
        }
    }
}

/// A model that scores every point of a cloud (see [`Classifier::per_point`]).
pub trait PerPoint: Send + Sync {
    /// Scores for every point of every cloud, row-major `[clouds.len() × points × classes]`, the
    /// points in the order given (every cloud of one call has the same number of points).
    ///
    /// # Errors
    /// [`Error::Classifier`](crate::Error::Classifier) when the backend fails.
    fn predict_points(&self, clouds: &[&[[f32; 3]]], output: Output) -> Result<Vec<f32>>;

    /// Whether [`region_gradients`](PerPoint::region_gradients) works: `false` by default.
    fn gives_gradients(&self) -> bool {
        false
    }

    /// `∂ (mean over the points `region` marks of score[class]) / ∂ points` for one cloud, one
    /// `[dx, dy, dz]` per point, the network in inference mode: the gradient a region's
    /// explanation needs (pGS-CAM's target: the region's class score).
    ///
    /// # Errors
    /// [`Error::Classifier`](crate::Error::Classifier) for a model without gradients (the
    /// default), a bad class, a mask that does not fit the points or marks none, or a backend
    /// failure.
    fn region_gradients(
        &self,
        points: &[[f32; 3]],
        region: &[bool],
        class: usize,
        output: Output,
    ) -> Result<Vec<[f32; 3]>> {
        let _ = (points, region, class, output);
        Err(crate::Error::Classifier(
            "the model gives no gradients".into(),
        ))
    }
}

/// A per-point model read as a classifier of one region: a cloud's score for a class is the mean
/// of that class's per-point score over the region's points in the cloud. Points are matched by
/// their exact model-frame positions, so a perturbed cloud, which carries a subset of the input's
/// points, keeps the scores of the region points it still has.
///
/// Made with [`Region::keeping`], the region is never perturbed: a cloud that lacks some of its
/// points gets them back before the model sees it, so that removing a segment removes only its
/// context points. Made with [`Region::new`], the region's points go with their segments, and the
/// score averages over those that remain; a cloud holding no region point scores 0 for every
/// class (with probabilities: no point left is called the class).
pub struct Region<'a> {
    model: &'a dyn Classifier,
    per_point: &'a dyn PerPoint,
    region: HashSet<[u32; 3]>,
    keep: Option<Kept>,
    /// With [`Region::keeping`] on a [`PointPooled`] model: the exact max-pool path.
    pooled: Option<RegionPooled<'a>>,
    /// With [`Region::keeping`]: which of the input's points are the region's, in the input's
    /// order. The gradient methods move every point (IG along a path, SmoothGrad by noise) but
    /// keep their order, so the region is known by position there.
    input_mask: Option<Vec<bool>>,
}

/// A kept region's head past the max-pool: every perturbed cloud holds all the region's points,
/// so its pooled feature is the maximum of the kept segments' and the region's own maxima, and
/// its score the mean of the region points' scores under that feature.
struct RegionPooled<'a> {
    model: &'a dyn PointPooled,
    head: Box<dyn PointsHead + 'a>,
    /// The maximum of `phi` over the region's points.
    region_max: Vec<f32>,
    points: usize,
}

/// What [`Region::keeping`] needs to put a region back: its points in order (each once), and
/// every point of the unperturbed input.
struct Kept {
    ordered: Vec<[f32; 3]>,
    input: HashSet<[u32; 3]>,
}

fn bits(p: &[f32; 3]) -> [u32; 3] {
    p.map(f32::to_bits)
}

impl<'a> Region<'a> {
    /// The region of `model` made of these model-frame points, perturbed with the rest, in an
    /// explanation whose unperturbed input is `input`: [`Region::new`], and the gradient methods
    /// and Grad-CAM, which read the unperturbed input alone, run on it as on a kept region.
    pub fn perturbing(
        model: &'a dyn Classifier,
        points: &[[f32; 3]],
        input: &[[f32; 3]],
    ) -> Option<Region<'a>> {
        let mut region = Region::new(model, points)?;
        region.at_input(points, input);
        Some(region)
    }

    /// What a region needs on its explanation's unperturbed input: its points there (by
    /// position in the input, for the gradient methods) and the head of its points past the
    /// max-pool (for the exact path and Grad-CAM). Returns the region's points in order, each
    /// once.
    fn at_input(&mut self, points: &[[f32; 3]], input: &[[f32; 3]]) -> Vec<[f32; 3]> {
        let model = self.model;
        let mut seen = HashSet::new();
        let ordered: Vec<[f32; 3]> = points
            .iter()
            .filter(|p| seen.insert(bits(p)))
            .copied()
            .collect();
        // A backend failure here leaves the generic path, which meets the failure itself.
        self.pooled = model
            .point_pooled()
            .and_then(|pp| RegionPooled::new(pp, &ordered).ok());
        self.input_mask = Some(
            input
                .iter()
                .map(|p| self.region.contains(&bits(p)))
                .collect(),
        );
        ordered
    }

    /// The region of `model` made of these model-frame points, perturbed with the rest; `None`
    /// for a model without per-point scores.
    pub fn new(model: &'a dyn Classifier, points: &[[f32; 3]]) -> Option<Region<'a>> {
        Some(Region {
            model,
            per_point: model.per_point()?,
            region: points.iter().map(bits).collect(),
            keep: None,
            pooled: None,
            input_mask: None,
        })
    }

    /// The region of `model` made of these model-frame points, kept whole in every perturbed
    /// cloud of an explanation whose unperturbed input is `input`. A missing region point takes
    /// the place of a point the perturbation put there in place of a removed one: a repeat of an
    /// earlier point (removal by dropping, which refills the cloud by repeating kept points) or
    /// a point that is not in `input` (removal by moving to the centroid). There are always
    /// enough such places, since the missing points were themselves removed.
    pub fn keeping(
        model: &'a dyn Classifier,
        points: &[[f32; 3]],
        input: &[[f32; 3]],
    ) -> Option<Region<'a>> {
        let mut region = Region::new(model, points)?;
        let ordered = region.at_input(points, input);
        region.keep = Some(Kept {
            ordered,
            input: input.iter().map(bits).collect(),
        });
        Some(region)
    }

    /// The region's IoU for `class` in each cloud (perturbed clouds of an explanation): the
    /// region's points against the points the model calls `class` there, each distinct point
    /// counted once (pGS-CAM's measure of a segmentation explanation: dropping the points an
    /// explanation ranks first should lower it more than dropping those it ranks last). A kept
    /// region has its points put back first, as for scoring. `None` for a cloud with neither.
    ///
    /// # Errors
    /// Classifier errors; [`Error::Classifier`](crate::Error::Classifier) for scores that do
    /// not fit the clouds.
    pub fn iou(&self, clouds: &[&[[f32; 3]]], class: usize) -> Result<Vec<Option<f64>>> {
        let c = self.class_names().len();
        let restored: Vec<Vec<[f32; 3]>> = clouds.iter().map(|c| self.restored(c)).collect();
        let refs: Vec<&[[f32; 3]]> = restored.iter().map(Vec::as_slice).collect();
        let scores = self.per_point.predict_points(&refs, Output::Probability)?;
        let points: usize = refs.iter().map(|cloud| cloud.len()).sum();
        if scores.len() != points * c {
            return Err(crate::Error::Classifier(format!(
                "{} per-point scores for {points} points of {c} classes",
                scores.len()
            )));
        }
        let mut rows = scores.chunks_exact(c);
        let mut out = Vec::with_capacity(refs.len());
        for cloud in &refs {
            let (mut both, mut either) = (0usize, 0usize);
            let mut counted = HashSet::new();
            for p in cloud.iter() {
                let row = rows.next().unwrap_or_default();
                if !counted.insert(bits(p)) {
                    continue;
                }
                let called = crate::stats::ranking(row).first() == Some(&class);
                let inside = self.region.contains(&bits(p));
                both += usize::from(called && inside);
                either += usize::from(called || inside);
            }
            out.push((either > 0).then(|| both as f64 / either as f64));
        }
        Ok(out)
    }

    /// `cloud` with the region's missing points put back (see [`Region::keeping`]).
    fn restored(&self, cloud: &[[f32; 3]]) -> Vec<[f32; 3]> {
        let Some(Kept { ordered, input }) = &self.keep else {
            return cloud.to_vec();
        };
        let mut out = cloud.to_vec();
        let mut present = HashSet::with_capacity(cloud.len());
        let mut free = Vec::new();
        for (i, p) in cloud.iter().enumerate() {
            if !present.insert(bits(p)) || !input.contains(&bits(p)) {
                free.push(i);
            }
        }
        let missing = ordered.iter().filter(|p| !present.contains(&bits(p)));
        for (slot, p) in free.into_iter().zip(missing) {
            out[slot] = *p;
        }
        out
    }
}

impl Classifier for Region<'_> {
    fn class_names(&self) -> &[String] {
        self.model.class_names()
    }

    fn input_points(&self) -> usize {
        self.model.input_points()
    }

    fn normalisation(&self) -> Normalisation {
        self.model.normalisation()
    }

    fn up(&self) -> Axis {
        self.model.up()
    }

    fn window(&self) -> Option<f64> {
        self.model.window()
    }

    /// Kept regions put points back in place of repeats, so only a region perturbed with the
    /// rest passes the model's set property on.
    fn set_function(&self) -> bool {
        self.keep.is_none() && self.model.set_function()
    }

    /// Only a kept region: one perturbed with the rest loses points the maxima cannot tell.
    fn max_pooled(&self) -> Option<&dyn MaxPooled> {
        self.pooled
            .as_ref()
            .filter(|_| self.keep.is_some())
            .map(|_| self as &dyn MaxPooled)
    }

    /// Grad-CAM for segmentation, as pGS-CAM does it: the region's score (here its mean, which
    /// scales the map and does not reorder it) read at the layer the global max-pool reads.
    fn pool_layer(&self) -> Option<&dyn PoolLayer> {
        self.pooled
            .as_ref()
            .filter(|p| self.input_mask.is_some() && !p.model.phi_is_local())
            .map(|_| self as &dyn PoolLayer)
    }

    /// A region known on its input, of a model that gives per-point gradients: the gradient
    /// methods run on it.
    fn differentiable(&self) -> Option<&dyn Differentiable> {
        (self.input_mask.is_some() && self.per_point.gives_gradients())
            .then_some(self as &dyn Differentiable)
    }

    fn predict(&self, clouds: &[&[[f32; 3]]], output: Output) -> Result<Vec<f32>> {
        let c = self.class_names().len();
        let restored: Vec<Vec<[f32; 3]>>;
        let clouds: Vec<&[[f32; 3]]> = if self.keep.is_some() {
            restored = clouds.iter().map(|c| self.restored(c)).collect();
            restored.iter().map(Vec::as_slice).collect()
        } else {
            clouds.to_vec()
        };
        let scores = self.per_point.predict_points(&clouds, output)?;
        let points: usize = clouds.iter().map(|cloud| cloud.len()).sum();
        if scores.len() != points * c {
            return Err(crate::Error::Classifier(format!(
                "{} per-point scores for {points} points of {c} classes",
                scores.len()
            )));
        }
        let mut out = vec![0.0f32; clouds.len() * c];
        let mut at = 0;
        // Each region point counts once, however often the cloud repeats it (removal by dropping
        // refills the cloud with repeats of kept points): the mean over the region's points.
        let mut counted = HashSet::new();
        for (cloud, row) in clouds.iter().zip(out.chunks_exact_mut(c)) {
            let mut n = 0usize;
            counted.clear();
            for p in cloud.iter() {
                if self.region.contains(&bits(p)) && counted.insert(bits(p)) {
                    n += 1;
                    row.iter_mut()
                        .zip(&scores[at..at + c])
                        .for_each(|(r, s)| *r += s);
                }
                at += c;
            }
            if n > 0 {
                row.iter_mut().for_each(|r| *r /= n as f32);
            }
        }
        Ok(out)
    }
}

/// The region's score's gradient over every point of a cloud aligned with the input (the
/// region's own points included: nothing is removed, so nothing is put back).
impl Differentiable for Region<'_> {
    fn input_gradients(
        &self,
        points: &[[f32; 3]],
        class: usize,
        output: Output,
    ) -> Result<Vec<[f32; 3]>> {
        match &self.input_mask {
            Some(mask) if mask.len() == points.len() => {
                self.per_point.region_gradients(points, mask, class, output)
            }
            _ => Err(crate::Error::Classifier(format!(
                "a region's gradients are taken on clouds of its input's {} points, in order; got \
                 {}",
                self.input_mask.as_ref().map_or(0, Vec::len),
                points.len()
            ))),
        }
    }
}

impl<'a> RegionPooled<'a> {
    fn new(model: &'a dyn PointPooled, points: &[[f32; 3]]) -> Result<Self> {
        let c = model.feature_dim();
        let mut region_max = vec![f32::NEG_INFINITY; c];
        for f in model.point_features(points)?.chunks_exact(c) {
            region_max
                .iter_mut()
                .zip(f)
                .for_each(|(m, &v)| *m = m.max(v));
        }
        Ok(RegionPooled {
            model,
            head: model.points_head(points)?,
            region_max,
            points: points.len(),
        })
    }
}

impl RegionPooled<'_> {
    /// The mean over the region's points of their scores under each global feature
    /// (`[b × feature_dim]` → `[b × classes]`).
    fn mean_scores(&self, globals: &[f32], output: Output, classes: usize) -> Result<Vec<f32>> {
        let scores = self.head.scores(globals, output)?;
        let n = self.points;
        Ok(scores
            .chunks_exact(n * classes)
            .flat_map(|rows| {
                (0..classes)
                    .map(move |k| rows.iter().skip(k).step_by(classes).sum::<f32>() / n as f32)
            })
            .collect())
    }
}

/// A region read at its model's global max-pool (see [`Region`]'s `pool_layer`): `h` is the
/// model's `phi` over the whole cloud, and the head the region points' mean score.
impl PoolLayer for Region<'_> {
    fn pool_width(&self) -> usize {
        self.pooled.as_ref().map_or(0, |p| p.model.feature_dim())
    }

    fn cloud_features(&self, points: &[[f32; 3]]) -> Result<Vec<f32>> {
        MaxPooled::point_features(self, points)
    }

    fn pooled_head(&self, globals: &[f32], output: Output) -> Result<Vec<f32>> {
        match &self.pooled {
            Some(p) => p.mean_scores(globals, output, self.class_names().len()),
            None => Err(crate::Error::Classifier("no max-pooled path".into())),
        }
    }
}

/// The exact max-pool path of a kept region: the segments' maxima come from the explainer's
/// scoring, the region's own maximum is added here (its points are in every cloud), and only
/// the head of the region's points runs per perturbed cloud.
impl MaxPooled for Region<'_> {
    fn feature_dim(&self) -> usize {
        self.pooled.as_ref().map_or(0, |p| p.model.feature_dim())
    }

    fn point_features(&self, points: &[[f32; 3]]) -> Result<Vec<f32>> {
        match &self.pooled {
            Some(p) => p.model.point_features(points),
            None => Err(crate::Error::Classifier("no max-pooled path".into())),
        }
    }

    fn head(&self, globals: &[f32], output: Output) -> Result<Vec<f32>> {
        let Some(p) = &self.pooled else {
            return Err(crate::Error::Classifier("no max-pooled path".into()));
        };
        let f = p.region_max.len();
        let mut globals = globals.to_vec();
        for g in globals.chunks_exact_mut(f) {
            g.iter_mut()
                .zip(&p.region_max)
                .for_each(|(g, &r)| *g = g.max(r));
        }
        p.mean_scores(&globals, output, self.class_names().len())
    }

    /// Removal by moving to the centroid leaves points at the origin only where more points
    /// were removed than the region gets back, which the segment maxima cannot tell.
    fn exact_with(&self, removal: Removal) -> bool {
        removal == Removal::Drop
    }

    fn readable(&self) -> bool {
        false
    }
}

/// A classifier whose scores can be differentiated with respect to its input points.
pub trait Differentiable: Send + Sync {
    /// `∂ score[class] / ∂ points` for one cloud (1 to `input_points` points, model frame), one
    /// `[dx, dy, dz]` per point, with the network in inference mode.
    ///
    /// # Errors
    /// [`Error::Classifier`](crate::Error::Classifier) for a bad class or a backend failure.
    fn input_gradients(
        &self,
        points: &[[f32; 3]],
        class: usize,
        output: Output,
    ) -> Result<Vec<[f32; 3]>>;
}

/// A classifier of the form `head(max over points of phi(point))`.
pub trait MaxPooled: Send + Sync {
    /// Width of the per-point feature `phi`.
    fn feature_dim(&self) -> usize;

    /// `phi` of every point: row-major `[points.len() × feature_dim]`.
    ///
    /// # Errors
    /// [`Error::Classifier`](crate::Error::Classifier) when the backend fails.
    fn point_features(&self, points: &[[f32; 3]]) -> Result<Vec<f32>>;

    /// The head on pooled features: `globals` is `[b × feature_dim]`, the result `[b × n_classes]`.
    ///
    /// # Errors
    /// [`Error::Classifier`](crate::Error::Classifier) when the backend fails.
    fn head(&self, globals: &[f32], output: Output) -> Result<Vec<f32>>;

    /// Whether the pooled features of a perturbed cloud are the maximum over its kept segments
    /// (and the origin, where removal puts points there) under this removal; true by default.
    fn exact_with(&self, removal: Removal) -> bool {
        let _ = removal;
        true
    }

    /// Whether the methods that read the pooled feature itself (cam, critical, featurenorm) may
    /// read this one; true by default. A kept region's serves its scoring only: its head clamps
    /// the feature at the region's own maximum, which a slope measured there would halve.
    fn readable(&self) -> bool {
        true
    }
}

/// A segmentation network whose per-point scores are `head(local(p), g)`, with `g` the maximum
/// over the cloud's points of a per-point feature `phi` and `local(p)` a feature of the point
/// alone: PointNet's segmentation network without T-Nets.
pub trait PointPooled: Send + Sync {
    /// Width of `phi`.
    fn feature_dim(&self) -> usize;

    /// `phi` of every point: row-major `[points.len() × feature_dim]`.
    ///
    /// # Errors
    /// [`Error::Classifier`](crate::Error::Classifier) when the backend fails.
    fn point_features(&self, points: &[[f32; 3]]) -> Result<Vec<f32>>;

    /// The head of these points, with what depends on them alone (their local features and
    /// their part of the head's first layer) computed once.
    ///
    /// # Errors
    /// [`Error::Classifier`](crate::Error::Classifier) when the backend fails.
    fn points_head<'s>(&'s self, points: &[[f32; 3]]) -> Result<Box<dyn PointsHead + 's>>;

    /// Whether `phi` is also each point's `local` feature (a network of one point layer): then
    /// a point's `phi` reaches its own scores besides the max-pool, and Grad-CAM's weights read
    /// at the max-pool alone would leave that out. `false` by default.
    fn phi_is_local(&self) -> bool {
        false
    }
}

/// The per-point head of a fixed set of points (see [`PointPooled::points_head`]).
pub trait PointsHead: Send + Sync {
    /// The points' scores under each global feature: `globals` is `[b × feature_dim]`, the
    /// result `[b × points × n_classes]`.
    ///
    /// # Errors
    /// [`Error::Classifier`](crate::Error::Classifier) when the backend fails.
    fn scores(&self, globals: &[f32], output: Output) -> Result<Vec<f32>>;
}

/// A network `head(max over points of h(p; cloud))` read at its global max-pool: `h` is the layer
/// the max-pool reads, which may depend on the whole cloud (a T-Net's transform) — unlike
/// [`MaxPooled`], whose per-point features see one point each.
pub trait PoolLayer: Send + Sync {
    /// Width of `h`.
    fn pool_width(&self) -> usize;

    /// `h` of every point of `points` as one cloud: row-major `[points.len() × pool_width]`.
    ///
    /// # Errors
    /// [`Error::Classifier`](crate::Error::Classifier) when the backend fails.
    fn cloud_features(&self, points: &[[f32; 3]]) -> Result<Vec<f32>>;

    /// The head on pooled features: `globals` is `[b × pool_width]`, the result
    /// `[b × n_classes]`.
    ///
    /// # Errors
    /// [`Error::Classifier`](crate::Error::Classifier) when the backend fails.
    fn pooled_head(&self, globals: &[f32], output: Output) -> Result<Vec<f32>>;
}

/// A classifier with named layers whose weights can be drawn afresh: the model-randomisation
/// sanity checks of Adebayo et al. (2018), cascading (every layer from the output down to some
/// depth) or independent (one layer at a time). An explanation that survives randomising the
/// weights does not explain what the model learnt.
pub trait Randomisable: Send + Sync {
    /// The layers' names, input to output.
    fn layer_names(&self) -> Vec<String>;

    /// A copy with the named layers re-initialised from `seed`; a layer gets the same new
    /// weights whichever others are randomised with it.
    ///
    /// # Errors
    /// [`Error::Config`](crate::Error::Config) for a name not in
    /// [`layer_names`](Self::layer_names).
    fn randomised(&self, layers: &[String], seed: u64) -> Result<Box<dyn Classifier>>;
}

/// A network `f(x) = rest(x, max over the points p of x of psi(p))`, where `psi` sees one raw
/// point at a time: PointNet's input T-Net, whose 3 × 3 matrix follows from that maximum. A
/// perturbed cloud's maximum is the maximum over its kept segments of each segment's maximum of
/// `psi`, so `psi` runs once per input; only `rest` runs per sample.
pub trait InputTransform: Send + Sync {
    /// Width of `psi`.
    fn transform_dim(&self) -> usize;

    /// `psi` of every point: row-major `[points.len() × transform_dim]`.
    ///
    /// # Errors
    /// [`Error::Classifier`](crate::Error::Classifier) when the backend fails.
    fn transform_features(&self, points: &[[f32; 3]]) -> Result<Vec<f32>>;

    /// The scores of `clouds` (as [`Classifier::predict`] takes them) given each cloud's maximum
    /// of `psi`, row-major `[clouds.len() × transform_dim]`.
    ///
    /// # Errors
    /// [`Error::Classifier`](crate::Error::Classifier) when the backend fails.
    fn predict_given(
        &self,
        clouds: &[&[[f32; 3]]],
        pooled: &[f32],
        output: Output,
    ) -> Result<Vec<f32>>;
}

/// `n` points on a spiral over the unit sphere: a fixed cloud to run a model once on load, so
/// that a model that cannot run fails there, in one line, rather than in the middle of the first
/// explanation.
pub fn probe_cloud(n: usize) -> Vec<[f32; 3]> {
    (0..n)
        .map(|i| {
            let t = (i as f32 + 0.5) / n as f32;
            let (z, a) = (1.0 - 2.0 * t, i as f32 * 2.399_963);
            let r = (1.0 - z * z).max(0.0).sqrt();
            [r * a.cos(), r * a.sin(), z]
        })
        .collect()
}

/// The global max-pool of per-point features (`rows`, row-major with `c` columns): each column's
/// maximum, and the row that holds it (the first, on a tie).
pub fn max_pool(rows: &[f32], c: usize) -> (Vec<f32>, Vec<usize>) {
    let mut g = vec![f32::NEG_INFINITY; c];
    let mut winner = vec![0usize; c];
    for (i, row) in rows.chunks(c).enumerate() {
        for (k, &v) in row.iter().enumerate() {
            if v > g[k] {
                g[k] = v;
                winner[k] = i;
            }
        }
    }
    (g, winner)
}

/// Each cloud's score from its points' (`[Σ n × classes]`, cloud after cloud): their mean, the
/// whole cloud as one region of a per-point model.
pub fn mean_over_points(points: &[f32], clouds: &[&[[f32; 3]]], classes: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(clouds.len() * classes);
    let mut at = 0;
    for cloud in clouds {
        let rows = &points[at..at + cloud.len() * classes];
        at += rows.len();
        let mut mean = vec![0.0f32; classes];
        for row in rows.chunks_exact(classes) {
            mean.iter_mut().zip(row).for_each(|(m, r)| *m += r);
        }
        out.extend(mean.iter().map(|m| m / cloud.len().max(1) as f32));
    }
    out
}

/// A class of `model` by name (any case) or index.
///
/// # Errors
/// [`Error::Config`](crate::Error::Config) naming the model's classes, for anything else.
pub fn class_index(model: &dyn Classifier, name_or_index: &str) -> Result<usize> {
    let names = model.class_names();
    if let Some(i) = names
        .iter()
        .position(|n| n.eq_ignore_ascii_case(name_or_index))
    {
        return Ok(i);
    }
    match name_or_index.parse::<usize>() {
        Ok(i) if i < names.len() => Ok(i),
        _ => Err(crate::Error::Config(format!(
            "unknown target {name_or_index:?}: the model's classes are {}",
            names.join(", ")
        ))),
    }
}

/// Softmax of each row of a row-major matrix with `n` columns, in place.
pub fn softmax_rows(values: &mut [f32], n: usize) {
    for row in values.chunks_mut(n) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0;
        for v in row.iter_mut() {
            *v = (*v - max).exp();
            sum += *v;
        }
        for v in row.iter_mut() {
            *v /= sum;
        }
    }
}
