//! `pointlime batch` and `pointlime merge`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;

use pointlime::batch::{self, Job, Record, Shard, Status};
use pointlime::io::WriteOptions;
use pointlime::model::{Backend, PointNetClassifier};

use crate::SettingsArgs;

#[derive(Args, Debug)]
pub struct BatchArgs {
    /// Directory searched recursively for .ply, .las, .laz, .xyz and .txt scans (hidden files and
    /// directories are left out).
    input: PathBuf,
    /// Output directory: per-scan outputs mirror the input tree, plus summary.csv and
    /// summary.jsonl (summary.shard-I-of-N.* with --shard).
    #[arg(long)]
    out: PathBuf,
    /// Model directory.
    #[arg(long, default_value = "models/default", env = "POINTLIME_MODEL")]
    model: PathBuf,
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
    /// Process only slice INDEX of COUNT (0 <= INDEX < COUNT) of the sorted file list.
    #[arg(long)]
    shard: Option<Shard>,
    #[command(flatten)]
    settings: SettingsArgs,
    /// Write PLY as ascii instead of binary little-endian.
    #[arg(long)]
    ascii: bool,
    /// Inference backend.
    #[arg(long, value_enum, default_value_t = Backend::Flex)]
    backend: Backend,
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

pub fn batch(args: BatchArgs) -> Result<ExitCode> {
    let config = args.settings.resolve()?;
    if !args.input.is_dir() {
        bail!("{}: not a directory", args.input.display());
    }
    std::fs::create_dir_all(&args.out).with_context(|| args.out.display().to_string())?;
    let model = PointNetClassifier::load(&args.model, args.backend)?;
    let model_name = args.model.display().to_string();
    let mut files = batch::discover(&args.input, Some(&args.out))?;
    if let Some(shard) = args.shard {
        files = shard.select(&files);
    }
    let job = Job {
        input_root: &args.input,
        out_root: &args.out,
        classifier: &model,
        model_name: &model_name,
        config: &config,
        explain: !args.no_explain,
        write: WriteOptions { ascii: args.ascii },
    };

    // Ctrl-C: finish the scans in flight, write the summary of what is done, exit 130. A second
    // Ctrl-C exits at once; only hidden temporary files can be left then, never a partial output.
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || {
            if stop.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
            eprintln!("interrupted: finishing the scans in flight (Ctrl-C again to quit now)");
        })
        .context("cannot install the Ctrl-C handler")?;
    }

    let start = Instant::now();
    let bar = crate::progress_bar(files.len() as u64, "scans");
    let records: Mutex<Vec<Option<Record>>> = Mutex::new(vec![None; files.len()]);
    let resumed = AtomicUsize::new(0);
    let next = AtomicUsize::new(0);
    let workers = args.jobs.unwrap_or_else(rayon::current_num_threads).max(1);
    rayon::scope(|s| {
        for _ in 0..workers {
            s.spawn(|_| loop {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(rel) = files.get(i) else { break };
                let record = match args.resume.then(|| job.completed(rel)).flatten() {
                    Some(r) => {
                        resumed.fetch_add(1, Ordering::Relaxed);
                        r
                    }
                    None => job.run(rel),
                };
                if let Some(e) = &record.error {
                    let what = if record.status == Status::Skipped {
                        "skipped"
                    } else {
                        "error"
                    };
                    bar.suspend(|| eprintln!("{what}: {}", e.replace('\n', " ")));
                }
                records.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(record);
                bar.inc(1);
            });
        }
    });
    bar.finish_and_clear();
    let records: Vec<Record> = records
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .flatten()
        .collect();

    let stem = match args.shard {
        Some(s) => format!("summary.shard-{}-of-{}", s.index, s.count),
        None => "summary".into(),
    };
    batch::write_summary(
        &records,
        &args.out.join(format!("{stem}.csv")),
        &args.out.join(format!("{stem}.jsonl")),
    )?;
    let count = |s: Status| records.iter().filter(|r| r.status == s).count();
    let secs = start.elapsed().as_secs_f64();
    let done = records.len() - resumed.load(Ordering::Relaxed);
    println!(
        "{} scans: {} ok, {} failed, {} skipped, {} already done; {:.1} s ({:.1} scans/min); summary in {}",
        records.len(),
        count(Status::Ok),
        count(Status::Failed),
        count(Status::Skipped),
        resumed.load(Ordering::Relaxed),
        secs,
        done as f64 / secs * 60.0,
        args.out.join(format!("{stem}.csv")).display()
    );
    if stop.load(Ordering::SeqCst) {
        eprintln!(
            "interrupted after {} of {} scans; run again with --resume to finish",
            records.len(),
            files.len()
        );
        return Ok(ExitCode::from(130));
    }
    Ok(if count(Status::Failed) > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
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
    println!(
        "merged {} summaries: {} scans into {}",
        args.summaries.len(),
        merged.len(),
        args.out.join("summary.csv").display()
    );
    Ok(ExitCode::SUCCESS)
}
