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

/// Refuses column names that do not start with the position.
fn check_given_names(names: &[String], path: &Path) -> Result<()> {
    let first: Vec<String> = names.iter().take(3).map(|n| n.to_lowercase()).collect();
    if first != ["x", "y", "z"] {
        return Err(Error::format(
            path,
            format!(
                "the column names must start with x,y,z (the position), got {}",
                crate::error::shown(&names.join(","))
            ),
        ));
    }
    Ok(())
}

/// The next line of `source` (read into `bytes`), or `None` at the end.
///
/// # Errors
/// [`Error::Format`] for a line longer than [`MAX_LINE`] or not text, [`Error::Io`] on a read
/// failure.
fn next_line<'b, R: BufRead>(
    source: &mut R,
    bytes: &'b mut Vec<u8>,
    path: &Path,
    line_no: usize,
) -> Result<Option<&'b str>> {
    bytes.clear();
    let n = source
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', bytes)
        .map_err(|e| Error::io(path, e))?;
    if n == 0 {
        return Ok(None);
    }
    if n > MAX_LINE {
        return Err(Error::format(
            path,
            format!("line {line_no}: longer than {MAX_LINE} bytes (is this a point file?)"),
        ));
    }
    match std::str::from_utf8(bytes) {
        Ok(line) => Ok(Some(line)),
        Err(_) => Err(Error::format(
            path,
            format!("line {line_no}: not text (is this a binary file?)"),
        )),
    }
}

/// The numbers of one line's `body` into `values`.
///
/// # Errors
/// [`Error::Format`] naming the line and the token that is not a number.
fn parse_values(body: &str, values: &mut Vec<f64>, path: &Path, line_no: usize) -> Result<()> {
    values.clear();
    for token in split(body) {
        let v: f64 = token.parse().map_err(|_| {
            Error::format(
                path,
                format!(
                    "line {line_no}: expected a number, found {}",
                    crate::error::shown(token)
                ),
            )
        })?;
        values.push(v);
    }
    Ok(())
}

/// Reads an ASCII point file from `source`; `path` names it in errors. `columns`, when given,
/// names the columns (`x`, `y`, `z` first), in place of a header line's names.
///
/// # Errors
/// [`Error::Format`] naming the line for a token that is not a number, a line with fewer than three
/// columns or a different column count than the first, a line over [`MAX_LINE`] bytes, or bytes
/// that are not text; naming the file when `columns` does not start with `x,y,z` or names more
/// columns than the file has; [`Error::TooLarge`] past `max_points` points.
pub fn read<R: BufRead>(
    mut source: R,
    path: &Path,
    max_points: usize,
    columns_given: Option<&[String]>,
) -> Result<PointCloud> {
    if let Some(c) = columns_given {
        check_given_names(c, path)?;
    }
    let mut positions = Vec::new();
    let mut names: Option<Vec<String>> = None;
    let mut extras: Vec<Vec<f64>> = Vec::new();
    let mut columns = 0usize;
    let mut values = Vec::new();
    let mut bytes = Vec::new();
    for line_no in 1.. {
        let Some(line) = next_line(&mut source, &mut bytes, path, line_no)? else {
            break;
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
        parse_values(body, &mut values, path, line_no)?;
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
    if let Some(c) = columns_given {
        if c.len() > columns.max(3) {
            return Err(Error::format(
                path,
                format!(
                    "{} column names given, but the file has {} columns",
                    c.len(),
                    columns.max(3)
                ),
            ));
        }
        names = Some(c.iter().map(|n| n.to_string()).collect());
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

#[cfg(test)]
mod tests {
    use super::*;

    fn read_text(text: &str, columns: Option<&[&str]>) -> Result<PointCloud> {
        let names: Option<Vec<String>> = columns.map(|c| c.iter().map(|s| s.to_string()).collect());
        read(
            text.as_bytes(),
            Path::new("t.txt"),
            usize::MAX,
            names.as_deref(),
        )
    }

    fn names(cloud: &PointCloud) -> Vec<&str> {
        cloud.attributes.iter().map(|a| a.name.as_str()).collect()
    }

    #[test]
    fn extra_columns_are_named_by_the_header_by_the_given_names_or_by_position() {
        let plain = "1 2 3 5 7\n4 5 6 2 8\n";
        assert_eq!(
            names(&read_text(plain, None).unwrap()),
            ["column_3", "column_4"]
        );
        let header = "//X Y Z label instance\n1 2 3 5 7\n";
        assert_eq!(
            names(&read_text(header, None).unwrap()),
            ["label", "instance"]
        );
        // Given names replace the header's; columns past them keep their position names.
        let c = read_text(header, Some(&["x", "y", "z", "organ"])).unwrap();
        assert_eq!(names(&c), ["organ", "column_4"]);
        assert_eq!(c.attribute("organ").unwrap().values, [5.0]);
        let c = read_text(plain, Some(&["X", "Y", "Z", "organ", "plant"])).unwrap();
        assert_eq!(names(&c), ["organ", "plant"]);
    }

    #[test]
    fn given_names_must_start_with_the_position_and_fit_the_file() {
        let err = read_text("1 2 3 4\n", Some(&["label", "x", "y", "z"]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("t.txt") && err.contains("must start with x,y,z"),
            "{err}"
        );
        let err = read_text("1 2 3 4\n", Some(&["x", "y", "z", "a", "b"]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("5 column names given, but the file has 4 columns"),
            "{err}"
        );
    }
}
