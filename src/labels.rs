//! Per-point classes read from a scan's own field: which values of which field are which class
//! (`FIELD:NAME=V|V;NAME=*`), and the ASPRS names of LAS classification codes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::cloud::PointCloud;
use crate::error::{Error, Result};

/// A point no class of a [`LabelMap`] takes: left out of training losses and of metrics.
pub const UNLABELLED: u8 = u8::MAX;

/// The values one class takes.
#[derive(Debug, Clone, PartialEq)]
enum Values {
    /// These values.
    Listed(Vec<f64>),
    /// Every value no other class lists (`*`).
    Rest,
}

/// Which values of a per-point field are which class, written
/// `FIELD:NAME=V|V…;NAME=V…;NAME=*` (`column_3:stem=2;other=*`: the points whose `column_3` is 2
/// are stem, every other point other). `*` takes what no other class lists; without it, a value
/// no class lists is [`UNLABELLED`]. Classes are numbered in the order written. No comma, so that
/// a map fits in a CSV cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LabelMap {
    /// The field.
    pub field: String,
    classes: Vec<(String, Values)>,
}

impl LabelMap {
    /// The class names, in order.
    pub fn class_names(&self) -> Vec<String> {
        self.classes.iter().map(|(n, _)| n.clone()).collect()
    }

    /// The class of a value of the field.
    pub fn class_of(&self, value: f64) -> u8 {
        let listed = self.classes.iter().position(|(_, v)| match v {
            Values::Listed(values) => values.contains(&value),
            Values::Rest => false,
        });
        let rest = || self.classes.iter().position(|(_, v)| *v == Values::Rest);
        listed.or_else(rest).map_or(UNLABELLED, |c| c as u8)
    }

    /// Every point's class.
    ///
    /// # Errors
    /// [`Error::Scan`] when the cloud has no such field (the caller names the file, see
    /// [`Error::in_file`]).
    pub fn classes(&self, cloud: &PointCloud) -> Result<Vec<u8>> {
        let a = cloud.attribute(&self.field).ok_or_else(|| {
            Error::Scan(format!(
                "no per-point field {:?} to read classes from; the scan has {}",
                self.field,
                cloud.attribute_names()
            ))
        })?;
        Ok(a.values.iter().map(|&v| self.class_of(v)).collect())
    }
}

impl fmt::Display for LabelMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let classes: Vec<String> = self
            .classes
            .iter()
            .map(|(name, v)| match v {
                Values::Rest => format!("{name}=*"),
                Values::Listed(values) => format!(
                    "{name}={}",
                    values
                        .iter()
                        .map(|v| v.to_string())
                        .collect::<Vec<_>>()
                        .join("|")
                ),
            })
            .collect();
        write!(f, "{}:{}", self.field, classes.join(";"))
    }
}

impl FromStr for LabelMap {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<LabelMap, String> {
        let bad = |why: &str| format!("labels {s:?}: {why} (expected FIELD:NAME=V|V;NAME=*)");
        let (field, rest) = s
            .split_once(':')
            .ok_or_else(|| bad("no \":\" after the field"))?;
        if field.trim().is_empty() {
            return Err(bad("no field"));
        }
        let mut classes: Vec<(String, Values)> = Vec::new();
        for part in rest.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, values) = part
                .split_once('=')
                .ok_or_else(|| bad(&format!("class {part:?} has no \"=\"")))?;
            let name = name.trim();
            if name.is_empty() || classes.iter().any(|(n, _)| n == name) {
                return Err(bad(&format!("class name {name:?} empty or repeated")));
            }
            let values = match values.trim() {
                "*" if classes.iter().any(|(_, v)| *v == Values::Rest) => {
                    return Err(bad("two classes take the rest (*)"))
                }
                "*" => Values::Rest,
                list => Values::Listed(
                    list.split('|')
                        .map(|v| v.trim().parse::<f64>().ok().filter(|v| v.is_finite()))
                        .collect::<Option<Vec<f64>>>()
                        .ok_or_else(|| bad(&format!("class {name:?}: not a list of numbers")))?,
                ),
            };
            classes.push((name.to_string(), values));
        }
        if classes.len() < 2 {
            return Err(bad("at least two classes are needed"));
        }
        if classes.len() >= UNLABELLED as usize {
            return Err(bad("too many classes"));
        }
        Ok(LabelMap {
            field: field.trim().to_string(),
            classes,
        })
    }
}

impl From<LabelMap> for String {
    fn from(m: LabelMap) -> String {
        m.to_string()
    }
}

impl TryFrom<String> for LabelMap {
    type Error = String;

    fn try_from(s: String) -> std::result::Result<LabelMap, String> {
        s.parse()
    }
}

/// The ASPRS name of a LAS classification code (LAS 1.4 R15, table 17), lower case; `None`
/// for a reserved or user-defined code.
pub fn asprs_name(code: u8) -> Option<&'static str> {
    Some(match code {
        0 => "never classified",
        1 => "unclassified",
        2 => "ground",
        3 => "low vegetation",
        4 => "medium vegetation",
        5 => "high vegetation",
        6 => "building",
        7 => "low point (noise)",
        9 => "water",
        10 => "rail",
        11 => "road surface",
        13 => "wire guard",
        14 => "wire conductor",
        15 => "transmission tower",
        16 => "wire-structure connector",
        17 => "bridge deck",
        18 => "high noise",
        _ => return None,
    })
}

/// Each point's class among a model's `class_names`, from the scan's own field: what a per-point
/// model is scored against (`explain --labels`). `spec` is a [`LabelMap`] (`FIELD:NAME=V;…`),
/// whose class names are matched to the model's, or a bare field, whose values are named by the
/// ASPRS table when the field is LAS `classification` (2 ground, 6 building, …) and by their
/// number otherwise (a model class named `2` takes the value 2). Names match ignoring case; a
/// point whose class the model does not have is [`UNLABELLED`].
///
/// # Errors
/// [`Error::Config`] for a map none of whose classes the model has, or a malformed map;
/// [`Error::Scan`] when the scan lacks the field.
pub fn truth(spec: &str, cloud: &PointCloud, class_names: &[String]) -> Result<Vec<u8>> {
    let index = |name: &str| {
        class_names
            .iter()
            .position(|c| c.eq_ignore_ascii_case(name))
            .map_or(UNLABELLED, |i| i as u8)
    };
    if spec.contains(':') {
        let map: LabelMap = spec.parse().map_err(Error::Config)?;
        let to_model: Vec<u8> = map.class_names().iter().map(|n| index(n)).collect();
        if to_model.iter().all(|&c| c == UNLABELLED) {
            return Err(Error::Config(format!(
                "labels {spec:?}: the model has none of these classes (it has {})",
                class_names.join(", ")
            )));
        }
        return Ok(map
            .classes(cloud)?
            .into_iter()
            .map(|c| to_model.get(c as usize).copied().unwrap_or(UNLABELLED))
            .collect());
    }
    let a = cloud.attribute(spec).ok_or_else(|| {
        Error::Scan(format!(
            "no per-point field {spec:?} to read classes from; the scan has {}",
            cloud.attribute_names()
        ))
    })?;
    let asprs = spec.eq_ignore_ascii_case("classification");
    Ok(a.values
        .iter()
        .map(|&v| {
            let named = (asprs && (0.0..=255.0).contains(&v))
                .then(|| asprs_name(v as u8))
                .flatten()
                .map(index)
                .unwrap_or(UNLABELLED);
            if named == UNLABELLED {
                index(&v.to_string())
            } else {
                named
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::{Attribute, FileFormat, ScalarKind};

    #[test]
    fn maps_read_write_back_and_classify() {
        let m: LabelMap = "column_3:stem=2;other=*".parse().unwrap();
        assert_eq!(m.to_string(), "column_3:stem=2;other=*");
        assert_eq!(m.class_names(), ["stem", "other"]);
        assert_eq!(
            [m.class_of(2.0), m.class_of(3.0), m.class_of(11.0)],
            [0, 1, 1]
        );
        let lidar: LabelMap = "classification:ground=2;vegetation=3|4|5;building=6"
            .parse()
            .unwrap();
        assert_eq!([lidar.class_of(4.0), lidar.class_of(6.0)], [1, 2]);
        assert_eq!(lidar.class_of(9.0), UNLABELLED);
        let mut cloud = PointCloud::from_positions(vec![[0.0; 3]; 3], FileFormat::Xyz);
        cloud.attributes.push(Attribute {
            name: "classification".into(),
            kind: ScalarKind::U8,
            values: vec![2.0, 5.0, 7.0],
        });
        assert_eq!(lidar.classes(&cloud).unwrap(), [0, 1, UNLABELLED]);
        let e = m.classes(&cloud).unwrap_err().to_string();
        assert!(e.contains("no per-point field \"column_3\"") && e.contains("classification"));
        for (s, why) in [
            ("stem=2", "no \":\""),
            ("f:stem", "has no \"=\""),
            ("f:stem=2", "at least two"),
            ("f:a=1;a=2", "repeated"),
            ("f:a=*;b=*", "two classes take the rest"),
            ("f:a=x;b=*", "not a list of numbers"),
        ] {
            let e = s.parse::<LabelMap>().unwrap_err();
            assert!(e.contains(why), "{s}: {e}");
        }
        assert_eq!(asprs_name(6), Some("building"));
        assert_eq!(asprs_name(12), None);
    }

    #[test]
    fn the_truth_is_read_in_the_models_classes() {
        let names: Vec<String> = ["Ground", "building", "9"].map(String::from).to_vec();
        let mut cloud = PointCloud::from_positions(vec![[0.0; 3]; 4], FileFormat::Xyz);
        cloud.attributes.push(Attribute {
            name: "classification".into(),
            kind: ScalarKind::U8,
            values: vec![2.0, 6.0, 9.0, 5.0],
        });
        // ASPRS names for LAS codes, a model class named by the number, the rest unlabelled.
        let t = truth("classification", &cloud, &names).unwrap();
        assert_eq!(t, [0, 1, 2, UNLABELLED]);
        let t = truth("classification:building=6;ground=*", &cloud, &names).unwrap();
        assert_eq!(t, [0, 1, 0, 0]);
        let e = truth("classification:stem=2;leaf=*", &cloud, &names).unwrap_err();
        assert!(e.to_string().contains("none of these classes"), "{e}");
        let e = truth("label", &cloud, &names).unwrap_err();
        assert!(
            e.to_string().contains("no per-point field \"label\""),
            "{e}"
        );
    }
}
