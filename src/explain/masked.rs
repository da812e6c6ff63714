//! The shape every sampling method shares: score a set of masks once (row 0 the unperturbed
//! cloud), then derive each explained class's explanation from its column of scores.

use std::time::Instant;

use super::attribution::{Attribution, Explanation, Samples, Targets};
use super::config::Config;
use super::input::Input;
use super::score::{score_masks, Progress};
use crate::classifier::Classifier;
use crate::error::Result;
use crate::perturb::Masks;

/// Scores `masks` and calls `explain(target, scores, masks)` for each target with the target's
/// score on every mask, in mask order. The cost's fit time is the time spent in `explain`; drawing
/// the masks is the caller's, who adds it to the sampling time.
///
/// # Errors
/// [`Error::Config`](crate::Error::Config) for out-of-range targets; classifier errors as they
/// come.
pub(crate) fn explain_masks(
    classifier: &dyn Classifier,
    input: &Input,
    targets: &Targets,
    config: &Config,
    progress: Option<&Progress>,
    masks: Masks,
    explain: impl Fn(usize, &[f64], &Masks) -> Explanation,
) -> Result<Attribution> {
    let start = Instant::now();
    let n_classes = classifier.class_names().len();
    let scored = score_masks(classifier, input, &masks, &config.scoring, progress)?;
    let mut cost = scored.cost;
    cost.inference_seconds = start.elapsed().as_secs_f64() - cost.sampling_seconds;
    let t_fit = Instant::now();
    let probabilities = config.scoring.probabilities(&scored.scores[..n_classes]);
    let explanations = targets
        .resolve(&probabilities)?
        .into_iter()
        .map(|t| {
            let column: Vec<f64> = (0..masks.len())
                .map(|r| scored.scores[r * n_classes + t] as f64)
                .collect();
            explain(t, &column, &masks)
        })
        .collect();
    cost.fit_seconds = t_fit.elapsed().as_secs_f64();
    Ok(Attribution {
        probabilities,
        explanations,
        per_point: Vec::new(),
        samples: Some(Samples {
            masks,
            scores: scored.scores,
        }),
        cost,
    })
}
