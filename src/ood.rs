//! The competence check measured as an out-of-distribution detector, by the protocol of the 3DOS
//! benchmark (Alliegro, Borlino and Tommasi, "Towards Open Set 3D Learning", NeurIPS 2022 Datasets
//! and Benchmarks): the model's own test split is in-domain, each other domain is out, and a
//! detector's score (higher: more like the training scans) is judged by the area under the ROC
//! curve (AUROC) and the share of foreign scans accepted at the threshold that keeps 95% of the
//! in-domain ones (FPR95), each with a bootstrap confidence interval.
//!
//! Beside pointlime's competence, the 3DOS baselines on the same network input: maximum softmax
//! probability (Hendrycks and Gimpel 2017), maximum logit (Hendrycks et al. 2022), energy (Liu et
//! al. 2020), the distance to the nearest training feature (1-NN, on L2-normalised features as Sun
//! et al. 2022) and the Mahalanobis distance of the feature alone (Lee et al. 2018: the feature
//! half of pointlime's check, without the shape and the calibration).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::domain::Competence;

/// A score that says how much a scan looks like the training scans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Detector {
    /// pointlime's competence (the shipped check).
    Pointlime,
    /// The largest softmax probability.
    Msp,
    /// The largest logit.
    MaxLogit,
    /// The negative free energy, `log Σ exp(logit)`.
    Energy,
    /// Minus the distance of the L2-normalised feature to the nearest normalised training feature.
    NearestNeighbour,
    /// Minus the Mahalanobis distance of the feature to the nearest class mean.
    Mahalanobis,
}

impl Detector {
    /// Every detector, pointlime's first.
    pub const ALL: [Detector; 6] = [
        Detector::Pointlime,
        Detector::Msp,
        Detector::MaxLogit,
        Detector::Energy,
        Detector::NearestNeighbour,
        Detector::Mahalanobis,
    ];

    /// The column heading.
    pub fn name(self) -> &'static str {
        match self {
            Detector::Pointlime => "pointlime",
            Detector::Msp => "MSP",
            Detector::MaxLogit => "max logit",
            Detector::Energy => "energy",
            Detector::NearestNeighbour => "1-NN",
            Detector::Mahalanobis => "Mahalanobis",
        }
    }
}

/// The training scans' L2-normalised features, for the 1-NN baseline.
pub struct NearestNeighbour {
    rows: Vec<Vec<f32>>,
}

fn normalised(feature: &[f32]) -> Vec<f32> {
    let norm = feature.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
    feature.iter().map(|v| v / norm).collect()
}

impl NearestNeighbour {
    /// From row-major training features `dim` wide.
    pub fn new(features: &[f32], dim: usize) -> Self {
        NearestNeighbour {
            rows: features.chunks_exact(dim).map(normalised).collect(),
        }
    }

    /// Minus the Euclidean distance of the normalised `feature` to the nearest row.
    pub fn score(&self, feature: &[f32]) -> f64 {
        let f = normalised(feature);
        let nearest = self
            .rows
            .iter()
            .map(|r| {
                r.iter()
                    .zip(&f)
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f32>()
            })
            .fold(f32::INFINITY, f32::min);
        -f64::from(nearest).sqrt()
    }
}

/// Every detector's score of one scan, in [`Detector::ALL`]'s order, from its logits, feature,
/// competence (of `domain`) and the training features.
pub fn scores(
    logits: &[f32],
    feature: &[f32],
    competence: &Competence,
    nearest: &NearestNeighbour,
) -> [f64; 6] {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = logits.iter().map(|&l| f64::from(l - max).exp()).sum();
    let energy = f64::from(max) + sum.ln();
    [
        competence.score,
        1.0 / sum,
        f64::from(max),
        energy,
        nearest.score(feature),
        -competence.distance,
    ]
}

/// The area under the ROC curve of telling `inside` (positive) from `outside` by a higher score:
/// the probability that an in-domain scan scores above a foreign one, ties counting half (the
/// Mann–Whitney U statistic over the product of the counts). NaN when either side is empty.
pub fn auroc(inside: &[f64], outside: &[f64]) -> f64 {
    if inside.is_empty() || outside.is_empty() {
        return f64::NAN;
    }
    let all: Vec<f64> = inside.iter().chain(outside).copied().collect();
    let ranks = crate::stats::ranks(&all);
    let n = inside.len() as f64;
    let rank_sum: f64 = ranks[..inside.len()].iter().sum();
    (rank_sum - n * (n + 1.0) / 2.0) / (n * outside.len() as f64)
}

/// The share of `outside` accepted at the highest threshold that accepts at least `tpr` of
/// `inside` (a scan is accepted when its score is at or above the threshold). NaN when either
/// side is empty.
pub fn fpr_at(inside: &[f64], outside: &[f64], tpr: f64) -> f64 {
    if inside.is_empty() || outside.is_empty() {
        return f64::NAN;
    }
    let mut sorted = inside.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let keep = ((tpr * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    let threshold = sorted[keep - 1];
    outside.iter().filter(|&&s| s >= threshold).count() as f64 / outside.len() as f64
}

/// FPR at 95% TPR.
pub fn fpr95(inside: &[f64], outside: &[f64]) -> f64 {
    fpr_at(inside, outside, 0.95)
}

/// A value and its bootstrap confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Interval {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

/// `metric` of `inside` against `outside` with a 95% percentile bootstrap interval: `resamples`
/// redraws of each side with replacement, separately (the two samples are independent), seeded.
pub fn bootstrap(
    inside: &[f64],
    outside: &[f64],
    metric: fn(&[f64], &[f64]) -> f64,
    resamples: usize,
    seed: u64,
) -> Interval {
    let value = metric(inside, outside);
    if inside.is_empty() || outside.is_empty() || resamples == 0 {
        return Interval {
            value,
            low: value,
            high: value,
        };
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let draw = |from: &[f64], rng: &mut ChaCha8Rng| -> Vec<f64> {
        (0..from.len())
            .map(|_| from[rng.random_range(0..from.len())])
            .collect()
    };
    let values: Vec<f64> = (0..resamples)
        .map(|_| {
            let a = draw(inside, &mut rng);
            let b = draw(outside, &mut rng);
            metric(&a, &b)
        })
        .collect();
    let q = |p: f64| crate::stats::quantile(values.iter().copied(), p).unwrap_or(f64::NAN);
    Interval {
        value,
        low: q(0.025),
        high: q(0.975),
    }
}

/// One detector's result on one foreign domain.
#[derive(Debug, Clone, Serialize)]
pub struct Measured {
    pub detector: Detector,
    pub auroc: Interval,
    pub fpr95: Interval,
}

/// Every detector on one foreign domain against the in-domain scans.
///
/// `inside` and `outside` are per-scan score rows in [`Detector::ALL`]'s order.
pub fn measure(
    inside: &[[f64; 6]],
    outside: &[[f64; 6]],
    resamples: usize,
    seed: u64,
) -> Vec<Measured> {
    Detector::ALL
        .iter()
        .enumerate()
        .map(|(d, &detector)| {
            let a: Vec<f64> = inside.iter().map(|s| s[d]).collect();
            let b: Vec<f64> = outside.iter().map(|s| s[d]).collect();
            // Each detector gets its own stream, the same in every run.
            let seed = seed ^ (d as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            Measured {
                detector,
                auroc: bootstrap(&a, &b, auroc, resamples, seed),
                fpr95: bootstrap(&a, &b, fpr95, resamples, seed ^ 1),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auroc_counts_pairs_and_half_ties() {
        assert_eq!(auroc(&[3.0, 4.0], &[1.0, 2.0]), 1.0);
        assert_eq!(auroc(&[1.0, 2.0], &[3.0, 4.0]), 0.0);
        // Pairs (in > out): 2 > 1, 3 > 1, 3 > 2; 2 = 2 half: (3 + 0.5) / 4.
        assert_eq!(auroc(&[2.0, 3.0], &[1.0, 2.0]), 3.5 / 4.0);
        assert!(auroc(&[], &[1.0]).is_nan());
        // Against the pair count, on scores with many ties.
        let inside: Vec<f64> = (0..37).map(|i| f64::from(i % 7)).collect();
        let outside: Vec<f64> = (0..23).map(|i| f64::from(i % 5) - 1.0).collect();
        let mut pairs = 0.0;
        for a in &inside {
            for b in &outside {
                pairs += if a > b {
                    1.0
                } else if a == b {
                    0.5
                } else {
                    0.0
                };
            }
        }
        let expected = pairs / (inside.len() * outside.len()) as f64;
        assert!((auroc(&inside, &outside) - expected).abs() < 1e-12);
    }

    #[test]
    fn fpr95_uses_the_threshold_that_keeps_95_percent() {
        // 20 in-domain scores 1..=20: keeping 19 puts the threshold at 2.
        let inside: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(fpr95(&inside, &[1.9, 2.0, 2.1, 0.0]), 0.5);
        assert_eq!(fpr95(&inside, &[0.0, 1.0]), 0.0);
        // A threshold that keeps only 90% would accept fewer foreign scans.
        assert_eq!(fpr_at(&inside, &[2.5, 2.0], 0.9), 0.0);
    }

    #[test]
    fn bootstrap_is_seeded_and_brackets_the_value() {
        let inside: Vec<f64> = (0..100).map(|i| f64::from(i) / 50.0).collect();
        let outside: Vec<f64> = (0..80).map(|i| f64::from(i) / 60.0 - 0.5).collect();
        let a = bootstrap(&inside, &outside, auroc, 300, 7);
        assert_eq!(a, bootstrap(&inside, &outside, auroc, 300, 7));
        assert!(a.low < a.value && a.value < a.high, "{a:?}");
        assert_ne!(a, bootstrap(&inside, &outside, auroc, 300, 8));
    }

    #[test]
    fn logit_baselines() {
        let c = Competence {
            score: 0.5,
            in_domain: true,
            alarm_level: 0.01,
            feature_score: 0.5,
            shape_score: 0.6,
            distance: 3.0,
            nearest_class: "a".into(),
            percentile: 50.0,
        };
        let nn = NearestNeighbour::new(&[1.0, 0.0, 0.0, 2.0], 2);
        let s = scores(&[0.0, 2.0f32.ln()], &[3.0, 0.0], &c, &nn);
        assert_eq!(s[0], 0.5);
        assert!((s[1] - 2.0 / 3.0).abs() < 1e-6, "msp {}", s[1]);
        assert!((s[2] - 2f64.ln()).abs() < 1e-6);
        assert!((s[3] - 3f64.ln()).abs() < 1e-6, "energy {}", s[3]);
        assert_eq!(s[4], 0.0);
        assert_eq!(s[5], -3.0);
    }
}
