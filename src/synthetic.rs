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

/// A phone-LiDAR-like scene of `n` points, in metres, z up: a tree trunk (radius 0.25 m, 3 m tall,
/// two branches) standing on the ground, a bush 2.5 m away, and 0.5% floating specks, scanned from
/// a sensor at (3, 0, 1.5): density falls with the squared distance from it, as a phone scan's
/// does. Before that falloff, 45% of the points are ground, 40% trunk and branches, 14.5% bush.
pub fn phone_scene(n: usize, seed: u64) -> Vec<[f64; 3]> {
    use std::f64::consts::TAU;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let sensor = [3.0, 0.0, 1.5];
    let noise = |rng: &mut ChaCha8Rng| (rng.random::<f64>() - 0.5) * 0.01;
    let mut out = Vec::with_capacity(n);
    let specks = n / 200;
    while out.len() < n - specks {
        let r: f64 = rng.random();
        let p = if r < 0.45 {
            // Ground disk of radius 4 m, slightly uneven.
            let (a, d) = (rng.random_range(0.0..TAU), 4.0 * rng.random::<f64>().sqrt());
            let (x, y) = (d * a.cos(), d * a.sin());
            [
                x,
                y,
                0.02 * (x * 1.3).sin() * (y * 0.7).cos() + noise(&mut rng),
            ]
        } else if r < 0.80 {
            let (a, z) = (rng.random_range(0.0..TAU), rng.random_range(0.0..3.0));
            let radius = 0.25 + noise(&mut rng);
            [radius * a.cos(), radius * a.sin(), z]
        } else if r < 0.855 {
            // Two branches from 2 m up, towards -x+y and -x-y.
            let t: f64 = rng.random_range(0.0..1.2);
            let side = if rng.random::<bool>() { 1.0 } else { -1.0 };
            let a = rng.random_range(0.0..TAU);
            let c = [-0.5 * t, side * 0.6 * t, 2.0 + 0.5 * t];
            [c[0] + 0.06 * a.cos(), c[1] + 0.06 * a.sin(), c[2]]
        } else {
            // A bush: a half ball of radius 0.5 m at (0, 2.5, 0).
            let v: [f64; 3] = std::array::from_fn(|_| rng.random_range(-1.0..1.0));
            let len = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt().max(1e-9);
            [
                0.5 * v[0] / len,
                2.5 + 0.5 * v[1] / len,
                0.05 + 0.5 * (v[2] / len).abs(),
            ]
        };
        let d2: f64 = (0..3).map(|a| (p[a] - sensor[a]).powi(2)).sum();
        // Keep with probability (1 m / d)², so density falls with distance from the sensor.
        if rng.random::<f64>() < (1.0 / d2).min(1.0) {
            out.push(p);
        }
    }
    while out.len() < n {
        out.push([
            rng.random_range(-4.0..4.0),
            rng.random_range(-4.0..4.0),
            rng.random_range(0.1..4.0),
        ]);
    }
    out
}
