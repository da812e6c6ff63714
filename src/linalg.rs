//! The crate's linear algebra, and the one module that names nalgebra: the symmetric solve of the
//! ridge and KernelSHAP fits and of the ground-plane refit, the 3 × 3 symmetric eigen-decompositions
//! of the shape statistics and the normal estimate, and the singular value decomposition of the
//! competence statistics' principal axes. Callers pass and get plain arrays, so a change of
//! linear-algebra crate is a change of this file.

use nalgebra::{DMatrix, DVector, Matrix3};

/// Solves the symmetric `k × k` system `a x = b` (`a` row-major): by Cholesky when `a` is positive
/// definite, else by least squares through the SVD (singular values below 1e-12 dropped), else
/// zeros.
pub fn solve(k: usize, a: &[f64], b: &[f64]) -> Vec<f64> {
    let a = DMatrix::from_row_slice(k, k, a);
    let b = DVector::from_column_slice(b);
    let x = match a.clone().cholesky() {
        Some(ch) => ch.solve(&b),
        None => a
            .svd(true, true)
            .solve(&b, 1e-12)
            .unwrap_or_else(|_| DVector::zeros(k)),
    };
    x.iter().copied().collect()
}

/// The eigenvalues of a symmetric 3 × 3 matrix (rows), in no particular order.
pub fn symmetric_eigenvalues3(m: [[f64; 3]; 3]) -> [f64; 3] {
    let e = matrix3(m).symmetric_eigenvalues();
    [e[0], e[1], e[2]]
}

/// The eigenvector of a symmetric 3 × 3 matrix (rows) with the smallest eigenvalue.
pub fn smallest_eigenvector3(m: [[f64; 3]; 3]) -> [f64; 3] {
    let eig = matrix3(m).symmetric_eigen();
    let v = eig.eigenvectors.column(eig.eigenvalues.imin());
    [v[0], v[1], v[2]]
}

fn matrix3(m: [[f64; 3]; 3]) -> Matrix3<f64> {
    Matrix3::from_fn(|r, c| m[r][c])
}

/// The singular values of the `rows × cols` matrix `at(i, j)` and its right singular vectors
/// (`Vᵀ`'s rows, in the singular values' order, which is not sorted); `None` when the
/// decomposition gives no vectors.
pub fn right_singular(
    rows: usize,
    cols: usize,
    at: impl FnMut(usize, usize) -> f64,
) -> Option<(Vec<f64>, Vec<Vec<f64>>)> {
    let svd = DMatrix::from_fn(rows, cols, at).svd(false, true);
    let v_t = svd.v_t?;
    let vectors = (0..v_t.nrows())
        .map(|i| v_t.row(i).iter().copied().collect())
        .collect();
    Some((svd.singular_values.iter().copied().collect(), vectors))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solve_falls_back_to_least_squares_when_singular() {
        // Positive definite: the exact solution.
        let x = solve(2, &[2.0, 1.0, 1.0, 2.0], &[3.0, 3.0]);
        assert!((x[0] - 1.0).abs() < 1e-12 && (x[1] - 1.0).abs() < 1e-12);
        // Rank one: the minimum-norm least-squares solution [0.5, 0.5] of x0 + x1 = 1.
        let x = solve(2, &[1.0, 1.0, 1.0, 1.0], &[1.0, 1.0]);
        assert!(
            (x[0] - 0.5).abs() < 1e-9 && (x[1] - 0.5).abs() < 1e-9,
            "{x:?}"
        );
    }

    #[test]
    fn eigen_of_a_diagonal_matrix() {
        let m = [[3.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 2.0]];
        let mut e = symmetric_eigenvalues3(m);
        e.sort_by(f64::total_cmp);
        assert_eq!(e, [1.0, 2.0, 3.0]);
        let v = smallest_eigenvector3(m);
        assert!((v[1].abs() - 1.0).abs() < 1e-12 && v[0] == 0.0 && v[2] == 0.0);
    }

    #[test]
    fn right_singular_vectors_of_a_rank_one_matrix() {
        // Rows are multiples of (3, 4) / 5: one non-zero singular value, its vector ±(0.6, 0.8).
        let rows = [[3.0, 4.0], [6.0, 8.0]];
        let (values, vectors) = right_singular(2, 2, |i, j| rows[i][j]).unwrap();
        let big = if values[0] > values[1] { 0 } else { 1 };
        assert!((values[big] - 125f64.sqrt()).abs() < 1e-9);
        let v = &vectors[big];
        assert!((v[0].abs() - 0.6).abs() < 1e-9 && (v[1].abs() - 0.8).abs() < 1e-9);
        assert!(v[0] * v[1] > 0.0);
    }
}
