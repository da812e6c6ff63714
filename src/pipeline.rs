//! The whole job for one cloud: validate → model frame → supervoxels → sample to the network's size
//! → explain → per-point importances and a report, and where the outputs go.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::classifier::Classifier;
use crate::cloud::{sample_indices, Attribute, FileFormat, Frame, PointCloud, ScalarKind};
use crate::error::Result;
use crate::explain::{self, attribute, Explanation, Input, Method, Progress, ScoringPath, Targets};
use crate::io;
use crate::segment::{point_counts, supervoxels, SegmentConfig, Segmentation};
use crate::stats::ranking;

/// Settings of one explanation run. Loads from JSON/TOML-like serde formats; CLI flags override.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExplainConfig {
    /// Explanation method. By default, LIME.
    pub method: Method,
    /// Supervoxel settings.
    pub segments: SegmentConfig,
    /// Settings of the explainers (sample budget, seed, LIME's kernel and ridge, scoring). Written
    /// as `lime`, the name reports have always used.
    #[serde(rename = "lime")]
    pub explainer: explain::Config,
    /// Classes to explain.
    pub targets: Targets,
    /// Drop points with NaN/Inf coordinates instead of failing. By default, false.
    pub drop_invalid: bool,
    /// The one seed every random step derives from. By default, 0.
    pub seed: u64,
}

impl ExplainConfig {
    /// Derives each stage's seed from [`seed`](Self::seed), so that one number fixes the run.
    pub fn seeded(mut self) -> Self {
        self.segments.seed = self.seed;
        self.explainer.seed = self.seed.wrapping_add(1);
        self
    }

    /// Checks the settings once, before any work.
    ///
    /// # Errors
    /// [`Error::Config`](crate::Error::Config) for values out of range or settings that do not
    /// apply to the method.
    pub fn validate(&self) -> Result<()> {
        self.segments.validate()?;
        self.explainer.validate()?;
        if self.method != Method::Lime && self.explainer.lime.auto_samples_max.is_some() {
            return Err(crate::Error::Config(format!(
                "auto-samples applies to LIME only, not to {}",
                self.method
            )));
        }
        Ok(())
    }
}

/// Wall time of each stage, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Timings {
    /// Supervoxels, the model frame and the network's input sample.
    pub segmentation: f64,
    /// Drawing masks and building perturbed clouds (or pooled features).
    pub sampling: f64,
    /// Running the classifier.
    pub inference: f64,
    /// Fitting surrogates (LIME's ridge, KernelSHAP's constrained fit); 0 for other methods.
    pub surrogate_fit: f64,
    /// The whole explanation, reading and writing files excluded.
    pub total: f64,
}

/// One segment in the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentReport {
    /// The segment's label: the value of the `segment` field of its points.
    pub id: usize,
    /// Mean position, world coordinates.
    pub centroid: [f64; 3],
    /// Points of the original cloud in the segment.
    pub points: usize,
    /// Of those, points among the network's input sample.
    pub sampled_points: usize,
    /// Coefficient per explained class, in the order of `explanations`.
    pub coefficients: Vec<f64>,
}

/// The JSON report of one explained cloud.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The scan, as given on the command line (batch: relative to the input directory).
    pub input: String,
    /// The model, as given (a directory).
    pub model: String,
    /// The model's classes; indices elsewhere in the report refer to this list.
    pub class_names: Vec<String>,
    /// Class probabilities of the unperturbed cloud.
    pub probabilities: Vec<f32>,
    /// Index of the most probable class (ties to the lower index).
    pub predicted: usize,
    /// Its name.
    pub predicted_name: String,
    /// Points of the scan that were explained (after any dropped ones).
    pub points: usize,
    /// Points dropped for NaN/Inf coordinates (with `drop_invalid`).
    pub dropped_invalid: usize,
    /// How world coordinates were mapped to the model's frame.
    pub frame: Frame,
    /// Every setting of the run: given back to `--config`, it reproduces the explanation.
    pub settings: ExplainConfig,
    /// One explanation per explained class; the first is the one in the `importance` field.
    pub explanations: Vec<Explanation>,
    /// Every segment, by id.
    pub segments: Vec<SegmentReport>,
    /// Where the time went.
    pub timings: Timings,
    /// How much classifier work the explanation took.
    pub cost: ReportCost,
}

/// Classifier work behind one explanation, as the report gives it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReportCost {
    /// How the perturbed samples were scored.
    pub scoring: ScoringPath,
    /// Points through the per-point layers.
    pub points_evaluated: u64,
    /// Clouds (or pooled features) through the head.
    pub clouds_evaluated: u64,
}

/// An explained cloud: the report, plus what is needed to write per-point values.
#[derive(Debug, Clone)]
pub struct Explained {
    /// The JSON report.
    pub report: Report,
    pub segmentation: Segmentation,
    /// The gradient methods' per-point values on the cloud's points, one vector per explanation:
    /// the sum over the point's copies in the network's input, NaN for a point the network did not
    /// see. Empty for the other methods.
    pub point_values: Vec<Vec<f64>>,
}

impl Explained {
    /// The cloud with `importance` (f32, first explained class), one `importance_<class>` per
    /// further class, and `segment` (u32) attributes added, and for the gradient methods
    /// `point_importance` (and `point_importance_<class>`) with each point's own value; existing
    /// attributes of those names are replaced, so re-explaining an explained file works.
    pub fn annotate(&self, cloud: &PointCloud) -> PointCloud {
        let mut out = cloud.clone();
        let mut new = Vec::new();
        let name = |base: &str, i: usize, e: &Explanation| field_name(base, i, &e.target_name);
        for (i, e) in self.report.explanations.iter().enumerate() {
            new.push(Attribute {
                name: name("importance", i, e),
                kind: ScalarKind::F32,
                values: e
                    .per_point(&self.segmentation.labels)
                    .into_iter()
                    .map(f64::from)
                    .collect(),
            });
        }
        for (i, (e, values)) in self
            .report
            .explanations
            .iter()
            .zip(&self.point_values)
            .enumerate()
        {
            new.push(Attribute {
                name: name("point_importance", i, e),
                kind: ScalarKind::F32,
                values: values.clone(),
            });
        }
        new.push(Attribute {
            name: "segment".into(),
            kind: ScalarKind::U32,
            values: self.segmentation.labels.iter().map(|&l| l as f64).collect(),
        });
        out.attributes
            .retain(|a| !new.iter().any(|n| n.name == a.name));
        out.attributes.extend(new);
        out
    }
}

/// The name of the per-point field `base` (`importance`, `point_importance`) for the `i`-th
/// explained class: `base` for the first, `base_<class>` (lower case, other than ASCII letters and
/// digits replaced by `_`) for the others. Readers of explained files (the viewer) use it too.
pub fn field_name(base: &str, i: usize, class_name: &str) -> String {
    if i == 0 {
        base.to_string()
    } else {
        format!("{base}_{}", sanitize(class_name))
    }
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// The network's input: `input_points` of the cloud's points, drawn with `seed` (the original
/// indices) and mapped to the model frame.
fn model_input(
    cloud: &PointCloud,
    frame: &Frame,
    classifier: &dyn Classifier,
    seed: u64,
) -> (Vec<u32>, Vec<[f32; 3]>) {
    let index = sample_indices(cloud.len(), classifier.input_points(), seed);
    let points = index
        .iter()
        .map(|&i| frame.to_model(&cloud.positions[i as usize]))
        .collect();
    (index, points)
}

/// A cloud made ready for the explainers: the network's input points in the model frame and
/// their supervoxels, with what is needed to map results back to the cloud.
#[derive(Debug, Clone)]
pub struct ModelInput {
    pub frame: Frame,
    /// The cloud's index of each input point (a point may be drawn more than once).
    pub index: Vec<u32>,
    /// Supervoxels of every point of the cloud.
    pub segmentation: Segmentation,
    /// The network's input points (model frame).
    pub points: Vec<[f32; 3]>,
    /// The supervoxel of each input point.
    pub labels: Vec<u32>,
    pub segmentation_seconds: f64,
}

impl ModelInput {
    /// The explainers' view of it.
    pub fn input(&self) -> Input<'_> {
        Input {
            points: &self.points,
            labels: &self.labels,
            n_segments: self.segmentation.count,
        }
    }
}

/// Segments a validated cloud and draws the network's input from it, as [`explain_cloud`] does.
///
/// # Errors
/// Segmentation configuration errors.
pub fn model_input_with_segments(
    cloud: &PointCloud,
    classifier: &dyn Classifier,
    config: &ExplainConfig,
) -> Result<ModelInput> {
    let start = Instant::now();
    let frame = Frame::fit(&cloud.positions, classifier.normalisation());
    // Segment in metres around the centroid, so a seed resolution means metres.
    let local: Vec<[f32; 3]> = cloud
        .positions
        .iter()
        .map(|p| {
            [
                (p[0] - frame.center[0]) as f32,
                (p[1] - frame.center[1]) as f32,
                (p[2] - frame.center[2]) as f32,
            ]
        })
        .collect();
    let segmentation = supervoxels(&local, &config.segments)?;
    let segmentation_seconds = start.elapsed().as_secs_f64();
    let (index, points) = model_input(cloud, &frame, classifier, config.seed);
    let labels = index
        .iter()
        .map(|&i| segmentation.labels[i as usize])
        .collect();
    Ok(ModelInput {
        frame,
        index,
        segmentation,
        points,
        labels,
        segmentation_seconds,
    })
}

/// Class probabilities of one validated cloud, from the same input sample that
/// [`explain_cloud`] with this `seed` uses (its unperturbed sample).
///
/// # Errors
/// Classifier errors.
pub fn classify_cloud(
    cloud: &PointCloud,
    classifier: &dyn Classifier,
    seed: u64,
) -> Result<Vec<f32>> {
    let frame = Frame::fit(&cloud.positions, classifier.normalisation());
    let (_, points) = model_input(cloud, &frame, classifier, seed);
    Ok(classifier
        .predict_proba(&[&points])?
        .pop()
        .unwrap_or_default())
}

/// Explains one cloud. `cloud` must already be validated ([`PointCloud::validate`]).
///
/// # Errors
/// Configuration and classifier errors.
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
    let start = Instant::now();
    let model_input = model_input_with_segments(cloud, classifier, config)?;
    let result = attribute(
        config.method,
        classifier,
        &model_input.input(),
        &config.targets,
        &config.explainer,
        progress,
    )?;
    let ModelInput {
        frame,
        index,
        segmentation,
        labels,
        segmentation_seconds: t_segment,
        ..
    } = model_input;

    let sizes = segmentation.sizes();
    let sampled = point_counts(&labels, segmentation.count);
    let centroids = segmentation.centroids(&cloud.positions);
    let segments = (0..segmentation.count)
        .map(|id| SegmentReport {
            id,
            centroid: centroids[id],
            points: sizes[id],
            sampled_points: sampled[id],
            coefficients: result
                .explanations
                .iter()
                .map(|e| e.coefficients[id])
                .collect(),
        })
        .collect();
    let predicted = ranking(&result.probabilities).first().copied().unwrap_or(0);
    let report = Report {
        input: input.display().to_string(),
        model: model_name.to_string(),
        class_names: classifier.class_names().to_vec(),
        predicted,
        predicted_name: classifier.class_names()[predicted].clone(),
        probabilities: result.probabilities,
        points: cloud.len(),
        dropped_invalid,
        frame,
        settings: config.clone(),
        explanations: result.explanations,
        segments,
        cost: ReportCost {
            scoring: result.cost.path,
            points_evaluated: result.cost.points_evaluated,
            clouds_evaluated: result.cost.clouds_evaluated,
        },
        timings: Timings {
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
        .map(|values| {
            let mut on_cloud = vec![f64::NAN; cloud.len()];
            for (&i, v) in index.iter().zip(values) {
                let slot = &mut on_cloud[i as usize];
                *slot = if slot.is_nan() { *v } else { *slot + v };
            }
            on_cloud
        })
        .collect();
    Ok(Explained {
        report,
        segmentation,
        point_values,
    })
}

/// The extension an explained copy of `input` is written with: LAS and LAZ keep theirs, every
/// other format (PLY, and text, which cannot hold the new fields) becomes PLY.
pub fn explained_extension(input: &Path) -> &'static str {
    match io::format_of(input) {
        Ok(FileFormat::Las) => "las",
        Ok(FileFormat::Laz) => "laz",
        _ => "ply",
    }
}

/// Where `pointlime explain` writes the explained scan by default: beside the input, as
/// `STEM.explained.EXT` ([`explained_extension`]).
pub fn default_output(input: &Path) -> PathBuf {
    let stem = input.file_stem().unwrap_or_default().to_string_lossy();
    input.with_file_name(format!("{stem}.explained.{}", explained_extension(input)))
}

/// Where the report of an explained scan goes by default: beside it, with `.json`.
pub fn default_report(output: &Path) -> PathBuf {
    output.with_extension("json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_are_named_beside_the_input_keeping_las_and_laz() {
        assert_eq!(
            default_output(Path::new("d/scan.laz")),
            Path::new("d/scan.explained.laz")
        );
        assert_eq!(
            default_output(Path::new("scan.LAS")),
            Path::new("scan.explained.las")
        );
        assert_eq!(
            default_output(Path::new("d/tree.xyz")),
            Path::new("d/tree.explained.ply")
        );
        assert_eq!(explained_extension(Path::new("x.pts")), "ply");
        assert_eq!(
            default_report(Path::new("d/scan.explained.laz")),
            Path::new("d/scan.explained.json")
        );
    }
}
