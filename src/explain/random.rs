//! The random baseline: every segment a value drawn at random, whatever the classifier does. A
//! faithfulness table needs it as its floor: a method whose deletion curve or randomisation check
//! is no better than this one's explains nothing (Adebayo et al., NeurIPS 2018, use the same
//! floor). The classifier is run once, on the unperturbed cloud, for the probabilities and the
//! explained score.
//!
//! Its one setting is the distribution the values come from: uniform on [-1, 1] (by default) or
//! standard normal. Each explained class draws from its own stream of the seed, so that a class's
//! values do not depend on which other classes are explained.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use super::attribution::{register, Attribution, Explanation, Method, Needs, Spec, Targets};
use super::config::{Config, Flag, FlagValue, MethodSettings, SettingsSpec};
use super::input::Input;
use super::masked::explain_masks;
use super::score::Progress;
use crate::classifier::Classifier;
use crate::error::Result;
use crate::perturb::Masks;

/// The random baseline.
pub const RANDOM: Method = Method::new(&SPEC);
register!(RANDOM);

static SPEC: Spec = Spec {
    name: "random",
    order: 160,
    summary: "the baseline: each supervoxel a random value, --random-distribution",
    random: true,
    surrogate: false,
    needs: Needs::Scores,
    settings: Some(SettingsSpec::of::<RandomConfig>(&[Flag {
        long: "random-distribution",
        key: "distribution",
        value_name: "DISTRIBUTION",
        help: "random: what each supervoxel's value is drawn from [default: uniform]: uniform \
               (on [-1, 1]) or gaussian (standard normal)",
        value: FlagValue::Word(&["uniform", "gaussian"]),
    }])),
    run: random,
};

/// The random baseline's one setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RandomConfig {
    /// What each value is drawn from. By default, uniform on [-1, 1].
    pub distribution: Distribution,
}

/// A distribution of the random baseline's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Distribution {
    /// Uniform on [-1, 1].
    #[default]
    Uniform,
    /// Standard normal.
    Gaussian,
}

impl MethodSettings for RandomConfig {
    const METHOD: &'static str = "random";

    fn validate(&self) -> Result<()> {
        Ok(())
    }
}

/// Random values for every target (see the module).
///
/// # Errors
/// [`Error::Config`](crate::Error::Config) for invalid settings, input or targets; classifier
/// errors as they come.
pub fn random(
    classifier: &dyn Classifier,
    input: &Input,
    targets: &Targets,
    config: &Config,
    progress: Option<&Progress>,
) -> Result<Attribution> {
    config.check(input)?;
    let settings: RandomConfig = config.settings()?;
    let k = input.n_segments;
    let names = classifier.class_names();
    let whole = Masks::from_rows(k, &[vec![1u8; k]]);
    let mut a = explain_masks(
        classifier,
        input,
        targets,
        config,
        progress,
        whole,
        |t, scores, masks| {
            let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
            rng.set_stream(t as u64);
            let values = (0..k)
                .map(|_| match settings.distribution {
                    Distribution::Uniform => rng.random_range(-1.0..=1.0),
                    Distribution::Gaussian => rng.sample(StandardNormal),
                })
                .collect();
            Explanation::plain(
                RANDOM,
                t,
                names,
                values,
                scores[0],
                masks.len(),
                config.seed,
            )
        },
    )?;
    // One unperturbed cloud is no sample to fit or check anything on.
    a.samples = None;
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::explain::gradient::tests::line;

    fn values(config: &Config, targets: &Targets) -> Vec<Vec<f64>> {
        let (model, points, labels) = line();
        let input = Input::new(&points, &labels, 2).unwrap();
        random(&model, &input, targets, config, None)
            .unwrap()
            .explanations
            .into_iter()
            .map(|e| e.coefficients)
            .collect()
    }

    #[test]
    fn the_seed_fixes_the_values_and_each_class_has_its_own() {
        let both = Targets::Classes(vec![0, 1]);
        let config = Config::default();
        let a = values(&config, &both);
        assert_eq!(a, values(&config, &both));
        assert_ne!(a[0], a[1]);
        // A class's values do not depend on the others explained.
        assert_eq!(values(&config, &Targets::Classes(vec![1]))[0], a[1]);
        let mut other = Config::default();
        other.seed = 7;
        assert_ne!(values(&other, &both), a);
        assert!(a.iter().flatten().all(|v| (-1.0..=1.0).contains(v)));
    }

    #[test]
    fn the_distribution_is_its_setting_and_its_flag() {
        let mut config = Config::default();
        config.set_field("random", "distribution", "gaussian".into());
        crate::explain::attribution::complete_settings(&mut config).unwrap();
        assert_eq!(
            config.settings::<RandomConfig>().unwrap().distribution,
            Distribution::Gaussian
        );
        let uniform = values(&Config::default(), &Targets::Classes(vec![0]));
        let gaussian = values(&config, &Targets::Classes(vec![0]));
        assert_ne!(uniform, gaussian);
        // The registry lists it, and its flag is read from its spec.
        let method: Method = "random".parse().unwrap();
        assert_eq!(method, RANDOM);
        assert_eq!(method.flags()[0].long, "random-distribution");
        assert!(FlagValue::Word(&["uniform", "gaussian"])
            .json("cauchy")
            .is_none());
    }
}
