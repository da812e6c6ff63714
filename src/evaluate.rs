//! How faithful are the explanations? Deletion and insertion curves for every method against a
//! random order, and for LIME its held-out R², its stability across seeds, and a model
//! randomisation check, over a set of labelled objects.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::classifier::Classifier;
use crate::cloud::PointCloud;
use crate::error::{Error, Result};
use crate::explain::faithfulness::{
    bootstrap_std, curves, held_out_r2, median, random_order_curves, spearman, top_k,
    top_k_jaccard, Curves,
};
use crate::explain::{attribute, explain, Targets};
pub use crate::explain::Method;
use crate::pipeline::{model_input_with_segments, ExplainConfig};

/// One method on one object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodResult {
    pub method: Method,
    /// Normalised area under the deletion curve (lower is more faithful).
    pub deletion_auc: f64,
    /// Normalised area under the insertion curve (higher is more faithful).
    pub insertion_auc: f64,
    pub aopc: f64,
    /// The same areas for random orders.
    pub random_deletion_auc: f64,
    pub random_insertion_auc: f64,
    /// Score lost when the top 20% of segments are removed, and when a random 20% are.
    pub drop_top20: f64,
    pub drop_random20: f64,
    /// Seconds to compute the explanation (not its evaluation).
    pub seconds: f64,
    pub curves: Curves,
}

/// One randomised model of the sanity checks (Adebayo et al., "Sanity Checks for Saliency Maps",
/// 2018): `cascading` randomises every layer from the output down to `layer`; `independent`
/// randomises `layer` alone.
pub struct Randomisation<'a> {
    pub cascading: bool,
    pub layer: String,
    pub model: &'a dyn Classifier,
}

/// Spearman between the trained and one randomised model's LIME explanation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandomisationCheck {
    pub cascading: bool,
    pub layer: String,
    pub spearman: Option<f64>,
    pub abs_spearman: Option<f64>,
}

/// LIME's extra checks on one object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LimeChecks {
    /// Samples used (more than asked with `--auto-samples`).
    pub samples: usize,
    /// R² of the surrogate on the samples it was fitted to.
    pub r2: f64,
    /// Weighted R² on fresh perturbations.
    pub held_out_r2: f64,
    /// Median over segments of the coefficients' bootstrap standard deviation (50 resamples of
    /// LIME's own samples).
    pub median_bootstrap_std: f64,
    /// Spearman correlation and top-5 Jaccard between two seeds' coefficients.
    pub seed_spearman: Option<f64>,
    pub seed_top5_jaccard: f64,
    /// Spearman between the trained and the fully randomised model's explanations, of the
    /// signed coefficients and of their absolute values.
    pub randomised_spearman: Option<f64>,
    pub randomised_abs_spearman: Option<f64>,
    /// Every randomisation step, cascading then independent.
    pub randomisation: Vec<RandomisationCheck>,
}

/// Everything measured on one object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectResult {
    pub path: String,
    pub truth: String,
    pub predicted: String,
    pub segments: usize,
    pub methods: Vec<MethodResult>,
    /// The mean curves of the random orders (the baseline of every method).
    pub random_curves: Curves,
    pub lime: Option<LimeChecks>,
}

/// Evaluates `methods` on one validated cloud, for its predicted class. `randomised` is the same
/// architecture with every layer re-initialised (for LIME's sanity check), `steps` further
/// randomised models; `rounds` random orders make the baseline.
///
/// # Errors
/// Configuration and classifier errors.
#[allow(clippy::too_many_arguments)]
pub fn evaluate_object(
    cloud: &PointCloud,
    path: &str,
    truth: &str,
    classifier: &dyn Classifier,
    randomised: &dyn Classifier,
    steps: &[Randomisation],
    config: &ExplainConfig,
    methods: &[Method],
    rounds: usize,
) -> Result<ObjectResult> {
    let input = model_input_with_segments(cloud, classifier, config)?;
    let (points, labels, k) = (&input.points, &input.labels, input.segmentation.count);
    let lime_config = &config.lime;
    let probabilities = classifier.predict(&[points], crate::classifier::Output::Probability)?;
    let class = top_k(
        &probabilities.iter().map(|&p| p as f64).collect::<Vec<_>>(),
        1,
    )[0];
    let target = Targets::Classes(vec![class]);
    let random = random_order_curves(
        classifier,
        points,
        labels,
        k,
        class,
        lime_config,
        rounds,
        config.seed ^ 0x5eed,
    )?;
    let m20 = ((k as f64 * 0.2).round() as usize).clamp(1, k);

    let mut results = Vec::new();
    let mut lime = None;
    for &method in methods {
        let start = Instant::now();
        let values: Vec<f64> = match method {
            Method::Lime => {
                let r = explain(classifier, points, labels, k, &target, lime_config, None)?;
                let e = r.explanations[0].clone();
                let seconds = start.elapsed().as_secs_f64();
                let uncertainty =
                    median(bootstrap_std(&r, class, lime_config, 50, lime_config.seed));
                let other_seed = crate::explain::LimeConfig {
                    seed: lime_config.seed.wrapping_add(1),
                    ..lime_config.clone()
                };
                let e2 = explain(classifier, points, labels, k, &target, &other_seed, None)?
                    .explanations
                    .remove(0);
                let lime_of = |m: &dyn Classifier| -> Result<Vec<f64>> {
                    Ok(explain(m, points, labels, k, &target, lime_config, None)?
                        .explanations
                        .remove(0)
                        .coefficients)
                };
                let abs = |v: &[f64]| v.iter().map(|x| x.abs()).collect::<Vec<_>>();
                let er = lime_of(randomised)?;
                let randomisation = steps
                    .iter()
                    .map(|step| {
                        let c = lime_of(step.model)?;
                        Ok(RandomisationCheck {
                            cascading: step.cascading,
                            layer: step.layer.clone(),
                            spearman: spearman(&e.coefficients, &c),
                            abs_spearman: spearman(&abs(&e.coefficients), &abs(&c)),
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                lime = Some(LimeChecks {
                    samples: e.n_samples,
                    r2: e.r2.unwrap_or(f64::NAN),
                    median_bootstrap_std: uncertainty,
                    held_out_r2: held_out_r2(
                        classifier,
                        points,
                        labels,
                        &e,
                        lime_config,
                        lime_config.n_samples,
                        lime_config.seed.wrapping_add(1000),
                    )?,
                    seed_spearman: spearman(&e.coefficients, &e2.coefficients),
                    seed_top5_jaccard: top_k_jaccard(&e.coefficients, &e2.coefficients, 5),
                    randomised_spearman: spearman(&e.coefficients, &er),
                    randomised_abs_spearman: spearman(&abs(&e.coefficients), &abs(&er)),
                    randomisation,
                });
                results.push((method, e.coefficients, seconds));
                continue;
            }
            other => {
                attribute(
                    other, classifier, points, labels, k, &target, lime_config, None,
                )?
                .explanations
                .remove(0)
                .coefficients
            }
        };
        results.push((method, values, start.elapsed().as_secs_f64()));
    }

    let methods = results
        .into_iter()
        .map(|(method, values, seconds)| {
            let order = top_k(&values, k);
            let c = curves(classifier, points, labels, k, &order, class, lime_config)?;
            Ok(MethodResult {
                method,
                deletion_auc: c.deletion_auc(),
                insertion_auc: c.insertion_auc(),
                aopc: c.aopc(),
                random_deletion_auc: random.deletion_auc(),
                random_insertion_auc: random.insertion_auc(),
                drop_top20: c.deletion[0] - c.deletion[m20],
                drop_random20: random.deletion[0] - random.deletion[m20],
                seconds,
                curves: c,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let names = classifier.class_names();
    Ok(ObjectResult {
        path: path.to_string(),
        truth: truth.to_string(),
        predicted: names.get(class).cloned().unwrap_or_default(),
        segments: k,
        methods,
        random_curves: random,
        lime,
    })
}

/// Medians (and the mean-based drop ratio) of one method over objects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodSummary {
    pub method: Method,
    pub objects: usize,
    pub median_deletion_auc: f64,
    pub median_random_deletion_auc: f64,
    pub median_insertion_auc: f64,
    pub median_random_insertion_auc: f64,
    pub median_aopc: f64,
    /// Mean score lost with the top 20% of segments removed, over the mean lost with a random
    /// 20% removed.
    pub drop20_ratio: f64,
    pub median_seconds: f64,
}

/// Medians of LIME's checks over objects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LimeSummary {
    pub median_samples: f64,
    pub max_samples: usize,
    pub median_r2: f64,
    pub median_held_out_r2: f64,
    pub median_bootstrap_std: f64,
    pub median_seed_spearman: f64,
    pub median_seed_top5_jaccard: f64,
    pub median_randomised_spearman: f64,
    pub median_randomised_abs_spearman: f64,
    /// Per randomisation step, in the order run: medians of Spearman and |Spearman|.
    pub randomisation: Vec<RandomisationSummary>,
}

/// Medians over objects of one randomisation step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandomisationSummary {
    pub cascading: bool,
    pub layer: String,
    pub median_spearman: f64,
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

/// A curve sampled at equal steps over x in [0, 1] (as deletion and insertion curves are, one
/// step per segment), resampled at `n` equal steps by linear interpolation, so that curves over
/// different segment counts can be averaged.
pub fn resample(curve: &[f64], n: usize) -> Vec<f64> {
    match (curve.len(), n) {
        (_, 0) => Vec::new(),
        (0, _) => vec![f64::NAN; n],
        (1, _) => vec![curve[0]; n],
        (len, _) => (0..n)
            .map(|i| {
                let x = if n == 1 { 0.0 } else { i as f64 / (n - 1) as f64 };
                let pos = x * (len - 1) as f64;
                let j = (pos.floor() as usize).min(len - 2);
                let t = pos - j as f64;
                curve[j] * (1.0 - t) + curve[j + 1] * t
            })
            .collect(),
    }
}

/// The pointwise mean of curves resampled to `n` steps (see [`resample`]), as `(x, y)` points.
/// The mean curve's normalised area is the mean of the curves' areas when `n` covers every
/// segment count, which is why the mean and not the median is drawn.
pub fn mean_curve<'a>(curves: impl IntoIterator<Item = &'a [f64]>, n: usize) -> Vec<(f64, f64)> {
    let mut sum = vec![0.0; n];
    let mut count = 0usize;
    for c in curves {
        for (s, v) in sum.iter_mut().zip(resample(c, n)) {
            *s += v;
        }
        count += 1;
    }
    sum.iter()
        .enumerate()
        .map(|(i, s)| {
            let x = if n <= 1 { 0.0 } else { i as f64 / (n - 1) as f64 };
            (x, s / count.max(1) as f64)
        })
        .collect()
}

/// Deletion and insertion panels: each method's mean curve over `objects`, and the random
/// orders' mean curve as the reference. `score` names the explained score for the y axis.
pub fn curve_panels(objects: &[ObjectResult], methods: &[Method], score: &str) -> Vec<crate::plot::Panel> {
    // Enough steps to pass through every segment fraction of the largest segmentation.
    let n = objects.iter().map(|o| o.segments).max().unwrap_or(1) * 4 + 1;
    let panel = |deletion: bool| {
        let pick = |c: &'_ Curves| -> Vec<f64> {
            if deletion { c.deletion.clone() } else { c.insertion.clone() }
        };
        let mut series: Vec<crate::plot::Series> = methods
            .iter()
            .map(|&m| {
                let curves: Vec<Vec<f64>> = objects
                    .iter()
                    .flat_map(|o| o.methods.iter().filter(|r| r.method == m))
                    .map(|r| pick(&r.curves))
                    .collect();
                crate::plot::Series {
                    name: m.name().to_string(),
                    points: mean_curve(curves.iter().map(Vec::as_slice), n),
                    reference: false,
                }
            })
            .collect();
        let random: Vec<Vec<f64>> = objects.iter().map(|o| pick(&o.random_curves)).collect();
        series.push(crate::plot::Series {
            name: "random order".into(),
            points: mean_curve(random.iter().map(Vec::as_slice), n),
            reference: true,
        });
        crate::plot::Panel {
            title: if deletion {
                "Deletion: most important supervoxels removed first (lower is better)".into()
            } else {
                "Insertion: most important supervoxels kept first (higher is better)".into()
            },
            x_label: if deletion {
                "fraction of supervoxels removed".into()
            } else {
                "fraction of supervoxels kept".into()
            },
            y_label: format!("{score} of the explained class (mean over {} objects)", objects.len()),
            series,
        }
    };
    vec![panel(true), panel(false)]
}

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
