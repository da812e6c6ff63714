//! How well LIME's linear surrogate holds up: its weighted R² on perturbations it was not fitted
//! to, and the bootstrap spread of its coefficients.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::classifier::Classifier;
use crate::error::{Error, Result};
use crate::explain::lime::{design, draw_masks, fit_surrogate, sample_weight};
use crate::explain::score::class_scores;
use crate::explain::{Attribution, Config, Explanation, Input, LimeConfig, Payload, Surrogate};
use crate::perturb::Masks;

/// Weighted R² of a LIME surrogate on `n_samples` fresh masks drawn from `seed` (not the seed it
/// was fitted with), weighted by the same kernel: how well the linear story predicts the model on
/// perturbations it has not seen.
///
/// # Errors
/// Classifier errors as they come.
pub fn held_out_r2(
    classifier: &dyn Classifier,
    input: &Input,
    explanation: &Explanation,
    config: &Config,
    n_samples: usize,
    seed: u64,
) -> Result<f64> {
    if explanation.payload.is_none() && explanation.intercept.is_none() {
        return Err(Error::Config(format!(
            "held-out R² needs a surrogate, and {} has none",
            explanation.method
        )));
    }
    let lime: LimeConfig = config.settings()?;
    let k = explanation.coefficients.len();
    let masks = draw_masks(&lime, k, n_samples, seed);
    let scores = class_scores(
        classifier,
        input,
        &masks,
        explanation.target,
        &config.scoring,
    )?;
    let (mut w_sum, mut wy) = (0.0, 0.0);
    let rows: Vec<(f64, f64, f64)> = (0..masks.len())
        .map(|i| {
            let z = masks.row(i);
            let kept = z.iter().filter(|&&b| b != 0).count();
            let w = sample_weight(kept, k, lime.kernel_width);
            let y = scores[i];
            let pred = explanation.surrogate_prediction(z).unwrap_or(f64::NAN);
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

/// The scored samples of a sampling method's `result`: its masks, the scores (row-major, a row
/// per mask) and the number of classes; `what` needs them, or says so.
fn scored<'a>(result: &'a Attribution, what: &str) -> Result<(&'a Masks, &'a [f32], usize)> {
    let Some(samples) = &result.samples else {
        return Err(Error::Config(format!(
            "{what} needs the scored samples of a sampling method"
        )));
    };
    let n_classes = samples.scores.len() / samples.masks.len().max(1);
    Ok((&samples.masks, &samples.scores, n_classes))
}

/// LIME's explanation of `class` with `surrogate` fitted to the same scored samples instead (no
/// model evaluations): the ridge beside a tree, or a tree beside the ridge.
///
/// # Errors
/// [`Error::Config`] for an attribution without samples.
pub fn refit(
    result: &Attribution,
    explanation: &Explanation,
    config: &LimeConfig,
    surrogate: Surrogate,
) -> Result<Explanation> {
    let (masks, scores, n_classes) = scored(result, "a refit")?;
    let (s, k) = (masks.len(), masks.n_segments());
    let (x, w) = design(masks, config.kernel_width);
    let y: Vec<f64> = (0..s)
        .map(|i| scores[i * n_classes + explanation.target] as f64)
        .collect();
    let fit = fit_surrogate(&x, k, &y, &w, config, surrogate);
    let mut e = explanation.clone();
    e.local_prediction = Some(fit.local_prediction);
    e.intercept = Some(fit.intercept);
    e.r2 = Some(fit.r2);
    e.coefficients = fit.coefficients;
    e.payload = fit.tree.map(Payload::Tree);
    Ok(e)
}

/// Per-segment standard deviation of LIME's coefficients over `rounds` bootstrap resamples of its
/// own scored samples (drawn with replacement from `seed`; each refit is the same surrogate).
/// Costs no model evaluations.
///
/// # Errors
/// [`Error::Config`] for an attribution without samples (the gradient methods).
pub fn bootstrap_std(
    result: &Attribution,
    class: usize,
    config: &LimeConfig,
    rounds: usize,
    seed: u64,
) -> Result<Vec<f64>> {
    let (masks, scores, n_classes) = scored(result, "a bootstrap")?;
    let (s, k) = (masks.len(), masks.n_segments());
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
            y.push(scores[i * n_classes + class] as f64);
        }
        let coefficients = fit_surrogate(&x, k, &y, &w, config, config.surrogate).coefficients;
        for (j, c) in coefficients.iter().enumerate() {
            sum[j] += c;
            sum2[j] += c * c;
        }
    }
    let r = rounds.max(1) as f64;
    Ok(sum
        .iter()
        .zip(&sum2)
        .map(|(m, m2)| (m2 / r - (m / r).powi(2)).max(0.0).sqrt())
        .collect())
}
