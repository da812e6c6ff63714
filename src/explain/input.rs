//! The one input every explainer and every mask scoring takes.

use std::sync::Arc;

use crate::error::{Error, Result};

/// Reference clouds in the model frame, shared cheaply between threads (see
/// [`Input::baselines`]).
#[derive(Clone, Default, PartialEq)]
pub struct Baselines(pub Arc<Vec<Vec<[f32; 3]>>>);

impl std::ops::Deref for Baselines {
    type Target = [Vec<[f32; 3]>];

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::fmt::Debug for Baselines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Baselines({} clouds)", self.0.len())
    }
}

/// What every explainer takes for one cloud: the network's input points in the model frame and
/// the segment of each.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// The network's input points (model frame).
    pub points: &'a [[f32; 3]],
    /// The segment of each point, in `0..n_segments`.
    pub labels: &'a [u32],
    /// Number of segments.
    pub n_segments: usize,
    /// World units per model-frame unit (the frame's scale), so that settings given in the
    /// scan's units (SmoothGrad's noise, the occluding ball's radius) mean the same on every
    /// scan; 1 when the frame is not known.
    pub scale: f64,
    /// Reference clouds (model frame, any number of points) that Expected Gradients draws its
    /// baselines from: other scans of the dataset. Empty when none were given.
    pub baselines: &'a [Vec<[f32; 3]>],
}

impl<'a> Input<'a> {
    /// Checks that there is a segment and a label per point.
    ///
    /// # Errors
    /// [`Error::Config`] for no segments or a label count that differs from the point count.
    pub fn new(points: &'a [[f32; 3]], labels: &'a [u32], n_segments: usize) -> Result<Self> {
        let input = Input {
            points,
            labels,
            n_segments,
            scale: 1.0,
            baselines: &[],
        };
        input.check()?;
        Ok(input)
    }

    /// The same input in a frame of `scale` world units per model unit.
    pub fn with_scale(self, scale: f64) -> Self {
        Input { scale, ..self }
    }

    /// The same input with reference clouds for Expected Gradients.
    pub fn with_baselines(self, baselines: &'a [Vec<[f32; 3]>]) -> Self {
        Input { baselines, ..self }
    }

    /// The checks of [`Input::new`], for inputs built field by field.
    ///
    /// # Errors
    /// As [`Input::new`].
    pub fn check(&self) -> Result<()> {
        if self.n_segments == 0 || self.labels.len() != self.points.len() {
            return Err(Error::Config(
                "explain needs at least one segment and a label per point".into(),
            ));
        }
        Ok(())
    }
}
