//! Issue #14, item 7: a model records what its training scans looked like, and a scan unlike
//! them is flagged in `explain`, `batch`, the report and the summary.

use std::path::Path;

use pointlime::cloud::{FileFormat, PointCloud};

use crate::common::{bin, blobs, run_ok, tempdir};

/// A labelled directory (`DIR/<class>/<file>.ply`) of blob rows: `car` three blobs, `tree` four;
/// every fifth scan of a class is in the test split.
fn blob_scans(dir: &Path) {
    for (class, k) in [("car", 3), ("tree", 4)] {
        std::fs::create_dir_all(dir.join(class)).unwrap();
        for i in 0..25u64 {
            let (cloud, _) = blobs(k, 50, 2.0, 100 * k as u64 + i);
            let path = dir.join(class).join(format!("{i:03}.ply"));
            pointlime::io::write(&path, &cloud, Default::default()).unwrap();
        }
    }
}

/// A flat square grid: no blob row, and fewer points than the model's input.
fn sheet(path: &Path) {
    let positions = (0..100)
        .map(|i| [f64::from(i % 10), f64::from(i / 10), 0.0])
        .collect();
    let cloud = PointCloud::from_positions(positions, FileFormat::Ply);
    pointlime::io::write(path, &cloud, Default::default()).unwrap();
}

/// A tiny model and its blob-row data under `dir` (`dir/model`, `dir/data`), with competence
/// statistics recorded by `competence --fit` as for the shipped models.
fn fitted_blob_model(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let data = dir.join("data");
    blob_scans(&data);
    let model = dir.join("model");
    crate::common::tiny_model(&model);
    fit(&model, &data);
    (data, model)
}

fn fit(model: &Path, data: &Path) {
    run_ok(&[
        "competence",
        "--model",
        model.to_str().unwrap(),
        "--fit",
        data.to_str().unwrap(),
    ]);
}

#[test]
fn a_trained_model_flags_scans_unlike_its_training_scans() {
    let dir = tempdir();
    let data = dir.path().join("data");
    blob_scans(&data);
    let model = dir.path().join("model");
    let run = bin()
        .args(["train", "--data", data.to_str().unwrap(), "--out"])
        .arg(&model)
        .args([
            "--epochs",
            "2",
            "--points",
            "128",
            "--point-layers",
            "16,32",
        ])
        .args(["--head-layers", "16", "--batch-size", "8"])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let stats: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(model.join("competence.json")).unwrap())
            .unwrap();
    assert_eq!(stats["counts"], serde_json::json!([20, 20]));
    assert_eq!(
        stats["feature"]["calibration"].as_array().unwrap().len(),
        40
    );

    // The model's own held-out scans pass; another domain's are flagged.
    let stdout = run_ok(&[
        "competence",
        "--model",
        model.to_str().unwrap(),
        "--check",
        data.to_str().unwrap(),
    ]);
    let all = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("all"))
        .unwrap();
    let cols: Vec<&str> = all.split_whitespace().collect();
    assert_eq!(&cols[..3], ["all", "10", "0"], "{stdout}");

    let explain = |scan: &Path| {
        bin()
            .args(["explain"])
            .arg(scan)
            .args(["--model", model.to_str().unwrap()])
            .args(["--samples", "64", "--segments", "4"])
            .output()
            .unwrap()
    };
    let flat = dir.path().join("flat.ply");
    sheet(&flat);
    let run = explain(&flat);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("flat.ply: outside what the model was trained on"),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        stdout.contains("OUTSIDE what the model was trained on"),
        "{stdout}"
    );
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("flat.explained.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["competence"]["in_domain"], false);
    // Issue #32, item 4: the summary leads with the warning and the explanation says it is not
    // to be trusted.
    assert!(
        stdout
            .lines()
            .next()
            .unwrap()
            .contains("flat.ply: NOT TO BE TRUSTED, outside what the model was trained on"),
        "{stdout}"
    );
    assert_eq!(report["explanations"][0]["trusted"], false);

    // --strict: exit 3, one line, nothing written.
    let strict_out = dir.path().join("strict.explained.ply");
    let run = bin()
        .args(["explain"])
        .arg(&flat)
        .args(["--model", model.to_str().unwrap()])
        .args([
            "--samples",
            "64",
            "--segments",
            "4",
            "--strict",
            "--html",
            "--out",
        ])
        .arg(&strict_out)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("flat.ply: outside what the model was trained on")
            && stderr.contains("--strict: nothing written"),
        "{stderr}"
    );
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("strict"))
        .collect();
    assert!(left.is_empty(), "{left:?}");

    // A new scan like the training ones is not flagged.
    let like = dir.path().join("like.ply");
    let (cloud, _) = blobs(4, 50, 2.0, 9999);
    pointlime::io::write(&like, &cloud, Default::default()).unwrap();
    let run = explain(&like);
    assert!(run.status.success());
    assert!(!String::from_utf8_lossy(&run.stderr).contains("outside"));
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("like.explained.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["explanations"][0]["trusted"], true);
    // --strict lets a scan of the domain through.
    let run = bin()
        .args(["explain"])
        .arg(&like)
        .args(["--model", model.to_str().unwrap()])
        .args(["--samples", "64", "--segments", "4", "--strict"])
        .output()
        .unwrap();
    assert!(run.status.success());

    // The same model as ONNX (#15): no statistics until `competence --fit` records them beside
    // the file, from the max-pooled per-point features; then the same verdicts.
    let onnx = dir.path().join("net.onnx");
    run_ok(&[
        "export",
        "--model",
        model.to_str().unwrap(),
        "--onnx",
        onnx.to_str().unwrap(),
    ]);
    let explain_onnx = |scan: &Path| {
        let run = bin()
            .args(["explain"])
            .arg(scan)
            .args(["--model", onnx.to_str().unwrap()])
            .args(["--samples", "64", "--segments", "4"])
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        (
            String::from_utf8_lossy(&run.stdout).into_owned(),
            String::from_utf8_lossy(&run.stderr).into_owned(),
        )
    };
    let (stdout, _) = explain_onnx(&flat);
    assert!(stdout.contains("competence not measured"), "{stdout}");
    let stdout = run_ok(&[
        "competence",
        "--model",
        onnx.to_str().unwrap(),
        "--fit",
        data.to_str().unwrap(),
    ]);
    assert!(dir.path().join("net.competence.json").is_file(), "{stdout}");
    let all = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("all"))
        .unwrap();
    let cols: Vec<&str> = all.split_whitespace().collect();
    assert_eq!(&cols[..3], ["all", "10", "0"], "{stdout}");
    let (_, stderr) = explain_onnx(&flat);
    assert!(
        stderr.contains("flat.ply: outside what the model was trained on"),
        "{stderr}"
    );
    let (stdout, stderr) = explain_onnx(&like);
    assert!(
        !stderr.contains("outside") && stdout.contains("competence"),
        "{stdout}"
    );

    // batch: a competence column, and the foreign scan counted and warned about.
    let scans = dir.path().join("scans");
    std::fs::create_dir_all(&scans).unwrap();
    std::fs::copy(&flat, scans.join("flat.ply")).unwrap();
    std::fs::copy(&like, scans.join("like.ply")).unwrap();
    let out = dir.path().join("out");
    let run = bin()
        .args(["batch"])
        .arg(&scans)
        .args([
            "--out",
            out.to_str().unwrap(),
            "--no-explain",
            "--model",
            model.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(run.status.success());
    assert!(String::from_utf8_lossy(&run.stdout)
        .contains("2 ok (1 outside the model's training domain)"));
    assert!(String::from_utf8_lossy(&run.stderr)
        .contains("flat.ply: outside what the model was trained on"));
    let summary = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    let header: Vec<&str> = summary.lines().next().unwrap().split(',').collect();
    let at = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let rows: Vec<Vec<&str>> = summary
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    // The flagged scan is listed apart, after the others, though "flat" sorts before "like".
    assert_eq!(rows[0][0], "like.ply");
    assert_eq!(rows[0][at("in_domain")], "true");
    assert!(rows[0][at("competence")].parse::<f64>().unwrap() > 0.01);
    assert_eq!(rows[1][0], "flat.ply");
    assert_eq!(rows[1][at("in_domain")], "false");

    // batch --strict: the flagged scan fails with nothing written for it; the other goes on.
    let strict = dir.path().join("strict-out");
    let run = bin()
        .args(["batch"])
        .arg(&scans)
        .args(["--out", strict.to_str().unwrap(), "--strict"])
        .args(["--model", model.to_str().unwrap()])
        .args(["--samples", "64", "--segments", "4"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    let records = pointlime::batch::read_summary(&strict.join("summary.jsonl")).unwrap();
    let flat_row = records.iter().find(|r| r.path == "flat.ply").unwrap();
    assert_eq!(flat_row.status, pointlime::batch::Status::Failed);
    assert!(
        flat_row
            .error
            .as_deref()
            .is_some_and(|e| e.contains("outside what the model was trained on")),
        "{flat_row:?}"
    );
    assert!(!strict.join("flat.ply.explained.ply").exists());
    assert!(!strict.join("flat.ply.json").exists());
    let like_row = records.iter().find(|r| r.path == "like.ply").unwrap();
    assert_eq!(like_row.status, pointlime::batch::Status::Ok);
    assert!(strict.join("like.ply.explained.ply").is_file());
}

#[test]
fn statistics_of_another_model_are_refused_on_load() {
    let dir = tempdir();
    // Recorded for the model after it was saved, as for the shipped ones.
    let (_, model) = fitted_blob_model(dir.path());
    pointlime::model::PointNetClassifier::load(&model, Default::default()).unwrap();
    let path = model.join("competence.json");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen("\"tree\"", "\"pole\"", 1)).unwrap();
    let e = pointlime::model::PointNetClassifier::load(&model, Default::default()).unwrap_err();
    let message = e.to_string();
    assert!(
        message.contains("competence.json") && message.contains("do not fit the model"),
        "{message}"
    );
    std::fs::write(&path, &text[..text.len() / 2]).unwrap();
    let e = pointlime::model::PointNetClassifier::load(&model, Default::default()).unwrap_err();
    assert!(
        e.to_string().contains("cannot read competence statistics"),
        "{e}"
    );
}

/// A flat sheet of `n` points with a little jitter, by `seed`: nothing like a blob row.
fn jittered_sheet(path: &Path, n: usize, seed: u64) {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let side = (n as f64).sqrt().ceil() as usize;
    let positions = (0..n)
        .map(|i| {
            let j = |rng: &mut rand_chacha::ChaCha8Rng| rng.random_range(-0.1..0.1);
            [
                (i % side) as f64 + j(&mut rng),
                (i / side) as f64 + j(&mut rng),
                j(&mut rng),
            ]
        })
        .collect();
    let cloud = PointCloud::from_positions(positions, FileFormat::Ply);
    pointlime::io::write(path, &cloud, Default::default()).unwrap();
}

/// A DALES-like objects directory (`NNN.xyz` by class number) with two poles and a tree, the
/// composites' raw material.
fn dales_like(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let write = |name: &str, points: Vec<[f64; 3]>| {
        let text: String = points
            .iter()
            .map(|p| format!("{} {} {}\n", p[0], p[1], p[2]))
            .collect();
        std::fs::write(dir.join(name), text).unwrap();
    };
    let pole = |x: f64| -> Vec<[f64; 3]> {
        (0..300)
            .map(|i| {
                let a = f64::from(i) * 0.7;
                [
                    x + 0.1 * a.cos(),
                    0.1 * a.sin(),
                    20.0 + f64::from(i) * 0.025,
                ]
            })
            .collect()
    };
    write("000.xyz", pole(50.0));
    write("300.xyz", pole(0.0));
    write("301.xyz", pole(10.0));
    let tree = (0..600)
        .map(|i| {
            let (a, b) = (f64::from(i) * 0.37, f64::from(i) * 0.61);
            if i < 200 {
                [0.15 * a.cos(), 0.15 * a.sin(), 20.0 + f64::from(i) * 0.015]
            } else {
                let r = 2.0 * (b.sin() * 0.5 + 0.5);
                [r * a.cos(), r * a.sin(), 24.0 + 2.0 * b.cos()]
            }
        })
        .collect();
    write("400.xyz", tree);
}

#[test]
fn evaluate_measures_the_check_as_an_out_of_distribution_detector() {
    let dir = tempdir();
    let (data, model) = fitted_blob_model(dir.path());
    // A foreign domain of sheets, with a format test's few points and a file that does not read,
    // which are counted and passed over.
    let sheets = dir.path().join("sheets");
    std::fs::create_dir_all(sheets.join("deeper")).unwrap();
    for i in 0..12u64 {
        jittered_sheet(
            &sheets.join("deeper").join(format!("{i}.ply")),
            120 + 10 * i as usize,
            i,
        );
    }
    jittered_sheet(&sheets.join("few.ply"), 10, 0);
    std::fs::write(sheets.join("broken.ply"), "ply\nformat nonsense\n").unwrap();
    let dales = dir.path().join("dales");
    dales_like(&dales);
    let written = dir.path().join("composites");
    let run = |threads: &str, json: &Path| {
        let markdown = json.with_extension("md");
        let stdout = run_ok(&[
            "--threads",
            threads,
            "competence",
            "--model",
            model.to_str().unwrap(),
            "--evaluate",
            data.to_str().unwrap(),
            "--foreign",
            &format!("sheets:z={}", sheets.display()),
            "--composites",
            dales.to_str().unwrap(),
            "--write-composites",
            written.to_str().unwrap(),
            "--bootstrap",
            "200",
            "--json",
            json.to_str().unwrap(),
            "--markdown",
            markdown.to_str().unwrap(),
        ]);
        assert!(
            stdout.starts_with(&std::fs::read_to_string(markdown).unwrap()),
            "{stdout}"
        );
        let mut report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
        report.as_object_mut().unwrap().remove("seconds");
        (stdout, report)
    };
    let (stdout, report) = run("2", &dir.path().join("a.json"));
    for heading in [
        "AUROC",
        "FPR at 95% TPR",
        "phone composites A (tuning)",
        "phone composites B (held out)",
    ] {
        assert!(stdout.contains(heading), "{heading}: {stdout}");
    }
    assert!(
        stdout.contains("| sheets | 12 |")
            && stdout.contains("1 do not read, 1 hold fewer than 100 points"),
        "{stdout}"
    );
    assert_eq!(report["in_domain"]["scans"], 10);
    let foreign = report["foreign"].as_array().unwrap();
    assert_eq!(foreign.len(), 4);
    let names: Vec<&str> = report["detectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "pointlime",
            "msp",
            "max_logit",
            "energy",
            "nearest_neighbour",
            "mahalanobis"
        ]
    );
    for domain in foreign {
        let detectors = domain["detectors"].as_array().unwrap();
        assert_eq!(detectors.len(), 6);
        for d in detectors {
            for metric in ["auroc", "fpr95"] {
                let (v, lo, hi) = (
                    d[metric]["value"].as_f64().unwrap(),
                    d[metric]["low"].as_f64().unwrap(),
                    d[metric]["high"].as_f64().unwrap(),
                );
                assert!(
                    lo <= v + 1e-12 && v <= hi + 1e-12 && (0.0..=1.0).contains(&v),
                    "{d}"
                );
            }
        }
        assert_eq!(
            domain["scores"].as_array().unwrap().len(),
            domain["scans"].as_u64().unwrap() as usize
        );
    }
    // Flat sheets are nothing like rows of blobs: the check tells them apart.
    let sheets_row = &foreign[0];
    assert_eq!(sheets_row["name"], "sheets");
    assert!(
        sheets_row["detectors"][0]["auroc"]["value"]
            .as_f64()
            .unwrap()
            > 0.9,
        "{sheets_row}"
    );
    assert_eq!(sheets_row["flagged"], 12, "{sheets_row}");
    // Every composite measured is written, and reads back as a scan of its generator's size.
    for (g, sub) in ["a", "b"].iter().enumerate() {
        let files: Vec<_> = std::fs::read_dir(written.join(sub)).unwrap().collect();
        assert_eq!(
            files.len() as u64,
            foreign[1 + g]["scans"].as_u64().unwrap()
        );
        let cloud = pointlime::io::read(&written.join(sub).join("300.laz")).unwrap();
        assert!(cloud.len() > [38_000, 57_000][g], "{sub}: {}", cloud.len());
    }
    // Same seed, same numbers, whatever the thread count.
    let (_, again) = run("1", &dir.path().join("b.json"));
    assert_eq!(again["foreign"], report["foreign"]);
    assert_eq!(again["in_domain"], report["in_domain"]);
}

#[test]
fn statistics_of_an_earlier_version_are_refused_and_recorded_again() {
    let dir = tempdir();
    let (data, model) = fitted_blob_model(dir.path());
    // Statistics of the ten-number shape description, before the ground share.
    let path = model.join("competence.json");
    let mut stats: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let gaussian = &mut stats["shape"]["gaussian"];
    gaussian["scales"].as_array_mut().unwrap().pop();
    for mean in gaussian["means"].as_array_mut().unwrap() {
        mean.as_array_mut().unwrap().pop();
    }
    for axis in gaussian["axes"].as_array_mut().unwrap() {
        axis.as_array_mut().unwrap().pop();
    }
    std::fs::write(&path, stats.to_string()).unwrap();
    let out = bin()
        .args(["explain", "--model", model.to_str().unwrap()])
        .arg(data.join("car").join("000.ply"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("competence.json") && stderr.contains("record them again"),
        "{stderr}"
    );
    // --fit opens the model without them, and records them anew.
    fit(&model, &data);
    pointlime::model::PointNetClassifier::load(&model, Default::default()).unwrap();
}
