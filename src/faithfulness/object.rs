//! Every faithfulness measurement on one object.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::curves::{curves, insertion_masks, random_order_curves, Curves};
use super::stability::{spearman, top_k_jaccard};
use super::surrogate::{bootstrap_std, held_out_r2, refit};
use crate::classifier::{Classifier, Output};
use crate::cloud::PointCloud;
use crate::error::Result;
use crate::explain::lime::LIME;
use crate::explain::sag::SAG;
use crate::explain::score::class_scores;
use crate::explain::{
    attribute, Attribution, Config, Explanation, Input, LimeConfig, Method, Payload, ScoringConfig,
    Surrogate, Targets,
};
use crate::pipeline::{
    coarser_levels, model_input_with_segments, scene_cloud, ExplainConfig, ModelInput,
};
use crate::stats::{median, top_k};

/// One method on one object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodResult {
    /// The method measured.
    pub method: Method,
    /// Normalised area under the deletion curve (lower is more faithful).
    pub deletion_auc: f64,
    /// Normalised area under the insertion curve (higher is more faithful).
    pub insertion_auc: f64,
    /// Mean drop from the unperturbed score along the deletion curve (higher is more faithful).
    pub aopc: f64,
    /// The deletion area of the random orders (the baseline).
    pub random_deletion_auc: f64,
    /// The insertion area of the random orders.
    pub random_insertion_auc: f64,
    /// Score lost when the top 20% of segments are removed.
    pub drop_top20: f64,
    /// Score lost when a random 20% are removed (mean over the random orders).
    pub drop_random20: f64,
    /// Seconds to compute the explanation (not its evaluation).
    pub seconds: f64,
    /// Clouds the explanation ran through the model (forward or backward passes).
    #[serde(default)]
    pub evaluations: u64,
    /// Spearman between the explanation and the same method's on the fully randomised model
    /// (signed; `null` when either is constant, or not measured: sag).
    #[serde(default)]
    pub randomised_spearman: Option<f64>,
    /// The same of absolute values.
    #[serde(default)]
    pub randomised_abs_spearman: Option<f64>,
    /// Every layer-randomisation step, cascading then independent (`--layer-checks`).
    #[serde(default)]
    pub randomisation: Vec<RandomisationCheck>,
    /// Spearman between two seeds' explanations, for a method that draws at random.
    #[serde(default)]
    pub seed_spearman: Option<f64>,
    /// The data-randomisation check against the model trained on permuted labels
    /// (`--label-check`; `null` when not measured, and for sag).
    #[serde(default)]
    pub label_check: Option<LabelCheck>,
    /// The curves themselves, one point per segment removed or added.
    pub curves: Curves,
    /// The explanation's value of every segment: what the curves ordered. Not written out (the
    /// explanations are `explain`'s to write); kept for further measures of the same explanation
    /// (a region's IoU, [`super::regions`]).
    #[serde(skip)]
    pub values: Vec<f64>,
}

/// One randomised model of the sanity checks (Adebayo et al., "Sanity Checks for Saliency Maps",
/// 2018): `cascading` randomises every layer from the output down to `layer`; `independent`
/// randomises `layer` alone.
pub struct Randomisation<'a> {
    /// Every layer from the output down to `layer`, or `layer` alone.
    pub cascading: bool,
    /// The deepest (cascading) or only (independent) layer randomised.
    pub layer: String,
    /// The randomised model.
    pub model: &'a dyn Classifier,
}

/// Spearman between the trained and one randomised model's LIME explanation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandomisationCheck {
    /// As [`Randomisation::cascading`].
    pub cascading: bool,
    /// As [`Randomisation::layer`].
    pub layer: String,
    /// Spearman of the signed coefficients (`null` when either side is constant). Near 0 passes
    /// the check: the explanation depends on the learned weights.
    pub spearman: Option<f64>,
    /// Spearman of the absolute coefficients.
    pub abs_spearman: Option<f64>,
}

/// The data-randomisation check of Adebayo et al. (2018) on one object: the method's explanation
/// of the same class by the same architecture trained on permuted labels, against the real
/// model's. Near 0 (and a small top-5 overlap) passes: the explanation depends on what the labels
/// taught the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelCheck {
    /// Spearman of the signed segment values (`null` when either side is constant).
    pub spearman: Option<f64>,
    /// Spearman of their absolute values.
    pub abs_spearman: Option<f64>,
    /// Jaccard index of the two top-5 segment sets.
    pub top5_jaccard: f64,
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
    /// The other surrogate fitted to the same samples (the tree beside the ridge, or the ridge
    /// beside the tree): its R² on them and on the fresh perturbations.
    #[serde(default)]
    pub other_surrogate: Option<OtherSurrogate>,
    /// Median over segments of the coefficients' bootstrap standard deviation (50 resamples of
    /// LIME's own samples).
    pub median_bootstrap_std: f64,
    /// Spearman correlation between two seeds' coefficients.
    pub seed_spearman: Option<f64>,
    /// Jaccard index of two seeds' top-5 segment sets.
    pub seed_top5_jaccard: f64,
    /// Spearman between the trained and the fully randomised model's explanations (signed).
    pub randomised_spearman: Option<f64>,
    /// The same of their absolute values.
    pub randomised_abs_spearman: Option<f64>,
    /// Every randomisation step, cascading then independent.
    pub randomisation: Vec<RandomisationCheck>,
}

/// LIME's other surrogate on one object (see [`LimeChecks::other_surrogate`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OtherSurrogate {
    pub surrogate: Surrogate,
    pub r2: f64,
    pub held_out_r2: f64,
}

/// The structural explanation (`sag`) on one object, against LIME's ranking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StructureCheck {
    /// Sufficient sets found.
    pub sets: usize,
    /// Size of the smallest (`null` when none was found).
    pub smallest_set: Option<usize>,
    /// Whether two of the sets share no segment.
    pub disjoint: bool,
    /// Sets scored.
    pub evaluations: usize,
    /// Whether the evaluation budget ran out.
    pub budget_exhausted: bool,
    /// Seconds for the search.
    pub seconds: f64,
    /// LIME's top segments, kept alone, needed to reach the same probability (`τ · p₀`): the
    /// insertion count to compare with `smallest_set`. `null` when LIME was not measured.
    pub lime_insertion_count: Option<usize>,
}

/// Everything measured on one object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectResult {
    /// The scan.
    pub path: String,
    /// Its labelled class.
    pub truth: String,
    /// The model's predicted class, which is the class explained.
    pub predicted: String,
    /// Supervoxels of the object.
    pub segments: usize,
    /// One result per method, in the order asked.
    pub methods: Vec<MethodResult>,
    /// The mean curves of the random orders (the baseline of every method).
    pub random_curves: Curves,
    /// LIME's own checks, when LIME was among the methods.
    pub lime: Option<LimeChecks>,
    /// The structural explanation's measurements, when sag was among the methods.
    #[serde(default)]
    pub structure: Option<StructureCheck>,
    /// Per coarser level (`--coarser-levels`): Spearman between LIME's explanation at that level
    /// and its supervoxel explanation summed into the level's segments (when LIME was measured).
    #[serde(default)]
    pub level_agreement: Vec<Option<f64>>,
}

/// One method's explanation and checks before its curves are drawn.
struct Partial {
    method: Method,
    values: Vec<f64>,
    seconds: f64,
    evaluations: u64,
    randomised_spearman: Option<f64>,
    randomised_abs_spearman: Option<f64>,
    randomisation: Vec<RandomisationCheck>,
    seed_spearman: Option<f64>,
    /// Its values with the next seed, for a random method.
    other_seed: Option<Vec<f64>>,
    label_check: Option<LabelCheck>,
}

/// What [`evaluate_object`] runs on every object.
pub struct Setup<'a> {
    /// The model whose explanations are measured.
    pub classifier: &'a dyn Classifier,
    /// The same architecture with every layer re-initialised (every method's sanity check).
    pub randomised: &'a dyn Classifier,
    /// Further randomised models, layer by layer (may be empty).
    pub steps: &'a [Randomisation<'a>],
    /// The same architecture trained on permuted labels (the data-randomisation check), which
    /// reads the same input: every method but sag is run on it too, for the same class.
    pub label_shuffled: Option<&'a dyn Classifier>,
    /// Segmentation and explainer settings.
    pub config: &'a ExplainConfig,
    /// The methods measured, in this order.
    pub methods: &'a [Method],
    /// Random deletion orders averaged for the baseline.
    pub rounds: usize,
}

/// Evaluates `setup.methods` on one validated cloud (after the scene steps of `setup.config`), for
/// its predicted class.
///
/// # Errors
/// Configuration and classifier errors; [`Error::Scene`](crate::Error::Scene) when the scene steps
/// leave too few points, [`Error::Scan`](crate::Error::Scan) when the scan lacks a channel the model
/// reads. They do not name the file (see [`Error::in_file`](crate::Error::in_file)).
pub fn evaluate_object(
    cloud: &PointCloud,
    path: &str,
    truth: &str,
    setup: &Setup,
) -> Result<ObjectResult> {
    if let Some(m) = setup.classifier.channels().missing(cloud) {
        return Err(crate::Error::Scan(m));
    }
    let (kept, _, _) = scene_cloud(cloud, setup.config)?;
    let model_input = model_input_with_segments(&kept, setup.classifier, setup.config)?;
    evaluate_input(&kept, &model_input, path, truth, setup)
}

/// [`evaluate_object`] on a cloud already through the scene steps (`kept`) and drawn into the
/// network's input (`model_input`, as [`model_input_with_segments`] draws it for
/// `setup.classifier`): several classifiers that read the same input (a per-point model's
/// regions) share one segmentation.
///
/// # Errors
/// As [`evaluate_object`].
pub fn evaluate_input(
    kept: &PointCloud,
    model_input: &ModelInput,
    path: &str,
    truth: &str,
    setup: &Setup,
) -> Result<ObjectResult> {
    let Setup {
        classifier,
        randomised,
        steps,
        label_shuffled,
        config,
        methods,
        rounds,
    } = *setup;
    let reading = model_input.reading(classifier);
    let randomised = model_input.reading(randomised);
    let (classifier, randomised) = (&*reading, &*randomised);
    let label_shuffled = label_shuffled.map(|m| model_input.reading(m));
    let input = model_input.input().with_baselines(&config.baselines);
    let k = input.n_segments;
    let explainer = &config.explainer;
    let scoring = &explainer.scoring;
    let probabilities = classifier.predict(&[input.points], Output::Probability)?;
    let class = top_k(&probabilities, 1)[0];
    let target = Targets::Classes(vec![class]);
    let random = random_order_curves(
        classifier,
        &input,
        class,
        scoring,
        rounds,
        config.seed ^ 0x5eed,
    )?;
    let m20 = ((k as f64 * 0.2).round() as usize).clamp(1, k);

    let object = Object {
        classifier,
        randomised,
        steps,
        label_shuffled: label_shuffled.as_deref(),
        model_input,
        input: &input,
        target: &target,
        explainer,
    };
    let mut results = Vec::new();
    let mut lime_checks = None;
    let mut lime_explanation = None;
    let mut structure = None;
    for &method in methods {
        let (partial, result, mut e) = object.measure(method)?;
        if method == SAG {
            if let Some(Payload::Structure(s)) = e.payload.take() {
                structure = Some((s, partial.seconds));
            }
        }
        if method == LIME {
            let lime = Lime {
                result: &result,
                explanation: &e,
                class,
                classifier,
                input: &input,
                explainer,
            };
            lime_checks = Some(lime.checks(&partial)?);
            lime_explanation = Some(e);
        }
        results.push(partial);
    }

    let methods = results
        .into_iter()
        .map(|p| method_result(p, classifier, &input, class, scoring, &random, m20))
        .collect::<Result<Vec<_>>>()?;
    let structure = match structure {
        Some((s, seconds)) => Some(structure_check(
            &s,
            seconds,
            lime_explanation.as_ref(),
            classifier,
            &input,
            class,
            scoring,
        )?),
        None => None,
    };
    let level_agreement = match &lime_explanation {
        Some(e) if config.coarser_levels > 0 => coarser_levels(
            kept,
            classifier,
            config,
            model_input,
            std::slice::from_ref(e),
        )?
        .into_iter()
        .map(|l| l.rank_correlation[0])
        .collect(),
        _ => Vec::new(),
    };
    let names = classifier.class_names();
    Ok(ObjectResult {
        path: path.to_string(),
        truth: truth.to_string(),
        predicted: names.get(class).cloned().unwrap_or_default(),
        segments: k,
        methods,
        random_curves: random,
        lime: lime_checks,
        structure,
        level_agreement,
    })
}

/// One object's model and input, which every method's measurement shares.
struct Object<'a> {
    classifier: &'a dyn Classifier,
    randomised: &'a dyn Classifier,
    steps: &'a [Randomisation<'a>],
    label_shuffled: Option<&'a dyn Classifier>,
    model_input: &'a ModelInput,
    input: &'a Input<'a>,
    target: &'a Targets,
    explainer: &'a Config,
}

impl Object<'_> {
    /// The method's values for the target with `model` (reading this scan) and `seed`: the sanity
    /// checks' other explanations.
    fn values_on(&self, method: Method, model: &dyn Classifier, seed: u64) -> Result<Vec<f64>> {
        let mut explainer = self.explainer.clone();
        explainer.seed = seed;
        Ok(
            attribute(method, model, self.input, self.target, &explainer, None)?
                .explanations
                .remove(0)
                .coefficients,
        )
    }

    /// The method's explanation, timed, with its randomisation and seed checks; and the attribution
    /// and explanation themselves.
    fn measure(&self, method: Method) -> Result<(Partial, Attribution, Explanation)> {
        let explainer = self.explainer;
        let start = Instant::now();
        let result = attribute(
            method,
            self.classifier,
            self.input,
            self.target,
            explainer,
            None,
        )?;
        let seconds = start.elapsed().as_secs_f64();
        let evaluations = result.cost.clouds_evaluated;
        let e = result.explanations[0].clone();
        let values = e.coefficients.clone();
        // sag's search is not repeated on randomised models: its budget is the whole run's.
        let (randomised_spearman, randomised_abs_spearman, randomisation) = if method != SAG {
            let on = |model: &dyn Classifier| self.values_on(method, model, explainer.seed);
            randomisation_checks(&values, &on, self.randomised, self.steps, self.model_input)?
        } else {
            (None, None, Vec::new())
        };
        let label_check = match self.label_shuffled {
            Some(model) if method != SAG => {
                let other = self.values_on(method, model, explainer.seed)?;
                Some(label_check(&values, &other))
            }
            _ => None,
        };
        let other_seed = if method.is_random() {
            Some(self.values_on(method, self.classifier, explainer.seed.wrapping_add(1))?)
        } else {
            None
        };
        let partial = Partial {
            method,
            seed_spearman: other_seed.as_deref().and_then(|o| spearman(&values, o)),
            other_seed,
            values,
            seconds,
            evaluations,
            randomised_spearman,
            randomised_abs_spearman,
            randomisation,
            label_check,
        };
        Ok((partial, result, e))
    }
}

/// What LIME's own checks read: its attribution on one object, and how it was made.
struct Lime<'a> {
    result: &'a Attribution,
    explanation: &'a Explanation,
    class: usize,
    classifier: &'a dyn Classifier,
    input: &'a Input<'a>,
    explainer: &'a Config,
}

impl Lime<'_> {
    /// The bootstrap spread, the held-out R² of its surrogate and of the other one refitted to the
    /// same samples, and its stability across seeds and randomised models (`partial`).
    fn checks(&self, partial: &Partial) -> Result<LimeChecks> {
        let other_seed = partial.other_seed.as_deref().unwrap_or_default();
        let (e, explainer) = (self.explanation, self.explainer);
        let lime: LimeConfig = explainer.settings()?;
        let uncertainty = median(bootstrap_std(
            self.result,
            self.class,
            &lime,
            50,
            explainer.seed,
        )?);
        let held_out = |e: &Explanation| {
            held_out_r2(
                self.classifier,
                self.input,
                e,
                explainer,
                explainer.n_samples,
                explainer.seed.wrapping_add(1000),
            )
        };
        let other = match lime.surrogate {
            Surrogate::Ridge => Surrogate::Tree,
            Surrogate::Tree => Surrogate::Ridge,
        };
        let other_fit = refit(self.result, e, &lime, other)?;
        Ok(LimeChecks {
            samples: e.n_samples,
            r2: e.r2.unwrap_or(f64::NAN),
            median_bootstrap_std: uncertainty,
            held_out_r2: held_out(e)?,
            other_surrogate: Some(OtherSurrogate {
                surrogate: other,
                r2: other_fit.r2.unwrap_or(f64::NAN),
                held_out_r2: held_out(&other_fit)?,
            }),
            seed_spearman: partial.seed_spearman,
            seed_top5_jaccard: top_k_jaccard(&partial.values, other_seed, 5),
            randomised_spearman: partial.randomised_spearman,
            randomised_abs_spearman: partial.randomised_abs_spearman,
            randomisation: partial.randomisation.clone(),
        })
    }
}

/// The absolute values: the checks' second Spearman, of importance regardless of sign.
fn magnitudes(v: &[f64]) -> Vec<f64> {
    v.iter().map(|x| x.abs()).collect()
}

/// The data-randomisation check of `values` against `other`, the shuffled-label model's.
fn label_check(values: &[f64], other: &[f64]) -> LabelCheck {
    LabelCheck {
        spearman: spearman(values, other),
        abs_spearman: spearman(&magnitudes(values), &magnitudes(other)),
        top5_jaccard: top_k_jaccard(values, other, 5),
    }
}

/// Spearman with the fully randomised model (signed, of magnitudes), and each step's checks.
type RandomisationChecks = (Option<f64>, Option<f64>, Vec<RandomisationCheck>);

/// Randomisation checks of one method's `values`: Spearman (signed and of magnitudes) against its
/// values on the fully randomised model, and on each of `steps`. `on(model)` explains this object
/// with `model`.
fn randomisation_checks(
    values: &[f64],
    on: &dyn Fn(&dyn Classifier) -> Result<Vec<f64>>,
    randomised: &dyn Classifier,
    steps: &[Randomisation],
    model_input: &ModelInput,
) -> Result<RandomisationChecks> {
    let er = on(randomised)?;
    let randomisation = steps
        .iter()
        .map(|step| {
            let c = on(&*model_input.reading(step.model))?;
            Ok(RandomisationCheck {
                cascading: step.cascading,
                layer: step.layer.clone(),
                spearman: spearman(values, &c),
                abs_spearman: spearman(&magnitudes(values), &magnitudes(&c)),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((
        spearman(values, &er),
        spearman(&magnitudes(values), &magnitudes(&er)),
        randomisation,
    ))
}

/// sag's measurements on one object, with how many of LIME's top supervoxels, inserted in order,
/// reach the same threshold (when LIME was measured).
fn structure_check(
    s: &crate::explain::Structure,
    seconds: f64,
    lime: Option<&Explanation>,
    classifier: &dyn Classifier,
    input: &Input,
    class: usize,
    scoring: &ScoringConfig,
) -> Result<StructureCheck> {
    let k = input.n_segments;
    let lime_insertion_count = match lime {
        Some(e) => {
            let mut probability = *scoring;
            probability.output = Output::Probability;
            let masks = insertion_masks(&top_k(&e.coefficients, k), k);
            let p = class_scores(classifier, input, &masks, class, &probability)?;
            let goal = s.threshold * s.original_probability;
            p.iter().position(|&v| v >= goal)
        }
        None => None,
    };
    Ok(StructureCheck {
        sets: s.sets.len(),
        smallest_set: s.smallest(),
        disjoint: s.has_disjoint_sets(),
        evaluations: s.evaluations,
        budget_exhausted: s.budget_exhausted,
        seconds,
        lime_insertion_count,
    })
}

/// A method's measurements: its deletion and insertion curves beside the random orders', and its
/// checks.
fn method_result(
    p: Partial,
    classifier: &dyn Classifier,
    input: &Input,
    class: usize,
    scoring: &ScoringConfig,
    random: &Curves,
    m20: usize,
) -> Result<MethodResult> {
    let order = top_k(&p.values, input.n_segments);
    let c = curves(classifier, input, &order, class, scoring)?;
    Ok(MethodResult {
        method: p.method,
        deletion_auc: c.deletion_auc(),
        insertion_auc: c.insertion_auc(),
        aopc: c.aopc(),
        random_deletion_auc: random.deletion_auc(),
        random_insertion_auc: random.insertion_auc(),
        drop_top20: c.deletion[0] - c.deletion[m20],
        drop_random20: random.deletion[0] - random.deletion[m20],
        seconds: p.seconds,
        evaluations: p.evaluations,
        randomised_spearman: p.randomised_spearman,
        randomised_abs_spearman: p.randomised_abs_spearman,
        randomisation: p.randomisation,
        seed_spearman: p.seed_spearman,
        label_check: p.label_check,
        curves: c,
        values: p.values,
    })
}
