//! A Python callable as a classifier: `f(batch)` with `batch` a `(B, N, 3)` float32 array of
//! clouds in the model frame, answering `(B, classes)` scores (or `(B, N, classes)` for a
//! per-point model), exactly what an ONNX model receives and answers.

use std::sync::Mutex;

use numpy::{PyArray1, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;

use pointlime::classifier::{mean_over_points, Output, PerPoint};
use pointlime::cloud::{Axis, Normalisation};
use pointlime::onnx::{OnnxConfig, Task};
use pointlime::{Classifier, Error, Result};

use crate::errors;

pub struct CallableClassifier {
    func: Py<PyAny>,
    /// The settings an ONNX sidecar holds: classes, points, frame, what the scores are.
    config: OnnxConfig,
    /// The first exception the callable raised, handed to Python as the cause of the error.
    failure: Mutex<Option<PyErr>>,
}

impl CallableClassifier {
    /// `sidecar`: the settings as JSON, in an ONNX sidecar's layout.
    pub fn new(func: Py<PyAny>, sidecar: &str) -> PyResult<CallableClassifier> {
        let config: OnnxConfig = serde_json::from_str(sidecar).map_err(|e| {
            errors::model(format!(
                "invalid model settings: {}",
                pointlime::error::json_problem(&e)
            ))
        })?;
        if config.class_names.is_empty() {
            return Err(errors::model(
                "a callable model needs its class names (classes=[...]), in score order".into(),
            ));
        }
        if config.num_points == 0 {
            return Err(errors::model("points must be at least 1".into()));
        }
        if config.channels != pointlime::channels::Channels::Xyz {
            return Err(errors::model(
                "a callable model reads x, y, z only (channels are not supported yet)".into(),
            ));
        }
        Ok(CallableClassifier {
            func,
            config,
            failure: Mutex::new(None),
        })
    }

    /// The exception the callable raised during the last run, if any (taken: the next run starts
    /// clean).
    pub fn take_failure(&self) -> Option<PyErr> {
        self.failure.lock().ok()?.take()
    }

    fn failed(&self, e: PyErr) -> Error {
        let message = Python::attach(|py| {
            let kind = e
                .get_type(py)
                .name()
                .map(|n| n.to_string())
                .unwrap_or_else(|_| "an exception".into());
            format!("the model callable raised {kind}: {}", e.value(py))
        });
        if let Ok(mut slot) = self.failure.lock() {
            slot.get_or_insert(e);
        }
        Error::Classifier(message)
    }

    /// The raw scores of `clouds`: one call per batch when the clouds have one size (always,
    /// unless the model is a set function), else one call per cloud.
    fn run(&self, clouds: &[&[[f32; 3]]], per_point: bool) -> Result<Vec<f32>> {
        let one_size = clouds.windows(2).all(|w| w[0].len() == w[1].len());
        if one_size {
            return self.call(clouds, per_point);
        }
        let mut out = Vec::new();
        for cloud in clouds {
            out.extend(self.call(std::slice::from_ref(cloud), per_point)?);
        }
        Ok(out)
    }

    fn call(&self, clouds: &[&[[f32; 3]]], per_point: bool) -> Result<Vec<f32>> {
        let b = clouds.len();
        let n = clouds.first().map_or(0, |c| c.len());
        let c = self.config.class_names.len();
        Python::attach(|py| {
            let flat: Vec<f32> = clouds
                .iter()
                .flat_map(|p| p.iter().flatten())
                .copied()
                .collect();
            let batch = PyArray1::from_vec(py, flat)
                .reshape([b, n, 3])
                .map_err(|e| self.failed(e))?;
            let answer = self
                .func
                .bind(py)
                .call1((batch,))
                .map_err(|e| self.failed(e))?;
            let array: PyReadonlyArrayDyn<'_, f32> = answer.extract().map_err(|_| {
                let kind = answer
                    .get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default();
                Error::Classifier(format!(
                    "the model callable returned a {kind}, not an array of float32 scores"
                ))
            })?;
            let want = if per_point { vec![b, n, c] } else { vec![b, c] };
            if array.shape() != want.as_slice() {
                return Err(Error::Classifier(format!(
                    "the model callable returned an array of shape {:?} for a batch of {b} clouds of {n} points; expected {want:?} ({c} classes{})",
                    array.shape(),
                    if per_point { ", per point" } else { "" }
                )));
            }
            let values: Vec<f32> = array.as_array().iter().copied().collect();
            if let Some(bad) = values.iter().find(|v| !v.is_finite()) {
                return Err(Error::Classifier(format!(
                    "the model callable returned a non-finite score ({bad})"
                )));
            }
            Ok(values)
        })
    }
}

impl Classifier for CallableClassifier {
    fn class_names(&self) -> &[String] {
        &self.config.class_names
    }

    fn input_points(&self) -> usize {
        self.config.num_points
    }

    fn runtime(&self) -> String {
        "python callable".into()
    }

    fn normalisation(&self) -> Normalisation {
        self.config.normalisation
    }

    fn up(&self) -> Axis {
        self.config.up
    }

    fn set_function(&self) -> bool {
        self.config.set_function
    }

    fn predict(&self, clouds: &[&[[f32; 3]]], output: Output) -> Result<Vec<f32>> {
        let c = self.config.class_names.len();
        if self.config.task == Task::Segment {
            // The whole cloud as one region, as for an ONNX per-point model.
            let points = self.predict_points(clouds, output)?;
            return Ok(mean_over_points(&points, clouds, c));
        }
        let mut v = self.run(clouds, false)?;
        self.config.scores.convert(&mut v, c, output);
        Ok(v)
    }

    fn per_point(&self) -> Option<&dyn PerPoint> {
        (self.config.task == Task::Segment).then_some(self as &dyn PerPoint)
    }
}

impl PerPoint for CallableClassifier {
    fn predict_points(&self, clouds: &[&[[f32; 3]]], output: Output) -> Result<Vec<f32>> {
        let mut v = self.run(clouds, true)?;
        self.config
            .scores
            .convert(&mut v, self.config.class_names.len(), output);
        Ok(v)
    }
}
