//! The burn side: PointNet, its on-disk form, and the [`Classifier`] it implements. burn is named
//! only under this module.
//!
//! A model directory holds `config.json` (architecture, class names, input size, normalisation:
//! the single source of truth for building the network) and `weights.bpk` (burn's burnpack record).

pub mod pointnet;
pub mod train;

use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::store::ModuleRecord;
use serde::{Deserialize, Serialize};

use crate::channels::{ChannelTable, Channels};
use crate::classifier::{
    softmax_rows, Classifier, Differentiable, InputTransform, MaxPooled, Output, PerPoint,
    PointPooled, PointsHead, PoolLayer, Randomisable,
};
use crate::cloud::{Axis, Normalisation};
use crate::domain::Domain;
use crate::error::{Error, Result};
use crate::explain::ScoringPath;
pub use pointnet::{PointNet, PointNetConfig, TNET_WIDTH};

/// Everything needed to rebuild a trained model, saved as `config.json`.
#[derive(Config, Debug)]
pub struct ModelConfig {
    /// The architecture.
    pub network: PointNetConfig,
    /// Class names in output order.
    pub class_names: Vec<String>,
    /// Points per input cloud.
    #[config(default = 1024)]
    pub num_points: usize,
    /// World-to-model-frame mapping the network was trained with.
    #[config(default = "Normalisation::UnitSphere")]
    pub normalisation: Normalisation,
    /// CRC-32 of `weights.bpk` as saved, checked on load: a bit flipped in transfer or on disk
    /// changes a weight silently otherwise. Absent in model directories written before it existed.
    #[config(default = "None")]
    pub weights_crc32: Option<u32>,
    /// The up axis of the training scans (`train --up`), about which training rotated them; a
    /// scan's up axis is turned onto it before the network sees it. Absent (models written
    /// before it existed): z. An `Option`, as `weights_crc32`, because burn's `Config` derive
    /// gives no serde default for a missing field.
    #[config(default = "None")]
    pub up: Option<Axis>,
    /// The side, in file units (metres), of the square horizontal windows the model was trained
    /// on (a manifest's `window` column): a larger scan is explained in a window of this size
    /// around the region (docs/per-point.md). Absent: the model reads whole scans.
    #[config(default = "None")]
    pub window: Option<f64>,
    /// What the network reads per point after x, y, z (`train --channels`); its width is the
    /// network's [`PointNetConfig::extra_channels`]. Absent: x, y, z alone.
    #[config(default = "None")]
    pub channels: Option<Channels>,
}

/// The CPU or GPU backend that runs the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// burn's pure-Rust CPU backend (multi-threaded through rayon). By default, this: it measured
    /// faster than ndarray here (see docs/performance.md).
    #[default]
    Flex,
    /// burn's ndarray CPU backend (cargo feature `ndarray`), kept to benchmark flex against.
    Ndarray,
    /// burn's wgpu GPU backend (cargo feature `wgpu`).
    Wgpu,
}

impl std::str::FromStr for Backend {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Backend, String> {
        match s {
            "flex" => Ok(Backend::Flex),
            "ndarray" => Ok(Backend::Ndarray),
            "wgpu" => Ok(Backend::Wgpu),
            _ => Err(format!("unknown backend {s:?}: flex, ndarray or wgpu")),
        }
    }
}

impl Backend {
    fn device(self) -> Result<Device> {
        match self {
            Backend::Flex => Ok(Device::flex()),
            // Opt-in: burn-ndarray was the costliest crate of a cold build (440 s of 2,409 s of
            // compiling, issue #27) for a backend that only benchmarks compare flex against.
            #[cfg(feature = "ndarray")]
            #[allow(deprecated)] // kept to benchmark against flex, as the issue asks
            Backend::Ndarray => Ok(Device::ndarray()),
            #[cfg(not(feature = "ndarray"))]
            Backend::Ndarray => Err(Error::Config(
                "the ndarray backend needs pointlime built with `--features ndarray`".into(),
            )),
            #[cfg(feature = "wgpu")]
            Backend::Wgpu => Ok(Device::wgpu(Default::default())),
            #[cfg(not(feature = "wgpu"))]
            Backend::Wgpu => Err(Error::Config(
                "the wgpu backend needs pointlime built with `--features wgpu`".into(),
            )),
        }
    }
}

const CONFIG_FILE: &str = "config.json";
/// The competence statistics ([`Domain`]), when recorded.
pub const COMPETENCE_FILE: &str = "competence.json";
/// burn's record errors in words: they embed the debug form of the I/O or parse error inside
/// (`Metadata deserialization error: Io(Error { kind: UnexpectedEof, … })`), which is cut off.
fn weights_problem(burn: &str) -> String {
    let words = match burn.find(['(', '{']) {
        // Drop the debug value and the type name before it (`Io(`).
        Some(i) => burn[..i].trim_end_matches(|c: char| c.is_alphanumeric()),
        None => burn,
    }
    .trim_end_matches([':', ' ', '\n']);
    if words.is_empty() {
        "cannot read weights: not a burn record, or truncated".into()
    } else {
        let words = words.replace('\n', " ");
        format!("cannot read weights: {words} (not a burn record, or truncated)")
    }
}

/// burn's seed is one per backend for the whole process, so two threads that seed and then draw
/// interleave their draws, and a model initialised or trained beside another (tests in parallel, a
/// library user's threads) came out different for the same seed. Everything that seeds holds this
/// for as long as its draws must be its own: initialisation, randomisation, a whole training run.
static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Holds burn's random state for the caller (see [`RNG`]). Not reentrant.
pub(crate) fn rng_lock() -> std::sync::MutexGuard<'static, ()> {
    RNG.lock().unwrap_or_else(|e| e.into_inner())
}

/// The most input points a model may take (see `validate`).
const MAX_INPUT_POINTS: usize = 1 << 20;
/// The widest layer and the most classes a model may have (see `validate`).
const MAX_WIDTH: usize = 1 << 14;
const WEIGHTS_FILE: &str = "weights.bpk";

/// The shipped default model (`models/default`, see its model card), built into the library so
/// that `pointlime` works from any directory and after `cargo install` without finding files.
pub mod builtin {
    /// Its `config.json`.
    pub const CONFIG: &[u8] = include_bytes!("../../models/default/config.json");
    /// Its `weights.bpk`.
    pub const WEIGHTS: &[u8] = include_bytes!("../../models/default/weights.bpk");
    /// Its `competence.json`.
    pub const COMPETENCE: &[u8] = include_bytes!("../../models/default/competence.json");
    /// How reports and `--version` name it.
    pub const NAME: &str = "built-in default (models/default)";
}

/// A PointNet ready for inference, behind the [`Classifier`] interface. A clone shares the
/// weights.
#[derive(Clone)]
pub struct PointNetClassifier {
    /// As trained and saved.
    net: PointNet,
    /// `net` with batch norms folded: what inference runs.
    infer: PointNet,
    config: ModelConfig,
    device: Device,
    path: PathBuf,
    /// For the built-in model, the temporary copy of its files: burn reads weights from the file
    /// lazily, so it lives as long as the model and its randomised copies.
    files: Option<std::sync::Arc<tempfile::TempDir>>,
    /// Statistics of the global feature on the training scans (`competence.json`).
    domain: Option<Domain>,
    /// The extra channels of the scan's input points, for a model that reads channels
    /// ([`Classifier::with_channels`]); `None` until bound.
    table: Option<std::sync::Arc<ChannelTable>>,
}

impl std::fmt::Debug for PointNetClassifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PointNetClassifier")
            .field("path", &self.path)
            .field("classes", &self.config.class_names)
            .finish()
    }
}

impl PointNetClassifier {
    /// A randomly initialised network (for tests and training), seeded.
    pub fn new(config: ModelConfig, backend: Backend, seed: u64) -> Result<Self> {
        validate(&config, Path::new("<new model>"))?;
        let device = backend.device()?;
        let _rng = rng_lock();
        device.seed(seed);
        let net = config.network.init(&device).valid();
        Ok(Self::assemble(net, config, device, PathBuf::new()))
    }

    /// The one constructor: `net` (in validation mode) and its batch-norm-folded copy for
    /// inference.
    fn assemble(net: PointNet, config: ModelConfig, device: Device, path: PathBuf) -> Self {
        PointNetClassifier {
            infer: net.folded(),
            net,
            config,
            device,
            path,
            files: None,
            domain: None,
            table: None,
        }
    }

    /// Wraps a network (already in validation mode) with its configuration.
    pub(crate) fn from_parts(net: PointNet, config: ModelConfig, backend: Backend) -> Result<Self> {
        let device = backend.device()?;
        let net = net.to_device(&device);
        Ok(Self::assemble(net, config, device, PathBuf::new()))
    }

    /// Loads `dir/config.json` and `dir/weights.bpk`.
    ///
    /// # Errors
    /// [`Error::Model`] when either file is missing or does not match the other.
    pub fn load(dir: &Path, backend: Backend) -> Result<Self> {
        Self::load_with(dir, backend, true)
    }

    /// As [`load`](Self::load); with `competence` false, `dir/competence.json` is left unread
    /// (for recording the statistics anew).
    ///
    /// # Errors
    /// As [`load`](Self::load).
    pub fn load_with(dir: &Path, backend: Backend, competence: bool) -> Result<Self> {
        let config_path = dir.join(CONFIG_FILE);
        if !config_path.is_file() {
            return Err(Error::model(
                dir,
                format!("no {CONFIG_FILE}: not a pointlime model directory"),
            ));
        }
        let text = std::fs::read(&config_path).map_err(|e| Error::io(&config_path, e))?;
        let config: ModelConfig = std::str::from_utf8(&text)
            .map_err(|_| "not text".to_string())
            .and_then(|t| serde_json::from_str(t).map_err(|e| crate::error::json_problem(&e)))
            .map_err(|m| Error::model(&config_path, format!("cannot read model config: {m}")))?;
        validate(&config, &config_path)?;
        let weights = dir.join(WEIGHTS_FILE);
        let bytes = std::fs::read(&weights).map_err(|e| Error::io(&weights, e))?;
        if let Some(want) = config.weights_crc32 {
            let got = crc32fast::hash(&bytes);
            if got != want {
                return Err(Error::model(
                    &weights,
                    format!("corrupt: its CRC-32 is {got:08x}, config.json records {want:08x} (copy the model again)"),
                ));
            }
        }
        let record = ModuleRecord::load(&weights)
            .map_err(|e| Error::model(&weights, weights_problem(&e.to_string())))?;
        let device = backend.device()?;
        // The initial values are overwritten, but drawing them moves burn's shared random state.
        let net = {
            let _rng = rng_lock();
            config.network.init(&device)
        };
        let net =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| net.load_record(record)))
                .map_err(|_| {
                    Error::model(&weights, "weights do not match config.json's architecture")
                })?
                .valid();
        let mut model = Self::assemble(net, config, device, dir.to_path_buf());
        model.check_weights(&weights)?;
        let statistics = dir.join(COMPETENCE_FILE);
        if competence && statistics.is_file() {
            model.set_domain(crate::domain::read_domain(&statistics)?, &statistics)?;
        }
        Ok(model)
    }

    /// Runs the network once on a fixed cloud: burn reads weights lazily, so a truncated or
    /// garbled file would otherwise fail (by a panic inside burn) in the middle of the first
    /// explanation; and weights that hold NaN or infinities give non-finite scores.
    fn check_weights(&self, weights: &Path) -> Result<()> {
        let cloud = crate::classifier::probe_cloud(self.config.num_points);
        // Channels read as zeros, the value of a point no table knows.
        let mut probe = self.clone();
        let width = self.channels().extra();
        probe.table = Some(std::sync::Arc::new(ChannelTable::new(
            &[],
            Vec::new(),
            width,
        )));
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            probe.predict(&[&cloud], Output::Logit)
        }));
        match run {
            Ok(Ok(scores)) if scores.iter().all(|s| s.is_finite()) => Ok(()),
            Ok(Ok(_)) => Err(Error::model(
                weights,
                "corrupt: the weights give non-finite scores (NaN or infinite values)",
            )),
            Ok(Err(e)) => Err(Error::model(
                weights,
                format!("cannot run the network: {e}"),
            )),
            Err(payload) => Err(Error::model(
                weights,
                format!(
                    "truncated or corrupt: reading the weights failed ({})",
                    crate::error::without_debug(
                        &crate::error::panic_message(payload.as_ref()).unwrap_or_default()
                    )
                ),
            )),
        }
    }

    /// The built-in default model ([`builtin`]): the same files as `models/default`, loaded
    /// through a private temporary directory with the same checks as [`load`](Self::load).
    ///
    /// # Errors
    /// [`Error::Io`] when the temporary directory cannot be written; [`Error::Model`] as for
    /// [`load`](Self::load).
    pub fn load_builtin(backend: Backend) -> Result<Self> {
        let dir = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
        for (name, bytes) in [
            (CONFIG_FILE, builtin::CONFIG),
            (WEIGHTS_FILE, builtin::WEIGHTS),
            (COMPETENCE_FILE, builtin::COMPETENCE),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).map_err(|e| Error::io(&path, e))?;
        }
        let mut model = Self::load(dir.path(), backend)?;
        model.path = PathBuf::from(builtin::NAME);
        model.files = Some(std::sync::Arc::new(dir));
        Ok(model)
    }

    /// Writes `dir/config.json` and `dir/weights.bpk`, creating `dir`.
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::Model`] on a write failure.
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let weights = dir.join(WEIGHTS_FILE);
        self.net
            .clone()
            .into_record()
            .save(&weights)
            .map_err(|e| Error::model(&weights, format!("cannot write weights: {e}")))?;
        let bytes = std::fs::read(&weights).map_err(|e| Error::io(&weights, e))?;
        let mut config = self.config.clone();
        config.weights_crc32 = Some(crc32fast::hash(&bytes));
        let config_path = dir.join(CONFIG_FILE);
        config
            .save(&config_path)
            .map_err(|e| Error::io(&config_path, e))?;
        match &self.domain {
            Some(domain) => crate::io::write_json(&dir.join(COMPETENCE_FILE), domain),
            None => Ok(()),
        }
    }

    /// Gives the model its competence statistics (see [`crate::competence`]); `source` names them
    /// in errors.
    ///
    /// # Errors
    /// [`Error::Model`] when they are of another model (classes or feature width).
    pub fn set_domain(&mut self, domain: Domain, source: &Path) -> Result<()> {
        let net = &self.config.network;
        let width = if net.segments() {
            *net.point_layers.last().unwrap_or(&0)
        } else {
            *net.head_layers
                .last()
                .or(net.point_layers.last())
                .unwrap_or(&0)
        };
        domain.check_for(&self.config.class_names, width, source)?;
        self.domain = Some(domain);
        Ok(())
    }

    /// The network as plain arrays, batch norms folded (see [`PointNet::portable`]).
    pub fn portable(&self) -> crate::dense::Portable {
        self.net.portable()
    }

    /// Names of the network's layers, input to output (see [`PointNet::layer_names`]).
    pub fn layer_names(&self) -> Vec<String> {
        self.net.layer_names()
    }

    /// A copy with the named layers re-initialised as a new network's would be (from `seed`),
    /// for the model-randomisation sanity checks of Adebayo et al. (2018): cascading (every layer
    /// from the output down to some depth) or independent (one layer at a time).
    ///
    /// # Errors
    /// [`Error::Config`] for a name not in [`layer_names`](Self::layer_names).
    pub fn randomised(&self, layers: &[String], seed: u64) -> Result<PointNetClassifier> {
        let fresh = {
            let _rng = rng_lock();
            self.device.seed(seed);
            self.config.network.init(&self.device).valid()
        };
        let net = self.net.with_layers_from(&fresh, layers).map_err(|name| {
            Error::Config(format!(
                "no layer {name:?}; the layers are {}",
                self.layer_names().join(", ")
            ))
        })?;
        // The copy keeps no competence statistics: they describe the trained network's features.
        let mut copy = Self::assemble(
            net,
            self.config.clone(),
            self.device.clone(),
            self.path.clone(),
        );
        copy.files = self.files.clone();
        copy.table = self.table.clone();
        Ok(copy)
    }

    /// The model's configuration.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The directory it was loaded from (empty for a new model).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The batch as one tensor. Every cloud must have `num_points` points, or, since PointNet is
    /// a set function, any common size from 1 to `num_points`.
    fn input(&self, clouds: &[&[[f32; 3]]]) -> Result<Tensor<3>> {
        let n = self.config.num_points;
        let m = clouds[0].len();
        if m == 0 || m > n || clouds.iter().any(|c| c.len() != m) {
            return Err(Error::Classifier(format!(
                "model takes clouds of one size from 1 to {n} points per call, got sizes {:?}",
                clouds.iter().map(|c| c.len()).collect::<Vec<_>>()
            )));
        }
        self.tensor(clouds)
    }

    /// Clouds of one size as the network's input `[clouds, points, w]`: each point's x, y, z,
    /// then its extra channels from the bound table.
    ///
    /// # Errors
    /// [`Error::Classifier`] for a model that reads channels and was given none.
    fn tensor(&self, clouds: &[&[[f32; 3]]]) -> Result<Tensor<3>> {
        let m = clouds.first().map_or(0, |c| c.len());
        let width = self.config.network.input_width();
        let mut flat: Vec<f32> = Vec::with_capacity(clouds.len() * m * width);
        match (&self.table, width) {
            (_, 3) => clouds.iter().for_each(|c| flat.extend(c.iter().flatten())),
            (Some(table), _) => {
                for p in clouds.iter().flat_map(|c| c.iter()) {
                    flat.extend(p);
                    flat.extend(table.get(p));
                }
            }
            (None, _) => {
                return Err(Error::Classifier(format!(
                    "the model reads {} per point and was given none",
                    self.channels().name()
                )))
            }
        }
        Ok(Tensor::from_data(
            TensorData::new(flat, [clouds.len(), m, width]),
            &self.device,
        ))
    }

    /// Floating-point operations (multiply and add counted separately) of one forward pass on
    /// `path`: `(per point, per cloud)`, so a batch of `b` clouds of `m` points costs
    /// `b * (m * per_point + per_cloud)`. Batch norm, ReLU and max-pool are left out (under 1%).
    /// On [`ScoringPath::PooledInputTransform`] the input T-Net's per-point layers are not run
    /// per sample, so they are not counted.
    pub fn flops(&self, path: ScoringPath) -> (f64, f64) {
        let net = &self.config.network;
        let chain = |widths: &[usize]| -> f64 {
            widths.windows(2).map(|w| 2.0 * (w[0] * w[1]) as f64).sum()
        };
        let tnet = |k: usize| {
            (
                chain(&[k, 64, 128, 1024]) + 2.0 * (k * k) as f64,
                chain(&[1024, 512, 256, k * k]),
            )
        };
        let mut widths = vec![3];
        widths.extend(&net.point_layers);
        let mut per_point = chain(&widths);
        let mut head = vec![*widths.last().unwrap()];
        head.extend(&net.head_layers);
        head.push(net.num_classes);
        let mut per_cloud = chain(&head);
        if net.segments() {
            // The head runs on every point, from its first-layer feature beside the global one.
            head[0] += widths[1];
            per_point += chain(&head);
            per_cloud = 0.0;
        }
        let input_per_point = path != ScoringPath::PooledInputTransform;
        for (on, k, points) in [
            (net.input_tnet, 3, input_per_point),
            (net.feature_tnet, widths[1], true),
        ] {
            if on {
                let (p, c) = tnet(k);
                per_point += if points { p } else { 0.0 };
                per_cloud += c;
            }
        }
        (per_point, per_cloud)
    }

    /// Whether the network labels every point ([`PointNetConfig::segment`]).
    pub fn segments(&self) -> bool {
        self.config.network.segments()
    }

    fn scores(&self, logits: Tensor<2>, output: Output) -> Result<Vec<f32>> {
        let mut v = to_vec(logits)?;
        if output == Output::Probability {
            softmax_rows(&mut v, self.config.class_names.len());
        }
        Ok(v)
    }
}

fn to_vec<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    t.into_data()
        .try_to_vec::<f32>()
        .map_err(|e| Error::Classifier(format!("{e:?}")))
}

fn validate(config: &ModelConfig, path: &Path) -> Result<()> {
    let bad = |m: String| Err(Error::model(path, m));
    if config.class_names.len() != config.network.num_classes {
        return bad(format!(
            "{} class names for {} outputs",
            config.class_names.len(),
            config.network.num_classes
        ));
    }
    if config.network.num_classes < 2
        || config.num_points == 0
        || config.network.point_layers.is_empty()
    {
        return bad("a model needs at least 2 classes, 1 point and 1 point layer".into());
    }
    // Bounds that keep a hostile or garbled config from asking for memory before any check of the
    // weights can fail: they are far beyond any PointNet (the default has 1024 points, layers of
    // at most 1024 and 0.8 M parameters).
    let net = &config.network;
    if config.num_points > MAX_INPUT_POINTS {
        return bad(format!(
            "num_points {} is above the limit of {MAX_INPUT_POINTS}",
            config.num_points
        ));
    }
    if net.point_layers.len() + net.head_layers.len() > 64
        || (net.point_layers.iter().chain(&net.head_layers)).any(|&w| w == 0 || w > MAX_WIDTH)
        || net.num_classes > MAX_WIDTH
    {
        return bad(format!(
            "layer widths must be 1 to {MAX_WIDTH}, with at most 64 layers and {MAX_WIDTH} classes"
        ));
    }
    if !(0.0..1.0).contains(&net.dropout) {
        return bad(format!("dropout {} is outside [0, 1)", net.dropout));
    }
    let channels = config.channels.unwrap_or_default();
    if net.extra_channels.unwrap_or(0) != channels.extra() {
        return bad(format!(
            "the network reads {} values per point after x, y, z, but its channels ({}) give {}",
            net.extra_channels.unwrap_or(0),
            channels.name(),
            channels.extra()
        ));
    }
    Ok(())
}

impl Classifier for PointNetClassifier {
    fn class_names(&self) -> &[String] {
        &self.config.class_names
    }

    fn runtime(&self) -> String {
        // burn's own name of the device: `Device<Flex(Cpu)>` reads `burn Flex(Cpu)`.
        let device = format!("{:?}", self.device);
        let inner = device
            .strip_prefix("Device<")
            .and_then(|d| d.strip_suffix('>'));
        format!("burn {}", inner.unwrap_or(&device))
    }

    fn input_points(&self) -> usize {
        self.config.num_points
    }

    fn normalisation(&self) -> Normalisation {
        self.config.normalisation
    }

    fn up(&self) -> Axis {
        self.config.up.unwrap_or_default()
    }

    fn window(&self) -> Option<f64> {
        self.config.window
    }

    fn predict(&self, clouds: &[&[[f32; 3]]], output: Output) -> Result<Vec<f32>> {
        if clouds.is_empty() {
            return Ok(Vec::new());
        }
        if self.segments() {
            // The cloud's score is its points' mean: the whole cloud as one region.
            let c = self.config.class_names.len();
            let m = clouds[0].len();
            let v = self.predict_points(clouds, output)?;
            return Ok(v
                .chunks_exact(m * c)
                .flat_map(|rows| {
                    (0..c).map(move |k| rows.iter().skip(k).step_by(c).sum::<f32>() / m as f32)
                })
                .collect());
        }
        let logits = self.infer.forward(self.input(clouds)?);
        self.scores(logits, output)
    }

    fn set_function(&self) -> bool {
        true
    }

    // The fast paths, gradients, relevance and the competence feature are made for a head that
    // reads the pooled feature alone; a segmentation network has none of them yet.
    fn max_pooled(&self) -> Option<&dyn MaxPooled> {
        (self.net.is_max_pooled() && !self.segments()).then_some(self as &dyn MaxPooled)
    }

    fn input_transform(&self) -> Option<&dyn InputTransform> {
        (self.infer.has_input_transform() && !self.segments())
            .then_some(self as &dyn InputTransform)
    }

    fn randomisable(&self) -> Option<&dyn Randomisable> {
        Some(self)
    }

    fn pool_layer(&self) -> Option<&dyn PoolLayer> {
        (!self.segments()).then_some(self as &dyn PoolLayer)
    }

    // Relevance is propagated back to x, y, z alone.
    fn dense_layers(&self) -> Option<crate::dense::Portable> {
        (!self.segments() && self.channels() == Channels::Xyz).then(|| self.portable())
    }

    fn channels(&self) -> Channels {
        self.config.channels.unwrap_or_default()
    }

    fn with_channels(&self, table: ChannelTable) -> Option<Box<dyn Classifier + '_>> {
        (self.channels() != Channels::Xyz).then(|| {
            let mut bound = self.clone();
            bound.table = Some(std::sync::Arc::new(table));
            Box::new(bound) as Box<dyn Classifier>
        })
    }

    fn differentiable(&self) -> Option<&dyn Differentiable> {
        (!self.segments()).then_some(self as &dyn Differentiable)
    }

    fn per_point(&self) -> Option<&dyn PerPoint> {
        self.segments().then_some(self as &dyn PerPoint)
    }

    fn point_pooled(&self) -> Option<&dyn PointPooled> {
        let net = &self.config.network;
        (self.segments() && self.net.is_max_pooled() && !net.head_layers.is_empty())
            .then_some(self as &dyn PointPooled)
    }

    /// A classifier's head's last hidden layer; a segmentation network's global feature, the
    /// one summary of the whole cloud its per-point head reads.
    fn embed(&self, clouds: &[&[[f32; 3]]]) -> Option<Result<Vec<f32>>> {
        if clouds.is_empty() {
            return Some(Ok(Vec::new()));
        }
        Some(self.input(clouds).and_then(|x| {
            to_vec(if self.segments() {
                self.infer.global(x)
            } else {
                self.infer.embedding(x)
            })
        }))
    }

    fn domain(&self) -> Option<&Domain> {
        self.domain.as_ref()
    }
}

impl PerPoint for PointNetClassifier {
    fn predict_points(&self, clouds: &[&[[f32; 3]]], output: Output) -> Result<Vec<f32>> {
        if !self.segments() {
            return Err(Error::Classifier(
                "the network scores whole clouds, not points".into(),
            ));
        }
        if clouds.is_empty() {
            return Ok(Vec::new());
        }
        let logits = self.infer.forward_points(self.input(clouds)?);
        self.scores(logits, output)
    }

    fn gives_gradients(&self) -> bool {
        self.segments()
    }

    fn region_gradients(
        &self,
        points: &[[f32; 3]],
        region: &[bool],
        class: usize,
        output: Output,
    ) -> Result<Vec<[f32; 3]>> {
        let n_classes = self.config.class_names.len();
        let marked = region.iter().filter(|&&r| r).count();
        if !self.segments() || class >= n_classes || region.len() != points.len() || marked == 0 {
            return Err(Error::Classifier(format!(
                "region gradients need a segmentation network, a class below {n_classes} and a \
                 mask of {} points marking some (got class {class}, {} of {} marked)",
                points.len(),
                marked,
                region.len()
            )));
        }
        let weights = region
            .iter()
            .map(|&r| if r { 1.0 / marked as f32 } else { 0.0 })
            .collect();
        self.score_gradients(points, class, output, weights, PointNet::forward_points)
    }
}

impl Differentiable for PointNetClassifier {
    fn input_gradients(
        &self,
        points: &[[f32; 3]],
        class: usize,
        output: Output,
    ) -> Result<Vec<[f32; 3]>> {
        let n_classes = self.config.class_names.len();
        if class >= n_classes {
            return Err(Error::Classifier(format!(
                "class index {class} out of range (model has {n_classes} classes)"
            )));
        }
        self.score_gradients(points, class, output, vec![1.0], PointNet::forward)
    }
}

impl PointNetClassifier {
    /// `∂ (Σ over rows of weights[row] · score[row, class]) / ∂ points` for one cloud, where
    /// `forward` gives the network's rows of logits (one for the cloud, or one per point).
    /// The validation-mode network moved to an autodiff device keeps its training flags off, so
    /// batch norm still uses its running statistics: these are the gradients of the function
    /// `predict` and `predict_points` compute.
    fn score_gradients(
        &self,
        points: &[[f32; 3]],
        class: usize,
        output: Output,
        weights: Vec<f32>,
        forward: impl Fn(&PointNet, Tensor<3>) -> Tensor<2>,
    ) -> Result<Vec<[f32; 3]>> {
        let device = self.device.clone().autodiff();
        let net = self.infer.clone().to_device(&device);
        let x = self.input(&[points])?.autodiff().require_grad();
        let logits = forward(&net, x.clone()); // [rows, classes]
        let scores = match output {
            Output::Logit => logits,
            Output::Probability => burn::tensor::activation::softmax(logits, 1),
        };
        let rows = weights.len();
        let weights = Tensor::from_data(TensorData::new(weights, [rows, 1]), &device);
        let grads = (scores.slice([0..rows, class..class + 1]) * weights)
            .sum()
            .backward();
        let g = x
            .grad(&grads)
            .ok_or_else(|| Error::Classifier("no gradient reached the input points".into()))?;
        // Positions only: the channels are fixed per point and no method moves them.
        let width = self.config.network.input_width();
        Ok(to_vec(g)?
            .chunks_exact(width)
            .map(|c| [c[0], c[1], c[2]])
            .collect())
    }
}

impl MaxPooled for PointNetClassifier {
    fn feature_dim(&self) -> usize {
        *self.config.network.point_layers.last().unwrap()
    }

    fn point_features(&self, points: &[[f32; 3]]) -> Result<Vec<f32>> {
        to_vec(self.infer.point_features(self.tensor(&[points])?))
    }

    fn head(&self, globals: &[f32], output: Output) -> Result<Vec<f32>> {
        let c = MaxPooled::feature_dim(self);
        let b = globals.len() / c;
        let g = Tensor::from_data(TensorData::new(globals.to_vec(), [b, c]), &self.device);
        self.scores(self.infer.head(g), output)
    }
}

/// The exact max-pool path of a segmentation network: `phi` is the last point layer, `local`
/// the first, and the head's first layer splits into the points' part (computed once) and the
/// global feature's (once per perturbed cloud).
impl PointPooled for PointNetClassifier {
    fn feature_dim(&self) -> usize {
        *self.config.network.point_layers.last().unwrap()
    }

    fn point_features(&self, points: &[[f32; 3]]) -> Result<Vec<f32>> {
        MaxPooled::point_features(self, points)
    }

    fn points_head<'s>(&'s self, points: &[[f32; 3]]) -> Result<Box<dyn PointsHead + 's>> {
        let x = self.tensor(&[points])?;
        let local_part = self.infer.head_local_part(self.infer.local_features(x));
        Ok(Box::new(SegmentHead {
            model: self,
            local_part,
            points: points.len(),
        }))
    }

    fn phi_is_local(&self) -> bool {
        self.config.network.point_layers.len() == 1
    }
}

/// A segmentation network's head for a fixed set of points ([`PointPooled::points_head`]).
struct SegmentHead<'a> {
    model: &'a PointNetClassifier,
    /// `[points, h_1]`: the points' part of the head's first layer.
    local_part: Tensor<2>,
    points: usize,
}

/// Clouds' rows per head call: `points × clouds` rows of the first head layer at most, so that
/// a large region keeps the activations to a few tens of MB.
const SEGMENT_HEAD_ROWS: usize = 1 << 15;

impl PointsHead for SegmentHead<'_> {
    fn scores(&self, globals: &[f32], output: Output) -> Result<Vec<f32>> {
        let c = PointPooled::feature_dim(self.model);
        let per_call = (SEGMENT_HEAD_ROWS / self.points.max(1)).max(1);
        let mut out = Vec::with_capacity(
            globals.len() / c * self.points * self.model.config.class_names.len(),
        );
        for chunk in globals.chunks(per_call * c) {
            let b = chunk.len() / c;
            let g = Tensor::from_data(TensorData::new(chunk.to_vec(), [b, c]), &self.model.device);
            let logits = self
                .model
                .infer
                .head_given_local(self.local_part.clone(), g);
            out.extend(self.model.scores(logits, output)?);
        }
        Ok(out)
    }
}

impl PoolLayer for PointNetClassifier {
    fn pool_width(&self) -> usize {
        *self.config.network.point_layers.last().unwrap()
    }

    fn cloud_features(&self, points: &[[f32; 3]]) -> Result<Vec<f32>> {
        to_vec(self.infer.point_features(self.input(&[points])?))
    }

    fn pooled_head(&self, globals: &[f32], output: Output) -> Result<Vec<f32>> {
        MaxPooled::head(self, globals, output)
    }
}

impl Randomisable for PointNetClassifier {
    fn layer_names(&self) -> Vec<String> {
        PointNetClassifier::layer_names(self)
    }

    fn randomised(&self, layers: &[String], seed: u64) -> Result<Box<dyn Classifier>> {
        Ok(Box::new(PointNetClassifier::randomised(
            self, layers, seed,
        )?))
    }
}

impl InputTransform for PointNetClassifier {
    fn transform_dim(&self) -> usize {
        TNET_WIDTH
    }

    fn transform_features(&self, points: &[[f32; 3]]) -> Result<Vec<f32>> {
        let flat: Vec<f32> = points.iter().flatten().copied().collect();
        let x = Tensor::from_data(TensorData::new(flat, [points.len(), 3]), &self.device);
        let psi = self
            .infer
            .input_transform_features(x)
            .ok_or_else(|| Error::Classifier("the network has no input transform".into()))?;
        to_vec(psi)
    }

    fn predict_given(
        &self,
        clouds: &[&[[f32; 3]]],
        pooled: &[f32],
        output: Output,
    ) -> Result<Vec<f32>> {
        if clouds.is_empty() {
            return Ok(Vec::new());
        }
        let g = Tensor::from_data(
            TensorData::new(pooled.to_vec(), [clouds.len(), TNET_WIDTH]),
            &self.device,
        );
        let global = self.infer.global_given(self.input(clouds)?, Some(g));
        self.scores(self.infer.head(global), output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burn_errors_lose_their_debug_values() {
        assert_eq!(
            weights_problem("Record I/O error: Metadata deserialization error: Io(Error { kind: UnexpectedEof })"),
            "cannot read weights: Record I/O error: Metadata deserialization error (not a burn record, or truncated)"
        );
    }
}
