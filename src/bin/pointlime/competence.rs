//! `pointlime competence`: record a model's competence statistics, and measure how its check
//! sorts scans.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;

use pointlime::cloud::Axis;
use pointlime::competence::{self, FitConfig};
use pointlime::dataset::{Dataset, Item, Split};
use pointlime::model::COMPETENCE_FILE;
use pointlime::pipeline::ExplainConfig;
use pointlime::stats::median;
use pointlime::Classifier;

use crate::args::ModelArgs;

#[derive(Args, Debug)]
pub struct CompetenceArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Record the statistics from this dataset's training split (a labelled directory, a manifest
    /// CSV or the DALES objects directory: the data the model was trained on) into the model
    /// directory's competence.json (an ONNX model's: FILE.competence.json beside FILE.onnx), then
    /// measure the test split's false alarms. `train` does this itself.
    #[arg(long, requires = "model", conflicts_with_all = ["check", "evaluate"])]
    fit: Option<PathBuf>,
    /// Measure how many scans of this dataset the check flags, per class of the dataset (which
    /// need not be the model's: scans of another domain).
    #[arg(long, conflicts_with = "evaluate")]
    check: Option<PathBuf>,
    /// Measure the check as an out-of-distribution detector (the 3DOS protocol): this dataset's
    /// test split (the model's own held-out scans) against each --foreign domain and the
    /// --composites, by AUROC and FPR at 95% TPR with bootstrap intervals, beside the 3DOS
    /// baselines (MSP, max logit, energy, 1-NN and Mahalanobis distance of the feature). The
    /// training split is the 1-NN baseline's memory: give the data the model was trained on.
    #[arg(long)]
    evaluate: Option<PathBuf>,
    /// A foreign domain for --evaluate, NAME=PATH or NAME:UP=PATH (UP: x, y or z, the scans' up
    /// axis): a manifest or the DALES directory (every scan), or any directory (every scan file
    /// under it; files that do not read, or hold fewer than 100 points, are counted and passed
    /// over). Repeat for more domains.
    #[arg(long, requires = "evaluate", value_name = "NAME[:UP]=PATH")]
    pub foreign: Vec<String>,
    /// For --evaluate: three foreign domains of phone-like composites (a DALES tree or pole on a
    /// phone-density ground plane, cut to a few metres, with specks) made from this DALES objects
    /// directory by different generators: A for tuning the check, B held out, C as A with the
    /// object's surfaces sampled evenly.
    #[arg(long, requires = "evaluate", value_name = "DALES_DIR")]
    pub composites: Option<PathBuf>,
    /// Also write each composite as LAZ, DIR/a/NNN.laz, DIR/b/NNN.laz and DIR/c/NNN.laz (z up,
    /// metres), to look at or explain one.
    #[arg(long, requires = "composites", value_name = "DIR")]
    pub write_composites: Option<PathBuf>,
    /// Bootstrap resamples for --evaluate's intervals.
    #[arg(long, default_value_t = 1000, requires = "evaluate")]
    pub bootstrap: usize,
    /// Seed of --evaluate's composites and bootstrap.
    #[arg(long, default_value_t = 0, requires = "evaluate")]
    pub seed: u64,
    /// Write --evaluate's tables as Markdown here.
    #[arg(long, requires = "evaluate")]
    pub markdown: Option<PathBuf>,
    /// Which split of --check: test (the model's own held-out scans), train, or all (another
    /// domain's scans).
    #[arg(long, default_value = "test", value_parser = ["test", "train", "all"])]
    split: String,
    /// The scans' up axis [default: the model's, for --fit; as `explain`, for --check].
    #[arg(long)]
    pub up: Option<Axis>,
    /// Principal axes of the feature covariance kept by --fit.
    #[arg(long, default_value_t = FitConfig::default().components)]
    components: usize,
    /// Flag a scan whose competence (a p-value against the training scans) is at or below this.
    #[arg(long, default_value_t = FitConfig::default().alarm_level)]
    alarm_level: f64,
    /// Write the measurement as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

pub fn run(args: CompetenceArgs) -> Result<ExitCode> {
    // Statistics are recorded anew by --fit, whether or not the ones there still load.
    let mut loaded = if args.fit.is_some() {
        args.model.load_any_without_competence()?
    } else {
        args.model.load_any()?
    };
    let config = ExplainConfig {
        up: args.up,
        ..ExplainConfig::default()
    };
    let (data, split) = match (&args.fit, &args.check) {
        (Some(data), _) => {
            let model: &dyn Classifier = &*loaded;
            let ds = Dataset::open_any(data)?;
            // A per-point model's classes are its points', not the dataset's scans'.
            if model.per_point().is_none() {
                ds.check_classes(args.model.name().as_ref(), model.class_names())?;
            }
            let config = ExplainConfig {
                up: Some(args.up.unwrap_or(model.up())),
                ..config.clone()
            };
            let t0 = Instant::now();
            let fit = FitConfig {
                components: args.components,
                alarm_level: args.alarm_level,
                ..FitConfig::default()
            };
            let items = ds.split(Split::Train);
            let domain = competence::fit_items(
                model,
                &items,
                &config,
                fit,
                format!("{} (training split)", data.display()),
            )?;
            let path = loaded
                .competence_path()
                .context("--fit needs --model: the built-in model's statistics are part of it")?;
            pointlime::io::write_json(&path, &domain)?;
            loaded.set_domain(domain, &path)?;
            outln!(
                "recorded {} from {} training scans in {:.1} s",
                path.display(),
                items.len(),
                t0.elapsed().as_secs_f64()
            )?;
            (data.clone(), "test")
        }
        (None, Some(data)) => (data.clone(), args.split.as_str()),
        (None, None) => match &args.evaluate {
            Some(data) => {
                crate::ood::run(&*loaded, &args, data)?;
                return Ok(ExitCode::SUCCESS);
            }
            None => bail!("give --fit DATA (record), --check DATA or --evaluate DATA (measure)"),
        },
    };
    measure(&*loaded, &args, &data, split, &config)?;
    Ok(ExitCode::SUCCESS)
}

/// Scores one split of `data` and prints, per class of the dataset, how many scans are flagged.
fn measure(
    model: &dyn Classifier,
    args: &CompetenceArgs,
    data: &std::path::Path,
    split: &str,
    config: &ExplainConfig,
) -> Result<()> {
    let Some(domain) = model.domain() else {
        bail!(
            "{}: the model has no competence statistics ({COMPETENCE_FILE}); record them with --fit",
            args.model.name()
        );
    };
    let ds = Dataset::open_any(data)?;
    let items: Vec<&Item> = match split {
        "test" => ds.split(Split::Test),
        "train" => ds.split(Split::Train),
        _ => ds.items.iter().collect(),
    };
    let t0 = Instant::now();
    let (features, shapes) =
        competence::describe(model, &items, config)?.context("the model gives no feature")?;
    let scores: Vec<competence::Competence> = features
        .chunks_exact(domain.feature_dim)
        .zip(shapes.chunks_exact(competence::SHAPE_DIM))
        .map(|(f, s)| domain.assess(f, s))
        .collect();
    let secs = t0.elapsed().as_secs_f64();
    outln!(
        "{} {split} scans of {} against {} (alarm at competence ≤ {}), {:.1} s:",
        items.len(),
        data.display(),
        args.model.name(),
        domain.alarm_level,
        secs
    )?;
    outln!(
        "  {:<14} {:>6} {:>8} {:>8} {:>11} {:>8} {:>8}",
        "class",
        "scans",
        "flagged",
        "share",
        "competence",
        "feature",
        "shape"
    )?;
    outln!(
        "  {:<14} {:>6} {:>8} {:>8} {:>11} {:>8} {:>8}",
        "",
        "",
        "",
        "",
        "(median)",
        "flagged",
        "flagged"
    )?;
    let mut rows = Vec::new();
    let classes = ds
        .class_names
        .iter()
        .enumerate()
        .map(|(c, n)| (Some(c), n.as_str()));
    for (class, name) in classes.chain([(None, "all")]) {
        let of: Vec<&competence::Competence> = items
            .iter()
            .zip(&scores)
            .filter(|(i, _)| class.is_none_or(|c| i.class == c))
            .map(|(_, s)| s)
            .collect();
        if of.is_empty() {
            continue;
        }
        let flagged = of.iter().filter(|s| !s.in_domain).count();
        // What each check alone would flag at the same level.
        let alone = |f: fn(&competence::Competence) -> f64| {
            of.iter().filter(|s| f(s) <= domain.alarm_level).count()
        };
        let (by_feature, by_shape) = (alone(|s| s.feature_score), alone(|s| s.shape_score));
        let med = median(of.iter().map(|s| s.score));
        outln!(
            "  {name:<14} {:>6} {flagged:>8} {:>7.1}% {:>11} {by_feature:>8} {by_shape:>8}",
            of.len(),
            100.0 * flagged as f64 / of.len() as f64,
            competence::format_score(med)
        )?;
        rows.push(serde_json::json!({
            "class": name, "scans": of.len(), "flagged": flagged,
            "share_flagged": flagged as f64 / of.len() as f64, "median_competence": med,
            "flagged_by_feature_alone": by_feature, "flagged_by_shape_alone": by_shape,
        }));
    }
    if let Some(path) = &args.json {
        let report = serde_json::json!({
            "model": args.model.name(),
            "data": data.display().to_string(),
            "split": split,
            "alarm_level": domain.alarm_level,
            "seconds": secs,
            "classes": rows,
            "scans": items.iter().zip(&scores).map(|(i, s)| serde_json::json!({
                "path": i.path.display().to_string(), "class": ds.class_names[i.class], "competence": s,
            })).collect::<Vec<_>>(),
        });
        pointlime::io::write_json(path, &report)?;
    }
    Ok(())
}
