//! Explainers: from a classifier and one [`Input`] (a cloud's model-frame points and their
//! segments) to one [`Attribution`]: a value per segment for each explained class.
//!
//! Every method is one file that declares a [`Spec`] (its name, what it needs of a classifier,
//! whether it is random, its own settings with their flags, and its function, of one shape:
//! `(classifier, input, targets, config, progress) -> Result<Attribution>`) and registers it;
//! [`attribute`] runs the one named (captum's `attribute()`), and every list of methods reads
//! [`Method::all`]. Adding a method means adding its file and its line in the module list below.
//! Masks are scored through [`score`], the one place that knows how perturbed clouds are built and
//! run.
//!
//! The files depend on each other in one direction only: [`input`] ← [`score`] ← [`config`]
//! (the shared settings, and each method's under its name) ← [`payload`] (what a method finds
//! beyond one value per segment) ← [`attribution`] (the types every method returns, and the
//! registry of methods) ← `masked` (score a set of masks, then explain each class from its
//! column) ← the methods ([`lime`], [`kernel_shap`], [`occlusion`], [`sag`], [`gradient`] ←
//! [`saliency`], [`gradient`] ← [`cam`], fitting through [`ridge`]) ← this dispatch;
//! [`structure`] holds the structural search's settings and results. Nothing here knows how
//! explanations are evaluated: that is the `faithfulness` module, which uses these functions and
//! never the other way round.

pub mod attribution;
pub mod cam;
pub mod config;
pub mod gradient;
pub mod input;
pub mod integrated;
pub mod kernel_shap;
pub mod lime;
pub mod lrp;
mod masked;
pub mod occlusion;
pub mod payload;
pub mod random;
pub mod ridge;
pub mod sag;
pub mod saliency;
pub mod score;
pub mod smoothgrad;
pub mod structure;
pub mod tree;

pub use attribution::{Attribution, Explanation, Method, Needs, Samples, Spec, Targets};
pub use config::{Config, Flag, FlagValue, MethodSettings, SettingsSpec};
pub use input::{Baselines, Input};
pub use lime::{LimeConfig, Surrogate};
pub use occlusion::BallConfig;
pub use payload::Payload;
pub use score::{score_masks, Cost, Prepared, Progress, Scoring, ScoringConfig, ScoringPath};
pub use smoothgrad::{EgConfig, SmoothGradConfig};
pub use structure::{SagConfig, Structure, SufficientSet};

use crate::classifier::Classifier;
use crate::error::Result;

/// Explains `targets` of `input` with `method`: the one entry point of every explainer.
///
/// # Errors
/// [`Error::Config`](crate::Error::Config) for invalid settings or targets, or a method on a
/// classifier that does not give what it needs; classifier errors as they come.
pub fn attribute(
    method: Method,
    classifier: &dyn Classifier,
    input: &Input,
    targets: &Targets,
    config: &Config,
    progress: Option<&Progress>,
) -> Result<Attribution> {
    method.check(classifier)?;
    (method.spec().run)(classifier, input, targets, config, progress)
}
