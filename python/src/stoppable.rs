//! Any classifier, stopped at its next call once Ctrl-C has been pressed: the work runs without
//! the GIL on a thread of its own (`interruptible`), so only a flag can reach it.

use std::sync::atomic::{AtomicBool, Ordering};

use pointlime::channels::{ChannelTable, Channels};
use pointlime::classifier::{
    Differentiable, InputTransform, MaxPooled, Output, PerPoint, PointPooled, PoolLayer,
    Randomisable,
};
use pointlime::cloud::{Axis, Normalisation};
use pointlime::competence::{Competence, Domain};
use pointlime::{Classifier, Error, Result};

pub struct Stoppable<'a> {
    inner: &'a dyn Classifier,
    stop: &'a AtomicBool,
}

impl<'a> Stoppable<'a> {
    pub fn new(inner: &'a dyn Classifier, stop: &'a AtomicBool) -> Self {
        Stoppable { inner, stop }
    }

    fn check(&self) -> Result<()> {
        if self.stop.load(Ordering::SeqCst) {
            return Err(Error::Classifier("interrupted".into()));
        }
        Ok(())
    }
}

// Everything forwarded: the exact fast paths (max-pooled, point-pooled, pool layer) stay
// available; they run in milliseconds, so only the whole network's calls check the flag.
impl Classifier for Stoppable<'_> {
    fn class_names(&self) -> &[String] {
        self.inner.class_names()
    }
    fn input_points(&self) -> usize {
        self.inner.input_points()
    }
    fn runtime(&self) -> String {
        self.inner.runtime()
    }
    fn normalisation(&self) -> Normalisation {
        self.inner.normalisation()
    }
    fn up(&self) -> Axis {
        self.inner.up()
    }
    fn window(&self) -> Option<f64> {
        self.inner.window()
    }
    fn predict(&self, clouds: &[&[[f32; 3]]], output: Output) -> Result<Vec<f32>> {
        self.check()?;
        self.inner.predict(clouds, output)
    }
    fn set_function(&self) -> bool {
        self.inner.set_function()
    }
    fn max_pooled(&self) -> Option<&dyn MaxPooled> {
        self.inner.max_pooled()
    }
    fn input_transform(&self) -> Option<&dyn InputTransform> {
        self.inner.input_transform()
    }
    fn channels(&self) -> Channels {
        self.inner.channels()
    }
    fn with_channels(&self, table: ChannelTable) -> Option<Box<dyn Classifier + '_>> {
        self.inner.with_channels(table)
    }
    fn pool_layer(&self) -> Option<&dyn PoolLayer> {
        self.inner.pool_layer()
    }
    fn dense_layers(&self) -> Option<pointlime::dense::Portable> {
        self.inner.dense_layers()
    }
    fn randomisable(&self) -> Option<&dyn Randomisable> {
        self.inner.randomisable()
    }
    fn differentiable(&self) -> Option<&dyn Differentiable> {
        self.inner.differentiable()
    }
    fn embed(&self, clouds: &[&[[f32; 3]]]) -> Option<Result<Vec<f32>>> {
        self.inner.embed(clouds)
    }
    fn domain(&self) -> Option<&Domain> {
        self.inner.domain()
    }
    fn per_point(&self) -> Option<&dyn PerPoint> {
        self.inner.per_point().map(|_| self as &dyn PerPoint)
    }
    fn point_pooled(&self) -> Option<&dyn PointPooled> {
        self.inner.point_pooled()
    }
    fn competence(&self, points: &[[f32; 3]]) -> Result<Option<Competence>> {
        self.inner.competence(points)
    }
}

impl PerPoint for Stoppable<'_> {
    fn predict_points(&self, clouds: &[&[[f32; 3]]], output: Output) -> Result<Vec<f32>> {
        self.check()?;
        self.inner_per_point()?.predict_points(clouds, output)
    }
    fn gives_gradients(&self) -> bool {
        self.inner.per_point().is_some_and(|p| p.gives_gradients())
    }
    fn region_gradients(
        &self,
        points: &[[f32; 3]],
        region: &[bool],
        class: usize,
        output: Output,
    ) -> Result<Vec<[f32; 3]>> {
        self.inner_per_point()?
            .region_gradients(points, region, class, output)
    }
}

impl Stoppable<'_> {
    fn inner_per_point(&self) -> Result<&dyn PerPoint> {
        self.inner
            .per_point()
            .ok_or_else(|| Error::Classifier("the model scores whole clouds".into()))
    }
}
