//! Camera fitting, projection and picking, in the viewer's centred frame (z up, as in LiDAR).

/// Where the camera looks from: its eye, its target, and its clipping planes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CameraFit {
    pub eye: [f32; 3],
    pub at: [f32; 3],
    pub znear: f32,
    pub zfar: f32,
}

/// The default view direction, from the eye towards the target: horizontal along +y (so +x runs
/// to the right of the screen), tilted 20° down; z is up, as in LiDAR.
pub fn view_direction() -> [f32; 3] {
    let tilt = 20f32.to_radians();
    [0.0, tilt.cos(), -tilt.sin()]
}

/// Fits the camera to the bounding box `lo..hi` (in the viewer's centred frame): the target is
/// the box centre and the eye far enough along [`view_direction`] that the bounding sphere fits
/// both the vertical field of view `fov_y` (radians) and the horizontal one of `aspect`.
pub fn fit_camera(lo: [f32; 3], hi: [f32; 3], fov_y: f32, aspect: f32) -> CameraFit {
    let at: [f32; 3] = std::array::from_fn(|a| 0.5 * (lo[a] + hi[a]));
    let radius = (0..3)
        .map(|a| (hi[a] - lo[a]).powi(2))
        .sum::<f32>()
        .sqrt()
        .max(1e-3)
        * 0.5;
    let fov_x = 2.0 * ((fov_y / 2.0).tan() * aspect).atan();
    let half = 0.5 * fov_y.min(fov_x);
    let dist = radius / half.sin() * 1.05;
    let d = view_direction();
    CameraFit {
        eye: std::array::from_fn(|a| at[a] - d[a] * dist),
        at,
        znear: (dist - radius * 1.5).max(dist * 1e-3),
        zfar: dist + radius * 1.5,
    }
}

/// The bounding box of `positions`.
pub fn bounds(positions: &[[f32; 3]]) -> ([f32; 3], [f32; 3]) {
    let mut lo = [f32::INFINITY; 3];
    let mut hi = [f32::NEG_INFINITY; 3];
    for p in positions {
        for a in 0..3 {
            lo[a] = lo[a].min(p[a]);
            hi[a] = hi[a].max(p[a]);
        }
    }
    if !lo[0].is_finite() {
        return ([0.0; 3], [0.0; 3]);
    }
    (lo, hi)
}

fn sub(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}
fn dot(a: [f32; 3], b: [f32; 3]) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}
fn cross(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}
fn normalise(a: [f32; 3]) -> [f32; 3] {
    let n = dot(a, a).sqrt().max(f32::MIN_POSITIVE);
    a.map(|v| v / n)
}

/// Where a point lands on a `width` × `height` image (pixels, origin top-left) seen from
/// `camera` with a vertical field of view `fov_y` and z up; `None` behind the eye.
pub fn project(
    camera: &CameraFit,
    fov_y: f32,
    width: f32,
    height: f32,
    p: [f32; 3],
) -> Option<[f32; 2]> {
    let forward = normalise(sub(camera.at, camera.eye));
    let right = normalise(cross(forward, [0.0, 0.0, 1.0]));
    let up = cross(right, forward);
    let v = sub(p, camera.eye);
    let depth = dot(v, forward);
    if depth <= 0.0 {
        return None;
    }
    let f = 1.0 / (fov_y / 2.0).tan();
    let x_ndc = f / (width / height) * dot(v, right) / depth;
    let y_ndc = f * dot(v, up) / depth;
    Some([(x_ndc + 1.0) * width / 2.0, (1.0 - y_ndc) * height / 2.0])
}

/// The point nearest to the ray `origin + t·direction` in angle, if any lies within `max_angle`
/// radians of it: what a click picks.
pub fn pick(
    positions: &[[f32; 3]],
    origin: [f32; 3],
    direction: [f32; 3],
    max_angle: f32,
) -> Option<usize> {
    let d = normalise(direction);
    let cos_max = max_angle.cos();
    let mut best: Option<(usize, f32)> = None;
    for (i, &p) in positions.iter().enumerate() {
        let v = sub(p, origin);
        let len = dot(v, v).sqrt();
        if len == 0.0 {
            continue;
        }
        let cos = dot(v, d) / len;
        if cos >= cos_max && best.is_none_or(|(_, c)| cos > c) {
            best = Some((i, cos));
        }
    }
    best.map(|(i, _)| i)
}

/// Every how many points to draw so that at most `budget` are drawn (1 = all): while the camera
/// moves, a software renderer cannot draw a million points per frame fast enough to follow the
/// mouse, so the viewer draws an even subsample until it stops.
pub fn stride(points: usize, budget: usize) -> usize {
    points.div_ceil(budget.max(1)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fitted_camera_sees_the_whole_box() {
        let (lo, hi) = ([-10.0, -2.0, 0.0], [10.0, 2.0, 30.0]);
        for aspect in [0.5f32, 1.0, 16.0 / 9.0] {
            let fov = std::f32::consts::FRAC_PI_4;
            let cam = fit_camera(lo, hi, fov, aspect);
            let (w, h) = (1000.0 * aspect, 1000.0);
            for corner in 0..8 {
                let p = [0, 1, 2].map(|a| if corner >> a & 1 == 1 { hi[a] } else { lo[a] });
                let [x, y] = project(&cam, fov, w, h, p).expect("in front of the eye");
                assert!(
                    (0.0..=w).contains(&x) && (0.0..=h).contains(&y),
                    "{aspect}: {p:?} → {x}, {y}"
                );
                let depth = dot(sub(p, cam.eye), normalise(sub(cam.at, cam.eye)));
                assert!(depth > cam.znear && depth < cam.zfar);
            }
            // The centre projects to the image centre, and +x goes right.
            let c = project(&cam, fov, w, h, cam.at).unwrap();
            assert!((c[0] - w / 2.0).abs() < 1e-2 && (c[1] - h / 2.0).abs() < 1e-2);
            let right = project(&cam, fov, w, h, [5.0, 0.0, 15.0]).unwrap();
            assert!(right[0] > c[0]);
            let top = project(&cam, fov, w, h, [0.0, 0.0, 29.0]).unwrap();
            assert!(top[1] < c[1]);
        }
    }

    #[test]
    fn picking_takes_the_point_nearest_the_ray() {
        let pts = [[0.0, 10.0, 0.0], [1.0, 10.0, 0.0], [0.0, -10.0, 0.0]];
        assert_eq!(pick(&pts, [0.0; 3], [0.02, 1.0, 0.0], 0.2), Some(0));
        assert_eq!(pick(&pts, [0.0; 3], [0.09, 1.0, 0.0], 0.2), Some(1));
        assert_eq!(pick(&pts, [0.0; 3], [1.0, 0.0, 0.0], 0.2), None);
    }

    #[test]
    fn stride_keeps_the_drawn_points_within_budget() {
        assert_eq!(stride(1000, 250_000), 1);
        assert_eq!(stride(1_000_000, 250_000), 4);
        assert_eq!(stride(1_000_001, 250_000), 5);
        assert!(1_000_001usize.div_ceil(stride(1_000_001, 250_000)) <= 250_000);
        assert_eq!(stride(10, 0), 10);
    }

    #[test]
    fn bounds_of_points_and_of_nothing() {
        assert_eq!(
            bounds(&[[1.0, -2.0, 3.0], [-1.0, 2.0, 0.0]]),
            ([-1.0, -2.0, 0.0], [1.0, 2.0, 3.0])
        );
        assert_eq!(bounds(&[]), ([0.0; 3], [0.0; 3]));
    }
}
