//! The pieces of `pointlime-view`, each a pure, unit-tested part except the last:
//! the library reads an explained file and its report ([`pointlime::view`]) and holds the colour
//! maps ([`colour`]), both shared with the HTML report; [`camera`] fits and projects the view, [`scene`] turns data and style into point colours, legend and text;
//! [`render`] draws it all with kiss3d.

pub mod camera;
pub mod render;
pub mod scene;

pub use pointlime::colour;
