//! The root: the join screen or the chat, and the language switch.

use crate::chat_room::ChatRoom;
use crate::components::join_form::JoinForm;
use crate::i18n::Lang;
use crate::state::{Action, ChatState, Identity};
use crate::storage::Store;
use yew::prelude::*;
use yew_router::prelude::*;

/// The chat endpoint of the server that served this page.
pub fn chat_url_for_page() -> String {
    socket_url_for_page("/ws")
}

/// A WebSocket URL for `path` on the server that served this page (wss on an https page).
pub fn socket_url_for_page(path: &str) -> String {
    let location = web_sys::window().map(|window| window.location());
    let host = location
        .as_ref()
        .and_then(|l| l.host().ok())
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let secure = location
        .as_ref()
        .and_then(|l| l.protocol().ok())
        .is_some_and(|p| p == "https:");
    format!("{}://{host}{path}", if secure { "wss" } else { "ws" })
}

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

/// The playground page, with its header.
#[function_component]
pub fn PlaygroundPage() -> Html {
    html! {
        <main class="wide">
            <header>
                <h1>{ "Heartline playground" }</h1>
                <a href="/">{ "Chat" }</a>
            </header>
            <crate::playground::Playground />
        </main>
    }
}

/// The pages.
#[derive(Clone, Routable, PartialEq)]
pub enum Route {
    /// The chat.
    #[at("/")]
    Chat,
    /// The WebSocket inspector.
    #[at("/playground")]
    Playground,
    /// Anything else.
    #[not_found]
    #[at("/404")]
    NotFound,
}

/// The root: routes to the chat or the playground.
#[function_component]
pub fn App(props: &AppProps) -> Html {
    let url = props.url.clone();
    let render = move |route: Route| match route {
        Route::Chat => html! { <ChatApp url={url.clone()} /> },
        Route::Playground => html! { <PlaygroundPage /> },
        Route::NotFound => {
            html! { <main><h1>{ "Not found" }</h1><a href="/">{ "Back to the chat" }</a></main> }
        }
    };
    html! {
        <BrowserRouter>
            <Switch<Route> render={render} />
        </BrowserRouter>
    }
}
