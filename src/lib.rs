//! pointlime explains why a 3D point-cloud classifier decided what it did.
//!
//! A scan is read ([`io`]), cut into supervoxels ([`segment`]), and explained with LIME
//! ([`explain`]): random on/off masks over the supervoxels ([`perturb`]), a classifier run on every
//! perturbed cloud ([`classifier`], implemented by a burn PointNet in [`model`]), and a weighted
//! ridge surrogate whose coefficients are the supervoxels' importances. [`pipeline`] strings the
//! stages together.
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
//! config.segments.target = pointlime::segment::Target::Count(4);
//! config.lime.n_samples = 200;
//! let explained = explain_cloud(&cloud, "column.xyz".as_ref(), &model, "tall", &config.seeded(), 0, None)?;
//! let top = explained.report.explanations[0].ranking()[0];
//! // The most important segment is the one at the top of the column.
//! let highest = explained.report.segments.iter().max_by(|a, b| a.centroid[2].total_cmp(&b.centroid[2])).unwrap();
//! assert_eq!(top, highest.id);
//! # Ok::<(), pointlime::Error>(())
//! ```

pub mod augment;
pub mod batch;
pub mod classifier;
pub mod cloud;
pub mod dataset;
pub mod error;
pub mod evaluate;
pub mod explain;
pub mod io;
#[cfg(feature = "model")]
pub mod model;
pub mod perturb;
pub mod pipeline;
pub mod plot;
pub mod segment;
pub mod synthetic;

pub use classifier::Classifier;
pub use error::{Error, Result};
