//! Measuring whether an explanation is faithful to the model, not just plausible.
//!
//! - **Deletion and insertion curves** over segments (Petsiuk et al., "RISE", BMVC 2018): remove
//!   (or, from an empty cloud, add) segments in the explanation's order, most important first, and
//!   score the model after each step. A faithful ranking makes the deletion curve fall fast (low
//!   area) and the insertion curve rise fast (high area). Areas are normalised to x in [0, 1].
//! - **AOPC** (Samek et al., "Evaluating the visualization of what a deep neural network has
//!   learned", 2017): the mean drop from the unperturbed score along the deletion curve.
//! - A **random-order baseline**, averaged over seeded orders, that every ranking is judged
//!   against.
//! - **Stability** between two explanations: Spearman rank correlation of the coefficients and
//!   the Jaccard index of their top-k segment sets.
//! - **Occlusion**: each segment's importance as the score lost when it alone is removed.
//!
//! Every curve point is the model's score on a masked cloud, scored through [`score_masks`], so
//! the exact max-pool path makes them as cheap as LIME's own samples.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::lime::{sample_weight, LimeConfig, LimeResult};
use super::score::score_masks;
use super::Explanation;
use crate::classifier::Classifier;
use crate::error::{Error, Result};
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

/// The model's score of `class` on every mask, in mask order: one [`score_masks`] call.
///
/// # Errors
/// [`Error::Config`] when `class` is out of range; classifier errors as they come.
pub(crate) fn class_scores(
    classifier: &dyn Classifier,
    points: &[[f32; 3]],
    labels: &[u32],
    masks: &Masks,
    class: usize,
    config: &LimeConfig,
) -> Result<Vec<f64>> {
    let n_classes = classifier.class_names().len();
    if class >= n_classes {
        return Err(Error::Config(format!(
            "class index {class} out of range (model has {n_classes} classes)"
        )));
    }
    let scored = score_masks(classifier, points, labels, masks, config, None)?;
    Ok((0..masks.len())
        .map(|i| scored.scores[i * n_classes + class] as f64)
        .collect())
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
    pub fn deletion_auc(&self) -> f64 {
        normalised_auc(&self.deletion)
    }

    pub fn insertion_auc(&self) -> f64 {
        normalised_auc(&self.insertion)
    }

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
    points: &[[f32; 3]],
    labels: &[u32],
    n_segments: usize,
    order: &[usize],
    class: usize,
    config: &LimeConfig,
) -> Result<Curves> {
    Ok(curves_for(
        classifier,
        points,
        labels,
        n_segments,
        &[order],
        class,
        config,
    )?
    .remove(0))
}

/// The curves of several orders, all their masks scored in one call (so a max-pooled model's
/// per-point features are computed once).
fn curves_for(
    classifier: &dyn Classifier,
    points: &[[f32; 3]],
    labels: &[u32],
    n_segments: usize,
    orders: &[&[usize]],
    class: usize,
    config: &LimeConfig,
) -> Result<Vec<Curves>> {
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
        points,
        labels,
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
#[allow(clippy::too_many_arguments)]
pub fn random_order_curves(
    classifier: &dyn Classifier,
    points: &[[f32; 3]],
    labels: &[u32],
    n_segments: usize,
    class: usize,
    config: &LimeConfig,
    rounds: usize,
    seed: u64,
) -> Result<Curves> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let orders: Vec<Vec<usize>> = (0..rounds.max(1))
        .map(|_| {
            let mut order: Vec<usize> = (0..n_segments).collect();
            order.shuffle(&mut rng);
            order
        })
        .collect();
    let refs: Vec<&[usize]> = orders.iter().map(Vec::as_slice).collect();
    let all = curves_for(classifier, points, labels, n_segments, &refs, class, config)?;
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

/// Weighted R² of a LIME surrogate on `n_samples` fresh masks drawn from `seed` (not the seed it
/// was fitted with), weighted by the same kernel: how well the linear story predicts the model on
/// perturbations it has not seen.
///
/// # Errors
/// Classifier errors as they come.
pub fn held_out_r2(
    classifier: &dyn Classifier,
    points: &[[f32; 3]],
    labels: &[u32],
    explanation: &Explanation,
    config: &LimeConfig,
    n_samples: usize,
    seed: u64,
) -> Result<f64> {
    let Some(intercept) = explanation.intercept else {
        return Err(Error::Config(format!(
            "held-out R² needs a surrogate, and {} has none",
            explanation.method
        )));
    };
    let k = explanation.coefficients.len();
    let masks = Masks::sample(n_samples, k, config.keep_probability, seed);
    let scores = class_scores(
        classifier,
        points,
        labels,
        &masks,
        explanation.target,
        config,
    )?;
    let (mut w_sum, mut wy) = (0.0, 0.0);
    let rows: Vec<(f64, f64, f64)> = (0..masks.len())
        .map(|i| {
            let z = masks.row(i);
            let kept = z.iter().filter(|&&b| b != 0).count();
            let w = sample_weight(kept, k, config.kernel_width);
            let y = scores[i];
            let pred = intercept
                + z.iter()
                    .zip(&explanation.coefficients)
                    .map(|(&b, c)| b as f64 * c)
                    .sum::<f64>();
            w_sum += w;
            wy += w * y;
            (w, y, pred)
        })
        .collect();
    let mean = wy / w_sum.max(f64::MIN_POSITIVE);
    let (mut res, mut tot) = (0.0, 0.0);
    for (w, y, p) in rows {
        res += w * (y - p).powi(2);
        tot += w * (y - mean).powi(2);
    }
    Ok(if tot > 0.0 { 1.0 - res / tot } else { 0.0 })
}

/// Per-segment standard deviation of LIME's coefficients over `rounds` bootstrap resamples of its
/// own scored samples (drawn with replacement from `seed`; each refit is the same weighted ridge).
/// Costs no model evaluations.
pub fn bootstrap_std(
    result: &LimeResult,
    class: usize,
    config: &LimeConfig,
    rounds: usize,
    seed: u64,
) -> Vec<f64> {
    let masks = &result.masks;
    let (s, k) = (masks.len(), masks.n_segments());
    let n_classes = result.scores.len() / s.max(1);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut sum, mut sum2) = (vec![0.0; k], vec![0.0; k]);
    let (mut x, mut y, mut w) = (
        Vec::with_capacity(s * k),
        Vec::with_capacity(s),
        Vec::with_capacity(s),
    );
    for _ in 0..rounds {
        x.clear();
        y.clear();
        w.clear();
        for _ in 0..s {
            let i = rng.random_range(0..s);
            let row = masks.row(i);
            x.extend(row.iter().map(|&b| b as f64));
            let kept = row.iter().filter(|&&b| b != 0).count();
            w.push(sample_weight(kept, k, config.kernel_width));
            y.push(result.scores[i * n_classes + class] as f64);
        }
        let fit = super::ridge::fit(&x, k, &y, &w, config.ridge_alpha);
        for (j, c) in fit.coefficients.iter().enumerate() {
            sum[j] += c;
            sum2[j] += c * c;
        }
    }
    let r = rounds.max(1) as f64;
    sum.iter()
        .zip(&sum2)
        .map(|(m, m2)| (m2 / r - (m / r).powi(2)).max(0.0).sqrt())
        .collect()
}

/// The median of the finite values (NaN when there are none).
pub fn median(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Ranks from 1, ties sharing their average rank (as scipy's `rankdata`).
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && v[order[j + 1]] == v[order[i]] {
            j += 1;
        }
        let average = (i + j) as f64 / 2.0 + 1.0;
        for &o in &order[i..=j] {
            r[o] = average;
        }
        i = j + 1;
    }
    r
}

/// Spearman's rank correlation (Pearson correlation of the tie-averaged ranks), as
/// `scipy.stats.spearmanr`. `None` when either side is constant or the lengths differ.
pub fn spearman(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.len() != b.len() || a.len() < 2 {
        return None;
    }
    let (ra, rb) = (ranks(a), ranks(b));
    let mean = (a.len() as f64 + 1.0) / 2.0;
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in ra.iter().zip(&rb) {
        let (dx, dy) = (x - mean, y - mean);
        sab += dx * dy;
        saa += dx * dx;
        sbb += dy * dy;
    }
    (saa > 0.0 && sbb > 0.0).then(|| sab / (saa * sbb).sqrt())
}

/// The `k` segments with the largest values, ties broken by the lower index.
pub fn top_k(values: &[f64], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&x, &y| values[y].total_cmp(&values[x]).then(x.cmp(&y)));
    order.truncate(k);
    order
}

/// Jaccard index of the two explanations' top-`k` segment sets.
pub fn top_k_jaccard(a: &[f64], b: &[f64], k: usize) -> f64 {
    let (ta, tb) = (top_k(a, k), top_k(b, k));
    let inter = ta.iter().filter(|s| tb.contains(s)).count();
    let union = ta.len() + tb.len() - inter;
    if union == 0 {
        1.0
    } else {
        inter as f64 / union as f64
    }
}

/// Occlusion's masks: row 0 keeps every segment, row `1 + s` all but segment `s`.
pub fn occlusion_masks(n_segments: usize) -> Masks {
    let rows: Vec<Vec<u8>> = std::iter::once(vec![1u8; n_segments])
        .chain((0..n_segments).map(|s| {
            let mut r = vec![1u8; n_segments];
            r[s] = 0;
            r
        }))
        .collect();
    Masks::from_rows(n_segments, &rows)
}

/// Occlusion: each segment's importance is the score of `class` with every segment kept minus
/// the score with that segment alone removed.
///
/// # Errors
/// [`Error::Config`] for an out-of-range class; classifier errors as they come.
pub fn occlusion(
    classifier: &dyn Classifier,
    points: &[[f32; 3]],
    labels: &[u32],
    n_segments: usize,
    class: usize,
    config: &LimeConfig,
) -> Result<Vec<f64>> {
    let masks = occlusion_masks(n_segments);
    let scores = class_scores(classifier, points, labels, &masks, class, config)?;
    Ok((0..n_segments).map(|s| scores[0] - scores[s + 1]).collect())
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
    fn spearman_matches_scipy_with_ties() {
        // scipy.stats.spearmanr([1, 2, 2, 3], [1, 3, 2, 4]).statistic = 0.9486832980505138
        let r = spearman(&[1.0, 2.0, 2.0, 3.0], &[1.0, 3.0, 2.0, 4.0]).unwrap();
        assert!((r - 0.948_683_298_050_513_8).abs() < 1e-12, "{r}");
        assert_eq!(spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]), Some(-1.0));
        assert_eq!(spearman(&[1.0, 1.0], &[1.0, 2.0]), None);
    }

    #[test]
    fn top_k_sets() {
        let a = [0.9, 0.1, 0.5, 0.7];
        let b = [0.9, 0.8, 0.1, 0.0];
        assert_eq!(top_k(&a, 2), [0, 3]);
        // {0, 3} vs {0, 1}: one shared of three.
        assert!((top_k_jaccard(&a, &b, 2) - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(top_k_jaccard(&a, &a, 3), 1.0);
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
