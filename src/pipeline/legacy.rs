//! The one reader of earlier layouts: settings files and reports written before schema version 2
//! load as if written now.
//!
//! Version 1 kept every explainer setting in one flat object under `lime` (`sag_threshold`,
//! `smoothgrad_noise`, `ball_radius`, …) and an explanation's extra results beside its values
//! (`structure`, `tree`); reports older still had no `method` in their explanations (they were
//! LIME's). Version 2 nests each method's settings under its name (`explainer.methods.sag`) and an
//! explanation's extra results under `payload`. The version 1 layout is frozen, so its table
//! below never grows: a new method's settings exist in version 2 only.
//!
//! Every path that reads settings or reports comes through here: `--config` files
//! ([`read_settings`]), reports ([`Report`](super::Report)'s `settings` and `explanations`), and
//! a batch's per-file records when it resumes.

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use super::config::ExplainConfig;
use crate::error::{Error, Result};
use crate::explain::Explanation;

/// Where each key of version 1's flat `lime` object lives in version 2's `explainer`.
const V1_EXPLAINER: &[(&str, &[&str])] = &[
    ("n_samples", &["n_samples"]),
    ("seed", &["seed"]),
    ("removal", &["scoring", "removal"]),
    ("output", &["scoring", "output"]),
    ("batch_size", &["scoring", "batch_size"]),
    ("scoring", &["scoring", "path"]),
    ("keep_probability", &["methods", "lime", "keep_probability"]),
    ("kernel_width", &["methods", "lime", "kernel_width"]),
    ("ridge_alpha", &["methods", "lime", "ridge_alpha"]),
    ("auto_samples_max", &["methods", "lime", "auto_samples_max"]),
    ("surrogate", &["methods", "lime", "surrogate"]),
    ("tree_depth", &["methods", "lime", "tree_depth"]),
    ("mask_sampling", &["methods", "lime", "sampling"]),
    ("sag_threshold", &["methods", "sag", "threshold"]),
    ("sag_beam_width", &["methods", "sag", "beam_width"]),
    ("sag_max_sets", &["methods", "sag", "max_sets"]),
    ("sag_max_overlap", &["methods", "sag", "max_overlap"]),
    (
        "sag_max_evaluations",
        &["methods", "sag", "max_evaluations"],
    ),
    ("smoothgrad_samples", &["methods", "smoothgrad", "samples"]),
    ("smoothgrad_noise", &["methods", "smoothgrad", "noise"]),
    ("eg_samples", &["methods", "eg", "samples"]),
    ("ball_radius", &["methods", "ballocclusion", "radius"]),
    ("ball_stride", &["methods", "ballocclusion", "stride"]),
];

/// Settings in either layout, checked and completed ([`ExplainConfig::complete`]).
///
/// # Errors
/// [`Error::Config`] for settings that are not of either layout, or out of range.
pub fn read_settings(mut value: Value) -> Result<ExplainConfig> {
    upgrade_settings(&mut value)?;
    let mut config: ExplainConfig =
        serde_json::from_value(value).map_err(|e| Error::Config(crate::error::json_problem(&e)))?;
    config.complete()?;
    Ok(config)
}

/// [`read_settings`] as serde's `deserialize_with`.
pub fn settings<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<ExplainConfig, D::Error> {
    read_settings(Value::deserialize(d)?).map_err(|e| serde::de::Error::custom(e.problem()))
}

/// A report's explanations in either layout, as serde's `deserialize_with`.
pub fn explanations<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<Explanation>, D::Error> {
    let mut list = Vec::<Value>::deserialize(d)?;
    list.iter_mut().for_each(upgrade_explanation);
    list.into_iter()
        .map(|v| serde_json::from_value(v).map_err(serde::de::Error::custom))
        .collect()
}

/// Version 1's `lime` object, if `value` has one, moved to version 2's `explainer`.
fn upgrade_settings(value: &mut Value) -> Result<()> {
    let Some(fields) = value.as_object_mut() else {
        return Ok(());
    };
    let Some(flat) = fields.remove("lime") else {
        return Ok(());
    };
    if fields.contains_key("explainer") {
        return Err(Error::Config(
            "settings with both `lime` (the layout before schema version 2) and `explainer`".into(),
        ));
    }
    let Value::Object(flat) = flat else {
        return Err(Error::Config("`lime` settings must be an object".into()));
    };
    let mut explainer = Value::Object(Map::new());
    for (key, v) in flat {
        let Some((_, path)) = V1_EXPLAINER.iter().find(|(k, _)| *k == key) else {
            return Err(Error::Config(format!(
                "unknown field `{key}` in the `lime` settings (the layout before schema version 2)"
            )));
        };
        insert(&mut explainer, path, v);
    }
    fields.insert("explainer".into(), explainer);
    Ok(())
}

/// Sets `path` in nested objects under `root`, making the objects on the way.
fn insert(root: &mut Value, path: &[&str], v: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut at = root;
    for p in parents {
        let Value::Object(m) = at else { return };
        at = m
            .entry(p.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if let Value::Object(m) = at {
        m.insert(last.to_string(), v);
    }
}

/// A version 1 explanation in version 2's layout: `structure` or `tree` under `payload`, and
/// LIME's name where no method was written.
fn upgrade_explanation(e: &mut Value) {
    let Some(fields) = e.as_object_mut() else {
        return;
    };
    fields
        .entry("method")
        .or_insert_with(|| Value::String("lime".into()));
    for key in ["structure", "tree"] {
        if let Some(v) = fields.remove(key) {
            if !v.is_null() {
                let mut payload = Map::new();
                payload.insert(key.into(), v);
                fields.insert("payload".into(), Value::Object(payload));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::explain::sag::SAG;
    use crate::explain::{BallConfig, LimeConfig, SagConfig, Surrogate};
    use crate::perturb::Removal;

    #[test]
    fn a_version_1_settings_file_reads_as_the_same_settings() {
        let v1 = serde_json::json!({
            "method": "sag",
            "lime": {"n_samples": 300, "removal": "centroid", "scoring": "generic",
                     "surrogate": "tree", "mask_sampling": "stratified", "sag_beam_width": 4,
                     "ball_radius": 0.5},
            "seed": 3
        });
        let config = read_settings(v1).unwrap();
        assert_eq!(config.method, SAG);
        assert_eq!(config.seed, 3);
        let e = &config.explainer;
        assert_eq!((e.n_samples, e.scoring.removal), (300, Removal::Centroid));
        assert_eq!(e.scoring.path, crate::explain::Scoring::Generic);
        let lime: LimeConfig = e.settings().unwrap();
        assert_eq!(lime.surrogate, Surrogate::Tree);
        assert_eq!(lime.sampling, crate::perturb::MaskSampling::Stratified);
        assert_eq!(e.settings::<SagConfig>().unwrap().beam_width, 4);
        assert_eq!(e.settings::<BallConfig>().unwrap().radius, Some(0.5));
        // Written again, it is version 2's layout, and reads back the same.
        let v2 = serde_json::to_value(&config).unwrap();
        assert!(v2.get("lime").is_none());
        assert_eq!(v2["explainer"]["methods"]["sag"]["beam_width"], 4);
        assert_eq!(read_settings(v2).unwrap(), config);
        // Unknown keys of either layout are refused, naming the key.
        let bad = serde_json::json!({"lime": {"sag_beam": 4}});
        assert!(read_settings(bad)
            .unwrap_err()
            .to_string()
            .contains("sag_beam"));
        let bad = serde_json::json!({"explainer": {"methods": {"sag": {"beam": 4}}}});
        assert!(read_settings(bad).unwrap_err().to_string().contains("beam"));
        let bad = serde_json::json!({"explainer": {"methods": {"nosuch": {}}}});
        assert!(read_settings(bad)
            .unwrap_err()
            .to_string()
            .contains("nosuch"));
    }

    #[test]
    fn a_version_1_explanation_gains_its_payload_and_method() {
        let mut e = serde_json::json!({"target": 0, "structure": {"sets": []}, "tree": null});
        upgrade_explanation(&mut e);
        assert_eq!(e["method"], "lime");
        assert_eq!(e["payload"], serde_json::json!({"structure": {"sets": []}}));
        assert!(e.get("structure").is_none() && e.get("tree").is_none());
    }
}
