//! `pointlime atlas`: a global view of a dataset through a model (issue #18, item 7).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Args;
use rayon::prelude::*;

use pointlime::atlas::{tsne, write_csv, AtlasRow};
use pointlime::classifier::Output;
use pointlime::dataset::{Dataset, Split};
use pointlime::faithfulness::plot::{write_scatter_png, Scatter};
use pointlime::io::WriteOptions;
use pointlime::pipeline::{explain_cloud, explained_extension, ExplainConfig};
use pointlime::stats::top_k;
use pointlime::Classifier;

use crate::args::{progress_bar, ModelArgs, ReadArgs, SettingsArgs};

#[derive(Args, Debug)]
pub struct AtlasArgs {
    /// A labelled directory, a split manifest, or the DALES objects directory.
    #[arg(long)]
    data: PathBuf,
    #[command(flatten)]
    model: ModelArgs,
    /// Which scans: all, train or test.
    #[arg(long, default_value = "all")]
    split: String,
    /// t-SNE perplexity (lowered when there are too few scans for it).
    #[arg(long, default_value_t = 30.0)]
    perplexity: f32,
    /// Scans listed per class as most and least activating.
    #[arg(long, default_value_t = 3)]
    extremes: usize,
    /// Output directory: atlas.csv (one row per scan: classes, t-SNE coordinates, its explained
    /// scan), atlas.png (the embedding coloured by true and by predicted class), atlas.md (per
    /// class the most and least activating scans, and every misclassified scan, with their
    /// explanations) and scans/ (every scan explained).
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    read: ReadArgs,
    #[command(flatten)]
    settings: SettingsArgs,
}

/// What one scan gives the atlas.
struct Scanned {
    feature: Vec<f32>,
    logits: Vec<f32>,
    probabilities: Vec<f32>,
    explained: String,
    top: Vec<usize>,
}

pub fn run(args: AtlasArgs) -> Result<ExitCode> {
    let mut config = args.settings.resolve()?;
    let ds = Dataset::open_any(&args.data)?;
    let loaded = args.model.load_any()?;
    let model: &dyn Classifier = &*loaded;
    ds.check_classes(args.model.name().as_ref(), model.class_names())?;
    let method = config.method;
    args.settings
        .load_baselines(&mut config, model, &args.read, &[method], Some(&args.data))?;
    let items: Vec<_> = match args.split.as_str() {
        "all" => ds.items.iter().collect(),
        "train" => ds.split(Split::Train),
        "test" => ds.split(Split::Test),
        other => bail!("--split {other:?}: all, train or test"),
    };
    if items.len() < 4 {
        bail!(
            "{}: an atlas needs at least 4 scans, the {} split has {}",
            args.data.display(),
            args.split,
            items.len()
        );
    }
    let scans = args.out.join("scans");
    std::fs::create_dir_all(&scans).with_context(|| scans.display().to_string())?;
    let bar = progress_bar(items.len() as u64, "scans");
    let names = unique_names(items.iter().map(|i| i.path.as_path()));
    let scanned = items
        .par_iter()
        .zip(&names)
        .map(|(item, name)| {
            let r = scan(&item.path, name, &scans, model, &args, &config)
                .with_context(|| item.path.display().to_string());
            bar.inc(1);
            r
        })
        .collect::<Result<Vec<_>>>()?;
    bar.finish_and_clear();

    let dim = scanned[0].feature.len();
    let features: Vec<f32> = scanned.iter().flat_map(|s| s.feature.clone()).collect();
    let xy = tsne(&features, dim, args.perplexity, config.seed)?;
    let classes = model.class_names();
    let rows: Vec<AtlasRow> = items
        .iter()
        .zip(&scanned)
        .zip(&xy)
        .map(|((item, s), p)| {
            let predicted = top_k(&s.probabilities, 1)[0];
            AtlasRow {
                path: item.path.display().to_string(),
                truth: ds.class_names[item.class].clone(),
                predicted: classes[predicted].clone(),
                probability: s.probabilities[predicted] as f64,
                truth_logit: s.logits[item.class] as f64,
                x: p[0],
                y: p[1],
                explained: s.explained.clone(),
                top_segments: s
                    .top
                    .iter()
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>()
                    .join(" "),
            }
        })
        .collect();
    write_csv(&args.out.join("atlas.csv"), &rows)?;
    let by = |key: fn(&AtlasRow) -> &str| {
        let mut groups: BTreeMap<&str, Vec<(f64, f64)>> = BTreeMap::new();
        for r in &rows {
            groups.entry(key(r)).or_default().push((r.x, r.y));
        }
        // In the model's class order, so a class has one colour in both charts.
        classes
            .iter()
            .filter_map(|c| Some((c.clone(), groups.remove(c.as_str())?)))
            .collect()
    };
    let title = format!(
        "t-SNE of the global features of {} scans of {} ({})",
        rows.len(),
        args.data.display(),
        args.model.name()
    );
    write_scatter_png(
        &args.out.join("atlas.png"),
        &title,
        &[
            Scatter {
                title: "true class".into(),
                groups: by(|r| &r.truth),
            },
            Scatter {
                title: "predicted class".into(),
                groups: by(|r| &r.predicted),
            },
        ],
        1400,
        660,
    )?;
    let md = summary(&rows, &scanned, classes, args.extremes, &title);
    pointlime::io::write_text(&args.out.join("atlas.md"), &md)?;
    out!("{md}")?;
    outln!(
        "wrote {} (open a row with `pointlime view {} --row N`)",
        args.out.display(),
        args.out.join("atlas.csv").display()
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Explains one scan into `scans/NAME.explained.EXT` (with its report) and measures its feature.
fn scan(
    path: &Path,
    name: &str,
    scans: &Path,
    model: &dyn pointlime::classifier::Classifier,
    args: &AtlasArgs,
    config: &ExplainConfig,
) -> Result<Scanned> {
    let mut cloud = pointlime::io::read_with(path, args.read.options())?;
    let dropped = cloud.validate(path, config.drop_invalid)?;
    let explained = explain_cloud(
        &cloud,
        path,
        model,
        &args.model.name(),
        config,
        dropped,
        None,
    )
    .map_err(|e| e.in_file(path))?;
    let (points, channels) = (&explained.input_points, &explained.input_channels);
    let file = format!("{name}.explained.{}", explained_extension(path));
    let out = scans.join(&file);
    pointlime::io::write(&out, &explained.annotate(cloud), WriteOptions::default())?;
    pointlime::io::write_json(&out.with_extension("json"), &explained.report)?;
    let reading = pointlime::pipeline::reading(model, points, channels);
    let feature = match reading.embed(&[points]) {
        Some(f) => f?,
        None => bail!("{}: this model gives no global feature", args.model.name()),
    };
    let logits = reading.predict(&[points], Output::Logit)?;
    let report = &explained.report;
    let top = report
        .explanations
        .first()
        .map(|e| top_k(&e.coefficients, 3))
        .unwrap_or_default();
    Ok(Scanned {
        feature,
        logits,
        probabilities: report.probabilities.clone(),
        explained: format!("scans/{file}"),
        top,
    })
}

/// A file name per scan: its stem, with the parent directory's name before it when two scans
/// share a stem.
fn unique_names<'a>(paths: impl Iterator<Item = &'a Path>) -> Vec<String> {
    let paths: Vec<&Path> = paths.collect();
    let stem = |p: &Path| {
        p.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    paths
        .iter()
        .for_each(|p| *count.entry(stem(p)).or_default() += 1);
    paths
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let s = stem(p);
            if count[&s] > 1 {
                format!("{i:04}-{s}")
            } else {
                s
            }
        })
        .collect()
}

/// atlas.md: per class the most and least activating scans, and the misclassified ones.
fn summary(
    rows: &[AtlasRow],
    scanned: &[Scanned],
    classes: &[String],
    extremes: usize,
    title: &str,
) -> String {
    let line = |i: usize| {
        let r = &rows[i];
        format!(
            "| {i} | {} | {} | {} ({:.3}) | {} | {} |\n",
            r.path, r.truth, r.predicted, r.probability, r.top_segments, r.explained
        )
    };
    let head = "| row | scan | truth | predicted (p) | top segments | explained |\n|---|---|---|---|---|---|\n";
    let mut md = format!(
        "# {title}\n\nRows are those of atlas.csv; `pointlime view atlas.csv --row N` opens one.\n"
    );
    for (c, name) in classes.iter().enumerate() {
        let logits: Vec<f64> = scanned.iter().map(|s| s.logits[c] as f64).collect();
        let order = top_k(&logits, logits.len());
        md.push_str(&format!(
            "\n## {name}: most activating (highest {name} logit)\n\n{head}"
        ));
        order
            .iter()
            .take(extremes)
            .for_each(|&i| md.push_str(&line(i)));
        md.push_str(&format!("\n## {name}: least activating\n\n{head}"));
        order
            .iter()
            .rev()
            .take(extremes)
            .for_each(|&i| md.push_str(&line(i)));
    }
    let wrong: Vec<usize> = (0..rows.len())
        .filter(|&i| rows[i].truth != rows[i].predicted)
        .collect();
    md.push_str(&format!(
        "\n## Misclassified: {} of {}\n\n{head}",
        wrong.len(),
        rows.len()
    ));
    wrong.iter().for_each(|&i| md.push_str(&line(i)));
    md
}
