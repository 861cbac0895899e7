//! Mounts the app.

use heartline_chat::{chat_url_for_page, App, AppProps};

fn main() {
    let props = AppProps {
        url: chat_url_for_page().into(),
        namespace: Default::default(),
    };
    yew::Renderer::<App>::with_props(props).render();
}
