//! SmoothGrad and Expected Gradients (issue #18, item 3): gradient methods that average over
//! random draws, both seeded by the configuration's `seed`.
//!
//! **SmoothGrad** (Smilkov et al., 2017) averages the gradient method's map over noisy copies of
//! the cloud: a point's value is the mean over [`SmoothGradConfig::samples`] copies of
//! `‖∂score/∂xyz‖` at `x + ε`, each coordinate of each point jittered by Gaussian noise of
//! standard deviation σ (in the scan's units, turned into the model frame by the frame's scale;
//! by default 5% of the scan's radius). On a point cloud the noise moves points, so σ is a length:
//! a few centimetres on a car, a few millimetres on a seedling.
//!
//! **Expected Gradients** (Erion et al., Nature Machine Intelligence 2021) is Integrated
//! Gradients averaged over baselines drawn from the data instead of one fixed baseline: each of
//! [`EgConfig::samples`] draws takes a reference cloud (another scan of the dataset, in
//! its own model frame), pairs each input point with one of its points drawn at random (a point
//! set has no order, so any pairing is as good as another, and averaging over draws averages over
//! pairings too), and a point `α ~ U(0, 1)` on the straight path; the point's value is
//! `(x − x') · ∂score/∂x at x' + α (x − x')`. In expectation the values sum to
//! `score(x) − E[score(x')]`: the explanation's `intercept` is the mean score of the drawn
//! baselines and its `local_prediction` the intercept plus the sum, to compare with `model_score`.
//!
//! Segment values are sums over the segment's points.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use serde::{Deserialize, Serialize};

use super::attribution::{register, Attribution, Method, Needs, Spec, Targets};
use super::config::{Config, Flag, FlagValue, MethodSettings, SettingsSpec};
use super::gradient::{by_point_values, by_segment, gradients};
use super::input::Input;
use super::integrated::with_completeness;
use super::score::ScoringPath;
use crate::classifier::Classifier;
use crate::error::{Error, Result};

/// SmoothGrad: the gradient averaged over noisy copies of the cloud.
pub const SMOOTHGRAD: Method = Method::new(&SMOOTHGRAD_SPEC);
register!(SMOOTHGRAD);

static SMOOTHGRAD_SPEC: Spec = Spec {
    name: "smoothgrad",
    order: 120,
    summary: "the gradient averaged over noisy copies, --smoothgrad-noise",
    random: true,
    surrogate: false,
    needs: Needs::Gradients,
    settings: Some(SettingsSpec::of::<SmoothGradConfig>(&[
        Flag {
            long: "smoothgrad-noise",
            key: "noise",
            value_name: "LENGTH",
            help: "smoothgrad: noise standard deviation in file units (metres for LiDAR) \
                   [default: 5% of the scan's radius]",
            value: FlagValue::Number,
        },
        Flag {
            long: "smoothgrad-samples",
            key: "samples",
            value_name: "N",
            help: "smoothgrad: noisy copies averaged [default: 32]",
            value: FlagValue::Count,
        },
    ])),
    run: |classifier, input, targets, config, _| smoothgrad(classifier, input, targets, config),
};

/// Expected Gradients: Integrated Gradients from baselines drawn from other scans.
pub const EG: Method = Method::new(&EG_SPEC);
register!(EG);

static EG_SPEC: Spec = Spec {
    name: "eg",
    order: 130,
    summary: "Expected Gradients: Integrated Gradients from baselines drawn from --baselines",
    random: true,
    surrogate: false,
    needs: Needs::Gradients,
    settings: Some(SettingsSpec::of::<EgConfig>(&[Flag {
        long: "eg-samples",
        key: "samples",
        value_name: "N",
        help: "eg: draws of a baseline and a point on its path [default: 32]",
        value: FlagValue::Count,
    }])),
    run: |classifier, input, targets, config, _| {
        expected_gradients(classifier, input, targets, config)
    },
};

/// SmoothGrad's own settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmoothGradConfig {
    /// Noisy copies of the cloud. By default, 32.
    pub samples: usize,
    /// The noise: the standard deviation of each coordinate's Gaussian, in the scan's units
    /// (metres for LiDAR). By default (`None`), [`DEFAULT_NOISE`] of the scan's radius.
    pub noise: Option<f64>,
}

impl Default for SmoothGradConfig {
    fn default() -> Self {
        SmoothGradConfig {
            samples: 32,
            noise: None,
        }
    }
}

impl MethodSettings for SmoothGradConfig {
    const METHOD: &'static str = "smoothgrad";

    fn validate(&self) -> Result<()> {
        if let Some(v) = self.noise.filter(|v| !(*v > 0.0 && v.is_finite())) {
            return Err(Error::Config(format!(
                "smoothgrad noise must be positive, got {v}"
            )));
        }
        if self.samples == 0 {
            return Err(Error::Config(
                "smoothgrad samples must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// Expected Gradients' own settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EgConfig {
    /// Draws of a baseline and a point on its path. By default, 32.
    pub samples: usize,
}

impl Default for EgConfig {
    fn default() -> Self {
        EgConfig { samples: 32 }
    }
}

impl MethodSettings for EgConfig {
    const METHOD: &'static str = "eg";

    fn validate(&self) -> Result<()> {
        if self.samples == 0 {
            return Err(Error::Config(
                "expected-gradients samples must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// SmoothGrad's default noise, as a share of the scan's radius.
pub const DEFAULT_NOISE: f64 = 0.05;

/// The largest distance of a point from the model frame's origin (the scan's radius in model
/// units).
pub(super) fn radius(points: &[[f32; 3]]) -> f64 {
    points
        .iter()
        .map(|p| p.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt())
        .fold(0.0, f64::max)
}

/// SmoothGrad on every target (see the module).
///
/// # Errors
/// [`Error::Config`] for a classifier without gradients; classifier errors as they come.
pub fn smoothgrad(
    classifier: &dyn Classifier,
    input: &Input,
    targets: &Targets,
    config: &Config,
) -> Result<Attribution> {
    let settings: SmoothGradConfig = config.settings()?;
    let output = config.scoring.output;
    let points = input.points;
    let samples = settings.samples;
    let sigma = match settings.noise {
        Some(metres) => metres / input.scale,
        None => DEFAULT_NOISE * radius(points),
    };
    let normal = Normal::new(0.0, sigma.max(f64::MIN_POSITIVE))
        .map_err(|e| Error::Config(format!("smoothgrad noise: {e}")))?;
    // One set of noisy copies, shared by every target.
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let noisy: Vec<Vec<[f32; 3]>> = (0..samples)
        .map(|_| {
            points
                .iter()
                .map(|p| p.map(|v| v + normal.sample(&mut rng) as f32))
                .collect()
        })
        .collect();
    let n = points.len() as u64;
    let work = |classes: u64| {
        let passes = classes * samples as u64;
        (ScoringPath::Backprop, passes * n, passes)
    };
    let mut attribution =
        by_point_values(SMOOTHGRAD, classifier, input, targets, config, work, |t| {
            let mut sum = vec![0.0f64; points.len()];
            for cloud in &noisy {
                let g = gradients(classifier, cloud, input.labels, t, output)?;
                for (s, d) in sum.iter_mut().zip(&g) {
                    *s += d.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt();
                }
            }
            let values = sum.into_iter().map(|s| s / samples as f64).collect();
            Ok(by_segment(values, input.labels, input.n_segments))
        })?;
    for e in &mut attribution.explanations {
        e.n_samples = samples;
    }
    Ok(attribution)
}

/// Expected Gradients on every target, from `input.baselines` (see the module).
///
/// # Errors
/// [`Error::Config`] without reference clouds or for a classifier without gradients; classifier
/// errors as they come.
pub fn expected_gradients(
    classifier: &dyn Classifier,
    input: &Input,
    targets: &Targets,
    config: &Config,
) -> Result<Attribution> {
    let references: Vec<&Vec<[f32; 3]>> =
        input.baselines.iter().filter(|b| !b.is_empty()).collect();
    if references.is_empty() {
        return Err(Error::Config(
            "eg (Expected Gradients) draws its baselines from other scans: give them with \
             --baselines DIR or a manifest"
                .into(),
        ));
    }
    let settings: EgConfig = config.settings()?;
    let output = config.scoring.output;
    let points = input.points;
    let samples = settings.samples;
    // One set of draws (baseline cloud, pairing, α), shared by every target.
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let draws: Vec<(Vec<[f32; 3]>, f32)> = (0..samples)
        .map(|_| {
            let reference = references[rng.random_range(0..references.len())];
            let baseline = points
                .iter()
                .map(|_| reference[rng.random_range(0..reference.len())])
                .collect();
            (baseline, rng.random::<f32>())
        })
        .collect();
    let clouds: Vec<&[[f32; 3]]> = draws.iter().map(|(b, _)| b.as_slice()).collect();
    let baseline_scores = classifier.predict(&clouds, output)?;
    let n_classes = classifier.class_names().len();
    let n = points.len() as u64;
    let work = |classes: u64| {
        let passes = classes * samples as u64;
        (ScoringPath::Backprop, passes * n, passes + samples as u64)
    };
    let mut attribution = by_point_values(EG, classifier, input, targets, config, work, |t| {
        let mut values = vec![0.0f64; points.len()];
        for (baseline, alpha) in &draws {
            let on_path: Vec<[f32; 3]> = points
                .iter()
                .zip(baseline)
                .map(|(x, b)| std::array::from_fn(|a| b[a] + alpha * (x[a] - b[a])))
                .collect();
            let g = gradients(classifier, &on_path, input.labels, t, output)?;
            for ((v, d), (x, b)) in values.iter_mut().zip(&g).zip(points.iter().zip(baseline)) {
                *v += (0..3)
                    .map(|a| (x[a] - b[a]) as f64 * d[a] as f64)
                    .sum::<f64>();
            }
        }
        values.iter_mut().for_each(|v| *v /= samples as f64);
        Ok(by_segment(values, input.labels, input.n_segments))
    })?;
    let mean_baseline = |t: usize| {
        (0..samples)
            .map(|i| baseline_scores[i * n_classes + t] as f64)
            .sum::<f64>()
            / samples as f64
    };
    with_completeness(&mut attribution, mean_baseline, samples);
    Ok(attribution)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::Output;
    use crate::explain::gradient::tests::Linear;

    fn linear() -> (Linear, Config) {
        let model = Linear {
            names: vec!["a".into(), "b".into()],
            w: [0.05, -0.02, 0.01],
        };
        let mut config = Config::default();
        config.scoring.output = Output::Probability;
        (model, config)
    }

    #[test]
    fn expected_gradients_of_a_linear_score_are_exact_and_complete() {
        // p = 0.5 + Σ w·x has gradient w everywhere: each draw gives w·(x − x'), whatever α, so
        // the mean over draws is w·(x − mean x'), and the values sum to p(x) − mean p(x').
        let (model, mut config) = linear();
        config.set(&EgConfig { samples: 8 }).unwrap();
        let points = [[1.0, 2.0, 0.0], [-1.0, 0.5, 3.0], [2.0, 0.0, -1.0]];
        let labels = [0, 1, 1];
        // One reference cloud of one point: every pairing pairs with it.
        let baselines = vec![vec![[0.5f32, -1.0, 2.0]]];
        let input = Input::new(&points, &labels, 2)
            .unwrap()
            .with_baselines(&baselines);
        let a = expected_gradients(&model, &input, &Targets::Classes(vec![0]), &config).unwrap();
        let b = baselines[0][0];
        for (v, x) in a.per_point[0].iter().zip(&points) {
            let want: f64 = (0..3)
                .map(|k| model.w[k] as f64 * (x[k] - b[k]) as f64)
                .sum();
            assert!((v - want).abs() < 1e-6, "{v} vs {want}");
        }
        let e = &a.explanations[0];
        assert!((e.local_prediction.unwrap() - e.model_score).abs() < 1e-5);
        let want_intercept = 0.5 + 3.0 * (0.05 * 0.5 + 0.02 + 0.02);
        assert!(
            (e.intercept.unwrap() - want_intercept).abs() < 1e-5,
            "{e:?}"
        );
        // Without reference clouds, a clear refusal.
        let bare = Input::new(&points, &labels, 2).unwrap();
        let err = expected_gradients(&model, &bare, &Targets::Predicted, &config).unwrap_err();
        assert!(err.to_string().contains("--baselines"), "{err}");
    }

    #[test]
    fn smoothgrad_of_a_linear_score_is_the_gradient_and_the_noise_is_seeded() {
        // A constant gradient is unmoved by noise: every point's value is ‖w‖.
        let (model, mut config) = linear();
        config
            .set(&SmoothGradConfig {
                samples: 4,
                noise: Some(0.5),
            })
            .unwrap();
        let points = [[1.0, 2.0, 0.0], [-1.0, 0.5, 3.0]];
        let labels = [0, 1];
        let input = Input::new(&points, &labels, 2).unwrap().with_scale(2.0);
        let a = smoothgrad(&model, &input, &Targets::Classes(vec![0]), &config).unwrap();
        let norm = (0.05f64.powi(2) + 0.02f64.powi(2) + 0.01f64.powi(2)).sqrt();
        for v in &a.per_point[0] {
            assert!((v - norm).abs() < 1e-6);
        }
        assert_eq!(a.explanations[0].n_samples, 4);
        assert_eq!(radius(&points), (1.0f64 + 0.25 + 9.0).sqrt());
    }

    /// Class 0 scores `Σ ‖x‖² / 2`, so a point's gradient is the point itself.
    struct Quadratic(Vec<String>);

    impl Classifier for Quadratic {
        fn class_names(&self) -> &[String] {
            &self.0
        }
        fn input_points(&self) -> usize {
            2
        }
        fn predict(&self, clouds: &[&[[f32; 3]]], _: Output) -> Result<Vec<f32>> {
            Ok(clouds
                .iter()
                .flat_map(|c| {
                    let s: f32 = c.iter().flatten().map(|v| v * v / 2.0).sum();
                    [s, -s]
                })
                .collect())
        }
        fn differentiable(&self) -> Option<&dyn crate::classifier::Differentiable> {
            Some(self)
        }
    }

    impl crate::classifier::Differentiable for Quadratic {
        fn input_gradients(&self, p: &[[f32; 3]], _: usize, _: Output) -> Result<Vec<[f32; 3]>> {
            Ok(p.to_vec())
        }
    }

    #[test]
    fn smoothgrad_noise_is_in_the_scans_units() {
        // At the origin the gradient is the noise itself: its mean norm is σ·sqrt(8/π), with σ
        // the noise in scan units over the frame's scale (0.5 / 2). A far point keeps ‖x‖.
        let model = Quadratic(vec!["a".into(), "b".into()]);
        let mut config = Config::default();
        config
            .set(&SmoothGradConfig {
                samples: 4000,
                noise: Some(0.5),
            })
            .unwrap();
        let points = [[0.0, 0.0, 0.0], [10.0, 0.0, 0.0]];
        let labels = [0, 1];
        let input = Input::new(&points, &labels, 2).unwrap().with_scale(2.0);
        let a = smoothgrad(&model, &input, &Targets::Classes(vec![0]), &config).unwrap();
        let want = 0.25 * (8.0 / std::f64::consts::PI).sqrt();
        let v = &a.per_point[0];
        assert!((v[0] / want - 1.0).abs() < 0.03, "{v:?} vs {want}");
        assert!((v[1] - 10.0).abs() < 0.02, "{v:?}");
        // The default noise: 5% of the radius (10), so σ = 0.5 at the origin.
        config
            .update(|s: &mut SmoothGradConfig| s.noise = None)
            .unwrap();
        let a = smoothgrad(&model, &input, &Targets::Classes(vec![0]), &config).unwrap();
        assert!((a.per_point[0][0] / (2.0 * want) - 1.0).abs() < 0.03);
        // Seeded: the same twice, another seed differs.
        let again = smoothgrad(&model, &input, &Targets::Classes(vec![0]), &config).unwrap();
        assert_eq!(a.per_point, again.per_point);
        config.seed = 1;
        let other = smoothgrad(&model, &input, &Targets::Classes(vec![0]), &config).unwrap();
        assert_ne!(a.per_point, other.per_point);
    }
}
