//! tract's `TopK` with a selection instead of a sort. tract-core 0.23.9 sorts every row whole
//! (`ops/array/topk.rs`, `sorted_by`) to keep its k first: on DGCNN's k-NN (20 of 1,024
//! distances, 1,024 rows, four times per cloud) that sort was half of the whole network's time
//! (docs/models.md, "Where the time goes"). Here the k are selected in O(n) and only they are
//! sorted. The order is tract's exactly: by value (largest or smallest first), ties by index, as
//! its stable sort leaves them; so are the values and indices, NaN aside (tract's comparison
//! calls NaN smaller than anything, which no total order can repeat; f32 inputs with a NaN go to
//! tract's own operator).

use std::cmp::Ordering;

use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::array::Topk;

/// [`Topk`] for f32 inputs, by selection; anything else by tract's own.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct SelectTopk(pub Topk);

impl Op for SelectTopk {
    fn mints_runtime_symbols(&self) -> bool {
        true
    }

    fn name(&self) -> StaticName {
        "Topk (selection)".into()
    }

    op_as_typed_op!();
}

impl EvalOp for SelectTopk {
    op_out_of_plan!();

    fn eval(&self, ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let plain = inputs[0].datum_type() == f32::datum_type()
            && inputs[0]
                .try_as_plain_ram()
                .ok()
                .and_then(|r| {
                    r.as_slice::<f32>()
                        .ok()
                        .map(|s| !s.iter().any(|v| v.is_nan()))
                })
                .unwrap_or(false);
        if !plain {
            return self.0.eval(ctx, inputs);
        }
        let (input, k) = args_2!(inputs);
        let k = k.cast_to_scalar::<i64>()? as usize;
        let shape: TVec<usize> = input.shape().into();
        let axis = self.0.axis;
        let n = shape[axis];
        ensure!(k <= n, "TopK: k = {k} of an axis of {n}");
        let outer: usize = shape[..axis].iter().product();
        let inner: usize = shape[axis + 1..].iter().product();
        let values = input.try_as_plain_ram()?;
        let values = values.as_slice::<f32>()?;
        let mut out_shape = shape.clone();
        out_shape[axis] = k;
        let mut out_values = vec![0f32; outer * k * inner];
        let mut out_indices = vec![0i64; outer * k * inner];
        let largest = self.0.largest;
        // Value first (largest or smallest), then index: tract's stable sort's order.
        let order = |a: &(f32, usize), b: &(f32, usize)| {
            let by_value = a.0.partial_cmp(&b.0).unwrap_or(Ordering::Equal);
            (if largest {
                by_value.reverse()
            } else {
                by_value
            })
            .then(a.1.cmp(&b.1))
        };
        let mut row: Vec<(f32, usize)> = Vec::with_capacity(n);
        for o in 0..outer {
            for i in 0..inner {
                row.clear();
                row.extend((0..n).map(|j| (values[(o * n + j) * inner + i], j)));
                if k < n && k > 0 {
                    row.select_nth_unstable_by(k - 1, order);
                }
                let best = &mut row[..k];
                best.sort_unstable_by(order);
                for (r, &(v, j)) in best.iter().enumerate() {
                    let at = (o * k + r) * inner + i;
                    out_values[at] = v;
                    out_indices[at] = j as i64;
                }
            }
        }
        Ok(tvec!(
            Tensor::from_shape(&out_shape, &out_values)?.into_tvalue(),
            Tensor::from_shape(&out_shape, &out_indices)?.into_tvalue()
        ))
    }
}

impl TypedOp for SelectTopk {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        self.0.output_facts(inputs)
    }

    as_op!();
}

/// Every `TopK` of `model` (an optimised graph, about to be made runnable) by selection.
pub(super) fn select_topk(model: &mut TypedModel) -> usize {
    let mut swapped = 0;
    for node in &mut model.nodes {
        if let Some(topk) = node.op.downcast_ref::<Topk>() {
            node.op = Box::new(SelectTopk(topk.clone()));
            swapped += 1;
        }
    }
    swapped
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// The selection gives tract's own values and indices, ties included (values drawn from a
    /// few levels, so many rows have ties at the k-th place), on every axis, largest and
    /// smallest, for k from 0 to n.
    #[test]
    fn selection_gives_tracts_own_topk_ties_included() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let shape = [3usize, 9, 4];
        let values: Vec<f32> = (0..shape.iter().product::<usize>())
            .map(|_| rng.random_range(0..5) as f32 * 0.5)
            .collect();
        let input = Tensor::from_shape(&shape, &values).unwrap();
        for (axis, &n) in shape.iter().enumerate() {
            for largest in [true, false] {
                for k in 0..=n {
                    let topk = Topk::new(axis, largest, TDim::from(k as i64));
                    let inputs =
                        || tvec!(input.clone().into_tvalue(), tensor0(k as i64).into_tvalue());
                    let theirs = topk.eval_out_of_plan(inputs()).unwrap().unwrap();
                    let ours = SelectTopk(topk)
                        .eval_out_of_plan(inputs())
                        .unwrap()
                        .unwrap();
                    assert_eq!(
                        theirs[0], ours[0],
                        "values, axis {axis} largest {largest} k {k}"
                    );
                    assert_eq!(
                        theirs[1], ours[1],
                        "indices, axis {axis} largest {largest} k {k}"
                    );
                }
            }
        }
    }

    /// The optimised DGCNN fixture keeps tract's `Topk` nodes for [`select_topk`] to find: one per
    /// EdgeConv's k-NN.
    #[test]
    fn the_dgcnn_fixtures_knn_runs_by_selection() {
        use tract_onnx::prelude::*;
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/onnx/dgcnn.onnx");
        let mut model = tract_onnx::onnx()
            .model_for_path(path)
            .unwrap()
            .with_input_fact(0, f32::fact([2, 3, 64]).into())
            .unwrap()
            .into_optimized()
            .unwrap();
        assert!(select_topk(&mut model) >= 2);
        assert!(model
            .nodes
            .iter()
            .all(|n| n.op.downcast_ref::<Topk>().is_none()));
    }
}
