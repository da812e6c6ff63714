//! The `pointlime` command: parse flags, call the library, print. One file per command.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// `print!` that returns the write's error instead of panicking as `print!` does, so that a closed
/// stdout (`pointlime … | head -1`) ends the command quietly (see [`main`]).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout(), $($arg)*)
    }};
}

/// `println!` that returns the write's error, as [`out!`].
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*)
    }};
}

mod accuracy;
mod args;
mod atlas;
mod batch;
mod bench;
mod competence;
mod explain;
mod export;
mod faithfulness;
mod info;
mod manifest;
mod model;
mod ood;
mod report;
mod train;
mod view;

/// Explain 3D point-cloud classifiers with LIME over supervoxels.
#[derive(Parser, Debug)]
#[command(name = "pointlime", version, about)]
struct Cli {
    /// Worker threads (default: all cores). Results are the same for any value.
    #[arg(long, global = true)]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Explain a classifier's decision on one scan: writes the scan with per-point `importance`
    /// and `segment` fields, and a JSON report.
    Explain(explain::ExplainArgs),
    /// Print a scan's format, point count, bounds and attributes.
    Info(info::InfoArgs),
    /// Train a PointNet on a labelled directory or a split manifest.
    Train(train::TrainArgs),
    /// Measure a model's classification accuracy on the test split of a dataset.
    #[command(alias = "eval")]
    Accuracy(accuracy::AccuracyArgs),
    /// Write a DALES-objects split manifest (CSV: path,class,split).
    Manifest(manifest::ManifestArgs),
    /// Classify and explain every scan under a directory, in parallel, resumably, with a summary
    /// table.
    Batch(batch::BatchArgs),
    /// Join shard summaries of `batch --shard` into one.
    Merge(batch::MergeArgs),
    /// A batch's output as one self-contained HTML page: summary, a sortable table of every
    /// scan, a card per scan and an interactive 3D view of any scan, with no server or network
    Report(report::ReportArgs),
    /// Time each stage of an explanation (segmentation, sampling, inference, fit) over sizes.
    Bench(bench::BenchArgs),
    /// Open an explained scan in the 3D viewer (runs `pointlime-view`, from the `viewer/` crate,
    /// with these arguments; see `pointlime-view --help`).
    View(view::ViewArgs),
    /// Measure how faithful each explanation method is over test objects: deletion and insertion
    /// curves against random orders, every method's randomised-model checks and seed stability,
    /// and LIME's held-out R² (`--all-methods`: the leaderboard).
    #[command(alias = "evaluate")]
    Faithfulness(faithfulness::FaithfulnessArgs),
    /// Record a model's competence statistics (its global feature on its training scans), or
    /// measure how many scans of a dataset its check flags as outside what it was trained on.
    Competence(competence::CompetenceArgs),
    /// Write a pointlime model as ONNX, with its sidecar, for other runtimes.
    Export(export::ExportArgs),
    /// Look at a model: `pointlime model inspect FILE.onnx|DIR`.
    Model(model::ModelCommand),
    /// A global view of a dataset: every scan's global feature embedded by t-SNE (PNG and CSV,
    /// by true and predicted class), every scan explained, and per class the most and least
    /// activating scans and the misclassified ones.
    Atlas(atlas::AtlasArgs),
}

fn main() -> ExitCode {
    // The version names the built-in model, read at run time from its embedded config (clap
    // takes a static string; this one is made once per process).
    let version: &'static str = Box::leak(args::version().into_boxed_str());
    let matches = Cli::command().version(version).get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    if let Some(n) = cli.threads {
        if let Err(e) = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
        {
            eprintln!("error: cannot set {n} threads: {e}");
            return ExitCode::from(2);
        }
    }
    // A panic is a bug, never an answer to bad input. The library turns panics inside format
    // crates into errors, so the hook only records the message; one that reaches here is printed
    // as one line.
    std::panic::set_hook(Box::new(|info| {
        let msg = pointlime::error::panic_message(info.payload()).unwrap_or_default();
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        *LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!("{msg}{place}"));
    }));
    match std::panic::catch_unwind(|| run(cli.command)) {
        Ok(Ok(code)) => code,
        // A reader that stopped reading (`| head`) is not an error: end quietly with success, as
        // ripgrep does (Rust ignores SIGPIPE, so it arrives as this error instead of a signal).
        Ok(Err(e)) if broken_pipe(&e) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::from(2)
        }
        Err(_) => {
            let msg = LAST_PANIC
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .unwrap_or_default();
            eprintln!("error: internal error (please report): {msg}");
            ExitCode::from(2)
        }
    }
}

static LAST_PANIC: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// Whether writing to a closed pipe caused the error.
fn broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The error and its causes as one line. A cause that its error already prints at its end (an
/// I/O error inside the library's "FILE: …" message) is not repeated.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain().map(|c| c.to_string()) {
        if line.is_empty() {
            line = cause;
        } else if !line.ends_with(&cause) {
            line = format!("{line}: {cause}");
        }
    }
    line.replace('\n', " ")
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Explain(a) => explain::run(a),
        Command::Info(a) => info::run(a),
        Command::Train(a) => train::run(a),
        Command::Accuracy(a) => accuracy::run(a),
        Command::Manifest(a) => manifest::run(a),
        Command::Batch(a) => batch::run(a),
        Command::Merge(a) => batch::merge(a),
        Command::Report(a) => report::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Faithfulness(a) => faithfulness::run(a),
        Command::View(a) => view::run(a),
        Command::Competence(a) => competence::run(a),
        Command::Model(a) => model::run(a),
        Command::Export(a) => export::run(a),
        Command::Atlas(a) => atlas::run(a),
    }
}
