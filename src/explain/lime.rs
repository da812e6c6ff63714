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

use serde::{Deserialize, Serialize};

use super::attribution::{register, Attribution, Explanation, Method, Needs, Spec, Targets};
use super::config::{Config, Flag, FlagValue, MethodSettings, SettingsSpec};
use super::input::Input;
use super::masked::explain_masks;
use super::payload::Payload;
use super::score::Progress;
use super::tree::TreeFit;
use super::{ridge, tree};
use crate::classifier::Classifier;
use crate::error::{Error, Result};
use crate::perturb::{MaskSampling, Masks};

/// LIME: a weighted ridge surrogate over random masks; by default, this.
pub const LIME: Method = Method::new(&SPEC);
register!(LIME);

static SPEC: Spec = Spec {
    name: "lime",
    order: 10,
    summary: "a weighted linear surrogate over random on/off masks of the supervoxels",
    random: true,
    surrogate: true,
    needs: Needs::Scores,
    settings: Some(SettingsSpec::of::<LimeConfig>(&[
        Flag {
            long: "keep-probability",
            key: "keep_probability",
            value_name: "P",
            help: "Probability that a supervoxel is kept in a sample [default: 0.5]",
            value: FlagValue::Number,
        },
        Flag {
            long: "auto-samples",
            key: "auto_samples_max",
            value_name: "MAX",
            help:
                "Double the samples, from --samples, until the top-5 supervoxels (in order) stop \
                   changing, up to this many samples (16000 when given without a value)",
            value: FlagValue::CountOr("16000"),
        },
        Flag {
            long: "surrogate",
            key: "surrogate",
            value_name: "SURROGATE",
            help:
                "LIME's surrogate [default: ridge]: ridge (weighted ridge regression) or tree (a \
                   shallow weighted regression tree; a supervoxel's importance is the tree's mean \
                   change when it is switched on)",
            value: FlagValue::Word(&["ridge", "tree"]),
        },
        Flag {
            long: "tree-depth",
            key: "tree_depth",
            value_name: "D",
            help: "Depth of LIME's tree surrogate [default: 4]",
            value: FlagValue::Count,
        },
        Flag {
            long: "mask-sampling",
            key: "sampling",
            value_name: "SAMPLING",
            help: "How LIME draws its masks [default: bernoulli]: bernoulli (each supervoxel kept \
                   with --keep-probability) or stratified (the number removed uniform from 1 to \
                   all, so that the kernel weighs near and far samples differently)",
            value: FlagValue::Word(&["bernoulli", "stratified"]),
        },
    ])),
    run: lime,
};

/// LIME's surrogate model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Surrogate {
    /// Weighted ridge regression (lime_base). By default, this.
    #[default]
    Ridge,
    /// A shallow weighted regression tree; a segment's importance is the tree's mean change
    /// when the segment is switched on in the samples.
    Tree,
}

impl Surrogate {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Surrogate::Ridge => "ridge",
            Surrogate::Tree => "tree",
        }
    }
}

impl std::str::FromStr for Surrogate {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Surrogate, String> {
        match s {
            "ridge" => Ok(Surrogate::Ridge),
            "tree" => Ok(Surrogate::Tree),
            _ => Err(format!("unknown surrogate {s:?}: ridge or tree")),
        }
    }
}

/// LIME's own settings; the sample count, seed and scoring are every method's ([`Config`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimeConfig {
    /// Probability that a segment is kept in a sample. By default, 0.5.
    pub keep_probability: f64,
    /// Kernel width on cosine distance. By default, 0.25 (lime_image).
    pub kernel_width: f64,
    /// Ridge penalty. By default, 1.0 (lime_base).
    pub ridge_alpha: f64,
    /// `--auto-samples`: double the sample count, from [`Config::n_samples`], until the top-5
    /// segments (in order) of every explained class are the same as at the previous count, or
    /// this many samples are reached. Off (`None`) by default.
    pub auto_samples_max: Option<usize>,
    /// The surrogate fitted to the samples. By default, ridge.
    pub surrogate: Surrogate,
    /// Depth of the tree surrogate. By default, 4.
    pub tree_depth: usize,
    /// How masks are drawn. By default, each segment kept independently with
    /// [`keep_probability`](Self::keep_probability), as lime_image does.
    pub sampling: MaskSampling,
}

impl Default for LimeConfig {
    fn default() -> Self {
        LimeConfig {
            keep_probability: 0.5,
            kernel_width: 0.25,
            ridge_alpha: 1.0,
            auto_samples_max: None,
            surrogate: Surrogate::Ridge,
            tree_depth: 4,
            sampling: MaskSampling::Bernoulli,
        }
    }
}

impl LimeConfig {
    /// Checks the auto-samples cap against the starting sample count.
    ///
    /// # Errors
    /// [`Error::Config`] for a cap below it.
    pub fn check_cap(&self, n_samples: usize) -> Result<()> {
        if self.auto_samples_max.is_some_and(|m| m < n_samples) {
            return Err(Error::Config(format!(
                "the auto-samples cap must be at least the {n_samples} starting samples"
            )));
        }
        Ok(())
    }
}

impl MethodSettings for LimeConfig {
    const METHOD: &'static str = "lime";

    fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if !(self.keep_probability > 0.0 && self.keep_probability < 1.0) {
            return bad(format!(
                "keep probability must be in (0, 1), got {}",
                self.keep_probability
            ));
        }
        if !(self.kernel_width > 0.0 && self.kernel_width.is_finite()) {
            return bad(format!(
                "kernel width must be positive, got {}",
                self.kernel_width
            ));
        }
        if !(1..=12).contains(&self.tree_depth) {
            return bad(format!(
                "tree depth must be in 1..=12, got {}",
                self.tree_depth
            ));
        }
        if !(self.ridge_alpha >= 0.0 && self.ridge_alpha.is_finite()) {
            return bad(format!(
                "ridge alpha must be non-negative, got {}",
                self.ridge_alpha
            ));
        }
        Ok(())
    }
}

/// LIME's masks as `config` draws them: row 0 the unperturbed cloud, the rest Bernoulli or
/// stratified ([`MaskSampling`]).
pub fn draw_masks(config: &LimeConfig, n_segments: usize, n_samples: usize, seed: u64) -> Masks {
    match config.sampling {
        MaskSampling::Bernoulli => {
            Masks::sample(n_samples, n_segments, config.keep_probability, seed)
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
/// With [`LimeConfig::auto_samples_max`] set, the sample
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
    let settings: LimeConfig = config.settings()?;
    settings.check_cap(config.n_samples)?;
    let Some(cap) = settings.auto_samples_max else {
        return lime_fixed(classifier, input, targets, config, &settings, progress);
    };
    const TOP: usize = 5;
    let mut fixed = config.clone();
    let top = |r: &Attribution| -> Vec<Vec<usize>> {
        r.explanations
            .iter()
            .map(|e| e.ranking().into_iter().take(TOP).collect())
            .collect()
    };
    let mut result = lime_fixed(classifier, input, targets, &fixed, &settings, progress)?;
    while fixed.n_samples < cap {
        fixed.n_samples = (fixed.n_samples * 2).min(cap);
        let mut next = lime_fixed(classifier, input, targets, &fixed, &settings, progress)?;
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
    settings: &LimeConfig,
    progress: Option<&Progress>,
) -> Result<Attribution> {
    let n_segments = input.n_segments;
    let start = Instant::now();
    let masks = draw_masks(settings, n_segments, config.n_samples, config.seed);
    let s = masks.len();
    let (x, w) = design(&masks, settings.kernel_width);
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
            let fit = fit_surrogate(&x, n_segments, y, &w, settings, settings.surrogate);
            Explanation {
                method: LIME,
                target: t,
                target_name: names[t].clone(),
                local_prediction: Some(fit.local_prediction),
                model_score: y[0],
                coefficients: fit.coefficients,
                intercept: Some(fit.intercept),
                r2: Some(fit.r2),
                n_samples: s,
                seed: config.seed,
                payload: fit.tree.map(Payload::Tree),
                trusted: true,
            }
        },
    )?;
    a.cost.sampling_seconds += drawing;
    Ok(a)
}
