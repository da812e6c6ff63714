//! From a scene to the object to explain: crop, statistical outliers, ground, largest cluster.
//!
//! A phone scan holds the object plus the ground it stands on, its surroundings and specks of
//! noise; a classifier trained on objects should see the object. Each step here is opt-in, runs in
//! the order below on the points the previous steps kept, and is counted in a [`SceneReport`] so an
//! explanation can be reproduced. Removed points are not dropped from the output: the explained
//! file keeps every point of the scan with a [`Removed`] code, so it still overlays the original.
//!
//! 1. **Crop** to an axis-aligned box or a ball, in the file's coordinates.
//! 2. **Statistical outliers** (after PCL's `StatisticalOutlierRemoval`, with robust statistics): a
//!    point whose mean distance to its k nearest neighbours exceeds the median of that distance
//!    over the scan by more than `std_ratio` robust standard deviations (1.4826 × the median
//!    absolute deviation).
//! 3. **Ground**: the dominant plane under the object, by RANSAC (Fischler & Bolles 1981) over
//!    planes within `max_tilt_degrees` of horizontal that have at most 5% of the points below
//!    them and at least 5% on them, refitted by least squares to its inliers; points within `threshold` of it or below it
//!    are removed. A scan with no such plane keeps every point and says so.
//! 4. **Largest cluster**: only the largest piece of the voxel connectivity graph that
//!    supervoxels use (link from the point spacing) is kept.

use rand::seq::index;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::segment::KdTree;

pub use crate::cloud::Axis;

/// The region to keep, in the file's coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Crop {
    /// An axis-aligned box, bounds inclusive.
    Box { min: [f64; 3], max: [f64; 3] },
    /// A ball.
    Ball { centre: [f64; 3], radius: f64 },
}

impl Crop {
    fn contains(&self, p: &[f64; 3]) -> bool {
        match self {
            Crop::Box { min, max } => (0..3).all(|a| p[a] >= min[a] && p[a] <= max[a]),
            Crop::Ball { centre, radius } => {
                (0..3).map(|a| (p[a] - centre[a]).powi(2)).sum::<f64>() <= radius * radius
            }
        }
    }
}

impl std::str::FromStr for Crop {
    type Err = String;

    /// `minx,miny,minz,maxx,maxy,maxz` (a box) or `x,y,z,r` (a ball).
    fn from_str(s: &str) -> std::result::Result<Crop, String> {
        let v: Vec<f64> = s
            .split(',')
            .map(|t| t.trim().parse::<f64>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| format!("crop {s:?}: expected numbers separated by commas"))?;
        match v[..] {
            [a, b, c, d, e, f] => Ok(Crop::Box {
                min: [a, b, c],
                max: [d, e, f],
            }),
            [x, y, z, r] => Ok(Crop::Ball {
                centre: [x, y, z],
                radius: r,
            }),
            _ => Err(format!(
                "crop {s:?}: give minx,miny,minz,maxx,maxy,maxz (a box) or x,y,z,radius (a ball)"
            )),
        }
    }
}

/// Statistical outlier removal settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutlierConfig {
    /// Neighbours whose mean distance is compared. By default, 8.
    pub neighbours: usize,
    /// Robust standard deviations (1.4826 × MAD) above the median beyond which a point is an
    /// outlier. By default, 8: the distance distribution of real scans has a long tail of sparse
    /// surface. On the real-data suite's objects (DALES, plants, a trunk scan) 8 finds 62–100% of
    /// added specks and removes 0–3.6% of the scans' own points (none on most plant scans); 3
    /// removes up to 15%.
    pub std_ratio: f64,
}

impl Default for OutlierConfig {
    fn default() -> Self {
        OutlierConfig {
            neighbours: 8,
            std_ratio: 8.0,
        }
    }
}

/// Ground removal settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GroundConfig {
    /// The scan's up axis. By default, z (LAS and phone exports).
    pub up: Axis,
    /// Points within this distance of the plane (file units: metres for LiDAR) are ground. By
    /// default, 0.05.
    pub threshold: f64,
    /// Steepest plane still taken for ground, in degrees from horizontal. By default, 20.
    pub max_tilt_degrees: f64,
    /// RANSAC hypotheses. By default, 500.
    pub iterations: usize,
}

impl Default for GroundConfig {
    fn default() -> Self {
        GroundConfig {
            up: Axis::Z,
            threshold: 0.05,
            max_tilt_degrees: 20.0,
            iterations: 500,
        }
    }
}

/// Which scene steps run. By default, none.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SceneConfig {
    /// Keep only the points inside this region.
    pub crop: Option<Crop>,
    /// Remove statistical outliers.
    pub outliers: Option<OutlierConfig>,
    /// Remove the ground plane.
    pub ground: Option<GroundConfig>,
    /// Keep only the largest connected cluster.
    pub largest_cluster: bool,
}

impl SceneConfig {
    /// Whether any step runs.
    pub fn is_active(&self) -> bool {
        self.crop.is_some()
            || self.outliers.is_some()
            || self.ground.is_some()
            || self.largest_cluster
    }

    /// Checks the settings once, before any work.
    ///
    /// # Errors
    /// [`Error::Config`] for values out of range.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        match self.crop {
            // NaN bounds fail too: `<=` is false for them.
            Some(Crop::Box { min, max }) if !(0..3).all(|a| min[a] <= max[a]) => {
                return bad(format!("crop box min {min:?} is not below max {max:?}"))
            }
            Some(Crop::Ball { radius, .. }) if !(radius > 0.0 && radius.is_finite()) => {
                return bad(format!("crop radius must be positive, got {radius}"))
            }
            _ => {}
        }
        if let Some(o) = self.outliers {
            if o.neighbours == 0 || !(o.std_ratio > 0.0 && o.std_ratio.is_finite()) {
                return bad(format!(
                    "outliers need at least 1 neighbour and a positive std ratio, got {} and {}",
                    o.neighbours, o.std_ratio
                ));
            }
        }
        if let Some(g) = self.ground {
            let valid = g.threshold > 0.0
                && g.threshold.is_finite()
                && (0.0..90.0).contains(&g.max_tilt_degrees)
                && g.iterations > 0;
            if !valid {
                return bad(format!(
                    "ground needs a positive threshold, a tilt in [0, 90) degrees and at least one \
                     iteration, got {}, {} and {}",
                    g.threshold, g.max_tilt_degrees, g.iterations
                ));
            }
        }
        Ok(())
    }
}

/// Why a point was left out of the explanation: the value of the `removed` field of the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Removed {
    Kept = 0,
    Cropped = 1,
    Outlier = 2,
    Ground = 3,
    /// Not in the largest connected cluster.
    Detached = 4,
}

/// The ground plane found: `normal · p = offset`, the normal pointing up.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Plane {
    pub normal: [f64; 3],
    pub offset: f64,
}

/// What the scene steps did, for the report.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SceneReport {
    /// Points in the scan.
    pub input_points: usize,
    /// Points left for the explanation.
    pub kept_points: usize,
    /// Points outside the crop region.
    pub cropped: usize,
    /// Statistical outliers removed.
    pub outliers: usize,
    /// Ground points removed (on or below the plane).
    pub ground: usize,
    /// The ground plane, when ground removal ran and found one.
    pub ground_plane: Option<Plane>,
    /// Points outside the largest cluster.
    pub detached: usize,
}

/// Runs the configured steps on `positions` (file coordinates); returns each point's [`Removed`]
/// code and the report. `seed` drives RANSAC.
pub fn prepare(
    positions: &[[f64; 3]],
    config: &SceneConfig,
    seed: u64,
) -> (Vec<Removed>, SceneReport) {
    let mut removed = vec![Removed::Kept; positions.len()];
    let mut report = SceneReport {
        input_points: positions.len(),
        ..Default::default()
    };
    if let Some(crop) = &config.crop {
        for (r, p) in removed.iter_mut().zip(positions) {
            if !crop.contains(p) {
                *r = Removed::Cropped;
                report.cropped += 1;
            }
        }
    }
    // The later steps work in f32 around the kept points' first point, which keeps the precision
    // of LAS coordinates with large offsets.
    let kept = |removed: &[Removed]| -> Vec<usize> {
        (0..positions.len())
            .filter(|&i| removed[i] == Removed::Kept)
            .collect()
    };
    let local = |idx: &[usize]| -> Vec<[f32; 3]> {
        let o = idx.first().map_or([0.0; 3], |&i| positions[i]);
        idx.iter()
            .map(|&i| {
                let p = positions[i];
                [
                    (p[0] - o[0]) as f32,
                    (p[1] - o[1]) as f32,
                    (p[2] - o[2]) as f32,
                ]
            })
            .collect()
    };
    if let Some(o) = &config.outliers {
        let idx = kept(&removed);
        for k in statistical_outliers(&local(&idx), o) {
            removed[idx[k]] = Removed::Outlier;
            report.outliers += 1;
        }
    }
    if let Some(g) = &config.ground {
        let idx = kept(&removed);
        let o = idx.first().map_or([0.0; 3], |&i| positions[i]);
        if let Some((plane, ground)) = ground_plane(&local(&idx), g, seed) {
            for k in ground {
                removed[idx[k]] = Removed::Ground;
                report.ground += 1;
            }
            // Back to file coordinates: n · (p - o) = d  ⇔  n · p = d + n · o.
            let shift: f64 = (0..3).map(|a| plane.normal[a] * o[a]).sum();
            report.ground_plane = Some(Plane {
                normal: plane.normal,
                offset: plane.offset + shift,
            });
        }
    }
    if config.largest_cluster {
        let idx = kept(&removed);
        if !idx.is_empty() {
            let keep = crate::segment::largest_component(&local(&idx), seed);
            for (k, &inside) in keep.iter().enumerate() {
                if !inside {
                    removed[idx[k]] = Removed::Detached;
                    report.detached += 1;
                }
            }
        }
    }
    report.kept_points = removed.iter().filter(|&&r| r == Removed::Kept).count();
    (removed, report)
}

/// Indices of the statistical outliers of `points`.
fn statistical_outliers(points: &[[f32; 3]], config: &OutlierConfig) -> Vec<usize> {
    if points.len() <= config.neighbours {
        return Vec::new();
    }
    let tree = KdTree::new(points);
    let k = config.neighbours;
    let mean_d: Vec<f64> = points
        .par_iter()
        .map(|p| {
            let n = tree.nearest_n(p, k + 1);
            n.iter()
                .skip(1)
                .map(|(_, d2)| (*d2 as f64).sqrt())
                .sum::<f64>()
                / k as f64
        })
        .collect();
    // Robust centre and scale (median and 1.4826 × MAD, the normal-consistent standard
    // deviation): the specks being looked for must not inflate the scale that judges them, as
    // they do PCL's mean and standard deviation on a small scan.
    let centre = crate::stats::median(mean_d.iter().copied());
    let deviations: Vec<f64> = mean_d.iter().map(|d| (d - centre).abs()).collect();
    let scale = 1.4826 * crate::stats::median(deviations);
    let limit = centre + config.std_ratio * scale;
    (0..points.len()).filter(|&i| mean_d[i] > limit).collect()
}

/// The share of `points` on or below their ground plane, found as [`prepare`] finds it with
/// `threshold` in the points' own units and the default tilt and iterations; 0 when no plane
/// qualifies. A scan of a whole object has none or a sliver; a scan of an object standing on
/// the ground, a large share (the competence check's shape reads it).
pub fn ground_share(points: &[[f32; 3]], up: Axis, threshold: f64, seed: u64) -> f64 {
    let config = GroundConfig {
        up,
        threshold,
        ..GroundConfig::default()
    };
    ground_plane(points, &config, seed).map_or(0.0, |(_, ground)| {
        ground.len() as f64 / points.len().max(1) as f64
    })
}

/// The ground plane of `points` (see the module docs) and the indices of the points on or below
/// it, or `None` when no plane qualifies.
fn ground_plane(
    points: &[[f32; 3]],
    config: &GroundConfig,
    seed: u64,
) -> Option<(Plane, Vec<usize>)> {
    // Ground is under the object: at most this share of points below the plane. And it is a
    // large part of a scene: at least this share on it (a plane through the foot of an object
    // without ground holds a few percent).
    const MAX_BELOW: f64 = 0.05;
    const MIN_ON: f64 = 0.05;
    if points.len() < 3 {
        return None;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let up = config.up.index();
    let cos_tilt = config.max_tilt_degrees.to_radians().cos();
    let t = config.threshold;
    // Hypotheses are scored on a subsample: enough to rank planes, cheap on millions of points.
    let m = points.len().min(20_000);
    let probe: Vec<[f64; 3]> = index::sample(&mut rng, points.len(), m)
        .into_iter()
        .map(|i| points[i].map(f64::from))
        .collect();
    let mut best: Option<(usize, Plane)> = None;
    for _ in 0..config.iterations {
        let [a, b, c] = [0; 3].map(|_| probe[rng.random_range(0..m)]);
        let u = sub(&b, &a);
        let v = sub(&c, &a);
        let mut n = cross(&u, &v);
        let len = norm(&n);
        if len < 1e-12 {
            continue;
        }
        n = n.map(|x| x / len);
        if n[up] < 0.0 {
            n = n.map(|x| -x);
        }
        if n[up] < cos_tilt {
            continue;
        }
        let plane = Plane {
            normal: n,
            offset: dot(&n, &a),
        };
        let (on, below) = count_sides(&probe, &plane, t);
        if (below as f64) > MAX_BELOW * m as f64 || (on as f64) < MIN_ON * m as f64 {
            continue;
        }
        if best.as_ref().is_none_or(|(c, _)| on > *c) {
            best = Some((on, plane));
        }
    }
    let (_, plane) = best?;
    // Refit: least squares of the up coordinate on the other two over the inliers.
    let inliers: Vec<&[f64; 3]> = probe
        .iter()
        .filter(|p| (dot(&plane.normal, p) - plane.offset).abs() <= t)
        .collect();
    let plane = refit(&inliers, up).unwrap_or(plane);
    let ground = (0..points.len())
        .filter(|&i| dot(&plane.normal, &points[i].map(f64::from)) - plane.offset <= t)
        .collect();
    Some((plane, ground))
}

fn count_sides(points: &[[f64; 3]], plane: &Plane, t: f64) -> (usize, usize) {
    let mut on = 0;
    let mut below = 0;
    for p in points {
        let d = dot(&plane.normal, p) - plane.offset;
        if d.abs() <= t {
            on += 1;
        } else if d < -t {
            below += 1;
        }
    }
    (on, below)
}

/// The plane `p[up] = a p[i] + b p[j] + c` fitted to `points` by least squares, as a [`Plane`].
fn refit(points: &[&[f64; 3]], up: usize) -> Option<Plane> {
    if points.len() < 3 {
        return None;
    }
    let (i, j) = ((up + 1) % 3, (up + 2) % 3);
    let mut ata = [0.0f64; 9];
    let mut atb = [0.0f64; 3];
    for p in points {
        let row = [p[i], p[j], 1.0];
        for r in 0..3 {
            for c in 0..3 {
                ata[r * 3 + c] += row[r] * row[c];
            }
            atb[r] += row[r] * p[up];
        }
    }
    let x = crate::linalg::solve(3, &ata, &atb);
    let mut n = [0.0; 3];
    n[i] = -x[0];
    n[j] = -x[1];
    n[up] = 1.0;
    let len = norm(&n);
    Some(Plane {
        normal: n.map(|v| v / len),
        offset: x[2] / len,
    })
    .filter(|p| p.normal.iter().all(|v| v.is_finite()) && p.offset.is_finite())
}

fn sub(a: &[f64; 3], b: &[f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn cross(a: &[f64; 3], b: &[f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn dot(a: &[f64; 3], b: &[f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn norm(a: &[f64; 3]) -> f64 {
    dot(a, a).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 4 m × 4 m ground grid at z = 1 (10 cm spacing, ±1 cm noise), a 0.3 m × 0.3 m × 2 m
    /// column standing on it, and a separate small box 1.5 m up and away.
    fn scene() -> Vec<[f64; 3]> {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut p = Vec::new();
        for i in 0..40 {
            for j in 0..40 {
                let noise = (rng.random::<f64>() - 0.5) * 0.02;
                p.push([i as f64 * 0.1, j as f64 * 0.1, 1.0 + noise]);
            }
        }
        for k in 0..2000 {
            let h = k as f64 / 2000.0 * 2.0;
            p.push([
                2.0 + rng.random::<f64>() * 0.3,
                2.0 + rng.random::<f64>() * 0.3,
                1.0 + h,
            ]);
        }
        for _ in 0..200 {
            p.push([
                0.5 + rng.random::<f64>() * 0.1,
                0.5 + rng.random::<f64>() * 0.1,
                2.5 + rng.random::<f64>() * 0.1,
            ]);
        }
        p
    }

    #[test]
    fn crop_parses_a_box_or_a_ball_and_keeps_what_is_inside() {
        let b: Crop = "0,0,0,1,1,1".parse().unwrap();
        assert!(b.contains(&[0.5, 1.0, 0.0]) && !b.contains(&[0.5, 1.1, 0.0]));
        let s: Crop = "0,0,0,2".parse().unwrap();
        assert!(s.contains(&[1.0, 1.0, 1.0]) && !s.contains(&[2.0, 1.0, 0.0]));
        assert!("1,2".parse::<Crop>().is_err());
        assert!("a,b,c,d".parse::<Crop>().is_err());
        let bad = SceneConfig {
            crop: Some("1,0,0,0,1,1".parse().unwrap()),
            ..Default::default()
        };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn ground_is_found_and_removed_without_eating_the_column() {
        let points = scene();
        let config = SceneConfig {
            ground: Some(GroundConfig::default()),
            ..Default::default()
        };
        let (removed, report) = prepare(&points, &config, 0);
        let plane = report.ground_plane.expect("a ground plane");
        assert!(plane.normal[2] > 0.999, "{plane:?}");
        assert!(
            (plane.offset / plane.normal[2] - 1.0).abs() < 0.01,
            "{plane:?}"
        );
        // Every grid point is ground; of the column, only its foot (within 5 cm) is.
        assert!(removed[..1600].iter().all(|&r| r == Removed::Ground));
        let column_ground = removed[1600..3600]
            .iter()
            .filter(|&&r| r == Removed::Ground)
            .count();
        assert!(column_ground < 100, "{column_ground}");
        assert_eq!(report.ground, 1600 + column_ground);
        // The same scan on its side (y up) needs --up y.
        let sideways: Vec<[f64; 3]> = points.iter().map(|p| [p[0], p[2], p[1]]).collect();
        let (_, z_up) = prepare(&sideways, &config, 0);
        assert!(z_up.ground < 1600, "{}", z_up.ground);
        let y_up = SceneConfig {
            ground: Some(GroundConfig {
                up: Axis::Y,
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(prepare(&sideways, &y_up, 0).1.ground, report.ground);
    }

    #[test]
    fn no_ground_plane_under_an_object_without_one() {
        // The column and box alone: planes through them have most points on both sides.
        let points: Vec<[f64; 3]> = scene()[1600..].to_vec();
        let config = SceneConfig {
            ground: Some(GroundConfig::default()),
            ..Default::default()
        };
        let (_, report) = prepare(&points, &config, 0);
        assert_eq!(report.ground, 0, "{report:?}");
        assert_eq!(report.ground_plane, None);
    }

    #[test]
    fn largest_cluster_and_outliers_remove_what_is_apart() {
        let mut points = scene();
        points.push([50.0, 50.0, 50.0]);
        let config = SceneConfig {
            ground: Some(GroundConfig::default()),
            largest_cluster: true,
            ..Default::default()
        };
        let (removed, report) = prepare(&points, &config, 0);
        // After the ground, the column is the largest piece: the box and the speck are detached
        // (and perhaps a stray point or two of the randomly filled column).
        assert!((201..=220).contains(&report.detached), "{report:?}");
        assert!(removed[3600..].iter().all(|&r| r == Removed::Detached));
        assert_eq!(
            report.kept_points,
            report.input_points - report.ground - 201
        );

        let config = SceneConfig {
            outliers: Some(OutlierConfig::default()),
            ..Default::default()
        };
        let (removed, report) = prepare(&points, &config, 0);
        assert_eq!(removed[points.len() - 1], Removed::Outlier);
        assert!(report.outliers >= 1 && report.outliers < 100, "{report:?}");
    }
}
