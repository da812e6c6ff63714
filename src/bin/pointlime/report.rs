//! `pointlime report DIR --html`: a batch's output as one self-contained page; the page options
//! `explain --html` shares.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Result};
use clap::Args;
use pointlime::html::{self, Options, Page};

/// How much of each scan a page carries (shared by `report` and `explain --html`).
#[derive(Args, Debug, Clone)]
pub struct PageArgs {
    /// Points of one scan's 3D view at most: decimated at random (fixed seed), by segment, every
    /// segment keeping at least 16 points.
    #[arg(long, default_value_t = 200_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub points_per_scan: u64,
    /// The inline 3D views of a page together stay under about this many megabytes (10^6
    /// bytes): a big batch gets fewer points per scan (at least 500). Not applied with --assets.
    #[arg(long, default_value_t = 24.0)]
    pub max_mb: f64,
    /// Write each scan's 3D view (and thumbnail) as a file in OUT's stem + .assets/ beside the
    /// page, loaded when its view opens, instead of inline: keep that directory with the page.
    #[arg(long)]
    pub assets: bool,
}

impl PageArgs {
    pub fn options(&self) -> Result<Options> {
        if !(self.max_mb.is_finite() && self.max_mb > 0.0) {
            bail!("--max-mb must be a positive number, got {}", self.max_mb);
        }
        Ok(Options {
            points_per_scan: self.points_per_scan as usize,
            max_inline_bytes: (self.max_mb * 1e6) as usize,
            assets: self.assets,
        })
    }
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The output directory of `pointlime batch` (with its summary.jsonl).
    dir: PathBuf,
    /// Write a self-contained HTML page (the only report format).
    #[arg(long, required = true)]
    html: bool,
    /// The page [default: DIR/report.html].
    #[arg(long)]
    out: Option<PathBuf>,
    /// A thumbnail per scan card, rendered by the viewer's headless renderer (`pointlime-view
    /// --screenshot` from beside this executable; about 70 ms a scan of a few thousand points on
    /// a software driver); without it, cards have no image.
    #[arg(long)]
    thumbnails: bool,
    /// The scans' true classes: a manifest (path,class,…, as `pointlime manifest` writes) or a
    /// labelled directory (DIR/<class>/<file>), matched to each row by the end of its path. Adds
    /// a true-class column (wrong predictions in red) and the accuracy to the summary.
    #[arg(long, value_name = "DATASET")]
    truth: Option<PathBuf>,
    #[command(flatten)]
    page: PageArgs,
}

/// A 320 × 200 view of an explained file by `pointlime-view`, as PNG bytes.
fn thumbnail(file: &Path) -> std::result::Result<Vec<u8>, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("no temporary directory: {e}"))?;
    let png = dir.path().join("thumb.png");
    let program = crate::view::viewer_program();
    let run = std::process::Command::new(&program)
        .arg(file)
        .arg("--screenshot")
        .arg(&png)
        .args(["--width", "320", "--height", "200", "--no-overlay"])
        .output()
        .map_err(|e| {
            format!(
                "cannot run {} for a thumbnail ({e}): build the viewer, or leave out --thumbnails",
                program.display()
            )
        })?;
    if !run.status.success() {
        let stderr = String::from_utf8_lossy(&run.stderr);
        return Err(format!(
            "no thumbnail: {}",
            stderr.lines().last().unwrap_or("the viewer failed")
        ));
    }
    std::fs::read(&png).map_err(|e| format!("no thumbnail: {e}"))
}

/// What a written page holds, in one line.
pub fn describe(page: &Page, out: &Path, seconds: f64) -> String {
    let s = &page.stats;
    let mb = |b: usize| b as f64 / 1e6;
    let beside = if s.asset_bytes > 0 {
        format!(" + {:.1} MB beside it", mb(s.asset_bytes))
    } else {
        String::new()
    };
    let labelled = if s.labelled > 0 {
        format!(
            " ({} of {} labelled scans predicted right)",
            s.correct, s.labelled
        )
    } else {
        String::new()
    };
    format!(
        "wrote {} ({:.1} MB{beside}): {} rows{labelled}, {} 3D views with {} of {} points (at most \
         {} a scan), {} thumbnails; {:.1} s",
        out.display(),
        mb(s.page_bytes),
        s.rows,
        s.views,
        s.points_shown,
        s.points_total,
        s.points_per_view,
        s.thumbnails,
        seconds
    )
}

pub fn run(args: ReportArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let options = args.page.options()?;
    let out = args.out.unwrap_or_else(|| args.dir.join("report.html"));
    let make: html::Thumbnailer = &thumbnail;
    let truth = args
        .truth
        .as_deref()
        .map(pointlime::dataset::Dataset::open_any)
        .transpose()?;
    let page = html::batch(
        &args.dir,
        &out,
        &options,
        args.thumbnails.then_some(make),
        truth.as_ref(),
    )?;
    page.write(&out)?;
    outln!("{}", describe(&page, &out, started.elapsed().as_secs_f64()))?;
    Ok(ExitCode::SUCCESS)
}
