//! `pointlime batch` and `pointlime merge`: a mixed directory, SIGKILL and resume, shards, and
//! determinism across `--jobs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use pointlime::batch::{read_summary, Record, Status};

use crate::common::{bin, blobs, tempdir, tiny_model};

/// `n` good scans in two nested directories, cycling through PLY, LAS and XYZ.
fn scans(root: &Path, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let (cloud, _) = blobs(3 + i % 3, 60, 2.0, i as u64);
            let dir = format!("plot{}/row{}", i % 2, i % 3);
            std::fs::create_dir_all(root.join(&dir)).unwrap();
            let rel = format!("{dir}/scan{i:02}.{}", ["ply", "las", "xyz"][i % 3]);
            let path = root.join(&rel);
            if i % 3 == 2 {
                let text: String = cloud
                    .positions
                    .iter()
                    .map(|p| format!("{} {} {}\n", p[0], p[1], p[2]))
                    .collect();
                std::fs::write(&path, text).unwrap();
            } else {
                pointlime::io::write(&path, &cloud, Default::default()).unwrap();
            }
            rel
        })
        .collect()
}

fn command(input: &Path, out: &Path, model: &Path) -> Command {
    let mut c = bin();
    c.arg("batch")
        .arg(input)
        .arg("--out")
        .arg(out)
        .arg("--model")
        .arg(model)
        .args(["--segments", "6"]);
    c
}

fn batch(input: &Path, out: &Path, model: &Path, extra: &[&str]) -> Output {
    command(input, out, model)
        .args(["--samples", "40"])
        .args(extra)
        .output()
        .unwrap()
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn timeless(summary: &Path) -> Vec<Record> {
    read_summary(summary)
        .unwrap()
        .iter()
        .map(Record::timeless)
        .collect()
}

/// Every file under `dir` with its bytes.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e.path().strip_prefix(dir).unwrap().to_path_buf();
            (rel, std::fs::read(e.path()).unwrap())
        })
        .collect()
}

#[test]
fn a_mixed_directory_records_every_file_and_reports_each_failure_once() {
    let dir = tempdir();
    let (input, m) = (dir.path().join("scans"), dir.path().join("model"));
    tiny_model(&m);
    let good = scans(&input, 4);
    std::fs::write(input.join("plot0/corrupt.ply"), "ply\nformat binary_little_endian 1.0\nelement vertex 100\nproperty float x\nend_header\n\x01\x02").unwrap();
    std::fs::write(input.join("plot1/empty.xyz"), "").unwrap();
    std::fs::write(input.join("notes.md"), "field notes").unwrap();
    // An output directory inside the input is not scanned on the second run.
    let out = input.join("out");

    for pass in 0..2 {
        let run = batch(&input, &out, &m, &["--jobs", "2"]);
        assert_eq!(run.status.code(), Some(1), "pass {pass}: some files failed");
        let stderr = String::from_utf8_lossy(&run.stderr);
        for bad in ["corrupt.ply", "empty.xyz", "notes.md"] {
            assert_eq!(stderr.matches(bad).count(), 1, "pass {pass}: {stderr}");
        }
        let records = read_summary(&out.join("summary.jsonl")).unwrap();
        assert_eq!(records.len(), 7, "pass {pass}: {records:?}");
        let status = |p: &str| records.iter().find(|r| r.path == p).unwrap().status;
        assert_eq!(status("plot0/corrupt.ply"), Status::Failed);
        assert_eq!(status("plot1/empty.xyz"), Status::Failed);
        assert_eq!(status("notes.md"), Status::Skipped);
        for rel in &good {
            let r = records.iter().find(|r| &r.path == rel).unwrap();
            assert_eq!(r.status, Status::Ok, "{r:?}");
            assert_eq!(r.top_classes.len(), 2);
            assert_eq!(r.top_segments.len(), 3);
            assert!(r.r2.is_some() && r.error.is_none());
            let ext = if rel.ends_with(".las") { "las" } else { "ply" };
            let explained =
                pointlime::io::read(&out.join(format!("{rel}.explained.{ext}"))).unwrap();
            assert_eq!(Some(explained.len()), r.points);
            assert!(explained.attribute("importance").is_some());
            assert!(out.join(format!("{rel}.json")).is_file());
        }
        let csv = std::fs::read_to_string(out.join("summary.csv")).unwrap();
        assert_eq!(csv.lines().count(), 8, "{csv}");
        assert!(csv.starts_with(
            "path,points,predicted,probability,top_classes,top_segments,r2,competence,in_domain,seconds,status,error"
        ));
    }
    // Only complete outputs: no temporary files, nothing for the failed scans; the one hidden
    // file is the lock that keeps a second run out (empty, and locked only by a live run).
    let outputs = files(&out);
    assert!(
        outputs.keys().all(|p| {
            let p = p.to_string_lossy();
            p == pointlime::batch::LOCK_FILE || (!p.contains("/.") && !p.starts_with('.'))
        }),
        "{:?}",
        outputs.keys()
    );
    assert!(!out.join("plot0/corrupt.ply.json").exists());
}

#[test]
fn the_summary_and_outputs_do_not_depend_on_jobs() {
    let dir = tempdir();
    let (input, m) = (dir.path().join("scans"), dir.path().join("model"));
    tiny_model(&m);
    scans(&input, 6);
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    ok(&batch(&input, &one, &m, &["--jobs", "1"]));
    ok(&batch(&input, &two, &m, &["--jobs", "2", "--threads", "2"]));
    assert_eq!(
        timeless(&one.join("summary.jsonl")),
        timeless(&two.join("summary.jsonl"))
    );
    let (a, b) = (files(&one), files(&two));
    let explained = |m: &BTreeMap<PathBuf, Vec<u8>>| -> Vec<(PathBuf, Vec<u8>)> {
        m.iter()
            .filter(|(p, _)| p.to_string_lossy().contains(".explained."))
            .map(|(p, v)| (p.clone(), v.clone()))
            .collect()
    };
    assert_eq!(explained(&a).len(), 6);
    assert!(explained(&a) == explained(&b), "explained scans differ");
}

/// Issue #17: `--method sag` in batch keeps each file's sets in its report and draws its graph
/// beside it; a resumed run redoes nothing.
#[test]
fn batch_with_sag_writes_each_files_sets_and_graph() {
    let dir = tempdir();
    let (input, m) = (dir.path().join("scans"), dir.path().join("model"));
    tiny_model(&m);
    let rels = scans(&input, 3);
    let out = dir.path().join("out");
    ok(&batch(&input, &out, &m, &["--method", "sag"]));
    for rel in &rels {
        let json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.join(format!("{rel}.json"))).unwrap(),
        )
        .unwrap();
        let structure = &json["report"]["explanations"][0]["payload"]["structure"];
        let sets = structure["sets"].as_array().expect("sets");
        assert!(!sets.is_empty(), "{rel}: {structure}");
        let png = image::open(out.join(format!("{rel}.sag.png"))).unwrap();
        assert_eq!(png.width(), 1400, "{rel}");
    }
    let again = batch(&input, &out, &m, &["--method", "sag", "--resume"]);
    ok(&again);
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("3 already done")
            || String::from_utf8_lossy(&again.stdout).contains("3 already done"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}

#[test]
fn shard_runs_merge_into_the_full_run() {
    let dir = tempdir();
    let (input, m) = (dir.path().join("scans"), dir.path().join("model"));
    tiny_model(&m);
    scans(&input, 7);
    let full = dir.path().join("full");
    ok(&batch(&input, &full, &m, &["--no-explain"]));
    let shards = dir.path().join("shards");
    let mut summaries = Vec::new();
    for i in 0..3 {
        let shard = format!("{i}/3");
        ok(&batch(
            &input,
            &shards,
            &m,
            &["--no-explain", "--shard", &shard],
        ));
        let s = shards.join(format!("summary.shard-{i}-of-3.jsonl"));
        assert_eq!(read_summary(&s).unwrap().len(), [3, 2, 2][i]);
        summaries.push(s);
    }
    let merged = dir.path().join("merged");
    let out = bin()
        .arg("merge")
        .args(&summaries)
        .arg("--out")
        .arg(&merged)
        .output()
        .unwrap();
    ok(&out);
    assert_eq!(
        timeless(&merged.join("summary.jsonl")),
        timeless(&full.join("summary.jsonl"))
    );

    // Shards of different partitions overlap: refused, one line, exit 2.
    let out = bin()
        .arg("merge")
        .args([&summaries[0], &full.join("summary.jsonl")])
        .arg("--out")
        .arg(dir.path().join("bad"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("more than one summary"), "{stderr}");
    assert!(!dir.path().join("bad/summary.csv").exists());
}

#[test]
fn a_run_killed_with_sigkill_resumes_without_losing_or_redoing_work() {
    let dir = tempdir();
    let (input, m) = (dir.path().join("scans"), dir.path().join("model"));
    tiny_model(&m);
    let n = 30;
    scans(&input, n);
    let slow = ["--jobs", "1", "--brute-force", "--samples", "400"];

    let out = dir.path().join("out");
    let mut child = command(&input, &out, &m)
        .args(slow)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Counts names only, skipping entries that vanish mid-walk: the run renames its temporary
    // files while this polls.
    let json_count = |d: &Path| {
        walkdir::WalkDir::new(d)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .count()
    };
    let start = Instant::now();
    while out.exists() && json_count(&out) < 2 || !out.exists() {
        assert!(start.elapsed() < Duration::from_secs(120), "no output");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before = files(&out);
    let done: Vec<&PathBuf> = before
        .keys()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    assert!(
        done.len() >= 2 && done.len() < n,
        "the kill should land mid-run: {} of {n} done",
        done.len()
    );
    assert!(!out.join("summary.jsonl").exists());

    let resumed = command(&input, &out, &m)
        .args(slow)
        .arg("--resume")
        .output()
        .unwrap();
    ok(&resumed);
    let stdout = String::from_utf8_lossy(&resumed.stdout);
    assert!(
        stdout.contains(&format!("{} already done", done.len())),
        "{stdout}"
    );
    // Redoes nothing already complete: those outputs are untouched, byte for byte.
    let after = files(&out);
    for p in &done {
        assert!(after[*p] == before[*p], "{} was redone", p.display());
        let cloud = p.with_extension("").to_string_lossy().to_string();
        let explained = after
            .keys()
            .find(|k| {
                k.to_string_lossy()
                    .starts_with(&format!("{cloud}.explained."))
            })
            .unwrap();
        assert!(after[explained] == before[explained]);
    }
    // Loses nothing: the same summary as an uninterrupted run.
    let clean = dir.path().join("clean");
    let full = command(&input, &clean, &m).args(slow).output().unwrap();
    ok(&full);
    assert_eq!(
        timeless(&out.join("summary.jsonl")),
        timeless(&clean.join("summary.jsonl"))
    );

    // A damaged output, or other settings, is redone.
    let first = out.join(done[0]);
    std::fs::write(&first, "{").unwrap();
    let again = command(&input, &out, &m)
        .args(slow)
        .arg("--resume")
        .output()
        .unwrap();
    ok(&again);
    assert!(String::from_utf8_lossy(&again.stdout).contains(&format!("{} already done", n - 1)));
    let other = batch(&input, &out, &m, &["--resume"]);
    ok(&other);
    assert!(String::from_utf8_lossy(&other.stdout).contains(" 0 already done"));
}

/// The library's run loop, without a process: a stop after the second record ends the run with
/// the scans in flight finished; a resumed run keeps those and does the rest; naming of outputs
/// and summaries.
#[test]
fn batch_runs_the_scene_steps_on_every_scan_and_records_them() {
    let dir = tempdir();
    let (input, out, model) = (
        dir.path().join("in"),
        dir.path().join("out"),
        dir.path().join("m"),
    );
    tiny_model(&model);
    std::fs::create_dir_all(&input).unwrap();
    for i in 0..2u64 {
        let scene = pointlime::cloud::PointCloud::from_positions(
            pointlime::synthetic::phone_scene(5_000, i),
            pointlime::cloud::FileFormat::Ply,
        );
        pointlime::io::write(&input.join(format!("s{i}.ply")), &scene, Default::default()).unwrap();
    }
    ok(&batch(
        &input,
        &out,
        &model,
        &["--remove-ground", "--largest-cluster"],
    ));
    for i in 0..2 {
        let cloud = pointlime::io::read(&out.join(format!("s{i}.ply.explained.ply"))).unwrap();
        assert_eq!(cloud.len(), 5_000);
        let removed = &cloud.attribute("removed").unwrap().values;
        let ground = removed.iter().filter(|&&r| r == 3.0).count();
        assert!(ground > 1_000, "s{i}: {ground} ground points");
        let json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.join(format!("s{i}.ply.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(json["report"]["scene"]["ground"], ground);
    }
    // Classification only (no explanation) runs them too: a crop that keeps nothing fails each
    // scan with the scene's message.
    let out2 = dir.path().join("out2");
    let run = batch(
        &input,
        &out2,
        &model,
        &["--no-explain", "--crop", "100,100,100,1"],
    );
    assert_eq!(
        run.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    for r in read_summary(&out2.join("summary.jsonl")).unwrap() {
        assert_eq!(r.status, Status::Failed, "{r:?}");
        // Named once, by the batch that read the file (#28 item 5).
        let file = input.join(&r.path).display().to_string();
        let e = r.error.unwrap();
        assert!(
            e.starts_with(&format!("{file}: the scene steps left 0"))
                && e.matches(&file).count() == 1,
            "{e}"
        );
    }
}

#[test]
fn the_run_loop_stops_when_told_and_resumes_in_process() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use pointlime::batch::{discover, run, Job, Shard};
    use pointlime::model::{Backend, PointNetClassifier};
    use pointlime::pipeline::ExplainConfig;

    let dir = tempdir();
    let (input, out, m) = (
        dir.path().join("in"),
        dir.path().join("out"),
        dir.path().join("model"),
    );
    scans(&input, 6);
    tiny_model(&m);
    let model = PointNetClassifier::load(&m, Backend::Flex).unwrap();
    let mut config = ExplainConfig::default();
    config.explainer.n_samples = 40;
    let config = config.seeded();
    let job = Job {
        input_root: &input,
        out_root: &out,
        classifier: &model,
        model_name: "tiny",
        config: &config,
        explain: true,
        write: Default::default(),
        read: Default::default(),
        strict: false,
    };
    let files = discover(&input, Some(&out)).unwrap();
    assert_eq!(files.len(), 6);
    let (ply, json) = job.outputs(Path::new("plot0/row0/scan00.ply"));
    assert_eq!(ply, out.join("plot0/row0/scan00.ply.explained.ply"));
    assert_eq!(json, out.join("plot0/row0/scan00.ply.json"));
    assert_eq!(
        job.outputs(Path::new("a/b.laz")).0,
        out.join("a/b.laz.explained.laz")
    );
    assert_eq!(Shard::summary_stem(None), "summary");
    assert_eq!(
        Shard::summary_stem(Some(Shard { index: 1, count: 4 })),
        "summary.shard-1-of-4"
    );

    // One worker, stopped after two records: exactly two are done, the rest never started.
    let stop = AtomicBool::new(false);
    let seen = AtomicUsize::new(0);
    let first = run(&job, &files, 1, false, &stop, &|_, _| {
        if seen.fetch_add(1, Ordering::SeqCst) + 1 == 2 {
            stop.store(true, Ordering::SeqCst);
        }
    });
    assert!(first.interrupted);
    assert_eq!(first.records.len(), 2);
    assert_eq!(first.count(Status::Ok), 2);
    assert_eq!(first.resumed, 0);

    // Resumed: the two done are kept, the four others are done now, in file order.
    let stop = AtomicBool::new(false);
    let found = AtomicUsize::new(0);
    let second = run(&job, &files, 2, true, &stop, &|_, resumed| {
        found.fetch_add(resumed as usize, Ordering::SeqCst);
    });
    assert_eq!(found.into_inner(), 2);
    assert!(!second.interrupted);
    assert_eq!(second.resumed, 2);
    assert_eq!(second.count(Status::Ok), 6);
    let paths: Vec<&str> = second.records.iter().map(|r| r.path.as_str()).collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted);
    // The resumed records are read back from their JSON files: equal up to the last bit of a
    // float, which serde_json's default parser (without its `float_roundtrip` feature) may miss.
    for (a, b) in first.records.iter().zip(&second.records[..2]) {
        let as_json = |r: &Record| serde_json::to_value(r.timeless()).unwrap();
        assert!(json_close(&as_json(a), &as_json(b)), "{a:?}\n{b:?}");
    }
}

/// Equal JSON values, numbers equal to a relative 1e-15.
fn json_close(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            (x - y).abs() <= 1e-15 * x.abs().max(y.abs())
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_close(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_close(v, w)))
        }
        _ => a == b,
    }
}
