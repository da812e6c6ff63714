//! `pointlime model inspect`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};

use pointlime::Classifier;

use crate::args::{Loaded, ModelArgs};

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
    match &loaded {
        Loaded::Onnx(m) => {
            out!("{}", pointlime::onnx::describe(&args.model)?)?;
            let c = m.config();
            outln!(
                "settings:   layout {:?}, channels {}, {:?} normalisation, {} up, output {} as {:?}",
                c.layout,
                c.channels.name(),
                c.normalisation,
                c.up.name(),
                c.output,
                c.scores
            )?;
        }
        Loaded::PointNet(m) => {
            let net = &m.config().network;
            outln!(
                "network:    PointNet{}, point layers {:?}, head {:?}",
                if net.input_tnet { " with T-Nets" } else { "" },
                net.point_layers,
                net.head_layers
            )?;
            outln!(
                "competence: {}",
                if m.domain().is_some() {
                    "recorded"
                } else {
                    "no statistics"
                }
            )?;
        }
    }
    let c = loaded.classifier();
    if let Some(r) = c.randomisable() {
        outln!("layers:     {}", r.layer_names().join(", "))?;
    }
    outln!("classes:    {}", c.class_names().join(", "))?;
    outln!("points:     {}", c.input_points())?;
    let fast = match (&loaded, c.max_pooled(), c.input_transform()) {
        (_, Some(_), _) => {
            "yes: a max over independent per-point features, split at the max-pool (exact)".into()
        }
        (_, None, Some(_)) => "in part: the input transform's per-point features once per scan, \
             maximised per segment; the rest of the network runs per sample (exact)"
            .into(),
        (Loaded::Onnx(m), None, None) => format!(
            "no: {}; every sample runs the whole network",
            m.fast_path().err().unwrap_or_default()
        ),
        (Loaded::PointNet(_), None, None) => {
            "no: the T-Nets look across points; every sample runs the whole network".into()
        }
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
