//! The user's own classifier, exported to ONNX, run with tract (pure Rust) behind the
//! [`Classifier`] interface. tract is named in this module only.
//!
//! An ONNX file says nothing of what its numbers mean; a sidecar JSON (`MODEL.json` beside
//! `MODEL.onnx`, or the same settings given as flags) says it: the class names, the input layout,
//! how many points the network takes, the normalisation it was trained with, and which output
//! holds the scores, as logits, probabilities or log-probabilities. The defaults are those of the
//! common PyTorch PointNet export: `[B, 3, N]`, unit sphere, logits, the first output.
//!
//! Plans (tract's optimised, runnable graphs) are built once per batch size and kept; batches of
//! a call run in parallel on the shared thread pool.
//!
//! The files: `config` (the sidecar), `plan` (tract: reading, plans, running), `classifier` (the
//! [`Classifier`](crate::classifier::Classifier) implementation), `split` (the exact fast paths),
//! `topk` (tract's `TopK` by selection),
//! `randomise` (the layers of the randomisation checks), `inspect` (`model inspect`) and `export`
//! (`pointlime export`).

mod classifier;
mod config;
mod export;
mod inspect;
mod plan;
mod randomise;
mod split;
mod topk;

pub use classifier::OnnxClassifier;
pub use config::{competence_path, Layout, OnnxConfig, Scores, Task};
pub use export::{write_pointnet, Dense, Portable, TNetLayers};
pub use inspect::describe;
