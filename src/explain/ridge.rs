//! Weighted ridge regression with an intercept, as scikit-learn's `Ridge(alpha, fit_intercept=True)`
//! fits it with `sample_weight` (the surrogate of lime_base): centre features and target on their
//! weighted means, solve `(Xcᵀ W Xc + alpha I) b = Xcᵀ W yc`, intercept `ȳ − x̄ᵀ b`.
//!
//! The solve itself is [`crate::linalg::solve`], the crate's one linear solver.

use crate::linalg::solve;

/// A fitted linear surrogate.
#[derive(Debug, Clone, PartialEq)]
pub struct RidgeFit {
    /// One coefficient per feature.
    pub coefficients: Vec<f64>,
    /// The intercept.
    pub intercept: f64,
    /// Weighted R² on the training samples (`Ridge.score(X, y, sample_weight)`).
    pub r2: f64,
}

impl RidgeFit {
    /// The surrogate's prediction for one sample.
    pub fn predict(&self, x: &[f64]) -> f64 {
        self.intercept
            + x.iter()
                .zip(&self.coefficients)
                .map(|(a, b)| a * b)
                .sum::<f64>()
    }
}

/// Fits `y ≈ X b + c` with sample weights `w` and L2 penalty `alpha` on `b` (not on `c`).
///
/// `x` is row-major `[y.len() × n_features]`. With `alpha > 0` the system is positive definite, so
/// it always has a solution; with `alpha == 0` a singular system falls back to least squares via SVD.
pub fn fit(x: &[f64], n_features: usize, y: &[f64], w: &[f64], alpha: f64) -> RidgeFit {
    let n = y.len();
    let k = n_features;
    let w_sum: f64 = w.iter().sum::<f64>().max(f64::MIN_POSITIVE);
    let mut x_mean = vec![0.0; k];
    let mut y_mean = 0.0;
    for i in 0..n {
        for j in 0..k {
            x_mean[j] += w[i] * x[i * k + j];
        }
        y_mean += w[i] * y[i];
    }
    x_mean.iter_mut().for_each(|m| *m /= w_sum);
    y_mean /= w_sum;

    // Normal equations built directly: K×K (row-major), so O(S·K²) with no S×K copy.
    let mut a = vec![0.0; k * k];
    let mut b = vec![0.0; k];
    let mut xc = vec![0.0; k];
    for i in 0..n {
        for j in 0..k {
            xc[j] = x[i * k + j] - x_mean[j];
        }
        let yc = y[i] - y_mean;
        for r in 0..k {
            let wr = w[i] * xc[r];
            if wr == 0.0 {
                continue;
            }
            b[r] += wr * yc;
            for c in r..k {
                a[r * k + c] += wr * xc[c];
            }
        }
    }
    for r in 0..k {
        for c in 0..r {
            a[r * k + c] = a[c * k + r];
        }
        a[r * k + r] += alpha;
    }
    let coefficients = solve(k, &a, &b);
    let intercept = y_mean
        - coefficients
            .iter()
            .zip(&x_mean)
            .map(|(c, m)| c * m)
            .sum::<f64>();
    let mut fit = RidgeFit {
        coefficients,
        intercept,
        r2: 0.0,
    };
    let (mut ss_res, mut ss_tot) = (0.0, 0.0);
    for i in 0..n {
        let pred = fit.predict(&x[i * k..(i + 1) * k]);
        ss_res += w[i] * (y[i] - pred).powi(2);
        ss_tot += w[i] * (y[i] - y_mean).powi(2);
    }
    // scikit-learn's r2_score: a constant target scores 1 when fitted exactly, else 0.
    fit.r2 = if ss_tot > 0.0 {
        1.0 - ss_res / ss_tot
    } else if ss_res == 0.0 {
        1.0
    } else {
        0.0
    };
    fit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_exact_linear_function_without_penalty() {
        // y = 2 + 3 x0 - x1 on a small design; alpha 0 reproduces it exactly.
        let x = [0., 0., 1., 0., 0., 1., 1., 1., 2., 1.];
        let y: Vec<f64> = x.chunks(2).map(|r| 2.0 + 3.0 * r[0] - r[1]).collect();
        let f = fit(&x, 2, &y, &[1.0; 5], 0.0);
        assert!((f.coefficients[0] - 3.0).abs() < 1e-9);
        assert!((f.coefficients[1] + 1.0).abs() < 1e-9);
        assert!((f.intercept - 2.0).abs() < 1e-9);
        assert!((f.r2 - 1.0).abs() < 1e-12);
    }

    #[test]
    fn penalised_fit_matches_closed_form() {
        let x = [1., 0., 0., 1., 1., 1., 0., 0.];
        let y = [1., 0.5, 1.5, 0.];
        let w = [1., 1., 1., 1.];
        let f = fit(&x, 2, &y, &w, 1.0);
        // Closed form: centred X has Xcᵀ Xc = [[1, 0], [0, 1]], Xcᵀ yc = [1, 0.5]; so b = [0.5, 0.25].
        assert!((f.coefficients[0] - 0.5).abs() < 1e-12);
        assert!((f.coefficients[1] - 0.25).abs() < 1e-12);
        assert!((f.intercept - (0.75 - 0.5 * 0.5 - 0.25 * 0.5)).abs() < 1e-12);
    }
}
