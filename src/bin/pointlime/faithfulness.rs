//! `pointlime faithfulness` (formerly `evaluate`): how faithful each explanation method is over
//! test objects.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;

use pointlime::channels::ChannelTable;
use pointlime::classifier::Randomisable;
use pointlime::classifier::Region;
use pointlime::dataset::{Dataset, Split};
use pointlime::explain::lime::LIME;
use pointlime::explain::Method;
use pointlime::faithfulness::organs::{check_organs, organs_markdown, summarise_organs};
use pointlime::faithfulness::plot::{curve_panels, write_png};
use pointlime::faithfulness::regions::{evaluate_regions, iou_markdown, summarise_iou};
use pointlime::faithfulness::{
    check_methods, default_methods, evaluate_object, markdown, structure_markdown, summarise,
    summarise_structure, supported_methods, Randomisation, Setup,
};
use pointlime::pipeline::ExplainConfig;
use pointlime::segment::Granularity;
use pointlime::Classifier;

use crate::args::{progress_bar, ModelArgs, ReadArgs, SettingsArgs};

#[derive(Args, Debug)]
pub struct FaithfulnessArgs {
    /// A labelled directory, a split manifest, or the DALES objects directory.
    #[arg(long)]
    data: PathBuf,
    #[command(flatten)]
    model: ModelArgs,
    /// Comma-separated methods, any of explain's --method (with lime also, sag's smallest
    /// sufficient set is compared with LIME's insertion count; eg draws its baselines from the
    /// training split of --data unless --baselines says otherwise). By default lime, kernelshap
    /// and occlusion, and gradient and saliency for pointlime's own models (an ONNX model gives
    /// no gradients).
    #[arg(long, value_delimiter = ',', conflicts_with = "all_methods")]
    methods: Vec<Method>,
    /// Every method the model supports: the leaderboard.
    #[arg(long)]
    all_methods: bool,
    /// Test objects, spread evenly over the sorted test split (for a per-point model, test scans,
    /// each measured region by region: --region, --point, or every class it predicts for
    /// --min-class-share of the points).
    #[arg(long, default_value_t = 20)]
    n: usize,
    /// Random deletion orders averaged for the baseline.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Also randomise the model layer by layer, cascading from the output and one layer at a
    /// time, and compare every method's explanations at every step (two runs of each method per
    /// layer and object; sag is not rerun).
    #[arg(long)]
    layer_checks: bool,
    /// The data-randomisation sanity check: a model of the same architecture trained on the same
    /// scans with permuted labels (`pointlime train --shuffle-labels`; models/shuffled for the
    /// default model). Every method but sag also explains the same class with it, and the report
    /// gives the Spearman correlation (signed and of absolute values) and the top-5 Jaccard of the
    /// two models' segment values.
    #[arg(long, value_name = "MODEL")]
    label_check: Option<PathBuf>,
    /// Output directory for evaluation.json, evaluation.md and curves.png (the mean deletion and
    /// insertion curves of every method against random orders).
    #[arg(long)]
    out: PathBuf,
    /// Also check the explanations against organ labels in this per-point field (plant scans:
    /// the stem and one id per leaf): per class, the stem's share of the positive importance over
    /// its share of the points, and whether LIME over supervoxels ranks the organs as LIME over
    /// the organs does.
    #[arg(long)]
    organs: Option<String>,
    /// The stem's value in the --organs field: a number for every class, and CLASS=VALUE for a
    /// class that differs (for example 2,soybean=0).
    #[arg(long, default_value = "2", value_delimiter = ',')]
    stem: Vec<String>,
    #[command(flatten)]
    read: ReadArgs,
    #[command(flatten)]
    settings: SettingsArgs,
}

/// The stem's value for `class` under `--stem`.
fn stem_value(spec: &[String], class: &str) -> Result<f64> {
    let mut value = None;
    for part in spec {
        let parsed = match part.split_once('=') {
            Some((c, v)) if c == class => Some(v),
            Some(_) => None,
            None if value.is_none() => Some(part.as_str()),
            None => None,
        };
        if let Some(v) = parsed {
            value = Some(
                v.trim()
                    .parse::<f64>()
                    .with_context(|| format!("--stem {part:?}: not a number"))?,
            );
        }
    }
    value.with_context(|| format!("--stem gives no value for class {class}"))
}

/// One layer-by-layer randomisation check: cascading or not, the layer, the randomised model.
type LayerStep = (bool, String, Box<dyn Classifier>);

/// The models of the layer-by-layer randomisation checks, `(cascading, layer, model)`.
/// Cascading: the output layer, then it and the one below, … down to the input. Independent: each
/// layer alone. The same seed throughout, so a layer gets the same new weights in both.
fn layer_steps(
    layers: &dyn Randomisable,
    all_layers: &[String],
    seed: u64,
) -> Result<Vec<LayerStep>> {
    let mut steps = Vec::new();
    for d in 1..=all_layers.len() {
        let top = &all_layers[all_layers.len() - d..];
        steps.push((true, top[0].clone(), layers.randomised(top, seed)?));
    }
    for layer in all_layers {
        let one = std::slice::from_ref(layer);
        steps.push((false, layer.clone(), layers.randomised(one, seed)?));
    }
    Ok(steps)
}

/// The model of `--label-check`, refused unless it reads and answers as `model` does: the same
/// classes in the same order, the same number of points and the same channels.
fn label_model(
    path: &std::path::Path,
    model: &dyn Classifier,
    model_args: &ModelArgs,
) -> Result<Box<dyn pointlime::models::Model>> {
    let options = pointlime::models::OpenOptions {
        backend: model_args.backend.backend,
        classes: None,
        without_competence: true,
    };
    let other = pointlime::models::open(Some(path), &options)?;
    let differs = if other.class_names() != model.class_names() {
        Some(format!(
            "its classes ({}) are not the model's ({})",
            other.class_names().join(", "),
            model.class_names().join(", ")
        ))
    } else if other.input_points() != model.input_points() {
        Some(format!(
            "it reads {} points, the model {}",
            other.input_points(),
            model.input_points()
        ))
    } else if other.channels() != model.channels() || other.per_point().is_some() {
        Some("it reads other channels than the model, or labels every point".to_string())
    } else {
        None
    };
    if let Some(why) = differs {
        bail!(
            "{}: --label-check needs the model's architecture trained on permuted labels; {why}",
            path.display()
        );
    }
    Ok(other)
}

/// The methods compared: `--all-methods`, those named, or the defaults for this model.
fn compared_methods(args: &FaithfulnessArgs, model: &dyn Classifier) -> Vec<Method> {
    if args.all_methods {
        supported_methods(model)
    } else if args.methods.is_empty() {
        default_methods(model)
    } else {
        args.methods.clone()
    }
}

/// The report's first line: what was evaluated, with which settings.
fn heading(args: &FaithfulnessArgs, config: &ExplainConfig, what: &str) -> String {
    format!(
        "# pointlime faithfulness: {} of {}, model {}, {} segments, {} samples, seed {}",
        what,
        args.data.display(),
        args.model.name(),
        match config.segments.target {
            Granularity::Count(k) => k.to_string(),
            Granularity::Resolution(r) => format!("{r} m resolution"),
        },
        config.explainer.n_samples,
        config.seed
    )
}

pub fn run(args: FaithfulnessArgs) -> Result<ExitCode> {
    let mut config = args.settings.resolve()?;
    if config.method != LIME {
        bail!("faithfulness compares methods with --methods, not --method");
    }
    let ds = Dataset::open_any(&args.data)?;
    let loaded = args.model.load_any()?;
    let model: &dyn Classifier = &*loaded;
    let per_point = model.per_point().is_some();
    if !per_point {
        ds.check_classes(args.model.name().as_ref(), model.class_names())?;
    } else if args.organs.is_some() || args.layer_checks || args.label_check.is_some() {
        bail!(
            "{}: the model labels every point; --organs, --layer-checks and --label-check \
             measure models of whole clouds",
            args.model.name()
        );
    }
    // A per-point model's explanations are of a region read as a classifier: the methods are
    // those that run on one (kept whole, or perturbed with the rest).
    let one: &[[f32; 3]] = &[[0.0; 3]];
    // A model that reads channels is asked with zeros for them, as a scan binds its own.
    let width = model.channels().extra();
    let probe = (width > 0)
        .then(|| model.with_channels(ChannelTable::new(one, vec![0.0; width], width)))
        .flatten();
    let probed: &dyn Classifier = probe.as_deref().unwrap_or(model);
    let as_explained = if !per_point {
        None
    } else if config.regions.perturb_region {
        Region::perturbing(probed, one, one)
    } else {
        Region::keeping(probed, one, one)
    };
    let explained: &dyn Classifier = as_explained.as_ref().map_or(model, |r| r as _);
    let compared = compared_methods(&args, explained);
    check_methods(&compared, explained).with_context(|| args.model.name())?;
    args.settings
        .load_baselines(&mut config, model, &args.read, &compared, Some(&args.data))?;
    let layers = model
        .randomisable()
        .with_context(|| format!("{}: its layers cannot be randomised", args.model.name()))?;
    let all_layers = layers.layer_names();
    let seed = config.seed ^ 0xa11;
    let randomised = layers.randomised(&all_layers, seed)?;
    let step_models = if args.layer_checks {
        layer_steps(layers, &all_layers, seed)?
    } else {
        Vec::new()
    };
    let steps: Vec<Randomisation> = step_models
        .iter()
        .map(|(cascading, layer, m)| Randomisation {
            cascading: *cascading,
            layer: layer.clone(),
            model: m.as_ref(),
        })
        .collect();
    let shuffled = match &args.label_check {
        Some(path) => Some(label_model(path, model, &args.model)?),
        None => None,
    };
    let test = ds.split(Split::Test);
    if test.is_empty() || args.n == 0 {
        bail!("{}: no test objects to evaluate", args.data.display());
    }
    let n = args.n.min(test.len());
    let picked: Vec<_> = (0..n).map(|i| test[i * test.len() / n]).collect();

    let setup = Setup {
        classifier: model,
        randomised: randomised.as_ref(),
        steps: &steps,
        label_shuffled: shuffled.as_deref().map(|m| m as &dyn Classifier),
        config: &config,
        methods: &compared,
        rounds: args.rounds,
    };
    let bar = progress_bar(n as u64, "objects");
    let start = Instant::now();
    let mut objects = Vec::new();
    let mut organ_checks = Vec::new();
    let mut regions = Vec::new();
    for item in picked {
        let mut cloud = item.read_with(args.read.options())?;
        cloud.validate(&item.path, config.drop_invalid)?;
        if per_point {
            let found = evaluate_regions(&cloud, &item.path.display().to_string(), &setup)
                .map_err(|e| e.in_file(&item.path))?;
            objects.extend(found.iter().map(|r| r.object.clone()));
            regions.extend(found);
            bar.inc(1);
            continue;
        }
        let result = evaluate_object(
            &cloud,
            &item.path.display().to_string(),
            &ds.class_names[item.class],
            &setup,
        )
        .map_err(|e| e.in_file(&item.path))?;
        objects.push(result);
        if let Some(field) = &args.organs {
            let class = &ds.class_names[item.class];
            organ_checks.push(
                check_organs(
                    &cloud,
                    &item.path,
                    class,
                    model,
                    &config,
                    field,
                    stem_value(&args.stem, class)?,
                )
                .map_err(|e| e.in_file(&item.path))?,
            );
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let (methods, lime) = summarise(&objects, &compared);
    let what = if per_point {
        format!("{} regions of {n} test scans", regions.len())
    } else {
        format!("{n} test objects")
    };
    let header = heading(&args, &config, &what);
    let (structure, level_agreement) = summarise_structure(&objects);
    let mut md = markdown(&methods, lime.as_ref(), &header);
    md.push_str(&structure_markdown(structure.as_ref(), &level_agreement));
    let organs = summarise_organs(&organ_checks, &ds.class_names);
    if let Some(field) = &args.organs {
        md.push_str(&organs_markdown(&organs, field));
    }
    let region_iou = summarise_iou(&regions, &compared);
    if per_point {
        md.push_str(&iou_markdown(&region_iou));
    }
    std::fs::create_dir_all(&args.out).with_context(|| args.out.display().to_string())?;
    pointlime::io::write_json(
        &args.out.join("evaluation.json"),
        &serde_json::json!({
            "data": args.data.display().to_string(),
            "model": args.model.name(),
            "settings": config,
            "randomised_layers": all_layers,
            "seconds": start.elapsed().as_secs_f64(),
            "methods": methods,
            "lime": lime,
            "structure": structure,
            "level_agreement": level_agreement,
            "organs": organs,
            "organ_checks": organ_checks,
            "region_iou": region_iou,
            "regions": regions,
            "objects": objects,
        }),
    )?;
    pointlime::io::write_text(&args.out.join("evaluation.md"), &md)?;
    let score = config.explainer.scoring.output.name();
    write_png(
        &args.out.join("curves.png"),
        header.trim_start_matches("# "),
        &curve_panels(&objects, &compared, score),
        1400,
        560,
    )?;
    out!("{md}")?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::stem_value;

    #[test]
    fn stem_values_default_with_per_class_overrides() {
        let spec: Vec<String> = ["2", "soybean=0"].map(String::from).to_vec();
        assert_eq!(stem_value(&spec, "benthi").unwrap(), 2.0);
        assert_eq!(stem_value(&spec, "soybean").unwrap(), 0.0);
        let only: Vec<String> = vec!["soybean=0".into()];
        assert!(stem_value(&only, "benthi").is_err());
        assert!(stem_value(&["x".to_string()], "a").is_err());
    }
}
