//! The window rule: a model trained on windows of LiDAR tiles explains a larger scan in one window
//! of its own size, placed around the regions asked about.
//!
//! A network of N points reads a 16 m window at one density and a 150 m tile at a hundredth of
//! it, with every building a few points: its answer on the tile is not the answer it was trained
//! to give. So a scan wider than the model's window (in x or y, LiDAR's horizontal plane) is cut
//! to the square window of the model's side, at every height, centred on the regions that say
//! where they are (`point=I`, `box=…`, `sphere=…`). Regions that say what and not where
//! (`class=C`, `label=…`) are found inside that window. A scan no wider than the window is read
//! whole, as it was trained. An explicit `--crop` replaces the rule.

use std::borrow::Cow;

use crate::classifier::Classifier;
use crate::cloud::PointCloud;
use crate::dataset::Window;
use crate::error::{Error, Result};
use crate::scene::Crop;

use super::config::ExplainConfig;
use super::region::RegionSpec;

/// `config` with its crop set to the window `classifier` reads of `cloud` (see the module), or
/// unchanged when the model reads whole scans, the scan fits one window, or a crop is given.
///
/// # Errors
/// [`Error::Scan`] (which the caller names the file in) when the scan is wider than the window
/// and no region says where to look, when the located regions span more than one window, and for
/// a point index past the scan's end.
pub(super) fn windowed<'a>(
    cloud: &PointCloud,
    classifier: &dyn Classifier,
    config: &'a ExplainConfig,
) -> Result<Cow<'a, ExplainConfig>> {
    let (Some(size), None, Some((min, max))) =
        (classifier.window(), config.scene.crop, cloud.bounds())
    else {
        return Ok(Cow::Borrowed(config));
    };
    let (width, depth) = (max[0] - min[0], max[1] - min[1]);
    if width.max(depth) <= size {
        return Ok(Cow::Borrowed(config));
    }
    let unplaced = || {
        Error::Scan(format!(
            "the scan spans {width:.0} × {depth:.0} m and the model reads windows of {size} m: \
             say where to look with --point I, --region box=… or --region sphere=… (class= and \
             label= regions are then found inside that window), or --crop a window yourself"
        ))
    };
    let mut lo = [f64::INFINITY; 2];
    let mut hi = [f64::NEG_INFINITY; 2];
    for spec in &config.regions.regions {
        let (a, b) = match spec {
            RegionSpec::Box { min, max } => (*min, *max),
            RegionSpec::Sphere { centre, radius } => {
                (centre.map(|c| c - radius), centre.map(|c| c + radius))
            }
            RegionSpec::Point(i) => {
                let p = *cloud.positions.get(*i).ok_or_else(|| {
                    Error::Scan(format!(
                        "region {spec}: the scan has {} points (indices from 0)",
                        cloud.len()
                    ))
                })?;
                (p, p)
            }
            RegionSpec::Class(_) | RegionSpec::Label { .. } => continue,
        };
        for k in 0..2 {
            lo[k] = lo[k].min(a[k]);
            hi[k] = hi[k].max(b[k]);
        }
    }
    if !lo[0].is_finite() {
        return Err(unplaced());
    }
    let span = (hi[0] - lo[0]).max(hi[1] - lo[1]);
    if span > size {
        return Err(Error::Scan(format!(
            "the located regions span {span:.1} m and the model reads windows of {size} m: \
             explain them one window at a time"
        )));
    }
    let w = Window::centred([(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0], size);
    let mut config = config.clone();
    config.scene.crop = Some(Crop::Box {
        min: [w.min[0], w.min[1], min[2]],
        max: [w.max[0], w.max[1], max[2]],
    });
    Ok(Cow::Owned(config))
}
