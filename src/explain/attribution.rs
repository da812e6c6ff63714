//! What every explainer returns: one [`Explanation`] per explained class, with the classifier
//! work behind them; and the [`Method`] and [`Targets`] that say what to explain how.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::score::Cost;
use super::structure::Structure;
use super::tree::TreeFit;
use crate::error::{Error, Result};
use crate::perturb::Masks;
use crate::stats::ranking;

/// An explanation method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// LIME: weighted ridge surrogate over random masks. By default, this.
    #[default]
    Lime,
    /// KernelSHAP: Shapley values from the Shapley kernel, paired sampling, exact efficiency.
    KernelShap,
    /// Leave one segment out.
    Occlusion,
    /// `‖∂ score / ∂ xyz‖` per point, summed per segment.
    Gradient,
    /// Zheng et al.'s point-cloud saliency (α = 1) per point, summed per segment.
    Saliency,
    /// Structural: small sets of segments that each suffice alone, and their attention graphs.
    Sag,
    /// Point CAM (max-pooled networks): each global channel's linearised contribution, credited
    /// to the point that wins its max-pool, summed per segment.
    Cam,
    /// The critical set (max-pooled networks): how many global channels each point wins, summed
    /// per segment.
    Critical,
    /// Levi & Gilboa's baseline (max-pooled networks): each point's feature norm before the
    /// max-pool, summed per segment.
    FeatureNorm,
    /// Integrated Gradients from the cloud collapsed onto its centre, per point, summed per
    /// segment.
    Ig,
    /// Grad-CAM at the layer the global max-pool reads (pointlime's own models, T-Nets
    /// included), per point, summed per segment.
    GradCam,
    /// SmoothGrad: the gradient method's map averaged over copies of the cloud jittered by
    /// Gaussian noise (in the scan's units), per point, summed per segment.
    SmoothGrad,
    /// Expected Gradients: Integrated Gradients averaged over baselines drawn from other scans,
    /// per point, summed per segment.
    #[serde(rename = "eg")]
    ExpectedGradients,
    /// Layer-wise relevance propagation (ε-rule, winner-take-all through the max-pool) of the
    /// class logit, per point, summed per segment.
    Lrp,
    /// Sliding-ball occlusion: the mean score lost over the balls (radius, stride) that covered
    /// each point, summed per segment.
    BallOcclusion,
}

impl Method {
    pub const ALL: [Method; 15] = [
        Method::Lime,
        Method::KernelShap,
        Method::Occlusion,
        Method::Gradient,
        Method::Saliency,
        Method::Sag,
        Method::Cam,
        Method::Critical,
        Method::FeatureNorm,
        Method::Ig,
        Method::GradCam,
        Method::SmoothGrad,
        Method::ExpectedGradients,
        Method::Lrp,
        Method::BallOcclusion,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Method::Lime => "lime",
            Method::KernelShap => "kernelshap",
            Method::Occlusion => "occlusion",
            Method::Gradient => "gradient",
            Method::Saliency => "saliency",
            Method::Sag => "sag",
            Method::Cam => "cam",
            Method::Critical => "critical",
            Method::FeatureNorm => "featurenorm",
            Method::Ig => "ig",
            Method::GradCam => "gradcam",
            Method::SmoothGrad => "smoothgrad",
            Method::ExpectedGradients => "eg",
            Method::Lrp => "lrp",
            Method::BallOcclusion => "ballocclusion",
        }
    }

    /// Whether the method needs the input gradients of a differentiable classifier.
    pub fn needs_gradients(self) -> bool {
        matches!(
            self,
            Method::Gradient
                | Method::Saliency
                | Method::Ig
                | Method::SmoothGrad
                | Method::ExpectedGradients
        )
    }

    /// Whether the method draws at random, so that its seed matters.
    pub fn is_random(self) -> bool {
        matches!(
            self,
            Method::Lime | Method::KernelShap | Method::SmoothGrad | Method::ExpectedGradients
        )
    }

    /// Whether the method fits a surrogate with an R² (LIME only).
    pub fn has_surrogate(self) -> bool {
        self == Method::Lime
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Method {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Method, String> {
        Method::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown method {s:?}: {}",
                    Method::ALL.map(Method::name).join(", ")
                )
            })
    }
}

/// Which classes to explain.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Targets {
    /// The predicted class. By default, this.
    #[default]
    Predicted,
    /// These class indices, in this order.
    Classes(Vec<usize>),
    /// The k most probable classes, most probable first (lime's `top_labels`).
    Top(usize),
}

impl Targets {
    /// The class indices these targets name, given the unperturbed cloud's probabilities.
    ///
    /// # Errors
    /// [`Error::Config`] for `Top(0)` or an out-of-range class.
    pub fn resolve(&self, probabilities: &[f32]) -> Result<Vec<usize>> {
        let n = probabilities.len();
        let order = ranking(probabilities);
        match self {
            Targets::Predicted => Ok(vec![order[0]]),
            Targets::Top(k) if *k >= 1 => Ok(order.into_iter().take(*k).collect()),
            Targets::Top(_) => Err(Error::Config("top labels must be at least 1".into())),
            Targets::Classes(c) => {
                if let Some(bad) = c.iter().find(|&&t| t >= n) {
                    return Err(Error::Config(format!(
                        "class index {bad} out of range (model has {n} classes)"
                    )));
                }
                Ok(c.clone())
            }
        }
    }
}

/// One class's explanation: one value per segment, and for LIME the linear surrogate behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// The method that made it. Reports written before methods existed are LIME's.
    #[serde(default)]
    pub method: Method,
    /// The explained class.
    pub target: usize,
    /// Its name.
    pub target_name: String,
    /// One value per segment. LIME: the change in the explained score when the segment is kept;
    /// KernelSHAP: its Shapley value; occlusion: the score lost when it alone is removed;
    /// the per-point methods (gradient, saliency, cam, critical, featurenorm, ig, gradcam): the
    /// sum of its points' values; sag:
    /// the largest
    /// probability lost when it is removed from a sufficient set that holds it (0 when none
    /// does).
    pub coefficients: Vec<f64>,
    /// The additive model's score with every segment removed: LIME's intercept, KernelSHAP's
    /// f(none); absent for the other methods.
    pub intercept: Option<f64>,
    /// Weighted R² of LIME's surrogate on the samples it was fitted to (lime's `score`); absent
    /// for methods without a surrogate.
    pub r2: Option<f64>,
    /// The additive model's score for the unperturbed cloud (lime's `local_pred`; KernelSHAP's is
    /// exact by efficiency); absent for the other methods.
    pub local_prediction: Option<f64>,
    /// The model's score for the unperturbed cloud, in the configured output (logit or
    /// probability).
    pub model_score: f64,
    /// Classifier inputs behind it: perturbed samples (the unperturbed one included), or the
    /// clouds differentiated for the gradient methods.
    pub n_samples: usize,
    /// The seed that drew the masks.
    pub seed: u64,
    /// The sufficient sets and their attention graph (sag only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub structure: Option<Structure>,
    /// LIME's tree surrogate (`--surrogate tree`): the coefficients are its per-segment effects,
    /// the intercept its prediction with every segment removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tree: Option<TreeFit>,
}

impl Explanation {
    /// An explanation with no surrogate: `coefficients` for `target`, from `n_samples` inputs.
    pub(crate) fn plain(
        method: Method,
        target: usize,
        names: &[String],
        coefficients: Vec<f64>,
        model_score: f64,
        n_samples: usize,
        seed: u64,
    ) -> Explanation {
        Explanation {
            method,
            target,
            target_name: names[target].clone(),
            coefficients,
            intercept: None,
            r2: None,
            local_prediction: None,
            model_score,
            n_samples,
            seed,
            structure: None,
            tree: None,
        }
    }

    /// The surrogate's prediction for one mask (1 = kept): the tree's, else the linear model's;
    /// `None` for a method without a surrogate.
    pub fn surrogate_prediction(&self, mask: &[u8]) -> Option<f64> {
        if let Some(tree) = &self.tree {
            let x: Vec<f64> = mask.iter().map(|&b| b as f64).collect();
            return Some(tree.predict(&x));
        }
        let intercept = self.intercept?;
        Some(
            intercept
                + mask
                    .iter()
                    .zip(&self.coefficients)
                    .map(|(&b, c)| b as f64 * c)
                    .sum::<f64>(),
        )
    }

    /// Each point's importance: the coefficient of its segment.
    pub fn per_point(&self, labels: &[u32]) -> Vec<f32> {
        labels
            .iter()
            .map(|&l| self.coefficients[l as usize] as f32)
            .collect()
    }

    /// Segment indices by decreasing coefficient, ties by index.
    pub fn ranking(&self) -> Vec<usize> {
        ranking(&self.coefficients)
    }
}

/// The masks a sampling method scored, and their scores.
#[derive(Debug, Clone, PartialEq)]
pub struct Samples {
    /// Row 0 is the unperturbed cloud for every method.
    pub masks: Masks,
    /// Scores of every mask in the configured output: row-major `[masks.len() × n_classes]`.
    pub scores: Vec<f32>,
}

/// What every explainer returns.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribution {
    /// Class probabilities of the unperturbed cloud.
    pub probabilities: Vec<f32>,
    /// One explanation per target, in the order the targets were asked for.
    pub explanations: Vec<Explanation>,
    /// Per input point, one vector per explanation: the gradient methods' point values before
    /// they are summed per segment. Empty for the other methods.
    pub per_point: Vec<Vec<f64>>,
    /// The scored masks of the sampling methods (LIME, KernelSHAP, occlusion); for LIME those of
    /// the final attempt. `None` for the gradient methods.
    pub samples: Option<Samples>,
    /// The classifier work behind it.
    pub cost: Cost,
}
