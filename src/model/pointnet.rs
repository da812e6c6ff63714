//! PointNet (Qi et al., "PointNet: Deep Learning on Point Sets for 3D Classification and
//! Segmentation", CVPR 2017) in burn.
//!
//! A shared per-point MLP (a `Linear` over the last axis of `[batch, points, channels]`, which is
//! the paper's 1×1 convolution), batch norm and ReLU after every layer, a max-pool over points, and
//! a head of fully connected layers with batch norm, ReLU and dropout. Optional input (3×3) and
//! feature (k×k, after the first layer) T-Nets, as in the paper.

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
}

/// Linear + batch norm + ReLU, applied to `[rows, in]`.
#[derive(Module, Debug)]
pub struct Block {
    linear: Linear,
    norm: BatchNorm,
}

impl Block {
    fn new(d_in: usize, d_out: usize, device: &Device) -> Self {
        Block {
            linear: LinearConfig::new(d_in, d_out).init(device),
            norm: BatchNormConfig::new(d_out).init(device),
        }
    }

    /// # Shapes
    /// `[rows, in]` → `[rows, out]`
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        relu(self.norm.forward(self.linear.forward(x)))
    }
}

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
        let widths = [k, 64, 128, 1024];
        let out = LinearConfig::new(256, k * k)
            .with_initializer(burn::nn::Initializer::Zeros)
            .init(device);
        TNet {
            points: widths
                .windows(2)
                .map(|w| Block::new(w[0], w[1], device))
                .collect(),
            head: [1024, 512, 256]
                .windows(2)
                .map(|w| Block::new(w[0], w[1], device))
                .collect(),
            out,
            k,
        }
    }

    /// # Shapes
    /// `[batch * points, k]` rows of `batch` clouds → `[batch, k, k]`
    fn forward(&self, x: Tensor<2>, batch: usize) -> Tensor<3> {
        let rows = x.dims()[0];
        let mut h = x;
        for b in &self.points {
            h = b.forward(h); // [batch * points, c]
        }
        let c = h.dims()[1];
        let mut g = h
            .reshape([batch, rows / batch, c])
            .max_dim(1)
            .reshape([batch, c]);
        for b in &self.head {
            g = b.forward(g); // [batch, c]
        }
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
    /// A freshly initialised network.
    pub fn init(&self, device: &Device) -> PointNet {
        let mut widths = vec![3];
        widths.extend(&self.point_layers);
        let mut head_widths = vec![*widths.last().unwrap()];
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
    /// Whether the global feature is a plain max over independent per-point features.
    pub fn is_max_pooled(&self) -> bool {
        self.input_tnet.is_none() && self.feature_tnet.is_none()
    }

    /// Per-point features before the max-pool.
    ///
    /// # Shapes
    /// `[batch, points, 3]` → `[batch * points, c]`
    pub fn point_features(&self, x: Tensor<3>) -> Tensor<2> {
        let [batch, n, _] = x.dims();
        let mut x = x;
        if let Some(t) = &self.input_tnet {
            let m = t.forward(x.clone().reshape([batch * n, 3]), batch); // [batch, 3, 3]
            x = x.matmul(m); // [batch, points, 3]
        }
        let mut h = x.reshape([batch * n, 3]);
        for (i, b) in self.points.iter().enumerate() {
            h = b.forward(h); // [batch * points, c_i]
            if i == 0 {
                if let Some(t) = &self.feature_tnet {
                    let c = h.dims()[1];
                    let m = t.forward(h.clone(), batch); // [batch, c, c]
                    h = h.reshape([batch, n, c]).matmul(m).reshape([batch * n, c]);
                }
            }
        }
        h
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

    /// Logits.
    ///
    /// # Shapes
    /// `[batch, points, 3]` → `[batch, classes]`
    pub fn forward(&self, x: Tensor<3>) -> Tensor<2> {
        let [batch, n, _] = x.dims();
        let h = self.point_features(x); // [batch * points, c]
        let c = h.dims()[1];
        let g = h.reshape([batch, n, c]).max_dim(1).reshape([batch, c]); // [batch, c]
        self.head(g)
    }
}
