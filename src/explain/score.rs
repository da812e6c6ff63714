//! Scoring perturbed clouds: the S forward passes that are LIME's whole cost.
//!
//! Three ways, all giving the scores of the same masks in mask order:
//!
//! - **Exact max-pool path** (PointNet without T-Nets, [`Classifier::max_pooled`]): the network is
//!   `head(max over points of phi(point))`, so the global feature of a perturbed cloud is the
//!   maximum over its kept segments of each segment's maximum of `phi`. `phi` is computed once for
//!   the N input points, the K segment maxima once, and each sample costs a K × C maximum and one
//!   pass through the head. Exact for [`Removal::Drop`] (the refill repeats kept points, which
//!   cannot change a maximum; a mask keeping nothing is the cloud of N points at the origin, whose
//!   feature is `phi(origin)`) and for [`Removal::Centroid`] (removed points all sit at the origin,
//!   so they add `phi(origin)` to the maximum). Only float rounding differs from the full pass.
//! - **Generic path** for any classifier: perturbed clouds built into one buffer per batch, batches
//!   in parallel on the rayon pool. When the classifier is a set function
//!   ([`Classifier::set_function`], every PointNet) and removal is [`Removal::Drop`], each sample is
//!   given only as many points as it keeps (samples ordered by kept count so a batch's clouds have
//!   similar sizes, each refilled to the largest): by the set-function property the scores are
//!   those of the full refilled clouds, at about `keep_probability` of the cost.
//!   When the network's input transform is predicted from a max-pool over per-point features of
//!   the raw points ([`Classifier::input_transform`], PointNet's input T-Net), those features get
//!   the max-pool path's treatment: computed once for the N input points, maximised per segment,
//!   and each sample's maximum assembled from its kept segments; only the rest of the network runs
//!   per sample (about two thirds of a T-Net PointNet's work).
//! - **Full path**: every sample as a full N-point cloud; the reference the others are tested
//!   against.

use std::ops::AddAssign;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::input::Input;
use crate::classifier::{softmax_rows, Classifier, InputTransform, MaxPooled, Output};
use crate::error::{Error, Result};
use crate::perturb::{apply_into, kept_points, Masks, Removal};
use crate::segment::point_counts;

/// How perturbed clouds are built and scored: the one configuration every explainer and every
/// faithfulness metric scores masks with.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScoringConfig {
    /// What happens to removed segments. By default, [`Removal::Drop`].
    pub removal: Removal,
    /// Score explained: logit or probability. By default, the logit: a confident classifier's
    /// probability saturates near 1, where removing evidence barely moves it and a linear
    /// surrogate fits badly (measured in docs/faithfulness.md).
    pub output: Output,
    /// Clouds per classifier call. Results do not depend on it. By default, 32.
    pub batch_size: usize,
    /// Which scoring paths may be used; all give the same scores up to float rounding. By
    /// default, the fastest exact one.
    pub path: Scoring,
}

impl Default for ScoringConfig {
    fn default() -> Self {
        ScoringConfig {
            removal: Removal::Drop,
            output: Output::Logit,
            batch_size: 32,
            path: Scoring::Auto,
        }
    }
}

impl ScoringConfig {
    /// Checks the settings once, before any work.
    ///
    /// # Errors
    /// [`Error::Config`] for a batch size of 0.
    pub fn validate(&self) -> Result<()> {
        if self.batch_size == 0 {
            return Err(Error::Config("batch size must be at least 1".into()));
        }
        Ok(())
    }

    /// Class probabilities from one row of scores in this configuration's output.
    pub fn probabilities(&self, scores: &[f32]) -> Vec<f32> {
        let mut p = scores.to_vec();
        if self.output == Output::Logit {
            softmax_rows(&mut p, scores.len());
        }
        p
    }
}

/// Called with the number of samples just scored; batches finish in any order.
pub type Progress = dyn Fn(usize) + Sync;

/// Which scoring paths may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scoring {
    /// The fastest exact path the classifier allows. By default, this.
    #[default]
    Auto,
    /// Never the max-pool shortcut: every sample goes through the whole network (`--brute-force`).
    Generic,
    /// Every sample as a full N-point cloud through the whole network, with no shortcut at all.
    Full,
}

impl std::str::FromStr for Scoring {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Scoring, String> {
        match s {
            "auto" => Ok(Scoring::Auto),
            "generic" => Ok(Scoring::Generic),
            "full" => Ok(Scoring::Full),
            _ => Err(format!("unknown scoring {s:?}: auto, generic or full")),
        }
    }
}

impl ScoringPath {
    /// The name reports use.
    pub fn name(self) -> &'static str {
        match self {
            ScoringPath::ExactMaxPool => "exact_max_pool",
            ScoringPath::GenericKeptPoints => "generic_kept_points",
            ScoringPath::PooledInputTransform => "pooled_input_transform",
            ScoringPath::GenericFull => "generic_full",
            ScoringPath::Backprop => "backprop",
            ScoringPath::PooledFeatures => "pooled_features",
        }
    }
}

/// The path that scored an explanation's samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoringPath {
    /// Per-point features once, per-segment maxima, head per sample.
    ExactMaxPool,
    /// Whole network per sample, each with only its kept points (set-function classifiers).
    GenericKeptPoints,
    /// The input transform's per-point features once, per-segment maxima, the rest of the network
    /// per sample with its kept points (T-Net PointNets).
    PooledInputTransform,
    /// Whole network per sample, each a full N-point cloud.
    GenericFull,
    /// No samples: one forward and backward pass through the whole network per explained class
    /// (the gradient methods).
    Backprop,
    /// No samples: the per-point features once, and the head on the pooled feature (cam: nudged
    /// one channel at a time, twice per channel).
    PooledFeatures,
}

/// What the classifier was asked to do for an explanation, and how long it took. Costs add, so
/// repeated attempts (LIME's `--auto-samples`) report their sum.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cost {
    /// How the classifier was run (of the last attempt, when costs are added).
    pub path: ScoringPath,
    /// Seconds drawing masks and building perturbed clouds (or pooled features).
    pub sampling_seconds: f64,
    /// Seconds running the classifier.
    pub inference_seconds: f64,
    /// Seconds fitting surrogates (LIME, KernelSHAP).
    pub fit_seconds: f64,
    /// Points that went through the classifier's per-point layers.
    pub points_evaluated: u64,
    /// Clouds (or pooled features) that went through the classifier's head.
    pub clouds_evaluated: u64,
}

impl AddAssign for Cost {
    /// Adds `other`'s times and evaluations; the path stays this one's.
    fn add_assign(&mut self, other: Cost) {
        self.sampling_seconds += other.sampling_seconds;
        self.inference_seconds += other.inference_seconds;
        self.fit_seconds += other.fit_seconds;
        self.points_evaluated += other.points_evaluated;
        self.clouds_evaluated += other.clouds_evaluated;
    }
}

/// Scores and what it took to get them.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// Row-major `[n_samples × n_classes]`, in mask order.
    pub scores: Vec<f32>,
    /// The path, the sampling time (building perturbed clouds or segment maxima, as a share of
    /// wall time: thread time summed over the pool and divided by its size) and the evaluations.
    /// Inference and fit times are left for the caller, who knows where its clock started.
    pub cost: Cost,
}

/// Scores every mask with the fastest path `config.path` allows.
///
/// # Errors
/// Classifier errors as they come.
pub fn score_masks(
    classifier: &dyn Classifier,
    input: &Input,
    masks: &Masks,
    config: &ScoringConfig,
    progress: Option<&Progress>,
) -> Result<Scored> {
    let prepared = Prepared::new(classifier, input, config)?;
    let mut scored = prepared.score(masks, progress)?;
    scored.cost += prepared.cost();
    Ok(scored)
}

/// One input made ready for scoring many sets of masks (a search that scores as it goes): on the
/// max-pool path the per-point features and per-segment maxima are computed here, once, instead
/// of once per call.
pub struct Prepared<'a> {
    classifier: &'a dyn Classifier,
    input: &'a Input<'a>,
    config: &'a ScoringConfig,
    pooled: Option<Pooled<'a>>,
}

/// The per-input work of a path that max-pools segments once.
struct Pooled<'a> {
    /// What runs per sample on the pooled features.
    after: After<'a>,
    maxima: SegmentMaxima,
}

enum After<'a> {
    /// The head alone: the exact max-pool path.
    Head(&'a dyn MaxPooled),
    /// The rest of the network, on the sample's points, given its input transform's maxima.
    Rest(&'a dyn InputTransform),
}

/// Each segment's maximum of some per-point features, computed once per input.
struct SegmentMaxima {
    /// Width of the features.
    c: usize,
    /// `[K × C]`: each segment's maximum of the per-point features.
    segment_max: Vec<f32>,
    /// The features of a point at the origin.
    origin: Vec<f32>,
    sizes: Vec<usize>,
    seconds: f64,
}

impl<'a> Pooled<'a> {
    /// The input transform and its maxima, on the pooled input transform's path.
    fn transform(&self) -> Option<(&'a dyn InputTransform, &SegmentMaxima)> {
        match self.after {
            After::Rest(it) => Some((it, &self.maxima)),
            After::Head(_) => None,
        }
    }
}

impl SegmentMaxima {
    fn new(
        c: usize,
        features: impl Fn(&[[f32; 3]]) -> Result<Vec<f32>>,
        points: &[[f32; 3]],
        labels: &[u32],
        k: usize,
    ) -> Result<Self> {
        let all = features(points)?;
        let origin = features(&[[0.0; 3]])?;
        let t = Instant::now();
        let sizes = point_counts(labels, k);
        let mut segment_max = vec![f32::NEG_INFINITY; k * c];
        for (&l, f) in labels.iter().zip(all.chunks(c)) {
            let l = l as usize;
            for (m, &v) in segment_max[l * c..(l + 1) * c].iter_mut().zip(f) {
                *m = m.max(v);
            }
        }
        Ok(SegmentMaxima {
            c,
            segment_max,
            origin,
            sizes,
            seconds: t.elapsed().as_secs_f64(),
        })
    }

    /// Writes into `g` (`C` values, all `-inf`) the features' maximum over the cloud `mask` and
    /// `removal` make: the maximum over the kept segments, and the origin's features where the
    /// cloud has points there (Drop with nothing kept is the all-origin cloud; Centroid moves
    /// every removed point to the origin). Repeated points (Drop's refill) cannot change a
    /// maximum.
    fn pool_into(&self, mask: &[u8], removal: Removal, g: &mut [f32]) {
        let c = self.c;
        let (mut kept_any, mut dropped_any) = (false, false);
        for seg in (0..self.sizes.len()).filter(|&seg| self.sizes[seg] > 0) {
            if mask[seg] == 0 {
                dropped_any = true;
                continue;
            }
            kept_any = true;
            for (m, &v) in g.iter_mut().zip(&self.segment_max[seg * c..(seg + 1) * c]) {
                *m = m.max(v);
            }
        }
        if !kept_any || (removal == Removal::Centroid && dropped_any) {
            for (m, &v) in g.iter_mut().zip(&self.origin) {
                *m = m.max(v);
            }
        }
    }

    /// The pooled features of masks `rows`, row-major.
    fn pool(&self, masks: &Masks, rows: impl Iterator<Item = usize>, removal: Removal) -> Vec<f32> {
        let rows: Vec<usize> = rows.collect();
        let mut globals = vec![f32::NEG_INFINITY; rows.len() * self.c];
        for (g, &s) in globals.chunks_mut(self.c).zip(&rows) {
            self.pool_into(masks.row(s), removal, g);
        }
        globals
    }
}

impl<'a> Prepared<'a> {
    /// Does the per-input work of the path `config.path` allows.
    ///
    /// # Errors
    /// Classifier errors as they come.
    pub fn new(
        classifier: &'a dyn Classifier,
        input: &'a Input<'a>,
        config: &'a ScoringConfig,
    ) -> Result<Self> {
        let (points, labels, k) = (input.points, input.labels, input.n_segments);
        let pooled = match (
            config.path,
            classifier.max_pooled(),
            classifier.input_transform(),
        ) {
            (Scoring::Auto, Some(mp), _) if mp.exact_with(config.removal) => Some(Pooled {
                after: After::Head(mp),
                maxima: SegmentMaxima::new(
                    mp.feature_dim(),
                    |p| mp.point_features(p),
                    points,
                    labels,
                    k,
                )?,
            }),
            (Scoring::Auto, None, Some(it)) => Some(Pooled {
                after: After::Rest(it),
                maxima: SegmentMaxima::new(
                    it.transform_dim(),
                    |p| it.transform_features(p),
                    points,
                    labels,
                    k,
                )?,
            }),
            _ => None,
        };
        Ok(Prepared {
            classifier,
            input,
            config,
            pooled,
        })
    }

    /// What [`Prepared::new`] cost: on the max-pool path, the N input points (and the origin)
    /// through the per-point layers and the segment maxima, as sampling time (on the pooled
    /// input transform's path, the points are not counted: they went through its layers only).
    pub fn cost(&self) -> Cost {
        let (seconds, points) = match &self.pooled {
            Some(p) if p.transform().is_none() => {
                (p.maxima.seconds, self.input.points.len() as u64 + 1)
            }
            Some(p) => (p.maxima.seconds, 0),
            None => (0.0, 0),
        };
        Cost {
            path: self.path(),
            sampling_seconds: seconds,
            inference_seconds: 0.0,
            fit_seconds: 0.0,
            points_evaluated: points,
            clouds_evaluated: 0,
        }
    }

    /// The path its scores take.
    pub fn path(&self) -> ScoringPath {
        match (&self.pooled, self.config.path) {
            (Some(p), _) if p.transform().is_none() => ScoringPath::ExactMaxPool,
            (Some(_), _) => ScoringPath::PooledInputTransform,
            (None, Scoring::Full) => ScoringPath::GenericFull,
            (None, _) if self.compact() => ScoringPath::GenericKeptPoints,
            (None, _) => ScoringPath::GenericFull,
        }
    }

    fn compact(&self) -> bool {
        self.config.path != Scoring::Full
            && self.classifier.set_function()
            && self.config.removal == Removal::Drop
    }

    /// Scores every mask, in mask order. The cost is this call's only (not [`Prepared::cost`]).
    ///
    /// # Errors
    /// Classifier errors as they come.
    pub fn score(&self, masks: &Masks, progress: Option<&Progress>) -> Result<Scored> {
        let (points, labels) = (self.input.points, self.input.labels);
        match &self.pooled {
            Some(Pooled {
                after: After::Head(mp),
                maxima,
            }) => max_pooled(*mp, maxima, masks, self.config, progress),
            pooled => generic(
                self.classifier,
                pooled.as_ref().and_then(Pooled::transform),
                points,
                labels,
                masks,
                self.config,
                self.compact(),
                progress,
            ),
        }
    }
}

/// The model's score of `class` on every mask, in mask order: one [`score_masks`] call.
///
/// # Errors
/// [`Error::Config`] when `class` is out of range; classifier errors as they come.
pub fn class_scores(
    classifier: &dyn Classifier,
    input: &Input,
    masks: &Masks,
    class: usize,
    config: &ScoringConfig,
) -> Result<Vec<f64>> {
    let n_classes = classifier.class_names().len();
    if class >= n_classes {
        return Err(Error::Config(format!(
            "class index {class} out of range (model has {n_classes} classes)"
        )));
    }
    let scored = score_masks(classifier, input, masks, config, None)?;
    Ok((0..masks.len())
        .map(|i| scored.scores[i * n_classes + class] as f64)
        .collect())
}

#[allow(clippy::too_many_arguments)]
fn generic(
    classifier: &dyn Classifier,
    transform: Option<(&dyn InputTransform, &SegmentMaxima)>,
    points: &[[f32; 3]],
    labels: &[u32],
    masks: &Masks,
    config: &ScoringConfig,
    compact: bool,
    progress: Option<&Progress>,
) -> Result<Scored> {
    let n_classes = classifier.class_names().len();
    let sizes = point_counts(labels, masks.n_segments());
    let widths: Vec<usize> = (0..masks.len())
        .map(|s| {
            if compact {
                kept_points(&sizes, masks.row(s)).max(1)
            } else {
                points.len()
            }
        })
        .collect();
    let mut order: Vec<usize> = (0..masks.len()).collect();
    if compact {
        order.sort_by_key(|&s| (widths[s], s));
    }
    let batches: Vec<&[usize]> = order.chunks(config.batch_size).collect();
    let build_ns = AtomicU64::new(0);
    let evaluated = AtomicU64::new(0);
    let results: Vec<Vec<f32>> = batches
        .par_iter()
        .map(|batch| {
            let t = Instant::now();
            let m = batch.iter().map(|&s| widths[s]).max().unwrap_or(1);
            let mut buf = vec![[0.0f32; 3]; batch.len() * m];
            for (slot, &s) in buf.chunks_mut(m).zip(batch.iter()) {
                apply_into(points, labels, masks.row(s), config.removal, slot);
            }
            let refs: Vec<&[[f32; 3]]> = buf.chunks(m).collect();
            let pooled = transform
                .map(|(_, maxima)| maxima.pool(masks, batch.iter().copied(), config.removal));
            build_ns.fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
            evaluated.fetch_add(buf.len() as u64, Ordering::Relaxed);
            let scores = match (transform, &pooled) {
                (Some((it, _)), Some(pooled)) => it.predict_given(&refs, pooled, config.output)?,
                _ => classifier.predict(&refs, config.output)?,
            };
            if let Some(p) = progress {
                p(batch.len());
            }
            Ok(scores)
        })
        .collect::<Result<_>>()?;
    let mut scores = vec![0.0f32; masks.len() * n_classes];
    for (batch, result) in batches.iter().zip(&results) {
        for (&s, row) in batch.iter().zip(result.chunks(n_classes)) {
            scores[s * n_classes..(s + 1) * n_classes].copy_from_slice(row);
        }
    }
    Ok(Scored {
        scores,
        cost: Cost {
            path: if transform.is_some() {
                ScoringPath::PooledInputTransform
            } else if compact {
                ScoringPath::GenericKeptPoints
            } else {
                ScoringPath::GenericFull
            },
            sampling_seconds: build_ns.into_inner() as f64 * 1e-9
                / rayon::current_num_threads() as f64,
            points_evaluated: evaluated.into_inner(),
            clouds_evaluated: masks.len() as u64,
            inference_seconds: 0.0,
            fit_seconds: 0.0,
        },
    })
}

/// Samples per head call on the max-pool path: big enough to keep the matrix products efficient,
/// small enough to give both cores work.
const HEAD_BATCH: usize = 128;

fn max_pooled(
    mp: &dyn MaxPooled,
    maxima: &SegmentMaxima,
    masks: &Masks,
    config: &ScoringConfig,
    progress: Option<&Progress>,
) -> Result<Scored> {
    let build_ns = AtomicU64::new(0);
    let starts: Vec<usize> = (0..masks.len()).step_by(HEAD_BATCH).collect();
    let results: Vec<Vec<f32>> = starts
        .par_iter()
        .map(|&start| {
            let t = Instant::now();
            let end = (start + HEAD_BATCH).min(masks.len());
            let globals = maxima.pool(masks, start..end, config.removal);
            build_ns.fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
            let scores = mp.head(&globals, config.output)?;
            if let Some(p) = progress {
                p(end - start);
            }
            Ok(scores)
        })
        .collect::<Result<_>>()?;
    Ok(Scored {
        scores: results.concat(),
        cost: Cost {
            path: ScoringPath::ExactMaxPool,
            sampling_seconds: build_ns.into_inner() as f64 * 1e-9
                / rayon::current_num_threads() as f64,
            points_evaluated: 0,
            clouds_evaluated: masks.len() as u64,
            inference_seconds: 0.0,
            fit_seconds: 0.0,
        },
    })
}
