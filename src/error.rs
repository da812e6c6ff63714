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
    /// A directory was given where a file was expected.
    #[error("{}: is a directory, not a file{hint}", path.display())]
    NotAFile {
        /// The directory.
        path: PathBuf,
        /// What to do instead, from ": " on; empty when there is nothing to add.
        hint: String,
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
        /// The limit (`io::ReadOptions::max_points`).
        limit: usize,
    },
    /// The scene steps (crop, outliers, ground, largest cluster) left too little of the scan.
    ///
    /// Raised by code that holds the cloud, not its file: the caller that read the file names it
    /// with [`Error::in_file`].
    #[error("{0}")]
    Scene(String),
    /// The scan lacks what the model or the settings need (a per-point field, a channel).
    ///
    /// Raised by code that holds the cloud, not its file: the caller that read the file names it
    /// with [`Error::in_file`].
    #[error("{0}")]
    Scan(String),
    /// An error raised without its file ([`Error::Scene`], [`Error::Scan`], [`Error::Classifier`]),
    /// named by the caller that read the file.
    #[error("{}: {source}", path.display())]
    InFile {
        /// The file being processed.
        path: PathBuf,
        /// What went wrong.
        source: Box<Error>,
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

impl Error {
    /// Names the file this error happened in, once: an error raised by code that held the cloud
    /// and not its file ([`Error::Scene`], [`Error::Scan`], [`Error::Classifier`]) is wrapped in
    /// [`Error::InFile`]; every other error already names its file (or is about a setting, not a
    /// file) and is returned as it is. ripgrep's `with_path`, applied by the caller that opened
    /// the file instead of a path passed down through every function for its errors.
    pub fn in_file(self, path: impl Into<PathBuf>) -> Self {
        match self {
            e @ (Error::Scene(_) | Error::Scan(_) | Error::Classifier(_)) => Error::InFile {
                path: path.into(),
                source: Box::new(e),
            },
            other => other,
        }
    }

    /// The problem alone: a setting's message without its "invalid setting: " prefix, for a caller
    /// that says what was invalid itself; any other error as it displays.
    pub fn problem(self) -> String {
        match self {
            Error::Config(m) => m,
            other => other.to_string(),
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

/// A JSON file's problem as one short line: serde quotes the offending value whole, and in a
/// garbled file that can be the whole file.
pub fn json_problem(e: &serde_json::Error) -> String {
    clip_quotes(&requote_names(&e.to_string()))
}

/// serde writes a misspelt name raw between backticks (`` unknown variant `…`, expected … ``), so
/// whatever the file holds there (backticks, quotes, newlines, text that reads like a debug value)
/// would pass into the message unmarked: it is quoted and escaped as other values are.
fn requote_names(message: &str) -> String {
    for what in ["unknown variant `", "unknown field `"] {
        let Some(i) = message.find(what) else {
            continue;
        };
        let start = i + what.len();
        let rest = &message[start..];
        let Some(end) = ["`, expected", "`, there are no"]
            .iter()
            .filter_map(|m| rest.rfind(m))
            .max()
        else {
            continue;
        };
        return format!(
            "{}{}{}{}",
            &message[..i],
            &what[..what.len() - 1],
            shown(&rest[..end]),
            &rest[end + 1..]
        );
    }
    message.to_string()
}

/// serde quotes the offending value whole, and in a garbled config that can be the whole file:
/// every quoted run (serde escapes the quotes inside it as `\"`) is cut to 40 characters, and
/// control characters (a newline inside a quoted variant name) are escaped so that the message
/// stays one line.
pub(crate) fn clip_quotes(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(400));
    let (mut quoted, mut escaped, mut run) = (false, false, 0usize);
    for c in message.chars() {
        let ends_quote = quoted && !escaped && c == '"';
        if quoted && !ends_quote {
            escaped = !escaped && c == '\\';
            run += 1;
            if run > 40 {
                continue;
            }
            if run == 40 {
                out.push('…');
                continue;
            }
        } else if c == '"' {
            quoted = !quoted;
            run = 0;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// A panic's message without the debug value that `unwrap` appends (`…: Error { kind: … }`) or
/// its line breaks: what a library said when it panicked, fit for a one-line error.
#[cfg_attr(not(feature = "model"), allow(dead_code))]
pub(crate) fn without_debug(message: &str) -> String {
    let ident = |s: &str| {
        s.trim_end()
            .trim_end_matches(|c: char| c.is_alphanumeric() || c == '_')
            .to_string()
    };
    let mut words = match message.find('{') {
        Some(i) => ident(&message[..i]),
        None => message.to_string(),
    };
    while let Some(inner) = words.trim_end().strip_suffix('(') {
        words = ident(inner);
    }
    words.trim_end_matches([':', ' ', '\n']).replace('\n', " ")
}

/// A token or line as an error message shows it: quoted, cut at 40 characters.
pub(crate) fn shown(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((i, _)) => format!("{:?}…", &text[..i]),
        None => format!("{text:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_file_names_the_file_once_and_only_where_no_path_is_named() {
        for e in [
            Error::Scan("no field".into()),
            Error::Scene("nothing left".into()),
            Error::Classifier("bad output".into()),
        ] {
            let shown = e.to_string();
            assert_eq!(e.in_file("a.ply").to_string(), format!("a.ply: {shown}"));
        }
        // An error that names its file already, or a setting, is left as it is.
        let io = Error::io("b.ply", std::io::Error::other("gone"));
        let shown = io.to_string();
        let wrapped = io.in_file("a.ply").to_string();
        assert_eq!(wrapped, shown);
        assert!(!wrapped.contains("a.ply"));
        let config = Error::Config("a setting".into());
        assert!(matches!(config.in_file("a.ply"), Error::Config(_)));
    }

    #[test]
    fn config_errors_keep_their_place_and_stay_one_short_line() {
        let long = format!(
            "invalid type: string \"{}\\\"{}\", expected struct at line 1 column 9",
            "a".repeat(30),
            "b {".repeat(30)
        );
        let clipped = clip_quotes(&long);
        assert!(
            clipped.ends_with("\", expected struct at line 1 column 9"),
            "{clipped}"
        );
        assert!(clipped.chars().count() < 100, "{clipped}");
        assert_eq!(
            clip_quotes("unknown variant `\nit`"),
            "unknown variant `\\nit`"
        );
        assert_eq!(clip_quotes("found \"x\" at 2"), "found \"x\" at 2");
    }

    #[test]
    fn misspelt_names_are_quoted_like_values() {
        // Found by the model fuzz target: the file's text between serde's backticks read as debug
        // formatting (`Os {`).
        let raw = "unknown variant `unit_spherS8nin a aOn { 7 Os {aOn`, expected `unit_sphere` or `metric` at line 21 column 182";
        assert_eq!(
            requote_names(raw),
            "unknown variant \"unit_spherS8nin a aOn { 7 Os {aOn\", expected `unit_sphere` or `metric` at line 21 column 182"
        );
        assert_eq!(
            requote_names("unknown field `a`b\n`, expected one of `x`, `y` at line 1 column 3"),
            "unknown field \"a`b\\n\", expected one of `x`, `y` at line 1 column 3"
        );
        assert_eq!(
            requote_names("missing field `kind`"),
            "missing field `kind`"
        );
    }

    #[test]
    fn panics_keep_their_words_not_their_debug_values() {
        assert_eq!(
            without_debug(
                "called `Result::unwrap()` on an `Err` value: Io(Error { kind: UnexpectedEof })"
            ),
            "called `Result::unwrap()` on an `Err` value"
        );
        assert_eq!(
            without_debug("index out of bounds:\nthe len is 3"),
            "index out of bounds: the len is 3"
        );
    }
}
