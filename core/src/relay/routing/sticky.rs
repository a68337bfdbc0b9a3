//! Session bindings: which channel and credential served a session last, kept for a TTL so the
//! next turn of the conversation goes to the same place (and hits the upstream's prompt cache).
//! Bounded: past `max_entries` expired bindings are swept, and if none expired the new binding is
//! simply not stored (rendezvous hashing still keeps sessions mostly in place).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Session → (channel, credential) with expiry.
#[derive(Debug)]
pub struct Sticky {
    ttl: Duration,
    max_entries: usize,
    map: Mutex<HashMap<String, (i64, i64, Instant)>>,
}

impl Sticky {
    /// An empty table.
    pub fn new(ttl: Duration, max_entries: usize) -> Self {
        Self {
            ttl,
            max_entries,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// The live binding of a session.
    pub fn get(&self, session: &str, now: Instant) -> Option<(i64, i64)> {
        let map = self.map.lock().ok()?;
        map.get(session)
            .filter(|(_, _, until)| *until > now)
            .map(|(c, k, _)| (*c, *k))
    }

    /// Binds (or re-binds) a session after it was served.
    pub fn bind(&self, session: &str, channel: i64, credential: i64, now: Instant) {
        let Ok(mut map) = self.map.lock() else { return };
        if map.len() >= self.max_entries && !map.contains_key(session) {
            map.retain(|_, (_, _, until)| *until > now);
            if map.len() >= self.max_entries {
                return;
            }
        }
        map.insert(session.to_owned(), (channel, credential, now + self.ttl));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings_expire_and_stay_bounded() {
        let sticky = Sticky::new(Duration::from_secs(10), 2);
        let now = Instant::now();
        sticky.bind("a", 1, 11, now);
        assert_eq!(sticky.get("a", now), Some((1, 11)));
        assert_eq!(sticky.get("a", now + Duration::from_secs(11)), None);
        sticky.bind("b", 2, 21, now);
        sticky.bind("c", 3, 31, now);
        assert_eq!(
            sticky.get("c", now),
            None,
            "full of live bindings: not stored"
        );
        sticky.bind("c", 3, 31, now + Duration::from_secs(11));
        assert_eq!(
            sticky.get("c", now + Duration::from_secs(11)),
            Some((3, 31)),
            "expired ones swept"
        );
    }
}
