//! Who may use a client id: the server mints a secret at a client id's first join and hands it
//! only to that client; later joins with the id must present it. The deduplication key
//! (client id, message id) is thereby bound to whoever holds the secret, so knowing someone's
//! client id is not enough to make their messages vanish as "duplicates".
//!
//! Kept in memory: after a restart the first join that presents a secret for an id claims it.
//! With a shared store ([`Identities::shared`]) they are kept in Redis instead, so a client that
//! moves to another instance (failover) is the same client there, with the same dedup keys.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Most client ids remembered; the oldest are forgotten first (they claim again on next join).
const MAX_CLIENTS: usize = 100_000;

/// A join's client id was not backed by its secret.
#[derive(Debug, PartialEq, Eq)]
pub struct NotYours;

/// Why a join's client id was not admitted.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The secret was missing or wrong.
    NotYours,
    /// The shared registry could not be reached: try again later.
    Unavailable(String),
}

/// How long an unused client id's secret is kept in Redis (each join renews it): 30 days.
const SHARED_TTL_SECS: u64 = 30 * 24 * 60 * 60;

/// Client ids and their secrets.
#[derive(Default)]
pub struct Identities {
    inner: Mutex<Registry>,
    /// Kept in Redis instead, for every instance on it.
    shared: Option<redis::aio::ConnectionManager>,
}

#[derive(Default)]
struct Registry {
    secrets: HashMap<String, String>,
    order: VecDeque<String>,
}

impl Identities {
    /// Secrets kept in Redis, where every instance on it finds them.
    pub fn shared(conn: redis::aio::ConnectionManager) -> Self {
        Self {
            inner: Mutex::default(),
            shared: Some(conn),
        }
    }

    /// [`Identities::admit`], in Redis when shared.
    pub async fn check(&self, client_id: &str, secret: Option<&str>) -> Result<String, Refusal> {
        let Some(conn) = &self.shared else {
            return self
                .admit(client_id, secret)
                .map_err(|NotYours| Refusal::NotYours);
        };
        let unavailable = |error: redis::RedisError| Refusal::Unavailable(error.to_string());
        let key = format!("hl:secret:{client_id}");
        let mut conn = conn.clone();
        // GETEX renews the expiry of a known id; SET NX claims an unknown one, and if another
        // instance claimed it in between, that secret is the one to match.
        let known: Option<String> = redis::cmd("GETEX")
            .arg(&key)
            .arg("EX")
            .arg(SHARED_TTL_SECS)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let candidate = match secret {
            Some(given) if !given.is_empty() && given.len() <= 128 => given.to_owned(),
            _ => mint(),
        };
        let known = match known {
            Some(known) => known,
            None => {
                let claimed: bool = redis::cmd("SET")
                    .arg(&key)
                    .arg(&candidate)
                    .arg("NX")
                    .arg("EX")
                    .arg(SHARED_TTL_SECS)
                    .query_async(&mut conn)
                    .await
                    .map_err(unavailable)?;
                if claimed {
                    return Ok(candidate);
                }
                let known: Option<String> = redis::cmd("GET")
                    .arg(&key)
                    .query_async(&mut conn)
                    .await
                    .map_err(unavailable)?;
                known.ok_or_else(|| Refusal::Unavailable("the secret vanished".into()))?
            }
        };
        match secret {
            Some(given) if constant_time_eq(given.as_bytes(), known.as_bytes()) => Ok(known),
            _ => Err(Refusal::NotYours),
        }
    }

    /// Admits `client_id`: with its secret, or with none on its first join (a secret is minted),
    /// or with one the server does not know yet (claimed, e.g. after a restart). Returns the
    /// secret the client must present next time.
    pub fn admit(&self, client_id: &str, secret: Option<&str>) -> Result<String, NotYours> {
        let mut registry = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(known) = registry.secrets.get(client_id) {
            return match secret {
                Some(given) if constant_time_eq(given.as_bytes(), known.as_bytes()) => {
                    Ok(known.clone())
                }
                _ => Err(NotYours),
            };
        }
        let secret = match secret {
            Some(given) if !given.is_empty() && given.len() <= 128 => given.to_owned(),
            _ => mint(),
        };
        registry
            .secrets
            .insert(client_id.to_owned(), secret.clone());
        registry.order.push_back(client_id.to_owned());
        while registry.order.len() > MAX_CLIENTS {
            if let Some(oldest) = registry.order.pop_front() {
                registry.secrets.remove(&oldest);
            }
        }
        Ok(secret)
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

    #[test]
    fn a_first_join_gets_a_secret_and_later_joins_need_it() {
        let ids = Identities::default();
        let secret = ids.admit("c-1", None).unwrap();
        assert!(secret.starts_with("s-") && secret.len() > 20);
        assert_eq!(ids.admit("c-1", Some(&secret)), Ok(secret.clone()));
        assert_eq!(ids.admit("c-1", None), Err(NotYours));
        assert_eq!(ids.admit("c-1", Some("s-guess")), Err(NotYours));
        assert_ne!(ids.admit("c-2", None).unwrap(), secret);
    }

    #[test]
    fn a_known_secret_for_an_unknown_id_claims_it() {
        let ids = Identities::default();
        assert_eq!(ids.admit("c-1", Some("s-kept")), Ok("s-kept".into()));
        assert_eq!(ids.admit("c-1", Some("s-other")), Err(NotYours));
    }
}
