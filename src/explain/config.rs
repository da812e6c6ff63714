//! The settings every explainer takes, and how each method keeps its own.
//!
//! [`Config`] holds what every method shares (the sample budget, the seed, how masks are scored)
//! and, under each method's name, that method's own settings: a type of the method's file that
//! implements [`MethodSettings`], stored as its JSON so that this file names no method. Reports
//! write them nested, `{"n_samples": …, "methods": {"lime": {…}, "sag": {…}}}`; the layout of
//! earlier reports is read by `pipeline::legacy`.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::input::Input;
use super::score::ScoringConfig;
use crate::error::{Error, Result};

/// Settings of every explainer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Model evaluations a sampling method may spend: LIME's samples (the unperturbed one
    /// included) and KernelSHAP's coalitions beyond the full and empty ones. By default, 1000
    /// (lime_image).
    pub n_samples: usize,
    /// Seed of every random draw of the explainers. By default, 0.
    pub seed: u64,
    /// How masks are scored, for every method.
    pub scoring: ScoringConfig,
    /// Each method's own settings, by method name, as their JSON (see [`Config::settings`]).
    /// Methods without an entry take their defaults.
    methods: BTreeMap<String, Value>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            n_samples: 1000,
            seed: 0,
            scoring: ScoringConfig::default(),
            methods: BTreeMap::new(),
        }
    }
}

/// A method's own settings: a type of the method's file, written in reports under the method's
/// name.
pub trait MethodSettings:
    Default + Serialize + DeserializeOwned + Clone + PartialEq + std::fmt::Debug + 'static
{
    /// The method's name ([`super::Spec::name`]): the settings' key.
    const METHOD: &'static str;

    /// Checks the settings, before any work.
    ///
    /// # Errors
    /// [`Error::Config`] for values out of range.
    fn validate(&self) -> Result<()>;
}

/// What the registry knows of a method's settings: their flags, and how to check and complete
/// their JSON without knowing their type.
pub struct SettingsSpec {
    /// The settings' key: their method's name.
    pub method: &'static str,
    /// The command-line flags that set them, each one field.
    pub flags: &'static [Flag],
    normalise: fn(Value) -> Result<Value>,
}

impl SettingsSpec {
    /// The spec of `T`, set by `flags`.
    pub const fn of<T: MethodSettings>(flags: &'static [Flag]) -> SettingsSpec {
        SettingsSpec {
            method: T::METHOD,
            flags,
            normalise: normalise::<T>,
        }
    }
}

/// `value` read as `T` (missing fields at their defaults), checked, and written back whole.
fn normalise<T: MethodSettings>(value: Value) -> Result<Value> {
    let settings = read::<T>(value)?;
    settings.validate()?;
    serde_json::to_value(&settings).map_err(|e| Error::Config(format!("{}: {e}", T::METHOD)))
}

fn read<T: MethodSettings>(value: Value) -> Result<T> {
    serde_json::from_value(value).map_err(|e| Error::Config(format!("{} settings: {e}", T::METHOD)))
}

/// One command-line flag of a method's settings: `--LONG VALUE` sets the field `key`.
#[derive(Debug)]
pub struct Flag {
    /// The flag without its dashes.
    pub long: &'static str,
    /// The settings field it sets.
    pub key: &'static str,
    /// The value's name in the help.
    pub value_name: &'static str,
    /// The help text.
    pub help: &'static str,
    /// What the value is.
    pub value: FlagValue,
}

/// The value a [`Flag`] takes.
#[derive(Debug, Clone, Copy)]
pub enum FlagValue {
    /// A real number.
    Number,
    /// A count (a non-negative integer).
    Count,
    /// A count that may be left out, meaning this one.
    CountOr(&'static str),
    /// One of these words.
    Word(&'static [&'static str]),
}

impl FlagValue {
    /// The JSON of a value as given on the command line, or `None` when it is not of this kind.
    pub fn json(self, text: &str) -> Option<Value> {
        match self {
            FlagValue::Number => text
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number),
            FlagValue::Count | FlagValue::CountOr(_) => text.parse::<u64>().ok().map(Value::from),
            FlagValue::Word(words) => words
                .contains(&text)
                .then(|| Value::String(text.to_string())),
        }
    }
}

impl Config {
    /// Checks the settings and the input once, before any work: every method starts with this.
    ///
    /// # Errors
    /// As [`Config::validate`] and [`Input::check`].
    pub fn check(&self, input: &Input) -> Result<()> {
        self.validate()?;
        input.check()
    }

    /// Checks the shared settings once, before any work (each method checks its own when it
    /// reads them, [`Config::settings`]).
    ///
    /// # Errors
    /// [`Error::Config`] for values out of range.
    pub fn validate(&self) -> Result<()> {
        if self.n_samples < 2 {
            return Err(Error::Config(format!(
                "samples must be at least 2, got {}",
                self.n_samples
            )));
        }
        self.scoring.validate()
    }

    /// The settings of `T`'s method: those given, the rest at their defaults.
    ///
    /// # Errors
    /// [`Error::Config`] for settings that do not parse as `T` or are out of range.
    pub fn settings<T: MethodSettings>(&self) -> Result<T> {
        let settings = match self.methods.get(T::METHOD) {
            Some(v) => read::<T>(v.clone())?,
            None => T::default(),
        };
        settings.validate()?;
        Ok(settings)
    }

    /// Sets `T`'s method's settings.
    ///
    /// # Errors
    /// [`Error::Config`] for settings out of range.
    pub fn set<T: MethodSettings>(&mut self, settings: &T) -> Result<()> {
        settings.validate()?;
        let value = serde_json::to_value(settings)
            .map_err(|e| Error::Config(format!("{}: {e}", T::METHOD)))?;
        self.methods.insert(T::METHOD.to_string(), value);
        Ok(())
    }

    /// Changes `T`'s method's settings with `change`.
    ///
    /// # Errors
    /// As [`Config::settings`] and [`Config::set`].
    pub fn update<T: MethodSettings>(&mut self, change: impl FnOnce(&mut T)) -> Result<()> {
        let mut settings = self.settings::<T>()?;
        change(&mut settings);
        self.set(&settings)
    }

    /// Sets one field of a method's settings from its JSON, as a command-line flag does; checked
    /// with the rest by `complete_settings`.
    pub fn set_field(&mut self, method: &str, key: &str, value: Value) {
        let entry = self
            .methods
            .entry(method.to_string())
            .or_insert_with(|| Value::Object(Default::default()));
        if !entry.is_object() {
            *entry = Value::Object(Default::default());
        }
        if let Value::Object(fields) = entry {
            fields.insert(key.to_string(), value);
        }
    }

    /// The methods whose settings are given.
    pub(super) fn method_names(&self) -> impl Iterator<Item = &str> {
        self.methods.keys().map(String::as_str)
    }

    /// Reads `method`'s settings through `spec` (defaults when none are given) and writes them
    /// back whole.
    pub(super) fn normalise(&mut self, method: &str, spec: &SettingsSpec) -> Result<()> {
        let given = self
            .methods
            .remove(method)
            .unwrap_or_else(|| Value::Object(Default::default()));
        let value = (spec.normalise)(given)?;
        self.methods.insert(method.to_string(), value);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::Output;
    use crate::explain::attribution::complete_settings;
    use crate::explain::{LimeConfig, Method, SagConfig, Scoring, ScoringPath, Surrogate};
    use crate::perturb::{MaskSampling, Removal};

    #[test]
    fn each_method_keeps_its_settings_under_its_name() {
        let mut config = Config::default();
        config.scoring.removal = Removal::Centroid;
        config
            .update(|l: &mut LimeConfig| l.auto_samples_max = Some(4000))
            .unwrap();
        complete_settings(&mut config).unwrap();
        let json = serde_json::to_value(&config).unwrap();
        assert_eq!(json["scoring"]["removal"], "centroid");
        assert_eq!(json["methods"]["lime"]["auto_samples_max"], 4000);
        assert_eq!(json["methods"]["sag"]["beam_width"], 10);
        // Every method with settings is listed, under its name; none other.
        let listed: Vec<&str> = json["methods"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut with_settings: Vec<&str> = Method::all()
            .into_iter()
            .filter(|m| m.spec().settings.is_some())
            .map(|m| m.name())
            .collect();
        with_settings.sort();
        assert_eq!(listed, with_settings);
        assert_eq!(serde_json::from_value::<Config>(json).unwrap(), config);
        // Missing keys take their defaults; unknown keys are refused, also inside a method's.
        let partial: Config =
            serde_json::from_str(r#"{"n_samples":300,"methods":{"sag":{"max_sets":2}}}"#).unwrap();
        assert_eq!(partial.n_samples, 300);
        assert_eq!(partial.scoring, ScoringConfig::default());
        assert_eq!(partial.settings::<SagConfig>().unwrap().max_sets, 2);
        assert_eq!(partial.settings::<SagConfig>().unwrap().beam_width, 10);
        assert!(serde_json::from_str::<Config>(r#"{"samples":300}"#).is_err());
        let mut typo = Config::default();
        typo.set_field("sag", "beam", 3.into());
        assert!(typo.settings::<SagConfig>().is_err());
        // A setting out of range is refused when set and when read.
        let mut config = Config::default();
        assert!(config
            .update(|s: &mut SagConfig| s.threshold = 2.0)
            .is_err());
        config.set_field("sag", "threshold", 2.0.into());
        assert!(config.settings::<SagConfig>().is_err());
        assert!(complete_settings(&mut config).is_err());
    }

    #[test]
    fn command_line_names_are_the_report_names() {
        // The FromStr impls and `name()`s restate serde's names by hand: keep them equal.
        let serde_name = |v: serde_json::Value| v.as_str().unwrap().to_string();
        for o in [Output::Logit, Output::Probability] {
            let n = serde_name(serde_json::to_value(o).unwrap());
            assert_eq!((o.name(), n.parse::<Output>().unwrap()), (n.as_str(), o));
        }
        for r in [Removal::Drop, Removal::Centroid] {
            let n = serde_name(serde_json::to_value(r).unwrap());
            assert_eq!(n.parse::<Removal>().unwrap(), r);
        }
        for p in [Scoring::Auto, Scoring::Generic, Scoring::Full] {
            let n = serde_name(serde_json::to_value(p).unwrap());
            assert_eq!(n.parse::<Scoring>().unwrap(), p);
        }
        for p in [
            ScoringPath::ExactMaxPool,
            ScoringPath::GenericKeptPoints,
            ScoringPath::PooledInputTransform,
            ScoringPath::GenericFull,
            ScoringPath::Backprop,
            ScoringPath::PooledFeatures,
        ] {
            assert_eq!(serde_name(serde_json::to_value(p).unwrap()), p.name());
        }
        for m in Method::all() {
            let n = serde_name(serde_json::to_value(m).unwrap());
            assert_eq!((m.name(), n.parse::<Method>().unwrap()), (n.as_str(), m));
        }
        for v in [Surrogate::Ridge, Surrogate::Tree] {
            let n = serde_name(serde_json::to_value(v).unwrap());
            assert_eq!(n.parse::<Surrogate>().unwrap(), v);
        }
        for v in [MaskSampling::Bernoulli, MaskSampling::Stratified] {
            let n = serde_name(serde_json::to_value(v).unwrap());
            assert_eq!(n.parse::<MaskSampling>().unwrap(), v);
        }
        assert!("dropped".parse::<Removal>().is_err());
    }
}
