//! What every explainer returns: one [`Explanation`] per explained class, with the classifier
//! work behind them; the [`Targets`] that say what to explain; and the [`Method`]s, each declared
//! by its own file as a [`Spec`] and gathered here.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::config::{Config, Flag, SettingsSpec};
use super::input::Input;
use super::payload::Payload;
use super::score::{Cost, Progress};
use crate::classifier::Classifier;
use crate::error::{Error, Result};
use crate::perturb::Masks;
use crate::stats::ranking;

/// An explanation method: a handle on its [`Spec`], which the method's own file declares and
/// registers ([`register!`]). Methods compare, hash, print and serialise by name.
///
/// Every list of methods (the command line's `--method` and its help, the faithfulness
/// leaderboard, every error that names methods) reads [`Method::all`], so a new method is its file
/// and one line of `explain/mod.rs`.
#[derive(Clone, Copy)]
pub struct Method(&'static Spec);

/// What a method is: what the command line, reports, the faithfulness evaluation and the dispatch
/// ([`super::attribute`]) need to know of it.
pub struct Spec {
    /// The name used on the command line and in reports.
    pub name: &'static str,
    /// Its place in [`Method::all`]: the leaderboard's order, and `--help`'s.
    pub order: u16,
    /// One phrase for `--method`'s help: what it computes.
    pub summary: &'static str,
    /// Whether it draws at random, so that its seed matters.
    pub random: bool,
    /// Whether it fits a surrogate with an R² (LIME).
    pub surrogate: bool,
    /// What it needs of a classifier beyond scores.
    pub needs: Needs,
    /// Its own settings and their flags, if it has any.
    pub settings: Option<SettingsSpec>,
    /// The explainer itself.
    pub run: Run,
}

/// The shape of every explainer: `(classifier, input, targets, config, progress)`.
pub type Run =
    fn(&dyn Classifier, &Input, &Targets, &Config, Option<&Progress>) -> Result<Attribution>;

inventory::collect!(Method);

/// Registers a method's [`Method`] constant, so that [`Method::all`] lists it: the one line a
/// method's file adds beside its [`Spec`].
macro_rules! register {
    ($method:expr) => {
        ::inventory::submit! { $method }
    };
}
pub(crate) use register;

impl Method {
    /// The handle on `spec` (a `static` in the method's file).
    pub const fn new(spec: &'static Spec) -> Method {
        Method(spec)
    }

    /// Every registered method, in [`Spec::order`].
    pub fn all() -> Vec<Method> {
        let mut all: Vec<Method> = inventory::iter::<Method>.into_iter().copied().collect();
        all.sort_by_key(|m| (m.0.order, m.0.name));
        all
    }

    /// The method called `name`.
    ///
    /// # Errors
    /// [`Error::Config`] listing every method's name, for an unknown one.
    pub fn named(name: &str) -> Result<Method> {
        Method::all()
            .into_iter()
            .find(|m| m.name() == name)
            .ok_or_else(|| {
                Error::Config(format!(
                    "unknown method {name:?}: {}",
                    names(&Method::all())
                ))
            })
    }

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        self.0.name
    }

    /// Its [`Spec`].
    pub fn spec(self) -> &'static Spec {
        self.0
    }

    /// Whether the method needs the input gradients of a differentiable classifier.
    pub fn needs_gradients(self) -> bool {
        self.0.needs == Needs::Gradients
    }

    /// Whether the method draws at random, so that its seed matters.
    pub fn is_random(self) -> bool {
        self.0.random
    }

    /// Whether the method fits a surrogate with an R² (LIME only).
    pub fn has_surrogate(self) -> bool {
        self.0.surrogate
    }

    /// The flags of its own settings (none for a method without settings).
    pub fn flags(self) -> &'static [Flag] {
        self.0.settings.as_ref().map_or(&[], |s| s.flags)
    }

    /// Whether `classifier` gives what the method needs.
    pub fn runs_on(self, classifier: &dyn Classifier) -> bool {
        self.0.needs.met_by(classifier)
    }

    /// Checks that the method can explain `classifier`'s decisions, before any work.
    ///
    /// # Errors
    /// [`Error::Config`] naming what is missing, the methods that need it and those that would run.
    pub fn check(self, classifier: &dyn Classifier) -> Result<()> {
        if self.runs_on(classifier) {
            return Ok(());
        }
        let needs = self.0.needs;
        let alike: Vec<Method> = Method::all()
            .into_iter()
            .filter(|m| m.0.needs == needs)
            .collect();
        let usable: Vec<Method> = Method::all()
            .into_iter()
            .filter(|m| m.runs_on(classifier))
            .collect();
        Err(Error::Config(format!(
            "{} {} {}; this model does not (it can be explained with {})",
            names(&alike),
            if alike.len() == 1 { "needs" } else { "need" },
            needs.what(),
            names(&usable)
        )))
    }
}

/// Method names, comma-separated.
pub fn names(methods: &[Method]) -> String {
    methods
        .iter()
        .map(|m| m.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `--method`'s help: every method's name and summary, from [`Method::all`].
pub fn help() -> String {
    let list: Vec<String> = Method::all()
        .into_iter()
        .map(|m| format!("{} ({})", m.name(), m.0.summary))
        .collect();
    format!("Explanation method [default: lime]: {}", list.join(", "))
}

/// Checks every method's settings in `config` against its type and fills in the defaults of
/// those not given, so that a report lists every method's settings.
///
/// # Errors
/// [`Error::Config`] for settings of an unknown method, or a method's settings that do not parse
/// or are out of range.
pub fn complete_settings(config: &mut Config) -> Result<()> {
    let all = Method::all();
    let with_settings: Vec<Method> = all
        .iter()
        .copied()
        .filter(|m| m.0.settings.is_some())
        .collect();
    if let Some(unknown) = config
        .method_names()
        .find(|n| !with_settings.iter().any(|m| m.name() == *n))
    {
        return Err(Error::Config(format!(
            "settings for {unknown:?}, which is no method with settings: {}",
            names(&with_settings)
        )));
    }
    for m in with_settings {
        if let Some(spec) = &m.0.settings {
            config.normalise(m.name(), spec)?;
        }
    }
    Ok(())
}

impl PartialEq for Method {
    fn eq(&self, other: &Method) -> bool {
        self.name() == other.name()
    }
}

impl Eq for Method {}

impl std::hash::Hash for Method {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name().hash(state);
    }
}

impl std::fmt::Debug for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Method {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Method, String> {
        Method::named(s).map_err(Error::problem)
    }
}

impl Serialize for Method {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Method {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Method, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// What a method needs of a classifier beyond the scores of perturbed clouds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Scores only: every classifier will do.
    Scores,
    /// Input gradients ([`Classifier::differentiable`]): pointlime's own models.
    Gradients,
    /// A global max-pool whose winners can be read ([`Classifier::max_pooled`]).
    MaxPool,
    /// The layer the global max-pool reads, with gradients ([`Classifier::pool_layer`]).
    PoolLayer,
    /// Dense layers that can be read ([`Classifier::dense_layers`]).
    DenseLayers,
}

impl Needs {
    /// Whether `classifier` gives it.
    pub fn met_by(self, classifier: &dyn Classifier) -> bool {
        match self {
            Needs::Scores => true,
            Needs::Gradients => classifier.differentiable().is_some(),
            Needs::MaxPool => classifier.max_pooled().is_some_and(|mp| mp.readable()),
            Needs::PoolLayer => classifier.pool_layer().is_some(),
            Needs::DenseLayers => classifier.dense_layers().is_some(),
        }
    }

    /// What it is, for an error message.
    fn what(self) -> &'static str {
        match self {
            Needs::Scores => "a classifier",
            Needs::Gradients => "a model that gives gradients (pointlime's own gives them)",
            Needs::MaxPool => "a max-pooled network whose pooling winners can be read",
            Needs::PoolLayer => "the layer a global max-pool reads, with gradients",
            Needs::DenseLayers => "dense layers that can be read (pointlime's own PointNets)",
        }
    }
}

/// Which classes to explain.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Targets {
    /// The predicted class. By default, this.
    #[default]
    Predicted,
    /// These class indices, in this order.
    Classes(Vec<usize>),
    /// The k most probable classes, most probable first (lime's `top_labels`).
    Top(usize),
}

impl Targets {
    /// The class indices these targets name, given the unperturbed cloud's probabilities.
    ///
    /// # Errors
    /// [`Error::Config`] for `Top(0)` or an out-of-range class.
    pub fn resolve(&self, probabilities: &[f32]) -> Result<Vec<usize>> {
        let n = probabilities.len();
        let order = ranking(probabilities);
        match self {
            Targets::Predicted => Ok(vec![order[0]]),
            Targets::Top(k) if *k >= 1 => Ok(order.into_iter().take(*k).collect()),
            Targets::Top(_) => Err(Error::Config("top labels must be at least 1".into())),
            Targets::Classes(c) => {
                if let Some(bad) = c.iter().find(|&&t| t >= n) {
                    return Err(Error::Config(format!(
                        "class index {bad} out of range (model has {n} classes)"
                    )));
                }
                Ok(c.clone())
            }
        }
    }
}

/// One class's explanation: one value per segment, and for LIME the linear surrogate behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// The method that made it.
    pub method: Method,
    /// The explained class.
    pub target: usize,
    /// Its name.
    pub target_name: String,
    /// One value per segment. LIME: the change in the explained score when the segment is kept;
    /// KernelSHAP: its Shapley value; occlusion: the score lost when it alone is removed;
    /// the per-point methods (gradient, saliency, cam, critical, featurenorm, ig, gradcam): the
    /// sum of its points' values; sag:
    /// the largest
    /// probability lost when it is removed from a sufficient set that holds it (0 when none
    /// does).
    pub coefficients: Vec<f64>,
    /// The additive model's score with every segment removed: LIME's intercept, KernelSHAP's
    /// f(none); absent for the other methods.
    pub intercept: Option<f64>,
    /// Weighted R² of LIME's surrogate on the samples it was fitted to (lime's `score`); absent
    /// for methods without a surrogate.
    pub r2: Option<f64>,
    /// The additive model's score for the unperturbed cloud (lime's `local_pred`; KernelSHAP's is
    /// exact by efficiency); absent for the other methods.
    pub local_prediction: Option<f64>,
    /// The model's score for the unperturbed cloud, in the configured output (logit or
    /// probability).
    pub model_score: f64,
    /// Classifier inputs behind it: perturbed samples (the unperturbed one included), or the
    /// clouds differentiated for the gradient methods.
    pub n_samples: usize,
    /// The seed that drew the masks.
    pub seed: u64,
    /// What the method found beyond one value per segment: sag's sufficient sets, LIME's tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Payload>,
    /// False when the model's competence check flagged the scan as outside what it was trained
    /// on: the explanation is written, but neither it nor the class is to be trusted. True
    /// otherwise, and for a model without competence statistics (nothing was checked); reports
    /// written before it existed read as true.
    #[serde(default = "trusted_by_default")]
    pub trusted: bool,
}

fn trusted_by_default() -> bool {
    true
}

impl Explanation {
    /// An explanation with no surrogate: `coefficients` for `target`, from `n_samples` inputs.
    pub(crate) fn plain(
        method: Method,
        target: usize,
        names: &[String],
        coefficients: Vec<f64>,
        model_score: f64,
        n_samples: usize,
        seed: u64,
    ) -> Explanation {
        Explanation {
            method,
            target,
            target_name: names[target].clone(),
            coefficients,
            intercept: None,
            r2: None,
            local_prediction: None,
            model_score,
            n_samples,
            seed,
            payload: None,
            trusted: true,
        }
    }

    /// The surrogate's prediction for one mask (1 = kept): the tree's, else the linear model's;
    /// `None` for a method without a surrogate.
    pub fn surrogate_prediction(&self, mask: &[u8]) -> Option<f64> {
        if let Some(tree) = self.payload.as_ref().and_then(Payload::tree) {
            let x: Vec<f64> = mask.iter().map(|&b| b as f64).collect();
            return Some(tree.predict(&x));
        }
        let intercept = self.intercept?;
        Some(
            intercept
                + mask
                    .iter()
                    .zip(&self.coefficients)
                    .map(|(&b, c)| b as f64 * c)
                    .sum::<f64>(),
        )
    }

    /// Each point's importance: the coefficient of its segment.
    pub fn per_point(&self, labels: &[u32]) -> Vec<f32> {
        labels
            .iter()
            .map(|&l| self.coefficients[l as usize] as f32)
            .collect()
    }

    /// Segment indices by decreasing coefficient, ties by index.
    pub fn ranking(&self) -> Vec<usize> {
        ranking(&self.coefficients)
    }
}

/// The masks a sampling method scored, and their scores.
#[derive(Debug, Clone, PartialEq)]
pub struct Samples {
    /// Row 0 is the unperturbed cloud for every method.
    pub masks: Masks,
    /// Scores of every mask in the configured output: row-major `[masks.len() × n_classes]`.
    pub scores: Vec<f32>,
}

/// What every explainer returns.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribution {
    /// Class probabilities of the unperturbed cloud.
    pub probabilities: Vec<f32>,
    /// One explanation per target, in the order the targets were asked for.
    pub explanations: Vec<Explanation>,
    /// Per input point, one vector per explanation: the gradient methods' point values before
    /// they are summed per segment. Empty for the other methods.
    pub per_point: Vec<Vec<f64>>,
    /// The scored masks of the sampling methods (LIME, KernelSHAP, occlusion); for LIME those of
    /// the final attempt. `None` for the gradient methods.
    pub samples: Option<Samples>,
    /// The classifier work behind it.
    pub cost: Cost,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn the_registry_holds_every_method_once_with_sound_settings() {
        let all = Method::all();
        assert!(all.len() >= 15, "{}", names(&all));
        assert_eq!(all[0].name(), "lime");
        let unique = |items: Vec<String>| items.len() == items.iter().collect::<HashSet<_>>().len();
        assert!(unique(all.iter().map(|m| m.name().to_string()).collect()));
        assert!(unique(
            all.iter().map(|m| m.spec().order.to_string()).collect()
        ));
        // Flags are unique across methods (they share one command line), and each names a field
        // of its method's settings.
        let mut config = Config::default();
        complete_settings(&mut config).unwrap();
        let json = serde_json::to_value(&config).unwrap();
        let flags: Vec<String> = all
            .iter()
            .flat_map(|m| m.flags().iter().map(|f| f.long.to_string()))
            .collect();
        assert!(unique(flags));
        for m in &all {
            if let Some(settings) = &m.spec().settings {
                assert_eq!(settings.method, m.name());
                for f in settings.flags {
                    assert!(
                        json["methods"][m.name()].get(f.key).is_some(),
                        "--{} sets {}, which {} has not",
                        f.long,
                        f.key,
                        m.name()
                    );
                }
            }
        }
        assert!(Method::named("nosuch")
            .unwrap_err()
            .to_string()
            .contains("lime, kernelshap"));
        assert!(help().contains("ballocclusion (balls of --ball-radius"));
    }
}
