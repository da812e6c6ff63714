//! The `pointlime` command: thin glue from flags to library calls.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use pointlime::classifier::{Classifier, Output};
use pointlime::explain::{Scoring, Targets};
use pointlime::io::{self, WriteOptions};
use pointlime::model::{Backend, PointNetClassifier};
use pointlime::perturb::Removal;
use pointlime::pipeline::{explain_cloud, ExplainConfig};
use pointlime::segment::Target;

mod batch_cmd;
mod bench_cmd;
mod evaluate_cmd;
mod train_cmd;

/// Explain 3D point-cloud classifiers with LIME over supervoxels.
#[derive(Parser, Debug)]
#[command(name = "pointlime", version, about)]
struct Cli {
    /// Worker threads (default: all cores). Results are the same for any value.
    #[arg(long, global = true)]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Explain a classifier's decision on one scan: writes the scan with per-point `importance`
    /// and `segment` fields, and a JSON report.
    Explain(ExplainArgs),
    /// Print a scan's format, point count, bounds and attributes.
    Info {
        /// A .ply, .las, .laz, .xyz or .txt file.
        input: PathBuf,
    },
    /// Train a PointNet on a labelled directory or a split manifest.
    Train(train_cmd::TrainArgs),
    /// Evaluate a model on the test split of a dataset.
    Eval(train_cmd::EvalArgs),
    /// Write a DALES-objects split manifest (CSV: path,class,split).
    Manifest(train_cmd::ManifestArgs),
    /// Classify and explain every scan under a directory, in parallel, resumably, with a summary
    /// table.
    Batch(batch_cmd::BatchArgs),
    /// Join shard summaries of `batch --shard` into one.
    Merge(batch_cmd::MergeArgs),
    /// Time each stage of an explanation (segmentation, sampling, inference, fit) over sizes.
    Bench(bench_cmd::BenchArgs),
    /// Open an explained scan in the 3D viewer (runs `pointlime-view`, from the `viewer/` crate,
    /// with these arguments; see `pointlime-view --help`).
    View {
        /// Arguments for `pointlime-view`: FILE [--report R] [--screenshot OUT.png] …
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        args: Vec<std::ffi::OsString>,
    },
    /// Measure how faithful each explanation method is over test objects: deletion and insertion
    /// curves against random orders, and LIME's held-out R², seed stability and randomised-model
    /// check.
    Evaluate(evaluate_cmd::EvaluateArgs),
}

#[derive(Args, Debug)]
struct ExplainArgs {
    /// The scan: .ply, .las, .laz, .xyz or .txt.
    input: PathBuf,
    /// Model directory (config.json + weights.bpk).
    #[arg(long, default_value = "models/default", env = "POINTLIME_MODEL")]
    model: PathBuf,
    #[command(flatten)]
    settings: SettingsArgs,
    /// Class to explain, by name or index [default: the predicted class].
    #[arg(long, conflicts_with = "top_labels")]
    target: Option<String>,
    /// Output scan (.ply, .las, .laz) [default: INPUT's stem + .explained + its format; .ply for ASCII].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Output report [default: the output scan's stem + .json].
    #[arg(long)]
    report: Option<PathBuf>,
    /// Write PLY as ascii instead of binary little-endian.
    #[arg(long)]
    ascii: bool,
    /// Inference backend.
    #[arg(long, value_enum, default_value_t = Backend::Flex)]
    backend: Backend,
}

/// Explanation settings shared by `explain` and `batch`.
#[derive(Args, Debug)]
pub(crate) struct SettingsArgs {
    /// Settings file (JSON, the `settings` object of a report); flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Explanation method [default: lime]: lime, kernelshap (Shapley values, --samples
    /// coalitions), occlusion (leave one supervoxel out), gradient (‖∂score/∂xyz‖ per point,
    /// summed per supervoxel) or saliency (Zheng et al. 2019, per point, summed per supervoxel).
    #[arg(long)]
    method: Option<pointlime::explain::Method>,
    /// Target number of supervoxels [default: 50].
    #[arg(long, conflicts_with = "resolution")]
    segments: Option<usize>,
    /// Supervoxel seed resolution in metres, instead of a count.
    #[arg(long)]
    resolution: Option<f64>,
    /// Perturbed samples, the unperturbed one included [default: 1000].
    #[arg(long)]
    samples: Option<usize>,
    /// Seed for every random step [default: 0].
    #[arg(long)]
    seed: Option<u64>,
    /// Explain the k most probable classes from the same samples.
    #[arg(long)]
    top_labels: Option<usize>,
    /// Score explained [default: logit]: the class logit, or its softmax probability (which
    /// saturates near 1 on a confident model, so removals barely move it).
    #[arg(long, value_enum)]
    output: Option<OutputArg>,
    /// Same as `--output logit` (the default since the faithfulness evaluation of issue #6).
    #[arg(long, hide = true, conflicts_with = "output")]
    logit: bool,
    /// What happens to removed supervoxels [default: drop].
    #[arg(long, value_enum)]
    removal: Option<RemovalArg>,
    /// Probability that a supervoxel is kept in a sample [default: 0.5].
    #[arg(long)]
    keep_probability: Option<f64>,
    /// Clouds per classifier call [default: 32]; results do not depend on it.
    #[arg(long)]
    batch_size: Option<usize>,
    /// Never use the exact max-pool shortcut: run the whole network on every perturbed cloud
    /// (same scores up to float rounding, much slower). Same as `--scoring generic`.
    #[arg(long, conflicts_with = "scoring")]
    brute_force: bool,
    /// Which scoring paths may be used [default: auto, the fastest exact one].
    #[arg(long, value_enum)]
    scoring: Option<ScoringArg>,
    /// Double the samples, from --samples, until the top-5 supervoxels (in order) stop changing,
    /// up to this many samples (16000 when given without a value).
    #[arg(long, num_args = 0..=1, default_missing_value = "16000", value_name = "MAX")]
    auto_samples: Option<usize>,
    /// Drop points with NaN/Inf coordinates instead of failing.
    #[arg(long)]
    drop_invalid: bool,
}

impl SettingsArgs {
    /// The settings file, if any, overridden by the flags, with stage seeds derived and checked.
    pub(crate) fn resolve(&self) -> Result<ExplainConfig> {
        let mut config: ExplainConfig = match &self.config {
            Some(p) => {
                let text = std::fs::read_to_string(p).with_context(|| p.display().to_string())?;
                serde_json::from_str(&text)
                    .with_context(|| format!("{}: invalid settings", p.display()))?
            }
            None => ExplainConfig::default(),
        };
        if let Some(k) = self.segments {
            config.segments.target = Target::Count(k);
        }
        if let Some(r) = self.resolution {
            config.segments.target = Target::Resolution(r);
        }
        if let Some(s) = self.samples {
            config.lime.n_samples = s;
        }
        if let Some(s) = self.seed {
            config.seed = s;
        }
        if self.logit {
            config.lime.output = Output::Logit;
        }
        if let Some(o) = self.output {
            config.lime.output = match o {
                OutputArg::Logit => Output::Logit,
                OutputArg::Probability => Output::Probability,
            };
        }
        if let Some(r) = self.removal {
            config.lime.removal = match r {
                RemovalArg::Drop => Removal::Drop,
                RemovalArg::Centroid => Removal::Centroid,
            };
        }
        if let Some(p) = self.keep_probability {
            config.lime.keep_probability = p;
        }
        if let Some(b) = self.batch_size {
            config.lime.batch_size = b;
        }
        if self.brute_force {
            config.lime.scoring = Scoring::Generic;
        }
        if let Some(s) = self.scoring {
            config.lime.scoring = s.into();
        }
        if let Some(k) = self.top_labels {
            config.targets = Targets::Top(k);
        }
        if self.auto_samples.is_some() {
            config.lime.auto_samples_max = self.auto_samples;
        }
        config.drop_invalid |= self.drop_invalid;
        if let Some(m) = self.method {
            config.method = m;
        }
        let config = config.seeded();
        config.validate()?;
        Ok(config)
    }
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub(crate) enum ScoringArg {
    /// The exact max-pool path when the model has one, else the generic path.
    Auto,
    /// The whole network per sample, fed only each sample's kept points when that is exact.
    Generic,
    /// The whole network per sample on full N-point clouds: the reference.
    Full,
}

impl From<ScoringArg> for Scoring {
    fn from(s: ScoringArg) -> Scoring {
        match s {
            ScoringArg::Auto => Scoring::Auto,
            ScoringArg::Generic => Scoring::Generic,
            ScoringArg::Full => Scoring::Full,
        }
    }
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum OutputArg {
    Logit,
    Probability,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum RemovalArg {
    Drop,
    Centroid,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(n) = cli.threads {
        if let Err(e) = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
        {
            eprintln!("error: cannot set {n} threads: {e}");
            return ExitCode::from(2);
        }
    }
    // A panic is a bug, never an answer to bad input. The library turns panics inside format
    // crates into errors, so the hook only records the message; one that reaches here is printed
    // as one line.
    std::panic::set_hook(Box::new(|info| {
        let msg = pointlime::error::panic_message(info.payload()).unwrap_or_default();
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        *LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!("{msg}{place}"));
    }));
    match std::panic::catch_unwind(|| run(cli.command)) {
        Ok(Ok(code)) => code,
        Ok(Err(e)) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::from(2)
        }
        Err(_) => {
            let msg = LAST_PANIC
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .unwrap_or_default();
            eprintln!("error: internal error (please report): {msg}");
            ExitCode::from(2)
        }
    }
}

static LAST_PANIC: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

fn one_line(e: &anyhow::Error) -> String {
    e.chain()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(": ")
        .replace('\n', " ")
}

fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::Explain(args) => explain(args),
        Command::Info { input } => info(&input),
        Command::Train(args) => train_cmd::train(args),
        Command::Eval(args) => train_cmd::eval(args),
        Command::Manifest(args) => train_cmd::manifest(args),
        Command::Bench(args) => bench_cmd::bench(args),
        Command::Batch(args) => batch_cmd::batch(args),
        Command::Merge(args) => batch_cmd::merge(args),
        Command::Evaluate(args) => evaluate_cmd::evaluate(args),
        Command::View { args } => view(&args),
    }
}

/// A progress bar on stderr, hidden when stderr is not a terminal.
pub(crate) fn progress_bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({per_sec}, eta {eta})")
            .expect("static template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

fn default_output(input: &Path) -> PathBuf {
    let stem = input.file_stem().unwrap_or_default().to_string_lossy();
    let ext = match io::format_of(input) {
        Ok(pointlime::cloud::FileFormat::Las) => "las",
        Ok(pointlime::cloud::FileFormat::Laz) => "laz",
        _ => "ply",
    };
    input.with_file_name(format!("{stem}.explained.{ext}"))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn explain(args: ExplainArgs) -> Result<ExitCode> {
    let config = args.settings.resolve()?;

    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_output(&args.input));
    let out_format = io::format_of(&out)?;
    let report_path = args
        .report
        .clone()
        .unwrap_or_else(|| out.with_extension("json"));
    if same_file(&out, &args.input) || same_file(&report_path, &args.input) {
        bail!(
            "{}: refusing to overwrite the input file",
            args.input.display()
        );
    }
    if matches!(out_format, pointlime::cloud::FileFormat::Xyz) {
        bail!(
            "{}: explained clouds are written as .ply, .las or .laz",
            out.display()
        );
    }

    let model = PointNetClassifier::load(&args.model, args.backend)?;
    let mut config = config;
    if let Some(t) = &args.target {
        config.targets = Targets::Classes(vec![class_index(&model, t)?]);
    }
    let mut cloud = io::read(&args.input)?;
    let dropped = cloud.validate(&args.input, config.drop_invalid)?;
    if dropped > 0 {
        eprintln!(
            "warning: {}: dropped {dropped} points with NaN or infinite coordinates",
            args.input.display()
        );
    }

    let bar = progress_bar(config.lime.n_samples as u64, "sampling");
    if config.method != pointlime::explain::Method::Lime {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    let ticker = bar.clone();
    let tick = move |n: usize| ticker.inc(n as u64);
    let explained = explain_cloud(
        &cloud,
        &args.input,
        &model,
        &args.model.display().to_string(),
        &config,
        dropped,
        Some(&tick),
    )?;
    bar.finish_and_clear();

    io::write(
        &out,
        &explained.annotate(&cloud),
        WriteOptions { ascii: args.ascii },
    )?;
    io::write_json(&report_path, &explained.report)?;

    let r = &explained.report;
    let e = &r.explanations[0];
    let fit = match e.r2 {
        Some(r2) => format!(", R² = {r2:.3}"),
        None => String::new(),
    };
    println!(
        "{}: predicted {} (p = {:.3}); explained {} by {} with {} segments, {} samples{fit}, in {:.2} s",
        args.input.display(),
        r.predicted_name,
        r.probabilities[r.predicted],
        e.target_name,
        e.method,
        r.segments.len(),
        e.n_samples,
        r.timings.total
    );
    println!("wrote {} and {}", out.display(), report_path.display());
    Ok(ExitCode::SUCCESS)
}

/// Runs `pointlime-view` from beside this executable (a workspace build puts both in one
/// directory), else from the PATH, and passes its exit code on.
fn view(args: &[std::ffi::OsString]) -> Result<ExitCode> {
    let name = format!("pointlime-view{}", std::env::consts::EXE_SUFFIX);
    let beside = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join(&name)))
        .filter(|p| p.is_file());
    let program = beside.unwrap_or_else(|| PathBuf::from(&name));
    let status = std::process::Command::new(&program)
        .args(args)
        .status()
        .with_context(|| {
            format!(
                "cannot run {}: build the viewer with `cargo build --release -p pointlime-viewer`",
                program.display()
            )
        })?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(c) => ExitCode::from(c.clamp(1, 255) as u8),
        None => ExitCode::from(2),
    })
}

fn class_index(model: &dyn Classifier, t: &str) -> Result<usize> {
    let names = model.class_names();
    if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(t)) {
        return Ok(i);
    }
    match t.parse::<usize>() {
        Ok(i) if i < names.len() => Ok(i),
        _ => bail!(
            "unknown target {t:?}: the model's classes are {}",
            names.join(", ")
        ),
    }
}

fn info(input: &Path) -> Result<ExitCode> {
    let cloud = io::read(input)?;
    println!("file:       {}", input.display());
    println!("format:     {}", cloud.source.detail);
    println!("points:     {}", cloud.len());
    if let Some((lo, hi)) = cloud.bounds() {
        println!("bounds min: {:.3} {:.3} {:.3}", lo[0], lo[1], lo[2]);
        println!("bounds max: {:.3} {:.3} {:.3}", hi[0], hi[1], hi[2]);
    }
    let bad = cloud.invalid_points().len();
    if bad > 0 {
        println!("invalid:    {bad} points with NaN or infinite coordinates");
    }
    if let Some(las) = &cloud.source.las {
        println!("scale:      {:?}", las.scale);
        println!("offset:     {:?}", las.offset);
    }
    println!("attributes: {}", cloud.attributes.len());
    for a in &cloud.attributes {
        let (lo, hi) = a
            .values
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| {
                (l.min(v), h.max(v))
            });
        println!(
            "  {:<24} {:<4} min {lo} max {hi}",
            a.name,
            format!("{:?}", a.kind).to_lowercase()
        );
    }
    Ok(ExitCode::SUCCESS)
}
