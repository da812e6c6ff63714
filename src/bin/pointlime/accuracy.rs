//! `pointlime accuracy` (formerly `eval`): classification accuracy on a test split.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Result};
use clap::Args;

use pointlime::dataset::{self, Confusion, Dataset, Split};
use pointlime::labels::LabelMap;
use pointlime::model::train::{evaluate, evaluate_points};
use pointlime::Classifier;

use crate::args::ModelArgs;

#[derive(Args, Debug)]
pub struct AccuracyArgs {
    /// Dataset: a labelled directory, a manifest CSV or the DALES objects directory; its test
    /// split is evaluated.
    #[arg(long)]
    data: PathBuf,
    #[command(flatten)]
    model: ModelArgs,
    /// Sampling seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Average probabilities over this many samplings of each object.
    #[arg(long, default_value_t = 1)]
    votes: usize,
    /// Write the metrics as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// For a model that labels every point: each point's true class, as FIELD:NAME=V;NAME=*
    /// (see `train --labels`), for scans whose manifest row has no labels of its own.
    #[arg(long, value_name = "MAP")]
    labels: Option<LabelMap>,
}

pub fn run(args: AccuracyArgs) -> Result<ExitCode> {
    let ds = Dataset::open_any(&args.data)?;
    let loaded = args.model.load_any()?;
    let model: &dyn Classifier = &*loaded;
    if model.per_point().is_some() {
        return segmentation(&args, &ds, model);
    }
    ds.check_classes(args.model.name().as_ref(), model.class_names())?;
    let test_items = ds.split(Split::Test);
    let test_set = dataset::prepare(
        &test_items,
        model.normalisation(),
        None,
        args.seed,
        model.channels(),
    )?;
    let t0 = Instant::now();
    let confusion = evaluate(model, &test_set, args.seed, args.votes, 32)?;
    let secs = t0.elapsed().as_secs_f64();
    let m = confusion.metrics();
    outln!(
        "objects: {} ({} votes, {:.1} clouds/s)",
        test_set.len(),
        args.votes,
        (test_set.len() * args.votes) as f64 / secs
    )?;
    outln!("overall accuracy:    {:.2}%", 100.0 * m.overall_accuracy)?;
    outln!("mean class accuracy: {:.2}%", 100.0 * m.mean_class_accuracy)?;
    for (name, acc) in ds.class_names.iter().zip(&m.per_class_accuracy) {
        outln!("  {name:<12} {:.2}%", 100.0 * acc)?;
    }
    out!("{}", confusion.to_text(&ds.class_names))?;
    if let Some(path) = &args.json {
        let report = serde_json::json!({
            "model": args.model.name(),
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

/// A segmentation network's accuracy on the test split: every point of every test scan
/// labelled once (`evaluate_points`), the overall accuracy, each class's IoU and their mean,
/// the confusion of points; then the mIoU of each of the dataset's classes (a species) and its
/// spread over their groups (the physical plants), since a class may have only a few.
fn segmentation(args: &AccuracyArgs, ds: &Dataset, model: &dyn Classifier) -> Result<ExitCode> {
    let names = model.class_names().to_vec();
    if let Some(map) = &args.labels {
        if map.class_names() != names {
            bail!(
                "--labels names the classes {}; the model's are {}",
                map.class_names().join(", "),
                names.join(", ")
            );
        }
    }
    let test_items = ds.split(Split::Test);
    let test_set = dataset::prepare_labelled(
        &test_items,
        model.normalisation(),
        None,
        args.seed,
        args.labels.as_ref(),
        model.channels(),
    )?;
    if let Some(i) = test_set.iter().position(|o| o.point_classes.is_empty()) {
        bail!(
            "{}: no class for its points: give --labels FIELD:NAME=V;NAME=*, or a manifest with \
             a labels column",
            test_items[i].path.display()
        );
    }
    let t0 = Instant::now();
    let per_scan: Vec<Confusion> = test_set
        .iter()
        .map(|o| evaluate_points(model, std::slice::from_ref(o), args.seed))
        .collect::<pointlime::Result<_>>()?;
    let secs = t0.elapsed().as_secs_f64();
    let mut all = Confusion::new(names.len());
    per_scan.iter().for_each(|c| all.merge(c));
    let m = all.metrics();
    let (iou, miou) = all.iou();
    let points: usize = all.counts.iter().flatten().sum();
    outln!(
        "scans: {}, points: {points} ({:.0} points/s)",
        test_set.len(),
        points as f64 / secs
    )?;
    outln!("overall accuracy:    {:.2}%", 100.0 * m.overall_accuracy)?;
    outln!("mIoU:                {:.2}%", 100.0 * miou)?;
    for (name, v) in names.iter().zip(&iou) {
        let v = v.map_or("-".to_string(), |v| format!("{:.2}%", 100.0 * v));
        outln!("  {name:<12} IoU {v}")?;
    }
    out!("{}", all.to_text(&names))?;
    // By the dataset's class and group.
    let mut by_class = Vec::new();
    for (c, class) in ds.class_names.iter().enumerate() {
        let mut groups: std::collections::BTreeMap<String, Confusion> = Default::default();
        let mut merged = Confusion::new(names.len());
        for (item, conf) in test_items
            .iter()
            .zip(&per_scan)
            .filter(|(i, _)| i.class == c)
        {
            merged.merge(conf);
            let key = item
                .group
                .clone()
                .unwrap_or_else(|| item.path.display().to_string());
            groups
                .entry(key)
                .or_insert_with(|| Confusion::new(names.len()))
                .merge(conf);
        }
        if groups.is_empty() {
            continue;
        }
        let mut spread: Vec<f64> = groups.values().map(|g| g.iou().1).collect();
        spread.sort_by(f64::total_cmp);
        let (lo, mid, hi) = (
            spread[0],
            pointlime::stats::median(spread.iter().copied()),
            spread[spread.len() - 1],
        );
        outln!(
            "  {class:<12} mIoU {:.2}% over {} scans; per group ({}): min {:.2}%, median {:.2}%, max {:.2}%",
            100.0 * merged.iou().1,
            test_items.iter().filter(|i| i.class == c).count(),
            groups.len(),
            100.0 * lo,
            100.0 * mid,
            100.0 * hi
        )?;
        by_class.push(serde_json::json!({
            "class": class,
            "miou": merged.iou().1,
            "iou": merged.iou().0,
            "groups": groups.iter().map(|(g, c)| serde_json::json!({"group": g, "miou": c.iou().1})).collect::<Vec<_>>(),
        }));
    }
    if let Some(path) = &args.json {
        let report = serde_json::json!({
            "model": args.model.name(),
            "data": args.data.display().to_string(),
            "split": "test",
            "task": "segment",
            "scans": test_set.len(),
            "points": points,
            "sampling_seed": args.seed,
            "class_names": names,
            "seconds": secs,
            "overall_accuracy": m.overall_accuracy,
            "miou": miou,
            "iou": iou,
            "confusion": all,
            "by_dataset_class": by_class,
        });
        pointlime::io::write_json(path, &report)?;
    }
    Ok(ExitCode::SUCCESS)
}
