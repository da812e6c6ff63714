//! LIME's regression-tree surrogate (`--surrogate tree`, issue #18, item 6): a shallow tree on the
//! masks, fitted to the explained score with LIME's kernel weights, so that interactions between
//! segments (this part matters only with that one) can be told apart from additive effects.
//!
//! Why not a kept crate: smartcore's `DecisionTreeRegressor::fit(x, y, parameters)` and linfa's
//! trees (classification only) take no sample weights, and LIME's surrogate is nothing without
//! its kernel weights; on binary features a weighted CART is the small search below.
//!
//! Splits are on one segment (kept or removed) and minimise the weighted squared error; a node
//! stops at the depth limit, when no split leaves [`MIN_LEAF`] samples on each side, or when no
//! split lowers the error. Leaves predict the weighted mean. A segment's importance is the tree's
//! mean change, over LIME's samples with their kernel weights, when the segment is switched from
//! removed to kept in each sample: for an additive score this is the segment's effect, and it
//! stays a signed, per-segment number when the tree splits on interactions.

use serde::{Deserialize, Serialize};

/// The fewest samples a leaf may hold.
pub const MIN_LEAF: usize = 5;

/// One node of the tree: a split on `segment` (removed → `removed`, kept → `kept`), or a leaf.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Node {
    Split {
        segment: usize,
        removed: usize,
        kept: usize,
    },
    Leaf {
        value: f64,
    },
}

/// A fitted tree surrogate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TreeFit {
    /// The nodes; the root first.
    pub nodes: Vec<Node>,
    /// Weighted R² on the samples it was fitted to.
    pub r2: f64,
}

impl TreeFit {
    /// The tree's prediction for one mask (any value > 0.5 counts as kept).
    pub fn predict(&self, x: &[f64]) -> f64 {
        let mut at = 0;
        loop {
            match self.nodes[at] {
                Node::Leaf { value } => return value,
                Node::Split {
                    segment,
                    removed,
                    kept,
                } => at = if x[segment] > 0.5 { kept } else { removed },
            }
        }
    }

    /// Each segment's mean change in the prediction when it is switched from removed to kept in
    /// every sample of `x` (row-major, `k` per row), weighted by `w`.
    pub fn effects(&self, x: &[f64], k: usize, w: &[f64]) -> Vec<f64> {
        let w_sum: f64 = w.iter().sum::<f64>().max(f64::MIN_POSITIVE);
        let mut row = vec![0.0; k];
        (0..k)
            .map(|j| {
                let mut total = 0.0;
                for (i, &wi) in w.iter().enumerate() {
                    row.copy_from_slice(&x[i * k..(i + 1) * k]);
                    row[j] = 1.0;
                    let on = self.predict(&row);
                    row[j] = 0.0;
                    total += wi * (on - self.predict(&row));
                }
                total / w_sum
            })
            .collect()
    }
}

/// Weighted sum, weighted sum of y and of y² over `rows`.
fn moments(rows: &[usize], y: &[f64], w: &[f64]) -> (f64, f64, f64) {
    rows.iter().fold((0.0, 0.0, 0.0), |(s, sy, syy), &i| {
        (s + w[i], sy + w[i] * y[i], syy + w[i] * y[i] * y[i])
    })
}

fn sse((s, sy, syy): (f64, f64, f64)) -> f64 {
    if s > 0.0 {
        (syy - sy * sy / s).max(0.0)
    } else {
        0.0
    }
}

/// Fits a tree of at most `depth` splits from root to leaf to `y` from the masks `x` (row-major,
/// `k` per row) with weights `w`.
pub fn fit(x: &[f64], k: usize, y: &[f64], w: &[f64], depth: usize) -> TreeFit {
    let mut nodes = Vec::new();
    let all: Vec<usize> = (0..y.len()).collect();
    grow(&mut nodes, x, k, y, w, all, depth);
    let tree = TreeFit { nodes, r2: 0.0 };
    let (s, sy, _) = moments(&(0..y.len()).collect::<Vec<_>>(), y, w);
    let mean = sy / s.max(f64::MIN_POSITIVE);
    let (mut res, mut tot) = (0.0, 0.0);
    for i in 0..y.len() {
        res += w[i] * (y[i] - tree.predict(&x[i * k..(i + 1) * k])).powi(2);
        tot += w[i] * (y[i] - mean).powi(2);
    }
    TreeFit {
        r2: if tot > 0.0 { 1.0 - res / tot } else { 0.0 },
        ..tree
    }
}

fn grow(
    nodes: &mut Vec<Node>,
    x: &[f64],
    k: usize,
    y: &[f64],
    w: &[f64],
    rows: Vec<usize>,
    depth: usize,
) -> usize {
    let here = nodes.len();
    let whole = moments(&rows, y, w);
    nodes.push(Node::Leaf {
        value: whole.1 / whole.0.max(f64::MIN_POSITIVE),
    });
    if depth == 0 || rows.len() < 2 * MIN_LEAF {
        return here;
    }
    let before = sse(whole);
    let mut best: Option<(usize, f64)> = None;
    for j in 0..k {
        let kept: Vec<usize> = rows
            .iter()
            .copied()
            .filter(|&i| x[i * k + j] > 0.5)
            .collect();
        let n_kept = kept.len();
        if n_kept < MIN_LEAF || rows.len() - n_kept < MIN_LEAF {
            continue;
        }
        let on = moments(&kept, y, w);
        let off = (whole.0 - on.0, whole.1 - on.1, whole.2 - on.2);
        let after = sse(on) + sse(off);
        if after < before * (1.0 - 1e-12) && best.is_none_or(|(_, b)| after < b) {
            best = Some((j, after));
        }
    }
    let Some((segment, _)) = best else {
        return here;
    };
    let (kept, removed): (Vec<usize>, Vec<usize>) =
        rows.into_iter().partition(|&i| x[i * k + segment] > 0.5);
    let removed = grow(nodes, x, k, y, w, removed, depth - 1);
    let kept = grow(nodes, x, k, y, w, kept, depth - 1);
    nodes[here] = Node::Split {
        segment,
        removed,
        kept,
    };
    here
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn an_interaction_is_found_and_effects_are_the_segments_own() {
        // y = 2·z₀ + 3·z₁·z₂ − z₃ over random masks of 5 segments, equal weights. A depth-4 tree
        // fits it exactly; the effects are 2 for z₀, −1 for z₃, 0 for z₄, and for z₁ (z₂) three
        // times the share of samples with z₂ (z₁) kept. A linear surrogate cannot fit the
        // product.
        let (n, k) = (4000, 5);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let x: Vec<f64> = (0..n * k)
            .map(|_| rng.random_bool(0.5) as u8 as f64)
            .collect();
        let y: Vec<f64> = (0..n)
            .map(|i| {
                let z = &x[i * k..(i + 1) * k];
                2.0 * z[0] + 3.0 * z[1] * z[2] - z[3]
            })
            .collect();
        let w = vec![1.0; n];
        let tree = fit(&x, k, &y, &w, 4);
        assert!(tree.r2 > 1.0 - 1e-9, "{}", tree.r2);
        let share = |j: usize| (0..n).filter(|&i| x[i * k + j] > 0.5).count() as f64 / n as f64;
        let e = tree.effects(&x, k, &w);
        let want = [2.0, 3.0 * share(2), 3.0 * share(1), -1.0, 0.0];
        for (a, b) in e.iter().zip(want) {
            assert!((a - b).abs() < 1e-9, "{e:?} vs {want:?}");
        }
        let ridge = crate::explain::ridge::fit(&x, k, &y, &w, 1.0);
        assert!(ridge.r2 < 0.95, "{}", ridge.r2);
        // Too shallow a tree misses part of it.
        assert!(fit(&x, k, &y, &w, 2).r2 < 0.99);
    }

    #[test]
    fn weights_decide_the_leaves() {
        // Two samples per mask value with opposite targets: the heavier one wins the leaf.
        let x = [vec![1.0; 6], vec![0.0; 6]].concat();
        let y = [1.0, 1.0, 1.0, 5.0, 5.0, 5.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        let w = [1.0, 1.0, 1.0, 3.0, 3.0, 3.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0];
        let tree = fit(&x, 1, &y, &w, 1);
        assert!((tree.predict(&[1.0]) - 4.0).abs() < 1e-12);
        assert!((tree.predict(&[0.0])).abs() < 1e-12);
    }
}
