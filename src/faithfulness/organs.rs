//! Explanations checked against real structure: where a scan carries organ labels (a plant's stem
//! and leaves), does the explanation's weight fall on the stem or the leaves, and does LIME over
//! supervoxels rank the organs as LIME over the organs themselves does?
//!
//! For one scan and the class it is explained for:
//!
//! - **stem share**: of the positive importance (each point carries its supervoxel's coefficient;
//!   negative ones count as 0), the share on stem points; **enrichment**: that share over the stem's
//!   share of the points (1: the stem matters in proportion to its size; above 1: more).
//! - **organ agreement**: each supervoxel's coefficient spread over the organs by its points, and
//!   an explanation with the organs as the segments (`--segments-from`); whether both put the
//!   same organ first, and the Spearman correlation of the two organ rankings.

use serde::{Deserialize, Serialize};

use crate::classifier::Classifier;
use crate::cloud::PointCloud;
use crate::error::{Error, Result};
use crate::explain::Targets;
use crate::faithfulness::spearman;
use crate::pipeline::{explain_cloud, ExplainConfig};
use crate::stats::median;

/// One scan's organ check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrganCheck {
    pub input: String,
    /// The scan's true class.
    pub class: String,
    /// The class explained (the predicted one, by default).
    pub explained: String,
    /// The stem's share of the scan's points.
    pub stem_points: f64,
    /// The stem's share of the positive importance (`None` when no importance is positive).
    pub stem_importance: Option<f64>,
    /// `stem_importance / stem_points`.
    pub stem_enrichment: Option<f64>,
    /// The leaves' (every non-stem point's) share of the positive importance over their share of
    /// the points.
    pub leaf_enrichment: Option<f64>,
    /// Organs after tiny parts were merged (`min_part_points`).
    pub organs: usize,
    /// Whether the supervoxel explanation, spread over the organs, and the organ-level
    /// explanation put the same organ first.
    pub top_organ_agrees: bool,
    /// Spearman correlation of the two organ rankings (`None` when either is constant).
    pub rank_correlation: Option<f64>,
    /// The organ-level explanation's top organ, by its field value.
    pub top_organ: f64,
    /// Whether that organ is the stem.
    pub top_organ_is_stem: bool,
}

/// Runs both explanations of `cloud` (validated; `config` as for `explain`) and compares them
/// with its organs: `field` holds each point's organ, `stem` is the stem's value there.
///
/// # Errors
/// [`Error::Scan`] when the scan has no such field or no stem point; explainer errors. `input`
/// names the scan in the result; errors do not name it (see [`Error::in_file`]).
pub fn check_organs(
    cloud: &PointCloud,
    input: &std::path::Path,
    class: &str,
    classifier: &dyn Classifier,
    config: &ExplainConfig,
    field: &str,
    stem: f64,
) -> Result<OrganCheck> {
    let Some(organ) = cloud.attribute(field).map(|a| a.values.clone()) else {
        return Err(Error::Scan(format!(
            "no per-point field {field:?} with organs"
        )));
    };
    let is_stem: Vec<bool> = organ.iter().map(|&v| v == stem).collect();
    let n_stem = is_stem.iter().filter(|&&s| s).count();
    if n_stem == 0 || config.scene.is_active() {
        return Err(Error::Scan(format!(
            "no point has the stem's value {stem} in {field:?} (or scene steps would drop points)"
        )));
    }
    let name = input.display().to_string();
    let lime = explain_cloud(cloud, input, classifier, "", config, 0, None)?;
    let e = &lime.report.explanations[0];
    let mut organ_config = config.clone();
    organ_config.segments.from_field = Some(field.to_string());
    organ_config.targets = Targets::Classes(vec![e.target]);
    let by_organ = explain_cloud(cloud, input, classifier, "", &organ_config, 0, None)?;
    let o = &by_organ.report.explanations[0];

    // Positive importance per point, summed over the stem and over everything.
    let (mut on_stem, mut total) = (0.0, 0.0);
    for (&s, &label) in is_stem.iter().zip(&lime.segmentation.labels) {
        let v = e.coefficients[label as usize].max(0.0);
        total += v;
        if s {
            on_stem += v;
        }
    }
    let n = cloud.len() as f64;
    let stem_points = n_stem as f64 / n;
    let stem_importance = (total > 0.0).then(|| on_stem / total);
    // Each supervoxel's coefficient spread over the organ segments by its points.
    let organs = by_organ.segmentation.count;
    let sizes = lime.segmentation.sizes();
    let mut spread = vec![0.0; organs];
    for (&sv, &og) in lime
        .segmentation
        .labels
        .iter()
        .zip(&by_organ.segmentation.labels)
    {
        spread[og as usize] += e.coefficients[sv as usize] / sizes[sv as usize] as f64;
    }
    let first = |v: &[f64]| crate::stats::ranking(v).first().copied().unwrap_or(0);
    let top = first(&o.coefficients);
    let top_organ = by_organ.report.segments[top]
        .field_value
        .unwrap_or(f64::NAN);
    Ok(OrganCheck {
        input: name,
        class: class.to_string(),
        explained: e.target_name.clone(),
        stem_points,
        stem_importance,
        stem_enrichment: stem_importance.map(|s| s / stem_points),
        leaf_enrichment: stem_importance
            .filter(|_| stem_points < 1.0)
            .map(|s| (1.0 - s) / (1.0 - stem_points)),
        organs,
        top_organ_agrees: first(&spread) == top,
        rank_correlation: spearman(&spread, &o.coefficients),
        top_organ,
        top_organ_is_stem: top_organ == stem,
    })
}

/// The organ checks of one class, summarised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrganSummary {
    pub class: String,
    pub scans: usize,
    /// Median organs per scan (after tiny parts were merged).
    pub organs: f64,
    /// Median stem share of the points.
    pub stem_points: f64,
    /// Median stem share of the positive importance.
    pub stem_importance: f64,
    /// Median stem enrichment (importance share over point share).
    pub stem_enrichment: f64,
    /// Median leaf enrichment.
    pub leaf_enrichment: f64,
    /// Share of scans whose organ-level explanation puts the stem first.
    pub stem_first: f64,
    /// Share of scans where both explanations put the same organ first.
    pub top_organ_agreement: f64,
    /// Median Spearman correlation of the two organ rankings.
    pub rank_correlation: f64,
}

/// One summary per class present in `checks`, in the order of `class_names`.
pub fn summarise_organs(checks: &[OrganCheck], class_names: &[String]) -> Vec<OrganSummary> {
    class_names
        .iter()
        .filter_map(|class| {
            let of: Vec<&OrganCheck> = checks.iter().filter(|c| &c.class == class).collect();
            if of.is_empty() {
                return None;
            }
            let med = |f: &dyn Fn(&OrganCheck) -> Option<f64>| {
                median(of.iter().filter_map(|c| f(c)).filter(|v| v.is_finite()))
            };
            let share = |f: &dyn Fn(&OrganCheck) -> bool| {
                of.iter().filter(|c| f(c)).count() as f64 / of.len() as f64
            };
            Some(OrganSummary {
                class: class.clone(),
                scans: of.len(),
                organs: med(&|c| Some(c.organs as f64)),
                stem_points: med(&|c| Some(c.stem_points)),
                stem_importance: med(&|c| c.stem_importance),
                stem_enrichment: med(&|c| c.stem_enrichment),
                leaf_enrichment: med(&|c| c.leaf_enrichment),
                stem_first: share(&|c| c.top_organ_is_stem),
                top_organ_agreement: share(&|c| c.top_organ_agrees),
                rank_correlation: med(&|c| c.rank_correlation),
            })
        })
        .collect()
}

/// The summaries as a Markdown section.
pub fn organs_markdown(summaries: &[OrganSummary], field: &str) -> String {
    let mut md = format!(
        "\n## Organs (field `{field}`)\n\n\
         Stem shares are medians over scans; enrichment is the share of positive importance over the \
         share of points (1: in proportion to size). Agreement compares LIME's supervoxels, spread \
         over the organs, with LIME over the organs themselves.\n\n\
         | class | scans | organs | stem points | stem importance | stem enrichment | leaf enrichment | organ explanation puts stem first | same top organ | organ rank correlation |\n\
         |---|---|---|---|---|---|---|---|---|---|\n"
    );
    for s in summaries {
        md.push_str(&format!(
            "| {} | {} | {} | {:.1}% | {:.1}% | {:.2} | {:.2} | {:.0}% | {:.0}% | {:.2} |\n",
            s.class,
            s.scans,
            s.organs,
            100.0 * s.stem_points,
            100.0 * s.stem_importance,
            s.stem_enrichment,
            s.leaf_enrichment,
            100.0 * s.stem_first,
            100.0 * s.top_organ_agreement,
            s.rank_correlation
        ));
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(class: &str, stem_importance: Option<f64>, agrees: bool) -> OrganCheck {
        OrganCheck {
            input: "x".into(),
            class: class.into(),
            explained: class.into(),
            stem_points: 0.25,
            stem_importance,
            stem_enrichment: stem_importance.map(|s| s / 0.25),
            leaf_enrichment: stem_importance.map(|s| (1.0 - s) / 0.75),
            organs: 4,
            top_organ_agrees: agrees,
            rank_correlation: Some(if agrees { 0.8 } else { 0.2 }),
            top_organ: 2.0,
            top_organ_is_stem: agrees,
        }
    }

    #[test]
    fn summaries_are_per_class_medians_and_shares() {
        let checks = [
            check("a", Some(0.5), true),
            check("a", Some(0.7), false),
            check("a", None, true),
            check("b", Some(0.1), false),
        ];
        let names = ["a".to_string(), "b".into(), "c".into()];
        let s = summarise_organs(&checks, &names);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].scans, 3);
        assert!((s[0].stem_importance - 0.6).abs() < 1e-12);
        assert!((s[0].stem_enrichment - 2.4).abs() < 1e-12);
        assert!((s[0].top_organ_agreement - 2.0 / 3.0).abs() < 1e-12);
        assert!((s[1].leaf_enrichment - 1.2).abs() < 1e-12);
        assert!(organs_markdown(&s, "label")
            .contains("| b | 1 | 4 | 25.0% | 10.0% | 0.40 | 1.20 | 0% | 0% | 0.20 |"));
    }
}
