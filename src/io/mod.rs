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

/// Reads a point cloud from a PLY, LAS, LAZ or ASCII XYZ file.
///
/// An empty cloud is a valid read; [`PointCloud::validate`] decides whether it can be explained.
///
/// # Errors
/// [`Error::UnsupportedFormat`], [`Error::Io`], [`Error::Format`].
pub fn read(path: &Path) -> Result<PointCloud> {
    match format_of(path)? {
        FileFormat::Ply => ply::read(path),
        FileFormat::Las | FileFormat::Laz => guard(path, || las::read(path)),
        FileFormat::Xyz => xyz::read(path),
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
    builder.prefix(".pointlime-").suffix(suffix);
    // Temporary files are private (0600) by default; the result is an ordinary output file.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    let tmp = builder.tempfile_in(dir).map_err(|e| Error::io(path, e))?;
    fill(&tmp)?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}
