//! Explainers: from a classifier, a cloud's model-frame points and their segments, to one
//! importance per segment.

pub mod faithfulness;
pub mod gradient;
pub mod kernel_shap;
pub mod lime;
pub mod ridge;
pub mod score;

use serde::{Deserialize, Serialize};

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

/// One class's explanation: a linear surrogate over segment masks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// The explained class.
    pub target: usize,
    /// Its name.
    pub target_name: String,
    /// One coefficient per segment: the change in the explained score when the segment is kept.
    pub coefficients: Vec<f64>,
    /// The surrogate's intercept (its prediction with every segment removed).
    pub intercept: f64,
    /// Weighted R² of the surrogate on the samples it was fitted to (lime's `score`).
    pub r2: f64,
    /// The surrogate's prediction for the unperturbed cloud (lime's `local_pred`).
    pub local_prediction: f64,
    /// The model's score for the unperturbed cloud.
    pub model_score: f64,
    /// Perturbed samples used, the unperturbed one included.
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
