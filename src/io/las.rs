//! LAS/LAZ through the las crate: versions 1.0–1.4, point formats 0–10, COPC read as plain LAZ.
//!
//! Standard point fields become attributes with fixed names (`intensity`, `return_number`,
//! `number_of_returns`, `classification`, `scan_angle`, `user_data`, `point_source_id`,
//! `gps_time`, `red`/`green`/`blue`, `nir`); extra bytes described by the LAS 1.4 extra-bytes VLR
//! become attributes named by their descriptors.
//!
//! The las crate reads and writes extra bytes only as opaque per-point bytes (`Point::extra_bytes`)
//! and has no type for the extra-bytes descriptor VLR (las 0.11.2: `grep -rn ExtraBytes src/` finds
//! only the raw byte field). So this module encodes and decodes the 192-byte descriptors of LAS 1.4
//! R15 §2.6.2 itself and hands the las writer ordinary `Vlr`s and `extra_bytes`; every byte of the
//! file is still laid out by las.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom};
use std::path::Path;

use las::{point::Format, Builder, Point, PointData, Reader, Transform, Vector, Vlr};

use crate::cloud::{Attribute, FileFormat, LasLayout, LasRecord, PointCloud, ScalarKind, Source};
use crate::error::{Error, Result};

const EXTRA_BYTES_USER: &str = "LASF_Spec";
const EXTRA_BYTES_RECORD: u16 = 4;
const DESCRIPTOR_LEN: usize = 192;
/// Bytes of raw point records decoded at a time: las buffers a whole fill, and a record can be
/// 64 KiB long (extra bytes), so the fill is sized in bytes, not points.
const FILL_BYTES: u64 = 8 << 20;

/// One extra-bytes attribute as the descriptor VLR declares it.
#[derive(Debug, Clone)]
struct Descriptor {
    name: String,
    kind: Option<ScalarKind>,
    size: usize,
    scale: Option<f64>,
    offset: Option<f64>,
}

fn data_type_kind(t: u8) -> Option<ScalarKind> {
    Some(match t {
        1 => ScalarKind::U8,
        2 => ScalarKind::I8,
        3 => ScalarKind::U16,
        4 => ScalarKind::I16,
        5 => ScalarKind::U32,
        6 => ScalarKind::I32,
        7 => ScalarKind::U64,
        8 => ScalarKind::I64,
        9 => ScalarKind::F32,
        10 => ScalarKind::F64,
        _ => return None,
    })
}

fn kind_data_type(k: ScalarKind) -> u8 {
    match k {
        ScalarKind::U8 => 1,
        ScalarKind::I8 => 2,
        ScalarKind::U16 => 3,
        ScalarKind::I16 => 4,
        ScalarKind::U32 => 5,
        ScalarKind::I32 => 6,
        ScalarKind::U64 => 7,
        ScalarKind::I64 => 8,
        ScalarKind::F32 => 9,
        ScalarKind::F64 => 10,
    }
}

fn parse_descriptors(data: &[u8]) -> Vec<Descriptor> {
    data.chunks_exact(DESCRIPTOR_LEN)
        .map(|d| {
            let data_type = d[2];
            let options = d[3];
            let name = String::from_utf8_lossy(&d[4..36])
                .trim_end_matches('\0')
                .trim()
                .to_string();
            let kind = data_type_kind(data_type);
            // Type 0 is "undefined": `options` then holds the byte count. Types 11–30 are the
            // deprecated 2- and 3-element arrays.
            let size = match (kind, data_type) {
                (Some(k), _) => k.size(),
                (None, 0) => options as usize,
                (None, t @ 11..=30) => {
                    let base = data_type_kind((t - 1) % 10 + 1).map_or(1, |k| k.size());
                    base * if t <= 20 { 2 } else { 3 }
                }
                _ => 0,
            };
            let f = |o: usize| f64::from_le_bytes(d[o..o + 8].try_into().unwrap());
            Descriptor {
                name,
                kind,
                size,
                scale: (options & 0b1000 != 0).then(|| f(112)),
                offset: (options & 0b1_0000 != 0).then(|| f(136)),
            }
        })
        .collect()
}

fn descriptor_bytes(name: &str, kind: ScalarKind, description: &str) -> [u8; DESCRIPTOR_LEN] {
    let mut d = [0u8; DESCRIPTOR_LEN];
    d[2] = kind_data_type(kind);
    let n = name.as_bytes();
    d[4..4 + n.len().min(32)].copy_from_slice(&n[..n.len().min(32)]);
    let t = description.as_bytes();
    d[160..160 + t.len().min(32)].copy_from_slice(&t[..t.len().min(32)]);
    d
}

fn decode(bytes: &[u8], kind: ScalarKind) -> f64 {
    macro_rules! le {
        ($t:ty) => {
            <$t>::from_le_bytes(bytes.try_into().unwrap()) as f64
        };
    }
    match kind {
        ScalarKind::U8 => bytes[0] as f64,
        ScalarKind::I8 => bytes[0] as i8 as f64,
        ScalarKind::U16 => le!(u16),
        ScalarKind::I16 => le!(i16),
        ScalarKind::U32 => le!(u32),
        ScalarKind::I32 => le!(i32),
        ScalarKind::U64 => le!(u64),
        ScalarKind::I64 => le!(i64),
        ScalarKind::F32 => le!(f32),
        ScalarKind::F64 => le!(f64),
    }
}

fn encode(v: f64, kind: ScalarKind, out: &mut Vec<u8>) {
    match kind {
        ScalarKind::U8 => out.push(v as u8),
        ScalarKind::I8 => out.push(v as i8 as u8),
        ScalarKind::U16 => out.extend((v as u16).to_le_bytes()),
        ScalarKind::I16 => out.extend((v as i16).to_le_bytes()),
        ScalarKind::U32 => out.extend((v as u32).to_le_bytes()),
        ScalarKind::I32 => out.extend((v as i32).to_le_bytes()),
        ScalarKind::U64 => out.extend((v as u64).to_le_bytes()),
        ScalarKind::I64 => out.extend((v as i64).to_le_bytes()),
        ScalarKind::F32 => out.extend((v as f32).to_le_bytes()),
        ScalarKind::F64 => out.extend(v.to_le_bytes()),
    }
}

fn las_err(path: &Path, e: las::Error) -> Error {
    match e {
        las::Error::Io(io) => Error::format(path, format!("not a valid LAS/LAZ file: {io}")),
        e => Error::format(path, format!("not a valid LAS/LAZ file: {e}")),
    }
}

/// A decoding error with where it happened: point `first + 1` (or one of the `count` from there).
fn at_point(path: &Path, e: las::Error, first: u64, count: u64) -> Error {
    let place = if count > 1 {
        format!("points {} to {}", first + 1, first + count)
    } else {
        format!("point {}", first + 1)
    };
    let e = match e {
        las::Error::Io(io) => io.to_string(),
        e => e.to_string(),
    };
    Error::format(path, format!("not a valid LAS/LAZ file: at {place}: {e}"))
}

fn record(v: &Vlr) -> LasRecord {
    LasRecord {
        user_id: v.user_id.clone(),
        record_id: v.record_id,
        description: v.description.clone(),
        data: v.data.clone(),
    }
}

fn is_extra_bytes(v: &Vlr) -> bool {
    v.user_id == EXTRA_BYTES_USER && v.record_id == EXTRA_BYTES_RECORD
}

// LASzip and COPC records describe the compressed stream of the file they came from; the writer
// makes its own.
fn describes_stream(v: &Vlr) -> bool {
    v.user_id == "laszip encoded" || v.user_id == "copc"
}

/// Checks what the las and laz crates would trust before they allocate: the point count against
/// `max_points` and against the file's size, each extended VLR's length, and a LAZ chunk table's
/// entry count. las 0.11.2 sizes an extended VLR's buffer from its 64-bit length field
/// (`raw/vlr.rs`: `vlr.data.resize(record_length)`), and laz 0.13 reserves one entry per declared
/// chunk (`laszip/chunk_table.rs`: `ChunkTable::with_capacity(number_of_chunks)`), so a 300-byte
/// file could ask for terabytes; an allocation that fails aborts the process, which no
/// `catch_unwind` can turn into an error.
fn check_layout<R: Read + Seek>(
    source: &mut R,
    len: u64,
    path: &Path,
    max_points: usize,
) -> Result<()> {
    let io = |e: std::io::Error| Error::format(path, format!("not a valid LAS/LAZ file: {e}"));
    source.seek(SeekFrom::Start(0)).map_err(io)?;
    let raw = las::raw::Header::read_from(&mut *source).map_err(|e| las_err(path, e))?;
    // las reads the VLRs from here: after the version's header fields, whatever `header_size`
    // says (a fuzzed LAS 1.4 header of 256 bytes hid its LASzip VLR from a check that trusted it).
    let vlrs_at = source.stream_position().map_err(io)?;
    let claimed = raw
        .large_file
        .map_or(raw.number_of_point_records as u64, |l| {
            l.number_of_point_records
                .max(raw.number_of_point_records as u64)
        });
    if claimed > max_points as u64 {
        return Err(Error::TooLarge {
            path: path.into(),
            found: format!("the header declares {claimed} points"),
            limit: max_points,
        });
    }
    let offset = raw.offset_to_point_data as u64;
    let record_len = raw.point_data_record_length as u64;
    let compressed = raw.point_data_record_format & 0x80 != 0;
    if !compressed {
        // The offset and record length as the file states them: las's `into_raw` re-derives the
        // offset (adding LAS 1.0's optional start signature), which would misjudge 1.0 files.
        let needed = offset.saturating_add(claimed.saturating_mul(record_len));
        if needed > len {
            let holds = len.saturating_sub(offset) / record_len.max(1);
            return Err(Error::format(
                path,
                format!("header claims {claimed} points but the file holds at most {holds}"),
            ));
        }
    }
    let read_u64 = |s: &mut R, at: u64| -> std::io::Result<u64> {
        let mut b = [0u8; 8];
        s.seek(SeekFrom::Start(at))?;
        s.read_exact(&mut b)?;
        Ok(u64::from_le_bytes(b))
    };
    if let Some(evlr) = raw.evlr {
        let mut at = evlr.start_of_first_evlr;
        for i in 0..evlr.number_of_evlrs {
            // An extended VLR: 60 bytes of header, its 64-bit length at byte 20.
            if at.saturating_add(60) > len {
                break;
            }
            let length = read_u64(source, at + 20).map_err(io)?;
            let left = len - at - 60;
            if length > left {
                return Err(Error::format(
                    path,
                    format!(
                        "extended VLR {} (byte {at}) declares {length} bytes, but only {left} follow",
                        i + 1
                    ),
                ));
            }
            at += 60 + length;
        }
    }
    if compressed {
        let Some(laszip) =
            laszip_vlr(source, vlrs_at, raw.number_of_variable_length_records, path)?
        else {
            source.seek(SeekFrom::Start(0)).map_err(io)?;
            return Ok(());
        };
        // Where laz looks for the chunk table (laszip/chunk_table.rs, `read_offset`): the 8 bytes at
        // the start of the point data, or else the last 8 bytes of the file.
        let mut table = read_u64(source, offset).map_err(io)? as i64;
        if table <= offset as i64 && len >= 8 {
            table = read_u64(source, len - 8).map_err(io)? as i64;
        }
        // The point-wise compressor (type 1) has no chunk table: laz reads none.
        let point_wise = laszip.1 == 1;
        if !point_wise && table > offset as i64 && (table as u64).saturating_add(8) <= len {
            let mut b = [0u8; 4];
            source.seek(SeekFrom::Start(table as u64 + 4)).map_err(io)?;
            source.read_exact(&mut b).map_err(io)?;
            let chunks = u32::from_le_bytes(b) as u64;
            // Every chunk holds at least one point; fixed-size chunks hold `chunk_size` but the last.
            let most = match laszip.0.chunk_size() {
                size if size > 0 && !laszip.0.uses_variable_size_chunks() => {
                    claimed.div_ceil(size as u64)
                }
                _ => claimed,
            } + 1;
            if chunks > most {
                return Err(Error::format(
                    path,
                    format!("not a valid LAZ file: its chunk table declares {chunks} chunks for {claimed} points"),
                ));
            }
        }
        check_layers(source, len, &laszip, offset, claimed, path)?;
    }
    source.seek(SeekFrom::Start(0)).map_err(io)?;
    Ok(())
}

/// The LASzip VLR (user "laszip encoded", record 22204) as laz reads it, with its compressor type
/// (the u16 its data starts with, which laz keeps private); `None` when there is none or it does
/// not parse (laz then fails cleanly by itself).
fn laszip_vlr<R: Read + Seek>(
    source: &mut R,
    at: u64,
    count: u32,
    path: &Path,
) -> Result<Option<(laz::LazVlr, u16)>> {
    let io = |e: std::io::Error| Error::format(path, format!("not a valid LAS/LAZ file: {e}"));
    source.seek(SeekFrom::Start(at)).map_err(io)?;
    for _ in 0..count {
        // A VLR's length is 16-bit, so reading one allocates at most 64 KiB.
        let Ok(vlr) = las::raw::Vlr::read_from(&mut *source, false) else {
            return Ok(None);
        };
        if vlr.user_id.starts_with(b"laszip encoded") && vlr.record_id == 22204 {
            let compressor = vlr
                .data
                .get(..2)
                .map_or(0, |b| u16::from_le_bytes([b[0], b[1]]));
            return Ok(laz::LazVlr::read_from(&vlr.data[..])
                .ok()
                .map(|v| (v, compressor)));
        }
    }
    Ok(None)
}

/// Checks the layer sizes of every chunk of a layered LAZ file (point formats 6–10, LASzip item
/// versions 3 and 4) against the bytes the file has. laz 0.13 sizes each layer's buffer from the
/// 32-bit length in the chunk before reading it (`las/utils.rs`, `copy_bytes_into_decoder`:
/// `inner_vec.resize(num_bytes, 0)`), so a 1 KB file could make it zero 4 GB per layer (found by
/// the `las` fuzz target).
///
/// A layered chunk is the first point's raw bytes, a 32-bit point count, one 32-bit size per layer,
/// then the layers; the next chunk starts right after them. The walk follows laz's sequential
/// decoder (`laszip/sequential/decompression.rs`) exactly: the first chunk starts at the point data
/// for the point-wise compressor (type 1: one chunk of 2^32 - 1 points) and 8 bytes later (after the
/// chunk table's offset) otherwise; a chunk holds `chunk_size` points, or, for variable-size chunks,
/// its chunk table entry's count when the table reads, else the chunk's own count.
fn check_layers<R: Read + Seek>(
    source: &mut R,
    len: u64,
    (vlr, compressor): &(laz::LazVlr, u16),
    data_start: u64,
    claimed: u64,
    path: &Path,
) -> Result<()> {
    use laz::LazItemType as T;
    let items = vlr.items();
    if items.is_empty() || items.iter().any(|i| i.version() < 3) {
        return Ok(());
    }
    let point_size: u64 = items.iter().map(|i| i.size() as u64).sum();
    let layers: u64 = items
        .iter()
        .map(|i| match i.item_type() {
            T::Point14 => 9,
            T::RGBNIR14 => 2,
            T::RGB14 | T::WavePacket14 => 1,
            T::Byte14(n) => n as u64,
            _ => 0,
        })
        .sum();
    let io = |e: std::io::Error| Error::format(path, format!("not a valid LAZ file: {e}"));
    let point_wise = *compressor == 1;
    let table: Option<laz::laszip::ChunkTable> = (vlr.uses_variable_size_chunks() && !point_wise)
        .then(|| {
            source.seek(SeekFrom::Start(data_start)).ok()?;
            laz::laszip::ChunkTable::read_from(&mut *source, vlr).ok()
        })
        .flatten();
    let mut sizes = vec![0u8; 4 * layers as usize];
    let first_chunk = data_start + if point_wise { 0 } else { 8 };
    let (mut at, mut points, mut chunk) = (first_chunk, 0u64, 0usize);
    while points < claimed {
        let data = at + point_size + 4 + 4 * layers;
        if data > len {
            // laz stops at the end of the file by itself, before any layer is sized.
            break;
        }
        let mut count = [0u8; 4];
        source.seek(SeekFrom::Start(at + point_size)).map_err(io)?;
        source.read_exact(&mut count).map_err(io)?;
        source.read_exact(&mut sizes).map_err(io)?;
        let mut end = data;
        for size in sizes.chunks_exact(4) {
            let size = u32::from_le_bytes(size.try_into().unwrap_or_default()) as u64;
            if size > len - end {
                return Err(Error::format(
                    path,
                    format!(
                        "not a valid LAZ file: the chunk at byte {at} declares a layer of {size} bytes, but only {} follow",
                        len - end
                    ),
                ));
            }
            end += size;
        }
        at = end;
        // Saturating: a chunk table entry's count is 64-bit and the file's to choose.
        points = points.saturating_add(
            if point_wise {
                u32::MAX as u64
            } else if vlr.uses_variable_size_chunks() {
                match &table {
                    Some(t) => t.as_ref().get(chunk).map_or(0, |e| e.point_count),
                    None => u32::from_le_bytes(count) as u64,
                }
            } else {
                vlr.chunk_size() as u64
            }
            .max(1),
        );
        chunk += 1;
    }
    Ok(())
}

/// What a LAS header says of the file's layout (kept for writing it back), and its one-line
/// description.
fn layout_of(header: &las::Header, path: &Path) -> Result<(LasLayout, String)> {
    let version = header.version();
    let format_n = header
        .point_format()
        .to_u8()
        .map_err(|e| las_err(path, e))?;
    let detail = format!(
        "{} {}.{} point format {format_n}",
        if header.point_format().is_compressed {
            "LAZ"
        } else {
            "LAS"
        },
        version.major,
        version.minor
    );
    let t = header.transforms();
    let layout = LasLayout {
        version: (version.major, version.minor),
        point_format: format_n,
        scale: [t.x.scale, t.y.scale, t.z.scale],
        offset: [t.x.offset, t.y.offset, t.z.offset],
        vlrs: header
            .vlrs()
            .iter()
            .filter(|v| !is_extra_bytes(v) && !describes_stream(v))
            .map(record)
            .collect(),
        evlrs: header
            .evlrs()
            .iter()
            .filter(|v| !describes_stream(v))
            .map(record)
            .collect(),
    };
    Ok((layout, detail))
}

/// The standard per-point fields of `format`, in the order [`push_fields`] gives them.
fn standard_fields(format: &las::point::Format) -> Vec<(&'static str, ScalarKind)> {
    let mut fields: Vec<(&'static str, ScalarKind)> = vec![
        ("intensity", ScalarKind::U16),
        ("return_number", ScalarKind::U8),
        ("number_of_returns", ScalarKind::U8),
        ("classification", ScalarKind::U8),
        ("scan_angle", ScalarKind::F32),
        ("user_data", ScalarKind::U8),
        ("point_source_id", ScalarKind::U16),
    ];
    if format.has_gps_time {
        fields.push(("gps_time", ScalarKind::F64));
    }
    if format.has_color {
        fields.extend([
            ("red", ScalarKind::U16),
            ("green", ScalarKind::U16),
            ("blue", ScalarKind::U16),
        ]);
    }
    if format.has_nir {
        fields.push(("nir", ScalarKind::U16));
    }
    fields
}

/// Appends point `p`'s standard fields ([`standard_fields`]) and its extra-bytes fields
/// (`descriptors`) to `columns`, one column each, in that order.
fn push_fields(
    p: &las::Point,
    format: &las::point::Format,
    descriptors: &[Descriptor],
    columns: &mut [Vec<f64>],
) {
    let n_std = columns.len() - descriptors.len();
    let mut c = 0;
    let mut put = |v: f64| {
        columns[c].push(v);
        c += 1;
    };
    put(p.intensity as f64);
    put(p.return_number as f64);
    put(p.number_of_returns as f64);
    put(u8::from(p.classification) as f64);
    put(p.scan_angle as f64);
    put(p.user_data as f64);
    put(p.point_source_id as f64);
    if format.has_gps_time {
        put(p.gps_time.unwrap_or(0.0));
    }
    if format.has_color {
        let col = p.color.unwrap_or_default();
        put(col.red as f64);
        put(col.green as f64);
        put(col.blue as f64);
    }
    if format.has_nir {
        put(p.nir.unwrap_or(0) as f64);
    }
    let mut at = 0;
    for (j, d) in descriptors.iter().enumerate() {
        let end = at + d.size;
        if let (Some(kind), Some(bytes)) = (d.kind, p.extra_bytes.get(at..end)) {
            let raw = decode(bytes, kind);
            columns[n_std + j].push(raw * d.scale.unwrap_or(1.0) + d.offset.unwrap_or(0.0));
        }
        at = end;
    }
}

/// Reads a LAS or LAZ file of `len` bytes from `source`; `path` names it in errors.
///
/// # Errors
/// [`Error::Format`] for a bad header, a truncated payload, a header claiming more points than the
/// file holds (checked before reading points for uncompressed files) or records that claim more
/// bytes than the file has ([`check_layout`]); [`Error::TooLarge`] above `max_points`.
pub fn read<R: Read + Seek + Send + Sync + 'static>(
    mut source: R,
    len: u64,
    path: &Path,
    max_points: usize,
) -> Result<PointCloud> {
    check_layout(&mut source, len, path, max_points)?;
    let mut reader = Reader::new(source).map_err(|e| las_err(path, e))?;
    let header = reader.header().clone();
    let format = *header.point_format();
    let claimed = header.number_of_points();
    let descriptors: Vec<Descriptor> = header
        .all_vlrs()
        .find(|v| is_extra_bytes(v))
        .map(|v| parse_descriptors(&v.data))
        .unwrap_or_default();

    let (layout, detail) = layout_of(&header, path)?;

    let fields = standard_fields(&format);
    let n_std = fields.len();
    let mut columns: Vec<Vec<f64>> = vec![Vec::new(); n_std + descriptors.len()];
    let mut positions = Vec::new();

    let mut data: PointData = las::PointDataBuilder::new().for_header(&header).build();
    let mut total = 0u64;
    let chunk = (FILL_BYTES / header.point_format().len().max(1) as u64).max(1);
    loop {
        let n = reader
            .fill_points(chunk, &mut data)
            .map_err(|e| at_point(path, e, total, chunk.min(claimed.saturating_sub(total))))?;
        if n == 0 {
            break;
        }
        for (i, p) in data.points().enumerate() {
            let p = p.map_err(|e| at_point(path, e, total + i as u64, 1))?;
            positions.push([p.x, p.y, p.z]);
            push_fields(&p, &format, &descriptors, &mut columns);
        }
        total += n;
        if n < chunk {
            break;
        }
    }
    if total < claimed {
        return Err(Error::format(
            path,
            format!("header claims {claimed} points but the file holds {total}"),
        ));
    }

    let mut attributes: Vec<Attribute> = fields
        .iter()
        .zip(columns.iter_mut())
        .map(|((name, kind), values)| Attribute {
            name: name.to_string(),
            kind: *kind,
            values: std::mem::take(values),
        })
        .collect();
    for (d, values) in descriptors.iter().zip(columns.into_iter().skip(n_std)) {
        let Some(kind) = d.kind else { continue };
        if values.len() != positions.len() {
            continue;
        }
        let scaled = d.scale.is_some() || d.offset.is_some();
        attributes.push(Attribute {
            name: d.name.clone(),
            kind: if scaled { ScalarKind::F64 } else { kind },
            values,
        });
    }
    Ok(PointCloud {
        positions,
        attributes,
        source: Source {
            format: if format.is_compressed {
                FileFormat::Laz
            } else {
                FileFormat::Las
            },
            detail,
            las: Some(layout),
        },
    })
}

const STANDARD: [&str; 12] = [
    "intensity",
    "return_number",
    "number_of_returns",
    "classification",
    "scan_angle",
    "user_data",
    "point_source_id",
    "gps_time",
    "red",
    "green",
    "blue",
    "nir",
];

/// Writes a LAS 1.4 (or LAZ) file: the source's point format, transforms and VLRs when the cloud
/// came from LAS, otherwise point format 0 at millimetre precision; standard fields back into the
/// point record; every other attribute as a LAS 1.4 extra-bytes attribute declared in the
/// extra-bytes VLR, so that CloudCompare and PDAL list it as a scalar field.
///
/// # Errors
/// [`Error::Format`] when the las crate rejects the header or a point (say, a coordinate outside the
/// range of the source's scale and offset).
pub fn write(out: File, path: &Path, cloud: &PointCloud, compress: bool) -> Result<()> {
    let fail = |e: las::Error| Error::format(path, format!("cannot write LAS: {e}"));
    let layout = cloud
        .source
        .las
        .clone()
        .unwrap_or_else(|| default_layout(cloud));
    let mut format = Format::new(layout.point_format).map_err(fail)?;
    format.is_compressed = compress;
    // Standard fields go back into the record only when the point format has them.
    let is_standard = |name: &str| match name {
        "gps_time" => format.has_gps_time,
        "red" | "green" | "blue" => format.has_color,
        "nir" => format.has_nir,
        n => cloud.source.las.is_some() && STANDARD.contains(&n),
    };
    let extras: Vec<&Attribute> = cloud
        .attributes
        .iter()
        .filter(|a| !is_standard(&a.name))
        .collect();
    format.extra_bytes = extras.iter().map(|a| a.kind.size() as u16).sum();

    let mut builder = Builder::from((1, 4));
    builder.point_format = format;
    builder.transforms = Vector {
        x: Transform {
            scale: layout.scale[0],
            offset: layout.offset[0],
        },
        y: Transform {
            scale: layout.scale[1],
            offset: layout.offset[1],
        },
        z: Transform {
            scale: layout.scale[2],
            offset: layout.offset[2],
        },
    };
    builder.generating_software = "pointlime".to_string();
    builder.vlrs = layout.vlrs.iter().map(vlr).collect();
    builder.evlrs = layout.evlrs.iter().map(vlr).collect();
    if !extras.is_empty() {
        let mut data = Vec::with_capacity(extras.len() * DESCRIPTOR_LEN);
        for a in &extras {
            data.extend(descriptor_bytes(&a.name, a.kind, &a.name));
        }
        builder.vlrs.push(Vlr {
            user_id: EXTRA_BYTES_USER.to_string(),
            record_id: EXTRA_BYTES_RECORD,
            description: "Extra Bytes Record".to_string(),
            data,
        });
    }
    // Check the coordinate range first: las would fail mid-file on a point its scale and offset
    // cannot hold.
    for p in &cloud.positions {
        for ((&c, &offset), &scale) in p.iter().zip(&layout.offset).zip(&layout.scale) {
            let raw = ((c - offset) / scale).round();
            if !(i32::MIN as f64..=i32::MAX as f64).contains(&raw) {
                return Err(Error::format(
                    path,
                    format!(
                        "cannot write LAS: coordinate {c} does not fit scale {scale} and offset {offset}"
                    ),
                ));
            }
        }
    }
    let header = builder.into_header().map_err(fail)?;
    let mut writer = las::Writer::new(BufWriter::new(out), header).map_err(fail)?;
    let written = write_points(&mut writer, cloud, &format, &extras).and_then(|()| writer.close());
    if let Err(e) = written {
        // las's Writer closes itself on drop and panics if that fails ("Error when dropping the
        // writer", las 0.11.2 writer/mod.rs:445); after a failed write or close (a full disk) it
        // would. Leaking it keeps the error an error; the caller deletes the temporary file.
        std::mem::forget(writer);
        return Err(fail(e));
    }
    let mut inner = writer.into_inner().map_err(fail)?;
    std::io::Write::flush(&mut inner).map_err(|e| Error::io(path, e))?;
    Ok(())
}

fn write_points<W: 'static + std::io::Write + std::io::Seek + std::fmt::Debug + Send + Sync>(
    writer: &mut las::Writer<W>,
    cloud: &PointCloud,
    format: &Format,
    extras: &[&Attribute],
) -> las::Result<()> {
    let col = |name: &str| cloud.attribute(name).map(|a| &a.values);
    let std_cols: Vec<Option<&Vec<f64>>> = STANDARD.iter().map(|n| col(n)).collect();
    let get = |k: usize, i: usize| std_cols[k].map_or(0.0, |v| v[i]);
    for (i, p) in cloud.positions.iter().enumerate() {
        let mut point = Point {
            x: p[0],
            y: p[1],
            z: p[2],
            ..Default::default()
        };
        if cloud.source.las.is_some() {
            point.intensity = get(0, i) as u16;
            point.return_number = get(1, i) as u8;
            point.number_of_returns = get(2, i) as u8;
            point.classification = las::point::Classification::new(get(3, i) as u8)
                .unwrap_or(las::point::Classification::CreatedNeverClassified);
            point.scan_angle = get(4, i) as f32;
            point.user_data = get(5, i) as u8;
            point.point_source_id = get(6, i) as u16;
        }
        if format.has_gps_time {
            point.gps_time = Some(get(7, i));
        }
        if format.has_color {
            point.color = Some(las::Color::new(
                get(8, i) as u16,
                get(9, i) as u16,
                get(10, i) as u16,
            ));
        }
        if format.has_nir {
            point.nir = Some(get(11, i) as u16);
        }
        let mut bytes = Vec::with_capacity(format.extra_bytes as usize);
        for a in extras {
            encode(a.values[i], a.kind, &mut bytes);
        }
        point.extra_bytes = bytes;
        writer.write_point(point)?;
    }
    Ok(())
}

fn vlr(r: &LasRecord) -> Vlr {
    Vlr {
        user_id: r.user_id.clone(),
        record_id: r.record_id,
        description: r.description.clone(),
        data: r.data.clone(),
    }
}

/// Millimetre precision around the cloud's minimum corner: enough for any scanner and keeps i32
/// coordinates in range for clouds up to ±2,000 km across.
fn default_layout(cloud: &PointCloud) -> LasLayout {
    let (lo, _) = cloud.bounds().unwrap_or(([0.0; 3], [0.0; 3]));
    LasLayout {
        version: (1, 4),
        point_format: 0,
        scale: [0.001; 3],
        offset: lo.map(|c| c.floor()),
        vlrs: Vec::new(),
        evlrs: Vec::new(),
    }
}
