//! Writes the small synthetic scans in `data/samples/` that the README's main command explains.
//!
//! They imitate aerial LiDAR objects (points mostly on upward-facing surfaces, centimetre noise, in
//! a projected coordinate frame) so that they need no third-party data: a street light pole, a
//! car and a tree. Run: `cargo run --release --example make_samples`.

use std::f64::consts::TAU;

use pointlime::cloud::{Attribute, FileFormat, PointCloud, ScalarKind};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const ORIGIN: [f64; 3] = [84_000.0, 447_000.0, 0.0];

fn jitter(rng: &mut ChaCha8Rng, p: [f64; 3], sigma: f64) -> [f64; 3] {
    std::array::from_fn(|i| ORIGIN[i] + p[i] + sigma * (rng.random::<f64>() - 0.5) * 2.0)
}

fn pole(rng: &mut ChaCha8Rng) -> Vec<[f64; 3]> {
    let mut pts = Vec::new();
    // Shaft: 9 m tall, 0.15 m radius.
    for _ in 0..500 {
        let (a, z) = (rng.random_range(0.0..TAU), rng.random_range(0.0..9.0));
        pts.push([0.15 * a.cos(), 0.15 * a.sin(), z]);
    }
    // Arm towards +x and the lamp head.
    for _ in 0..150 {
        let t: f64 = rng.random_range(0.0..1.8);
        pts.push([t, rng.random_range(-0.08..0.08), 8.8 + 0.1 * t]);
    }
    for _ in 0..100 {
        pts.push([
            rng.random_range(1.6..2.3),
            rng.random_range(-0.25..0.25),
            rng.random_range(8.9..9.1),
        ]);
    }
    pts
}

fn car(rng: &mut ChaCha8Rng) -> Vec<[f64; 3]> {
    let mut pts = Vec::new();
    for _ in 0..1500 {
        let x: f64 = rng.random_range(-2.25..2.25);
        let y: f64 = rng.random_range(-0.9..0.9);
        // Bonnet and boot at 0.9 m, cabin roof at 1.45 m, smooth shoulders.
        let cabin = (-0.9..1.2).contains(&x);
        let z = if cabin {
            1.45 - 0.2 * (y / 0.9).powi(4)
        } else {
            0.9 - 0.1 * (y / 0.9).powi(2)
        };
        pts.push([x, y, z]);
    }
    // A few returns from the sides.
    for _ in 0..300 {
        let x: f64 = rng.random_range(-2.25..2.25);
        let side = if rng.random_bool(0.5) { 0.9 } else { -0.9 };
        pts.push([x, side, rng.random_range(0.3..0.9)]);
    }
    pts
}

fn tree(rng: &mut ChaCha8Rng) -> Vec<[f64; 3]> {
    let mut pts = Vec::new();
    for _ in 0..150 {
        let (a, z) = (rng.random_range(0.0..TAU), rng.random_range(0.0..3.0));
        pts.push([0.2 * a.cos(), 0.2 * a.sin(), z]);
    }
    // Canopy: points scattered through an ellipsoid crown, denser near its top surface.
    while pts.len() < 2500 {
        let p: [f64; 3] = std::array::from_fn(|_| rng.random_range(-1.0..1.0));
        let r2 = p[0] * p[0] + p[1] * p[1] + p[2] * p[2];
        if r2 <= 1.0 && (p[2] > 0.0 || rng.random_bool(0.3)) {
            pts.push([3.5 * p[0], 3.5 * p[1], 6.0 + 3.0 * p[2]]);
        }
    }
    pts
}

fn main() -> anyhow::Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(2026);
    std::fs::create_dir_all("data/samples")?;
    for (name, shape) in [
        ("pole", pole as fn(&mut ChaCha8Rng) -> Vec<[f64; 3]>),
        ("car", car),
        ("tree", tree),
    ] {
        let pts: Vec<[f64; 3]> = shape(&mut rng)
            .into_iter()
            .map(|p| jitter(&mut rng, p, 0.03))
            .collect();
        let n = pts.len();
        let mut cloud = PointCloud::from_positions(pts, FileFormat::Ply);
        // Intensity as a scanner would give it, to show attributes surviving the round trip.
        cloud.attributes.push(Attribute {
            name: "intensity".into(),
            kind: ScalarKind::U16,
            values: (0..n)
                .map(|_| rng.random_range(20.0..200.0f64).round())
                .collect(),
        });
        let path = std::path::PathBuf::from(format!("data/samples/{name}.ply"));
        pointlime::io::write(&path, &cloud, Default::default())?;
        println!("wrote {} ({n} points)", path.display());
    }
    Ok(())
}
