//! The Python keyword arguments as the CLI's flags ([`Overrides`]): each value parsed by the same
//! `FromStr` as its flag, so `method="kernelshap"` and `--method kernelshap` accept and refuse the
//! same things.

use std::str::FromStr;

use pyo3::conversion::FromPyObjectOwned;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyDictMethods};

use pointlime::pipeline::{legacy, ExplainConfig, Overrides};
use pointlime::Error;

use crate::errors;

/// The settings of a run: the settings JSON (or the defaults) with the keyword arguments over it,
/// as the CLI's `--config` and flags.
pub fn config(overrides: &Bound<'_, PyDict>, settings: Option<&str>) -> PyResult<ExplainConfig> {
    let base = match settings {
        Some(text) => base(text).map_err(errors::to_py)?,
        None => ExplainConfig::default(),
    };
    self::overrides(overrides)?
        .apply(base)
        .map_err(errors::to_py)
}

/// A settings JSON (the report's `settings` object, what `--config` reads).
fn base(text: &str) -> pointlime::Result<ExplainConfig> {
    let value = serde_json::from_str(text).map_err(|e| {
        Error::Config(format!(
            "invalid settings: {}",
            pointlime::error::json_problem(&e)
        ))
    })?;
    legacy::read_settings(value)
}

/// A value given as text and parsed as its flag is (`method`, `crop`, `sampling`, …).
fn parsed<T: FromStr<Err = String>>(d: &Bound<'_, PyDict>, key: &str) -> PyResult<Option<T>> {
    match d.get_item(key)? {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) => {
            let text: String = v.str()?.to_string();
            T::from_str(&text)
                .map(Some)
                .map_err(|e| errors::settings(format!("{key}={text:?}: {e}")))
        }
    }
}

/// A number, flag or text; `what` says what is expected, for the error.
fn value<'py, T: FromPyObjectOwned<'py>>(
    d: &Bound<'py, PyDict>,
    key: &str,
    what: &str,
) -> PyResult<Option<T>> {
    match d.get_item(key)? {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) => v.extract::<T>().map(Some).map_err(|_| {
            let got = v.repr().map(|r| r.to_string()).unwrap_or_default();
            errors::settings(format!("{key}: expected {what}, got {got}"))
        }),
    }
}

const COUNT: &str = "a non-negative integer";
const NUMBER: &str = "a number";
const FLAG: &str = "True or False";
const TEXT: &str = "a string";

/// The keyword arguments of `explain` that set what a CLI flag sets. Unknown keys are refused,
/// so a misspelt argument is an error instead of being ignored.
pub fn overrides(d: &Bound<'_, PyDict>) -> PyResult<Overrides> {
    const KNOWN: &[&str] = &[
        "method",
        "segments",
        "resolution",
        "segments_from",
        "min_part_points",
        "samples",
        "seed",
        "output",
        "removal",
        "batch_size",
        "scoring",
        "up",
        "coarser_levels",
        "top_labels",
        "drop_invalid",
        "sampling",
        "crop",
        "outliers",
        "remove_ground",
        "ground_threshold",
        "largest_cluster",
        "regions",
        "min_class_share",
        "perturb_region",
        "labels",
        "method_settings",
    ];
    for key in d.keys() {
        let key: String = key.extract()?;
        if !KNOWN.contains(&key.as_str()) {
            return Err(errors::settings(format!(
                "unknown setting {key:?}; the settings are {}",
                KNOWN.join(", ")
            )));
        }
    }
    let regions: Vec<String> = value(d, "regions", "a list of region strings")?.unwrap_or_default();
    let regions = regions
        .iter()
        .map(|r| {
            r.parse()
                .map_err(|e| errors::settings(format!("regions: {r:?}: {e}")))
        })
        .collect::<PyResult<_>>()?;
    let method_settings = match d.get_item("method_settings")? {
        Some(v) if !v.is_none() => {
            let json: String = v.extract()?;
            let value: serde_json::Value = serde_json::from_str(&json)
                .map_err(|e| errors::settings(format!("method_settings: {e}")))?;
            let mut out = Vec::new();
            for (method, settings) in value.as_object().into_iter().flatten() {
                let Some(settings) = settings.as_object() else {
                    return Err(errors::settings(format!(
                        "method_settings[{method:?}] must be a dict of that method's settings"
                    )));
                };
                for (key, v) in settings {
                    out.push((method.clone(), key.clone(), v.clone()));
                }
            }
            out
        }
        _ => Vec::new(),
    };
    Ok(Overrides {
        method: parsed(d, "method")?,
        segments: value(d, "segments", COUNT)?,
        resolution: value(d, "resolution", NUMBER)?,
        segments_from: value(d, "segments_from", TEXT)?,
        min_part_points: value(d, "min_part_points", COUNT)?,
        samples: value(d, "samples", COUNT)?,
        seed: value(d, "seed", COUNT)?,
        output: parsed(d, "output")?,
        removal: parsed(d, "removal")?,
        batch_size: value(d, "batch_size", COUNT)?,
        scoring: parsed(d, "scoring")?,
        up: parsed(d, "up")?,
        coarser_levels: value(d, "coarser_levels", COUNT)?,
        top_labels: value(d, "top_labels", COUNT)?,
        drop_invalid: value(d, "drop_invalid", FLAG)?.unwrap_or(false),
        sampling: parsed(d, "sampling")?,
        crop: parsed(d, "crop")?,
        outliers: value(d, "outliers", NUMBER)?,
        remove_ground: value(d, "remove_ground", FLAG)?.unwrap_or(false),
        ground_threshold: value(d, "ground_threshold", NUMBER)?,
        largest_cluster: value(d, "largest_cluster", FLAG)?.unwrap_or(false),
        regions,
        min_class_share: value(d, "min_class_share", NUMBER)?,
        perturb_region: value(d, "perturb_region", FLAG)?.unwrap_or(false),
        labels: value(d, "labels", TEXT)?,
        method_settings,
    })
}
