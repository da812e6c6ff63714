//! Fixtures: seeded synthetic clouds and analytic classifiers with known answers.

use pointlime::classifier::{Classifier, Output};
use pointlime::cloud::{FileFormat, PointCloud};
use pointlime::explain::{Attribution, Config, Input, Targets};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `k` spherical blobs of `per_blob` points, centres `spacing` apart along x: a cloud whose natural
/// supervoxels are the blobs.
pub fn blobs(k: usize, per_blob: usize, spacing: f64, seed: u64) -> (PointCloud, Vec<[f64; 3]>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let centres: Vec<[f64; 3]> = (0..k).map(|i| [i as f64 * spacing, 0.0, 0.0]).collect();
    let mut pts = Vec::new();
    for c in &centres {
        for _ in 0..per_blob {
            let d: [f64; 3] = std::array::from_fn(|_| rng.random_range(-0.5..0.5));
            pts.push([c[0] + d[0], c[1] + d[1], c[2] + d[2]]);
        }
    }
    (PointCloud::from_positions(pts, FileFormat::Xyz), centres)
}

/// Scores class 0 as `bias + Σ weights[k]·[blob k present]` (a probability when it stays in [0, 1])
/// and class 1 as its complement: LIME on this classifier must recover `weights`.
///
/// A blob counts as present when any input point lies within `radius` of its centre, in the model
/// frame the classifier is given (`centres` must be in that frame).
pub struct Additive {
    pub names: Vec<String>,
    pub centres: Vec<[f32; 3]>,
    pub radius: f32,
    pub weights: Vec<f64>,
    pub bias: f64,
    pub points: usize,
}

impl Additive {
    pub fn present(&self, cloud: &[[f32; 3]]) -> Vec<bool> {
        self.centres
            .iter()
            .map(|c| {
                cloud.iter().any(|p| {
                    let d2 = (p[0] - c[0]).powi(2) + (p[1] - c[1]).powi(2) + (p[2] - c[2]).powi(2);
                    d2 <= self.radius * self.radius
                })
            })
            .collect()
    }
}

impl Classifier for Additive {
    fn class_names(&self) -> &[String] {
        &self.names
    }
    fn input_points(&self) -> usize {
        self.points
    }
    fn predict(&self, clouds: &[&[[f32; 3]]], _output: Output) -> pointlime::Result<Vec<f32>> {
        Ok(clouds
            .iter()
            .flat_map(|c| {
                let s = self.bias
                    + self
                        .present(c)
                        .iter()
                        .zip(&self.weights)
                        .map(|(&p, w)| if p { *w } else { 0.0 })
                        .sum::<f64>();
                [s as f32, 1.0 - s as f32]
            })
            .collect())
    }
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// The `pointlime` binary built for these tests.
pub fn bin() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_pointlime"))
}

/// Saves a small random PointNet (classes car and tree, 128 input points) to `dir`: fast enough to
/// explain many files in a test, real enough to exercise the whole pipeline.
pub fn tiny_model(dir: &std::path::Path) {
    use pointlime::model::{Backend, ModelConfig, PointNetClassifier, PointNetConfig};
    let net = PointNetConfig::new(2)
        .with_point_layers(vec![16, 32])
        .with_head_layers(vec![16]);
    let config = ModelConfig::new(net, vec!["car".into(), "tree".into()]).with_num_points(128);
    PointNetClassifier::new(config, Backend::Flex, 0)
        .unwrap()
        .save(dir)
        .unwrap();
}

/// Asserts that `run(batch_size)` gives the same explanations for batch sizes 1, 2, 7 and 64 and on
/// pools of 1 and 2 threads. `what` names the case in failure messages.
pub fn assert_batch_and_thread_invariant(what: &str, run: impl Fn(usize) -> Attribution + Sync) {
    let reference = run(64);
    for b in [1, 2, 7] {
        assert_eq!(
            run(b).explanations,
            reference.explanations,
            "{what}, batch size {b}"
        );
    }
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        assert_eq!(
            pool.install(|| run(7)).explanations,
            reference.explanations,
            "{what}, {threads} threads"
        );
    }
}

/// Explainer settings: the defaults with `change` applied.
pub fn settings(change: impl FnOnce(&mut Config)) -> Config {
    let mut config = Config::default();
    change(&mut config);
    config
}

/// LIME on model-frame `points` with segment `labels` in `0..k`.
pub fn lime_on(
    model: &dyn Classifier,
    points: &[[f32; 3]],
    labels: &[u32],
    k: usize,
    targets: &Targets,
    config: &Config,
) -> pointlime::Result<Attribution> {
    let input = Input::new(points, labels, k)?;
    pointlime::explain::lime::lime(model, &input, targets, config, None)
}

/// Runs the `pointlime` binary with `args` and returns its stdout, failing the test with its
/// stderr when it does not exit 0.
pub fn run_ok(args: &[&str]) -> String {
    let out = bin().args(args).output().expect("run pointlime");
    assert!(
        out.status.success(),
        "pointlime {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts that two score lists agree to `tol`, relative to `1 + |b|`.
pub fn assert_close(a: &[f32], b: &[f32], tol: f32, what: &str) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * (1.0 + y.abs()),
            "{what}: score {i}: {x} vs {y}"
        );
    }
}

/// Asserts that two JSON values are the same but for numbers, which may differ by `tol`
/// relative. For outputs written on another CPU: its matrix kernels (AVX2 against AVX-512, FMA
/// or not) sum in another order, so scores land a few units in the last place of an f32 apart.
pub fn assert_json_close(a: &serde_json::Value, b: &serde_json::Value, tol: f64, at: &str) {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!((x - y).abs() <= tol * (1.0 + y.abs()), "{at}: {x} vs {y}");
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{at}: lengths");
            for (i, (x, y)) in x.iter().zip(y).enumerate() {
                assert_json_close(x, y, tol, &format!("{at}[{i}]"));
            }
        }
        (Value::Object(x), Value::Object(y)) => {
            let keys = |o: &serde_json::Map<String, Value>| o.keys().cloned().collect::<Vec<_>>();
            assert_eq!(keys(x), keys(y), "{at}: keys");
            for (k, v) in x {
                assert_json_close(v, &y[k], tol, &format!("{at}.{k}"));
            }
        }
        _ => assert_eq!(a, b, "{at}"),
    }
}
