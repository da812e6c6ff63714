//! How the network's N input points are drawn from a scan, and the guarantee that every supervoxel
//! is among them.
//!
//! A PointNet sees a fixed number of points (1,024 for the default model); a scan has thousands to
//! millions. [`Sampling::Random`] draws them uniformly, as training did, so the network sees what
//! it was trained on; but a phone scan is far denser near the sensor, and a uniform draw then
//! starves the distant parts. [`Sampling::Farthest`] and [`Sampling::Voxel`] spread the points over
//! the object's extent instead (at the price of a density the network was not trained on: measure
//! the effect with `pointlime accuracy` before relying on it). Whatever the method,
//! [`cover_segments`] then makes sure every supervoxel has a point in the input, so that no
//! importance is about something the network never saw.

use std::collections::HashMap;

use rand::seq::index;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// How the network's input points are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sampling {
    /// Uniformly at random, as in training: follows the scan's density.
    #[default]
    Random,
    /// Farthest-point sampling (over a random subsample of at most 64 N points): even coverage of
    /// the extent, whatever the density.
    Farthest,
    /// One random point per occupied voxel, the voxel side chosen so that about N voxels are
    /// occupied: even coverage, cheaper than farthest-point sampling on large scans.
    Voxel,
}

impl Sampling {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Sampling::Random => "random",
            Sampling::Farthest => "farthest",
            Sampling::Voxel => "voxel",
        }
    }
}

impl std::fmt::Display for Sampling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Sampling {
    type Err = String;

    fn from_str(s: &str) -> Result<Sampling, String> {
        match s {
            "random" => Ok(Sampling::Random),
            "farthest" | "fps" => Ok(Sampling::Farthest),
            "voxel" => Ok(Sampling::Voxel),
            _ => Err(format!("unknown sampling {s:?}: random, farthest or voxel")),
        }
    }
}

/// `n` indices into `points`, drawn by `method` with `seed`, in ascending order. With fewer than
/// `n` points, every point once and then random repeats (in that order), whatever the method.
pub fn draw(points: &[[f32; 3]], n: usize, seed: u64, method: Sampling) -> Vec<u32> {
    if points.len() <= n || method == Sampling::Random {
        return crate::cloud::sample_indices(points.len(), n, seed);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut idx = match method {
        Sampling::Random => unreachable!("handled above"),
        Sampling::Farthest => farthest(points, n, &mut rng),
        Sampling::Voxel => voxel(points, n, &mut rng),
    };
    idx.sort_unstable();
    idx
}

fn dist2(a: &[f32; 3], b: &[f32; 3]) -> f32 {
    (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)
}

/// Farthest-point sampling over a random subsample of at most 64 n points.
fn farthest(points: &[[f32; 3]], n: usize, rng: &mut ChaCha8Rng) -> Vec<u32> {
    let m = points.len().min(64 * n);
    let pool: Vec<u32> = index::sample(rng, points.len(), m)
        .into_iter()
        .map(|i| i as u32)
        .collect();
    let mut nearest = vec![f32::INFINITY; m];
    let mut chosen = Vec::with_capacity(n);
    let mut next = rng.random_range(0..m);
    for _ in 0..n {
        chosen.push(pool[next]);
        let c = points[pool[next] as usize];
        let (mut best, mut best_d) = (0, -1.0f32);
        for (j, &i) in pool.iter().enumerate() {
            let d = dist2(&points[i as usize], &c).min(nearest[j]);
            nearest[j] = d;
            if d > best_d {
                best_d = d;
                best = j;
            }
        }
        next = best;
    }
    // Duplicated positions can make farthest-point sampling pick a point twice; keep n distinct.
    chosen.sort_unstable();
    chosen.dedup();
    fill(chosen, points.len(), n, rng)
}

/// One random point per occupied voxel, the side bisected (on a subsample) so that about `n`
/// voxels are occupied; then trimmed or filled at random to exactly `n`.
fn voxel(points: &[[f32; 3]], n: usize, rng: &mut ChaCha8Rng) -> Vec<u32> {
    let key = |p: &[f32; 3], side: f32| p.map(|c| (c / side).floor() as i64);
    let m = points.len().min(100_000);
    let probe: Vec<[f32; 3]> = index::sample(rng, points.len(), m)
        .into_iter()
        .map(|i| points[i])
        .collect();
    let occupied = |side: f32| {
        let mut cells = std::collections::HashSet::new();
        for p in &probe {
            cells.insert(key(p, side));
        }
        cells.len()
    };
    let (lo_b, hi_b) = bounds(points);
    let extent = (0..3).map(|a| hi_b[a] - lo_b[a]).fold(0.0f32, f32::max);
    if extent <= 0.0 {
        return fill(Vec::new(), points.len(), n, rng);
    }
    // Bisect the side in log space between extent / 10^4 (more than n voxels for any n this is
    // used with) and the extent (one voxel).
    let (mut lo, mut hi) = ((extent / 1e4).ln(), extent.ln());
    for _ in 0..24 {
        let mid = 0.5 * (lo + hi);
        if occupied(mid.exp()) > n {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let side = hi.exp();
    // A random point per voxel: the one with the smallest random key, so the choice does not
    // depend on the order points are visited in.
    let salt: u64 = rng.random();
    let mut best: HashMap<[i64; 3], (u64, u32)> = HashMap::new();
    for (i, p) in points.iter().enumerate() {
        let h = mix(salt ^ i as u64);
        let e = best.entry(key(p, side)).or_insert((h, i as u32));
        if h < e.0 {
            *e = (h, i as u32);
        }
    }
    let mut chosen: Vec<u32> = best.into_values().map(|(_, i)| i).collect();
    chosen.sort_unstable();
    if chosen.len() > n {
        let keep = index::sample(rng, chosen.len(), n).into_vec();
        let mut trimmed: Vec<u32> = keep.into_iter().map(|k| chosen[k]).collect();
        trimmed.sort_unstable();
        return trimmed;
    }
    fill(chosen, points.len(), n, rng)
}

/// `chosen` (distinct, ascending) topped up with random other points to `n`.
fn fill(mut chosen: Vec<u32>, len: usize, n: usize, rng: &mut ChaCha8Rng) -> Vec<u32> {
    let mut taken: std::collections::HashSet<u32> = chosen.iter().copied().collect();
    while chosen.len() < n {
        let i = rng.random_range(0..len as u32);
        if taken.insert(i) {
            chosen.push(i);
        }
    }
    chosen
}

fn bounds(points: &[[f32; 3]]) -> ([f32; 3], [f32; 3]) {
    let mut lo = [f32::INFINITY; 3];
    let mut hi = [f32::NEG_INFINITY; 3];
    for p in points {
        for a in 0..3 {
            lo[a] = lo[a].min(p[a]);
            hi[a] = hi[a].max(p[a]);
        }
    }
    (lo, hi)
}

/// SplitMix64's finaliser: a well-mixed 64-bit hash.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Makes every segment that has points appear in `index` (the network's input, indices into the
/// cloud whose segment `labels` gives): for each absent segment, in order, one of its points
/// (chosen with `seed`) replaces a draw of the segment with the most draws. Returns how many
/// segments were added. Segments still absent afterwards (more segments than input points) are
/// left to the caller. `index` stays sorted when it was.
pub fn cover_segments(index: &mut [u32], labels: &[u32], n_segments: usize, seed: u64) -> usize {
    let mut draws = crate::segment::point_counts(
        &index
            .iter()
            .map(|&i| labels[i as usize])
            .collect::<Vec<_>>(),
        n_segments,
    );
    let absent: Vec<usize> = (0..n_segments).filter(|&s| draws[s] == 0).collect();
    if absent.is_empty() {
        return 0;
    }
    // One point per absent segment: the member with the smallest seeded hash.
    let mut pick: HashMap<u32, (u64, u32)> = HashMap::new();
    let wanted: std::collections::HashSet<u32> = absent.iter().map(|&s| s as u32).collect();
    for (i, &l) in labels.iter().enumerate() {
        if wanted.contains(&l) {
            let h = mix(seed ^ mix(i as u64));
            let e = pick.entry(l).or_insert((h, i as u32));
            if h < e.0 {
                *e = (h, i as u32);
            }
        }
    }
    let was_sorted = index.is_sorted();
    let mut added = 0;
    for s in absent {
        let Some(&(_, point)) = pick.get(&(s as u32)) else {
            continue; // a segment without points: nothing to draw
        };
        // The donor: most draws, ties to the lower id; it must keep at least one.
        let donor = (0..n_segments)
            .max_by(|&a, &b| draws[a].cmp(&draws[b]).then(b.cmp(&a)))
            .expect("n_segments > 0 when a segment is absent");
        if draws[donor] < 2 {
            break;
        }
        let slot = index
            .iter()
            .rposition(|&i| labels[i as usize] as usize == donor)
            .expect("the donor has draws");
        index[slot] = point;
        draws[donor] -= 1;
        draws[s] += 1;
        added += 1;
    }
    if was_sorted {
        index.sort_unstable();
    }
    added
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dense cluster of 9,000 points near the origin and a sparse one of 1,000, 10 m away.
    fn near_and_far() -> Vec<[f32; 3]> {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut cube = |n: usize, at: f32| -> Vec<[f32; 3]> {
            (0..n)
                .map(|_| {
                    [
                        at + rng.random::<f32>(),
                        rng.random::<f32>(),
                        rng.random::<f32>(),
                    ]
                })
                .collect()
        };
        let mut p = cube(9000, 0.0);
        p.extend(cube(1000, 10.0));
        p
    }

    #[test]
    fn every_method_draws_n_distinct_sorted_points_deterministically() {
        let points = near_and_far();
        for method in [Sampling::Random, Sampling::Farthest, Sampling::Voxel] {
            let a = draw(&points, 256, 7, method);
            assert_eq!(a.len(), 256, "{method}");
            assert!(a.windows(2).all(|w| w[0] < w[1]), "{method}: not distinct");
            assert_eq!(a, draw(&points, 256, 7, method), "{method}");
            assert_ne!(a, draw(&points, 256, 8, method), "{method}: seed ignored");
        }
        // Fewer points than n: every point, then repeats.
        let few = draw(&points[..10], 16, 1, Sampling::Voxel);
        assert_eq!(&few[..10], &(0..10).collect::<Vec<u32>>()[..]);
    }

    #[test]
    fn even_coverage_methods_do_not_starve_the_sparse_part() {
        let points = near_and_far();
        let far_share = |idx: &[u32]| {
            idx.iter().filter(|&&i| points[i as usize][0] > 5.0).count() as f64 / idx.len() as f64
        };
        // Random follows density: about 10% far. Both even methods give the two equal cubes
        // about half each.
        let random = far_share(&draw(&points, 256, 1, Sampling::Random));
        assert!(random < 0.2, "{random}");
        for method in [Sampling::Farthest, Sampling::Voxel] {
            let share = far_share(&draw(&points, 256, 1, method));
            assert!((0.35..=0.65).contains(&share), "{method}: {share}");
        }
    }

    #[test]
    fn cover_segments_gives_every_segment_a_draw_from_the_largest() {
        // 100 points: segment 0 holds 97, segments 1, 2, 3 one each.
        let mut labels = vec![0u32; 100];
        labels[10] = 1;
        labels[50] = 2;
        labels[90] = 3;
        let mut index: Vec<u32> = (0..20).collect(); // sees segments 0 and 1 only
        let added = cover_segments(&mut index, &labels, 4, 0);
        assert_eq!(added, 2);
        assert!(index.contains(&50) && index.contains(&90) && index.contains(&10));
        assert_eq!(index.len(), 20);
        assert!(index.is_sorted());
        // More segments than draws: as many as possible, never emptying a segment.
        let mut two = vec![0u32, 1];
        let labels: Vec<u32> = (0..100).map(|i| i % 5).collect();
        assert_eq!(cover_segments(&mut two, &labels, 5, 0), 0);
    }
}
