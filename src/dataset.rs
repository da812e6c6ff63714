//! Labelled scans for training and evaluation: a class-per-directory layout or a split manifest,
//! the DALES-objects manifest, and classification metrics.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use rayon::prelude::*;

use crate::cloud::{Frame, Normalisation};
use crate::error::{Error, Result};
use crate::segment::{supervoxels, Granularity, SegmentConfig};

/// Which part of a dataset a scan belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Test,
}

/// One labelled scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub path: PathBuf,
    pub class: usize,
    pub split: Split,
}

/// Labelled scans with their class names.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub class_names: Vec<String>,
    pub items: Vec<Item>,
}

const EXTENSIONS: [&str; 6] = ["ply", "las", "laz", "xyz", "txt", "pts"];

impl Dataset {
    /// Scans of one split.
    pub fn split(&self, split: Split) -> Vec<&Item> {
        self.items.iter().filter(|i| i.split == split).collect()
    }

    /// Opens `path`: a manifest when it is a file, otherwise a directory with one subdirectory per
    /// class (`DIR/<class>/<file>`); there, a `manifest.csv` inside is used when present, else
    /// every fifth file of each class in name order (the 5th, 10th, …) is test.
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::Format`] for unreadable or malformed inputs, or no scans at all.
    pub fn open(path: &Path) -> Result<Dataset> {
        if path.is_file() {
            return Self::from_manifest(path);
        }
        let manifest = path.join("manifest.csv");
        if manifest.is_file() {
            return Self::from_manifest(&manifest);
        }
        let mut classes: Vec<PathBuf> =
            read_dir(path)?.into_iter().filter(|p| p.is_dir()).collect();
        classes.sort();
        let mut ds = Dataset {
            class_names: Vec::new(),
            items: Vec::new(),
        };
        for dir in classes {
            let mut files: Vec<PathBuf> = read_dir(&dir)?
                .into_iter()
                .filter(|p| p.is_file() && has_scan_extension(p))
                .collect();
            if files.is_empty() {
                continue;
            }
            files.sort();
            let class = ds.class_names.len();
            ds.class_names.push(
                dir.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
            );
            for (i, f) in files.into_iter().enumerate() {
                let split = if i % 5 == 4 {
                    Split::Test
                } else {
                    Split::Train
                };
                ds.items.push(Item {
                    path: f,
                    class,
                    split,
                });
            }
        }
        if ds.items.is_empty() {
            return Err(Error::format(
                path,
                "no scans found (expected DIR/<class>/<file>.{ply,las,laz,xyz})",
            ));
        }
        Ok(ds)
    }

    /// Reads a manifest: CSV with a `path,class,split` header; paths relative to the manifest's
    /// directory; class names in order of first appearance.
    ///
    /// # Errors
    /// [`Error::Format`] naming the line of a malformed row.
    pub fn from_manifest(path: &Path) -> Result<Dataset> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut ds = Dataset {
            class_names: Vec::new(),
            items: Vec::new(),
        };
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || (n == 0 && line.starts_with("path")) {
                continue;
            }
            let cols: Vec<&str> = line.split(',').map(str::trim).collect();
            let [file, class, split] = cols[..] else {
                return Err(Error::format(
                    path,
                    format!("line {}: expected path,class,split", n + 1),
                ));
            };
            let split = match split {
                "train" => Split::Train,
                "test" => Split::Test,
                s => {
                    return Err(Error::format(
                        path,
                        format!("line {}: split must be train or test, got {s:?}", n + 1),
                    ))
                }
            };
            let class = match ds.class_names.iter().position(|c| c == class) {
                Some(i) => i,
                None => {
                    ds.class_names.push(class.to_string());
                    ds.class_names.len() - 1
                }
            };
            ds.items.push(Item {
                path: base.join(file),
                class,
                split,
            });
        }
        if ds.items.is_empty() {
            return Err(Error::format(path, "manifest lists no scans"));
        }
        Ok(ds)
    }

    /// Opens any layout pointlime knows: the DALES objects directory (recognised by its
    /// `000.xyz`; see [`dales`]), else [`Dataset::open`].
    ///
    /// # Errors
    /// As [`dales`] and [`Dataset::open`].
    pub fn open_any(path: &Path) -> Result<Dataset> {
        if path.is_dir() && path.join("000.xyz").is_file() {
            dales(path)
        } else {
            Dataset::open(path)
        }
    }

    /// Checks that a model's classes are this dataset's, in the same order.
    ///
    /// # Errors
    /// [`Error::Model`] naming `model` and both class lists when they differ.
    pub fn check_classes(&self, model: &Path, class_names: &[String]) -> Result<()> {
        if class_names != self.class_names.as_slice() {
            return Err(Error::Model {
                path: model.to_path_buf(),
                message: format!(
                    "model classes ({}) differ from the dataset's ({})",
                    class_names.join(", "),
                    self.class_names.join(", ")
                ),
            });
        }
        Ok(())
    }

    /// Writes this dataset as a manifest at `out`, its paths relative to the manifest's directory
    /// (walking up with `..` where needed), so the manifest stays valid wherever the tree moves.
    ///
    /// # Errors
    /// [`Error::Io`] when a path cannot be resolved or the file cannot be written.
    pub fn write_manifest(&self, out: &Path) -> Result<()> {
        let base = out
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let base = base.canonicalize().map_err(|e| Error::io(base, e))?;
        let mut rel = self.clone();
        for item in &mut rel.items {
            let absolute = item
                .path
                .canonicalize()
                .map_err(|e| Error::io(&item.path, e))?;
            item.path = relative(&absolute, &base);
        }
        std::fs::write(out, rel.manifest(Path::new(""))).map_err(|e| Error::io(out, e))
    }

    /// The manifest CSV text for this dataset, with paths relative to `base`.
    pub fn manifest(&self, base: &Path) -> String {
        let mut s = String::from("path,class,split\n");
        for i in &self.items {
            let p = i.path.strip_prefix(base).unwrap_or(&i.path);
            let split = match i.split {
                Split::Train => "train",
                Split::Test => "test",
            };
            s.push_str(&format!(
                "{},{},{split}\n",
                p.display(),
                self.class_names[i.class]
            ));
        }
        s
    }
}

/// `path` relative to `base` (both absolute), walking up with `..` where needed.
fn relative(path: &Path, base: &Path) -> PathBuf {
    let p: Vec<_> = path.components().collect();
    let b: Vec<_> = base.components().collect();
    let common = p.iter().zip(&b).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    for c in &p[common..] {
        out.push(c);
    }
    out
}

fn has_scan_extension(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .map(|e| e.map(|e| e.path()).map_err(|e| Error::io(dir, e)))
        .collect()
}

/// The DALES objects of `../shared/data/dales_objects` (see its README): class by file number
/// (000–099 building, 100–199 car, 200–299 fence, 300–399 pole, 400–499 tree), files whose number
/// ends in 0–7 train and 8–9 test.
///
/// # Errors
/// [`Error::Io`] when the directory cannot be read; [`Error::Format`] when it holds no `NNN.xyz`.
pub fn dales(dir: &Path) -> Result<Dataset> {
    const CLASSES: [&str; 5] = ["building", "car", "fence", "pole", "tree"];
    let mut files: Vec<(u32, PathBuf)> = read_dir(dir)?
        .into_iter()
        .filter_map(|p| {
            let stem = p.file_stem()?.to_str()?;
            let ext_ok = p.extension().is_some_and(|e| e == "xyz");
            let n = stem.parse::<u32>().ok()?;
            (ext_ok && stem.len() == 3 && n < 500).then_some((n, p))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(Error::format(dir, "no DALES objects (NNN.xyz) found"));
    }
    Ok(Dataset {
        class_names: CLASSES.iter().map(|s| s.to_string()).collect(),
        items: files
            .into_iter()
            .map(|(n, path)| Item {
                path,
                class: (n / 100) as usize,
                split: if n % 10 >= 8 {
                    Split::Test
                } else {
                    Split::Train
                },
            })
            .collect(),
    })
}

/// One object ready for training or evaluation: model-frame points (at most
/// [`MAX_PREPARED_POINTS`]) and, for supervoxel dropout, their supervoxel labels.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub points: Vec<[f32; 3]>,
    pub labels: Vec<u32>,
    pub n_segments: usize,
    pub class: usize,
}

/// Objects keep at most this many points in memory: 8× a 1024-point network input is plenty of
/// variety for resampling, and it bounds memory for large scans.
pub const MAX_PREPARED_POINTS: usize = 8192;

/// Reads, validates and normalises items in parallel (order kept); with `segments`, also cuts each
/// into that many supervoxels for supervoxel dropout.
///
/// # Errors
/// The first item that fails to read or validate.
pub fn prepare(
    items: &[&Item],
    normalisation: Normalisation,
    segments: Option<usize>,
    seed: u64,
) -> Result<Vec<Prepared>> {
    items
        .par_iter()
        .map(|item| {
            let mut cloud = crate::io::read(&item.path)?;
            cloud.validate(&item.path, true)?;
            let frame = Frame::fit(&cloud.positions, normalisation);
            let idx = crate::cloud::sample_indices(
                cloud.len(),
                cloud.len().min(MAX_PREPARED_POINTS),
                seed,
            );
            let points: Vec<[f32; 3]> = idx
                .iter()
                .map(|&i| frame.to_model(&cloud.positions[i as usize]))
                .collect();
            let (labels, n_segments) = match segments {
                Some(k) => {
                    let config = SegmentConfig {
                        target: Granularity::Count(k),
                        seed,
                        ..Default::default()
                    };
                    let s = supervoxels(&points, &config)?;
                    (s.labels, s.count)
                }
                None => (Vec::new(), 0),
            };
            Ok(Prepared {
                points,
                labels,
                n_segments,
                class: item.class,
            })
        })
        .collect()
}

/// A confusion matrix: `counts[truth][predicted]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confusion {
    pub counts: Vec<Vec<usize>>,
}

/// Accuracy figures from a confusion matrix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Correct / total.
    pub overall_accuracy: f64,
    /// Mean over classes with at least one sample of per-class recall.
    pub mean_class_accuracy: f64,
    /// Recall per class (NaN-free: a class without samples reports 0 and is left out of the mean).
    pub per_class_accuracy: Vec<f64>,
    pub confusion: Confusion,
}

impl Confusion {
    /// An empty n×n matrix.
    pub fn new(n: usize) -> Self {
        Confusion {
            counts: vec![vec![0; n]; n],
        }
    }

    /// Counts one prediction.
    pub fn add(&mut self, truth: usize, predicted: usize) {
        self.counts[truth][predicted] += 1;
    }

    /// Overall, mean-class and per-class accuracy.
    pub fn metrics(&self) -> Metrics {
        let total: usize = self.counts.iter().flatten().sum();
        let correct: usize = (0..self.counts.len()).map(|i| self.counts[i][i]).sum();
        let per_class: Vec<Option<f64>> = self
            .counts
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let n: usize = row.iter().sum();
                (n > 0).then(|| row[i] as f64 / n as f64)
            })
            .collect();
        let present: Vec<f64> = per_class.iter().flatten().copied().collect();
        Metrics {
            overall_accuracy: if total > 0 {
                correct as f64 / total as f64
            } else {
                0.0
            },
            mean_class_accuracy: if present.is_empty() {
                0.0
            } else {
                present.iter().sum::<f64>() / present.len() as f64
            },
            per_class_accuracy: per_class.iter().map(|p| p.unwrap_or(0.0)).collect(),
            confusion: self.clone(),
        }
    }

    /// The matrix as aligned text, rows = truth, columns = prediction.
    pub fn to_text(&self, names: &[String]) -> String {
        let w = names.iter().map(|n| n.len()).max().unwrap_or(5).max(6);
        let first = "truth\\pred".len().max(w);
        let mut s = format!("{:>first$} |", "truth\\pred");
        for n in names {
            s.push_str(&format!(" {n:>w$}"));
        }
        s.push('\n');
        for (i, row) in self.counts.iter().enumerate() {
            s.push_str(&format!("{:>first$} |", names[i]));
            for c in row {
                s.push_str(&format!(" {c:>w$}"));
            }
            s.push('\n');
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_on_hand_built_confusion() {
        // 3 classes: class 0 has 4 samples (3 right), class 1 has 2 (2 right), class 2 has 4 (1 right).
        let mut c = Confusion::new(3);
        for (t, p) in [
            (0, 0),
            (0, 0),
            (0, 0),
            (0, 1),
            (1, 1),
            (1, 1),
            (2, 2),
            (2, 0),
            (2, 1),
            (2, 1),
        ] {
            c.add(t, p);
        }
        let m = c.metrics();
        assert!((m.overall_accuracy - 0.6).abs() < 1e-12);
        assert_eq!(m.per_class_accuracy, vec![0.75, 1.0, 0.25]);
        assert!((m.mean_class_accuracy - (0.75 + 1.0 + 0.25) / 3.0).abs() < 1e-12);
    }
}
