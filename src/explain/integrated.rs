//! Integrated Gradients (Sundararajan et al., ICML 2017) on a point cloud (issue #18, item 3).
//!
//! The baseline is the cloud collapsed onto its centre: every point at the model frame's origin
//! (the scan's centroid), the same cloud a sample that removes every segment is. The path is the
//! straight line `x(α) = α · x`, so a point moves out from the centre to where it is; its value is
//! `x · mean over the path of ∂score/∂x`, by the midpoint rule over [`STEPS`] steps. Completeness
//! (Σ values = score(x) − score(baseline)) is what the report checks: the explanation's
//! `intercept` is the baseline's score and its `local_prediction` the intercept plus the sum, to
//! set beside `model_score`. Segment values are sums over the segment's points.

use super::attribution::{register, Attribution, Method, Needs, Spec, Targets};
use super::config::Config;
use super::gradient::{by_point_values, by_segment, gradients};
use super::input::Input;
use super::score::ScoringPath;
use crate::classifier::Classifier;
use crate::error::Result;

/// Integrated Gradients from the cloud collapsed onto its centre, per point, summed per
/// segment.
pub const IG: Method = Method::new(&SPEC);
register!(IG);

static SPEC: Spec = Spec {
    name: "ig",
    order: 100,
    summary: "Integrated Gradients from the cloud collapsed onto its centre, 32 steps, per point, summed per supervoxel",
    random: false,
    surrogate: false,
    needs: Needs::Gradients,
    settings: None,
    run: |classifier, input, targets, config, _| integrated_gradients(classifier, input, targets, config),
};

/// Steps of the path integral.
pub const STEPS: usize = 32;

/// Integrated Gradients on every target (see the module).
///
/// # Errors
/// [`Error::Config`](crate::Error::Config) for a classifier without gradients; classifier errors
/// as they come.
pub fn integrated_gradients(
    classifier: &dyn Classifier,
    input: &Input,
    targets: &Targets,
    config: &Config,
) -> Result<Attribution> {
    let output = config.scoring.output;
    let points = input.points;
    let n = points.len() as u64;
    let work = |classes: u64| {
        (
            ScoringPath::Backprop,
            classes * STEPS as u64 * n,
            classes * STEPS as u64,
        )
    };
    let origin = vec![[0.0f32; 3]; points.len()];
    let baseline = classifier.predict(&[&origin], output)?;
    let mut attribution = by_point_values(IG, classifier, input, targets, config, work, |t| {
        let mut sum = vec![[0.0f64; 3]; points.len()];
        for step in 0..STEPS {
            let alpha = (step as f32 + 0.5) / STEPS as f32;
            let scaled: Vec<[f32; 3]> = points.iter().map(|p| p.map(|v| v * alpha)).collect();
            let g = gradients(classifier, &scaled, input.labels, t, output)?;
            for (s, d) in sum.iter_mut().zip(&g) {
                for a in 0..3 {
                    s[a] += d[a] as f64;
                }
            }
        }
        let values = points
            .iter()
            .zip(&sum)
            .map(|(p, s)| (0..3).map(|a| p[a] as f64 * s[a] / STEPS as f64).sum())
            .collect();
        Ok(by_segment(values, input.labels, input.n_segments))
    })?;
    with_completeness(&mut attribution, |t| baseline[t] as f64, STEPS);
    Ok(attribution)
}

/// Reports a path method's completeness: each explanation's `intercept` is the baseline's score
/// for its class, its `local_prediction` the intercept plus the values, and `n_samples` the
/// points on the path.
pub(super) fn with_completeness(
    attribution: &mut Attribution,
    baseline_score: impl Fn(usize) -> f64,
    samples: usize,
) {
    for e in &mut attribution.explanations {
        let intercept = baseline_score(e.target);
        e.intercept = Some(intercept);
        e.local_prediction = Some(intercept + e.coefficients.iter().sum::<f64>());
        e.n_samples = samples;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::explain::gradient::tests::Linear;

    #[test]
    fn a_linear_score_is_split_exactly_and_completely() {
        // p = 0.5 + Σ w·x: IG of a point is w·x, and they sum to p(x) − p(0).
        let model = Linear {
            names: vec!["a".into(), "b".into()],
            w: [0.05, -0.02, 0.0],
        };
        let points = [[1.0, 2.0, 0.0], [-1.0, 0.5, 3.0], [2.0, 0.0, -1.0]];
        let labels = [0, 1, 1];
        let input = Input::new(&points, &labels, 2).unwrap();
        let mut config = Config::default();
        config.scoring.output = crate::classifier::Output::Probability;
        let a = integrated_gradients(&model, &input, &Targets::Classes(vec![0]), &config).unwrap();
        let want = [0.05 - 0.04, -0.05 - 0.01, 0.1];
        for (v, w) in a.per_point[0].iter().zip(want) {
            assert!((v - w).abs() < 1e-6, "{:?}", a.per_point);
        }
        let e = &a.explanations[0];
        assert!(
            (e.local_prediction.unwrap() - e.model_score).abs() < 1e-6,
            "{e:?}"
        );
        assert!((e.intercept.unwrap() - 0.5).abs() < 1e-6);
    }
}
