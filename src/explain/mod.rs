//! Explainers: from a classifier, a cloud's model-frame points and their segments, to one
//! importance per segment.

pub mod attribute;
pub mod faithfulness;
pub mod gradient;
pub mod kernel_shap;
pub mod lime;
pub mod ridge;
pub mod score;

use serde::{Deserialize, Serialize};

pub use attribute::{attribute, Attribution, Method};
pub use lime::{explain, LimeConfig, LimeResult, Progress};
pub use score::{score_masks, Scoring, ScoringPath};

/// Which classes to explain.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Targets {
    /// The predicted class. By default, this.
    #[default]
    Predicted,
    /// These class indices, in this order.
    Classes(Vec<usize>),
    /// The k most probable classes, most probable first (lime's `top_labels`).
    Top(usize),
}

/// One class's explanation: one value per segment, and for LIME the linear surrogate behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// The method that made it. Reports written before methods existed are LIME's.
    #[serde(default)]
    pub method: Method,
    /// The explained class.
    pub target: usize,
    /// Its name.
    pub target_name: String,
    /// One value per segment. LIME: the change in the explained score when the segment is kept;
    /// KernelSHAP: its Shapley value; occlusion: the score lost when it alone is removed;
    /// gradient and saliency: the sum of its points' values.
    pub coefficients: Vec<f64>,
    /// The additive model's score with every segment removed: LIME's intercept, KernelSHAP's
    /// f(none); absent for the other methods.
    pub intercept: Option<f64>,
    /// Weighted R² of LIME's surrogate on the samples it was fitted to (lime's `score`); absent
    /// for methods without a surrogate.
    pub r2: Option<f64>,
    /// The additive model's score for the unperturbed cloud (lime's `local_pred`; KernelSHAP's is
    /// exact by efficiency); absent for the other methods.
    pub local_prediction: Option<f64>,
    /// The model's score for the unperturbed cloud.
    pub model_score: f64,
    /// Classifier inputs behind it: perturbed samples (the unperturbed one included), or the
    /// clouds differentiated for the gradient methods.
    pub n_samples: usize,
    /// The seed that drew the masks.
    pub seed: u64,
}

impl Explanation {
    /// Each point's importance: the coefficient of its segment.
    pub fn per_point(&self, labels: &[u32]) -> Vec<f32> {
        labels
            .iter()
            .map(|&l| self.coefficients[l as usize] as f32)
            .collect()
    }

    /// Segment indices by decreasing coefficient.
    pub fn ranking(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.coefficients.len()).collect();
        order.sort_by(|&a, &b| {
            self.coefficients[b]
                .total_cmp(&self.coefficients[a])
                .then(a.cmp(&b))
        });
        order
    }
}
