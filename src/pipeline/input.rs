//! The network's input: the model frame, the points drawn for the network, their segments and
//! channels, and the baselines some methods draw.

use std::path::Path;
use std::time::Instant;

use crate::channels::ChannelTable;
use crate::classifier::Classifier;
use std::borrow::Cow;

use super::config::ExplainConfig;
use crate::cloud::{Axis, FileFormat, Frame, PointCloud, MIN_POINTS};
use crate::error::{Error, Result};
use crate::explain::{Baselines, Input};
use crate::io;
use crate::sampling::{cover_segments, draw};
use crate::scene::{prepare, Removed, SceneReport};
use crate::segment::{from_field, supervoxels, Segmentation};

/// The scan's up axis under `config` (see [`ExplainConfig::up`]).
pub fn scan_up(cloud: &PointCloud, classifier: &dyn Classifier, config: &ExplainConfig) -> Axis {
    config.up.unwrap_or_else(|| match cloud.source.format {
        FileFormat::Las | FileFormat::Laz => Axis::Z,
        _ => classifier.up(),
    })
}

/// The model frame of `cloud` for `classifier`: its normalisation, and the scan's up axis turned
/// onto the model's.
fn model_frame(cloud: &PointCloud, classifier: &dyn Classifier, config: &ExplainConfig) -> Frame {
    Frame::fit(&cloud.positions, classifier.normalisation())
        .with_up(scan_up(cloud, classifier, config), classifier.up())
}

/// The cloud's points around the frame's centre, in f32: what segmentation and sampling work on,
/// in the file's units (so a seed resolution means metres for LiDAR).
pub(super) fn local_points(cloud: &PointCloud, frame: &Frame) -> Vec<[f32; 3]> {
    cloud
        .positions
        .iter()
        .map(|p| {
            [
                (p[0] - frame.center[0]) as f32,
                (p[1] - frame.center[1]) as f32,
                (p[2] - frame.center[2]) as f32,
            ]
        })
        .collect()
}

/// The network's N input points drawn from `local` (the cloud around its frame's centre) by the
/// configured sampling, before any segment is covered.
fn draw_input(local: &[[f32; 3]], classifier: &dyn Classifier, config: &ExplainConfig) -> Vec<u32> {
    draw(
        local,
        classifier.input_points(),
        config.seed,
        config.sampling,
    )
}

/// The points of `cloud` at `index`, in the model frame.
fn model_points(cloud: &PointCloud, frame: &Frame, index: &[u32]) -> Vec<[f32; 3]> {
    index
        .iter()
        .map(|&i| frame.to_model(&cloud.positions[i as usize]))
        .collect()
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
    /// Segments given a draw by [`cover_segments`].
    pub covered_segments: usize,
    /// Segments merged into a seen neighbour ([`Segmentation::merge_unseen`]).
    pub merged_unseen_segments: usize,
    pub segmentation_seconds: f64,
    /// With segments from a field (`segments.from_field`), each segment's value of the field.
    pub segment_values: Option<Vec<f64>>,
    /// The extra channels of each input point the classifier reads
    /// ([`Classifier::channels`]), row-major; empty when it reads x, y, z alone.
    pub channels: Vec<f32>,
}

/// A classifier as it reads one scan: itself, or bound to the extra channels of the scan's input
/// points ([`Classifier::with_channels`]).
pub enum Reading<'a> {
    /// The classifier reads positions alone.
    Plain(&'a dyn Classifier),
    /// The classifier with the scan's channels.
    Bound(Box<dyn Classifier + 'a>),
}

impl<'a> std::ops::Deref for Reading<'a> {
    type Target = dyn Classifier + 'a;

    fn deref(&self) -> &Self::Target {
        match self {
            Reading::Plain(c) => *c,
            Reading::Bound(b) => b.as_ref(),
        }
    }
}

/// `classifier` reading `channels` (row-major, [`Classifier::channels`]'s width) as the extra
/// channels of `points`.
pub fn reading<'a>(
    classifier: &'a dyn Classifier,
    points: &[[f32; 3]],
    channels: &[f32],
) -> Reading<'a> {
    let width = classifier.channels().extra();
    if width == 0 || channels.is_empty() {
        return Reading::Plain(classifier);
    }
    let table = ChannelTable::new(points, channels.to_vec(), width);
    match classifier.with_channels(table) {
        Some(bound) => Reading::Bound(bound),
        None => Reading::Plain(classifier),
    }
}

impl ModelInput {
    /// `classifier` as it reads this input (see [`reading`]).
    pub fn reading<'a>(&self, classifier: &'a dyn Classifier) -> Reading<'a> {
        reading(classifier, &self.points, &self.channels)
    }

    /// The explainers' view of it.
    pub fn input(&self) -> Input<'_> {
        Input {
            points: &self.points,
            labels: &self.labels,
            n_segments: self.segmentation.count,
            scale: self.frame.scale,
            baselines: &[],
        }
    }
}

/// Segments a validated cloud and draws the network's input from it, as [`explain_cloud`] does
/// (after its scene steps): draws by `config.sampling`, then every segment given a draw
/// ([`cover_segments`]), and segments that still have none merged into a seen neighbour.
///
/// # Errors
/// [`Error::Scan`] when the scan lacks the field segments are taken from (the caller names the
/// file, see [`Error::in_file`]); segmentation configuration errors.
pub fn model_input_with_segments(
    cloud: &PointCloud,
    classifier: &dyn Classifier,
    config: &ExplainConfig,
) -> Result<ModelInput> {
    let start = Instant::now();
    let frame = model_frame(cloud, classifier, config);
    let local = local_points(cloud, &frame);
    let (mut segmentation, values) = match &config.segments.from_field {
        Some(field) => {
            let attribute = cloud.attribute(field).ok_or_else(|| {
                Error::Scan(format!(
                    "no per-point field {field:?} to take segments from; the scan has {}",
                    cloud.attribute_names()
                ))
            })?;
            let (s, v) = from_field(&local, &attribute.values, config.segments.min_part_points);
            (s, Some(v))
        }
        None => (supervoxels(&local, &config.segments)?, None),
    };
    let mut index = draw_input(&local, classifier, config);
    let covered_segments = cover_segments(
        &mut index,
        &segmentation.labels,
        segmentation.count,
        config.seed,
    );
    let before = values.as_ref().map(|_| segmentation.labels.clone());
    let merged_unseen_segments = segmentation.merge_unseen(&local, &index);
    // Merging renumbers segments: each keeps the value of the segment its points came from.
    let segment_values = values.map(|values| {
        let mut out = vec![f64::NAN; segmentation.count];
        for (&new, &old) in segmentation.labels.iter().zip(before.iter().flatten()) {
            let slot = &mut out[new as usize];
            if slot.is_nan() {
                *slot = values[old as usize];
            }
        }
        out
    });
    let segmentation_seconds = start.elapsed().as_secs_f64();
    let points = model_points(cloud, &frame, &index);
    let channels = classifier.channels().of(cloud, &frame, &index, &points)?;
    let labels = index
        .iter()
        .map(|&i| segmentation.labels[i as usize])
        .collect();
    Ok(ModelInput {
        channels,
        frame,
        index,
        segmentation,
        points,
        labels,
        covered_segments,
        merged_unseen_segments,
        segmentation_seconds,
        segment_values,
    })
}

/// The network's input for one validated cloud, after the scene steps of `config`, drawn as
/// [`explain_cloud`] draws it before it makes sure every segment is seen (so without segmenting:
/// the two can differ in a few of the N points). Model frame.
///
/// # Errors
/// [`Error::Scene`] when the scene steps leave too few points.
pub fn network_input(
    cloud: &PointCloud,
    classifier: &dyn Classifier,
    config: &ExplainConfig,
) -> Result<Vec<[f32; 3]>> {
    Ok(network_input_channels(cloud, classifier, config)?.0)
}

/// Reference clouds for Expected Gradients: up to `count` scans of the training split of `data`
/// (any layout [`Dataset::open_any`](crate::dataset::Dataset::open_any) reads; every scan when it
/// has no training split), chosen by `config.seed`, each drawn into its own model frame as
/// [`network_input`] draws a scan.
///
/// # Errors
/// The dataset's and each scan's read errors, naming the file.
pub fn load_baselines(
    data: &Path,
    classifier: &dyn Classifier,
    config: &ExplainConfig,
    options: &io::ReadOptions,
    count: usize,
) -> Result<Baselines> {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    let dataset = crate::dataset::Dataset::open_any(data)?;
    let mut items = dataset.split(crate::dataset::Split::Train);
    if items.is_empty() {
        items = dataset.items.iter().collect();
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(config.seed ^ 0xba5e);
    items.shuffle(&mut rng);
    items.truncate(count);
    let clouds = items
        .iter()
        .map(|item| {
            let mut cloud = item.read_with(options.clone())?;
            cloud.validate(&item.path, true)?;
            network_input(&cloud, classifier, config).map_err(|e| e.in_file(&item.path))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Baselines(std::sync::Arc::new(clouds)))
}

/// [`network_input`], and the extra channels of its points that the classifier reads (empty when
/// it reads none; see [`reading`]).
///
/// # Errors
/// [`Error::Scene`] when the scene steps leave too few points; [`Error::Scan`] when the scan
/// lacks the fields the channels need. Neither names the file: see [`Error::in_file`].
pub fn network_input_channels(
    cloud: &PointCloud,
    classifier: &dyn Classifier,
    config: &ExplainConfig,
) -> Result<(Vec<[f32; 3]>, Vec<f32>)> {
    if let Some(m) = classifier.channels().missing(cloud) {
        return Err(Error::Scan(m));
    }
    let (kept, _, _) = scene_cloud(cloud, config)?;
    let frame = model_frame(&kept, classifier, config);
    let local = local_points(&kept, &frame);
    let index = draw_input(&local, classifier, config);
    let points = model_points(&kept, &frame, &index);
    let channels = classifier.channels().of(&kept, &frame, &index, &points)?;
    Ok((points, channels))
}

/// The points the scene steps of `config` keep (the cloud itself when none run), each point's
/// removal code (empty when none run) and the report.
///
/// # Errors
/// [`Error::Scene`] when the steps leave fewer than [`MIN_POINTS`] points.
pub fn scene_cloud<'a>(
    cloud: &'a PointCloud,
    config: &ExplainConfig,
) -> Result<(Cow<'a, PointCloud>, Vec<Removed>, SceneReport)> {
    if !config.scene.is_active() {
        let report = SceneReport {
            input_points: cloud.len(),
            kept_points: cloud.len(),
            ..Default::default()
        };
        return Ok((Cow::Borrowed(cloud), Vec::new(), report));
    }
    let (removed, report) = prepare(&cloud.positions, &config.scene, config.seed);
    if report.kept_points < MIN_POINTS {
        return Err(Error::Scene(format!(
            "the scene steps left {} of {} points (cropped {}, outliers {}, ground {}, \
                 detached {}); at least {MIN_POINTS} are needed",
            report.kept_points,
            report.input_points,
            report.cropped,
            report.outliers,
            report.ground,
            report.detached
        )));
    }
    // Every field travels with the kept points: segments, labels, label regions and a model's
    // channels read them after the scene steps (copying a phone scan's fields costs tens of
    // milliseconds; leaving them behind made `--labels` fail on every cropped scan).
    let keep: Vec<bool> = removed.iter().map(|r| *r == Removed::Kept).collect();
    let mut kept_cloud = cloud.clone();
    kept_cloud.retain_points(&keep);
    Ok((Cow::Owned(kept_cloud), removed, report))
}
