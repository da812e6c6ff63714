//! Labelled scans for training and evaluation: a class-per-directory layout or a split manifest,
//! the DALES-objects manifest, and classification metrics.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

mod prepare;
mod window;
pub use prepare::{
    fill_template, prepare, prepare_labelled, shuffle_classes, Prepared, MAX_PREPARED_POINTS,
};
pub use window::{Window, MIN_WINDOW_POINTS};

/// Which part of a dataset a scan belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Test,
}

/// One labelled scan.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub path: PathBuf,
    pub class: usize,
    pub split: Split,
    /// The physical object the scan is of (a plant, a tree), when known: scans of one group
    /// belong in one split, or the test measures memory of that object rather than of its class.
    pub group: Option<String>,
    /// Its per-point classes, as a [`LabelMap`](crate::labels::LabelMap) written out, when the
    /// manifest gives them (its `labels` column): what a segmentation network is trained on.
    pub labels: Option<String>,
    /// The part of its file the item is, when the file is a tile cut into windows (the
    /// manifest's `window` column); `None`: the whole file.
    pub window: Option<Window>,
}

impl Item {
    /// The item's points: its file, cut to its window when it has one.
    ///
    /// # Errors
    /// The file's read errors; [`Error::Format`] for a window that holds no point.
    pub fn read(&self) -> Result<crate::cloud::PointCloud> {
        self.read_with(crate::io::ReadOptions::default())
    }

    /// [`Item::read`] with the reader's options (limits, a text scan's columns).
    ///
    /// # Errors
    /// As [`Item::read`].
    pub fn read_with(&self, options: crate::io::ReadOptions) -> Result<crate::cloud::PointCloud> {
        let cloud = crate::io::read_with(&self.path, options)?;
        match &self.window {
            Some(w) => w.cut(cloud, &self.path),
            None => Ok(cloud),
        }
    }
}

/// Labelled scans with their class names.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub class_names: Vec<String>,
    pub items: Vec<Item>,
}

const EXTENSIONS: [&str; 6] = ["ply", "las", "laz", "xyz", "txt", "pts"];

impl Dataset {
    /// The index of class `name`, added at the end when it is new: classes in order of first
    /// appearance.
    pub fn class_index(&mut self, name: &str) -> usize {
        match self.class_names.iter().position(|c| c == name) {
            Some(i) => i,
            None => {
                self.class_names.push(name.to_string());
                self.class_names.len() - 1
            }
        }
    }

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
                    group: None,
                    labels: None,
                    window: None,
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

    /// Reads a manifest: CSV with a `path,class,split`, `path,class,split,group`,
    /// `path,class,split,group,labels` or `path,class,split,group,labels,window` header (a
    /// window is `X0 Y0 X1 Y1`, see [`Window`]); paths relative to the manifest's directory;
    /// class names in order of first appearance.
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
            let (file, class, split, group, labels, window) = match cols[..] {
                [file, class, split] => (file, class, split, None, None, None),
                [file, class, split, group] => (file, class, split, Some(group), None, None),
                [file, class, split, group, labels] => {
                    (file, class, split, Some(group), Some(labels), None)
                }
                [file, class, split, group, labels, window] => {
                    (file, class, split, Some(group), Some(labels), Some(window))
                }
                _ => {
                    return Err(Error::format(
                        path,
                        format!(
                            "line {}: expected path,class,split[,group[,labels[,window]]]",
                            n + 1
                        ),
                    ))
                }
            };
            let window = match window.filter(|w| !w.is_empty()).map(str::parse::<Window>) {
                Some(Err(e)) => return Err(Error::format(path, format!("line {}: {e}", n + 1))),
                Some(Ok(w)) => Some(w),
                None => None,
            };
            if let Some(Err(e)) = labels
                .filter(|l| !l.is_empty())
                .map(str::parse::<crate::labels::LabelMap>)
            {
                return Err(Error::format(path, format!("line {}: {e}", n + 1)));
            }
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
            let class = ds.class_index(class);
            ds.items.push(Item {
                path: base.join(file),
                class,
                split,
                group: group.filter(|g| !g.is_empty()).map(str::to_string),
                labels: labels.filter(|l| !l.is_empty()).map(str::to_string),
                window,
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

    /// The manifest CSV text for this dataset, with paths relative to `base`; with a `group`
    /// column when any scan has a group, and the columns up to `window` when any has one.
    pub fn manifest(&self, base: &Path) -> String {
        let windowed = self.items.iter().any(|i| i.window.is_some());
        let labelled = windowed || self.items.iter().any(|i| i.labels.is_some());
        let grouped = labelled || self.items.iter().any(|i| i.group.is_some());
        let mut s = String::from(match (grouped, labelled, windowed) {
            (_, _, true) => "path,class,split,group,labels,window\n",
            (_, true, false) => "path,class,split,group,labels\n",
            (true, false, false) => "path,class,split,group\n",
            (false, false, false) => "path,class,split\n",
        });
        for i in &self.items {
            let p = i.path.strip_prefix(base).unwrap_or(&i.path);
            let split = match i.split {
                Split::Train => "train",
                Split::Test => "test",
            };
            s.push_str(&format!(
                "{},{},{split}",
                p.display(),
                self.class_names[i.class]
            ));
            if grouped {
                s.push(',');
                s.push_str(i.group.as_deref().unwrap_or(""));
            }
            if labelled {
                s.push(',');
                s.push_str(i.labels.as_deref().unwrap_or(""));
            }
            if windowed {
                s.push(',');
                s.push_str(&i.window.map(|w| w.to_string()).unwrap_or_default());
            }
            s.push('\n');
        }
        s
    }

    /// Groups with scans in both splits, sorted: each is a physical object the test split has
    /// already seen in training.
    pub fn leaking_groups(&self) -> Vec<String> {
        let mut seen: std::collections::BTreeMap<&str, [bool; 2]> = Default::default();
        for i in &self.items {
            if let Some(g) = &i.group {
                seen.entry(g).or_default()[(i.split == Split::Test) as usize] = true;
            }
        }
        seen.into_iter()
            .filter(|(_, [train, test])| *train && *test)
            .map(|(g, _)| g.to_string())
            .collect()
    }

    /// Scans listed in an index CSV (`index`, with a header naming its columns), their class
    /// from `class_column`, their group from `group_column`, their file (relative to `dir`) from
    /// `file_column`; classes in order of first appearance. Every scan starts in the training
    /// split: [`Dataset::split_by_group`] assigns the test split.
    ///
    /// # Errors
    /// [`Error::Format`] naming the index and the line for a missing column, an empty class or
    /// group, or a listed file that does not exist; [`Error::Io`] when the index cannot be read.
    pub fn from_index(
        dir: &Path,
        index: &Path,
        file_column: &str,
        class_column: &str,
        group_column: &str,
    ) -> Result<Dataset> {
        let mut reader = csv::Reader::from_path(index).map_err(|e| csv_error(index, e))?;
        let headers = reader.headers().map_err(|e| csv_error(index, e))?.clone();
        let column = |name: &str| header_column(index, &headers, name);
        let (fc, cc, gc) = (
            column(file_column)?,
            column(class_column)?,
            column(group_column)?,
        );
        let mut ds = Dataset {
            class_names: Vec::new(),
            items: Vec::new(),
        };
        for (n, record) in reader.records().enumerate() {
            let record = record.map_err(|e| csv_error(index, e))?;
            let line = n + 2;
            let field = |c: usize, what: &str| {
                record
                    .get(c)
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| Error::format(index, format!("line {line}: no {what}")))
            };
            let (file, class, group) = (
                field(fc, file_column)?,
                field(cc, class_column)?,
                field(gc, group_column)?,
            );
            let path = dir.join(file);
            if !path.is_file() {
                return Err(Error::format(
                    index,
                    format!("line {line}: {} does not exist", path.display()),
                ));
            }
            let class = ds.class_index(class);
            ds.items.push(Item {
                path,
                class,
                split: Split::Train,
                group: Some(group.to_string()),
                labels: None,
                window: None,
            });
        }
        if ds.items.is_empty() {
            return Err(Error::format(index, "the index lists no scans"));
        }
        Ok(ds)
    }

    /// Assigns splits by group: within each class, its groups (by first scan's class) in an
    /// order shuffled by `seed`, and the first `round(test_fraction × groups)` of them (at least
    /// one, and at most all but one, when a class has two groups or more) go to test with every
    /// scan they hold. With `cover` (one value per scan, such as its growing condition), a group
    /// is passed over when it is the last training group of its class with its value, so that
    /// training sees every value of every class that has two groups or more with it. No group is
    /// in both splits; the same seed gives the same split. Scans without a group are each their
    /// own group.
    pub fn split_by_group(&mut self, test_fraction: f64, seed: u64, cover: Option<&[String]>) {
        use rand::seq::SliceRandom;
        use rand::SeedableRng;
        let key = |i: &Item| {
            i.group
                .clone()
                .unwrap_or_else(|| i.path.display().to_string())
        };
        let mut groups_of_class: Vec<Vec<String>> = vec![Vec::new(); self.class_names.len()];
        // Each group's value of the covered column (its first scan's).
        let mut value_of: std::collections::HashMap<String, String> = Default::default();
        for (n, i) in self.items.iter().enumerate() {
            let g = key(i);
            if !value_of.contains_key(&g) {
                let value = cover.and_then(|c| c.get(n)).cloned().unwrap_or_default();
                value_of.insert(g.clone(), value);
                groups_of_class[i.class].push(g);
            }
        }
        let mut test = std::collections::HashSet::new();
        for (class, groups) in groups_of_class.iter_mut().enumerate() {
            groups.sort();
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(
                seed ^ (class as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            );
            groups.shuffle(&mut rng);
            let n = groups.len();
            let k = if n >= 2 {
                ((test_fraction * n as f64).round() as usize).clamp(1, n - 1)
            } else {
                0
            };
            let mut training: std::collections::HashMap<&str, usize> = Default::default();
            for g in groups.iter() {
                *training.entry(value_of[g].as_str()).or_default() += 1;
            }
            let mut taken = 0;
            for g in groups.iter() {
                if taken == k {
                    break;
                }
                let left = training
                    .get_mut(value_of[g].as_str())
                    .expect("counted above");
                if *left >= 2 {
                    *left -= 1;
                    test.insert(g.clone());
                    taken += 1;
                }
            }
        }
        for i in &mut self.items {
            i.split = if test.contains(&key(i)) {
                Split::Test
            } else {
                Split::Train
            };
        }
    }

    /// The values of `column` in an index CSV, one per scan in the order of
    /// [`Dataset::from_index`]: what [`Dataset::split_by_group`] covers.
    ///
    /// # Errors
    /// As [`Dataset::from_index`] for an unreadable index or a missing column.
    pub fn index_column(index: &Path, column: &str) -> Result<Vec<String>> {
        let mut reader = csv::Reader::from_path(index).map_err(|e| csv_error(index, e))?;
        let headers = reader.headers().map_err(|e| csv_error(index, e))?.clone();
        let c = header_column(index, &headers, column)?;
        reader
            .records()
            .map(|r| {
                let r = r.map_err(|e| csv_error(index, e))?;
                Ok(r.get(c).unwrap_or("").trim().to_string())
            })
            .collect()
    }

    /// Per class: groups and scans in the training and test splits, as
    /// `(class, train groups, train scans, test groups, test scans)`.
    pub fn split_counts(&self) -> Vec<(String, usize, usize, usize, usize)> {
        self.class_names
            .iter()
            .enumerate()
            .map(|(c, name)| {
                let count = |split: Split| {
                    let items: Vec<&Item> = self
                        .items
                        .iter()
                        .filter(|i| i.class == c && i.split == split)
                        .collect();
                    let groups: std::collections::HashSet<_> =
                        items.iter().map(|i| i.group.as_deref()).collect();
                    (groups.len(), items.len())
                };
                let ((tg, ts), (eg, es)) = (count(Split::Train), count(Split::Test));
                (name.clone(), tg, ts, eg, es)
            })
            .collect()
    }
}

/// The position of column `name` in an index's header; the error lists the columns there are.
fn header_column(index: &Path, headers: &csv::StringRecord, name: &str) -> Result<usize> {
    headers.iter().position(|h| h == name).ok_or_else(|| {
        Error::format(
            index,
            format!(
                "no column {name:?}; the columns are {}",
                headers.iter().collect::<Vec<_>>().join(", ")
            ),
        )
    })
}

pub(crate) fn csv_error(path: &Path, e: csv::Error) -> Error {
    match e.position() {
        Some(p) => Error::format(path, format!("line {}: {e}", p.line())),
        None => Error::format(path, e.to_string()),
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
                // Each DALES object is a different physical object.
                group: None,
                labels: None,
                window: None,
            })
            .collect(),
    })
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

    /// Each class's intersection over union, `TP / (TP + FP + FN)` (`None` for a class neither
    /// present nor predicted), and their mean over the classes that have one (mIoU).
    pub fn iou(&self) -> (Vec<Option<f64>>, f64) {
        let n = self.counts.len();
        let per_class: Vec<Option<f64>> = (0..n)
            .map(|k| {
                let tp = self.counts[k][k];
                let truth: usize = self.counts[k].iter().sum();
                let predicted: usize = (0..n).map(|t| self.counts[t][k]).sum();
                let union = truth + predicted - tp;
                (union > 0).then(|| tp as f64 / union as f64)
            })
            .collect();
        let present: Vec<f64> = per_class.iter().flatten().copied().collect();
        let mean = if present.is_empty() {
            0.0
        } else {
            present.iter().sum::<f64>() / present.len() as f64
        };
        (per_class, mean)
    }

    /// Adds another matrix of the same classes.
    pub fn merge(&mut self, other: &Confusion) {
        for (row, o) in self.counts.iter_mut().zip(&other.counts) {
            row.iter_mut().zip(o).for_each(|(a, b)| *a += b);
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
mod group_tests;
#[cfg(test)]
mod tests;
