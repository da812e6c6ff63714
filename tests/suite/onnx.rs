//! Issue #15: the user's own classifier as an ONNX file, run with tract. The fixtures in
//! `data/onnx/` were exported by PyTorch's own `torch.onnx.export` (`data/onnx/make_fixtures.py`,
//! which also recorded PyTorch's logits for fixed clouds), so these tests check tract against
//! PyTorch with no Python.

use std::path::{Path, PathBuf};

use pointlime::classifier::{Classifier, Output};
use pointlime::onnx::{Layout, OnnxClassifier, OnnxConfig};

use crate::common::{assert_close, bin, tempdir};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/onnx")
        .join(name)
}

fn reference() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("reference.json")).unwrap()).unwrap()
}

/// The fixed clouds PyTorch was run on, `[N × 3]` each.
fn reference_clouds() -> Vec<Vec<[f32; 3]>> {
    reference()["clouds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            c.as_array()
                .unwrap()
                .iter()
                .map(|p| std::array::from_fn(|k| p[k].as_f64().unwrap() as f32))
                .collect()
        })
        .collect()
}

/// Fixture `name`, built for `cloud`'s size, gives PyTorch's logits `want` for it (cloud `i`).
fn pytorchs_logits(
    name: &str,
    want: &serde_json::Value,
    i: usize,
    cloud: &[[f32; 3]],
) -> OnnxClassifier {
    let model = load(&format!("{name}.onnx"), cloud.len());
    let got = model.predict(&[cloud], Output::Logit).unwrap();
    for (k, g) in got.iter().enumerate() {
        let w = want[k].as_f64().unwrap() as f32;
        assert!(
            (g - w).abs() < 1e-4,
            "{name}, cloud {i}, class {k}: {g} vs PyTorch {w}"
        );
    }
    model
}

/// A batch gives what its clouds give one by one (3 classes), within `tol` (absolute).
fn batch_gives_each_clouds_logits(
    model: &OnnxClassifier,
    many: &[&[[f32; 3]]],
    tol: f32,
    name: &str,
) {
    let batched = model.predict(many, Output::Logit).unwrap();
    for (i, row) in batched.chunks(3).enumerate() {
        let one = model.predict(&[many[i]], Output::Logit).unwrap();
        for (a, b) in row.iter().zip(&one) {
            assert!((a - b).abs() < tol, "{name}: batch row {i}");
        }
    }
}

fn load(name: &str, points: usize) -> OnnxClassifier {
    let config = OnnxConfig {
        class_names: vec!["a".into(), "b".into(), "c".into()],
        num_points: points,
        ..OnnxConfig::default()
    };
    OnnxClassifier::load(&fixture(name), config).unwrap()
}

/// Issue #30, item 1: the networks users bring, DGCNN (k-NN by topk, EdgeConv) and PointNet++
/// SSG (farthest point sampling unrolled by the exporter, ball query by a masked topk), exported
/// by `data/onnx/make_neighbourhood_fixtures.py`: tract gives PyTorch's logits for every cloud,
/// a batch gives what the clouds give one by one, and neither has the max-pool split (every
/// sample runs the whole network).
#[test]
fn tract_gives_pytorchs_logits_for_dgcnn_and_pointnet2() {
    let r: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("reference_neighbourhood.json")).unwrap(),
    )
    .unwrap();
    let clouds = reference_clouds();
    // The helix's points are evenly spaced: a point's 16th and 17th nearest neighbours are at
    // the same distance, so its k-NN graph has no single answer, and PyTorch's topk and tract's
    // break the tie differently. The other two clouds have no such tie.
    let tied = |cloud: &[[f32; 3]]| {
        cloud.iter().any(|p| {
            let mut d: Vec<f32> = cloud
                .iter()
                .map(|q| (0..3).map(|a| (p[a] - q[a]).powi(2)).sum::<f32>().sqrt())
                .collect();
            d.sort_by(f32::total_cmp);
            d[16] - d[15] < 1e-6
        })
    };
    assert!(tied(&clouds[0]) && !tied(&clouds[1]) && !tied(&clouds[2]));
    for name in ["dgcnn", "pointnet2_ssg"] {
        let want = &r["models"][name]["logits"];
        for (i, cloud) in clouds.iter().enumerate().skip(1) {
            pytorchs_logits(name, &want[i], i, cloud);
        }
        let model = load(&format!("{name}.onnx"), 64);
        let many: Vec<&[[f32; 3]]> = (0..5).map(|i| clouds[i % 2].as_slice()).collect();
        // (Tied or not, one cloud gives one answer in one runtime, batched or alone.)
        batch_gives_each_clouds_logits(&model, &many, 1e-4, name);
        let out = bin()
            .args(["model", "inspect"])
            .arg(fixture(&format!("{name}.onnx")))
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{said}");
        assert!(
            said.contains("every sample runs the whole network"),
            "{name}: {said}"
        );
        // A network that searches neighbours runs one cloud at a time (docs/models.md).
        assert!(
            said.contains("runs:       one cloud a tract run"),
            "{name}: {said}"
        );
    }
}

#[test]
fn tract_gives_pytorchs_logits_for_both_exports() {
    let r = reference();
    let clouds = reference_clouds();
    for name in ["pointnet_tnet", "pointnet_plain"] {
        let want = &r["models"][name]["logits"];
        for (i, cloud) in clouds.iter().enumerate() {
            // The point axis is free in the export: a model of each cloud's size.
            let model = pytorchs_logits(name, &want[i], i, cloud);
            let p = model.predict(&[cloud], Output::Probability).unwrap();
            assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        }
        // A batch gives what the clouds give one by one (the layout and the batch axis are
        // right), across the parallel split of large batches.
        let model = load(&format!("{name}.onnx"), 64);
        let many: Vec<&[[f32; 3]]> = (0..70).map(|i| clouds[i % 2].as_slice()).collect();
        batch_gives_each_clouds_logits(&model, &many, 1e-5, name);
    }
}

#[test]
fn a_wrong_layout_or_class_count_or_file_fails_on_load_in_one_line() {
    let e = OnnxClassifier::load(
        &fixture("pointnet_plain.onnx"),
        OnnxConfig {
            layout: Layout::Bnc,
            num_points: 64,
            ..OnnxConfig::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("pointnet_plain.onnx") && e.contains("set \"layout\": \"bcn\""),
        "{e}"
    );
    let e = OnnxClassifier::load(
        &fixture("pointnet_plain.onnx"),
        OnnxConfig {
            class_names: vec!["a".into(), "b".into()],
            ..OnnxConfig::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("3 values per cloud for 2 class names"), "{e}");
    let dir = tempdir();
    let cut = dir.path().join("cut.onnx");
    let bytes = std::fs::read(fixture("pointnet_tnet.onnx")).unwrap();
    for len in [0, 10, bytes.len() / 2, bytes.len() - 1] {
        std::fs::write(&cut, &bytes[..len]).unwrap();
        let e = OnnxClassifier::load(&cut, OnnxConfig::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(&cut.display().to_string()) && !e.contains('\n'),
            "{e}"
        );
    }
    // Defaults: class names from the output's width.
    let m = OnnxClassifier::load(&fixture("pointnet_plain.onnx"), OnnxConfig::default()).unwrap();
    assert_eq!(m.class_names(), ["class_0", "class_1", "class_2"]);
    assert_eq!(m.input_points(), 1024);
}

/// `explain --model FILE.onnx`: the sidecar beside the file, the same explanation for any
/// thread count, gradient methods refused, and bad files refused with nothing written.
#[test]
fn explain_runs_an_onnx_model_with_its_sidecar() {
    let dir = tempdir();
    let model = dir.path().join("net.onnx");
    std::fs::copy(fixture("pointnet_tnet.onnx"), &model).unwrap();
    std::fs::write(
        dir.path().join("net.json"),
        r#"{"class_names": ["building", "pole", "tree"], "num_points": 256}"#,
    )
    .unwrap();
    let scan = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/samples/pole.ply");
    let explain = |out: &str, extra: &[&str]| {
        bin()
            .args(extra)
            .arg("explain")
            .arg(&scan)
            .args([
                "--model",
                model.to_str().unwrap(),
                "--samples",
                "120",
                "--out",
            ])
            .arg(dir.path().join(out))
            .output()
            .unwrap()
    };
    let coefficients = |name: &str| -> Vec<f64> {
        let r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join(name)).unwrap()).unwrap();
        assert_eq!(
            r["class_names"],
            serde_json::json!(["building", "pole", "tree"])
        );
        serde_json::from_value(r["explanations"][0]["coefficients"].clone()).unwrap()
    };
    for (out, threads) in [("one.ply", "1"), ("two.ply", "2")] {
        let run = explain(out, &["--threads", threads]);
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
    }
    assert_eq!(coefficients("one.json"), coefficients("two.json"));

    let run = explain("g.ply", &[]);
    assert!(run.status.success());
    let run = bin()
        .arg("explain")
        .arg(&scan)
        .args([
            "--model",
            model.to_str().unwrap(),
            "--method",
            "gradient",
            "--out",
        ])
        .arg(dir.path().join("grad.ply"))
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("need a model that gives gradients"));
    assert!(!dir.path().join("grad.ply").exists());

    std::fs::write(
        dir.path().join("net.json"),
        r#"{"class_names": ["a"], "colour": 1}"#,
    )
    .unwrap();
    let run = explain("bad.ply", &[]);
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("net.json") && stderr.contains("colour"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(!dir.path().join("bad.ply").exists());

    // Commands that need pointlime's own model say so.
    let run = bin()
        .args([
            "export",
            "--model",
            model.to_str().unwrap(),
            "--onnx",
            "x.onnx",
        ])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("needs a pointlime model directory"));
}

#[test]
fn model_inspect_names_the_inputs_operators_and_path() {
    let out = bin()
        .args(["model", "inspect"])
        .arg(fixture("pointnet_tnet.onnx"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "points [batch, 3, n, F32]",
        "ReduceMax ×3",
        "Shape ×2",
        "opset ai.onnx 13",
        "fast path:  in part: the input transform's",
        "gradients:  no",
        "runs:       up to 32 clouds a tract run",
    ] {
        assert!(text.contains(want), "{want:?} not in {text}");
    }
    // The layers of the randomisation checks: the 7 convolutions and 6 dense layers.
    let layers = text
        .lines()
        .find_map(|l| l.strip_prefix("layers:"))
        .unwrap();
    assert_eq!(layers.split(", ").count(), 13, "{layers}");
    let out = bin()
        .args(["model", "inspect"])
        .arg(fixture("pointnet_plain.onnx"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("fast path:  yes"));
    let dir = tempdir();
    let bad = dir.path().join("bad.onnx");
    std::fs::write(&bad, b"not a model").unwrap();
    let out = bin().args(["model", "inspect"]).arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with(&format!("error: {}", bad.display())));
}

/// Issue #15, item 4: the max-pooled export is cut at its max-pool, and scoring masks on the
/// exact path gives what the whole network gives on every mask; the T-Net export is not cut there,
/// and says why, but is cut after its input T-Net's max-pool, which gives the same scores too.
#[test]
fn the_max_pooled_export_is_split_and_scores_masks_exactly() {
    use pointlime::explain::{score_masks, Input, Scoring, ScoringConfig, ScoringPath};
    use pointlime::perturb::{Masks, Removal};
    let plain = load("pointnet_plain.onnx", 64);
    assert!(plain.fast_path().is_ok() && plain.max_pooled().is_some());
    let tnet = load("pointnet_tnet.onnx", 64);
    let why = tnet.fast_path().unwrap_err();
    assert!(why.contains("T-Nets"), "{why}");
    assert!(tnet.input_transform().is_some() && plain.input_transform().is_none());

    let points = reference_clouds().swap_remove(0);
    let labels: Vec<u32> = (0..64u32).map(|i| i / 11).collect(); // 6 segments
    let mut rows: Vec<Vec<u8>> = vec![vec![1; 6], vec![0; 6]];
    for i in 0..6 {
        rows.push((0..6).map(|j| u8::from(j == i)).collect());
        rows.push((0..6).map(|j| u8::from(j != i)).collect());
        rows.push((0..6).map(|j| u8::from((i + j) % 3 == 0)).collect());
    }
    let masks = Masks::from_rows(6, &rows);
    for (model, path) in [
        (&plain, ScoringPath::ExactMaxPool),
        (&tnet, ScoringPath::PooledInputTransform),
    ] {
        for removal in [Removal::Drop, Removal::Centroid] {
            for output in [Output::Probability, Output::Logit] {
                let config = |path| ScoringConfig {
                    removal,
                    output,
                    path,
                    batch_size: 7,
                };
                let input = Input::new(&points, &labels, 6).unwrap();
                let score = |s| score_masks(model, &input, &masks, &config(s), None).unwrap();
                let (fast, full) = (score(Scoring::Auto), score(Scoring::Full));
                assert_eq!(fast.cost.path, path);
                assert_eq!(full.cost.path, ScoringPath::GenericFull);
                let what = format!("{path:?} {removal:?} {output:?}");
                assert_close(&fast.scores, &full.scores, 1e-4, &what);
                // The whole network on the kept points (a split export is a set function): its
                // clouds are smaller than the input size and padded with their own points; this
                // failed with "takes clouds of 64 points" before the split counted.
                let generic = score(Scoring::Generic);
                assert_close(
                    &generic.scores,
                    &full.scores,
                    1e-4,
                    &format!("generic {what}"),
                );
            }
        }
    }
}

/// Issue #15, item 6: `pointlime export` writes pointlime's models, with and without T-Nets, as
/// ONNX that tract runs to burn's logits: the max-pooled one on the exact path, the T-Net one as
/// a set function (fewer points than its input size, one size per call).
#[test]
fn exported_models_give_burns_logits_through_tract() {
    use pointlime::model::{Backend, ModelConfig, PointNetClassifier, PointNetConfig};
    let clouds = reference_clouds();
    let dir = tempdir();
    for tnets in [false, true] {
        let m = dir.path().join(format!("model-{tnets}"));
        let net = PointNetConfig::new(3)
            .with_point_layers(vec![16, 32])
            .with_head_layers(vec![16])
            .with_input_tnet(tnets)
            .with_feature_tnet(tnets);
        let config =
            ModelConfig::new(net, vec!["a".into(), "b".into(), "c".into()]).with_num_points(64);
        let burn = PointNetClassifier::new(config, Backend::Flex, 3).unwrap();
        burn.save(&m).unwrap();
        let out = dir.path().join(format!("net-{tnets}.onnx"));
        let run = bin()
            .args(["export", "--model", m.to_str().unwrap(), "--onnx"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let onnx = OnnxClassifier::load(&out, OnnxConfig::for_model(&out).unwrap()).unwrap();
        assert_eq!(onnx.class_names(), ["a", "b", "c"]);
        assert_eq!(onnx.input_points(), 64);
        assert_eq!(onnx.fast_path().is_ok(), !tnets);
        assert!(onnx.set_function());
        // Full clouds, and (a set function) clouds of 40 points.
        for size in [64, 40] {
            let refs: Vec<&[[f32; 3]]> = clouds.iter().map(|c| &c[..size]).collect();
            let (a, b) = (
                burn.predict(&refs, Output::Logit).unwrap(),
                onnx.predict(&refs, Output::Logit).unwrap(),
            );
            for (x, y) in a.iter().zip(&b) {
                assert!(
                    (x - y).abs() < 1e-4,
                    "T-Nets {tnets}, {size} points: burn {x} vs ONNX {y}"
                );
            }
        }
    }
    let run = bin()
        .args(["export", "--onnx"])
        .arg(dir.path().join("x.txt"))
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    assert!(!dir.path().join("x.txt").exists());
}

/// Issue #15, item 3: the model-randomisation checks on an ONNX model redraw its initialisers,
/// layer by layer, deterministically, and `faithfulness` runs them.
#[test]
fn onnx_layers_are_randomised_through_their_initialisers() {
    let model = load("pointnet_tnet.onnx", 64);
    let r = model.randomisable().unwrap();
    let layers = r.layer_names();
    let clouds = reference_clouds();
    let refs: Vec<&[[f32; 3]]> = clouds.iter().map(|c| &c[..64]).collect();
    let trained = model.predict(&refs, Output::Logit).unwrap();
    let scores = |names: &[String], seed| {
        r.randomised(names, seed)
            .unwrap()
            .predict(&refs, Output::Logit)
            .unwrap()
    };
    let differs = |a: &[f32], b: &[f32]| a.iter().zip(b).any(|(x, y)| (x - y).abs() > 1e-4);
    // Nothing randomised is the model itself; each layer alone changes the scores, the same way
    // for the same seed and another way for another.
    assert!(!differs(&scores(&[], 1), &trained));
    let last = std::slice::from_ref(layers.last().unwrap());
    assert_eq!(scores(last, 1), scores(last, 1));
    assert!(differs(&scores(last, 1), &scores(last, 2)));
    for layer in &layers {
        let one = scores(std::slice::from_ref(layer), 1);
        assert!(differs(&one, &trained), "{layer} changed nothing");
    }
    // A layer's new weights do not depend on the order it is named in.
    let two = &layers[layers.len() - 2..];
    let swapped = [two[1].clone(), two[0].clone()];
    assert_eq!(scores(two, 1), scores(&swapped, 1));
    let err = r.randomised(&["nope".into()], 1).err().unwrap().to_string();
    assert!(err.contains("no layer \"nope\""), "{err}");
}

/// Issue #15, item 1: a model that reads colour per point gets each point's colour, in tract as in
/// PyTorch, on every scoring path; a point with no colour (the origin of centroid removal) reads
/// zeros.
#[test]
fn a_colour_model_reads_each_points_colour() {
    use pointlime::channels::{ChannelTable, Channels};
    use pointlime::explain::{score_masks, Input, Scoring, ScoringConfig, ScoringPath};
    use pointlime::perturb::{Masks, Removal};
    let r = reference();
    let config = OnnxConfig {
        class_names: vec!["a".into(), "b".into(), "c".into()],
        num_points: 64,
        channels: Channels::XyzRgb,
        ..OnnxConfig::default()
    };
    let model = OnnxClassifier::load(&fixture("pointnet_rgb.onnx"), config).unwrap();
    assert_eq!(model.channels(), Channels::XyzRgb);
    let colours: Vec<Vec<f32>> = r["colours"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            c.as_array()
                .unwrap()
                .iter()
                .flat_map(|p| {
                    p.as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_f64().unwrap() as f32)
                })
                .collect()
        })
        .collect();
    for (i, cloud) in reference_clouds().iter().enumerate() {
        let model = OnnxClassifier::load(
            &fixture("pointnet_rgb.onnx"),
            OnnxConfig {
                num_points: cloud.len(),
                channels: Channels::XyzRgb,
                ..OnnxConfig::default()
            },
        )
        .unwrap();
        let bound = model
            .with_channels(ChannelTable::new(cloud, colours[i].clone(), 3))
            .unwrap();
        let got = bound.predict(&[cloud], Output::Logit).unwrap();
        let blind = model.predict(&[cloud], Output::Logit).unwrap();
        let want = &r["models"]["pointnet_rgb"]["logits"][i];
        for (k, g) in got.iter().enumerate() {
            let w = want[k].as_f64().unwrap() as f32;
            assert!(
                (g - w).abs() < 1e-4,
                "cloud {i}, class {k}: {g} vs PyTorch {w}"
            );
        }
        assert!(got.iter().zip(&blind).any(|(a, b)| (a - b).abs() > 1e-3));
    }
    // The exact path with colour gives what the whole network gives.
    let points = reference_clouds().swap_remove(0);
    let bound = model
        .with_channels(ChannelTable::new(&points, colours[0].clone(), 3))
        .unwrap();
    let labels: Vec<u32> = (0..64u32).map(|i| i / 11).collect();
    let rows: Vec<Vec<u8>> = (0..30u8)
        .map(|s| (0..6).map(|j| (s >> (j % 5)) & 1).collect())
        .collect();
    let masks = Masks::from_rows(6, &rows);
    let input = Input::new(&points, &labels, 6).unwrap();
    for removal in [Removal::Drop, Removal::Centroid] {
        let config = |path| ScoringConfig {
            removal,
            path,
            ..ScoringConfig::default()
        };
        let score = |s| score_masks(bound.as_ref(), &input, &masks, &config(s), None).unwrap();
        let (fast, full) = (score(Scoring::Auto), score(Scoring::Full));
        assert_eq!(fast.cost.path, ScoringPath::ExactMaxPool);
        assert_close(&fast.scores, &full.scores, 1e-4, &format!("{removal:?}"));
    }
}

/// Issue #15, item 1, from the command line: colour from the scan's fields, normals estimated
/// when the scan has none, and a scan without the fields the model reads refused in one line.
#[test]
fn explain_gives_a_channel_model_the_scans_colour_or_normals() {
    use pointlime::cloud::{Attribute, FileFormat, PointCloud, ScalarKind};
    let dir = tempdir();
    let model = dir.path().join("rgb.onnx");
    std::fs::copy(fixture("pointnet_rgb.onnx"), &model).unwrap();
    let sidecar = |channels: &str| {
        std::fs::write(
            dir.path().join("rgb.json"),
            format!(
                r#"{{"class_names": ["a", "b", "c"], "num_points": 64, "channels": "{channels}"}}"#
            ),
        )
        .unwrap()
    };
    let clouds = reference_clouds();
    let positions: Vec<[f64; 3]> = clouds.iter().flatten().map(|p| p.map(f64::from)).collect();
    let plain = dir.path().join("plain.ply");
    let mut cloud = PointCloud::from_positions(positions, FileFormat::Ply);
    pointlime::io::write(&plain, &cloud, Default::default()).unwrap();
    let coloured = dir.path().join("coloured.ply");
    for (k, name) in ["red", "green", "blue"].into_iter().enumerate() {
        let values = cloud
            .positions
            .iter()
            .map(|p| (p[k] * 100.0 + 128.0).clamp(0.0, 255.0).round());
        cloud.attributes.push(Attribute {
            name: name.into(),
            kind: ScalarKind::U8,
            values: values.collect(),
        });
    }
    pointlime::io::write(&coloured, &cloud, Default::default()).unwrap();
    let explain = |scan: &Path, out: &str| {
        bin()
            .arg("explain")
            .arg(scan)
            .args(["--model", model.to_str().unwrap(), "--samples", "100"])
            .args(["--segments", "8", "--out"])
            .arg(dir.path().join(out))
            .output()
            .unwrap()
    };
    sidecar("xyz_rgb");
    let run = explain(&coloured, "c.ply");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("c.json")).unwrap()).unwrap();
    assert_eq!(
        report["cost"]["scoring"], "exact_max_pool",
        "{}",
        report["cost"]
    );
    assert_eq!(report["cost"]["runtime"], "tract", "{}", report["cost"]);
    let run = explain(&plain, "p.ply");
    assert_eq!(run.status.code(), Some(2));
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        err.starts_with(&format!(
            "error: {}: the model reads colour",
            plain.display()
        )) && err.contains("no \"red\" field")
            && err.lines().count() == 1,
        "{err}"
    );
    assert!(!dir.path().join("p.ply").exists());

    sidecar("xyz_normals");
    let run = explain(&plain, "n.ply");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

/// Issue #15, item 7: `bench --model FILE.onnx` reports the same stages, with no GFLOP/s (the
/// graph's work is not counted).
#[test]
fn bench_runs_an_onnx_model() {
    let out = bin()
        .args(["bench", "--model"])
        .arg(fixture("pointnet_plain.onnx"))
        .args([
            "--repeat",
            "1",
            "--samples",
            "40",
            "--segments",
            "8",
            "--scan-points",
            "400",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let row = text.lines().nth(1).unwrap();
    assert!(
        row.contains("exact_max_pool") && row.trim_end().ends_with('-'),
        "{text}"
    );
}
