//! tract's side: reading a file, plans (optimised, runnable graphs) per input shape, running them, and
//! the points as an input tensor.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use tract_onnx::pb;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::DimLike;
use tract_onnx::tract_hir::infer::Factoid;

use super::config::Layout;
use super::topk::select_topk;
use crate::channels::ChannelTable;
use crate::error::{Error, Result};

/// Batches of more clouds than this are split, and the parts run in parallel.
pub(super) const BATCH: usize = 32;

/// Plans by input shape, built on first use.
pub(super) type Plans = Mutex<HashMap<Vec<usize>, Arc<TypedRunnableModel>>>;

/// The plan of `model` for an input of `shape`, from `cache` or built and kept there.
pub(super) fn plan(
    model: &InferenceModel,
    cache: &Plans,
    shape: &[usize],
) -> Result<Arc<TypedRunnableModel>> {
    plan_inputs(model, cache, &[shape])
}

/// [`plan`] for a model of several inputs, of `shapes`.
pub(super) fn plan_inputs(
    model: &InferenceModel,
    cache: &Plans,
    shapes: &[&[usize]],
) -> Result<Arc<TypedRunnableModel>> {
    let key: Vec<usize> = shapes.iter().flat_map(|s| s.iter().copied()).collect();
    let mut plans = cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = plans.get(&key) {
        return Ok(p.clone());
    }
    let mut model = model.clone();
    for (i, shape) in shapes.iter().enumerate() {
        model = model
            .with_input_fact(i, f32::fact(*shape).into())
            .map_err(|e| Error::Classifier(words(&e)))?;
    }
    // tract 0.23's optimiser fails on some graphs it can run: a Conv over a Concat with an
    // Expand of a max-pool (`torch.cat([h, g.expand(-1, -1, n)])`, PointNet segmentation as
    // exported) dies in the declutter pass ("Trying to substitute a 32,64,F32 by 32,1,F32").
    // The typed graph without that pass runs and gives PyTorch's numbers, only slower.
    let plan = match model.clone().into_optimized() {
        Ok(mut m) => {
            select_topk(&mut m);
            m.into_runnable()
        }
        Err(first) => model
            .into_typed()
            .and_then(|mut m| {
                select_topk(&mut m);
                m.into_runnable()
            })
            .map_err(|_| first),
    }
    .map_err(|e| Error::Classifier(words(&e)))?;
    plans.insert(key, plan.clone());
    Ok(plan)
}

/// Runs `plan` on one f32 tensor and returns its output `index`: shape and values.
pub(super) fn run_plan(
    plan: &Arc<TypedRunnableModel>,
    input: Tensor,
    index: usize,
) -> Result<(Vec<usize>, Vec<f32>)> {
    run_inputs(plan, tvec!(input.into()), index)
}

/// [`run_plan`] with several inputs.
pub(super) fn run_inputs(
    plan: &Arc<TypedRunnableModel>,
    inputs: TVec<TValue>,
    index: usize,
) -> Result<(Vec<usize>, Vec<f32>)> {
    let outputs = plan.run(inputs).map_err(|e| Error::Classifier(words(&e)))?;
    let out = outputs.get(index).ok_or_else(|| {
        Error::Classifier(format!(
            "the model has {} outputs; the sidecar asks for output {index}",
            outputs.len()
        ))
    })?;
    let view = out
        .to_plain_array_view::<f32>()
        .map_err(|e| Error::Classifier(words(&e)))?;
    Ok((view.shape().to_vec(), view.iter().copied().collect()))
}

/// tract's error and its causes on one line, each cut to 300 characters: tract puts whole graph
/// patches, weights and all, in some messages.
pub(super) fn words(e: &TractError) -> String {
    e.chain()
        .map(|c| {
            let c = c.to_string().replace('\n', " ");
            match c.char_indices().nth(300) {
                Some((at, _)) => format!("{}…", &c[..at]),
                None => c,
            }
        })
        .collect::<Vec<_>>()
        .join(": ")
}

/// The file's protobuf (for the graph walks) and the model tract makes of it, from one read.
pub(super) fn read(path: &Path) -> Result<(pb::ModelProto, InferenceModel)> {
    let bad = |e: TractError| Error::model(path, format!("cannot read as ONNX: {}", words(&e)));
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let onnx = tract_onnx::onnx();
    let proto = onnx
        .proto_model_for_read(&mut bytes.as_slice())
        .map_err(bad)?;
    let model = onnx.model_for_proto_model(&proto).map_err(bad)?;
    Ok((proto, model))
}

/// The input's dimensions as tract reads them from the file: a number, or `None` for a named
/// (free) axis.
pub(super) fn input_dims(model: &InferenceModel) -> TractResult<Vec<Option<usize>>> {
    let fact = model.input_fact(0)?;
    let shape = fact
        .shape
        .dims()
        .map(|d| d.concretize().and_then(|d| d.to_usize().ok()))
        .collect();
    Ok(shape)
}

/// The points of `clouds` as one input tensor: each cloud's first `n` points, repeated when it has
/// fewer, with `extra` channels after x, y, z from `table` (zeros without one).
pub(super) fn point_tensor(
    layout: Layout,
    clouds: &[&[[f32; 3]]],
    n: usize,
    extra: usize,
    table: Option<&ChannelTable>,
) -> ([usize; 3], Vec<f32>) {
    let (b, c) = (clouds.len(), 3 + extra);
    let mut flat = vec![0.0f32; b * n * c];
    for (i, cloud) in clouds.iter().enumerate() {
        for j in 0..n {
            let p = &cloud[j % cloud.len()];
            let more = table.map_or(&[][..], |t| t.get(p));
            for (k, &v) in p.iter().chain(more).enumerate() {
                let at = match layout {
                    Layout::Bcn => (i * c + k) * n + j,
                    Layout::Bnc => (i * n + j) * c + k,
                };
                flat[at] = v;
            }
        }
    }
    let shape = match layout {
        Layout::Bcn => [b, c, n],
        Layout::Bnc => [b, n, c],
    };
    (shape, flat)
}
