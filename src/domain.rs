//! Domain competence: does a scan look, to the model, like the scans it was trained on?
//!
//! A classifier answers for every cloud, a maize plant shown to a model of aerial objects
//! included, and an explanation of that answer looks as confident as any other. The check here is
//! the class-conditional Gaussian of Lee et al. (2018, "A simple unified framework for detecting
//! out-of-distribution samples"), on the network's own global feature (PointNet: the max-pooled
//! feature the head reads):
//!
//! - at training time, the training scans' features give one mean per class and a covariance
//!   shared by the classes (the within-class scatter), kept as its leading principal axes plus
//!   one variance for every other direction (probabilistic PCA, Tipping and Bishop 1999: a
//!   1024-wide feature from a few hundred scans has no full-rank covariance);
//! - a scan's distance is its Mahalanobis distance to the nearest class mean;
//! - the distance is read against the training scans' own distances, each measured by a model
//!   fitted without it (cross-fitting, by physical object when the data names them), as a
//!   conformal p-value: the share of training scans at least as far. Near 1 is typical, near 0
//!   is beyond what the model saw; below [`Domain::alarm_level`] the scan is flagged.
//!
//! The statistics are saved with the model (`competence.json`); fitting them on a dataset's scans
//! is the `competence` module's, above the pipeline that reads those scans. Its linear algebra is
//! [`crate::linalg`]'s.

use serde::{Deserialize, Serialize};

use crate::cloud::Axis;
use crate::error::{Error, Result};
use crate::segment::kdtree::KdTree;

/// Settings of [`Domain::fit`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FitConfig {
    /// Principal axes of the shared covariance that are kept; every other direction gets their
    /// mean variance. By default, 32.
    pub components: usize,
    /// Cross-fitting folds for the training scans' own distances. By default, 5.
    pub folds: usize,
    /// A scan with a p-value at or below this is flagged. By default, 0.01.
    pub alarm_level: f64,
}

impl Default for FitConfig {
    fn default() -> Self {
        FitConfig {
            components: 32,
            folds: 5,
            alarm_level: 0.01,
        }
    }
}

/// A class-conditional Gaussian with a shared, low-rank-plus-isotropic covariance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gaussian {
    /// One mean per class, `feature_dim` wide.
    pub means: Vec<Vec<f32>>,
    /// Each feature's within-class standard deviation (floored): features are divided by it
    /// before the covariance is taken, so that the few active features of a max-pooled ReLU
    /// layer do not drown the rest, and a feature that never varied in training counts
    /// heavily when it does.
    pub scales: Vec<f32>,
    /// The kept principal axes (unit vectors) of the within-class covariance, largest first.
    pub axes: Vec<Vec<f32>>,
    /// The variance along each kept axis.
    pub variances: Vec<f64>,
    /// The variance along every other direction: the rest of the covariance's trace, spread
    /// evenly.
    pub residual_variance: f64,
}

impl Gaussian {
    /// Fits from row-major features `[classes.len() × dim]`. Classes with no scan get no mean
    /// (an empty vector), and no scan can be near them.
    fn fit(
        features: &[f32],
        dim: usize,
        classes: &[usize],
        n_classes: usize,
        k: usize,
    ) -> Result<Gaussian> {
        let n = classes.len();
        let mut sums = vec![vec![0.0f64; dim]; n_classes];
        let mut counts = vec![0usize; n_classes];
        for (row, &c) in features.chunks_exact(dim).zip(classes) {
            counts[c] += 1;
            sums[c]
                .iter_mut()
                .zip(row)
                .for_each(|(s, &x)| *s += f64::from(x));
        }
        let present = counts.iter().filter(|&&c| c > 0).count();
        if n <= present + 1 {
            return Err(Error::Config(format!(
                "the competence statistics need more scans than classes: {n} scans of {present} classes"
            )));
        }
        let means: Vec<Vec<f64>> = sums
            .into_iter()
            .zip(&counts)
            .map(|(s, &c)| {
                if c == 0 {
                    Vec::new()
                } else {
                    s.into_iter().map(|v| v / c as f64).collect()
                }
            })
            .collect();
        let dof = (n - present) as f64;
        let mut scales = vec![0.0f64; dim];
        for (row, &c) in features.chunks_exact(dim).zip(classes) {
            for ((s, &x), m) in scales.iter_mut().zip(row).zip(&means[c]) {
                *s += (f64::from(x) - m).powi(2);
            }
        }
        scales.iter_mut().for_each(|s| *s = (*s / dof).sqrt());
        let floor = 1e-2 * scales.iter().sum::<f64>() / dim as f64;
        if !(floor > 0.0 && floor.is_finite()) {
            return Err(Error::Config(
                "the competence statistics need scans whose features differ within a class".into(),
            ));
        }
        scales.iter_mut().for_each(|s| *s = s.max(floor));
        let scatter = |i: usize, j: usize| {
            (f64::from(features[i * dim + j]) - means[classes[i]][j]) / scales[j]
        };
        // Column by column, the order of the sum this replaced, so the statistics keep their bits.
        let total: f64 = (0..dim)
            .flat_map(|j| (0..n).map(move |i| (i, j)))
            .map(|(i, j)| {
                let v = scatter(i, j);
                v * v
            })
            .sum::<f64>()
            / dof;
        if total <= 0.0 || !total.is_finite() {
            return Err(Error::Config(
                "the competence statistics need scans whose features differ within a class".into(),
            ));
        }
        let (singular_values, v_t) = crate::linalg::right_singular(n, dim, scatter)
            .ok_or_else(|| Error::Config("the principal axes could not be computed".into()))?;
        // The singular values come unsorted.
        let mut order: Vec<usize> = (0..singular_values.len()).collect();
        order.sort_by(|&a, &b| singular_values[b].total_cmp(&singular_values[a]));
        let k = k.min(order.len()).min(dim.saturating_sub(1));
        let variances: Vec<f64> = order[..k]
            .iter()
            .map(|&i| singular_values[i].powi(2) / dof)
            .collect();
        let axes = order[..k]
            .iter()
            .map(|&i| v_t[i].iter().map(|&v| v as f32).collect())
            .collect();
        // A floor keeps a direction no training scan ever moved in (a feature that is zero on
        // every training scan) from giving an infinite distance, while still counting heavily.
        let floor = 1e-6 * total / dim as f64;
        let residual_variance =
            ((total - variances.iter().sum::<f64>()) / (dim - k) as f64).max(floor);
        let variances = variances
            .into_iter()
            .map(|v| v.max(residual_variance))
            .collect();
        Ok(Gaussian {
            means: means
                .into_iter()
                .map(|m| m.into_iter().map(|v| v as f32).collect())
                .collect(),
            scales: scales.into_iter().map(|v| v as f32).collect(),
            axes,
            variances,
            residual_variance,
        })
    }

    /// The nearest class and the Mahalanobis distance to it.
    fn nearest(&self, row: &[f32]) -> (usize, f64) {
        self.distances(row)
            .into_iter()
            .enumerate()
            .fold(
                (0, f64::INFINITY),
                |best, (i, v)| if v < best.1 { (i, v) } else { best },
            )
    }

    /// The Mahalanobis distance of `feature` to each class mean (`inf` for a class with no
    /// mean).
    fn distances(&self, feature: &[f32]) -> Vec<f64> {
        self.means
            .iter()
            .map(|mean| {
                if mean.is_empty() {
                    return f64::INFINITY;
                }
                let d: Vec<f64> = feature
                    .iter()
                    .zip(mean)
                    .zip(&self.scales)
                    .map(|((&x, &m), &s)| (f64::from(x) - f64::from(m)) / f64::from(s))
                    .collect();
                let norm2: f64 = d.iter().map(|v| v * v).sum();
                let mut along = 0.0;
                let mut d2 = 0.0;
                for (axis, var) in self.axes.iter().zip(&self.variances) {
                    let p: f64 = axis.iter().zip(&d).map(|(&a, v)| f64::from(a) * v).sum();
                    along += p * p;
                    d2 += p * p / var;
                }
                (d2 + (norm2 - along).max(0.0) / self.residual_variance).sqrt()
            })
            .collect()
    }
}

/// One description of the training scans: its Gaussian, and the training scans' own distances,
/// each measured by a Gaussian fitted without the scan's fold, ascending.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub gaussian: Gaussian,
    pub calibration: Vec<f64>,
}

impl Check {
    /// Fits on row-major `rows` (`[classes.len() × dim]`), cross-fitting over `fold`.
    fn fit(
        rows: &[f32],
        dim: usize,
        classes: &[usize],
        fold: &[usize],
        n_classes: usize,
        k: usize,
    ) -> Result<Check> {
        let gaussian = Gaussian::fit(rows, dim, classes, n_classes, k)?;
        let row = |i: usize| &rows[i * dim..(i + 1) * dim];
        let mut calibration = Vec::with_capacity(classes.len());
        for f in 0..=fold.iter().copied().max().unwrap_or(0) {
            let (inside, outside): (Vec<usize>, Vec<usize>) =
                (0..classes.len()).partition(|&i| fold[i] == f);
            if inside.is_empty() {
                continue;
            }
            let rest: Vec<f32> = outside
                .iter()
                .flat_map(|&i| row(i).iter().copied())
                .collect();
            let rest_classes: Vec<usize> = outside.iter().map(|&i| classes[i]).collect();
            let held = Gaussian::fit(&rest, dim, &rest_classes, n_classes, k)?;
            for &i in &inside {
                // A class absent from the other folds (all its scans are one object) is measured
                // by the full model instead: the check is about the scan, not its class's count.
                let d = held.nearest(row(i));
                calibration.push(if d.1.is_finite() {
                    d.1
                } else {
                    gaussian.nearest(row(i)).1
                });
            }
        }
        calibration.sort_by(f64::total_cmp);
        Ok(Check {
            gaussian,
            calibration,
        })
    }

    /// The nearest class, the distance to it, its p-value against the training scans, and the
    /// distance's percentile among theirs.
    ///
    /// Up to the training scans' 90th percentile the p-value is conformal: the share of them at
    /// least as far, counting the scan. Beyond it, an exponential tail fitted to the farthest
    /// tenth (peaks over threshold) carries on, so that a scan far beyond every training scan
    /// gets a p-value far below 1/(n+1), and a model trained on few scans can still flag one.
    fn assess(&self, row: &[f32]) -> (usize, f64, f64, f64) {
        let (class, distance) = self.gaussian.nearest(row);
        let cal = &self.calibration;
        let n = cal.len();
        let below = cal.partition_point(|&c| c < distance);
        let percentile = 100.0 * below as f64 / n.max(1) as f64;
        let tail = (n / 10).max(5).min(n.saturating_sub(1));
        let threshold = cal[n - 1 - tail];
        let excess =
            cal[n - tail..].iter().map(|c| c - threshold).sum::<f64>() / tail.max(1) as f64;
        let p = if distance > threshold && excess > 0.0 {
            (tail + 1) as f64 / (n + 1) as f64 * (-(distance - threshold) / excess).exp()
        } else {
            (n - below + 1) as f64 / (n + 1) as f64
        };
        (class, distance, p, percentile)
    }

    fn check(&self, dim: usize, n_classes: usize) -> std::result::Result<(), String> {
        let g = &self.gaussian;
        if g.means.len() != n_classes
            || g.means.iter().any(|m| !m.is_empty() && m.len() != dim)
            || g.axes.iter().any(|a| a.len() != dim)
            || g.axes.len() != g.variances.len()
            || g.scales.len() != dim
            || g.scales.iter().any(|s| !(*s > 0.0 && s.is_finite()))
            || g.variances
                .iter()
                .chain([&g.residual_variance])
                .any(|v| !(*v > 0.0 && v.is_finite()))
        {
            return Err(format!(
                "its statistics are not of a {dim}-wide description of {n_classes} classes"
            ));
        }
        if self.calibration.len() < 2 || !self.calibration.is_sorted() {
            return Err("it needs at least two training distances, in ascending order".into());
        }
        Ok(())
    }
}

/// Width of [`shape`].
pub const SHAPE_DIM: usize = 11;

/// Eleven scale-free numbers about a cloud's geometry and sampling, in the model frame with `up` its
/// up axis: the network's feature says how the scan looks to a network trained to tell its
/// classes apart, which need not notice that a scan is of another kind of object or sensor
/// (a species classifier has no reason to encode "a plant"); these say it directly.
///
/// 1–2. the largest and smallest eigenvalue of the covariance, as shares of its trace
///      (linear, flat or round);
/// 3. the share of the variance along `up` (tall or flat);
/// 4. the skewness along `up` (mass low or high);
/// 5–7. the 10th, 50th and 90th percentile of the distance from the centroid, over the RMS
///      distance (hollow or filled);
/// 8. the log of the median nearest-neighbour distance over the RMS distance (sampling density);
/// 9. the log of the ratio of the 90th to the 50th percentile of nearest-neighbour distances
///    (even or clumped sampling); 8 and 9 between distinct positions;
/// 10. the share of points that repeat a position (a scan smaller than the network's input);
/// 11. the share of points on or below a ground plane (within 3% of the RMS distance of a
///     near-horizontal plane with at most 5% of the points under it, as `--remove-ground`
///     finds it): a whole object has none, an object scanned standing on the ground a lot.
pub fn shape(points: &[[f32; 3]], up: Axis) -> Vec<f32> {
    let n = points.len().max(1) as f64;
    let mut c = [0.0f64; 3];
    for p in points {
        (0..3).for_each(|i| c[i] += f64::from(p[i]) / n);
    }
    let centred: Vec<[f64; 3]> = points
        .iter()
        .map(|p| std::array::from_fn(|i| f64::from(p[i]) - c[i]))
        .collect();
    let mut cov = [[0.0f64; 3]; 3];
    for p in &centred {
        for (r, row) in cov.iter_mut().enumerate() {
            for (c, v) in row.iter_mut().enumerate() {
                *v += p[r] * p[c] / n;
            }
        }
    }
    let trace = (cov[0][0] + cov[1][1] + cov[2][2]).max(f64::MIN_POSITIVE);
    let mut eig = crate::linalg::symmetric_eigenvalues3(cov);
    eig.sort_by(f64::total_cmp);
    let rms = trace.sqrt();
    let u = up.index();
    let sd_up = cov[u][u].sqrt().max(f64::MIN_POSITIVE);
    let skew = centred.iter().map(|p| (p[u] / sd_up).powi(3)).sum::<f64>() / n;
    let mut radial: Vec<f64> = centred
        .iter()
        .map(|p| (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt() / rms)
        .collect();
    radial.sort_by(f64::total_cmp);
    // Spacing is measured between distinct positions: a scan smaller than the network's input
    // is drawn with repeats, which the share of copies counts on its own, and which would
    // otherwise put a zero spacing, and a ratio without bound, on such scans.
    let mut distinct: Vec<[f32; 3]> = points.to_vec();
    distinct.sort_by(|a, b| {
        a.iter()
            .zip(b)
            .fold(std::cmp::Ordering::Equal, |o, (x, y)| {
                o.then(x.total_cmp(y))
            })
    });
    distinct.dedup();
    let copies = 1.0 - distinct.len() as f64 / n;
    let tree = KdTree::new(&distinct);
    let mut nn: Vec<f64> = distinct
        .iter()
        .map(|p| {
            tree.nearest_n(p, 2)
                .get(1)
                .map_or(0.0, |&(_, d2)| f64::from(d2).sqrt() / rms)
        })
        .collect();
    nn.sort_by(f64::total_cmp);
    let q = |v: &[f64], f: f64| {
        v.get(((v.len() as f64 - 1.0) * f).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    let nn50 = q(&nn, 0.5);
    let floor = 1e-6;
    [
        eig[2] / trace,
        eig[0] / trace,
        cov[u][u] / trace,
        skew,
        q(&radial, 0.1),
        q(&radial, 0.5),
        q(&radial, 0.9),
        (nn50 + floor).ln(),
        ((q(&nn, 0.9) + floor) / (nn50 + floor)).ln(),
        copies,
        crate::scene::ground_share(points, up, 0.03 * rms, 0),
    ]
    .iter()
    .map(|&v| v as f32)
    .collect()
}

/// What a model's training scans looked like, saved as `competence.json` beside the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Domain {
    /// Width of the classifier's feature (`Classifier::embed`).
    pub feature_dim: usize,
    /// The model's classes.
    pub class_names: Vec<String>,
    /// Training scans per class.
    pub counts: Vec<usize>,
    /// The training scans' features.
    pub feature: Check,
    /// The training scans' [`shape`]s.
    pub shape: Check,
    /// A scan whose competence is at or below this is flagged as outside the domain.
    pub alarm_level: f64,
    /// How the statistics were made.
    pub settings: FitConfig,
    /// The data they were made from, in words (a path and split).
    pub data: String,
}

/// How competent the model is on one scan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Competence {
    /// How typical the scan is of the model's training scans, from about 1/n (beyond all n of
    /// them) to 1: the smaller of the feature's and the shape's p-values, doubled (Bonferroni),
    /// so that a scan of the training domain falls at or below a level α with probability at
    /// most about α.
    pub score: f64,
    /// Whether the score is above the alarm level: the scan looks like the training data.
    pub in_domain: bool,
    /// The alarm level of the model's statistics.
    pub alarm_level: f64,
    /// The share of the training scans (each measured by statistics fitted without it) whose
    /// feature is at least as far from its nearest class as this scan's, counting the scan.
    pub feature_score: f64,
    /// The same for the [`shape`].
    pub shape_score: f64,
    /// Mahalanobis distance of the scan's feature to the nearest class mean.
    pub distance: f64,
    /// That class.
    pub nearest_class: String,
    /// The percentile of the distance among the training scans' (100: farther than all).
    pub percentile: f64,
}

impl Domain {
    /// Fits the statistics from the training scans' features (row-major `[classes.len() ×
    /// feature_dim]`), shapes (`[classes.len() × SHAPE_DIM]`) and classes; `groups` (one per
    /// scan, or empty) keeps every physical object in one cross-fitting fold, so that a scan is
    /// never measured against another scan of itself.
    ///
    /// # Errors
    /// [`Error::Config`] for too few scans, or features with no spread.
    pub fn fit(
        features: &[f32],
        shapes: &[f32],
        classes: &[usize],
        groups: &[Option<String>],
        class_names: &[String],
        config: FitConfig,
        data: String,
    ) -> Result<Domain> {
        let n = classes.len();
        if n == 0
            || !features.len().is_multiple_of(n)
            || shapes.len() != n * SHAPE_DIM
            || classes.iter().any(|&c| c >= class_names.len())
        {
            return Err(Error::Config(format!(
                "{} features and {} shape values for {n} scans of {} classes",
                features.len(),
                shapes.len(),
                class_names.len()
            )));
        }
        let dim = features.len() / n;
        let c = class_names.len();
        let folds = config.folds.clamp(2, n);
        let fold: Vec<usize> = (0..n)
            .map(|i| match groups.get(i).and_then(Option::as_ref) {
                Some(g) => (crc32fast::hash(g.as_bytes()) as usize) % folds,
                None => i % folds,
            })
            .collect();
        let mut counts = vec![0usize; c];
        classes.iter().for_each(|&k| counts[k] += 1);
        Ok(Domain {
            feature_dim: dim,
            class_names: class_names.to_vec(),
            counts,
            feature: Check::fit(features, dim, classes, &fold, c, config.components)?,
            shape: Check::fit(shapes, SHAPE_DIM, classes, &fold, c, config.components)?,
            alarm_level: config.alarm_level,
            settings: config,
            data,
        })
    }

    /// [`check`](Self::check) as a model's load reports it: an [`Error::Model`] naming `source`,
    /// the file the statistics came from.
    ///
    /// # Errors
    /// [`Error::Model`] when the statistics do not fit.
    pub fn check_for(
        &self,
        class_names: &[String],
        feature_dim: usize,
        source: &std::path::Path,
    ) -> Result<()> {
        self.check(class_names, feature_dim)
            .map_err(|m| Error::Model {
                path: source.to_path_buf(),
                message: format!("competence statistics do not fit the model: {m}"),
            })
    }

    /// Checks that the statistics belong to a model of these classes and feature width.
    ///
    /// # Errors
    /// A message saying what differs.
    pub fn check(
        &self,
        class_names: &[String],
        feature_dim: usize,
    ) -> std::result::Result<(), String> {
        if self.class_names != class_names {
            return Err(format!(
                "its classes {:?} are not the model's {class_names:?}",
                self.class_names
            ));
        }
        if self.feature_dim != feature_dim {
            return Err(format!(
                "its feature is {} wide, the model's {feature_dim}",
                self.feature_dim
            ));
        }
        self.feature.check(feature_dim, class_names.len())?;
        let width = self.shape.gaussian.scales.len();
        if width != SHAPE_DIM {
            return Err(format!(
                "its shape description is {width} numbers wide, this pointlime's {SHAPE_DIM}: \
                 they were recorded by an earlier version; record them again with \
                 `pointlime competence --fit DATA`"
            ));
        }
        self.shape.check(SHAPE_DIM, class_names.len())?;
        if !(0.0..1.0).contains(&self.alarm_level) {
            return Err(format!(
                "its alarm level {} is outside [0, 1)",
                self.alarm_level
            ));
        }
        Ok(())
    }

    /// How competent the model is on a scan with this feature and [`shape`].
    pub fn assess(&self, feature: &[f32], shape: &[f32]) -> Competence {
        let (nearest, distance, feature_score, percentile) = self.feature.assess(feature);
        let (_, _, shape_score, _) = self.shape.assess(shape);
        let score = (2.0 * feature_score.min(shape_score)).min(1.0);
        Competence {
            score,
            in_domain: score > self.alarm_level,
            alarm_level: self.alarm_level,
            feature_score,
            shape_score,
            distance,
            nearest_class: self.class_names[nearest].clone(),
            percentile,
        }
    }
}

/// A competence for people: three decimals, or two significant digits below 0.001 (a scan far
/// outside the domain has a score of 1e-9, not 0.000).
pub fn format_score(v: f64) -> String {
    if v >= 1e-3 || v == 0.0 {
        format!("{v:.3}")
    } else {
        format!("{v:.1e}")
    }
}

/// The warning `explain` and `batch` print for a scan outside the domain, one line naming it.
pub fn warning(input: &std::path::Path, c: &Competence) -> String {
    format!(
        "{}: outside what the model was trained on (competence {} ≤ {}: feature {}, shape {}; nearest class {}); its class and explanation are not to be trusted",
        input.display(),
        format_score(c.score),
        c.alarm_level,
        format_score(c.feature_score),
        format_score(c.shape_score),
        c.nearest_class
    )
}

/// Reads competence statistics written by [`fit_items`] (a model's `competence.json`).
///
/// # Errors
/// [`Error::Io`] or [`Error::Model`] naming `path`.
pub fn read_domain(path: &std::path::Path) -> Result<Domain> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::Model {
        path: path.to_path_buf(),
        message: format!(
            "cannot read competence statistics: {}",
            crate::error::json_problem(&e)
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Two classes in 40 dimensions: each a mean plus noise in a few directions.
    fn blobs(n: usize, seed: u64, shift: f32) -> (Vec<f32>, Vec<usize>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..n {
            let c = i % 2;
            for j in 0..40 {
                let mean = if j == c { 5.0 } else { 0.0 };
                let spread = if j < 6 { 1.0 } else { 0.05 };
                x.push(mean + shift + spread * (rng.random::<f32>() - 0.5) * 3.4);
            }
            y.push(c);
        }
        (x, y)
    }

    /// Shapes of random clouds in a box of the given extents.
    fn boxes(n: usize, seed: u64, extent: [f32; 3]) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n)
            .flat_map(|_| {
                let points: Vec<[f32; 3]> = (0..256)
                    .map(|_| std::array::from_fn(|i| extent[i] * rng.random::<f32>()))
                    .collect();
                shape(&points, Axis::Z)
            })
            .collect()
    }

    fn names() -> Vec<String> {
        vec!["a".into(), "b".into()]
    }

    fn fit(n: usize, groups: &[Option<String>], components: usize) -> Domain {
        let (x, y) = blobs(n, 1, 0.0);
        let config = FitConfig {
            components,
            ..Default::default()
        };
        Domain::fit(
            &x,
            &boxes(n, 1, [1.0, 1.0, 3.0]),
            &y,
            groups,
            &names(),
            config,
            "test".into(),
        )
        .unwrap()
    }

    #[test]
    fn new_scans_of_the_training_domain_pass_and_shifted_ones_are_flagged() {
        let domain = fit(200, &[], 4);
        domain.check(&names(), 40).unwrap();
        let (same, _) = blobs(200, 2, 0.0);
        let tall = boxes(200, 2, [1.0, 1.0, 3.0]);
        let scores: Vec<Competence> = same
            .chunks(40)
            .zip(tall.chunks(SHAPE_DIM))
            .map(|(f, s)| domain.assess(f, s))
            .collect();
        let flagged = scores.iter().filter(|c| !c.in_domain).count();
        assert!(flagged <= 10, "{flagged} of 200 in-domain scans flagged");
        assert_eq!(scores[0].nearest_class, "a");
        // A shift along directions the training scans barely moved in is far, though small.
        let (moved, _) = blobs(50, 3, 0.5);
        for (f, s) in moved.chunks(40).zip(tall.chunks(SHAPE_DIM)) {
            let c = domain.assess(f, s);
            assert!(!c.in_domain && c.percentile == 100.0, "{c:?}");
            // Beyond every training scan, the tail carries the p-value below 1/(n+1).
            assert!(c.feature_score < 1.0 / 201.0, "{c:?}");
            assert_eq!(c.score, (2.0 * c.feature_score.min(c.shape_score)).min(1.0));
        }
        // A familiar feature on a flat scan: the shape alone flags it.
        let flat = boxes(50, 4, [3.0, 3.0, 0.1]);
        let mut by_feature = 0;
        for (f, s) in same.chunks(40).zip(flat.chunks(SHAPE_DIM)) {
            let c = domain.assess(f, s);
            assert!(!c.in_domain && c.shape_score < 1e-6, "{c:?}");
            by_feature += usize::from(c.feature_score <= 0.01);
        }
        assert!(by_feature <= 3, "{by_feature} of 50");
    }

    #[test]
    fn scans_of_one_group_share_a_fold() {
        let groups: Vec<Option<String>> = (0..60).map(|i| Some(format!("g{}", i / 3))).collect();
        let a = fit(60, &groups, 3);
        let b = fit(60, &[], 3);
        assert_eq!(a.feature.calibration.len(), 60);
        assert_ne!(a.feature.calibration, b.feature.calibration);
        assert_eq!(a.feature.gaussian, b.feature.gaussian);
    }

    #[test]
    fn shape_is_scale_free_and_sees_copies() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let points: Vec<[f32; 3]> = (0..300)
            .map(|_| std::array::from_fn(|_| rng.random::<f32>()))
            .collect();
        let big: Vec<[f32; 3]> = points.iter().map(|p| p.map(|v| 40.0 * v)).collect();
        let (a, b) = (shape(&points, Axis::Z), shape(&big, Axis::Z));
        assert!(
            a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-3),
            "{a:?} vs {b:?}"
        );
        assert_eq!(a[9], 0.0);
        // Drawn twice, as a scan smaller than the network's input is: half the points repeat a
        // position, and the spacing between distinct positions is the scan's own (it was 0, and
        // its spread unbounded, when the copies counted as neighbours).
        let doubled: Vec<[f32; 3]> = points.iter().chain(&points).copied().collect();
        let d = shape(&doubled, Axis::Z);
        assert_eq!(d[9], 0.5);
        assert!(
            (d[7] - a[7]).abs() < 1e-6 && (d[8] - a[8]).abs() < 1e-6,
            "{d:?} vs {a:?}"
        );
        // No ground under a cube of points; a third of the points on a plane under it are.
        assert_eq!(a[10], 0.0);
        let mut on_ground = points.clone();
        on_ground.extend((0..150).map(|_| {
            [
                3.0 * rng.random::<f32>() - 1.0,
                3.0 * rng.random::<f32>() - 1.0,
                -0.5,
            ]
        }));
        let g = shape(&on_ground, Axis::Z)[10];
        assert!((g - 1.0 / 3.0).abs() < 0.02, "ground share {g}");
        // The same plane upright (x up) is a wall, not ground.
        assert!(shape(&on_ground, Axis::X)[10] < 0.1);
    }

    #[test]
    fn statistics_of_another_model_are_refused() {
        let domain = fit(40, &[], 32);
        assert!(domain.check(&names(), 41).is_err());
        assert!(domain.check(&["a".into(), "c".into()], 40).is_err());
        let (x, y) = blobs(2, 1, 0.0);
        let few = Domain::fit(
            &x,
            &boxes(2, 1, [1.0; 3]),
            &y,
            &[],
            &names(),
            FitConfig::default(),
            String::new(),
        );
        assert!(few.is_err());
    }
}
