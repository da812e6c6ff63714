//! Colour maps: the diverging map for signed importance, viridis, categorical segment colours,
//! LAS classification colours, and the sRGB helpers a renderer needs. One place for the viewer
//! (`pointlime-view`) and the HTML report (`pointlime report --html`), so both show a value in the
//! same colour.

use palette::{FromColor, Mix, Oklab, Oklch, Srgb};

/// An sRGB colour, components in `[0, 1]`.
pub type Rgb = [f32; 3];

/// Points without a value (not explained, or not seen by the network) are drawn in this grey.
pub const NO_VALUE: Rgb = [0.45, 0.45, 0.45];

fn oklch(l: f32, c: f32, hue_degrees: f32) -> Oklab {
    Oklab::from_color(Oklch::new(l, c, hue_degrees))
}

fn to_rgb(lab: Oklab) -> Rgb {
    let s = Srgb::from_color(lab);
    [s.red, s.green, s.blue].map(|v| v.clamp(0.0, 1.0))
}

/// The ends of the diverging map: a blue and a red of equal Oklab lightness and chroma, so that
/// equal |value| on either side looks equally strong.
const DIVERGING_LIGHTNESS: f32 = 0.48;
const DIVERGING_CHROMA: f32 = 0.15;
const BLUE_HUE: f32 = 255.0;
const RED_HUE: f32 = 25.0;

/// The diverging map at `t` in `[-1, 1]`: blue below 0, white at 0, red above, by straight lines
/// in Oklab from white to each end. Lightness then falls linearly with |t|, identically on both
/// sides (Oklab's lightness is perceptually uniform), which is what makes the map symmetric and
/// perceptually even; lime and captum show such values on RdBu-like maps.
pub fn diverging(t: f32) -> Rgb {
    let t = if t.is_nan() { 0.0 } else { t.clamp(-1.0, 1.0) };
    let white = Oklab::from_color(Srgb::new(1.0f32, 1.0, 1.0));
    let hue = if t < 0.0 { BLUE_HUE } else { RED_HUE };
    let end = oklch(DIVERGING_LIGHTNESS, DIVERGING_CHROMA, hue);
    to_rgb(white.mix(end, t.abs()))
}

/// The linear-light components of an sRGB colour: what a renderer that encodes its output to
/// sRGB (as kiss3d's does) must be given so that the screen shows `c`.
pub fn linear(c: Rgb) -> Rgb {
    let l = Srgb::new(c[0], c[1], c[2]).into_linear();
    [l.red, l.green, l.blue]
}

/// Oklab lightness of an sRGB colour (for tests and the legend's text colour).
pub fn lightness(c: Rgb) -> f32 {
    Oklab::from_color(Srgb::new(c[0], c[1], c[2])).l
}

/// viridis at `t` in `[0, 1]` (perceptually uniform, sequential).
pub fn sequential(t: f32) -> Rgb {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    let c = colorous::VIRIDIS.eval_continuous(t as f64);
    [c.r, c.g, c.b].map(|v| v as f32 / 255.0)
}

/// A distinct colour per id: hues a golden angle apart in Oklch, with lightness cycling through
/// three levels, so that neighbouring ids (often neighbouring supervoxels) never look alike.
pub fn categorical(id: u32) -> Rgb {
    let hue = (id as f32 * 137.507_77) % 360.0;
    let l = [0.72, 0.58, 0.84][(id % 3) as usize];
    to_rgb(oklch(l, 0.13, hue))
}

/// ASPRS LAS classification colours for the common codes; other codes get categorical colours.
pub fn classification_colour(code: u8) -> Rgb {
    match code {
        2 => [0.62, 0.47, 0.30], // ground
        3 => [0.60, 0.80, 0.40], // low vegetation
        4 => [0.30, 0.65, 0.25], // medium vegetation
        5 => [0.10, 0.45, 0.10], // high vegetation
        6 => [0.85, 0.30, 0.25], // building
        7 => [0.90, 0.20, 0.90], // noise
        9 => [0.25, 0.45, 0.90], // water
        _ => categorical(code as u32),
    }
}

/// The colour of a model's class `k` (`names` are its classes): its ASPRS code's when the name
/// is one (ground, building, …), else a categorical colour.
pub fn class_colour(names: &[String], k: usize) -> Rgb {
    let code = names.get(k).and_then(|n| {
        (0..=u8::MAX)
            .find(|&c| crate::labels::asprs_name(c).is_some_and(|a| a.eq_ignore_ascii_case(n)))
    });
    code.map_or_else(|| categorical(k as u32), classification_colour)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diverging_map_is_white_at_zero_blue_below_red_above() {
        let w = diverging(0.0);
        assert!(w.iter().all(|&v| (v - 1.0).abs() < 1e-3), "{w:?}");
        let b = diverging(-1.0);
        let r = diverging(1.0);
        assert!(b[2] > b[0] + 0.2 && b[2] > b[1], "{b:?}");
        assert!(r[0] > r[2] + 0.2 && r[0] > r[1], "{r:?}");
        assert_eq!(diverging(f32::NAN), w);
        assert_eq!(diverging(3.0), r);
    }

    #[test]
    fn diverging_map_is_symmetric_and_even_in_lightness() {
        // Equal |t| gives equal lightness on both sides, and lightness falls by equal steps.
        let steps = 10;
        let mut previous = lightness(diverging(0.0));
        let mut drops = Vec::new();
        for i in 1..=steps {
            let t = i as f32 / steps as f32;
            let (lb, lr) = (lightness(diverging(-t)), lightness(diverging(t)));
            assert!((lb - lr).abs() < 0.01, "t = {t}: {lb} vs {lr}");
            drops.push(previous - lr);
            previous = lr;
        }
        let mean = drops.iter().sum::<f32>() / steps as f32;
        assert!(mean > 0.0);
        for d in drops {
            assert!(
                (d - mean).abs() < 0.15 * mean,
                "uneven lightness steps: {d} vs {mean}"
            );
        }
    }

    #[test]
    fn categorical_colours_of_neighbouring_ids_differ() {
        for id in 0..200 {
            let (a, b) = (categorical(id), categorical(id + 1));
            let d: f32 = (0..3).map(|i| (a[i] - b[i]).powi(2)).sum::<f32>().sqrt();
            assert!(d > 0.1, "{id}: {a:?} vs {b:?}");
        }
    }

    #[test]
    fn linear_light_round_trips_the_srgb_curve() {
        assert_eq!(linear([0.0, 1.0, 0.0]), [0.0, 1.0, 0.0]);
        // sRGB 0.5 is about 21.4% linear light (IEC 61966-2-1).
        assert!((linear([0.5; 3])[0] - 0.214).abs() < 1e-3);
    }

    #[test]
    fn sequential_map_gets_lighter() {
        assert!(lightness(sequential(0.0)) < lightness(sequential(0.5)));
        assert!(lightness(sequential(0.5)) < lightness(sequential(1.0)));
    }

    #[test]
    fn classification_colours_name_ground_and_vegetation_and_fall_back_to_categorical() {
        assert_eq!(classification_colour(2), [0.62, 0.47, 0.30]);
        assert!(classification_colour(5)[1] > classification_colour(5)[0]);
        assert_eq!(classification_colour(17), categorical(17));
    }
}
