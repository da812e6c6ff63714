//! Supervoxels: spatially compact, connected clusters of points.
//!
//! # Algorithm
//! Farthest-point-seeded k-means with a connectivity pass, in the spirit of VCCS (Papon et al.,
//! "Voxel Cloud Connectivity Segmentation", CVPR 2013) but on positions only, since most LiDAR
//! objects carry no colour:
//!
//! 1. **Seeds.** For a target count K: farthest-point sampling over a seeded random subsample
//!    (at most [`SegmentConfig::subsample`] points), which spreads seeds evenly over the object's
//!    extent. For a seed resolution R in metres: one seed per occupied R-voxel, as VCCS does.
//! 2. **Lloyd iterations** on the subsample (nearest centroid through a k-d tree, then means), then
//!    one assignment of every point. Clusters are Voronoi cells, hence compact.
//! 3. **Connectivity.** Points are linked when they fall in the same or 26-adjacent voxels of side
//!    `link` (by default the 95th percentile, over a sample, of the distance from a point to its
//!    6th nearest neighbour: the voxel graph then links every point to its near neighbourhood even
//!    where sampling is uneven, while gaps wider than that split). A cluster that is several
//!    pieces keeps its largest piece; each other piece joins the neighbouring segment it touches
//!    most, or becomes a segment of its own when it touches none (an isolated part of the cloud).
//! 4. **Tiny segments** (fewer than [`SegmentConfig::min_fraction`] of the mean size) join the
//!    neighbouring segment they touch most.
//!
//! Labels are then renumbered in order of each segment's first point. Every step is deterministic
//! for a seed and independent of the thread count (parallel work is per point; sums are serial).

pub(crate) mod kdtree;

use std::collections::HashMap;

use rand::seq::index;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

pub use kdtree::KdTree;

use crate::error::{Error, Result};

/// How many supervoxels to make.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// About this many segments (the connectivity pass may add or remove a few).
    Count(usize),
    /// One seed per occupied voxel of this side, in the units of the points (metres for LiDAR).
    Resolution(f64),
}

/// Supervoxel settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SegmentConfig {
    /// Target count or seed resolution. By default, 50 segments.
    pub target: Target,
    /// Seed for the subsample and the first farthest point. By default, 0.
    pub seed: u64,
    /// Lloyd iterations at most. By default, 10.
    pub iterations: usize,
    /// Points used for seeding and Lloyd iterations. By default, 50,000.
    pub subsample: usize,
    /// Segments smaller than this fraction of the mean segment size are merged. By default, 0.1.
    pub min_fraction: f64,
    /// Side of the connectivity voxels; `None` picks it from the point spacing (module docs).
    /// By default, `None`.
    pub link: Option<f64>,
}

impl Default for SegmentConfig {
    fn default() -> Self {
        SegmentConfig {
            target: Target::Count(50),
            seed: 0,
            iterations: 10,
            subsample: 50_000,
            min_fraction: 0.1,
            link: None,
        }
    }
}

impl SegmentConfig {
    /// Checks the settings once, before any work.
    ///
    /// # Errors
    /// [`Error::Config`] for a zero count, a non-positive resolution or link, or a subsample of 0.
    pub fn validate(&self) -> Result<()> {
        match self.target {
            Target::Count(0) => return Err(Error::Config("segments must be at least 1".into())),
            Target::Resolution(r) if !(r > 0.0 && r.is_finite()) => {
                return Err(Error::Config(format!(
                    "resolution must be positive, got {r}"
                )))
            }
            _ => {}
        }
        if self.subsample == 0 {
            return Err(Error::Config("subsample must be at least 1".into()));
        }
        if let Some(l) = self.link {
            if !(l > 0.0 && l.is_finite()) {
                return Err(Error::Config(format!("link must be positive, got {l}")));
            }
        }
        Ok(())
    }
}

/// A label per point, labels `0..count`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segmentation {
    /// The segment of each point.
    pub labels: Vec<u32>,
    /// Number of segments; every label in `0..count` has at least one point.
    pub count: usize,
    /// The connectivity voxel side that was used.
    #[serde(skip)]
    pub link: f64,
}

impl Segmentation {
    /// Points per segment.
    pub fn sizes(&self) -> Vec<usize> {
        let mut s = vec![0; self.count];
        for &l in &self.labels {
            s[l as usize] += 1;
        }
        s
    }

    /// Mean position of each segment.
    pub fn centroids(&self, points: &[[f64; 3]]) -> Vec<[f64; 3]> {
        let mut sum = vec![[0.0f64; 3]; self.count];
        for (p, &l) in points.iter().zip(&self.labels) {
            for a in 0..3 {
                sum[l as usize][a] += p[a];
            }
        }
        sum.iter()
            .zip(self.sizes())
            .map(|(s, n)| s.map(|v| v / n.max(1) as f64))
            .collect()
    }
}

/// Cuts points into supervoxels. See the [module docs](self) for the algorithm.
///
/// # Errors
/// [`Error::Config`] for invalid settings or an empty point set.
pub fn supervoxels(points: &[[f32; 3]], config: &SegmentConfig) -> Result<Segmentation> {
    config.validate()?;
    if points.is_empty() {
        return Err(Error::Config("cannot segment an empty cloud".into()));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let n = points.len();
    let sample: Vec<[f32; 3]> = if n > config.subsample {
        let mut idx = index::sample(&mut rng, n, config.subsample).into_vec();
        idx.sort_unstable();
        idx.into_iter().map(|i| points[i]).collect()
    } else {
        points.to_vec()
    };

    let mut centres = match config.target {
        Target::Count(k) => farthest_points(&sample, k.min(n), &mut rng),
        Target::Resolution(r) => voxel_means(&sample, r as f32),
    };
    for _ in 0..config.iterations {
        let labels = assign(&sample, &centres);
        let next = means(&sample, &labels, centres.len());
        let moved = next.iter().zip(&centres).any(|(a, b)| a != b);
        centres = next;
        if !moved {
            break;
        }
    }
    let labels = assign(points, &centres);

    let link = config
        .link
        .map(|l| l as f32)
        .unwrap_or_else(|| link_spacing(points, &mut rng));
    let grid = VoxelGraph::new(points, link);
    let mut labels = compact(labels);
    labels = grid.make_connected(labels);
    let count = count_labels(&labels);
    let min_size = (config.min_fraction * n as f64 / count as f64).floor() as usize;
    labels = grid.merge_small(labels, min_size);
    let labels = compact(labels);
    let count = count_labels(&labels);
    Ok(Segmentation {
        labels,
        count,
        link: link as f64,
    })
}

fn dist2(a: &[f32; 3], b: &[f32; 3]) -> f32 {
    (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)
}

/// Farthest-point sampling from a random start (Eldar et al. 1997; PointNet++'s sampling layer).
fn farthest_points(points: &[[f32; 3]], k: usize, rng: &mut ChaCha8Rng) -> Vec<[f32; 3]> {
    let mut chosen = Vec::with_capacity(k);
    let mut next = rng.random_range(0..points.len());
    let mut nearest = vec![f32::INFINITY; points.len()];
    for _ in 0..k {
        let c = points[next];
        chosen.push(c);
        let (mut best, mut best_d) = (0, -1.0f32);
        for (i, p) in points.iter().enumerate() {
            let d = dist2(p, &c).min(nearest[i]);
            nearest[i] = d;
            if d > best_d {
                best_d = d;
                best = i;
            }
        }
        // Fewer distinct positions than k: stop rather than seed the same point twice.
        if best_d <= 0.0 {
            break;
        }
        next = best;
    }
    chosen
}

fn voxel_key(p: &[f32; 3], side: f32) -> [i32; 3] {
    p.map(|c| (c / side).floor() as i32)
}

fn add(sum: &mut [f64; 3], p: &[f32; 3]) {
    for (s, &c) in sum.iter_mut().zip(p) {
        *s += c as f64;
    }
}

fn voxel_means(points: &[[f32; 3]], side: f32) -> Vec<[f32; 3]> {
    let mut cells: HashMap<[i32; 3], ([f64; 3], usize)> = HashMap::new();
    for p in points {
        let e = cells.entry(voxel_key(p, side)).or_default();
        add(&mut e.0, p);
        e.1 += 1;
    }
    let mut cells: Vec<_> = cells.into_iter().collect();
    cells.sort_unstable_by_key(|(k, _)| *k);
    cells
        .into_iter()
        .map(|(_, (s, n))| s.map(|v| (v / n as f64) as f32))
        .collect()
}

fn assign(points: &[[f32; 3]], centres: &[[f32; 3]]) -> Vec<u32> {
    let tree = KdTree::new(centres);
    points.par_iter().map(|p| tree.nearest(p).0).collect()
}

fn means(points: &[[f32; 3]], labels: &[u32], k: usize) -> Vec<[f32; 3]> {
    let mut sum = vec![([0.0f64; 3], 0usize); k];
    for (p, &l) in points.iter().zip(labels) {
        let s = &mut sum[l as usize];
        add(&mut s.0, p);
        s.1 += 1;
    }
    // An emptied cluster is dropped: its seed lost every point to its neighbours.
    sum.into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(s, n)| s.map(|v| (v / n as f64) as f32))
        .collect()
}

/// The 95th percentile, over a sample of at most 2,000 points, of the distance from a point to its
/// 6th nearest other point.
fn link_spacing(points: &[[f32; 3]], rng: &mut ChaCha8Rng) -> f32 {
    let tree = KdTree::new(points);
    let m = points.len().min(2000);
    let idx = index::sample(rng, points.len(), m).into_vec();
    let mut d: Vec<f32> = idx
        .iter()
        .filter_map(|&i| {
            tree.nearest_n(&points[i], 7)
                .last()
                .map(|(_, d2)| d2.sqrt())
        })
        .filter(|&d| d > 0.0)
        .collect();
    if d.is_empty() {
        // Every sampled point has 6 duplicates: any positive side links them.
        return 1.0;
    }
    let q = (d.len() * 95 / 100).min(d.len() - 1);
    *d.select_nth_unstable_by(q, f32::total_cmp).1
}

fn count_labels(labels: &[u32]) -> usize {
    labels.iter().max().map_or(0, |&m| m as usize + 1)
}

/// Renumbers labels `0..count` in order of first appearance.
fn compact(labels: Vec<u32>) -> Vec<u32> {
    let mut map: HashMap<u32, u32> = HashMap::new();
    labels
        .into_iter()
        .map(|l| {
            let next = map.len() as u32;
            *map.entry(l).or_insert(next)
        })
        .collect()
}

/// Points binned into voxels; two points are linked when their voxels are equal or 26-adjacent.
struct VoxelGraph {
    /// Voxel of each point.
    voxel_of: Vec<u32>,
    /// Neighbouring voxels (26-adjacency, itself excluded) of each voxel.
    neighbours: Vec<Vec<u32>>,
}

impl VoxelGraph {
    fn new(points: &[[f32; 3]], side: f32) -> Self {
        let mut ids: HashMap<[i32; 3], u32> = HashMap::new();
        let mut keys = Vec::new();
        let voxel_of = points
            .iter()
            .map(|p| {
                let k = voxel_key(p, side);
                *ids.entry(k).or_insert_with(|| {
                    keys.push(k);
                    keys.len() as u32 - 1
                })
            })
            .collect();
        let neighbours = keys
            .iter()
            .map(|k| {
                let mut n = Vec::new();
                for dx in -1..=1 {
                    for dy in -1..=1 {
                        for dz in -1..=1 {
                            if (dx, dy, dz) == (0, 0, 0) {
                                continue;
                            }
                            if let Some(&j) = ids.get(&[k[0] + dx, k[1] + dy, k[2] + dz]) {
                                n.push(j);
                            }
                        }
                    }
                }
                n
            })
            .collect();
        VoxelGraph {
            voxel_of,
            neighbours,
        }
    }

    /// The connected pieces of each label: nodes are (voxel, label) pairs, joined when their
    /// voxels are adjacent and their labels equal. Returns the piece of each point and the
    /// label and point count of each piece.
    fn pieces(&self, labels: &[u32]) -> (Vec<u32>, Vec<(u32, usize)>) {
        let mut node_of: HashMap<(u32, u32), u32> = HashMap::new();
        let mut nodes: Vec<(u32, u32)> = Vec::new();
        let point_node: Vec<u32> = self
            .voxel_of
            .iter()
            .zip(labels)
            .map(|(&v, &l)| {
                *node_of.entry((v, l)).or_insert_with(|| {
                    nodes.push((v, l));
                    nodes.len() as u32 - 1
                })
            })
            .collect();
        let mut uf = UnionFind::new(nodes.len());
        for (i, &(v, l)) in nodes.iter().enumerate() {
            for &w in &self.neighbours[v as usize] {
                if let Some(&j) = node_of.get(&(w, l)) {
                    uf.union(i as u32, j);
                }
            }
        }
        let mut piece_of_root: HashMap<u32, u32> = HashMap::new();
        let mut pieces: Vec<(u32, usize)> = Vec::new();
        let point_piece = point_node
            .iter()
            .map(|&node| {
                let root = uf.find(node);
                let p = *piece_of_root.entry(root).or_insert_with(|| {
                    pieces.push((nodes[node as usize].1, 0));
                    pieces.len() as u32 - 1
                });
                pieces[p as usize].1 += 1;
                p
            })
            .collect();
        (point_piece, pieces)
    }

    /// How many point-voxel contacts each piece has with each other label: for each piece, the
    /// labels found in its voxels' neighbourhoods, weighted by points.
    fn contacts(
        &self,
        labels: &[u32],
        point_piece: &[u32],
        n_pieces: usize,
    ) -> Vec<HashMap<u32, usize>> {
        let mut labels_in_voxel: Vec<Vec<(u32, usize)>> = vec![Vec::new(); self.neighbours.len()];
        for (&v, &l) in self.voxel_of.iter().zip(labels) {
            let cell = &mut labels_in_voxel[v as usize];
            match cell.iter_mut().find(|(x, _)| *x == l) {
                Some(e) => e.1 += 1,
                None => cell.push((l, 1)),
            }
        }
        let mut pieces_in_voxel: Vec<Vec<u32>> = vec![Vec::new(); self.neighbours.len()];
        for (&v, &p) in self.voxel_of.iter().zip(point_piece) {
            if !pieces_in_voxel[v as usize].contains(&p) {
                pieces_in_voxel[v as usize].push(p);
            }
        }
        let mut out = vec![HashMap::new(); n_pieces];
        for (v, pieces) in pieces_in_voxel.iter().enumerate() {
            for &p in pieces {
                for &w in self.neighbours[v]
                    .iter()
                    .chain(std::iter::once(&(v as u32)))
                {
                    for &(l, c) in &labels_in_voxel[w as usize] {
                        *out[p as usize].entry(l).or_insert(0) += c;
                    }
                }
            }
        }
        out
    }

    /// Makes every label one connected piece (see the module docs, step 3).
    fn make_connected(&self, mut labels: Vec<u32>) -> Vec<u32> {
        // Each round moves stray pieces into a neighbour; a piece can land in another stray piece,
        // so repeat. Three rounds settle every cloud seen in testing; the final split guarantees
        // connectivity regardless.
        for _ in 0..3 {
            let (point_piece, pieces) = self.pieces(&labels);
            let mut largest: HashMap<u32, (usize, u32)> = HashMap::new();
            for (i, &(l, size)) in pieces.iter().enumerate() {
                let e = largest.entry(l).or_insert((0, u32::MAX));
                if size > e.0 {
                    *e = (size, i as u32);
                }
            }
            if largest.len() == pieces.len() {
                return labels;
            }
            let contacts = self.contacts(&labels, &point_piece, pieces.len());
            let target: Vec<u32> = pieces
                .iter()
                .enumerate()
                .map(|(i, &(l, _))| {
                    if largest[&l].1 == i as u32 {
                        return l;
                    }
                    best_other(&contacts[i], l).unwrap_or(l)
                })
                .collect();
            for (label, &p) in labels.iter_mut().zip(&point_piece) {
                *label = target[p as usize];
            }
        }
        // Whatever is still in several pieces becomes one segment per piece.
        let (point_piece, _) = self.pieces(&labels);
        compact(point_piece)
    }

    /// Merges segments smaller than `min_size` points into the neighbour they touch most.
    fn merge_small(&self, mut labels: Vec<u32>, min_size: usize) -> Vec<u32> {
        if min_size <= 1 {
            return labels;
        }
        let (point_piece, pieces) = self.pieces(&labels);
        let contacts = self.contacts(&labels, &point_piece, pieces.len());
        // Merge smallest first, and never into a segment that is itself being merged away, so that
        // chains of merges cannot strand a piece.
        let mut order: Vec<usize> = (0..pieces.len())
            .filter(|&i| pieces[i].1 < min_size)
            .collect();
        order.sort_by_key(|&i| (pieces[i].1, i));
        let small: std::collections::HashSet<u32> = order.iter().map(|&i| pieces[i].0).collect();
        let mut target: Vec<u32> = pieces.iter().map(|p| p.0).collect();
        for &i in &order {
            let l = pieces[i].0;
            let candidates: HashMap<u32, usize> = contacts[i]
                .iter()
                .filter(|(other, _)| !small.contains(other))
                .map(|(&k, &v)| (k, v))
                .collect();
            if let Some(to) = best_other(&candidates, l) {
                target[i] = to;
            }
        }
        for (label, &p) in labels.iter_mut().zip(&point_piece) {
            *label = target[p as usize];
        }
        labels
    }
}

/// The label other than `own` with the most contacts; ties go to the smaller label.
fn best_other(contacts: &HashMap<u32, usize>, own: u32) -> Option<u32> {
    contacts
        .iter()
        .filter(|(&l, _)| l != own)
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        .map(|(&l, _)| l)
}

struct UnionFind {
    parent: Vec<u32>,
}

impl UnionFind {
    fn new(n: usize) -> Self {
        UnionFind {
            parent: (0..n as u32).collect(),
        }
    }
    fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let p = self.parent[x as usize];
            self.parent[x as usize] = self.parent[p as usize];
            x = p;
        }
        x
    }
    fn union(&mut self, a: u32, b: u32) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            // Smaller root wins so that the result does not depend on union order.
            let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
            self.parent[hi as usize] = lo;
        }
    }
}
