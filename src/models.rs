//! Models opened by path: pointlime's own model directory, an `.onnx` file, or the built-in
//! default, behind one trait. Commands ask for a [`Model`] and use what it can do; a new kind of
//! model is one `impl Model` and one arm of [`open`], and touches no command.
//!
//! Everything the explainers and their fast paths query (the max-pooled split, the input
//! transform, gradients, the feature for competence) stays on [`Classifier`], which every model
//! is, so a `&dyn Model` is used as a `&dyn Classifier` directly.

use std::path::{Path, PathBuf};

use crate::classifier::Classifier;
use crate::domain::Domain;
use crate::error::Result;
use crate::model::{Backend, PointNetClassifier, COMPETENCE_FILE};

/// A model as commands see it: a classifier, plus what a command asks of the model as a file.
pub trait Model: Classifier {
    /// The kind, for messages: `"pointlime"` or `"onnx"`.
    fn kind(&self) -> &'static str;

    /// What `model inspect` prints of this kind of model, one `name:  value` line each, before
    /// what every classifier reports (classes, points, fast path, gradients).
    ///
    /// # Errors
    /// A model file that cannot be read again.
    fn describe(&self) -> Result<String>;

    /// Why the exact fast scoring paths do not apply, for a model where they do not.
    fn slow_path_reason(&self) -> String;

    /// Where this model's competence statistics are kept; `None` for a model with no file of its
    /// own (the built-in one).
    fn competence_path(&self) -> Option<PathBuf>;

    /// Attaches competence statistics, read from or written to `source`.
    ///
    /// # Errors
    /// [`Error::Model`](crate::Error::Model) for statistics of another model.
    fn set_domain(&mut self, domain: Domain, source: &Path) -> Result<()>;

    /// pointlime's own PointNet behind this model, for the commands that train, randomise or
    /// count the operations of its layers; `None` by default.
    fn pointnet(&self) -> Option<&PointNetClassifier> {
        None
    }
}

/// How [`open`] loads a model.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// burn's backend, for pointlime's own models (ONNX models run on tract).
    pub backend: Backend,
    /// An ONNX model's class names in output order, instead of its sidecar's.
    pub classes: Option<Vec<String>>,
    /// Leave the model's recorded competence statistics unread: for `competence --fit`, which
    /// records them anew (statistics an earlier version recorded no longer load).
    pub without_competence: bool,
}

/// Whether `path` names an ONNX file (by its extension).
pub fn is_onnx(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
}

/// Opens the model at `path`, by what it is: an `.onnx` file (feature `onnx`), else a pointlime
/// model directory; `None` opens the built-in default model.
///
/// # Errors
/// The model's own loading errors, each naming its file.
pub fn open(path: Option<&Path>, options: &OpenOptions) -> Result<Box<dyn Model>> {
    match path {
        #[cfg(feature = "onnx")]
        Some(p) if is_onnx(p) => {
            let mut config = crate::onnx::OnnxConfig::for_model(p)?;
            if let Some(classes) = &options.classes {
                config.class_names = classes.clone();
            }
            Ok(Box::new(crate::onnx::OnnxClassifier::load_with(
                p,
                config,
                !options.without_competence,
            )?))
        }
        Some(dir) => Ok(Box::new(PointNetClassifier::load_with(
            dir,
            options.backend,
            !options.without_competence,
        )?)),
        None => Ok(Box::new(PointNetClassifier::load_builtin(options.backend)?)),
    }
}

impl Model for PointNetClassifier {
    fn kind(&self) -> &'static str {
        "pointlime"
    }

    fn describe(&self) -> Result<String> {
        let net = &self.config().network;
        Ok(format!(
            "network:    PointNet{}{}, point layers {:?}, head {:?}\ncompetence: {}\n",
            if net.segments() { " segmentation" } else { "" },
            if net.input_tnet { " with T-Nets" } else { "" },
            net.point_layers,
            net.head_layers,
            if self.domain().is_some() {
                "recorded"
            } else {
                "no statistics"
            }
        ))
    }

    fn slow_path_reason(&self) -> String {
        if self.segments() {
            "a segmentation head reads every point beside the pooled feature".into()
        } else {
            "the T-Nets look across points".into()
        }
    }

    fn competence_path(&self) -> Option<PathBuf> {
        let dir = self.path();
        (!dir.as_os_str().is_empty() && dir.is_dir()).then(|| dir.join(COMPETENCE_FILE))
    }

    fn set_domain(&mut self, domain: Domain, source: &Path) -> Result<()> {
        PointNetClassifier::set_domain(self, domain, source)
    }

    fn pointnet(&self) -> Option<&PointNetClassifier> {
        Some(self)
    }
}

#[cfg(feature = "onnx")]
impl Model for crate::onnx::OnnxClassifier {
    fn kind(&self) -> &'static str {
        "onnx"
    }

    fn describe(&self) -> Result<String> {
        let c = self.config();
        Ok(format!(
            "{}settings:   {} task, layout {:?}, channels {}, {:?} normalisation, {} up, output {} as {:?}\n",
            crate::onnx::describe(self.path())?,
            match c.task {
                crate::onnx::Task::Classify => "classify",
                crate::onnx::Task::Segment => "segment",
            },
            c.layout,
            c.channels.name(),
            c.normalisation,
            c.up.name(),
            c.output,
            c.scores
        ) + &format!("runs:       {}\n", self.runs()))
    }

    fn slow_path_reason(&self) -> String {
        self.fast_path().err().unwrap_or_default().to_string()
    }

    fn competence_path(&self) -> Option<PathBuf> {
        Some(crate::onnx::competence_path(self.path()))
    }

    fn set_domain(&mut self, domain: Domain, source: &Path) -> Result<()> {
        crate::onnx::OnnxClassifier::set_domain(self, domain, source)
    }
}
