//! The whole job for one cloud: validate → model frame → supervoxels → sample to the network's size
//! → explain → per-point importances and a report, and where the outputs go.
//!
//! The files: `config` (the settings), `report` (the report and its schema version), `input`
//! (the network's input), `explain` (the steps end to end), `explained` (per-point fields),
//! `naming` (the outputs' default names), `overrides` (settings given one by one, by the CLI and
//! the Python package), `region` (what a per-point model's explanation is
//! about), `per_point` (a per-point model explained region by region), `window` (a model trained
//! on windows of tiles explains a wider scan in one window) and [`legacy`] (the one reader of
//! earlier layouts).

mod config;
mod explain;
mod explained;
mod input;
pub mod legacy;
mod naming;
mod overrides;
mod per_point;
mod region;
mod report;
mod window;

pub use config::*;
pub use explain::*;
pub use explained::*;
pub use input::*;
pub use naming::*;
pub use overrides::Overrides;
pub use per_point::PointPredictions;
pub use region::*;
pub use report::*;
