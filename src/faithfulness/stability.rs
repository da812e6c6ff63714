//! Stability of explanations: Spearman rank correlation of two coefficient vectors and the
//! Jaccard index of their top-k segment sets (between seeds, and between a model and its
//! randomised copies for the sanity checks).

pub use crate::stats::spearman;
use crate::stats::top_k;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
