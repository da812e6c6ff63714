//! Synthetic scans for benchmarks: no third-party data, any size, deterministic for a seed.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A LiDAR-like tile of `n` points at about 100 points/m²: undulating ground, and one point in
/// seven on vertical structures up to 10 m, in metres.
pub fn lidar_tile(n: usize, seed: u64) -> Vec<[f64; 3]> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let side = (n as f64).sqrt() * 0.1;
    (0..n)
        .map(|i| {
            let x = rng.random_range(0.0..side);
            let y = rng.random_range(0.0..side);
            let z = if i % 7 == 0 {
                rng.random_range(0.0..10.0)
            } else {
                (x * 0.2).sin() + (y * 0.3).cos()
            };
            [x, y, z]
        })
        .collect()
}
