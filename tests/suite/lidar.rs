//! Issue #29, item 7: the per-point LiDAR classifier on the real classified tiles of
//! `$POINTLIME_DATA/lidar_scenes` (skipped without the data, required in CI): windows laid by
//! tile, and a region of a large tile explained in one window.

use std::path::{Path, PathBuf};

use pointlime::cloud::PointCloud;
use pointlime::dataset::{Dataset, Split};

use crate::common::{bin, tempdir};
use crate::real_data::data_dir;

const LABELS: &str = "classification:ground=2;vegetation=3|4|5;building=6";

fn ign_tiles(data: &Path) -> Vec<PathBuf> {
    let mut tiles: Vec<PathBuf> = std::fs::read_dir(data.join("lidar_scenes/ign_lidarhd"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "laz"))
        .collect();
    tiles.sort();
    assert_eq!(tiles.len(), 6);
    tiles
}

/// `manifest --tiles` as the model card gives it: no tile in both splits, each test tile
/// partitioned so that every one of its points is in exactly one window, and the same windows as
/// the committed `models/lidar/split.csv`, which the model was trained and measured on.
#[test]
fn tiles_split_by_tile_and_each_test_point_lies_in_one_window() {
    let Some(data) = data_dir() else { return };
    let dir = tempdir();
    let out = dir.path().join("split.csv");
    let tiles = ign_tiles(&data);
    let o = bin()
        .args(["manifest", "--tiles"])
        .args(&tiles)
        .args(["--window", "20", "--stride", "5", "--test-match", "77060_"])
        .args(["--labels", LABELS, "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ds = Dataset::from_manifest(&out).unwrap();
    assert!(ds.leaking_groups().is_empty());
    assert!(ds.items.iter().all(|i| i.labels.as_deref() == Some(LABELS)));
    let test = ds.split(Split::Test);
    assert_eq!(test.len(), 18);
    for tile in tiles
        .iter()
        .filter(|t| t.to_string_lossy().contains("77060_"))
    {
        let cloud = pointlime::io::read(tile).unwrap();
        let stem = tile.file_stem().unwrap().to_string_lossy();
        let windows: Vec<_> = test
            .iter()
            .filter(|i| i.group.as_deref() == Some(&*stem))
            .map(|i| i.window.unwrap())
            .collect();
        assert_eq!(windows.len(), 9);
        for p in &cloud.positions {
            assert_eq!(windows.iter().filter(|w| w.contains(p)).count(), 1, "{p:?}");
        }
    }

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let committed = Dataset::from_manifest(&root.join("models/lidar/split.csv")).unwrap();
    assert_eq!(committed.items.len(), ds.items.len());
    for (a, b) in committed.items.iter().zip(&ds.items) {
        assert_eq!(
            (a.path.canonicalize().unwrap(), a.split, &a.labels, a.window),
            (b.path.canonicalize().unwrap(), b.split, &b.labels, b.window)
        );
    }
}

/// The six IGN tiles joined into one 150 × 100 m tile of 405,937 points, as a user's tile of any
/// size comes.
fn joined_tile(data: &Path, out: &Path) -> PointCloud {
    let mut joined: Option<PointCloud> = None;
    for tile in ign_tiles(data) {
        let cloud = pointlime::io::read(&tile).unwrap();
        match &mut joined {
            None => joined = Some(cloud),
            Some(j) => {
                j.positions.extend_from_slice(&cloud.positions);
                for (a, b) in j.attributes.iter_mut().zip(&cloud.attributes) {
                    assert_eq!(a.name, b.name);
                    a.values.extend_from_slice(&b.values);
                }
            }
        }
    }
    let joined = joined.unwrap();
    assert_eq!(joined.len(), 405_937);
    pointlime::io::write(out, &joined, Default::default()).unwrap();
    joined
}

/// The point at the heart of the largest roof of the held-out tiles: the labelled building
/// point with the most building points within 2 m across, found on a 2 m grid.
fn roof_point(cloud: &PointCloud) -> usize {
    let class = &cloud.attribute("classification").unwrap().values;
    let mut cells: std::collections::HashMap<(i64, i64), (usize, usize)> = Default::default();
    for (i, p) in cloud.positions.iter().enumerate() {
        if class[i] == 6.0 && p[0] >= 770_600.0 {
            let cell = ((p[0] / 2.0).floor() as i64, (p[1] / 2.0).floor() as i64);
            cells.entry(cell).or_insert((0, i)).0 += 1;
        }
    }
    let (_, &(_, first)) = cells
        .iter()
        .max_by_key(|(cell, (count, _))| (*count, std::cmp::Reverse(**cell)))
        .unwrap();
    first
}

/// Item 7's window rule on a large tile: `--point I` on a roof of the held-out tiles is
/// explained in the model's 20 m window around it, for the class the model gives the point (the
/// rest of the 406k points written back with no class); the window's points keep their own
/// classes for `--labels`; without a place to look the tile is refused in one line with nothing
/// written.
#[test]
fn a_roof_of_a_large_tile_is_explained_in_one_window() {
    let Some(data) = data_dir() else { return };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempdir();
    let tile = dir.path().join("joined.las");
    let cloud = joined_tile(&data, &tile);
    let roof = roof_point(&cloud);
    let model = root.join("models/lidar");
    let out = dir.path().join("roof.explained.las");
    let o = bin()
        .arg("explain")
        .arg(&tile)
        .args(["--model", model.to_str().unwrap()])
        .args(["--point", &roof.to_string(), "--labels", LABELS])
        .args(["--samples", "300", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.with_extension("json")).unwrap())
            .unwrap();
    let crop = &report["settings"]["scene"]["crop"]["box"];
    let side = crop["max"][0].as_f64().unwrap() - crop["min"][0].as_f64().unwrap();
    assert!((side - 20.0).abs() < 1e-9, "{crop}");
    let cropped = report["scene"]["cropped"].as_u64().unwrap();
    assert!(cropped > 390_000, "{}", report["scene"]);
    let region = &report["regions"][0];
    assert!(
        region["stand_in_distance"].as_f64().unwrap() < 1.0,
        "{region}"
    );
    // The window's points scored against the tile's own classes, which travel with them.
    let scores = &report["label_scores"];
    assert!(scores["points"].as_u64().unwrap() > 1000, "{scores}");
    assert!(scores["iou"][0].as_f64().unwrap() > 0.5, "ground: {scores}");
    let explained = pointlime::io::read(&out).unwrap();
    assert_eq!(explained.len(), cloud.len(), "every point written back");
    // The class explained is the one the model gives the point; outside the window, none.
    let predicted = &explained.attribute("predicted").unwrap().values;
    assert_eq!(
        predicted[roof],
        region["target"].as_f64().unwrap(),
        "{region}"
    );
    assert_eq!(
        predicted.iter().filter(|&&c| c == 65535.0).count() as u64,
        cropped
    );

    let refused = dir.path().join("whole.explained.las");
    let o = bin()
        .arg("explain")
        .arg(&tile)
        .args(["--model", model.to_str().unwrap(), "--out"])
        .arg(&refused)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("joined.las") && err.contains("say where to look"),
        "{err}"
    );
    assert!(!refused.exists());
}
