//! An explained cloud read back for showing: the points, their per-class importances and the
//! report, as the viewer (`pointlime-view`) and the HTML report (`pointlime report --html`) both
//! show it.

use std::path::{Path, PathBuf};

use crate::cloud::{up_shift, Axis, PointCloud};
use crate::colour::Rgb;
use crate::error::{Error, Result};
use crate::explain::{Payload, Structure};
use crate::pipeline::{explanation_field, Report};

/// One explained class of the file.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassView {
    pub name: String,
    /// The model's probability of the class, from the report.
    pub probability: Option<f32>,
    /// The surrogate's R² (LIME only), from the report.
    pub r2: Option<f64>,
    /// The explanation method, from the report.
    pub method: Option<String>,
    /// Per point: its supervoxel's value (`importance`, `importance_<class>`).
    pub importance: Vec<f32>,
    /// Per point: the gradient methods' own value (`point_importance…`), NaN where none.
    pub point_importance: Option<Vec<f32>>,
    /// Per segment value, from the report, for picking.
    pub coefficients: Option<Vec<f64>>,
    /// The sufficient sets of a structural explanation (`--method sag`), from the report.
    pub structure: Option<Structure>,
    /// False when the competence check flagged the scan (the report's `trusted`).
    pub trusted: bool,
}

/// An explained cloud as the viewer holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExplainedScan {
    pub path: PathBuf,
    /// Positions relative to `centre`, so that f32 keeps millimetres on projected coordinates,
    /// turned so that the scan's up axis (the report's `frame.scan_up`) is z.
    pub positions: Vec<[f32; 3]>,
    /// The bounding-box centre, world coordinates.
    pub centre: [f64; 3],
    /// Segment id per point, when the file has `segment`.
    pub segments: Option<Vec<u32>>,
    /// At least one.
    pub classes: Vec<ClassView>,
    /// Original colours (`red`/`green`/`blue`, scaled to `[0, 1]`).
    pub rgb: Option<Vec<Rgb>>,
    /// Original intensity, scaled to `[0, 1]` by its 99th percentile.
    pub intensity: Option<Vec<f32>>,
    /// Original classification codes.
    pub classification: Option<Vec<u8>>,
    /// A per-point model's class of each point (`predicted`), an index into the report's
    /// classes; `NO_CLASS` for a point the scene steps removed.
    pub predicted: Option<Vec<u16>>,
    /// The JSON report, when found.
    pub report: Option<Report>,
    /// Where the report was read from.
    pub report_path: Option<PathBuf>,
}

/// Reads an explained cloud (PLY or LAS/LAZ written by `pointlime explain` or `batch`) and its
/// report: `report` when given, else `X.json` beside `X.ply|las|laz`, else (for `batch` output)
/// `NAME.json` beside `NAME.explained.ply|las|laz`.
///
/// # Errors
/// Unreadable files, a file without an `importance` field, or a report that does not parse.
pub fn load(path: &Path, report: Option<&Path>) -> Result<ExplainedScan> {
    let cloud = crate::io::read(path)?;
    let report_path = match report {
        Some(p) => Some(p.to_path_buf()),
        None => default_report(path),
    };
    let report = match &report_path {
        Some(p) => Some(read_report(p)?),
        None => None,
    };
    let mut scan = shown(path, &cloud, report)?;
    scan.report_path = report_path;
    Ok(scan)
}

/// An explained cloud already in memory (as `explain` annotated it, `path` its file) and its
/// report, as [`load`] reads them back.
///
/// # Errors
/// An empty cloud, or one without the report's `importance` field.
pub fn shown(path: &Path, cloud: &PointCloud, report: Option<Report>) -> Result<ExplainedScan> {
    if cloud.is_empty() {
        return Err(Error::format(path, "the file holds no points"));
    }
    let attr = |name: &str| cloud.attribute(name).map(|a| &a.values);
    // The first explanation's field is `importance`, further ones `importance_<sanitised class>`;
    // a per-point model's are `importance_<region>` (explanation_field).
    let field = |base: &str, i: usize| match &report {
        Some(r) if i < r.explanations.len() => explanation_field(r, base, i),
        _ => base.to_string(),
    };
    let Some(first) = attr(&field("importance", 0)) else {
        return Err(Error::format(
            path,
            format!(
                "no `{}` field; open a file written by `pointlime explain`",
                field("importance", 0)
            ),
        ));
    };
    let f32s = |v: &Vec<f64>| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();

    let explanations = report
        .as_ref()
        .map(|r| r.explanations.as_slice())
        .unwrap_or(&[]);
    // A region's view is named by the region and its class.
    let view_name = |i: usize, e: &crate::explain::Explanation| match &report {
        Some(r) if i < r.regions.len() => format!("{} ({})", r.regions[i].spec, e.target_name),
        _ => e.target_name.clone(),
    };
    let mut classes = Vec::new();
    for i in 0..explanations.len().max(1) {
        let values = match i {
            0 => first,
            _ => match attr(&field("importance", i)) {
                Some(v) => v,
                None => continue,
            },
        };
        classes.push(ClassView {
            name: explanations
                .get(i)
                .map_or_else(|| "importance".into(), |e| view_name(i, e)),
            probability: None,
            r2: None,
            method: None,
            importance: f32s(values),
            point_importance: attr(&field("point_importance", i)).map(f32s),
            coefficients: None,
            structure: None,
            trusted: true,
        });
    }
    if let Some(r) = &report {
        for (i, (c, e)) in classes.iter_mut().zip(&r.explanations).enumerate() {
            // A region's probability is its own points' mean, not the whole scan's.
            let probabilities = r
                .regions
                .get(i)
                .map_or(&r.probabilities, |g| &g.probabilities);
            c.probability = probabilities.get(e.target).copied();
            c.r2 = e.r2;
            c.method = Some(e.method.name().to_string());
            c.coefficients = Some(e.coefficients.clone());
            c.structure = e.payload.as_ref().and_then(Payload::structure).cloned();
            c.trusted = e.trusted;
        }
    }

    let (lo, hi) = cloud
        .bounds()
        .ok_or_else(|| Error::format(path, "no point has finite coordinates"))?;
    let centre: [f64; 3] = std::array::from_fn(|a| 0.5 * (lo[a] + hi[a]));
    // The camera looks at a z-up world: a scan whose report says another axis is up (a plant
    // scan with y up) is turned so that axis is z, by the same rotation the pipeline uses.
    let up = report.as_ref().map_or(Axis::Z, |r| r.frame.scan_up);
    let shift = up_shift(up, Axis::Z);
    let positions = cloud
        .positions
        .iter()
        .map(|p| {
            let mut out = [0.0f32; 3];
            for a in 0..3 {
                out[(a + shift) % 3] = (p[a] - centre[a]) as f32;
            }
            out
        })
        .collect();
    let rgb = rgb_of(cloud);
    let intensity = attr("intensity").map(|v| {
        let top = percentile(v, 0.99).max(f64::MIN_POSITIVE);
        v.iter()
            .map(|&x| (x / top).clamp(0.0, 1.0) as f32)
            .collect()
    });
    Ok(ExplainedScan {
        path: path.to_path_buf(),
        positions,
        centre,
        segments: attr("segment").map(|v| v.iter().map(|&s| s as u32).collect()),
        classes,
        rgb,
        intensity,
        classification: attr("classification").map(|v| v.iter().map(|&c| c as u8).collect()),
        predicted: attr("predicted").map(|v| v.iter().map(|&c| c as u16).collect()),
        report,
        report_path: None,
    })
}

/// The scan's colours as 0–1 (8-bit PLY colours or 16-bit LAS colours: scaled by the channel
/// type's range), if it has them.
fn rgb_of(cloud: &PointCloud) -> Option<Vec<Rgb>> {
    let attr = |name: &str| cloud.attribute(name).map(|a| &a.values);
    let (r, g, b) = (attr("red")?, attr("green")?, attr("blue")?);
    let max = r.iter().chain(g).chain(b).fold(0.0f64, |m, &v| m.max(v));
    let full = if max > 255.0 { 65535.0 } else { 255.0 };
    Some(
        (0..cloud.len())
            .map(|i| [r[i], g[i], b[i]].map(|v| (v / full).clamp(0.0, 1.0) as f32))
            .collect(),
    )
}

fn default_report(path: &Path) -> Option<PathBuf> {
    let beside = path.with_extension("json");
    if beside.is_file() {
        return Some(beside);
    }
    let stem = path.file_stem()?.to_string_lossy();
    let batch = path.with_file_name(format!("{}.json", stem.strip_suffix(".explained")?));
    batch.is_file().then_some(batch)
}

/// A report as `explain` writes it, or the `report` inside a `batch` file's JSON.
fn read_report(path: &Path) -> Result<Report> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    Report::from_json(&text, path)
}

/// The `q` quantile of the finite values (nearest rank), 0 when there are none.
fn percentile(values: &[f64], q: f64) -> f64 {
    crate::stats::quantile(values.iter().copied(), q).unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::{Attribute, FileFormat, PointCloud, ScalarKind};

    fn explained_file(dir: &Path, name: &str) -> PathBuf {
        let mut cloud = PointCloud::from_positions(
            vec![[10.0, 20.0, 0.0], [12.0, 20.0, 2.0], [14.0, 22.0, 4.0]],
            FileFormat::Ply,
        );
        for (attr, values) in [
            ("importance", vec![0.5, -0.25, 0.0]),
            ("segment", vec![0.0, 1.0, 1.0]),
        ] {
            cloud.attributes.push(Attribute {
                name: attr.into(),
                kind: if attr == "segment" {
                    ScalarKind::U32
                } else {
                    ScalarKind::F32
                },
                values,
            });
        }
        let path = dir.join(name);
        crate::io::write(&path, &cloud, Default::default()).unwrap();
        path
    }

    #[test]
    fn loads_importance_and_segments_centred_on_the_box() {
        let dir = tempfile::tempdir().unwrap();
        let path = explained_file(dir.path(), "a.explained.ply");
        let scan = load(&path, None).unwrap();
        assert_eq!(scan.classes.len(), 1);
        assert_eq!(scan.classes[0].importance, [0.5, -0.25, 0.0]);
        assert_eq!(scan.segments.as_deref(), Some(&[0, 1, 1][..]));
        assert_eq!(scan.centre, [12.0, 21.0, 2.0]);
        assert_eq!(scan.positions[0], [-2.0, -1.0, -2.0]);
        assert!(scan.report.is_none() && scan.report_path.is_none());
    }

    #[test]
    fn finds_the_report_beside_the_file_or_batch_style_and_rejects_plain_scans() {
        let dir = tempfile::tempdir().unwrap();
        let path = explained_file(dir.path(), "b.laz.explained.ply");
        assert_eq!(default_report(&path), None);
        let batch = dir.path().join("b.laz.json");
        std::fs::write(&batch, "{}").unwrap();
        assert_eq!(default_report(&path), Some(batch.clone()));
        std::fs::write(path.with_extension("json"), "{}").unwrap();
        assert_eq!(default_report(&path), Some(path.with_extension("json")));
        // A report that is not one names the file.
        let err = load(&path, None).unwrap_err().to_string();
        assert!(err.contains("not a pointlime report"), "{err}");

        let plain = dir.path().join("plain.ply");
        let cloud = PointCloud::from_positions(vec![[0.0; 3]], FileFormat::Ply);
        crate::io::write(&plain, &cloud, Default::default()).unwrap();
        let err = load(&plain, None).unwrap_err().to_string();
        assert!(err.contains("no `importance` field"), "{err}");
    }

    #[test]
    fn a_scan_with_y_up_is_turned_to_stand_on_z() {
        let dir = tempfile::tempdir().unwrap();
        let path = explained_file(dir.path(), "c.explained.ply");
        let json = dir.path().join("c.json");
        std::fs::write(
            &json,
            r#"{"input":"c","model":"m","class_names":["a"],"probabilities":[1],
            "predicted":0,"predicted_name":"a","points":3,"dropped_invalid":0,
            "frame":{"center":[0,0,0],"scale":1,"scan_up":"y","model_up":"y"},
            "settings":{},"explanations":[],"segments":[],
            "timings":{"segmentation":0,"sampling":0,"inference":0,"surrogate_fit":0,"total":0},
            "cost":{"scoring":"exact_max_pool","points_evaluated":1,"clouds_evaluated":1}}"#,
        )
        .unwrap();
        let scan = load(&path, Some(&json)).unwrap();
        // The first point is (-2, -1, -2) from the centre with y up: turned, y is z (and x → y,
        // z → x).
        assert_eq!(scan.positions[0], [-2.0, -2.0, -1.0]);
    }

    #[test]
    fn percentile_is_the_nearest_rank_of_the_finite_values() {
        let v: Vec<f64> = (0..=100).map(f64::from).chain([f64::NAN]).collect();
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&v, 0.0), 0.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }
}
