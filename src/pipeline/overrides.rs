//! Settings given one at a time, over a settings file's or the defaults: the command line's flags
//! and the Python package's keyword arguments go through the same [`Overrides::apply`], so the
//! two cannot drift apart.

use serde_json::Value;

use super::config::ExplainConfig;
use super::region::RegionSpec;
use crate::classifier::Output;
use crate::cloud::Axis;
use crate::error::Result;
use crate::explain::{Method, Scoring, Targets};
use crate::perturb::Removal;
use crate::sampling::Sampling;
use crate::scene::{Crop, OutlierConfig};
use crate::segment::Granularity;

/// Settings given one by one; `None` (or `false`, or empty) leaves the base's value.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub method: Option<Method>,
    /// A target number of supervoxels.
    pub segments: Option<usize>,
    /// A supervoxel seed resolution, instead of a count.
    pub resolution: Option<f64>,
    /// A per-point field used as the segments.
    pub segments_from: Option<String>,
    pub min_part_points: Option<usize>,
    pub samples: Option<usize>,
    pub seed: Option<u64>,
    pub output: Option<Output>,
    pub removal: Option<Removal>,
    pub batch_size: Option<usize>,
    pub scoring: Option<Scoring>,
    pub up: Option<Axis>,
    pub coarser_levels: Option<usize>,
    /// Explain the k most probable classes.
    pub top_labels: Option<usize>,
    pub drop_invalid: bool,
    pub sampling: Option<Sampling>,
    pub crop: Option<Crop>,
    /// Outlier removal at this many robust standard deviations.
    pub outliers: Option<f64>,
    pub remove_ground: bool,
    pub ground_threshold: Option<f64>,
    pub largest_cluster: bool,
    /// A per-point model's regions; empty keeps the base's.
    pub regions: Vec<RegionSpec>,
    pub min_class_share: Option<f64>,
    pub perturb_region: bool,
    /// A per-point field the model's classes are scored against.
    pub labels: Option<String>,
    /// Each method's own settings: the method's name, the setting's key, its value.
    pub method_settings: Vec<(String, String, Value)>,
}

impl Overrides {
    /// `base` with these settings over it, completed ([`ExplainConfig::complete`]), seeded and
    /// validated.
    ///
    /// # Errors
    /// [`Error::Config`](crate::Error::Config) for settings out of range or that do not apply.
    pub fn apply(&self, base: ExplainConfig) -> Result<ExplainConfig> {
        let mut config = base;
        if let Some(k) = self.segments {
            config.segments.target = Granularity::Count(k);
        }
        if let Some(r) = self.resolution {
            config.segments.target = Granularity::Resolution(r);
        }
        if let Some(f) = &self.segments_from {
            config.segments.from_field = Some(f.clone());
        }
        if let Some(n) = self.min_part_points {
            config.segments.min_part_points = n;
        }
        let explainer = &mut config.explainer;
        if let Some(s) = self.samples {
            explainer.n_samples = s;
        }
        if let Some(o) = self.output {
            explainer.scoring.output = o;
        }
        if let Some(r) = self.removal {
            explainer.scoring.removal = r;
        }
        if let Some(b) = self.batch_size {
            explainer.scoring.batch_size = b;
        }
        if let Some(s) = self.scoring {
            explainer.scoring.path = s;
        }
        if let Some(s) = self.seed {
            config.seed = s;
        }
        if let Some(up) = self.up {
            config.up = Some(up);
        }
        if let Some(n) = self.coarser_levels {
            config.coarser_levels = n;
        }
        if let Some(k) = self.top_labels {
            config.targets = Targets::Top(k);
        }
        config.drop_invalid |= self.drop_invalid;
        if let Some(s) = self.sampling {
            config.sampling = s;
        }
        let scene = &mut config.scene;
        if let Some(c) = self.crop {
            scene.crop = Some(c);
        }
        if let Some(std_ratio) = self.outliers {
            scene.outliers = Some(OutlierConfig {
                std_ratio,
                ..scene.outliers.unwrap_or_default()
            });
        }
        if self.remove_ground {
            let mut g = scene.ground.unwrap_or_default();
            if let Some(t) = self.ground_threshold {
                g.threshold = t;
            }
            if let Some(up) = self.up {
                g.up = up;
            }
            scene.ground = Some(g);
        }
        scene.largest_cluster |= self.largest_cluster;
        let regions = &mut config.regions;
        if !self.regions.is_empty() {
            regions.regions = self.regions.clone();
        }
        if let Some(s) = self.min_class_share {
            regions.min_share = s;
        }
        regions.perturb_region |= self.perturb_region;
        if self.labels.is_some() {
            regions.labels.clone_from(&self.labels);
        }
        if let Some(m) = self.method {
            config.method = m;
        }
        for (method, key, value) in &self.method_settings {
            config.explainer.set_field(method, key, value.clone());
        }
        config.complete()?;
        let config = config.seeded();
        config.validate()?;
        Ok(config)
    }
}
