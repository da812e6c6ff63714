//! Supervoxels: spatially compact, connected clusters of points.
//!
//! # Algorithm
//! Farthest-point-seeded k-means with a connectivity pass, in the spirit of VCCS (Papon et al.,
//! "Voxel Cloud Connectivity Segmentation", CVPR 2013) but on positions only, since most LiDAR
//! objects carry no colour:
//!
//! 1. **Seeds.** For a target count K: farthest-point sampling over a seeded random subsample
//!    (at most [`SegmentConfig::subsample`] points), which spreads seeds evenly over the object's
//!    extent. For a seed resolution R in metres: one seed per occupied R-voxel, as VCCS does.
//!    Only *dense* points seed: those whose 6th nearest neighbour is within the link spacing
//!    (step 3). Isolated specks, which real scans (phone LiDAR above all) scatter around the
//!    object, are the farthest points of all and would otherwise take the first seeds.
//! 2. **Lloyd iterations** on the subsample (nearest centroid through a k-d tree, then means), then
//!    one assignment of every point. Clusters are Voronoi cells, hence compact.
//! 3. **Connectivity.** Points are linked when they fall in the same or 26-adjacent voxels of side
//!    `link` (by default the 95th percentile, over a sample, of the distance from a point to its
//!    6th nearest neighbour: the voxel graph then links every point to its near neighbourhood even
//!    where sampling is uneven, while gaps wider than that split). A cluster that is several
//!    pieces keeps its largest piece; each other piece joins the neighbouring segment it touches
//!    most. A piece that touches nothing (a leaf or speck cut off by a gap) joins the segment
//!    whose main piece is nearest, when that is within the median spacing of the seeds (one
//!    segment's reach), and becomes a segment of its own otherwise (a separate object).
//! 4. **Tiny segments** (fewer than [`SegmentConfig::min_fraction`] of the mean size, K seeds)
//!    join the larger segment they touch most, or, touching none, the nearest larger segment at
//!    any distance. So no speck or scatter of specks is ever a segment of its own, and the count
//!    stays near K on real scans.
//!
//! Segments are therefore connected in the voxel graph except for isolated pieces within a
//! segment's reach, which are gathered by distance.
//!
//! Labels are then renumbered in order of each segment's first point. Every step is deterministic
//! for a seed and independent of the thread count (parallel work is per point; sums are serial).

mod cluster;
mod connectivity;
pub(crate) mod kdtree;

use rand::seq::index;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

pub use connectivity::point_counts;
pub use kdtree::KdTree;

use cluster::{
    assign, centre_spacing, dense_points, farthest_points, link_spacing, means, voxel_means,
};
use connectivity::{compact, count_labels, VoxelGraph};

use crate::error::{Error, Result};

/// How many supervoxels to make.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    /// About this many segments (the connectivity pass may add a few for separate objects, or
    /// remove a few tiny ones).
    Count(usize),
    /// One seed per occupied voxel of this side, in the units of the points (metres for LiDAR).
    Resolution(f64),
}

/// Supervoxel settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SegmentConfig {
    /// Target count or seed resolution. By default, 50 segments.
    pub target: Granularity,
    /// Seed for the subsample and the first farthest point. By default, 0.
    pub seed: u64,
    /// Lloyd iterations at most. By default, 10.
    pub iterations: usize,
    /// Points used for seeding and Lloyd iterations. By default, 50,000.
    pub subsample: usize,
    /// Segments smaller than this fraction of the mean segment size are merged. By default, 0.1.
    pub min_fraction: f64,
    /// Side of the connectivity voxels; `None` picks it from the point spacing (module docs).
    /// By default, `None`.
    pub link: Option<f64>,
    /// Use this per-point field of the scan (organ labels, LAS `classification`, instance ids)
    /// as the segments instead of supervoxels ([`from_field`]). By default, `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_field: Option<String>,
    /// With `from_field`: parts with fewer points join the part of their nearest other point.
    /// By default, 10.
    #[serde(default = "default_min_part_points")]
    pub min_part_points: usize,
}

fn default_min_part_points() -> usize {
    10
}

impl Default for SegmentConfig {
    fn default() -> Self {
        SegmentConfig {
            target: Granularity::Count(50),
            seed: 0,
            iterations: 10,
            subsample: 50_000,
            min_fraction: 0.1,
            link: None,
            from_field: None,
            min_part_points: default_min_part_points(),
        }
    }
}

impl SegmentConfig {
    /// Checks the settings once, before any work.
    ///
    /// # Errors
    /// [`Error::Config`] for a zero count, a non-positive resolution or link, or a subsample of 0.
    pub fn validate(&self) -> Result<()> {
        match self.target {
            Granularity::Count(0) => {
                return Err(Error::Config("segments must be at least 1".into()))
            }
            Granularity::Resolution(r) if !(r > 0.0 && r.is_finite()) => {
                return Err(Error::Config(format!(
                    "resolution must be positive, got {r}"
                )))
            }
            _ => {}
        }
        if self.subsample == 0 {
            return Err(Error::Config("subsample must be at least 1".into()));
        }
        if let Some(l) = self.link {
            if !(l > 0.0 && l.is_finite()) {
                return Err(Error::Config(format!("link must be positive, got {l}")));
            }
        }
        Ok(())
    }
}

/// A label per point, labels `0..count`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segmentation {
    /// The segment of each point.
    pub labels: Vec<u32>,
    /// Number of segments; every label in `0..count` has at least one point.
    pub count: usize,
    /// The connectivity voxel side that was used.
    #[serde(skip)]
    pub link: f64,
}

impl Segmentation {
    /// Points per segment.
    pub fn sizes(&self) -> Vec<usize> {
        point_counts(&self.labels, self.count)
    }

    /// Mean position of each segment.
    pub fn centroids(&self, points: &[[f64; 3]]) -> Vec<[f64; 3]> {
        let mut sum = vec![[0.0f64; 3]; self.count];
        for (p, &l) in points.iter().zip(&self.labels) {
            for a in 0..3 {
                sum[l as usize][a] += p[a];
            }
        }
        sum.iter()
            .zip(self.sizes())
            .map(|(s, n)| s.map(|v| v / n.max(1) as f64))
            .collect()
    }
}

impl Segmentation {
    /// Each segment's parent in `coarse` (a segmentation of the same points): the coarse segment
    /// holding most of its points, ties to the lower id, renumbered `0..m` in order of first
    /// appearance. Every segment lies inside exactly one parent, so the parents nest this
    /// segmentation whatever the two algorithms did at the boundaries. Returns the parents and
    /// `m`.
    pub fn parents_in(&self, coarse: &Segmentation) -> (Vec<u32>, usize) {
        let mut votes: rustc_hash::FxHashMap<(u32, u32), usize> = Default::default();
        for (&f, &c) in self.labels.iter().zip(&coarse.labels) {
            *votes.entry((f, c)).or_default() += 1;
        }
        let mut best = vec![(0usize, u32::MAX); self.count];
        for (&(f, c), &n) in &votes {
            let b = &mut best[f as usize];
            if n > b.0 || (n == b.0 && c < b.1) {
                *b = (n, c);
            }
        }
        let parents = compact(best.into_iter().map(|(_, c)| c).collect());
        let m = count_labels(&parents);
        (parents, m)
    }
}

/// Segments from a per-point field: one segment per distinct value, in ascending order of value.
/// Points of parts smaller than `min_points`, and points whose value is not finite, join the part
/// of their nearest point in a part that is large enough (when there is none, every part is
/// kept). Returns the segmentation and each segment's value.
pub fn from_field(
    points: &[[f32; 3]],
    values: &[f64],
    min_points: usize,
) -> (Segmentation, Vec<f64>) {
    // Counted by their bits (f64 is not a map key); sorted by value below.
    let mut counts: std::collections::BTreeMap<u64, usize> = Default::default();
    for v in values.iter().filter(|v| v.is_finite()) {
        *counts.entry(v.to_bits()).or_default() += 1;
    }
    let mut kept: Vec<f64> = counts
        .iter()
        .filter(|(_, &n)| n >= min_points)
        .map(|(&b, _)| f64::from_bits(b))
        .collect();
    if kept.is_empty() {
        kept = counts.keys().map(|&b| f64::from_bits(b)).collect();
    }
    kept.sort_by(f64::total_cmp);
    let segment_of = |v: f64| kept.binary_search_by(|k| k.total_cmp(&v)).ok();
    let own: Vec<Option<u32>> = values
        .iter()
        .map(|&v| segment_of(v).map(|s| s as u32))
        .collect();
    let anchors: Vec<usize> = (0..points.len()).filter(|&i| own[i].is_some()).collect();
    let labels = if anchors.len() == points.len() || anchors.is_empty() {
        own.iter().map(|l| l.unwrap_or(0)).collect()
    } else {
        let tree = KdTree::new(&anchors.iter().map(|&i| points[i]).collect::<Vec<_>>());
        own.iter()
            .zip(points)
            .map(|(l, p)| match l {
                Some(l) => *l,
                None => own[anchors[tree.nearest(p).0 as usize]].unwrap_or(0),
            })
            .collect()
    };
    let count = kept.len().max(1);
    (
        Segmentation {
            labels,
            count,
            link: 0.0,
        },
        if kept.is_empty() {
            vec![f64::NAN]
        } else {
            kept
        },
    )
}

/// Cuts points into supervoxels. See the [module docs](self) for the algorithm.
///
/// # Errors
/// [`Error::Config`] for invalid settings or an empty point set.
pub fn supervoxels(points: &[[f32; 3]], config: &SegmentConfig) -> Result<Segmentation> {
    config.validate()?;
    if points.is_empty() {
        return Err(Error::Config("cannot segment an empty cloud".into()));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let n = points.len();
    let sample: Vec<[f32; 3]> = if n > config.subsample {
        let mut idx = index::sample(&mut rng, n, config.subsample).into_vec();
        idx.sort_unstable();
        idx.into_iter().map(|i| points[i]).collect()
    } else {
        points.to_vec()
    };

    // The link spacing first: it also says which points are isolated specks, which must not be
    // seeds (farthest-point sampling would otherwise spend its first seeds on them).
    let tree = KdTree::new(points);
    let link = config
        .link
        .map(|l| l as f32)
        .unwrap_or_else(|| link_spacing(&tree, points, &mut rng));
    let core = dense_points(&tree, &sample, link);
    let seed_from = if core.len() >= sample.len() / 2 {
        &core
    } else {
        // Most of the sample is sparser than the link (a user-set link below the spacing): every
        // point may seed.
        &sample
    };
    let mut centres = match config.target {
        Granularity::Count(k) => farthest_points(seed_from, k.min(n), &mut rng),
        Granularity::Resolution(r) => voxel_means(seed_from, r as f32),
    };
    drop(tree);
    for _ in 0..config.iterations {
        let labels = assign(&sample, &centres);
        let next = means(&sample, &labels, centres.len());
        let moved = next.iter().zip(&centres).any(|(a, b)| a != b);
        centres = next;
        if !moved {
            break;
        }
    }
    let labels = assign(points, &centres);

    let grid = VoxelGraph::new(points, link);
    let labels = grid.make_connected(compact(labels), centre_spacing(&centres));
    let min_size = (config.min_fraction * n as f64 / centres.len() as f64).floor() as usize;
    let labels = compact(grid.merge_small(labels, min_size));
    let count = count_labels(&labels);
    Ok(Segmentation {
        labels,
        count,
        link: link as f64,
    })
}

/// Which points belong to the largest connected piece of `points` (links as in
/// [`supervoxels`], from the point spacing with `seed`).
pub fn largest_component(points: &[[f32; 3]], seed: u64) -> Vec<bool> {
    if points.is_empty() {
        return Vec::new();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let link = link_spacing(&KdTree::new(points), points, &mut rng);
    let grid = VoxelGraph::new(points, link);
    let piece = grid.components();
    let sizes = point_counts(&piece, count_labels(&piece));
    // Ties go to the piece with the lower id (first point first).
    let largest = (0..sizes.len())
        .max_by(|&a, &b| sizes[a].cmp(&sizes[b]).then(b.cmp(&a)))
        .unwrap_or(0) as u32;
    piece.iter().map(|&p| p == largest).collect()
}

impl Segmentation {
    /// Merges every segment with no point among `seen` (the network's input, indices of points)
    /// into the segment of the nearest seen point, renumbering the rest in order. `points` are
    /// the cloud's points. Returns how many segments were merged.
    pub fn merge_unseen(&mut self, points: &[[f32; 3]], seen: &[u32]) -> usize {
        let seen_labels: Vec<u32> = seen.iter().map(|&i| self.labels[i as usize]).collect();
        let has = point_counts(&seen_labels, self.count);
        let unseen = has.iter().filter(|&&c| c == 0).count();
        if unseen == 0 || seen.is_empty() {
            return 0;
        }
        let anchors: Vec<[f32; 3]> = seen.iter().map(|&i| points[i as usize]).collect();
        let tree = KdTree::new(&anchors);
        let labels: Vec<u32> = self
            .labels
            .iter()
            .zip(points)
            .map(|(&l, p)| {
                if has[l as usize] > 0 {
                    l
                } else {
                    seen_labels[tree.nearest(p).0 as usize]
                }
            })
            .collect();
        self.labels = compact(labels);
        self.count = count_labels(&self.labels);
        unseen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_segment_gets_the_coarse_segment_holding_most_of_its_points() {
        let fine = Segmentation {
            labels: vec![0, 0, 0, 1, 1, 2, 2, 2],
            count: 3,
            link: 1.0,
        };
        // Fine 0 straddles coarse 5 and 4 (2 to 1); fine 1 ties between 4 and 6 (lower wins);
        // fine 2 is all in 6.
        let coarse = Segmentation {
            labels: vec![5, 5, 4, 6, 4, 6, 6, 6],
            count: 7,
            link: 1.0,
        };
        let (parents, m) = fine.parents_in(&coarse);
        // Parents 5, 4, 6 renumbered in order of first appearance.
        assert_eq!((parents, m), (vec![0, 1, 2], 3));
        let coarse = Segmentation {
            labels: vec![3, 3, 3, 3, 3, 3, 1, 1],
            count: 4,
            link: 1.0,
        };
        assert_eq!(fine.parents_in(&coarse), (vec![0, 0, 1], 2));
    }
}
