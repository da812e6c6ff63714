//! Supervoxel oracles: coverage, count, connectivity, determinism, and k-d tree queries against
//! brute force (kiddo's own testing style).

use pointlime::segment::{supervoxels, Granularity, KdTree, SegmentConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random_surface(n: usize, seed: u64) -> Vec<[f32; 3]> {
    // Points on a bumpy 2-d sheet plus a detached pole: a LiDAR-like mix of surfaces and a
    // separate piece.
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            if i % 10 == 0 {
                [
                    20.0 + rng.random_range(-0.1..0.1),
                    rng.random_range(-0.1..0.1),
                    rng.random_range(0.0..8.0),
                ]
            } else {
                let x: f32 = rng.random_range(-10.0..10.0);
                let y: f32 = rng.random_range(-5.0..5.0);
                [x, y, (x * 0.3).sin() + 0.05 * rng.random::<f32>()]
            }
        })
        .collect()
}

fn brute_connected(points: &[[f32; 3]], members: &[usize], link: f32) -> bool {
    // Points in the same or 26-adjacent voxels of side `link` are within 2·√3·link of each other,
    // so every segment the algorithm calls connected is connected under this radius.
    let r2 = (2.0 * 3f32.sqrt() * link).powi(2) * 1.0001;
    let mut seen = vec![false; members.len()];
    let mut stack = vec![0usize];
    seen[0] = true;
    while let Some(i) = stack.pop() {
        let p = points[members[i]];
        for (j, &m) in members.iter().enumerate() {
            if !seen[j] {
                let q = points[m];
                let d2 = (p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2) + (p[2] - q[2]).powi(2);
                if d2 <= r2 {
                    seen[j] = true;
                    stack.push(j);
                }
            }
        }
    }
    seen.iter().all(|&s| s)
}

#[test]
fn every_point_labelled_count_near_target_and_segments_connected() {
    let points = random_surface(6000, 3);
    for k in [10, 50, 120] {
        let config = SegmentConfig {
            target: Granularity::Count(k),
            ..Default::default()
        };
        let s = supervoxels(&points, &config).unwrap();
        assert_eq!(s.labels.len(), points.len());
        assert!(s.labels.iter().all(|&l| (l as usize) < s.count));
        assert!(s.sizes().iter().all(|&n| n > 0));
        let lo = (k as f64 * 0.8).floor() as usize;
        let hi = (k as f64 * 1.2).ceil() as usize;
        assert!(
            (lo..=hi).contains(&s.count),
            "K={k}: got {} segments",
            s.count
        );
        for seg in 0..s.count as u32 {
            let members: Vec<usize> = (0..points.len()).filter(|&i| s.labels[i] == seg).collect();
            assert!(
                brute_connected(&points, &members, s.link as f32),
                "K={k}: segment {seg} is in pieces"
            );
        }
    }
}

#[test]
fn a_segment_never_spans_two_distant_pieces() {
    // Two clusters 100 m apart and K = 1: one segment cannot hold both.
    let mut points: Vec<[f32; 3]> = (0..200)
        .map(|i| [(i % 10) as f32 * 0.1, (i / 10) as f32 * 0.1, 0.0])
        .collect();
    points.extend((0..200).map(|i| [100.0 + (i % 10) as f32 * 0.1, (i / 10) as f32 * 0.1, 0.0]));
    let s = supervoxels(
        &points,
        &SegmentConfig {
            target: Granularity::Count(1),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(s.count, 2);
    assert_ne!(s.labels[0], s.labels[399]);
}

#[test]
fn segmentation_is_deterministic_for_a_seed_and_thread_count() {
    let points = random_surface(20_000, 5);
    let config = SegmentConfig {
        target: Granularity::Count(50),
        seed: 9,
        ..Default::default()
    };
    let a = supervoxels(&points, &config).unwrap();
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let b = one.install(|| supervoxels(&points, &config).unwrap());
    assert_eq!(a, b);
}

#[test]
fn resolution_target_gives_about_one_segment_per_occupied_voxel() {
    let points: Vec<[f32; 3]> = (0..4000)
        .map(|i| [(i % 200) as f32 * 0.1, (i / 200) as f32 * 0.1, 0.0])
        .collect();
    // 20 m × 2 m sheet with 2 m seeds: 10 voxels.
    let s = supervoxels(
        &points,
        &SegmentConfig {
            target: Granularity::Resolution(2.0),
            ..Default::default()
        },
    )
    .unwrap();
    assert!((8..=12).contains(&s.count), "{} segments", s.count);
}

#[test]
fn invalid_settings_are_rejected() {
    let pts = [[0.0f32; 3]; 4];
    assert!(supervoxels(
        &pts,
        &SegmentConfig {
            target: Granularity::Count(0),
            ..Default::default()
        }
    )
    .is_err());
    assert!(supervoxels(
        &pts,
        &SegmentConfig {
            target: Granularity::Resolution(-1.0),
            ..Default::default()
        }
    )
    .is_err());
    assert!(supervoxels(&[], &SegmentConfig::default()).is_err());
}

#[test]
fn identical_points_make_one_segment() {
    let pts = vec![[1.0f32, 2.0, 3.0]; 100];
    let s = supervoxels(&pts, &SegmentConfig::default()).unwrap();
    assert_eq!(s.count, 1);
}

#[test]
fn kdtree_queries_match_brute_force() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let points: Vec<[f32; 3]> = (0..2000)
        .map(|_| std::array::from_fn(|_| rng.random_range(-1.0..1.0)))
        .collect();
    let tree = KdTree::new(&points);
    let d2 = |a: &[f32; 3], b: &[f32; 3]| (0..3).map(|i| (a[i] - b[i]).powi(2)).sum::<f32>();
    for _ in 0..200 {
        let q: [f32; 3] = std::array::from_fn(|_| rng.random_range(-1.2..1.2));
        let mut brute: Vec<(f32, u32)> = points
            .iter()
            .enumerate()
            .map(|(i, p)| (d2(p, &q), i as u32))
            .collect();
        brute.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (i, d) = tree.nearest(&q);
        assert_eq!(d, brute[0].0);
        assert_eq!(d2(&points[i as usize], &q), brute[0].0);
        let knn = tree.nearest_n(&q, 8);
        let want: Vec<f32> = brute[..8].iter().map(|b| b.0).collect();
        assert_eq!(knn.iter().map(|r| r.1).collect::<Vec<_>>(), want);
        let r = 0.3f32;
        let mut within: Vec<u32> = brute.iter().filter(|b| b.0 <= r * r).map(|b| b.1).collect();
        within.sort_unstable();
        assert_eq!(tree.within(&q, r), within);
    }
}
