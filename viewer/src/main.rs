//! `pointlime-view`: look at an explanation. Reads the PLY/LAS/LAZ and JSON report that
//! `pointlime explain` (or `batch`) wrote and computes no explanation itself.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Parser;

use pointlime_viewer::render;
use pointlime_viewer::scene::{Mode, Style};

/// Interactive 3D viewer for pointlime explanations; with --screenshot, renders one image with no
/// window and exits.
#[derive(Parser, Debug)]
#[command(name = "pointlime-view", version, about, after_help = KEYS)]
struct Cli {
    /// An explained scan (.ply, .las, .laz) written by `pointlime explain` or `batch`, or the
    /// atlas.csv of `pointlime atlas` with --row.
    file: PathBuf,
    /// With an atlas.csv as FILE: the row (from 0) whose explained scan to open.
    #[arg(long)]
    row: Option<usize>,
    /// The JSON report [default: FILE with .json beside it, or batch's NAME.json].
    #[arg(long)]
    report: Option<PathBuf>,
    /// Render one frame off-screen to this PNG and exit (no window, no display needed).
    #[arg(long)]
    screenshot: Option<PathBuf>,
    /// Image or window width in pixels.
    #[arg(long, default_value_t = 1280, value_parser = clap::value_parser!(u32).range(16..=8192))]
    width: u32,
    /// Image or window height in pixels.
    #[arg(long, default_value_t = 800, value_parser = clap::value_parser!(u32).range(16..=8192))]
    height: u32,
    /// Colour mode: signed, absolute, segments, rgb, intensity, classification, predicted (a
    /// per-point model's classes), top-k, threshold, point-values or sets (the sufficient sets of
    /// --method sag).
    #[arg(long, default_value = "signed")]
    mode: Mode,
    /// Explained class to show, by name or by position in the report (0 = the first explained).
    #[arg(long)]
    class: Option<String>,
    /// Segments shown in top-k mode.
    #[arg(long, default_value_t = 5)]
    top_k: usize,
    /// Fraction of the largest |importance| shown in threshold mode.
    #[arg(long, default_value_t = 0.5)]
    threshold: f32,
    /// Sufficient set shown in sets mode, from 1.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    set: u64,
    /// Level shown: 0 the supervoxels, 1.. the report's coarser levels (--coarser-levels).
    #[arg(long, default_value_t = 0)]
    level: usize,
    /// Point size in pixels.
    #[arg(long, default_value_t = 4.0)]
    point_size: f32,
    /// Background: dark, white or black.
    #[arg(long, default_value = "dark")]
    background: String,
    /// Leave out the overlay (heading, colour scale and help) in screenshots.
    #[arg(long)]
    no_overlay: bool,
    /// Points drawn per frame while the camera moves (an even subsample; all once it stops).
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    moving_points: u64,
    /// Render this many off-screen frames and print their times (ms), instead of opening a window.
    #[arg(long, value_name = "FRAMES", value_parser = clap::value_parser!(u64).range(1..))]
    bench_frames: Option<u64>,
}

const KEYS: &str = "Keys in the window:
  M / 1-9    next colour mode / mode by number (in --mode's order)
  C / V      next / previous explained class
  G          next sufficient set (sets mode, --method sag);  L  next level (--coarser-levels)
  N / P      pick next / previous segment by importance; Ctrl+click picks under the cursor; X clears
  [ / ]      fewer / more top-k segments, or lower / raise the threshold
  + / -      larger / smaller points;  B background;  R refit the camera
  S          screenshot (FILE's stem + .view-N.png, beside FILE);  H help;  Esc / Q quit
  mouse      drag: rotate; right-drag: pan; wheel: zoom";

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            eprintln!("error: {}", chain.join(": ").replace('\n', " "));
            ExitCode::from(2)
        }
    }
}

fn run(mut cli: Cli) -> Result<()> {
    let atlas = cli
        .file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    match (atlas, cli.row) {
        (true, Some(row)) => cli.file = pointlime::atlas::explained_scan(&cli.file, row)?,
        (true, None) => bail!(
            "{}: an atlas CSV needs --row N to say which scan to open",
            cli.file.display()
        ),
        (false, Some(_)) => bail!(
            "{}: --row picks a row of an atlas.csv, and this is not one",
            cli.file.display()
        ),
        (false, None) => {}
    }
    let data = pointlime::view::load(&cli.file, cli.report.as_deref())?;
    let class = match &cli.class {
        None => 0,
        Some(c) => match data
            .classes
            .iter()
            .position(|k| k.name.eq_ignore_ascii_case(c))
        {
            Some(i) => i,
            None => match c.parse::<usize>() {
                Ok(i) if i < data.classes.len() => i,
                _ => {
                    let names: Vec<&str> = data.classes.iter().map(|k| k.name.as_str()).collect();
                    bail!(
                        "{}: no explained class {c:?}; the file explains {}",
                        cli.file.display(),
                        names.join(", ")
                    )
                }
            },
        },
    };
    if !cli.mode.available(&data, class) {
        bail!(
            "{}: the file has no data for mode {}",
            cli.file.display(),
            cli.mode.name()
        );
    }
    let levels = pointlime_viewer::scene::level_count(&data);
    if cli.level > levels {
        bail!(
            "{}: --level {} but the report has {levels} coarser levels",
            cli.file.display(),
            cli.level
        );
    }
    if !(0.0..=1.0).contains(&cli.threshold) {
        bail!("--threshold must be in [0, 1], got {}", cli.threshold);
    }
    if !(cli.point_size > 0.0 && cli.point_size <= 64.0) {
        bail!("--point-size must be in (0, 64], got {}", cli.point_size);
    }
    let background = render::BACKGROUNDS
        .iter()
        .position(|(name, _)| *name == cli.background)
        .with_context(|| {
            format!(
                "unknown background {:?}: dark, white or black",
                cli.background
            )
        })?;
    let style = Style {
        mode: cli.mode,
        class,
        top_k: cli.top_k.max(1),
        threshold: cli.threshold,
        selected: None,
        set: cli.set as usize - 1,
        level: cli.level,
    };
    let mut view = render::View::new(data, style, cli.point_size, background);
    view.overlay = !cli.no_overlay;
    view.moving_budget = cli.moving_points as usize;
    if let Some(out) = &cli.screenshot {
        view.show_help = false;
        render::block_on(render::screenshot(&view, out, cli.width, cli.height))?;
        println!("wrote {}", out.display());
        return Ok(());
    }
    if let Some(frames) = cli.bench_frames {
        let n = view.data.positions.len();
        // Full detail, and the subsample drawn while the camera moves when that is smaller.
        let moving = pointlime_viewer::camera::stride(n, view.moving_budget);
        let strides = if moving > 1 { vec![1, moving] } else { vec![1] };
        let runs = render::block_on(render::bench(
            &view,
            cli.width,
            cli.height,
            frames as usize,
            &strides,
        ))?;
        for (stride, times) in strides.into_iter().zip(runs) {
            let median = |mut v: Vec<f64>| {
                v.sort_by(f64::total_cmp);
                v[v.len() / 2]
            };
            let queue = median(times.iter().map(|t| t.0).collect());
            let frame: Vec<f64> = times.iter().map(|t| t.1).collect();
            let (min, max) = frame
                .iter()
                .fold((f64::INFINITY, 0.0f64), |(l, h), &t| (l.min(t), h.max(t)));
            let m = median(frame.clone());
            println!(
                "{} of {n} points drawn, {}x{}, {} frames: median frame {m:.1} ms ({:.1} fps; min {min:.1}, max {max:.1}), of which queueing points {queue:.1} ms",
                n.div_ceil(stride),
                cli.width,
                cli.height,
                frame.len(),
                1e3 / m,
            );
        }
        return Ok(());
    }
    let dir = match cli.file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    render::block_on(render::interactive(view, cli.width, cli.height, dir))
}
