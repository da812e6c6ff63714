//! Layer-wise relevance propagation (Bach et al., PLoS ONE 2015) for pointlime's PointNets
//! (issue #18, item 4).
//!
//! The class logit is the relevance at the output. It flows back through every dense layer (the
//! head's, then the per-point 1×1 convolutions, batch norms folded into them) by the ε-rule: an
//! input `i` of a layer with pre-activations `z_j = Σ_i x_i w_ij + b_j` receives
//! `R_i = Σ_j x_i w_ij / (z_j + ε·sign(z_j)) · R_j`, with [`EPSILON`]. A ReLU passes relevance
//! unchanged (a unit it zeroes holds none). The global max-pool is winner-take-all: each global
//! channel's relevance goes to the point that wins it, so only the critical points receive any.
//! A T-Net's transform is taken as the constant matrix it is for this cloud, and relevance passes
//! through the product by the same rule without a bias; none flows into the T-Net itself.
//! A point's value is the sum of its three coordinates' relevance; a segment's, the sum over its
//! points.
//!
//! Conservation: what the biases and the ε terms take is accounted for, so the explanation's
//! `intercept` is that share and its `local_prediction` (the intercept plus the point values)
//! equals the logit up to float rounding; with zero biases the point values alone sum to the
//! logit, up to ε.

use super::attribution::{register, Attribution, Method, Needs, Spec, Targets};
use super::config::Config;
use super::gradient::{by_point_values, by_segment};
use super::input::Input;
use super::score::ScoringPath;
use crate::classifier::{Classifier, Output};
use crate::dense::{Dense, Portable, Trace};
use crate::error::{Error, Result};

/// Layer-wise relevance propagation (ε-rule, winner-take-all through the max-pool) of the class
/// logit, per point, summed per segment.
pub const LRP: Method = Method::new(&SPEC);
register!(LRP);

static SPEC: Spec = Spec {
    name: "lrp",
    order: 140,
    summary: "layer-wise relevance propagation of the class logit, ε-rule, through pointlime's own PointNets, per point, summed per supervoxel",
    random: false,
    surrogate: false,
    needs: Needs::DenseLayers,
    settings: None,
    run: |classifier, input, targets, config, _| lrp(classifier, input, targets, config),
};

/// The ε of the ε-rule, added to a pre-activation's magnitude.
pub const EPSILON: f64 = 1e-6;

fn stabilised(z: f64) -> f64 {
    if z >= 0.0 {
        z + EPSILON
    } else {
        z - EPSILON
    }
}

/// The ε-rule through `[rows × inputs]` → `[rows × outputs]` with weights `w` (`[inputs ×
/// outputs]`, row-major) and pre-activations `z`: the inputs' relevance, and what the biases and
/// ε took added to `absorbed`. Rows without relevance are skipped.
fn epsilon_rule(
    (inputs, outputs): (usize, usize),
    w: impl Fn(usize, usize) -> f64,
    x: &[f64],
    z: &[f64],
    relevance: &[f64],
    absorbed: &mut f64,
) -> Vec<f64> {
    let rows = relevance.len() / outputs;
    let mut out = vec![0.0; rows * inputs];
    for r in 0..rows {
        let rel = &relevance[r * outputs..(r + 1) * outputs];
        if rel.iter().all(|&v| v == 0.0) {
            continue;
        }
        let s: Vec<f64> = rel
            .iter()
            .zip(&z[r * outputs..(r + 1) * outputs])
            .map(|(&rj, &zj)| rj / stabilised(zj))
            .collect();
        let mut passed = 0.0;
        for i in 0..inputs {
            let xi = x[r * inputs + i];
            if xi != 0.0 {
                let v = xi * (0..outputs).map(|j| w(i, j) * s[j]).sum::<f64>();
                out[r * inputs + i] = v;
                passed += v;
            }
        }
        *absorbed += rel.iter().sum::<f64>() - passed;
    }
    out
}

fn through_dense(d: &Dense, x: &[f64], z: &[f64], rel: &[f64], absorbed: &mut f64) -> Vec<f64> {
    let o = d.outputs;
    let w = |i: usize, j: usize| d.weight[i * o + j] as f64;
    epsilon_rule((d.inputs, o), w, x, z, rel, absorbed)
}

/// `x' = x·M` for a constant `k × k` matrix `M`.
fn through_matrix(m: &[f64], k: usize, x: &[f64], rel: &[f64], absorbed: &mut f64) -> Vec<f64> {
    let rows = x.len() / k;
    let z = crate::dense::times(x, rows, m, k);
    epsilon_rule((k, k), |i, j| m[i * k + j], x, &z, rel, absorbed)
}

/// Relevance of every input coordinate (`[points × 3]`) for the logit of `class`, and the share
/// the biases and ε took.
pub fn relevance(net: &Portable, trace: &Trace, class: usize) -> (Vec<f64>, f64) {
    let mut absorbed = 0.0;
    let logits = trace.head_inputs.last().expect("the logits");
    let mut rel = vec![0.0; logits.len()];
    rel[class] = logits[class];
    for (l, d) in net.head.iter().enumerate().rev() {
        rel = through_dense(
            d,
            &trace.head_inputs[l],
            &trace.head_pre[l],
            &rel,
            &mut absorbed,
        );
    }
    // Winner-take-all through the max-pool.
    let c = rel.len();
    let rows = trace.rows;
    let mut h = vec![0.0; rows * c];
    for (k, &p) in trace.winner.iter().enumerate() {
        h[p * c + k] += rel[k];
    }
    rel = h;
    for (l, d) in net.points.iter().enumerate().rev() {
        if l == 0 {
            if let (Some(t), Some(m)) = (&net.feature_tnet, &trace.feature_matrix) {
                rel = through_matrix(m, t.k, &trace.first_output, &rel, &mut absorbed);
            }
        }
        rel = through_dense(
            d,
            &trace.point_inputs[l],
            &trace.point_pre[l],
            &rel,
            &mut absorbed,
        );
    }
    if let Some(m) = &trace.input_matrix {
        rel = through_matrix(m, 3, &trace.points, &rel, &mut absorbed);
    }
    (rel, absorbed)
}

/// LRP on every target (see the module).
///
/// # Errors
/// [`Error::Config`] for a classifier whose layers cannot be read, or the probability as the
/// explained score (LRP explains the logit); classifier errors as they come.
pub fn lrp(
    classifier: &dyn Classifier,
    input: &Input,
    targets: &Targets,
    config: &Config,
) -> Result<Attribution> {
    let net = classifier.dense_layers().ok_or_else(|| {
        Error::Config(
            "lrp walks back through the layers of pointlime's own PointNets; this model's \
             cannot be read"
                .into(),
        )
    })?;
    if config.scoring.output != Output::Logit {
        return Err(Error::Config(
            "lrp explains the class logit: use --output logit".into(),
        ));
    }
    let trace = net.trace(input.points);
    let n = input.points.len() as u64;
    let work = |_| (ScoringPath::Backprop, n, 1);
    let absorbed = std::cell::RefCell::new(Vec::new());
    let mut attribution = by_point_values(LRP, classifier, input, targets, config, work, |t| {
        let (rel, taken) = relevance(&net, &trace, t);
        absorbed.borrow_mut().push(taken);
        let values = rel.chunks_exact(3).map(|c| c.iter().sum()).collect();
        Ok(by_segment(values, input.labels, input.n_segments))
    })?;
    for (e, taken) in attribution
        .explanations
        .iter_mut()
        .zip(absorbed.into_inner())
    {
        e.intercept = Some(taken);
        e.local_prediction = Some(taken + e.coefficients.iter().sum::<f64>());
    }
    Ok(attribution)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A classifier that is its plain network.
    struct Net(Portable, Vec<String>);

    impl Classifier for Net {
        fn class_names(&self) -> &[String] {
            &self.1
        }
        fn input_points(&self) -> usize {
            2
        }
        fn predict(&self, clouds: &[&[[f32; 3]]], _: Output) -> Result<Vec<f32>> {
            Ok(clouds
                .iter()
                .flat_map(|c| self.0.logits(c))
                .map(|v| v as f32)
                .collect())
        }
        fn dense_layers(&self) -> Option<Portable> {
            Some(self.0.clone())
        }
    }

    fn dense(inputs: usize, outputs: usize, weight: &[f32], bias: &[f32], relu: bool) -> Dense {
        Dense {
            inputs,
            outputs,
            weight: weight.to_vec(),
            bias: bias.to_vec(),
            relu,
        }
    }

    #[test]
    fn relevance_by_hand_on_a_tiny_network() {
        // h(p) = ReLU(x, y); the head is 3·g₀ − g₁ + 0.5. Points (1, 0, 0) and (0, 2, 0): g =
        // (1, 2), channel 0 won by point 0 and channel 1 by point 1; the logit is 1.5. The ε-rule
        // gives g₀ 3·1/1.5·1.5 = 3 and g₁ −2, the bias keeps 0.5; winner-take-all hands 3 to
        // point 0's x and −2 to point 1's y.
        let net = Portable {
            input_tnet: None,
            feature_tnet: None,
            points: vec![dense(
                3,
                2,
                &[1.0, 0.0, 0.0, 1.0, 0.0, 0.0],
                &[0.0, 0.0],
                true,
            )],
            head: vec![dense(2, 1, &[3.0, -1.0], &[0.5], false)],
        };
        let model = Net(net, vec!["only".into()]);
        let points = [[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]];
        let labels = [0, 1];
        let input = Input::new(&points, &labels, 2).unwrap();
        let mut config = Config::default();
        config.scoring.output = Output::Logit;
        let a = lrp(&model, &input, &Targets::Predicted, &config).unwrap();
        let e = &a.explanations[0];
        for (v, want) in a.per_point[0].iter().zip([3.0, -2.0]) {
            assert!((v - want).abs() < 1e-5, "{:?}", a.per_point);
        }
        assert!((e.intercept.unwrap() - 0.5).abs() < 1e-5, "{e:?}");
        assert!((e.local_prediction.unwrap() - 1.5).abs() < 1e-9);
        assert!((e.model_score - 1.5).abs() < 1e-6);
        // The probability is refused: LRP explains the logit.
        config.scoring.output = Output::Probability;
        assert!(lrp(&model, &input, &Targets::Predicted, &config).is_err());
    }
}
