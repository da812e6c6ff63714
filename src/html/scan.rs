//! One scan's 3D view packed for the page: the points decimated to a budget (stratified by
//! segment, so every segment stays visible), positions quantised to 16 bits per axis, each
//! explained class's values to 8 bits, and a JSON header. `page.js` (`decode`) reads this layout:
//!
//! | bytes | what |
//! |---|---|
//! | 6 n | positions, u16 × 3 per point: `(u / 65535 × 2 − 1) × half` in the viewer's z-up frame |
//! | 2 n | segment per point: an index into the scan's segment table, 65535 for none |
//! | n per class | importance, i8: `round(127 v / range)`, −128 for no value |
//! | n per class with point values | the gradient methods' own value per point, the same way |
//! | n (per-point models) | the predicted class per point, 255 for a removed point |
//! | 3 per segment | the segment's colour (the viewer's categorical map), sRGB bytes |
//!
//! All little-endian. Eight bits of a value are the 256 steps of the colour table the page draws
//! with, so quantising loses nothing that is shown.

use rand::seq::index;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::colour::{categorical, class_colour};
use crate::pipeline::{NO_CLASS, NO_SEGMENT};
use crate::view::ExplainedScan;

/// Points of every segment kept however small the budget, so that no segment disappears.
pub const SEGMENT_FLOOR: usize = 16;

/// Bytes per shown point before base64: position, segment, and one per class value.
pub fn bytes_per_point(scan: &ExplainedScan) -> usize {
    let values: usize = scan
        .classes
        .iter()
        .map(|c| 1 + usize::from(c.point_importance.is_some()))
        .sum();
    6 + 2 + values + usize::from(scan.predicted.is_some())
}

#[derive(Debug, Serialize)]
pub struct Header {
    /// The scan's path as the table shows it.
    pub path: String,
    /// Points shown.
    pub n: usize,
    /// Points in the file.
    pub total: usize,
    /// Half the extent of the positions on each axis.
    pub half: [f32; 3],
    /// Segments in the table.
    pub nseg: usize,
    pub classes: Vec<ClassHeader>,
    pub predicted: Option<Predicted>,
}

#[derive(Debug, Serialize)]
pub struct ClassHeader {
    pub name: String,
    pub probability: Option<f32>,
    pub r2: Option<f64>,
    pub method: Option<String>,
    /// The value shown at full colour: the largest |importance| (the viewer's symmetric range).
    pub range: f32,
    /// The same for the point values, when the method has them.
    pub point_range: Option<f32>,
    /// Sufficient sets (`--method sag`), as indices into the segment table.
    pub sets: Vec<Vec<u16>>,
    /// Each set's probability of the class with only its segments kept.
    pub set_probabilities: Vec<f64>,
    /// False when the competence check flagged the scan.
    pub trusted: bool,
}

#[derive(Debug, Serialize)]
pub struct Predicted {
    pub names: Vec<String>,
    /// Each class's colour as the viewer draws it, `rrggbb`.
    pub colours: Vec<String>,
}

/// A packed scan.
pub struct Packed {
    pub header: Header,
    pub bytes: Vec<u8>,
}

/// The largest finite |value|, 1 when there is none (the viewer's `symmetric_range`).
fn range(values: &[f32]) -> f32 {
    let m = values
        .iter()
        .filter(|v| v.is_finite())
        .fold(0.0f32, |m, v| m.max(v.abs()));
    if m > 0.0 {
        m
    } else {
        1.0
    }
}

fn quantise(v: f32, range: f32) -> i8 {
    if v.is_finite() {
        (127.0 * v / range).round().clamp(-127.0, 127.0) as i8
    } else {
        -128
    }
}

pub fn hex(c: [f32; 3]) -> String {
    c.iter()
        .map(|v| format!("{:02x}", (v.clamp(0.0, 1.0) * 255.0).round() as u8))
        .collect()
}

/// The points shown for a budget: all of them when they fit; else, per segment, its share of the
/// budget but at least [`SEGMENT_FLOOR`] points (or all it has), drawn at random with a fixed
/// seed, in file order. Without segments, a plain random draw.
pub fn keep(segments: Option<&[u32]>, n: usize, budget: usize) -> Vec<usize> {
    if n <= budget {
        return (0..n).collect();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut kept = match segments {
        None => index::sample(&mut rng, n, budget).into_vec(),
        Some(segments) => {
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_by_key(|&i| segments[i]);
            let mut kept = Vec::with_capacity(budget + SEGMENT_FLOOR * 64);
            for group in order.chunk_by(|&a, &b| segments[a] == segments[b]) {
                let share = (group.len() as f64 * budget as f64 / n as f64).round() as usize;
                let quota = share.max(SEGMENT_FLOOR).min(group.len());
                kept.extend(
                    index::sample(&mut rng, group.len(), quota)
                        .into_iter()
                        .map(|j| group[j]),
                );
            }
            kept
        }
    };
    kept.sort_unstable();
    kept
}

/// Packs `scan` with at most about `budget` points (see [`keep`]).
pub fn pack(scan: &ExplainedScan, path: &str, budget: usize) -> Packed {
    let total = scan.positions.len();
    let kept = keep(scan.segments.as_deref(), total, budget.max(1));
    let n = kept.len();

    let mut half = [0.0f32; 3];
    for p in &scan.positions {
        for a in 0..3 {
            half[a] = half[a].max(p[a].abs());
        }
    }
    let half = half.map(|h| h.max(1e-6));

    // The segment table: every segment of the scan, by id.
    let mut ids: Vec<u32> = scan
        .segments
        .iter()
        .flatten()
        .copied()
        .filter(|&s| s != NO_SEGMENT)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    // 65535 marks "none": a scan with more segments shows the rest without a segment colour.
    ids.truncate(u16::MAX as usize);
    let local = |id: u32| -> u16 { ids.binary_search(&id).map_or(u16::MAX, |i| i as u16) };

    let mut bytes = Vec::with_capacity(n * bytes_per_point(scan) + 3 * ids.len());
    for &i in &kept {
        for (v, h) in scan.positions[i].iter().zip(&half) {
            let u = ((v / h + 1.0) * 0.5 * 65535.0).round();
            bytes.extend_from_slice(&(u.clamp(0.0, 65535.0) as u16).to_le_bytes());
        }
    }
    for &i in &kept {
        let s = scan.segments.as_ref().map_or(u16::MAX, |s| local(s[i]));
        bytes.extend_from_slice(&s.to_le_bytes());
    }
    let mut classes = Vec::with_capacity(scan.classes.len());
    for c in &scan.classes {
        let r = range(&c.importance);
        bytes.extend(kept.iter().map(|&i| quantise(c.importance[i], r) as u8));
        let point_range = c.point_importance.as_ref().map(|p| {
            let r = range(p);
            bytes.extend(kept.iter().map(|&i| quantise(p[i], r) as u8));
            r
        });
        let sets = c.structure.as_ref().map_or_else(Vec::new, |s| {
            s.sets
                .iter()
                .map(|set| set.segments.iter().map(|&id| local(id as u32)).collect())
                .collect()
        });
        let set_probabilities = c.structure.as_ref().map_or_else(Vec::new, |s| {
            s.sets.iter().map(|set| set.probability).collect()
        });
        classes.push(ClassHeader {
            name: c.name.clone(),
            probability: c.probability,
            r2: c.r2,
            method: c.method.clone(),
            range: r,
            point_range,
            sets,
            set_probabilities,
            trusted: c.trusted,
        });
    }
    let names = scan
        .report
        .as_ref()
        .map_or(&[][..], |r| r.class_names.as_slice());
    let predicted = scan
        .predicted
        .as_ref()
        .filter(|_| names.len() < 255)
        .map(|p| {
            bytes.extend(kept.iter().map(|&i| {
                if p[i] == NO_CLASS || p[i] as usize >= names.len() {
                    255
                } else {
                    p[i] as u8
                }
            }));
            Predicted {
                names: names.to_vec(),
                colours: (0..names.len())
                    .map(|k| hex(class_colour(names, k)))
                    .collect(),
            }
        });
    for &id in &ids {
        bytes.extend(categorical(id).map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8));
    }
    Packed {
        header: Header {
            path: path.to_string(),
            n,
            total,
            half,
            nseg: ids.len(),
            classes,
            predicted,
        },
        bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_segment_keeps_points_and_the_budget_is_about_kept() {
        // One big segment and nine of 20 points: a budget of 1% of 100,180 points.
        let mut segments = vec![0u32; 100_000];
        for s in 1..10 {
            segments.extend(std::iter::repeat_n(s, 20));
        }
        let n = segments.len();
        let kept = keep(Some(&segments), n, 1_000);
        for s in 0..10 {
            let count = kept.iter().filter(|&&i| segments[i] == s).count();
            assert!(count >= SEGMENT_FLOOR, "segment {s}: {count}");
        }
        assert!(
            (1_000..=1_000 + 9 * SEGMENT_FLOOR).contains(&kept.len()),
            "{}",
            kept.len()
        );
        assert!(kept.windows(2).all(|w| w[0] < w[1]), "not in file order");
        // The same draw every time; everything when it fits.
        assert_eq!(kept, keep(Some(&segments), n, 1_000));
        assert_eq!(keep(Some(&segments), n, n), (0..n).collect::<Vec<_>>());
        assert_eq!(keep(None, 5_000, 100).len(), 100);
    }

    #[test]
    fn values_quantise_to_the_colour_steps_and_nan_to_no_value() {
        assert_eq!(quantise(0.5, 0.5), 127);
        assert_eq!(quantise(-0.5, 0.5), -127);
        assert_eq!(quantise(0.0, 0.5), 0);
        assert_eq!(quantise(f32::NAN, 0.5), -128);
        assert_eq!(range(&[f32::NAN, -2.0, 1.0]), 2.0);
        assert_eq!(range(&[0.0]), 1.0);
        assert_eq!(hex([1.0, 0.0, 0.5]), "ff0080");
    }
}
