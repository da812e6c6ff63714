//! The front page and the topic pages under `docs/` (issue #28, item 7) link each other and the
//! repository's files: every relative link must name a file that exists, and every `#anchor` a
//! heading of the page it points into (GitHub's heading slugs).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == ' ' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(page: &Path) -> HashSet<String> {
    let text = std::fs::read_to_string(page).unwrap();
    let mut in_code = false;
    let mut out = HashSet::new();
    for line in text.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
        } else if !in_code && line.starts_with('#') {
            out.insert(slug(line.trim_start_matches('#')));
        }
    }
    out
}

/// `](target)` links of a markdown text, outside code blocks.
fn links(text: &str) -> Vec<String> {
    let mut in_code = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("](") {
            rest = &rest[i + 2..];
            if let Some(end) = rest.find(')') {
                out.push(rest[..end].to_string());
                rest = &rest[end..];
            }
        }
    }
    out
}

#[test]
fn every_link_of_the_readme_and_docs_resolves() {
    let mut pages: Vec<PathBuf> = vec![repo().join("README.md")];
    for e in std::fs::read_dir(repo().join("docs")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") {
            pages.push(p);
        }
    }
    assert!(pages.len() > 10, "the topic pages under docs/");
    let mut checked = 0;
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        for link in links(&text) {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = match link.split_once('#') {
                Some((f, a)) => (f, Some(a)),
                None => (link.as_str(), None),
            };
            let target = if file.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap().join(file)
            };
            assert!(
                target.exists(),
                "{}: the link {link:?} names a missing file",
                page.display()
            );
            if let Some(a) = anchor {
                assert!(
                    anchors(&target).contains(a),
                    "{}: the link {link:?} names no heading of {}",
                    page.display(),
                    target.display()
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 30, "{checked} links");
}

#[test]
fn the_readme_is_a_front_page() {
    let text = std::fs::read_to_string(repo().join("README.md")).unwrap();
    assert!(
        text.lines().count() <= 120,
        "README.md has {} lines",
        text.lines().count()
    );
    assert!(text.contains("cargo test --locked --workspace"));
}

/// Issue #28: the README's first command writes its outputs under names git ignores, so that a
/// fresh clone's first run leaves `git status` clean. The command is read from the README and the
/// names from the library's own naming; outside a git work tree there is nothing to check.
#[test]
fn the_first_command_writes_only_ignored_files() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let command = readme
        .lines()
        .find(|l| l.starts_with("cargo run") && l.contains(" explain "))
        .expect("the README's first command");
    let input = command.split_whitespace().last().unwrap();
    let out = pointlime::pipeline::default_output(Path::new(input));
    let report = pointlime::pipeline::default_report(&out);
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .current_dir(repo())
            .args(args)
            .output()
    };
    match git(&["rev-parse", "--is-inside-work-tree"]) {
        Ok(o) if o.status.success() => {}
        _ => return,
    }
    for path in [&out, &report] {
        let p = path.to_str().unwrap();
        let ignored = git(&["check-ignore", "-q", "--no-index", p]).unwrap();
        assert!(
            ignored.status.success(),
            "{p}, written by `{command}`, is not ignored by git"
        );
        let tracked = git(&["ls-files", "--error-unmatch", p]).unwrap();
        assert!(
            !tracked.status.success(),
            "{p} is tracked, and the first command rewrites it"
        );
    }
}
