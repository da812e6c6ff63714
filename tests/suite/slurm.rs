//! The job array of `deploy/slurm/` on a real Slurm (issue #20): four shards over real DALES
//! objects and a corrupt file, a dependent merge, and a cancelled task resubmitted alone.
//!
//! Needs a running Slurm that `sinfo` answers (`.ci/run` starts a one-node cluster with
//! `deploy/slurm/local-cluster.sh`) and the real data. Without Slurm the test prints a note and
//! passes, unless `POINTLIME_REQUIRE_SLURM=1` (as `.ci/run` sets), which makes it fail instead.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use pointlime::batch::{read_summary, Record, Status};

use crate::common::{bin, tempdir};
use crate::real_data::data_dir;

fn slurm_answers() -> bool {
    let up = Command::new("sinfo")
        .args(["-h", "-o", "%t"])
        .output()
        .is_ok_and(|o| o.status.success() && !o.stdout.is_empty());
    if !up {
        if std::env::var("POINTLIME_REQUIRE_SLURM").is_ok_and(|v| v == "1") {
            panic!("POINTLIME_REQUIRE_SLURM=1 but no Slurm answers `sinfo` (is SLURM_CONF set?)");
        }
        eprintln!("note: no Slurm answers `sinfo`; the Slurm test is skipped");
    }
    up
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `sbatch ARGS` with the test's binary and the shipped model; returns the job id.
fn sbatch(args: &[&str]) -> String {
    let out = Command::new("sbatch")
        .arg("--parsable")
        .args(args)
        .env("POINTLIME", env!("CARGO_BIN_EXE_pointlime"))
        .env("POINTLIME_MODEL", repo().join("models/default"))
        .output()
        .expect("run sbatch");
    assert!(
        out.status.success(),
        "sbatch {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

/// Waits until no job or array task of `job` is pending or running.
fn wait(job: &str, limit: Duration) {
    let start = Instant::now();
    loop {
        let out = Command::new("squeue")
            .args(["-h", "-j", job, "-o", "%i"])
            .output()
            .expect("run squeue");
        if out.stdout.is_empty() {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "job {job} still queued after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The job's state as Slurm last saw it (`COMPLETED`, `FAILED`, `CANCELLED`, …).
/// Waits until no process on this machine (the one-node cluster) has `out` on its command line.
fn wait_for_processes_writing(out: &Path, limit: Duration) {
    let needle = out.to_string_lossy().into_owned();
    let start = Instant::now();
    loop {
        let alive = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
            .any(|cmdline| {
                let words: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
                words.contains(&needle.as_bytes())
                    && words.iter().any(|w| w.ends_with(b"pointlime"))
            });
        if !alive {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "a pointlime writing to {} still runs after {limit:?}",
            out.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn state(job: &str) -> String {
    let out = Command::new("scontrol")
        .args(["show", "job", job])
        .output()
        .expect("run scontrol");
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .find_map(|w| w.strip_prefix("JobState="))
        .unwrap_or("gone")
        .to_string()
}

fn timeless(path: &Path) -> Vec<Record> {
    read_summary(path)
        .unwrap()
        .iter()
        .map(Record::timeless)
        .collect()
}

#[test]
fn a_four_task_array_and_its_merge_equal_one_process_and_a_cancelled_task_resumes() {
    let Some(data) = data_dir() else { return };
    if !slurm_answers() {
        return;
    }
    let dir = tempdir();
    let input = dir.path().join("scans");
    std::fs::create_dir_all(&input).unwrap();
    for i in (0..500).step_by(25) {
        let name = format!("{i:03}.xyz");
        std::fs::copy(data.join("dales_objects").join(&name), input.join(&name)).unwrap();
    }
    std::fs::write(input.join("corrupt.las"), b"LASF but not really").unwrap();
    let flags = ["--samples", "300"];

    // The reference: one process over the whole directory.
    let single = dir.path().join("single");
    let run = bin()
        .args([
            "batch",
            input.to_str().unwrap(),
            "--out",
            single.to_str().unwrap(),
        ])
        .args(["--model", repo().join("models/default").to_str().unwrap()])
        .args(flags)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1), "one corrupt file");

    // The array and its merge, as users submit them.
    let out = dir.path().join("array");
    let submit = Command::new(repo().join("deploy/slurm/submit.sh"))
        .args(["4", input.to_str().unwrap(), out.to_str().unwrap()])
        .args(flags)
        .env("POINTLIME", env!("CARGO_BIN_EXE_pointlime"))
        .env("POINTLIME_MODEL", repo().join("models/default"))
        .env("SBATCH_FLAGS", "--cpus-per-task=1 --mem=1G")
        .output()
        .unwrap();
    assert!(
        submit.status.success(),
        "{}",
        String::from_utf8_lossy(&submit.stderr)
    );
    let ids = String::from_utf8_lossy(&submit.stdout);
    let (array, merge) = ids.trim().split_once(' ').expect("two job ids");
    wait(array, Duration::from_secs(300));
    wait(merge, Duration::from_secs(60));
    assert_eq!(state(merge), "COMPLETED");
    assert_eq!(
        timeless(&out.join("summary.jsonl")),
        timeless(&single.join("summary.jsonl"))
    );
    let merged = read_summary(&out.join("summary.jsonl")).unwrap();
    let failed: Vec<&Record> = merged
        .iter()
        .filter(|r| r.status == Status::Failed)
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].path, "corrupt.las");
    // Each task logs one line per scan; the corrupt file appears once over all the logs.
    let logs: String = (0..4)
        .map(|i| std::fs::read_to_string(out.join(format!("logs/shard-{i}.log"))).unwrap())
        .collect();
    assert_eq!(logs.matches("corrupt.las").count(), 1, "{logs}");
    assert_eq!(
        logs.matches("\nok: ").count() + logs.matches("error: ").count(),
        21,
        "{logs}"
    );

    // A task cancelled mid-run and resubmitted alone finishes its shard without redoing what it
    // had finished. Its shard is run slowly (more samples, one scan at a time) so the cancel lands
    // mid-run.
    let out = dir.path().join("cancel");
    std::fs::create_dir_all(out.join("logs")).unwrap();
    let sbatch_file = repo().join("deploy/slurm/pointlime-batch.sbatch");
    let task_args = |array: &str, log: &str| {
        vec![
            format!("--array={array}"),
            "--cpus-per-task=1".into(),
            "--mem=1G".into(),
            format!("--output={}", out.join("logs").join(log).display()),
            "--export=ALL,POINTLIME_SHARDS=4".into(),
            sbatch_file.display().to_string(),
            input.display().to_string(),
            out.display().to_string(),
            "--samples".into(),
            "4000".into(),
            "--jobs".into(),
            "1".into(),
        ]
    };
    let strings = task_args("0-3", "first-%a.log");
    let job = sbatch(&strings.iter().map(String::as_str).collect::<Vec<_>>());
    let task = format!("{job}_2");
    // Shard 2 of 4 holds files 2, 6, 10, 14, 18 of the sorted list: 050, 150, 250, 350, 450.
    let first_output = out.join("050.xyz.json");
    let start = Instant::now();
    while !first_output.exists() && start.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(20));
    }
    // (When the task has already finished, there is nothing to cancel: the resubmission below
    // then finds every scan done.)
    Command::new("scancel").arg(&task).status().unwrap();
    wait(&job, Duration::from_secs(300));
    // The job leaves the queue when the batch script's shell ends, which SIGTERM ends at once,
    // while its pointlime finishes the scan in flight: wait for that process too, or a scan
    // finished after this count (the race CI once lost, issue #27).
    wait_for_processes_writing(&out, Duration::from_secs(120));
    let done_before: Vec<(PathBuf, std::time::SystemTime)> = ["050", "150", "250", "350", "450"]
        .iter()
        .map(|n| out.join(format!("{n}.xyz.json")))
        .filter(|p| p.exists())
        .map(|p| {
            let t = std::fs::metadata(&p).unwrap().modified().unwrap();
            (p, t)
        })
        .collect();
    assert!(
        !done_before.is_empty(),
        "the cancelled task had finished a scan"
    );
    eprintln!(
        "note: shard 2 had finished {} of its 5 scans when it was cancelled",
        done_before.len()
    );
    // scancel sends SIGTERM: the shard finishes the scan in flight and writes the summary of
    // what it did (#19), which lists exactly the scans whose outputs are complete.
    if let Ok(summary) = std::fs::read_to_string(out.join("summary.shard-2-of-4.jsonl")) {
        assert_eq!(
            summary.lines().count(),
            done_before.len(),
            "the stopped shard's summary lists its finished scans: {summary}"
        );
    }
    let strings = task_args("2", "again-%a.log");
    let again = sbatch(&strings.iter().map(String::as_str).collect::<Vec<_>>());
    wait(&again, Duration::from_secs(300));
    assert_eq!(state(&again), "COMPLETED");
    for (path, modified) in &done_before {
        assert_eq!(
            &std::fs::metadata(path).unwrap().modified().unwrap(),
            modified,
            "{} was redone",
            path.display()
        );
    }
    let log = std::fs::read_to_string(out.join("logs/again-2.log")).unwrap();
    assert_eq!(
        log.matches("(already done)").count(),
        done_before.len(),
        "{log}"
    );
    let shards: Vec<Record> = (0..4)
        .flat_map(|i| timeless(&out.join(format!("summary.shard-{i}-of-4.jsonl"))))
        .collect();
    assert_eq!(shards.len(), 21);
}
