//! Training a PointNet with burn's autodiff on the CPU backend: Adam with weight decay, a cosine
//! learning-rate schedule, class-weighted cross-entropy, per-epoch checkpoints and resume.
//!
//! Determinism: every random draw comes from the seed — burn's device RNG (weights, dropout) is
//! re-seeded from `(seed, epoch)` at each epoch, batch order and augmentation from ChaCha streams
//! keyed by `(seed, epoch, object)` — so a run and a resumed run give the same model.

use std::path::Path;
use std::time::Instant;

use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::activation::log_softmax;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::{Backend, ModelConfig, PointNetClassifier};
use crate::augment::Augment;
use crate::classifier::Classifier;
use crate::dataset::{Confusion, Prepared};
use crate::error::{Error, Result};

/// Training settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// By default, 40.
    pub epochs: usize,
    /// By default, 32.
    pub batch_size: usize,
    /// Peak learning rate. By default, 0.001 (PointNet).
    pub learning_rate: f64,
    /// Learning rate at the end of the cosine schedule. By default, 1e-5.
    pub min_learning_rate: f64,
    /// Adam L2 penalty. By default, 1e-4.
    pub weight_decay: f32,
    /// Weight the loss by inverse class frequency. By default, on.
    pub class_weighting: bool,
    /// Augmentation.
    pub augment: Augment,
    /// By default, 0.
    pub seed: u64,
    /// The training split's labels were permuted among its objects before training (seeded by
    /// `seed`, [`crate::dataset::shuffle_classes`]): the data-randomisation sanity check's model.
    /// By default, off.
    pub shuffled_labels: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 40,
            batch_size: 32,
            learning_rate: 1e-3,
            min_learning_rate: 1e-5,
            weight_decay: 1e-4,
            class_weighting: true,
            augment: Augment::default(),
            seed: 0,
            shuffled_labels: false,
        }
    }
}

/// What happened in one epoch. For a segmentation network the accuracies are over points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochLog {
    pub epoch: usize,
    pub learning_rate: f64,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub test_overall_accuracy: f64,
    pub test_mean_class_accuracy: f64,
    /// The mean intersection over union of the classes on the test points; only for a
    /// segmentation network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_miou: Option<f64>,
    pub seconds: f64,
}

/// `checkpoint/state.json`. The weights and optimizer files it names are written first, under
/// names tagged with the epoch, and it is replaced atomically last, so a run killed at any moment
/// resumes from the last complete epoch, never from a mix of two.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Checkpoint {
    completed_epochs: usize,
    logs: Vec<EpochLog>,
    weights: String,
    optimizer: String,
}

fn mix(a: u64, b: u64) -> u64 {
    // SplitMix64 finaliser: independent streams from (seed, epoch, index) without collisions
    // between neighbouring keys.
    let mut z = a ^ b.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Classifies prepared objects with a fixed sampling seed and returns the confusion matrix;
/// `votes` > 1 averages probabilities over that many samplings.
pub fn evaluate(
    model: &dyn Classifier,
    data: &[Prepared],
    seed: u64,
    votes: usize,
    batch: usize,
) -> Result<Confusion> {
    let n = model.input_points();
    let c = model.class_names().len();
    let mut confusion = Confusion::new(c);
    // Objects that read channels go one at a time, each bound to its own.
    let batch = if data.iter().any(|o| !o.channels.is_empty()) {
        1
    } else {
        batch.max(1)
    };
    for chunk in data.chunks(batch) {
        let reading = match chunk {
            [o] => o.channel_table().and_then(|t| model.with_channels(t)),
            _ => None,
        };
        let model = reading.as_deref().unwrap_or(model);
        let mut sum = vec![0.0f32; chunk.len() * c];
        for v in 0..votes.max(1) {
            let clouds: Vec<Vec<[f32; 3]>> = chunk
                .iter()
                .map(|o| {
                    crate::cloud::sample_indices(o.points.len(), n, mix(seed, v as u64))
                        .iter()
                        .map(|&i| o.points[i as usize])
                        .collect()
                })
                .collect();
            let refs: Vec<&[[f32; 3]]> = clouds.iter().map(Vec::as_slice).collect();
            let p = model.predict(&refs, crate::classifier::Output::Probability)?;
            sum.iter_mut().zip(p).for_each(|(s, x)| *s += x);
        }
        for (o, row) in chunk.iter().zip(sum.chunks(c)) {
            let pred = crate::stats::ranking(row).first().copied().unwrap_or(0);
            confusion.add(o.class, pred);
        }
    }
    Ok(confusion)
}

/// Every point of every prepared object labelled by a segmentation network, and the confusion
/// of its classes with the objects' `point_classes` (unlabelled points left out). Each object's
/// points are shuffled by `seed` and cut into clouds of the network's size (the last one
/// smaller: PointNet takes any size up to it), so that each point is predicted once, in a cloud
/// drawn from its own scan as explanation draws one.
///
/// # Errors
/// Classifier errors; [`Error::Classifier`] for a model without per-point scores.
pub fn evaluate_points(model: &dyn Classifier, data: &[Prepared], seed: u64) -> Result<Confusion> {
    let not_per_point = || Error::Classifier("the model scores whole clouds, not points".into());
    model.per_point().ok_or_else(not_per_point)?;
    let n = model.input_points();
    let c = model.class_names().len();
    let mut confusion = Confusion::new(c);
    for o in data {
        let reading = o.channel_table().and_then(|t| model.with_channels(t));
        let per_point = reading
            .as_deref()
            .unwrap_or(model)
            .per_point()
            .ok_or_else(not_per_point)?;
        let mut order: Vec<usize> = (0..o.points.len()).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(mix(
            seed,
            o.points.len() as u64,
        )));
        for chunk in order.chunks(n.max(1)) {
            let cloud: Vec<[f32; 3]> = chunk.iter().map(|&i| o.points[i]).collect();
            let scores = per_point.predict_points(&[&cloud], crate::classifier::Output::Logit)?;
            for (&i, row) in chunk.iter().zip(scores.chunks_exact(c)) {
                let truth = o
                    .point_classes
                    .get(i)
                    .copied()
                    .unwrap_or(crate::labels::UNLABELLED);
                if (truth as usize) < c {
                    confusion.add(truth as usize, crate::stats::ranking(row)[0]);
                }
            }
        }
    }
    Ok(confusion)
}

/// Progress reported while training.
#[derive(Debug)]
pub enum Event<'a> {
    /// A batch finished: batches done and in the epoch, running mean loss and accuracy.
    Batch {
        done: usize,
        total: usize,
        loss: f64,
        accuracy: f64,
    },
    /// An epoch finished and was checkpointed.
    Epoch(&'a EpochLog),
}

/// Trains from scratch (or from `out/checkpoint` with `resume`) and saves the model to `out`.
///
/// # Errors
/// [`Error::Config`] for empty data; I/O errors writing checkpoints or the model.
pub fn train(
    model_config: ModelConfig,
    config: &TrainConfig,
    train_set: &[Prepared],
    test_set: &[Prepared],
    out: &Path,
    resume: bool,
    mut progress: impl FnMut(Event),
) -> Result<PointNetClassifier> {
    let segment = model_config.network.segments();
    check_training_set(train_set, config, segment)?;
    let n_classes = model_config.class_names.len();
    let n = model_config.num_points;
    let device = Device::flex().autodiff();
    // Dropout and shuffling draw from burn's process-wide seed for the whole run.
    let _rng = super::rng_lock();
    device.seed(config.seed);
    let mut net = model_config.network.init(&device);
    let mut optim = AdamConfig::new()
        .with_weight_decay(Some(WeightDecayConfig::new(config.weight_decay)))
        .init();

    let ckpt_dir = out.join("checkpoint");
    let mut start_epoch = 0;
    let mut logs = Vec::new();
    if resume && ckpt_dir.join("state.json").is_file() {
        let state: Checkpoint = read_json(&ckpt_dir.join("state.json"))?;
        let w = ckpt_dir.join(&state.weights);
        let record = ModuleRecord::load(&w)
            .map_err(|e| Error::model(&w, format!("cannot read checkpoint: {e}")))?;
        net = net.load_record(record);
        let o = ckpt_dir.join(&state.optimizer);
        optim = optim
            .load(&o)
            .map_err(|e| Error::model(&o, format!("cannot read checkpoint: {e}")))?;
        start_epoch = state.completed_epochs;
        logs = state.logs;
    }

    let weights = class_weights(train_set, n_classes, config.class_weighting, segment);

    for epoch in start_epoch..config.epochs {
        let t0 = Instant::now();
        device.seed(mix(config.seed, epoch as u64));
        let lr = learning_rate(config, epoch);
        let mut order: Vec<usize> = (0..train_set.len()).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(mix(
            config.seed,
            1000 + epoch as u64,
        )));
        // A last batch of one would break batch norm's statistics; drop it (it is a different object
        // each epoch).
        let batches: Vec<&[usize]> = order
            .chunks(config.batch_size)
            .filter(|b| b.len() >= 2)
            .collect();
        let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
        for (bi, batch) in batches.iter().enumerate() {
            let (flat, target, truth) = batch_data(train_set, batch, config, n, &weights, epoch);
            let rows = truth.len();
            let width = model_config.network.input_width();
            let x = Tensor::<3>::from_data(TensorData::new(flat, [batch.len(), n, width]), &device);
            let y = Tensor::<2>::from_data(TensorData::new(target, [rows, n_classes]), &device);
            // [batch, classes], or [batch * n, classes] for a segmentation network.
            let logits = if segment {
                net.forward_points(x)
            } else {
                net.forward(x)
            };
            let loss = (log_softmax(logits.clone(), 1) * y).sum().neg(); // weighted mean NLL
            let loss_value: f32 = loss.clone().into_scalar();
            let (right, labelled) = hits(logits, &truth, n_classes)?;
            correct += right;
            seen += labelled;
            loss_sum += loss_value as f64 * labelled as f64;
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            net = optim.step(lr, net, grads);
            progress(Event::Batch {
                done: bi + 1,
                total: batches.len(),
                loss: loss_sum / seen as f64,
                accuracy: correct as f64 / seen as f64,
            });
        }

        let eval_model =
            PointNetClassifier::from_parts(net.valid(), model_config.clone(), Backend::Flex)?;
        let confusion = if segment {
            evaluate_points(&eval_model, test_set, config.seed)?
        } else {
            evaluate(&eval_model, test_set, config.seed, 1, 32)?
        };
        let metrics = confusion.metrics();
        let log = EpochLog {
            epoch: epoch + 1,
            learning_rate: lr,
            train_loss: loss_sum / seen.max(1) as f64,
            train_accuracy: correct as f64 / seen.max(1) as f64,
            test_overall_accuracy: metrics.overall_accuracy,
            test_mean_class_accuracy: metrics.mean_class_accuracy,
            test_miou: segment.then(|| confusion.iou().1),
            seconds: t0.elapsed().as_secs_f64(),
        };
        logs.push(log.clone());

        std::fs::create_dir_all(&ckpt_dir).map_err(|e| Error::io(&ckpt_dir, e))?;
        let state = Checkpoint {
            completed_epochs: epoch + 1,
            logs: logs.clone(),
            weights: format!("weights-{}.bpk", epoch + 1),
            optimizer: format!("optimizer-{}.bpk", epoch + 1),
        };
        let w = ckpt_dir.join(&state.weights);
        net.clone()
            .into_record()
            .save(&w)
            .map_err(|e| Error::model(&w, e.to_string()))?;
        let o = ckpt_dir.join(&state.optimizer);
        optim
            .save(&o)
            .map_err(|e| Error::model(&o, e.to_string()))?;
        crate::io::write_json(&ckpt_dir.join("state.json"), &state)?;
        // Only now is the previous epoch's pair unneeded.
        for stale in [
            format!("weights-{epoch}.bpk"),
            format!("optimizer-{epoch}.bpk"),
        ] {
            let _ = std::fs::remove_file(ckpt_dir.join(stale));
        }
        write_log(&out.join("train_log.csv"), &logs)?;
        progress(Event::Epoch(&log));
    }
    let model = PointNetClassifier::from_parts(net.valid(), model_config, Backend::Flex)?;
    model.save(out)?;
    Ok(model)
}

/// Refuses what cannot be trained: fewer than 2 objects, batches under 2, a segmentation network
/// on objects without a class for every point.
fn check_training_set(train_set: &[Prepared], config: &TrainConfig, segment: bool) -> Result<()> {
    if train_set.len() < 2 || config.batch_size < 2 {
        return Err(Error::Config(
            "training needs at least 2 objects and a batch size of at least 2".into(),
        ));
    }
    if segment
        && train_set
            .iter()
            .any(|o| o.point_classes.len() != o.points.len())
    {
        return Err(Error::Config(
            "a segmentation network trains on scans with a class for every point (labels)".into(),
        ));
    }
    Ok(())
}

/// How many rows of `logits` ([rows, classes]) are right, and how many have a label (a truth
/// below `n_classes`; an unlabelled row is never right).
fn hits(logits: Tensor<2>, truth: &[u8], n_classes: usize) -> Result<(usize, usize)> {
    let pred: Vec<i64> = logits
        .argmax(1)
        .into_data()
        .convert::<i64>()
        .try_to_vec::<i64>()
        .map_err(|e| Error::Classifier(format!("{e:?}")))?;
    let labelled = truth.iter().filter(|&&t| (t as usize) < n_classes).count();
    let right = truth
        .iter()
        .zip(&pred)
        .filter(|(&t, &p)| t as i64 == p)
        .count();
    Ok((right, labelled))
}

/// Inverse-frequency class weights over the objects (over their labelled points for a
/// segmentation network), normalised so that a balanced set gets 1 everywhere (all 1 without
/// `weighting`).
fn class_weights(
    train_set: &[Prepared],
    n_classes: usize,
    weighting: bool,
    points: bool,
) -> Vec<f32> {
    let mut counts = vec![0usize; n_classes];
    for o in train_set {
        if points {
            for &c in o
                .point_classes
                .iter()
                .filter(|&&c| (c as usize) < n_classes)
            {
                counts[c as usize] += 1;
            }
        } else {
            counts[o.class] += 1;
        }
    }
    inverse_frequency(&counts, weighting)
}

/// `total / (classes × count)` for each class's count, 1 for an empty class (all 1 without
/// `weighting`).
fn inverse_frequency(counts: &[usize], weighting: bool) -> Vec<f32> {
    let total: usize = counts.iter().sum();
    let n_classes = counts.len() as f32;
    counts
        .iter()
        .map(|&c| {
            if !weighting || c == 0 {
                1.0
            } else {
                total as f32 / (n_classes * c as f32)
            }
        })
        .collect()
}

/// The cosine schedule's learning rate at `epoch`.
fn learning_rate(config: &TrainConfig, epoch: usize) -> f64 {
    let fraction = epoch as f64 / config.epochs.max(1) as f64;
    config.min_learning_rate
        + 0.5
            * (config.learning_rate - config.min_learning_rate)
            * (1.0 + (std::f64::consts::PI * fraction).cos())
}

/// One batch's network input (`n` augmented points of each object, row-major), its targets
/// (one-hot rows scaled by the class weights, normalised to sum to 1 over the batch) and each
/// row's true class: a row per object, or, for objects with per-point classes, a row per point
/// (an unlabelled point's row is zero, so it adds nothing to the loss).
fn batch_data(
    train_set: &[Prepared],
    batch: &[usize],
    config: &TrainConfig,
    n: usize,
    weights: &[f32],
    epoch: usize,
) -> (Vec<f32>, Vec<f32>, Vec<u8>) {
    let n_classes = weights.len();
    let width = 3 + train_set[batch[0]].channels.len() / train_set[batch[0]].points.len().max(1);
    let mut flat: Vec<f32> = Vec::with_capacity(batch.len() * n * width);
    let mut truth: Vec<u8> = Vec::with_capacity(batch.len() * n);
    for &i in batch {
        let o = &train_set[i];
        let (s, idx) = config.augment.sample_indexed(
            &o.points,
            &o.labels,
            o.n_segments,
            n,
            mix(mix(config.seed, epoch as u64), i as u64),
        );
        if width == 3 {
            flat.extend(s.iter().flatten());
        } else {
            // Augmentation moves the points; their channels do not change with a turn, a scale
            // or a jitter.
            let w = width - 3;
            for (p, &k) in s.iter().zip(&idx) {
                flat.extend(p);
                flat.extend(&o.channels[k as usize * w..(k as usize + 1) * w]);
            }
        }
        if o.point_classes.is_empty() {
            truth.push(o.class as u8);
        } else {
            truth.extend(idx.iter().map(|&k| o.point_classes[k as usize]));
        }
    }
    let mut target = vec![0.0f32; truth.len() * n_classes];
    let mut wsum = 0.0;
    for (row, &t) in truth.iter().enumerate() {
        if let Some(&w) = weights.get(t as usize) {
            target[row * n_classes + t as usize] = w;
            wsum += w;
        }
    }
    target
        .iter_mut()
        .for_each(|t| *t /= wsum.max(f32::MIN_POSITIVE));
    (flat, target, truth)
}

fn write_log(path: &Path, logs: &[EpochLog]) -> Result<()> {
    let miou = logs.iter().any(|l| l.test_miou.is_some());
    let mut s = String::from("epoch,learning_rate,train_loss,train_accuracy,test_overall_accuracy,test_mean_class_accuracy,");
    s.push_str(if miou {
        "test_miou,seconds\n"
    } else {
        "seconds\n"
    });
    for l in logs {
        s.push_str(&format!(
            "{},{:.6},{:.5},{:.4},{:.4},{:.4},",
            l.epoch,
            l.learning_rate,
            l.train_loss,
            l.train_accuracy,
            l.test_overall_accuracy,
            l.test_mean_class_accuracy,
        ));
        if let Some(m) = l.test_miou {
            s.push_str(&format!("{m:.4},"));
        }
        s.push_str(&format!("{:.1}\n", l.seconds));
    }
    crate::io::write_text(path, &s)
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::format(path, crate::error::json_problem(&e)))
}
