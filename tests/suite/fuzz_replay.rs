//! Every input that once crashed, hung or exhausted memory in a fuzz target (`fuzz/regressions/`),
//! and every seed of `fuzz/run` (ours in `fuzz/seeds/`, the conformance corpora and DALES text
//! files read in place, the sample reports), run once through the very function each fuzz target
//! calls (`fuzz/src/lib.rs`, included here). This is `fuzz/run check` without the instrumented
//! rebuild: CI replays the model target this way, so its libFuzzer build needs no burn (#27).

use std::path::{Path, PathBuf};

#[path = "../../fuzz/src/lib.rs"]
mod targets;

use crate::real_data::data_dir;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    out.sort();
    out
}

/// The seeds `fuzz/run`'s `seed_dirs` links for `target`, from the same places.
fn seeds(target: &str, data: Option<&Path>) -> Vec<PathBuf> {
    let fuzz = repo().join("fuzz");
    let mut inputs = files_in(&fuzz.join("regressions").join(target));
    inputs.extend(files_in(&fuzz.join("seeds").join(target)));
    let has_ext = |p: &Path, exts: &[&str]| {
        p.extension()
            .is_some_and(|e| exts.iter().any(|x| e.eq_ignore_ascii_case(x)))
    };
    if let Some(data) = data {
        match target {
            "ply" => inputs.extend(
                files_in(&data.join("ply_conformance"))
                    .into_iter()
                    .filter(|p| has_ext(p, &["ply"])),
            ),
            "las" => inputs.extend(
                files_in(&data.join("las_conformance"))
                    .into_iter()
                    .filter(|p| has_ext(p, &["las", "laz"])),
            ),
            "xyz" => {
                inputs.extend(
                    files_in(&data.join("las_conformance"))
                        .into_iter()
                        .filter(|p| has_ext(p, &["txt"])),
                );
                let small = |p: &PathBuf| std::fs::metadata(p).is_ok_and(|m| m.len() < 64 << 10);
                inputs.extend(
                    files_in(&data.join("dales_objects"))
                        .into_iter()
                        .filter(|p| has_ext(p, &["xyz"]) && small(p))
                        .take(20),
                );
            }
            _ => {}
        }
    }
    if target == "report" {
        inputs.extend(
            files_in(&repo().join("data/samples"))
                .into_iter()
                .filter(|p| has_ext(p, &["json"])),
        );
    }
    // libFuzzer's -max_len of fuzz/run: the seeds it links are under 1 MiB.
    inputs.retain(|p| std::fs::metadata(p).is_ok_and(|m| m.len() < 1 << 20));
    inputs
}

#[test]
fn every_fuzz_regression_and_seed_runs_clean_through_its_target() {
    targets::tolerate_caught_decoder_panics();
    let data = data_dir();
    let mut counts = Vec::new();
    for (target, run) in targets::TARGETS {
        let inputs = seeds(target, data.as_deref());
        for input in &inputs {
            let bytes = std::fs::read(input).unwrap();
            // A panic (other than those pointlime catches inside las, laz, ply-rs and burn), or a
            // message that breaks the rule of `check_message`, fails here with the input named.
            let outcome = std::panic::catch_unwind(|| run(&bytes));
            assert!(
                outcome.is_ok(),
                "fuzz target {target}: {} panicked",
                input.display()
            );
        }
        counts.push(format!("{target} {}", inputs.len()));
    }
    let names: Vec<&str> = targets::TARGETS.iter().map(|(t, _)| *t).collect();
    assert_eq!(names, ["ply", "las", "xyz", "report", "resume", "model"]);
    // The recorded crashes must be found where this test looks, or it would pass on nothing.
    for target in ["ply", "las", "model"] {
        assert!(
            !files_in(&repo().join("fuzz/regressions").join(target)).is_empty(),
            "no regressions for {target}"
        );
    }
    eprintln!("replayed: {}", counts.join(", "));
}
