//! Mounts the chat (the page at `/`). The playground is its own bundle: `src/bin/playground.rs`.

use heartline_chat::{chat_url_for_page, AppProps, ChatApp};

fn main() {
    let props = AppProps {
        url: chat_url_for_page().into(),
        namespace: Default::default(),
    };
    yew::Renderer::<ChatApp>::with_props(props).render();
}
