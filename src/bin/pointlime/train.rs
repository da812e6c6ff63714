//! `pointlime train`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;

use pointlime::augment::Augment;
use pointlime::channels::Channels;
use pointlime::cloud::Axis;
use pointlime::cloud::Normalisation;
use pointlime::competence::{self, FitConfig};
use pointlime::dataset::{self, Dataset, Split};
use pointlime::labels::LabelMap;
use pointlime::model::train::{evaluate, train, Event, TrainConfig};
use pointlime::model::{ModelConfig, PointNetConfig, COMPETENCE_FILE};
use pointlime::pipeline::ExplainConfig;
use pointlime::Classifier;

use crate::args::progress_bar;

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Dataset: a labelled directory (DIR/<class>/<file>) or a manifest CSV (path,class,split and
    /// an optional group column).
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
    /// The up axis of the training scans (plant scans: y): augmentation rotates about it, and the
    /// model records it, so that explaining turns each scan's up axis onto it.
    #[arg(long, default_value = "z")]
    up: Axis,
    /// Normalise to the unit sphere instead of keeping metric scale (centroid, 10 m per unit).
    #[arg(long)]
    unit_sphere: bool,
    /// Keep metric scale, but measure heights from each scan's floor (its 1st percentile of z)
    /// rather than its centroid: heights above the local ground, for z-up LiDAR tiles and
    /// windows.
    #[arg(long, conflicts_with = "unit_sphere")]
    floor: bool,
    /// What the network reads per point besides x, y, z: xyz (nothing else), xyz_returns (a
    /// LiDAR pulse's intensity, relative to the scan's, its number of returns and where the point
    /// came among them), xyz_shape (linearity, planarity and scattering of each point's 16
    /// nearest points), xyz_intensity or xyz_rgb. Scans to explain must then have the same
    /// fields.
    #[arg(long, default_value = "xyz", value_parser = trainable_channels)]
    channels: Channels,
    /// Probability that a training cloud loses random supervoxels (0 = off).
    #[arg(long, default_value_t = 0.0)]
    supervoxel_dropout: f64,
    /// Continue from OUT/checkpoint.
    #[arg(long)]
    resume: bool,
    /// Train even when a group (a physical object, the manifest's `group` column) has scans in
    /// both the training and the test split, which makes the test accuracy a measure of memory.
    #[arg(long)]
    allow_group_leak: bool,
    /// Use only the first N training objects per class (for quick runs and tests).
    #[arg(long)]
    limit_per_class: Option<usize>,
    /// What the network scores: classify (one class per scan, the dataset's) or segment (one
    /// class per point, from the scans' labels: see --labels).
    #[arg(long, default_value = "classify", value_parser = ["classify", "segment"])]
    task: String,
    /// With --task segment: each point's class, from a field of the scan, as
    /// FIELD:NAME=V|V;NAME=V;NAME=* (column_3:stem=2;other=*: the points whose column_3 is 2 are
    /// stem, all others other); for scans whose manifest row has no labels of its own.
    #[arg(long, value_name = "MAP")]
    labels: Option<LabelMap>,
    /// Weigh every object (or point) alike in the loss, instead of each class by the inverse of
    /// its frequency: class weights raise the rare class's recall at the cost of its precision,
    /// which mean class accuracy rewards and IoU does not.
    #[arg(long)]
    no_class_weighting: bool,
    /// Train on the training split with its labels permuted among the scans (seeded by --seed),
    /// for the data-randomisation sanity check (`faithfulness --label-check`). With --no-augment
    /// and enough epochs the network memorises them; its training accuracy on the permuted labels
    /// is measured at the end and written to OUT/memorisation.json. No competence statistics are
    /// recorded: its classes mean nothing.
    #[arg(long)]
    shuffle_labels: bool,
    /// Train on the scans as drawn: no rotation, scaling, jitter or point dropout (each epoch
    /// still draws its points afresh from each scan's).
    #[arg(long, conflicts_with = "supervoxel_dropout")]
    no_augment: bool,
}

/// The class names of a segmentation network: those of --labels, else of the first training
/// scan's own labels.
fn segment_classes(args: &TrainArgs, items: &[&dataset::Item]) -> Result<Vec<String>> {
    if let Some(map) = &args.labels {
        return Ok(map.class_names());
    }
    let own = items.iter().find_map(|i| i.labels.as_deref());
    match own.map(str::parse::<LabelMap>) {
        Some(Ok(map)) => Ok(map.class_names()),
        Some(Err(e)) => bail!("{}: {e}", args.data.display()),
        None => bail!(
            "{}: --task segment needs each point's class: give --labels FIELD:NAME=V;NAME=*, or \
             a manifest with a labels column",
            args.data.display()
        ),
    }
}

/// Refuses a dataset whose groups (physical objects) have scans in both splits, unless
/// `--allow-group-leak`, which only warns.
fn check_group_leaks(ds: &Dataset, args: &TrainArgs) -> Result<()> {
    let leaks = ds.leaking_groups();
    if !leaks.is_empty() {
        let shown: Vec<&str> = leaks.iter().take(3).map(String::as_str).collect();
        let what = format!(
            "{}: {} {} scans in both the training and the test split ({}{}), so the test \
             split would measure memory of those objects",
            args.data.display(),
            leaks.len(),
            if leaks.len() == 1 {
                "group has"
            } else {
                "groups have"
            },
            shown.join(", "),
            if leaks.len() > 3 { ", …" } else { "" }
        );
        if !args.allow_group_leak {
            bail!("{what}; split by group (`pointlime manifest --group-column`) or pass --allow-group-leak");
        }
        eprintln!("warning: {what}");
    }
    Ok(())
}

/// The side of the windows a dataset of tiles is cut into (the manifest's `window` column),
/// which the model records so that explaining cuts a larger scan alike; `None` for whole scans.
/// A dataset that mixes windows with whole scans, or windows of different sizes (beyond the few
/// per cent a partition's equal division leaves), is refused: the network would learn one scale
/// and be asked another.
fn window(ds: &Dataset, data: &std::path::Path) -> Result<Option<f64>> {
    let sizes: Vec<Option<f64>> = ds
        .items
        .iter()
        .map(|i| i.window.map(|w| w.size()))
        .collect();
    if sizes.iter().all(Option::is_none) {
        return Ok(None);
    }
    let Some(sizes) = sizes.into_iter().collect::<Option<Vec<f64>>>() else {
        bail!(
            "{}: some scans are cut into windows and others read whole; give every row a window \
             or none",
            data.display()
        );
    };
    let largest = sizes.iter().copied().fold(0.0, f64::max);
    let smallest = sizes.iter().copied().fold(f64::INFINITY, f64::min);
    // A partition divides a tile's extent into equal windows no larger than asked: a 50 m tile in
    // 16 m windows gives 12.5 m ones, the same scale within the spread that density varies by.
    if smallest < 0.5 * largest {
        bail!(
            "{}: the windows range from {smallest:.1} to {largest:.1} m; cut every tile with one \
             window size",
            data.display()
        );
    }
    // To the micrometre: the last window of a row reaches a nanometre-sized sliver past its
    // tile's edge (Window::tiles keeps the edge inside a half-open window).
    Ok(Some((largest * 1e6).round() / 1e6))
}

/// `--channels`: any but the normals, which the training's rotations would have to turn.
fn trainable_channels(s: &str) -> std::result::Result<Channels, String> {
    let c: Channels = s.parse()?;
    if !c.trainable() {
        return Err(format!(
            "{s} cannot be trained on: augmentation turns the points and would have to turn \
             their normals"
        ));
    }
    Ok(c)
}

/// The network and model settings the flags ask for.
fn model_config(
    args: &TrainArgs,
    classes: Vec<String>,
    normalisation: Normalisation,
) -> ModelConfig {
    let network = PointNetConfig::new(classes.len())
        .with_point_layers(args.point_layers.clone())
        .with_head_layers(args.head_layers.clone())
        .with_input_tnet(args.tnets)
        .with_feature_tnet(args.tnets)
        .with_segment((args.task == "segment").then_some(true))
        .with_extra_channels((args.channels != Channels::Xyz).then_some(args.channels.extra()));
    ModelConfig::new(network, classes)
        .with_channels((args.channels != Channels::Xyz).then_some(args.channels))
        .with_num_points(args.points)
        .with_normalisation(normalisation)
        .with_up(Some(args.up))
}

pub fn run(args: TrainArgs) -> Result<ExitCode> {
    let ds = Dataset::open_any(&args.data)?;
    check_group_leaks(&ds, &args)?;
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
    } else if args.floor {
        if args.up != Axis::Z {
            bail!(
                "--floor measures heights along z; the scans' up axis must be z, not --up {}",
                args.up.name()
            );
        }
        Normalisation::MetricFloor {
            metres_per_unit: 10.0,
        }
    } else {
        Normalisation::Metric {
            metres_per_unit: 10.0,
        }
    };
    let segment = args.task == "segment";
    if segment && args.shuffle_labels {
        bail!(
            "--shuffle-labels permutes the labels of whole scans; it cannot train --task segment"
        );
    }
    let classes = if segment {
        segment_classes(&args, &train_items)?
    } else {
        ds.class_names.clone()
    };
    let model_config =
        model_config(&args, classes, normalisation).with_window(window(&ds, &args.data)?);
    let mut config = TrainConfig {
        epochs: args.epochs,
        batch_size: args.batch_size,
        learning_rate: args.learning_rate,
        weight_decay: args.weight_decay,
        seed: args.seed,
        class_weighting: !args.no_class_weighting,
        ..TrainConfig::default()
    };
    config.augment.supervoxel_dropout = args.supervoxel_dropout;
    config.augment.up = args.up;
    if args.no_augment {
        config.augment = Augment::none(args.up);
    }
    config.shuffled_labels = args.shuffle_labels;
    let segments = (args.supervoxel_dropout > 0.0).then_some(50);

    let t0 = Instant::now();
    eprintln!(
        "loading {} training and {} test objects",
        train_items.len(),
        test_items.len()
    );
    let labels = args.labels.as_ref();
    let (mut train_set, test_set) = if segment {
        (
            dataset::prepare_labelled(
                &train_items,
                normalisation,
                segments,
                args.seed,
                labels,
                args.channels,
            )?,
            dataset::prepare_labelled(
                &test_items,
                normalisation,
                None,
                args.seed,
                labels,
                args.channels,
            )?,
        )
    } else {
        (
            dataset::prepare(
                &train_items,
                normalisation,
                segments,
                args.seed,
                args.channels,
            )?,
            dataset::prepare(&test_items, normalisation, None, args.seed, args.channels)?,
        )
    };
    eprintln!("loaded in {:.1} s", t0.elapsed().as_secs_f64());
    if args.shuffle_labels {
        dataset::shuffle_classes(&mut train_set, args.seed);
    }

    let bar = progress_bar(0, "epoch");
    let epochs = args.epochs;
    let model = train(
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
                let miou = log.test_miou.map(|m| format!(" mIoU {m:.3}")).unwrap_or_default();
                eprintln!(
                    "epoch {}/{epochs}: lr {:.2e} loss {:.4} train acc {:.3} test OA {:.3} mAcc {:.3}{miou} ({:.1} s)",
                    log.epoch, log.learning_rate, log.train_loss, log.train_accuracy, log.test_overall_accuracy, log.test_mean_class_accuracy, log.seconds
                )
            }),
        }
        },
    )?;
    bar.finish_and_clear();
    if args.shuffle_labels {
        memorisation(&args, &config, &model, &train_set, &test_set)?;
        return finish(&args, &config, &model, t0);
    }
    // The competence statistics, from the same training scans, drawn as `explain` draws them.
    let t_fit = Instant::now();
    let explain_config = ExplainConfig {
        up: Some(args.up),
        seed: args.seed,
        ..ExplainConfig::default()
    };
    let domain = competence::fit_items(
        &model,
        &train_items,
        &explain_config,
        FitConfig::default(),
        format!("{} (training split)", args.data.display()),
    )?;
    let domain_path = args.out.join(COMPETENCE_FILE);
    pointlime::io::write_json(&domain_path, &domain)?;
    eprintln!(
        "recorded the competence statistics in {:.1} s",
        t_fit.elapsed().as_secs_f64()
    );
    finish(&args, &config, &model, t0)
}

/// How well a network trained on permuted labels learnt them (its accuracy on the training split
/// with those labels, one vote, dropout off) and what it knows of the scans (the test split with
/// the true ones: chance), written to OUT/memorisation.json and said on stderr.
fn memorisation(
    args: &TrainArgs,
    config: &TrainConfig,
    model: &pointlime::model::PointNetClassifier,
    train_set: &[dataset::Prepared],
    test_set: &[dataset::Prepared],
) -> Result<()> {
    let train = evaluate(model, train_set, config.seed, 1, 32)?.metrics();
    let test = evaluate(model, test_set, config.seed, 1, 32)?.metrics();
    // Adebayo et al. compare with a network that has memorised the permuted labels; say when
    // this one has not, rather than let a half-trained one pass for it.
    let verdict = if train.overall_accuracy >= 0.95 {
        "memorised"
    } else {
        "not memorised yet: train longer (more --epochs) before using it for --label-check"
    };
    eprintln!(
        "training accuracy on the permuted labels {:.3} ({verdict}); test accuracy on the true \
         labels {:.3}",
        train.overall_accuracy, test.overall_accuracy
    );
    pointlime::io::write_json(
        &args.out.join("memorisation.json"),
        &serde_json::json!({
            "labels": "permuted among the training split's scans (pointlime train --shuffle-labels)",
            "seed": config.seed,
            "train_accuracy_on_permuted_labels": train.overall_accuracy,
            "train_mean_class_accuracy_on_permuted_labels": train.mean_class_accuracy,
            "test_accuracy_on_true_labels": test.overall_accuracy,
            "test_mean_class_accuracy_on_true_labels": test.mean_class_accuracy,
        }),
    )?;
    Ok(())
}

/// Writes the training settings beside the model and says where it went.
fn finish(
    args: &TrainArgs,
    config: &TrainConfig,
    model: &pointlime::model::PointNetClassifier,
    t0: Instant,
) -> Result<ExitCode> {
    std::fs::write(
        args.out.join("training.json"),
        serde_json::to_string_pretty(&config)?,
    )
    .with_context(|| args.out.display().to_string())?;
    outln!(
        "saved {} ({} classes) in {:.1} s",
        args.out.display(),
        model.class_names().len(),
        t0.elapsed().as_secs_f64()
    )?;
    Ok(ExitCode::SUCCESS)
}
