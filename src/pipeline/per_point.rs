//! A per-point model explained: what it calls each point, and one explanation per region.

use super::config::ExplainConfig;
use super::input::{local_points, ModelInput};
use super::region::resolve;
use super::report::{LabelScores, RegionReport};
use crate::classifier::{Classifier, Output, PerPoint, Region};
use crate::cloud::PointCloud;
use crate::error::{Error, Result};
use crate::explain::{attribute, Attribution, Progress, Targets};
use crate::segment::KdTree;
use crate::stats::ranking;

/// What a per-point model says of every point of the explained cloud: the class of the nearest
/// point the network saw (the point itself when it saw it), and that class's probability there.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PointPredictions {
    pub class: Vec<u32>,
    pub probability: Vec<f32>,
}

/// The regions' explanations, one per region in order, gathered as one [`Attribution`] (its
/// probabilities are the whole input's: each class's mean probability over the input points),
/// the regions' reports, each class's share of the input points, and every point's prediction.
pub(super) struct Regions {
    pub attribution: Attribution,
    pub reports: Vec<RegionReport>,
    pub shares: Vec<f64>,
    pub predictions: PointPredictions,
    pub label_scores: Option<LabelScores>,
}

/// Explains the regions of `config.regions` (by default, each class the model predicts for
/// enough input points) on `cloud`, whose network input is `model_input`; `file_positions` are
/// the scan's points before the scene steps, which `point=I` counts in.
///
/// # Errors
/// [`Error::Config`] for a class the model lacks or settings per-point models do not take;
/// [`Error::Scan`] for a region that selects no point or labels the scan lacks; explainer and
/// classifier errors.
pub(super) fn explain_regions(
    classifier: &dyn Classifier,
    per_point: &dyn PerPoint,
    cloud: &PointCloud,
    file_positions: &[[f64; 3]],
    model_input: &ModelInput,
    config: &ExplainConfig,
    progress: Option<&Progress>,
) -> Result<Regions> {
    if config.coarser_levels > 0 {
        return Err(Error::Config(
            "coarser levels are explained for models of whole clouds only, not per-point ones"
                .into(),
        ));
    }
    if config.targets != Targets::Predicted {
        return Err(Error::Config(
            "a per-point model's classes are chosen by --region (class=C), not by --target or \
             --top-labels"
                .into(),
        ));
    }
    let names = classifier.class_names();
    let c = names.len();
    let points = &model_input.points;
    let scores = per_point.predict_points(&[points], Output::Probability)?;
    if scores.len() != points.len() * c {
        return Err(Error::Classifier(format!(
            "{} per-point scores for {} points of {c} classes",
            scores.len(),
            points.len()
        )));
    }
    let predicted: Vec<usize> = scores.chunks_exact(c).map(|row| ranking(row)[0]).collect();
    let label_scores = match &config.regions.labels {
        Some(spec) => Some(scored_against(spec, cloud, model_input, &predicted, names)?),
        None => None,
    };
    let resolved = resolve(
        &config.regions,
        cloud,
        file_positions,
        &model_input.index,
        &predicted,
        names,
    )?;
    if resolved.is_empty() {
        return Err(Error::Scan(format!(
            "no class is predicted for {} of the points the network sees; name a region \
             (--region class=C)",
            config.regions.min_share
        )));
    }
    let input = model_input.input().with_baselines(&config.baselines);
    let mut gathered: Option<Attribution> = None;
    let mut reports = Vec::new();
    for r in &resolved {
        let region_points: Vec<[f32; 3]> = r.points.iter().map(|&i| points[i]).collect();
        let region = if config.regions.perturb_region {
            Region::perturbing(classifier, &region_points, points)
        } else {
            Region::keeping(classifier, &region_points, points)
        }
        .ok_or_else(|| Error::Classifier("the model gives no per-point scores".into()))?;
        let a = attribute(
            config.method,
            &region,
            &input,
            &Targets::Classes(vec![r.target]),
            &config.explainer,
            progress,
        )?;
        reports.push(RegionReport {
            name: r.name.clone(),
            spec: r.spec.clone(),
            points: r.points.len(),
            target: r.target,
            target_name: names[r.target].clone(),
            probabilities: a.probabilities.clone(),
            stand_in_distance: r.stand_in_distance,
        });
        match &mut gathered {
            None => gathered = Some(a),
            Some(g) => {
                g.explanations.extend(a.explanations);
                g.per_point.extend(a.per_point);
                g.cost += a.cost;
                g.samples = None;
            }
        }
    }
    let mut attribution = gathered.expect("one region at least");
    let n = points.len().max(1) as f32;
    attribution.probabilities = (0..c)
        .map(|k| scores.chunks_exact(c).map(|row| row[k]).sum::<f32>() / n)
        .collect();
    let mut shares = vec![0.0; c];
    predicted
        .iter()
        .for_each(|&k| shares[k] += 1.0 / points.len() as f64);
    let predictions = on_every_point(cloud, model_input, &predicted, &scores, c);
    Ok(Regions {
        attribution,
        reports,
        shares,
        predictions,
        label_scores,
    })
}

/// The predictions on the network's input points against the scan's own classes.
fn scored_against(
    spec: &str,
    cloud: &PointCloud,
    model_input: &ModelInput,
    predicted: &[usize],
    names: &[String],
) -> Result<LabelScores> {
    let truth = crate::labels::truth(spec, cloud, names)?;
    let mut confusion = crate::dataset::Confusion::new(names.len());
    let mut points = 0;
    for (&i, &p) in model_input.index.iter().zip(predicted) {
        let t = truth[i as usize];
        if t != crate::labels::UNLABELLED {
            confusion.add(t as usize, p);
            points += 1;
        }
    }
    if points == 0 {
        return Err(Error::Scan(format!(
            "--labels {spec}: no point of the network's input has a class of the model ({})",
            names.join(", ")
        )));
    }
    let (iou, miou) = confusion.iou();
    Ok(LabelScores {
        labels: spec.to_string(),
        points,
        overall_accuracy: confusion.metrics().overall_accuracy,
        iou,
        miou,
    })
}

/// Each point of `cloud` gets the prediction of the nearest network input point.
fn on_every_point(
    cloud: &PointCloud,
    model_input: &ModelInput,
    predicted: &[usize],
    scores: &[f32],
    c: usize,
) -> PointPredictions {
    let local = local_points(cloud, &model_input.frame);
    let seen: Vec<[f32; 3]> = model_input
        .index
        .iter()
        .map(|&i| local[i as usize])
        .collect();
    let tree = KdTree::new(&seen);
    let mut out = PointPredictions::default();
    for p in &local {
        let (i, _) = tree.nearest(p);
        let k = predicted[i as usize];
        out.class.push(k as u32);
        out.probability.push(scores[i as usize * c + k]);
    }
    out
}
