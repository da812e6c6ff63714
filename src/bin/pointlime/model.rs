//! `pointlime model inspect`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};

use pointlime::Classifier;

use crate::args::ModelArgs;

#[derive(Args, Debug)]
pub struct ModelCommand {
    #[command(subcommand)]
    action: ModelAction,
}

#[derive(Subcommand, Debug)]
enum ModelAction {
    /// Print a model's inputs, outputs, operators and settings, and run it once: a model that
    /// cannot run says why in one line and exits 2.
    Inspect(InspectArgs),
}

#[derive(Args, Debug)]
struct InspectArgs {
    /// An ONNX file or a pointlime model directory.
    model: PathBuf,
    /// An ONNX model's class names, in output order (instead of its FILE.json's).
    #[arg(long, value_delimiter = ',')]
    classes: Option<Vec<String>>,
}

pub fn run(command: ModelCommand) -> Result<ExitCode> {
    let ModelAction::Inspect(args) = command.action;
    let model_args = ModelArgs {
        model: Some(args.model.clone()),
        classes: args.classes.clone(),
        backend: Default::default(),
    };
    let loaded = model_args.load_any()?;
    outln!("model:      {}", args.model.display())?;
    out!("{}", loaded.describe()?)?;
    let c: &dyn Classifier = &*loaded;
    if let Some(r) = c.randomisable() {
        outln!("layers:     {}", r.layer_names().join(", "))?;
    }
    outln!("classes:    {}", c.class_names().join(", "))?;
    outln!("points:     {}", c.input_points())?;
    let fast = match (c.max_pooled(), c.input_transform()) {
        (Some(_), _) => {
            "yes: a max over independent per-point features, split at the max-pool (exact)".into()
        }
        (None, Some(_)) => "in part: the input transform's per-point features once per scan, \
             maximised per segment; the rest of the network runs per sample (exact)"
            .into(),
        (None, None) => format!(
            "no: {}; every sample runs the whole network",
            loaded.slow_path_reason()
        ),
    };
    outln!("fast path:  {fast}")?;
    outln!(
        "gradients:  {}",
        if c.differentiable().is_some() {
            "yes"
        } else {
            "no (lime, kernelshap, occlusion, sag only)"
        }
    )?;
    outln!("ran once:   ok")?;
    Ok(ExitCode::SUCCESS)
}
