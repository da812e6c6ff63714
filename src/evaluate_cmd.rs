//! `pointlime evaluate`: faithfulness of each explanation method over test objects.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;

use pointlime::classifier::Classifier;
use pointlime::dataset::Split;
use pointlime::evaluate::{check_methods, evaluate_object, markdown, summarise, Method};
use pointlime::model::{Backend, PointNetClassifier};

use crate::SettingsArgs;

#[derive(Args, Debug)]
pub struct EvaluateArgs {
    /// A labelled directory, a split manifest, or the DALES objects directory.
    #[arg(long)]
    data: PathBuf,
    /// Model directory.
    #[arg(long, default_value = "models/default", env = "POINTLIME_MODEL")]
    model: PathBuf,
    /// Comma-separated methods: lime, kernelshap, occlusion, gradient, saliency.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "lime,kernelshap,occlusion,gradient,saliency"
    )]
    methods: Vec<Method>,
    /// Test objects, spread evenly over the sorted test split.
    #[arg(long, default_value_t = 20)]
    n: usize,
    /// Random deletion orders averaged for the baseline.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Output directory for evaluation.json and evaluation.md.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    settings: SettingsArgs,
}

pub fn evaluate(args: EvaluateArgs) -> Result<ExitCode> {
    check_methods(&args.methods)?;
    let config = args.settings.resolve()?;
    let ds = crate::train_cmd::open_dataset(&args.data)?;
    let model = PointNetClassifier::load(&args.model, Backend::Flex)?;
    if model.class_names() != ds.class_names.as_slice() {
        bail!(
            "{}: model classes ({}) differ from the dataset's ({})",
            args.model.display(),
            model.class_names().join(", "),
            ds.class_names.join(", ")
        );
    }
    let all_layers = model.layer_names();
    let randomised = model.randomised(&all_layers, config.seed ^ 0xa11)?;
    let test = ds.split(Split::Test);
    if test.is_empty() || args.n == 0 {
        bail!("{}: no test objects to evaluate", args.data.display());
    }
    let n = args.n.min(test.len());
    let picked: Vec<_> = (0..n).map(|i| test[i * test.len() / n]).collect();

    let bar = crate::progress_bar(n as u64, "objects");
    let start = Instant::now();
    let mut objects = Vec::new();
    for item in picked {
        let mut cloud = pointlime::io::read(&item.path)?;
        cloud.validate(&item.path, config.drop_invalid)?;
        let result = evaluate_object(
            &cloud,
            &item.path.display().to_string(),
            &ds.class_names[item.class],
            &model,
            &randomised,
            &config,
            &args.methods,
            args.rounds,
        )
        .with_context(|| item.path.display().to_string())?;
        objects.push(result);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let (methods, lime) = summarise(&objects, &args.methods);
    let header = format!(
        "# pointlime evaluate: {} test objects of {}, model {}, {} segments, {} samples, seed {}",
        n,
        args.data.display(),
        args.model.display(),
        match config.segments.target {
            pointlime::segment::Target::Count(k) => k.to_string(),
            pointlime::segment::Target::Resolution(r) => format!("{r} m resolution"),
        },
        config.lime.n_samples,
        config.seed
    );
    let md = markdown(&methods, lime.as_ref(), &header);
    std::fs::create_dir_all(&args.out).with_context(|| args.out.display().to_string())?;
    pointlime::io::write_json(
        &args.out.join("evaluation.json"),
        &serde_json::json!({
            "data": args.data.display().to_string(),
            "model": args.model.display().to_string(),
            "settings": config,
            "randomised_layers": all_layers,
            "seconds": start.elapsed().as_secs_f64(),
            "methods": methods,
            "lime": lime,
            "objects": objects,
        }),
    )?;
    pointlime::io::write_text(&args.out.join("evaluation.md"), &md)?;
    print!("{md}");
    Ok(ExitCode::SUCCESS)
}
