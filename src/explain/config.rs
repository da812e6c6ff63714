//! The settings every explainer takes, and how they are written in reports.

use serde::{Deserialize, Serialize};

use super::input::Input;
use super::score::{Scoring, ScoringConfig};
use super::structure::SagConfig;
use crate::classifier::Output;
use crate::error::{Error, Result};
use crate::perturb::{MaskSampling, Removal};

/// Settings of every explainer.
///
/// Serialised flat, as the `lime` object of a report's settings, in the layout reports have
/// always had, so that settings files written by earlier versions keep loading and reports stay
/// comparable across versions.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Model evaluations a sampling method may spend: LIME's samples (the unperturbed one
    /// included) and KernelSHAP's coalitions beyond the full and empty ones. By default, 1000
    /// (lime_image).
    pub n_samples: usize,
    /// Seed of LIME's masks and KernelSHAP's coalitions. By default, 0.
    pub seed: u64,
    /// LIME's own settings.
    pub lime: LimeConfig,
    /// The structural search's own settings (`sag`).
    pub sag: SagConfig,
    /// How masks are scored, for every method.
    pub scoring: ScoringConfig,
    /// SmoothGrad's and Expected Gradients' settings.
    pub gradients: GradientConfig,
    /// Sliding-ball occlusion's settings.
    pub ball: BallConfig,
}

/// Settings of the gradient methods that average over samples.
#[derive(Debug, Clone, PartialEq)]
pub struct GradientConfig {
    /// SmoothGrad's noisy copies of the cloud. By default, 32.
    pub smoothgrad_samples: usize,
    /// SmoothGrad's noise: the standard deviation of each coordinate's Gaussian, in the scan's
    /// units (metres for LiDAR). By default (`None`), 5% of the scan's radius.
    pub smoothgrad_noise: Option<f64>,
    /// Expected Gradients' draws of a baseline and a point on the path. By default, 32.
    pub eg_samples: usize,
}

impl Default for GradientConfig {
    fn default() -> Self {
        GradientConfig {
            smoothgrad_samples: 32,
            smoothgrad_noise: None,
            eg_samples: 32,
        }
    }
}

/// Settings of sliding-ball occlusion: balls of `radius` centred on a grid of `stride`, in the
/// scan's units. By default (`None`), a quarter of the scan's radius for both, so that every
/// point lies in at least one ball (a grid cell's farthest point is `stride · √3 / 2` from its
/// nearest centre).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BallConfig {
    pub radius: Option<f64>,
    pub stride: Option<f64>,
}

/// LIME's surrogate model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Surrogate {
    /// Weighted ridge regression (lime_base). By default, this.
    #[default]
    Ridge,
    /// A shallow weighted regression tree; a segment's importance is the tree's mean change
    /// when the segment is switched on in the samples.
    Tree,
}

impl Surrogate {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Surrogate::Ridge => "ridge",
            Surrogate::Tree => "tree",
        }
    }
}

impl std::str::FromStr for Surrogate {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Surrogate, String> {
        match s {
            "ridge" => Ok(Surrogate::Ridge),
            "tree" => Ok(Surrogate::Tree),
            _ => Err(format!("unknown surrogate {s:?}: ridge or tree")),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            n_samples: 1000,
            seed: 0,
            lime: LimeConfig::default(),
            sag: SagConfig::default(),
            scoring: ScoringConfig::default(),
            gradients: GradientConfig::default(),
            ball: BallConfig::default(),
        }
    }
}

impl Config {
    /// Checks the settings and the input once, before any work: every method starts with this.
    ///
    /// # Errors
    /// As [`Config::validate`] and [`Input::check`].
    pub fn check(&self, input: &Input) -> Result<()> {
        self.validate()?;
        input.check()
    }

    /// Checks the settings once, before any work.
    ///
    /// # Errors
    /// [`Error::Config`] for values out of range.
    pub fn validate(&self) -> Result<()> {
        if self.n_samples < 2 {
            return Err(Error::Config(format!(
                "samples must be at least 2, got {}",
                self.n_samples
            )));
        }
        self.lime.validate()?;
        self.sag.validate()?;
        let positive = |name: &str, v: Option<f64>| match v {
            Some(v) if !(v > 0.0 && v.is_finite()) => {
                Err(Error::Config(format!("{name} must be positive, got {v}")))
            }
            _ => Ok(()),
        };
        positive("smoothgrad noise", self.gradients.smoothgrad_noise)?;
        positive("ball radius", self.ball.radius)?;
        positive("ball stride", self.ball.stride)?;
        if self.gradients.smoothgrad_samples == 0 || self.gradients.eg_samples == 0 {
            return Err(Error::Config(
                "smoothgrad and expected-gradients samples must be at least 1".into(),
            ));
        }
        self.scoring.validate()?;
        if self
            .lime
            .auto_samples_max
            .is_some_and(|m| m < self.n_samples)
        {
            return Err(Error::Config(format!(
                "the auto-samples cap must be at least the {} starting samples",
                self.n_samples
            )));
        }
        Ok(())
    }
}

/// The serialised form of [`Config`] (see there).
#[derive(Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ConfigFile {
    n_samples: usize,
    keep_probability: f64,
    kernel_width: f64,
    ridge_alpha: f64,
    removal: Removal,
    output: Output,
    batch_size: usize,
    seed: u64,
    scoring: Scoring,
    auto_samples_max: Option<usize>,
    sag_threshold: f64,
    sag_beam_width: usize,
    sag_max_sets: usize,
    sag_max_overlap: f64,
    sag_max_evaluations: usize,
    surrogate: Surrogate,
    tree_depth: usize,
    mask_sampling: MaskSampling,
    smoothgrad_samples: usize,
    smoothgrad_noise: Option<f64>,
    eg_samples: usize,
    ball_radius: Option<f64>,
    ball_stride: Option<f64>,
}

impl Default for ConfigFile {
    fn default() -> Self {
        ConfigFile::from(&Config::default())
    }
}

impl From<&Config> for ConfigFile {
    fn from(c: &Config) -> Self {
        ConfigFile {
            n_samples: c.n_samples,
            keep_probability: c.lime.keep_probability,
            kernel_width: c.lime.kernel_width,
            ridge_alpha: c.lime.ridge_alpha,
            removal: c.scoring.removal,
            output: c.scoring.output,
            batch_size: c.scoring.batch_size,
            seed: c.seed,
            scoring: c.scoring.path,
            auto_samples_max: c.lime.auto_samples_max,
            sag_threshold: c.sag.threshold,
            sag_beam_width: c.sag.beam_width,
            sag_max_sets: c.sag.max_sets,
            sag_max_overlap: c.sag.max_overlap,
            sag_max_evaluations: c.sag.max_evaluations,
            surrogate: c.lime.surrogate,
            tree_depth: c.lime.tree_depth,
            mask_sampling: c.lime.sampling,
            smoothgrad_samples: c.gradients.smoothgrad_samples,
            smoothgrad_noise: c.gradients.smoothgrad_noise,
            eg_samples: c.gradients.eg_samples,
            ball_radius: c.ball.radius,
            ball_stride: c.ball.stride,
        }
    }
}

impl Serialize for Config {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        ConfigFile::from(self).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Config {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let f = ConfigFile::deserialize(d)?;
        Ok(Config {
            n_samples: f.n_samples,
            seed: f.seed,
            lime: LimeConfig {
                keep_probability: f.keep_probability,
                kernel_width: f.kernel_width,
                ridge_alpha: f.ridge_alpha,
                auto_samples_max: f.auto_samples_max,
                surrogate: f.surrogate,
                tree_depth: f.tree_depth,
                sampling: f.mask_sampling,
            },
            sag: SagConfig {
                threshold: f.sag_threshold,
                beam_width: f.sag_beam_width,
                max_sets: f.sag_max_sets,
                max_overlap: f.sag_max_overlap,
                max_evaluations: f.sag_max_evaluations,
            },
            scoring: ScoringConfig {
                removal: f.removal,
                output: f.output,
                batch_size: f.batch_size,
                path: f.scoring,
            },
            gradients: GradientConfig {
                smoothgrad_samples: f.smoothgrad_samples,
                smoothgrad_noise: f.smoothgrad_noise,
                eg_samples: f.eg_samples,
            },
            ball: BallConfig {
                radius: f.ball_radius,
                stride: f.ball_stride,
            },
        })
    }
}

/// LIME's own settings; the sample count, seed and scoring are every method's ([`Config`]).
#[derive(Debug, Clone, PartialEq)]
pub struct LimeConfig {
    /// Probability that a segment is kept in a sample. By default, 0.5.
    pub keep_probability: f64,
    /// Kernel width on cosine distance. By default, 0.25 (lime_image).
    pub kernel_width: f64,
    /// Ridge penalty. By default, 1.0 (lime_base).
    pub ridge_alpha: f64,
    /// `--auto-samples`: double the sample count, from [`Config::n_samples`], until the top-5
    /// segments (in order) of every explained class are the same as at the previous count, or
    /// this many samples are reached. Off (`None`) by default.
    pub auto_samples_max: Option<usize>,
    /// The surrogate fitted to the samples. By default, ridge.
    pub surrogate: Surrogate,
    /// Depth of the tree surrogate. By default, 4.
    pub tree_depth: usize,
    /// How masks are drawn. By default, each segment kept independently with
    /// [`keep_probability`](Self::keep_probability), as lime_image does.
    pub sampling: MaskSampling,
}

impl Default for LimeConfig {
    fn default() -> Self {
        LimeConfig {
            keep_probability: 0.5,
            kernel_width: 0.25,
            ridge_alpha: 1.0,
            auto_samples_max: None,
            surrogate: Surrogate::Ridge,
            tree_depth: 4,
            sampling: MaskSampling::Bernoulli,
        }
    }
}

impl LimeConfig {
    /// Checks the settings once, before any work.
    ///
    /// # Errors
    /// [`Error::Config`] for values out of range.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if !(self.keep_probability > 0.0 && self.keep_probability < 1.0) {
            return bad(format!(
                "keep probability must be in (0, 1), got {}",
                self.keep_probability
            ));
        }
        if !(self.kernel_width > 0.0 && self.kernel_width.is_finite()) {
            return bad(format!(
                "kernel width must be positive, got {}",
                self.kernel_width
            ));
        }
        if !(1..=12).contains(&self.tree_depth) {
            return bad(format!(
                "tree depth must be in 1..=12, got {}",
                self.tree_depth
            ));
        }
        if !(self.ridge_alpha >= 0.0 && self.ridge_alpha.is_finite()) {
            return bad(format!(
                "ridge alpha must be non-negative, got {}",
                self.ridge_alpha
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_keep_the_flat_layout_reports_have_always_had() {
        let mut config = Config::default();
        config.scoring.removal = Removal::Centroid;
        config.lime.auto_samples_max = Some(4000);
        let json = serde_json::to_string(&config).unwrap();
        assert_eq!(
            json,
            r#"{"n_samples":1000,"keep_probability":0.5,"kernel_width":0.25,"ridge_alpha":1.0,"removal":"centroid","output":"logit","batch_size":32,"seed":0,"scoring":"auto","auto_samples_max":4000,"sag_threshold":0.9,"sag_beam_width":10,"sag_max_sets":3,"sag_max_overlap":0.5,"sag_max_evaluations":20000,"surrogate":"ridge","tree_depth":4,"mask_sampling":"bernoulli","smoothgrad_samples":32,"smoothgrad_noise":null,"eg_samples":32,"ball_radius":null,"ball_stride":null}"#
        );
        assert_eq!(serde_json::from_str::<Config>(&json).unwrap(), config);
        // Missing keys take their defaults; unknown keys are refused.
        let partial: Config = serde_json::from_str(r#"{"n_samples":300}"#).unwrap();
        assert_eq!(partial.n_samples, 300);
        assert_eq!(partial.scoring, ScoringConfig::default());
        assert!(serde_json::from_str::<Config>(r#"{"samples":300}"#).is_err());
    }

    #[test]
    fn command_line_names_are_the_report_names() {
        use crate::explain::ScoringPath;
        // The FromStr impls and `name()`s restate serde's names by hand: keep them equal.
        let serde_name = |v: serde_json::Value| v.as_str().unwrap().to_string();
        for o in [Output::Logit, Output::Probability] {
            let n = serde_name(serde_json::to_value(o).unwrap());
            assert_eq!((o.name(), n.parse::<Output>().unwrap()), (n.as_str(), o));
        }
        for r in [Removal::Drop, Removal::Centroid] {
            let n = serde_name(serde_json::to_value(r).unwrap());
            assert_eq!(n.parse::<Removal>().unwrap(), r);
        }
        for p in [Scoring::Auto, Scoring::Generic, Scoring::Full] {
            let n = serde_name(serde_json::to_value(p).unwrap());
            assert_eq!(n.parse::<Scoring>().unwrap(), p);
        }
        for p in [
            ScoringPath::ExactMaxPool,
            ScoringPath::GenericKeptPoints,
            ScoringPath::PooledInputTransform,
            ScoringPath::GenericFull,
            ScoringPath::Backprop,
            ScoringPath::PooledFeatures,
        ] {
            assert_eq!(serde_name(serde_json::to_value(p).unwrap()), p.name());
        }
        for m in crate::explain::Method::ALL {
            let n = serde_name(serde_json::to_value(m).unwrap());
            assert_eq!(
                (m.name(), n.parse::<crate::explain::Method>().unwrap()),
                (n.as_str(), m)
            );
        }
        for v in [Surrogate::Ridge, Surrogate::Tree] {
            let n = serde_name(serde_json::to_value(v).unwrap());
            assert_eq!(n.parse::<Surrogate>().unwrap(), v);
        }
        for v in [MaskSampling::Bernoulli, MaskSampling::Stratified] {
            let n = serde_name(serde_json::to_value(v).unwrap());
            assert_eq!(n.parse::<MaskSampling>().unwrap(), v);
        }
        assert!("dropped".parse::<Removal>().is_err());
    }
}
