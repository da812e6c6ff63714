//! The one input every explainer and every mask scoring takes.

use crate::error::{Error, Result};

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
        };
        input.check()?;
        Ok(input)
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
