//! How faithful are the explanations? Measurements of the explainers in [`crate::explain`], which
//! never depend on this module:
//!
//! - [`curves`](mod@curves): deletion and insertion curves against random orders, their areas and AOPC;
//! - [`surrogate`]: LIME's held-out R² and the bootstrap spread of its coefficients;
//! - [`stability`]: Spearman and top-k Jaccard between two explanations (seeds, randomised models);
//! - [`object`]: all of it on one object, with the model randomisation checks;
//! - [`summary`]: medians over objects and the Markdown report;
//! - [`organs`]: where organ labels exist, the explanations against the stem and the leaves;
//! - [`regions`]: a per-point model's explanations, region by region, with pGS-CAM's IoU protocol;
//! - [`plot`]: the mean curves as a PNG.

pub mod curves;
pub mod object;
pub mod organs;
pub mod plot;
pub mod regions;
pub mod stability;
pub mod summary;
pub mod surrogate;

pub use curves::{curves, random_order_curves, Curves};
pub use object::{
    evaluate_object, LabelCheck, LimeChecks, MethodResult, ObjectResult, OtherSurrogate,
    Randomisation, RandomisationCheck, Setup, StructureCheck,
};
pub use stability::{spearman, top_k_jaccard};
pub use summary::{
    markdown, structure_markdown, summarise, summarise_structure, LimeSummary, MethodSummary,
    RandomisationSummary, StructureSummary,
};
pub use surrogate::{bootstrap_std, held_out_r2, refit};

use crate::classifier::Classifier;
use crate::error::{Error, Result};
use crate::explain::gradient::GRADIENT;
use crate::explain::kernel_shap::KERNEL_SHAP;
use crate::explain::lime::LIME;
use crate::explain::occlusion::OCCLUSION;
use crate::explain::saliency::SALIENCY;
use crate::explain::Method;

/// The methods compared when none are named: the gradient ones only for a classifier that gives
/// gradients.
pub fn default_methods(classifier: &dyn Classifier) -> Vec<Method> {
    [LIME, KERNEL_SHAP, OCCLUSION, GRADIENT, SALIENCY]
        .into_iter()
        .filter(|m| m.runs_on(classifier))
        .collect()
}

/// Every method `classifier` supports, in [`Method::all`]'s order: the leaderboard's.
pub fn supported_methods(classifier: &dyn Classifier) -> Vec<Method> {
    Method::all()
        .into_iter()
        .filter(|m| m.runs_on(classifier))
        .collect()
}

/// Checks a method list against the classifier, before any work.
///
/// # Errors
/// [`Error::Config`] for an empty list, or a method the classifier cannot run ([`Method::check`]).
pub fn check_methods(methods: &[Method], classifier: &dyn Classifier) -> Result<()> {
    if methods.is_empty() {
        return Err(Error::Config("at least one method is needed".into()));
    }
    methods.iter().try_for_each(|m| m.check(classifier))
}
