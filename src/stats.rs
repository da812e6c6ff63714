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

/// The `q` quantile of the finite values by nearest rank (the value at rank
/// `round((n − 1) · q)` in ascending order); `None` when there are none.
pub fn quantile(values: impl IntoIterator<Item = f64>, q: f64) -> Option<f64> {
    let mut v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    let k = ((v.len() - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize;
    Some(*v.select_nth_unstable_by(k, f64::total_cmp).1)
}

/// Ranks from 1, ties sharing their average rank (as scipy's `rankdata`).
pub fn ranks(v: &[f64]) -> Vec<f64> {
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
