//! How faithful are the explanations? Measurements of the explainers in [`crate::explain`], which
//! never depend on this module:
//!
//! - [`curves`](mod@curves): deletion and insertion curves against random orders, their areas and AOPC;
//! - [`surrogate`]: LIME's held-out R² and the bootstrap spread of its coefficients;
//! - [`stability`]: Spearman and top-k Jaccard between two explanations (seeds, randomised models);
//! - [`object`]: all of it on one object, with the model randomisation checks;
//! - [`summary`]: medians over objects and the Markdown report;
//! - [`organs`]: where organ labels exist, the explanations against the stem and the leaves;
//! - [`plot`]: the mean curves as a PNG.

pub mod curves;
pub mod object;
pub mod organs;
pub mod plot;
pub mod stability;
pub mod summary;
pub mod surrogate;

pub use curves::{curves, random_order_curves, Curves};
pub use object::{
    evaluate_object, LimeChecks, MethodResult, ObjectResult, OtherSurrogate, Randomisation,
    RandomisationCheck, Setup, StructureCheck,
};
pub use stability::{spearman, top_k_jaccard};
pub use summary::{
    markdown, structure_markdown, summarise, summarise_structure, LimeSummary, MethodSummary,
    RandomisationSummary, StructureSummary,
};
pub use surrogate::{bootstrap_std, held_out_r2, refit};

use crate::classifier::Classifier;
use crate::error::{Error, Result};
use crate::explain::Method;

/// The methods compared when none are named: the gradient ones only for a classifier that gives
/// gradients.
pub fn default_methods(classifier: &dyn Classifier) -> Vec<Method> {
    let mut methods = vec![Method::Lime, Method::KernelShap, Method::Occlusion];
    if classifier.differentiable().is_some() {
        methods.extend([Method::Gradient, Method::Saliency]);
    }
    methods
}

/// Every method `classifier` supports, in [`Method::ALL`]'s order: the leaderboard's.
pub fn supported_methods(classifier: &dyn Classifier) -> Vec<Method> {
    Method::ALL
        .into_iter()
        .filter(|m| match m {
            m if m.needs_gradients() => classifier.differentiable().is_some(),
            Method::Lrp => classifier.dense_layers().is_some(),
            Method::Cam | Method::Critical | Method::FeatureNorm => {
                classifier.max_pooled().is_some()
            }
            Method::GradCam => classifier.pool_layer().is_some(),
            _ => true,
        })
        .collect()
}

/// Checks a method list against the classifier, before any work.
///
/// # Errors
/// [`Error::Config`] for an empty list, or a gradient method on a classifier without gradients.
pub fn check_methods(methods: &[Method], classifier: &dyn Classifier) -> Result<()> {
    if methods.is_empty() {
        return Err(Error::Config("at least one method is needed".into()));
    }
    let gradients = methods.iter().any(|m| m.needs_gradients());
    if gradients && classifier.differentiable().is_none() {
        return Err(Error::Config(
            "the gradient methods (gradient, saliency, ig, smoothgrad, eg) need a model that \
             gives gradients, pointlime's own; this one does not (an ONNX model: use lime, \
             kernelshap, occlusion, ballocclusion or sag)"
                .into(),
        ));
    }
    if methods.contains(&Method::Lrp) && classifier.dense_layers().is_none() {
        return Err(Error::Config(
            "lrp walks back through the layers of pointlime's own PointNets; this model's \
             cannot be read"
                .into(),
        ));
    }
    Ok(())
}
