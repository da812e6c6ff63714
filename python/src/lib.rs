//! `pointlime._pointlime`: the engine behind the Python package (python/pointlime/). The Python
//! side turns the user's arrays and callables into the plain forms taken here (contiguous float64
//! points, a callable that returns float32), so this module checks shapes and maps errors, and
//! everything else is the library's own code, as the CLI runs it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use numpy::{PyArray1, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use pointlime::batch::{self as batching, Job};
use pointlime::classifier::class_index;
use pointlime::cloud::{Attribute, FileFormat, PointCloud, ScalarKind};
use pointlime::explain::{Method, Targets};
use pointlime::faithfulness as measures;
use pointlime::io::{self, ReadOptions, WriteOptions};
use pointlime::model::{builtin, Backend};
use pointlime::models::{self, OpenOptions};
use pointlime::pipeline::{default_report, explain_cloud, Explained};
use pointlime::{Classifier, Error};

mod callable;
mod errors;
mod settings;
mod stoppable;

use callable::CallableClassifier;
use errors::{internal, to_py};
use stoppable::Stoppable;

/// A scan: positions and named per-point attributes.
#[pyclass(module = "pointlime._pointlime", frozen)]
struct Cloud {
    /// Shared with the `Explanation` it may come from: a scan's attributes can be hundreds of MB.
    cloud: Arc<PointCloud>,
    /// Where it was read from; `None` for a cloud made from arrays.
    path: Option<PathBuf>,
}

#[pymethods]
impl Cloud {
    /// A cloud from an `(n, 3)` float64 array and named float64 attributes of `n` values.
    #[staticmethod]
    fn from_arrays(
        xyz: PyReadonlyArray2<'_, f64>,
        names: Vec<String>,
        values: Vec<PyReadonlyArray1<'_, f64>>,
    ) -> PyResult<Cloud> {
        let view = xyz.as_array();
        if view.ncols() != 3 {
            return Err(errors::input(format!(
                "points must have shape (n, 3), got (n, {})",
                view.ncols()
            )));
        }
        let positions: Vec<[f64; 3]> = view
            .rows()
            .into_iter()
            .map(|r| [r[0], r[1], r[2]])
            .collect();
        let mut cloud = PointCloud::from_positions(positions, FileFormat::Xyz);
        for (name, v) in names.into_iter().zip(values) {
            let v = v.as_array();
            if v.len() != cloud.len() {
                return Err(errors::input(format!(
                    "attribute {name:?} has {} values for {} points",
                    v.len(),
                    cloud.len()
                )));
            }
            cloud.attributes.push(Attribute {
                name,
                kind: ScalarKind::F64,
                values: v.to_vec(),
            });
        }
        Ok(Cloud {
            cloud: Arc::new(cloud),
            path: None,
        })
    }

    fn __len__(&self) -> usize {
        self.cloud.len()
    }

    /// The positions, `(n, 3)` float64 (a copy).
    fn xyz<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let flat: Vec<f64> = self.cloud.positions.iter().flatten().copied().collect();
        Ok(PyArray1::from_vec(py, flat)
            .reshape([self.cloud.len(), 3])?
            .into_any())
    }

    /// The attributes' names, in the file's order.
    fn names(&self) -> Vec<String> {
        self.cloud
            .attributes
            .iter()
            .map(|a| a.name.clone())
            .collect()
    }

    /// One attribute's values as float64 (a copy).
    fn attribute<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyArray1<f64>>> {
        match self.cloud.attributes.iter().find(|a| a.name == name) {
            Some(a) => Ok(PyArray1::from_vec(py, a.values.clone())),
            None => Err(errors::input(format!(
                "no attribute {name:?}; the cloud has {}",
                self.names().join(", ")
            ))),
        }
    }

    /// The file it was read from.
    #[getter]
    fn path(&self) -> Option<String> {
        self.path.as_ref().map(|p| p.display().to_string())
    }
}

/// Reads a scan (.ply, .las, .laz, .xyz, .txt, .pts).
#[pyfunction]
#[pyo3(signature = (path, max_points = None, columns = None))]
fn read(
    py: Python<'_>,
    path: PathBuf,
    max_points: Option<usize>,
    columns: Option<Vec<String>>,
) -> PyResult<Cloud> {
    let options = ReadOptions {
        max_points: max_points.unwrap_or(io::DEFAULT_MAX_POINTS),
        columns,
    };
    let cloud = py.detach(|| io::read_with(&path, options)).map_err(to_py)?;
    Ok(Cloud {
        cloud: Arc::new(cloud),
        path: Some(path),
    })
}

/// A model: pointlime's own (a directory or the built-in one), an ONNX file, or a callable.
#[pyclass(module = "pointlime._pointlime", frozen)]
struct Model {
    inner: Inner,
    name: String,
}

enum Inner {
    File(Box<dyn models::Model>),
    Callable(CallableClassifier),
}

impl Model {
    fn classifier(&self) -> &dyn Classifier {
        match &self.inner {
            Inner::File(m) => &**m,
            Inner::Callable(c) => c,
        }
    }
}

#[pymethods]
impl Model {
    /// Opens a model directory or an ONNX file; `None` opens the built-in default model.
    #[staticmethod]
    #[pyo3(signature = (path = None, classes = None))]
    fn open(
        py: Python<'_>,
        path: Option<PathBuf>,
        classes: Option<Vec<String>>,
    ) -> PyResult<Model> {
        let options = OpenOptions {
            backend: Backend::Flex,
            classes,
            ..OpenOptions::default()
        };
        let model = py
            .detach(|| models::open(path.as_deref(), &options))
            .map_err(to_py)?;
        let name = match &path {
            Some(p) => p.display().to_string(),
            None => builtin::NAME.to_string(),
        };
        Ok(Model {
            inner: Inner::File(model),
            name,
        })
    }

    /// A Python callable as the model, with the settings an ONNX model's sidecar holds (JSON in
    /// the sidecar's layout: class_names, num_points, normalisation, up, scores, task,
    /// set_function).
    #[staticmethod]
    fn from_callable(func: Py<PyAny>, sidecar: &str, name: String) -> PyResult<Model> {
        Ok(Model {
            inner: Inner::Callable(CallableClassifier::new(func, sidecar)?),
            name,
        })
    }

    /// The class names, in score order.
    fn class_names(&self) -> Vec<String> {
        self.classifier().class_names().to_vec()
    }

    /// Points per network input.
    fn input_points(&self) -> usize {
        self.classifier().input_points()
    }

    /// The name reports give the model.
    #[getter]
    fn name(&self) -> String {
        self.name.clone()
    }
}

/// An explained scan: the report and the scan with its new per-point fields.
#[pyclass(module = "pointlime._pointlime", frozen)]
struct Explanation {
    explained: Explained,
    annotated: Arc<PointCloud>,
}

#[pymethods]
impl Explanation {
    /// The report, as JSON (what `explain` writes beside the scan).
    fn report_json(&self) -> PyResult<String> {
        serde_json::to_string(&self.explained.report).map_err(|e| internal(e.to_string()))
    }

    /// The explained scan, every field included (the input's own and the new ones); shared, not
    /// copied.
    fn cloud(&self) -> Cloud {
        Cloud {
            cloud: Arc::clone(&self.annotated),
            path: None,
        }
    }

    /// The summary row `pointlime batch` writes for this scan (JSON), under the name `path`.
    fn summary_row(&self, path: &str) -> PyResult<String> {
        let r = &self.explained.report;
        let record = batching::Record::of_report(path, r.points, r);
        serde_json::to_string(&record).map_err(|e| internal(e.to_string()))
    }

    /// Writes the scan with its fields to `out` (.ply, .las, .laz) and the report to `report`
    /// (default: `out` with .json), all or nothing, as `pointlime explain` does.
    #[pyo3(signature = (out, report = None, ascii = false))]
    fn write(
        &self,
        py: Python<'_>,
        out: PathBuf,
        report: Option<PathBuf>,
        ascii: bool,
    ) -> PyResult<(String, String)> {
        let report = report.unwrap_or_else(|| default_report(&out));
        py.detach(|| -> pointlime::Result<()> {
            if matches!(io::format_of(&out)?, FileFormat::Xyz) {
                return Err(Error::Format {
                    path: out.clone(),
                    message: "explained clouds are written as .ply, .las or .laz".into(),
                });
            }
            let mut outputs = io::Outputs::new();
            outputs.cloud(&out, &self.annotated, WriteOptions { ascii })?;
            outputs.json(&report, &self.explained.report)?;
            outputs.commit()
        })
        .map_err(to_py)?;
        Ok((out.display().to_string(), report.display().to_string()))
    }
}

/// Explains `cloud` with `model`. `overrides` holds the CLI's flags by their Python names
/// (`settings` module); `settings` is a settings JSON (the report's `settings` object).
#[pyfunction]
#[pyo3(signature = (cloud, model, overrides, settings = None, target = None))]
fn explain(
    py: Python<'_>,
    cloud: &Cloud,
    model: &Model,
    overrides: &Bound<'_, PyDict>,
    settings: Option<&str>,
    target: Option<&str>,
) -> PyResult<Explanation> {
    let mut config = settings::config(overrides, settings)?;
    let classifier = model.classifier();
    if let Some(t) = target {
        config.targets = Targets::Classes(vec![class_index(classifier, t).map_err(to_py)?]);
    }
    let input: PathBuf = cloud
        .path
        .clone()
        .unwrap_or_else(|| PathBuf::from("<array>"));
    let points = PointCloud::clone(&cloud.cloud);
    let stop = AtomicBool::new(false);
    clear_failures(&[model]);
    let guarded = Stoppable::new(classifier, &stop);
    let result = interruptible(py, &stop, move || -> pointlime::Result<Explanation> {
        let mut points = points;
        let dropped = points.validate(&input, config.drop_invalid)?;
        let explained = explain_cloud(
            &points,
            &input,
            &guarded,
            &model.name,
            &config,
            dropped,
            None,
        )
        .map_err(|e| e.in_file(&input))?;
        let annotated = Arc::new(explained.annotate(points));
        Ok(Explanation {
            explained,
            annotated,
        })
    })?;
    result.map_err(|e| failure(py, e, &[model]))
}

/// Scores every scan under `input` into `out` as `pointlime batch` does (the library's
/// `batch::run`, the outputs mirroring the input tree, summary.csv and summary.jsonl), and returns
/// the summary's rows as JSON, whether Ctrl-C stopped it, and any warning of the output lock.
/// Ctrl-C lets the scans in flight finish, as the CLI does; `resume` goes on from there.
#[pyfunction]
#[pyo3(signature = (input, out, model, overrides, settings = None, jobs = None, resume = false, strict = false, explain = true, ascii = false, max_points = None))]
#[allow(clippy::too_many_arguments)] // Python keyword arguments, each the CLI flag of its name.
fn batch(
    py: Python<'_>,
    input: PathBuf,
    out: PathBuf,
    model: &Model,
    overrides: &Bound<'_, PyDict>,
    settings: Option<&str>,
    jobs: Option<usize>,
    resume: bool,
    strict: bool,
    explain: bool,
    ascii: bool,
    max_points: Option<usize>,
) -> PyResult<(String, bool, Option<String>)> {
    let config = settings::config(overrides, settings)?;
    if !input.is_dir() {
        let e = Error::Format {
            path: input,
            message: "not a directory".into(),
        };
        return Err(to_py(e));
    }
    std::fs::create_dir_all(&out).map_err(|e| {
        to_py(Error::Io {
            path: out.clone(),
            source: e,
        })
    })?;
    let lock = batching::lock_output(&out, None).map_err(to_py)?;
    let files = batching::discover(&input, Some(&out)).map_err(to_py)?;
    // Ctrl-C stops taking scans and lets those in flight finish, as `pointlime batch` does: the
    // model is not wrapped in `Stoppable`, whose refusal would fail those scans.
    let stop = AtomicBool::new(false);
    let job = Job {
        input_root: &input,
        out_root: &out,
        classifier: model.classifier(),
        model_name: &model.name,
        config: &config,
        explain,
        write: WriteOptions { ascii },
        read: ReadOptions {
            max_points: max_points.unwrap_or(io::DEFAULT_MAX_POINTS),
            columns: None,
        },
        strict,
    };
    let workers = jobs.unwrap_or_else(rayon::current_num_threads);
    // A scan's failure is its row; only a summary that cannot be written fails the call.
    let (outcome, written) = interruptible(py, &stop, || {
        let outcome = batching::run(&job, &files, workers, resume, &stop, &|_, _| {});
        let written = batching::write_summary(
            &outcome.records,
            &out.join("summary.csv"),
            &out.join("summary.jsonl"),
        );
        (outcome, written)
    })?;
    written.map_err(to_py)?;
    let rows = serde_json::to_string(&outcome.records).map_err(|e| internal(e.to_string()))?;
    Ok((rows, outcome.interrupted, lock.warning))
}

/// Measures how faithful `methods`' explanations of `cloud` are, as `pointlime faithfulness`
/// measures each object: deletion and insertion areas against random orders, seed stability,
/// and the randomisation check against `randomised` (for pointlime's and ONNX models, the model
/// with every layer re-initialised when `randomised` is not given). The object's result as JSON.
#[pyfunction]
#[pyo3(signature = (cloud, model, randomised, overrides, settings = None, methods = None, rounds = 5))]
#[allow(clippy::too_many_arguments)] // Python keyword arguments, each the CLI flag of its name.
fn faithfulness(
    py: Python<'_>,
    cloud: &Cloud,
    model: &Model,
    randomised: Option<&Model>,
    overrides: &Bound<'_, PyDict>,
    settings: Option<&str>,
    methods: Option<Vec<String>>,
    rounds: usize,
) -> PyResult<String> {
    let config = settings::config(overrides, settings)?;
    let classifier = model.classifier();
    if classifier.per_point().is_some() {
        return Err(errors::settings(
            "faithfulness from Python measures whole-cloud models; a per-point model's regions are measured by `pointlime faithfulness`".into(),
        ));
    }
    let methods: Vec<Method> = match methods {
        Some(names) => names
            .iter()
            .map(|m| {
                m.parse()
                    .map_err(|e: String| errors::settings(format!("methods: {e}")))
            })
            .collect::<PyResult<_>>()?,
        None => measures::default_methods(classifier),
    };
    measures::check_methods(&methods, classifier).map_err(to_py)?;
    let owned: Box<dyn Classifier>;
    let randomised_model = randomised;
    let randomised: &dyn Classifier = match (randomised, classifier.randomisable()) {
        (Some(r), _) => r.classifier(),
        (None, Some(layers)) => {
            // The CLI's seed for the fully randomised model.
            owned = layers
                .randomised(&layers.layer_names(), config.seed ^ 0xa11)
                .map_err(to_py)?;
            &*owned
        }
        (None, None) => {
            return Err(errors::settings(
                "the randomisation check needs the randomised model: give randomised=, the same network with re-initialised weights".into(),
            ))
        }
    };
    if randomised.class_names().len() != classifier.class_names().len() {
        return Err(errors::settings(format!(
            "the randomised model has {} classes, the model {}",
            randomised.class_names().len(),
            classifier.class_names().len()
        )));
    }
    let callers: Vec<&Model> = std::iter::once(model).chain(randomised_model).collect();
    clear_failures(&callers);
    let input: String = cloud
        .path
        .clone()
        .map_or_else(|| "<array>".into(), |p| p.display().to_string());
    let points = PointCloud::clone(&cloud.cloud);
    let stop = AtomicBool::new(false);
    let (guarded, guarded_randomised) = (
        Stoppable::new(classifier, &stop),
        Stoppable::new(randomised, &stop),
    );
    let result = interruptible(py, &stop, move || -> pointlime::Result<String> {
        let mut points = points;
        points.validate(Path::new(&input), config.drop_invalid)?;
        let setup = measures::object::Setup {
            classifier: &guarded,
            randomised: &guarded_randomised,
            steps: &[],
            label_shuffled: None,
            config: &config,
            methods: &methods,
            rounds,
        };
        let r = measures::object::evaluate_object(&points, &input, "", &setup)
            .map_err(|e| e.in_file(&input))?;
        serde_json::to_string(&r).map_err(|e| Error::Classifier(e.to_string()))
    })?;
    result.map_err(|e| failure(py, e, &callers))
}

/// Forgets what the callables raised in an earlier run.
fn clear_failures(models: &[&Model]) {
    for m in models {
        if let Inner::Callable(c) = &m.inner {
            c.take_failure();
        }
    }
}

/// The exception for a run's error, with the exception a callable model raised as its cause.
fn failure(py: Python<'_>, e: Error, models: &[&Model]) -> PyErr {
    let err = to_py(e);
    for m in models {
        if let Inner::Callable(c) = &m.inner {
            if let Some(cause) = c.take_failure() {
                err.set_cause(py, Some(cause));
                break;
            }
        }
    }
    err
}

/// Runs `work` without the GIL on a thread of its own, while this (Python's) thread checks for
/// signals: Ctrl-C sets `stop`, which the model's next call sees, and raises KeyboardInterrupt
/// here once the work has returned. A panic in `work` becomes a Python exception, never an abort.
fn interruptible<T: Send>(
    py: Python<'_>,
    stop: &AtomicBool,
    work: impl FnOnce() -> T + Send,
) -> PyResult<T> {
    let mut signal: Option<PyErr> = None;
    let joined = py.detach(|| {
        std::thread::scope(|s| {
            let handle = s.spawn(work);
            while !handle.is_finished() {
                std::thread::sleep(Duration::from_millis(20));
                if signal.is_none() {
                    if let Err(e) = Python::attach(|py| py.check_signals()) {
                        stop.store(true, Ordering::SeqCst);
                        signal = Some(e);
                    }
                }
            }
            handle.join()
        })
    });
    if let Some(e) = signal {
        return Err(e);
    }
    joined.map_err(|payload| {
        internal(
            pointlime::error::panic_message(&*payload)
                .unwrap_or_else(|| "a panic without a message".into()),
        )
    })
}

#[pymodule]
fn _pointlime(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Cloud>()?;
    m.add_class::<Model>()?;
    m.add_class::<Explanation>()?;
    m.add_function(wrap_pyfunction!(read, m)?)?;
    m.add_function(wrap_pyfunction!(explain, m)?)?;
    m.add_function(wrap_pyfunction!(batch, m)?)?;
    m.add_function(wrap_pyfunction!(faithfulness, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
