//! Where a scan's outputs go by default.

use std::path::{Path, PathBuf};

use crate::cloud::FileFormat;
use crate::io;

/// The extension an explained copy of `input` is written with: LAS and LAZ keep theirs, every
/// other format (PLY, and text, which cannot hold the new fields) becomes PLY.
pub fn explained_extension(input: &Path) -> &'static str {
    match io::format_of(input) {
        Ok(FileFormat::Las) => "las",
        Ok(FileFormat::Laz) => "laz",
        _ => "ply",
    }
}

/// Where `pointlime explain` writes the explained scan by default: beside the input, as
/// `STEM.explained.EXT` ([`explained_extension`]).
pub fn default_output(input: &Path) -> PathBuf {
    let stem = input.file_stem().unwrap_or_default().to_string_lossy();
    input.with_file_name(format!("{stem}.explained.{}", explained_extension(input)))
}

/// Where the report of an explained scan goes by default: beside it, with `.json`.
pub fn default_report(output: &Path) -> PathBuf {
    output.with_extension("json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_are_named_beside_the_input_keeping_las_and_laz() {
        assert_eq!(
            default_output(Path::new("d/scan.laz")),
            Path::new("d/scan.explained.laz")
        );
        assert_eq!(
            default_output(Path::new("scan.LAS")),
            Path::new("scan.explained.las")
        );
        assert_eq!(
            default_output(Path::new("d/tree.xyz")),
            Path::new("d/tree.explained.ply")
        );
        assert_eq!(explained_extension(Path::new("x.pts")), "ply");
        assert_eq!(
            default_report(Path::new("d/scan.explained.laz")),
            Path::new("d/scan.explained.json")
        );
    }
}
