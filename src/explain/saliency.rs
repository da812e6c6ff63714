//! Point-cloud saliency (Zheng et al., "PointCloud Saliency Maps", ICCV 2019): moving a point
//! towards the cloud's centre is how a point cloud "loses" it, so a point's saliency is
//! `−r^(1+α) · ∂L/∂r`, with `r` its distance to the per-axis median centre, `L = −log p(class)` and
//! `∂L/∂r = ∇L · (p − c) / r`. Positive saliency: pulling the point in would raise the loss, so it
//! supports the class. Segment values are sums over the segment's points.

use super::attribution::{register, Attribution, Method, Needs, Spec, Targets};
use super::config::Config;
use super::gradient::{by_backprop, by_segment, gradients, PointAttribution};
use super::input::Input;
use crate::classifier::{Classifier, Output};
use crate::error::Result;
use crate::stats::median;

/// Zheng et al.'s point-cloud saliency (α = 1) per point, summed per segment.
pub const SALIENCY: Method = Method::new(&SPEC);
register!(SALIENCY);

static SPEC: Spec = Spec {
    name: "saliency",
    order: 50,
    summary: "Zheng et al. 2019, per point, summed per supervoxel",
    random: false,
    surrogate: false,
    needs: Needs::Gradients,
    settings: None,
    run: |classifier, input, targets, config, _| saliency(classifier, input, targets, config),
};

/// Zheng et al.'s saliency (α = 1) on every target: [`point_saliency`] per class. Saliency
/// differentiates the loss −log p, whatever score the configuration explains.
///
/// # Errors
/// As [`gradient`](super::gradient::gradient).
pub fn saliency(
    classifier: &dyn Classifier,
    input: &Input,
    targets: &Targets,
    config: &Config,
) -> Result<Attribution> {
    by_backprop(SALIENCY, classifier, input, targets, config, |t| {
        point_saliency(
            classifier,
            input.points,
            input.labels,
            input.n_segments,
            t,
            1.0,
        )
    })
}

/// The per-axis median of the points.
fn median_centre(points: &[[f32; 3]]) -> [f64; 3] {
    std::array::from_fn(|a| median(points.iter().map(|p| p[a] as f64)))
}

/// Zheng et al.'s point-cloud saliency `−r^(1+α) · ∂L/∂r` per point, summed per segment.
///
/// # Errors
/// As [`point_gradient`](super::gradient::point_gradient).
pub fn point_saliency(
    classifier: &dyn Classifier,
    points: &[[f32; 3]],
    labels: &[u32],
    n_segments: usize,
    class: usize,
    alpha: f64,
) -> Result<PointAttribution> {
    let g = gradients(classifier, points, labels, class, Output::Probability)?;
    let p = classifier.predict(&[points], Output::Probability)?[class] as f64;
    // ∇L = ∇(−log p) = −∇p / p; the floor keeps a vanishing probability finite.
    let inv_p = 1.0 / p.max(1e-12);
    let c = median_centre(points);
    let values = points
        .iter()
        .zip(&g)
        .map(|(q, d)| {
            let v: [f64; 3] = std::array::from_fn(|a| q[a] as f64 - c[a]);
            let r = v.iter().map(|x| x * x).sum::<f64>().sqrt();
            if r == 0.0 {
                return 0.0;
            }
            let dl_dr = -(0..3).map(|a| d[a] as f64 * v[a]).sum::<f64>() * inv_p / r;
            -r.powf(1.0 + alpha) * dl_dr
        })
        .collect();
    Ok(by_segment(values, labels, n_segments))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::explain::gradient::tests::line;

    #[test]
    fn saliency_by_hand() {
        let (model, points, labels) = line();
        // saliency = −r²·∂L/∂r with ∂L/∂r = −(∇p·v)/(p r): for (2, 0, 0), −4·(−0.2/(0.5·2)) = 0.8.
        let s = point_saliency(&model, &points, &labels, 2, 0, 1.0).unwrap();
        let want = [0.2, -0.2, 0.8, 0.0, -0.8];
        for (v, w) in s.per_point.iter().zip(&want) {
            assert!((v - w).abs() < 1e-6, "{:?}", s.per_point);
        }
        assert!((s.per_segment[0] + 0.8).abs() < 1e-6 && (s.per_segment[1] - 0.8).abs() < 1e-6);
    }
}
