//! The point cloud as struct of arrays, the model frame, and sampling to the network's size.

use rand::seq::index;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The storage type an attribute had in its file, so that a writer can give it back unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScalarKind {
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    F32,
    F64,
}

impl ScalarKind {
    /// Size of one value in bytes.
    pub fn size(self) -> usize {
        match self {
            ScalarKind::I8 | ScalarKind::U8 => 1,
            ScalarKind::I16 | ScalarKind::U16 => 2,
            ScalarKind::I32 | ScalarKind::U32 | ScalarKind::F32 => 4,
            ScalarKind::I64 | ScalarKind::U64 | ScalarKind::F64 => 8,
        }
    }
}

/// One named per-point scalar: intensity, classification, colour channel, normal component, or any
/// other property the file carried.
///
/// Values are held as `f64`, which represents every integer type up to 2^53 exactly; `kind` records
/// the file's type so that the value is written back as it came.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    /// The name as the file spelled it (`intensity`, `red`, `nx`, `confidence`, …).
    pub name: String,
    /// The file's storage type.
    pub kind: ScalarKind,
    /// One value per point.
    pub values: Vec<f64>,
}

/// A file format pointlime reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    Ply,
    Las,
    Laz,
    Xyz,
}

/// A LAS variable-length record kept verbatim (CRS, extra-bytes descriptors, …).
#[derive(Debug, Clone, PartialEq)]
pub struct LasRecord {
    pub user_id: String,
    pub record_id: u16,
    pub description: String,
    pub data: Vec<u8>,
}

/// What a LAS writer needs from the file a cloud was read from, so that the output keeps its
/// coordinate system, precision and point records.
#[derive(Debug, Clone, PartialEq)]
pub struct LasLayout {
    /// LAS version (major, minor).
    pub version: (u8, u8),
    /// Point data record format, 0–10.
    pub point_format: u8,
    /// Coordinate scale factors.
    pub scale: [f64; 3],
    /// Coordinate offsets.
    pub offset: [f64; 3],
    /// VLRs other than the extra-bytes descriptor and LASzip records.
    pub vlrs: Vec<LasRecord>,
    /// Extended VLRs.
    pub evlrs: Vec<LasRecord>,
}

/// Where a cloud came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    /// The file format.
    pub format: FileFormat,
    /// Format detail for `pointlime info` (`ascii 1.0`, `LAS 1.4 format 6`, …).
    pub detail: String,
    /// Present when the cloud came from LAS/LAZ.
    pub las: Option<LasLayout>,
}

/// A point cloud as struct of arrays.
///
/// Positions are world coordinates in `f64` (projected LiDAR coordinates need more than `f32`'s 24
/// bits); computation happens in a local `f32` frame ([`Frame`]).
#[derive(Debug, Clone, PartialEq)]
pub struct PointCloud {
    /// World coordinates.
    pub positions: Vec<[f64; 3]>,
    /// Every other per-point scalar, in the file's order.
    pub attributes: Vec<Attribute>,
    /// Where the cloud came from.
    pub source: Source,
}

impl PointCloud {
    /// A cloud with positions only.
    pub fn from_positions(positions: Vec<[f64; 3]>, format: FileFormat) -> Self {
        PointCloud {
            positions,
            attributes: Vec::new(),
            source: Source {
                format,
                detail: String::new(),
                las: None,
            },
        }
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.positions.len()
    }

    /// Whether the cloud has no points.
    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    /// The attribute of that name, if present.
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// The names of the per-point fields, for messages that say which ones a scan has: `none`
    /// when it has none.
    pub fn attribute_names(&self) -> String {
        if self.attributes.is_empty() {
            return "none".into();
        }
        let names: Vec<&str> = self.attributes.iter().map(|a| a.name.as_str()).collect();
        names.join(", ")
    }

    /// Axis-aligned bounds `(min, max)`; `None` for an empty cloud.
    pub fn bounds(&self) -> Option<([f64; 3], [f64; 3])> {
        let first = *self.positions.first()?;
        Some(
            self.positions
                .iter()
                .fold((first, first), |(mut lo, mut hi), p| {
                    for a in 0..3 {
                        lo[a] = lo[a].min(p[a]);
                        hi[a] = hi[a].max(p[a]);
                    }
                    (lo, hi)
                }),
        )
    }

    /// Indices of points with a NaN or infinite coordinate.
    pub fn invalid_points(&self) -> Vec<usize> {
        self.positions
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.iter().all(|c| c.is_finite()))
            .map(|(i, _)| i)
            .collect()
    }

    /// Keeps only the points for which `keep` is true, in every array.
    pub fn retain_points(&mut self, keep: &[bool]) {
        debug_assert_eq!(keep.len(), self.len());
        let mut it = keep.iter();
        self.positions.retain(|_| *it.next().unwrap());
        for attr in &mut self.attributes {
            let mut it = keep.iter();
            attr.values.retain(|_| *it.next().unwrap());
        }
    }

    /// Checks that the cloud can be explained: enough points, all coordinates finite, every
    /// attribute as long as the positions. `drop_invalid` removes non-finite points instead of
    /// failing and returns how many were dropped.
    ///
    /// # Errors
    /// [`Error::InvalidCoordinates`], [`Error::TooFewPoints`].
    pub fn validate(&mut self, path: &std::path::Path, drop_invalid: bool) -> Result<usize> {
        let bad = self.invalid_points();
        if !bad.is_empty() {
            if !drop_invalid {
                return Err(Error::InvalidCoordinates {
                    path: path.into(),
                    count: bad.len(),
                    total: self.len(),
                });
            }
            let mut keep = vec![true; self.len()];
            for &i in &bad {
                keep[i] = false;
            }
            self.retain_points(&keep);
        }
        if self.len() < MIN_POINTS {
            return Err(Error::TooFewPoints {
                path: path.into(),
                count: self.len(),
                minimum: MIN_POINTS,
            });
        }
        Ok(bad.len())
    }
}

/// A cloud needs this many points to be segmented and explained: with fewer there is nothing to
/// take away from it.
pub const MIN_POINTS: usize = 2;

/// How world coordinates map to the network's input.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Normalisation {
    /// Centre on the centroid and scale the farthest point to radius 1 (PointNet's ModelNet
    /// convention). Throws away absolute size.
    UnitSphere,
    /// Centre on the centroid and divide by a fixed length in metres, so that absolute size (a car
    /// versus a building) stays visible to the network.
    Metric {
        /// Metres per model unit.
        metres_per_unit: f64,
    },
    /// As [`Normalisation::Metric`] across, but with z's zero at the scan's floor (the 1st
    /// percentile of z, so that a few noise points below the ground do not set it): heights
    /// above the local ground, which is how LiDAR's classes are defined (IGN's low, medium and high
    /// vegetation are below 0.5 m, 0.5–1.5 m and above). For z-up scans (LAS, aerial and mobile
    /// LiDAR): a window's centroid height moves with what the window holds (half roof, or all
    /// street), its floor much less.
    MetricFloor {
        /// Metres per model unit.
        metres_per_unit: f64,
    },
}

/// The share of a scan's points below its floor ([`Normalisation::MetricFloor`]).
pub const FLOOR_QUANTILE: f64 = 0.01;

/// A coordinate axis: the up axis of a scan or of a model's training data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Axis {
    X,
    /// Many terrestrial and plant scans (the plants_dbgcn data).
    Y,
    /// LAS, aerial and phone LiDAR exports.
    #[default]
    Z,
}

impl Axis {
    /// 0, 1 or 2.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The name used on the command line and in files.
    pub fn name(self) -> &'static str {
        ["x", "y", "z"][self.index()]
    }
}

impl std::str::FromStr for Axis {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Axis, String> {
        match s {
            "x" | "X" => Ok(Axis::X),
            "y" | "Y" => Ok(Axis::Y),
            "z" | "Z" => Ok(Axis::Z),
            _ => Err(format!("unknown axis {s:?}: x, y or z")),
        }
    }
}

/// How many places a cyclic shift of the axes moves `from` onto `to`: coordinate `i` goes to
/// `(i + shift) % 3`. A cyclic shift is a rotation (never a mirror), so shapes keep their
/// handedness.
pub fn up_shift(from: Axis, to: Axis) -> usize {
    (to.index() + 3 - from.index()) % 3
}

/// The transform from world coordinates to the model frame: `rotate((p - center) / scale)`, where
/// the rotation is the cyclic shift of the axes that takes the scan's up axis to the model's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Frame {
    /// World coordinates of the model-frame origin.
    pub center: [f64; 3],
    /// World units per model unit.
    pub scale: f64,
    /// The scan's up axis. Reports written before it existed: z.
    #[serde(default)]
    pub scan_up: Axis,
    /// The up axis of the model's training data, which the scan's up axis is turned onto.
    #[serde(default)]
    pub model_up: Axis,
}

impl Frame {
    /// The frame that `normalisation` gives for these positions.
    pub fn fit(positions: &[[f64; 3]], normalisation: Normalisation) -> Frame {
        let n = positions.len().max(1) as f64;
        let mut center = [0.0; 3];
        for p in positions {
            for a in 0..3 {
                center[a] += p[a];
            }
        }
        center.iter_mut().for_each(|c| *c /= n);
        let scale = match normalisation {
            Normalisation::UnitSphere => positions
                .iter()
                .map(|p| dist2(p, &center))
                .fold(0.0, f64::max)
                .sqrt(),
            Normalisation::Metric { metres_per_unit }
            | Normalisation::MetricFloor { metres_per_unit } => metres_per_unit,
        };
        if let Normalisation::MetricFloor { .. } = normalisation {
            if let Some(floor) =
                crate::stats::quantile(positions.iter().map(|p| p[2]), FLOOR_QUANTILE)
            {
                center[2] = floor;
            }
        }
        // A single repeated point has radius 0; any positive scale maps it to the origin.
        let scale = if scale > 0.0 && scale.is_finite() {
            scale
        } else {
            1.0
        };
        Frame {
            center,
            scale,
            scan_up: Axis::Z,
            model_up: Axis::Z,
        }
    }

    /// This frame with the scan's up axis turned onto the model's.
    pub fn with_up(self, scan_up: Axis, model_up: Axis) -> Frame {
        Frame {
            scan_up,
            model_up,
            ..self
        }
    }

    /// A world point in the model frame.
    pub fn to_model(&self, p: &[f64; 3]) -> [f32; 3] {
        let shift = up_shift(self.scan_up, self.model_up);
        let mut out = [0.0f32; 3];
        for i in 0..3 {
            out[(i + shift) % 3] = ((p[i] - self.center[i]) / self.scale) as f32;
        }
        out
    }

    /// A world direction in the model frame (turned as points are; not scaled).
    pub fn direction_to_model(&self, d: [f64; 3]) -> [f64; 3] {
        let shift = up_shift(self.scan_up, self.model_up);
        let mut out = [0.0; 3];
        for i in 0..3 {
            out[(i + shift) % 3] = d[i];
        }
        out
    }

    /// A model-frame point in world coordinates.
    pub fn to_world(&self, p: &[f32; 3]) -> [f64; 3] {
        let shift = up_shift(self.scan_up, self.model_up);
        std::array::from_fn(|i| p[(i + shift) % 3] as f64 * self.scale + self.center[i])
    }
}

fn dist2(a: &[f64; 3], b: &[f64; 3]) -> f64 {
    (0..3).map(|i| (a[i] - b[i]).powi(2)).sum()
}

/// Chooses `n` point indices out of `len` for a network that takes exactly `n` points.
///
/// With at least `n` points: a uniform random subset without replacement, in ascending order. With
/// fewer: every point once, then random repeats. Repeating points changes nothing for a max-pooled
/// network, whose global feature is a maximum over points. The returned indices are the index map
/// back to the original cloud.
pub fn sample_indices(len: usize, n: usize, seed: u64) -> Vec<u32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    if len >= n {
        let mut idx: Vec<u32> = index::sample(&mut rng, len, n)
            .into_iter()
            .map(|i| i as u32)
            .collect();
        idx.sort_unstable();
        idx
    } else {
        let mut idx: Vec<u32> = (0..len as u32).collect();
        idx.extend((len..n).map(|_| rand::Rng::random_range(&mut rng, 0..len as u32)));
        idx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_turns_the_scans_up_axis_onto_the_models_by_a_rotation() {
        assert_eq!(up_shift(Axis::Z, Axis::Z), 0);
        assert_eq!(up_shift(Axis::Y, Axis::Z), 1);
        assert_eq!(up_shift(Axis::X, Axis::Z), 2);
        assert_eq!(up_shift(Axis::Z, Axis::Y), 2);
        let f = Frame {
            center: [1.0, 2.0, 3.0],
            scale: 2.0,
            scan_up: Axis::Y,
            model_up: Axis::Z,
        };
        // The scan's y (up) becomes the model's z; x and z follow cyclically (x → y, z → x).
        assert_eq!(f.to_model(&[1.0, 4.0, 3.0]), [0.0, 0.0, 1.0]);
        assert_eq!(f.to_model(&[3.0, 2.0, 3.0]), [0.0, 1.0, 0.0]);
        assert_eq!(f.to_model(&[1.0, 2.0, 5.0]), [1.0, 0.0, 0.0]);
        let p = [0.25f32, -0.5, 0.75];
        assert_eq!(f.to_model(&f.to_world(&p)), p);
        // A cyclic shift keeps handedness: the model-frame basis images have determinant +1.
        let e: Vec<[f32; 3]> = [[3.0, 2.0, 3.0], [1.0, 4.0, 3.0], [1.0, 2.0, 5.0]]
            .iter()
            .map(|q| f.to_model(q))
            .collect();
        let det = e[0][0] * (e[1][1] * e[2][2] - e[1][2] * e[2][1])
            - e[0][1] * (e[1][0] * e[2][2] - e[1][2] * e[2][0])
            + e[0][2] * (e[1][0] * e[2][1] - e[1][1] * e[2][0]);
        assert_eq!(det, 1.0);
        // Reports written before the field existed read as z up.
        let old: Frame = serde_json::from_str(r#"{"center":[0,0,0],"scale":1}"#).unwrap();
        assert_eq!((old.scan_up, old.model_up), (Axis::Z, Axis::Z));
    }

    /// Heights above the floor: x and y about the centroid, z's zero at the 1st percentile of z
    /// (so one noise point far below does not move it), metric scale kept.
    #[test]
    fn a_floor_frame_measures_heights_above_the_scans_floor() {
        let mut positions: Vec<[f64; 3]> = (0..300)
            .map(|i| [i as f64, 2.0 * i as f64, 100.0 + (i % 3) as f64 * 5.0])
            .collect();
        positions.push([0.0, 0.0, 50.0]);
        let f = Frame::fit(
            &positions,
            Normalisation::MetricFloor {
                metres_per_unit: 10.0,
            },
        );
        assert_eq!(f.center[2], 100.0);
        let centroid_x = positions.iter().map(|p| p[0]).sum::<f64>() / 301.0;
        assert!((f.center[0] - centroid_x).abs() < 1e-9);
        assert_eq!(f.to_model(&[centroid_x, f.center[1], 110.0])[2], 1.0);
        let m = Frame::fit(
            &positions,
            Normalisation::Metric {
                metres_per_unit: 10.0,
            },
        );
        assert!(m.center[2] > 100.0 && m.center[0] == f.center[0]);
    }

    #[test]
    fn frame_round_trips_and_unit_sphere_has_radius_one() {
        let pts = vec![
            [1000.0, 2000.0, 10.0],
            [1002.0, 2000.0, 10.0],
            [1001.0, 2001.0, 12.0],
        ];
        let f = Frame::fit(&pts, Normalisation::UnitSphere);
        let r = pts
            .iter()
            .map(|p| {
                let m = f.to_model(p);
                (m[0] * m[0] + m[1] * m[1] + m[2] * m[2]).sqrt()
            })
            .fold(0.0f32, f32::max);
        assert!((r - 1.0).abs() < 1e-6);
        let back = f.to_world(&f.to_model(&pts[2]));
        assert!(dist2(&back, &pts[2]).sqrt() < 1e-4);
    }

    #[test]
    fn sampling_covers_every_point_when_upsampling_and_is_unique_when_downsampling() {
        let up = sample_indices(5, 12, 1);
        assert_eq!(up.len(), 12);
        assert_eq!(&up[..5], &[0, 1, 2, 3, 4]);
        let down = sample_indices(100, 10, 1);
        let mut d = down.clone();
        d.dedup();
        assert_eq!(d.len(), 10);
        assert_eq!(down, sample_indices(100, 10, 1));
    }
}
