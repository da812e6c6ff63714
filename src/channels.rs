//! What a network reads per point besides x, y, z: normals, colour or intensity (ONNX models
//! trained elsewhere often take them).
//!
//! The explainers work on positions only: a perturbed cloud is made of copies of the network's
//! input points (and, for centroid removal, of the origin). So a scan's extra channels are
//! computed once for the input points and travel with them by position ([`ChannelTable`]); a
//! point that is no input point (the origin) reads zeros, the same baseline as its position.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::cloud::{Frame, PointCloud, ScalarKind};
use crate::error::{Error, Result};
use crate::segment::kdtree::KdTree;

/// The channels of each input point, after x, y, z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channels {
    /// x, y, z only. By default, this.
    #[default]
    Xyz,
    /// x, y, z, then the unit normal (nx, ny, nz) in the model frame: the scan's own `nx`, `ny`,
    /// `nz` when it has them, else estimated from its 16 nearest points (the direction of least
    /// spread) and turned to point away from the cloud's centre.
    XyzNormals,
    /// x, y, z, then red, green, blue scaled to [0, 1] by their storage type (8 or 16 bits, and
    /// 16-bit fields whose values all fit in 8 bits, as many LAS files store colour, as 8-bit;
    /// floating-point values as stored).
    XyzRgb,
    /// x, y, z, then intensity, scaled to [0, 1] as colour is.
    XyzIntensity,
}

/// Neighbours a normal is estimated from.
const NORMAL_NEIGHBOURS: usize = 16;

impl Channels {
    /// Channels after x, y, z.
    pub fn extra(self) -> usize {
        match self {
            Channels::Xyz => 0,
            Channels::XyzNormals | Channels::XyzRgb => 3,
            Channels::XyzIntensity => 1,
        }
    }

    /// The name the sidecar uses.
    pub fn name(self) -> &'static str {
        match self {
            Channels::Xyz => "xyz",
            Channels::XyzNormals => "xyz_normals",
            Channels::XyzRgb => "xyz_rgb",
            Channels::XyzIntensity => "xyz_intensity",
        }
    }

    /// Why the scan cannot give these channels (a field they need is missing), if it cannot.
    pub fn missing(self, cloud: &PointCloud) -> Option<String> {
        let (names, what): (&[&str], &str) = match self {
            Channels::Xyz | Channels::XyzNormals => return None,
            Channels::XyzRgb => (&["red", "green", "blue"], "colour"),
            Channels::XyzIntensity => (&["intensity"], "intensity"),
        };
        names
            .iter()
            .find(|&&name| cloud.attribute(name).is_none())
            .map(|name| {
                format!("the model reads {what} per point and the scan has no {name:?} field")
            })
    }

    /// The extra channels of the cloud's points at `index` (the network's input, `points` in the
    /// model frame `frame`), row-major `[index.len() × extra]`; empty for [`Channels::Xyz`].
    ///
    /// # Errors
    /// [`Error::Scan`] when the scan lacks the fields the channels need (colour, intensity).
    pub fn of(
        self,
        cloud: &PointCloud,
        frame: &Frame,
        index: &[u32],
        points: &[[f32; 3]],
    ) -> Result<Vec<f32>> {
        match self {
            Channels::Xyz => Ok(Vec::new()),
            Channels::XyzNormals => Ok(normals(cloud, frame, index, points)),
            Channels::XyzRgb => fields(cloud, index, &["red", "green", "blue"], "colour"),
            Channels::XyzIntensity => fields(cloud, index, &["intensity"], "intensity"),
        }
    }
}

/// Values of the named fields at `index`, scaled to [0, 1] by their storage type.
fn fields(cloud: &PointCloud, index: &[u32], names: &[&str], what: &str) -> Result<Vec<f32>> {
    let columns = names
        .iter()
        .map(|&name| {
            cloud.attribute(name).ok_or_else(|| {
                Error::Scan(format!(
                    "the model reads {what} per point and the scan has no {name:?} field"
                ))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    // Many LAS files keep 8-bit colour in the 16-bit fields: a field whose values all fit in 8
    // bits is read as 8-bit.
    let eight_bit = columns
        .iter()
        .all(|c| c.values.iter().all(|&v| (0.0..=255.0).contains(&v)));
    let ranges: Vec<f64> = columns
        .iter()
        .map(|c| match c.kind {
            ScalarKind::U8 | ScalarKind::I8 => 255.0,
            _ if eight_bit && c.kind != ScalarKind::F32 && c.kind != ScalarKind::F64 => 255.0,
            ScalarKind::U16 | ScalarKind::I16 => 65535.0,
            ScalarKind::U32 | ScalarKind::I32 | ScalarKind::U64 | ScalarKind::I64 => {
                u32::MAX as f64
            }
            ScalarKind::F32 | ScalarKind::F64 => 1.0,
        })
        .collect();
    Ok(index
        .iter()
        .flat_map(|&i| {
            columns
                .iter()
                .zip(&ranges)
                .map(move |(c, r)| (c.values[i as usize] / r) as f32)
        })
        .collect())
}

/// Unit normals at `index` in the model frame (see [`Channels::XyzNormals`]).
fn normals(cloud: &PointCloud, frame: &Frame, index: &[u32], points: &[[f32; 3]]) -> Vec<f32> {
    let given = ["nx", "ny", "nz"].map(|n| cloud.attribute(n));
    if let [Some(x), Some(y), Some(z)] = given {
        return index
            .iter()
            .flat_map(|&i| {
                let i = i as usize;
                unit(frame.direction_to_model([x.values[i], y.values[i], z.values[i]]))
            })
            .collect();
    }
    // Estimated in the model frame: a uniform scale and an axis turn keep directions.
    let all: Vec<[f32; 3]> = cloud.positions.iter().map(|p| frame.to_model(p)).collect();
    let tree = KdTree::new(&all);
    let centre = [0.0f32; 3];
    points
        .iter()
        .flat_map(|p| {
            let near = tree.nearest_n(p, NORMAL_NEIGHBOURS.min(all.len()));
            let n = least_spread(near.iter().map(|&(j, _)| all[j as usize]));
            let outward: f32 = (0..3).map(|a| n[a] * (p[a] - centre[a])).sum();
            let n = if outward < 0.0 { n.map(|v| -v) } else { n };
            unit(n.map(f64::from))
        })
        .collect()
}

/// The direction in which the points spread least: the eigenvector of their covariance with the
/// smallest eigenvalue. Fewer than 3 distinct points: z.
fn least_spread(points: impl Iterator<Item = [f32; 3]>) -> [f32; 3] {
    let points: Vec<[f64; 3]> = points.map(|p| p.map(f64::from)).collect();
    if points.len() < 3 {
        return [0.0, 0.0, 1.0];
    }
    let n = points.len() as f64;
    let mean: [f64; 3] = std::array::from_fn(|a| points.iter().fold(0.0, |s, p| s + p[a]) / n);
    let mut cov = [[0.0f64; 3]; 3];
    for p in &points {
        let d: [f64; 3] = std::array::from_fn(|a| p[a] - mean[a]);
        for (r, row) in cov.iter_mut().enumerate() {
            for (c, v) in row.iter_mut().enumerate() {
                *v += d[r] * d[c];
            }
        }
    }
    crate::linalg::smallest_eigenvector3(cov).map(|v| v as f32)
}

/// `d` scaled to length 1 (z for a zero vector).
fn unit(d: [f64; 3]) -> [f32; 3] {
    let len = d.iter().map(|v| v * v).sum::<f64>().sqrt();
    if len > 0.0 && len.is_finite() {
        d.map(|v| (v / len) as f32)
    } else {
        [0.0, 0.0, 1.0]
    }
}

/// Extra channels by position: the network's input points and theirs. A position that is no
/// input point reads zeros.
#[derive(Debug, Clone)]
pub struct ChannelTable {
    width: usize,
    at: HashMap<[u32; 3], u32>,
    values: Vec<f32>,
    zeros: Vec<f32>,
}

impl ChannelTable {
    /// `values` (`[points.len() × width]`) for `points`; the first of repeated positions wins.
    pub fn new(points: &[[f32; 3]], values: Vec<f32>, width: usize) -> ChannelTable {
        let mut at = HashMap::with_capacity(points.len());
        for (i, p) in points.iter().enumerate() {
            at.entry(p.map(f32::to_bits)).or_insert(i as u32);
        }
        ChannelTable {
            width,
            at,
            values,
            zeros: vec![0.0; width],
        }
    }

    /// Channels after x, y, z.
    pub fn width(&self) -> usize {
        self.width
    }

    /// The extra channels of the point at `p`.
    pub fn get(&self, p: &[f32; 3]) -> &[f32] {
        match self.at.get(&p.map(f32::to_bits)) {
            Some(&i) => &self.values[i as usize * self.width..(i as usize + 1) * self.width],
            None => &self.zeros,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::{Attribute, FileFormat, Normalisation};

    #[test]
    fn normals_of_a_plane_are_its_axis_and_point_outward() {
        // Two parallel squares, z = ±10: normals ±z, away from the centre.
        let positions: Vec<[f64; 3]> = (0..200)
            .map(|i| {
                let (x, y) = (f64::from(i % 10), f64::from((i / 10) % 10));
                [x, y, if i < 100 { -10.0 } else { 10.0 }]
            })
            .collect();
        let cloud = PointCloud::from_positions(positions, FileFormat::Ply);
        let frame = Frame::fit(&cloud.positions, Normalisation::UnitSphere);
        let index: Vec<u32> = vec![55, 155];
        let points: Vec<[f32; 3]> = index
            .iter()
            .map(|&i| frame.to_model(&cloud.positions[i as usize]))
            .collect();
        let n = Channels::XyzNormals
            .of(&cloud, &frame, &index, &points)
            .unwrap();
        assert!(
            (n[2] + 1.0).abs() < 1e-4 && (n[5] - 1.0).abs() < 1e-4,
            "{n:?}"
        );
        assert!(n[0].abs() < 1e-4 && n[4].abs() < 1e-4, "{n:?}");
    }

    #[test]
    fn colour_is_scaled_by_its_storage_type_and_missing_fields_are_named() {
        let mut cloud = PointCloud::from_positions(vec![[0.0; 3]; 2], FileFormat::Las);
        for (name, v) in [("red", 65535.0), ("green", 0.0), ("blue", 32767.5)] {
            cloud.attributes.push(Attribute {
                name: name.into(),
                kind: ScalarKind::U16,
                values: vec![v, 0.0],
            });
        }
        let frame = Frame::fit(&cloud.positions, Normalisation::UnitSphere);
        let rgb = Channels::XyzRgb
            .of(&cloud, &frame, &[0], &[[0.0; 3]])
            .unwrap();
        assert_eq!(rgb, [1.0, 0.0, 0.5]);
        // 8-bit colour in 16-bit fields.
        for a in &mut cloud.attributes {
            a.values = vec![255.0, 0.0];
        }
        let rgb = Channels::XyzRgb
            .of(&cloud, &frame, &[0], &[[0.0; 3]])
            .unwrap();
        assert_eq!(rgb, [1.0, 1.0, 1.0]);
        let err = Channels::XyzIntensity
            .of(&cloud, &frame, &[0], &[[0.0; 3]])
            .unwrap_err()
            .to_string();
        assert!(err.contains("no \"intensity\" field"), "{err}");
    }

    #[test]
    fn the_table_finds_channels_by_position_and_gives_zeros_elsewhere() {
        let t = ChannelTable::new(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], vec![0.1, 0.2], 1);
        assert_eq!(t.get(&[4.0, 5.0, 6.0]), [0.2]);
        assert_eq!(t.get(&[0.0, 0.0, 0.0]), [0.0]);
    }
}
