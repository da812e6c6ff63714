//! Critical points and point CAM, for max-pooled networks (issue #18, item 1).
//!
//! Such a network is `head(g)` with `g_k = max over points p of phi_k(p)`: each global channel `k`
//! has one winning point, `argmax_p phi_k(p)` (the first, on a tie). The points that win at least
//! one channel are the network's **critical set** (Qi et al., CVPR 2017): the cloud reduced to
//! them has the same `g`, hence the same scores. [`critical`] gives each point the number of
//! channels it wins (the same for every class).
//!
//! **Point CAM** carries class activation mapping (Zhou et al., CVPR 2016) to points: a point's
//! value for class `c` is the sum, over the channels it wins, of `w_ck · g_k`, where
//! `w_c = ∂ score_c / ∂ g` at the cloud's own `g` (the head linearised where it stands; for a
//! linear head, exactly its weights for `c`, so the values sum to the score less the bias). The
//! derivative is measured by central differences through the head, one channel at a time, so it
//! needs nothing but the network split at its max-pool: pointlime's own models without T-Nets and
//! ONNX exports cut there alike. A ReLU head is piecewise linear, and a step of `1e-3 · (1 + |g_k|)`
//! stays on one piece unless a unit sits within it of its kink.
//!
//! Segment values are sums over the segment's points.

use super::attribution::{register, Attribution, Method, Needs, Spec, Targets};
use super::config::Config;
use super::gradient::{by_point_values, by_segment};
use super::input::Input;
use super::score::ScoringPath;
use crate::classifier::{max_pool, Classifier, MaxPooled};
use crate::error::{Error, Result};

/// Point CAM (max-pooled networks): each global channel's linearised contribution, credited to
/// the point that wins its max-pool, summed per segment.
pub const CAM: Method = Method::new(&CAM_SPEC);
register!(CAM);

static CAM_SPEC: Spec = Spec {
    name: "cam",
    order: 70,
    summary: "max-pooled networks: each global channel's linearised share of the score, credited to the point that wins its max-pool",
    random: false,
    surrogate: false,
    needs: Needs::MaxPool,
    settings: None,
    run: |classifier, input, targets, config, _| cam(classifier, input, targets, config),
};

/// The critical set (max-pooled networks): how many global channels each point wins, summed per
/// segment.
pub const CRITICAL: Method = Method::new(&CRITICAL_SPEC);
register!(CRITICAL);

static CRITICAL_SPEC: Spec = Spec {
    name: "critical",
    order: 80,
    summary: "max-pooled networks: how many global channels each point wins",
    random: false,
    surrogate: false,
    needs: Needs::MaxPool,
    settings: None,
    run: |classifier, input, targets, config, _| critical(classifier, input, targets, config),
};

/// Levi & Gilboa's baseline (max-pooled networks): each point's feature norm before the
/// max-pool, summed per segment.
pub const FEATURE_NORM: Method = Method::new(&FEATURE_NORM_SPEC);
register!(FEATURE_NORM);

static FEATURE_NORM_SPEC: Spec = Spec {
    name: "featurenorm",
    order: 90,
    summary: "max-pooled networks: each point's feature norm before the max-pool",
    random: false,
    surrogate: false,
    needs: Needs::MaxPool,
    settings: None,
    run: |classifier, input, targets, config, _| feature_norm(classifier, input, targets, config),
};

/// Grad-CAM at the layer the global max-pool reads (pointlime's own models, T-Nets included),
/// per point, summed per segment.
pub const GRAD_CAM: Method = Method::new(&GRAD_CAM_SPEC);
register!(GRAD_CAM);

static GRAD_CAM_SPEC: Spec = Spec {
    name: "gradcam",
    order: 110,
    summary: "Grad-CAM at the layer the global max-pool reads, T-Nets included",
    random: false,
    surrogate: false,
    needs: Needs::PoolLayer,
    settings: None,
    run: |classifier, input, targets, config, _| grad_cam(classifier, input, targets, config),
};

/// The pooled feature of `points` and the point that wins each of its channels.
fn pooled(mp: &dyn MaxPooled, points: &[[f32; 3]]) -> Result<(Vec<f32>, Vec<usize>)> {
    Ok(max_pool(&mp.point_features(points)?, mp.feature_dim()))
}

fn max_pooled(classifier: &dyn Classifier) -> Result<&dyn MaxPooled> {
    classifier.max_pooled().filter(|mp| mp.readable()).ok_or_else(|| {
        Error::Config(
            "cam, critical and featurenorm need a network that is a max over per-point features (PointNet \
             without T-Nets, or an ONNX export cut at its max-pool: `pointlime model inspect` \
             says); this model is not one"
                .into(),
        )
    })
}

/// Point CAM on every target (see the module).
///
/// # Errors
/// [`Error::Config`] for a classifier that is not max-pooled; classifier errors as they come.
pub fn cam(
    classifier: &dyn Classifier,
    input: &Input,
    targets: &Targets,
    config: &Config,
) -> Result<Attribution> {
    let mp = max_pooled(classifier)?;
    let (g, winner) = pooled(mp, input.points)?;
    let c = g.len();
    let n_classes = classifier.class_names().len();
    let slopes = head_slopes(|x| mp.head(x, config.scoring.output), &g, n_classes)?;
    let n = input.points.len() as u64;
    let work = |_| (ScoringPath::PooledFeatures, n, 2 * c as u64);
    by_point_values(CAM, classifier, input, targets, config, work, |t| {
        let mut values = vec![0.0; input.points.len()];
        for k in 0..c {
            values[winner[k]] += slopes[k * n_classes + t] * g[k] as f64;
        }
        Ok(by_segment(values, input.labels, input.n_segments))
    })
}

/// `∂ score / ∂ g` of every class at `g`, row-major `[channels × classes]`, by central differences
/// through `head` (steps of `1e-3 · (1 + |g_k|)`, see the module).
fn head_slopes(
    head: impl Fn(&[f32]) -> Result<Vec<f32>>,
    g: &[f32],
    n_classes: usize,
) -> Result<Vec<f64>> {
    let c = g.len();
    let step: Vec<f32> = g.iter().map(|v| 1e-3 * (1.0 + v.abs())).collect();
    // Rows 2k and 2k + 1: g with channel k nudged up and down.
    let mut nudged = Vec::with_capacity(2 * c * c);
    for (k, h) in step.iter().enumerate() {
        for sign in [1.0, -1.0] {
            let start = nudged.len();
            nudged.extend_from_slice(g);
            nudged[start + k] += sign * h;
        }
    }
    let scores = head(&nudged)?;
    Ok((0..c)
        .flat_map(|k| {
            let up = &scores[2 * k * n_classes..(2 * k + 1) * n_classes];
            let down = &scores[(2 * k + 1) * n_classes..(2 * k + 2) * n_classes];
            let h = 2.0 * step[k] as f64;
            up.iter()
                .zip(down)
                .map(move |(&a, &b)| (a as f64 - b as f64) / h)
        })
        .collect())
}

/// Grad-CAM at the layer the global max-pool reads (issue #18, item 2), for pointlime's own
/// models with or without T-Nets: channel weights `α_k` are the gradient of the class score with
/// respect to that layer, averaged over the points (the max-pool routes channel `k`'s gradient,
/// `∂score/∂g_k`, to its winning point alone, so `α_k = (∂score/∂g_k) / N`), and a point's value
/// is `ReLU(Σ_k α_k · h_k(p))`. `∂score/∂g` is measured as for [`cam`].
///
/// # Errors
/// [`Error::Config`] for a classifier that does not expose the layer; classifier errors as they
/// come.
pub fn grad_cam(
    classifier: &dyn Classifier,
    input: &Input,
    targets: &Targets,
    config: &Config,
) -> Result<Attribution> {
    let layer = classifier.pool_layer().ok_or_else(|| {
        Error::Config(
            "gradcam reads the layer before the global max-pool of pointlime's own models; this \
             model does not expose it"
                .into(),
        )
    })?;
    let c = layer.pool_width();
    let h = layer.cloud_features(input.points)?;
    let (g, _) = max_pool(&h, c);
    let n_classes = classifier.class_names().len();
    let slopes = head_slopes(
        |x| layer.pooled_head(x, config.scoring.output),
        &g,
        n_classes,
    )?;
    let n = input.points.len();
    let work = |_| (ScoringPath::PooledFeatures, n as u64, 2 * c as u64);
    by_point_values(GRAD_CAM, classifier, input, targets, config, work, |t| {
        let values = h
            .chunks(c)
            .map(|row| {
                let v: f64 = (0..c)
                    .map(|k| slopes[k * n_classes + t] / n as f64 * row[k] as f64)
                    .sum();
                v.max(0.0)
            })
            .collect();
        Ok(by_segment(values, input.labels, input.n_segments))
    })
}

/// The critical set: each point's count of the global channels it wins (see the module), the
/// same for every target.
///
/// # Errors
/// As [`cam`].
pub fn critical(
    classifier: &dyn Classifier,
    input: &Input,
    targets: &Targets,
    config: &Config,
) -> Result<Attribution> {
    let mp = max_pooled(classifier)?;
    let (_, winner) = pooled(mp, input.points)?;
    let mut wins = vec![0.0; input.points.len()];
    for w in winner {
        wins[w] += 1.0;
    }
    every_class(CRITICAL, classifier, input, targets, config, wins)
}

/// Each point's feature norm before the max-pool, `‖phi(p)‖₂`: the one-forward-pass baseline of
/// Levi & Gilboa (2024), the same for every target.
///
/// # Errors
/// As [`cam`].
pub fn feature_norm(
    classifier: &dyn Classifier,
    input: &Input,
    targets: &Targets,
    config: &Config,
) -> Result<Attribution> {
    let mp = max_pooled(classifier)?;
    let c = mp.feature_dim();
    let norms: Vec<f64> = mp
        .point_features(input.points)?
        .chunks(c)
        .map(|row| row.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt())
        .collect();
    every_class(FEATURE_NORM, classifier, input, targets, config, norms)
}

/// The attribution of per-point `values` that are the same for every target, from the per-point
/// layers alone.
fn every_class(
    method: Method,
    classifier: &dyn Classifier,
    input: &Input,
    targets: &Targets,
    config: &Config,
    values: Vec<f64>,
) -> Result<Attribution> {
    let n = input.points.len() as u64;
    let work = |_| (ScoringPath::PooledFeatures, n, 0);
    by_point_values(method, classifier, input, targets, config, work, |_| {
        Ok(by_segment(values.clone(), input.labels, input.n_segments))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::Output;
    use crate::explain::Config;

    /// `phi(p) = (x, y)`, head `[2 g0 + 3 g1, −g0 + 1]`: linear, so CAM is exact.
    struct Pooled {
        names: Vec<String>,
    }

    impl Classifier for Pooled {
        fn class_names(&self) -> &[String] {
            &self.names
        }
        fn input_points(&self) -> usize {
            3
        }
        fn predict(&self, clouds: &[&[[f32; 3]]], output: Output) -> Result<Vec<f32>> {
            let mut out = Vec::new();
            for cloud in clouds {
                let g: Vec<f32> = (0..2)
                    .map(|k| cloud.iter().map(|p| p[k]).fold(f32::NEG_INFINITY, f32::max))
                    .collect();
                out.extend(self.head(&g, output)?);
            }
            Ok(out)
        }
        fn max_pooled(&self) -> Option<&dyn MaxPooled> {
            Some(self)
        }
    }

    impl MaxPooled for Pooled {
        fn feature_dim(&self) -> usize {
            2
        }
        fn point_features(&self, points: &[[f32; 3]]) -> Result<Vec<f32>> {
            Ok(points.iter().flat_map(|p| [p[0], p[1]]).collect())
        }
        fn head(&self, globals: &[f32], output: Output) -> Result<Vec<f32>> {
            let mut v: Vec<f32> = globals
                .chunks(2)
                .flat_map(|g| [2.0 * g[0] + 3.0 * g[1], -g[0] + 1.0])
                .collect();
            if output == Output::Probability {
                crate::classifier::softmax_rows(&mut v, 2);
            }
            Ok(v)
        }
    }

    #[test]
    fn cam_and_critical_points_by_hand() {
        let model = Pooled {
            names: vec!["a".into(), "b".into()],
        };
        // Channel 0's maximum, 2, is point 2's; channel 1's, 5, point 1's; point 0 wins nothing.
        let points = [[1.0, 0.0, 0.0], [0.0, 5.0, 0.0], [2.0, 1.0, 0.0]];
        let labels = [0, 1, 1];
        let input = Input::new(&points, &labels, 2).unwrap();
        let config = Config::default();
        let both = Targets::Classes(vec![0, 1]);
        let a = cam(&model, &input, &both, &config).unwrap();
        // Class a: point 2 gets 2·2, point 1 gets 3·5; class b: point 2 gets −1·2.
        let want = [[0.0, 15.0, 4.0], [0.0, 0.0, -2.0]];
        for (got, want) in a.per_point.iter().zip(want) {
            for (g, w) in got.iter().zip(want) {
                assert!((g - w).abs() < 1e-3, "{:?}", a.per_point);
            }
        }
        assert!((a.explanations[0].coefficients[1] - 19.0).abs() < 1e-3);
        assert_eq!(a.cost.path, ScoringPath::PooledFeatures);
        let c = critical(&model, &input, &both, &config).unwrap();
        assert_eq!(c.per_point[0], [0.0, 1.0, 1.0]);
        assert_eq!(c.explanations[1].coefficients, [0.0, 2.0]);
        let f = feature_norm(&model, &input, &both, &config).unwrap();
        assert_eq!(f.per_point[0], [1.0, 5.0, 5f64.sqrt()]);
    }

    #[test]
    fn a_network_that_is_not_max_pooled_is_refused() {
        let model = crate::explain::gradient::tests::Linear {
            names: vec!["a".into(), "b".into()],
            w: [0.1, 0.0, 0.0],
        };
        let points = [[0.0; 3]; 2];
        let input = Input::new(&points, &[0, 0], 1).unwrap();
        let err = cam(&model, &input, &Targets::Predicted, &Config::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("max over per-point features"), "{err}");
    }
}
