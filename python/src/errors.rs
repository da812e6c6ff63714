//! pointlime's errors as Python exceptions. The classes are declared in Python
//! (pointlime/_errors.py), where an exception can also be a `ValueError`; each carries the CLI's
//! one-line message.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyType;

use pointlime::Error;

/// An exception of class `class` of pointlime._errors.
fn new(class: &str, message: String) -> PyErr {
    Python::attach(|py| {
        let ty = py
            .import("pointlime._errors")
            .and_then(|m| m.getattr(class))
            .and_then(|t| t.cast_into::<PyType>().map_err(PyErr::from));
        match ty {
            Ok(ty) => PyErr::from_type(ty, message),
            // Only when the package is broken: still an exception, with the message.
            Err(_) => PyRuntimeError::new_err(message),
        }
    })
}

/// The exception for a library error: a bad scan or file, a model that cannot be opened or
/// failed, or settings out of range.
pub fn to_py(e: Error) -> PyErr {
    let class = match &e {
        Error::Config(_) => "SettingsError",
        Error::Model { .. } | Error::Classifier(_) => "ModelError",
        Error::InFile { source, .. } if matches!(**source, Error::Classifier(_)) => "ModelError",
        _ => "ScanError",
    };
    new(class, e.problem())
}

/// Arrays of the wrong shape or type.
pub fn input(message: String) -> PyErr {
    new("InputError", message)
}

/// A callable model that raised or answered wrongly.
pub fn model(message: String) -> PyErr {
    new("ModelError", message)
}

/// A bug in pointlime, caught at the boundary instead of aborting the interpreter.
pub fn internal(message: String) -> PyErr {
    new(
        "InternalError",
        format!("internal error (a bug in pointlime, please report it): {message}"),
    )
}

/// Settings of the wrong type or value.
pub fn settings(message: String) -> PyErr {
    new("SettingsError", message)
}
