//! KernelSHAP over segments (Lundberg and Lee, "A Unified Approach to Interpreting Model
//! Predictions", NeurIPS 2017): the weighted linear fit whose solution is the Shapley values.
//!
//! Players are segments; a coalition is a mask (kept segments), its value the model's score on the
//! masked cloud. The Shapley kernel weighs a coalition of size `s` out of `M` by
//! `(M − 1) / (C(M, s) · s · (M − s))`; the empty and full coalitions have infinite weight, which
//! is the efficiency constraint `Σ φ = f(all) − f(none)`, imposed exactly by eliminating the last
//! coefficient. With `2^M − 2` coalitions within the budget every one is enumerated and the result
//! is the exact Shapley values; otherwise sizes are drawn from the kernel's size distribution,
//! each with its complement (paired sampling, which cancels the even-order error terms), and the
//! samples are weighed equally.

use std::time::Instant;

use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::attribution::{register, Attribution, Explanation, Method, Needs, Spec, Targets};
use super::config::Config;
use super::input::Input;
use super::masked::explain_masks;
use super::score::Progress;
use crate::classifier::Classifier;
use crate::error::Result;
use crate::perturb::Masks;

/// KernelSHAP: Shapley values from the Shapley kernel, paired sampling, exact efficiency.
pub const KERNEL_SHAP: Method = Method::new(&SPEC);
register!(KERNEL_SHAP);

static SPEC: Spec = Spec {
    name: "kernelshap",
    order: 20,
    summary: "Shapley values, --samples coalitions",
    random: true,
    surrogate: false,
    needs: Needs::Scores,
    settings: None,
    run: kernel_shap,
};

/// Coalitions for KernelSHAP over `m` players: row 0 all kept, row 1 none kept, then the
/// regression rows, with one weight per row (the first two rows' weights are unused).
pub fn coalitions(m: usize, budget: usize, seed: u64) -> (Masks, Vec<f64>) {
    let mut rows = vec![vec![1u8; m], vec![0u8; m]];
    let mut weights = vec![0.0, 0.0];
    let full = (m < usize::BITS as usize - 1).then(|| (1usize << m) - 2);
    match full {
        Some(n) if n <= budget => {
            for code in 1..=n {
                let row: Vec<u8> = (0..m).map(|j| ((code >> j) & 1) as u8).collect();
                let s = row.iter().filter(|&&b| b == 1).count();
                weights.push(kernel(m, s));
                rows.push(row);
            }
        }
        _ => {
            // Sizes 1..m−1 with probability ∝ 1 / (s (m − s)): the kernel summed over a size.
            let p: Vec<f64> = (1..m).map(|s| 1.0 / (s * (m - s)) as f64).collect();
            let total: f64 = p.iter().sum();
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            for _ in 0..budget / 2 {
                let mut u = rng.random::<f64>() * total;
                let mut s = m - 1;
                for (i, pi) in p.iter().enumerate() {
                    if u < *pi {
                        s = i + 1;
                        break;
                    }
                    u -= pi;
                }
                let mut row = vec![0u8; m];
                for j in sample(&mut rng, m, s) {
                    row[j] = 1;
                }
                let complement: Vec<u8> = row.iter().map(|b| 1 - b).collect();
                rows.push(row);
                rows.push(complement);
                weights.extend([1.0, 1.0]);
            }
        }
    }
    (Masks::from_rows(m, &rows), weights)
}

/// The Shapley kernel weight of one coalition of size `s` out of `m`.
fn kernel(m: usize, s: usize) -> f64 {
    // C(m, s) in floating point: exact enough, and no overflow for the m this is used with.
    let binom = (0..s).fold(1.0, |c, i| c * (m - i) as f64 / (i + 1) as f64);
    (m - 1) as f64 / (binom * (s * (m - s)) as f64)
}

/// Fits the Shapley values from coalition values: `values[0]` is the full coalition's,
/// `values[1]` the empty one's, and rows 2.. are regressed with `weights`.
pub fn fit(masks: &Masks, values: &[f64], weights: &[f64]) -> Vec<f64> {
    let m = masks.n_segments();
    let (f_all, f_none) = (values[0], values[1]);
    let delta = f_all - f_none;
    if m == 1 {
        return vec![delta];
    }
    // φ_last = Δ − Σ_{j<last} φ_j, so y − f(none) − z_last·Δ = Σ_{j<last} φ_j (z_j − z_last).
    let rows = masks.len() - 2;
    let k = m - 1;
    // Row-major k × k normal equations.
    let mut a = vec![0.0; k * k];
    let mut b = vec![0.0; k];
    let mut x = vec![0.0; k];
    for r in 0..rows {
        let z = masks.row(r + 2);
        let last = z[m - 1] as f64;
        for j in 0..m - 1 {
            x[j] = z[j] as f64 - last;
        }
        let y = values[r + 2] - f_none - last * delta;
        let w = weights[r + 2];
        for i in 0..k {
            b[i] += w * x[i] * y;
            for j in 0..k {
                a[i * k + j] += w * x[i] * x[j];
            }
        }
    }
    let mut out = crate::linalg::solve(k, &a, &b);
    out.push(delta - out.iter().sum::<f64>());
    out
}

/// KernelSHAP values of every target, from [`Config::n_samples`] coalitions beyond the full and
/// empty ones (drawn from [`Config::seed`]); all targets come from one pass over the coalitions.
///
/// # Errors
/// [`Error::Config`](crate::Error::Config) for invalid settings, input or targets; classifier
/// errors as they come.
pub fn kernel_shap(
    classifier: &dyn Classifier,
    input: &Input,
    targets: &Targets,
    config: &Config,
    progress: Option<&Progress>,
) -> Result<Attribution> {
    config.check(input)?;
    let start = Instant::now();
    let names = classifier.class_names();
    // Row 0 keeps every segment (the unperturbed cloud), row 1 none.
    let (masks, weights) = coalitions(input.n_segments, config.n_samples, config.seed);
    let drawing = start.elapsed().as_secs_f64();
    let mut a = explain_masks(
        classifier,
        input,
        targets,
        config,
        progress,
        masks,
        |t, values, masks| {
            let phi = fit(masks, values, &weights);
            let f_all = values[0];
            let mut e =
                Explanation::plain(KERNEL_SHAP, t, names, phi, f_all, masks.len(), config.seed);
            // Efficiency makes the additive story exact at both ends.
            e.intercept = Some(values[1]);
            e.local_prediction = Some(f_all);
            e
        },
    )?;
    a.cost.sampling_seconds += drawing;
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(masks: &Masks, game: impl Fn(&[u8]) -> f64) -> Vec<f64> {
        (0..masks.len()).map(|i| game(masks.row(i))).collect()
    }

    #[test]
    fn exact_shapley_values_of_an_additive_game() {
        let w = [0.3, -0.2, 0.5, 0.0, 0.1];
        let game = |z: &[u8]| 1.0 + z.iter().zip(&w).map(|(&b, w)| b as f64 * w).sum::<f64>();
        let (masks, weights) = coalitions(5, 1000, 0);
        assert_eq!(masks.len(), 2 + 30);
        let phi = fit(&masks, &values(&masks, game), &weights);
        for (p, w) in phi.iter().zip(&w) {
            assert!((p - w).abs() < 1e-9, "{phi:?}");
        }
    }

    #[test]
    fn exact_shapley_values_of_a_game_with_an_interaction() {
        // v(S) = 2·[0 ∈ S] + 3·[1 ∈ S and 2 ∈ S] + [1 ∈ S or 3 ∈ S], four players. Shapley:
        // player 0: 2; players 1 and 2 split the AND: 1.5 each; players 1 and 3 split the OR: 0.5
        // each. So φ = [2, 2, 1.5, 0.5], summing to v(all) − v(∅) = 6.
        let game = |z: &[u8]| 2.0 * z[0] as f64 + 3.0 * (z[1] & z[2]) as f64 + (z[1] | z[3]) as f64;
        let (masks, weights) = coalitions(4, 14, 0);
        let phi = fit(&masks, &values(&masks, game), &weights);
        let want = [2.0, 2.0, 1.5, 0.5];
        for (p, w) in phi.iter().zip(&want) {
            assert!((p - w).abs() < 1e-9, "{phi:?}");
        }
    }

    #[test]
    fn sampled_coalitions_are_paired_and_keep_efficiency() {
        let m = 20;
        let (masks, weights) = coalitions(m, 400, 7);
        assert_eq!(masks.len(), 2 + 400);
        for r in (2..masks.len()).step_by(2) {
            let (a, b) = (masks.row(r), masks.row(r + 1));
            assert!(a.iter().zip(b).all(|(x, y)| x + y == 1));
            let s = a.iter().filter(|&&v| v == 1).count();
            assert!(s >= 1 && s < m);
        }
        // An additive game is recovered from samples too, and efficiency holds exactly.
        let w: Vec<f64> = (0..m).map(|j| (j as f64 - 7.0) / 10.0).collect();
        let game = |z: &[u8]| z.iter().zip(&w).map(|(&b, w)| b as f64 * w).sum::<f64>();
        let vals = values(&masks, game);
        let phi = fit(&masks, &vals, &weights);
        for (p, w) in phi.iter().zip(&w) {
            assert!((p - w).abs() < 1e-9, "{phi:?}");
        }
        // A game with an interaction: the values differ from the exact ones, but their sum does not.
        let game = |z: &[u8]| (z[0] & z[1]) as f64 * 4.0 + z[2] as f64;
        let phi = fit(&masks, &values(&masks, game), &weights);
        assert!((phi.iter().sum::<f64>() - 5.0).abs() < 1e-9);
        assert!(
            (phi[0] - 2.0).abs() < 0.3 && (phi[1] - 2.0).abs() < 0.3,
            "{phi:?}"
        );
    }
}
