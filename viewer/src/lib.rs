//! The pieces of `pointlime-view`, each a pure, unit-tested part except the last:
//! [`load`] reads an explained file and its report, [`colour`] holds the colour maps, [`camera`]
//! fits and projects the view, [`scene`] turns data and style into point colours, legend and text;
//! [`render`] draws it all with kiss3d.

pub mod camera;
pub mod colour;
pub mod load;
pub mod render;
pub mod scene;
