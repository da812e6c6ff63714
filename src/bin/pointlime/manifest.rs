//! `pointlime manifest`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::Args;

use pointlime::dataset::{self, Dataset, Item, Split, Window, MIN_WINDOW_POINTS};
use pointlime::labels::LabelMap;

#[derive(Args, Debug)]
pub struct ManifestArgs {
    /// The DALES objects directory (NNN.xyz): its fixed split (numbers ending in 8 or 9 test).
    #[arg(long, conflicts_with_all = ["dir", "index", "tiles"])]
    dales: Option<PathBuf>,
    /// Large scans (LiDAR tiles) cut into square windows of --window metres, one manifest row
    /// each: a tile is one group and its windows never leave its split; the class column is the
    /// tile's directory name. Training tiles are cut into windows --stride apart (overlapping);
    /// test tiles (--test-match) into a partition, so that each point is scored once.
    #[arg(long, num_args = 1.., conflicts_with_all = ["dir", "index"], requires = "test_match")]
    tiles: Vec<PathBuf>,
    /// With --tiles: the windows' side, in file units (metres for LiDAR).
    #[arg(long, default_value_t = 16.0, value_name = "SIZE")]
    window: f64,
    /// With --tiles: how far apart training windows start [default: half of --window].
    #[arg(long, value_name = "STRIDE")]
    stride: Option<f64>,
    /// With --tiles: a tile whose file name contains this is in the test split (repeatable).
    #[arg(long, value_name = "TEXT")]
    test_match: Vec<String>,
    /// With --tiles: every window's per-point classes, FIELD:NAME=V|V;NAME=* (see `train
    /// --labels`), written in the labels column.
    #[arg(long, value_name = "MAP", requires = "tiles")]
    labels: Option<String>,
    /// A directory of scans described by --index; the split is made by group (--group-column).
    #[arg(long, requires = "index")]
    dir: Option<PathBuf>,
    /// The index CSV of --dir: a header line, then one row per scan.
    #[arg(long, requires = "dir")]
    index: Option<PathBuf>,
    /// The index column holding each scan's file, relative to --dir.
    #[arg(long, default_value = "file")]
    file_column: String,
    /// The index column holding each scan's class.
    #[arg(long, default_value = "class")]
    class_column: String,
    /// The index column naming the physical object each scan is of (a plant, a tree): no group
    /// is in both splits.
    #[arg(long, default_value = "group")]
    group_column: String,
    /// An index column whose every value keeps at least one training group in each class (for
    /// example condition: no growing condition of a species is seen in test only).
    #[arg(long, requires = "index")]
    cover_column: Option<String>,
    /// Share of each class's groups that go to the test split (at least one group per class
    /// with two or more).
    #[arg(long, default_value_t = 0.2)]
    test_fraction: f64,
    /// Seed of the group split: the same seed gives the same split.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Each scan's per-point classes, for training a segmentation network: a label map
    /// (FIELD:NAME=V;NAME=*, see `train --labels`) whose {COLUMN} parts are filled from the
    /// scan's row of --index (column_3:stem={stem_label};other=*), written in a labels column.
    #[arg(long, requires = "index", value_name = "TEMPLATE")]
    labels_template: Option<String>,
    /// Where to write the CSV; paths in it are relative to its directory.
    #[arg(long)]
    out: PathBuf,
}

/// The windows of every tile, as a dataset: see `--tiles`.
fn tiles(args: &ManifestArgs) -> Result<Dataset> {
    let stride = args.stride.unwrap_or(args.window / 2.0);
    if !(args.window > 0.0 && args.window.is_finite() && stride > 0.0 && stride.is_finite()) {
        bail!(
            "--window and --stride must be positive, got {} and {stride}",
            args.window
        );
    }
    if let Some(Err(e)) = args.labels.as_deref().map(str::parse::<LabelMap>) {
        bail!("--labels: {e}");
    }
    let mut ds = Dataset {
        class_names: Vec::new(),
        items: Vec::new(),
    };
    for path in &args.tiles {
        let cloud = pointlime::io::read(path)?;
        let Some((min, max)) = cloud.bounds() else {
            bail!("{}: no points", path.display());
        };
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let test = args.test_match.iter().any(|m| name.contains(m.as_str()));
        let class_name = path
            .parent()
            .and_then(|p| p.file_name())
            .map_or_else(|| "tiles".to_string(), |d| d.to_string_lossy().into_owned());
        let class = ds.class_index(&class_name);
        let step = if test { f64::INFINITY } else { stride };
        for window in Window::tiles([min[0], min[1]], [max[0], max[1]], args.window, step) {
            let points = cloud
                .positions
                .iter()
                .filter(|p| window.contains(p))
                .count();
            if points < MIN_WINDOW_POINTS {
                continue;
            }
            ds.items.push(Item {
                path: path.clone(),
                class,
                split: if test { Split::Test } else { Split::Train },
                group: Some(
                    path.file_stem()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .into_owned(),
                ),
                labels: args.labels.clone(),
                window: Some(window),
            });
        }
    }
    if !ds.items.iter().any(|i| i.split == Split::Test) {
        bail!(
            "no tile's file name contains {}: the test split would be empty",
            args.test_match.join(" or ")
        );
    }
    Ok(ds)
}

pub fn run(args: ManifestArgs) -> Result<ExitCode> {
    let ds = match (&args.dales, &args.dir, &args.index) {
        (Some(dales), _, _) => dataset::dales(dales)?,
        _ if !args.tiles.is_empty() => tiles(&args)?,
        (None, Some(dir), Some(index)) => {
            if !(args.test_fraction > 0.0 && args.test_fraction < 1.0) {
                bail!(
                    "--test-fraction must be in (0, 1), got {}",
                    args.test_fraction
                );
            }
            let mut ds = Dataset::from_index(
                dir,
                index,
                &args.file_column,
                &args.class_column,
                &args.group_column,
            )?;
            let cover = match &args.cover_column {
                Some(c) => Some(Dataset::index_column(index, c)?),
                None => None,
            };
            ds.split_by_group(args.test_fraction, args.seed, cover.as_deref());
            if let Some(t) = &args.labels_template {
                let filled = dataset::fill_template(t, index)?;
                for (item, labels) in ds.items.iter_mut().zip(filled) {
                    if let Err(e) = labels.parse::<pointlime::labels::LabelMap>() {
                        bail!("{}: {e}", index.display());
                    }
                    item.labels = Some(labels);
                }
            }
            ds
        }
        _ => bail!("give --dales DIR, --dir DIR with --index FILE, or --tiles FILE…"),
    };
    ds.write_manifest(&args.out)?;
    outln!("wrote {} ({} scans)", args.out.display(), ds.items.len())?;
    if ds.items.iter().any(|i| i.group.is_some()) {
        outln!("class: train groups/scans, test groups/scans")?;
        for (class, tg, ts, eg, es) in ds.split_counts() {
            outln!("  {class}: {tg}/{ts}, {eg}/{es}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
