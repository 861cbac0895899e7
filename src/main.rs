//! The Heartline chat room (placeholder until the chat issue lands).

fn main() {
    yew::Renderer::<heartline_chat::App>::new().render();
}
