//! A counter that sends its count through `use_heartline` and shows the echo: the size of the
//! library over the bare Yew counter.

use heartline::{use_heartline, Config, Inbound, Notice};
use yew::prelude::*;

#[function_component]
fn Echo() -> Html {
    let count = use_state(|| 0);
    let echoed = use_state(String::new);
    let on_notice = {
        let echoed = echoed.clone();
        Callback::from(move |notice| {
            if let Notice::Message(Inbound::Text(text)) = notice {
                echoed.set(text.into());
            }
        })
    };
    let socket = use_heartline(Config::new("ws://127.0.0.1:8080/echo"), on_notice);
    let add = {
        let (count, socket) = (count.clone(), socket.clone());
        Callback::from(move |_| {
            count.set(*count + 1);
            let _ = socket.send_text((*count + 1).to_string());
        })
    };
    html! {
        <>
            <p>{ socket.status.label() }{ " · echo " }{ &*echoed }</p>
            <button onclick={add}>{ format!("clicked {} times", *count) }</button>
        </>
    }
}

fn main() {
    yew::Renderer::<Echo>::new().render();
}
