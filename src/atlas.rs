//! Global views of a dataset (`pointlime atlas`, issue #18, item 7): every scan's global feature
//! embedded in two dimensions by t-SNE (van der Maaten and Hinton, JMLR 2008; the bhtsne crate,
//! named here only), one row per scan in a CSV that the viewer opens by row.
//!
//! t-SNE is made deterministic: its starting layout is drawn from the seed (bhtsne would draw it
//! from the thread's own generator), and it runs on one thread of its own, so that rayon's
//! parallel sums add in one order whatever the machine's thread count.

use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use crate::dataset::csv_error;
use crate::error::{Error, Result};

/// One scan of the atlas.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AtlasRow {
    /// The scan, as the dataset names it.
    pub path: String,
    /// Its labelled class.
    pub truth: String,
    /// The model's class.
    pub predicted: String,
    /// The predicted class's probability.
    pub probability: f64,
    /// The labelled class's logit: how strongly the scan activates its own class.
    pub truth_logit: f64,
    /// The t-SNE coordinates.
    pub x: f64,
    pub y: f64,
    /// The explained scan (relative to the CSV's directory), which the viewer opens.
    pub explained: String,
    /// The explanation's three most important segments, most important first.
    pub top_segments: String,
}

/// Embeds `rows` features of width `dim` (row-major) in two dimensions: exact t-SNE on Euclidean
/// distances, `perplexity` lowered to what the number of rows allows, 1000 epochs, the start
/// drawn from `seed`.
///
/// # Errors
/// [`Error::Config`] for fewer than 4 rows or non-finite features.
pub fn tsne(features: &[f32], dim: usize, perplexity: f32, seed: u64) -> Result<Vec<[f64; 2]>> {
    let n = features.len().checked_div(dim).unwrap_or(0);
    if n < 4 {
        return Err(Error::Config(format!(
            "an embedding needs at least 4 scans, got {n}"
        )));
    }
    if features.iter().any(|v| !v.is_finite()) {
        return Err(Error::Config(
            "the scans' features hold non-finite values".into(),
        ));
    }
    // bhtsne panics unless n − 1 ≥ 3 · perplexity.
    let perplexity = perplexity.min((n - 1) as f32 / 3.0).max(1.0);
    let rows: Vec<&[f32]> = features.chunks(dim).collect();
    let normal = Normal::new(0.0f32, 1e-4).map_err(|e| Error::Config(e.to_string()))?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let start: Vec<f32> = (0..2 * n).map(|_| normal.sample(&mut rng)).collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .map_err(|e| Error::Config(format!("cannot start the t-SNE thread: {e}")))?;
    let embedding = pool.install(|| {
        bhtsne::tSNE::<f32, &[f32], 2>::new(&rows)
            .perplexity(perplexity)
            .epochs(1000)
            .initial_embedding(start)
            .exact(|a, b| {
                a.iter()
                    .zip(b.iter())
                    .map(|(x, y)| (x - y) * (x - y))
                    .sum::<f32>()
                    .sqrt()
            })
            .embedding()
    });
    Ok(embedding
        .chunks_exact(2)
        .map(|p| [p[0] as f64, p[1] as f64])
        .collect())
}

/// Writes the atlas CSV atomically.
///
/// # Errors
/// [`Error::Io`] when it cannot be written.
pub fn write_csv(path: &Path, rows: &[AtlasRow]) -> Result<()> {
    crate::io::write_atomic_at(path, ".csv", |tmp| {
        let mut w = csv::Writer::from_path(tmp).map_err(|e| csv_error(path, e))?;
        for r in rows {
            w.serialize(r).map_err(|e| csv_error(path, e))?;
        }
        w.flush().map_err(|e| Error::io(path, e))
    })
}

/// Reads an atlas CSV.
///
/// # Errors
/// [`Error::Io`] or [`Error::Format`] naming the file and line.
pub fn read_csv(path: &Path) -> Result<Vec<AtlasRow>> {
    let mut r = csv::Reader::from_path(path).map_err(|e| csv_error(path, e))?;
    r.deserialize()
        .map(|row| row.map_err(|e| csv_error(path, e)))
        .collect()
}

/// The explained scan of row `row` (from 0) of the atlas CSV at `path`, resolved against the
/// CSV's directory.
///
/// # Errors
/// As [`read_csv`]; [`Error::Format`] for a row the CSV does not have.
pub fn explained_scan(path: &Path, row: usize) -> Result<PathBuf> {
    let rows = read_csv(path)?;
    let r = rows.get(row).ok_or_else(|| {
        Error::format(
            path,
            format!(
                "no row {row}: the atlas has rows 0 to {}",
                rows.len().saturating_sub(1)
            ),
        )
    })?;
    Ok(path.parent().unwrap_or(Path::new(".")).join(&r.explained))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clusters() -> Vec<f32> {
        // Two tight clusters of 12 points in 8 dimensions, far apart.
        (0..24)
            .flat_map(|i| {
                let centre = if i < 12 { 0.0 } else { 10.0 };
                (0..8).map(move |d| centre + ((i * 7 + d * 3) % 5) as f32 * 0.01)
            })
            .collect()
    }

    #[test]
    fn the_embedding_is_fixed_by_its_seed_and_keeps_clusters_apart() {
        let f = clusters();
        let a = tsne(&f, 8, 30.0, 7).unwrap();
        assert_eq!(a, tsne(&f, 8, 30.0, 7).unwrap());
        // The same on a pool of another size: t-SNE runs on its own thread.
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        assert_eq!(a, pool.install(|| tsne(&f, 8, 30.0, 7).unwrap()));
        assert_ne!(a, tsne(&f, 8, 30.0, 8).unwrap());
        // Every point is nearer the other points of its cluster than any of the other's.
        let d = |p: [f64; 2], q: [f64; 2]| ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2)).sqrt();
        for i in 0..24 {
            let same = (0..24).filter(|&j| j != i && (j < 12) == (i < 12));
            let other = (0..24).filter(|&j| (j < 12) != (i < 12));
            let far = same.map(|j| d(a[i], a[j])).fold(0.0, f64::max);
            let near = other.map(|j| d(a[i], a[j])).fold(f64::INFINITY, f64::min);
            assert!(far < near, "point {i}: {far} vs {near}");
        }
        assert!(tsne(&f[..24], 8, 30.0, 7).is_err());
    }

    #[test]
    fn rows_round_trip_and_name_their_scan() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("atlas.csv");
        let row = AtlasRow {
            path: "a/b.xyz".into(),
            truth: "car".into(),
            predicted: "tree".into(),
            probability: 0.75,
            truth_logit: -1.5,
            x: 1.0,
            y: -2.0,
            explained: "scans/b.explained.ply".into(),
            top_segments: "3 7 1".into(),
        };
        write_csv(&path, std::slice::from_ref(&row)).unwrap();
        assert_eq!(read_csv(&path).unwrap(), vec![row]);
        assert_eq!(
            explained_scan(&path, 0).unwrap(),
            dir.path().join("scans/b.explained.ply")
        );
        let err = explained_scan(&path, 3).unwrap_err().to_string();
        assert!(
            err.contains("atlas.csv") && err.contains("no row 3"),
            "{err}"
        );
    }
}
