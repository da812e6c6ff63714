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
//! 2. **Lloyd iterations** on the subsample (nearest centroid through a k-d tree, then means), then
//!    one assignment of every point. Clusters are Voronoi cells, hence compact.
//! 3. **Connectivity.** Points are linked when they fall in the same or 26-adjacent voxels of side
//!    `link` (by default the 95th percentile, over a sample, of the distance from a point to its
//!    6th nearest neighbour: the voxel graph then links every point to its near neighbourhood even
//!    where sampling is uneven, while gaps wider than that split). A cluster that is several
//!    pieces keeps its largest piece; each other piece joins the neighbouring segment it touches
//!    most, or becomes a segment of its own when it touches none (an isolated part of the cloud).
//! 4. **Tiny segments** (fewer than [`SegmentConfig::min_fraction`] of the mean size) join the
//!    neighbouring segment they touch most.
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

pub use kdtree::KdTree;

use cluster::{assign, farthest_points, link_spacing, means, voxel_means};
use connectivity::{compact, count_labels, VoxelGraph};

use crate::error::{Error, Result};

/// How many supervoxels to make.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    /// About this many segments (the connectivity pass may add or remove a few).
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

/// Points per segment for labels in `0..n_segments`: the one count the report, the scoring paths
/// and the segmentation share.
pub fn point_counts(labels: &[u32], n_segments: usize) -> Vec<usize> {
    let mut counts = vec![0usize; n_segments];
    for &l in labels {
        counts[l as usize] += 1;
    }
    counts
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

    let mut centres = match config.target {
        Granularity::Count(k) => farthest_points(&sample, k.min(n), &mut rng),
        Granularity::Resolution(r) => voxel_means(&sample, r as f32),
    };
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

    let link = config
        .link
        .map(|l| l as f32)
        .unwrap_or_else(|| link_spacing(points, &mut rng));
    let grid = VoxelGraph::new(points, link);
    let mut labels = compact(labels);
    labels = grid.make_connected(labels);
    let count = count_labels(&labels);
    let min_size = (config.min_fraction * n as f64 / count as f64).floor() as usize;
    labels = grid.merge_small(labels, min_size);
    let labels = compact(labels);
    let count = count_labels(&labels);
    Ok(Segmentation {
        labels,
        count,
        link: link as f64,
    })
}
