//! Medians over objects, and the Markdown table `pointlime faithfulness` prints.

use serde::{Deserialize, Serialize};

use super::object::{LimeChecks, MethodResult, ObjectResult, OtherSurrogate};
use crate::explain::Method;
use crate::stats::median;

/// Medians (and the mean-based drop ratio) of one method over objects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodSummary {
    /// The method.
    pub method: Method,
    /// Objects it was measured on.
    pub objects: usize,
    /// Median deletion area (lower is more faithful).
    pub median_deletion_auc: f64,
    /// Median deletion area of random orders.
    pub median_random_deletion_auc: f64,
    /// Median insertion area (higher is more faithful).
    pub median_insertion_auc: f64,
    /// Median insertion area of random orders.
    pub median_random_insertion_auc: f64,
    /// Median AOPC.
    pub median_aopc: f64,
    /// Mean score lost with the top 20% of segments removed, over the mean lost with a random
    /// 20% removed.
    pub drop20_ratio: f64,
    /// Median seconds per explanation.
    pub median_seconds: f64,
    /// Median clouds run through the model per explanation.
    #[serde(default)]
    pub median_evaluations: f64,
    /// Median Spearman with the same method on the fully randomised model (signed; NaN when not
    /// measured). Near 0 passes the sanity check.
    #[serde(default)]
    pub median_randomised_spearman: f64,
    /// The same of absolute values.
    #[serde(default)]
    pub median_randomised_abs_spearman: f64,
    /// Over the cascading randomisation steps, the median of each step's median Spearman (NaN
    /// without `--layer-checks`).
    #[serde(default)]
    pub median_cascading_spearman: f64,
    /// The same over the independent steps.
    #[serde(default)]
    pub median_independent_spearman: f64,
    /// Median Spearman between two seeds (NaN for a deterministic method).
    #[serde(default)]
    pub median_seed_spearman: f64,
    /// The data-randomisation check (`--label-check`): median Spearman with the same method's
    /// explanation by the model trained on permuted labels, signed and of absolute values, and
    /// the median top-5 Jaccard (NaN when not measured).
    #[serde(default = "not_measured")]
    pub median_label_spearman: f64,
    #[serde(default = "not_measured")]
    pub median_label_abs_spearman: f64,
    #[serde(default = "not_measured")]
    pub median_label_top5_jaccard: f64,
}

/// A median that older reports did not measure.
fn not_measured() -> f64 {
    f64::NAN
}

/// Medians of LIME's checks over objects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LimeSummary {
    /// Median samples used (above `--samples` only with `--auto-samples`).
    pub median_samples: f64,
    /// Most samples used on one object.
    pub max_samples: usize,
    /// Median R² on the fitted samples.
    pub median_r2: f64,
    /// Median R² on fresh perturbations.
    pub median_held_out_r2: f64,
    /// The other surrogate on the same samples (the tree beside the ridge, or the reverse):
    /// which, and its median R² on the samples and on fresh perturbations.
    #[serde(default)]
    pub other_surrogate: Option<OtherSurrogate>,
    /// Median of the objects' median coefficient bootstrap standard deviations.
    pub median_bootstrap_std: f64,
    /// Median Spearman between two seeds.
    pub median_seed_spearman: f64,
    /// Median top-5 Jaccard between two seeds.
    pub median_seed_top5_jaccard: f64,
    /// Median Spearman with the fully randomised model (signed).
    pub median_randomised_spearman: f64,
    /// The same of absolute values.
    pub median_randomised_abs_spearman: f64,
    /// Per randomisation step, in the order run: medians of Spearman and |Spearman|.
    pub randomisation: Vec<RandomisationSummary>,
}

/// Medians over objects of one randomisation step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandomisationSummary {
    /// As [`RandomisationCheck::cascading`](super::RandomisationCheck::cascading).
    pub cascading: bool,
    /// As [`RandomisationCheck::layer`](super::RandomisationCheck::layer).
    pub layer: String,
    /// Median Spearman of the signed coefficients.
    pub median_spearman: f64,
    /// Median Spearman of their absolute values.
    pub median_abs_spearman: f64,
}

/// The structural explanation over objects (issue #17's table).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StructureSummary {
    /// Objects searched.
    pub objects: usize,
    /// Objects where at least one sufficient set was found.
    pub found: usize,
    /// Objects with two sufficient sets that share no segment.
    pub disjoint: usize,
    /// Median size of the smallest sufficient set (objects with one).
    pub median_smallest_set: f64,
    /// Median number of LIME's top segments needed, alone, to reach the same probability.
    pub median_lime_insertion_count: f64,
    /// Objects where the smallest set is smaller than LIME's insertion count, equal, larger.
    pub smaller_than_lime: usize,
    pub equal_to_lime: usize,
    pub larger_than_lime: usize,
    /// Median and largest seconds per search.
    pub median_seconds: f64,
    pub max_seconds: f64,
    /// Median and largest sets scored per search.
    pub median_evaluations: f64,
    pub max_evaluations: usize,
    /// Objects where the evaluation budget ran out.
    pub budget_exhausted: usize,
}

/// Summaries of the structural checks and of the level agreements (median per level).
pub fn summarise_structure(objects: &[ObjectResult]) -> (Option<StructureSummary>, Vec<f64>) {
    let checks: Vec<_> = objects
        .iter()
        .filter_map(|o| o.structure.as_ref())
        .collect();
    let structure = (!checks.is_empty()).then(|| {
        let pairs: Vec<(usize, usize)> = checks
            .iter()
            .filter_map(|c| Some((c.smallest_set?, c.lime_insertion_count?)))
            .collect();
        StructureSummary {
            objects: checks.len(),
            found: checks.iter().filter(|c| c.smallest_set.is_some()).count(),
            disjoint: checks.iter().filter(|c| c.disjoint).count(),
            median_smallest_set: median(
                checks
                    .iter()
                    .filter_map(|c| c.smallest_set.map(|s| s as f64)),
            ),
            median_lime_insertion_count: median(
                checks
                    .iter()
                    .filter_map(|c| c.lime_insertion_count.map(|s| s as f64)),
            ),
            smaller_than_lime: pairs.iter().filter(|(s, l)| s < l).count(),
            equal_to_lime: pairs.iter().filter(|(s, l)| s == l).count(),
            larger_than_lime: pairs.iter().filter(|(s, l)| s > l).count(),
            median_seconds: median(checks.iter().map(|c| c.seconds)),
            max_seconds: checks.iter().map(|c| c.seconds).fold(0.0, f64::max),
            median_evaluations: median(checks.iter().map(|c| c.evaluations as f64)),
            max_evaluations: checks.iter().map(|c| c.evaluations).max().unwrap_or(0),
            budget_exhausted: checks.iter().filter(|c| c.budget_exhausted).count(),
        }
    });
    let levels = objects
        .iter()
        .map(|o| o.level_agreement.len())
        .max()
        .unwrap_or(0);
    let agreement = (0..levels)
        .map(|l| {
            median(
                objects
                    .iter()
                    .filter_map(|o| o.level_agreement.get(l).copied().flatten()),
            )
        })
        .collect();
    (structure, agreement)
}

/// The structural summary and level agreements as Markdown (empty when there are neither).
pub fn structure_markdown(structure: Option<&StructureSummary>, agreement: &[f64]) -> String {
    let mut s = String::new();
    if let Some(t) = structure {
        s.push_str(&format!(
            "\nStructure (sag) over {} objects: a sufficient set found on {}; two disjoint sufficient sets on {} ({:.0}%). Smallest sufficient set: median {} segments, against {} of LIME's top segments kept alone to reach the same probability (smaller on {}, equal on {}, larger on {}). Search: median {:.3} s (at most {:.3} s), median {} sets scored (at most {}); budget reached on {}.\n",
            t.objects,
            t.found,
            t.disjoint,
            100.0 * t.disjoint as f64 / t.objects.max(1) as f64,
            t.median_smallest_set,
            t.median_lime_insertion_count,
            t.smaller_than_lime,
            t.equal_to_lime,
            t.larger_than_lime,
            t.median_seconds,
            t.max_seconds,
            t.median_evaluations,
            t.max_evaluations,
            t.budget_exhausted
        ));
    }
    for (i, rho) in agreement.iter().enumerate() {
        s.push_str(&format!(
            "\nLevel {}: median Spearman between LIME at this level and its supervoxel values summed into the level's segments: {rho:.3}.\n",
            i + 1
        ));
    }
    s
}

/// Summaries per method (in `methods` order) and of LIME's checks.
pub fn summarise(
    objects: &[ObjectResult],
    methods: &[Method],
) -> (Vec<MethodSummary>, Option<LimeSummary>) {
    let per_method = methods
        .iter()
        .map(|&method| {
            let rs: Vec<&MethodResult> = objects
                .iter()
                .flat_map(|o| o.methods.iter().filter(move |m| m.method == method))
                .collect();
            let mean = |f: &dyn Fn(&MethodResult) -> f64| {
                rs.iter().map(|r| f(r)).sum::<f64>() / rs.len().max(1) as f64
            };
            MethodSummary {
                method,
                objects: rs.len(),
                median_deletion_auc: median(rs.iter().map(|r| r.deletion_auc)),
                median_random_deletion_auc: median(rs.iter().map(|r| r.random_deletion_auc)),
                median_insertion_auc: median(rs.iter().map(|r| r.insertion_auc)),
                median_random_insertion_auc: median(rs.iter().map(|r| r.random_insertion_auc)),
                median_aopc: median(rs.iter().map(|r| r.aopc)),
                drop20_ratio: mean(&|r| r.drop_top20) / mean(&|r| r.drop_random20),
                median_seconds: median(rs.iter().map(|r| r.seconds)),
                median_evaluations: median(rs.iter().map(|r| r.evaluations as f64)),
                median_randomised_spearman: median(rs.iter().filter_map(|r| r.randomised_spearman)),
                median_randomised_abs_spearman: median(
                    rs.iter().filter_map(|r| r.randomised_abs_spearman),
                ),
                median_cascading_spearman: step_medians(&rs, true),
                median_independent_spearman: step_medians(&rs, false),
                median_seed_spearman: median(rs.iter().filter_map(|r| r.seed_spearman)),
                median_label_spearman: median(
                    rs.iter().filter_map(|r| r.label_check.as_ref()?.spearman),
                ),
                median_label_abs_spearman: median(
                    rs.iter()
                        .filter_map(|r| r.label_check.as_ref()?.abs_spearman),
                ),
                median_label_top5_jaccard: median(
                    rs.iter()
                        .filter_map(|r| Some(r.label_check.as_ref()?.top5_jaccard)),
                ),
            }
        })
        .collect();
    let checks: Vec<&LimeChecks> = objects.iter().filter_map(|o| o.lime.as_ref()).collect();
    let lime = (!checks.is_empty()).then(|| LimeSummary {
        median_samples: median(checks.iter().map(|c| c.samples as f64)),
        max_samples: checks.iter().map(|c| c.samples).max().unwrap_or(0),
        median_r2: median(checks.iter().map(|c| c.r2)),
        median_held_out_r2: median(checks.iter().map(|c| c.held_out_r2)),
        other_surrogate: checks[0].other_surrogate.as_ref().map(|o| OtherSurrogate {
            surrogate: o.surrogate,
            r2: median(
                checks
                    .iter()
                    .filter_map(|c| Some(c.other_surrogate.as_ref()?.r2)),
            ),
            held_out_r2: median(
                checks
                    .iter()
                    .filter_map(|c| Some(c.other_surrogate.as_ref()?.held_out_r2)),
            ),
        }),
        median_bootstrap_std: median(checks.iter().map(|c| c.median_bootstrap_std)),
        median_seed_spearman: median(checks.iter().filter_map(|c| c.seed_spearman)),
        median_seed_top5_jaccard: median(checks.iter().map(|c| c.seed_top5_jaccard)),
        median_randomised_spearman: median(checks.iter().filter_map(|c| c.randomised_spearman)),
        median_randomised_abs_spearman: median(
            checks.iter().filter_map(|c| c.randomised_abs_spearman),
        ),
        randomisation: checks[0]
            .randomisation
            .iter()
            .enumerate()
            .map(|(i, step)| {
                let at = |c: &&LimeChecks| c.randomisation.get(i).cloned();
                RandomisationSummary {
                    cascading: step.cascading,
                    layer: step.layer.clone(),
                    median_spearman: median(
                        checks.iter().filter_map(at).filter_map(|r| r.spearman),
                    ),
                    median_abs_spearman: median(
                        checks.iter().filter_map(at).filter_map(|r| r.abs_spearman),
                    ),
                }
            })
            .collect(),
    });
    (per_method, lime)
}

/// Over the randomisation steps of one kind (cascading or independent), the median of each
/// step's median Spearman over objects.
fn step_medians(rs: &[&MethodResult], cascading: bool) -> f64 {
    let steps = rs.first().map_or(0, |r| r.randomisation.len());
    median((0..steps).filter_map(|i| {
        let step = &rs[0].randomisation[i];
        (step.cascading == cascading).then(|| {
            median(
                rs.iter()
                    .filter_map(|r| r.randomisation.get(i).and_then(|c| c.spearman)),
            )
        })
    }))
}

/// The summaries as a Markdown report.
pub fn markdown(methods: &[MethodSummary], lime: Option<&LimeSummary>, header: &str) -> String {
    // The data-randomisation column only where it was measured (`--label-check`).
    let labels = methods
        .iter()
        .any(|m| m.median_label_top5_jaccard.is_finite());
    let mut s = format!(
        "{header}\n\n| method | objects | deletion AUC (random) | insertion AUC (random) | AOPC | top-20% drop / random-20% drop | Spearman with randomised model (abs) | cascading | independent | {}seed-to-seed Spearman | evaluations | s per explanation |\n|---|---|---|---|---|---|---|---|---|---|---|---|{}\n",
        if labels {
            "Spearman with shuffled-label model (abs), top-5 Jaccard | "
        } else {
            ""
        },
        if labels { "---|" } else { "" }
    );
    let or_dash = |v: f64| {
        if v.is_finite() {
            format!("{v:.2}")
        } else {
            "-".to_string()
        }
    };
    for m in methods {
        let label_column = if labels {
            format!(
                "{} ({}), {} | ",
                or_dash(m.median_label_spearman),
                or_dash(m.median_label_abs_spearman),
                or_dash(m.median_label_top5_jaccard)
            )
        } else {
            String::new()
        };
        s.push_str(&format!(
            "| {} | {} | {:.3} ({:.3}) | {:.3} ({:.3}) | {:.3} | {:.2}× | {} ({}) | {} | {} | {label_column}{} | {} | {:.3} |\n",
            m.method.name(),
            m.objects,
            m.median_deletion_auc,
            m.median_random_deletion_auc,
            m.median_insertion_auc,
            m.median_random_insertion_auc,
            m.median_aopc,
            m.drop20_ratio,
            or_dash(m.median_randomised_spearman),
            or_dash(m.median_randomised_abs_spearman),
            or_dash(m.median_cascading_spearman),
            or_dash(m.median_independent_spearman),
            or_dash(m.median_seed_spearman),
            m.median_evaluations,
            m.median_seconds
        ));
    }
    if let Some(l) = lime {
        s.push_str(&format!(
            "\nLIME (medians): samples {} (at most {}), R² {:.3}, held-out R² {:.3}, coefficient bootstrap std {:.4}, seed-to-seed Spearman {:.3}, top-5 Jaccard {:.3}, Spearman with the randomised model {:.3} (absolute values {:.3}).\n",
            l.median_samples,
            l.max_samples,
            l.median_r2,
            l.median_held_out_r2,
            l.median_bootstrap_std,
            l.median_seed_spearman,
            l.median_seed_top5_jaccard,
            l.median_randomised_spearman,
            l.median_randomised_abs_spearman
        ));
        if let Some(o) = &l.other_surrogate {
            s.push_str(&format!(
                "\nLIME's {} surrogate on the same samples (medians): R² {:.3}, held-out R² {:.3}.\n",
                o.surrogate.name(),
                o.r2,
                o.held_out_r2
            ));
        }
        if !l.randomisation.is_empty() {
            s.push_str("\n| randomised | layer | median Spearman | median abs Spearman |\n|---|---|---|---|\n");
            for r in &l.randomisation {
                s.push_str(&format!(
                    "| {} | {} | {:.3} | {:.3} |\n",
                    if r.cascading {
                        "cascading from the output to"
                    } else {
                        "only"
                    },
                    r.layer,
                    r.median_spearman,
                    r.median_abs_spearman
                ));
            }
        }
    }
    s
}
