//! A bare Yew counter: the baseline of the size benchmark.

use yew::prelude::*;

#[function_component]
fn Counter() -> Html {
    let count = use_state(|| 0);
    let add = {
        let count = count.clone();
        Callback::from(move |_| count.set(*count + 1))
    };
    html! { <button onclick={add}>{ format!("clicked {} times", *count) }</button> }
}

fn main() {
    yew::Renderer::<Counter>::new().render();
}
