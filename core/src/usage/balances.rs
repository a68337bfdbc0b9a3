//! [`Balances`]: users' balances in memory for the check before a call, and the holds in-flight
//! calls put on them.
//!
//! A charged call holds its estimated cost before it goes upstream and is admitted only while
//! the balance has something left beyond what is already held; the recorder charges the exact
//! cost when it writes the call's record and releases the hold in the same step. Without holds,
//! any number of calls started at once on a nearly empty balance all passed the check, and the
//! cost beyond the balance was never paid (a charge stops at zero). A `background` Responses
//! call reports no usage when it is created: its hold stays (noted in `unbilled_responses`, held
//! again after a restart) until the fetch that bills the response releases it.

use std::collections::HashMap;
use std::sync::Mutex;

use rust_decimal::Decimal;

/// In-memory balances the hot path checks before a call; the recorder keeps them current.
/// Every change is made right after the database commit it copies and before any other write
/// can commit ([`crate::store::Store::write_then`]): a rebuild's copy read before a usage batch
/// cannot overwrite the batch's newer balance, nor a batch's older one a top-up's rebuild.
#[derive(Debug, Default)]
pub struct Balances(Mutex<Books>);

#[derive(Debug, Default)]
struct Books {
    balances: HashMap<i64, Decimal>,
    /// What in-flight calls hold, per user (no entry: nothing).
    held: HashMap<i64, Decimal>,
}

impl Books {
    fn release(&mut self, user_id: i64, amount: Decimal) {
        if let Some(held) = self.held.get_mut(&user_id) {
            *held -= amount;
            if *held <= Decimal::ZERO {
                self.held.remove(&user_id);
            }
        }
    }
}

impl Balances {
    /// The user's balance as last known.
    pub fn get(&self, user_id: i64) -> Decimal {
        self.0
            .lock()
            .ok()
            .and_then(|books| books.balances.get(&user_id).copied())
            .unwrap_or_default()
    }

    /// Holds up to `estimate` for a call, if the balance has anything left beyond what other
    /// calls hold; returns the amount held (all that is left when that is less than the
    /// estimate: the call may cost less). `None`: nothing is left, refuse the call.
    pub fn hold(&self, user_id: i64, estimate: Decimal) -> Option<Decimal> {
        let mut books = self.0.lock().ok()?;
        let balance = books.balances.get(&user_id).copied().unwrap_or_default();
        let held = books.held.get(&user_id).copied().unwrap_or_default();
        let left = balance - held;
        if left <= Decimal::ZERO {
            return None;
        }
        let amount = estimate.max(Decimal::ZERO).min(left);
        if amount > Decimal::ZERO {
            *books.held.entry(user_id).or_default() += amount;
        }
        Some(amount)
    }

    /// Changes a call's hold from `from` to `to`: a finished call holds its exact cost until
    /// the recorder charges it (the balance still counts it, and no more than it).
    pub fn reprice(&self, user_id: i64, from: Decimal, to: Decimal) {
        if from == to {
            return;
        }
        if let Ok(mut books) = self.0.lock() {
            books.release(user_id, from);
            if to > Decimal::ZERO {
                *books.held.entry(user_id).or_default() += to;
            }
        }
    }

    /// Releases holds whose calls are recorded, and sets the balances the same write charged.
    pub fn settle(&self, released: &[(i64, Decimal)], charged: &[(i64, Decimal)]) {
        if let Ok(mut books) = self.0.lock() {
            for &(user_id, amount) in released {
                books.release(user_id, amount);
            }
            for &(user_id, balance) in charged {
                books.balances.insert(user_id, balance);
            }
        }
    }

    /// Holds again what the creating calls of responses still to be billed held before a
    /// restart (see [`crate::store::unbilled_responses`]).
    pub fn hold_again(&self, holds: &[crate::store::unbilled_responses::Hold]) {
        if let Ok(mut books) = self.0.lock() {
            for hold in holds.iter().filter(|h| h.amount > Decimal::ZERO) {
                *books.held.entry(hold.user_id).or_default() += hold.amount;
            }
        }
    }

    /// Forgets a deleted user's balance and holds (what the deleted user's calls still in
    /// flight release later finds nothing to release).
    pub fn forget(&self, user_id: i64) {
        if let Ok(mut books) = self.0.lock() {
            books.balances.remove(&user_id);
            books.held.remove(&user_id);
        }
    }

    /// Replaces every balance (after a rebuild from the database); holds stay.
    pub fn replace(&self, all: HashMap<i64, Decimal>) {
        if let Ok(mut books) = self.0.lock() {
            books.balances = all;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(text: &str) -> Decimal {
        text.parse().expect("a decimal")
    }

    fn with_balance(user_id: i64, balance: Decimal) -> Balances {
        let balances = Balances::default();
        balances.replace(HashMap::from([(user_id, balance)]));
        balances
    }

    #[test]
    fn calls_are_admitted_only_while_something_is_left_beyond_the_holds() {
        let balances = with_balance(1, dec("0.05"));
        assert_eq!(balances.hold(1, dec("0.02")), Some(dec("0.02")));
        assert_eq!(balances.hold(1, dec("0.02")), Some(dec("0.02")));
        // the rest only: the call may cost less than estimated
        assert_eq!(balances.hold(1, dec("0.02")), Some(dec("0.01")));
        assert_eq!(balances.hold(1, dec("0.02")), None, "all of it is held");
        assert_eq!(balances.hold(2, dec("0.02")), None, "no balance at all");
        assert_eq!(balances.get(1), dec("0.05"), "holding charges nothing");
    }

    #[test]
    fn settling_releases_the_hold_and_sets_the_charged_balance_at_once() {
        let balances = with_balance(1, dec("0.05"));
        let held = balances.hold(1, dec("0.05")).expect("held");
        assert_eq!(balances.hold(1, dec("0.01")), None);
        // the call cost 0.03: the write charged it and the hold goes
        balances.settle(&[(1, held)], &[(1, dec("0.02"))]);
        assert_eq!(balances.get(1), dec("0.02"));
        assert_eq!(balances.hold(1, dec("0.05")), Some(dec("0.02")));
        // a release larger than what is held (never expected) leaves nothing held, not credit
        balances.settle(&[(1, dec("1"))], &[]);
        assert_eq!(balances.hold(1, dec("0.05")), Some(dec("0.02")));
    }

    #[test]
    fn a_finished_call_holds_its_exact_cost_until_charged() {
        let balances = with_balance(1, dec("0.05"));
        let held = balances.hold(1, dec("0.05")).expect("held");
        assert_eq!(balances.hold(1, dec("0.01")), None);
        // it cost 0.01: the next call may use the other 0.04 before the charge is written
        balances.reprice(1, held, dec("0.01"));
        assert_eq!(balances.hold(1, dec("1")), Some(dec("0.04")));
        // a cost above the estimate holds more than was left: the next calls wait for the charge
        let other = with_balance(2, dec("0.05"));
        let held = other.hold(2, dec("0.01")).expect("held");
        other.reprice(2, held, dec("0.09"));
        assert_eq!(other.hold(2, dec("0.01")), None);
        other.settle(&[(2, dec("0.09"))], &[(2, Decimal::ZERO)]);
        assert_eq!(other.get(2), Decimal::ZERO);
    }

    #[test]
    fn holds_noted_before_a_restart_are_held_again() {
        use crate::store::unbilled_responses::Hold;
        let balances = with_balance(1, dec("0.05"));
        balances.hold_again(&[
            Hold {
                user_id: 1,
                amount: dec("0.01"),
            },
            Hold {
                user_id: 1,
                amount: dec("0.03"),
            },
        ]);
        assert_eq!(balances.hold(1, dec("1")), Some(dec("0.01")));
    }

    #[test]
    fn a_deleted_users_balance_and_holds_are_forgotten() {
        let balances = with_balance(1, dec("0.05"));
        balances.hold(1, dec("0.04")).expect("held");
        balances.forget(1);
        balances.replace(HashMap::from([(1, dec("0.05"))]));
        assert_eq!(balances.hold(1, dec("1")), Some(dec("0.05")));
    }

    #[test]
    fn a_rebuild_keeps_the_holds() {
        let balances = with_balance(1, dec("0.05"));
        balances.hold(1, dec("0.04")).expect("held");
        balances.replace(HashMap::from([(1, dec("0.06"))]));
        assert_eq!(balances.hold(1, dec("1")), Some(dec("0.02")));
    }

    #[test]
    fn a_free_estimate_holds_nothing_but_needs_a_balance() {
        let balances = with_balance(1, dec("0.01"));
        assert_eq!(balances.hold(1, Decimal::ZERO), Some(Decimal::ZERO));
        assert_eq!(balances.hold(1, dec("-1")), Some(Decimal::ZERO));
        assert_eq!(balances.hold(1, dec("0.01")), Some(dec("0.01")));
    }
}
