//! Writes the seeds of the fuzz targets that `../shared/data` has no files for (see fuzz/README.md):
//! a tiny model directory as the `model` target reads it (config, NUL, weights), and a batch run's
//! per-file JSON and summary for `resume`. The `report` target starts from
//! `data/samples/pole.explained.json`; the readers from the conformance corpora.
//! Run: `cargo run --release --example make_fuzz_seeds`.

use std::path::Path;

use pointlime::batch::{self, Job};
use pointlime::model::{Backend, ModelConfig, PointNetClassifier, PointNetConfig};
use pointlime::pipeline::ExplainConfig;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    let scratch = tempfile::tempdir()?;

    // A model small enough that a fuzzer mutates every part of it: 2 classes, 32 input points.
    let net = PointNetConfig::new(2)
        .with_point_layers(vec![8, 16])
        .with_head_layers(vec![8]);
    let config = ModelConfig::new(net, vec!["car".into(), "tree".into()]).with_num_points(32);
    let model = PointNetClassifier::new(config, Backend::Flex, 0)?;
    let dir = scratch.path().join("model");
    model.save(&dir)?;
    let mut bytes = std::fs::read(dir.join("config.json"))?;
    bytes.push(0);
    bytes.extend(std::fs::read(dir.join("weights.bpk"))?);
    std::fs::create_dir_all(seeds.join("model"))?;
    std::fs::write(seeds.join("model/tiny.bin"), bytes)?;

    // One scan through a batch run, explained with few samples to keep the report small.
    let input = scratch.path().join("in");
    let out = scratch.path().join("out");
    std::fs::create_dir_all(&input)?;
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("data/samples/pole.ply"),
        input.join("pole.ply"),
    )?;
    let mut settings = ExplainConfig::default();
    settings.explainer.n_samples = 50;
    settings.segments.target = pointlime::segment::Granularity::Count(8);
    let job = Job {
        input_root: &input,
        out_root: &out,
        classifier: &model,
        model_name: "tiny",
        config: &settings,
        explain: true,
        write: Default::default(),
        read: Default::default(),
        strict: false,
    };
    let files = batch::discover(&input, Some(&out))?;
    let stop = std::sync::atomic::AtomicBool::new(false);
    let outcome = batch::run(&job, &files, 1, false, &stop, &|_, _| {});
    let summary = out.join("summary.jsonl");
    batch::write_summary(&outcome.records, &out.join("summary.csv"), &summary)?;
    std::fs::create_dir_all(seeds.join("resume"))?;
    std::fs::copy(
        out.join("pole.ply.json"),
        seeds.join("resume/pole.ply.json"),
    )?;
    std::fs::copy(&summary, seeds.join("resume/summary.jsonl"))?;
    println!("wrote seeds under {}", seeds.display());
    Ok(())
}
