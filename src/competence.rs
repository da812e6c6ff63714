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
    describe_inputs(classifier, &network_inputs(classifier, items, config)?)
}

/// [`describe`] on inputs already read.
fn describe_inputs(
    classifier: &dyn Classifier,
    read: &[NetworkInput],
) -> Result<Option<(Vec<f32>, Vec<f32>)>> {
    let shapes: Vec<f32> = read
        .par_iter()
        .flat_map_iter(|(p, _)| shape(p, classifier.up()))
        .collect();
    let features = per_scan(classifier, read, |c, clouds| c.embed(clouds))?;
    Ok(features.map(|f| (f, shapes)))
}

/// `run` over every input, row-major: one scan at a time for a classifier that reads each scan's
/// channels, otherwise clouds of one size together (every input has the model's size unless a
/// scan is smaller), 32 at a time. `None` when `run` gives none.
fn per_scan(
    classifier: &dyn Classifier,
    read: &[NetworkInput],
    run: impl Fn(&dyn Classifier, &[&[[f32; 3]]]) -> Option<Result<Vec<f32>>>,
) -> Result<Option<Vec<f32>>> {
    let mut out = Vec::new();
    if classifier.channels().extra() > 0 {
        for (points, channels) in read {
            match run(
                &*reading(classifier, points, channels),
                &[points.as_slice()],
            ) {
                Some(f) => out.extend(f?),
                None => return Ok(None),
            }
        }
        return Ok(Some(out));
    }
    for run_of_size in read.chunk_by(|a, b| a.0.len() == b.0.len()) {
        for batch in run_of_size.chunks(32) {
            let refs: Vec<&[[f32; 3]]> = batch.iter().map(|(p, _)| p.as_slice()).collect();
            match run(classifier, &refs) {
                Some(f) => out.extend(f?),
                None => return Ok(None),
            }
        }
    }
    Ok(Some(out))
}

/// A scan's network input points and their channels, row-major.
pub type NetworkInput = (Vec<[f32; 3]>, Vec<f32>);

/// Each scan's network input and its channels, drawn as `explain` draws them.
fn network_inputs(
    classifier: &dyn Classifier,
    items: &[&Item],
    config: &ExplainConfig,
) -> Result<Vec<NetworkInput>> {
    read_inputs(classifier, items, config)
        .into_iter()
        .map(|r| r.map(|(input, _)| input))
        .collect()
}

/// Each scan read, validated and drawn as `explain` draws its network input, with the number of
/// points it holds (the input is drawn to the model's size whatever that is); one result per
/// scan (errors name the file), so that a caller can pass over the scans that do not read.
pub fn read_inputs(
    classifier: &dyn Classifier,
    items: &[&Item],
    config: &ExplainConfig,
) -> Vec<Result<(NetworkInput, usize)>> {
    items
        .par_iter()
        .map(|item| {
            let mut cloud = item.read()?;
            cloud.validate(&item.path, config.drop_invalid)?;
            let input = network_input_channels(&cloud, classifier, config)
                .map_err(|e| e.in_file(&item.path))?;
            Ok((input, cloud.len()))
        })
        .collect()
}

/// What the out-of-distribution measurement ([`crate::ood`]) reads of each scan, row-major:
/// the classifier's feature, the [`shape`] and the logits.
pub struct Evidence {
    pub features: Vec<f32>,
    pub shapes: Vec<f32>,
    pub logits: Vec<f32>,
}

/// The [`Evidence`] of network inputs; `None` for a classifier without a feature.
///
/// # Errors
/// The classifier's.
pub fn evidence(classifier: &dyn Classifier, read: &[NetworkInput]) -> Result<Option<Evidence>> {
    let Some((features, shapes)) = describe_inputs(classifier, read)? else {
        return Ok(None);
    };
    let logits = per_scan(classifier, read, |c, clouds| {
        Some(c.predict(clouds, crate::classifier::Output::Logit))
    })?
    .unwrap_or_default();
    Ok(Some(Evidence {
        features,
        shapes,
        logits,
    }))
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
    let (features, shapes) = describe_inputs(classifier, &read)?.ok_or_else(|| {
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
