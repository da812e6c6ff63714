//! Issue #15, item 8: burn's wgpu backend gives the flex backend's logits, for both shipped DALES
//! models, on the DALES test objects (real data) and on fixed clouds (no data needed). Built only
//! with `--features wgpu`; `.ci/run` runs it on Mesa's software Vulkan driver (lavapipe).
#![cfg(feature = "wgpu")]

use std::path::Path;

use pointlime::classifier::{Classifier, Output};
use pointlime::model::{Backend, PointNetClassifier};

use crate::real_data::{dales_test_clouds, data_dir};

/// The largest logit difference between the two backends on `clouds`, for each shipped model.
fn worst_difference(clouds: &[Vec<[f32; 3]>]) -> Vec<(String, f32)> {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    ["default", "tnet"]
        .iter()
        .map(|name| {
            let (flex, wgpu) = (
                PointNetClassifier::load(&models.join(name), Backend::Flex).unwrap(),
                PointNetClassifier::load(&models.join(name), Backend::Wgpu).unwrap(),
            );
            let n = flex.input_points();
            let refs: Vec<&[[f32; 3]]> = clouds.iter().map(|c| &c[..n.min(c.len())]).collect();
            let mut worst = 0.0f32;
            // Clouds of one size per call, in batches of 32 as the explainers give them.
            for batch in refs.chunks(32) {
                let a = flex.predict(batch, Output::Logit).unwrap();
                let b = wgpu.predict(batch, Output::Logit).unwrap();
                for (x, y) in a.iter().zip(&b) {
                    worst = worst.max((x - y).abs() / (1.0 + x.abs()));
                }
            }
            (name.to_string(), worst)
        })
        .collect()
}

#[test]
fn wgpu_gives_flex_logits_on_fixed_clouds() {
    let clouds: Vec<Vec<[f32; 3]>> = (0..40)
        .map(|i| {
            (0..1024)
                .map(|j| {
                    let t = (j as f32 + 0.5) / 1024.0;
                    let a = t * (20.0 + i as f32);
                    [a.cos() * t, a.sin() * t, 2.0 * t - 1.0]
                })
                .collect()
        })
        .collect();
    for (model, worst) in worst_difference(&clouds) {
        assert!(worst < 1e-3, "{model}: logits differ by {worst}");
    }
}

#[test]
fn wgpu_gives_flex_logits_on_the_dales_test_objects() {
    let Some(data) = data_dir() else { return };
    // Both shipped DALES models use the metric frame of 10 m per unit.
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let frame = PointNetClassifier::load(&models.join("default"), Backend::Flex)
        .unwrap()
        .normalisation();
    let clouds = dales_test_clouds(&data, frame);
    assert_eq!(clouds.len(), 100);
    for (model, worst) in worst_difference(&clouds) {
        eprintln!("{model}: largest logit difference, wgpu against flex, {worst:.2e}");
        assert!(worst < 1e-3, "{model}: logits differ by {worst}");
    }
}
