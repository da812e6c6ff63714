//! `pointlime info`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use pointlime::io;

#[derive(Args, Debug)]
pub struct InfoArgs {
    /// A .ply, .las, .laz, .xyz, .txt or .pts file.
    input: PathBuf,
    #[command(flatten)]
    read: crate::args::ReadArgs,
}

pub fn run(args: InfoArgs) -> Result<ExitCode> {
    let input = &args.input;
    let cloud = io::read_with(input, args.read.options())?;
    outln!("file:       {}", input.display())?;
    outln!("format:     {}", cloud.source.detail)?;
    outln!("points:     {}", cloud.len())?;
    if let Some((lo, hi)) = cloud.bounds() {
        outln!("bounds min: {:.3} {:.3} {:.3}", lo[0], lo[1], lo[2])?;
        outln!("bounds max: {:.3} {:.3} {:.3}", hi[0], hi[1], hi[2])?;
    }
    let bad = cloud.invalid_points().len();
    if bad > 0 {
        outln!("invalid:    {bad} points with NaN or infinite coordinates")?;
    }
    if let Some(las) = &cloud.source.las {
        outln!("scale:      {:?}", las.scale)?;
        outln!("offset:     {:?}", las.offset)?;
    }
    outln!("attributes: {}", cloud.attributes.len())?;
    for a in &cloud.attributes {
        let (lo, hi) = a
            .values
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| {
                (l.min(v), h.max(v))
            });
        outln!(
            "  {:<24} {:<4} min {lo} max {hi}",
            a.name,
            format!("{:?}", a.kind).to_lowercase()
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
