//! `pointlime view`: forwards to the viewer binary.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;

#[derive(Args, Debug)]
pub struct ViewArgs {
    /// Arguments for `pointlime-view`: FILE [--report R] [--screenshot OUT.png] …
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    args: Vec<std::ffi::OsString>,
}

/// `pointlime-view` from beside this executable (a workspace build puts both in one directory),
/// else from the PATH.
pub fn viewer_program() -> PathBuf {
    let name = format!("pointlime-view{}", std::env::consts::EXE_SUFFIX);
    let beside = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join(&name)))
        .filter(|p| p.is_file());
    beside.unwrap_or_else(|| PathBuf::from(&name))
}

/// Runs `pointlime-view` from beside this executable (a workspace build puts both in one
/// directory), else from the PATH, and passes its exit code on.
pub fn run(args: ViewArgs) -> Result<ExitCode> {
    let program = viewer_program();
    let status = std::process::Command::new(&program)
        .args(&args.args)
        .status()
        .with_context(|| {
            format!(
                "cannot run {}: build the viewer with `cargo build --release -p pointlime-viewer`",
                program.display()
            )
        })?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(c) => ExitCode::from(c.clamp(1, 255) as u8),
        None => ExitCode::from(2),
    })
}
