//! Who is in the room.

use yew::prelude::*;

/// Props of [`MemberList`].
#[derive(Properties, PartialEq)]
pub struct MemberListProps {
    /// Nicknames.
    pub members: Vec<String>,
    /// Mine, marked.
    pub me: String,
    /// The list's label ("Members").
    pub label: &'static str,
}

/// The member list, labelled for assistive technology.
#[function_component]
pub fn MemberList(props: &MemberListProps) -> Html {
    html! {
        <aside class="members">
            <h2 id="members-heading">{ props.label }{ format!(" ({})", props.members.len()) }</h2>
            <ul aria-label={props.label}>
                { for props.members.iter().map(|nick| html! {
                    <li class={(*nick == props.me).then_some("me")}>{ nick }</li>
                }) }
            </ul>
        </aside>
    }
}
