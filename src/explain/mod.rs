//! Explainers: from a classifier and one [`Input`] (a cloud's model-frame points and their
//! segments) to one [`Attribution`]: a value per segment for each explained class.
//!
//! Every method is one file and one function of the same shape,
//! `(classifier, input, targets, config, progress) -> Result<Attribution>`, and [`attribute`]
//! dispatches on [`Method`] (captum's `attribute()`). Masks are scored through [`score`], the one
//! place that knows how perturbed clouds are built and run. Adding a method means adding its file
//! and one arm here.
//!
//! The files depend on each other in one direction only: [`input`] ← [`score`] ← [`config`],
//! [`attribution`] ← `masked` (score a set of masks, then explain each class from its column) ←
//! the methods ([`lime`], [`kernel_shap`], [`occlusion`], [`sag`], [`gradient`] ← [`saliency`],
//! [`gradient`] ← [`cam`], fitting through [`ridge`]) ← this dispatch; [`structure`] holds the
//! structural search's settings and results, which [`config`] and [`attribution`] carry. Nothing
//! here knows how explanations are evaluated: that is the `faithfulness` module, which uses these
//! functions and never the other way round.

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
pub mod ridge;
pub mod sag;
pub mod saliency;
pub mod score;
pub mod smoothgrad;
pub mod structure;
pub mod tree;

pub use attribution::{Attribution, Explanation, Method, Samples, Targets};
pub use config::{BallConfig, Config, GradientConfig, LimeConfig, Surrogate};
pub use input::{Baselines, Input};
pub use score::{score_masks, Cost, Prepared, Progress, Scoring, ScoringConfig, ScoringPath};
pub use structure::{SagConfig, Structure, SufficientSet};

use crate::classifier::Classifier;
use crate::error::Result;

/// Explains `targets` of `input` with `method`: the one entry point of every explainer.
///
/// # Errors
/// [`Error::Config`](crate::Error::Config) for invalid settings or targets, or a gradient method
/// on a classifier that gives no gradients; classifier errors as they come.
pub fn attribute(
    method: Method,
    classifier: &dyn Classifier,
    input: &Input,
    targets: &Targets,
    config: &Config,
    progress: Option<&Progress>,
) -> Result<Attribution> {
    match method {
        Method::Lime => lime::lime(classifier, input, targets, config, progress),
        Method::KernelShap => {
            kernel_shap::kernel_shap(classifier, input, targets, config, progress)
        }
        Method::Occlusion => occlusion::occlusion(classifier, input, targets, config, progress),
        Method::Gradient => gradient::gradient(classifier, input, targets, config),
        Method::Saliency => saliency::saliency(classifier, input, targets, config),
        Method::Sag => sag::sag(classifier, input, targets, config, progress),
        Method::Cam => cam::cam(classifier, input, targets, config),
        Method::Critical => cam::critical(classifier, input, targets, config),
        Method::FeatureNorm => cam::feature_norm(classifier, input, targets, config),
        Method::GradCam => cam::grad_cam(classifier, input, targets, config),
        Method::Ig => integrated::integrated_gradients(classifier, input, targets, config),
        Method::SmoothGrad => smoothgrad::smoothgrad(classifier, input, targets, config),
        Method::ExpectedGradients => {
            smoothgrad::expected_gradients(classifier, input, targets, config)
        }
        Method::Lrp => lrp::lrp(classifier, input, targets, config),
        Method::BallOcclusion => {
            occlusion::ball_occlusion(classifier, input, targets, config, progress)
        }
    }
}
