//! The connectivity half of supervoxels (module docs, steps 3 and 4): points binned into voxels
//! and linked with their 26 neighbours; a segment in several pieces keeps its largest, the others
//! join the neighbour they touch most; tiny segments merge the same way.

use std::collections::HashMap;

use rustc_hash::{FxHashMap, FxHashSet};

use super::cluster::voxel_key;
use super::kdtree::KdTree;

pub(super) fn count_labels(labels: &[u32]) -> usize {
    labels.iter().max().map_or(0, |&m| m as usize + 1)
}

/// Renumbers labels `0..count` in order of first appearance.
pub(super) fn compact(labels: Vec<u32>) -> Vec<u32> {
    // FxHash: this runs over every point of a scan, several times per segmentation.
    let mut map: FxHashMap<u32, u32> = FxHashMap::default();
    labels
        .into_iter()
        .map(|l| {
            let next = map.len() as u32;
            *map.entry(l).or_insert(next)
        })
        .collect()
}

/// Points binned into voxels; two points are linked when their voxels are equal or 26-adjacent.
///
/// Built for millions of points: voxels are numbered in order of first point, their points and
/// their 13 "forward" neighbours (the other 13 see them as forward) are kept in flat arrays, and
/// the full 26-neighbourhood is looked up only for the few pieces that need contacts.
pub(super) struct VoxelGraph {
    /// Voxel of each point.
    voxel_of: Vec<u32>,
    /// Points of voxel `v`: `points[point_start[v]..point_start[v + 1]]`, ascending.
    point_start: Vec<u32>,
    points: Vec<u32>,
    /// Forward neighbours of voxel `v`: `forward[forward_start[v]..forward_start[v + 1]]`.
    forward_start: Vec<u32>,
    forward: Vec<u32>,
    /// Voxel id of each occupied grid cell.
    ids: FxHashMap<[i32; 3], u32>,
    /// Grid coordinates of each voxel.
    keys: Vec<[i32; 3]>,
    side: f32,
}

/// The 13 offsets that are lexicographically after (0, 0, 0): each adjacent pair once.
fn forward_offsets() -> impl Iterator<Item = [i32; 3]> {
    (-1..=1)
        .flat_map(|dx| (-1..=1).flat_map(move |dy| (-1..=1).map(move |dz| [dx, dy, dz])))
        .filter(|&d| d > [0, 0, 0])
}

/// CSR arrays of `groups` (a group id `< n` per item): start offsets and items by group.
fn group_by(groups: &[u32], n: usize) -> (Vec<u32>, Vec<u32>) {
    let mut start = vec![0u32; n + 1];
    for &g in groups {
        start[g as usize + 1] += 1;
    }
    for i in 0..n {
        start[i + 1] += start[i];
    }
    let mut next = start.clone();
    let mut items = vec![0u32; groups.len()];
    for (i, &g) in groups.iter().enumerate() {
        items[next[g as usize] as usize] = i as u32;
        next[g as usize] += 1;
    }
    (start, items)
}

impl VoxelGraph {
    pub(super) fn new(points: &[[f32; 3]], side: f32) -> Self {
        let mut ids: FxHashMap<[i32; 3], u32> = FxHashMap::default();
        let mut keys = Vec::new();
        let voxel_of: Vec<u32> = points
            .iter()
            .map(|p| {
                let k = voxel_key(p, side);
                *ids.entry(k).or_insert_with(|| {
                    keys.push(k);
                    keys.len() as u32 - 1
                })
            })
            .collect();
        let (point_start, point_list) = group_by(&voxel_of, keys.len());
        let mut forward_start = Vec::with_capacity(keys.len() + 1);
        let mut forward = Vec::new();
        forward_start.push(0);
        for k in &keys {
            for d in forward_offsets() {
                if let Some(&j) = ids.get(&[k[0] + d[0], k[1] + d[1], k[2] + d[2]]) {
                    forward.push(j);
                }
            }
            forward_start.push(forward.len() as u32);
        }
        VoxelGraph {
            voxel_of,
            point_start,
            points: point_list,
            forward_start,
            forward,
            ids,
            keys,
            side,
        }
    }

    fn points_in(&self, v: u32) -> &[u32] {
        &self.points
            [self.point_start[v as usize] as usize..self.point_start[v as usize + 1] as usize]
    }

    fn forward_of(&self, v: usize) -> &[u32] {
        &self.forward[self.forward_start[v] as usize..self.forward_start[v + 1] as usize]
    }

    /// Voxel `v` and its occupied 26 neighbours.
    fn neighbourhood(&self, v: u32) -> impl Iterator<Item = u32> + '_ {
        let k = self.keys[v as usize];
        (-1..=1)
            .flat_map(|dx| (-1..=1).flat_map(move |dy| (-1..=1).map(move |dz| [dx, dy, dz])))
            .filter_map(move |d| {
                self.ids
                    .get(&[k[0] + d[0], k[1] + d[1], k[2] + d[2]])
                    .copied()
            })
    }

    /// The connected pieces of each label: nodes are (voxel, label) pairs, joined when their
    /// voxels are adjacent and their labels equal. Returns the piece of each point (pieces
    /// numbered in order of first point) and the label and point count of each piece.
    fn pieces(&self, labels: &[u32]) -> (Vec<u32>, Vec<(u32, usize)>) {
        // Nodes voxel by voxel: most voxels hold one label, so a short list per voxel.
        let n_voxels = self.keys.len();
        let mut node_start = Vec::with_capacity(n_voxels + 1);
        let mut node_label: Vec<u32> = Vec::new();
        let mut point_node = vec![0u32; labels.len()];
        node_start.push(0u32);
        for v in 0..n_voxels as u32 {
            let first = node_label.len();
            for &i in self.points_in(v) {
                let l = labels[i as usize];
                let node = match node_label[first..].iter().position(|&x| x == l) {
                    Some(k) => first + k,
                    None => {
                        node_label.push(l);
                        node_label.len() - 1
                    }
                };
                point_node[i as usize] = node as u32;
            }
            node_start.push(node_label.len() as u32);
        }
        let nodes_of = |v: usize| node_start[v] as usize..node_start[v + 1] as usize;
        let mut uf = UnionFind::new(node_label.len());
        for v in 0..n_voxels {
            for &w in self.forward_of(v) {
                for a in nodes_of(v) {
                    for b in nodes_of(w as usize) {
                        if node_label[a] == node_label[b] {
                            uf.union(a as u32, b as u32);
                        }
                    }
                }
            }
        }
        let mut piece_of_root: FxHashMap<u32, u32> = FxHashMap::default();
        let mut pieces: Vec<(u32, usize)> = Vec::new();
        let point_piece = point_node
            .iter()
            .map(|&node| {
                let root = uf.find(node);
                let p = *piece_of_root.entry(root).or_insert_with(|| {
                    pieces.push((node_label[node as usize], 0));
                    pieces.len() as u32 - 1
                });
                pieces[p as usize].1 += 1;
                p
            })
            .collect();
        (point_piece, pieces)
    }

    /// How many point-voxel contacts each wanted group (a piece or a label; `group` of each
    /// point) has with each label: for each voxel of the group, the labels of the points in that
    /// voxel and its 26 neighbours. Groups not wanted get an empty map.
    fn contacts(
        &self,
        labels: &[u32],
        group: &[u32],
        wanted: &[bool],
    ) -> Vec<FxHashMap<u32, usize>> {
        let mut out = vec![FxHashMap::default(); wanted.len()];
        // Counts add up, so the order of the (voxel, group) pairs does not matter.
        for (v, g) in self.voxels_of(group, wanted) {
            let counts = &mut out[g as usize];
            for w in self.neighbourhood(v) {
                for &i in self.points_in(w) {
                    *counts.entry(labels[i as usize]).or_insert(0) += 1;
                }
            }
        }
        out
    }

    /// The connected piece of each point, numbered in order of first point.
    pub(super) fn components(&self) -> Vec<u32> {
        let (point_piece, _) = self.pieces(&vec![0; self.voxel_of.len()]);
        compact(point_piece)
    }

    /// The centre of voxel `v`.
    fn centre(&self, v: u32) -> [f32; 3] {
        self.keys[v as usize].map(|k| (k as f32 + 0.5) * self.side)
    }

    /// Joins each stray piece of a label (not its largest) to a neighbour (module docs, step 3):
    /// the label it touches most, or, when it touches nothing, the label of the nearest largest
    /// piece if that is within `join_within` (its own label included: a segment may then hold
    /// pieces that do not touch, as a Voronoi cell cut by a gap does); a piece farther than that
    /// from everything becomes a segment of its own.
    pub(super) fn make_connected(&self, mut labels: Vec<u32>, join_within: f32) -> Vec<u32> {
        // Each round moves touching stray pieces into a neighbour; a piece can land in another
        // stray piece, so repeat. Three rounds settle every cloud seen in testing.
        for _ in 0..3 {
            let (point_piece, pieces) = self.pieces(&labels);
            let main = largest_pieces(&pieces);
            if main.len() == pieces.len() {
                return labels;
            }
            let stray = stray_pieces(&pieces, &main);
            let contacts = self.contacts(&labels, &point_piece, &stray);
            let target: Vec<u32> = pieces
                .iter()
                .enumerate()
                .map(|(i, &(l, _))| match stray[i] {
                    true => best_other(&contacts[i], l).unwrap_or(l),
                    false => l,
                })
                .collect();
            for (label, &p) in labels.iter_mut().zip(&point_piece) {
                *label = target[p as usize];
            }
        }
        // What is left in several pieces is isolated pieces (and, rarely, pieces still moving
        // after three rounds): by distance, or a segment of their own.
        let (point_piece, pieces) = self.pieces(&labels);
        let main = largest_pieces(&pieces);
        let stray = stray_pieces(&pieces, &main);
        if !stray.contains(&true) {
            return labels;
        }
        let mut nearest = NearestLabel::new(|| {
            self.voxels_of(&point_piece, &stray.iter().map(|s| !s).collect::<Vec<_>>())
                .into_iter()
                .map(|(v, p)| (v, pieces[p as usize].0))
                .collect()
        });
        let mut voxels: FxHashMap<u32, Vec<u32>> = FxHashMap::default();
        for (v, p) in self.voxels_of(&point_piece, &stray) {
            voxels.entry(p).or_default().push(v);
        }
        let mut next = count_labels(&labels) as u32;
        let target: Vec<u32> = pieces
            .iter()
            .enumerate()
            .map(|(i, &(l, _))| {
                if !stray[i] {
                    return l;
                }
                match nearest.find(self, voxels.get(&(i as u32)).map_or(&[], Vec::as_slice)) {
                    Some((to, d)) if d <= join_within => to,
                    _ => {
                        next += 1;
                        next - 1
                    }
                }
            })
            .collect();
        compact(point_piece.iter().map(|&p| target[p as usize]).collect())
    }

    /// Merges segments smaller than `min_size` points (module docs, step 4) into the segment of
    /// at least that size they touch most, or, touching none, into the nearest one at any
    /// distance: specks far from everything end up in the nearest segment, not on their own.
    pub(super) fn merge_small(&self, mut labels: Vec<u32>, min_size: usize) -> Vec<u32> {
        let count = count_labels(&labels);
        let sizes = point_counts(&labels, count);
        let small: Vec<bool> = sizes.iter().map(|&n| n < min_size).collect();
        if min_size <= 1 || !small.contains(&true) || !small.contains(&false) {
            return labels;
        }
        let contacts = self.contacts(&labels, &labels, &small);
        let large: Vec<bool> = small.iter().map(|s| !s).collect();
        let mut nearest = NearestLabel::new(|| self.voxels_of(&labels, &large));
        let mut voxels: FxHashMap<u32, Vec<u32>> = FxHashMap::default();
        for (v, l) in self.voxels_of(&labels, &small) {
            voxels.entry(l).or_default().push(v);
        }
        let target: Vec<u32> = (0..count as u32)
            .map(|l| {
                if !small[l as usize] {
                    return l;
                }
                let candidates: FxHashMap<u32, usize> = contacts[l as usize]
                    .iter()
                    .filter(|(&other, _)| !small[other as usize])
                    .map(|(&k, &v)| (k, v))
                    .collect();
                best_other(&candidates, l)
                    .or_else(|| {
                        let v = voxels.get(&l).map_or(&[][..], Vec::as_slice);
                        nearest.find(self, v).map(|(to, _)| to)
                    })
                    .unwrap_or(l)
            })
            .collect();
        for label in labels.iter_mut() {
            *label = target[*label as usize];
        }
        labels
    }

    /// The distinct (voxel, group) pairs of the points whose group is `wanted`, in order of
    /// first point.
    fn voxels_of(&self, group: &[u32], wanted: &[bool]) -> Vec<(u32, u32)> {
        let mut seen: FxHashSet<(u32, u32)> = FxHashSet::default();
        self.voxel_of
            .iter()
            .zip(group)
            .filter(|(_, &g)| wanted[g as usize])
            .map(|(&v, &g)| (v, g))
            .filter(|n| seen.insert(*n))
            .collect()
    }
}

/// Whether each piece is a stray one: not the largest (`main`) of its label.
fn stray_pieces(pieces: &[(u32, usize)], main: &HashMap<u32, u32>) -> Vec<bool> {
    (0..pieces.len())
        .map(|i| main[&pieces[i].0] != i as u32)
        .collect()
}

/// The largest piece of each label (ties to the first).
fn largest_pieces(pieces: &[(u32, usize)]) -> HashMap<u32, u32> {
    let mut largest: HashMap<u32, (usize, u32)> = HashMap::new();
    for (i, &(l, size)) in pieces.iter().enumerate() {
        let e = largest.entry(l).or_insert((0, u32::MAX));
        if size > e.0 {
            *e = (size, i as u32);
        }
    }
    largest.into_iter().map(|(l, (_, i))| (l, i)).collect()
}

/// The label of the nearest anchor voxel (a (voxel, label) pair), for pieces that touch nothing.
/// The anchors and their tree are built on first use: most clouds never need them.
struct NearestLabel<F> {
    make: Option<F>,
    anchors: Vec<(u32, u32)>,
    tree: Option<KdTree>,
}

impl<F: FnOnce() -> Vec<(u32, u32)>> NearestLabel<F> {
    fn new(make: F) -> Self {
        NearestLabel {
            make: Some(make),
            anchors: Vec::new(),
            tree: None,
        }
    }

    /// The nearest anchor's label and its distance (between voxel centres) from any of `voxels`;
    /// ties go to the first voxel and the lower anchor index, so the answer is deterministic.
    fn find(&mut self, graph: &VoxelGraph, voxels: &[u32]) -> Option<(u32, f32)> {
        if let Some(make) = self.make.take() {
            self.anchors = make();
            let centres: Vec<[f32; 3]> =
                self.anchors.iter().map(|&(v, _)| graph.centre(v)).collect();
            self.tree = Some(KdTree::new(&centres));
        }
        if self.anchors.is_empty() {
            return None;
        }
        let tree = self.tree.as_ref()?;
        voxels
            .iter()
            .map(|&v| tree.nearest(&graph.centre(v)))
            .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)))
            .map(|(i, d2)| (self.anchors[i as usize].1, d2.sqrt()))
    }
}

/// The label other than `own` with the most contacts; ties go to the smaller label.
fn best_other(contacts: &FxHashMap<u32, usize>, own: u32) -> Option<u32> {
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

/// Points per segment for labels in `0..n_segments`: the one count the report, the scoring paths
/// and the segmentation share.
pub fn point_counts(labels: &[u32], n_segments: usize) -> Vec<usize> {
    let mut counts = vec![0usize; n_segments];
    for &l in labels {
        counts[l as usize] += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two clusters of points one unit apart along x, `gap` apart from each other.
    fn two_bars(gap: f32) -> Vec<[f32; 3]> {
        (0..5)
            .map(|i| [i as f32, 0.0, 0.0])
            .chain((0..5).map(|i| [4.0 + gap + i as f32, 0.0, 0.0]))
            .collect()
    }

    #[test]
    fn compact_renumbers_in_order_of_first_appearance() {
        assert_eq!(compact(vec![7, 7, 3, 9, 3]), [0, 0, 1, 2, 1]);
        assert_eq!(count_labels(&[0, 2, 1]), 3);
    }

    #[test]
    fn union_find_roots_do_not_depend_on_union_order() {
        let mut a = UnionFind::new(4);
        a.union(3, 2);
        a.union(2, 1);
        let mut b = UnionFind::new(4);
        b.union(1, 2);
        b.union(2, 3);
        for x in 0..4 {
            assert_eq!(a.find(x), b.find(x));
        }
        assert_eq!(a.find(3), 1);
        assert_eq!(a.find(0), 0);
    }

    #[test]
    fn a_label_in_two_pieces_gives_its_stray_piece_to_the_neighbour_it_touches() {
        // Label 0 holds the first bar and the first point of the second bar, which touches only
        // label 1: that stray point joins label 1.
        let points = two_bars(5.0);
        let graph = VoxelGraph::new(&points, 1.5);
        let mut labels = vec![0u32; 5];
        labels.extend([0, 1, 1, 1, 1]);
        let fixed = graph.make_connected(labels, 0.0);
        assert_eq!(fixed, [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
    }

    #[test]
    fn an_isolated_piece_joins_the_nearest_segment_within_reach_or_becomes_its_own() {
        let points = two_bars(5.0);
        let graph = VoxelGraph::new(&points, 1.5);
        // The bars are 5 apart (6 between voxel centres): out of reach at 2, a segment of its own.
        let fixed = graph.make_connected(vec![0; 10], 2.0);
        assert_eq!(count_labels(&compact(fixed)), 2);
        // Within reach at 10: the stray bar stays with its own label's main piece.
        let fixed = graph.make_connected(vec![0; 10], 10.0);
        assert_eq!(fixed, [0; 10]);
        // Labels 0 | 1 | 0 along the bars: the second bar's 0s are a stray piece touching only 1.
        let fixed = graph.make_connected(vec![0, 0, 0, 0, 0, 1, 1, 1, 0, 0], 0.0);
        assert_eq!(fixed, [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
    }

    #[test]
    fn small_segments_merge_into_the_neighbour_they_touch_most() {
        let points: Vec<[f32; 3]> = (0..10).map(|i| [i as f32, 0.0, 0.0]).collect();
        let graph = VoxelGraph::new(&points, 1.5);
        let labels = vec![0, 0, 0, 0, 0, 0, 0, 0, 1, 2];
        // Segments 1 and 2 are below the minimum: 1 touches 0 and 2, but 2 is being merged away,
        // so 1 joins 0; 2 touches only 1, which is small too, so it joins the nearest segment
        // that stays, 0.
        let merged = graph.merge_small(labels, 2);
        assert_eq!(merged, [0; 10]);
    }

    #[test]
    fn a_far_speck_joins_the_nearest_segment_not_a_segment_of_its_own() {
        // Two bars labelled 0 and 1 and one speck far beyond the second bar.
        let mut points = two_bars(5.0);
        points.push([40.0, 0.0, 0.0]);
        let graph = VoxelGraph::new(&points, 1.5);
        let mut labels = vec![0u32; 5];
        labels.extend([1, 1, 1, 1, 1, 2]);
        let merged = graph.merge_small(labels, 2);
        assert_eq!(merged[10], 1);
        assert_eq!(&merged[..10], &[0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
    }
}
