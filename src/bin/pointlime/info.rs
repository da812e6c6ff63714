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
}

pub fn run(args: InfoArgs) -> Result<ExitCode> {
    let input = &args.input;
    let cloud = io::read(input)?;
    println!("file:       {}", input.display());
    println!("format:     {}", cloud.source.detail);
    println!("points:     {}", cloud.len());
    if let Some((lo, hi)) = cloud.bounds() {
        println!("bounds min: {:.3} {:.3} {:.3}", lo[0], lo[1], lo[2]);
        println!("bounds max: {:.3} {:.3} {:.3}", hi[0], hi[1], hi[2]);
    }
    let bad = cloud.invalid_points().len();
    if bad > 0 {
        println!("invalid:    {bad} points with NaN or infinite coordinates");
    }
    if let Some(las) = &cloud.source.las {
        println!("scale:      {:?}", las.scale);
        println!("offset:     {:?}", las.offset);
    }
    println!("attributes: {}", cloud.attributes.len());
    for a in &cloud.attributes {
        let (lo, hi) = a
            .values
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| {
                (l.min(v), h.max(v))
            });
        println!(
            "  {:<24} {:<4} min {lo} max {hi}",
            a.name,
            format!("{:?}", a.kind).to_lowercase()
        );
    }
    Ok(ExitCode::SUCCESS)
}
