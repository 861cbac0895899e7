//! The Heartline chat app.

use yew::prelude::*;

/// The root component.
#[function_component]
pub fn App() -> Html {
    html! {
        <main>
            <h1>{ "Heartline" }</h1>
        </main>
    }
}
