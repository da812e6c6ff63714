//! The `pointlime` binary: outputs, exit codes, one-line errors, no partial files.

use std::path::{Path, PathBuf};

use pointlime::cloud::{FileFormat, PointCloud};

use crate::common::{bin, blobs, run_ok, tempdir, tiny_model as model};

#[test]
fn explain_writes_annotated_cloud_and_report_and_info_reads_them() {
    let dir = tempdir();
    let m = dir.path().join("model");
    model(&m);
    let input = dir.path().join("scan.ply");
    pointlime::io::write(&input, &blobs(4, 100, 3.0, 0).0, Default::default()).unwrap();
    run_ok(&[
        "explain",
        input.to_str().unwrap(),
        "--model",
        m.to_str().unwrap(),
        "--segments",
        "8",
        "--samples",
        "100",
        "--top-labels",
        "2",
    ]);
    let ply = dir.path().join("scan.explained.ply");
    let json = dir.path().join("scan.explained.json");
    let cloud = pointlime::io::read(&ply).unwrap();
    assert_eq!(cloud.len(), 400);
    assert!(cloud.attribute("importance").is_some() && cloud.attribute("segment").is_some());
    // The second explained class is whichever was less probable.
    let extra = ["importance_car", "importance_tree"]
        .iter()
        .filter(|n| cloud.attribute(n).is_some())
        .count();
    assert_eq!(extra, 1);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["explanations"].as_array().unwrap().len(), 2);
    assert_eq!(report["class_names"], serde_json::json!(["car", "tree"]));
    assert!(report["segments"][0]["centroid"].is_array());
    // What ran and what it cost (issue #30, item 5): burn's flex backend, the samples' clouds,
    // and the process's peak memory.
    let cost = &report["cost"];
    assert_eq!(cost["runtime"], "burn Flex(Cpu)", "{cost}");
    assert!(cost["clouds_evaluated"].as_u64().unwrap() >= 100, "{cost}");
    assert!(
        cost["peak_memory_bytes"].as_u64().unwrap() > 1 << 20,
        "{cost}"
    );

    let las = dir.path().join("scan.las");
    run_ok(&[
        "explain",
        input.to_str().unwrap(),
        "--model",
        m.to_str().unwrap(),
        "--samples",
        "20",
        "--out",
        las.to_str().unwrap(),
    ]);
    let text = run_ok(&["info", las.to_str().unwrap()]);
    assert!(
        text.contains("points:     400") && text.contains("importance") && text.contains("segment"),
        "{text}"
    );
}

#[test]
fn bad_input_gives_one_error_line_exit_2_and_no_output() {
    let dir = tempdir();
    let m = dir.path().join("model");
    model(&m);
    let cases = [
        (
            "nan.xyz",
            "0 0 0\nnan 1 1\n2 2 2\n",
            "1 of 3 points have NaN",
        ),
        ("one.xyz", "1 2 3\n", "the cloud has 1 point(s)"),
        ("text.ply", "not a ply\n", "not a PLY file"),
        ("notes.doc", "hello", "unsupported file extension"),
    ];
    for (name, content, want) in cases {
        let input = dir.path().join(name);
        std::fs::write(&input, content).unwrap();
        let out = bin()
            .args([
                "explain",
                input.to_str().unwrap(),
                "--model",
                m.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert_eq!(err.lines().count(), 1, "{name}: {err}");
        assert!(err.contains(want) && err.contains(name), "{name}: {err}");
    }
    let missing = bin()
        .args([
            "explain",
            "scan.ply",
            "--model",
            dir.path().join("nope").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no config.json"));
    // Problems found after reading, by code that holds the cloud and not its file, still name
    // the file, once: the command that read it names it (#28 item 5).
    let cube = dir.path().join("cube.xyz");
    let text: String = (0..200)
        .map(|i| format!("{} {} {}\n", i % 6, (i / 6) % 6, i / 36))
        .collect();
    std::fs::write(&cube, text).unwrap();
    for (flags, want) in [
        (
            &["--crop", "100,100,100,1"][..],
            "the scene steps left 0 of 200 points",
        ),
        (
            &["--segments-from", "leaf"][..],
            "no per-point field \"leaf\" to take segments from",
        ),
    ] {
        let out = bin()
            .args([
                "explain",
                cube.to_str().unwrap(),
                "--model",
                m.to_str().unwrap(),
            ])
            .args(flags)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        let file = cube.display().to_string();
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with(&format!("error: {file}: {want}")) && err.matches(&file).count() == 1,
            "{err}"
        );
    }
    std::fs::remove_file(&cube).unwrap();
    // Nothing but the inputs and the model was written.
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into())
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["model", "nan.xyz", "notes.doc", "one.xyz", "text.ply"]
    );

    // --drop-invalid turns the NaN case into a warning.
    let cloud = PointCloud::from_positions(
        (0..50)
            .map(|i| [i as f64, (i % 7) as f64, 0.0])
            .chain([[f64::NAN, 0.0, 0.0]])
            .collect(),
        FileFormat::Xyz,
    );
    let nan = dir.path().join("nan2.ply");
    pointlime::io::write(&nan, &cloud, Default::default()).unwrap();
    let out = bin()
        .args([
            "explain",
            nan.to_str().unwrap(),
            "--model",
            m.to_str().unwrap(),
            "--samples",
            "10",
            "--drop-invalid",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("dropped 1 points"));
}

#[test]
fn the_input_is_never_overwritten() {
    let dir = tempdir();
    let m = dir.path().join("model");
    model(&m);
    let input = dir.path().join("scan.ply");
    pointlime::io::write(&input, &blobs(2, 50, 3.0, 0).0, Default::default()).unwrap();
    let before = std::fs::read(&input).unwrap();
    let out = bin()
        .args([
            "explain",
            input.to_str().unwrap(),
            "--model",
            m.to_str().unwrap(),
            "--out",
            input.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("refusing to overwrite"));
    assert_eq!(std::fs::read(&input).unwrap(), before);
}

/// A labelled directory of ten small scans, five of car (3 blobs) and five of tree (4 blobs).
fn two_class_data(dir: &Path) -> PathBuf {
    let data = dir.join("data");
    for (c, class) in ["car", "tree"].iter().enumerate() {
        std::fs::create_dir_all(data.join(class)).unwrap();
        for i in 0..5 {
            let (cloud, _) = blobs(3 + c, 40, 2.0, (10 * c + i) as u64);
            pointlime::io::write(
                &data.join(format!("{class}/{i}.ply")),
                &cloud,
                Default::default(),
            )
            .unwrap();
        }
    }
    data
}

#[test]
fn evaluate_writes_a_report_for_every_method() {
    let dir = tempdir();
    let m = dir.path().join("model");
    model(&m);
    let data = two_class_data(dir.path());
    let out = dir.path().join("eval");
    let run = bin()
        .args([
            "faithfulness",
            "--data",
            data.to_str().unwrap(),
            "--model",
            m.to_str().unwrap(),
        ])
        .args([
            "--n",
            "2",
            "--segments",
            "6",
            "--samples",
            "60",
            "--layer-checks",
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("evaluation.json")).unwrap())
            .unwrap();
    let methods: Vec<&str> = report["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["method"].as_str().unwrap())
        .collect();
    assert_eq!(
        methods,
        ["lime", "kernelshap", "occlusion", "gradient", "saliency"]
    );
    assert_eq!(report["objects"].as_array().unwrap().len(), 2);
    let first = &report["objects"][0]["methods"][0]["curves"];
    let k = report["objects"][0]["segments"].as_u64().unwrap() as usize;
    assert_eq!(first["deletion"].as_array().unwrap().len(), k + 1);
    assert!(report["lime"]["median_held_out_r2"].is_number());
    assert!(report["lime"]["median_bootstrap_std"].as_f64().unwrap() >= 0.0);
    // The tiny model's 4 layers (points.0, points.1, head.0, out): 4 cascading steps, 4 single.
    let steps = report["lime"]["randomisation"].as_array().unwrap();
    assert_eq!(steps.len(), 8, "{steps:?}");
    assert_eq!(steps[0]["layer"], "out");
    assert_eq!(steps[3]["layer"], "points.0");
    assert_eq!(steps[4]["cascading"], false);
    let md = std::fs::read_to_string(out.join("evaluation.md")).unwrap();
    assert!(md.contains("| saliency | 2 |"), "{md}");
    // The curves chart: a real PNG of the asked size with something drawn in every method's
    // colour band (not a blank canvas).
    let png = image::open(out.join("curves.png")).unwrap().to_rgb8();
    assert_eq!(png.dimensions(), (1400, 560));
    let white = png.pixels().filter(|p| p.0 == [255, 255, 255]).count();
    let coloured = png
        .pixels()
        .filter(|p| {
            let [r, g, b] = p.0.map(i32::from);
            (r - g).abs().max((g - b).abs()).max((r - b).abs()) > 60
        })
        .count();
    assert!(
        white > 500_000 && coloured > 2_000,
        "white {white}, coloured {coloured}"
    );

    // The same model exported to ONNX (#15, item 3): the methods that need no gradients, the
    // same LIME explanations, and the randomisation checks over the file's initialisers.
    let onnx = dir.path().join("model.onnx");
    let export = bin()
        .args(["export", "--model", m.to_str().unwrap(), "--onnx"])
        .arg(&onnx)
        .output()
        .unwrap();
    assert!(export.status.success());
    let onnx_out = dir.path().join("eval-onnx");
    let run = bin()
        .args(["faithfulness", "--data", data.to_str().unwrap()])
        .args(["--model", onnx.to_str().unwrap()])
        .args([
            "--n",
            "2",
            "--segments",
            "6",
            "--samples",
            "60",
            "--layer-checks",
        ])
        .args(["--out", onnx_out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let onnx_report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(onnx_out.join("evaluation.json")).unwrap())
            .unwrap();
    let names: Vec<&str> = onnx_report["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["method"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["lime", "kernelshap", "occlusion"]);
    for (o, object) in report["objects"].as_array().unwrap().iter().enumerate() {
        let auc = |r: &serde_json::Value| r["methods"][0]["deletion_auc"].as_f64().unwrap();
        let (a, b) = (auc(object), auc(&onnx_report["objects"][o]));
        assert!(
            (a - b).abs() <= 1e-3 * (1.0 + a.abs()),
            "object {o}: {a} vs {b}"
        );
    }
    assert_eq!(
        onnx_report["lime"]["randomisation"]
            .as_array()
            .unwrap()
            .len(),
        8
    );
    let run = bin()
        .args(["faithfulness", "--data", data.to_str().unwrap()])
        .args([
            "--model",
            onnx.to_str().unwrap(),
            "--methods",
            "lime,gradient",
        ])
        .args(["--out", onnx_out.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("need a model that gives gradients"), "{err}");

    // sag beside LIME: its smallest sets against LIME's insertion count, and LIME's agreement
    // across one coarser level.
    let sag_out = dir.path().join("eval-sag");
    let run = bin()
        .args(["faithfulness", "--data", data.to_str().unwrap()])
        .args(["--model", m.to_str().unwrap(), "--methods", "lime,sag"])
        .args(["--n", "2", "--segments", "6", "--samples", "60"])
        .args(["--coarser-levels", "1", "--out", sag_out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sag_out.join("evaluation.json")).unwrap())
            .unwrap();
    assert_eq!(report["structure"]["objects"], 2);
    for o in report["objects"].as_array().unwrap() {
        let s = &o["structure"];
        let k = o["segments"].as_u64().unwrap();
        assert!(s["lime_insertion_count"].as_u64().unwrap() <= k, "{s}");
        if let Some(smallest) = s["smallest_set"].as_u64() {
            assert!(smallest <= k);
        }
        assert_eq!(o["level_agreement"].as_array().unwrap().len(), 1);
    }
    let md = std::fs::read_to_string(sag_out.join("evaluation.md")).unwrap();
    assert!(md.contains("Structure (sag) over 2 objects"), "{md}");
    assert!(md.contains("Level 1: median Spearman"), "{md}");

    // The old name still works (a hidden alias), here with a bad method list.
    let bad = bin()
        .args([
            "evaluate",
            "--data",
            data.to_str().unwrap(),
            "--model",
            m.to_str().unwrap(),
        ])
        .args(["--methods", "lime,shapley", "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown method"));
}

#[test]
fn explain_runs_every_method_and_keeps_gradient_values_per_point() {
    let dir = tempdir();
    let m = dir.path().join("model");
    model(&m);
    let input = dir.path().join("scan.ply");
    pointlime::io::write(&input, &blobs(4, 100, 3.0, 0).0, Default::default()).unwrap();
    let explain = |method: &str, name: &str, extra: &[&str]| {
        let out = dir.path().join(format!("{name}.ply"));
        let run = bin()
            .args([
                "explain",
                input.to_str().unwrap(),
                "--model",
                m.to_str().unwrap(),
            ])
            .args(["--segments", "8", "--samples", "64", "--method", method])
            .args(["--out", out.to_str().unwrap()])
            .args(extra)
            .output()
            .unwrap();
        (run, out)
    };
    let data = two_class_data(dir.path());
    let baselines = data.to_str().unwrap();
    // Every registered method, so that a new one is tried here without a line of this test.
    let all = pointlime::explain::Method::all();
    assert!(all.len() >= 16, "{all:?}");
    for method in all {
        let method = method.name();
        let extra: &[&str] = if method == "eg" {
            &["--top-labels", "2", "--baselines", baselines]
        } else {
            &["--top-labels", "2"]
        };
        let (run, out) = explain(method, method, extra);
        let stdout = String::from_utf8_lossy(&run.stdout);
        assert!(
            run.status.success(),
            "{method}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        assert!(stdout.contains(&format!("by {method}")), "{stdout}");
        assert_eq!(stdout.contains("R²"), method == "lime", "{stdout}");
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.with_extension("json")).unwrap())
                .unwrap();
        let explanations = report["explanations"].as_array().unwrap();
        assert_eq!(explanations.len(), 2);
        assert_eq!(explanations[0]["method"], method);
        assert_eq!(report["settings"]["method"], method);
        let cloud = pointlime::io::read(&out).unwrap();
        let importance = &cloud.attribute("importance").unwrap().values;
        let segment = &cloud.attribute("segment").unwrap().values;
        let k = explanations[0]["coefficients"].as_array().unwrap().len();
        for (v, s) in importance.iter().zip(segment) {
            let c = explanations[0]["coefficients"][*s as usize]
                .as_f64()
                .unwrap();
            assert!(
                (v - c).abs() <= 1e-6 * c.abs().max(1e-3),
                "{method}: {v} vs {c}"
            );
        }
        assert!(segment.iter().all(|&s| (s as usize) < k));
        let per_point = cloud.attribute("point_importance");
        if [
            "gradient",
            "saliency",
            "cam",
            "critical",
            "featurenorm",
            "ig",
            "gradcam",
            "smoothgrad",
            "lrp",
            "ballocclusion",
            "eg",
        ]
        .contains(&method)
        {
            // Each segment's value is the sum of its points' values (the 400 points hold the
            // network's 128 inputs; the others were not seen and are NaN).
            let values = &per_point.expect("point_importance").values;
            let seen = values.iter().filter(|v| v.is_finite()).count();
            assert!(seen > 0 && seen <= 128, "{seen}");
            let mut sums = vec![0.0; k];
            for (v, s) in values.iter().zip(segment) {
                if v.is_finite() {
                    sums[*s as usize] += v;
                }
            }
            for (sum, c) in sums
                .iter()
                .zip(explanations[0]["coefficients"].as_array().unwrap())
            {
                let c = c.as_f64().unwrap();
                assert!(
                    (sum - c).abs() <= 1e-4 * c.abs().max(1e-3),
                    "{method}: {sum} vs {c}"
                );
            }
            assert!(cloud
                .attributes
                .iter()
                .any(|a| a.name.starts_with("point_importance_")));
        } else {
            assert!(per_point.is_none(), "{method}");
        }
    }
    // --auto-samples is LIME's; with another method it is refused, and nothing is written.
    let (run, out) = explain("occlusion", "refused", &["--auto-samples"]);
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("LIME only"));
    assert!(!out.exists() && !out.with_extension("json").exists());
    // Expected Gradients without scans to draw baselines from: refused before any work.
    let (run, out) = explain("eg", "no-baselines", &[]);
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("--baselines"));
    assert!(!out.exists());
    let (run, _) = explain("shapley", "unknown", &[]);
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    // The error lists every method, from the registry.
    assert!(
        stderr.contains("unknown method") && stderr.contains("random"),
        "{stderr}"
    );
    // A method's own flag is checked by the parser from the method's description.
    let (run, _) = explain("sag", "bad-flag", &["--sag-beam", "wide"]);
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("--sag-beam"));
    // Its settings land under its name in the report, and the report's settings, given back to
    // --config, reproduce the run (flags override the file).
    let (run, out) = explain("sag", "sag-flags", &["--sag-beam", "3", "--sag-sets", "2"]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.with_extension("json")).unwrap())
            .unwrap();
    let settings = &report["settings"];
    let sag = &settings["explainer"]["methods"]["sag"];
    assert_eq!(
        (&sag["beam_width"], &sag["max_sets"]),
        (&3.into(), &2.into())
    );
    let file = dir.path().join("settings.json");
    std::fs::write(&file, settings.to_string()).unwrap();
    let (run, again) = explain("sag", "again", &["--config", file.to_str().unwrap()]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(std::fs::read(&again).unwrap(), std::fs::read(&out).unwrap());
}

/// Issue #17: `--method sag` reports minimal sufficient sets with their children, draws the graph,
/// and `--coarser-levels` explains nested coarser segments beside the supervoxels.
#[test]
fn sag_writes_sets_and_their_graph_and_levels_nest_the_supervoxels() {
    let dir = tempdir();
    let m = dir.path().join("model");
    model(&m);
    let input = dir.path().join("scan.ply");
    pointlime::io::write(&input, &blobs(4, 100, 3.0, 0).0, Default::default()).unwrap();
    let out = dir.path().join("out.ply");
    let args = |extra: &[&str]| {
        let mut c = bin();
        c.args([
            "explain",
            input.to_str().unwrap(),
            "--model",
            m.to_str().unwrap(),
        ])
        .args(["--segments", "12", "--out", out.to_str().unwrap()])
        .args(extra);
        c
    };
    let run = args(&["--method", "sag", "--coarser-levels", "2"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("set 1: supervoxels {"), "{stdout}");
    let report: pointlime::pipeline::Report = pointlime::pipeline::Report::from_json(
        &std::fs::read_to_string(out.with_extension("json")).unwrap(),
        "r.json".as_ref(),
    )
    .unwrap();
    let e = &report.explanations[0];
    let s = e
        .payload
        .as_ref()
        .and_then(pointlime::explain::Payload::structure)
        .expect("structure");
    let k = report.segments.len();
    assert!(!s.sets.is_empty());
    let threshold = s.threshold * s.original_probability;
    for set in &s.sets {
        assert!(set.probability >= threshold - 1e-9);
        assert_eq!(set.children.len(), set.segments.len());
        // Minimal: every child is below the threshold.
        assert!(set.children.iter().all(|c| c.probability < threshold));
        assert!(set.segments.iter().all(|&x| x < k));
    }
    assert_eq!(e.n_samples, s.evaluations);
    // The graph: a PNG with one row per set.
    let png = image::open(out.with_extension("sag.png"))
        .unwrap()
        .to_rgb8();
    assert_eq!(png.dimensions(), (1400, 70 + 210 * s.sets.len() as u32));

    // Two coarser levels: fewer segments each, every supervoxel in one parent, and a value per
    // coarse segment.
    assert_eq!(report.levels.len(), 2);
    let mut previous = k;
    for level in &report.levels {
        assert_eq!(level.parent.len(), k);
        assert!(
            level.segments < previous,
            "{} !< {previous}",
            level.segments
        );
        assert!(level.parent.iter().all(|&p| p < level.segments));
        assert_eq!(level.coefficients[0].len(), level.segments);
        previous = level.segments;
    }
    assert!(stdout.contains("level 2:"), "{stdout}");

    // --graph is sag's; anything else is refused before work, and nothing is written.
    std::fs::remove_file(&out).unwrap();
    let run = args(&["--method", "lime", "--graph", "g.png"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("--method sag"));
    assert!(!out.exists());
    let run = args(&["--method", "sag", "--sag-threshold", "1.5"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("threshold"));
}

/// Issue #14, item 3: a manifest from a directory and its index, split by group; training takes
/// a leaking manifest only when told, with a warning.
#[test]
fn manifest_from_an_index_splits_by_group_and_training_checks_it() {
    let dir = tempdir();
    let scans = dir.path().join("scans");
    std::fs::create_dir_all(&scans).unwrap();
    let mut index = String::from("file,species,plant_id\n");
    for (i, species) in ["tomato", "tomato", "tomato", "maize", "maize", "maize"]
        .iter()
        .enumerate()
    {
        for day in 0..2 {
            let name = format!("{species}{i}_d{day}.ply");
            let (cloud, _) = blobs(2 + i % 2, 30, 2.0, (i * 2 + day) as u64);
            pointlime::io::write(&scans.join(&name), &cloud, Default::default()).unwrap();
            index.push_str(&format!("{name},{species},plant{i}\n"));
        }
    }
    std::fs::write(scans.join("index.csv"), &index).unwrap();
    let manifest = dir.path().join("m.csv");
    let stdout = run_ok(&[
        "manifest",
        "--dir",
        scans.to_str().unwrap(),
        "--index",
        scans.join("index.csv").to_str().unwrap(),
        "--class-column",
        "species",
        "--group-column",
        "plant_id",
        "--test-fraction",
        "0.34",
        "--out",
        manifest.to_str().unwrap(),
    ]);
    // Three plants per species, two scans each: one plant of each in test.
    assert!(
        stdout.contains("tomato: 2/4, 1/2") && stdout.contains("maize: 2/4, 1/2"),
        "{stdout}"
    );
    let ds = pointlime::dataset::Dataset::from_manifest(&manifest).unwrap();
    assert!(ds.leaking_groups().is_empty());

    let train = |data: &std::path::Path, out: &std::path::Path, extra: &[&str]| {
        bin()
            .args([
                "train",
                "--data",
                data.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ])
            .args(["--epochs", "1", "--points", "32", "--point-layers", "8,16"])
            .args(["--head-layers", "8", "--batch-size", "4"])
            .args(extra)
            .output()
            .unwrap()
    };
    let leaky = dir.path().join("leak.csv");
    std::fs::write(
        &leaky,
        std::fs::read_to_string(&manifest)
            .unwrap()
            .replacen(",test,", ",train,", 1),
    )
    .unwrap();
    let out = dir.path().join("model");
    let run = train(&leaky, &out, &[]);
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("--allow-group-leak"));
    assert!(!out.exists());
    let run = train(&leaky, &out, &["--allow-group-leak", "--up", "y"]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(String::from_utf8_lossy(&run.stderr).contains("warning:"));
    // The model records the up axis it was trained with (issue #14, item 2).
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["up"], "y");
    // Either manifest source is exclusive: --dales with --index is refused.
    let run = bin()
        .args([
            "manifest", "--dales", "x", "--dir", "y", "--index", "z", "--out", "m.csv",
        ])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
}

/// Issue #32, item 6: the data-randomisation sanity check. `train --shuffle-labels` trains on
/// permuted labels and says how well it memorised them; `faithfulness --label-check` compares
/// every method's explanations with that model's: identical for the model against itself, not
/// identical against the shuffled one, and a model of other classes is refused before any work.
#[test]
fn label_randomisation_trains_on_permuted_labels_and_compares_every_method() {
    let dir = tempdir();
    let data = two_class_data(dir.path());
    let train = |out: &Path, extra: &[&str]| {
        run_ok(
            &[
                &[
                    "train",
                    "--data",
                    data.to_str().unwrap(),
                    "--out",
                    out.to_str().unwrap(),
                    "--epochs",
                    "2",
                    "--points",
                    "32",
                    "--point-layers",
                    "8,16",
                    "--head-layers",
                    "8",
                    "--batch-size",
                    "4",
                ],
                extra,
            ]
            .concat(),
        )
    };
    let (real, shuffled) = (dir.path().join("real"), dir.path().join("shuffled"));
    train(&real, &[]);
    train(&shuffled, &["--shuffle-labels", "--no-augment"]);
    let read = |p: PathBuf| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    let memorised = read(shuffled.join("memorisation.json"));
    let accuracy = memorised["train_accuracy_on_permuted_labels"]
        .as_f64()
        .unwrap();
    assert!((0.0..=1.0).contains(&accuracy), "{memorised}");
    let training = read(shuffled.join("training.json"));
    assert_eq!(training["shuffled_labels"], true);
    assert_eq!(training["augment"]["rotate_up"], false);
    assert_eq!(training["augment"]["point_dropout_max"], 0.0);
    // Its classes mean nothing, so it records no competence statistics; the real model does.
    assert!(!shuffled.join("competence.json").exists());
    assert!(real.join("competence.json").exists());

    let check = |against: &Path, out: &Path| {
        bin()
            .args(["faithfulness", "--data", data.to_str().unwrap()])
            .args(["--model", real.to_str().unwrap(), "--label-check"])
            .arg(against)
            .args(["--n", "2", "--segments", "6", "--samples", "60", "--out"])
            .arg(out)
            .output()
            .unwrap()
    };
    let label_values = |out: &Path| -> Vec<(String, f64, f64)> {
        let report = read(out.join("evaluation.json"));
        report["objects"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|o| o["methods"].as_array().unwrap().clone())
            .map(|m| {
                let c = &m["label_check"];
                (
                    m["method"].as_str().unwrap().to_string(),
                    c["spearman"].as_f64().unwrap_or(f64::NAN),
                    c["top5_jaccard"].as_f64().unwrap(),
                )
            })
            .collect()
    };
    // Against itself: the same explanations, every method (the random ones draw the same seed).
    let same = dir.path().join("same");
    let run = check(&real, &same);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let values = label_values(&same);
    assert_eq!(values.len(), 2 * 5, "{values:?}");
    for (method, rho, jaccard) in &values {
        assert!((*rho - 1.0).abs() < 1e-9 || rho.is_nan(), "{method}: {rho}");
        assert_eq!(*jaccard, 1.0, "{method}");
    }
    let md = std::fs::read_to_string(same.join("evaluation.md")).unwrap();
    assert!(md.contains("Spearman with shuffled-label model"), "{md}");
    // Against the network trained on permuted labels: other explanations.
    let against = dir.path().join("against");
    let run = check(&shuffled, &against);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let values = label_values(&against);
    assert!(
        values.iter().any(|(_, rho, _)| (rho - 1.0).abs() > 1e-6),
        "{values:?}"
    );
    // A model of other classes: one line, exit 2, nothing written.
    let other = dir.path().join("other");
    {
        use pointlime::model::{Backend, ModelConfig, PointNetClassifier, PointNetConfig};
        let net = PointNetConfig::new(3)
            .with_point_layers(vec![8, 16])
            .with_head_layers(vec![8]);
        let names = vec!["car".into(), "tree".into(), "pole".into()];
        PointNetClassifier::new(
            ModelConfig::new(net, names).with_num_points(32),
            Backend::Flex,
            0,
        )
        .unwrap()
        .save(&other)
        .unwrap();
    }
    let refused = dir.path().join("refused");
    let run = check(&other, &refused);
    assert_eq!(run.status.code(), Some(2));
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("other") && err.contains("classes"), "{err}");
    assert!(!refused.exists());
}

/// Issue #14, items 1 and 6: a text scan's extra column, named with --columns, travels to the
/// output and serves as the segments for every method, tiny parts merged, segments named by value.
#[test]
fn segments_from_a_named_column_work_for_every_method() {
    let dir = tempdir();
    let m = dir.path().join("model");
    model(&m);
    // Four blobs labelled 10, 20, 30, 40, and three stray points labelled 99 inside blob 0.
    let (cloud, _) = blobs(4, 60, 3.0, 5);
    let mut text = String::new();
    for (i, p) in cloud.positions.iter().enumerate() {
        let label = if i < 3 { 99 } else { 10 * (i / 60 + 1) };
        text.push_str(&format!("{} {} {} {label}\n", p[0], p[1], p[2]));
    }
    let input = dir.path().join("plant.txt");
    std::fs::write(&input, text).unwrap();
    for method in [
        "lime",
        "kernelshap",
        "occlusion",
        "gradient",
        "saliency",
        "sag",
    ] {
        let out = dir.path().join(format!("{method}.ply"));
        let run = bin()
            .args([
                "explain",
                input.to_str().unwrap(),
                "--model",
                m.to_str().unwrap(),
            ])
            .args(["--columns", "x,y,z,organ", "--segments-from", "organ"])
            .args([
                "--samples",
                "64",
                "--method",
                method,
                "--out",
                out.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "{method}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        let report = pointlime::pipeline::Report::from_json(
            &std::fs::read_to_string(out.with_extension("json")).unwrap(),
            "r.json".as_ref(),
        )
        .unwrap();
        let values: Vec<f64> = report
            .segments
            .iter()
            .map(|s| s.field_value.unwrap())
            .collect();
        // 99 has three points, under the minimum of 10: they joined blob 0's part.
        assert_eq!(values, [10.0, 20.0, 30.0, 40.0], "{method}");
        assert_eq!(report.segments[0].points, 60, "{method}");
        let cloud = pointlime::io::read(&out).unwrap();
        let organ = &cloud.attribute("organ").expect("organ travels").values;
        let segment = &cloud.attribute("segment").unwrap().values;
        for (o, s) in organ.iter().zip(segment) {
            if *o != 99.0 {
                assert_eq!(*o, values[*s as usize], "{method}");
            }
        }
    }
    // --min-part-points 1 keeps the stray part; a field the scan lacks is one line naming it.
    let out = dir.path().join("keep.ply");
    let run = bin()
        .args([
            "explain",
            input.to_str().unwrap(),
            "--model",
            m.to_str().unwrap(),
        ])
        .args([
            "--columns",
            "x,y,z,organ",
            "--segments-from",
            "organ",
            "--min-part-points",
            "1",
        ])
        .args(["--method", "occlusion", "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(run.status.success());
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.with_extension("json")).unwrap())
            .unwrap();
    assert_eq!(report["segments"].as_array().unwrap().len(), 5);
    let run = bin()
        .args([
            "explain",
            input.to_str().unwrap(),
            "--model",
            m.to_str().unwrap(),
        ])
        .args(["--segments-from", "organ", "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        err.contains("plant.txt")
            && err.contains("no per-point field \"organ\"")
            && err.contains("column_3"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1);
}

/// Issue #16, item 5: with no `--model` and no `POINTLIME_MODEL`, `explain` works from a directory
/// without `models/` (the default model is built into the binary), explains exactly as
/// `models/default` does, and `--version` names the model.
#[test]
fn the_built_in_default_model_works_from_any_directory() {
    let dir = tempdir();
    let scan = dir.path().join("scan.ply");
    pointlime::io::write(&scan, &blobs(4, 150, 3.0, 5).0, Default::default()).unwrap();
    let run = |extra: &[&str], report: &str| {
        let out = bin()
            .current_dir(dir.path())
            .env_remove("POINTLIME_MODEL")
            .args([
                "explain",
                "scan.ply",
                "--samples",
                "200",
                "--report",
                report,
            ])
            .args(["--out", &format!("{report}.ply")])
            .args(extra)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(dir.path().join(report)).unwrap();
        serde_json::from_str::<serde_json::Value>(&text).unwrap()
    };
    let builtin = run(&[], "builtin.json");
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/models/default");
    let from_dir = run(&["--model", shipped], "dir.json");
    assert_eq!(builtin["model"], pointlime::model::builtin::NAME);
    assert_eq!(from_dir["model"], shipped);
    assert_eq!(builtin["explanations"], from_dir["explanations"]);
    assert_eq!(builtin["probabilities"], from_dir["probabilities"]);

    let version = bin().arg("--version").output().unwrap();
    let text = String::from_utf8_lossy(&version.stdout);
    assert!(version.status.success());
    assert!(
        text.contains("built-in model") && text.contains("building, car, fence, pole, tree"),
        "{text}"
    );
}

/// Issue #19, item 4: a reader that closes stdout early (`pointlime info … | head -1`) ends the
/// command quietly with success, not with an internal error.
#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    let dir = tempdir();
    let scan = dir.path().join("scan.ply");
    pointlime::io::write(&scan, &blobs(3, 50, 2.0, 1).0, Default::default()).unwrap();
    for _ in 0..3 {
        let mut child = bin()
            .args(["info", scan.to_str().unwrap()])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Close the read end before the command, which reads the scan first, writes anything.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.is_empty(),
            "{:?}: {stderr}",
            out.status
        );
    }
}

#[test]
fn a_scene_is_cut_to_its_object_and_written_back_whole_with_removed_points_marked() {
    use pointlime::pipeline::NO_SEGMENT;
    let dir = tempdir();
    let input = dir.path().join("phone.laz");
    let scene = PointCloud::from_positions(
        pointlime::synthetic::phone_scene(30_000, 3),
        FileFormat::Laz,
    );
    pointlime::io::write(&input, &scene, Default::default()).unwrap();
    run_ok(&[
        "explain",
        input.to_str().unwrap(),
        "--samples",
        "100",
        "--outliers",
        "--remove-ground",
        "--largest-cluster",
        "--sampling",
        "voxel",
    ]);
    let out = pointlime::io::read(&dir.path().join("phone.explained.laz")).unwrap();
    assert_eq!(
        out.len(),
        scene.len(),
        "every point of the scan is written back"
    );
    let removed = &out.attribute("removed").expect("a removed field").values;
    let importance = &out.attribute("importance").unwrap().values;
    let segment = &out.attribute("segment").unwrap().values;
    for i in 0..out.len() {
        let gone = removed[i] != 0.0;
        assert_eq!(importance[i].is_nan(), gone, "point {i}");
        assert_eq!(segment[i] == NO_SEGMENT as f64, gone, "point {i}");
    }
    let count = |code: f64| removed.iter().filter(|&&r| r == code).count();
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("phone.explained.json")).unwrap(),
    )
    .unwrap();
    let s = &report["scene"];
    assert_eq!(s["outliers"], count(2.0));
    assert_eq!(s["ground"], count(3.0));
    assert_eq!(s["detached"], count(4.0));
    assert_eq!(s["kept_points"], count(0.0));
    assert_eq!(report["points"], count(0.0));
    // The scene: 45% ground, a bush apart from the trunk, 0.5% specks.
    assert!(count(3.0) > out.len() * 2 / 5, "ground {}", count(3.0));
    assert!(count(4.0) > out.len() / 20, "detached {}", count(4.0));
    assert!(s["ground_plane"]["normal"][2].as_f64().unwrap() > 0.99);
    // The settings that reproduce it are in the report.
    assert_eq!(report["settings"]["sampling"], "voxel");
    assert!(report["settings"]["scene"]["largest_cluster"]
        .as_bool()
        .unwrap());
    // Every segment is among the network's input.
    for seg in report["segments"].as_array().unwrap() {
        assert!(seg["sampled_points"].as_u64().unwrap() > 0, "{seg}");
    }

    // A crop that keeps nothing: one error line naming the file, exit 2, no output.
    let empty = dir.path().join("empty.laz");
    std::fs::copy(&input, &empty).unwrap();
    let run = bin()
        .args([
            "explain",
            empty.to_str().unwrap(),
            "--crop",
            "100,100,100,1",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("empty.laz") && err.contains("left 0 of"),
        "{err}"
    );
    assert!(!dir.path().join("empty.explained.laz").exists());
    assert!(!dir.path().join("empty.explained.json").exists());
}

/// Issue #18, item 8: the leaderboard runs every method the model supports, with every method's
/// randomisation steps and, for the random ones, a second seed; LIME's other surrogate is
/// measured beside it.
#[test]
fn the_leaderboard_checks_every_method_against_randomisation() {
    let dir = tempdir();
    let m = dir.path().join("model");
    model(&m);
    let data = two_class_data(dir.path());
    let out = dir.path().join("board");
    let run = bin()
        .args(["faithfulness", "--data", data.to_str().unwrap()])
        .args([
            "--model",
            m.to_str().unwrap(),
            "--all-methods",
            "--layer-checks",
        ])
        .args([
            "--n",
            "2",
            "--segments",
            "6",
            "--samples",
            "60",
            "--surrogate",
            "tree",
        ])
        .args(["--smoothgrad-samples", "4", "--eg-samples", "4"])
        .args(["--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("evaluation.json")).unwrap())
            .unwrap();
    let all: Vec<&str> = pointlime::explain::Method::all()
        .into_iter()
        .map(|m| m.name())
        .collect();
    let methods = report["objects"][0]["methods"].as_array().unwrap();
    let names: Vec<&str> = methods
        .iter()
        .map(|m| m["method"].as_str().unwrap())
        .collect();
    assert_eq!(names, all);
    for m in methods {
        let name = m["method"].as_str().unwrap();
        let steps = m["randomisation"].as_array().unwrap().len();
        assert_eq!(steps, if name == "sag" { 0 } else { 8 }, "{name}");
        let random = ["lime", "kernelshap", "smoothgrad", "eg", "random"].contains(&name);
        assert_eq!(m["seed_spearman"].is_number(), random, "{name}: {m}");
        // critical and featurenorm run the per-point layers once and the head never.
        let one_pass = ["critical", "featurenorm"].contains(&name);
        assert_eq!(m["evaluations"].as_u64().unwrap() == 0, one_pass, "{name}");
    }
    let other = &report["objects"][0]["lime"]["other_surrogate"];
    assert_eq!(other["surrogate"], "ridge", "{other}");
    assert!(other["held_out_r2"].is_number());
    let md = std::fs::read_to_string(out.join("evaluation.md")).unwrap();
    assert!(
        md.contains("Spearman with randomised model") && md.contains("| lrp | 2 |"),
        "{md}"
    );
    assert!(md.contains("ridge surrogate on the same samples"), "{md}");
}

/// Issue #18, item 7: the atlas explains every scan, embeds their features (the same under a
/// seed whatever the thread count), draws them and lists the extremes; the viewer's --row finds
/// the explained scan of a row.
#[test]
fn the_atlas_embeds_and_explains_every_scan() {
    let dir = tempdir();
    let m = dir.path().join("model");
    model(&m);
    let data = two_class_data(dir.path());
    let atlas = |threads: &str, out: &str| {
        let out = dir.path().join(out);
        let run = bin()
            .args([
                "--threads",
                threads,
                "atlas",
                "--data",
                data.to_str().unwrap(),
            ])
            .args([
                "--model",
                m.to_str().unwrap(),
                "--segments",
                "6",
                "--samples",
                "60",
            ])
            .args(["--out", out.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        out
    };
    let one = atlas("1", "atlas1");
    let two = atlas("2", "atlas2");
    let csv = std::fs::read_to_string(one.join("atlas.csv")).unwrap();
    assert_eq!(csv, std::fs::read_to_string(two.join("atlas.csv")).unwrap());
    let rows = pointlime::atlas::read_csv(&one.join("atlas.csv")).unwrap();
    assert_eq!(rows.len(), 10);
    assert_eq!(rows.iter().filter(|r| r.truth == "car").count(), 5);
    for (i, r) in rows.iter().enumerate() {
        let scan = pointlime::atlas::explained_scan(&one.join("atlas.csv"), i).unwrap();
        let cloud = pointlime::io::read(&scan).unwrap();
        assert!(cloud.attribute("importance").is_some(), "{}", r.explained);
        assert!(scan.with_extension("json").is_file());
        assert!(r.x.is_finite() && r.y.is_finite());
    }
    let png = image::open(one.join("atlas.png")).unwrap().to_rgb8();
    assert_eq!(png.dimensions(), (1400, 660));
    let md = std::fs::read_to_string(one.join("atlas.md")).unwrap();
    assert!(
        md.contains("## car: most activating") && md.contains("## Misclassified"),
        "{md}"
    );
    // Too few scans for an embedding: one line, exit 2.
    let bad = bin()
        .args(["atlas", "--data", data.to_str().unwrap(), "--split", "test"])
        .args(["--model", m.to_str().unwrap(), "--out"])
        .arg(dir.path().join("few"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("at least 4 scans"));
}

/// Issue #28: a directory, a missing scan and a missing model each get their own line, saying it
/// once; a report that cannot be written leaves no explained scan.
#[test]
fn a_directory_a_missing_file_and_a_late_failure_each_say_so_and_leave_nothing() {
    let dir = tempdir();
    let m = dir.path().join("model");
    model(&m);
    let run = |args: &[&str]| {
        let out = bin().args(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        err
    };
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let mm = m.to_str().unwrap();
    for name in ["scans.ply", "scans"] {
        std::fs::create_dir(dir.path().join(name)).unwrap();
        let err = run(&["explain", &path(name), "--model", mm]);
        assert!(
            err.contains(&format!("{name}: is a directory, not a file")),
            "{err}"
        );
        assert!(err.contains("pointlime batch"), "{err}");
    }
    let err = run(&["explain", &path("gone.ply"), "--model", mm]);
    assert!(err.contains("gone.ply: No such file"), "{err}");
    assert_eq!(err.matches("No such file").count(), 1, "said once: {err}");
    let err = run(&["explain", POLE_SAMPLE, "--model", &path("gone.onnx")]);
    assert!(err.contains("gone.onnx"), "{err}");
    assert_eq!(err.matches("No such file").count(), 1, "said once: {err}");

    // The report's directory does not exist: found only after the explanation, when the scan
    // would already have been written.
    let err = run(&[
        "explain",
        POLE_SAMPLE,
        "--model",
        mm,
        "--samples",
        "20",
        "--out",
        &path("pole.explained.ply"),
        "--report",
        &path("missing/pole.json"),
    ]);
    assert!(
        err.contains("missing/pole.json: the directory") && err.contains("does not exist"),
        "{err}"
    );
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into())
        .collect();
    left.sort();
    assert_eq!(left, ["model", "scans", "scans.ply"]);
}

const POLE_SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/samples/pole.ply");

/// Issue #28, item 2: a settings file of the version 1 layout (the `settings` of a report written
/// before schema version 2) still drives `--config`, and reproduces that report's explanation.
#[test]
fn a_version_1_settings_file_reproduces_its_report() {
    let dir = tempdir();
    let v1: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("data/reports-v1/car.sag.json").unwrap())
            .unwrap();
    let file = dir.path().join("v1.json");
    std::fs::write(&file, v1["settings"].to_string()).unwrap();
    let out = dir.path().join("car.ply");
    let report = dir.path().join("car.json");
    run_ok(&[
        "explain",
        "data/samples/car.ply",
        "--config",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ]);
    let now: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(now["schema_version"], 2);
    assert_eq!(
        now["settings"]["explainer"]["methods"]["sag"]["beam_width"],
        4
    );
    // Written on another CPU (see data/reports-v1/README.md): numbers agree to f32 rounding.
    crate::common::assert_json_close(
        &now["explanations"][0]["coefficients"],
        &v1["explanations"][0]["coefficients"],
        1e-5,
        "coefficients",
    );
    crate::common::assert_json_close(
        &now["explanations"][0]["payload"]["structure"]["sets"],
        &v1["explanations"][0]["structure"]["sets"],
        1e-5,
        "sets",
    );
}
