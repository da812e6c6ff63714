//! `pointlime accuracy` (formerly `eval`): classification accuracy on a test split.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Result};
use clap::Args;

use pointlime::dataset::{self, Dataset, Split};
use pointlime::model::train::evaluate;
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
}

pub fn run(args: AccuracyArgs) -> Result<ExitCode> {
    let ds = Dataset::open_any(&args.data)?;
    let loaded = args.model.load_any()?;
    let model: &dyn Classifier = &*loaded;
    ds.check_classes(args.model.name().as_ref(), model.class_names())?;
    if model.channels().extra() > 0 {
        bail!(
            "{}: the model reads {} per point; accuracy gives positions alone (explain or batch \
             the test scans instead)",
            args.model.name(),
            model.channels().name()
        );
    }
    let test_items = ds.split(Split::Test);
    let test_set = dataset::prepare(&test_items, model.normalisation(), None, args.seed)?;
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
