//! Faithfulness metrics against an additive classifier, whose curves can be written down by hand.

use pointlime::cloud::Frame;
use pointlime::explain::kernel_shap::kernel_shap;
use pointlime::explain::occlusion::occlusion;
use pointlime::explain::{Input, ScoringConfig, Targets};
use pointlime::faithfulness::{bootstrap_std, curves, held_out_r2, random_order_curves, spearman};

use crate::common::{blobs, lime_on, settings, Additive};

const K: usize = 8;
const WEIGHTS: [f64; K] = [0.20, -0.05, 0.10, 0.0, 0.15, -0.10, 0.05, 0.12];
const BIAS: f64 = 0.3;

/// Blobs 3 apart, framed on their middle so that the all-removed cloud (at the origin) touches no
/// blob.
fn setup() -> (Vec<[f32; 3]>, Vec<u32>, Additive) {
    let per_blob = 16;
    let (cloud, centres) = blobs(K, per_blob, 3.0, 1);
    let frame = Frame {
        center: [10.5, 0.0, 0.0],
        scale: 1.0,
        scan_up: Default::default(),
        model_up: Default::default(),
    };
    let points: Vec<[f32; 3]> = cloud.positions.iter().map(|p| frame.to_model(p)).collect();
    let labels = (0..points.len()).map(|i| (i / per_blob) as u32).collect();
    let model = Additive {
        names: vec!["a".into(), "b".into()],
        centres: centres.iter().map(|c| frame.to_model(c)).collect(),
        radius: 1.0,
        weights: WEIGHTS.to_vec(),
        bias: BIAS,
        points: points.len(),
    };
    (points, labels, model)
}

fn input<'a>(points: &'a [[f32; 3]], labels: &'a [u32]) -> Input<'a> {
    Input::new(points, labels, K).unwrap()
}

fn close(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6)
}

#[test]
fn curves_of_an_additive_classifier_are_its_partial_sums() {
    let (points, labels, model) = setup();
    let input = input(&points, &labels);
    let config = ScoringConfig::default();
    let order = [0, 4, 7, 2, 6, 3, 1, 5]; // by decreasing weight
    let c = curves(&model, &input, &order, 0, &config).unwrap();
    let total: f64 = BIAS + WEIGHTS.iter().sum::<f64>();
    let mut deletion = vec![total];
    let mut insertion = vec![BIAS];
    for &s in &order {
        deletion.push(deletion.last().unwrap() - WEIGHTS[s]);
        insertion.push(insertion.last().unwrap() + WEIGHTS[s]);
    }
    assert!(
        close(&c.deletion, &deletion),
        "{:?} vs {deletion:?}",
        c.deletion
    );
    assert!(
        close(&c.insertion, &insertion),
        "{:?} vs {insertion:?}",
        c.insertion
    );

    // The true order beats random orders on both curves.
    let random = random_order_curves(&model, &input, 0, &config, 20, 3).unwrap();
    assert!(c.deletion_auc() < random.deletion_auc());
    assert!(c.insertion_auc() > random.insertion_auc());
    assert!(c.aopc() > random.aopc());
    // Both start and end at the same clouds.
    assert!((random.deletion[0] - total).abs() < 1e-6);
    assert!((random.insertion[0] - BIAS).abs() < 1e-6);

    // A bad order is refused.
    assert!(curves(&model, &input, &[0, 0, 1, 2, 3, 4, 5, 6], 0, &config).is_err());
    assert!(curves(&model, &input, &order, 2, &config).is_err());
}

#[test]
fn occlusion_recovers_additive_weights_and_agrees_with_lime() {
    let (points, labels, model) = setup();
    let config = settings(|c| c.n_samples = 2000);
    let class0 = Targets::Classes(vec![0]);
    let occ = occlusion(&model, &input(&points, &labels), &class0, &config, None)
        .unwrap()
        .explanations
        .remove(0)
        .coefficients;
    assert!(close(&occ, &WEIGHTS), "{occ:?}");
    let lime = lime_on(
        &model,
        &points,
        &labels,
        K,
        &Targets::Classes(vec![0]),
        &config,
    )
    .unwrap();
    let r = spearman(&occ, &lime.explanations[0].coefficients).unwrap();
    assert!(r > 0.95, "{r}");
    // An additive model is linear in the masks: the surrogate predicts fresh samples almost
    // perfectly (ridge shrinkage keeps it just under 1).
    let e = &lime.explanations[0];
    let r2 = held_out_r2(&model, &input(&points, &labels), e, &config, 500, 99).unwrap();
    assert!(r2 > 0.98, "{r2}");
    // A surrogate with the coefficients scrambled does not.
    let mut wrong = e.clone();
    wrong.coefficients.reverse();
    let r2 = held_out_r2(&model, &input(&points, &labels), &wrong, &config, 500, 99).unwrap();
    assert!(r2 < 0.5, "{r2}");

    // Bootstrap spread: near zero for a noiseless linear game, and it shrinks with more samples
    // when the game is not linear (an interaction the surrogate cannot express).
    let sd = bootstrap_std(&lime, 0, &config.settings().unwrap(), 30, 4).unwrap();
    assert_eq!(sd.len(), K);
    assert!(sd.iter().all(|&v| v < 0.01), "{sd:?}");
}

#[test]
fn bootstrap_spread_shrinks_with_more_samples_on_a_nonlinear_game() {
    use pointlime::classifier::{Classifier, Output};
    /// Class 0 scores 1 when blobs 0 and 1 are both present, else 0.
    struct And(Additive);
    impl Classifier for And {
        fn class_names(&self) -> &[String] {
            &self.0.names
        }
        fn input_points(&self) -> usize {
            self.0.points
        }
        fn predict(&self, clouds: &[&[[f32; 3]]], _: Output) -> pointlime::Result<Vec<f32>> {
            Ok(clouds
                .iter()
                .flat_map(|c| {
                    let p = self.0.present(c);
                    let s = (p[0] && p[1]) as u8 as f32;
                    [s, 1.0 - s]
                })
                .collect())
        }
    }
    let (points, labels, model) = setup();
    let model = And(model);
    let spread = |n_samples| {
        let config = settings(|c| c.n_samples = n_samples);
        let r = lime_on(
            &model,
            &points,
            &labels,
            K,
            &Targets::Classes(vec![0]),
            &config,
        )
        .unwrap();
        let sd = bootstrap_std(&r, 0, &config.settings().unwrap(), 40, 4).unwrap();
        sd.iter().sum::<f64>() / K as f64
    };
    let (small, large) = (spread(250), spread(4000));
    assert!(small > 0.01, "{small}");
    assert!(large < small * 0.6, "{small} -> {large}");
}

#[test]
fn kernel_shap_gives_an_additive_classifiers_weights_enumerated_or_sampled() {
    let (points, labels, model) = setup();
    let input = input(&points, &labels);
    let shap = |budget: usize| {
        let config = settings(|c| {
            c.n_samples = budget;
            c.seed = 5;
        });
        kernel_shap(&model, &input, &Targets::Classes(vec![0]), &config, None)
            .map(|mut a| a.explanations.remove(0).coefficients)
    };
    // 2^8 − 2 = 254 coalitions fit the first budget (every one enumerated), not the second.
    for budget in [300, 60] {
        let phi = shap(budget).unwrap();
        assert!(close(&phi, &WEIGHTS), "budget {budget}: {phi:?}");
    }
    assert!(shap(1).is_err());
}

#[test]
fn attribute_gives_every_method_one_explanation_per_target_over_the_same_segments() {
    use pointlime::explain::attribute;
    use pointlime::explain::gradient::GRADIENT;
    use pointlime::explain::kernel_shap::KERNEL_SHAP;
    use pointlime::explain::lime::LIME;
    use pointlime::explain::occlusion::OCCLUSION;
    let (points, labels, model) = setup();
    let input = input(&points, &labels);
    let config = settings(|c| c.n_samples = 600);
    let targets = Targets::Classes(vec![0, 1]);
    for method in [LIME, KERNEL_SHAP, OCCLUSION] {
        let a = attribute(method, &model, &input, &targets, &config, None).unwrap();
        assert_eq!(a.explanations.len(), 2, "{method}");
        let e = &a.explanations[0];
        assert_eq!((e.method, e.target), (method, 0));
        // The additive classifier's weights, whichever sample-based method finds them.
        for (c, w) in e.coefficients.iter().zip(WEIGHTS) {
            assert!((c - w).abs() < 0.01, "{method}: {:?}", e.coefficients);
        }
        // Class 1 is 1 − class 0: its values are the negatives.
        for (a1, a0) in a.explanations[1].coefficients.iter().zip(&e.coefficients) {
            assert!((a1 + a0).abs() < 0.01, "{method}");
        }
        assert_eq!(e.r2.is_some(), method == LIME, "{method}");
        assert!(a.per_point.is_empty());
    }
    // KernelSHAP's additive story is exact at both ends (efficiency).
    let ks = attribute(KERNEL_SHAP, &model, &input, &targets, &config, None)
        .unwrap()
        .explanations
        .remove(0);
    let total: f64 = ks.coefficients.iter().sum();
    assert!((ks.intercept.unwrap() + total - ks.model_score).abs() < 1e-9);
    assert!((ks.intercept.unwrap() - BIAS).abs() < 1e-6);
    // The additive classifier gives no gradients: a clear error, not a panic.
    let err = attribute(GRADIENT, &model, &input, &targets, &config, None).unwrap_err();
    assert!(err.to_string().contains("gradients"), "{err}");
}
