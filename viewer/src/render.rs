//! The kiss3d side (the only module that names kiss3d): a window or an off-screen surface, an
//! orbit camera, the points drawn every frame, the overlay, and keys. Every value drawn comes
//! from `scene`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use kiss3d::post_processing::Tonemap;
use kiss3d::prelude::*;

use crate::camera::{self, CameraFit};
use crate::colour::{self, Rgb};
use crate::scene::{self, Mode, Style};
use pointlime::view::ExplainedScan;

/// Vertical field of view, radians (kiss3d's default).
pub const FOV_Y: f32 = std::f32::consts::FRAC_PI_4;

/// Background colours the `B` key cycles through; the first is the default.
pub const BACKGROUNDS: [(&str, Rgb); 3] = [
    ("dark", [0.11, 0.12, 0.14]),
    ("white", [1.0, 1.0, 1.0]),
    ("black", [0.0, 0.0, 0.0]),
];

/// Everything the render loop draws from.
pub struct View {
    pub data: ExplainedScan,
    pub style: Style,
    /// Point size in pixels.
    pub point_size: f32,
    /// Index into [`BACKGROUNDS`].
    pub background: usize,
    pub show_help: bool,
    /// Whether to draw the overlay (heading, legend, help) at all.
    pub overlay: bool,
    /// Points drawn per frame while the camera moves (see [`scene::stride`]).
    pub moving_budget: usize,
    colours: Vec<Rgb>,
    status: Option<String>,
}

impl View {
    pub fn new(data: ExplainedScan, style: Style, point_size: f32, background: usize) -> View {
        let mut v = View {
            data,
            style,
            point_size,
            background,
            show_help: true,
            overlay: true,
            moving_budget: 100_000,
            colours: Vec::new(),
            status: None,
        };
        v.recolour();
        v
    }

    fn recolour(&mut self) {
        self.colours = scene::colours(&self.data, &self.style);
    }

    fn fit(&self, width: u32, height: u32) -> CameraFit {
        let (lo, hi) = camera::bounds(&self.data.positions);
        camera::fit_camera(lo, hi, FOV_Y, width as f32 / height.max(1) as f32)
    }

    fn select(&mut self, segment: Option<u32>) {
        self.style.selected = segment;
        self.status = segment.map(|s| scene::describe_segment(&self.data, self.style.class, s));
        self.recolour();
    }

    /// Picks the next (`step` = 1) or previous (−1) segment in order of importance.
    fn step_selection(&mut self, step: isize) {
        let values = scene::segment_values(&self.data, self.style.class);
        let order = scene::top_segments(&values, values.len());
        if order.is_empty() {
            return;
        }
        let next = match self
            .style
            .selected
            .and_then(|s| order.iter().position(|&o| o == s))
        {
            Some(i) => (i as isize + step).rem_euclid(order.len() as isize) as usize,
            None if step > 0 => 0,
            None => order.len() - 1,
        };
        self.select(Some(order[next]));
    }
}

fn camera(fit: &CameraFit) -> OrbitCamera3d {
    let mut c = OrbitCamera3d::new_with_frustum(
        FOV_Y,
        fit.znear,
        fit.zfar,
        Vec3::from(fit.eye),
        Vec3::from(fit.at),
    );
    c.set_up_axis(Vec3::Z);
    c.look_at(Vec3::from(fit.eye), Vec3::from(fit.at));
    c.rebind_reset_key(None);
    let dist = (Vec3::from(fit.eye) - Vec3::from(fit.at)).length();
    c.set_min_dist(dist * 1e-3);
    c.set_max_dist(dist * 20.0);
    c
}

/// kiss3d takes linear-light colours and encodes its frame to sRGB; `scene` speaks sRGB.
fn colour(c: Rgb) -> Color {
    let l = colour::linear(c);
    Color::new(l[0], l[1], l[2], 1.0)
}

/// Sets up colour handling so that the colours drawn are the colours on screen: no tone mapping,
/// no bloom, no lighting on points.
fn prepare(window: &mut Window, view: &View) {
    window.set_tonemap(Tonemap::None);
    window.set_bloom_enabled(false);
    window.set_background_color(colour(BACKGROUNDS[view.background].1));
}

/// Queues one frame: every `stride`-th point, then the overlay.
fn draw(window: &mut Window, view: &View, font: &Arc<Font>, stride: usize) {
    let points = view
        .data
        .positions
        .iter()
        .zip(&view.colours)
        .step_by(stride);
    for (p, &c) in points {
        window.draw_point(Vec3::from(*p), colour(c), view.point_size);
    }
    if view.overlay {
        draw_overlay(window, view, font);
    }
}

fn draw_overlay(window: &mut Window, view: &View, font: &Arc<Font>) {
    let (w, h) = (window.width() as f32, window.height() as f32);
    let bg = BACKGROUNDS[view.background].1;
    let ink = if colour::lightness(bg) > 0.6 {
        [0.05; 3]
    } else {
        [0.95; 3]
    };
    let text_size = (h / 40.0).clamp(13.0, 22.0);
    let line = text_size * 1.25;
    // Text is placed in pixels from the top left.
    let mut y = 8.0;
    for l in scene::heading(&view.data, &view.style) {
        window.draw_text(&l, Vec2::new(10.0, y), text_size, font, colour(ink));
        y += line;
    }
    if let Some(s) = &view.status {
        window.draw_text(
            s,
            Vec2::new(10.0, y),
            text_size,
            font,
            colour([1.0, 0.85, 0.3]),
        );
    }
    if view.show_help {
        let lines = scene::HELP;
        let mut y = h - 8.0 - line * lines.len() as f32;
        for (keys, what) in lines {
            window.draw_text(keys, Vec2::new(10.0, y), text_size * 0.9, font, colour(ink));
            window.draw_text(
                what,
                Vec2::new(10.0 + 7.5 * text_size, y),
                text_size * 0.9,
                font,
                colour(ink),
            );
            y += line;
        }
    }
    // The key of categories, bottom right, read from the bottom up.
    let key = scene::key(&view.data, &view.style);
    let key_x = w - (w * 0.42).min(460.0);
    let to_2d = |x: f32, y: f32| Vec2::new(x - w / 2.0, h / 2.0 - y);
    for (i, l) in key.iter().rev().enumerate() {
        let y = h - 12.0 - line * (i + 1) as f32;
        if let Some(c) = l.colour {
            let mid = y + line * 0.45;
            window.draw_line_2d(
                to_2d(key_x, mid),
                to_2d(key_x + 16.0, mid),
                colour(c),
                text_size * 0.7,
            );
        }
        let text = if l.current {
            format!("> {}", l.text)
        } else {
            l.text.clone()
        };
        let x = if l.colour.is_some() {
            key_x + 24.0
        } else {
            key_x
        };
        window.draw_text(&text, Vec2::new(x, y), text_size * 0.9, font, colour(ink));
    }
    if let Some(legend) = scene::legend(&view.data, &view.style) {
        // A vertical bar at the right; 2D lines use logical pixels with the origin at the centre,
        // y up.
        let (bar_w, bar_h) = (18.0, (h * 0.45).min(360.0));
        let x_right = w - 90.0;
        let (x0, y_top) = (x_right - bar_w, 60.0);
        let steps = 96;
        for i in 0..steps {
            let p = (i as f32 + 0.5) / steps as f32;
            let c = sample_stops(&legend.stops, p);
            let y = y_top + bar_h * (1.0 - p);
            window.draw_line_2d(
                to_2d(x0, y),
                to_2d(x_right, y),
                colour(c),
                bar_h / steps as f32 + 1.0,
            );
        }
        for (p, label) in &legend.ticks {
            let y = y_top + bar_h * (1.0 - p);
            window.draw_line_2d(to_2d(x_right, y), to_2d(x_right + 5.0, y), colour(ink), 1.5);
            window.draw_text(
                label,
                Vec2::new(x_right + 8.0, y - text_size * 0.6),
                text_size * 0.9,
                font,
                colour(ink),
            );
        }
        let title_x = (x0 - 8.0 * legend.title.len() as f32 * text_size / 16.0).max(w / 2.0);
        window.draw_text(
            &legend.title,
            Vec2::new(title_x, y_top - line - 4.0),
            text_size * 0.9,
            font,
            colour(ink),
        );
    }
}

/// The colour at `p` of evenly spaced stops, linearly interpolated.
fn sample_stops(stops: &[(f32, Rgb)], p: f32) -> Rgb {
    match stops.len() {
        0 => [0.0; 3],
        1 => stops[0].1,
        n => {
            let x = p.clamp(0.0, 1.0) * (n - 1) as f32;
            let i = (x.floor() as usize).min(n - 2);
            let t = x - i as f32;
            std::array::from_fn(|a| stops[i].1[a] * (1.0 - t) + stops[i + 1].1[a] * t)
        }
    }
}

/// kiss3d's API is async (for the web); natively a blocking executor runs it.
pub fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    kiss3d::pollster::block_on(f)
}

/// Renders one frame with no window and writes it as a PNG (atomically).
pub async fn screenshot(view: &View, out: &Path, width: u32, height: u32) -> Result<()> {
    let mut surface = OffscreenSurface::new(width, height).await;
    let font = Font::default();
    prepare(surface.window_mut(), view);
    let mut camera = camera(&view.fit(width, height));
    let mut scene = SceneNode3d::empty();
    draw(surface.window_mut(), view, &font, 1);
    surface.render_3d(&mut scene, &mut camera).await;
    save(&surface.snap_image(), out)
}

fn save(image: &image::RgbImage, out: &Path) -> Result<()> {
    pointlime::io::write_atomic_at(out, ".png", |tmp| {
        image
            .save(tmp)
            .map_err(|e| pointlime::Error::Config(format!("{}: {e}", out.display())))
    })?;
    Ok(())
}

/// Times of `frames` off-screen frames after one warm-up frame, for each of `strides` (every
/// `stride`-th point drawn), in milliseconds: `(queue, frame)`, where queue is handing the points
/// and the overlay to kiss3d and frame is that plus rendering and waiting for the GPU (a read-back
/// of the frame). One surface serves every stride: kiss3d keeps one GPU context per process.
pub async fn bench(
    view: &View,
    width: u32,
    height: u32,
    frames: usize,
    strides: &[usize],
) -> Result<Vec<Vec<(f64, f64)>>> {
    let mut surface = OffscreenSurface::new(width, height).await;
    let font = Font::default();
    prepare(surface.window_mut(), view);
    let mut camera = camera(&view.fit(width, height));
    let mut scene = SceneNode3d::empty();
    let mut pixels = Vec::new();
    let mut all = Vec::new();
    for &stride in strides {
        let mut times = Vec::with_capacity(frames);
        for i in 0..=frames {
            let start = Instant::now();
            draw(surface.window_mut(), view, &font, stride);
            let queued = start.elapsed().as_secs_f64() * 1e3;
            surface.render_3d(&mut scene, &mut camera).await;
            // Reading the frame back waits for the GPU to finish it.
            surface.snap(&mut pixels);
            if i > 0 {
                times.push((queued, start.elapsed().as_secs_f64() * 1e3));
            }
        }
        all.push(times);
    }
    Ok(all)
}

/// The interactive window; returns when it is closed.
pub async fn interactive(
    mut view: View,
    width: u32,
    height: u32,
    screenshot_dir: PathBuf,
) -> Result<()> {
    let title = format!("pointlime-view: {}", view.data.path.display());
    let mut window = Window::new_with_size(&title, width, height).await;
    let font = Font::default();
    prepare(&mut window, &view);
    let mut camera = camera(&view.fit(width, height));
    let mut scene = SceneNode3d::empty();
    let mut shots = 0;
    let stem = view
        .data
        .path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "view".into());
    let mut last_pose = (camera.eye(), camera.at());
    let mut moved_at: Option<Instant> = None;
    loop {
        window.set_background_color(colour(BACKGROUNDS[view.background].1));
        // Full detail once the camera has been still for a moment.
        let moving = moved_at.is_some_and(|t| t.elapsed().as_millis() < 250);
        let stride = if moving {
            camera::stride(view.data.positions.len(), view.moving_budget)
        } else {
            1
        };
        draw(&mut window, &view, &font, stride);
        if !window.render_3d(&mut scene, &mut camera).await {
            break;
        }
        let pose = (camera.eye(), camera.at());
        if pose != last_pose {
            moved_at = Some(Instant::now());
            last_pose = pose;
        }
        let mut shot = false;
        let mut quit = false;
        for mut event in window.events().iter() {
            let handled = match event.value {
                // kiss3d 0.47 binds no close key; Esc and Q close, as the help says.
                WindowEvent::Key(Key::Escape | Key::Q, Action::Press, _) => {
                    quit = true;
                    true
                }
                WindowEvent::Key(key, Action::Press, mods) => {
                    handle_key(&mut view, key, mods, &mut camera, &window, &mut shot)
                }
                WindowEvent::MouseButton(MouseButton::Button1, Action::Press, mods)
                    if mods.contains(Modifiers::Control) =>
                {
                    if let Some((x, y)) = window.cursor_pos() {
                        let size = Vec2::new(window.width() as f32, window.height() as f32);
                        let (o, d) = camera.unproject(Vec2::new(x as f32, y as f32), size);
                        // Within 1.5° of the ray: a few pixels at the default view.
                        let hit = camera::pick(
                            &view.data.positions,
                            o.into(),
                            d.into(),
                            1.5f32.to_radians(),
                        );
                        let segment = hit.and_then(|i| view.data.segments.as_ref().map(|s| s[i]));
                        view.select(segment);
                    }
                    true
                }
                _ => false,
            };
            if handled {
                event.inhibited = true;
            }
        }
        if quit {
            break;
        }
        if shot {
            shots += 1;
            let out = screenshot_dir.join(format!("{stem}.view-{shots}.png"));
            match save(&window.snap_image(), &out) {
                Ok(()) => view.status = Some(format!("wrote {}", out.display())),
                Err(e) => view.status = Some(format!("screenshot failed: {e:#}")),
            }
        }
    }
    Ok(())
}

fn handle_key(
    view: &mut View,
    key: Key,
    mods: Modifiers,
    camera: &mut OrbitCamera3d,
    window: &Window,
    shot: &mut bool,
) -> bool {
    let class = view.style.class;
    let numbered = [
        Key::Key1,
        Key::Key2,
        Key::Key3,
        Key::Key4,
        Key::Key5,
        Key::Key6,
        Key::Key7,
        Key::Key8,
        Key::Key9,
    ];
    match key {
        Key::M => view.style.mode = view.style.mode.next(&view.data, class),
        k if numbered.contains(&k) => {
            let i = numbered.iter().position(|&n| n == k).unwrap_or(0);
            let mode = Mode::ALL[i];
            if mode.available(&view.data, class) {
                view.style.mode = mode;
            } else {
                view.status = Some(format!("no data for mode {}", mode.name()));
            }
        }
        Key::C | Key::V => {
            let n = view.data.classes.len();
            view.style.class = if key == Key::C {
                (class + 1) % n
            } else {
                (class + n - 1) % n
            };
            if !view.style.mode.available(&view.data, view.style.class) {
                view.style.mode = Mode::Signed;
            }
            let selected = view.style.selected;
            view.select(selected);
        }
        Key::G => view.style.set += 1,
        Key::L => view.style.level = (view.style.level + 1) % (scene::level_count(&view.data) + 1),
        Key::N => view.step_selection(1),
        Key::P => view.step_selection(-1),
        Key::X => view.select(None),
        Key::LBracket | Key::RBracket => {
            let up = key == Key::RBracket;
            match view.style.mode {
                Mode::Threshold => {
                    let t = view.style.threshold + if up { 0.05 } else { -0.05 };
                    view.style.threshold = t.clamp(0.0, 1.0);
                }
                _ => {
                    let k = view.style.top_k as isize + if up { 1 } else { -1 };
                    view.style.top_k = k.max(1) as usize;
                }
            }
        }
        Key::Equals | Key::Add => view.point_size = (view.point_size * 1.25).min(40.0),
        Key::Minus | Key::Subtract => view.point_size = (view.point_size / 1.25).max(1.0),
        Key::B => view.background = (view.background + 1) % BACKGROUNDS.len(),
        Key::R => *camera = self::camera(&view.fit(window.width(), window.height())),
        Key::S if !mods.contains(Modifiers::Control) => *shot = true,
        Key::H => view.show_help = !view.show_help,
        _ => return false,
    }
    view.recolour();
    true
}
