//! Self-contained HTML reports: one page, no server and no network, for people without the
//! viewer. A batch page ([`batch`], `pointlime report DIR --html`) has a summary of the run, a
//! sortable and filterable table of every file, a card per scan and a WebGL 3D view of any scan;
//! a single-scan page ([`single`], `explain --html`) has the same for one scan.
//!
//! The page is plain HTML, CSS and a small hand-written WebGL script (`page.js`): nothing to
//! vendor, nothing fetched. Each scan's view is packed as binary ([`scan`]), base64, inline; with
//! [`Options::assets`] each scan's view is a script file beside the page instead, loaded as a
//! `<script>` tag when its view opens (browsers block `fetch` on `file://` pages). Colours come
//! from [`crate::colour`], the viewer's own maps.

mod scan;

use std::path::{Path, PathBuf};

use base64::Engine;
use rayon::prelude::*;
use serde::Serialize;

use crate::batch::{self, Record, Status};
use crate::colour::{diverging, NO_VALUE};
use crate::dataset::Dataset;
use crate::error::{Error, Result};
use crate::io;
use crate::pipeline::Report;
use crate::view::{self, ExplainedScan};

pub use scan::SEGMENT_FLOOR;

/// How much of each scan the page carries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// Points of one scan's 3D view at most (decimated by segment, every segment kept).
    pub points_per_scan: usize,
    /// The inline views of a page together stay under about this many bytes: with many scans,
    /// each is decimated further. Not applied with `assets`, where each view is its own file.
    pub max_inline_bytes: usize,
    /// One script file per scan beside the page, instead of everything inline.
    pub assets: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            points_per_scan: 200_000,
            max_inline_bytes: 24_000_000,
            assets: false,
        }
    }
}

/// The fewest points a view gets when many scans share the inline limit.
pub const MIN_POINTS_PER_SCAN: usize = 500;

/// Makes a scan's thumbnail (PNG bytes) from its explained file, or says why it could not.
pub type Thumbnailer<'a> = &'a (dyn Fn(&Path) -> std::result::Result<Vec<u8>, String> + Sync);

/// What a page holds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stats {
    /// Rows of the table.
    pub rows: usize,
    /// Scans with a 3D view.
    pub views: usize,
    /// Points shown over all views, and points in their files.
    pub points_shown: usize,
    pub points_total: usize,
    /// The point budget of each view.
    pub points_per_view: usize,
    pub thumbnails: usize,
    /// Scored rows with a true class, and those predicted right.
    pub labelled: usize,
    pub correct: usize,
    /// Bytes of the page, and of the files beside it.
    pub page_bytes: usize,
    pub asset_bytes: usize,
}

/// A page and the files that go beside it (`--assets`), not yet written.
pub struct Page {
    html: String,
    /// Paths relative to the page's directory, and contents.
    assets: Vec<(PathBuf, Vec<u8>)>,
    pub stats: Stats,
}

/// Where a row's 3D view comes from.
enum ViewSource {
    File { cloud: PathBuf, report: PathBuf },
    Loaded(Box<ExplainedScan>),
}

struct Source {
    record: Record,
    view: Option<ViewSource>,
    truth: Option<String>,
}

/// What the page's script reads: the table's rows and the run.
#[derive(Serialize)]
struct PageData<'a> {
    generated: u64,
    run: Run,
    total_seconds: f64,
    rows: Vec<Row<'a>>,
    /// The diverging map at 256 steps from −1 to 1, `rrggbb…`.
    lut: String,
    no_value: [u8; 3],
}

#[derive(Serialize, Default)]
struct Run {
    model: Option<String>,
    /// False for a run that only classified (`batch --no-explain`).
    explain: Option<bool>,
    method: Option<String>,
    samples: Option<u64>,
    seed: Option<u64>,
    settings: serde_json::Value,
}

#[derive(Serialize)]
struct Row<'a> {
    #[serde(flatten)]
    record: &'a Record,
    /// The scan's true class, from the labelled dataset given ([`batch`]'s `truth`).
    truth: Option<&'a str>,
    /// Whether the predicted class is the true one.
    correct: Option<bool>,
    /// Index of the view, when the scan has one.
    view: Option<usize>,
    /// The view's script file (`--assets`).
    asset: Option<String>,
    /// A data URL, or the thumbnail's file beside the page.
    thumb: Option<String>,
}

impl Run {
    fn of(model: Option<String>, settings: serde_json::Value) -> Run {
        Run {
            model,
            explain: Some(true),
            method: settings["method"].as_str().map(str::to_string),
            samples: settings["explainer"]["n_samples"].as_u64(),
            seed: settings["seed"].as_u64(),
            settings,
        }
    }
}

/// The true class of each scan of a batch, from a labelled dataset: a scan's row matches the
/// item whose path ends with the row's path (rows are relative to the batch's input directory,
/// items to their manifest).
fn truth_of(dataset: &Dataset, rows: &[Record]) -> Vec<Option<String>> {
    // By file name, so that a row looks only at the items of its name.
    let mut by_name: std::collections::HashMap<String, Vec<(String, &str)>> = Default::default();
    for i in &dataset.items {
        let path = i
            .path
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        let name = path.rsplit('/').next().unwrap_or_default().to_string();
        by_name
            .entry(name)
            .or_default()
            .push((path, dataset.class_names[i.class].as_str()));
    }
    rows.iter()
        .map(|r| {
            let name = r.path.rsplit('/').next().unwrap_or_default();
            let tail = format!("/{}", r.path);
            by_name
                .get(name)?
                .iter()
                .find(|(p, _)| *p == r.path || p.ends_with(&tail))
                .map(|(_, c)| c.to_string())
        })
        .collect()
}

/// The page of a batch output directory (`summary.jsonl` and the per-file outputs of `pointlime
/// batch`), to be written at `out` (which names the assets directory); with `truth`, a labelled
/// dataset of the same scans, each row gets its true class.
///
/// # Errors
/// A directory without a batch summary, an unreadable summary, or an explained file or report
/// that cannot be read (named).
pub fn batch(
    dir: &Path,
    out: &Path,
    options: &Options,
    thumbnail: Option<Thumbnailer>,
    truth: Option<&Dataset>,
) -> Result<Page> {
    let summary = dir.join("summary.jsonl");
    if !summary.is_file() {
        return Err(Error::format(
            &summary,
            "no batch summary: give the --out directory of `pointlime batch` (shards: join them \
             with `pointlime merge` first)",
        ));
    }
    let records = batch::read_summary(&summary)?;
    let truths = match truth {
        Some(d) => truth_of(d, &records),
        None => vec![None; records.len()],
    };
    let mut run = Run::default();
    let mut sources = Vec::with_capacity(records.len());
    for (record, truth) in records.into_iter().zip(truths) {
        let (cloud, report) = batch::output_paths(dir, Path::new(&record.path));
        let ok = record.status == Status::Ok;
        // The run's settings, from the first scored file (`--no-explain` runs write its JSON too).
        if ok && run.model.is_none() && report.is_file() {
            run = run_of_batch_output(&report)?;
        }
        let view = (ok && cloud.is_file()).then_some(ViewSource::File { cloud, report });
        sources.push(Source {
            record,
            view,
            truth,
        });
    }
    build(sources, run, out, options, thumbnail)
}

/// The run settings recorded in a batch file's JSON.
fn run_of_batch_output(path: &Path) -> Result<Run> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::format(path, crate::error::json_problem(&e)))?;
    let run = &value["run"];
    Ok(Run {
        explain: run["explain"].as_bool(),
        ..Run::of(
            run["model"].as_str().map(str::to_string),
            run["settings"].clone(),
        )
    })
}

/// The page of one explained scan, `cloud` as `explain` annotated it (`path`, its file) with its
/// report, to be written at `out`.
///
/// # Errors
/// A cloud without the report's fields.
pub fn single(
    path: &Path,
    cloud: &crate::cloud::PointCloud,
    report: &Report,
    out: &Path,
    options: &Options,
) -> Result<Page> {
    let scan = view::shown(path, cloud, Some(report.clone()))?;
    let mut record = Record::of_report(&report.input, cloud.len(), report);
    record.seconds = report.timings.total;
    let settings =
        serde_json::to_value(&report.settings).map_err(|e| Error::format(path, e.to_string()))?;
    let run = Run::of(Some(report.model.clone()), settings);
    let sources = vec![Source {
        record,
        view: Some(ViewSource::Loaded(Box::new(scan))),
        truth: None,
    }];
    build(sources, run, out, options, None)
}

/// A packed view, as the page's script call.
struct Packed {
    script: String,
    shown: usize,
    total: usize,
    thumbnail: Option<Vec<u8>>,
}

fn build(
    sources: Vec<Source>,
    run: Run,
    out: &Path,
    options: &Options,
    thumbnail: Option<Thumbnailer>,
) -> Result<Page> {
    // Each row's view, numbered in row order, taken out to be packed in parallel.
    let mut sources = sources;
    let mut view_index = Vec::with_capacity(sources.len());
    let mut taken: Vec<(usize, String, ViewSource)> = Vec::new();
    for s in &mut sources {
        view_index.push(s.view.take().map(|v| {
            taken.push((taken.len(), s.record.path.clone(), v));
            taken.len() - 1
        }));
    }
    let views = taken.len();
    // Base64 makes 4 bytes of 3.
    let per_view_bytes = if options.assets {
        usize::MAX
    } else {
        options.max_inline_bytes / views.max(1) / 4 * 3
    };
    let budget_for = |scan: &ExplainedScan| {
        (per_view_bytes / scan::bytes_per_point(scan))
            .clamp(MIN_POINTS_PER_SCAN, options.points_per_scan.max(1))
    };
    let packed: Vec<Packed> = taken
        .into_par_iter()
        .map(|(i, path, source)| -> Result<Packed> {
            let (scan, file) = match source {
                ViewSource::File { cloud, report } => {
                    (view::load(&cloud, Some(&report))?, Some(cloud))
                }
                ViewSource::Loaded(scan) => (*scan, None),
            };
            let p = scan::pack(&scan, &path, budget_for(&scan));
            drop(scan);
            let header = serde_json::to_string(&p.header)
                .map_err(|e| Error::format(&path, e.to_string()))?;
            let b64 = base64::engine::general_purpose::STANDARD.encode(&p.bytes);
            let thumbnail = match (thumbnail, &file) {
                (Some(make), Some(file)) => Some(make(file).map_err(|m| Error::format(file, m))?),
                _ => None,
            };
            Ok(Packed {
                script: format!("PL.scan({i}, {}, \"{b64}\");\n", script_safe(&header)),
                shown: p.header.n,
                total: p.header.total,
                thumbnail,
            })
        })
        .collect::<Result<_>>()?;

    let assets_dir = assets_dir_name(out);
    let mut assets = Vec::new();
    let mut rows = Vec::with_capacity(sources.len());
    let mut inline_scripts = String::new();
    let mut stats = Stats {
        rows: sources.len(),
        views,
        ..Stats::default()
    };
    for (s, view) in sources.iter().zip(&view_index) {
        let truth = s.truth.as_deref();
        let correct = truth
            .zip(s.record.predicted.as_deref())
            .map(|(t, p)| t == p);
        stats.labelled += usize::from(truth.is_some() && s.record.status == Status::Ok);
        stats.correct += usize::from(correct == Some(true));
        let mut row = Row {
            record: &s.record,
            truth,
            correct,
            view: *view,
            asset: None,
            thumb: None,
        };
        if let Some(i) = *view {
            let p = &packed[i];
            stats.points_shown += p.shown;
            stats.points_total += p.total;
            stats.points_per_view = stats.points_per_view.max(p.shown);
            if options.assets {
                let name = format!("{assets_dir}/scan-{i}.js");
                assets.push((PathBuf::from(&name), p.script.clone().into_bytes()));
                row.asset = Some(name);
            } else {
                inline_scripts.push_str("<script>");
                inline_scripts.push_str(&p.script);
                inline_scripts.push_str("</script>\n");
            }
            if let Some(png) = &p.thumbnail {
                stats.thumbnails += 1;
                if options.assets {
                    let name = format!("{assets_dir}/thumb-{i}.png");
                    assets.push((PathBuf::from(&name), png.clone()));
                    row.thumb = Some(name);
                } else {
                    let b64 = base64::engine::general_purpose::STANDARD.encode(png);
                    row.thumb = Some(format!("data:image/png;base64,{b64}"));
                }
            }
        }
        rows.push(row);
    }
    let lut: String = (0..256)
        .map(|i| scan::hex(diverging(i as f32 / 255.0 * 2.0 - 1.0)))
        .collect();
    let data = PageData {
        generated: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        total_seconds: sources.iter().map(|s| s.record.seconds).sum(),
        run,
        rows,
        lut,
        no_value: NO_VALUE.map(|v| (v * 255.0).round() as u8),
    };
    let json = serde_json::to_string(&data).map_err(|e| Error::format(out, e.to_string()))?;
    let title = if sources.len() == 1 {
        format!("pointlime: {}", sources[0].record.path)
    } else {
        format!("pointlime: {} scans", sources.len())
    };
    let html = format!(
        include_str!("page.html"),
        title = escape(&title),
        version = env!("CARGO_PKG_VERSION"),
        css = include_str!("page.css"),
        data = script_safe(&json),
        script = include_str!("page.js"),
        scans = inline_scripts,
    );
    stats.page_bytes = html.len();
    stats.asset_bytes = assets.iter().map(|(_, b)| b.len()).sum();
    Ok(Page {
        html,
        assets,
        stats,
    })
}

/// `report.html` → `report.assets`.
fn assets_dir_name(out: &Path) -> String {
    let stem = out.file_stem().unwrap_or_default().to_string_lossy();
    format!("{stem}.assets")
}

/// Text safe inside a `<script>` element: `</` would end it.
fn script_safe(json: &str) -> String {
    json.replace("</", "<\\/")
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl Page {
    /// Writes the files beside the page first, then the page, each atomically: a failure leaves
    /// no page that points at missing files.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file that could not be written.
    pub fn write(&self, out: &Path) -> Result<()> {
        let dir = out.parent().unwrap_or(Path::new(""));
        if let Some((first, _)) = self.assets.first() {
            let assets = dir.join(first.parent().unwrap_or(Path::new("")));
            std::fs::create_dir_all(&assets).map_err(|e| Error::io(&assets, e))?;
        }
        for (rel, bytes) in &self.assets {
            let path = dir.join(rel);
            io::write_atomic(&path, |mut f| {
                std::io::Write::write_all(&mut f, bytes).map_err(|e| Error::io(&path, e))
            })?;
        }
        io::write_text(out, &self.html)
    }

    /// The page's text.
    pub fn html(&self) -> &str {
        &self.html
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_text_cannot_close_its_element() {
        let json = serde_json::to_string(&serde_json::json!({"path": "</script><b>"})).unwrap();
        let safe = script_safe(&json);
        assert!(!safe.contains("</"));
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back["path"], "</script><b>");
        assert_eq!(escape("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
        assert_eq!(
            assets_dir_name(Path::new("out/report.html")),
            "report.assets"
        );
    }
}
