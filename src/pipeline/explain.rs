//! One scan end to end: classified, cut to its object, explained, and coarser levels.

use std::path::Path;
use std::time::Instant;

use crate::classifier::Classifier;

use super::config::ExplainConfig;
use super::explained::Explained;
use super::input::{
    local_points, model_input_with_segments, network_input_channels, reading, scene_cloud,
    ModelInput,
};
use super::per_point::explain_regions;
use super::report::{
    peak_memory_bytes, LevelReport, Report, ReportCost, SegmentReport, Timings,
    REPORT_SCHEMA_VERSION,
};
use super::window::windowed;
use crate::cloud::{Axis, Normalisation, PointCloud};
use crate::domain::Competence;
use crate::error::{Error, Result};
use crate::explain::{attribute, Explanation, Input, Progress, Targets};
use crate::segment::{point_counts, supervoxels, Granularity, Segmentation};
use crate::stats::ranking;
use crate::stats::spearman;

/// A cloud's class probabilities, and the model's competence on it.
#[derive(Debug, Clone, PartialEq)]
pub struct Classified {
    pub probabilities: Vec<f32>,
    /// `None` for a model without recorded statistics.
    pub competence: Option<Competence>,
}

/// Classifies one validated cloud from its [`network_input`].
///
/// # Errors
/// Classifier errors; [`Error::Scene`] when the scene steps leave too few points. None of them
/// names the file: the caller that read it does, with [`Error::in_file`].
pub fn classify_cloud(
    cloud: &PointCloud,
    classifier: &dyn Classifier,
    config: &ExplainConfig,
) -> Result<Classified> {
    let (points, channels) = network_input_channels(cloud, classifier, config)?;
    let classifier = &*reading(classifier, &points, &channels);
    Ok(Classified {
        probabilities: classifier
            .predict_proba(&[&points])?
            .pop()
            .unwrap_or_default(),
        competence: classifier.competence(&points)?,
    })
}

/// Explains one cloud. `cloud` must already be validated ([`PointCloud::validate`]). The scene
/// steps of `config` run first, after a model trained on windows of tiles has cut a wider scan to
/// one window (see [`window`](super::window)); the explanation is of the points they keep. `input` is the name
/// the report gives the scan.
///
/// # Errors
/// Configuration and classifier errors; [`Error::Scene`] when the scene steps leave too few
/// points; [`Error::Scan`] when the scan lacks a field the model or the settings read. None of
/// them names the file: the caller that read it does, with [`Error::in_file`].
pub fn explain_cloud(
    cloud: &PointCloud,
    input: &Path,
    classifier: &dyn Classifier,
    model_name: &str,
    config: &ExplainConfig,
    dropped_invalid: usize,
    progress: Option<&Progress>,
) -> Result<Explained> {
    config.validate()?;
    check_fields(cloud, classifier, config)?;
    let config = &*windowed(cloud, classifier, config)?;
    let start = Instant::now();
    // Of the model as given: the wrappers below (a window, the scan's channels) run it.
    let runtime = classifier.runtime();
    let scan = cloud;
    let (kept, removed, scene) = scene_cloud(scan, config)?;
    let t_scene = start.elapsed().as_secs_f64();
    let cloud = kept.as_ref();
    let model_input = model_input_with_segments(cloud, classifier, config)?;
    let reading = model_input.reading(classifier);
    let classifier = &*reading;
    let competence = classifier.competence(&model_input.points)?;
    let (result, regions) = match classifier.per_point() {
        Some(per_point) => {
            let r = explain_regions(
                classifier,
                per_point,
                cloud,
                &scan.positions,
                &model_input,
                config,
                progress,
            )?;
            (
                r.attribution,
                Some((r.reports, r.shares, r.predictions, r.label_scores)),
            )
        }
        None => {
            let input = model_input.input().with_baselines(&config.baselines);
            let a = attribute(
                config.method,
                classifier,
                &input,
                &config.targets,
                &config.explainer,
                progress,
            )?;
            (a, None)
        }
    };
    let mut result = result;
    // Below the alarm the explanation is still written, marked as not to be trusted.
    let trusted = competence.as_ref().is_none_or(|c| c.in_domain);
    for e in &mut result.explanations {
        e.trusted = trusted;
    }
    let levels = coarser_levels(
        cloud,
        classifier,
        config,
        &model_input,
        &result.explanations,
    )?;
    let ModelInput {
        frame,
        index,
        segmentation,
        labels,
        covered_segments,
        merged_unseen_segments,
        segmentation_seconds: t_segment,
        segment_values,
        points: input_points,
        channels: input_channels,
        ..
    } = model_input;

    let segments = segment_reports(
        &segmentation,
        &labels,
        &cloud.positions,
        &result.explanations,
        segment_values.as_deref(),
    );
    let predicted = ranking(&result.probabilities).first().copied().unwrap_or(0);
    let (region_reports, predicted_shares, predictions, label_scores) = match regions {
        Some((reports, shares, predictions, scores)) => {
            (reports, shares, Some(predictions), scores)
        }
        None => (Vec::new(), Vec::new(), None, None),
    };
    let report = Report {
        schema_version: REPORT_SCHEMA_VERSION,
        input: input.display().to_string(),
        model: model_name.to_string(),
        class_names: classifier.class_names().to_vec(),
        predicted,
        predicted_name: classifier.class_names()[predicted].clone(),
        probabilities: result.probabilities,
        points: cloud.len(),
        dropped_invalid,
        scene,
        covered_segments,
        merged_unseen_segments,
        frame,
        settings: config.clone(),
        explanations: result.explanations,
        regions: region_reports,
        predicted_shares,
        label_scores,
        segments,
        levels,
        competence,
        cost: ReportCost {
            runtime: Some(runtime),
            scoring: result.cost.path,
            points_evaluated: result.cost.points_evaluated,
            clouds_evaluated: result.cost.clouds_evaluated,
            peak_memory_bytes: peak_memory_bytes(),
        },
        timings: Timings {
            scene: t_scene,
            segmentation: t_segment,
            sampling: result.cost.sampling_seconds,
            inference: result.cost.inference_seconds,
            surrogate_fit: result.cost.fit_seconds,
            total: start.elapsed().as_secs_f64(),
        },
    };
    let point_values = result
        .per_point
        .iter()
        .map(|values| on_cloud(cloud.len(), &index, values))
        .collect();
    Ok(Explained {
        report,
        segmentation,
        point_values,
        removed,
        input_points,
        input_channels,
        predictions,
    })
}

/// The fields the settings and the model read, before any work; and regions only for a model
/// that labels points.
fn check_fields(
    cloud: &PointCloud,
    classifier: &dyn Classifier,
    config: &ExplainConfig,
) -> Result<()> {
    if let Some(field) = &config.segments.from_field {
        if cloud.attribute(field).is_none() {
            return Err(Error::Scan(format!(
                "no per-point field {field:?} to take segments from; the scan has {}",
                cloud.attribute_names()
            )));
        }
    }
    if let Some(m) = classifier.channels().missing(cloud) {
        return Err(Error::Scan(m));
    }
    let up = super::input::scan_up(cloud, classifier, config);
    if matches!(
        classifier.normalisation(),
        Normalisation::MetricFloor { .. }
    ) && up != Axis::Z
    {
        return Err(Error::Config(format!(
            "the model measures heights above each scan's floor along z; it reads z-up scans, \
             not {} up",
            up.name()
        )));
    }
    if classifier.per_point().is_none() && !config.regions.is_default() {
        return Err(Error::Config(
            "regions (--region, --point, --perturb-region, --min-class-share, --labels) are for \
             models that label every point; this model scores whole clouds"
                .into(),
        ));
    }
    Ok(())
}

/// Every segment's report: centroid, size, how many of its points the network saw, and its value
/// in each explanation.
fn segment_reports(
    segmentation: &Segmentation,
    labels: &[u32],
    positions: &[[f64; 3]],
    explanations: &[Explanation],
    segment_values: Option<&[f64]>,
) -> Vec<SegmentReport> {
    let sizes = segmentation.sizes();
    let sampled = point_counts(labels, segmentation.count);
    let centroids = segmentation.centroids(positions);
    (0..segmentation.count)
        .map(|id| SegmentReport {
            id,
            centroid: centroids[id],
            points: sizes[id],
            sampled_points: sampled[id],
            coefficients: explanations.iter().map(|e| e.coefficients[id]).collect(),
            field_value: segment_values.map(|v| v[id]),
        })
        .collect()
}

/// Per-input-point `values` carried to the cloud's `n` points through `index` (the input point's
/// cloud point): summed over a point's copies, NaN for points the network did not see.
fn on_cloud(n: usize, index: &[u32], values: &[f64]) -> Vec<f64> {
    let mut on_cloud = vec![f64::NAN; n];
    for (&i, v) in index.iter().zip(values) {
        let slot = &mut on_cloud[i as usize];
        *slot = if slot.is_nan() { *v } else { *slot + v };
    }
    on_cloud
}

/// The coarser levels of `config` for an explained cloud: each cut anew from the same points,
/// nested into the supervoxels of `model_input`, and explained by the same method as
/// `explanations` for their classes.
///
/// # Errors
/// Segmentation and explainer errors.
pub fn coarser_levels(
    cloud: &PointCloud,
    classifier: &dyn Classifier,
    config: &ExplainConfig,
    model_input: &ModelInput,
    explanations: &[Explanation],
) -> Result<Vec<LevelReport>> {
    if config.coarser_levels == 0 {
        return Ok(Vec::new());
    }
    let local = local_points(cloud, &model_input.frame);
    let targets = Targets::Classes(explanations.iter().map(|e| e.target).collect());
    let fine = &model_input.segmentation;
    let mut levels = Vec::new();
    for level in 1..=config.coarser_levels {
        let start = Instant::now();
        let factor = 1usize << level;
        let mut segments = config.segments.clone();
        segments.target = match segments.target {
            Granularity::Count(k) => Granularity::Count((k / factor).max(1)),
            Granularity::Resolution(r) => Granularity::Resolution(r * factor as f64),
        };
        let coarse = supervoxels(&local, &segments)?;
        let (parent, m) = fine.parents_in(&coarse);
        let labels: Vec<u32> = model_input
            .labels
            .iter()
            .map(|&l| parent[l as usize])
            .collect();
        let input = Input {
            labels: &labels,
            n_segments: m,
            ..model_input.input()
        }
        .with_baselines(&config.baselines);
        let method = explanations.first().map_or(config.method, |e| e.method);
        let result = attribute(
            method,
            classifier,
            &input,
            &targets,
            &config.explainer,
            None,
        )?;
        let coefficients: Vec<Vec<f64>> = result
            .explanations
            .into_iter()
            .map(|e| e.coefficients)
            .collect();
        let rank_correlation = explanations
            .iter()
            .zip(&coefficients)
            .map(|(e, coarse)| {
                let mut summed = vec![0.0; m];
                for (f, v) in e.coefficients.iter().enumerate() {
                    summed[parent[f] as usize] += v;
                }
                spearman(&summed, coarse)
            })
            .collect();
        levels.push(LevelReport {
            level,
            segments: m,
            parent: parent.into_iter().map(|p| p as usize).collect(),
            coefficients,
            rank_correlation,
            seconds: start.elapsed().as_secs_f64(),
        });
        if m == 1 {
            break;
        }
    }
    Ok(levels)
}
