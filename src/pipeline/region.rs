//! What a per-point model's explanation is about: a region of the scan (the points it calls one
//! class, a labelled part, a box, a ball, one point), and which class of it is explained.
//!
//! A region is resolved on the network's input points: they are the points the model scores.
//! Its score is the mean score of its class over its points ([`Region`](crate::classifier::Region)).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::cloud::PointCloud;
use crate::error::{Error, Result};

/// One region, as given on the command line (`--region`, `--point`) and written in reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum RegionSpec {
    /// `class=C`: the points the model labels C (a class name, or its index).
    Class(String),
    /// `label=FIELD:V`: the points whose per-point field FIELD holds V (a ground-truth class, or
    /// an instance such as one leaf).
    Label {
        /// The field.
        field: String,
        /// Its value.
        value: f64,
    },
    /// `box=X0,Y0,Z0,X1,Y1,Z1`: the points inside the axis-aligned box, file coordinates.
    Box {
        /// The corner of lowest coordinates.
        min: [f64; 3],
        /// The corner of highest coordinates.
        max: [f64; 3],
    },
    /// `sphere=X,Y,Z,R`: the points within R of the centre, file coordinates.
    Sphere {
        /// The centre.
        centre: [f64; 3],
        /// The radius.
        radius: f64,
    },
    /// `point=I` (`--point I`): the scan's point I, 0-based in file order.
    Point(usize),
}

impl fmt::Display for RegionSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |v: &[f64]| {
            v.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        match self {
            RegionSpec::Class(c) => write!(f, "class={c}"),
            RegionSpec::Label { field, value } => write!(f, "label={field}:{value}"),
            RegionSpec::Box { min, max } => write!(f, "box={},{}", list(min), list(max)),
            RegionSpec::Sphere { centre, radius } => {
                write!(f, "sphere={},{radius}", list(centre))
            }
            RegionSpec::Point(i) => write!(f, "point={i}"),
        }
    }
}

impl From<RegionSpec> for String {
    fn from(r: RegionSpec) -> String {
        r.to_string()
    }
}

impl TryFrom<String> for RegionSpec {
    type Error = String;

    fn try_from(s: String) -> std::result::Result<RegionSpec, String> {
        s.parse()
    }
}

const REGION_FORMS: &str =
    "class=C, label=FIELD:V, box=X0,Y0,Z0,X1,Y1,Z1, sphere=X,Y,Z,R or point=I";

impl FromStr for RegionSpec {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<RegionSpec, String> {
        let bad = |why: &str| format!("region {s:?}: {why} (expected {REGION_FORMS})");
        let (kind, rest) = s.split_once('=').ok_or_else(|| bad("no \"=\""))?;
        let numbers = |n: usize| -> std::result::Result<Vec<f64>, String> {
            let v = rest
                .split(',')
                .map(|x| x.trim().parse::<f64>().ok().filter(|x| x.is_finite()))
                .collect::<Option<Vec<f64>>>()
                .ok_or_else(|| bad("not a list of finite numbers"))?;
            if v.len() != n {
                return Err(bad(&format!("{} numbers, {n} expected", v.len())));
            }
            Ok(v)
        };
        match kind.trim() {
            "class" if !rest.is_empty() => Ok(RegionSpec::Class(rest.to_string())),
            "label" => {
                let (field, value) = rest
                    .rsplit_once(':')
                    .filter(|(f, _)| !f.is_empty())
                    .ok_or_else(|| bad("no FIELD:V"))?;
                let value = value
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| bad("the value is not a number"))?;
                Ok(RegionSpec::Label {
                    field: field.to_string(),
                    value,
                })
            }
            "box" => {
                let v = numbers(6)?;
                let (min, max) = ([v[0], v[1], v[2]], [v[3], v[4], v[5]]);
                if (0..3).any(|k| min[k] > max[k]) {
                    return Err(bad("a lower corner above the upper one"));
                }
                Ok(RegionSpec::Box { min, max })
            }
            "sphere" => {
                let v = numbers(4)?;
                if v[3] <= 0.0 {
                    return Err(bad("the radius must be positive"));
                }
                Ok(RegionSpec::Sphere {
                    centre: [v[0], v[1], v[2]],
                    radius: v[3],
                })
            }
            "point" => rest
                .trim()
                .parse()
                .map(RegionSpec::Point)
                .map_err(|_| bad("not a point index")),
            _ => Err(bad("unknown kind")),
        }
    }
}

/// What a per-point model's explanation is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegionConfig {
    /// The regions explained, in order. Empty (the default): every class the model predicts for
    /// at least `min_share` of the network's input points.
    pub regions: Vec<RegionSpec>,
    /// The share of input points a predicted class needs to be explained by default. By
    /// default, 0.01.
    pub min_share: f64,
    /// Whether masks also drop the region's own supervoxels (the score then averages over the
    /// region points that remain). By default, false: the region is kept whole and only its
    /// context is perturbed.
    pub perturb_region: bool,
    /// The scan's own per-point classes, to score the model's against (`--labels`): a field
    /// (LAS `classification`, named by the ASPRS table) or a map `FIELD:NAME=V;NAME=*`; see
    /// [`labels::truth`](crate::labels::truth). None by default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<String>,
}

impl Default for RegionConfig {
    fn default() -> Self {
        RegionConfig {
            regions: Vec::new(),
            min_share: 0.01,
            perturb_region: false,
            labels: None,
        }
    }
}

impl RegionConfig {
    /// Whether every setting is at its default (then reports leave it out).
    pub fn is_default(&self) -> bool {
        *self == RegionConfig::default()
    }

    /// # Errors
    /// [`Error::Config`] for a share outside (0, 1] or a malformed label map.
    pub fn validate(&self) -> Result<()> {
        if !(self.min_share > 0.0 && self.min_share <= 1.0) {
            return Err(Error::Config(format!(
                "the share of points a class needs to be explained must be in (0, 1], got {}",
                self.min_share
            )));
        }
        match &self.labels {
            Some(l) if l.trim().is_empty() => Err(Error::Config("--labels names no field".into())),
            Some(l) if l.contains(':') => l
                .parse::<crate::labels::LabelMap>()
                .map(|_| ())
                .map_err(Error::Config),
            _ => Ok(()),
        }
    }
}

/// A region found on one scan.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    /// As given (or `class=C` for a default region).
    pub spec: RegionSpec,
    /// The name in its output fields (`importance_NAME`): see [`region_names`].
    pub name: String,
    /// Its points among the network's input (indices into the input).
    pub points: Vec<usize>,
    /// The class explained: the one named (`class=C`), else the class the model gives most of
    /// the region's points (ties to the lower index).
    pub target: usize,
    /// For `point=I`: the distance, in file units, from point I to the input point that stands
    /// for it (0 when the point is itself in the input).
    pub stand_in_distance: Option<f64>,
}

/// The class named `name`: a class name (ignoring case) or an index.
fn class_index(name: &str, class_names: &[String]) -> Result<usize> {
    class_names
        .iter()
        .position(|c| c.eq_ignore_ascii_case(name))
        .or_else(|| name.parse().ok().filter(|&i: &usize| i < class_names.len()))
        .ok_or_else(|| {
            Error::Config(format!(
                "region class={name}: the model's classes are {}",
                class_names.join(", ")
            ))
        })
}

/// What the regions of `config` select on one scan.
///
/// `index` is the cloud's index of each network input point and `predicted` the model's class
/// of each; `file_positions` are the scan's points in file order, before any scene step cut
/// `cloud` from it, for `point=I`.
///
/// # Errors
/// [`Error::Config`] for a class the model does not have; [`Error::Scan`] for a label field the
/// scan lacks, a point index past its end, or a region that selects no input point.
pub fn resolve(
    config: &RegionConfig,
    cloud: &PointCloud,
    file_positions: &[[f64; 3]],
    index: &[u32],
    predicted: &[usize],
    class_names: &[String],
) -> Result<Vec<Resolved>> {
    let n_classes = class_names.len();
    let mut counts = vec![0usize; n_classes];
    predicted.iter().for_each(|&c| counts[c] += 1);
    let majority = |points: &[usize]| {
        let mut votes = vec![0usize; n_classes];
        points.iter().for_each(|&i| votes[predicted[i]] += 1);
        crate::stats::ranking(&votes.iter().map(|&v| v as f32).collect::<Vec<_>>())[0]
    };
    let specs: Vec<RegionSpec> = if config.regions.is_empty() {
        let need = config.min_share * predicted.len() as f64;
        (0..n_classes)
            .filter(|&c| counts[c] > 0 && counts[c] as f64 >= need)
            .map(|c| RegionSpec::Class(class_names[c].clone()))
            .collect()
    } else {
        config.regions.clone()
    };
    let position = |i: usize| cloud.positions[index[i] as usize];
    let mut out = Vec::new();
    for spec in specs {
        let mut stand_in_distance = None;
        let (points, target): (Vec<usize>, Option<usize>) = match &spec {
            RegionSpec::Class(name) => {
                let c = class_index(name, class_names)?;
                (
                    (0..index.len()).filter(|&i| predicted[i] == c).collect(),
                    Some(c),
                )
            }
            RegionSpec::Label { field, value } => {
                let a = cloud.attribute(field).ok_or_else(|| {
                    Error::Scan(format!(
                        "region {spec}: no per-point field {field:?}; the scan has {}",
                        cloud.attribute_names()
                    ))
                })?;
                let points = (0..index.len())
                    .filter(|&i| a.values[index[i] as usize] == *value)
                    .collect();
                (points, None)
            }
            RegionSpec::Box { min, max } => {
                let inside = |p: [f64; 3]| (0..3).all(|k| p[k] >= min[k] && p[k] <= max[k]);
                (
                    (0..index.len()).filter(|&i| inside(position(i))).collect(),
                    None,
                )
            }
            RegionSpec::Sphere { centre, radius } => {
                let inside = |p: [f64; 3]| {
                    (0..3).map(|k| (p[k] - centre[k]).powi(2)).sum::<f64>() <= radius * radius
                };
                (
                    (0..index.len()).filter(|&i| inside(position(i))).collect(),
                    None,
                )
            }
            RegionSpec::Point(p) => {
                let Some(&asked) = file_positions.get(*p) else {
                    return Err(Error::Scan(format!(
                        "region {spec}: the scan has {} points (indices from 0)",
                        file_positions.len()
                    )));
                };
                // The point itself when the network sees it, else the input point nearest to it.
                let distance = |i: usize| {
                    let q = position(i);
                    (0..3)
                        .map(|k| (q[k] - asked[k]).powi(2))
                        .sum::<f64>()
                        .sqrt()
                };
                let best = (0..index.len())
                    .min_by(|&a, &b| distance(a).total_cmp(&distance(b)).then(a.cmp(&b)));
                stand_in_distance = best.map(distance);
                (best.into_iter().collect(), None)
            }
        };
        if points.is_empty() {
            return Err(Error::Scan(format!(
                "region {spec} selects none of the {} points the network sees",
                index.len()
            )));
        }
        let target = target.unwrap_or_else(|| majority(&points));
        out.push(Resolved {
            spec,
            name: String::new(),
            points,
            target,
            stand_in_distance,
        });
    }
    let names = region_names(&out.iter().map(|r| r.spec.clone()).collect::<Vec<_>>());
    for (r, name) in out.iter_mut().zip(names) {
        r.name = name;
    }
    Ok(out)
}

/// The longest region name: `point_importance_` and the name fit the 32 bytes of a LAS extra
/// bytes field's name.
pub const MAX_REGION_NAME: usize = 32 - "point_importance_".len();

/// `name` in lower case, every character but an ASCII letter or digit written `_`.
pub(super) fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// The names of regions in their output fields. The name is the spec's value, lower case, every
/// character but an ASCII letter or digit written `_` (`class=High Vegetation` is
/// `high_vegetation`, `label=leaf:7` is `leaf_7`, `point=12` is `point_12`, `box=…` is `box`,
/// `sphere=…` is `sphere`), cut to [`MAX_REGION_NAME`] bytes; a name already taken ends in
/// `_2`, `_3`, … instead, cut so that it still fits.
pub fn region_names(specs: &[RegionSpec]) -> Vec<String> {
    let mut taken: Vec<String> = Vec::new();
    for spec in specs {
        let base = match spec {
            RegionSpec::Class(c) => sanitize(c),
            RegionSpec::Label { field, value } => sanitize(&format!("{field}_{value}")),
            RegionSpec::Box { .. } => "box".into(),
            RegionSpec::Sphere { .. } => "sphere".into(),
            RegionSpec::Point(i) => format!("point_{i}"),
        };
        let mut name: String = base.chars().take(MAX_REGION_NAME).collect();
        let mut k = 2;
        while taken.contains(&name) {
            let suffix = format!("_{k}");
            let keep = MAX_REGION_NAME - suffix.len();
            name = format!("{}{suffix}", base.chars().take(keep).collect::<String>());
            k += 1;
        }
        taken.push(name);
    }
    taken
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_read_and_write_back_and_bad_ones_say_why() {
        for s in [
            "class=building",
            "label=leaf:7",
            "box=0,1,2,3,4,5",
            "sphere=1,2,3,0.5",
            "point=12",
        ] {
            let r: RegionSpec = s.parse().unwrap();
            assert_eq!(r.to_string(), s);
        }
        for (s, why) in [
            ("building", "no \"=\""),
            ("box=1,2,3", "3 numbers, 6 expected"),
            ("box=1,1,1,0,2,2", "lower corner above"),
            ("sphere=0,0,0,-1", "radius must be positive"),
            ("label=leaf", "no FIELD:V"),
            ("point=-1", "not a point index"),
            ("cube=1", "unknown kind"),
        ] {
            let e = s.parse::<RegionSpec>().unwrap_err();
            assert!(e.contains(why) && e.contains(s), "{e}");
        }
    }

    #[test]
    fn names_fit_a_las_field_and_never_repeat() {
        let long = RegionSpec::Class("Permanent Structure Of Some Kind".into());
        let names = region_names(&[
            RegionSpec::Class("High Vegetation".into()),
            long.clone(),
            long,
            RegionSpec::Box {
                min: [0.0; 3],
                max: [1.0; 3],
            },
            RegionSpec::Box {
                min: [0.0; 3],
                max: [2.0; 3],
            },
        ]);
        assert_eq!(names[0], "high_vegetation");
        assert_eq!(names[1], "permanent_struc");
        assert_eq!(names[2], "permanent_str_2");
        assert_eq!(names[3..], ["box", "box_2"]);
        assert!(names.iter().all(|n| n.len() <= MAX_REGION_NAME));
        assert!(("point_importance_".len() + names[1].len()) <= 32);
    }
}
