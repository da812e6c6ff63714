//! Criterion benchmarks: segmentation ladder, readers, inference per backend, end-to-end explain.
//!
//! `cargo bench --bench pointlime` (add a filter such as `segment` to run one group).
//! `POINTLIME_BENCH_FILE=scan.laz` adds a reader benchmark on a real file (las-rs's
//! `LAS_BENCH_FILE` convention).

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pointlime::classifier::{Classifier, Output};
use pointlime::cloud::{FileFormat, PointCloud};
use pointlime::model::{Backend, ModelConfig, PointNetClassifier, PointNetConfig};
use pointlime::pipeline::{explain_cloud, ExplainConfig};
use pointlime::segment::{supervoxels, SegmentConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn tile(n: usize) -> Vec<[f32; 3]> {
    pointlime::synthetic::lidar_tile(n, 1)
        .iter()
        .map(|p| p.map(|v| v as f32))
        .collect()
}

fn segmentation(c: &mut Criterion) {
    let mut g = c.benchmark_group("segment");
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    for n in [1_000, 10_000, 100_000, 1_000_000] {
        let pts = tile(n);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("supervoxels_k50", n), &pts, |b, pts| {
            b.iter(|| supervoxels(pts, &SegmentConfig::default()).unwrap())
        });
    }
    g.finish();
}

fn readers(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let pts: Vec<[f64; 3]> = tile(100_000)
        .iter()
        .map(|p| p.map(|v| v as f64 + 1000.0))
        .collect();
    let cloud = PointCloud::from_positions(pts, FileFormat::Ply);
    let mut g = c.benchmark_group("read_100k");
    g.sample_size(10).throughput(Throughput::Elements(100_000));
    for ext in ["ply", "las", "laz", "xyz"] {
        let path = dir.path().join(format!("tile.{ext}"));
        pointlime::io::write(&path, &cloud, Default::default()).unwrap();
        g.bench_function(ext, |b| b.iter(|| pointlime::io::read(&path).unwrap()));
    }
    if let Some(file) = std::env::var_os("POINTLIME_BENCH_FILE") {
        let path = std::path::PathBuf::from(file);
        g.bench_function("POINTLIME_BENCH_FILE", |b| {
            b.iter(|| pointlime::io::read(&path).unwrap())
        });
    }
    g.finish();
}

fn pointnet(points: usize, backend: Backend) -> PointNetClassifier {
    let config = ModelConfig::new(
        PointNetConfig::new(5),
        (0..5).map(|i| format!("c{i}")).collect(),
    )
    .with_num_points(points);
    PointNetClassifier::new(config, backend, 0).unwrap()
}

fn inference(c: &mut Criterion) {
    let mut g = c.benchmark_group("inference_batch32");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    for n in [1024, 2048] {
        let clouds: Vec<Vec<[f32; 3]>> = (0..32)
            .map(|_| {
                (0..n)
                    .map(|_| std::array::from_fn(|_| rng.random_range(-1.0..1.0)))
                    .collect()
            })
            .collect();
        let refs: Vec<&[[f32; 3]]> = clouds.iter().map(Vec::as_slice).collect();
        g.throughput(Throughput::Elements(32));
        // ndarray with `cargo bench --features ndarray`: it is not in the default build.
        let backends = [Backend::Flex, Backend::Ndarray];
        let built = if cfg!(feature = "ndarray") { 2 } else { 1 };
        for &backend in &backends[..built] {
            let model = pointnet(n, backend);
            g.bench_function(BenchmarkId::new(format!("{backend:?}"), n), |b| {
                b.iter(|| model.predict(&refs, Output::Probability).unwrap())
            });
        }
    }
    g.finish();
}

fn end_to_end(c: &mut Criterion) {
    let mut g = c.benchmark_group("explain");
    g.sample_size(10).measurement_time(Duration::from_secs(30));
    let pts: Vec<[f64; 3]> = tile(5_000).iter().map(|p| p.map(f64::from)).collect();
    let cloud = PointCloud::from_positions(pts, FileFormat::Xyz);
    let model = pointnet(2048, Backend::Flex);
    let mut config = ExplainConfig::default();
    config.explainer.n_samples = 1000;
    let config = config.seeded();
    g.throughput(Throughput::Elements(1000));
    g.bench_function("n2048_k50_s1000_full_pointnet", |b| {
        b.iter(|| {
            explain_cloud(&cloud, "tile".as_ref(), &model, "bench", &config, 0, None).unwrap()
        })
    });
    g.finish();
    let _ = model.class_names();
}

criterion_group!(benches, segmentation, readers, inference, end_to_end);
criterion_main!(benches);
