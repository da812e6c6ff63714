//! Medians over objects, and the Markdown table `pointlime faithfulness` prints.

use serde::{Deserialize, Serialize};

use super::object::{LimeChecks, MethodResult, ObjectResult};
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
            }
        })
        .collect();
    let checks: Vec<&LimeChecks> = objects.iter().filter_map(|o| o.lime.as_ref()).collect();
    let lime = (!checks.is_empty()).then(|| LimeSummary {
        median_samples: median(checks.iter().map(|c| c.samples as f64)),
        max_samples: checks.iter().map(|c| c.samples).max().unwrap_or(0),
        median_r2: median(checks.iter().map(|c| c.r2)),
        median_held_out_r2: median(checks.iter().map(|c| c.held_out_r2)),
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

/// The summaries as a Markdown report.
pub fn markdown(methods: &[MethodSummary], lime: Option<&LimeSummary>, header: &str) -> String {
    let mut s = format!("{header}\n\n| method | objects | deletion AUC (random) | insertion AUC (random) | AOPC | top-20% drop / random-20% drop | s per explanation |\n|---|---|---|---|---|---|---|\n");
    for m in methods {
        s.push_str(&format!(
            "| {} | {} | {:.3} ({:.3}) | {:.3} ({:.3}) | {:.3} | {:.2}× | {:.3} |\n",
            m.method.name(),
            m.objects,
            m.median_deletion_auc,
            m.median_random_deletion_auc,
            m.median_insertion_auc,
            m.median_random_insertion_auc,
            m.median_aopc,
            m.drop20_ratio,
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
