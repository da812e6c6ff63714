//! PLY through ply-rs: ascii and binary of either byte order in, binary little-endian or ascii out.
//!
//! The vertex element (`vertex`, or `point` as some writers name it) becomes the cloud; `x`/`y`/`z`
//! become positions and every other scalar property an [`Attribute`] of the same name and type.
//! Other elements (faces, edges, custom ones) are read past and dropped: a mesh is a valid source of
//! points. List properties on the vertex element are dropped too.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Write};
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

/// Reads a PLY file.
///
/// # Errors
/// [`Error::Io`] when the file cannot be opened; [`Error::Format`] for a malformed header, a payload
/// shorter than the header says.
pub fn read(path: &Path) -> Result<PointCloud> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut reader = BufReader::new(file);
    let bad =
        |e: std::io::Error| Error::format(path, format!("not a valid PLY file: {}", one_line(&e)));
    let header = Parser::<Row>::new().read_header(&mut reader).map_err(bad)?;
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

    let mut rows = Vec::new();
    for (name, def) in &header.elements {
        if *name == target {
            rows = Parser::<Row>::new()
                .read_payload_for_element(&mut reader, def, &header)
                .map_err(|e| Error::format(path, format!("element '{name}': {}", one_line(&e))))?;
            break;
        }
        Parser::<Skip>::new()
            .read_payload_for_element(&mut reader, def, &header)
            .map_err(|e| Error::format(path, format!("element '{name}': {}", one_line(&e))))?;
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

/// ply-rs errors span several lines (input, parser state); the CLI prints one.
fn one_line(e: &std::io::Error) -> String {
    let s = e.to_string();
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.len() > 200 {
        format!(
            "{}…",
            &s[..s.char_indices().nth(200).map_or(s.len(), |(i, _)| i)]
        )
    } else {
        s
    }
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
