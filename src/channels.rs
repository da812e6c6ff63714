//! What a network reads per point besides x, y, z: normals, colour or intensity (ONNX models
//! trained elsewhere often take them), a LiDAR pulse's returns, or the shape of each point's
//! neighbourhood (both of which pointlime's own networks can be trained on, `train --channels`).
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
    /// x, y, z, then what a LiDAR pulse says of the point: its intensity relative to the scan's
    /// (divided by the scan's 99th percentile of intensity and capped at 1, since sensors and
    /// years store intensity on unrelated scales), how many returns its pulse had (`(m − 1) / 4`,
    /// capped at 1) and where it came among them (`(r − 1) / (m − 1)`: 0 first, 1 last; 0 for a
    /// single return). Reads `intensity`, `return_number` and `number_of_returns` (LAS).
    XyzReturns,
    /// x, y, z, then the shape of the point's neighbourhood, its 16 nearest points in the scan:
    /// linearity `(λ1 − λ2) / λ1`, planarity `(λ2 − λ3) / λ1` and scattering `λ3 / λ1` of their
    /// covariance's eigenvalues `λ1 ≥ λ2 ≥ λ3` (Demantké et al. 2011). They do not change with
    /// a turn or a scale of the scan. Computed once on the whole scan: a point keeps its
    /// neighbourhood's shape when an explanation removes the neighbours (see docs/per-point.md).
    XyzShape,
}

/// The largest number of returns [`Channels::XyzReturns`] tells apart.
const RETURNS_RANGE: f64 = 4.0;

/// Neighbours a normal is estimated from.
const NORMAL_NEIGHBOURS: usize = 16;

impl Channels {
    /// Channels after x, y, z.
    pub fn extra(self) -> usize {
        match self {
            Channels::Xyz => 0,
            Channels::XyzNormals | Channels::XyzRgb => 3,
            Channels::XyzIntensity => 1,
            Channels::XyzReturns | Channels::XyzShape => 3,
        }
    }

    /// Every value, for `--help` and errors.
    pub const ALL: [Channels; 6] = [
        Channels::Xyz,
        Channels::XyzNormals,
        Channels::XyzRgb,
        Channels::XyzIntensity,
        Channels::XyzReturns,
        Channels::XyzShape,
    ];

    /// Whether pointlime's own network can be trained on them: every channel but the normals,
    /// which training's rotations would have to turn with the points.
    pub fn trainable(self) -> bool {
        self != Channels::XyzNormals
    }

    /// The name the sidecar uses.
    pub fn name(self) -> &'static str {
        match self {
            Channels::Xyz => "xyz",
            Channels::XyzNormals => "xyz_normals",
            Channels::XyzRgb => "xyz_rgb",
            Channels::XyzIntensity => "xyz_intensity",
            Channels::XyzReturns => "xyz_returns",
            Channels::XyzShape => "xyz_shape",
        }
    }

    /// Why the scan cannot give these channels (a field they need is missing), if it cannot.
    pub fn missing(self, cloud: &PointCloud) -> Option<String> {
        let (names, what): (&[&str], &str) = match self {
            Channels::Xyz | Channels::XyzNormals | Channels::XyzShape => return None,
            Channels::XyzRgb => (&["red", "green", "blue"], "colour"),
            Channels::XyzIntensity => (&["intensity"], "intensity"),
            Channels::XyzReturns => (&RETURN_FIELDS, "returns"),
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
            Channels::XyzReturns => returns(cloud, index),
            Channels::XyzShape => Ok(shape(cloud, frame, index)),
        }
    }
}

impl std::str::FromStr for Channels {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Channels, String> {
        Channels::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Channels::ALL.iter().map(|c| c.name()).collect();
                format!("unknown channels {s:?} (one of: {})", names.join(", "))
            })
    }
}

/// The fields [`Channels::XyzReturns`] reads.
const RETURN_FIELDS: [&str; 3] = ["intensity", "return_number", "number_of_returns"];

/// [`Channels::XyzReturns`] at `index`.
fn returns(cloud: &PointCloud, index: &[u32]) -> Result<Vec<f32>> {
    let [Some(intensity), Some(number), Some(count)] =
        RETURN_FIELDS.map(|name| cloud.attribute(name))
    else {
        let why = Channels::XyzReturns.missing(cloud).unwrap_or_default();
        return Err(Error::Scan(why));
    };
    let top = crate::stats::quantile(intensity.values.iter().copied(), 0.99)
        .filter(|&t| t > 0.0)
        .unwrap_or(1.0);
    Ok(index
        .iter()
        .flat_map(|&i| {
            let i = i as usize;
            let m = count.values[i].max(1.0);
            let r = number.values[i].clamp(1.0, m);
            let place = if m > 1.0 { (r - 1.0) / (m - 1.0) } else { 0.0 };
            [
                (intensity.values[i] / top).clamp(0.0, 1.0),
                ((m - 1.0) / RETURNS_RANGE).min(1.0),
                place,
            ]
            .map(|v| v as f32)
        })
        .collect())
}

/// [`Channels::XyzShape`] at `index`: the eigenvalue features of each point's
/// [`NORMAL_NEIGHBOURS`] nearest points of the scan.
fn shape(cloud: &PointCloud, frame: &Frame, index: &[u32]) -> Vec<f32> {
    let (all, tree) = in_model_frame(cloud, frame);
    index
        .iter()
        .flat_map(|&i| {
            let p = all[i as usize];
            let near = tree.nearest_n(&p, NORMAL_NEIGHBOURS.min(all.len()));
            let mut l = crate::linalg::symmetric_eigenvalues3(covariance(
                near.iter().map(|&(j, _)| all[j as usize]),
            ));
            l.sort_by(|a, b| b.total_cmp(a));
            let l1 = l[0];
            if l1 <= 0.0 || !l1.is_finite() {
                // A neighbourhood of one repeated point has no shape.
                return [0.0; 3];
            }
            let l3 = l[2].max(0.0);
            [(l[0] - l[1]) / l1, (l[1] - l3) / l1, l3 / l1].map(|v| v as f32)
        })
        .collect()
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
    let (all, tree) = in_model_frame(cloud, frame);
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

/// Every point of the scan in the model frame, and their k-d tree: what a neighbourhood is
/// measured in.
fn in_model_frame(cloud: &PointCloud, frame: &Frame) -> (Vec<[f32; 3]>, KdTree) {
    let all: Vec<[f32; 3]> = cloud.positions.iter().map(|p| frame.to_model(p)).collect();
    let tree = KdTree::new(&all);
    (all, tree)
}

/// The direction in which the points spread least: the eigenvector of their covariance with the
/// smallest eigenvalue. Fewer than 3 distinct points: z.
fn least_spread(points: impl Iterator<Item = [f32; 3]>) -> [f32; 3] {
    let points: Vec<[f32; 3]> = points.collect();
    if points.len() < 3 {
        return [0.0, 0.0, 1.0];
    }
    crate::linalg::smallest_eigenvector3(covariance(points.into_iter())).map(|v| v as f32)
}

/// The covariance (unnormalised) of the points about their mean.
fn covariance(points: impl Iterator<Item = [f32; 3]>) -> [[f64; 3]; 3] {
    let points: Vec<[f64; 3]> = points.map(|p| p.map(f64::from)).collect();
    let n = points.len().max(1) as f64;
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
    cov
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
    fn returns_are_relative_to_the_scan_and_missing_fields_are_named() {
        let mut cloud = PointCloud::from_positions(vec![[0.0; 3]; 101], FileFormat::Las);
        for (name, values) in [
            (
                "intensity",
                (0..101).map(|i| i as f64 * 10.0).collect::<Vec<_>>(),
            ),
            ("return_number", vec![2.0; 101]),
            ("number_of_returns", vec![3.0; 101]),
        ] {
            cloud.attributes.push(Attribute {
                name: name.into(),
                kind: ScalarKind::U16,
                values,
            });
        }
        let frame = Frame::fit(&cloud.positions, Normalisation::UnitSphere);
        let v = Channels::XyzReturns
            .of(&cloud, &frame, &[50, 100], &[[0.0; 3]; 2])
            .unwrap();
        // The 99th percentile is 990: point 50 reads 500 / 990, point 100 is capped at 1; three
        // returns, the second of them.
        let expected = [500.0 / 990.0, 0.5, 0.5, 1.0, 0.5, 0.5];
        assert!(
            v.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-6),
            "{v:?}"
        );
        cloud.attributes.retain(|a| a.name != "number_of_returns");
        let err = Channels::XyzReturns.missing(&cloud).unwrap();
        assert!(err.contains("no \"number_of_returns\" field"), "{err}");
        assert!(Channels::XyzReturns
            .of(&cloud, &frame, &[0], &[[0.0; 3]])
            .is_err());
        assert!(!Channels::XyzNormals.trainable() && Channels::XyzShape.trainable());
        assert_eq!("xyz_returns".parse::<Channels>(), Ok(Channels::XyzReturns));
        assert!("xyz_nothing"
            .parse::<Channels>()
            .unwrap_err()
            .contains("xyz_shape"));
    }

    #[test]
    fn shape_tells_a_line_from_a_plane_from_a_ball() {
        let line = (0..40).map(|i| [f64::from(i), 0.0, 0.0]);
        let plane = (0..400).map(|i| [f64::from(i % 20) + 100.0, f64::from(i / 20), 0.0]);
        let mut rng = 1u64;
        let mut next = move || {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (rng >> 11) as f64 / (1u64 << 53) as f64
        };
        let ball: Vec<[f64; 3]> = (0..400)
            .map(|_| [next() * 5.0 - 300.0, next() * 5.0, next() * 5.0])
            .collect();
        let positions: Vec<[f64; 3]> = line.chain(plane).chain(ball).collect();
        let cloud = PointCloud::from_positions(positions, FileFormat::Ply);
        let frame = Frame::fit(&cloud.positions, Normalisation::UnitSphere);
        // The middle of the line, of the plane, of the ball.
        let v = Channels::XyzShape
            .of(&cloud, &frame, &[20, 40 + 210, 640], &[[0.0; 3]; 3])
            .unwrap();
        let (line, plane, ball) = (&v[0..3], &v[3..6], &v[6..9]);
        assert!(line[0] > 0.99, "linearity of a line {line:?}");
        assert!(plane[1] > 0.6, "planarity of a plane {plane:?}");
        assert!(
            ball[2] > ball[1].min(line[2]) && ball[2] > 0.1,
            "scattering of a ball {ball:?}"
        );
        assert!(v.iter().all(|x| (0.0..=1.0).contains(x)), "{v:?}");
    }

    #[test]
    fn the_table_finds_channels_by_position_and_gives_zeros_elsewhere() {
        let t = ChannelTable::new(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], vec![0.1, 0.2], 1);
        assert_eq!(t.get(&[4.0, 5.0, 6.0]), [0.2]);
        assert_eq!(t.get(&[0.0, 0.0, 0.0]), [0.0]);
    }
}
