//! Labelled scans read for training and evaluation: model-frame points, supervoxels for
//! dropout, and each point's class for a segmentation network.

use std::path::Path;

use rayon::prelude::*;

use super::{csv_error, Dataset, Item};
use crate::channels::{ChannelTable, Channels};
use crate::cloud::{Frame, Normalisation};
use crate::error::{Error, Result};
use crate::labels::LabelMap;
use crate::segment::{supervoxels, Granularity, SegmentConfig};

/// One object ready for training or evaluation: model-frame points (at most
/// [`MAX_PREPARED_POINTS`]) and, for supervoxel dropout, their supervoxel labels.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub points: Vec<[f32; 3]>,
    pub labels: Vec<u32>,
    pub n_segments: usize,
    pub class: usize,
    /// For a segmentation network, each point's class ([`UNLABELLED`](crate::labels::UNLABELLED)
    /// for a value its label map leaves out); empty otherwise.
    pub point_classes: Vec<u8>,
    /// Each point's extra channels, row-major `[points × width]`, for a model that reads them
    /// ([`Channels`]); empty otherwise. Computed on the whole scan, as `explain` computes them.
    pub channels: Vec<f32>,
}

impl Prepared {
    /// The extra channels of `points`, by position, for [`Classifier::with_channels`]
    /// ([`crate::classifier::Classifier`]); `None` when there are none.
    pub fn channel_table(&self) -> Option<ChannelTable> {
        let width = self.channels.len() / self.points.len().max(1);
        (width > 0).then(|| ChannelTable::new(&self.points, self.channels.clone(), width))
    }
}

/// Objects keep at most this many points in memory: 8× a 1024-point network input is plenty of
/// variety for resampling, and it bounds memory for large scans.
pub const MAX_PREPARED_POINTS: usize = 8192;

/// Reads, validates and normalises items in parallel (order kept); with `segments`, also cuts each
/// into that many supervoxels for supervoxel dropout.
///
/// # Errors
/// The first item that fails to read or validate.
pub fn prepare(
    items: &[&Item],
    normalisation: Normalisation,
    segments: Option<usize>,
    seed: u64,
    channels: Channels,
) -> Result<Vec<Prepared>> {
    prepare_labelled(items, normalisation, segments, seed, None, channels)
}

/// [`prepare`], with each point's class for a segmentation network: from the item's own label
/// map (the manifest's `labels` column), else from `default`. With neither, no classes.
///
/// # Errors
/// As [`prepare`]; [`Error::Format`] naming the scan for a label map that does not parse, names
/// other classes than `default`, or reads a field the scan lacks.
pub fn prepare_labelled(
    items: &[&Item],
    normalisation: Normalisation,
    segments: Option<usize>,
    seed: u64,
    default: Option<&LabelMap>,
    channels: Channels,
) -> Result<Vec<Prepared>> {
    items
        .par_iter()
        .map(|item| {
            let mut cloud = item.read()?;
            cloud.validate(&item.path, true)?;
            let frame = Frame::fit(&cloud.positions, normalisation);
            let idx = crate::cloud::sample_indices(
                cloud.len(),
                cloud.len().min(MAX_PREPARED_POINTS),
                seed,
            );
            let points: Vec<[f32; 3]> = idx
                .iter()
                .map(|&i| frame.to_model(&cloud.positions[i as usize]))
                .collect();
            let extra = channels
                .of(&cloud, &frame, &idx, &points)
                .map_err(|e| e.in_file(&item.path))?;
            let point_classes = match item_labels(item, default)? {
                Some(map) => {
                    let classes = map.classes(&cloud).map_err(|e| match e {
                        Error::Scan(m) => Error::format(&item.path, m),
                        other => other,
                    })?;
                    idx.iter().map(|&i| classes[i as usize]).collect()
                }
                None => Vec::new(),
            };
            let (labels, n_segments) = match segments {
                Some(k) => {
                    let config = SegmentConfig {
                        target: Granularity::Count(k),
                        seed,
                        ..Default::default()
                    };
                    let s = supervoxels(&points, &config)?;
                    (s.labels, s.count)
                }
                None => (Vec::new(), 0),
            };
            Ok(Prepared {
                points,
                labels,
                n_segments,
                class: item.class,
                point_classes,
                channels: extra,
            })
        })
        .collect()
}

/// Permutes the objects' classes among them (seeded): the data-randomisation sanity check of
/// Adebayo et al. ("Sanity Checks for Saliency Maps", 2018) trains on labels that no longer say
/// anything about the scans. Each class keeps its count, so class weighting is unchanged.
pub fn shuffle_classes(set: &mut [Prepared], seed: u64) {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    let mut classes: Vec<usize> = set.iter().map(|o| o.class).collect();
    classes.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(
        seed ^ 0x054a_ff1e,
    ));
    for (o, c) in set.iter_mut().zip(classes) {
        o.class = c;
    }
}

/// The label map of `item`: its own, else `default`; one that names other classes than
/// `default` is refused.
fn item_labels(item: &Item, default: Option<&LabelMap>) -> Result<Option<LabelMap>> {
    let Some(own) = &item.labels else {
        return Ok(default.cloned());
    };
    let map: LabelMap = own
        .parse()
        .map_err(|e: String| Error::format(&item.path, e))?;
    if let Some(d) = default.filter(|d| d.class_names() != map.class_names()) {
        return Err(Error::format(
            &item.path,
            format!(
                "its labels name the classes {} where the others name {}",
                map.class_names().join(", "),
                d.class_names().join(", ")
            ),
        ));
    }
    Ok(Some(map))
}

/// `template` filled in for every row of an index CSV: each `{COLUMN}` replaced by that row's
/// value of the column (`column_3:stem={stem_label};other=*`). Rows in the index's order, as
/// [`Dataset::from_index`] lists them.
///
/// # Errors
/// [`Error::Format`] naming the index for a column it does not have or an unclosed `{`.
pub fn fill_template(template: &str, index: &Path) -> Result<Vec<String>> {
    let mut parts = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').ok_or_else(|| {
            Error::format(
                index,
                format!("the template {template:?} has an unclosed {{"),
            )
        })?;
        parts.push((
            rest[..open].to_string(),
            Some(rest[open + 1..open + close].to_string()),
        ));
        rest = &rest[open + close + 1..];
    }
    parts.push((rest.to_string(), None));
    let columns: Vec<Option<Vec<String>>> = parts
        .iter()
        .map(|(_, c)| {
            c.as_deref()
                .map(|c| Dataset::index_column(index, c))
                .transpose()
        })
        .collect::<Result<_>>()?;
    let rows = columns.iter().flatten().map(Vec::len).next().unwrap_or(0);
    let rows = if rows == 0 {
        Dataset::index_column(index, &header_first(index)?)?.len()
    } else {
        rows
    };
    Ok((0..rows)
        .map(|r| {
            parts
                .iter()
                .zip(&columns)
                .map(|((text, _), column)| {
                    let value = column.as_ref().map_or("", |c| c[r].as_str());
                    format!("{text}{value}")
                })
                .collect()
        })
        .collect())
}

/// The index's first column name.
fn header_first(index: &Path) -> Result<String> {
    let mut reader = csv::Reader::from_path(index).map_err(|e| csv_error(index, e))?;
    let headers = reader.headers().map_err(|e| csv_error(index, e))?;
    Ok(headers.get(0).unwrap_or_default().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objects(classes: &[usize]) -> Vec<Prepared> {
        classes
            .iter()
            .map(|&class| Prepared {
                points: vec![[0.0; 3]],
                labels: Vec::new(),
                n_segments: 0,
                class,
                point_classes: Vec::new(),
                channels: Vec::new(),
            })
            .collect()
    }

    #[test]
    fn shuffled_classes_keep_their_counts_and_follow_the_seed() {
        let truth: Vec<usize> = (0..100).map(|i| i % 5).collect();
        let classes = |seed| {
            let mut set = objects(&truth);
            shuffle_classes(&mut set, seed);
            set.iter().map(|o| o.class).collect::<Vec<_>>()
        };
        let a = classes(0);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        let mut want = truth.clone();
        want.sort_unstable();
        assert_eq!(sorted, want);
        assert_eq!(a, classes(0));
        assert_ne!(a, classes(1));
        // A permutation of five balanced classes keeps about a fifth in place, not most.
        let kept = a.iter().zip(&truth).filter(|(x, y)| x == y).count();
        assert!(kept < 40, "{kept} of 100 kept their class");
    }
}
