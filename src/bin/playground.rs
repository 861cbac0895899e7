//! Mounts the playground (the page at `/playground`). It is a bundle of its own, built by trunk
//! from `playground.html` into `dist/playground/` (see the hook in `Trunk.toml`), so people who
//! only chat never download it.

fn main() {
    yew::Renderer::<heartline_chat::playground::PlaygroundPage>::new().render();
}
