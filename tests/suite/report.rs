//! `pointlime report DIR --html` and `explain --html`, opened in a real headless Chromium: the page
//! loads without a console message, its table holds every row of `summary.csv`, a scan's 3D view
//! is red where the importances are positive and blue where they are negative, and switching the
//! class switches the colours. The same with the views as files beside the page (`--assets`).
//!
//! Needs Debian's `chromium` (or POINTLIME_CHROMIUM naming a binary): without one the browser tests
//! skip with a note, unless POINTLIME_REQUIRE_BROWSER=1 (as `.ci/run` sets), which fails them.

use std::path::{Path, PathBuf};

use pointlime::cloud::{FileFormat, PointCloud};

use crate::common::{bin, tempdir, tiny_model};

fn chromium() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("POINTLIME_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .map(|name| Path::new("/usr/bin").join(name))
        .find(|p| p.is_file())
}

fn browser() -> Option<PathBuf> {
    let found = chromium();
    if found.is_none() {
        assert!(
            std::env::var("POINTLIME_REQUIRE_BROWSER").as_deref() != Ok("1"),
            "no chromium found and POINTLIME_REQUIRE_BROWSER=1: install Debian's chromium"
        );
        eprintln!("skipped: no chromium here (set POINTLIME_REQUIRE_BROWSER=1 to fail)");
    }
    found
}

/// Headless Chromium on `url` with its own profile; software WebGL (SwiftShader), as a machine
/// without a GPU has it. Returns stdout and the console lines of stderr.
fn run_chromium(chrome: &Path, url: &str, what: &[&str]) -> (String, Vec<String>) {
    let profile = tempdir();
    let out = std::process::Command::new(chrome)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu-sandbox",
            "--use-angle=swiftshader",
            "--enable-unsafe-swiftshader",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1000,700",
            "--hide-scrollbars",
            "--virtual-time-budget=10000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(what)
        .arg(url)
        .output()
        .expect("chromium runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "chromium failed: {stderr}");
    let console = stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    (String::from_utf8_lossy(&out.stdout).into_owned(), console)
}

fn url(page: &Path, hash: &str) -> String {
    format!("file://{}{hash}", page.canonicalize().unwrap().display())
}

/// The DOM after load, asserting that the page finished and had no error and no console output.
fn dom(chrome: &Path, page: &Path, hash: &str) -> String {
    let (dom, console) = run_chromium(chrome, &url(page, hash), &["--dump-dom"]);
    assert!(console.is_empty(), "console output: {console:#?}");
    assert!(
        dom.contains("data-ready=\"1\""),
        "page did not finish: {dom:.2000}"
    );
    assert!(!dom.contains("data-errors"), "page errors: {dom:.4000}");
    dom
}

/// Mean colour of the drawn (not background) pixels of a screenshot's left and right thirds, in
/// the band between the panel above and the legend below.
fn halves(chrome: &Path, page: &Path, hash: &str) -> ([f64; 3], [f64; 3]) {
    let dir = tempdir();
    let shot = dir.path().join("shot.png");
    let (_, console) = run_chromium(
        chrome,
        &url(page, hash),
        &[&format!("--screenshot={}", shot.display())],
    );
    assert!(console.is_empty(), "console output: {console:#?}");
    let img = image::open(&shot).unwrap().to_rgb8();
    let (w, h) = img.dimensions();
    let background = [0x20u8; 3];
    let mean = |x0: u32, x1: u32| {
        let mut sum = [0.0f64; 3];
        let mut n = 0.0;
        for y in h * 3 / 10..h * 7 / 10 {
            for x in x0..x1 {
                let p = img.get_pixel(x, y).0;
                if p.iter().zip(&background).all(|(a, b)| a.abs_diff(*b) < 8) {
                    continue;
                }
                for a in 0..3 {
                    sum[a] += p[a] as f64 / 255.0;
                }
                n += 1.0;
            }
        }
        assert!(
            n > 200.0,
            "only {n} drawn pixels in x {x0}..{x1} of {shot:?}"
        );
        sum.map(|s| s / n)
    };
    (mean(w / 10, w * 4 / 10), mean(w * 6 / 10, w * 9 / 10))
}

fn red(c: [f64; 3]) -> bool {
    c[0] > c[2] + 0.2 && c[0] > c[1] + 0.1
}

fn blue(c: [f64; 3]) -> bool {
    c[2] > c[0] + 0.1
}

/// Two blobs 8 m apart along x, each 1,000 points.
fn blobs_scan(path: &Path) {
    let mut positions = Vec::new();
    for cx in [-4.0, 4.0] {
        for i in 0..10 {
            for j in 0..10 {
                for k in 0..10 {
                    let d = |v: i32| (v as f64 - 4.5) * 0.15;
                    positions.push([100.0 + cx + d(i), 200.0 + d(k), 10.0 + d(j)]);
                }
            }
        }
    }
    let cloud = PointCloud::from_positions(positions, FileFormat::Ply);
    pointlime::io::write(path, &cloud, Default::default()).unwrap();
}

/// Sets the explained scan's first class to +1 on the left blob and −1 on the right, and the
/// second class the other way round: where the colours must be is then known.
fn known_importances(explained: &Path) -> String {
    let mut cloud = pointlime::io::read(explained).unwrap();
    let left: Vec<bool> = cloud.positions.iter().map(|p| p[0] < 100.0).collect();
    let second = cloud
        .attributes
        .iter()
        .map(|a| a.name.clone())
        .find(|n| n.starts_with("importance_"))
        .expect("a second explained class");
    for a in &mut cloud.attributes {
        let sign = if a.name == "importance" {
            1.0
        } else if a.name == second {
            -1.0
        } else {
            continue;
        };
        a.values = left.iter().map(|&l| if l { sign } else { -sign }).collect();
    }
    pointlime::io::write(explained, &cloud, Default::default()).unwrap();
    second
}

/// A batch output with one explained scan of known importances, a failed file and a skipped
/// one; returns the output directory.
fn batch_output(root: &Path) -> PathBuf {
    let (input, out, model) = (root.join("in"), root.join("out"), root.join("model"));
    std::fs::create_dir_all(&input).unwrap();
    tiny_model(&model);
    blobs_scan(&input.join("blobs.ply"));
    std::fs::write(input.join("broken.ply"), "ply\nformat nonsense\n").unwrap();
    std::fs::write(input.join("notes.md"), "not a scan").unwrap();
    let run = bin()
        .arg("batch")
        .arg(&input)
        .arg("--model")
        .arg(&model)
        .arg("--out")
        .arg(&out)
        .args(["--samples", "40", "--top-labels", "2", "--segments", "8"])
        .output()
        .unwrap();
    // The broken file fails the run (exit code 1), after every file is done.
    assert_eq!(
        run.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    known_importances(&out.join("blobs.ply.explained.ply"));
    out
}

fn report(dir: &Path, page: &Path, extra: &[&str]) -> String {
    let run = bin()
        .arg("report")
        .arg(dir)
        .arg("--html")
        .arg("--out")
        .arg(page)
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    String::from_utf8_lossy(&run.stdout).into_owned()
}

/// Row numbers of the table in the DOM, and the paths of summary.csv.
fn table_rows(dom: &str) -> usize {
    dom.matches(" data-row=\"").count()
}

fn summary_paths(dir: &Path) -> Vec<String> {
    let mut r = csv::Reader::from_path(dir.join("summary.csv")).unwrap();
    let column = r
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "path")
        .unwrap();
    r.records()
        .map(|row| row.unwrap()[column].to_string())
        .collect()
}

fn check_page(chrome: &Path, dir: &Path, page: &Path) {
    let paths = summary_paths(dir);
    assert_eq!(paths.len(), 3, "{paths:?}");
    let all = dom(chrome, page, "");
    assert_eq!(table_rows(&all), paths.len());
    for p in &paths {
        assert!(all.contains(p.as_str()), "{p} missing from the table");
    }
    // The failed file's one-line error is on the page.
    assert!(all.contains("broken.ply:"), "no failure line");
    // A filter in the address keeps the matching rows only.
    let filtered = dom(chrome, page, "#filter=blobs");
    assert!(filtered.contains(">1 of 3 rows<"), "{filtered:.3000}");

    // The scan's row (rows follow summary order), opened by its link.
    let row = paths.iter().position(|p| p == "blobs.ply").unwrap();
    let opened = dom(chrome, page, &format!("#view={row}"));
    assert!(
        opened.contains("data-view-path=\"blobs.ply\""),
        "the wrong scan opened"
    );
    let (left, right) = halves(chrome, page, &format!("#view={row}&class=0"));
    assert!(red(left), "class 0: left blob not red: {left:?}");
    assert!(blue(right), "class 0: right blob not blue: {right:?}");
    let (left, right) = halves(chrome, page, &format!("#view={row}&class=1"));
    assert!(blue(left), "class 1: left blob not blue: {left:?}");
    assert!(red(right), "class 1: right blob not red: {right:?}");
}

#[test]
fn a_batch_report_opens_in_chromium_with_every_row_and_views_coloured_by_importance() {
    let Some(chrome) = browser() else { return };
    let root = tempdir();
    let dir = batch_output(root.path());

    let inline = dir.join("report.html");
    let said = report(&dir, &inline, &[]);
    assert!(said.contains("3 rows, 1 3D views"), "{said}");
    check_page(&chrome, &dir, &inline);

    // The views as files beside the page, loaded as scripts when opened.
    let paged = root.path().join("shared").join("page.html");
    std::fs::create_dir_all(paged.parent().unwrap()).unwrap();
    let said = report(&dir, &paged, &["--assets"]);
    assert!(said.contains("beside it"), "{said}");
    assert!(paged.with_file_name("page.assets/scan-0.js").is_file());
    let html = std::fs::read_to_string(&paged).unwrap();
    assert!(
        !html.contains("PL.scan(0"),
        "the view is inline despite --assets"
    );
    check_page(&chrome, &dir, &paged);
}

#[test]
fn a_page_is_self_contained_and_its_views_fit_the_budget() {
    let root = tempdir();
    let dir = batch_output(root.path());
    let page = dir.join("report.html");
    let said = report(&dir, &page, &["--points-per-scan", "600"]);
    // 2,000 points decimated to about 600, every segment keeping some.
    assert!(said.contains("1 3D views with "), "{said}");
    let shown: usize = said
        .split("1 3D views with ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{said}"));
    assert!((600..=600 + 8 * 16).contains(&shown), "{said}");
    let html = std::fs::read_to_string(&page).unwrap();
    // Nothing fetched: no external script, style, image or font.
    for needle in ["src=\"http", "href=\"http", "url(http", "@import", "fetch("] {
        assert!(
            !html.contains(needle),
            "page refers outside itself: {needle}"
        );
    }

    // True classes from a manifest (paths relative to it, matched by their ends): the row of the
    // scan gets its class and whether the prediction is right; the broken file's is counted
    // nowhere (it has no prediction).
    let records = pointlime::batch::read_summary(&dir.join("summary.jsonl")).unwrap();
    let predicted = records
        .iter()
        .find(|r| r.path == "blobs.ply")
        .and_then(|r| r.predicted.clone())
        .unwrap();
    let wrong = if predicted == "car" { "tree" } else { "car" };
    for (class, right) in [(predicted.as_str(), 1), (wrong, 0)] {
        let manifest = root.path().join("truth.csv");
        std::fs::write(
            &manifest,
            format!("path,class,split\nin/blobs.ply,{class},test\nin/broken.ply,car,test\n"),
        )
        .unwrap();
        let said = report(&dir, &page, &["--truth", manifest.to_str().unwrap()]);
        assert!(
            said.contains(&format!(
                "3 rows ({right} of 1 labelled scans predicted right)"
            )),
            "{said}"
        );
        let html = std::fs::read_to_string(&page).unwrap();
        let data = html
            .split("<script type=\"application/json\" id=\"pl-data\">")
            .nth(1)
            .and_then(|s| s.split("</script>").next())
            .unwrap();
        let data: serde_json::Value = serde_json::from_str(data).unwrap();
        let row = data["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["path"] == "blobs.ply")
            .unwrap();
        assert_eq!(row["truth"], class);
        assert_eq!(row["correct"], right == 1);
    }
}

#[test]
fn report_of_a_directory_without_a_summary_fails_in_one_line_and_writes_nothing() {
    let dir = tempdir();
    let run = bin()
        .arg("report")
        .arg(dir.path())
        .arg("--html")
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("summary.jsonl"), "{stderr}");
    assert!(!dir.path().join("report.html").exists());

    // A summary whose explained file is gone names that file.
    let root = tempdir();
    let out = batch_output(root.path());
    std::fs::write(
        out.join("blobs.ply.explained.ply"),
        "ply\nformat nonsense\n",
    )
    .unwrap();
    let run = bin()
        .arg("report")
        .arg(&out)
        .arg("--html")
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("blobs.ply.explained.ply"), "{stderr}");
    assert!(!out.join("report.html").exists());
}

#[test]
fn explain_html_writes_a_page_of_the_one_scan() {
    let Some(chrome) = browser() else { return };
    let root = tempdir();
    let model = root.path().join("model");
    tiny_model(&model);
    let scan = root.path().join("blobs.ply");
    blobs_scan(&scan);
    let run = bin()
        .arg("explain")
        .arg(&scan)
        .arg("--model")
        .arg(&model)
        .args(["--samples", "40", "--segments", "8", "--html"])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let page = root.path().join("blobs.explained.html");
    assert!(page.is_file());
    let all = dom(&chrome, &page, "");
    assert_eq!(table_rows(&all), 1);
    let opened = dom(&chrome, &page, "#view=0&mode=segments");
    assert!(
        opened.contains("data-view-mode=\"segments\""),
        "{opened:.3000}"
    );
}

/// `--thumbnails`: each card's image comes from the viewer's headless renderer, which a workspace
/// build puts beside `pointlime`. Skips when the viewer or a renderer is missing, unless
/// POINTLIME_REQUIRE_RENDER=1.
#[test]
fn thumbnails_are_the_viewers_renders_inline_as_png() {
    use base64::Engine;
    let viewer = Path::new(env!("CARGO_BIN_EXE_pointlime")).with_file_name("pointlime-view");
    let require = std::env::var("POINTLIME_REQUIRE_RENDER").as_deref() == Ok("1");
    if !viewer.is_file() && !require {
        eprintln!("skipped: no pointlime-view beside pointlime (build the workspace)");
        return;
    }
    let root = tempdir();
    let dir = batch_output(root.path());
    let page = dir.join("report.html");
    let run = bin()
        .arg("report")
        .arg(&dir)
        .args(["--html", "--thumbnails", "--out"])
        .arg(&page)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    if !run.status.success() && !require {
        eprintln!("skipped: no renderer here (set POINTLIME_REQUIRE_RENDER=1 to fail): {stderr}");
        return;
    }
    assert!(run.status.success(), "{stderr}");
    let said = String::from_utf8_lossy(&run.stdout);
    assert!(said.contains("1 thumbnails"), "{said}");
    let html = std::fs::read_to_string(&page).unwrap();
    let b64 = html
        .split("data:image/png;base64,")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("an inline PNG");
    let png = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    let img = image::load_from_memory(&png).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (320, 200));
    // Red and blue both drawn: the blobs in the importance colours.
    let count = |f: fn(&[u8; 3]) -> bool| img.pixels().filter(|p| f(&p.0)).count();
    assert!(count(|p| p[0] > p[2].saturating_add(60)) > 50, "no red");
    assert!(count(|p| p[2] > p[0].saturating_add(40)) > 50, "no blue");
}
