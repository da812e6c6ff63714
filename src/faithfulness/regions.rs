//! Faithfulness of a per-point model's explanations, region by region (issue #29, item 6).
//!
//! A region read as a classifier ([`Region`]: the mean score of its points) is what a per-point
//! explanation explains, so every measure of [`evaluate_object`](super::evaluate_object) applies
//! to it unchanged: the deletion and insertion curves of the region's score against random
//! orders, the model randomisation check (the same region on the re-initialised network) and
//! seed stability. Beside them, the protocol of pGS-CAM (Grad-CAM for point-cloud
//! segmentation): drop the points an explanation ranks first, and those it ranks last, and
//! measure the region's IoU: the region's points against the points the model gives its class in
//! the cloud that remains. A faithful explanation loses more IoU to its top points than to its
//! bottom ones.

use serde::{Deserialize, Serialize};

use super::object::{evaluate_input, ObjectResult, Setup};
use crate::classifier::{Output, Region};
use crate::cloud::PointCloud;
use crate::error::{Error, Result};
use crate::explain::Method;
use crate::perturb::apply;
use crate::pipeline::{model_input_with_segments, resolve, scene_cloud};
use crate::stats::{median, ranking, top_k};

/// The shares of the network's input points dropped for the IoU protocol.
pub const IOU_FRACTIONS: [f64; 2] = [0.1, 0.2];

/// One method's IoU protocol on one region at one share of the points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IouCheck {
    /// The method whose ranking was followed.
    pub method: Method,
    /// The share of the input points asked to be dropped; whole segments are dropped, in the
    /// explanation's order, until at least this share is gone.
    pub fraction: f64,
    /// The region's IoU in the unperturbed cloud (1 for a `class=C` region, whose points are
    /// those the model calls C).
    pub unperturbed: f64,
    /// The IoU after dropping the segments ranked first.
    pub drop_top: f64,
    /// The IoU after dropping the segments ranked last.
    pub drop_bottom: f64,
}

/// Every measure on one region of one scan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegionResult {
    /// The region (`class=C`, …) and its name in output fields.
    pub region: String,
    /// Its points among the network's input.
    pub points: usize,
    /// The measures of [`evaluate_input`] on the region's score; its `truth` is the class the
    /// region is explained for, its `predicted` the class its mean probability ranks first.
    pub object: ObjectResult,
    /// The IoU protocol, per method and share.
    pub iou: Vec<IouCheck>,
}

/// Evaluates `setup.methods` on every region of `setup.config.regions` (by default each class the
/// model predicts for enough input points) of one validated cloud, after its scene steps.
/// `setup.classifier` is the per-point model, `setup.randomised` its re-initialised copy; layer
/// steps are not run per region.
///
/// # Errors
/// [`Error::Config`] for a model without per-point scores, as [`evaluate_input`] and
/// [`resolve`] otherwise.
pub fn evaluate_regions(
    cloud: &PointCloud,
    path: &str,
    setup: &Setup,
) -> Result<Vec<RegionResult>> {
    let not_per_point = || Error::Config("the model scores whole clouds, not points".into());
    setup.classifier.per_point().ok_or_else(not_per_point)?;
    let config = setup.config;
    if let Some(m) = setup.classifier.channels().missing(cloud) {
        return Err(Error::Scan(m));
    }
    let (kept, _, _) = scene_cloud(cloud, config)?;
    let input = model_input_with_segments(&kept, setup.classifier, config)?;
    // Both networks read this scan's channels, when they read any.
    let (model, randomised) = (
        input.reading(setup.classifier),
        input.reading(setup.randomised),
    );
    let (model, randomised_model) = (&*model, &*randomised);
    let per_point = model.per_point().ok_or_else(not_per_point)?;
    let names = model.class_names();
    let c = names.len();
    let scores = per_point.predict_points(&[&input.points], Output::Probability)?;
    let predicted: Vec<usize> = scores.chunks_exact(c).map(|r| ranking(r)[0]).collect();
    let resolved = resolve(
        &config.regions,
        &kept,
        &cloud.positions,
        &input.index,
        &predicted,
        names,
    )?;
    let mut out = Vec::new();
    for r in resolved {
        let points: Vec<[f32; 3]> = r.points.iter().map(|&i| input.points[i]).collect();
        let (trained, randomised) = if config.regions.perturb_region {
            (
                Region::perturbing(model, &points, &input.points),
                Region::perturbing(randomised_model, &points, &input.points),
            )
        } else {
            (
                Region::keeping(model, &points, &input.points),
                Region::keeping(randomised_model, &points, &input.points),
            )
        };
        let (Some(trained), Some(randomised)) = (trained, randomised) else {
            return Err(Error::Config(
                "the model scores whole clouds, not points".into(),
            ));
        };
        let object = evaluate_input(
            &kept,
            &input,
            path,
            &names[r.target],
            &Setup {
                classifier: &trained,
                randomised: &randomised,
                steps: &[],
                label_shuffled: None,
                ..*setup
            },
        )?;
        let iou = iou_checks(
            &trained,
            &input.points,
            &input.labels,
            &object,
            r.target,
            setup,
        )?;
        out.push(RegionResult {
            region: r.spec.to_string(),
            points: r.points.len(),
            object,
            iou,
        });
    }
    Ok(out)
}

/// The IoU protocol for every method measured on one region.
fn iou_checks(
    region: &Region,
    points: &[[f32; 3]],
    labels: &[u32],
    object: &ObjectResult,
    class: usize,
    setup: &Setup,
) -> Result<Vec<IouCheck>> {
    let removal = setup.config.explainer.scoring.removal;
    let unperturbed = region.iou(&[points], class)?[0].unwrap_or(0.0);
    let mut out = Vec::new();
    for m in &object.methods {
        let k = m.values.len();
        if labels.iter().any(|&l| l as usize >= k) {
            continue;
        }
        let mut sizes = vec![0usize; k];
        labels.iter().for_each(|&l| sizes[l as usize] += 1);
        let order = top_k(&m.values, k);
        for &fraction in &IOU_FRACTIONS {
            let need = (fraction * points.len() as f64).ceil() as usize;
            let dropped = |order: &mut dyn Iterator<Item = &usize>| {
                let mut mask = vec![1u8; k];
                let mut gone = 0;
                for &s in order {
                    if gone >= need {
                        break;
                    }
                    mask[s] = 0;
                    gone += sizes[s];
                }
                let mut cloud = Vec::new();
                apply(points, labels, &mask, removal, &mut cloud);
                cloud
            };
            let top = dropped(&mut order.iter());
            let bottom = dropped(&mut order.iter().rev());
            let iou = region.iou(&[&top, &bottom], class)?;
            out.push(IouCheck {
                method: m.method,
                fraction,
                unperturbed,
                drop_top: iou[0].unwrap_or(0.0),
                drop_bottom: iou[1].unwrap_or(0.0),
            });
        }
    }
    Ok(out)
}

/// Medians over regions of one method's IoU protocol at one share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IouSummary {
    pub method: Method,
    pub fraction: f64,
    /// Regions measured.
    pub regions: usize,
    /// Median IoU after dropping the top-ranked points.
    pub drop_top: f64,
    /// Median IoU after dropping the bottom-ranked points.
    pub drop_bottom: f64,
    /// Share of regions where dropping the top lowered the IoU more than dropping the bottom.
    pub top_lower: f64,
}

/// The IoU protocol summarised per method and share, in `methods`' order.
pub fn summarise_iou(results: &[RegionResult], methods: &[Method]) -> Vec<IouSummary> {
    let mut out = Vec::new();
    for &method in methods {
        for &fraction in &IOU_FRACTIONS {
            let checks: Vec<&IouCheck> = results
                .iter()
                .flat_map(|r| &r.iou)
                .filter(|c| c.method == method && c.fraction == fraction)
                .collect();
            if checks.is_empty() {
                continue;
            }
            let n = checks.len();
            out.push(IouSummary {
                method,
                fraction,
                regions: n,
                drop_top: median(checks.iter().map(|c| c.drop_top)),
                drop_bottom: median(checks.iter().map(|c| c.drop_bottom)),
                top_lower: checks.iter().filter(|c| c.drop_top < c.drop_bottom).count() as f64
                    / n as f64,
            });
        }
    }
    out
}

/// The IoU protocol's table, in Markdown.
pub fn iou_markdown(summaries: &[IouSummary]) -> String {
    let mut s = String::from(
        "\n## Region IoU when the top or bottom points are dropped (pGS-CAM's protocol)\n\n\
         Whole segments are dropped in each explanation's order until the share of the input \
         points is gone; the region's IoU is its points against the points the model gives its \
         class in what remains (kept regions: their own points put back). Lower after the top \
         than after the bottom is faithful.\n\n\
         | method | dropped | regions | IoU, top dropped | IoU, bottom dropped | top lower |\n\
         |---|---|---|---|---|---|\n",
    );
    for x in summaries {
        s.push_str(&format!(
            "| {} | {:.0}% | {} | {:.3} | {:.3} | {:.0}% |\n",
            x.method.name(),
            100.0 * x.fraction,
            x.regions,
            x.drop_top,
            x.drop_bottom,
            100.0 * x.top_lower
        ));
    }
    s
}
