//! `pointlime train`, `eval` and `manifest`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;

use pointlime::cloud::Normalisation;
use pointlime::dataset::{self, Dataset, Split};
use pointlime::model::train::{evaluate, train as run_training, Event, TrainConfig};
use pointlime::model::{Backend, ModelConfig, PointNetClassifier, PointNetConfig};
use pointlime::Classifier;

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Dataset: a labelled directory (DIR/<class>/<file>) or a manifest CSV (path,class,split).
    #[arg(long)]
    data: PathBuf,
    /// Output model directory.
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 40)]
    epochs: usize,
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    #[arg(long, default_value_t = 1e-3)]
    learning_rate: f64,
    #[arg(long, default_value_t = 1e-4)]
    weight_decay: f32,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Points per cloud the network takes.
    #[arg(long, default_value_t = 1024)]
    points: usize,
    /// Shared per-point layer widths, comma-separated.
    #[arg(long, default_value = "64,64,64,128,1024", value_delimiter = ',')]
    point_layers: Vec<usize>,
    /// Head layer widths, comma-separated.
    #[arg(long, default_value = "512,256", value_delimiter = ',')]
    head_layers: Vec<usize>,
    /// Add input and feature T-Nets (the model is then not max-pool separable).
    #[arg(long)]
    tnets: bool,
    /// Normalise to the unit sphere instead of keeping metric scale (centroid, 10 m per unit).
    #[arg(long)]
    unit_sphere: bool,
    /// Probability that a training cloud loses random supervoxels (0 = off).
    #[arg(long, default_value_t = 0.0)]
    supervoxel_dropout: f64,
    /// Continue from OUT/checkpoint.
    #[arg(long)]
    resume: bool,
    /// Use only the first N training objects per class (for quick runs and tests).
    #[arg(long)]
    limit_per_class: Option<usize>,
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Dataset: a labelled directory or a manifest CSV; its test split is evaluated.
    #[arg(long)]
    data: PathBuf,
    /// Model directory.
    #[arg(long, default_value = "models/default")]
    model: PathBuf,
    /// Sampling seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Average probabilities over this many samplings of each object.
    #[arg(long, default_value_t = 1)]
    votes: usize,
    /// Write the metrics as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Backend::Flex)]
    backend: Backend,
}

#[derive(Args, Debug)]
pub struct ManifestArgs {
    /// The DALES objects directory (NNN.xyz).
    #[arg(long)]
    dales: PathBuf,
    /// Where to write the CSV; paths in it are relative to its directory.
    #[arg(long)]
    out: PathBuf,
}

fn open_dataset(path: &std::path::Path) -> Result<Dataset> {
    // A directory of NNN.xyz files is the DALES layout; anything else is the generic one.
    if path.is_dir() && path.join("000.xyz").is_file() {
        Ok(dataset::dales(path)?)
    } else {
        Ok(Dataset::open(path)?)
    }
}

pub fn train(args: TrainArgs) -> Result<ExitCode> {
    let ds = open_dataset(&args.data)?;
    let mut train_items = ds.split(Split::Train);
    if let Some(limit) = args.limit_per_class {
        let mut taken = vec![0usize; ds.class_names.len()];
        train_items.retain(|i| {
            taken[i.class] += 1;
            taken[i.class] <= limit
        });
    }
    let test_items = ds.split(Split::Test);
    let normalisation = if args.unit_sphere {
        Normalisation::UnitSphere
    } else {
        Normalisation::Metric {
            metres_per_unit: 10.0,
        }
    };
    let network = PointNetConfig::new(ds.class_names.len())
        .with_point_layers(args.point_layers.clone())
        .with_head_layers(args.head_layers.clone())
        .with_input_tnet(args.tnets)
        .with_feature_tnet(args.tnets);
    let model_config = ModelConfig::new(network, ds.class_names.clone())
        .with_num_points(args.points)
        .with_normalisation(normalisation);
    let mut config = TrainConfig {
        epochs: args.epochs,
        batch_size: args.batch_size,
        learning_rate: args.learning_rate,
        weight_decay: args.weight_decay,
        seed: args.seed,
        ..TrainConfig::default()
    };
    config.augment.supervoxel_dropout = args.supervoxel_dropout;
    let segments = (args.supervoxel_dropout > 0.0).then_some(50);

    let t0 = Instant::now();
    eprintln!(
        "loading {} training and {} test objects",
        train_items.len(),
        test_items.len()
    );
    let train_set = dataset::prepare(&train_items, normalisation, segments, args.seed)?;
    let test_set = dataset::prepare(&test_items, normalisation, None, args.seed)?;
    eprintln!("loaded in {:.1} s", t0.elapsed().as_secs_f64());

    let bar = crate::progress_bar(0, "epoch");
    let epochs = args.epochs;
    let model = run_training(
        model_config,
        &config,
        &train_set,
        &test_set,
        &args.out,
        args.resume,
        |event| {
            match event {
            Event::Batch { done, total, loss, accuracy } => {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
                bar.set_message(format!("loss {loss:.3} acc {accuracy:.3}"));
            }
            Event::Epoch(log) => bar.suspend(|| {
                eprintln!(
                    "epoch {}/{epochs}: lr {:.2e} loss {:.4} train acc {:.3} test OA {:.3} mAcc {:.3} ({:.1} s)",
                    log.epoch, log.learning_rate, log.train_loss, log.train_accuracy, log.test_overall_accuracy, log.test_mean_class_accuracy, log.seconds
                )
            }),
        }
        },
    )?;
    bar.finish_and_clear();
    std::fs::write(
        args.out.join("training.json"),
        serde_json::to_string_pretty(&config)?,
    )
    .with_context(|| args.out.display().to_string())?;
    println!(
        "saved {} ({} classes) in {:.1} s",
        args.out.display(),
        model.class_names().len(),
        t0.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

/// The dataset at `data` and the model at `model`, which must name the same classes in the same
/// order.
pub(crate) fn open_dataset_and_model(
    data: &std::path::Path,
    model: &std::path::Path,
    backend: Backend,
) -> Result<(Dataset, PointNetClassifier)> {
    let ds = open_dataset(data)?;
    let m = PointNetClassifier::load(model, backend)?;
    if m.class_names() != ds.class_names.as_slice() {
        bail!(
            "{}: model classes ({}) differ from the dataset's ({})",
            model.display(),
            m.class_names().join(", "),
            ds.class_names.join(", ")
        );
    }
    Ok((ds, m))
}

pub fn eval(args: EvalArgs) -> Result<ExitCode> {
    let (ds, model) = open_dataset_and_model(&args.data, &args.model, args.backend)?;
    let test_items = ds.split(Split::Test);
    let test_set = dataset::prepare(&test_items, model.normalisation(), None, args.seed)?;
    let t0 = Instant::now();
    let confusion = evaluate(&model, &test_set, args.seed, args.votes, 32)?;
    let secs = t0.elapsed().as_secs_f64();
    let m = confusion.metrics();
    println!(
        "objects: {} ({} votes, {:.1} clouds/s)",
        test_set.len(),
        args.votes,
        (test_set.len() * args.votes) as f64 / secs
    );
    println!("overall accuracy:    {:.2}%", 100.0 * m.overall_accuracy);
    println!("mean class accuracy: {:.2}%", 100.0 * m.mean_class_accuracy);
    for (name, acc) in ds.class_names.iter().zip(&m.per_class_accuracy) {
        println!("  {name:<12} {:.2}%", 100.0 * acc);
    }
    print!("{}", confusion.to_text(&ds.class_names));
    if let Some(path) = &args.json {
        let report = serde_json::json!({
            "model": args.model.display().to_string(),
            "data": args.data.display().to_string(),
            "split": "test",
            "objects": test_set.len(),
            "sampling_seed": args.seed,
            "votes": args.votes,
            "class_names": ds.class_names,
            "seconds": secs,
            "clouds_per_second": (test_set.len() * args.votes) as f64 / secs,
            "metrics": m,
        });
        pointlime::io::write_json(path, &report)?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn manifest(args: ManifestArgs) -> Result<ExitCode> {
    let ds = dataset::dales(&args.dales)?;
    let base = args
        .out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let base = base
        .canonicalize()
        .with_context(|| base.display().to_string())?;
    let mut ds = ds;
    for item in &mut ds.items {
        item.path = item
            .path
            .canonicalize()
            .with_context(|| item.path.display().to_string())?;
    }
    let text = relative_manifest(&ds, &base);
    std::fs::write(&args.out, text).with_context(|| args.out.display().to_string())?;
    println!("wrote {} ({} objects)", args.out.display(), ds.items.len());
    Ok(ExitCode::SUCCESS)
}

/// Manifest text with paths relative to `base` (walking up with `..` where needed).
fn relative_manifest(ds: &Dataset, base: &std::path::Path) -> String {
    let mut rel = ds.clone();
    for item in &mut rel.items {
        item.path = relative(&item.path, base);
    }
    rel.manifest(std::path::Path::new(""))
}

fn relative(path: &std::path::Path, base: &std::path::Path) -> PathBuf {
    let p: Vec<_> = path.components().collect();
    let b: Vec<_> = base.components().collect();
    let common = p.iter().zip(&b).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    for c in &p[common..] {
        out.push(c);
    }
    out
}
