//! Batch scoring of scan directories: discovery, sharding, one file's job, resumable outputs, and
//! the summary table.
//!
//! Each input `DIR/a/b.laz` gets, under the output directory, `a/b.laz.explained.laz` (the scan
//! with `importance` and `segment`, unless explanations are off) and `a/b.laz.json` (its record,
//! the run's settings, and the full report); with `--method sag` also `a/b.laz.sag.png`, the
//! attention graph. The JSON is written last and atomically, so its
//! presence with matching settings marks the file as done: that is what `--resume` trusts, and why
//! a run killed at any moment loses only the files in flight.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::classifier::Classifier;
use crate::domain::Competence;
use crate::error::{Error, Result};
use crate::explain::{Explanation, Payload};
use crate::faithfulness::plot::write_graph_png;
use crate::io::{self, ReadOptions, WriteOptions};
use crate::pipeline::{classify_cloud, explain_cloud, explained_extension, ExplainConfig, Report};
use crate::stats::ranking;

/// One slice of a deterministic partition of the sorted file list: file `j` belongs to shard
/// `j mod count`. Written `index/count`, with `0 <= index < count` (a Slurm array's
/// `$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT` or Kubernetes' `$JOB_COMPLETION_INDEX/N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let bad = || format!("shard must be INDEX/COUNT with 0 <= INDEX < COUNT, got {s:?}");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    /// The stem of this shard's summary files: `summary.shard-I-of-N`, or `summary` for no shard.
    pub fn summary_stem(shard: Option<Shard>) -> String {
        match shard {
            Some(s) => format!("summary.shard-{}-of-{}", s.index, s.count),
            None => "summary".into(),
        }
    }

    /// The files of this shard, in order.
    pub fn select<T: Clone>(&self, files: &[T]) -> Vec<T> {
        files
            .iter()
            .skip(self.index)
            .step_by(self.count)
            .cloned()
            .collect()
    }
}

/// Outcome of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Could not be read, validated or classified.
    Failed,
    /// Not a point-cloud file this tool reads (by extension).
    Skipped,
}

/// A class and its probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassScore {
    /// The class name.
    pub class: String,
    /// The model's probability of it.
    pub probability: f32,
}

/// A segment and its coefficient for the explained class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentScore {
    /// The segment id (the `segment` field of its points).
    pub segment: usize,
    /// Its value for the explained class.
    pub coefficient: f64,
    /// With segments from a field (`--segments-from`), the part it is, as `FIELD=VALUE`
    /// (`label=2`: an organ).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<String>,
}

/// A class and the share of a scan's points a per-point model gives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassShare {
    /// The class name.
    pub class: String,
    /// Its share of the network's input points.
    pub share: f64,
}

/// One region of a per-point model's explanation, in brief.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegionSummary {
    /// The region as given (`class=stem`, `label=column_3:7`, …).
    pub region: String,
    /// The class explained.
    pub class: String,
    /// Its points among the network's input.
    pub points: usize,
    /// The three context segments with the largest coefficients.
    pub top_segments: Vec<SegmentScore>,
}

/// One row of the summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Path relative to the input directory, `/`-separated.
    pub path: String,
    /// Points read (absent when the file could not be read).
    pub points: Option<usize>,
    /// The most probable class.
    pub predicted: Option<String>,
    /// Its probability.
    pub probability: Option<f32>,
    /// The three most probable classes.
    pub top_classes: Vec<ClassScore>,
    /// The three segments with the largest coefficients for the predicted class.
    pub top_segments: Vec<SegmentScore>,
    /// Surrogate R² (explanations only).
    pub r2: Option<f64>,
    /// A per-point model's classes, each with its share of the points, largest first (explained
    /// scans only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub class_shares: Vec<ClassShare>,
    /// A per-point model's regions and their top segments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<RegionSummary>,
    /// A per-point model's mIoU against the scan's own classes (`--labels`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub miou: Option<f64>,
    /// The model's competence on the scan (see [`crate::competence`]): a p-value against its
    /// training scans. Absent for a model without recorded statistics.
    #[serde(default)]
    pub competence: Option<f64>,
    /// Whether the competence is above the model's alarm level.
    #[serde(default)]
    pub in_domain: Option<bool>,
    /// Wall time for this file.
    pub seconds: f64,
    /// Whether the file was scored, failed, or skipped as not a scan.
    pub status: Status,
    /// Why it failed or was skipped, in one line naming the file.
    pub error: Option<String>,
}

impl Record {
    fn new(path: &Path, status: Status, error: Option<String>) -> Record {
        Record {
            path: slash_path(path),
            points: None,
            predicted: None,
            probability: None,
            top_classes: Vec::new(),
            top_segments: Vec::new(),
            r2: None,
            class_shares: Vec::new(),
            regions: Vec::new(),
            miou: None,
            competence: None,
            in_domain: None,
            seconds: 0.0,
            status,
            error,
        }
    }

    /// The row of a classified scan: its class ranking and competence.
    fn scored(
        rel: &Path,
        points: usize,
        names: &[String],
        probabilities: &[f32],
        competence: Option<&Competence>,
    ) -> Record {
        let order = ranking(probabilities);
        let mut record = Record::new(rel, Status::Ok, None);
        record.points = Some(points);
        record.predicted = Some(names[order[0]].clone());
        record.probability = Some(probabilities[order[0]]);
        record.competence = competence.map(|c| c.score);
        record.in_domain = competence.map(|c| c.in_domain);
        record.top_classes = order
            .iter()
            .take(3)
            .map(|&c| ClassScore {
                class: names[c].clone(),
                probability: probabilities[c],
            })
            .collect();
        record
    }

    /// Adds what an explanation says: R², top segments (named by their part of `field` when
    /// segments came from one), a per-point model's class shares, mIoU and regions.
    fn add_explanation(&mut self, r: &Report, field: Option<&str>) {
        let names = &r.class_names;
        if let Some(e) = r.explanations.first() {
            self.r2 = e.r2;
            self.top_segments = top_segments(r, e, field);
        }
        self.class_shares = ranking(&r.predicted_shares)
            .into_iter()
            .filter(|&c| r.predicted_shares[c] > 0.0)
            .map(|c| ClassShare {
                class: names[c].clone(),
                share: r.predicted_shares[c],
            })
            .collect();
        self.miou = r.label_scores.as_ref().map(|l| l.miou);
        self.regions = r
            .regions
            .iter()
            .zip(&r.explanations)
            .map(|(g, e)| RegionSummary {
                region: g.spec.to_string(),
                class: g.target_name.clone(),
                points: g.points,
                top_segments: top_segments(r, e, field),
            })
            .collect();
    }

    /// The row `batch` writes for a scan of `points` points explained into `r` (`path` as given,
    /// no wall time): the single-scan HTML page's table.
    pub fn of_report(path: &str, points: usize, r: &Report) -> Record {
        let mut record = Record::scored(
            Path::new(path),
            points,
            &r.class_names,
            &r.probabilities,
            r.competence.as_ref(),
        );
        record.add_explanation(r, r.settings.segments.from_field.as_deref());
        // As given: an absolute path stays one.
        record.path = path.to_string();
        record
    }

    /// The record without its wall time, for comparing runs.
    pub fn timeless(&self) -> Record {
        Record {
            seconds: 0.0,
            ..self.clone()
        }
    }
}

fn slash_path(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Every regular, non-hidden file under `root`, relative to it, sorted by path; `exclude` (an
/// output directory inside the input) is not entered.
///
/// # Errors
/// [`Error::Io`] when `root` or a directory under it cannot be read.
pub fn discover(root: &Path, exclude: Option<&Path>) -> Result<Vec<PathBuf>> {
    let exclude = exclude.and_then(|e| e.canonicalize().ok());
    let mut files = Vec::new();
    let walk = walkdir::WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            let hidden = e.depth() > 0 && e.file_name().to_string_lossy().starts_with('.');
            let excluded = exclude
                .as_ref()
                .is_some_and(|x| e.path().canonicalize().is_ok_and(|p| &p == x));
            !hidden && !excluded
        });
    for entry in walk {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(root).to_path_buf();
            Error::io(&path, std::io::Error::other(e.to_string()))
        })?;
        if entry.file_type().is_file() {
            let rel = entry.path().strip_prefix(root).unwrap_or(entry.path());
            files.push(rel.to_path_buf());
        }
    }
    files.sort();
    Ok(files)
}

/// What a batch run needs for every file.
pub struct Job<'a> {
    pub input_root: &'a Path,
    pub out_root: &'a Path,
    pub classifier: &'a dyn Classifier,
    pub model_name: &'a str,
    pub config: &'a ExplainConfig,
    /// Explain, or only classify.
    pub explain: bool,
    pub write: WriteOptions,
    /// Limits on reading each scan.
    pub read: ReadOptions,
    /// Fail a scan the competence check flags (`--strict`), writing nothing for it.
    pub strict: bool,
}

/// Where `batch` writes the explained scan and the JSON of input `rel` under `out_root`:
/// `NAME.explained.EXT` and `NAME.json` in `rel`'s directory.
pub fn output_paths(out_root: &Path, rel: &Path) -> (PathBuf, PathBuf) {
    let name = rel.file_name().unwrap_or_default().to_string_lossy();
    let ext = explained_extension(rel);
    let dir = out_root.join(rel.parent().unwrap_or(Path::new("")));
    (
        dir.join(format!("{name}.explained.{ext}")),
        dir.join(format!("{name}.json")),
    )
}

/// What identifies a run's output for `--resume`: outputs made with other settings are redone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct RunKey {
    model: String,
    explain: bool,
    /// Outputs of a run without `--strict` hold flagged scans, which a strict run fails.
    #[serde(default)]
    strict: bool,
    #[serde(deserialize_with = "crate::pipeline::legacy::settings")]
    settings: ExplainConfig,
}

/// The per-file JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct FileOutput {
    run: RunKey,
    record: Record,
    report: Option<Report>,
}

impl Job<'_> {
    /// With `strict`, a scan outside the model's domain is an error (before anything is
    /// written for it).
    fn refuse_if_flagged(&self, competence: Option<&Competence>) -> Result<()> {
        match competence {
            Some(c) if self.strict && !c.in_domain => Err(Error::Scan(format!(
                "outside what the model was trained on (competence {} ≤ {}); --strict: nothing \
                 written",
                crate::domain::format_score(c.score),
                c.alarm_level
            ))),
            _ => Ok(()),
        }
    }

    fn key(&self) -> RunKey {
        RunKey {
            model: self.model_name.to_string(),
            explain: self.explain,
            strict: self.strict,
            settings: self.config.clone(),
        }
    }

    /// The explained scan's path and the JSON's path for input `rel`.
    pub fn outputs(&self, rel: &Path) -> (PathBuf, PathBuf) {
        output_paths(self.out_root, rel)
    }

    /// Where the attention graph of `--method sag` goes for input `rel`: `NAME.sag.png` beside
    /// its JSON.
    pub fn graph_output(&self, rel: &Path) -> PathBuf {
        let name = rel.file_name().unwrap_or_default().to_string_lossy();
        let dir = self.out_root.join(rel.parent().unwrap_or(Path::new("")));
        dir.join(format!("{name}.sag.png"))
    }

    /// The record of a complete output from a run with the same settings, if there is one.
    pub fn completed(&self, rel: &Path) -> Option<Record> {
        let (cloud, json) = self.outputs(rel);
        let text = std::fs::read_to_string(json).ok()?;
        let out = parse_output(&text)?;
        let cloud_ok = !self.explain || std::fs::metadata(cloud).is_ok_and(|m| m.len() > 0);
        (out.run == self.key() && out.record.status == Status::Ok && cloud_ok).then_some(out.record)
    }

    /// Classifies (and explains) one file and writes its outputs. Never fails: a problem with the
    /// file is its record's error.
    pub fn run(&self, rel: &Path) -> Record {
        let start = Instant::now();
        let mut record = match catch_unwind(AssertUnwindSafe(|| self.run_inner(rel))) {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                let e = e.in_file(self.input_root.join(rel));
                let status = match e {
                    Error::UnsupportedFormat { .. } => Status::Skipped,
                    _ => Status::Failed,
                };
                Record::new(rel, status, Some(e.to_string()))
            }
            Err(_) => Record::new(
                rel,
                Status::Failed,
                Some(format!(
                    "{}: internal error while processing (please report)",
                    self.input_root.join(rel).display()
                )),
            ),
        };
        record.seconds = start.elapsed().as_secs_f64();
        record
    }

    fn run_inner(&self, rel: &Path) -> Result<Record> {
        let path = self.input_root.join(rel);
        io::format_of(&path)?;
        let mut cloud = io::read_with(&path, self.read.clone())?;
        let dropped = cloud.validate(&path, self.config.drop_invalid)?;
        let (cloud_out, json_out) = self.outputs(rel);
        if let Some(dir) = json_out.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let names = self.classifier.class_names();
        let points = cloud.len();
        let (probabilities, competence, report) = if self.explain {
            let explained = explain_cloud(
                &cloud,
                rel,
                self.classifier,
                self.model_name,
                self.config,
                dropped,
                None,
            )?;
            self.refuse_if_flagged(explained.report.competence.as_ref())?;
            io::write(&cloud_out, &explained.annotate(cloud), self.write)?;
            // A structural explanation's graph beside the record, as `explain` draws it.
            if let Some(e) = explained.report.explanations.first() {
                let structure = e.payload.as_ref().and_then(Payload::structure);
                if let Some(s) = structure.filter(|s| !s.sets.is_empty()) {
                    write_graph_png(&self.graph_output(rel), &e.target_name, s)?;
                }
            }
            (
                explained.report.probabilities.clone(),
                explained.report.competence.clone(),
                Some(explained.report),
            )
        } else {
            let c = classify_cloud(&cloud, self.classifier, self.config)?;
            self.refuse_if_flagged(c.competence.as_ref())?;
            (c.probabilities, c.competence, None)
        };
        let mut record = Record::scored(rel, points, names, &probabilities, competence.as_ref());
        if let Some(r) = &report {
            record.add_explanation(r, self.config.segments.from_field.as_deref());
        }
        io::write_json(
            &json_out,
            &FileOutput {
                run: self.key(),
                record: record.clone(),
                report,
            },
        )?;
        Ok(record)
    }
}

/// The three segments with the largest coefficients of `e`, named by their part of `field`
/// when segments came from one.
fn top_segments(r: &Report, e: &Explanation, field: Option<&str>) -> Vec<SegmentScore> {
    e.ranking()
        .into_iter()
        .take(3)
        .map(|s| SegmentScore {
            segment: s,
            coefficient: e.coefficients[s],
            part: field
                .zip(r.segments[s].field_value)
                .map(|(f, v)| format!("{f}={v}")),
        })
        .collect()
}

/// A per-file JSON as `--resume` reads it; `None` for text that is not one (the file is then
/// redone).
fn parse_output(text: &str) -> Option<FileOutput> {
    let output: FileOutput = serde_json::from_str(text).ok()?;
    // A report of a later format is not trusted as done.
    match &output.report {
        Some(r) if r.schema_version > crate::pipeline::REPORT_SCHEMA_VERSION => None,
        _ => Some(output),
    }
}

/// The record in a per-file JSON (`DIR/a/b.laz.json`), if the text is one: the check `--resume`
/// makes before it trusts a file as done.
pub fn record_of_output(text: &str) -> Option<Record> {
    parse_output(text).map(|o| o.record)
}

/// What [`run`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// One record per file processed or found done, in file order; files not reached before a
    /// stop are absent.
    pub records: Vec<Record>,
    /// Of those, files whose complete outputs were found and kept (`resume`).
    pub resumed: usize,
    /// Whether `stop` was set during the run (files may then be missing).
    pub interrupted: bool,
}

impl Outcome {
    /// Records with this status.
    pub fn count(&self, status: Status) -> usize {
        self.records.iter().filter(|r| r.status == status).count()
    }
}

/// Runs `job` over `files` with `workers` scans at once on the current rayon pool (they share its
/// threads with the model's own parallel work, so the cores are never oversubscribed).
///
/// With `resume`, a file whose complete outputs from the same model and settings exist is not
/// redone ([`Job::completed`]). `on_record` sees each record as it is made, and whether it was
/// found done rather than made (for progress and per-file messages). When `stop` becomes true,
/// the scans in flight finish and no new one starts: the outcome then holds what was done, and a
/// later run with `resume` picks up the rest.
pub fn run(
    job: &Job,
    files: &[PathBuf],
    workers: usize,
    resume: bool,
    stop: &AtomicBool,
    on_record: &(dyn Fn(&Record, bool) + Sync),
) -> Outcome {
    let records: Mutex<Vec<Option<Record>>> = Mutex::new(vec![None; files.len()]);
    let resumed = AtomicUsize::new(0);
    let next = AtomicUsize::new(0);
    rayon::scope(|s| {
        for _ in 0..workers.max(1) {
            s.spawn(|_| loop {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(rel) = files.get(i) else { break };
                let (record, found) = match resume.then(|| job.completed(rel)).flatten() {
                    Some(r) => {
                        resumed.fetch_add(1, Ordering::Relaxed);
                        (r, true)
                    }
                    None => (job.run(rel), false),
                };
                on_record(&record, found);
                records.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(record);
            });
        }
    });
    let records: Vec<Record> = records
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .flatten()
        .collect();
    Outcome {
        interrupted: stop.load(Ordering::SeqCst),
        records,
        resumed: resumed.into_inner(),
    }
}

/// The lock file that keeps two batch runs out of one output directory.
pub const LOCK_FILE: &str = ".pointlime-batch.lock";

/// Held while a batch run writes to its output directory; released when dropped, or when the
/// process dies: the locks are the operating system's, on open files, so a killed run never leaves
/// a stale lock behind.
#[derive(Debug)]
pub struct OutputLock {
    _files: Vec<std::fs::File>,
    /// Hidden temporary files of killed runs that were removed.
    pub removed: usize,
    /// Why the directory could not be locked on a file system without locks (the run goes on).
    pub warning: Option<String>,
}

fn busy(out_root: &Path, what: &str) -> Error {
    Error::Busy {
        path: out_root.into(),
        message: format!(
            "{what} is writing to this directory (it holds {LOCK_FILE}); wait for it to finish or choose another --out"
        ),
    }
}

/// Takes the output directory for one batch run: a run without `--shard` alone (an exclusive lock
/// on [`LOCK_FILE`]); the shards of one job array together, each shard once (a shared lock on it and
/// an exclusive one on its own `.pointlime-batch.shard-I-of-N.lock`).
///
/// A run that finds the directory free of other runs then removes the hidden temporary files
/// (`.pointlime-*.tmp*`) that a run killed mid-write left under it: none of them can belong to a
/// live writer. A shard that starts while others run leaves them to a later run.
///
/// # Errors
/// [`Error::Io`] when a lock file cannot be created; [`Error::Busy`] when another run holds the
/// directory or the same shard.
pub fn lock_output(out_root: &Path, shard: Option<Shard>) -> Result<OutputLock> {
    use std::fs::TryLockError::{Error as Failed, WouldBlock};
    let open = |name: &str| {
        let path = out_root.join(name);
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))
    };
    let unlocked = |e: std::io::Error| {
        Some(format!(
            "{}: cannot lock {LOCK_FILE} ({e}); nothing stops a second run from writing here",
            out_root.display()
        ))
    };
    let dir = open(LOCK_FILE)?;
    let mut lock = OutputLock {
        _files: Vec::new(),
        removed: 0,
        warning: None,
    };
    let alone = match dir.try_lock() {
        Ok(()) => true,
        Err(WouldBlock) if shard.is_some() => false,
        Err(WouldBlock) => return Err(busy(out_root, "another pointlime batch")),
        Err(Failed(e)) => {
            lock.warning = unlocked(e);
            lock._files.push(dir);
            return Ok(lock);
        }
    };
    if alone {
        lock.removed = walkdir::WalkDir::new(out_root)
            .into_iter()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_file() && is_leftover(e.file_name()))
            .filter(|e| std::fs::remove_file(e.path()).is_ok())
            .count();
    }
    if let Some(s) = shard {
        // Shards share the directory: hold it shared (flock converts an exclusive lock in place).
        // The exclusive holder may be another shard of the same array, removing leftovers for a
        // moment: wait for it, up to 10 s.
        let start = std::time::Instant::now();
        loop {
            match dir.try_lock_shared() {
                Ok(()) => break,
                Err(WouldBlock) if start.elapsed().as_secs() < 10 => {
                    std::thread::sleep(std::time::Duration::from_millis(50))
                }
                Err(WouldBlock) => return Err(busy(out_root, "a pointlime batch without --shard")),
                Err(Failed(e)) => {
                    lock.warning = unlocked(e);
                    break;
                }
            }
        }
        let own = open(&format!(
            ".pointlime-batch.shard-{}-of-{}.lock",
            s.index, s.count
        ))?;
        match own.try_lock() {
            Ok(()) => lock._files.push(own),
            Err(WouldBlock) => {
                return Err(busy(
                    out_root,
                    &format!(
                        "another pointlime batch with --shard {}/{}",
                        s.index, s.count
                    ),
                ))
            }
            Err(Failed(e)) => lock.warning = unlocked(e),
        }
    }
    lock._files.push(dir);
    Ok(lock)
}

/// A temporary file of [`io::write_atomic`]: `.pointlime-PID@HOST-XXXXXX.tmp` or
/// `.pointlime-PID@HOST-XXXXXX.tmp.EXT` (`.pointlime-XXXXXX.tmp…` before those names).
fn is_leftover(name: &std::ffi::OsStr) -> bool {
    let name = name.to_string_lossy();
    name.starts_with(".pointlime-") && name.contains(".tmp") && !name.ends_with(".lock")
}

/// A flag that the first Ctrl-C (SIGINT), SIGTERM (a scheduler's time limit, `kill`) or SIGHUP
/// sets, for [`run`]'s `stop`: the scans in flight finish and the summary of what is done is
/// written. A second signal exits at once with status 130; only hidden temporary files can be left
/// then, never a partial output, and the next run over the same output removes them
/// ([`lock_output`]).
///
/// # Errors
/// [`Error::Config`] when a handler is already installed in this process.
pub fn stop_on_interrupt() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("interrupted: finishing the scans in flight (Ctrl-C again to quit now)");
    })
    .map_err(|e| Error::Config(format!("cannot install the Ctrl-C handler: {e}")))?;
    Ok(stop)
}

/// The CSV form of a record: lists joined as `name:value|name:value`.
#[derive(Serialize)]
struct CsvRow<'a> {
    path: &'a str,
    points: Option<usize>,
    predicted: Option<&'a str>,
    probability: Option<f32>,
    top_classes: String,
    top_segments: String,
    r2: Option<f64>,
    competence: Option<f64>,
    in_domain: Option<bool>,
    seconds: f64,
    status: Status,
    error: Option<&'a str>,
    // A per-point model's, after the columns of the first version so that readers by position
    // keep working.
    class_shares: String,
    regions: String,
    miou: Option<f64>,
}

/// Segments as one CSV cell: `segment:coefficient` (or `part:coefficient`) joined by `|`.
fn segments_cell(segments: &[SegmentScore]) -> String {
    segments
        .iter()
        .map(|s| match &s.part {
            Some(part) => format!("{part}:{:.6}", s.coefficient),
            None => format!("{}:{:.6}", s.segment, s.coefficient),
        })
        .collect::<Vec<_>>()
        .join("|")
}

/// Writes the records as CSV and as JSON Lines (each atomically), sorted by path, the scans the
/// competence check flagged apart after all the others: a flagged scan's class and explanation
/// are not to be trusted, and must not read as one more row among them.
///
/// # Errors
/// [`Error::Io`] on a write failure.
pub fn write_summary(records: &[Record], csv_path: &Path, jsonl_path: &Path) -> Result<()> {
    let mut sorted: Vec<&Record> = records.iter().collect();
    let flagged = |r: &Record| r.in_domain == Some(false);
    sorted.sort_by(|a, b| flagged(a).cmp(&flagged(b)).then(a.path.cmp(&b.path)));
    io::write_atomic(csv_path, |f| {
        let mut w = csv::Writer::from_writer(std::io::BufWriter::new(f));
        for r in &sorted {
            w.serialize(CsvRow {
                path: &r.path,
                points: r.points,
                predicted: r.predicted.as_deref(),
                probability: r.probability,
                top_classes: r
                    .top_classes
                    .iter()
                    .map(|c| format!("{}:{:.4}", c.class, c.probability))
                    .collect::<Vec<_>>()
                    .join("|"),
                top_segments: segments_cell(&r.top_segments),
                r2: r.r2,
                competence: r.competence,
                in_domain: r.in_domain,
                seconds: r.seconds,
                status: r.status,
                error: r.error.as_deref(),
                class_shares: r
                    .class_shares
                    .iter()
                    .map(|c| format!("{}:{:.4}", c.class, c.share))
                    .collect::<Vec<_>>()
                    .join("|"),
                regions: r
                    .regions
                    .iter()
                    .map(|g| {
                        let top = segments_cell(&g.top_segments).replace('|', " ");
                        format!("{}: {}, {} points, top {top}", g.region, g.class, g.points)
                    })
                    .collect::<Vec<_>>()
                    .join("|"),
                miou: r.miou,
            })
            .map_err(|e| Error::format(csv_path, e.to_string()))?;
        }
        w.flush().map_err(|e| Error::io(csv_path, e))
    })?;
    io::write_atomic(jsonl_path, |f| {
        use std::io::Write;
        let mut w = std::io::BufWriter::new(f);
        for r in &sorted {
            let line =
                serde_json::to_string(r).map_err(|e| Error::format(jsonl_path, e.to_string()))?;
            writeln!(w, "{line}").map_err(|e| Error::io(jsonl_path, e))?;
        }
        w.flush().map_err(|e| Error::io(jsonl_path, e))
    })
}

/// Reads a JSON Lines summary.
///
/// # Errors
/// [`Error::Io`] or [`Error::Format`] (with the line number) for an unreadable summary.
pub fn read_summary(path: &Path) -> Result<Vec<Record>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_summary(&text, path)
}

/// Parses a JSON Lines summary; `path` names it in errors.
///
/// # Errors
/// [`Error::Format`] with the line number of the first line that is not a record.
pub fn parse_summary(text: &str, path: &Path) -> Result<Vec<Record>> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| {
                Error::format(
                    path,
                    format!("line {}: {}", i + 1, crate::error::json_problem(&e)),
                )
            })
        })
        .collect()
}

/// Joins shard summaries into one, sorted by path.
///
/// # Errors
/// [`Error::Config`] when a file appears in more than one summary (shards from different
/// partitions).
pub fn merge(parts: Vec<Vec<Record>>) -> Result<Vec<Record>> {
    let mut all: Vec<Record> = parts.into_iter().flatten().collect();
    all.sort_by(|a, b| a.path.cmp(&b.path));
    if let Some(w) = all.windows(2).find(|w| w[0].path == w[1].path) {
        return Err(Error::Config(format!(
            "{} appears in more than one summary: were the shards made with one --shard COUNT?",
            w[0].path
        )));
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_list() {
        let files: Vec<usize> = (0..10).collect();
        let mut union: Vec<usize> = (0..3)
            .flat_map(|i| Shard { index: i, count: 3 }.select(&files))
            .collect();
        union.sort();
        assert_eq!(union, files);
        assert_eq!(
            "1/3".parse::<Shard>().unwrap(),
            Shard { index: 1, count: 3 }
        );
        for bad in ["3/3", "1", "a/2", "0/0", "-1/2"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }
}
