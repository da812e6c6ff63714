//! `pointlime explain`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::Args;
use indicatif::ProgressDrawTarget;

use pointlime::classifier::class_index;
use pointlime::cloud::FileFormat;
use pointlime::competence;
use pointlime::explain::lime::LIME;
use pointlime::explain::sag::SAG;
use pointlime::explain::{Payload, Structure, Targets};
use pointlime::faithfulness::plot::draw_graph_png;
use pointlime::html;
use pointlime::io::{self, WriteOptions};
use pointlime::pipeline::{default_output, default_report, explain_cloud, Report};
use pointlime::Classifier;

use crate::args::{progress_bar, ModelArgs, ReadArgs, SettingsArgs};
use crate::report::PageArgs;

#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// The scan: .ply, .las, .laz, .xyz, .txt or .pts.
    input: PathBuf,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    settings: SettingsArgs,
    #[command(flatten)]
    read: ReadArgs,
    /// Class to explain, by name or index [default: the predicted class].
    #[arg(long, conflicts_with = "top_labels")]
    target: Option<String>,
    /// Output scan (.ply, .las, .laz) [default: INPUT's stem + .explained + its format; .ply for
    /// text].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Output report [default: the output scan's stem + .json].
    #[arg(long)]
    report: Option<PathBuf>,
    /// With --method sag: the attention graph of the first explained class, as PNG [default:
    /// the report's stem + .sag.png].
    #[arg(long)]
    graph: Option<PathBuf>,
    /// Write PLY as ascii instead of binary little-endian.
    #[arg(long)]
    ascii: bool,
    /// Also write the explanation as a self-contained HTML page with an interactive 3D view, at
    /// PAGE [default: the output scan's stem + .html].
    #[arg(long, num_args = 0..=1, value_name = "PAGE")]
    html: Option<Option<PathBuf>>,
    #[command(flatten, next_help_heading = "HTML page (--html)")]
    page: PageArgs,
    /// Refuse a scan the model's competence check flags as outside what it was trained on: exit
    /// code 3, one error line, nothing written. Without it such a scan is explained, with a
    /// warning and `trusted: false` in the report.
    #[arg(long)]
    strict: bool,
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// The sets of a structural explanation, one line each, with the member that costs most.
fn describe_structure(s: &Structure) -> Result<()> {
    let threshold = s.threshold * s.original_probability;
    if s.sets.is_empty() {
        outln!(
            "no set of supervoxels alone reached p ≥ {threshold:.3}{}",
            if s.budget_exhausted {
                " within the evaluation budget (--sag-budget)"
            } else {
                ""
            }
        )?;
    }
    for (i, set) in s.sets.iter().enumerate() {
        let ids: Vec<String> = set.segments.iter().map(|x| x.to_string()).collect();
        let weakest = set
            .children
            .iter()
            .min_by(|a, b| a.probability.total_cmp(&b.probability));
        let cost = match weakest {
            Some(c) => format!("; without {} p = {:.3}", c.removed, c.probability),
            None => String::new(),
        };
        outln!(
            "  set {}: supervoxels {{{}}} alone give p = {:.3} (≥ {threshold:.3}){cost}",
            i + 1,
            ids.join(", "),
            set.probability
        )?;
    }
    outln!(
        "  {}{}",
        if s.budget_exhausted {
            "the evaluation budget was reached (--sag-budget); "
        } else {
            ""
        },
        if s.has_disjoint_sets() {
            "two of the sets share no supervoxel: the decision has more than one independent basis"
        } else {
            "no two sets are disjoint"
        }
    )?;
    Ok(())
}

/// What `explain` prints of a report: the decision and its explanation, the competence, sag's
/// sets and the coarser levels.
/// What the summary line leads with when the competence check flagged the scan.
fn untrusted(r: &Report) -> String {
    match &r.competence {
        Some(c) if !c.in_domain => format!(
            "NOT TO BE TRUSTED, outside what the model was trained on (competence {}); ",
            competence::format_score(c.score)
        ),
        _ => String::new(),
    }
}

fn print_summary(input: &Path, r: &Report) -> Result<()> {
    if !r.regions.is_empty() {
        return print_regions(input, r);
    }
    let e = &r.explanations[0];
    let fit = match e.r2 {
        Some(r2) => format!(", R² = {r2:.3}"),
        None => String::new(),
    };
    outln!(
        "{}: {}predicted {} (p = {:.3}); explained {} by {} with {} segments, {} {}{fit}, in {:.2} s",
        input.display(),
        untrusted(r),
        r.predicted_name,
        r.probabilities[r.predicted],
        e.target_name,
        e.method,
        r.segments.len(),
        e.n_samples,
        if e.method == SAG {
            "sets scored"
        } else {
            "samples"
        },
        r.timings.total
    )?;
    if let Some(c) = &r.competence {
        outln!(
            "  competence {} (feature {}, shape {}; nearest class {}): {}",
            competence::format_score(c.score),
            competence::format_score(c.feature_score),
            competence::format_score(c.shape_score),
            c.nearest_class,
            if c.in_domain {
                "the scan looks like the model's training scans"
            } else {
                "OUTSIDE what the model was trained on"
            },
        )?;
        if !c.in_domain {
            eprintln!("warning: {}", competence::warning(input, c));
        }
    } else {
        outln!(
            "  competence not measured: the model has no competence statistics (record them with \
             `pointlime competence --fit DATA --model MODEL`)"
        )?;
    }
    if let Some(s) = e.payload.as_ref().and_then(Payload::structure) {
        describe_structure(s)?;
    }
    for level in &r.levels {
        let rho = match level.rank_correlation.first().copied().flatten() {
            Some(rho) => format!("{rho:.2}"),
            None => "undefined (constant values)".into(),
        };
        outln!(
            "  level {}: {} segments; rank agreement with the supervoxels summed into them: {rho}",
            level.level,
            level.segments
        )?;
    }
    Ok(())
}

/// What `explain` prints of a per-point model's report: what it calls the points, then one line
/// per region with its class and the context segments that raise it most.
fn print_regions(input: &Path, r: &Report) -> Result<()> {
    let mut shares: Vec<(usize, f64)> = r.predicted_shares.iter().copied().enumerate().collect();
    shares.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let shares: Vec<String> = shares
        .iter()
        .filter(|(_, s)| *s > 0.0)
        .map(|&(c, s)| format!("{} {:.1}%", r.class_names[c], 100.0 * s))
        .collect();
    outln!(
        "{}: {}labels its points {}; {} region(s) explained by {} with {} segments, in {:.2} s",
        input.display(),
        untrusted(r),
        shares.join(", "),
        r.regions.len(),
        r.explanations[0].method,
        r.segments.len(),
        r.timings.total
    )?;
    for (g, e) in r.regions.iter().zip(&r.explanations) {
        let mut order: Vec<usize> = (0..e.coefficients.len()).collect();
        order.sort_by(|&a, &b| {
            e.coefficients[b]
                .total_cmp(&e.coefficients[a])
                .then(a.cmp(&b))
        });
        let top: Vec<String> = order
            .iter()
            .take(3)
            .filter(|&&k| e.coefficients[k] > 0.0)
            .map(|&k| format!("{k} ({:+.3})", e.coefficients[k]))
            .collect();
        let fit = e.r2.map(|r2| format!(", R² = {r2:.3}")).unwrap_or_default();
        outln!(
            "  {} [importance_{}]: {} points, {} (p = {:.3}){fit}; raised most by segments {}",
            g.spec,
            g.name,
            g.points,
            g.target_name,
            g.probabilities[g.target],
            if top.is_empty() {
                "none".to_string()
            } else {
                top.join(", ")
            }
        )?;
    }
    if let Some(l) = &r.label_scores {
        let iou: Vec<String> = l
            .iou
            .iter()
            .zip(&r.class_names)
            .filter_map(|(v, name)| v.map(|v| format!("{name} {:.1}%", 100.0 * v)))
            .collect();
        outln!(
            "  against {}: overall accuracy {:.1}%, mIoU {:.1}% (IoU {}) over {} points",
            l.labels,
            100.0 * l.overall_accuracy,
            100.0 * l.miou,
            iou.join(", "),
            l.points
        )?;
    }
    Ok(())
}

pub fn run(args: ExplainArgs) -> Result<ExitCode> {
    let mut config = args.settings.resolve()?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_output(&args.input));
    let out_format = io::format_of(&out)?;
    let report_path = args.report.clone().unwrap_or_else(|| default_report(&out));
    if same_file(&out, &args.input) || same_file(&report_path, &args.input) {
        bail!(
            "{}: refusing to overwrite the input file",
            args.input.display()
        );
    }
    if matches!(out_format, FileFormat::Xyz) {
        bail!(
            "{}: explained clouds are written as .ply, .las or .laz",
            out.display()
        );
    }

    let page_options = args.page.options()?;
    let html_path = args
        .html
        .clone()
        .map(|p| p.unwrap_or_else(|| out.with_extension("html")));
    if html_path
        .as_ref()
        .is_some_and(|h| same_file(h, &args.input))
    {
        bail!(
            "{}: refusing to overwrite the input file",
            args.input.display()
        );
    }
    let loaded = args.model.load_any()?;
    let model: &dyn Classifier = &*loaded;
    if let Some(t) = &args.target {
        // The message alone, as before the lookup moved to the library.
        let class = class_index(model, t).map_err(|e| anyhow::anyhow!(e.problem()))?;
        config.targets = Targets::Classes(vec![class]);
    }
    let method = config.method;
    args.settings
        .load_baselines(&mut config, model, &args.read, &[method], None)?;
    let mut cloud = io::read_with(&args.input, args.read.options())?;
    let dropped = cloud.validate(&args.input, config.drop_invalid)?;
    if dropped > 0 {
        eprintln!(
            "warning: {}: dropped {dropped} points with NaN or infinite coordinates",
            args.input.display()
        );
    }

    if let Some(g) = &args.graph {
        if config.method != SAG {
            bail!("--graph draws the attention graph of --method sag");
        }
        // Checked before any work, so a mistyped directory does not fail after the scan and
        // report are written.
        match g.parent() {
            Some(d) if !d.as_os_str().is_empty() && !d.is_dir() => {
                bail!(
                    "{}: the directory {} does not exist",
                    g.display(),
                    d.display()
                )
            }
            _ => {}
        }
    }
    let bar = progress_bar(config.explainer.n_samples as u64, "sampling");
    if config.method != LIME {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    let ticker = bar.clone();
    let tick = move |n: usize| ticker.inc(n as u64);
    let explained = explain_cloud(
        &cloud,
        &args.input,
        model,
        &args.model.name(),
        &config,
        dropped,
        Some(&tick),
    )
    .map_err(|e| e.in_file(&args.input))?;
    bar.finish_and_clear();

    if args.strict {
        if let Some(c) = explained
            .report
            .competence
            .as_ref()
            .filter(|c| !c.in_domain)
        {
            eprintln!(
                "error: {}; --strict: nothing written",
                competence::warning(&args.input, c)
            );
            return Ok(ExitCode::from(3));
        }
    }

    // All or none: a report that cannot be written leaves no explained scan behind.
    let mut outputs = io::Outputs::new();
    let annotated = explained.annotate(cloud);
    outputs.cloud(&out, &annotated, WriteOptions { ascii: args.ascii })?;
    outputs.json(&report_path, &explained.report)?;
    if let Some(page_path) = &html_path {
        let page = html::single(
            &out,
            &annotated,
            &explained.report,
            page_path,
            &page_options,
        )?;
        outputs.at(page_path, ".html", |tmp| page.write(tmp))?;
    }
    drop(annotated);
    let structure = explained.report.explanations[0]
        .payload
        .as_ref()
        .and_then(Payload::structure);
    let graph = match structure {
        Some(structure) if !structure.sets.is_empty() => {
            let path = args
                .graph
                .clone()
                .unwrap_or_else(|| report_path.with_extension("sag.png"));
            let class = &explained.report.explanations[0].target_name;
            outputs.at(&path, ".png", |tmp| {
                draw_graph_png(tmp, &path, class, structure)
            })?;
            Some(path)
        }
        _ => None,
    };
    outputs.commit()?;

    print_summary(&args.input, &explained.report)?;
    match graph {
        Some(g) => outln!(
            "wrote {}, {} and {}",
            out.display(),
            report_path.display(),
            g.display()
        )?,
        None => outln!("wrote {} and {}", out.display(), report_path.display())?,
    }
    if let Some(p) = &html_path {
        outln!("wrote {}", p.display())?;
    }
    Ok(ExitCode::SUCCESS)
}
