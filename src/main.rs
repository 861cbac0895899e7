//! Mounts the app.

use heartline_chat::{echo_url_for_page, App, AppProps};

fn main() {
    let props = AppProps {
        echo_url: echo_url_for_page().into(),
    };
    yew::Renderer::<App>::with_props(props).render();
}
