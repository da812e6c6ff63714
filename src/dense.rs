//! A PointNet as plain arrays: what `export` writes to ONNX and what layer-wise relevance
//! propagation (`explain::lrp`) walks back through. Batch norms are folded into the
//! dense layers; no tensor library here, so the explainers can read a network without burn.

/// One dense layer: `y = x·W + b`, `weight` `[inputs × outputs]` row-major, then ReLU or not (a
/// per-point layer acts on every point alike).
#[derive(Debug, Clone, PartialEq)]
pub struct Dense {
    pub inputs: usize,
    pub outputs: usize,
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
    pub relu: bool,
}

/// A T-Net: per-point layers, a max over points, a head regressing `k × k` values (the identity
/// already in the last bias), reshaped to the matrix the points are multiplied by.
#[derive(Debug, Clone, PartialEq)]
pub struct TNetLayers {
    pub k: usize,
    pub points: Vec<Dense>,
    pub head: Vec<Dense>,
}

/// A PointNet: optional input and feature T-Nets (the latter after the first point layer),
/// per-point layers, a max over points, and the head (its last layer gives the logits).
#[derive(Debug, Clone, PartialEq)]
pub struct Portable {
    pub input_tnet: Option<TNetLayers>,
    pub feature_tnet: Option<TNetLayers>,
    pub points: Vec<Dense>,
    pub head: Vec<Dense>,
}

impl Dense {
    /// Pre-activations `x·W + b` of `rows` rows of `x` (`[rows × inputs]`), in f64.
    pub fn pre_activations(&self, x: &[f64], rows: usize) -> Vec<f64> {
        let (m, o) = (self.inputs, self.outputs);
        let mut z = Vec::with_capacity(rows * o);
        for r in 0..rows {
            let start = z.len();
            z.extend(self.bias.iter().map(|&b| b as f64));
            let out = &mut z[start..];
            for (i, &xi) in x[r * m..(r + 1) * m].iter().enumerate() {
                if xi != 0.0 {
                    let w = &self.weight[i * o..(i + 1) * o];
                    out.iter_mut()
                        .zip(w)
                        .for_each(|(z, &w)| *z += xi * w as f64);
                }
            }
        }
        z
    }

    /// The layer's output: its pre-activations through ReLU when it has one.
    pub fn activate(&self, z: &[f64]) -> Vec<f64> {
        if self.relu {
            z.iter().map(|&v| v.max(0.0)).collect()
        } else {
            z.to_vec()
        }
    }
}

/// `[rows × k]` times a `k × k` matrix (row-major).
pub fn times(x: &[f64], rows: usize, m: &[f64], k: usize) -> Vec<f64> {
    let mut out = vec![0.0; rows * k];
    for r in 0..rows {
        for i in 0..k {
            let xi = x[r * k + i];
            for j in 0..k {
                out[r * k + j] += xi * m[i * k + j];
            }
        }
    }
    out
}

/// The max over `rows` rows of `[rows × c]` and the first row that reaches each channel's.
pub fn max_rows(h: &[f64], rows: usize, c: usize) -> (Vec<f64>, Vec<usize>) {
    let mut g = vec![f64::NEG_INFINITY; c];
    let mut winner = vec![0; c];
    for r in 0..rows {
        for k in 0..c {
            if h[r * c + k] > g[k] {
                g[k] = h[r * c + k];
                winner[k] = r;
            }
        }
    }
    (g, winner)
}

/// A chain of dense layers on `[rows × inputs]`: every layer's input and pre-activations.
pub fn chain(layers: &[Dense], x: Vec<f64>, rows: usize) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let (mut inputs, mut pre) = (Vec::new(), Vec::new());
    let mut a = x;
    for d in layers {
        let z = d.pre_activations(&a, rows);
        let next = d.activate(&z);
        inputs.push(a);
        pre.push(z);
        a = next;
    }
    inputs.push(a);
    (inputs, pre)
}

impl TNetLayers {
    /// The `k × k` matrix (row-major) this T-Net gives the `[rows × k]` input.
    pub fn matrix(&self, x: &[f64], rows: usize) -> Vec<f64> {
        let (a, _) = chain(&self.points, x.to_vec(), rows);
        let h = a.last().expect("the chain's output");
        let c = self.points.last().map_or(self.k, |d| d.outputs);
        let (g, _) = max_rows(h, rows, c);
        let (a, _) = chain(&self.head, g, 1);
        a.last().expect("the chain's output").clone()
    }
}

/// Everything a forward pass of a [`Portable`] network computes on one cloud, for relevance to
/// be propagated back.
#[derive(Debug, Clone)]
pub struct Trace {
    pub rows: usize,
    /// The points as given, `[rows × 3]`.
    pub points: Vec<f64>,
    /// The input T-Net's matrix, when there is one.
    pub input_matrix: Option<Vec<f64>>,
    /// The feature T-Net's matrix, when there is one.
    pub feature_matrix: Option<Vec<f64>>,
    /// Input of each per-point layer (the last entry: the features the max-pool reads), after
    /// any transform.
    pub point_inputs: Vec<Vec<f64>>,
    /// Pre-activations of each per-point layer.
    pub point_pre: Vec<Vec<f64>>,
    /// The first layer's output before the feature transform (its input in relevance terms).
    pub first_output: Vec<f64>,
    /// The point that wins each global channel.
    pub winner: Vec<usize>,
    /// Input of each head layer (the last entry: the logits).
    pub head_inputs: Vec<Vec<f64>>,
    /// Pre-activations of each head layer.
    pub head_pre: Vec<Vec<f64>>,
}

impl Portable {
    /// The forward pass on one cloud in f64, with everything kept (see [`Trace`]).
    pub fn trace(&self, points: &[[f32; 3]]) -> Trace {
        let rows = points.len();
        let raw: Vec<f64> = points.iter().flatten().map(|&v| v as f64).collect();
        let input_matrix = self.input_tnet.as_ref().map(|t| t.matrix(&raw, rows));
        let mut x = match &input_matrix {
            Some(m) => times(&raw, rows, m, 3),
            None => raw.clone(),
        };
        let (mut point_inputs, mut point_pre) = (Vec::new(), Vec::new());
        let mut first_output = Vec::new();
        let mut feature_matrix = None;
        for (i, d) in self.points.iter().enumerate() {
            let z = d.pre_activations(&x, rows);
            let mut a = d.activate(&z);
            point_inputs.push(x);
            point_pre.push(z);
            if i == 0 {
                if let Some(t) = &self.feature_tnet {
                    let m = t.matrix(&a, rows);
                    first_output = a.clone();
                    a = times(&a, rows, &m, t.k);
                    feature_matrix = Some(m);
                }
            }
            x = a;
        }
        let c = self.points.last().map_or(3, |d| d.outputs);
        let (g, winner) = max_rows(&x, rows, c);
        point_inputs.push(x);
        let (head_inputs, head_pre) = chain(&self.head, g, 1);
        Trace {
            rows,
            points: raw,
            input_matrix,
            feature_matrix,
            point_inputs,
            point_pre,
            first_output,
            winner,
            head_inputs,
            head_pre,
        }
    }

    /// The logits of one cloud.
    pub fn logits(&self, points: &[[f32; 3]]) -> Vec<f64> {
        self.trace(points)
            .head_inputs
            .pop()
            .expect("the head's output")
    }
}
