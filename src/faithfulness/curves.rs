//! Deletion and insertion curves over segments (Petsiuk et al., "RISE", BMVC 2018): remove (or,
//! from an empty cloud, add) segments in an explanation's order, most important first, and score
//! the model after each step. A faithful ranking makes the deletion curve fall fast (low area) and
//! the insertion curve rise fast (high area); areas are normalised to x in [0, 1]. AOPC (Samek et
//! al., 2017) is the mean drop along the deletion curve. A random-order baseline, averaged over
//! seeded orders, is what every ranking is judged against.
//!
//! Every curve point is the model's score on a masked cloud through
//! [`score_masks`](crate::explain::score_masks), so the exact max-pool path makes them as cheap as
//! LIME's own samples.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::classifier::Classifier;
use crate::error::{Error, Result};
use crate::explain::score::class_scores;
use crate::explain::{Input, ScoringConfig};
use crate::perturb::Masks;

/// Masks that remove the segments of `order` one at a time: row `i` has the first `i` removed
/// (row 0 keeps everything, the last row keeps only the segments not in `order`).
pub fn deletion_masks(order: &[usize], n_segments: usize) -> Masks {
    stepwise_masks(order, n_segments, 1)
}

/// Masks that add the segments of `order` one at a time to an empty cloud: row `i` keeps only
/// the first `i`.
pub fn insertion_masks(order: &[usize], n_segments: usize) -> Masks {
    stepwise_masks(order, n_segments, 0)
}

/// Row 0 all `start`; each following row flips the next segment of `order`.
fn stepwise_masks(order: &[usize], n_segments: usize, start: u8) -> Masks {
    let mut row = vec![start; n_segments];
    let mut rows = vec![row.clone()];
    for &s in order {
        row[s] = 1 - start;
        rows.push(row.clone());
    }
    Masks::from_rows(n_segments, &rows)
}

/// Area under a curve sampled at equal steps over x in [0, 1] (trapezoid rule).
pub fn normalised_auc(curve: &[f64]) -> f64 {
    match curve.len() {
        0 => 0.0,
        1 => curve[0],
        n => {
            let inner: f64 = curve[1..n - 1].iter().sum();
            (0.5 * (curve[0] + curve[n - 1]) + inner) / (n - 1) as f64
        }
    }
}

/// Area over the perturbation curve: the mean of `curve[0] − curve[i]` over every point of a
/// deletion curve, the unperturbed one included.
pub fn aopc(curve: &[f64]) -> f64 {
    if curve.is_empty() {
        return 0.0;
    }
    curve.iter().map(|v| curve[0] - v).sum::<f64>() / curve.len() as f64
}

/// A deletion and an insertion curve for one class.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Curves {
    /// Score after removing the first `i` segments of the order, `i = 0..=len`.
    pub deletion: Vec<f64>,
    /// Score with only the first `i` segments kept, `i = 0..=len`.
    pub insertion: Vec<f64>,
}

impl Curves {
    /// Normalised area under the deletion curve (lower is more faithful).
    pub fn deletion_auc(&self) -> f64 {
        normalised_auc(&self.deletion)
    }

    /// Normalised area under the insertion curve (higher is more faithful).
    pub fn insertion_auc(&self) -> f64 {
        normalised_auc(&self.insertion)
    }

    /// AOPC of the deletion curve.
    pub fn aopc(&self) -> f64 {
        aopc(&self.deletion)
    }
}

/// The deletion and insertion curves of `class` when segments go in `order`.
///
/// `order` must be a permutation of `0..n_segments`. Removal, output (probability or logit) and
/// scoring path come from `config`.
///
/// # Errors
/// [`Error::Config`] when `order` is not a permutation or `class` is out of range; classifier
/// errors as they come.
pub fn curves(
    classifier: &dyn Classifier,
    input: &Input,
    order: &[usize],
    class: usize,
    config: &ScoringConfig,
) -> Result<Curves> {
    Ok(curves_for(classifier, input, &[order], class, config)?.remove(0))
}

/// The curves of several orders, all their masks scored in one call (so a max-pooled model's
/// per-point features are computed once).
fn curves_for(
    classifier: &dyn Classifier,
    input: &Input,
    orders: &[&[usize]],
    class: usize,
    config: &ScoringConfig,
) -> Result<Vec<Curves>> {
    let n_segments = input.n_segments;
    let mut rows: Vec<Vec<u8>> = Vec::with_capacity(orders.len() * 2 * (n_segments + 1));
    for order in orders {
        let mut seen = vec![false; n_segments];
        let permutation = order.len() == n_segments
            && order
                .iter()
                .all(|&s| s < n_segments && !std::mem::replace(&mut seen[s], true));
        if !permutation {
            return Err(Error::Config(format!(
                "a deletion order must list each of the {n_segments} segments once"
            )));
        }
        for masks in [
            deletion_masks(order, n_segments),
            insertion_masks(order, n_segments),
        ] {
            rows.extend((0..masks.len()).map(|i| masks.row(i).to_vec()));
        }
    }
    let scores = class_scores(
        classifier,
        input,
        &Masks::from_rows(n_segments, &rows),
        class,
        config,
    )?;
    Ok(scores
        .chunks(2 * (n_segments + 1))
        .map(|c| Curves {
            deletion: c[..=n_segments].to_vec(),
            insertion: c[n_segments + 1..].to_vec(),
        })
        .collect())
}

/// The curves of `rounds` random orders (from `seed`), averaged point by point: the baseline a
/// ranking must beat.
///
/// # Errors
/// As [`curves`].
pub fn random_order_curves(
    classifier: &dyn Classifier,
    input: &Input,
    class: usize,
    config: &ScoringConfig,
    rounds: usize,
    seed: u64,
) -> Result<Curves> {
    let n_segments = input.n_segments;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let orders: Vec<Vec<usize>> = (0..rounds.max(1))
        .map(|_| {
            let mut order: Vec<usize> = (0..n_segments).collect();
            order.shuffle(&mut rng);
            order
        })
        .collect();
    let refs: Vec<&[usize]> = orders.iter().map(Vec::as_slice).collect();
    let all = curves_for(classifier, input, &refs, class, config)?;
    let mean = |f: fn(&Curves) -> &Vec<f64>| -> Vec<f64> {
        (0..=n_segments)
            .map(|i| all.iter().map(|c| f(c)[i]).sum::<f64>() / all.len() as f64)
            .collect()
    };
    Ok(Curves {
        deletion: mean(|c| &c.deletion),
        insertion: mean(|c| &c.insertion),
    })
}

/// A curve sampled at equal steps over x in [0, 1] (as deletion and insertion curves are, one
/// step per segment), resampled at `n` equal steps by linear interpolation, so that curves over
/// different segment counts can be averaged.
pub fn resample(curve: &[f64], n: usize) -> Vec<f64> {
    match (curve.len(), n) {
        (_, 0) => Vec::new(),
        (0, _) => vec![f64::NAN; n],
        (1, _) => vec![curve[0]; n],
        (len, _) => (0..n)
            .map(|i| {
                let x = if n == 1 {
                    0.0
                } else {
                    i as f64 / (n - 1) as f64
                };
                let pos = x * (len - 1) as f64;
                let j = (pos.floor() as usize).min(len - 2);
                let t = pos - j as f64;
                curve[j] * (1.0 - t) + curve[j + 1] * t
            })
            .collect(),
    }
}

/// The pointwise mean of curves resampled to `n` steps (see [`resample`]), as `(x, y)` points.
/// The mean curve's normalised area is the mean of the curves' areas when `n` covers every
/// segment count, which is why the mean and not the median is drawn.
pub fn mean_curve<'a>(curves: impl IntoIterator<Item = &'a [f64]>, n: usize) -> Vec<(f64, f64)> {
    let mut sum = vec![0.0; n];
    let mut count = 0usize;
    for c in curves {
        for (s, v) in sum.iter_mut().zip(resample(c, n)) {
            *s += v;
        }
        count += 1;
    }
    sum.iter()
        .enumerate()
        .map(|(i, s)| {
            let x = if n <= 1 {
                0.0
            } else {
                i as f64 / (n - 1) as f64
            };
            (x, s / count.max(1) as f64)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn areas_and_aopc_by_hand() {
        assert!((normalised_auc(&[1.0, 0.5, 0.0]) - 0.5).abs() < 1e-12);
        // Trapezoids of width 1/4: (1+0.2)/2 + (0.2+0.1)/2 + (0.1+0)/2 + 0 = 0.8, / 4.
        assert!((normalised_auc(&[1.0, 0.2, 0.1, 0.0, 0.0]) - 0.2).abs() < 1e-12);
        assert!((aopc(&[1.0, 0.5, 0.0]) - 0.5).abs() < 1e-12);
        assert!((aopc(&[0.8, 0.8, 0.2, 0.0]) - (0.0 + 0.0 + 0.6 + 0.8) / 4.0).abs() < 1e-12);
        assert_eq!(normalised_auc(&[]), 0.0);
    }

    #[test]
    fn deletion_and_insertion_masks() {
        let d = deletion_masks(&[2, 0, 1], 3);
        let rows: Vec<&[u8]> = (0..d.len()).map(|i| d.row(i)).collect();
        assert_eq!(rows, [&[1, 1, 1][..], &[1, 1, 0], &[0, 1, 0], &[0, 0, 0]]);
        let ins = insertion_masks(&[2, 0, 1], 3);
        let rows: Vec<&[u8]> = (0..ins.len()).map(|i| ins.row(i)).collect();
        assert_eq!(rows, [&[0, 0, 0][..], &[0, 0, 1], &[1, 0, 1], &[1, 1, 1]]);
    }
}
