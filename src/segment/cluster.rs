//! The clustering half of supervoxels (module docs, steps 1 and 2): farthest-point or voxel seeds,
//! Lloyd iterations through a k-d tree, and the link spacing the connectivity pass uses.

use std::collections::HashMap;

use rand::seq::index;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::kdtree::KdTree;

fn dist2(a: &[f32; 3], b: &[f32; 3]) -> f32 {
    (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)
}

/// Farthest-point sampling from a random start (Eldar et al. 1997; PointNet++'s sampling layer).
pub(super) fn farthest_points(
    points: &[[f32; 3]],
    k: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<[f32; 3]> {
    let mut chosen = Vec::with_capacity(k);
    let mut next = rng.random_range(0..points.len());
    let mut nearest = vec![f32::INFINITY; points.len()];
    for _ in 0..k {
        let c = points[next];
        chosen.push(c);
        let (mut best, mut best_d) = (0, -1.0f32);
        for (i, p) in points.iter().enumerate() {
            let d = dist2(p, &c).min(nearest[i]);
            nearest[i] = d;
            if d > best_d {
                best_d = d;
                best = i;
            }
        }
        // Fewer distinct positions than k: stop rather than seed the same point twice.
        if best_d <= 0.0 {
            break;
        }
        next = best;
    }
    chosen
}

pub(super) fn voxel_key(p: &[f32; 3], side: f32) -> [i32; 3] {
    p.map(|c| (c / side).floor() as i32)
}

fn add(sum: &mut [f64; 3], p: &[f32; 3]) {
    for (s, &c) in sum.iter_mut().zip(p) {
        *s += c as f64;
    }
}

pub(super) fn voxel_means(points: &[[f32; 3]], side: f32) -> Vec<[f32; 3]> {
    let mut cells: HashMap<[i32; 3], ([f64; 3], usize)> = HashMap::new();
    for p in points {
        let e = cells.entry(voxel_key(p, side)).or_default();
        add(&mut e.0, p);
        e.1 += 1;
    }
    let mut cells: Vec<_> = cells.into_iter().collect();
    cells.sort_unstable_by_key(|(k, _)| *k);
    cells
        .into_iter()
        .map(|(_, (s, n))| s.map(|v| (v / n as f64) as f32))
        .collect()
}

pub(super) fn assign(points: &[[f32; 3]], centres: &[[f32; 3]]) -> Vec<u32> {
    let tree = KdTree::new(centres);
    points.par_iter().map(|p| tree.nearest(p).0).collect()
}

pub(super) fn means(points: &[[f32; 3]], labels: &[u32], k: usize) -> Vec<[f32; 3]> {
    let mut sum = vec![([0.0f64; 3], 0usize); k];
    for (p, &l) in points.iter().zip(labels) {
        let s = &mut sum[l as usize];
        add(&mut s.0, p);
        s.1 += 1;
    }
    // An emptied cluster is dropped: its seed lost every point to its neighbours.
    sum.into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(s, n)| s.map(|v| (v / n as f64) as f32))
        .collect()
}

/// The 95th percentile, over a sample of at most 2,000 points, of the distance from a point to its
/// 6th nearest other point. `tree` holds `points`.
pub(super) fn link_spacing(tree: &KdTree, points: &[[f32; 3]], rng: &mut ChaCha8Rng) -> f32 {
    let m = points.len().min(2000);
    let idx = index::sample(rng, points.len(), m).into_vec();
    let mut d: Vec<f32> = idx
        .iter()
        .filter_map(|&i| sixth_neighbour(tree, &points[i]))
        .filter(|&d| d > 0.0)
        .collect();
    if d.is_empty() {
        // Every sampled point has 6 duplicates: any positive side links them.
        return 1.0;
    }
    let q = (d.len() * 95 / 100).min(d.len() - 1);
    *d.select_nth_unstable_by(q, f32::total_cmp).1
}

/// Distance from a point of the tree to its 6th nearest other point (`None` with fewer than 7).
fn sixth_neighbour(tree: &KdTree, p: &[f32; 3]) -> Option<f32> {
    let n = tree.nearest_n(p, 7);
    (n.len() == 7).then(|| n[6].1.sqrt())
}

/// The points of `sample` whose 6th nearest neighbour in `tree` is within `link`: not specks.
pub(super) fn dense_points(tree: &KdTree, sample: &[[f32; 3]], link: f32) -> Vec<[f32; 3]> {
    sample
        .par_iter()
        .filter(|p| sixth_neighbour(tree, p).is_some_and(|d| d <= link))
        .copied()
        .collect()
}

/// The median distance from a centre to its nearest other centre (0 for fewer than two): how far
/// one segment reaches.
pub(super) fn centre_spacing(centres: &[[f32; 3]]) -> f32 {
    if centres.len() < 2 {
        return 0.0;
    }
    let tree = KdTree::new(centres);
    let mut d: Vec<f32> = centres
        .iter()
        .map(|c| tree.nearest_n(c, 2)[1].1.sqrt())
        .collect();
    let mid = d.len() / 2;
    *d.select_nth_unstable_by(mid, f32::total_cmp).1
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn farthest_points_spread_over_the_extent_and_stop_at_duplicates() {
        let line: Vec<[f32; 3]> = (0..=10).map(|i| [i as f32, 0.0, 0.0]).collect();
        for seed in 0..10 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut seeds: Vec<f32> = farthest_points(&line, 3, &mut rng)
                .iter()
                .map(|p| p[0])
                .collect();
            seeds.sort_by(f32::total_cmp);
            // Farthest-point sampling is within a factor 2 of the best spread (gaps of 5): whatever
            // the start, no two seeds are closer than 2.5.
            assert!(seeds.windows(2).all(|w| w[1] - w[0] >= 2.5), "{seeds:?}");
        }
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let same = vec![[1.0f32, 2.0, 3.0]; 5];
        assert_eq!(farthest_points(&same, 4, &mut rng).len(), 1);
    }

    #[test]
    fn voxel_means_and_lloyd_steps() {
        let points = [[0.1f32, 0.1, 0.1], [0.3, 0.1, 0.1], [2.5, 0.0, 0.0]];
        let means_by_voxel = voxel_means(&points, 1.0);
        assert_eq!(means_by_voxel.len(), 2);
        assert!((means_by_voxel[0][0] - 0.2).abs() < 1e-6);
        let labels = assign(&points, &[[0.0, 0.0, 0.0], [3.0, 0.0, 0.0]]);
        assert_eq!(labels, [0, 0, 1]);
        // An emptied cluster is dropped.
        assert_eq!(means(&points, &[0, 0, 0], 2).len(), 1);
    }

    #[test]
    fn link_spacing_is_the_neighbour_distance_of_a_regular_grid() {
        let grid: Vec<[f32; 3]> = (0..1000)
            .map(|i| [(i % 10) as f32, ((i / 10) % 10) as f32, (i / 100) as f32])
            .collect();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let d = link_spacing(&KdTree::new(&grid), &grid, &mut rng);
        // On a unit grid the 6th neighbour is at distance 1 inside, √2 near faces and edges.
        assert!((1.0..=1.5).contains(&d), "{d}");
    }
}
