//! The library's floors (issue #28): every top-level module sits on one layer and imports only from
//! layers below it, and no file imports, through any chain, a file that imports it back. One crate
//! keeps one compilation unit and one public path for every type (`pointlime::explain::Method`, …)
//! that the binary, the viewer, the tests and users' code name; this check gives it what the
//! compiler gives a workspace of crates, an acyclic graph, and more: an import may not even go
//! sideways within a layer. It reads `crate::` and `super::` paths outside comments and test
//! modules, as text: an import the compiler resolves but this reading misses (a macro building a
//! path) is not caught.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first, and what each owns. A module may import from the layers below its
/// own only. A new module fails the test until it is placed here.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "foundations: errors, small statistics, linear algebra, masks, dense layers",
        &["error", "stats", "linalg", "synthetic", "perturb", "dense"],
    ),
    ("the point cloud and its segments", &["cloud", "segment"]),
    (
        "scans read and prepared",
        &["io", "channels", "labels", "sampling", "scene", "augment"],
    ),
    (
        "the training domain's statistics (its shape reads the ground as scene steps find it)",
        &["domain"],
    ),
    (
        "the classifier interface, labelled datasets, the colours of values and classes",
        &["classifier", "dataset", "colour"],
    ),
    (
        "explainers, the ONNX runtime, dataset maps",
        &["explain", "onnx", "atlas"],
    ),
    (
        "one scan end to end; the burn models",
        &["pipeline", "model"],
    ),
    (
        "evaluation: faithfulness, competence fitting and its measurement as an \
         out-of-distribution detector; any model opened by path; an explained scan read back",
        &["faithfulness", "competence", "ood", "models", "view"],
    ),
    ("directories of scans", &["batch"]),
    ("pages to share: the HTML report", &["html"]),
];

/// The module (first path component below `src`) and the file's module path.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// The file that holds module `path`, or `None` when no file does.
fn file_of(src: &Path, path: &[String]) -> Option<PathBuf> {
    let base = path.iter().fold(src.to_path_buf(), |p, s| p.join(s));
    [base.with_extension("rs"), base.join("mod.rs")]
        .into_iter()
        .find(|f| f.is_file())
}

/// The deepest file holding a prefix of `path` (a type's path ends in the file that defines or
/// re-exports it).
fn resolve(src: &Path, path: &[String]) -> Option<PathBuf> {
    (1..=path.len())
        .rev()
        .find_map(|n| file_of(src, &path[..n]))
}

/// The code of a file as the check reads it: no test module, no comments.
fn code(text: &str) -> String {
    let text = text
        .find("#[cfg(test)]\nmod tests")
        .map_or(text, |i| &text[..i]);
    text.lines()
        .map(|l| l.find("//").map_or(l, |i| &l[..i]))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every path the code names after `crate::` or `super::`, with `{…}` groups expanded one level,
/// as module paths from the crate root.
fn imports(code: &str, here: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (start, root) in [
        ("crate::", Vec::new()),
        ("super::", here[..here.len().saturating_sub(1)].to_vec()),
    ] {
        let mut rest = code;
        while let Some(i) = rest.find(start) {
            let before = rest[..i].chars().next_back();
            rest = &rest[i + start.len()..];
            // `pointlime_crate::`, `self.super::` and the like are no paths of this crate.
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let (head, tail) = segments(rest);
            let mut base = root.clone();
            base.extend(head);
            if let Some(group) = tail.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                for item in group[..end].split(',') {
                    let mut p = base.clone();
                    p.extend(segments(item.trim()).0);
                    out.push(p);
                }
            } else {
                out.push(base);
            }
        }
    }
    out
}

/// The lowercase path segments at the start of `s` (modules, not types), and what follows them.
fn segments(mut s: &str) -> (Vec<String>, &str) {
    let mut out = Vec::new();
    loop {
        let n = s
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(s.len());
        if n == 0 || s[..n] == *"self" {
            return (out, s);
        }
        out.push(s[..n].to_string());
        match s[n..].strip_prefix("::") {
            Some(r) => s = r,
            None => return (out, &s[n..]),
        }
    }
}

/// What the check finds wrong in the crate at `src`: circles between files, imports that are not
/// downward between layers, and modules on no layer. One line each.
fn problems(src: &Path, layers: &[(&str, &[&str])]) -> Vec<String> {
    let layer_of: BTreeMap<&str, usize> = layers
        .iter()
        .enumerate()
        .flat_map(|(i, (_, ms))| ms.iter().map(move |m| (*m, i)))
        .collect();
    let mut files = Vec::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() && p.file_name().unwrap() != "bin" {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs")
                && !(p.parent() == Some(src) && (p.ends_with("lib.rs") || p.ends_with("main.rs")))
            {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut found = Vec::new();
    let mut graph: BTreeMap<PathBuf, BTreeSet<PathBuf>> = BTreeMap::new();
    let mut placed = BTreeSet::new();
    for file in &files {
        let here = module_path(src, file);
        let module = here[0].as_str();
        let Some(&mine) = layer_of.get(module) else {
            if placed.insert(module.to_string()) {
                found.push(format!(
                    "module `{module}` is on no layer: place it in tests/suite/layers.rs's LAYERS"
                ));
            }
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for path in imports(&code(&text), &here) {
            let Some(to) = resolve(src, &path) else {
                continue;
            };
            if &to != file {
                graph.entry(file.clone()).or_default().insert(to.clone());
            }
            let theirs = &path[0];
            if theirs == module {
                continue;
            }
            match layer_of.get(theirs.as_str()) {
                Some(&l) if l < mine => {}
                Some(&l) => found.push(format!(
                    "{} imports crate::{} from {} layer ({}), not a lower one",
                    file.display(),
                    path.join("::"),
                    if l == mine { "its own" } else { "a higher" },
                    layers[l].0
                )),
                None => {}
            }
        }
    }
    // A file that reaches itself through its imports is on a circle.
    let mut on_circle = BTreeSet::new();
    for start in graph.keys() {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<&PathBuf> = graph[start].iter().collect();
        while let Some(f) = todo.pop() {
            if f == start {
                on_circle.insert(start.clone());
                break;
            }
            if seen.insert(f) {
                todo.extend(graph.get(f).into_iter().flatten());
            }
        }
    }
    if !on_circle.is_empty() {
        let names: Vec<String> = on_circle.iter().map(|f| f.display().to_string()).collect();
        found.push(format!("import circle through {}", names.join(", ")));
    }
    found
}

#[test]
fn the_library_imports_only_downward_and_has_no_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = problems(&src, LAYERS);
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn a_circle_an_upward_import_and_an_unplaced_module_are_found() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir(src.join("low")).unwrap();
    let write = |p: &str, t: &str| std::fs::write(src.join(p), t).unwrap();
    write("lib.rs", "pub mod low; pub mod high; pub mod stray;");
    write("low/mod.rs", "pub mod a;\npub mod b;\n");
    write(
        "low/a.rs",
        "use super::b::B;\n// crate::high in a comment is no import\n",
    );
    write("low/b.rs", "use super::a::A;\n");
    write("high.rs", "use crate::low::{a::A, b};\n");
    write("stray.rs", "");
    let layers: &[(&str, &[&str])] = &[("low", &["low"]), ("high", &["high"])];
    let found = problems(src, layers);
    assert!(
        found.iter().all(|f| !f.contains("high.rs imports")),
        "{found:?}"
    );
    assert!(
        found.iter().any(|f| f.contains("module `stray`")),
        "{found:?}"
    );
    let circle = found
        .iter()
        .find(|f| f.starts_with("import circle"))
        .expect("a circle");
    assert!(circle.contains("a.rs") && circle.contains("b.rs") && !circle.contains("high"));

    write("low/a.rs", "use crate::high::H;\n");
    let found = problems(src, layers);
    assert!(
        found
            .iter()
            .any(|f| f.contains("a.rs imports crate::high from a higher layer")),
        "{found:?}"
    );
}
