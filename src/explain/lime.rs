//! LIME over supervoxels with lime_image's semantics (Ribeiro et al., KDD 2016; `lime_image.py`,
//! `lime_base.py`).
//!
//! Masks with bit = kept; sample 0 is the unperturbed cloud. Each sample's distance to the
//! unperturbed one is the cosine distance between its mask and the all-ones mask; its weight is
//! lime's kernel `sqrt(exp(-d² / width²))` with width 0.25; the surrogate is a weighted ridge
//! regression (alpha 1, with intercept) from masks to the explained class score. With lime_image's
//! `num_features=100000` and `feature_selection='auto'` every segment is kept, which is what this
//! does.

use std::time::Instant;

use super::attribution::{Attribution, Explanation, Method, Targets};
use super::config::Config;
use super::config::{LimeConfig, Surrogate};
use super::input::Input;
use super::masked::explain_masks;
use super::score::Progress;
use super::tree::TreeFit;
use super::{ridge, tree};
use crate::classifier::Classifier;
use crate::error::Result;
use crate::perturb::{MaskSampling, Masks};

/// LIME's masks as `config` draws them: row 0 the unperturbed cloud, the rest Bernoulli or
/// stratified ([`MaskSampling`]).
pub fn draw_masks(config: &Config, n_segments: usize, n_samples: usize, seed: u64) -> Masks {
    match config.lime.sampling {
        MaskSampling::Bernoulli => {
            Masks::sample(n_samples, n_segments, config.lime.keep_probability, seed)
        }
        MaskSampling::Stratified => Masks::sample_stratified(n_samples, n_segments, seed),
    }
}

/// lime's kernel on the cosine distance between a mask and the all-ones mask.
///
/// Cosine distance to all-ones is `1 − sqrt(kept / K)`; an all-zero mask has distance 1 (as
/// scikit-learn's `pairwise_distances` gives for a zero vector).
pub fn sample_weight(kept: usize, n_segments: usize, kernel_width: f64) -> f64 {
    let d = 1.0 - (kept as f64 / n_segments as f64).sqrt();
    (-(d * d) / (kernel_width * kernel_width)).exp().sqrt()
}

/// The surrogate's features and weights: each mask as a row of 0/1 values, and its kernel
/// weight ([`sample_weight`]).
pub fn design(masks: &Masks, kernel_width: f64) -> (Vec<f64>, Vec<f64>) {
    let (s, k) = (masks.len(), masks.n_segments());
    let mut x = Vec::with_capacity(s * k);
    let mut w = Vec::with_capacity(s);
    for i in 0..s {
        let row = masks.row(i);
        x.extend(row.iter().map(|&b| b as f64));
        let kept = row.iter().filter(|&&b| b != 0).count();
        w.push(sample_weight(kept, k, kernel_width));
    }
    (x, w)
}

/// A surrogate fitted to LIME's samples.
#[derive(Debug, Clone, PartialEq)]
pub struct SurrogateFit {
    /// Per segment: the ridge's coefficients, or the tree's effects.
    pub coefficients: Vec<f64>,
    /// The prediction with every segment removed.
    pub intercept: f64,
    /// Weighted R² on the samples.
    pub r2: f64,
    /// The prediction for the first sample (the unperturbed cloud).
    pub local_prediction: f64,
    /// The tree, for the tree surrogate.
    pub tree: Option<TreeFit>,
}

/// Fits `surrogate` to the samples `x` (row-major, `k` per row; row 0 the unperturbed cloud),
/// scores `y` and weights `w`.
pub fn fit_surrogate(
    x: &[f64],
    k: usize,
    y: &[f64],
    w: &[f64],
    config: &LimeConfig,
    surrogate: Surrogate,
) -> SurrogateFit {
    match surrogate {
        Surrogate::Ridge => {
            let fit = ridge::fit(x, k, y, w, config.ridge_alpha);
            SurrogateFit {
                local_prediction: fit.predict(&x[..k]),
                intercept: fit.intercept,
                r2: fit.r2,
                coefficients: fit.coefficients,
                tree: None,
            }
        }
        Surrogate::Tree => {
            let fit = tree::fit(x, k, y, w, config.tree_depth);
            SurrogateFit {
                local_prediction: fit.predict(&x[..k]),
                intercept: fit.predict(&vec![0.0; k]),
                r2: fit.r2,
                coefficients: fit.effects(x, k, w),
                tree: Some(fit),
            }
        }
    }
}

/// Explains `classifier`'s decision on one cloud with LIME.
///
/// With [`LimeConfig::auto_samples_max`](super::LimeConfig::auto_samples_max) set, the sample
/// count doubles until the ranking settles (see there); each attempt's masks are a prefix of the
/// next one's (one seeded stream). The explanations and samples are the final attempt's; the cost
/// adds up every attempt.
///
/// # Errors
/// [`Error::Config`](crate::Error::Config) for invalid settings, input or targets; classifier
/// errors as they come.
pub fn lime(
    classifier: &dyn Classifier,
    input: &Input,
    targets: &Targets,
    config: &Config,
    progress: Option<&Progress>,
) -> Result<Attribution> {
    config.check(input)?;
    let Some(cap) = config.lime.auto_samples_max else {
        return lime_fixed(classifier, input, targets, config, progress);
    };
    const TOP: usize = 5;
    let mut fixed = config.clone();
    fixed.lime.auto_samples_max = None;
    let top = |r: &Attribution| -> Vec<Vec<usize>> {
        r.explanations
            .iter()
            .map(|e| e.ranking().into_iter().take(TOP).collect())
            .collect()
    };
    let mut result = lime_fixed(classifier, input, targets, &fixed, progress)?;
    while fixed.n_samples < cap {
        fixed.n_samples = (fixed.n_samples * 2).min(cap);
        let mut next = lime_fixed(classifier, input, targets, &fixed, progress)?;
        let settled = top(&next) == top(&result);
        next.cost += result.cost;
        result = next;
        if settled {
            break;
        }
    }
    Ok(result)
}

fn lime_fixed(
    classifier: &dyn Classifier,
    input: &Input,
    targets: &Targets,
    config: &Config,
    progress: Option<&Progress>,
) -> Result<Attribution> {
    let n_segments = input.n_segments;
    let start = Instant::now();
    let masks = draw_masks(config, n_segments, config.n_samples, config.seed);
    let s = masks.len();
    let (x, w) = design(&masks, config.lime.kernel_width);
    let drawing = start.elapsed().as_secs_f64();
    let names = classifier.class_names();
    let mut a = explain_masks(
        classifier,
        input,
        targets,
        config,
        progress,
        masks,
        |t, y, _| {
            let fit = fit_surrogate(&x, n_segments, y, &w, &config.lime, config.lime.surrogate);
            Explanation {
                method: Method::Lime,
                target: t,
                target_name: names[t].clone(),
                local_prediction: Some(fit.local_prediction),
                model_score: y[0],
                coefficients: fit.coefficients,
                intercept: Some(fit.intercept),
                r2: Some(fit.r2),
                n_samples: s,
                seed: config.seed,
                structure: None,
                tree: fit.tree,
            }
        },
    )?;
    a.cost.sampling_seconds += drawing;
    Ok(a)
}
