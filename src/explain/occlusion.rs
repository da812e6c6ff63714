//! Occlusion (Zeiler and Fergus, ECCV 2014) with two occluders.
//!
//! **Over segments** ([`occlusion`]): each segment's importance is the score lost when it alone
//! is removed.
//!
//! **Sliding ball** ([`ball_occlusion`], issue #18, item 5): MATLAB's occlusion sensitivity
//! (`MaskSize`, `Stride`) carried to points. Balls of radius `r` are centred on a grid of stride
//! `s` over the cloud's bounding box, and every ball that holds a point is one occlusion: the
//! score lost when the points inside it are removed (by the configured removal, as for every
//! mask). A point's value is the mean loss over the occlusions that covered it; a segment's, the
//! sum over its points. `r` and `s` are in the scan's units; by default both are a quarter of the
//! scan's radius, which covers every point (see [`BallConfig`]). The
//! occlusions are scored as masks over single points, so every scoring path applies, the exact
//! max-pool path included.

use serde::{Deserialize, Serialize};

use super::attribution::{register, Attribution, Explanation, Method, Needs, Spec, Targets};
use super::config::{Config, Flag, FlagValue, MethodSettings, SettingsSpec};
use super::input::Input;
use super::masked::explain_masks;
use super::score::Progress;
use super::smoothgrad::radius;
use crate::classifier::Classifier;
use crate::error::{Error, Result};
use crate::perturb::Masks;
use crate::segment::KdTree;

/// Occlusion: leave one segment out.
pub const OCCLUSION: Method = Method::new(&OCCLUSION_SPEC);
register!(OCCLUSION);

static OCCLUSION_SPEC: Spec = Spec {
    name: "occlusion",
    order: 30,
    summary: "leave one supervoxel out",
    random: false,
    surrogate: false,
    needs: Needs::Scores,
    settings: None,
    run: occlusion,
};

/// Sliding-ball occlusion: balls removed one at a time, each point given the mean loss of the
/// balls that covered it.
pub const BALL_OCCLUSION: Method = Method::new(&BALL_SPEC);
register!(BALL_OCCLUSION);

static BALL_SPEC: Spec = Spec {
    name: "ballocclusion",
    order: 150,
    summary: "balls of --ball-radius on a grid of --ball-stride removed one at a time; each \
              point gets the mean loss of the balls that covered it",
    random: false,
    surrogate: false,
    needs: Needs::Scores,
    settings: Some(SettingsSpec::of::<BallConfig>(&[
        Flag {
            long: "ball-radius",
            key: "radius",
            value_name: "LENGTH",
            help: "ballocclusion: ball radius in file units [default: a quarter of the scan's \
                   radius]",
            value: FlagValue::Number,
        },
        Flag {
            long: "ball-stride",
            key: "stride",
            value_name: "LENGTH",
            help: "ballocclusion: spacing of the ball centres' grid in file units [default: a \
                   quarter of the scan's radius]",
            value: FlagValue::Number,
        },
    ])),
    run: ball_occlusion,
};

/// Settings of sliding-ball occlusion: balls of `radius` centred on a grid of `stride`, in the
/// scan's units. By default (`None`), [`DEFAULT_BALL`] of the scan's radius for both, so that
/// every point lies in at least one ball (a grid cell's farthest point is `stride · √3 / 2` from
/// its nearest centre).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BallConfig {
    pub radius: Option<f64>,
    pub stride: Option<f64>,
}

impl MethodSettings for BallConfig {
    const METHOD: &'static str = "ballocclusion";

    fn validate(&self) -> Result<()> {
        for (name, v) in [("radius", self.radius), ("stride", self.stride)] {
            if let Some(v) = v.filter(|v| !(*v > 0.0 && v.is_finite())) {
                return Err(Error::Config(format!(
                    "ball {name} must be positive, got {v}"
                )));
            }
        }
        Ok(())
    }
}

/// A share of the scan's radius: the default ball radius and stride.
pub const DEFAULT_BALL: f64 = 0.25;

/// The occluding balls of radius `r` on a grid of stride `s` (model units) over `points`: for
/// each ball that holds a point, the indices of its points, ascending.
pub fn balls(points: &[[f32; 3]], r: f64, s: f64) -> Vec<Vec<u32>> {
    if points.is_empty() {
        return Vec::new();
    }
    let mut lo = [f32::INFINITY; 3];
    let mut hi = [f32::NEG_INFINITY; 3];
    for p in points {
        for a in 0..3 {
            lo[a] = lo[a].min(p[a]);
            hi[a] = hi[a].max(p[a]);
        }
    }
    let steps: [usize; 3] =
        std::array::from_fn(|a| ((hi[a] - lo[a]) as f64 / s).ceil().max(0.0) as usize + 1);
    let tree = KdTree::new(points);
    let mut out = Vec::new();
    for i in 0..steps[0] {
        for j in 0..steps[1] {
            for k in 0..steps[2] {
                let c = [i, j, k];
                let centre: [f32; 3] = std::array::from_fn(|a| lo[a] + (c[a] as f64 * s) as f32);
                let inside = tree.within(&centre, r as f32);
                if !inside.is_empty() {
                    out.push(inside);
                }
            }
        }
    }
    out
}

/// Occlusion's masks: row 0 keeps every segment, row `1 + s` all but segment `s`.
pub fn occlusion_masks(n_segments: usize) -> Masks {
    let rows: Vec<Vec<u8>> = std::iter::once(vec![1u8; n_segments])
        .chain((0..n_segments).map(|s| {
            let mut r = vec![1u8; n_segments];
            r[s] = 0;
            r
        }))
        .collect();
    Masks::from_rows(n_segments, &rows)
}

/// Occlusion of every target: the score with every segment kept minus the score with one segment
/// removed, all targets from one pass over the K + 1 masks.
///
/// # Errors
/// [`Error::Config`](crate::Error::Config) for invalid settings, input or targets; classifier
/// errors as they come.
pub fn occlusion(
    classifier: &dyn Classifier,
    input: &Input,
    targets: &Targets,
    config: &Config,
    progress: Option<&Progress>,
) -> Result<Attribution> {
    config.check(input)?;
    let names = classifier.class_names();
    let masks = occlusion_masks(input.n_segments);
    explain_masks(
        classifier,
        input,
        targets,
        config,
        progress,
        masks,
        |t, scores, masks| {
            let f_all = scores[0];
            let drops = (0..input.n_segments)
                .map(|s| f_all - scores[s + 1])
                .collect();
            Explanation::plain(OCCLUSION, t, names, drops, f_all, masks.len(), config.seed)
        },
    )
}

/// Sliding-ball occlusion of every target (see the module): all targets from one pass over the
/// balls.
///
/// # Errors
/// [`Error::Config`](crate::Error::Config) for invalid settings, input or targets; classifier
/// errors as they come.
pub fn ball_occlusion(
    classifier: &dyn Classifier,
    input: &Input,
    targets: &Targets,
    config: &Config,
    progress: Option<&Progress>,
) -> Result<Attribution> {
    config.check(input)?;
    let settings: BallConfig = config.settings()?;
    let n = input.points.len();
    let default = DEFAULT_BALL * radius(input.points);
    let r = settings.radius.map_or(default, |v| v / input.scale);
    let s = settings.stride.map_or(default, |v| v / input.scale);
    let balls = balls(input.points, r, s);
    // Every point its own segment: a ball is a mask over points.
    let singles: Vec<u32> = (0..n as u32).collect();
    let per_point = Input {
        labels: &singles,
        n_segments: n,
        ..*input
    };
    let mut rows = vec![vec![1u8; n]];
    rows.extend(balls.iter().map(|ball| {
        let mut row = vec![1u8; n];
        ball.iter().for_each(|&i| row[i as usize] = 0);
        row
    }));
    let masks = Masks::from_rows(n, &rows);
    let mut covered = vec![0usize; n];
    balls
        .iter()
        .flatten()
        .for_each(|&i| covered[i as usize] += 1);
    let names = classifier.class_names();
    let point_values = |scores: &[f64]| -> Vec<f64> {
        let mut sum = vec![0.0; n];
        for (b, ball) in balls.iter().enumerate() {
            let drop = scores[0] - scores[b + 1];
            ball.iter().for_each(|&i| sum[i as usize] += drop);
        }
        sum.iter()
            .zip(&covered)
            .map(|(v, &c)| if c == 0 { 0.0 } else { v / c as f64 })
            .collect()
    };
    // Each target's point values, kept as its explanation is made (targets come in order).
    let values = std::cell::RefCell::new(Vec::new());
    let mut a = explain_masks(
        classifier,
        &per_point,
        targets,
        config,
        progress,
        masks,
        |t, scores, masks| {
            let point = point_values(scores);
            let mut per_segment = vec![0.0; input.n_segments];
            for (v, &l) in point.iter().zip(input.labels) {
                per_segment[l as usize] += v;
            }
            values.borrow_mut().push(point);
            Explanation::plain(
                BALL_OCCLUSION,
                t,
                names,
                per_segment,
                scores[0],
                masks.len(),
                config.seed,
            )
        },
    )?;
    // The samples are masks over points, not over the input's segments: not kept.
    a.samples = None;
    a.per_point = values.into_inner();
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balls_on_a_grid_cover_every_point_as_often_as_counted_by_hand() {
        // Points on a line at 0, 1, …, 4; radius 1, stride 2: centres at 0, 2, 4 (the box is
        // flat in y and z). Ball 0 holds 0 and 1, ball 2 holds 1, 2, 3, ball 4 holds 3 and 4.
        let points: Vec<[f32; 3]> = (0..5).map(|i| [i as f32, 0.0, 0.0]).collect();
        let b = balls(&points, 1.0, 2.0);
        assert_eq!(b, vec![vec![0, 1], vec![1, 2, 3], vec![3, 4]]);
        let mut covered = [0; 5];
        b.iter().flatten().for_each(|&i| covered[i as usize] += 1);
        assert_eq!(covered, [1, 2, 1, 2, 1]);
        // Radius equal to the stride covers every point of a 3-D cloud.
        let cloud: Vec<[f32; 3]> = (0..200)
            .map(|i| {
                let t = i as f32 * 0.37;
                [t.sin(), (1.3 * t).cos(), (0.7 * t).sin() * 0.5]
            })
            .collect();
        let mut seen = vec![false; cloud.len()];
        for ball in balls(&cloud, 0.3, 0.3) {
            ball.iter().for_each(|&i| seen[i as usize] = true);
        }
        assert!(seen.iter().all(|&s| s));
    }

    #[test]
    fn a_point_gets_the_mean_drop_of_the_balls_that_covered_it() {
        use crate::explain::gradient::tests::line;
        // Class 0's probability is 0.5 + 0.1 · Σ x over the five points; removal by centroid puts
        // removed points at the origin, so removing a ball loses 0.1 · Σ x over it.
        let (model, _, _) = line();
        let points: Vec<[f32; 3]> = (0..5).map(|i| [i as f32, 0.0, 0.0]).collect();
        let labels = [0, 0, 1, 1, 1];
        let input = Input::new(&points, &labels, 2).unwrap();
        let mut config = Config::default();
        config.scoring.output = crate::classifier::Output::Probability;
        config.scoring.removal = crate::perturb::Removal::Centroid;
        config
            .set(&BallConfig {
                radius: Some(1.0),
                stride: Some(2.0),
            })
            .unwrap();
        let a = ball_occlusion(&model, &input, &Targets::Classes(vec![0]), &config, None).unwrap();
        // Drops: ball {0,1} 0.1, ball {1,2,3} 0.6, ball {3,4} 0.7.
        let want = [0.1, 0.35, 0.6, 0.65, 0.7];
        for (v, w) in a.per_point[0].iter().zip(want) {
            assert!((v - w).abs() < 1e-6, "{:?}", a.per_point);
        }
        let e = &a.explanations[0];
        assert!((e.coefficients[0] - 0.45).abs() < 1e-6 && (e.coefficients[1] - 1.95).abs() < 1e-6);
        assert_eq!(e.n_samples, 4);
    }

    #[test]
    fn each_row_after_the_first_removes_one_segment() {
        let m = occlusion_masks(3);
        let rows: Vec<&[u8]> = (0..m.len()).map(|i| m.row(i)).collect();
        assert_eq!(rows, [&[1, 1, 1][..], &[0, 1, 1], &[1, 0, 1], &[1, 1, 0]]);
    }
}
