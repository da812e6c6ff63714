//! Competence statistics fitted on a dataset: every training scan read and drawn as `explain` draws
//! its network input, its feature and shape recorded, and the [`Domain`] fitted on them. The
//! statistics themselves, and the check of one scan against them, are the lower `domain` module's
//! (re-exported here), so that classifiers and the pipeline use them without importing this one.

use rayon::prelude::*;

pub use crate::domain::{
    format_score, read_domain, shape, warning, Check, Competence, Domain, FitConfig, Gaussian,
    SHAPE_DIM,
};

use crate::classifier::Classifier;
use crate::dataset::Item;
use crate::error::{Error, Result};
use crate::pipeline::{network_input_channels, reading, ExplainConfig};

/// The classifier's features and the [`shape`]s of dataset scans, each read and drawn as
/// `explain` draws its network input under `config` (no scene steps unless `config` has them),
/// row-major `[items.len() × width]` and `[items.len() × SHAPE_DIM]`; `None` for a classifier
/// without a feature.
///
/// # Errors
/// The first scan that fails to read, validate or classify.
pub fn describe(
    classifier: &dyn Classifier,
    items: &[&Item],
    config: &ExplainConfig,
) -> Result<Option<(Vec<f32>, Vec<f32>)>> {
    describe_inputs(classifier, network_inputs(classifier, items, config)?)
}

/// [`describe`] on inputs already read.
fn describe_inputs(
    classifier: &dyn Classifier,
    read: Vec<NetworkInput>,
) -> Result<Option<(Vec<f32>, Vec<f32>)>> {
    let shapes: Vec<f32> = read
        .par_iter()
        .flat_map_iter(|(p, _)| shape(p, classifier.up()))
        .collect();
    let mut features = Vec::new();
    // A classifier that reads each scan's channels reads them one scan at a time.
    if classifier.channels().extra() > 0 {
        for (points, channels) in &read {
            match reading(classifier, points, channels).embed(&[points]) {
                Some(f) => features.extend(f?),
                None => return Ok(None),
            }
        }
        return Ok(Some((features, shapes)));
    }
    let inputs: Vec<Vec<[f32; 3]>> = read.into_iter().map(|(p, _)| p).collect();
    // Clouds of one size go through the network together; every input has the model's size
    // unless a scan is smaller.
    for run in inputs.chunk_by(|a, b| a.len() == b.len()) {
        for batch in run.chunks(32) {
            let refs: Vec<&[[f32; 3]]> = batch.iter().map(Vec::as_slice).collect();
            match classifier.embed(&refs) {
                Some(f) => features.extend(f?),
                None => return Ok(None),
            }
        }
    }
    Ok(Some((features, shapes)))
}

/// A scan's network input points and their channels, row-major.
type NetworkInput = (Vec<[f32; 3]>, Vec<f32>);

/// Each scan's network input and its channels, drawn as `explain` draws them.
fn network_inputs(
    classifier: &dyn Classifier,
    items: &[&Item],
    config: &ExplainConfig,
) -> Result<Vec<NetworkInput>> {
    items
        .par_iter()
        .map(|item| {
            let mut cloud = item.read()?;
            cloud.validate(&item.path, config.drop_invalid)?;
            network_input_channels(&cloud, classifier, config).map_err(|e| e.in_file(&item.path))
        })
        .collect()
}

/// The class of each scan the statistics are conditioned on: the dataset's, or for a per-point
/// model (whose classes are not the dataset's) the class with the highest mean probability over
/// the scan's points, the class most of its points get.
fn scan_classes(
    classifier: &dyn Classifier,
    items: &[&Item],
    read: &[NetworkInput],
) -> Result<Vec<usize>> {
    if classifier.per_point().is_none() {
        return Ok(items.iter().map(|i| i.class).collect());
    }
    read.par_iter()
        .map(|(points, channels)| {
            let p = reading(classifier, points, channels)
                .predict(&[points], crate::classifier::Output::Probability)?;
            Ok(crate::stats::ranking(&p)[0])
        })
        .collect()
}

/// Fits a classifier's [`Domain`] on its training scans (see [`describe`] and [`Domain::fit`]);
/// `data` names them in the statistics.
///
/// # Errors
/// As [`describe`] and [`Domain::fit`]; [`Error::Config`] for a classifier without a feature.
pub fn fit_items(
    classifier: &dyn Classifier,
    items: &[&Item],
    config: &ExplainConfig,
    fit: FitConfig,
    data: String,
) -> Result<Domain> {
    let read = network_inputs(classifier, items, config)?;
    let classes = scan_classes(classifier, items, &read)?;
    let (features, shapes) = describe_inputs(classifier, read)?.ok_or_else(|| {
        Error::Config("the model gives no feature to record competence statistics of".into())
    })?;
    let groups: Vec<Option<String>> = items.iter().map(|i| i.group.clone()).collect();
    Domain::fit(
        &features,
        &shapes,
        &classes,
        &groups,
        classifier.class_names(),
        fit,
        data,
    )
}
