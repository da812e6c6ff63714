//! Perturbation masks over segments and their application to a cloud.
//!
//! A mask has one byte per segment, 1 = kept (lime_image's convention). Row 0 keeps everything, so
//! the first sample is the unperturbed cloud; the other rows keep each segment independently with
//! probability `keep_probability`. All rows come from one seeded RNG before any batching, so the
//! samples are the same whatever the batch size or thread count.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// S masks over K segments, row-major, 1 = kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Masks {
    n_segments: usize,
    bits: Vec<u8>,
}

impl Masks {
    /// Draws `n_samples` masks: row 0 all ones, the rest Bernoulli(`keep_probability`) per segment.
    pub fn sample(n_samples: usize, n_segments: usize, keep_probability: f64, seed: u64) -> Masks {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut bits = vec![1u8; n_samples * n_segments];
        for b in bits.iter_mut().skip(n_segments) {
            *b = rng.random_bool(keep_probability) as u8;
        }
        Masks { n_segments, bits }
    }

    /// Draws `n_samples` masks stratified over how many segments they remove: row 0 all ones;
    /// each other row removes `r` segments, a uniform choice among them, with `r` drawn uniformly
    /// from `1..=n_segments`. Bernoulli masks all remove about half the segments, so all lie at
    /// about the same distance from the unperturbed cloud and LIME's kernel weighs them alike;
    /// these span every distance, near masks and far ones.
    pub fn sample_stratified(n_samples: usize, n_segments: usize, seed: u64) -> Masks {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut bits = vec![1u8; n_samples * n_segments];
        let mut order: Vec<usize> = (0..n_segments).collect();
        for row in bits.chunks_mut(n_segments.max(1)).skip(1) {
            let r = rng.random_range(1..=n_segments);
            // The first r of a partial Fisher–Yates shuffle are a uniform r-subset.
            for i in 0..r {
                let j = rng.random_range(i..n_segments);
                order.swap(i, j);
                row[order[i]] = 0;
            }
        }
        Masks { n_segments, bits }
    }

    /// Masks from explicit rows (each of length `n_segments`).
    pub fn from_rows(n_segments: usize, rows: &[Vec<u8>]) -> Masks {
        assert!(rows.iter().all(|r| r.len() == n_segments));
        Masks {
            n_segments,
            bits: rows.concat(),
        }
    }

    /// Number of masks.
    pub fn len(&self) -> usize {
        self.bits.len().checked_div(self.n_segments).unwrap_or(0)
    }

    /// Whether there are no masks.
    pub fn is_empty(&self) -> bool {
        self.bits.is_empty()
    }

    /// Segments per mask.
    pub fn n_segments(&self) -> usize {
        self.n_segments
    }

    /// Mask `s`.
    pub fn row(&self, s: usize) -> &[u8] {
        &self.bits[s * self.n_segments..(s + 1) * self.n_segments]
    }
}

/// How LIME draws its masks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaskSampling {
    /// Each segment kept independently (lime_image). By default, this.
    #[default]
    Bernoulli,
    /// Stratified over the number of removed segments ([`Masks::sample_stratified`]).
    Stratified,
}

impl std::str::FromStr for MaskSampling {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<MaskSampling, String> {
        match s {
            "bernoulli" => Ok(MaskSampling::Bernoulli),
            "stratified" => Ok(MaskSampling::Stratified),
            _ => Err(format!(
                "unknown mask sampling {s:?}: bernoulli or stratified"
            )),
        }
    }
}

/// What happens to the points of segments a mask turns off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Removal {
    /// Remove them and refill the cloud to the network's size by repeating kept points in order.
    ///
    /// For a max-pooled network (PointNet without T-Nets) this is exact removal: the global feature
    /// is a maximum over points, and repeating a kept point cannot change a maximum. So the network
    /// sees precisely "the object without these segments", not an object with a hole filled by
    /// an arbitrary baseline. By default, this strategy.
    #[default]
    Drop,
    /// Move them onto the cloud's centroid (the model-frame origin): a fixed-reference baseline in
    /// the manner of captum's `baselines`.
    Centroid,
}

impl std::str::FromStr for Removal {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Removal, String> {
        match s {
            "drop" => Ok(Removal::Drop),
            "centroid" => Ok(Removal::Centroid),
            _ => Err(format!("unknown removal {s:?}: drop or centroid")),
        }
    }
}

/// Writes the perturbed cloud for `mask` into `out` (cleared first, `points.len()` points after).
///
/// `points` are the network's input points in the model frame and `labels` their segments. When a
/// mask keeps no point under [`Removal::Drop`], every point is put at the origin, which is the
/// [`Removal::Centroid`] cloud with everything removed: the network still gets a valid input.
pub fn apply(
    points: &[[f32; 3]],
    labels: &[u32],
    mask: &[u8],
    removal: Removal,
    out: &mut Vec<[f32; 3]>,
) {
    out.clear();
    out.resize(points.len(), [0.0; 3]);
    apply_into(points, labels, mask, removal, out);
}

/// [`apply`] into a slice, without allocating. Under [`Removal::Drop`] the kept points are
/// repeated in order until `out` is full, so `out` may be shorter than `points` (a set-function
/// classifier needs only as many slots as there are kept points); under [`Removal::Centroid`]
/// `out` must be as long as `points`.
pub fn apply_into(
    points: &[[f32; 3]],
    labels: &[u32],
    mask: &[u8],
    removal: Removal,
    out: &mut [[f32; 3]],
) {
    match removal {
        Removal::Drop => {
            let mut kept = 0;
            for (p, &l) in points.iter().zip(labels) {
                if mask[l as usize] != 0 {
                    if kept == out.len() {
                        break;
                    }
                    out[kept] = *p;
                    kept += 1;
                }
            }
            if kept == 0 {
                out.fill([0.0; 3]);
            } else {
                for i in kept..out.len() {
                    out[i] = out[i % kept];
                }
            }
        }
        Removal::Centroid => {
            debug_assert_eq!(out.len(), points.len());
            for ((o, p), &l) in out.iter_mut().zip(points).zip(labels) {
                *o = if mask[l as usize] != 0 { *p } else { [0.0; 3] };
            }
        }
    }
}

/// Points that `mask` keeps, given the number of points in each segment.
pub fn kept_points(segment_sizes: &[usize], mask: &[u8]) -> usize {
    segment_sizes
        .iter()
        .zip(mask)
        .filter(|(_, &b)| b != 0)
        .map(|(n, _)| n)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stratified_masks_remove_every_count_alike() {
        let (k, n) = (10, 20001);
        let m = Masks::sample_stratified(n, k, 3);
        assert!(m.row(0).iter().all(|&b| b == 1));
        let mut by_removed = vec![0usize; k + 1];
        let mut per_segment = vec![0usize; k];
        for i in 1..n {
            let row = m.row(i);
            by_removed[row.iter().filter(|&&b| b == 0).count()] += 1;
            for (c, &b) in per_segment.iter_mut().zip(row) {
                *c += (b == 0) as usize;
            }
        }
        // Each count of removed segments, 1 to k, about n / k times; never none.
        assert_eq!(by_removed[0], 0);
        for &c in &by_removed[1..] {
            assert!((1700..2300).contains(&c), "{by_removed:?}");
        }
        // And no segment favoured: each removed in about (k + 1) / 2k of the rows.
        for &c in &per_segment {
            assert!((10200..11800).contains(&c), "{per_segment:?}");
        }
        assert_eq!(m, Masks::sample_stratified(n, k, 3));
    }

    #[test]
    fn first_mask_keeps_everything_and_rate_matches_probability() {
        let m = Masks::sample(2001, 50, 0.3, 7);
        assert!(m.row(0).iter().all(|&b| b == 1));
        let kept: usize = (1..m.len())
            .map(|s| m.row(s).iter().map(|&b| b as usize).sum::<usize>())
            .sum();
        let rate = kept as f64 / (2000.0 * 50.0);
        assert!((rate - 0.3).abs() < 0.01, "rate {rate}");
    }

    #[test]
    fn drop_refills_with_kept_points_and_handles_all_dropped() {
        let pts = [
            [1.0, 0.0, 0.0],
            [2.0, 0.0, 0.0],
            [3.0, 0.0, 0.0],
            [4.0, 0.0, 0.0],
        ];
        let labels = [0, 1, 1, 0];
        let mut out = Vec::new();
        apply(&pts, &labels, &[0, 1], Removal::Drop, &mut out);
        assert_eq!(out, vec![pts[1], pts[2], pts[1], pts[2]]);
        apply(&pts, &labels, &[0, 0], Removal::Drop, &mut out);
        assert_eq!(out, vec![[0.0; 3]; 4]);
        apply(&pts, &labels, &[0, 1], Removal::Centroid, &mut out);
        assert_eq!(out, vec![[0.0; 3], pts[1], pts[2], [0.0; 3]]);
    }
}
