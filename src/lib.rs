//! pointlime explains why a 3D point-cloud classifier decided what it did.
//!
//! The crate is the pipeline, one module per stage:
//!
//! | module | owns |
//! |---|---|
//! | [`io`] | reading PLY, LAS/LAZ and text scans; atomic writes |
//! | [`labels`] | per-point classes read from a scan's field; the ASPRS names of LAS codes |
//! | [`cloud`] | the point cloud, validation, the model frame |
//! | [`scene`] | from a scene to its object: crop, outliers, ground, largest cluster |
//! | [`segment`] | supervoxels (clustering, connectivity) and the k-d tree |
//! | [`sampling`] | the network's input points: random, farthest or voxel; every segment seen |
//! | [`perturb`] | masks over segments and removing the masked points |
//! | [`classifier`] | the interface explainers see: clouds in, class scores out |
//! | [`onnx`] | the user's own classifier, exported to ONNX, run with tract (feature `onnx`) |
//! | [`competence`] | whether a scan looks like the model's training data |
//! | [`model`] | the burn PointNet, its files and its training (feature `model`) |
//! | [`models`] | any model opened by path: directory, `.onnx` file or the built-in one (feature `model`) |
//! | [`explain`] | the explainers (LIME, KernelSHAP, occlusion, gradients, sufficient sets) and mask scoring |
//! | [`faithfulness`] | how faithful explanations are: curves, surrogate fit, stability, sanity checks |
//! | [`pipeline`] | one scan, end to end: scene, frame, segments, explanation, report, outputs |
//! | [`batch`] | directories: discovery, shards, resumable runs, summaries |
//! | [`dataset`] | labelled scans for training and evaluation, manifests, accuracy metrics |
//! | [`stats`] | the rankings, medians and rank correlations every stage shares |
//! | [`linalg`] | the linear algebra (solves, 3 × 3 eigen-decompositions, SVD): nalgebra is named there only |
//!
//! A scan is read, cut into supervoxels, and explained with LIME: random on/off masks over the
//! supervoxels, the classifier run on every perturbed cloud, and a weighted ridge surrogate whose
//! coefficients are the supervoxels' importances.
//!
//! # Examples
//! Explaining an analytic classifier (any [`Classifier`] works; tests use such models so that the
//! right answer is known):
//!
//! ```
//! use pointlime::classifier::{Classifier, Output};
//! use pointlime::cloud::{FileFormat, PointCloud};
//! use pointlime::pipeline::{explain_cloud, ExplainConfig};
//!
//! /// Scores "tall" by the highest point present: removing the top of the object lowers it.
//! struct Tall(Vec<String>);
//! impl Classifier for Tall {
//!     fn class_names(&self) -> &[String] { &self.0 }
//!     fn input_points(&self) -> usize { 256 }
//!     fn predict(&self, clouds: &[&[[f32; 3]]], _: Output) -> pointlime::Result<Vec<f32>> {
//!         Ok(clouds.iter().flat_map(|c| {
//!             let top = c.iter().map(|p| p[2]).fold(-1.0f32, f32::max).clamp(0.0, 1.0);
//!             [top, 1.0 - top]
//!         }).collect())
//!     }
//! }
//!
//! let column: Vec<[f64; 3]> = (0..400).map(|i| [0.0, 0.0, i as f64 * 0.01]).collect();
//! let cloud = PointCloud::from_positions(column, FileFormat::Xyz);
//! let model = Tall(vec!["tall".into(), "short".into()]);
//! let mut config = ExplainConfig::default();
//! config.segments.target = pointlime::segment::Granularity::Count(4);
//! config.explainer.n_samples = 200;
//! let explained = explain_cloud(&cloud, "column.xyz".as_ref(), &model, "tall", &config.seeded(), 0, None)?;
//! let top = explained.report.explanations[0].ranking()[0];
//! // The most important segment is the one at the top of the column.
//! let highest = explained.report.segments.iter().max_by(|a, b| a.centroid[2].total_cmp(&b.centroid[2])).unwrap();
//! assert_eq!(top, highest.id);
//! # Ok::<(), pointlime::Error>(())
//! ```

pub mod atlas;
pub mod augment;
pub mod batch;
pub mod channels;
pub mod classifier;
pub mod cloud;
pub mod colour;
pub mod competence;
pub mod dataset;
pub mod dense;
mod domain;
pub mod error;
pub mod explain;
pub mod faithfulness;
pub mod html;
pub mod io;
pub mod labels;
pub mod linalg;
#[cfg(feature = "model")]
pub mod model;
#[cfg(feature = "model")]
pub mod models;
#[cfg(feature = "onnx")]
pub mod onnx;
pub mod ood;
pub mod perturb;
pub mod pipeline;
pub mod sampling;
pub mod scene;
pub mod segment;
pub mod stats;
pub mod synthetic;
pub mod view;

pub use classifier::Classifier;
pub use error::{Error, Result};
