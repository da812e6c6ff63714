//! `pointlime batch` and `pointlime merge`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;

use pointlime::batch::{self, Job, Record, Shard, Status};
use pointlime::io::WriteOptions;

use crate::args::{progress_bar, ModelArgs, ReadArgs, SettingsArgs};

#[derive(Args, Debug)]
pub struct BatchArgs {
    /// Directory searched recursively for .ply, .las, .laz, .xyz, .txt and .pts scans (hidden
    /// files and directories are left out).
    input: PathBuf,
    /// Output directory: per-scan outputs mirror the input tree, plus summary.csv and
    /// summary.jsonl (summary.shard-I-of-N.* with --shard).
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    model: ModelArgs,
    /// Classify only: no explanation, no explained scans.
    #[arg(long)]
    no_explain: bool,
    /// Scans processed at once [default: the thread count]. They share one pool of --threads
    /// threads with the model's own parallel work, so the cores are never oversubscribed.
    #[arg(long)]
    jobs: Option<usize>,
    /// Skip scans whose outputs are complete and were made with the same model and settings.
    #[arg(long)]
    resume: bool,
    /// Fail every scan the model's competence check flags as outside what it was trained on
    /// (nothing written for it; the other scans go on, and the run exits 1). Without it such
    /// scans are explained, warned about, and listed apart at the end of the summary.
    #[arg(long)]
    strict: bool,
    /// Process only slice INDEX of COUNT (0 <= INDEX < COUNT) of the sorted file list.
    #[arg(long)]
    shard: Option<Shard>,
    #[command(flatten)]
    settings: SettingsArgs,
    #[command(flatten)]
    read: ReadArgs,
    /// Write PLY as ascii instead of binary little-endian.
    #[arg(long)]
    ascii: bool,
}

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// Shard summaries (summary.shard-I-of-N.jsonl).
    #[arg(required = true)]
    summaries: Vec<PathBuf>,
    /// Directory for the merged summary.csv and summary.jsonl.
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: BatchArgs) -> Result<ExitCode> {
    let mut config = args.settings.resolve()?;
    if !args.input.is_dir() {
        bail!("{}: not a directory", args.input.display());
    }
    std::fs::create_dir_all(&args.out).with_context(|| args.out.display().to_string())?;
    let lock = batch::lock_output(&args.out, args.shard)?;
    if let Some(w) = &lock.warning {
        eprintln!("warning: {w}");
    }
    if lock.removed > 0 {
        eprintln!(
            "removed {} temporary file(s) that an interrupted run left behind",
            lock.removed
        );
    }
    let loaded = args.model.load_any()?;
    let method = config.method;
    args.settings
        .load_baselines(&mut config, &*loaded, &args.read, &[method], None)?;
    let model_name = args.model.name();
    let mut files = batch::discover(&args.input, Some(&args.out))?;
    if let Some(shard) = args.shard {
        files = shard.select(&files);
    }
    let job = Job {
        input_root: &args.input,
        out_root: &args.out,
        classifier: &*loaded,
        model_name: &model_name,
        config: &config,
        explain: !args.no_explain,
        write: WriteOptions { ascii: args.ascii },
        read: args.read.options(),
        strict: args.strict,
    };
    let stop = batch::stop_on_interrupt()?;

    let start = Instant::now();
    let bar = progress_bar(files.len() as u64, "scans");
    let workers = args.jobs.unwrap_or_else(rayon::current_num_threads);
    // On a terminal: a progress bar and a line per failure. Elsewhere (a scheduler's log): one
    // line per file, as it finishes, and no bar.
    let per_file = !std::io::stderr().is_terminal();
    let outcome = batch::run(
        &job,
        &files,
        workers,
        args.resume,
        &stop,
        &|record, found| {
            if let Some(e) = &record.error {
                let what = if record.status == Status::Skipped {
                    "skipped"
                } else {
                    "error"
                };
                bar.suspend(|| eprintln!("{what}: {}", e.replace('\n', " ")));
            } else if per_file {
                eprintln!("{}", done_line(record, found));
            }
            if record.in_domain == Some(false) && !found {
                bar.suspend(|| {
                    eprintln!(
                        "warning: {}: outside what the model was trained on (competence {}); its class and explanation are not to be trusted",
                        record.path,
                        pointlime::competence::format_score(record.competence.unwrap_or(f64::NAN))
                    )
                });
            }
            bar.inc(1);
        },
    );
    bar.finish_and_clear();

    let stem = Shard::summary_stem(args.shard);
    let csv = args.out.join(format!("{stem}.csv"));
    batch::write_summary(
        &outcome.records,
        &csv,
        &args.out.join(format!("{stem}.jsonl")),
    )?;
    let secs = start.elapsed().as_secs_f64();
    let done = outcome.records.len() - outcome.resumed;
    // Said only for a model with competence statistics: "0 outside" would claim a check that
    // did not run.
    let checked = outcome.records.iter().filter(|r| r.in_domain.is_some());
    let outside = match checked.clone().count() {
        0 => String::new(),
        _ => format!(
            " ({} outside the model's training domain)",
            checked.filter(|r| r.in_domain == Some(false)).count()
        ),
    };
    outln!(
        "{} scans: {} ok{outside}, {} failed, {} skipped, {} already done; {:.1} s ({:.1} scans/min); summary in {}",
        outcome.records.len(),
        outcome.count(Status::Ok),
        outcome.count(Status::Failed),
        outcome.count(Status::Skipped),
        outcome.resumed,
        secs,
        done as f64 / secs * 60.0,
        csv.display()
    )?;
    if outcome.interrupted {
        eprintln!(
            "interrupted after {} of {} scans; run again with --resume to finish",
            outcome.records.len(),
            files.len()
        );
        return Ok(ExitCode::from(130));
    }
    Ok(if outcome.count(Status::Failed) > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The log line of a scan that was scored (or found scored by an earlier run).
fn done_line(record: &Record, found: bool) -> String {
    if found {
        return format!("done: {} (already done)", record.path);
    }
    format!(
        "ok: {}: {} (p = {:.3}), {:.2} s",
        record.path,
        record.predicted.as_deref().unwrap_or("?"),
        record.probability.unwrap_or(f32::NAN),
        record.seconds
    )
}

pub fn merge(args: MergeArgs) -> Result<ExitCode> {
    let parts = args
        .summaries
        .iter()
        .map(|p| batch::read_summary(p))
        .collect::<pointlime::Result<Vec<_>>>()?;
    let merged = batch::merge(parts)?;
    std::fs::create_dir_all(&args.out).with_context(|| args.out.display().to_string())?;
    batch::write_summary(
        &merged,
        &args.out.join("summary.csv"),
        &args.out.join("summary.jsonl"),
    )?;
    outln!(
        "merged {} summaries: {} scans into {}",
        args.summaries.len(),
        merged.len(),
        args.out.join("summary.csv").display()
    )?;
    Ok(ExitCode::SUCCESS)
}
