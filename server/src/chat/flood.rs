//! The flood guard: every frame a client sends (text, binary, the `ping` heartbeat, protocol
//! pings and pongs) takes a token from three buckets: its connection's, its client id's (shared
//! by all its tabs: one person gets the announced rate, however many connections they open) and
//! its IP address's (`ip_share` times the announced rate, so a few people behind one NAT fit,
//! and fifty fresh client ids from one host do not). An IPv6 host is its /64: one host is
//! usually given a whole /64, and could take a new address of it for every connection.

use super::limits::{FloodGuard, Limits};
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Past this many entries, full buckets (clients quiet long enough to have refilled) are dropped.
const PRUNE_OVER: usize = 4_096;

/// Which budget ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Over {
    /// This connection's.
    Connection,
    /// The client id's, shared by its connections.
    Client,
    /// The IP address's.
    Address,
}

impl Over {
    /// For the close reason.
    pub fn describe(self) -> &'static str {
        match self {
            Over::Connection => "this connection sends too many frames",
            Over::Client => "this client's connections together send too many frames",
            Over::Address => "connections from this address together send too many frames",
        }
    }
}

/// Buckets shared by every connection, by client id and by IP address.
#[derive(Debug)]
pub struct SharedBuckets {
    limits: Limits,
    clients: Mutex<HashMap<String, FloodGuard>>,
    addresses: Mutex<HashMap<IpAddr, FloodGuard>>,
}

impl SharedBuckets {
    /// Empty maps; buckets are made full on first use.
    pub fn new(limits: &Limits) -> Self {
        Self {
            limits: limits.clone(),
            clients: Mutex::default(),
            addresses: Mutex::default(),
        }
    }

    /// Frames `client_id`'s connections may send at once now (announced in the welcome): what
    /// its bucket holds, full for a client not seen lately.
    pub fn client_tokens(&self, client_id: &str, now: Instant) -> u32 {
        let map = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        map.get(client_id)
            .map_or(self.limits.burst, |bucket| bucket.tokens(now))
    }

    fn take<K: Eq + Hash + Clone>(
        map: &Mutex<HashMap<K, FloodGuard>>,
        key: &K,
        limits: impl Fn() -> Limits,
        now: Instant,
    ) -> bool {
        let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > PRUNE_OVER {
            map.retain(|_, bucket| !bucket.is_full(now));
        }
        map.entry(key.clone())
            .or_insert_with(|| FloodGuard::new(&limits()))
            .allow(now)
    }
}

/// One connection's view of the flood guard.
#[derive(Debug)]
pub struct Flood {
    connection: FloodGuard,
    address: IpAddr,
}

impl Flood {
    /// A connection from `address`.
    pub fn new(limits: &Limits, address: IpAddr) -> Self {
        Self {
            connection: FloodGuard::new(limits),
            address: host_of(address),
        }
    }

    /// Counts one frame; `Err` names the budget it overran. `client_id` once joined.
    pub fn allow(
        &mut self,
        shared: &SharedBuckets,
        client_id: Option<&str>,
        now: Instant,
    ) -> Result<(), Over> {
        if !self.connection.allow(now) {
            return Err(Over::Connection);
        }
        if let Some(client_id) = client_id {
            let key = client_id.to_owned();
            if !SharedBuckets::take(&shared.clients, &key, || shared.limits.clone(), now) {
                return Err(Over::Client);
            }
        }
        let share = shared.limits.ip_share;
        if share > 0 {
            let per_address = || Limits {
                burst: shared.limits.burst.saturating_mul(share),
                per_second: shared.limits.per_second.saturating_mul(share),
                ..shared.limits.clone()
            };
            if !SharedBuckets::take(&shared.addresses, &self.address, per_address, now) {
                return Err(Over::Address);
            }
        }
        Ok(())
    }
}

/// The address whose share a connection takes: an IPv4 address (also written as IPv6), or an
/// IPv6 address's /64.
fn host_of(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::from(segments)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_host_is_its_64_and_a_mapped_ipv4_address_is_itself() {
        let one: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let same: IpAddr = "2001:db8:1:2:ffff:1:2:3".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(host_of(one), host_of(same));
        assert_ne!(host_of(one), host_of(other));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(host_of(mapped), IpAddr::from([10, 0, 0, 1]));
        // Two addresses of one /64 share one budget.
        let limits = limits(2, 1);
        let shared = SharedBuckets::new(&limits);
        let now = Instant::now();
        let mut first = Flood::new(&limits, one);
        let mut second = Flood::new(&limits, same);
        assert!(first.allow(&shared, None, now).is_ok());
        assert!(second.allow(&shared, None, now).is_ok());
        assert!(matches!(
            Flood::new(&limits, same).allow(&shared, None, now),
            Err(Over::Address)
        ));
    }

    fn limits(burst: u32, ip_share: u32) -> Limits {
        Limits {
            burst,
            per_second: 1,
            ip_share,
            ..Limits::default()
        }
    }

    #[test]
    fn connections_of_one_client_share_its_budget() {
        let limits = limits(4, 0);
        let shared = SharedBuckets::new(&limits);
        let ip = IpAddr::from([127, 0, 0, 1]);
        let (mut a, mut b) = (Flood::new(&limits, ip), Flood::new(&limits, ip));
        let now = Instant::now();
        for _ in 0..2 {
            assert_eq!(a.allow(&shared, Some("c"), now), Ok(()));
            assert_eq!(b.allow(&shared, Some("c"), now), Ok(()));
        }
        assert_eq!(b.allow(&shared, Some("c"), now), Err(Over::Client));
        assert_eq!(b.allow(&shared, Some("other"), now), Ok(()));
    }

    #[test]
    fn an_address_gets_its_share() {
        let limits = limits(2, 3);
        let shared = SharedBuckets::new(&limits);
        let ip = IpAddr::from([10, 0, 0, 1]);
        let now = Instant::now();
        let mut flood: Vec<Flood> = (0..4).map(|_| Flood::new(&limits, ip)).collect();
        let results: Vec<_> = flood
            .iter_mut()
            .enumerate()
            .flat_map(|(i, f)| {
                let client = format!("c{i}");
                [
                    f.allow(&shared, Some(&client), now),
                    f.allow(&shared, Some(&client), now),
                ]
            })
            .collect();
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 6);
        assert_eq!(results[6], Err(Over::Address));
        let elsewhere = IpAddr::from([10, 0, 0, 2]);
        assert_eq!(
            Flood::new(&limits, elsewhere).allow(&shared, None, now),
            Ok(())
        );
    }
}
