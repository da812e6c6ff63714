//! ASCII point files: `x y z [more columns]`, one point per line, as CloudCompare writes them and
//! as the DALES objects are stored.
//!
//! Separators may be spaces, tabs, commas or semicolons. Blank lines and lines starting with `#` or
//! `//` are skipped, except that a first non-blank line of words (`//X Y Z R G B`, `x,y,z,intensity`)
//! names the columns. Unnamed extra columns are called `column_3`, `column_4`, …

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use crate::cloud::{Attribute, FileFormat, PointCloud, ScalarKind, Source};
use crate::error::{Error, Result};

fn split(line: &str) -> impl Iterator<Item = &str> {
    line.split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .filter(|t| !t.is_empty())
}

/// Reads an ASCII point file.
///
/// # Errors
/// [`Error::Format`] naming the line for a token that is not a number or a line with fewer than
/// three columns or a different column count than the first.
pub fn read(path: &Path) -> Result<PointCloud> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut positions = Vec::new();
    let mut names: Option<Vec<String>> = None;
    let mut extras: Vec<Vec<f64>> = Vec::new();
    let mut columns = 0usize;
    let mut values = Vec::new();
    for (number, line) in BufReader::new(file).lines().enumerate() {
        let line_no = number + 1;
        let line = line.map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidData => Error::format(
                path,
                format!("line {line_no}: not text (is this a binary file?)"),
            ),
            _ => Error::io(path, e),
        })?;
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
                    format!("line {line_no}: expected a number, found {token:?}"),
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
