//! Small order statistics shared by the explainers, the faithfulness metrics, batch summaries and
//! the viewer, so that every ranking in the product breaks ties the same way.

/// Indices of `values` by decreasing value, ties by the lower index: the order in which segments
/// are ranked, classes reported and deletion curves remove segments.
pub fn ranking<T: Copy + Into<f64>>(values: &[T]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| {
        let (va, vb): (f64, f64) = (values[a].into(), values[b].into());
        vb.total_cmp(&va).then(a.cmp(&b))
    });
    order
}

/// The `k` indices with the largest values, ties by the lower index.
pub fn top_k<T: Copy + Into<f64>>(values: &[T], k: usize) -> Vec<usize> {
    let mut order = ranking(values);
    order.truncate(k);
    order
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranking_breaks_ties_by_index_for_f32_and_f64() {
        assert_eq!(ranking(&[0.5f64, 0.9, 0.5, -1.0]), [1, 0, 2, 3]);
        assert_eq!(ranking(&[0.5f32, 0.9, 0.5, -1.0]), [1, 0, 2, 3]);
        assert_eq!(top_k(&[0.9, 0.1, 0.5, 0.7], 2), [0, 3]);
        assert!(ranking::<f64>(&[]).is_empty());
    }

    #[test]
    fn median_of_odd_even_and_non_finite() {
        assert_eq!(median([3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median([4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median([f64::NAN, 1.0, f64::INFINITY]), 1.0);
        assert!(median([]).is_nan());
    }
}
