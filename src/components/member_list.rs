//! Who is in the room.

use yew::prelude::*;

/// The member list, labelled for assistive technology; `me` is marked. A view function rather
/// than a component: it has no state of its own, and each component carries its own copy of
/// Yew's lifecycle code in the bundle.
pub fn member_list(members: &[String], me: &str, label: &'static str) -> Html {
    html! {
        <aside class="members">
            <h2 id="members-heading">{ label }{ format!(" ({})", members.len()) }</h2>
            <ul aria-label={label}>
                // Literal classes only: a computed one links Yew's `Classes` set.
                { for members.iter().map(|nick| if nick == me {
                    html! { <li class="me">{ nick }</li> }
                } else {
                    html! { <li>{ nick }</li> }
                }) }
            </ul>
        </aside>
    }
}
