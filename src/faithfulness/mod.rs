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
    evaluate_object, LimeChecks, MethodResult, ObjectResult, Randomisation, RandomisationCheck,
    Setup, StructureCheck,
};
pub use stability::{spearman, top_k_jaccard};
pub use summary::{
    markdown, structure_markdown, summarise, summarise_structure, LimeSummary, MethodSummary,
    RandomisationSummary, StructureSummary,
};
pub use surrogate::{bootstrap_std, held_out_r2};

use crate::error::{Error, Result};
use crate::explain::Method;

/// Checks a method list.
///
/// # Errors
/// [`Error::Config`] for an empty list.
pub fn check_methods(methods: &[Method]) -> Result<()> {
    if methods.is_empty() {
        return Err(Error::Config("at least one method is needed".into()));
    }
    Ok(())
}
