//! Session bindings: which channel and credential served a session last, kept for a TTL so the
//! next turn of the conversation goes to the same place (and hits the upstream's prompt cache).
//! Bounded: past `max_entries` expired bindings are swept, and if none expired the new binding is
//! simply not stored (rendezvous hashing still keeps sessions mostly in place). A sweep walks
//! every binding, so a full table is swept at most once per [`FULL_SWEEP_PAUSE`]: a table full
//! of live sessions must not cost each new session a walk over all of them under the lock.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Shortest time between two sweeps of a full table.
const FULL_SWEEP_PAUSE: Duration = Duration::from_secs(1);

/// Session → (channel, credential) with expiry.
#[derive(Debug)]
pub struct Sticky {
    ttl: Duration,
    max_entries: usize,
    table: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    bindings: HashMap<String, (i64, i64, Instant)>,
    /// No sweep before this (set by the last one).
    next_sweep: Option<Instant>,
}

impl Sticky {
    /// An empty table.
    pub fn new(ttl: Duration, max_entries: usize) -> Self {
        Self {
            ttl,
            max_entries,
            table: Mutex::new(Table::default()),
        }
    }

    /// The live binding of a session.
    pub fn get(&self, session: &str, now: Instant) -> Option<(i64, i64)> {
        let table = self.table.lock().ok()?;
        table
            .bindings
            .get(session)
            .filter(|(_, _, until)| *until > now)
            .map(|(c, k, _)| (*c, *k))
    }

    /// Binds (or re-binds) a session after it was served.
    pub fn bind(&self, session: &str, channel: i64, credential: i64, now: Instant) {
        self.bind_until(session, channel, credential, now, now + self.ttl);
    }

    /// Binds a session served `age` ago (a binding restored at start): it lives for what is
    /// left of its TTL, and not at all past it.
    pub fn restore(&self, session: &str, channel: i64, credential: i64, age: Duration) {
        let now = Instant::now();
        if let Some(left) = self.ttl.checked_sub(age) {
            self.bind_until(session, channel, credential, now, now + left);
        }
    }

    fn bind_until(
        &self,
        session: &str,
        channel: i64,
        credential: i64,
        now: Instant,
        until: Instant,
    ) {
        let Ok(mut table) = self.table.lock() else {
            return;
        };
        let Table {
            bindings,
            next_sweep,
        } = &mut *table;
        if bindings.len() >= self.max_entries && !bindings.contains_key(session) {
            if next_sweep.is_some_and(|next| now < next) {
                return;
            }
            bindings.retain(|_, (_, _, until)| *until > now);
            *next_sweep = Some(now + FULL_SWEEP_PAUSE);
            if bindings.len() >= self.max_entries {
                return;
            }
        }
        bindings.insert(session.to_owned(), (channel, credential, until));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restored_binding_lives_for_what_is_left_of_its_ttl() {
        let sticky = Sticky::new(Duration::from_secs(10), 10);
        sticky.restore("young", 1, 2, Duration::from_secs(3));
        sticky.restore("old", 3, 4, Duration::from_secs(11));
        let now = Instant::now();
        assert_eq!(sticky.get("young", now), Some((1, 2)));
        assert_eq!(sticky.get("young", now + Duration::from_secs(8)), None);
        assert_eq!(sticky.get("old", now), None);
    }

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

    #[test]
    fn a_full_table_is_swept_at_most_once_per_pause() {
        let sticky = Sticky::new(Duration::from_secs(10), 2);
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        sticky.bind("a", 1, 11, at(0));
        sticky.bind("b", 2, 21, at(500));
        sticky.bind("c", 3, 31, at(10_200));
        assert_eq!(sticky.get("c", at(10_200)), Some((3, 31)), "`a` swept");
        // `b` expires at 10.5 s, but the last sweep was 0.5 s ago
        sticky.bind("d", 4, 41, at(10_700));
        assert_eq!(sticky.get("d", at(10_700)), None, "no sweep yet");
        sticky.bind("e", 5, 51, at(11_300));
        assert_eq!(sticky.get("e", at(11_300)), Some((5, 51)), "`b` swept");
    }
}
