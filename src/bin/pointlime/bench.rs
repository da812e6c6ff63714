//! `pointlime bench`: where an explanation's time goes, stage by stage, over a ladder of sizes.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::Args;
use serde::Serialize;

use pointlime::cloud::{FileFormat, PointCloud};
use pointlime::explain::{Method, Scoring};
use pointlime::model::{ModelConfig, PointNetClassifier, PointNetConfig};
use pointlime::pipeline::{explain_cloud, ExplainConfig, Timings};
use pointlime::segment::Granularity;

use pointlime::Classifier;

use crate::args::{BackendArgs, ModelArgs};

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// A trained model (a pointlime model directory or an ONNX file); its input size fixes N. By
    /// default a randomly initialised PointNet (the weights do not change the time) with the
    /// shipped architecture, built for each N.
    #[arg(long)]
    model: Option<PathBuf>,
    /// An ONNX model's class names, in output order (instead of its FILE.json's).
    #[arg(long, value_delimiter = ',')]
    classes: Option<Vec<String>>,
    #[command(flatten)]
    backend: BackendArgs,
    /// With no --model: add input and feature T-Nets (no exact max-pool path then).
    #[arg(long)]
    tnets: bool,
    /// Scan to explain; by default a synthetic LiDAR tile of --scan-points points.
    #[arg(long)]
    input: Option<PathBuf>,
    /// Points of the synthetic scan [default: 2 × N].
    #[arg(long)]
    scan_points: Option<usize>,
    /// Network input points N.
    #[arg(long, default_value_t = 2048)]
    points: usize,
    /// Supervoxels K.
    #[arg(long, default_value_t = 50)]
    segments: usize,
    /// Perturbed samples S.
    #[arg(long, default_value_t = 1000)]
    samples: usize,
    /// Also vary one of N (1k–16k), K (20–200) and S (250–4000) at a time around the point above.
    #[arg(long)]
    ladder: bool,
    /// Which scoring paths may be used: auto, generic or full (see `explain --help`).
    #[arg(long, default_value = "auto")]
    scoring: Scoring,
    /// Measured runs per configuration; the median of each stage is reported. Each configuration
    /// first runs once more, unmeasured except for its total (the `first ms` column): that run
    /// pays for allocator growth and the backend's first-call set-up, as a one-off `explain` does.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// This CPU's peak single-precision GFLOP/s, to report the fraction achieved (for example
    /// cores × GHz × 32 for AVX2 with two FMA units).
    #[arg(long)]
    peak_gflops: Option<f64>,
    /// Explanation method (see `explain --help`); S is then the clouds it scored (sag: the sets
    /// its search scored, whatever --samples says).
    #[arg(long, default_value = "lime")]
    method: Method,
    /// Write the rows as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
struct Row {
    points: usize,
    segments: usize,
    samples: usize,
    scan_points: usize,
    scoring: String,
    segmentation_ms: f64,
    sampling_ms: f64,
    inference_ms: f64,
    fit_ms: f64,
    total_ms: f64,
    first_run_total_ms: f64,
    samples_per_second: f64,
    /// Floating-point work of inference; `None` for an ONNX model (its graph is not counted).
    gflop: Option<f64>,
    gflops: Option<f64>,
    peak_rss_mib: Option<f64>,
}

/// The configurations measured, `(N, K, S)`: the one asked for, and with `--ladder` one of N
/// (when `vary_n`: the network is built for each N), K and S varied around it.
fn ladder(args: &BenchArgs, base_n: usize, vary_n: bool) -> Vec<(usize, usize, usize)> {
    let mut configs = vec![(base_n, args.segments, args.samples)];
    if args.ladder {
        if vary_n {
            configs.extend(
                [1024, 4096, 8192, 16384]
                    .iter()
                    .map(|&n| (n, args.segments, args.samples)),
            );
        }
        configs.extend([20, 100, 200].iter().map(|&k| (base_n, k, args.samples)));
        configs.extend(
            [250, 500, 2000, 4000]
                .iter()
                .map(|&s| (base_n, args.segments, s)),
        );
    }
    configs
}

/// The table's heading.
fn print_header(with_peak: bool) -> Result<()> {
    outln!(
        "{:>6} {:>4} {:>5} {:>8} {:<20} {:>9} {:>9} {:>10} {:>7} {:>9} {:>9} {:>9} {:>8}{}",
        "N",
        "K",
        "S",
        "scan",
        "scoring",
        "segm ms",
        "sampl ms",
        "infer ms",
        "fit ms",
        "total ms",
        "first ms",
        "samples/s",
        "GFLOP/s",
        if with_peak { "  of peak" } else { "" }
    )?;
    Ok(())
}

/// One row of the table.
fn print_row(row: &Row, peak_gflops: Option<f64>) -> Result<()> {
    outln!(
        "{:>6} {:>4} {:>5} {:>8} {:<20} {:>9.1} {:>9.1} {:>10.1} {:>7.1} {:>9.1} {:>9.1} {:>9.0} {:>8}{}",
        row.points,
        row.segments,
        row.samples,
        row.scan_points,
        row.scoring,
        row.segmentation_ms,
        row.sampling_ms,
        row.inference_ms,
        row.fit_ms,
        row.total_ms,
        row.first_run_total_ms,
        row.samples_per_second,
        row.gflops.map_or("-".into(), |g| format!("{g:.1}")),
        peak_gflops
            .zip(row.gflops)
            .map(|(p, g)| format!("  {:>6.1}%", 100.0 * g / p))
            .unwrap_or_default()
    )?;
    Ok(())
}

pub fn run(args: BenchArgs) -> Result<ExitCode> {
    if args.repeat == 0 {
        bail!("--repeat must be at least 1");
    }
    let loaded = match &args.model {
        Some(path) => Some(
            ModelArgs {
                model: Some(path.clone()),
                classes: args.classes.clone(),
                backend: args.backend.clone(),
            }
            .load_any()?,
        ),
        None => None,
    };
    let base_n = loaded.as_ref().map_or(args.points, |m| m.input_points());
    let configs = ladder(&args, base_n, loaded.is_none());
    let file_cloud = match &args.input {
        Some(p) => {
            let mut c = pointlime::io::read(p)?;
            c.validate(p, false)?;
            Some(c)
        }
        None => None,
    };

    print_header(args.peak_gflops.is_some())?;
    let mut rows = Vec::new();
    for (n, k, s) in configs {
        let fresh;
        let (model, pointnet): (&dyn Classifier, _) = match &loaded {
            Some(m) => (&**m, m.pointnet()),
            None => {
                let net = PointNetConfig::new(5)
                    .with_input_tnet(args.tnets)
                    .with_feature_tnet(args.tnets);
                let names = ["building", "car", "fence", "pole", "tree"].map(String::from);
                let config = ModelConfig::new(net, names.to_vec()).with_num_points(n);
                fresh = PointNetClassifier::new(config, args.backend.backend, 0)?;
                (&fresh, Some(&fresh))
            }
        };
        let synthetic;
        let cloud = match &file_cloud {
            Some(c) => c,
            None => {
                let m = args.scan_points.unwrap_or(2 * n);
                synthetic = PointCloud::from_positions(
                    pointlime::synthetic::lidar_tile(m, 1),
                    FileFormat::Xyz,
                );
                &synthetic
            }
        };
        let mut config = ExplainConfig::default();
        config.segments.target = Granularity::Count(k);
        config.explainer.n_samples = s;
        config.explainer.scoring.path = args.scoring;
        config.method = args.method;
        let config = config.seeded();
        let run = || explain_cloud(cloud, "bench".as_ref(), model, "bench", &config, 0, None);
        let first_run_total_ms = run()?.report.timings.total * 1e3;
        let runs = (0..args.repeat)
            .map(|_| run())
            .collect::<Result<Vec<_>, _>>()?;
        let median = |f: &dyn Fn(&Timings) -> f64| {
            let mut v: Vec<f64> = runs.iter().map(|r| f(&r.report.timings)).collect();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2] * 1e3
        };
        let cost = &runs[0].report.cost;
        let gflop = pointnet.map(|m| {
            let (per_point, per_cloud) = m.flops(cost.scoring);
            (cost.points_evaluated as f64 * per_point + cost.clouds_evaluated as f64 * per_cloud)
                * 1e-9
        });
        let inference_ms = median(&|t| t.inference);
        let sampling_ms = median(&|t| t.sampling);
        let row = Row {
            points: n,
            segments: runs[0].report.segments.len(),
            samples: cost.clouds_evaluated as usize,
            scan_points: cloud.len(),
            scoring: cost.scoring.name().to_string(),
            segmentation_ms: median(&|t| t.segmentation),
            sampling_ms,
            inference_ms,
            fit_ms: median(&|t| t.surrogate_fit),
            total_ms: median(&|t| t.total),
            first_run_total_ms,
            samples_per_second: cost.clouds_evaluated as f64
                / ((sampling_ms + inference_ms) * 1e-3),
            gflop,
            gflops: gflop.map(|g| g / (inference_ms * 1e-3)),
            peak_rss_mib: peak_rss_mib(),
        };
        print_row(&row, args.peak_gflops)?;
        rows.push(row);
    }
    if let Some(rss) = peak_rss_mib() {
        outln!("peak resident memory of this process: {rss:.0} MiB")?;
    }
    if let Some(path) = &args.json {
        pointlime::io::write_json(path, &rows)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The process's peak resident set size so far, in MiB (Linux `VmHWM`); `None` elsewhere.
fn peak_rss_mib() -> Option<f64> {
    pointlime::pipeline::peak_memory_bytes().map(|b| b as f64 / (1024.0 * 1024.0))
}
