//! One entry point for every explainer: the same classifier, points, segments and targets in, one
//! [`Explanation`] per target out (captum's `attribute()`).

use std::str::FromStr;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::faithfulness::occlusion_masks;
use super::gradient::{gradient, saliency, PointAttribution};
use super::kernel_shap::{coalitions, fit};
use super::lime::resolve_targets;
use super::score::{score_masks, ScoringPath};
use super::{explain, Explanation, LimeConfig, Progress, Targets};
use crate::classifier::{softmax_rows, Classifier, Output};
use crate::error::{Error, Result};

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
}

impl Method {
    pub const ALL: [Method; 5] = [
        Method::Lime,
        Method::KernelShap,
        Method::Occlusion,
        Method::Gradient,
        Method::Saliency,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Method::Lime => "lime",
            Method::KernelShap => "kernelshap",
            Method::Occlusion => "occlusion",
            Method::Gradient => "gradient",
            Method::Saliency => "saliency",
        }
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
                format!("unknown method {s:?}: lime, kernelshap, occlusion, gradient or saliency")
            })
    }
}

/// What [`attribute`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribution {
    /// Class probabilities of the unperturbed cloud.
    pub probabilities: Vec<f32>,
    /// One explanation per target, in the order the targets were asked for.
    pub explanations: Vec<Explanation>,
    /// Per input point, one vector per explanation: the gradient methods' point values before
    /// they are summed per segment. Empty for the other methods.
    pub per_point: Vec<Vec<f64>>,
    /// How the classifier was run.
    pub scoring: ScoringPath,
    pub sampling_seconds: f64,
    pub inference_seconds: f64,
    pub points_evaluated: u64,
    pub clouds_evaluated: u64,
    pub fit_seconds: f64,
}

/// Explains `targets` with `method`. `points` are the network's input points in the model frame,
/// `labels` their segments in `0..n_segments`; removal, output and scoring path come from
/// `config`, and KernelSHAP's coalition budget is `config.n_samples`. The sample-based methods
/// score all targets from one pass over their masks, as LIME does.
///
/// # Errors
/// [`Error::Config`] for invalid settings or targets, or a gradient method on a classifier that
/// gives no gradients; classifier errors as they come.
#[allow(clippy::too_many_arguments)]
pub fn attribute(
    method: Method,
    classifier: &dyn Classifier,
    points: &[[f32; 3]],
    labels: &[u32],
    n_segments: usize,
    targets: &Targets,
    config: &LimeConfig,
    progress: Option<&Progress>,
) -> Result<Attribution> {
    config.validate()?;
    if n_segments == 0 || labels.len() != points.len() {
        return Err(Error::Config(
            "explain needs at least one segment and a label per point".into(),
        ));
    }
    let names = classifier.class_names();
    let n_classes = names.len();
    let explanation = |t: usize, coefficients: Vec<f64>, model_score: f64| Explanation {
        method,
        target: t,
        target_name: names[t].clone(),
        coefficients,
        intercept: None,
        r2: None,
        local_prediction: None,
        model_score,
        n_samples: 0,
        seed: config.seed,
    };
    let start = Instant::now();
    match method {
        Method::Lime => {
            let r = explain(
                classifier, points, labels, n_segments, targets, config, progress,
            )?;
            Ok(Attribution {
                probabilities: r.probabilities,
                explanations: r.explanations,
                per_point: Vec::new(),
                scoring: r.scoring,
                sampling_seconds: r.sampling_seconds,
                inference_seconds: r.inference_seconds,
                points_evaluated: r.points_evaluated,
                clouds_evaluated: r.clouds_evaluated,
                fit_seconds: r.fit_seconds,
            })
        }
        Method::KernelShap | Method::Occlusion => {
            // Row 0 of both mask sets keeps every segment: the unperturbed cloud.
            let (masks, weights) = match method {
                Method::KernelShap => {
                    if config.n_samples < 2 {
                        return Err(Error::Config(
                            "KernelSHAP needs a budget of at least 2 samples".into(),
                        ));
                    }
                    coalitions(n_segments, config.n_samples, config.seed)
                }
                _ => (occlusion_masks(n_segments), Vec::new()),
            };
            let scored = score_masks(classifier, points, labels, &masks, config, progress)?;
            let inference_seconds = start.elapsed().as_secs_f64() - scored.sampling_seconds;
            let t_fit = Instant::now();
            let score = |row: usize, t: usize| scored.scores[row * n_classes + t] as f64;
            let mut probabilities = scored.scores[..n_classes].to_vec();
            if config.output == Output::Logit {
                softmax_rows(&mut probabilities, n_classes);
            }
            let explanations = resolve_targets(targets, &probabilities)?
                .into_iter()
                .map(|t| {
                    let f_all = score(0, t);
                    let mut e = if method == Method::KernelShap {
                        let values: Vec<f64> = (0..masks.len()).map(|r| score(r, t)).collect();
                        let phi = fit(&masks, &values, &weights);
                        let mut e = explanation(t, phi, f_all);
                        // Efficiency makes the additive story exact at both ends.
                        e.intercept = Some(values[1]);
                        e.local_prediction = Some(f_all);
                        e
                    } else {
                        let drops = (0..n_segments).map(|s| f_all - score(s + 1, t)).collect();
                        explanation(t, drops, f_all)
                    };
                    e.n_samples = masks.len();
                    e
                })
                .collect();
            Ok(Attribution {
                probabilities,
                explanations,
                per_point: Vec::new(),
                scoring: scored.path,
                sampling_seconds: scored.sampling_seconds,
                inference_seconds,
                points_evaluated: scored.points_evaluated,
                clouds_evaluated: scored.clouds_evaluated,
                fit_seconds: t_fit.elapsed().as_secs_f64(),
            })
        }
        Method::Gradient | Method::Saliency => {
            let probabilities = classifier.predict(&[points], Output::Probability)?;
            let scores = match config.output {
                Output::Probability => probabilities.clone(),
                Output::Logit => classifier.predict(&[points], Output::Logit)?,
            };
            let classes = resolve_targets(targets, &probabilities)?;
            let mut explanations = Vec::new();
            let mut per_point = Vec::new();
            for t in classes {
                let PointAttribution {
                    per_point: values,
                    per_segment,
                } = if method == Method::Gradient {
                    gradient(classifier, points, labels, n_segments, t, config.output)?
                } else {
                    // Zheng et al. differentiate the loss −log p, whatever score is explained.
                    saliency(classifier, points, labels, n_segments, t, 1.0)?
                };
                let mut e = explanation(t, per_segment, scores[t] as f64);
                e.n_samples = 1;
                explanations.push(e);
                per_point.push(values);
            }
            let passes = explanations.len() as u64;
            Ok(Attribution {
                probabilities,
                explanations,
                per_point,
                scoring: ScoringPath::Backprop,
                sampling_seconds: 0.0,
                inference_seconds: start.elapsed().as_secs_f64(),
                points_evaluated: passes * points.len() as u64,
                clouds_evaluated: passes,
                fit_seconds: 0.0,
            })
        }
    }
}
