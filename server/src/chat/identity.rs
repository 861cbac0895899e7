//! Who may use a client id: its first join binds it to the secret that join presents (the chat
//! makes its own), or to one the server mints and hands only to that client; later joins with
//! the id must present it. The deduplication key (client id, message id) is thereby bound to
//! whoever holds the secret, so knowing someone's client id is not enough to make their messages
//! vanish as "duplicates".
//!
//! Secrets are kept by the room store ([`RoomStore::claim_identity`]), as durably as the dedup
//! keys they protect: with SQLite they survive a restart, so after one a join with a known client
//! id still needs its secret; with Redis every instance finds them (a client that moves to
//! another instance is the same client there). The memory store forgets them with everything
//! else at exit. A known id is never claimed again (unless a refused join releases it, below); an
//! unknown one is claimed by the first join that presents a secret for it. A join refused after
//! its id was admitted (its nickname taken, or the history unreadable) releases a secret the
//! server minted for it, which only the welcome would have carried.

use super::store::RoomStore;
use std::sync::Arc;

/// Longest secret a client may bring to claim an id the store does not know.
const MAX_SECRET_LEN: usize = 128;

/// Why a join's client id was not admitted.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The secret was missing or wrong.
    NotYours,
    /// The store could not be reached: try again later.
    Unavailable(String),
}

/// A join's client id admitted: the secret it must present next time.
#[derive(Debug, PartialEq, Eq)]
pub struct Admission {
    pub secret: String,
    /// The server made the secret for this join (the client brought none), so only the welcome
    /// would carry it: a join refused after this must [`release`](Identities::release) the id.
    pub minted: bool,
}

/// Client ids and their secrets, kept in the room store.
pub struct Identities {
    store: Arc<dyn RoomStore>,
}

impl Identities {
    /// Secrets kept in `store`.
    pub fn new(store: Arc<dyn RoomStore>) -> Self {
        Self { store }
    }

    /// Admits `client_id`: with its secret, or with none on its first join (a secret is minted),
    /// or with one the store does not know yet (claimed, e.g. after the memory store restarted).
    pub async fn check(&self, client_id: &str, secret: Option<&str>) -> Result<Admission, Refusal> {
        let (candidate, minted) = match secret {
            Some(given) if !given.is_empty() && given.len() <= MAX_SECRET_LEN => {
                (given.to_owned(), false)
            }
            _ => (mint(), true),
        };
        let known = self
            .store
            .claim_identity(client_id, &candidate)
            .await
            .map_err(|error| Refusal::Unavailable(error.to_string()))?;
        // The candidate is what the client presented, or a fresh secret only it will get: equal
        // to the stored one exactly when the client holds it or has just claimed the id.
        if constant_time_eq(candidate.as_bytes(), known.as_bytes()) {
            Ok(Admission {
                secret: known,
                minted,
            })
        } else {
            Err(Refusal::NotYours)
        }
    }

    /// Undoes the admission of a join that was then refused, if its secret was minted: no client
    /// has that secret, and the id would otherwise be refused (4006) to its owner's next join.
    /// A secret the client brought stays bound: the client holds it.
    pub async fn release(&self, client_id: &str, admission: &Admission) {
        if !admission.minted {
            return;
        }
        if let Err(error) = self
            .store
            .release_identity(client_id, &admission.secret)
            .await
        {
            // The id stays bound to a secret nobody holds; its next join takes a new id (4006).
            tracing::warn!(%client_id, %error, "a refused join's client id was not released");
        }
    }
}

fn mint() -> String {
    let mut bytes = [0u8; 16];
    // The OS generator does not fail on the systems the server runs on; if it ever did, a
    // secret from the clock and address would still differ per client.
    if getrandom::fill(&mut bytes).is_err() {
        let fallback = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes = (fallback ^ (&bytes as *const _ as u128)).to_le_bytes();
    }
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("s-{hex}")
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::store::{MemoryStore, Retention};

    fn identities() -> Identities {
        Identities::new(Arc::new(MemoryStore::new(Retention::default())))
    }

    #[tokio::test]
    async fn a_first_join_gets_a_secret_and_later_joins_need_it() {
        let ids = identities();
        let first = ids.check("c-1", None).await.unwrap();
        assert!(first.minted);
        let secret = first.secret;
        assert!(secret.starts_with("s-") && secret.len() > 20);
        assert_eq!(
            ids.check("c-1", Some(&secret)).await,
            Ok(Admission {
                secret: secret.clone(),
                minted: false
            })
        );
        assert_eq!(ids.check("c-1", None).await, Err(Refusal::NotYours));
        assert_eq!(
            ids.check("c-1", Some("s-guess")).await,
            Err(Refusal::NotYours)
        );
        assert_eq!(ids.check("c-1", Some("")).await, Err(Refusal::NotYours));
        assert_ne!(ids.check("c-2", None).await.unwrap().secret, secret);
    }

    #[tokio::test]
    async fn a_secret_for_an_unknown_id_claims_it() {
        let ids = identities();
        assert_eq!(
            ids.check("c-1", Some("s-kept")).await.map(|a| a.secret),
            Ok("s-kept".into())
        );
        assert_eq!(
            ids.check("c-1", Some("s-other")).await,
            Err(Refusal::NotYours)
        );
    }

    #[tokio::test]
    async fn a_released_minted_secret_frees_the_id_and_a_brought_one_stays() {
        let ids = identities();
        let minted = ids.check("c-1", None).await.unwrap();
        ids.release("c-1", &minted).await;
        let again = ids.check("c-1", None).await.unwrap();
        assert_ne!(again.secret, minted.secret);
        // Releasing a stale admission does not free the id from its new secret.
        ids.release("c-1", &minted).await;
        assert_eq!(ids.check("c-1", None).await, Err(Refusal::NotYours));

        let brought = ids.check("c-2", Some("s-mine")).await.unwrap();
        ids.release("c-2", &brought).await;
        assert_eq!(ids.check("c-2", None).await, Err(Refusal::NotYours));
    }
}
