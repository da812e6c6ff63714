//! The pieces of `pointlime-view`: [`scene`] holds everything shown as pure data and functions
//! (unit-tested without a GPU); [`render`] draws it with kiss3d.

pub mod render;
pub mod scene;
