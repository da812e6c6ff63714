//! The exact fast paths of ONNX networks: a max-pooled network cut at its max-pool, and an input
//! transform's per-point features cut out to be computed once per input.

use std::collections::HashMap;
use std::sync::Mutex;

use tract_onnx::pb;
use tract_onnx::prelude::*;

use super::config::{Layout, OnnxConfig};
use super::plan::{plan, point_tensor, run_plan, words, Plans};
use crate::channels::ChannelTable;
use crate::classifier::max_pool;
use crate::error::{Error, Result};

/// A max-pooled network cut in two at its max-pool: the per-point part (every operator acts on
/// each point alone: 1×1 convolutions, batch norm, activations, per-channel constants) and the
/// head that reads only the pooled feature. Scoring a mask then needs the per-point features
/// once and the head per sample, exactly as for pointlime's own max-pooled models.
pub(super) struct Split {
    /// Input: the points; output: the per-point features (`[1, C, m]` or `[1, m, C]`).
    pub(super) points: InferenceModel,
    /// Input: the pooled feature (`[b, C]`, or with the pooled axis kept as 1); output: the
    /// scores.
    pub(super) head: InferenceModel,
    /// Whether the max-pool keeps the point axis.
    pub(super) keepdims: bool,
    /// C.
    pub(super) channels: usize,
    pub(super) point_plans: Plans,
    pub(super) head_plans: Plans,
}

/// ONNX operators that act on each point alone, whatever their constant operands.
pub(super) const POINTWISE: &[&str] = &[
    "BatchNormalization",
    "Relu",
    "LeakyRelu",
    "Sigmoid",
    "Tanh",
    "Clip",
    "Identity",
    "Elu",
    "Selu",
    "HardSigmoid",
    "Softplus",
    "Dropout",
];
/// Element-wise operators of two operands: per point when the second is a constant that does not
/// vary along the batch or point axis.
pub(super) const BINARY: &[&str] = &["Add", "Sub", "Mul", "Div"];

pub(super) fn attr<'a>(node: &'a pb::NodeProto, name: &str) -> Option<&'a pb::AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

/// Which nodes of a graph act on each point alone, fed by the points through such nodes only.
pub(super) struct PerPoint<'a> {
    /// Per node.
    pub(super) before: Vec<bool>,
    /// The tensors they make, and the points.
    pub(super) tensors: std::collections::HashSet<&'a str>,
    /// The graph's data input.
    pub(super) input: &'a str,
    /// The nodes that max-pool per-point tensors over the point axis, in graph order.
    pub(super) pools: Vec<usize>,
}

/// The max-pool to split `proto` at and, per node, whether it is before it (per point); or why
/// there is none.
pub(super) fn find_split(
    proto: &pb::ModelProto,
    layout: Layout,
) -> std::result::Result<(usize, Vec<bool>), String> {
    let graph = proto.graph.as_ref().ok_or("no graph")?;
    let PerPoint {
        before,
        tensors: per_point,
        pools,
        ..
    } = per_point(graph, layout)?;
    let mut why = "no max over the point axis after per-point layers".to_string();
    for r in pools {
        let node = &graph.node[r];
        // Past the max-pool, nothing may look at the points again.
        let leaks = graph.node.iter().enumerate().any(|(j, other)| {
            j != r && !before[j] && other.input.iter().any(|t| per_point.contains(t.as_str()))
        }) || graph
            .output
            .iter()
            .any(|o| per_point.contains(o.name.as_str()));
        if leaks {
            why = format!(
                "the points reach the head around the max-pool {:?} (T-Nets or skip connections)",
                node.name
            );
            continue;
        }
        return Ok((r, before));
    }
    Err(why)
}

/// Finds the per-point nodes and the max-pools over them (see [`PerPoint`]).
pub(super) fn per_point(
    graph: &pb::GraphProto,
    layout: Layout,
) -> std::result::Result<PerPoint<'_>, String> {
    use std::collections::HashSet;
    let inputs: Vec<&pb::ValueInfoProto> = graph
        .input
        .iter()
        .filter(|i| !graph.initializer.iter().any(|t| t.name == i.name))
        .collect();
    let [input] = inputs[..] else {
        return Err("not one data input".into());
    };
    let point_axis: i64 = match layout {
        Layout::Bcn => 2,
        Layout::Bnc => 1,
    };
    // Constant tensors (initialisers, Constant nodes) and their dimensions.
    let mut constant: HashMap<&str, Vec<i64>> = graph
        .initializer
        .iter()
        .map(|t| (t.name.as_str(), t.dims.clone()))
        .collect();
    for node in &graph.node {
        let value = attr(node, "value").and_then(|a| a.t.as_ref());
        if let (true, Some(out), Some(t)) = (node.op_type == "Constant", node.output.first(), value)
        {
            constant.insert(out, t.dims.clone());
        }
    }
    // Tensors that depend on the points, and those computed from them by per-point operators
    // only.
    let mut derived: HashSet<&str> = [input.name.as_str()].into();
    let mut per_point = derived.clone();
    let mut before = vec![false; graph.node.len()];
    for (i, node) in graph.node.iter().enumerate() {
        let data: Vec<&str> = node
            .input
            .iter()
            .map(String::as_str)
            .filter(|t| derived.contains(t))
            .collect();
        if data.is_empty() {
            continue;
        }
        let first_is_data = data.len() == 1 && node.input[0] == data[0];
        let others_constant = node
            .input
            .iter()
            .skip(1)
            .all(|t| t.is_empty() || constant.contains_key(t.as_str()));
        let weight = |rank: usize| {
            node.input
                .get(1)
                .and_then(|w| constant.get(w.as_str()))
                .is_some_and(|d| d.len() == rank && (rank != 3 || d[2] == 1))
        };
        let all = |name: &str, value: i64| {
            attr(node, name).is_none_or(|a| a.ints.iter().all(|&v| v == value))
        };
        let op = node.op_type.as_str();
        let pointwise = per_point.contains(data[0])
            && first_is_data
            && others_constant
            && match op {
                _ if POINTWISE.contains(&op) => true,
                "Conv" => {
                    layout == Layout::Bcn
                        && weight(3)
                        && all("strides", 1)
                        && all("dilations", 1)
                        && all("pads", 0)
                        && attr(node, "group").is_none_or(|g| g.i == 1)
                }
                "MatMul" => layout == Layout::Bnc && weight(2),
                _ if BINARY.contains(&op) => node.input.iter().skip(1).all(|t| {
                    // Right-aligned to rank 3, the constant spans neither batch nor points.
                    constant.get(t.as_str()).is_some_and(|d| {
                        d.len() <= 3
                            && (0..3i64).all(|axis| {
                                let k = axis - (3 - d.len() as i64);
                                k < 0 || (axis != 0 && axis != point_axis) || d[k as usize] == 1
                            })
                    })
                }),
                _ => false,
            };
        before[i] = pointwise;
        for out in &node.output {
            derived.insert(out);
            if pointwise {
                per_point.insert(out);
            }
        }
    }
    let pools = graph
        .node
        .iter()
        .enumerate()
        .filter(|(_, node)| {
            let on_features = node
                .input
                .first()
                .is_some_and(|t| per_point.contains(t.as_str()));
            let axes: Vec<i64> = attr(node, "axes")
                .map(|a| {
                    a.ints
                        .iter()
                        .map(|&x| if x < 0 { x + 3 } else { x })
                        .collect()
                })
                .unwrap_or_default();
            node.op_type == "ReduceMax"
                && on_features
                && node.input.len() == 1
                && axes == [point_axis]
        })
        .map(|(r, _)| r)
        .collect();
    Ok(PerPoint {
        before,
        tensors: per_point,
        input: input.name.as_str(),
        pools,
    })
}

impl Split {
    /// Cuts `proto` at its max-pool, or says why it cannot be cut.
    pub(super) fn new(
        proto: &pb::ModelProto,
        layout: Layout,
    ) -> std::result::Result<Split, String> {
        let (r, before) = find_split(proto, layout)?;
        let graph = proto.graph.as_ref().ok_or("no graph")?;
        let pool = &graph.node[r];
        let mut points = graph.clone();
        points.node = part(graph, &|i| before[i]);
        points.output = vec![value(&pool.input[0])];
        points.value_info.clear();
        let mut head = graph.clone();
        head.node = part(graph, &|i| i != r && !before[i]);
        head.input = vec![value(&pool.output[0])];
        head.value_info.clear();
        Ok(Split {
            points: load_graph(proto, points)?,
            head: load_graph(proto, head)?,
            keepdims: attr(pool, "keepdims").is_none_or(|a| a.i != 0),
            channels: 0,
            point_plans: Mutex::new(HashMap::new()),
            head_plans: Mutex::new(HashMap::new()),
        })
    }
}

/// The shape of `b` pooled features of `ch` channels, with the pooled axis kept or not.
pub(super) fn pooled_shape(keepdims: bool, layout: Layout, b: usize, ch: usize) -> Vec<usize> {
    match (keepdims, layout) {
        (false, _) => vec![b, ch],
        (true, Layout::Bcn) => vec![b, ch, 1],
        (true, Layout::Bnc) => vec![b, 1, ch],
    }
}

/// A float tensor of a shape left to the plan (tract wants a type on a graph input).
pub(super) fn value(name: &str) -> pb::ValueInfoProto {
    pb::ValueInfoProto {
        name: name.to_string(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: 1,
                shape: None,
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The nodes of `graph` that `keep` picks, and every Constant node (each part keeps what it
/// uses).
pub(super) fn part(graph: &pb::GraphProto, keep: &dyn Fn(usize) -> bool) -> Vec<pb::NodeProto> {
    let (constants, rest): (Vec<_>, Vec<_>) = graph
        .node
        .iter()
        .enumerate()
        .partition(|(_, n)| n.op_type == "Constant");
    constants
        .into_iter()
        .chain(rest.into_iter().filter(|&(i, _)| keep(i)))
        .map(|(_, n)| n.clone())
        .collect()
}

/// `graph` as a model of its own, with `proto`'s opsets and metadata.
pub(super) fn load_graph(
    proto: &pb::ModelProto,
    graph: pb::GraphProto,
) -> std::result::Result<InferenceModel, String> {
    let model = pb::ModelProto {
        graph: Some(graph),
        ..proto.clone()
    };
    tract_onnx::onnx()
        .model_for_proto_model(&model)
        .map_err(|e| words(&e))
}

/// A network whose input transform is predicted from a max-pool over per-point features of the
/// raw points (a PointNet's input T-Net), cut in two: those per-point features, and the rest of
/// the network, which reads the points and the pooled features. Scoring a mask then needs the
/// per-point features once per input (see [`InputTransform`]).
pub(super) struct TransformSplit {
    /// Input: the points; output: the transform's per-point features.
    pub(super) psi: InferenceModel,
    /// Inputs: the points and the pooled features; output: the model's outputs.
    pub(super) rest: InferenceModel,
    /// Whether the max-pool keeps the point axis.
    pub(super) keepdims: bool,
    /// Width of the per-point features.
    pub(super) channels: usize,
    pub(super) psi_plans: Plans,
    pub(super) rest_plans: Plans,
}

impl TransformSplit {
    /// Cuts `proto` at the first max-pool of per-point features, or says why that saves nothing.
    pub(super) fn new(
        proto: &pb::ModelProto,
        layout: Layout,
    ) -> std::result::Result<TransformSplit, String> {
        let graph = proto.graph.as_ref().ok_or("no graph")?;
        let pp = per_point(graph, layout)?;
        let &r = pp
            .pools
            .first()
            .ok_or("no max over the point axis after per-point layers")?;
        let pool = &graph.node[r];
        let producer: HashMap<&str, usize> = graph
            .node
            .iter()
            .enumerate()
            .flat_map(|(i, n)| n.output.iter().map(move |o| (o.as_str(), i)))
            .collect();
        // The nodes that `from` needs, walking back and stopping at `stop` tensors.
        let needed = |from: Vec<&str>, stop: &str, only_per_point: bool| {
            let mut keep = vec![false; graph.node.len()];
            let mut stack = from;
            while let Some(t) = stack.pop() {
                let Some(&i) = producer.get(t).filter(|_| t != stop) else {
                    continue;
                };
                if keep[i] || (only_per_point && !pp.before[i]) {
                    continue;
                }
                keep[i] = true;
                stack.extend(graph.node[i].input.iter().map(String::as_str));
            }
            keep
        };
        let psi = needed(vec![pool.input[0].as_str()], "", true);
        let outputs = graph.output.iter().map(|o| o.name.as_str()).collect();
        let rest = needed(outputs, pool.output[0].as_str(), false);
        if psi.iter().zip(&rest).any(|(&a, &b)| a && b) {
            return Err(format!(
                "the network reads the per-point features of the max-pool {:?} elsewhere too",
                pool.name
            ));
        }
        let mut psi_graph = graph.clone();
        psi_graph.node = part(graph, &|i| psi[i]);
        psi_graph.output = vec![value(&pool.input[0])];
        psi_graph.value_info.clear();
        let mut rest_graph = graph.clone();
        rest_graph.node = part(graph, &|i| rest[i]);
        rest_graph.input.retain(|i| i.name == pp.input);
        rest_graph.input.push(value(&pool.output[0]));
        rest_graph.value_info.clear();
        Ok(TransformSplit {
            psi: load_graph(proto, psi_graph)?,
            rest: load_graph(proto, rest_graph)?,
            keepdims: attr(pool, "keepdims").is_none_or(|a| a.i != 0),
            channels: 0,
            psi_plans: Mutex::new(HashMap::new()),
            rest_plans: Mutex::new(HashMap::new()),
        })
    }
}

/// The per-point part's output for `m` points (`ch * m` values) as one row of `ch` per point.
pub(super) fn point_rows(layout: Layout, values: Vec<f32>, ch: usize, m: usize) -> Vec<f32> {
    match layout {
        // [1, C, m] → [m × C]
        Layout::Bcn => {
            let mut out = vec![0.0; m * ch];
            for k in 0..ch {
                for j in 0..m {
                    out[j * ch + k] = values[k * m + j];
                }
            }
            out
        }
        Layout::Bnc => values,
    }
}

/// The per-point part on one cloud: its output's shape and values.
pub(super) fn run_points(
    model: &InferenceModel,
    plans: &Plans,
    layout: Layout,
    points: &[[f32; 3]],
    extra: usize,
    table: Option<&ChannelTable>,
) -> Result<(Vec<usize>, Vec<f32>)> {
    let (shape, flat) = point_tensor(layout, &[points], points.len(), extra, table);
    let input = Tensor::from_shape(&shape, &flat).map_err(|e| Error::Classifier(words(&e)))?;
    run_plan(&plan(model, plans, &shape)?, input, 0)
}

/// The per-point part `model` on one cloud, one row of `ch` features per point.
pub(super) fn point_features(
    model: &InferenceModel,
    plans: &Plans,
    layout: Layout,
    ch: usize,
    points: &[[f32; 3]],
    extra: usize,
    table: Option<&ChannelTable>,
) -> Result<Vec<f32>> {
    let (shape, values) = run_points(model, plans, layout, points, extra, table)?;
    let m = points.len();
    if shape.iter().product::<usize>() != ch * m {
        return Err(Error::Classifier(format!(
            "per-point features of shape {shape:?} for {m} points"
        )));
    }
    Ok(point_rows(layout, values, ch, m))
}

/// The width of per-point features of `shape` (`[1, C, m]` or `[1, m, C]`), and their maximum
/// over the points: what a check of a split runs on the probe cloud.
pub(super) fn probe_pool(
    model: &InferenceModel,
    plans: &Plans,
    layout: Layout,
    probe: &[[f32; 3]],
    extra: usize,
) -> std::result::Result<(usize, Vec<f32>), String> {
    let (shape, values) =
        run_points(model, plans, layout, probe, extra, None).map_err(|e| e.to_string())?;
    let ch = match (layout, shape.as_slice()) {
        (Layout::Bcn, [_, c, _]) | (Layout::Bnc, [_, _, c]) => *c,
        _ => return Err(format!("per-point features of shape {shape:?}")),
    };
    let rows = point_rows(layout, values, ch, probe.len());
    Ok((ch, max_pool(&rows, ch).0))
}

/// Whether a split network's `scores` are the whole network's `raw` ones.
pub(super) fn same_scores(scores: &[f32], raw: &[f32]) -> std::result::Result<(), String> {
    let same = scores.len() == raw.len()
        && scores
            .iter()
            .zip(raw)
            .all(|(a, b)| (a - b).abs() <= 1e-4 * (1.0 + b.abs()));
    if same {
        Ok(())
    } else {
        Err("the split network's scores differ from the whole network's".into())
    }
}

/// The head on pooled features `[b × C]` of a model with `config`: the raw scores,
/// `[b × classes]`.
pub(super) fn run_head(split: &Split, config: &OnnxConfig, globals: &[f32]) -> Result<Vec<f32>> {
    let ch = split.channels;
    let b = globals.len() / ch.max(1);
    let shape = pooled_shape(split.keepdims, config.layout, b, ch);
    let input = Tensor::from_shape(&shape, globals).map_err(|e| Error::Classifier(words(&e)))?;
    let head = plan(&split.head, &split.head_plans, &shape)?;
    Ok(run_plan(&head, input, config.output)?.1)
}
