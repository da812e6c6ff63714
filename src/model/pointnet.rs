//! PointNet (Qi et al., "PointNet: Deep Learning on Point Sets for 3D Classification and
//! Segmentation", CVPR 2017) in burn.
//!
//! A shared per-point MLP (a `Linear` over the last axis of `[batch, points, channels]`, which is
//! the paper's 1×1 convolution), batch norm and ReLU after every layer, a max-pool over points, and
//! a head of fully connected layers with batch norm, ReLU and dropout. Optional input (3×3) and
//! feature (k×k, after the first layer) T-Nets, as in the paper.
//!
//! A point's input is `w` wide: x, y, z, then the model's extra channels, if it has any
//! ([`PointNetConfig::extra_channels`]).

use burn::nn::{BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;

/// PointNet architecture.
#[derive(Config, Debug)]
pub struct PointNetConfig {
    /// Output classes.
    pub num_classes: usize,
    /// Widths of the shared per-point layers; the last is the global feature width.
    #[config(default = "vec![64, 64, 64, 128, 1024]")]
    pub point_layers: Vec<usize>,
    /// Widths of the hidden head layers.
    #[config(default = "vec![512, 256]")]
    pub head_layers: Vec<usize>,
    /// Dropout before the last head layer (training only).
    #[config(default = 0.3)]
    pub dropout: f64,
    /// A 3×3 input transform.
    #[config(default = false)]
    pub input_tnet: bool,
    /// A k×k transform of the first layer's features.
    #[config(default = false)]
    pub feature_tnet: bool,
    /// A segmentation network (the paper's figure 2): one score per point and class, from each
    /// point's first-layer feature beside the global feature, through a per-point head of
    /// `head_layers`. Absent in models written before it existed: off (an `Option` because
    /// burn's `Config` derive gives no serde default for a missing field).
    #[config(default = "None")]
    pub segment: Option<bool>,
    /// Inputs per point after x, y, z (the model's channels, [`crate::channels`]). Absent: none.
    #[config(default = "None")]
    pub extra_channels: Option<usize>,
}

/// Linear + batch norm + ReLU, applied to `[rows, in]`.
#[derive(Module, Debug)]
pub struct Block {
    linear: Linear,
    norm: BatchNorm,
    /// The batch norm is folded into `linear` (inference copies only; never saved or trained).
    folded: bool,
}

impl Block {
    fn new(d_in: usize, d_out: usize, device: &Device) -> Self {
        Block {
            linear: LinearConfig::new(d_in, d_out).init(device),
            norm: BatchNormConfig::new(d_out).init(device),
            folded: false,
        }
    }

    /// # Shapes
    /// `[rows, in]` → `[rows, out]`
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.activate(self.linear.forward(x))
    }

    /// What follows the linear layer: batch norm (unless folded) and ReLU.
    fn activate(&self, pre: Tensor<2>) -> Tensor<2> {
        if self.folded {
            relu(pre)
        } else {
            relu(self.norm.forward(pre))
        }
    }

    /// The same inference function with the batch norm's running statistics folded into the
    /// linear layer: `W' = W·s`, `b' = (b − μ)·s + β` with `s = γ / sqrt(σ² + ε)`. burn's CPU
    /// backends run inference batch norm as four separate passes over the activations, which on
    /// the 1024-wide layers cost as much as the matrix product itself.
    fn folded(&self) -> Block {
        if self.folded {
            return self.clone();
        }
        let n = &self.norm;
        let scale = n.gamma.val() / n.running_var.value().add_scalar(n.epsilon).sqrt(); // [out]
        let shift = n.beta.val() - n.running_mean.value() * scale.clone();
        let weight = self.linear.weight.val() * scale.clone().unsqueeze_dim::<2>(0); // [in, out]
        let bias = match &self.linear.bias {
            Some(b) => b.val() * scale + shift,
            None => shift,
        };
        let mut linear = self.linear.clone();
        linear.weight = burn::module::Param::from_tensor(weight);
        linear.bias = Some(burn::module::Param::from_tensor(bias));
        Block {
            linear,
            norm: self.norm.clone(),
            folded: true,
        }
    }
}

/// Width of a T-Net's per-point features, the ones it max-pools.
pub const TNET_WIDTH: usize = 1024;

/// A transform network: per-point MLP 64-128-1024, max-pool, FC 512-256-k², plus identity.
#[derive(Module, Debug)]
pub struct TNet {
    points: Vec<Block>,
    head: Vec<Block>,
    out: Linear,
    k: usize,
}

impl TNet {
    fn new(k: usize, device: &Device) -> Self {
        let widths = [k, 64, 128, TNET_WIDTH];
        let out = LinearConfig::new(256, k * k)
            .with_initializer(burn::nn::Initializer::Zeros)
            .init(device);
        TNet {
            points: widths
                .windows(2)
                .map(|w| Block::new(w[0], w[1], device))
                .collect(),
            head: [TNET_WIDTH, 512, 256]
                .windows(2)
                .map(|w| Block::new(w[0], w[1], device))
                .collect(),
            out,
            k,
        }
    }

    fn folded(&self) -> TNet {
        TNet {
            points: self.points.iter().map(Block::folded).collect(),
            head: self.head.iter().map(Block::folded).collect(),
            out: self.out.clone(),
            k: self.k,
        }
    }

    /// # Shapes
    /// `[batch * points, k]` rows of `batch` clouds → `[batch, k, k]`
    fn forward(&self, x: Tensor<2>, batch: usize) -> Tensor<3> {
        let rows = x.dims()[0];
        let h = self.per_point(x);
        let c = h.dims()[1];
        self.matrix_of_pooled(
            h.reshape([batch, rows / batch, c])
                .max_dim(1)
                .reshape([batch, c]),
        )
    }

    /// The per-point layers, before the max-pool.
    ///
    /// # Shapes
    /// `[rows, k]` → `[rows, 1024]`
    fn per_point(&self, x: Tensor<2>) -> Tensor<2> {
        self.points.iter().fold(x, |h, b| b.forward(h))
    }

    /// The matrix from the max-pooled per-point features.
    ///
    /// # Shapes
    /// `[batch, 1024]` → `[batch, k, k]`
    fn matrix_of_pooled(&self, g: Tensor<2>) -> Tensor<3> {
        let batch = g.dims()[0];
        let g = self.head.iter().fold(g, |g, b| b.forward(g));
        let eye = Tensor::<2>::eye(self.k, &g.device()).reshape([1, self.k * self.k]);
        (self.out.forward(g) + eye).reshape([batch, self.k, self.k])
    }
}

/// The network.
#[derive(Module, Debug)]
pub struct PointNet {
    input_tnet: Option<TNet>,
    feature_tnet: Option<TNet>,
    points: Vec<Block>,
    head: Vec<Block>,
    dropout: Dropout,
    out: Linear,
}

impl PointNetConfig {
    /// Whether it is a segmentation network ([`segment`](Self::segment)).
    pub fn segments(&self) -> bool {
        self.segment == Some(true)
    }

    /// Inputs per point: x, y, z and the extra channels.
    pub fn input_width(&self) -> usize {
        3 + self.extra_channels.unwrap_or(0)
    }

    /// A freshly initialised network.
    pub fn init(&self, device: &Device) -> PointNet {
        let mut widths = vec![self.input_width()];
        widths.extend(&self.point_layers);
        let global = *widths.last().unwrap();
        // A segmentation head reads each point's first-layer feature beside the global one.
        let mut head_widths = vec![if self.segments() {
            widths[1] + global
        } else {
            global
        }];
        head_widths.extend(&self.head_layers);
        PointNet {
            input_tnet: self.input_tnet.then(|| TNet::new(3, device)),
            feature_tnet: self.feature_tnet.then(|| TNet::new(widths[1], device)),
            points: widths
                .windows(2)
                .map(|w| Block::new(w[0], w[1], device))
                .collect(),
            head: head_widths
                .windows(2)
                .map(|w| Block::new(w[0], w[1], device))
                .collect(),
            dropout: DropoutConfig::new(self.dropout).init(),
            out: LinearConfig::new(*head_widths.last().unwrap(), self.num_classes).init(device),
        }
    }
}

impl PointNet {
    /// A copy for inference, with every batch norm folded into its linear layer: the same
    /// function (up to float rounding) in fewer passes. Not for training or saving.
    pub fn folded(&self) -> PointNet {
        PointNet {
            input_tnet: self.input_tnet.as_ref().map(TNet::folded),
            feature_tnet: self.feature_tnet.as_ref().map(TNet::folded),
            points: self.points.iter().map(Block::folded).collect(),
            head: self.head.iter().map(Block::folded).collect(),
            dropout: self.dropout.clone(),
            out: self.out.clone(),
        }
    }

    /// The network with batch norms folded, as plain arrays: for export and for layer-wise
    /// relevance propagation.
    pub fn portable(&self) -> crate::dense::Portable {
        use crate::dense::{Dense, Portable, TNetLayers};
        let values = |t: Tensor<2>| t.into_data().try_to_vec::<f32>().unwrap_or_default();
        let dense = |l: &Linear, relu: bool| {
            let [inputs, outputs] = l.weight.val().dims();
            Dense {
                inputs,
                outputs,
                weight: values(l.weight.val()),
                bias: match &l.bias {
                    Some(b) => b.val().into_data().try_to_vec::<f32>().unwrap_or_default(),
                    None => vec![0.0; outputs],
                },
                relu,
            }
        };
        let blocks = |b: &[Block]| b.iter().map(|b| dense(&b.linear, true)).collect::<Vec<_>>();
        let tnet = |t: &TNet| {
            let mut out = dense(&t.out, false);
            // The identity the T-Net adds to its regressed matrix, as part of the bias.
            for i in 0..t.k {
                out.bias[i * t.k + i] += 1.0;
            }
            let mut head = blocks(&t.head);
            head.push(out);
            TNetLayers {
                k: t.k,
                points: blocks(&t.points),
                head,
            }
        };
        let folded = self.folded();
        let mut head = blocks(&folded.head);
        head.push(dense(&folded.out, false));
        Portable {
            input_tnet: folded.input_tnet.as_ref().map(tnet),
            feature_tnet: folded.feature_tnet.as_ref().map(tnet),
            points: blocks(&folded.points),
            head,
        }
    }

    /// Names of the layers, input to output: `input_tnet`, `points.0`, `feature_tnet` (after the
    /// first point layer, when present), `points.1`…, `head.0`…, `out`. A T-Net counts as one
    /// layer. These are the units of the model-randomisation sanity checks.
    pub fn layer_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        if self.input_tnet.is_some() {
            names.push("input_tnet".to_string());
        }
        for i in 0..self.points.len() {
            names.push(format!("points.{i}"));
            if i == 0 && self.feature_tnet.is_some() {
                names.push("feature_tnet".to_string());
            }
        }
        names.extend((0..self.head.len()).map(|i| format!("head.{i}")));
        names.push("out".to_string());
        names
    }

    /// This network with the named layers taken from `other` (same architecture), the rest
    /// kept. Unknown names are returned as the error.
    pub fn with_layers_from(
        &self,
        other: &PointNet,
        names: &[String],
    ) -> std::result::Result<PointNet, String> {
        let mut net = self.clone();
        for name in names {
            let index = |prefix: &str| {
                name.strip_prefix(prefix)
                    .and_then(|i| i.parse::<usize>().ok())
            };
            match name.as_str() {
                "input_tnet" if net.input_tnet.is_some() => {
                    net.input_tnet = other.input_tnet.clone()
                }
                "feature_tnet" if net.feature_tnet.is_some() => {
                    net.feature_tnet = other.feature_tnet.clone()
                }
                "out" => net.out = other.out.clone(),
                _ => match (index("points."), index("head.")) {
                    (Some(i), _) if i < net.points.len() => net.points[i] = other.points[i].clone(),
                    (_, Some(i)) if i < net.head.len() => net.head[i] = other.head[i].clone(),
                    _ => return Err(name.clone()),
                },
            }
        }
        Ok(net)
    }

    /// Whether the global feature is a plain max over independent per-point features.
    pub fn is_max_pooled(&self) -> bool {
        self.input_tnet.is_none() && self.feature_tnet.is_none()
    }

    /// Per-point features before the max-pool.
    ///
    /// # Shapes
    /// `[batch, points, w]` → `[batch * points, c]`
    pub fn point_features(&self, x: Tensor<3>) -> Tensor<2> {
        self.point_features_given(x, None)
    }

    /// Whether the network starts with an input T-Net.
    pub fn has_input_transform(&self) -> bool {
        self.input_tnet.is_some()
    }

    /// The input T-Net's per-point features, whose maximum over a cloud's points fixes its
    /// input transform; `None` without an input T-Net.
    ///
    /// # Shapes
    /// `[points, 3]` → `[points, 1024]`
    pub fn input_transform_features(&self, x: Tensor<2>) -> Option<Tensor<2>> {
        self.input_tnet.as_ref().map(|t| t.per_point(x))
    }

    /// [`point_features`](Self::point_features) with the input T-Net's max-pooled features
    /// given (`[batch, 1024]`) instead of computed from `x`: the same function when they are
    /// the maxima over `x`'s points.
    pub fn point_features_given(&self, x: Tensor<3>, input_pooled: Option<Tensor<2>>) -> Tensor<2> {
        self.local_and_point_features(x, input_pooled, false).1
    }

    /// The first point layer's features (after the feature T-Net, when there is one) when
    /// `keep_local`, and [`point_features_given`](Self::point_features_given).
    ///
    /// Only a segmentation network keeps them: a second handle on a tensor stops burn from
    /// reusing its buffer in the next layer, and that changes the whole-cloud path's scores in
    /// the seventh digit, which reports written before must reproduce.
    ///
    /// # Shapes
    /// `[batch, points, w]` → (`[batch * points, c_0]` or `None`, `[batch * points, c]`)
    fn local_and_point_features(
        &self,
        x: Tensor<3>,
        input_pooled: Option<Tensor<2>>,
        keep_local: bool,
    ) -> (Option<Tensor<2>>, Tensor<2>) {
        let [batch, n, width] = x.dims();
        let mut x = x;
        if let Some(t) = &self.input_tnet {
            // The transform turns the positions; the channels after them pass unchanged.
            let xyz = x.clone().narrow(2, 0, 3);
            let m = match input_pooled {
                Some(g) => t.matrix_of_pooled(g),
                None => t.forward(xyz.clone().reshape([batch * n, 3]), batch),
            }; // [batch, 3, 3]
            let turned = xyz.matmul(m); // [batch, points, 3]
            x = if width > 3 {
                Tensor::cat(vec![turned, x.narrow(2, 3, width - 3)], 2)
            } else {
                turned
            };
        }
        let mut h = x.reshape([batch * n, width]);
        let mut local = None;
        for (i, b) in self.points.iter().enumerate() {
            h = b.forward(h); // [batch * points, c_i]
            if i == 0 {
                if let Some(t) = &self.feature_tnet {
                    let c = h.dims()[1];
                    let m = t.forward(h.clone(), batch); // [batch, c, c]
                    h = h.reshape([batch, n, c]).matmul(m).reshape([batch * n, c]);
                }
                if keep_local {
                    local = Some(h.clone());
                }
            }
        }
        (local, h)
    }

    /// A segmentation network's logits for every point.
    ///
    /// # Shapes
    /// `[batch, points, w]` → `[batch * points, classes]`
    pub fn forward_points(&self, x: Tensor<3>) -> Tensor<2> {
        let [batch, n, _] = x.dims();
        let (local, h) = self.local_and_point_features(x, None, true);
        let local = local.unwrap_or_else(|| h.clone());
        let c = h.dims()[1];
        let global = h
            .reshape([batch, n, c])
            .max_dim(1) // [batch, 1, c]
            .repeat_dim(1, n)
            .reshape([batch * n, c]);
        self.head(Tensor::cat(vec![local, global], 1))
    }

    /// A segmentation network's first-layer features of each point (what its head reads beside
    /// the global feature).
    ///
    /// # Shapes
    /// `[1, points, w]` → `[points, c_0]`
    pub fn local_features(&self, x: Tensor<3>) -> Tensor<2> {
        let (local, h) = self.local_and_point_features(x, None, true);
        local.unwrap_or(h)
    }

    /// The points' own part of a segmentation head's first layer: `local · W_local + b`, where
    /// the layer is `[local, global] · W + b`. Computed once for a set of points, it leaves
    /// `global · W_global` to each perturbed cloud ([`head_given_local`](Self::head_given_local)).
    ///
    /// # Shapes
    /// `[points, c_0]` → `[points, h_1]`
    pub fn head_local_part(&self, local: Tensor<2>) -> Tensor<2> {
        let first = &self.head[0];
        let c0 = local.dims()[1];
        let [_, h1] = first.linear.weight.dims();
        let w = first.linear.weight.val().slice([0..c0, 0..h1]);
        match &first.linear.bias {
            Some(b) => local.matmul(w) + b.val().unsqueeze_dim::<2>(0),
            None => local.matmul(w),
        }
    }

    /// A segmentation head's logits for a fixed set of points under each of `globals`: the
    /// first layer from the points' part ([`head_local_part`](Self::head_local_part)) plus each
    /// global feature's, then the rest of the head. The same function as
    /// [`forward_points`](Self::forward_points) when `globals` are those clouds' pooled features.
    ///
    /// # Shapes
    /// `[points, h_1]`, `[batch, c]` → `[batch * points, classes]`
    pub fn head_given_local(&self, local_part: Tensor<2>, globals: Tensor<2>) -> Tensor<2> {
        let first = &self.head[0];
        let [rows, h1] = local_part.dims();
        let [batch, c] = globals.dims();
        let [width, _] = first.linear.weight.dims();
        let w = first.linear.weight.val().slice([width - c..width, 0..h1]);
        let pre = local_part.unsqueeze_dim::<3>(0).expand([batch, rows, h1])
            + globals
                .matmul(w)
                .unsqueeze_dim::<3>(1)
                .expand([batch, rows, h1]);
        let mut g = first.activate(pre.reshape([batch * rows, h1]));
        for b in &self.head[1..] {
            g = b.forward(g);
        }
        self.out.forward(self.dropout.forward(g))
    }

    /// The head on pooled features.
    ///
    /// # Shapes
    /// `[batch, c]` → `[batch, classes]` (logits)
    pub fn head(&self, g: Tensor<2>) -> Tensor<2> {
        let mut g = g;
        let last = self.head.len().saturating_sub(1);
        for (i, b) in self.head.iter().enumerate() {
            g = b.forward(g); // [batch, c_i]
            if i == last {
                g = self.dropout.forward(g);
            }
        }
        self.out.forward(g)
    }

    /// What the head makes of the global feature before its output layer (its last hidden
    /// layer, after batch norm and ReLU; the global feature itself for a head without hidden
    /// layers): the description the competence check measures.
    ///
    /// # Shapes
    /// `[batch, points, w]` → `[batch, last head width]`
    pub fn embedding(&self, x: Tensor<3>) -> Tensor<2> {
        self.head.iter().fold(self.global(x), |g, b| b.forward(g))
    }

    /// The global feature: per-point features max-pooled over the points.
    ///
    /// # Shapes
    /// `[batch, points, w]` → `[batch, c]`
    pub fn global(&self, x: Tensor<3>) -> Tensor<2> {
        self.global_given(x, None)
    }

    /// [`global`](Self::global) with the input T-Net's pooled features given (see
    /// [`point_features_given`](Self::point_features_given)).
    pub fn global_given(&self, x: Tensor<3>, input_pooled: Option<Tensor<2>>) -> Tensor<2> {
        let [batch, n, _] = x.dims();
        let h = self.point_features_given(x, input_pooled); // [batch * points, c]
        let c = h.dims()[1];
        h.reshape([batch, n, c]).max_dim(1).reshape([batch, c])
    }

    /// Logits.
    ///
    /// # Shapes
    /// `[batch, points, w]` → `[batch, classes]`
    pub fn forward(&self, x: Tensor<3>) -> Tensor<2> {
        self.head(self.global(x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::{Param, RunningState};
    use burn::tensor::Distribution;

    /// Fresh batch norms are identities, which any folding formula preserves; give every one
    /// random statistics and affine parameters first.
    fn randomise(b: &mut Block, device: &Device) {
        let [c] = b.norm.gamma.dims();
        let r = |lo, hi| Tensor::<1>::random([c], Distribution::Uniform(lo, hi), device);
        b.norm.gamma = Param::from_tensor(r(0.5, 2.0));
        b.norm.beta = Param::from_tensor(r(-0.5, 0.5));
        b.norm.running_mean = RunningState::new(r(-1.0, 1.0));
        b.norm.running_var = RunningState::new(r(0.2, 3.0));
    }

    #[test]
    fn folding_batch_norm_keeps_the_function() {
        let device = Device::flex();
        device.seed(7);
        let mut net = PointNetConfig::new(4)
            .with_point_layers(vec![8, 16, 32])
            .with_head_layers(vec![16, 8])
            .with_input_tnet(true)
            .with_feature_tnet(true)
            .init(&device);
        let tnets = [net.input_tnet.as_mut(), net.feature_tnet.as_mut()];
        for t in tnets.into_iter().flatten() {
            t.points
                .iter_mut()
                .chain(&mut t.head)
                .for_each(|b| randomise(b, &device));
            // Its output layer starts at zero (an identity transform), which would hide the blocks.
            let dims = t.out.weight.dims();
            t.out.weight = Param::from_tensor(Tensor::<2>::random(
                dims,
                Distribution::Uniform(-0.2, 0.2),
                &device,
            ));
        }
        net.points
            .iter_mut()
            .chain(&mut net.head)
            .for_each(|b| randomise(b, &device));
        let x = Tensor::<3>::random([3, 40, 3], Distribution::Uniform(-1.0, 1.0), &device);
        let a: Vec<f32> = net
            .forward(x.clone())
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let b: Vec<f32> = net
            .folded()
            .forward(x)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let scale = a.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(scale > 0.1, "{a:?}");
        for (u, v) in a.iter().zip(&b) {
            assert!((u - v).abs() <= 1e-4 * scale.max(1.0), "{a:?} vs {b:?}");
        }
        // An already folded copy is left as it is.
        let y = Tensor::<3>::random([1, 5, 3], Distribution::Uniform(-1.0, 1.0), &device);
        let once: Vec<f32> = net
            .folded()
            .forward(y.clone())
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let twice: Vec<f32> = net
            .folded()
            .folded()
            .forward(y)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert_eq!(once, twice);
    }
}
