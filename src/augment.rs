//! Training-time augmentation of model-frame point sets (PointNet / PointNet++ conventions), plus
//! supervoxel dropout: removing random supervoxels as LIME does, so that the clouds LIME shows the
//! network at explanation time are in-distribution.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::cloud::Axis;
use crate::perturb::{apply, Removal};

/// Augmentation settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Augment {
    /// Random rotation about the up axis. By default, on.
    pub rotate_up: bool,
    /// The up axis of the training scans (the model's `up`). By default, z.
    pub up: Axis,
    /// Gaussian jitter σ in model units. By default, 0.01 (PointNet).
    pub jitter_sigma: f32,
    /// Jitter clip. By default, 0.05 (PointNet).
    pub jitter_clip: f32,
    /// Per-axis scale drawn from `[scale_min, scale_max]`. By default, 0.8–1.25 (PointNet++).
    pub scale_min: f32,
    pub scale_max: f32,
    /// Random point dropout: up to this fraction of points replaced by the first point. By
    /// default, 0.875 (PointNet++).
    pub point_dropout_max: f32,
    /// Probability that a training cloud loses random supervoxels (each kept with probability 0.5,
    /// LIME's default). By default, 0 (off).
    pub supervoxel_dropout: f64,
}

impl Default for Augment {
    fn default() -> Self {
        Augment {
            rotate_up: true,
            up: Axis::Z,
            jitter_sigma: 0.01,
            jitter_clip: 0.05,
            scale_min: 0.8,
            scale_max: 1.25,
            point_dropout_max: 0.875,
            supervoxel_dropout: 0.0,
        }
    }
}

/// A standard normal draw (Box–Muller), so that no distribution crate is needed for one call.
fn normal(rng: &mut ChaCha8Rng) -> f32 {
    let u1: f32 = rng.random_range(f32::EPSILON..1.0);
    let u2: f32 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

impl Augment {
    /// No augmentation: each epoch still draws its points from the object's, but none is turned,
    /// scaled, jittered or dropped. For memorising (the data-randomisation sanity check's labels).
    pub fn none(up: Axis) -> Self {
        Augment {
            rotate_up: false,
            up,
            jitter_sigma: 0.0,
            jitter_clip: 0.0,
            scale_min: 1.0,
            scale_max: 1.0,
            point_dropout_max: 0.0,
            supervoxel_dropout: 0.0,
        }
    }

    /// One augmented training input of `n` points from an object's model-frame points and their
    /// supervoxel labels (`n_segments` of them; labels may be empty when supervoxel dropout is off).
    /// Deterministic in `seed`.
    pub fn sample(
        &self,
        points: &[[f32; 3]],
        labels: &[u32],
        n_segments: usize,
        n: usize,
        seed: u64,
    ) -> Vec<[f32; 3]> {
        self.sample_indexed(points, labels, n_segments, n, seed).0
    }

    /// [`sample`](Self::sample), with the index in `points` each of its points came from (what a
    /// per-point target is read at). A point that dropout moved onto another takes that one's
    /// index; when supervoxel dropout keeps no drawn point, the points are all at the origin and
    /// keep the indices drawn.
    pub fn sample_indexed(
        &self,
        points: &[[f32; 3]],
        labels: &[u32],
        n_segments: usize,
        n: usize,
        seed: u64,
    ) -> (Vec<[f32; 3]>, Vec<u32>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut idx = crate::cloud::sample_indices(points.len(), n, rng.random());
        let mut pts: Vec<[f32; 3]> = idx.iter().map(|&i| points[i as usize]).collect();
        if self.supervoxel_dropout > 0.0
            && n_segments > 1
            && rng.random_bool(self.supervoxel_dropout)
        {
            let seg: Vec<u32> = idx.iter().map(|&i| labels[i as usize]).collect();
            let mut mask: Vec<u8> = (0..n_segments)
                .map(|_| rng.random_bool(0.5) as u8)
                .collect();
            if mask.iter().all(|&m| m == 0) {
                mask[rng.random_range(0..n_segments)] = 1;
            }
            let mut out = Vec::with_capacity(n);
            apply(&pts, &seg, &mask, Removal::Drop, &mut out);
            // The same removal on the indices: kept ones in order, repeated to fill.
            let kept: Vec<u32> = idx
                .iter()
                .zip(&seg)
                .filter(|(_, &l)| mask[l as usize] != 0)
                .map(|(&i, _)| i)
                .collect();
            if !kept.is_empty() {
                idx = (0..out.len()).map(|k| kept[k % kept.len()]).collect();
            }
            pts = out;
        }
        if self.rotate_up {
            let a: f32 = rng.random_range(0.0..std::f32::consts::TAU);
            let (s, c) = a.sin_cos();
            // The two horizontal axes, in cyclic order after the up axis (x, y for z up), so
            // that z up gives the rotation training has always used.
            let (i, j) = ((self.up.index() + 1) % 3, (self.up.index() + 2) % 3);
            for p in &mut pts {
                let (u, v) = (p[i], p[j]);
                p[i] = c * u - s * v;
                p[j] = s * u + c * v;
            }
        }
        if self.scale_max > self.scale_min {
            let k: [f32; 3] =
                std::array::from_fn(|_| rng.random_range(self.scale_min..self.scale_max));
            for p in &mut pts {
                for a in 0..3 {
                    p[a] *= k[a];
                }
            }
        }
        if self.jitter_sigma > 0.0 {
            for p in &mut pts {
                for c in p.iter_mut() {
                    *c += (self.jitter_sigma * normal(&mut rng))
                        .clamp(-self.jitter_clip, self.jitter_clip);
                }
            }
        }
        if self.point_dropout_max > 0.0 {
            let ratio: f32 = rng.random_range(0.0..self.point_dropout_max);
            let (first, idx0) = (pts[0], idx[0]);
            for (p, i) in pts.iter_mut().zip(idx.iter_mut()).skip(1) {
                if rng.random::<f32>() <= ratio {
                    *p = first;
                    *i = idx0;
                }
            }
        }
        (pts, idx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_is_about_the_up_axis() {
        let points: Vec<[f32; 3]> = (0..50)
            .map(|i| [i as f32 * 0.1, 1.0 + i as f32, -2.0])
            .collect();
        for up in [Axis::X, Axis::Y, Axis::Z] {
            let augment = Augment {
                up,
                jitter_sigma: 0.0,
                scale_min: 1.0,
                scale_max: 1.0,
                point_dropout_max: 0.0,
                ..Augment::default()
            };
            let out = augment.sample(&points, &[], 0, 50, 3);
            let a = up.index();
            // The up coordinate is untouched, the distance from the up axis kept, and the
            // points did move.
            let mut sorted_in: Vec<f32> = points.iter().map(|p| p[a]).collect();
            let mut sorted_out: Vec<f32> = out.iter().map(|p| p[a]).collect();
            sorted_in.sort_by(f32::total_cmp);
            sorted_out.sort_by(f32::total_cmp);
            assert_eq!(sorted_in, sorted_out, "{up:?}");
            let radius =
                |p: &[f32; 3]| (0..3).filter(|&k| k != a).map(|k| p[k] * p[k]).sum::<f32>();
            let mut r_in: Vec<f32> = points.iter().map(radius).collect();
            let mut r_out: Vec<f32> = out.iter().map(radius).collect();
            r_in.sort_by(f32::total_cmp);
            r_out.sort_by(f32::total_cmp);
            for (x, y) in r_in.iter().zip(&r_out) {
                assert!((x - y).abs() < 1e-3 * (1.0 + x), "{up:?}: {x} vs {y}");
            }
            assert_ne!(out, points, "{up:?}");
        }
    }
}
