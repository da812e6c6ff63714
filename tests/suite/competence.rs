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
    let data = dir.path().join("data");
    blob_scans(&data);
    let model = dir.path().join("model");
    crate::common::tiny_model(&model);
    // Recorded for the model after it was saved, as for the shipped ones.
    run_ok(&[
        "competence",
        "--model",
        model.to_str().unwrap(),
        "--fit",
        data.to_str().unwrap(),
    ]);
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
