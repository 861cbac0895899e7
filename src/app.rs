//! The chat's root: the join screen or the room, and the language switch. The playground is
//! another bundle (`src/bin/playground.rs`), reached by a plain link.

use crate::chat_room::ChatRoom;
use crate::components::join_form::JoinForm;
use crate::i18n::Lang;
use crate::state::{Action, ChatState, Identity};
use crate::storage::Store;
use yew::prelude::*;

/// Props of [`ChatApp`].
#[derive(Properties, PartialEq)]
pub struct AppProps {
    /// The chat endpoint.
    pub url: AttrValue,
    /// Namespace of the app's localStorage keys (tests give each app its own).
    #[prop_or_default]
    pub namespace: AttrValue,
}

/// The chat: the join screen or the room.
#[function_component]
pub fn ChatApp(props: &AppProps) -> Html {
    let store = use_memo(props.namespace.clone(), |namespace| Store::new(namespace));
    // Rejoin after a reload if the user had joined and not left.
    let state = use_reducer({
        let storage = (*store).clone();
        move || {
            let remembered = storage.get("joined").as_deref() == Some("1");
            match (remembered, storage.get("nick"), storage.get("room")) {
                (true, Some(nick), Some(room)) => {
                    let pending = storage.load_outbox(&room, &nick);
                    ChatState::joined(Identity { nick, room }, pending)
                }
                _ => ChatState::default(),
            }
        }
    });
    let storage = (*store).clone();
    let lang = use_state(|| {
        storage
            .get("lang")
            .map_or(Lang::En, |code| Lang::from_code(&code))
    });
    let rejected = use_state(|| None::<String>);
    let t = lang.texts();

    let on_join = {
        let (state, rejected, storage) = (state.clone(), rejected.clone(), storage.clone());
        Callback::from(move |me: Identity| {
            storage.set("nick", &me.nick);
            storage.set("room", &me.room);
            storage.set("joined", "1");
            rejected.set(None);
            let pending = storage.load_outbox(&me.room, &me.nick);
            state.dispatch(Action::Join(me, pending));
        })
    };
    let on_rejected = {
        let (state, rejected, storage) = (state.clone(), rejected.clone(), storage.clone());
        Callback::from(move |why: String| {
            rejected.set(Some(why));
            storage.set("joined", "0");
            state.dispatch(Action::Leave);
        })
    };
    let on_leave = {
        let (state, storage) = (state.clone(), storage.clone());
        Callback::from(move |_: MouseEvent| {
            storage.set("joined", "0");
            state.dispatch(Action::Leave);
        })
    };
    let switch = {
        let (lang, storage) = (lang.clone(), storage.clone());
        Callback::from(move |_: MouseEvent| {
            let next = lang.other();
            storage.set("lang", next.code());
            lang.set(next);
        })
    };

    html! {
        <main lang={if *lang == Lang::Zh { "zh" } else { "en" }}>
            <header>
                <h1>{ "Heartline" }</h1>
                <a href="/playground">{ "Playground" }</a>
                <button type="button" class="lang" onclick={switch}>{ t.switch }</button>
                if state.me.is_some() {
                    <button type="button" onclick={on_leave}>{ t.leave }</button>
                }
            </header>
            {
                match state.me.clone() {
                    None => html! {
                        <JoinForm nick={storage.get("nick").unwrap_or_default()} room={storage.get("room").unwrap_or_default()}
                            problem={(*rejected).clone()} {on_join} texts={t} />
                    },
                    Some(me) => {
                        let key = format!("{}/{}", me.room, me.nick);
                        html! {
                            <ChatRoom {key} store={storage.clone()} url={props.url.clone()} state={state.clone()} {me} {on_rejected} texts={t} />
                        }
                    }
                }
            }
        </main>
    }
}
