//! Placeholder until the viewer issue (#4): the workspace member exists so the layout is fixed.
fn main() {
    eprintln!("pointlime-view: the viewer is not built yet (see issue #4)");
    std::process::exit(2);
}
