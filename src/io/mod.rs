//! Reading and writing point clouds, chosen by file extension.
//!
//! Writes are atomic: the data goes to a temporary file in the destination's directory, which is
//! renamed over the destination only once complete, so a failed or interrupted run never leaves a
//! partial file behind.

mod las;
mod ply;
mod xyz;

use std::io::BufWriter;
use std::path::Path;

use crate::cloud::{FileFormat, PointCloud};
use crate::error::{Error, Result};

/// The format a path's extension names.
///
/// # Errors
/// [`Error::UnsupportedFormat`] for any other extension.
pub fn format_of(path: &Path) -> Result<FileFormat> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "ply" => Ok(FileFormat::Ply),
        "las" => Ok(FileFormat::Las),
        "laz" => Ok(FileFormat::Laz),
        "xyz" | "txt" | "pts" => Ok(FileFormat::Xyz),
        _ => Err(Error::UnsupportedFormat {
            path: path.into(),
            extension: ext,
        }),
    }
}

/// Limits on what a read may hold, and how text columns are named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOptions {
    /// The most points a file may have (or its header declare) before anything is read:
    /// [`Error::TooLarge`] above it. Each point costs 24 bytes of position and 8 per attribute.
    pub max_points: usize,
    /// Names of a text file's columns, `x`, `y`, `z` first (`--columns x,y,z,label`); they
    /// replace a header line's. `None`: the header's names, else `column_3`, `column_4`, ….
    /// PLY and LAS name their fields themselves and ignore it.
    pub columns: Option<Vec<String>>,
}

/// 50 million points: a phone scan has 1–10 million; at the LAS attributes' 8 bytes each, 50
/// million points take about 7 GB before any work starts.
pub const DEFAULT_MAX_POINTS: usize = 50_000_000;

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            max_points: DEFAULT_MAX_POINTS,
            columns: None,
        }
    }
}

/// Reads a point cloud from a PLY, LAS, LAZ or ASCII XYZ file, with the default [`ReadOptions`].
///
/// An empty cloud is a valid read; [`PointCloud::validate`] decides whether it can be explained.
///
/// # Errors
/// [`Error::UnsupportedFormat`], [`Error::Io`], [`Error::Format`], [`Error::TooLarge`].
pub fn read(path: &Path) -> Result<PointCloud> {
    read_with(path, ReadOptions::default())
}

/// [`read()`] with limits. Memory follows the file's size, never a count its header claims.
///
/// # Errors
/// As [`read()`].
pub fn read_with(path: &Path, options: ReadOptions) -> Result<PointCloud> {
    let format = format_of(path)?;
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    parse(std::io::BufReader::new(file), len, format, path, options)
}

/// Reads a point cloud held in memory, in `format`; `name` stands for the file in errors. For
/// data that did not come from a file, and for the fuzz targets.
///
/// # Errors
/// As [`read()`].
pub fn read_bytes(
    bytes: &[u8],
    format: FileFormat,
    name: &Path,
    options: ReadOptions,
) -> Result<PointCloud> {
    // las wants an owned ('static) source, so the bytes are copied once.
    let source = std::io::Cursor::new(bytes.to_vec());
    parse(source, bytes.len() as u64, format, name, options)
}

/// The one dispatch from a format to its reader; `len` is the source's length in bytes.
fn parse<R: std::io::BufRead + std::io::Seek + Send + Sync + 'static>(
    source: R,
    len: u64,
    format: FileFormat,
    path: &Path,
    options: ReadOptions,
) -> Result<PointCloud> {
    let max = options.max_points;
    match format {
        FileFormat::Ply => ply::read(source, len, path, max),
        FileFormat::Las | FileFormat::Laz => guard(path, || las::read(source, len, path, max)),
        FileFormat::Xyz => xyz::read(source, path, max, options.columns.as_deref()),
    }
}

/// A token or line as an error message shows it: quoted, cut at 40 characters.
pub(crate) fn shown(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((i, _)) => format!("{:?}…", &text[..i]),
        None => format!("{text:?}"),
    }
}

/// Runs a reader, turning a panic inside a format crate into an error naming the file.
///
/// laz 0.13 panics on some corrupt LAZ streams ("Variable-size chunks, but no chunk table" on
/// LASzip's `broken_coder.laz`); user data must never crash pointlime.
fn guard(path: &Path, read: impl FnOnce() -> Result<PointCloud>) -> Result<PointCloud> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)).unwrap_or_else(|payload| {
        let msg = crate::error::panic_message(payload.as_ref())
            .unwrap_or_else(|| "unknown failure".into());
        Err(Error::format(
            path,
            format!("not a valid LAS/LAZ file: decoder failed: {msg}"),
        ))
    })
}

/// Options for [`write()`].
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteOptions {
    /// Write PLY as ascii instead of binary little-endian. By default, binary.
    pub ascii: bool,
}

/// Writes a point cloud, in the format its extension names, atomically.
///
/// # Errors
/// [`Error::UnsupportedFormat`], [`Error::Io`], [`Error::Format`].
pub fn write(path: &Path, cloud: &PointCloud, options: WriteOptions) -> Result<()> {
    let format = format_of(path)?;
    write_atomic(path, |file| match format {
        FileFormat::Ply => {
            let mut out = BufWriter::new(file);
            ply::write(&mut out, path, cloud, options.ascii)?;
            flush(out, path)
        }
        FileFormat::Las | FileFormat::Laz => {
            las::write(file, path, cloud, format == FileFormat::Laz)
        }
        FileFormat::Xyz => {
            let mut out = BufWriter::new(file);
            xyz::write(&mut out, path, cloud)?;
            flush(out, path)
        }
    })
}

fn flush(out: BufWriter<std::fs::File>, path: &Path) -> Result<()> {
    let file = out
        .into_inner()
        .map_err(|e| Error::io(path, e.into_error()))?;
    file.sync_all().map_err(|e| Error::io(path, e))
}

/// Writes `value` as pretty JSON to `path`, atomically.
///
/// # Errors
/// [`Error::Io`] on a write failure, [`Error::Format`] when `value` cannot be serialised.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let text =
        serde_json::to_string_pretty(value).map_err(|e| Error::format(path, e.to_string()))?;
    write_text(path, &text)
}

/// Writes `text` to `path` atomically (see [`write_atomic`]).
///
/// # Errors
/// [`Error::Io`] on a write failure.
pub fn write_text(path: &Path, text: &str) -> Result<()> {
    write_atomic(path, |mut f| {
        std::io::Write::write_all(&mut f, text.as_bytes()).map_err(|e| Error::io(path, e))
    })
}

/// Runs `fill` on a temporary file beside `path` and renames it to `path` on success; on failure the
/// temporary file is removed and `path` is untouched.
pub fn write_atomic(path: &Path, fill: impl FnOnce(std::fs::File) -> Result<()>) -> Result<()> {
    replace_atomically(path, ".tmp", |tmp| {
        fill(tmp.reopen().map_err(|e| Error::io(path, e))?)
    })
}

/// As [`write_atomic`], for writers that open a path themselves and pick the format from its
/// extension: `fill` gets the temporary file's path, which ends in `suffix`.
pub fn write_atomic_at(
    path: &Path,
    suffix: &str,
    fill: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    replace_atomically(path, suffix, |tmp| fill(tmp.path()))
}

fn replace_atomically(
    path: &Path,
    suffix: &str,
    fill: impl FnOnce(&tempfile::NamedTempFile) -> Result<()>,
) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    // Always `.pointlime-XXXXXX.tmp…`, the pattern a batch run removes when an earlier run was
    // killed mid-write (`batch::lock_output`).
    let suffix = if suffix.starts_with(".tmp") {
        suffix.to_string()
    } else {
        format!(".tmp{suffix}")
    };
    builder.prefix(".pointlime-").suffix(&suffix);
    // Temporary files are private (0600) by default; the result is an ordinary output file.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    let tmp = builder.tempfile_in(dir).map_err(|e| Error::io(path, e))?;
    fill(&tmp)?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}
