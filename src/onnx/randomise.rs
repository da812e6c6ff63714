//! The model-randomisation checks' side: a graph's layers, redrawn as PyTorch initialises them.

use std::collections::HashMap;

use tract_onnx::pb;
use tract_onnx::prelude::*;

use super::classifier::OnnxClassifier;
use super::plan::words;
use super::split::attr;
use crate::classifier::{Classifier, Randomisable};
use crate::error::{Error, Result};

/// What a randomised initialiser is drawn as.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Fresh {
    /// Uniform on `[-bound, bound]`.
    Uniform(f32),
    /// Every element this value.
    Value(f32),
}

/// One layer of an ONNX graph for the randomisation checks: a node with a weight initialiser
/// (Conv, Gemm, MatMul) and the batch norm and bias addition that act directly on its output.
#[derive(Debug)]
pub(super) struct Layer {
    pub(super) name: String,
    /// Initialisers (by index) and how each is drawn afresh.
    pub(super) tensors: Vec<(usize, Fresh)>,
    /// `1 / sqrt(fan_in)` of the weight.
    pub(super) bound: f32,
}

/// The graph's layers, input to output. A fresh layer is drawn as PyTorch initialises one
/// (weights and biases uniform on `±1/sqrt(fan_in)`, the bound its Kaiming-uniform default gives;
/// batch norm as the identity: scale 1, shift 0, mean 0, variance 1), since the file does not say
/// how its network was initialised.
pub(super) fn layers(graph: &pb::GraphProto) -> Vec<Layer> {
    let floats: HashMap<&str, usize> = graph
        .initializer
        .iter()
        .enumerate()
        .filter(|(_, t)| t.data_type == pb::tensor_proto::DataType::Float as i32)
        .map(|(i, t)| (t.name.as_str(), i))
        .collect();
    let init = |name: Option<&String>| name.and_then(|n| floats.get(n.as_str()).copied());
    let mut layers: Vec<Layer> = Vec::new();
    // Which layer produced a tensor.
    let mut owner: HashMap<&str, usize> = HashMap::new();
    for (i, node) in graph.node.iter().enumerate() {
        let op = node.op_type.as_str();
        let follows = node
            .input
            .first()
            .and_then(|x| owner.get(x.as_str()))
            .copied();
        let layer = match (op, init(node.input.get(1))) {
            ("Conv" | "Gemm" | "MatMul", Some(w)) => {
                let d = &graph.initializer[w].dims;
                let fan_in = match op {
                    "Conv" => d.iter().skip(1).product::<i64>(),
                    "Gemm" if attr(node, "transB").is_some_and(|a| a.i != 0) => {
                        d.get(1).copied().unwrap_or(1)
                    }
                    _ => d.len().checked_sub(2).map_or(1, |k| d[k]),
                };
                let bound = 1.0 / (fan_in.max(1) as f32).sqrt();
                let mut tensors = vec![(w, Fresh::Uniform(bound))];
                tensors.extend(init(node.input.get(2)).map(|b| (b, Fresh::Uniform(bound))));
                let base = if node.name.is_empty() {
                    format!("{op}_{i}")
                } else {
                    node.name.clone()
                };
                let taken = |n: &str| layers.iter().any(|l| l.name == n);
                let name = if taken(&base) {
                    format!("{base}_{i}")
                } else {
                    base
                };
                layers.push(Layer {
                    name,
                    tensors,
                    bound,
                });
                Some(layers.len() - 1)
            }
            ("BatchNormalization", _) => follows.inspect(|&l| {
                let identity = [1.0, 0.0, 0.0, 1.0];
                for (k, v) in identity.into_iter().enumerate() {
                    if let Some(t) = init(node.input.get(k + 1)) {
                        layers[l].tensors.push((t, Fresh::Value(v)));
                    }
                }
            }),
            ("Add", Some(b)) => follows.inspect(|&l| {
                let bound = layers[l].bound;
                layers[l].tensors.push((b, Fresh::Uniform(bound)));
            }),
            _ => None,
        };
        if let Some(l) = layer {
            for out in &node.output {
                owner.insert(out, l);
            }
        }
    }
    layers
}

impl Randomisable for OnnxClassifier {
    /// The nodes with weight initialisers, by their names in the file (`Conv_3` when unnamed).
    fn layer_names(&self) -> Vec<String> {
        self.proto
            .graph
            .as_ref()
            .map(|g| layers(g).into_iter().map(|l| l.name).collect())
            .unwrap_or_default()
    }

    fn randomised(&self, names: &[String], seed: u64) -> Result<Box<dyn Classifier>> {
        use rand::{Rng, SeedableRng};
        let mut proto = self.proto.clone();
        let graph = proto
            .graph
            .as_mut()
            .ok_or_else(|| Error::model(&self.path, "no graph"))?;
        let all = layers(graph);
        for name in names {
            let Some((index, layer)) = all.iter().enumerate().find(|(_, l)| &l.name == name) else {
                return Err(Error::Config(format!(
                    "no layer {name:?}; the layers are {}",
                    self.layer_names().join(", ")
                )));
            };
            // One stream per layer: its new weights do not depend on which others are drawn.
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(index as u64);
            for &(t, fresh) in &layer.tensors {
                let tensor = &mut graph.initializer[t];
                let n: usize = tensor.dims.iter().map(|&d| d.max(0) as usize).product();
                tensor.float_data = (0..n)
                    .map(|_| match fresh {
                        Fresh::Uniform(b) => rng.random_range(-b..=b),
                        Fresh::Value(v) => v,
                    })
                    .collect();
                tensor.raw_data.clear();
                // Inline now, wherever it was stored.
                tensor.external_data.clear();
                tensor.data_location = None;
            }
        }
        let model = tract_onnx::onnx()
            .model_for_proto_model(&proto)
            .map_err(|e| Error::model(&self.path, words(&e)))?;
        Ok(Box::new(Self::from_proto(
            &self.path,
            proto,
            model,
            self.config.clone(),
        )?))
    }
}
