//! pointlime's integration tests, one binary (links once).

mod batch;
mod ci;
mod cli;
mod common;
mod competence;
mod docs;
mod explain;
mod faithfulness;
mod fuzz_replay;
mod io_roundtrip;
mod layers;
mod lidar;
mod malformed;
mod model;
mod onnx;
mod per_point;
mod real_data;
mod reliability;
mod report;
mod scans;
mod segment;
mod slurm;
mod wgpu;
