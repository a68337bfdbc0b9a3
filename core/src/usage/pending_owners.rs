//! What the relay knows of Responses objects it has seen created before the recorder has written
//! it: their owners (`response_owners` rows) and, for `background` ones, what they are to be
//! billed at (`unbilled_responses` rows). A call about one (a background response polled the
//! moment it was queued, a cancel while its stream still runs) finds it here; the rows are
//! written only when the creating request's usage record is, at the end of its stream.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::store::response_owners::ResponseOwner;
use crate::store::unbilled_responses::Unbilled;

/// Owners waiting for their `response_owners` row.
pub type PendingOwners = Pending<ResponseOwner>;
/// Background responses waiting for their `unbilled_responses` row.
pub type PendingUnbilled = Pending<Unbilled>;

/// Values waiting for their row, keyed by response id (SipHash: the ids come from upstreams).
#[derive(Debug)]
pub struct Pending<V> {
    values: Mutex<HashMap<String, V>>,
    /// Most values kept; past it, a new one is found only once its row is written.
    max_entries: usize,
}

impl<V: Clone> Pending<V> {
    /// An empty set holding at most `max_entries` values.
    pub fn new(max_entries: usize) -> Self {
        Self {
            values: Mutex::new(HashMap::new()),
            max_entries,
        }
    }

    /// Notes `response_id`'s value (who created it and where it lives; what it is billed at)
    /// until its row is written.
    pub fn note(&self, response_id: &str, value: V) {
        let Ok(mut values) = self.values.lock() else {
            return;
        };
        if values.len() < self.max_entries || values.contains_key(response_id) {
            values.insert(response_id.to_owned(), value);
        }
    }

    /// The value of `response_id`, if it is still waiting for its row.
    pub fn get(&self, response_id: &str) -> Option<V> {
        self.values.lock().ok()?.get(response_id).cloned()
    }

    /// Forgets values whose rows are written (or were given up on).
    pub fn forget<'a>(&self, response_ids: impl IntoIterator<Item = &'a str>) {
        if let Ok(mut values) = self.values.lock() {
            for id in response_ids {
                values.remove(id);
            }
        }
    }

    /// How many values wait for their row.
    pub fn len(&self) -> usize {
        self.values.lock().map_or(0, |values| values.len())
    }

    /// Whether none waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWNER: ResponseOwner = ResponseOwner {
        user_id: 1,
        channel_id: 2,
        credential_id: 3,
    };

    #[test]
    fn noted_owners_are_found_until_forgotten() {
        let pending = PendingOwners::new(10);
        pending.note("resp_a", OWNER);
        assert_eq!(pending.get("resp_a"), Some(OWNER));
        assert_eq!(pending.get("resp_b"), None);
        pending.forget(["resp_a"]);
        assert_eq!(pending.get("resp_a"), None);
        assert!(pending.is_empty());
    }

    #[test]
    fn a_full_set_takes_no_new_owner_but_keeps_its_own() {
        let pending = PendingOwners::new(2);
        pending.note("resp_a", OWNER);
        pending.note("resp_b", OWNER);
        pending.note("resp_c", OWNER);
        assert_eq!(pending.get("resp_c"), None, "past the cap");
        let moved = ResponseOwner {
            credential_id: 9,
            ..OWNER
        };
        pending.note("resp_a", moved);
        assert_eq!(
            pending.get("resp_a"),
            Some(moved),
            "an id already held is updated"
        );
        assert_eq!(pending.len(), 2);
    }
}
