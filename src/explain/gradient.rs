//! The gradient method: each point's `‖∂ score / ∂ xyz‖`, summed per segment (the first-order
//! effect of the whole segment), and the backward-pass scaffolding it shares with
//! [`saliency`](super::saliency). Points are the network's input points in the model frame, as
//! for every explainer.

use std::time::Instant;

use super::attribution::{register, Attribution, Explanation, Method, Needs, Spec, Targets};
use super::config::Config;
use super::input::Input;
use super::score::{Cost, ScoringPath};
use crate::classifier::{Classifier, Output};
use crate::error::{Error, Result};

/// `‖∂ score / ∂ xyz‖` per point, summed per segment.
pub const GRADIENT: Method = Method::new(&SPEC);
register!(GRADIENT);

static SPEC: Spec = Spec {
    name: "gradient",
    order: 40,
    summary: "‖∂score/∂xyz‖ per point, summed per supervoxel",
    random: false,
    surrogate: false,
    needs: Needs::Gradients,
    settings: None,
    run: |classifier, input, targets, config, _| gradient(classifier, input, targets, config),
};

/// Per-point attributions and their per-segment sums.
#[derive(Debug, Clone, PartialEq)]
pub struct PointAttribution {
    /// One value per input point.
    pub per_point: Vec<f64>,
    /// One value per segment: the sum over its points.
    pub per_segment: Vec<f64>,
}

pub(super) fn by_segment(
    per_point: Vec<f64>,
    labels: &[u32],
    n_segments: usize,
) -> PointAttribution {
    let mut per_segment = vec![0.0; n_segments];
    for (v, &l) in per_point.iter().zip(labels) {
        per_segment[l as usize] += v;
    }
    PointAttribution {
        per_point,
        per_segment,
    }
}

pub(super) fn gradients(
    classifier: &dyn Classifier,
    points: &[[f32; 3]],
    labels: &[u32],
    class: usize,
    output: Output,
) -> Result<Vec<[f32; 3]>> {
    if labels.len() != points.len() {
        return Err(Error::Config(
            "one segment label per point is needed".into(),
        ));
    }
    classifier
        .differentiable()
        .ok_or_else(|| {
            Error::Config(
                "the gradient methods (gradient, saliency, ig, smoothgrad, eg) need a model that \
                 gives gradients, pointlime's own; this one does not (an ONNX model: use lime, \
                 kernelshap, occlusion, ballocclusion or sag)"
                    .into(),
            )
        })?
        .input_gradients(points, class, output)
}

/// The gradient method on every target: [`point_gradient`] per class, one backward pass each.
///
/// # Errors
/// [`Error::Config`] for invalid settings, input or targets, or a classifier that gives no
/// gradients; classifier errors as they come.
pub fn gradient(
    classifier: &dyn Classifier,
    input: &Input,
    targets: &Targets,
    config: &Config,
) -> Result<Attribution> {
    let output = config.scoring.output;
    by_backprop(GRADIENT, classifier, input, targets, config, |t| {
        point_gradient(
            classifier,
            input.points,
            input.labels,
            input.n_segments,
            t,
            output,
        )
    })
}

/// One backward pass per target through `per_class`, with the unperturbed scores reported in
/// the configured output.
pub(super) fn by_backprop(
    method: Method,
    classifier: &dyn Classifier,
    input: &Input,
    targets: &Targets,
    config: &Config,
    per_class: impl Fn(usize) -> Result<PointAttribution>,
) -> Result<Attribution> {
    let n = input.points.len() as u64;
    let work = |passes: u64| (ScoringPath::Backprop, passes * n, passes);
    by_point_values(method, classifier, input, targets, config, work, per_class)
}

/// Per-point values for each target from `per_class`, summed per segment, with the unperturbed
/// scores reported in the configured output; `work(targets)` says the path and the points and
/// clouds it ran.
pub(super) fn by_point_values(
    method: Method,
    classifier: &dyn Classifier,
    input: &Input,
    targets: &Targets,
    config: &Config,
    work: impl Fn(u64) -> (ScoringPath, u64, u64),
    per_class: impl Fn(usize) -> Result<PointAttribution>,
) -> Result<Attribution> {
    config.check(input)?;
    let start = Instant::now();
    let points = input.points;
    let probabilities = classifier.predict(&[points], Output::Probability)?;
    let scores = match config.scoring.output {
        Output::Probability => probabilities.clone(),
        Output::Logit => classifier.predict(&[points], Output::Logit)?,
    };
    let names = classifier.class_names();
    let mut explanations = Vec::new();
    let mut per_point = Vec::new();
    for t in targets.resolve(&probabilities)? {
        let PointAttribution {
            per_point: values,
            per_segment,
        } = per_class(t)?;
        explanations.push(Explanation::plain(
            method,
            t,
            names,
            per_segment,
            scores[t] as f64,
            1,
            config.seed,
        ));
        per_point.push(values);
    }
    let (path, points_evaluated, clouds_evaluated) = work(explanations.len() as u64);
    Ok(Attribution {
        probabilities,
        explanations,
        per_point,
        samples: None,
        cost: Cost {
            path,
            sampling_seconds: 0.0,
            inference_seconds: start.elapsed().as_secs_f64(),
            fit_seconds: 0.0,
            points_evaluated,
            clouds_evaluated,
        },
    })
}

/// `‖∂ score[class] / ∂ xyz‖` per point, summed per segment.
///
/// # Errors
/// [`Error::Config`] when the classifier is not differentiable; classifier errors as they come.
pub fn point_gradient(
    classifier: &dyn Classifier,
    points: &[[f32; 3]],
    labels: &[u32],
    n_segments: usize,
    class: usize,
    output: Output,
) -> Result<PointAttribution> {
    let g = gradients(classifier, points, labels, class, output)?;
    let norms = g
        .iter()
        .map(|d| d.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt())
        .collect();
    Ok(by_segment(norms, labels, n_segments))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::classifier::Differentiable;

    /// Class 0 probability `p = 0.5 + Σ w·x` (a linear score, small enough to stay in (0, 1)), so
    /// every point's gradient is `w`.
    pub(in crate::explain) struct Linear {
        pub names: Vec<String>,
        pub w: [f32; 3],
    }

    impl Classifier for Linear {
        fn class_names(&self) -> &[String] {
            &self.names
        }
        fn input_points(&self) -> usize {
            4
        }
        fn predict(&self, clouds: &[&[[f32; 3]]], _: Output) -> Result<Vec<f32>> {
            Ok(clouds
                .iter()
                .flat_map(|c| {
                    let s: f32 = c
                        .iter()
                        .map(|p| (0..3).map(|a| self.w[a] * p[a]).sum::<f32>())
                        .sum();
                    [0.5 + s, 0.5 - s]
                })
                .collect())
        }
        fn differentiable(&self) -> Option<&dyn Differentiable> {
            Some(self)
        }
    }

    impl Differentiable for Linear {
        fn input_gradients(
            &self,
            points: &[[f32; 3]],
            class: usize,
            _: Output,
        ) -> Result<Vec<[f32; 3]>> {
            let sign = if class == 0 { 1.0 } else { -1.0 };
            Ok(vec![self.w.map(|v| sign * v); points.len()])
        }
    }

    /// Five points on the x axis with median centre 0, in two segments: the class-0 probability
    /// is 0.5 + 0.1·(1 − 1 + 2 + 0 − 2) = 0.5.
    pub(in crate::explain) fn line() -> (Linear, [[f32; 3]; 5], [u32; 5]) {
        let model = Linear {
            names: vec!["a".into(), "b".into()],
            w: [0.1, 0.0, 0.0],
        };
        let points = [
            [1.0, 0.0, 0.0],
            [-1.0, 0.0, 0.0],
            [2.0, 0.0, 0.0],
            [0.0, 0.0, 0.0],
            [-2.0, 0.0, 0.0],
        ];
        (model, points, [0, 0, 1, 1, 0])
    }

    #[test]
    fn gradient_by_hand() {
        let (model, points, labels) = line();
        let g = point_gradient(&model, &points, &labels, 2, 0, Output::Probability).unwrap();
        assert_eq!(g.per_segment.len(), 2);
        assert!(g.per_point.iter().all(|v| (v - 0.1).abs() < 1e-7));
    }
}
