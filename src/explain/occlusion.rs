//! Occlusion over segments (Zeiler and Fergus, ECCV 2014, with a segment as the occluder): each
//! segment's importance is the score lost when it alone is removed.

use std::time::Instant;

use super::attribution::{Attribution, Explanation, Method, Samples, Targets};
use super::config::Config;
use super::input::Input;
use super::score::{score_masks, Progress};
use crate::classifier::Classifier;
use crate::error::Result;
use crate::perturb::Masks;

/// Occlusion's masks: row 0 keeps every segment, row `1 + s` all but segment `s`.
pub fn occlusion_masks(n_segments: usize) -> Masks {
    let rows: Vec<Vec<u8>> = std::iter::once(vec![1u8; n_segments])
        .chain((0..n_segments).map(|s| {
            let mut r = vec![1u8; n_segments];
            r[s] = 0;
            r
        }))
        .collect();
    Masks::from_rows(n_segments, &rows)
}

/// Occlusion of every target: the score with every segment kept minus the score with one segment
/// removed, all targets from one pass over the K + 1 masks.
///
/// # Errors
/// [`Error::Config`](crate::Error::Config) for invalid settings, input or targets; classifier
/// errors as they come.
pub fn occlusion(
    classifier: &dyn Classifier,
    input: &Input,
    targets: &Targets,
    config: &Config,
    progress: Option<&Progress>,
) -> Result<Attribution> {
    config.check(input)?;
    let start = Instant::now();
    let names = classifier.class_names();
    let n_classes = names.len();
    let masks = occlusion_masks(input.n_segments);
    let scored = score_masks(classifier, input, &masks, &config.scoring, progress)?;
    let mut cost = scored.cost;
    cost.inference_seconds = start.elapsed().as_secs_f64() - cost.sampling_seconds;
    let t_fit = Instant::now();
    let score = |row: usize, t: usize| scored.scores[row * n_classes + t] as f64;
    let probabilities = config.scoring.probabilities(&scored.scores[..n_classes]);
    let explanations = targets
        .resolve(&probabilities)?
        .into_iter()
        .map(|t| {
            let f_all = score(0, t);
            let drops = (0..input.n_segments)
                .map(|s| f_all - score(s + 1, t))
                .collect();
            Explanation::plain(
                Method::Occlusion,
                t,
                names,
                drops,
                f_all,
                masks.len(),
                config.seed,
            )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_row_after_the_first_removes_one_segment() {
        let m = occlusion_masks(3);
        let rows: Vec<&[u8]> = (0..m.len()).map(|i| m.row(i)).collect();
        assert_eq!(rows, [&[1, 1, 1][..], &[0, 1, 1], &[1, 0, 1], &[1, 1, 0]]);
    }
}
