//! `pointlime manifest`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::Args;

use pointlime::dataset::{self, Dataset};

#[derive(Args, Debug)]
pub struct ManifestArgs {
    /// The DALES objects directory (NNN.xyz): its fixed split (numbers ending in 8 or 9 test).
    #[arg(long, conflicts_with_all = ["dir", "index"])]
    dales: Option<PathBuf>,
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

pub fn run(args: ManifestArgs) -> Result<ExitCode> {
    let ds = match (&args.dales, &args.dir, &args.index) {
        (Some(dales), _, _) => dataset::dales(dales)?,
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
        _ => bail!("give --dales DIR, or --dir DIR with --index FILE"),
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
