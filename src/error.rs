//! The one library error type.

use std::path::PathBuf;

/// Everything that can go wrong in the library.
///
/// Messages are lower case, name the offending file or value, and give a hint where there is a fix,
/// so that the CLI can print `error: {err}` as its single line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be opened, read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// The file's contents are not a valid point cloud of its format.
    #[error("{}: {message}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the offending value.
        message: String,
    },
    /// The file's extension is not one pointlime reads or writes.
    #[error("{}: unsupported file extension {extension:?} (expected .ply, .las, .laz, .xyz, .txt or .pts)", path.display())]
    UnsupportedFormat {
        /// The file.
        path: PathBuf,
        /// The extension found, empty when there is none.
        extension: String,
    },
    /// Some points have NaN or infinite coordinates.
    #[error("{}: {count} of {total} points have NaN or infinite coordinates (use --drop-invalid to drop them)", path.display())]
    InvalidCoordinates {
        /// The file.
        path: PathBuf,
        /// Points with a non-finite coordinate.
        count: usize,
        /// Points in the file.
        total: usize,
    },
    /// The cloud has too few points to explain.
    #[error("{}: the cloud has {count} point(s); at least {minimum} are needed", path.display())]
    TooFewPoints {
        /// The file.
        path: PathBuf,
        /// Points found.
        count: usize,
        /// Points needed.
        minimum: usize,
    },
    /// The file holds (or its header declares) more points than the reading limit allows.
    #[error("{}: {found}, more than the limit of {limit} points (raise it with --max-points, or crop or thin the scan first)", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// What was found: the count its header declares, or where reading stopped.
        found: String,
        /// The limit ([`crate::io::ReadOptions::max_points`]).
        limit: usize,
    },
    /// The scene steps (crop, outliers, ground, largest cluster) left too little of the scan.
    #[error("{}: {message}", path.display())]
    Scene {
        /// The file.
        path: PathBuf,
        /// What was removed.
        message: String,
    },
    /// Another process holds what this one needs: a batch output directory.
    #[error("{}: {message}", path.display())]
    Busy {
        /// The directory.
        path: PathBuf,
        /// Who holds it and what to do.
        message: String,
    },
    /// A configuration value is out of range.
    #[error("invalid setting: {0}")]
    Config(String),
    /// A model directory is missing, incomplete or inconsistent.
    #[error("{}: {message}", path.display())]
    Model {
        /// The model directory or file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The classifier failed on a batch.
    #[error("classifier failed: {0}")]
    Classifier(String),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn format(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Format {
            path: path.into(),
            message: message.into(),
        }
    }

    #[cfg(feature = "model")]
    pub(crate) fn model(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Model {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The message of a panic payload (`panic!` with a literal or a formatted string), if it has one.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> Option<String> {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
}
