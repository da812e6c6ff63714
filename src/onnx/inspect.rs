//! What `pointlime model inspect` prints of an ONNX file.

use std::path::Path;

use tract_onnx::prelude::*;

use super::plan::{read, words};
use crate::error::Result;

/// What `pointlime model inspect` prints of an ONNX file: its inputs and outputs with their
/// dimensions (numbers, or the names of free axes) and the operators it uses, with how many of
/// each.
///
/// # Errors
/// [`Error::Model`] when tract cannot read the file.
pub fn describe(path: &Path) -> Result<String> {
    let (proto, model) = read(path)?;
    let mut text = String::new();
    let fact = |o: OutletId| {
        model
            .outlet_fact(o)
            .map(|f| format!("{f:?}").replace(",..", ", ?").replace(',', ", "))
            .unwrap_or_else(|e| words(&e))
    };
    for (i, &o) in model.inputs.iter().enumerate() {
        text.push_str(&format!(
            "input {i}:    {} [{}]\n",
            model.node(o.node).name,
            fact(o)
        ));
    }
    for (i, &o) in model.outputs.iter().enumerate() {
        text.push_str(&format!(
            "output {i}:   {} [{}]\n",
            model.node(o.node).name,
            fact(o)
        ));
    }
    // The operators as the file names them (tract renames some as it translates them).
    let mut ops: std::collections::BTreeMap<&str, usize> = Default::default();
    for node in proto.graph.iter().flat_map(|g| &g.node) {
        *ops.entry(node.op_type.as_str()).or_default() += 1;
    }
    let ops: Vec<String> = ops.iter().map(|(k, v)| format!("{k} ×{v}")).collect();
    let opsets: Vec<String> = proto
        .opset_import
        .iter()
        .map(|o| {
            format!(
                "{} {}",
                if o.domain.is_empty() {
                    "ai.onnx"
                } else {
                    &o.domain
                },
                o.version
            )
        })
        .collect();
    text.push_str(&format!(
        "producer:   {} {}; opset {}\n",
        proto.producer_name,
        proto.producer_version,
        opsets.join(", ")
    ));
    text.push_str(&format!("operators:  {}\n", ops.join(", ")));
    Ok(text)
}
