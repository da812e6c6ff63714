//! The settings of one explanation run.

use serde::{Deserialize, Serialize};

use super::region::RegionConfig;
use crate::cloud::Axis;
use crate::error::{Error, Result};
use crate::explain::attribution::complete_settings;
use crate::explain::lime::LIME;
use crate::explain::{self, Baselines, LimeConfig, Method, Targets};
use crate::sampling::Sampling;
use crate::scene::SceneConfig;
use crate::segment::SegmentConfig;

/// Settings of one explanation run. Loads from JSON/TOML-like serde formats in the current layout;
/// [`legacy::settings`](super::legacy::settings) reads the earlier ones too. CLI flags override.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExplainConfig {
    /// Explanation method. By default, LIME.
    pub method: Method,
    /// Scene steps before anything else (crop, outliers, ground, largest cluster). By default,
    /// none.
    pub scene: SceneConfig,
    /// Supervoxel settings.
    pub segments: SegmentConfig,
    /// How the network's input points are drawn. By default, at random (as in training).
    pub sampling: Sampling,
    /// Settings of the explainers: the sample budget, seed and scoring they share, and each
    /// method's own under its name.
    pub explainer: explain::Config,
    /// Classes to explain.
    pub targets: Targets,
    /// Drop points with NaN/Inf coordinates instead of failing. By default, false.
    pub drop_invalid: bool,
    /// The one seed every random step derives from. By default, 0.
    pub seed: u64,
    /// The scan's up axis, turned onto the model's (`Classifier::up`) before the network sees
    /// it. By default (`None`): z for LAS and LAZ (the format's convention), the model's own up
    /// axis for PLY and text, which have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub up: Option<Axis>,
    /// Coarser levels explained beside the supervoxels: level `i` is cut with `2^i` times
    /// fewer segments (or a `2^i` times larger resolution) and nested, each supervoxel inside one
    /// coarse segment ([`Segmentation::parents_in`]). By default, 0 (none).
    pub coarser_levels: usize,
    /// What a per-point model's explanation is about (regions); unused for a model of whole
    /// clouds. Left out of reports when at its defaults.
    #[serde(default, skip_serializing_if = "RegionConfig::is_default")]
    pub regions: RegionConfig,
    /// Reference clouds for Expected Gradients (`--baselines`): data, not a setting, so not
    /// written in reports.
    #[serde(skip)]
    pub baselines: Baselines,
}

impl Default for ExplainConfig {
    /// LIME with every setting at its default, every method's settings listed.
    fn default() -> Self {
        let mut explainer = explain::Config::default();
        // Defaults are valid (a test of the registry checks each method's).
        let _ = complete_settings(&mut explainer);
        ExplainConfig {
            method: LIME,
            scene: SceneConfig::default(),
            segments: SegmentConfig::default(),
            sampling: Sampling::default(),
            explainer,
            targets: Targets::default(),
            drop_invalid: false,
            seed: 0,
            up: None,
            coarser_levels: 0,
            regions: RegionConfig::default(),
            baselines: Baselines::default(),
        }
    }
}

impl ExplainConfig {
    /// Checks every method's settings and writes them out whole, the defaults of those not
    /// given included, so that a report lists them all.
    ///
    /// # Errors
    /// [`Error::Config`] for settings of an unknown method, or out of range.
    pub fn complete(&mut self) -> Result<()> {
        complete_settings(&mut self.explainer)
    }

    /// Derives each stage's seed from [`seed`](Self::seed), so that one number fixes the run.
    pub fn seeded(mut self) -> Self {
        self.segments.seed = self.seed;
        self.explainer.seed = self.seed.wrapping_add(1);
        self
    }

    /// Checks the settings once, before any work.
    ///
    /// # Errors
    /// [`Error::Config`] for values out of range or settings that do not
    /// apply to the method.
    pub fn validate(&self) -> Result<()> {
        self.scene.validate()?;
        self.segments.validate()?;
        self.explainer.validate()?;
        self.regions.validate()?;
        complete_settings(&mut self.explainer.clone())?;
        if self.coarser_levels > 8 {
            return Err(Error::Config(format!(
                "coarser levels must be at most 8 (each halves the segments), got {}",
                self.coarser_levels
            )));
        }
        let lime: LimeConfig = self.explainer.settings()?;
        if self.method != LIME && lime.auto_samples_max.is_some() {
            return Err(Error::Config(format!(
                "auto-samples applies to LIME only, not to {}",
                self.method
            )));
        }
        lime.check_cap(self.explainer.n_samples)
    }
}
