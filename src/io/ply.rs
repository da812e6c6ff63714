//! PLY through ply-rs: ascii and binary of either byte order in, binary little-endian or ascii out.
//!
//! The vertex element (`vertex`, or `point` as some writers name it) becomes the cloud; `x`/`y`/`z`
//! become positions and every other scalar property an [`Attribute`] of the same name and type.
//! Other elements (faces, edges, custom ones) are read past and dropped: a mesh is a valid source of
//! points. List properties on the vertex element are dropped too.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::Path;

use ply_rs::parser::Parser;
use ply_rs::ply::{
    Addable, ElementDef, Encoding, Header, Property, PropertyAccess, PropertyDef, PropertyType,
    ScalarType,
};
use ply_rs::writer::Writer;

use crate::cloud::{Attribute, FileFormat, PointCloud, ScalarKind, Source};
use crate::error::{Error, Result};

/// One parsed row: each scalar property as `f64`, lists as NaN placeholders, in header order.
struct Row(Vec<f64>);

impl PropertyAccess for Row {
    fn new() -> Self {
        Row(Vec::new())
    }
    fn set_property(&mut self, _name: String, property: Property) {
        let v = match property {
            Property::Char(v) => v as f64,
            Property::UChar(v) => v as f64,
            Property::Short(v) => v as f64,
            Property::UShort(v) => v as f64,
            Property::Int(v) => v as f64,
            Property::UInt(v) => v as f64,
            Property::Float(v) => v as f64,
            Property::Double(v) => v,
            _ => f64::NAN,
        };
        self.0.push(v);
    }
}

/// A row of an element we do not keep: parsed (the format has no way to skip ascii or list data
/// without parsing it) and dropped.
struct Skip;

impl PropertyAccess for Skip {
    fn new() -> Self {
        Skip
    }
}

fn kind_of(t: &ScalarType) -> ScalarKind {
    match t {
        ScalarType::Char => ScalarKind::I8,
        ScalarType::UChar => ScalarKind::U8,
        ScalarType::Short => ScalarKind::I16,
        ScalarType::UShort => ScalarKind::U16,
        ScalarType::Int => ScalarKind::I32,
        ScalarType::UInt => ScalarKind::U32,
        ScalarType::Float => ScalarKind::F32,
        ScalarType::Double => ScalarKind::F64,
    }
}

fn scalar_of(k: ScalarKind) -> ScalarType {
    match k {
        ScalarKind::I8 => ScalarType::Char,
        ScalarKind::U8 => ScalarType::UChar,
        ScalarKind::I16 => ScalarType::Short,
        ScalarKind::U16 => ScalarType::UShort,
        ScalarKind::I32 => ScalarType::Int,
        ScalarKind::U32 => ScalarType::UInt,
        ScalarKind::F32 => ScalarType::Float,
        // PLY has no 64-bit integers; a double holds them up to 2^53.
        ScalarKind::F64 | ScalarKind::I64 | ScalarKind::U64 => ScalarType::Double,
    }
}

/// A `BufRead` that counts the bytes and lines its user has consumed, so that errors can say where
/// in the file they happened (ply-rs counts lines per element only, and bytes not at all).
struct Counted<R> {
    inner: R,
    bytes: u64,
    lines: u64,
}

impl<R: BufRead> std::io::Read for Counted<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = {
            let buf = self.fill_buf()?;
            let n = buf.len().min(out.len());
            out[..n].copy_from_slice(&buf[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Counted<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, n: usize) {
        if let Ok(buf) = self.inner.fill_buf() {
            let seen = &buf[..n.min(buf.len())];
            self.lines += seen.iter().filter(|&&b| b == b'\n').count() as u64;
        }
        self.bytes += n as u64;
        self.inner.consume(n);
    }
}

/// Reads a PLY file of `len` bytes from `source`; `path` names it in errors.
///
/// Memory follows the file, not the header: element counts are checked against the bytes left
/// after the header before any row is read, and the vertex count against `max_points`.
///
/// # Errors
/// [`Error::Format`] for a malformed header, a count the file cannot hold, or a row that cannot be
/// read (with its line for ascii files and its byte offset for binary ones); [`Error::TooLarge`]
/// above `max_points`.
pub fn read<R: BufRead>(source: R, len: u64, path: &Path, max_points: usize) -> Result<PointCloud> {
    let mut reader = Counted {
        inner: source,
        bytes: 0,
        lines: 0,
    };
    // ply-rs's grammar unwraps the parse of every header integer (ply-rs 0.1.3,
    // parser/ply_grammar.rs:23), so a count above 2^64 panics instead of failing: caught here.
    let header = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Parser::<Row>::new().read_header(&mut reader)
    }))
    .map_err(|_| {
        Error::format(
            path,
            format!(
                "not a valid PLY file: header line {}: a number too large for 64 bits",
                reader.lines
            ),
        )
    })?
    .map_err(|e| Error::format(path, header_problem(&e, reader.lines + 1)))?;
    let encoding = match header.encoding {
        Encoding::Ascii => "ascii",
        Encoding::BinaryLittleEndian => "binary little-endian",
        Encoding::BinaryBigEndian => "binary big-endian",
    };
    let detail = format!(
        "PLY {encoding} {}.{}",
        header.version.major, header.version.minor
    );
    let target = ["vertex", "point"]
        .iter()
        .find(|n| header.elements.contains_key(**n))
        .map(|n| n.to_string());
    let mut cloud = PointCloud::from_positions(Vec::new(), FileFormat::Ply);
    cloud.source = Source {
        format: FileFormat::Ply,
        detail,
        las: None,
    };
    let Some(target) = target else {
        return Ok(cloud);
    };
    check_counts(
        &header,
        &target,
        len.saturating_sub(reader.bytes),
        max_points,
        path,
    )?;

    let mut rows = Vec::new();
    for (name, def) in &header.elements {
        if *name == target {
            rows = read_rows::<Row, _>(&mut reader, def, &header.encoding)
                .map_err(|m| Error::format(path, m))?;
            break;
        }
        read_rows::<Skip, _>(&mut reader, def, &header.encoding)
            .map_err(|m| Error::format(path, m))?;
    }

    let def = &header.elements[&target];
    let column = |n: &str| def.properties.keys().position(|k| k == n);
    // A missing axis reads as 0: 2-d point sets (x, y) are planar clouds, and an element with
    // other properties only still loads with its count and attributes.
    let axes = [column("x"), column("y"), column("z")];
    cloud.positions = rows
        .iter()
        .map(|r| axes.map(|a| a.map_or(0.0, |i| r.0[i])))
        .collect();
    for (i, (name, prop)) in def.properties.iter().enumerate() {
        if axes.contains(&Some(i)) {
            continue;
        }
        if let PropertyType::Scalar(t) = &prop.data_type {
            cloud.attributes.push(Attribute {
                name: name.clone(),
                kind: kind_of(t),
                values: rows.iter().map(|r| r.0[i]).collect(),
            });
        }
    }
    Ok(cloud)
}

/// The fewest bytes one row of `def` takes: binary, its scalars and list counts; ascii, one
/// character and one separator per property, and at least the newline.
fn min_row_bytes(def: &ElementDef, encoding: &Encoding) -> u64 {
    let size = |t: &ScalarType| kind_of(t).size() as u64;
    match encoding {
        Encoding::Ascii => (2 * def.properties.len() as u64).max(1),
        _ => def
            .properties
            .values()
            .map(|p| match &p.data_type {
                PropertyType::Scalar(t) => size(t),
                PropertyType::List(count, _) => size(count),
            })
            .sum(),
    }
}

/// Checks, before any row is read, that the elements up to the target fit in the `left` bytes after
/// the header (ply-rs would otherwise read an element of 2^40 rows row by row, and forever when its
/// rows take no bytes), that list counts are integers, and that the target is within `max_points`.
fn check_counts(
    header: &Header,
    target: &str,
    left: u64,
    max_points: usize,
    path: &Path,
) -> Result<()> {
    let mut needed = 0u64;
    for (name, def) in &header.elements {
        for (prop, p) in &def.properties {
            if let PropertyType::List(ScalarType::Float | ScalarType::Double, _) = p.data_type {
                return Err(Error::format(
                    path,
                    format!(
                        "element '{name}': list property '{prop}' has a floating-point length type"
                    ),
                ));
            }
        }
        let count = def.count as u64;
        if name == target && count > max_points as u64 {
            return Err(Error::TooLarge {
                path: path.into(),
                found: format!("the header declares {count} points"),
                limit: max_points,
            });
        }
        let row = min_row_bytes(def, &header.encoding).max(1);
        needed = needed.saturating_add(count.saturating_mul(row));
        if needed > left {
            return Err(Error::format(
                path,
                format!(
                    "element '{name}': the header declares {count} rows, more than the {left} bytes after the header can hold"
                ),
            ));
        }
        if name == target {
            break;
        }
    }
    Ok(())
}

/// Reads the rows of one element through ply-rs, one at a time, so that an error can name the row
/// and where it is.
fn read_rows<E: PropertyAccess, R: BufRead>(
    reader: &mut Counted<R>,
    def: &ElementDef,
    encoding: &Encoding,
) -> std::result::Result<Vec<E>, String> {
    let parser = Parser::<E>::new();
    let (name, count) = (&def.name, def.count);
    let mut rows = Vec::new();
    let mut line = String::new();
    for r in 0..count {
        let at = reader.bytes;
        let row = match encoding {
            Encoding::Ascii => {
                let line_no = reader.lines + 1;
                line.clear();
                match reader.read_line(&mut line) {
                    Ok(0) => {
                        return Err(format!(
                            "element '{name}': the file ends after {r} of the {count} rows the header declares"
                        ))
                    }
                    Ok(_) => {}
                    Err(_) => return Err(format!("line {line_no}: not text")),
                }
                parser.read_ascii_element(&line, def).map_err(|_| {
                    format!(
                        "line {line_no} (element '{name}', row {} of {count}): {}",
                        r + 1,
                        ascii_row_problem(&line, def)
                    )
                })?
            }
            // Binary rows fail only by running out of bytes: list lengths were checked to be
            // integers.
            Encoding::BinaryLittleEndian => parser
                .read_little_endian_element(reader, def)
                .map_err(|_| truncated(name, r + 1, count, at))?,
            Encoding::BinaryBigEndian => parser
                .read_big_endian_element(reader, def)
                .map_err(|_| truncated(name, r + 1, count, at))?,
        };
        rows.push(row);
    }
    Ok(rows)
}

fn truncated(name: &str, row: usize, count: usize, at: u64) -> String {
    format!("element '{name}', row {row} of {count} (byte {at}): the file ends inside the row")
}

/// What is wrong with an ascii row, in words (ply-rs's own message is debug-formatted).
fn ascii_row_problem(line: &str, def: &ElementDef) -> String {
    let tokens: Vec<&str> = line.split_whitespace().collect();
    let mut at = 0;
    for (name, p) in &def.properties {
        let (t, list) = match &p.data_type {
            PropertyType::Scalar(t) => (t, false),
            PropertyType::List(_, t) => (t, true),
        };
        let Some(&first) = tokens.get(at) else {
            return format!(
                "expected a value for property '{name}', but the line ends after {} values",
                tokens.len()
            );
        };
        at += 1;
        let fits = |token: &str| match t {
            ScalarType::Float | ScalarType::Double => token.parse::<f64>().is_ok(),
            ScalarType::Char => token.parse::<i8>().is_ok(),
            ScalarType::UChar => token.parse::<u8>().is_ok(),
            ScalarType::Short => token.parse::<i16>().is_ok(),
            ScalarType::UShort => token.parse::<u16>().is_ok(),
            ScalarType::Int => token.parse::<i32>().is_ok(),
            ScalarType::UInt => token.parse::<u32>().is_ok(),
        };
        if !list {
            if !fits(first) {
                return format!(
                    "property '{name}' is {}, found {}",
                    type_word(t),
                    crate::error::shown(first)
                );
            }
            continue;
        }
        let Ok(items) = first.parse::<usize>() else {
            return format!(
                "list '{name}': expected its length, found {}",
                crate::error::shown(first)
            );
        };
        for k in 0..items {
            match tokens.get(at) {
                Some(v) if fits(v) => at += 1,
                Some(v) => {
                    return format!(
                        "list '{name}', item {}: expected {}, found {}",
                        k + 1,
                        type_word(t),
                        crate::error::shown(v)
                    )
                }
                None => {
                    return format!(
                        "list '{name}' declares {items} items, but the line ends after {k}"
                    )
                }
            }
        }
    }
    format!(
        "expected {} values as the header declares, found {}",
        at,
        tokens.len()
    )
}

fn type_word(t: &ScalarType) -> &'static str {
    match t {
        ScalarType::Float | ScalarType::Double => "a number",
        ScalarType::Char => "an integer from -128 to 127",
        ScalarType::UChar => "an integer from 0 to 255",
        ScalarType::Short => "an integer from -32768 to 32767",
        ScalarType::UShort => "an integer from 0 to 65535",
        ScalarType::Int => "a 32-bit integer",
        ScalarType::UInt => "a 32-bit unsigned integer",
    }
}

/// ply-rs's header errors in words: its messages span lines and embed parser state.
fn header_problem(e: &std::io::Error, line: u64) -> String {
    let text = e.to_string();
    if e.kind() == std::io::ErrorKind::InvalidData {
        return format!("not a PLY file: header line {line} is not text");
    }
    // ply-rs writes "Line N: what\n\tString: 'the line'\n\tError: …".
    let line = text
        .strip_prefix("Line ")
        .and_then(|r| r.split(':').next())
        .and_then(|n| n.trim().parse::<u64>().ok())
        .unwrap_or(line);
    let content = text
        .split("\tString: '")
        .nth(1)
        .map(|r| r.rsplit_once("'\n").map_or(r, |(l, _)| l))
        .map(|l| l.trim_end_matches(['\r', '\n']))
        .unwrap_or("");
    if text.contains("magic number") {
        if content.is_empty() {
            return "not a PLY file: it is empty".into();
        }
        return format!(
            "not a PLY file: it starts with {}, not \"ply\"",
            crate::error::shown(content)
        );
    }
    if text.contains("No format line") {
        return "not a valid PLY file: the header has no format line".into();
    }
    if content.is_empty() {
        return format!("not a valid PLY file: the header ends at line {line} without end_header");
    }
    let what = if text.contains("Unexpected 'ply'") {
        "a second \"ply\" line"
    } else if text.contains("contradicting format") {
        "a second format line that disagrees with the first"
    } else if text.contains("without preceding element") {
        "a property before any element"
    } else {
        "not a PLY header line"
    };
    format!(
        "not a valid PLY file: header line {line}: {what}: {}",
        crate::error::shown(content)
    )
}

/// A row being written: values in header order, looked up by name as ply-rs asks for them.
struct OutRow<'a> {
    index: &'a HashMap<String, usize>,
    values: Vec<f64>,
}

impl PropertyAccess for OutRow<'_> {
    fn new() -> Self {
        unreachable!("ply-rs creates rows only when parsing; OutRow is write-only")
    }
    fn get_char(&self, n: &String) -> Option<i8> {
        self.get(n).map(|v| v as i8)
    }
    fn get_uchar(&self, n: &String) -> Option<u8> {
        self.get(n).map(|v| v as u8)
    }
    fn get_short(&self, n: &String) -> Option<i16> {
        self.get(n).map(|v| v as i16)
    }
    fn get_ushort(&self, n: &String) -> Option<u16> {
        self.get(n).map(|v| v as u16)
    }
    fn get_int(&self, n: &String) -> Option<i32> {
        self.get(n).map(|v| v as i32)
    }
    fn get_uint(&self, n: &String) -> Option<u32> {
        self.get(n).map(|v| v as u32)
    }
    fn get_float(&self, n: &String) -> Option<f32> {
        self.get(n).map(|v| v as f32)
    }
    fn get_double(&self, n: &String) -> Option<f64> {
        self.get(n)
    }
}

impl OutRow<'_> {
    fn get(&self, name: &str) -> Option<f64> {
        self.index.get(name).map(|&i| self.values[i])
    }
}

/// Writes a PLY file: positions as double when the source had them as double or they are far from
/// the origin (float would round georeferenced coordinates), otherwise float; then every attribute.
///
/// # Errors
/// [`Error::Io`] on a write failure.
pub fn write<W: Write>(out: &mut W, path: &Path, cloud: &PointCloud, ascii: bool) -> Result<()> {
    let io = |e: std::io::Error| Error::io(path, e);
    let far = cloud
        .positions
        .iter()
        .any(|p| p.iter().any(|c| c.abs() > 1.0e4));
    let coord = if far {
        ScalarType::Double
    } else {
        ScalarType::Float
    };
    let mut element = ElementDef::new("vertex".to_string());
    element.count = cloud.len();
    for axis in ["x", "y", "z"] {
        element.properties.add(PropertyDef::new(
            axis.to_string(),
            PropertyType::Scalar(coord.clone()),
        ));
    }
    for attr in &cloud.attributes {
        element.properties.add(PropertyDef::new(
            attr.name.clone(),
            PropertyType::Scalar(scalar_of(attr.kind)),
        ));
    }
    let mut header = Header::new();
    header.encoding = if ascii {
        Encoding::Ascii
    } else {
        Encoding::BinaryLittleEndian
    };
    header.comments.push("written by pointlime".to_string());
    header.elements.add(element.clone());

    let writer = Writer::<OutRow>::new();
    writer.write_header(out, &header).map_err(io)?;
    let index: HashMap<String, usize> = element
        .properties
        .keys()
        .enumerate()
        .map(|(i, k)| (k.clone(), i))
        .collect();
    let mut row = OutRow {
        index: &index,
        values: vec![0.0; element.properties.len()],
    };
    for i in 0..cloud.len() {
        row.values[..3].copy_from_slice(&cloud.positions[i]);
        for (j, attr) in cloud.attributes.iter().enumerate() {
            row.values[3 + j] = attr.values[i];
        }
        if ascii {
            writer.write_ascii_element(out, &row, &element)
        } else {
            writer.write_little_endian_element(out, &row, &element)
        }
        .map_err(io)?;
    }
    Ok(())
}
