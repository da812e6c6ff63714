//! Flags shared by several commands, declared once and flattened into each.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use pointlime::classifier::{Classifier, Output};
use pointlime::explain::smoothgrad::EG;
use pointlime::explain::{self, Flag, FlagValue, Method, Scoring};
use pointlime::model::{builtin, Backend, PointNetClassifier};
use pointlime::models::{self, Model, OpenOptions};
use pointlime::perturb::Removal;
use pointlime::pipeline::{legacy, load_baselines, ExplainConfig, Overrides, RegionSpec};
use pointlime::sampling::Sampling;
use pointlime::scene::{Axis, Crop};

/// Which backend runs the network.
#[derive(Args, Debug, Clone, Default)]
pub struct BackendArgs {
    /// Inference backend: flex (pure-Rust CPU), ndarray (CPU) or wgpu (GPU); ndarray and wgpu need
    /// pointlime built with `--features ndarray` or `--features wgpu`.
    #[arg(long, default_value = "flex")]
    pub backend: Backend,
}

/// Limits on reading scans.
#[derive(Args, Debug, Clone)]
pub struct ReadArgs {
    /// Refuse a scan with more points than this (LAS/LAZ and PLY: from the header, before reading;
    /// text: while reading). Memory is about 24 bytes per point plus 8 per attribute.
    #[arg(long, env = "POINTLIME_MAX_POINTS", default_value_t = pointlime::io::DEFAULT_MAX_POINTS)]
    pub max_points: usize,
    /// Names of a text scan's columns, x,y,z first (for example x,y,z,label); the extra columns
    /// travel to the explained output as named fields and can be used by --segments-from.
    /// Without it, a header line's names, else column_3, column_4, …. PLY and LAS name their own
    /// fields.
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    pub columns: Option<Vec<String>>,
}

impl ReadArgs {
    pub fn options(&self) -> pointlime::io::ReadOptions {
        pointlime::io::ReadOptions {
            max_points: self.max_points,
            columns: self.columns.clone(),
        }
    }
}

/// The model every model-loading command takes.
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// Model directory (config.json + weights.bpk), or an ONNX file (FILE.onnx, with its
    /// settings in FILE.json beside it when the defaults do not fit: see docs/models.md, "Your
    /// own model") [default: the built-in default model, the one in the repository's
    /// models/default, so no files are needed].
    #[arg(long, env = "POINTLIME_MODEL")]
    pub model: Option<PathBuf>,
    /// An ONNX model's class names, in output order (instead of its FILE.json's).
    #[arg(long, value_delimiter = ',')]
    pub classes: Option<Vec<String>>,
    #[command(flatten)]
    pub backend: BackendArgs,
}

impl ModelArgs {
    /// Whether `--model` names an ONNX file.
    fn is_onnx(&self) -> bool {
        self.model.as_deref().is_some_and(models::is_onnx)
    }

    /// Loads pointlime's own model on the chosen backend, for the commands that need one (they
    /// train, randomise or measure its layers): an ONNX file is refused in one line naming
    /// `what` it is needed for.
    pub fn load(&self) -> Result<PointNetClassifier> {
        if self.is_onnx() {
            bail!(
                "{}: this command needs a pointlime model directory; ONNX models work with explain, batch, faithfulness, accuracy and bench",
                self.name()
            );
        }
        if self.classes.is_some() {
            bail!("--classes names an ONNX model's classes; a pointlime model has its own");
        }
        Ok(match &self.model {
            Some(dir) => PointNetClassifier::load(dir, self.backend.backend)?,
            None => PointNetClassifier::load_builtin(self.backend.backend)?,
        })
    }

    /// Loads any kind of model ([`models::open`]).
    pub fn load_any(&self) -> Result<Box<dyn Model>> {
        self.open(false)
    }

    /// As [`load_any`](Self::load_any), leaving the model's competence statistics unread.
    pub fn load_any_without_competence(&self) -> Result<Box<dyn Model>> {
        self.open(true)
    }

    fn open(&self, without_competence: bool) -> Result<Box<dyn Model>> {
        match &self.model {
            Some(path)
                if self.is_onnx() && self.backend.backend != pointlime::model::Backend::Flex =>
            {
                bail!(
                    "{}: --backend is for pointlime's own models; ONNX models run on tract",
                    path.display()
                );
            }
            Some(_) if self.is_onnx() => {}
            _ if self.classes.is_some() => {
                bail!("--classes names an ONNX model's classes; a pointlime model has its own")
            }
            _ => {}
        }
        let options = OpenOptions {
            backend: self.backend.backend,
            classes: self.classes.clone(),
            without_competence,
        };
        Ok(models::open(self.model.as_deref(), &options)?)
    }

    /// The model's name in reports and messages: its directory as given, or the built-in one's.
    pub fn name(&self) -> String {
        match &self.model {
            Some(dir) => dir.display().to_string(),
            None => builtin::NAME.to_string(),
        }
    }
}

/// `--version`: the version and the built-in model, read from its embedded configuration.
pub fn version() -> String {
    let config: serde_json::Value = serde_json::from_slice(builtin::CONFIG).unwrap_or_default();
    let classes: Vec<&str> = config["class_names"]
        .as_array()
        .map(|a| a.iter().filter_map(|c| c.as_str()).collect())
        .unwrap_or_default();
    let tnets = config["network"]["input_tnet"].as_bool() == Some(true);
    format!(
        "{}\nbuilt-in model: {}, PointNet{} on {} input points, classes {} (see models/default/MODEL_CARD.md)",
        env!("CARGO_PKG_VERSION"),
        builtin::NAME,
        if tnets { " with T-Nets" } else { " without T-Nets" },
        config["num_points"],
        classes.join(", ")
    )
}

/// Explanation settings shared by `explain`, `batch` and `faithfulness`.
#[derive(Args, Debug)]
pub struct SettingsArgs {
    /// Settings file (JSON, the `settings` object of a report); flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    // Every method's name and summary, from the registry (`pointlime::explain::Method::all`).
    #[arg(long, help = explain::attribution::help())]
    method: Option<Method>,
    /// Target number of supervoxels [default: 50].
    #[arg(long, conflicts_with = "resolution")]
    segments: Option<usize>,
    /// Supervoxel seed resolution in metres, instead of a count.
    #[arg(long)]
    resolution: Option<f64>,
    /// Use this per-point field as the segments instead of supervoxels: organ labels (a text
    /// file's `label` or `column_3`), LAS `classification`, instance ids. The report gives each
    /// segment's value.
    #[arg(long, value_name = "FIELD")]
    segments_from: Option<String>,
    /// With --segments-from: parts with fewer points join the part of their nearest other point
    /// [default: 10].
    #[arg(long, value_name = "N", requires = "segments_from")]
    min_part_points: Option<usize>,
    /// Perturbed samples, the unperturbed one included (KernelSHAP: coalitions) [default: 1000].
    #[arg(long)]
    samples: Option<usize>,
    /// Seed for every random step [default: 0].
    #[arg(long)]
    seed: Option<u64>,
    /// Explain the k most probable classes from the same samples.
    #[arg(long)]
    top_labels: Option<usize>,
    /// Score explained [default: logit]: logit (the class logit) or probability (its softmax
    /// probability, which saturates near 1 on a confident model, so removals barely move it).
    #[arg(long)]
    output: Option<Output>,
    /// Same as `--output logit` (the default since the faithfulness evaluation of issue #6).
    #[arg(long, hide = true, conflicts_with = "output")]
    logit: bool,
    /// What happens to removed supervoxels [default: drop]: drop (removed, the cloud refilled
    /// with kept points) or centroid (moved onto the cloud's centre).
    #[arg(long)]
    removal: Option<Removal>,
    /// Clouds per classifier call [default: 32]; results do not depend on it.
    #[arg(long)]
    batch_size: Option<usize>,
    /// Never use the exact max-pool shortcut: run the whole network on every perturbed cloud
    /// (same scores up to float rounding, much slower). Same as `--scoring generic`.
    #[arg(long, conflicts_with = "scoring")]
    brute_force: bool,
    /// Which scoring paths may be used [default: auto]: auto (the exact max-pool path when the
    /// model has one, else generic), generic (the whole network per sample, fed only its kept
    /// points when that is exact) or full (every sample as a full N-point cloud: the reference).
    #[arg(long)]
    scoring: Option<Scoring>,
    /// Also explain at N coarser levels, each with half the segments of the one below (or twice
    /// the resolution), every supervoxel nested in one coarse segment; the report gives each
    /// level's values and their rank agreement with the supervoxels' [default: 0].
    #[arg(long, value_name = "N")]
    coarser_levels: Option<usize>,
    /// eg: the scans baselines are drawn from, a dataset directory or manifest; up to 32 scans
    /// of its training split, chosen by the seed (evaluate: its own --data by default).
    #[arg(long, value_name = "DATA")]
    pub baselines: Option<PathBuf>,
    /// Drop points with NaN/Inf coordinates instead of failing.
    #[arg(long)]
    drop_invalid: bool,
    /// How the network's N input points are drawn [default: random]: random (uniform, as in
    /// training), farthest (farthest-point sampling) or voxel (one point per voxel); the last two
    /// cover parts a phone scan holds sparsely. Every supervoxel gets at least one point either
    /// way.
    #[arg(long)]
    sampling: Option<Sampling>,
    /// Explain only the points in a box MINX,MINY,MINZ,MAXX,MAXY,MAXZ or a ball X,Y,Z,RADIUS
    /// (file coordinates); the rest are written back marked removed.
    #[arg(long, value_name = "BOX|BALL", allow_hyphen_values = true)]
    crop: Option<Crop>,
    /// Remove statistical outliers: points whose mean distance to their 8 nearest neighbours
    /// exceeds the scan's median by more than STD robust standard deviations (1.4826 × MAD)
    /// [STD default: 8].
    #[arg(long, num_args = 0..=1, default_missing_value = "8", value_name = "STD")]
    outliers: Option<f64>,
    /// Remove the ground: the dominant near-horizontal plane under the object (RANSAC), and
    /// points within --ground-threshold of it or below it.
    #[arg(long)]
    remove_ground: bool,
    /// Distance from the ground plane still counted as ground, in file units (metres for LiDAR)
    /// [default: 0.05].
    #[arg(long, requires = "remove_ground")]
    ground_threshold: Option<f64>,
    /// The scan's up axis, turned onto the model's before the network sees it, and the one
    /// ground removal uses [default: z for LAS/LAZ; for PLY and text the model's own up axis
    /// (z for the shipped DALES models); ground removal: z].
    #[arg(long)]
    up: Option<Axis>,
    /// Keep only the largest connected cluster of points (after the other scene steps).
    #[arg(long)]
    largest_cluster: bool,
    /// What a per-point model's explanation is about.
    #[command(flatten)]
    regions: RegionArgs,
    /// Each method's own flags, from its settings' description.
    #[command(flatten)]
    method_flags: MethodFlags,
}

/// The regions of a per-point model's explanation (a model that labels every point: an ONNX
/// model with `"task": "segment"`).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Per-point models")]
pub struct RegionArgs {
    /// A region to explain, repeatable: class=C (the points the model labels C, by name or
    /// index), label=FIELD:V (the points whose field FIELD is V, such as one leaf),
    /// box=X0,Y0,Z0,X1,Y1,Z1 or sphere=X,Y,Z,R (file coordinates), point=I (the scan's point
    /// I). Each is explained for the class named, or else the class the model gives most of its
    /// points [default: every class the model predicts for --min-class-share of the points].
    #[arg(long, value_name = "REGION")]
    region: Vec<RegionSpec>,
    /// Explain why point I (0-based, file order) got its class: --region point=I.
    #[arg(long, value_name = "I")]
    point: Vec<usize>,
    /// The share of the network's input points a predicted class needs to be explained when no
    /// region is named [default: 0.01].
    #[arg(long, value_name = "SHARE")]
    min_class_share: Option<f64>,
    /// Let masks drop the region's own supervoxels too; the score then averages over the region
    /// points that remain, and a sample that removes them all scores 0 [default: the region is
    /// kept whole and only its context perturbed].
    #[arg(long)]
    perturb_region: bool,
    /// Score the model's classes against the scan's own: a per-point field (LAS classification,
    /// its codes named by the ASPRS table: 2 ground, 6 building, …) or FIELD:NAME=V|V;NAME=*; the
    /// report gives overall accuracy, each class's IoU and mIoU.
    #[arg(long, value_name = "FIELD")]
    labels: Option<String>,
}

impl SettingsArgs {
    /// The settings file, if any, overridden by the flags, with stage seeds derived and checked.
    pub fn resolve(&self) -> Result<ExplainConfig> {
        let config: ExplainConfig = match &self.config {
            Some(p) => {
                let text = std::fs::read_to_string(p).with_context(|| p.display().to_string())?;
                let invalid = |problem: String| {
                    anyhow::anyhow!("{}: invalid settings: {problem}", p.display())
                };
                let value = serde_json::from_str(&text)
                    .map_err(|e| invalid(pointlime::error::json_problem(&e)))?;
                legacy::read_settings(value).map_err(|e| invalid(e.problem()))?
            }
            None => ExplainConfig::default(),
        };
        let r = &self.regions;
        let overrides = Overrides {
            method: self.method,
            segments: self.segments,
            resolution: self.resolution,
            segments_from: self.segments_from.clone(),
            min_part_points: self.min_part_points,
            samples: self.samples,
            seed: self.seed,
            output: self.output.or(self.logit.then_some(Output::Logit)),
            removal: self.removal,
            batch_size: self.batch_size,
            scoring: self
                .scoring
                .or(self.brute_force.then_some(Scoring::Generic)),
            up: self.up,
            coarser_levels: self.coarser_levels,
            top_labels: self.top_labels,
            drop_invalid: self.drop_invalid,
            sampling: self.sampling,
            crop: self.crop,
            outliers: self.outliers,
            remove_ground: self.remove_ground,
            ground_threshold: self.ground_threshold,
            largest_cluster: self.largest_cluster,
            regions: r
                .region
                .iter()
                .cloned()
                .chain(r.point.iter().map(|&i| RegionSpec::Point(i)))
                .collect(),
            min_class_share: r.min_class_share,
            perturb_region: r.perturb_region,
            labels: r.labels.clone(),
            method_settings: self
                .method_flags
                .given
                .iter()
                .map(|(m, f, v)| (m.name().to_string(), f.key.to_string(), v.clone()))
                .collect(),
        };
        Ok(overrides.apply(config)?)
    }

    /// Loads `--baselines` (or `default`) into `config` for Expected Gradients, when it is
    /// among `methods`.
    pub fn load_baselines(
        &self,
        config: &mut ExplainConfig,
        classifier: &dyn Classifier,
        read: &ReadArgs,
        methods: &[Method],
        default: Option<&std::path::Path>,
    ) -> Result<()> {
        if !methods.contains(&EG) {
            return Ok(());
        }
        let Some(data) = self.baselines.as_deref().or(default) else {
            bail!(
                "--method eg draws its baselines from other scans: give them with --baselines DATA"
            );
        };
        config.baselines =
            load_baselines(data, classifier, config, &read.options(), BASELINE_SCANS)?;
        Ok(())
    }
}

/// Every method's own flags (`--sag-beam`, `--ball-radius`, …), declared by the method beside its
/// settings ([`Flag`]) and turned into clap arguments here, so that a new method adds its flags
/// without touching the binary.
#[derive(Debug, Clone, Default)]
pub struct MethodFlags {
    /// The flags given: the method, the flag, and its value as JSON.
    given: Vec<(Method, &'static Flag, serde_json::Value)>,
}

impl MethodFlags {
    fn arg(flag: &'static Flag) -> clap::Arg {
        let arg = clap::Arg::new(flag.long)
            .long(flag.long)
            .value_name(flag.value_name)
            .help(flag.help)
            .action(clap::ArgAction::Set);
        match flag.value {
            FlagValue::Number => arg.value_parser(clap::value_parser!(f64)),
            FlagValue::Count => arg.value_parser(clap::value_parser!(u64)),
            FlagValue::CountOr(missing) => arg
                .value_parser(clap::value_parser!(u64))
                .num_args(0..=1)
                .default_missing_value(missing),
            FlagValue::Word(words) => arg.value_parser(words.to_vec()),
        }
    }
}

impl clap::FromArgMatches for MethodFlags {
    fn from_arg_matches(matches: &clap::ArgMatches) -> std::result::Result<Self, clap::Error> {
        let mut flags = MethodFlags::default();
        flags.update_from_arg_matches(matches)?;
        Ok(flags)
    }

    fn update_from_arg_matches(
        &mut self,
        matches: &clap::ArgMatches,
    ) -> std::result::Result<(), clap::Error> {
        for method in Method::all() {
            for flag in method.flags() {
                let Some(raw) = matches.get_raw(flag.long).and_then(|mut v| v.next()) else {
                    continue;
                };
                let text = raw.to_string_lossy();
                // clap's parser has checked the value already.
                let value = flag.value.json(&text).ok_or_else(|| {
                    clap::Error::raw(
                        clap::error::ErrorKind::InvalidValue,
                        format!("invalid value {text:?} for --{}\n", flag.long),
                    )
                })?;
                self.given.retain(|(_, f, _)| f.long != flag.long);
                self.given.push((method, flag, value));
            }
        }
        Ok(())
    }
}

impl clap::Args for MethodFlags {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        Method::all()
            .into_iter()
            .flat_map(Method::flags)
            .fold(cmd, |cmd, flag| cmd.arg(MethodFlags::arg(flag)))
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        MethodFlags::augment_args(cmd)
    }
}

/// Scans Expected Gradients draws its baselines from.
const BASELINE_SCANS: usize = 32;

/// A progress bar on stderr, hidden when stderr is not a terminal.
pub fn progress_bar(len: u64, what: &str) -> ProgressBar {
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
