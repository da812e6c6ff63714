//! `pointlime manifest`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use pointlime::dataset;

#[derive(Args, Debug)]
pub struct ManifestArgs {
    /// The DALES objects directory (NNN.xyz).
    #[arg(long)]
    dales: PathBuf,
    /// Where to write the CSV; paths in it are relative to its directory.
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: ManifestArgs) -> Result<ExitCode> {
    let ds = dataset::dales(&args.dales)?;
    ds.write_manifest(&args.out)?;
    outln!("wrote {} ({} objects)", args.out.display(), ds.items.len())?;
    Ok(ExitCode::SUCCESS)
}
