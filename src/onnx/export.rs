//! pointlime's own PointNet written as an ONNX file (`pointlime export`).

use std::path::Path;

use tract_onnx::pb;

use super::config::OnnxConfig;
use crate::error::{Error, Result};

pub use crate::dense::{Dense, Portable, TNetLayers};

/// Builds an ONNX graph node by node.
#[derive(Default)]
struct GraphBuilder {
    nodes: Vec<pb::NodeProto>,
    initializer: Vec<pb::TensorProto>,
}

fn ints_attr(name: &str, v: Vec<i64>) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.to_string(),
        r#type: 7, // INTS
        ints: v,
        ..Default::default()
    }
}

impl GraphBuilder {
    /// Adds a node whose output is named after it; returns that name.
    fn node(
        &mut self,
        op: &str,
        name: &str,
        inputs: &[&str],
        attribute: Vec<pb::AttributeProto>,
    ) -> String {
        self.nodes.push(pb::NodeProto {
            op_type: op.to_string(),
            name: name.to_string(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![name.to_string()],
            attribute,
            ..Default::default()
        });
        name.to_string()
    }

    fn floats(&mut self, name: &str, dims: Vec<i64>, values: &[f32]) -> String {
        self.initializer.push(pb::TensorProto {
            name: name.to_string(),
            dims,
            data_type: 1, // FLOAT
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
        name.to_string()
    }

    fn int64s(&mut self, name: &str, values: &[i64]) -> String {
        self.initializer.push(pb::TensorProto {
            name: name.to_string(),
            dims: vec![values.len() as i64],
            data_type: 7, // INT64
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
        name.to_string()
    }

    /// Per-point layers on `[B, C, N]`: each a 1×1 `Conv` (weight `[out, in, 1]`, the transpose
    /// of `x·W`'s), then ReLU.
    fn points(&mut self, mut x: String, layers: &[Dense], prefix: &str, first: usize) -> String {
        for (i, l) in layers.iter().enumerate() {
            let name = format!("{prefix}.{}", first + i);
            let mut w = vec![0.0f32; l.weight.len()];
            for a in 0..l.inputs {
                for b in 0..l.outputs {
                    w[b * l.inputs + a] = l.weight[a * l.outputs + b];
                }
            }
            let dims = vec![l.outputs as i64, l.inputs as i64, 1];
            let w = self.floats(&format!("{name}.weight"), dims, &w);
            let b = self.floats(&format!("{name}.bias"), vec![l.outputs as i64], &l.bias);
            x = self.node(
                "Conv",
                &format!("{name}.conv"),
                &[&x, &w, &b],
                vec![ints_attr("kernel_shape", vec![1])],
            );
            if l.relu {
                x = self.node("Relu", &format!("{name}.relu"), &[&x], vec![]);
            }
        }
        x
    }

    /// The max over points, `[B, C, N]` → `[B, C]`.
    fn pool(&mut self, x: &str, name: &str) -> String {
        let keep = pb::AttributeProto {
            name: "keepdims".into(),
            r#type: 2, // INT
            i: 0,
            ..Default::default()
        };
        self.node(
            "ReduceMax",
            name,
            &[x],
            vec![ints_attr("axes", vec![2]), keep],
        )
    }

    /// Dense layers on `[B, C]` as `Gemm`s; the last named `last`.
    fn head(&mut self, mut x: String, layers: &[Dense], prefix: &str, last: &str) -> String {
        for (i, l) in layers.iter().enumerate() {
            let name = format!("{prefix}.{i}");
            let dims = vec![l.inputs as i64, l.outputs as i64];
            let w = self.floats(&format!("{name}.weight"), dims, &l.weight);
            let b = self.floats(&format!("{name}.bias"), vec![l.outputs as i64], &l.bias);
            let out = if i + 1 == layers.len() {
                last.to_string()
            } else {
                format!("{name}.gemm")
            };
            x = self.node("Gemm", &out, &[&x, &w, &b], vec![]);
            if l.relu && i + 1 < layers.len() {
                x = self.node("Relu", &format!("{name}.relu"), &[&x], vec![]);
            }
        }
        x
    }

    /// `x` (`[B, k, N]`) transformed by the T-Net's matrix `M` as pointlime applies it to each
    /// point (`p·M`): `Mᵀ·x`.
    fn tnet(&mut self, x: String, t: &TNetLayers, prefix: &str) -> String {
        let h = self.points(x.clone(), &t.points, &format!("{prefix}.points"), 0);
        let g = self.pool(&h, &format!("{prefix}.pool"));
        let m = self.head(
            g,
            &t.head,
            &format!("{prefix}.head"),
            &format!("{prefix}.matrix"),
        );
        let k = t.k as i64;
        let shape = self.int64s(&format!("{prefix}.shape"), &[-1, k, k]);
        let m = self.node(
            "Reshape",
            &format!("{prefix}.reshape"),
            &[&m, &shape],
            vec![],
        );
        let mt = self.node(
            "Transpose",
            &format!("{prefix}.transpose"),
            &[&m],
            vec![ints_attr("perm", vec![0, 2, 1])],
        );
        self.node("MatMul", &format!("{prefix}.apply"), &[&mt, &x], vec![])
    }
}

/// Writes a PointNet as ONNX (opset 13, input `points` `[batch, 3, n]` with free batch and point
/// axes, output `logits` `[batch, classes]`): each per-point layer a 1×1 `Conv` with its batch
/// norm folded in, the max over points a `ReduceMax`, each head layer a `Gemm`, a T-Net as the
/// same plus `Reshape`, `Transpose` and `MatMul`; and `config` as the sidecar beside it (`path`
/// with the extension `.json`). Both files are written atomically.
///
/// # Errors
/// [`Error::Config`] for layers whose sizes do not chain; I/O errors.
pub fn write_pointnet(path: &Path, net: &Portable, config: &OnnxConfig) -> Result<()> {
    use prost::Message;
    let chain = |start: usize, layers: &[Dense]| -> Result<usize> {
        let mut width = start;
        for l in layers {
            if l.inputs != width
                || l.weight.len() != l.inputs * l.outputs
                || l.bias.len() != l.outputs
            {
                return Err(Error::Config(format!(
                    "a layer of {}×{} does not follow one of width {width}",
                    l.inputs, l.outputs
                )));
            }
            width = l.outputs;
        }
        Ok(width)
    };
    let classes = chain(chain(3, &net.points)?, &net.head)?;
    for t in net.input_tnet.iter().chain(&net.feature_tnet) {
        if chain(chain(t.k, &t.points)?, &t.head)? != t.k * t.k {
            return Err(Error::Config(format!(
                "a T-Net of {0}×{0} does not regress {0}² values",
                t.k
            )));
        }
    }
    let mut g = GraphBuilder::default();
    let mut x = "points".to_string();
    if let Some(t) = &net.input_tnet {
        x = g.tnet(x, t, "input_tnet");
    }
    // The feature T-Net acts after the first point layer.
    let (first, rest) = net.points.split_at(net.points.len().min(1));
    x = g.points(x, first, "points", 0);
    if let Some(t) = &net.feature_tnet {
        x = g.tnet(x, t, "feature_tnet");
    }
    x = g.points(x, rest, "points", 1);
    let pooled = g.pool(&x, "pool");
    g.head(pooled, &net.head, "head", "logits");

    use pb::tensor_shape_proto::dimension::Value as D;
    let dim = |d: D| pb::tensor_shape_proto::Dimension {
        value: Some(d),
        ..Default::default()
    };
    let value = |name: &str, dims: Vec<pb::tensor_shape_proto::Dimension>| pb::ValueInfoProto {
        name: name.to_string(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: 1,
                shape: Some(pb::TensorShapeProto { dim: dims }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    };
    let batch = || dim(D::DimParam("batch".into()));
    let model = pb::ModelProto {
        ir_version: 7,
        producer_name: "pointlime".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        graph: Some(pb::GraphProto {
            name: "pointnet".into(),
            node: g.nodes,
            initializer: g.initializer,
            input: vec![value(
                "points",
                vec![batch(), dim(D::DimValue(3)), dim(D::DimParam("n".into()))],
            )],
            output: vec![value(
                "logits",
                vec![batch(), dim(D::DimValue(classes as i64))],
            )],
            ..Default::default()
        }),
        ..Default::default()
    };
    let bytes = model.encode_to_vec();
    crate::io::write_atomic(path, |mut f| {
        std::io::Write::write_all(&mut f, &bytes).map_err(|e| Error::io(path, e))
    })?;
    crate::io::write_json(&path.with_extension("json"), config)
}
