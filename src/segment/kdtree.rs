//! Nearest-neighbour queries through kiddo, the only place kiddo is named.

use std::num::NonZeroUsize;

use kiddo::{ImmutableKdTree, SquaredEuclidean};

/// A static 3-d tree over `f32` points; items are indices into the slice it was built from.
pub struct KdTree {
    tree: ImmutableKdTree<f32, 3>,
}

impl KdTree {
    /// Builds the tree. An empty slice gives a tree whose queries return nothing.
    pub fn new(points: &[[f32; 3]]) -> Self {
        // kiddo rejects only more than u32::MAX items; pointlime's indices are u32 throughout.
        let tree = ImmutableKdTree::new_from_slice(points)
            .expect("more than u32::MAX points cannot be indexed");
        KdTree { tree }
    }

    /// The index of the nearest point and its squared distance.
    pub fn nearest(&self, query: &[f32; 3]) -> (u32, f32) {
        let r = self
            .tree
            .query(query)
            .nearest_one::<SquaredEuclidean<f32>>()
            .execute();
        (r.item, r.distance)
    }

    /// The `n` nearest points, nearest first, as (index, squared distance).
    pub fn nearest_n(&self, query: &[f32; 3], n: usize) -> Vec<(u32, f32)> {
        let Some(n) = NonZeroUsize::new(n) else {
            return Vec::new();
        };
        self.tree
            .query(query)
            .nearest_n::<SquaredEuclidean<f32>>(n)
            .execute()
            .into_iter()
            .map(|r| (r.item, r.distance))
            .collect()
    }

    /// Every point within `radius` (inclusive), as indices in ascending order.
    pub fn within(&self, query: &[f32; 3], radius: f32) -> Vec<u32> {
        let mut v: Vec<u32> = self
            .tree
            .query(query)
            .within::<SquaredEuclidean<f32>>(radius * radius)
            .unsorted()
            .execute()
            .into_iter()
            .map(|r| r.item)
            .collect();
        v.sort_unstable();
        v
    }
}
