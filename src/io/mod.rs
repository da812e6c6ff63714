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
    // Before the extension: a directory opens like a file on Unix, and only its first read fails.
    if path.is_dir() {
        return Err(Error::NotAFile {
            path: path.into(),
            hint: " (`pointlime batch` explains every scan in a directory)".into(),
        });
    }
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
    write_atomic(path, |file| write_into(file, path, format, cloud, options))
}

/// Writes `cloud` into `file` as `format`; `path` names the destination in errors.
fn write_into(
    file: std::fs::File,
    path: &Path,
    format: FileFormat,
    cloud: &PointCloud,
    options: WriteOptions,
) -> Result<()> {
    match format {
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
    }
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
    write_text(path, &json_text(path, value)?)
}

/// `value` as pretty JSON; `path` names the file it is for in errors.
fn json_text<T: serde::Serialize>(path: &Path, value: &T) -> Result<String> {
    serde_json::to_string_pretty(value).map_err(|e| Error::format(path, e.to_string()))
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
    // One file staged and committed: the same temporary file and rename as a group of outputs.
    let mut one = Outputs::new();
    one.file(path, suffix, fill)?;
    one.commit()
}

/// A new temporary file in `path`'s directory, its name ending in `suffix`.
fn temporary(path: &Path, suffix: &str) -> Result<tempfile::NamedTempFile> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    // tempfile's own message names the temporary file, twice; the user named the destination.
    if !dir.is_dir() {
        return Err(Error::io(
            path,
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("the directory {} does not exist", dir.display()),
            ),
        ));
    }
    clean_stale_temporaries(dir);
    let mut builder = tempfile::Builder::new();
    // Always `.pointlime-PID@HOST-XXXXXX.tmp…`: the pattern a batch run removes when an earlier
    // run was killed mid-write (`batch::lock_output`), and whose writer a later run can tell dead
    // (`clean_stale_temporaries`).
    let suffix = if suffix.starts_with(".tmp") {
        suffix.to_string()
    } else {
        format!(".tmp{suffix}")
    };
    let prefix = format!(".pointlime-{}@{}-", std::process::id(), host());
    builder.prefix(&prefix).suffix(&suffix);
    // Temporary files are private (0600) by default; the result is an ordinary output file.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    builder.tempfile_in(dir).map_err(|e| Error::io(path, e))
}

/// Files one command writes together, all or none: each is written to a temporary file beside its
/// destination as it comes, and [`commit`](Outputs::commit) renames them into place once every
/// one is complete. Dropped before that (a later step failed), the temporary files are removed
/// and no destination is touched. A rename that fails during the commit (rare: each stays within
/// its directory) leaves the destinations renamed before it replaced.
#[derive(Default)]
pub struct Outputs {
    staged: Vec<(tempfile::TempPath, std::path::PathBuf)>,
}

impl Outputs {
    /// Nothing staged yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stages a point cloud, in the format `path`'s extension names (as [`write()`]).
    ///
    /// # Errors
    /// As [`write()`].
    pub fn cloud(&mut self, path: &Path, cloud: &PointCloud, options: WriteOptions) -> Result<()> {
        let format = format_of(path)?;
        self.file(path, ".tmp", |tmp| {
            write_into(
                tmp.reopen().map_err(|e| Error::io(path, e))?,
                path,
                format,
                cloud,
                options,
            )
        })
    }

    /// Stages `value` as pretty JSON (as [`write_json`]).
    ///
    /// # Errors
    /// As [`write_json`].
    pub fn json<T: serde::Serialize>(&mut self, path: &Path, value: &T) -> Result<()> {
        let text = json_text(path, value)?;
        self.file(path, ".tmp", |tmp| {
            let mut f = tmp.reopen().map_err(|e| Error::io(path, e))?;
            std::io::Write::write_all(&mut f, text.as_bytes()).map_err(|e| Error::io(path, e))?;
            f.sync_all().map_err(|e| Error::io(path, e))
        })
    }

    /// Stages what `fill` writes at the temporary path it is given, which ends in `suffix` (as
    /// [`write_atomic_at`]).
    ///
    /// # Errors
    /// [`Error::Io`] for the temporary file; `fill`'s errors.
    pub fn at(
        &mut self,
        path: &Path,
        suffix: &str,
        fill: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<()> {
        self.file(path, suffix, |tmp| fill(tmp.path()))
    }

    fn file(
        &mut self,
        path: &Path,
        suffix: &str,
        fill: impl FnOnce(&tempfile::NamedTempFile) -> Result<()>,
    ) -> Result<()> {
        let tmp = temporary(path, suffix)?;
        fill(&tmp)?;
        self.staged.push((tmp.into_temp_path(), path.to_path_buf()));
        Ok(())
    }

    /// Renames every staged file into place, in the order staged.
    ///
    /// # Errors
    /// [`Error::Io`] naming the destination whose rename failed.
    pub fn commit(self) -> Result<()> {
        for (tmp, path) in self.staged {
            tmp.persist(&path).map_err(|e| Error::io(&path, e.error))?;
        }
        Ok(())
    }
}

/// This machine's name as temporary files carry it: letters, digits, `.` and `-` only.
fn host() -> &'static str {
    static HOST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HOST.get_or_init(|| {
        let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let name: String = name
            .trim()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
            .collect();
        if name.is_empty() {
            "host".into()
        } else {
            name
        }
    })
}

/// The writer of a temporary file of [`write_atomic`] (`.pointlime-PID@HOST-XXXXXX.tmp…`): its
/// process id and machine.
fn writer_of(name: &str) -> Option<(u32, &str)> {
    let rest = name.strip_prefix(".pointlime-")?;
    let (pid, rest) = rest.split_once('@')?;
    let (host_and_random, _) = rest.split_once(".tmp")?;
    let (host, _) = host_and_random.rsplit_once('-')?;
    Some((pid.parse().ok()?, host))
}

/// Removes, once per directory and process, the temporary files that a write into `dir` killed
/// before it could finish (SIGKILL, a lost node) left there: those written on this machine by a
/// process that no longer runs. A file of a process on another machine (a network file system,
/// where Slurm jobs write) is left to that machine's next run, and a process is known alive only
/// where `/proc` shows it (Linux), so elsewhere nothing is removed. A process id reused since is
/// taken for the writer, and its file kept: never a live write removed.
fn clean_stale_temporaries(dir: &Path) {
    static CLEANED: std::sync::Mutex<Vec<std::path::PathBuf>> = std::sync::Mutex::new(Vec::new());
    if !Path::new("/proc/self").exists() {
        return;
    }
    let key = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    {
        let mut cleaned = CLEANED.lock().unwrap_or_else(|e| e.into_inner());
        if cleaned.contains(&key) {
            return;
        }
        cleaned.push(key);
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some((pid, from)) = name.to_str().and_then(writer_of) else {
            continue;
        };
        if from == host() && !Path::new("/proc").join(pid.to_string()).exists() {
            // Another run may remove it first.
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_say_who_writes_them() {
        assert_eq!(
            writer_of(".pointlime-4242@node-7.cluster-a1B2c3.tmp.ply"),
            Some((4242, "node-7.cluster"))
        );
        assert_eq!(writer_of(".pointlime-1@h-XXXXXX.tmp"), Some((1, "h")));
        assert_eq!(writer_of(".pointlime-batch.lock"), None);
        assert_eq!(writer_of(".pointlime-abcdef.tmp"), None);
    }

    #[test]
    fn a_write_removes_what_a_dead_writer_left_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        // A process that has exited: its id is free (a reuse since would keep the file).
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let me = std::process::id();
        let names = [
            format!(".pointlime-{dead}@{}-abcdef.tmp.ply", host()),
            format!(".pointlime-{me}@{}-abcdef.tmp", host()),
            format!(".pointlime-{dead}@another-machine-abcdef.tmp"),
            "unrelated.tmp".to_string(),
        ];
        for n in &names {
            std::fs::write(dir.path().join(n), "partial").unwrap();
        }
        write_text(&dir.path().join("out.json"), "{}").unwrap();
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        let mut expected = vec![
            names[1].clone(),
            names[2].clone(),
            names[3].clone(),
            "out.json".into(),
        ];
        expected.sort();
        assert_eq!(left, expected);
    }
}
