//! Several instances, one chat: what the instances sharing a Redis store do besides storing
//! (see [`super::store::redis`]): deliver each other's messages to their own members
//! ([`fanout`]), know who is in a room on the others ([`presence`]), and keep client ids'
//! secrets where every instance finds them ([`super::identity`]). Nothing here speaks to another instance directly: Redis is the only
//! thing they share.

pub mod fanout;
pub mod presence;

use super::hub::Hub;
use super::store::RedisStore;
use std::sync::Arc;
use tokio::task::JoinHandle;

/// The background work of one instance on a shared store; stopped when dropped.
pub struct Cluster {
    tasks: Vec<JoinHandle<()>>,
}

impl Cluster {
    /// Starts following the other instances' messages for `hub`'s rooms.
    pub fn start(store: &RedisStore, hub: Arc<Hub>) -> Self {
        let follower = tokio::spawn(fanout::follow(
            store.client().clone(),
            store.connection(),
            hub.clone(),
            store.instance().to_owned(),
        ));
        let instance = store.instance().to_owned();
        tracing::info!(%instance, "sharing rooms through redis");
        let claims = presence::Claims::default();
        hub.set_presence(Arc::new(presence::RedisPresence {
            conn: store.connection(),
            instance: instance.clone(),
            claims: claims.clone(),
        }));
        let presence = tokio::spawn(presence::run(store.connection(), hub, instance, claims));
        Self {
            tasks: vec![follower, presence],
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
