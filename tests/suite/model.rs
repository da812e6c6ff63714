//! The burn PointNet behind the Classifier trait: shapes, determinism, max-pool split, save/load,
//! and a short training run.

use pointlime::augment::Augment;
use pointlime::classifier::{Classifier, Output};
use pointlime::dataset::Prepared;
use pointlime::explain::{Payload, SagConfig};
use pointlime::model::train::{train, Event, TrainConfig};
use pointlime::model::{Backend, ModelConfig, PointNetClassifier, PointNetConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::common::{assert_batch_and_thread_invariant, assert_close, lime_on, settings, tempdir};

fn small(tnets: bool) -> ModelConfig {
    let net = PointNetConfig::new(3)
        .with_point_layers(vec![16, 32, 64])
        .with_head_layers(vec![32, 16])
        .with_input_tnet(tnets)
        .with_feature_tnet(tnets);
    ModelConfig::new(net, vec!["a".into(), "b".into(), "c".into()]).with_num_points(64)
}

fn clouds(n: usize, seed: u64) -> Vec<Vec<[f32; 3]>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            (0..64)
                .map(|_| std::array::from_fn(|_| rng.random_range(-1.0..1.0)))
                .collect()
        })
        .collect()
}

#[test]
fn probabilities_are_distributions_and_independent_of_batching() {
    let model = PointNetClassifier::new(small(false), Backend::Flex, 1).unwrap();
    let cs = clouds(9, 2);
    let refs: Vec<&[[f32; 3]]> = cs.iter().map(Vec::as_slice).collect();
    let all = model.predict_proba(&refs).unwrap();
    for row in &all {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }
    // Batch size must not change any cloud's scores (LIME batches freely).
    for (i, c) in refs.iter().enumerate() {
        let one = model.predict_proba(&[c]).unwrap();
        for (a, b) in one[0].iter().zip(&all[i]) {
            assert!((a - b).abs() < 1e-5, "cloud {i}: {a} vs {b}");
        }
    }
    // PointNet is a set function: fewer points are fine, more are not, nor mixed sizes.
    assert!(model.set_function());
    let fewer = vec![[0.0f32; 3]; 10];
    assert_eq!(model.predict(&[&fewer], Output::Logit).unwrap().len(), 3);
    let more = vec![[0.0f32; 3]; 65];
    assert!(model.predict(&[&more], Output::Logit).is_err());
    assert!(model.predict(&[&fewer, refs[0]], Output::Logit).is_err());
}

#[test]
fn max_pooled_split_reproduces_the_full_forward_pass() {
    let model = PointNetClassifier::new(small(false), Backend::Flex, 3).unwrap();
    let mp = model.max_pooled().expect("no T-Nets: max-pool separable");
    let c = &clouds(1, 4)[0];
    let f = mp.point_features(c).unwrap();
    let d = mp.feature_dim();
    let global: Vec<f32> = (0..d)
        .map(|j| {
            (0..c.len())
                .map(|i| f[i * d + j])
                .fold(f32::NEG_INFINITY, f32::max)
        })
        .collect();
    let via_head = mp.head(&global, Output::Logit).unwrap();
    let direct = model.predict(&[c], Output::Logit).unwrap();
    for (a, b) in via_head.iter().zip(&direct) {
        assert!((a - b).abs() < 1e-4, "{a} vs {b}");
    }
    let with_tnets = PointNetClassifier::new(small(true), Backend::Flex, 3).unwrap();
    assert!(with_tnets.max_pooled().is_none());
    assert_eq!(
        with_tnets.predict(&[c], Output::Probability).unwrap().len(),
        3
    );
}

#[test]
fn save_then_load_gives_the_same_scores_and_bad_dirs_fail_clearly() {
    let dir = tempdir();
    let model = PointNetClassifier::new(small(true), Backend::Flex, 5).unwrap();
    model.save(dir.path()).unwrap();
    let back = PointNetClassifier::load(dir.path(), Backend::Flex).unwrap();
    let c = &clouds(1, 6)[0];
    assert_eq!(
        model.predict(&[c], Output::Logit).unwrap(),
        back.predict(&[c], Output::Logit).unwrap()
    );
    assert_eq!(back.class_names(), ["a", "b", "c"]);

    let empty = tempdir();
    let msg = PointNetClassifier::load(empty.path(), Backend::Flex)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("no config.json"), "{msg}");

    // Weights of another architecture.
    let other = tempdir();
    PointNetClassifier::new(small(false), Backend::Flex, 5)
        .unwrap()
        .save(other.path())
        .unwrap();
    std::fs::copy(
        dir.path().join("config.json"),
        other.path().join("config.json"),
    )
    .unwrap();
    assert!(PointNetClassifier::load(other.path(), Backend::Flex).is_err());
}

/// Two easy classes: points on a line versus points in a ball.
fn toy(n: usize, seed: u64) -> Vec<Prepared> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let class = i % 2;
            let points = (0..200)
                .map(|_| {
                    let t: f32 = rng.random_range(-1.0..1.0);
                    if class == 0 {
                        [t, 0.02 * rng.random::<f32>(), 0.0]
                    } else {
                        std::array::from_fn(|_| rng.random_range(-0.5..0.5))
                    }
                })
                .collect();
            Prepared {
                points,
                labels: Vec::new(),
                n_segments: 0,
                class,
                point_classes: Vec::new(),
                channels: Vec::new(),
            }
        })
        .collect()
}

/// A small network of two classes for the short training runs.
fn tiny_two_class() -> PointNetConfig {
    PointNetConfig::new(2)
        .with_point_layers(vec![16, 32])
        .with_head_layers(vec![16])
        .with_dropout(0.0)
}

/// Twelve quick epochs without point dropout: enough for an easy task.
fn easy_training() -> TrainConfig {
    TrainConfig {
        epochs: 12,
        batch_size: 8,
        learning_rate: 0.01,
        augment: Augment {
            point_dropout_max: 0.0,
            ..Augment::default()
        },
        ..TrainConfig::default()
    }
}

#[test]
fn a_short_training_run_drives_the_loss_down_and_learns_an_easy_task() {
    let dir = tempdir();
    let net = tiny_two_class();
    let config = ModelConfig::new(net, vec!["line".into(), "ball".into()]).with_num_points(64);
    let train_config = easy_training();
    let data = toy(32, 1);
    let mut losses = Vec::new();
    let model = train(
        config,
        &train_config,
        &data,
        &data,
        dir.path(),
        false,
        |event| {
            if let Event::Epoch(log) = event {
                losses.push(log.clone());
            }
        },
    )
    .unwrap();
    assert!(
        losses.last().unwrap().train_loss < 0.5 * losses[0].train_loss,
        "{losses:?}"
    );
    assert!(
        losses.last().unwrap().test_overall_accuracy >= 0.9,
        "{losses:?}"
    );
    assert!(dir.path().join("weights.bpk").is_file() && dir.path().join("train_log.csv").is_file());
    assert_eq!(model.class_names(), ["line", "ball"]);
}

/// Issue #29 item 7: a network trained with channels learns from them. The two classes' points
/// are drawn alike; only their one extra channel (an intensity, say) tells them apart, so the
/// task is learnt only if training feeds the channels and evaluation binds each object's.
#[test]
fn a_network_trained_with_channels_learns_what_only_the_channels_say() {
    use pointlime::channels::Channels;
    let dir = tempdir();
    let net = tiny_two_class().with_extra_channels(Some(1));
    let config = ModelConfig::new(net, vec!["dim".into(), "bright".into()])
        .with_num_points(64)
        .with_channels(Some(Channels::XyzIntensity));
    let train_config = easy_training();
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let data: Vec<Prepared> = (0..32)
        .map(|i| {
            let class = i % 2;
            let points: Vec<[f32; 3]> = (0..200)
                .map(|_| std::array::from_fn(|_| rng.random_range(-0.5..0.5)))
                .collect();
            let level = if class == 0 { 0.1 } else { 0.9 };
            Prepared {
                channels: (0..200)
                    .map(|_| level + 0.05 * rng.random::<f32>())
                    .collect(),
                points,
                labels: Vec::new(),
                n_segments: 0,
                class,
                point_classes: Vec::new(),
            }
        })
        .collect();
    let mut last = None;
    train(
        config,
        &train_config,
        &data,
        &data,
        dir.path(),
        false,
        |event| {
            if let Event::Epoch(log) = event {
                last = Some(log.clone());
            }
        },
    )
    .unwrap();
    let last = last.unwrap();
    assert!(last.test_overall_accuracy >= 0.9, "{last:?}");
    let model = PointNetClassifier::load(dir.path(), Backend::Flex).unwrap();
    assert_eq!(model.channels(), Channels::XyzIntensity);
    let confusion = pointlime::model::train::evaluate(&model, &data, 0, 1, 8).unwrap();
    assert!(confusion.metrics().overall_accuracy >= 0.9);
}

#[test]
fn training_interrupted_then_resumed_equals_an_uninterrupted_run() {
    let net = PointNetConfig::new(2)
        .with_point_layers(vec![16, 32])
        .with_head_layers(vec![16]);
    let config = ModelConfig::new(net, vec!["line".into(), "ball".into()]).with_num_points(64);
    let train_config = TrainConfig {
        epochs: 4,
        batch_size: 8,
        learning_rate: 0.01,
        ..TrainConfig::default()
    };
    let (data, test) = (toy(24, 3), toy(8, 4));
    let run = |dir: &std::path::Path, resume: bool, stop_after: Option<usize>| {
        let mut seen = Vec::new();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            train(
                config.clone(),
                &train_config,
                &data,
                &test,
                dir,
                resume,
                |event| {
                    if let Event::Epoch(log) = event {
                        seen.push(log.epoch);
                        // Dies like a killed process: after the checkpoint, before the model.
                        assert!(Some(log.epoch) != stop_after, "killed");
                    }
                },
            )
            .unwrap()
        }));
        (result.ok(), seen)
    };
    let whole = tempdir();
    let (model, epochs) = run(whole.path(), false, None);
    assert_eq!(epochs, [1, 2, 3, 4]);
    let model = model.unwrap();

    let cut = tempdir();
    let (none, epochs) = run(cut.path(), false, Some(2));
    assert!(none.is_none() && epochs == [1, 2]);
    assert!(!cut.path().join("weights.bpk").exists());
    let (resumed, epochs) = run(cut.path(), true, None);
    assert_eq!(
        epochs,
        [3, 4],
        "resume starts after the last checkpointed epoch"
    );
    let resumed = resumed.unwrap();

    let clouds = toy(6, 9);
    let refs: Vec<&[[f32; 3]]> = clouds.iter().map(|c| &c.points[..64]).collect();
    assert_eq!(
        model.predict(&refs, Output::Logit).unwrap(),
        resumed.predict(&refs, Output::Logit).unwrap()
    );
    let log = |d: &std::path::Path| -> Vec<String> {
        // Everything but the wall time.
        std::fs::read_to_string(d.join("train_log.csv"))
            .unwrap()
            .lines()
            .map(|l| l.rsplit_once(',').unwrap().0.to_string())
            .collect()
    };
    assert_eq!(log(whole.path()), log(cut.path()));
    // Only the last epoch's checkpoint files are kept.
    let mut kept: Vec<String> = std::fs::read_dir(cut.path().join("checkpoint"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    kept.sort();
    assert_eq!(kept, ["optimizer-4.bpk", "state.json", "weights-4.bpk"]);
}

#[test]
fn lime_over_the_pointnet_is_identical_across_batch_sizes_and_threads() {
    use pointlime::explain::{Scoring, Targets};
    let points = &clouds(1, 9)[0];
    let labels: Vec<u32> = (0..points.len() as u32).map(|i| i % 6).collect();
    for (tnets, scoring) in [
        (false, Scoring::Auto),
        (false, Scoring::Generic),
        (true, Scoring::Auto),
        (true, Scoring::Generic),
        (true, Scoring::Full),
    ] {
        let model = PointNetClassifier::new(small(tnets), Backend::Flex, 8).unwrap();
        let run = |batch_size: usize| {
            let config = settings(|c| {
                c.n_samples = 120;
                c.scoring.batch_size = batch_size;
                c.scoring.path = scoring;
            });
            lime_on(&model, points, &labels, 6, &Targets::Top(3), &config).unwrap()
        };
        assert_batch_and_thread_invariant(&format!("T-Nets {tnets}, {scoring:?}"), run);
    }
}

/// Masks covering the edge cases (all kept, none kept, each single segment kept, each single
/// segment dropped) plus random ones.
fn edge_and_random_masks(k: usize, random: usize, seed: u64) -> pointlime::perturb::Masks {
    let mut rows = vec![vec![1u8; k], vec![0u8; k]];
    for i in 0..k {
        let mut one = vec![0u8; k];
        one[i] = 1;
        rows.push(one);
        let mut all_but = vec![1u8; k];
        all_but[i] = 0;
        rows.push(all_but);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rows.extend((0..random).map(|_| (0..k).map(|_| rng.random_bool(0.5) as u8).collect()));
    pointlime::perturb::Masks::from_rows(k, &rows)
}

#[test]
fn exact_max_pool_path_gives_the_full_networks_scores_on_every_mask() {
    use pointlime::explain::{score_masks, Input, Scoring, ScoringConfig, ScoringPath};
    use pointlime::perturb::Removal;
    // Segment 6 has no sampled point: masks over it must change nothing.
    let points = &clouds(1, 11)[0];
    let labels: Vec<u32> = (0..points.len() as u32).map(|i| (i * 7 / 64) % 6).collect();
    let masks = edge_and_random_masks(7, 60, 12);
    for (net, seed) in [
        (small(false), 13),
        (
            ModelConfig::new(
                PointNetConfig::new(4),
                (0..4).map(|i| i.to_string()).collect(),
            )
            .with_num_points(64),
            14,
        ),
    ] {
        let model = PointNetClassifier::new(net, Backend::Flex, seed).unwrap();
        for removal in [Removal::Drop, Removal::Centroid] {
            for output in [Output::Probability, Output::Logit] {
                let config = |path| ScoringConfig {
                    removal,
                    output,
                    path,
                    batch_size: 5,
                };
                let input = Input::new(points, &labels, 7).unwrap();
                let score = |s| score_masks(&model, &input, &masks, &config(s), None);
                let (fast, full) = (score(Scoring::Auto).unwrap(), score(Scoring::Full).unwrap());
                assert_eq!(fast.cost.path, ScoringPath::ExactMaxPool);
                assert_eq!(full.cost.path, ScoringPath::GenericFull);
                assert_eq!(fast.cost.points_evaluated, 65);
                assert_close(
                    &fast.scores,
                    &full.scores,
                    1e-5,
                    &format!("{removal:?} {output:?}"),
                );
            }
        }
    }
}

/// Issue #29 item 5: a kept region of a max-pooled segmentation network is scored on the exact
/// max-pool path (per-point features once, the segments' maxima once, only the region points'
/// head per sample) and gives the whole network's region scores on every kind of mask. Removal to
/// the centroid, which that path cannot follow exactly, and a region perturbed with the rest go
/// the generic way.
#[test]
fn a_segmentation_networks_exact_path_gives_the_whole_networks_region_scores() {
    use pointlime::classifier::Region;
    use pointlime::explain::{score_masks, Input, Scoring, ScoringConfig, ScoringPath};
    use pointlime::perturb::Removal;
    let points = &clouds(1, 31)[0];
    // Segment 6 has no point: masks over it must change nothing.
    let labels: Vec<u32> = (0..points.len() as u32).map(|i| (i * 7 / 64) % 6).collect();
    let masks = edge_and_random_masks(7, 60, 32);
    let mut net = small(false);
    net.network.segment = Some(true);
    let model = PointNetClassifier::new(net, Backend::Flex, 33).unwrap();
    assert!(model.point_pooled().is_some());
    // A region cutting across segments: all of segments 1 and 2, a few points of segment 4.
    let region: Vec<[f32; 3]> = points
        .iter()
        .zip(&labels)
        .enumerate()
        .filter(|(i, (_, &l))| l == 1 || l == 2 || (l == 4 && i % 3 == 0))
        .map(|(_, (p, _))| *p)
        .collect();
    let kept = Region::keeping(&model, &region, points).unwrap();
    let input = Input::new(points, &labels, 7).unwrap();
    for output in [Output::Probability, Output::Logit] {
        let config = |removal, path| ScoringConfig {
            removal,
            output,
            path,
            batch_size: 5,
        };
        let score = |removal, path| {
            score_masks(&kept, &input, &masks, &config(removal, path), None).unwrap()
        };
        let fast = score(Removal::Drop, Scoring::Auto);
        let full = score(Removal::Drop, Scoring::Full);
        assert_eq!(fast.cost.path, ScoringPath::ExactMaxPool);
        assert_eq!(full.cost.path, ScoringPath::GenericFull);
        assert_close(&fast.scores, &full.scores, 1e-5, &format!("{output:?}"));
        let centroid = score(Removal::Centroid, Scoring::Auto);
        assert_ne!(centroid.cost.path, ScoringPath::ExactMaxPool);
    }
    // Methods that read the pooled feature itself (cam, critical) are not offered a region's.
    assert!(kept.max_pooled().is_some_and(|mp| !mp.readable()));
    let perturbed = Region::new(&model, &region).unwrap();
    assert!(perturbed.max_pooled().is_none());
}

/// Issue #17: the structural search scores many small batches through one prepared input; on the
/// exact path it must find what the whole network finds on every set.
#[test]
fn sag_on_the_exact_path_finds_the_sets_the_full_network_finds() {
    use pointlime::explain::{sag::sag, Input, Prepared, Scoring, ScoringPath, Targets};
    let points = &clouds(1, 21)[0];
    let labels: Vec<u32> = (0..points.len() as u32).map(|i| (i * 8 / 64) % 8).collect();
    let input = Input::new(points, &labels, 8).unwrap();
    let model = PointNetClassifier::new(small(false), Backend::Flex, 22).unwrap();
    // One preparation, two calls: the same scores as two separate score_masks calls.
    let masks = edge_and_random_masks(8, 30, 23);
    let config = settings(|c| c.scoring.batch_size = 7).scoring;
    let prepared = Prepared::new(&model, &input, &config).unwrap();
    let twice = [
        prepared.score(&masks, None).unwrap(),
        prepared.score(&masks, None).unwrap(),
    ];
    let once = pointlime::explain::score_masks(&model, &input, &masks, &config, None).unwrap();
    assert_eq!(twice[0].scores, once.scores);
    assert_eq!(twice[1].scores, once.scores);
    assert_eq!(prepared.cost().points_evaluated, 65);
    assert_eq!(twice[0].cost.points_evaluated, 0);

    let run = |path| {
        let config = settings(|c| {
            c.scoring.path = path;
            c.update(|s: &mut SagConfig| s.threshold = 0.8).unwrap();
        });
        let mut a = sag(&model, &input, &Targets::Top(2), &config, None).unwrap();
        let structure = a.explanations.remove(0).payload.and_then(|p| match p {
            Payload::Structure(s) => Some(s),
            Payload::Tree(_) => None,
        });
        (a.cost.path, structure.unwrap())
    };
    let ((fast_path, fast), (full_path, full)) = (run(Scoring::Auto), run(Scoring::Full));
    assert_eq!(fast_path, ScoringPath::ExactMaxPool);
    assert_eq!(full_path, ScoringPath::GenericFull);
    assert!(!fast.sets.is_empty());
    assert_eq!(fast.evaluations, full.evaluations);
    assert_eq!(fast.sets.len(), full.sets.len());
    for (a, b) in fast.sets.iter().zip(&full.sets) {
        assert_eq!(a.segments, b.segments);
        assert!((a.probability - b.probability).abs() < 1e-5);
    }
}

#[test]
fn kept_points_path_gives_the_full_clouds_scores_for_tnet_models() {
    use pointlime::explain::{score_masks, Input, Scoring, ScoringConfig, ScoringPath};
    let points = &clouds(1, 15)[0];
    let labels: Vec<u32> = (0..points.len() as u32).map(|i| (i * 5 / 64) % 5).collect();
    let masks = edge_and_random_masks(5, 40, 16);
    let model = PointNetClassifier::new(small(true), Backend::Flex, 17).unwrap();
    assert!(model.max_pooled().is_none());
    let config = |path| ScoringConfig {
        path,
        batch_size: 4,
        ..Default::default()
    };
    let input = Input::new(points, &labels, 5).unwrap();
    let score = |s| score_masks(&model, &input, &masks, &config(s), None);
    let (kept, full) = (
        score(Scoring::Generic).unwrap(),
        score(Scoring::Full).unwrap(),
    );
    assert_eq!(kept.cost.path, ScoringPath::GenericKeptPoints);
    assert_eq!(full.cost.points_evaluated, 64 * masks.len() as u64);
    assert!(
        kept.cost.points_evaluated < full.cost.points_evaluated * 3 / 4,
        "{}",
        kept.cost.points_evaluated
    );
    assert_close(&kept.scores, &full.scores, 1e-5, "T-Net model");
}

/// Issue #15, item 4: the input T-Net's per-point features maximised per segment once give every
/// sample the matrix its own points give. The shipped T-Net model is used because a fresh
/// network's T-Nets output the identity whatever they pool.
#[test]
fn pooled_input_transform_gives_the_whole_networks_scores() {
    use pointlime::explain::{score_masks, Input, Scoring, ScoringConfig, ScoringPath};
    use pointlime::perturb::Removal;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/tnet");
    let model = PointNetClassifier::load(&dir, Backend::Flex).unwrap();
    assert!(model.max_pooled().is_none());
    let it = model.input_transform().expect("an input T-Net");
    let two = clouds(2, 31);
    // Segment 5 has no point: masks over it must change nothing.
    let labels: Vec<u32> = (0..64u32).map(|i| (i * 5 / 64) % 5).collect();
    let masks = edge_and_random_masks(6, 30, 32);
    let input = Input::new(&two[0], &labels, 6).unwrap();
    for removal in [Removal::Drop, Removal::Centroid] {
        for output in [Output::Logit, Output::Probability] {
            let config = |path| ScoringConfig {
                removal,
                output,
                path,
                batch_size: 6,
            };
            let score = |s| score_masks(&model, &input, &masks, &config(s), None).unwrap();
            let (pooled, whole) = (score(Scoring::Auto), score(Scoring::Generic));
            assert_eq!(pooled.cost.path, ScoringPath::PooledInputTransform);
            assert_close(
                &pooled.scores,
                &whole.scores,
                1e-4,
                &format!("{removal:?} {output:?}"),
            );
        }
    }
    // The pooled features are what decides: another cloud's change the scores.
    let psi = |c: &[[f32; 3]]| {
        let f = it.transform_features(c).unwrap();
        let w = it.transform_dim();
        (0..w)
            .map(|j| f.chunks(w).map(|r| r[j]).fold(f32::NEG_INFINITY, f32::max))
            .collect::<Vec<f32>>()
    };
    let own = it
        .predict_given(&[&two[0]], &psi(&two[0]), Output::Logit)
        .unwrap();
    let other = it
        .predict_given(&[&two[0]], &psi(&two[1]), Output::Logit)
        .unwrap();
    assert_close(
        &own,
        &model.predict(&[&two[0]], Output::Logit).unwrap(),
        1e-4,
        "own",
    );
    assert!(
        own.iter().zip(&other).any(|(a, b)| (a - b).abs() > 1e-3),
        "{own:?} vs {other:?}"
    );
}

#[test]
fn input_gradients_match_finite_differences() {
    let model = PointNetClassifier::new(small(true), Backend::Flex, 21).unwrap();
    let grad = model.differentiable().unwrap();
    let points = &clouds(1, 22)[0][..20];
    for output in [Output::Logit, Output::Probability] {
        for class in 0..3 {
            let g = grad.input_gradients(points, class, output).unwrap();
            assert_eq!(g.len(), points.len());
            let score = |p: &[[f32; 3]]| model.predict(&[p], output).unwrap()[class] as f64;
            let scale = g.iter().flatten().fold(0f32, |m, v| m.max(v.abs()));
            assert!(scale > 0.0, "{output:?} class {class}: all-zero gradient");
            let eps = 1e-3f32;
            let mut checked = 0;
            for i in 0..points.len() {
                for axis in 0..3 {
                    let mut plus = points.to_vec();
                    let mut minus = points.to_vec();
                    plus[i][axis] += eps;
                    minus[i][axis] -= eps;
                    let fd = (score(&plus) - score(&minus)) / (2.0 * eps as f64);
                    // ReLU and max-pool kinks make a few coordinates non-differentiable at this
                    // step size; every smooth one must agree.
                    let err = (fd - g[i][axis] as f64).abs();
                    if err <= 1e-2 * scale as f64 + 1e-4 {
                        checked += 1;
                    }
                }
            }
            assert!(
                checked >= points.len() * 3 * 19 / 20,
                "{output:?} class {class}: {checked} of {} coordinates agree",
                points.len() * 3
            );
        }
    }
    assert!(grad.input_gradients(points, 3, Output::Logit).is_err());
}

#[test]
fn randomising_layers_changes_exactly_those_layers() {
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let tnet = PointNetClassifier::new(small(true), Backend::Flex, 30).unwrap();
    assert_eq!(
        tnet.layer_names(),
        names(&[
            "input_tnet",
            "points.0",
            "feature_tnet",
            "points.1",
            "points.2",
            "head.0",
            "head.1",
            "out"
        ])
    );
    let model = PointNetClassifier::new(small(false), Backend::Flex, 31).unwrap();
    let cs = clouds(4, 32);
    let refs: Vec<&[[f32; 3]]> = cs.iter().map(Vec::as_slice).collect();
    let logits = |m: &PointNetClassifier| m.predict(&refs, Output::Logit).unwrap();
    let features = |m: &PointNetClassifier| m.max_pooled().unwrap().point_features(&cs[0]).unwrap();
    let original = (logits(&model), features(&model));

    // Nothing named, nothing changed.
    let same = model.randomised(&[], 1).unwrap();
    assert_eq!((logits(&same), features(&same)), original);
    // The head alone: per-point features intact, outputs changed.
    let head = model.randomised(&names(&["out", "head.1"]), 1).unwrap();
    assert_eq!(features(&head), original.1);
    assert_ne!(logits(&head), original.0);
    // The first point layer: the per-point features change.
    let first = model.randomised(&names(&["points.0"]), 1).unwrap();
    assert_ne!(features(&first), original.1);
    assert_ne!(logits(&first), original.0);
    // Seeded: the same randomisation twice is the same model.
    let again = model.randomised(&names(&["points.0"]), 1).unwrap();
    assert_eq!(logits(&again), logits(&first));
    assert!(model.randomised(&names(&["points.9"]), 1).is_err());
    assert!(model.randomised(&names(&["feature_tnet"]), 1).is_err());
}

/// Issue #18, item 1: the critical set is all the max-pool sees, so the cloud reduced to its
/// critical points gives the shipped default model's scores; and point CAM through the model's
/// ONNX export (the head differentiated through tract) is CAM through burn.
#[test]
fn the_critical_set_alone_gives_the_same_scores_and_cam_survives_export() {
    use pointlime::explain::cam::{cam, critical};
    use pointlime::explain::{Config, Input, Targets};
    use pointlime::onnx::{OnnxClassifier, OnnxConfig};
    let model = PointNetClassifier::load_builtin(Backend::Flex).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(41);
    let points: Vec<[f32; 3]> = (0..300)
        .map(|_| std::array::from_fn(|_| rng.random_range(-0.5..0.5)))
        .collect();
    let labels: Vec<u32> = (0..300u32).map(|i| i % 5).collect();
    let input = Input::new(&points, &labels, 5).unwrap();
    let config = Config::default();
    let wins = critical(&model, &input, &Targets::Predicted, &config).unwrap();
    let kept: Vec<[f32; 3]> = points
        .iter()
        .zip(&wins.per_point[0])
        .filter(|(_, &w)| w > 0.0)
        .map(|(p, _)| *p)
        .collect();
    assert!(kept.len() < points.len(), "{}", kept.len());
    assert_eq!(wins.per_point[0].iter().sum::<f64>(), 1024.0);
    assert_close(
        &model.predict(&[&kept], Output::Logit).unwrap(),
        &model.predict(&[&points], Output::Logit).unwrap(),
        1e-5,
        "critical points alone",
    );

    let dir = crate::common::tempdir();
    let out = dir.path().join("default.onnx");
    crate::common::run_ok(&["export", "--onnx", out.to_str().unwrap()]);
    let onnx = OnnxClassifier::load(&out, OnnxConfig::for_model(&out).unwrap()).unwrap();
    let all = Targets::Top(2);
    let (a, b) = (
        cam(&model, &input, &all, &config).unwrap(),
        cam(&onnx, &input, &all, &config).unwrap(),
    );
    for (x, y) in a
        .per_point
        .iter()
        .flatten()
        .zip(b.per_point.iter().flatten())
    {
        assert!(
            (x - y).abs() <= 1e-2 * (1.0 + x.abs()),
            "burn {x} vs ONNX {y}"
        );
    }
    assert!(a.per_point[0].iter().any(|v| v.abs() > 1e-3));

    // Integrated Gradients keeps its completeness on the real network: the baseline's score plus
    // the values is the cloud's score, up to the 32-step path integral.
    let ig = pointlime::explain::integrated::integrated_gradients(&model, &input, &all, &config)
        .unwrap();
    for e in &ig.explanations {
        let (whole, sum) = (e.model_score, e.local_prediction.unwrap());
        let gap = whole - e.intercept.unwrap();
        assert!(
            (whole - sum).abs() <= 0.05 * gap.abs().max(0.1),
            "{whole} vs {sum}"
        );
    }
}

/// Issue #18, item 2: Grad-CAM on a tiny T-Net model against its definition computed by brute
/// force: every `∂score/∂h(p, k)` by central differences through the max-pool and the head, their
/// mean over the points as the channel weights, then `ReLU(Σ_k α_k h(p, k))`.
#[test]
fn grad_cam_matches_finite_differences_on_a_tnet_model() {
    use pointlime::classifier::PoolLayer;
    use pointlime::explain::cam::grad_cam;
    use pointlime::explain::{Config, Input, Targets};
    let model = PointNetClassifier::new(small(true), Backend::Flex, 51).unwrap();
    let layer: &dyn PoolLayer = model.pool_layer().unwrap();
    let points = &clouds(1, 52)[0];
    let labels: Vec<u32> = (0..64u32).map(|i| i % 4).collect();
    let input = Input::new(points, &labels, 4).unwrap();
    let mut config = Config::default();
    config.scoring.output = Output::Logit;
    let got = grad_cam(&model, &input, &Targets::Classes(vec![0, 1, 2]), &config).unwrap();

    let c = layer.pool_width();
    let h: Vec<f64> = layer
        .cloud_features(points)
        .unwrap()
        .iter()
        .map(|&v| v as f64)
        .collect();
    let n = points.len();
    let scores = |h: &[f64]| {
        let g: Vec<f32> = (0..c)
            .map(|k| (0..n).map(|p| h[p * c + k]).fold(f64::MIN, f64::max) as f32)
            .collect();
        layer.pooled_head(&g, Output::Logit).unwrap()
    };
    let mut alpha = vec![[0.0; 3]; c];
    let mut nudged = h.clone();
    for p in 0..n {
        for (k, a) in alpha.iter_mut().enumerate() {
            let i = p * c + k;
            let step = 1e-3 * (1.0 + h[i].abs());
            nudged[i] = h[i] + step;
            let up = scores(&nudged);
            nudged[i] = h[i] - step;
            let down = scores(&nudged);
            nudged[i] = h[i];
            for (t, a) in a.iter_mut().enumerate() {
                *a += (up[t] - down[t]) as f64 / (2.0 * step) / n as f64;
            }
        }
    }
    let mut nonzero = 0;
    for (t, values) in got.per_point.iter().enumerate() {
        for (p, v) in values.iter().enumerate() {
            let want = (0..c)
                .map(|k| alpha[k][t] * h[p * c + k])
                .sum::<f64>()
                .max(0.0);
            assert!(
                (v - want).abs() <= 1e-3 * (1.0 + want.abs()),
                "class {t}, point {p}: {v} vs {want}"
            );
            nonzero += usize::from(want > 0.0);
        }
    }
    assert!(nonzero > 0);
}

/// Issue #18, item 4: the plain network LRP walks back through computes the burn model's logits,
/// T-Nets included, and LRP conserves the logit: the point values and what the biases and ε took
/// add up to it exactly; with the biases set to zero, the point values alone do, up to ε.
#[test]
fn lrp_conserves_the_logit_through_tnets_and_the_max_pool() {
    use pointlime::explain::lrp::{lrp, relevance};
    use pointlime::explain::{Config, Input, Targets};
    for tnets in [false, true] {
        let model = PointNetClassifier::new(small(tnets), Backend::Flex, 61).unwrap();
        let points = &clouds(1, 62)[0];
        let burn = model.predict(&[points], Output::Logit).unwrap();
        let mut net = model.dense_layers().unwrap();
        let plain = net.logits(points);
        for (a, b) in burn.iter().zip(&plain) {
            assert!(
                (*a as f64 - b).abs() < 1e-4 * (1.0 + b.abs()),
                "{burn:?} vs {plain:?}"
            );
        }
        let labels: Vec<u32> = (0..64u32).map(|i| i % 4).collect();
        let input = Input::new(points, &labels, 4).unwrap();
        let mut config = Config::default();
        config.scoring.output = Output::Logit;
        let a = lrp(&model, &input, &Targets::Classes(vec![0, 1, 2]), &config).unwrap();
        for e in &a.explanations {
            let local = e.local_prediction.unwrap();
            assert!(
                (local - e.model_score).abs() < 1e-4 * (1.0 + local.abs()),
                "{e:?}"
            );
            assert!(e.coefficients.iter().any(|v| v.abs() > 1e-6));
        }
        // Without biases, nothing is absorbed but ε's share.
        for d in net.points.iter_mut().chain(net.head.iter_mut()) {
            d.bias.iter_mut().for_each(|b| *b = 0.0);
        }
        let trace = net.trace(points);
        let logits = trace.head_inputs.last().unwrap().clone();
        for (class, logit) in logits.iter().enumerate() {
            let (rel, absorbed) = relevance(&net, &trace, class);
            let sum: f64 = rel.iter().sum();
            assert!(
                (sum - logit).abs() < 1e-4 * (1.0 + logit.abs()) && absorbed.abs() < 1e-4,
                "tnets {tnets}, class {class}: {sum} vs {logit} ({absorbed} absorbed)"
            );
        }
    }
}

/// Issue #29, item 4: the gradient of a region's score on pointlime's segmentation network
/// (`PerPoint::region_gradients`, what gradient, saliency, ig, smoothgrad and eg read through a
/// kept `Region`) is the derivative of the mean of the region points' class score: central
/// differences of `predict_points` agree, for logits and probabilities; the region is known by
/// position, so it holds on moved points too; a region made without its input gives none.
#[test]
fn a_regions_gradient_is_the_derivative_of_its_mean_score() {
    use pointlime::classifier::{PerPoint, Region};
    let mut config = small(false);
    config.network.segment = Some(true);
    let model = PointNetClassifier::new(config, Backend::Flex, 3).unwrap();
    let cloud = &clouds(1, 7)[0];
    let mask: Vec<bool> = (0..cloud.len()).map(|i| i % 5 == 0).collect();
    let score = |c: &[[f32; 3]], class: usize, output: Output| -> f64 {
        let s = model.predict_points(&[c], output).unwrap();
        let (sum, n) = mask
            .iter()
            .enumerate()
            .filter(|(_, &m)| m)
            .fold((0.0, 0), |(sum, n), (i, _)| {
                (sum + s[i * 3 + class] as f64, n + 1)
            });
        sum / n as f64
    };
    for output in [Output::Logit, Output::Probability] {
        let class = 1;
        let g = model.region_gradients(cloud, &mask, class, output).unwrap();
        let h = 1e-2f32;
        let mut checked = 0;
        for (i, k) in [(0, 0), (3, 2), (10, 1), (25, 0), (40, 2)] {
            let mut up = cloud.clone();
            up[i][k] += h;
            let mut down = cloud.clone();
            down[i][k] -= h;
            let numeric =
                (score(&up, class, output) - score(&down, class, output)) / (2.0 * h as f64);
            let analytic = g[i][k] as f64;
            assert!(
                (numeric - analytic).abs() <= 0.05 * analytic.abs().max(numeric.abs()) + 2e-3,
                "{output:?} point {i} axis {k}: numeric {numeric}, analytic {analytic}"
            );
            checked += 1;
        }
        assert_eq!(checked, 5);
    }
    // Through a kept region, on a moved cloud of the same order (an IG step).
    let points: Vec<[f32; 3]> = cloud
        .iter()
        .zip(&mask)
        .filter(|(_, &m)| m)
        .map(|(p, _)| *p)
        .collect();
    let region = Region::keeping(&model, &points, cloud).unwrap();
    let half: Vec<[f32; 3]> = cloud.iter().map(|p| p.map(|x| x * 0.5)).collect();
    let through = region
        .differentiable()
        .unwrap()
        .input_gradients(&half, 2, Output::Logit)
        .unwrap();
    assert_eq!(
        through,
        model
            .region_gradients(&half, &mask, 2, Output::Logit)
            .unwrap()
    );
    assert!(Region::new(&model, &points)
        .unwrap()
        .differentiable()
        .is_none());
    assert!(model
        .region_gradients(cloud, &vec![false; cloud.len()], 0, Output::Logit)
        .is_err());
}

/// Issue #29 item 4: Grad-CAM for segmentation (pGS-CAM's target) on a region reads the
/// region's mean score at the layer the global max-pool reads: that head, at the cloud's own
/// pooled feature, is the region's score; it needs the unperturbed input only, so a kept region
/// and one perturbed with the rest give the same map; a network whose pooled layer is also the
/// local feature (one point layer) is refused.
#[test]
fn grad_cam_of_a_region_reads_its_score_at_the_max_pool() {
    use pointlime::classifier::{max_pool, Region};
    use pointlime::explain::{attribute, Input, Method, Targets};
    let mut config = small(false);
    config.network.segment = Some(true);
    let model = PointNetClassifier::new(config.clone(), Backend::Flex, 5).unwrap();
    let cloud = &clouds(1, 9)[0];
    let region: Vec<[f32; 3]> = cloud.iter().step_by(4).copied().collect();
    let kept = Region::keeping(&model, &region, cloud).unwrap();
    let perturbed = Region::perturbing(&model, &region, cloud).unwrap();
    let layer = kept
        .pool_layer()
        .expect("a kept region exposes its pooled layer");
    let (g, _) = max_pool(&layer.cloud_features(cloud).unwrap(), layer.pool_width());
    for output in [Output::Logit, Output::Probability] {
        assert_close(
            &layer.pooled_head(&g, output).unwrap(),
            &kept.predict(&[cloud], output).unwrap(),
            1e-5,
            &format!("{output:?}"),
        );
    }
    let labels: Vec<u32> = (0..cloud.len() as u32).map(|i| i % 8).collect();
    let input = Input::new(cloud, &labels, 8).unwrap();
    let gradcam: Method = "gradcam".parse().unwrap();
    let explainer = settings(|_| {});
    let run = |r: &Region| {
        attribute(
            gradcam,
            r,
            &input,
            &Targets::Classes(vec![1]),
            &explainer,
            None,
        )
        .unwrap()
    };
    let (a, b) = (run(&kept), run(&perturbed));
    assert_eq!(a.per_point, b.per_point);
    let values = &a.per_point[0];
    assert!(values.iter().all(|&v| v >= 0.0), "ReLU'd map: {values:?}");
    assert!(values.iter().any(|&v| v > 0.0), "an all-zero map");
    assert!(Region::new(&model, &region).unwrap().pool_layer().is_none());
    let mut one_layer = config;
    one_layer.network.point_layers = vec![16];
    let shallow = PointNetClassifier::new(one_layer, Backend::Flex, 5).unwrap();
    assert!(Region::keeping(&shallow, &region, cloud)
        .unwrap()
        .pool_layer()
        .is_none());
}

/// Issue #29 item 7: a network that reads channels besides x, y, z (`train --channels`) takes
/// them from the table its scan binds, by position; unbound, it refuses to guess; bound, its
/// exact max-pool path still gives the whole network's region scores; and its gradients are of
/// the positions alone.
#[test]
fn a_network_with_channels_reads_them_by_position_on_every_path() {
    use pointlime::channels::{ChannelTable, Channels};
    use pointlime::classifier::Region;
    use pointlime::explain::{score_masks, Input, Scoring, ScoringConfig, ScoringPath};
    use pointlime::perturb::Removal;
    let mut config = small(false);
    config.network.segment = Some(true);
    config.network.extra_channels = Some(3);
    config.channels = Some(Channels::XyzShape);
    let model = PointNetClassifier::new(config, Backend::Flex, 8).unwrap();
    let cloud = &clouds(1, 12)[0];
    let err = model
        .predict(&[cloud], Output::Logit)
        .unwrap_err()
        .to_string();
    assert!(err.contains("reads xyz_shape per point"), "{err}");
    let values: Vec<f32> = (0..cloud.len() * 3).map(|i| (i % 7) as f32 / 7.0).collect();
    let bound = model
        .with_channels(ChannelTable::new(cloud, values.clone(), 3))
        .unwrap();
    let zeros = model
        .with_channels(ChannelTable::new(cloud, vec![0.0; values.len()], 3))
        .unwrap();
    let (a, b) = (
        bound.predict(&[cloud], Output::Logit).unwrap(),
        zeros.predict(&[cloud], Output::Logit).unwrap(),
    );
    assert_ne!(a, b, "the channels are read");
    // The same points in another order read the same channels: each point's scores follow it.
    let reversed: Vec<[f32; 3]> = cloud.iter().rev().copied().collect();
    let per_point = bound.per_point().unwrap();
    let forward = per_point.predict_points(&[cloud], Output::Logit).unwrap();
    let backward = per_point
        .predict_points(&[&reversed], Output::Logit)
        .unwrap();
    let back: Vec<f32> = backward.chunks(3).rev().flatten().copied().collect();
    assert_close(&forward, &back, 1e-5, "reversed");

    let labels: Vec<u32> = (0..cloud.len() as u32).map(|i| (i * 7 / 64) % 6).collect();
    let region: Vec<[f32; 3]> = cloud.iter().step_by(5).copied().collect();
    let kept = Region::keeping(bound.as_ref(), &region, cloud).unwrap();
    let input = Input::new(cloud, &labels, 6).unwrap();
    let masks = edge_and_random_masks(6, 40, 14);
    let score = |path| {
        let config = ScoringConfig {
            removal: Removal::Drop,
            output: Output::Logit,
            path,
            batch_size: 8,
        };
        score_masks(&kept, &input, &masks, &config, None).unwrap()
    };
    let (fast, full) = (score(Scoring::Auto), score(Scoring::Full));
    assert_eq!(fast.cost.path, ScoringPath::ExactMaxPool);
    assert_close(&fast.scores, &full.scores, 1e-5, "exact path with channels");
    let mask: Vec<bool> = (0..cloud.len()).map(|i| i % 5 == 0).collect();
    let g = per_point
        .region_gradients(cloud, &mask, 1, Output::Logit)
        .unwrap();
    assert_eq!(g.len(), cloud.len());
}

/// A network with T-Nets and channels: the input transform turns the positions and passes the
/// channels through, and the pooled input transform path still gives the whole network's scores.
#[test]
fn t_nets_turn_the_positions_and_pass_the_channels_through() {
    use pointlime::channels::{ChannelTable, Channels};
    use pointlime::explain::{score_masks, Input, Scoring, ScoringConfig, ScoringPath};
    use pointlime::perturb::Removal;
    let mut config = small(true);
    config.network.extra_channels = Some(3);
    config.channels = Some(Channels::XyzShape);
    let model = PointNetClassifier::new(config, Backend::Flex, 6).unwrap();
    let cloud = &clouds(1, 41)[0];
    let values: Vec<f32> = (0..cloud.len() * 3).map(|i| (i % 5) as f32 / 5.0).collect();
    let bound = model
        .with_channels(ChannelTable::new(cloud, values, 3))
        .unwrap();
    let labels: Vec<u32> = (0..64u32).map(|i| (i * 5 / 64) % 5).collect();
    let input = Input::new(cloud, &labels, 5).unwrap();
    let masks = edge_and_random_masks(5, 20, 42);
    let score = |path| {
        let config = ScoringConfig {
            removal: Removal::Drop,
            output: Output::Logit,
            path,
            batch_size: 6,
        };
        score_masks(bound.as_ref(), &input, &masks, &config, None).unwrap()
    };
    let (pooled, whole) = (score(Scoring::Auto), score(Scoring::Generic));
    assert_eq!(pooled.cost.path, ScoringPath::PooledInputTransform);
    assert_close(&pooled.scores, &whole.scores, 1e-4, "T-Nets with channels");
}
