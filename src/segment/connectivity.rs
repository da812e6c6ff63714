//! The connectivity half of supervoxels (module docs, steps 3 and 4): points binned into voxels
//! and linked with their 26 neighbours; a segment in several pieces keeps its largest, the others
//! join the neighbour they touch most; tiny segments merge the same way.

use std::collections::HashMap;

use super::cluster::voxel_key;

pub(super) fn count_labels(labels: &[u32]) -> usize {
    labels.iter().max().map_or(0, |&m| m as usize + 1)
}

/// Renumbers labels `0..count` in order of first appearance.
pub(super) fn compact(labels: Vec<u32>) -> Vec<u32> {
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
pub(super) struct VoxelGraph {
    /// Voxel of each point.
    voxel_of: Vec<u32>,
    /// Neighbouring voxels (26-adjacency, itself excluded) of each voxel.
    neighbours: Vec<Vec<u32>>,
}

impl VoxelGraph {
    pub(super) fn new(points: &[[f32; 3]], side: f32) -> Self {
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
    pub(super) fn make_connected(&self, mut labels: Vec<u32>) -> Vec<u32> {
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
    pub(super) fn merge_small(&self, mut labels: Vec<u32>, min_size: usize) -> Vec<u32> {
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
        let fixed = graph.make_connected(labels);
        assert_eq!(fixed, [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
    }

    #[test]
    fn an_isolated_piece_touching_nothing_becomes_its_own_segment() {
        let points = two_bars(5.0);
        let graph = VoxelGraph::new(&points, 1.5);
        let fixed = graph.make_connected(vec![0; 10]);
        assert_eq!(count_labels(&compact(fixed)), 2);
    }

    #[test]
    fn small_segments_merge_into_the_neighbour_they_touch_most() {
        let points: Vec<[f32; 3]> = (0..10).map(|i| [i as f32, 0.0, 0.0]).collect();
        let graph = VoxelGraph::new(&points, 1.5);
        let labels = vec![0, 0, 0, 0, 0, 0, 0, 0, 1, 2];
        // Segments 1 and 2 are below the minimum: 1 touches 0 and 2, but 2 is being merged away,
        // so 1 joins 0; 2 touches only 1, which is small too, so it stays.
        let merged = graph.merge_small(labels, 2);
        assert_eq!(merged, [0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    }
}
