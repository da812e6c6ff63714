//! `pointlime export`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::Args;

use pointlime::channels::Channels;
use pointlime::onnx::{write_pointnet, Layout, OnnxConfig, Scores, Task};
use pointlime::Classifier;

use crate::args::ModelArgs;

#[derive(Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Write the model as ONNX here (opset 13, `[batch, 3, n]` with free batch and point axes),
    /// and its settings as the sidecar beside it (the same name with `.json`).
    #[arg(long)]
    onnx: PathBuf,
}

pub fn run(args: ExportArgs) -> Result<ExitCode> {
    let model = args.model.load()?;
    if model.segments() {
        bail!("the exporter writes networks of whole clouds; this one labels every point");
    }
    if model.channels() != Channels::Xyz {
        bail!(
            "the exporter writes networks that read x, y, z; this one also reads {}",
            model.channels().name()
        );
    }
    if args.onnx.extension().is_none_or(|e| e != "onnx") {
        bail!(
            "{}: the exported file's name must end in .onnx",
            args.onnx.display()
        );
    }
    let config = OnnxConfig {
        class_names: model.class_names().to_vec(),
        layout: Layout::Bcn,
        num_points: model.input_points(),
        normalisation: model.normalisation(),
        up: model.up(),
        channels: Channels::Xyz,
        output: 0,
        scores: Scores::Logits,
        task: Task::Classify,
        output_layout: None,
        set_function: true,
    };
    write_pointnet(&args.onnx, &model.portable(), &config)?;
    outln!(
        "wrote {} and {}",
        args.onnx.display(),
        args.onnx.with_extension("json").display()
    )?;
    Ok(ExitCode::SUCCESS)
}
