//! An explained cloud: its report, and the per-point fields written back into the scan.

use super::per_point::PointPredictions;
use super::region::sanitize;
use super::report::Report;
use crate::cloud::{Attribute, PointCloud, ScalarKind};
use crate::explain::Explanation;
use crate::scene::Removed;
use crate::segment::Segmentation;

/// An explained cloud: the report, plus what is needed to write per-point values.
#[derive(Debug, Clone)]
pub struct Explained {
    /// The JSON report.
    pub report: Report,
    pub segmentation: Segmentation,
    /// The gradient methods' per-point values on the explained points, one vector per
    /// explanation: the sum over the point's copies in the network's input, NaN for a point the
    /// network did not see. Empty for the other methods.
    pub point_values: Vec<Vec<f64>>,
    /// Why each point of the scan was left out, when scene steps ran (empty otherwise); the
    /// segmentation and point values are then over the kept points only, in order.
    pub removed: Vec<Removed>,
    /// The network's input points (model frame) the explanation was made from, and their extra
    /// channels ([`ModelInput::channels`]).
    pub input_points: Vec<[f32; 3]>,
    pub input_channels: Vec<f32>,
    /// For a per-point model, its class and probability on every explained point.
    pub predictions: Option<PointPredictions>,
}

impl Explained {
    /// The cloud with `importance` (f32, first explained class), one `importance_<class>` per
    /// further class, and `segment` (u32) attributes added, and for the per-point methods
    /// (gradient, saliency, cam, critical) `point_importance` (and `point_importance_<class>`)
    /// with each point's own value; existing attributes of those names are replaced, so
    /// re-explaining an explained file works.
    ///
    /// When scene steps removed points, every point of `cloud` is still written: removed points
    /// have NaN importances, segment [`NO_SEGMENT`], and a `removed` (u8) field gives the reason
    /// ([`Removed`] codes: 0 kept, 1 cropped, 2 outlier, 3 ground, 4 detached).
    ///
    /// For a per-point model, each explanation's field is named by its region
    /// ([`explanation_field`]), and every point gets `predicted` (u16, the model's class index,
    /// [`NO_CLASS`] for a removed point) and `predicted_probability` (f32); a `classification`
    /// field the scan brought is left as it was.
    ///
    /// `cloud` is taken, not copied: a 5 M-point scan's attributes are hundreds of MB.
    pub fn annotate(&self, cloud: PointCloud) -> PointCloud {
        let mut out = cloud;
        let mut new = Vec::new();
        let name = |base: &str, i: usize, _: &Explanation| explanation_field(&self.report, base, i);
        // Values on the explained points, spread onto the whole scan.
        let spread = |values: Vec<f64>, missing: f64| -> Vec<f64> {
            if self.removed.is_empty() {
                return values;
            }
            let mut it = values.into_iter();
            self.removed
                .iter()
                .map(|&r| match r {
                    Removed::Kept => it.next().unwrap_or(missing),
                    _ => missing,
                })
                .collect()
        };
        for (i, e) in self.report.explanations.iter().enumerate() {
            new.push(Attribute {
                name: name("importance", i, e),
                kind: ScalarKind::F32,
                values: spread(
                    e.per_point(&self.segmentation.labels)
                        .into_iter()
                        .map(f64::from)
                        .collect(),
                    f64::NAN,
                ),
            });
        }
        for (i, (e, values)) in self
            .report
            .explanations
            .iter()
            .zip(&self.point_values)
            .enumerate()
        {
            new.push(Attribute {
                name: name("point_importance", i, e),
                kind: ScalarKind::F32,
                values: spread(values.clone(), f64::NAN),
            });
        }
        new.push(Attribute {
            name: "segment".into(),
            kind: ScalarKind::U32,
            values: spread(
                self.segmentation.labels.iter().map(|&l| l as f64).collect(),
                NO_SEGMENT as f64,
            ),
        });
        if let Some(p) = &self.predictions {
            new.push(Attribute {
                name: "predicted".into(),
                kind: ScalarKind::U16,
                values: spread(p.class.iter().map(|&c| c as f64).collect(), NO_CLASS as f64),
            });
            new.push(Attribute {
                name: "predicted_probability".into(),
                kind: ScalarKind::F32,
                values: spread(p.probability.iter().map(|&v| v as f64).collect(), f64::NAN),
            });
        }
        if !self.removed.is_empty() {
            new.push(Attribute {
                name: "removed".into(),
                kind: ScalarKind::U8,
                values: self.removed.iter().map(|&r| r as u8 as f64).collect(),
            });
        }
        out.attributes
            .retain(|a| !new.iter().any(|n| n.name == a.name));
        out.attributes.extend(new);
        out
    }
}

/// The `segment` value of points that scene steps removed: no segment.
pub const NO_SEGMENT: u32 = u32::MAX;

/// The `predicted` value of points that scene steps removed: no class.
pub const NO_CLASS: u16 = u16::MAX;

/// The name of the per-point field `base` (`importance`, `point_importance`) of `report`'s `i`-th
/// explanation: for a per-point model, `base_<region>` for every region ([`RegionReport::name`]
/// (super::RegionReport::name)); otherwise [`field_name`] of its class. The viewer reads fields
/// by it.
pub fn explanation_field(report: &Report, base: &str, i: usize) -> String {
    match report.regions.get(i) {
        Some(r) => format!("{base}_{}", r.name),
        None => field_name(base, i, &report.explanations[i].target_name),
    }
}

/// The name of the per-point field `base` (`importance`, `point_importance`) for the `i`-th
/// explained class: `base` for the first, `base_<class>` (lower case, other than ASCII letters and
/// digits replaced by `_`) for the others. Readers of explained files (the viewer) use it too.
pub fn field_name(base: &str, i: usize, class_name: &str) -> String {
    if i == 0 {
        base.to_string()
    } else {
        format!("{base}_{}", sanitize(class_name))
    }
}
