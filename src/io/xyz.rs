//! ASCII point files: `x y z [more columns]`, one point per line, as CloudCompare writes them and
//! as the DALES objects are stored.
//!
//! Separators may be spaces, tabs, commas or semicolons. Blank lines and lines starting with `#` or
//! `//` are skipped, except that a first non-blank line of words (`//X Y Z R G B`, `x,y,z,intensity`)
//! names the columns. Unnamed extra columns are called `column_3`, `column_4`, …

use std::io::{BufRead, Read, Write};
use std::path::Path;

use crate::cloud::{Attribute, FileFormat, PointCloud, ScalarKind, Source};
use crate::error::{Error, Result};

fn split(line: &str) -> impl Iterator<Item = &str> {
    line.split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .filter(|t| !t.is_empty())
}

/// The longest line read: a point with hundreds of columns fits; a binary file or a file without
/// newlines does not make the reader hold it whole.
pub const MAX_LINE: usize = 1 << 20;

/// Reads an ASCII point file from `source`; `path` names it in errors.
///
/// # Errors
/// [`Error::Format`] naming the line for a token that is not a number, a line with fewer than three
/// columns or a different column count than the first, a line over [`MAX_LINE`] bytes, or bytes
/// that are not text; [`Error::TooLarge`] past `max_points` points.
pub fn read<R: BufRead>(mut source: R, path: &Path, max_points: usize) -> Result<PointCloud> {
    let mut positions = Vec::new();
    let mut names: Option<Vec<String>> = None;
    let mut extras: Vec<Vec<f64>> = Vec::new();
    let mut columns = 0usize;
    let mut values = Vec::new();
    let mut bytes = Vec::new();
    for line_no in 1.. {
        bytes.clear();
        let n = (&mut source)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut bytes)
            .map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        if n > MAX_LINE {
            return Err(Error::format(
                path,
                format!("line {line_no}: longer than {MAX_LINE} bytes (is this a point file?)"),
            ));
        }
        let Ok(line) = std::str::from_utf8(&bytes) else {
            return Err(Error::format(
                path,
                format!("line {line_no}: not text (is this a binary file?)"),
            ));
        };
        let trimmed = line.trim();
        let is_comment = trimmed.starts_with('#') || trimmed.starts_with("//");
        if trimmed.is_empty() || (is_comment && columns > 0) {
            continue;
        }
        let body = trimmed.trim_start_matches("//").trim_start_matches('#');
        if columns == 0 && names.is_none() {
            let tokens: Vec<&str> = split(body).collect();
            if is_comment || tokens.first().is_some_and(|t| t.parse::<f64>().is_err()) {
                if tokens.len() >= 3 && tokens.iter().all(|t| t.parse::<f64>().is_err()) {
                    names = Some(tokens.iter().map(|t| t.to_lowercase()).collect());
                }
                if is_comment || names.is_some() {
                    continue;
                }
            }
        }
        values.clear();
        for token in split(body) {
            let v: f64 = token.parse().map_err(|_| {
                Error::format(
                    path,
                    format!(
                        "line {line_no}: expected a number, found {}",
                        super::shown(token)
                    ),
                )
            })?;
            values.push(v);
        }
        if columns == 0 {
            if values.len() < 3 {
                return Err(Error::format(
                    path,
                    format!(
                        "line {line_no}: expected at least 3 columns (x y z), found {}",
                        values.len()
                    ),
                ));
            }
            columns = values.len();
            extras = vec![Vec::new(); columns - 3];
        } else if values.len() != columns {
            return Err(Error::format(
                path,
                format!(
                    "line {line_no}: expected {columns} columns like line 1, found {}",
                    values.len()
                ),
            ));
        }
        if positions.len() == max_points {
            return Err(Error::TooLarge {
                path: path.into(),
                found: format!("line {line_no} holds point {}", max_points as u64 + 1),
                limit: max_points,
            });
        }
        positions.push([values[0], values[1], values[2]]);
        for (c, v) in values[3..].iter().enumerate() {
            extras[c].push(*v);
        }
    }
    let mut cloud = PointCloud::from_positions(positions, FileFormat::Xyz);
    cloud.source = Source {
        format: FileFormat::Xyz,
        detail: format!("ASCII, {} columns", columns.max(3)),
        las: None,
    };
    cloud.attributes = extras
        .into_iter()
        .enumerate()
        .map(|(c, values)| Attribute {
            name: names
                .as_ref()
                .and_then(|n| n.get(c + 3).cloned())
                .unwrap_or_else(|| format!("column_{}", c + 3)),
            kind: ScalarKind::F64,
            values,
        })
        .collect();
    Ok(cloud)
}

/// Writes an ASCII point file with a `//x y z …` header line naming every column.
///
/// # Errors
/// [`Error::Io`] on a write failure.
pub fn write<W: Write>(out: &mut W, path: &Path, cloud: &PointCloud) -> Result<()> {
    let io = |e| Error::io(path, e);
    write!(out, "//x y z").map_err(io)?;
    for a in &cloud.attributes {
        write!(out, " {}", a.name).map_err(io)?;
    }
    writeln!(out).map_err(io)?;
    for (i, p) in cloud.positions.iter().enumerate() {
        write!(out, "{} {} {}", p[0], p[1], p[2]).map_err(io)?;
        for a in &cloud.attributes {
            write!(out, " {}", a.values[i]).map_err(io)?;
        }
        writeln!(out).map_err(io)?;
    }
    Ok(())
}
