//! The join screen: nickname and room.

use crate::i18n::Texts;
use crate::names::{clean_nick, clean_room};
use crate::state::Identity;
use web_sys::HtmlInputElement;
use yew::prelude::*;

/// Props of [`JoinForm`].
#[derive(Properties, PartialEq)]
pub struct JoinFormProps {
    /// Remembered nickname.
    pub nick: String,
    /// Remembered room.
    pub room: String,
    /// Why the last join ended, if it did (e.g. nickname taken).
    pub problem: Option<String>,
    /// Called with a valid identity.
    pub on_join: Callback<Identity>,
    /// UI strings.
    pub texts: &'static Texts,
}

/// Nickname and room, checked cheaply before anything is sent (see [`crate::names`]); the
/// server's refusal of a name it rules out shows here too, through `problem`.
#[function_component]
pub fn JoinForm(props: &JoinFormProps) -> Html {
    let nick = use_state(|| props.nick.clone());
    let room = use_state(|| {
        if props.room.is_empty() {
            "lobby".to_string()
        } else {
            props.room.clone()
        }
    });
    let error = use_state(|| None::<String>);
    let bind = |state: &UseStateHandle<String>| {
        let state = state.clone();
        Callback::from(move |event: InputEvent| {
            state.set(event.target_unchecked_into::<HtmlInputElement>().value())
        })
    };
    let t = props.texts;
    let on_submit = {
        let (nick, room, error, on_join) = (
            nick.clone(),
            room.clone(),
            error.clone(),
            props.on_join.clone(),
        );
        Callback::from(move |event: SubmitEvent| {
            event.prevent_default();
            // Joined under the names the server keeps (NFC, trimmed), so "mine" matches.
            match (clean_nick(&nick), clean_room(&room)) {
                (Err(problem), _) => error.set(Some(t.name_problem(&problem, false))),
                (_, Err(problem)) => error.set(Some(t.name_problem(&problem, true))),
                (Ok(nick), Ok(room)) => {
                    error.set(None);
                    on_join.emit(Identity { nick, room });
                }
            }
        })
    };
    let shown = (*error).clone().or_else(|| props.problem.clone());
    html! {
        <form class="join" onsubmit={on_submit}>
            <label for="nick">{ t.nickname }</label>
            // No `maxlength`: it counts UTF-16 units, so a name of 32 emoji (allowed) could not be
            // typed, and a longer paste would be cut without a word; the check on submit says why.
            <input id="nick" value={(*nick).clone()} oninput={bind(&nick)} autocomplete="nickname" required=true />
            <label for="room">{ t.room }</label>
            <input id="room" value={(*room).clone()} oninput={bind(&room)} required=true />
            <button type="submit">{ t.join }</button>
            if let Some(problem) = shown {
                <p role="alert" class="problem">{ problem }</p>
            }
        </form>
    }
}
