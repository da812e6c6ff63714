//! Writes a phone-LiDAR-like scene (pointlime::synthetic::phone_scene) of N points as LAS/LAZ, for
//! the large-scan measurements of the README: `cargo run --release --example make_phone_scan --
//! 1000000 phone-1m.laz`.

use pointlime::cloud::{FileFormat, PointCloud};
use pointlime::io::{self, WriteOptions};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(n), Some(out)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: make_phone_scan POINTS OUT.las|OUT.laz");
    };
    let n: usize = n.parse()?;
    let out = std::path::PathBuf::from(out);
    let format = io::format_of(&out)?;
    if !matches!(format, FileFormat::Las | FileFormat::Laz) {
        anyhow::bail!("{}: write .las or .laz", out.display());
    }
    let cloud = PointCloud::from_positions(pointlime::synthetic::phone_scene(n, 1), format);
    io::write(&out, &cloud, WriteOptions::default())?;
    println!("wrote {} ({n} points)", out.display());
    Ok(())
}
