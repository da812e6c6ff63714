//! Windows of a large scan: a LiDAR tile cut into square columns of fixed size, so that a network
//! of fixed point count reads every part of a tile at the density and scale it was trained on,
//! whatever the tile's size.

use std::fmt;
use std::path::Path;

use crate::cloud::PointCloud;
use crate::error::{Error, Result};

/// A horizontal window of a scan, in file coordinates: every point whose x and y lie in
/// `[min, max)`, at any height.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    /// The corner of lowest x and y.
    pub min: [f64; 2],
    /// The corner of highest x and y (excluded).
    pub max: [f64; 2],
}

/// Windows with fewer points than this are left out of a tiling: too sparse to train on, and
/// below what explaining a scan asks for.
pub const MIN_WINDOW_POINTS: usize = 512;

impl Window {
    /// The square window of side `size` centred on `(x, y)`.
    pub fn centred(centre: [f64; 2], size: f64) -> Window {
        let h = size / 2.0;
        Window {
            min: [centre[0] - h, centre[1] - h],
            max: [centre[0] + h, centre[1] + h],
        }
    }

    /// Whether the point's x and y lie inside.
    pub fn contains(&self, p: &[f64; 3]) -> bool {
        (0..2).all(|a| p[a] >= self.min[a] && p[a] < self.max[a])
    }

    /// The longer side.
    pub fn size(&self) -> f64 {
        (self.max[0] - self.min[0]).max(self.max[1] - self.min[1])
    }

    /// Windows of side `size` over the horizontal extent `min..=max`, laid `stride` apart along
    /// each axis and spread evenly so that the first starts at `min` and the last ends at `max`
    /// (they overlap by at least `size - stride`). With `stride >= size` the extent is instead
    /// partitioned into the fewest equal windows no larger than `size`, so that each point lies
    /// in exactly one: the layout for a test split, where each point is scored once. An extent
    /// smaller than `size` is one window.
    pub fn tiles(min: [f64; 2], max: [f64; 2], size: f64, stride: f64) -> Vec<Window> {
        let starts = |a: usize| -> Vec<(f64, f64)> {
            let extent = max[a] - min[a];
            // Half-open windows: the last one reaches just past `max` so that `max` is inside.
            let end = max[a] + extent.abs().max(1.0) * 1e-9;
            if stride >= size {
                let n = (extent / size).ceil().max(1.0) as usize;
                let side = (end - min[a]) / n as f64;
                (0..n)
                    .map(|k| (min[a] + k as f64 * side, min[a] + (k + 1) as f64 * side))
                    .map(|(lo, hi)| (lo, if hi > max[a] { end } else { hi }))
                    .collect()
            } else if extent <= size {
                vec![(min[a], end)]
            } else {
                let n = ((extent - size) / stride).ceil() as usize + 1;
                let step = (extent - size) / (n - 1) as f64;
                (0..n)
                    .map(|k| {
                        let lo = min[a] + k as f64 * step;
                        (lo, if k + 1 == n { end } else { lo + size })
                    })
                    .collect()
            }
        };
        let (xs, ys) = (starts(0), starts(1));
        ys.iter()
            .flat_map(|&(y0, y1)| {
                xs.iter().map(move |&(x0, x1)| Window {
                    min: [x0, y0],
                    max: [x1, y1],
                })
            })
            .collect()
    }

    /// `cloud` cut to this window, every attribute with it.
    ///
    /// # Errors
    /// [`Error::Format`] naming `path` when the window holds no point.
    pub fn cut(&self, mut cloud: PointCloud, path: &Path) -> Result<PointCloud> {
        let keep: Vec<bool> = cloud.positions.iter().map(|p| self.contains(p)).collect();
        if !keep.contains(&true) {
            return Err(Error::format(path, format!("window {self} holds no point")));
        }
        cloud.retain_points(&keep);
        Ok(cloud)
    }
}

/// `X0 Y0 X1 Y1`, separated by spaces (a manifest's columns are separated by commas).
impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {}",
            self.min[0], self.min[1], self.max[0], self.max[1]
        )
    }
}

impl std::str::FromStr for Window {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Window, String> {
        let v: Vec<f64> = s
            .split_whitespace()
            .map(str::parse)
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| format!("window {s:?}: expected four numbers X0 Y0 X1 Y1"))?;
        match v[..] {
            [x0, y0, x1, y1] if x0 < x1 && y0 < y1 && v.iter().all(|x| x.is_finite()) => {
                Ok(Window {
                    min: [x0, y0],
                    max: [x1, y1],
                })
            }
            _ => Err(format!(
                "window {s:?}: expected four finite numbers X0 Y0 X1 Y1 with X0 < X1 and Y0 < Y1"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count_containing(windows: &[Window], p: [f64; 3]) -> usize {
        windows.iter().filter(|w| w.contains(&p)).count()
    }

    #[test]
    fn a_partition_holds_every_point_once_and_no_window_is_larger_than_asked() {
        let w = Window::tiles([0.0, 10.0], [50.0, 35.0], 16.0, 16.0);
        // 50 m in 4 windows of 12.5 m, 25 m in 2 of 12.5 m.
        assert_eq!(w.len(), 8);
        assert!(w.iter().all(|w| w.size() <= 16.0));
        for x in [0.0, 12.4999, 12.5, 33.3, 49.9999, 50.0] {
            for y in [10.0, 22.5, 34.9, 35.0] {
                assert_eq!(count_containing(&w, [x, y, 0.0]), 1, "{x} {y}");
            }
        }
        assert_eq!(count_containing(&w, [50.1, 20.0, 0.0]), 0);
    }

    #[test]
    fn overlapping_tiles_reach_both_ends_at_the_stride_asked_or_closer() {
        let w = Window::tiles([0.0, 0.0], [50.0, 10.0], 16.0, 8.0);
        // x: (50 - 16) / 8 = 4.25, so 6 windows 6.8 m apart; y: smaller than a window, one.
        assert_eq!(w.len(), 6);
        assert_eq!(w[0].min, [0.0, 0.0]);
        assert!((w[5].min[0] - 34.0).abs() < 1e-9);
        assert!(w.iter().all(|w| w.max[1] > 10.0));
        for x in [0.0, 7.0, 25.0, 50.0] {
            assert!(count_containing(&w, [x, 5.0, 0.0]) >= 1, "{x}");
        }
    }

    #[test]
    fn a_window_reads_back_as_written_and_refuses_what_is_not_one() {
        let w = Window::centred([770_575.25, 6_277_550.5], 16.0);
        assert_eq!(w.to_string().parse::<Window>().unwrap(), w);
        assert!("1 2 3".parse::<Window>().is_err());
        assert!("3 0 1 1".parse::<Window>().is_err());
        assert!("0 0 nan 1".parse::<Window>().is_err());
    }
}
