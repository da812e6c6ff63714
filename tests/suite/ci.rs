//! `.ci/budget.sh`, the guard that keeps `.ci/run` inside its time budget (issue #27): a line per
//! step, a warning past the budget, a failure with a clear message past the limit, and the
//! step's own failure passed on. The limits are lowered through the environment, as they may be.

use std::path::Path;
use std::process::{Command, Output};

/// Runs `steps` (bash, after sourcing the guard) with the given limits in seconds.
fn guarded(steps: &str, warn_s: u32, fail_s: u32) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/budget.sh");
    Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -euo pipefail; source {}; trap budget_summary EXIT; {steps}",
            script.display()
        ))
        .env("POINTLIME_CI_WARN_S", warn_s.to_string())
        .env("POINTLIME_CI_FAIL_S", fail_s.to_string())
        .output()
        .unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn each_step_is_timed_and_a_run_inside_the_budget_passes() {
    let o = guarded("step first true; step second true", 60, 120);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    // Whole seconds: a step may straddle one, so the numbers are not compared.
    for name in ["first", "second"] {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!(".ci/timings {name} ")))
            .unwrap_or_else(|| panic!("no timing line for {name}: {out}"));
        assert!(
            line.ends_with(" s)") && line.contains(" s (total "),
            "{line}"
        );
    }
    assert!(out.contains(".ci/timings summary (seconds):"), "{out}");
    assert!(err.is_empty(), "{err}");
}

#[test]
fn past_the_budget_it_warns_and_past_the_limit_it_fails() {
    let o = guarded("step slow sleep 2; step after true", 1, 60);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert!(err.contains("s so far, past the budget of 1 s"), "{err}");

    let o = guarded("step slow sleep 2; step never-reached true", 1, 1);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(
        err.contains("the CI budget is spent: ") && err.contains("s so far, past the limit of 1 s"),
        "{err}"
    );
    assert!(!out.contains("never-reached"), "{out}");
}

#[test]
fn a_failing_step_fails_the_run_with_its_own_status() {
    let o = guarded(
        "step broken bash -c 'exit 7'; step never-reached true",
        60,
        120,
    );
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(7), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with(".ci/timings broken ") && l.ends_with(", failed with 7")),
        "{out}"
    );
    assert!(!out.contains("never-reached"), "{out}");
}
