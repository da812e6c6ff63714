//! Occlusion over segments (Zeiler and Fergus, ECCV 2014, with a segment as the occluder): each
//! segment's importance is the score lost when it alone is removed.

use super::attribution::{Attribution, Explanation, Method, Targets};
use super::config::Config;
use super::input::Input;
use super::masked::explain_masks;
use super::score::Progress;
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
    let names = classifier.class_names();
    let masks = occlusion_masks(input.n_segments);
    explain_masks(
        classifier,
        input,
        targets,
        config,
        progress,
        masks,
        |t, scores, masks| {
            let f_all = scores[0];
            let drops = (0..input.n_segments)
                .map(|s| f_all - scores[s + 1])
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
        },
    )
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
