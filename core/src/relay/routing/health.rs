//! Health of upstream targets: cooldowns after failures (by channel, channel + model, or
//! credential), the doubling of repeated cooldowns, and in-flight counts for least-loaded
//! selection. In memory, per process; short critical sections, never held across `.await`.
//!
//! Every request asks about cooldowns and counts itself in flight. With no cooldown running the
//! questions are answered from a flag only written when one starts or the last one ends, and the
//! counts are kept per thread (`crate::per_thread`), so serving threads do not take turns
//! owning the same memory on each request; a choice between credentials sums them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::fast_hash::FastMap;
use crate::per_thread::{Padded, PerThread};

/// What a failure cools down.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// The whole channel.
    Channel(i64),
    /// One model on one channel.
    ChannelModel(i64, String),
    /// One credential.
    Credential(i64),
}

/// The longest cooldowns: one doubled on repeats, and one the upstream asked for itself.
#[derive(Debug, Clone, Copy)]
pub struct CooldownCaps {
    /// Cap of the doubling (`routing.max_cooldown_secs`).
    pub doubled: Duration,
    /// Cap of an upstream's own wait (`routing.max_retry_after_secs`).
    pub explicit: Duration,
}

impl CooldownCaps {
    /// The caps the configuration sets.
    pub fn of(config: &crate::config::RoutingConfig) -> Self {
        Self {
            doubled: Duration::from_secs(config.max_cooldown_secs),
            explicit: Duration::from_secs(config.max_retry_after_secs),
        }
    }
}

/// A current cooldown.
#[derive(Debug, Clone)]
pub struct Cooldown {
    /// When it ends.
    pub until: Instant,
    /// Consecutive failures that led here.
    pub strikes: u32,
    /// Why, in a sentence safe to show in the console.
    pub reason: String,
    /// Whether it is a rate limit (an upstream's 429 or usage limit), not a failure.
    pub rate_limit: bool,
}

/// Health state of all targets.
#[derive(Debug, Default)]
pub struct Health {
    /// Standard hasher: a channel-and-model key may carry a model name a client sent (model
    /// passthrough). Looked up only while some cooldown runs.
    cooldowns: Mutex<HashMap<Target, Cooldown>>,
    /// Whether `cooldowns` holds any entry (running or run out); set and cleared under its
    /// lock, read without it.
    cooling: AtomicBool,
    /// Each thread's starts; a guard keeps its thread's slot, as it lives as long as the
    /// answer (a stream's whole body).
    loads: PerThread<Arc<Padded<Mutex<Loads>>>>,
}

/// A credential's load, over all threads.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Load {
    /// Requests in flight.
    pub inflight: u32,
    /// When it last started a request, if it ever did in this process.
    pub last_started: Option<Instant>,
}

/// What one thread's requests started.
#[derive(Debug, Default)]
struct Loads {
    /// Requests in flight, by credential.
    inflight: FastMap<i64, u32>,
    /// When each credential last started a request (least-recently-used choice of accounts).
    last_started: FastMap<i64, Instant>,
}

/// Decrements a credential's in-flight count when dropped: held until the answer is complete,
/// which for a stream is when its body ends.
pub struct InflightGuard {
    loads: Arc<Padded<Mutex<Loads>>>,
    credential: i64,
}

impl std::fmt::Debug for InflightGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InflightGuard")
            .field("credential", &self.credential)
            .finish_non_exhaustive()
    }
}

impl Drop for InflightGuard {
    fn drop(&mut self) {
        if let Ok(mut loads) = self.loads.lock()
            && let Some(count) = loads.inflight.get_mut(&self.credential)
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                loads.inflight.remove(&self.credential);
            }
        }
    }
}

impl Health {
    /// When `target` is usable again, if it is cooling down now.
    pub fn blocked_until(&self, target: &Target, now: Instant) -> Option<Instant> {
        if !self.cooling.load(Ordering::Acquire) {
            return None;
        }
        let map = self.cooldowns.lock().ok()?;
        if map.is_empty() {
            return None;
        }
        map.get(target)
            .map(|c| c.until)
            .filter(|until| *until > now)
    }

    /// When a channel is usable again for `model`: the later of the channel's and the
    /// channel-and-model cooldowns, if either is running now.
    pub fn channel_blocked_until(
        &self,
        channel_id: i64,
        model: &str,
        now: Instant,
    ) -> Option<Instant> {
        if !self.cooling.load(Ordering::Acquire) {
            return None;
        }
        let map = self.cooldowns.lock().ok()?;
        if map.is_empty() {
            return None;
        }
        [
            Target::Channel(channel_id),
            Target::ChannelModel(channel_id, model.to_owned()),
        ]
        .iter()
        .filter_map(|target| map.get(target))
        .map(|c| c.until)
        .filter(|until| *until > now)
        .max()
    }

    /// Whether every cooldown of `targets` running now is a rate limit: when nothing is left to
    /// serve a request, the client is told it is rate limited only if that is the reason.
    pub fn only_rate_limits(&self, targets: &[Target], now: Instant) -> bool {
        let Ok(map) = self.cooldowns.lock() else {
            return false;
        };
        targets
            .iter()
            .filter_map(|target| map.get(target))
            .filter(|c| c.until > now)
            .all(|c| c.rate_limit)
    }

    /// Cools `target` down for `base`, doubled for each consecutive strike up to `caps.doubled`;
    /// an explicit wait (`retry-after`, a quota reset) is used as given up to `caps.explicit`.
    pub fn cool_down(
        &self,
        target: Target,
        base: Duration,
        caps: CooldownCaps,
        explicit: bool,
        reason: String,
        now: Instant,
    ) {
        let Ok(mut map) = self.cooldowns.lock() else {
            return;
        };
        let strikes = map.get(&target).map_or(0, |c| c.strikes) + 1;
        let wait = if explicit {
            base.min(caps.explicit)
        } else {
            let factor = 1u32
                .checked_shl(strikes.saturating_sub(1).min(16))
                .unwrap_or(u32::MAX);
            base.saturating_mul(factor).min(caps.doubled)
        };
        // The caps are at most a year (config validation), so this only fails for caps built
        // by hand; the target then keeps whatever cooldown it had.
        let Some(until) = now.checked_add(wait) else {
            return;
        };
        let rate_limit = reason == crate::relay::error::RelayError::RATE_LIMITED;
        map.insert(
            target,
            Cooldown {
                until,
                strikes,
                reason,
                rate_limit,
            },
        );
        self.cooling.store(true, Ordering::Release);
    }

    /// Notes that `channel` and `credential` just served `model` well: the strikes of their
    /// cooldowns that have run out are cleared, so a later failure starts again from the base
    /// wait. A cooldown still running stays: the success may come from a request sent before
    /// the failure (and a `retry-after` is the upstream's own word), and one model's success
    /// says nothing about another model's cooldown on the same channel.
    pub fn record_success(&self, channel: i64, credential: i64, model: &str, now: Instant) {
        if !self.cooling.load(Ordering::Acquire) {
            return;
        }
        let Ok(mut map) = self.cooldowns.lock() else {
            return;
        };
        for target in [
            Target::Channel(channel),
            Target::Credential(credential),
            Target::ChannelModel(channel, model.to_owned()),
        ] {
            if map.get(&target).is_some_and(|c| c.until <= now) {
                map.remove(&target);
            }
        }
        self.cooling.store(!map.is_empty(), Ordering::Release);
    }

    /// Ends the cooldown of `target` if `lift` says so (e.g. an auth failure after the
    /// credential was renewed), keeping any other.
    pub fn lift(&self, target: &Target, lift: impl FnOnce(&Cooldown) -> bool) {
        let Ok(mut map) = self.cooldowns.lock() else {
            return;
        };
        if map.get(target).is_some_and(lift) {
            map.remove(target);
        }
        self.cooling.store(!map.is_empty(), Ordering::Release);
    }

    /// Requests in flight on a credential, over all threads.
    pub fn inflight(&self, credential: i64) -> u32 {
        self.loads_of(&[credential])[0].inflight
    }

    /// The loads of `credentials`, in their order, over all threads: each thread's map is
    /// locked once, however many credentials are asked about.
    pub fn loads_of(&self, credentials: &[i64]) -> Vec<Load> {
        let mut found = vec![Load::default(); credentials.len()];
        for slot in self.loads.iter() {
            let Ok(slot) = slot.lock() else { continue };
            if slot.last_started.is_empty() {
                continue;
            }
            for (load, id) in found.iter_mut().zip(credentials) {
                load.inflight += slot.inflight.get(id).copied().unwrap_or(0);
                load.last_started = load.last_started.max(slot.last_started.get(id).copied());
            }
        }
        found
    }

    /// Counts a request in flight on `credential` until the guard is dropped.
    pub fn start(&self, credential: i64) -> InflightGuard {
        let loads = self.loads.local();
        if let Ok(mut loads) = loads.lock() {
            *loads.inflight.entry(credential).or_insert(0) += 1;
            loads.last_started.insert(credential, Instant::now());
        }
        InflightGuard {
            loads: Arc::clone(loads),
            credential,
        }
    }

    /// When a credential last started a request, if it ever did in this process.
    pub fn last_started(&self, credential: i64) -> Option<Instant> {
        self.loads_of(&[credential])[0].last_started
    }

    /// Every cooldown still running, for the console.
    pub fn active(&self, now: Instant) -> Vec<(Target, Cooldown)> {
        let Ok(map) = self.cooldowns.lock() else {
            return Vec::new();
        };
        map.iter()
            .filter(|(_, c)| c.until > now)
            .map(|(t, c)| (t.clone(), c.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Caps with `max` for doubled waits and a day for explicit ones.
    fn caps(max: Duration) -> CooldownCaps {
        CooldownCaps {
            doubled: max,
            explicit: Duration::from_secs(86_400),
        }
    }

    #[test]
    fn repeated_failures_double_up_to_the_cap_and_success_resets() {
        let health = Health::default();
        let now = Instant::now();
        let (base, max) = (Duration::from_secs(10), Duration::from_secs(25));
        let target = Target::Channel(1);
        health.cool_down(target.clone(), base, caps(max), false, "500".into(), now);
        assert_eq!(health.blocked_until(&target, now), Some(now + base));
        health.cool_down(target.clone(), base, caps(max), false, "500".into(), now);
        assert_eq!(
            health.blocked_until(&target, now),
            Some(now + Duration::from_secs(20))
        );
        health.cool_down(target.clone(), base, caps(max), false, "500".into(), now);
        assert_eq!(
            health.blocked_until(&target, now),
            Some(now + max),
            "capped"
        );
        assert_eq!(health.blocked_until(&target, now + max), None, "expired");
        health.record_success(1, 9, "m", now + max);
        health.cool_down(target.clone(), base, caps(max), false, "500".into(), now);
        assert_eq!(
            health.blocked_until(&target, now),
            Some(now + base),
            "strikes reset"
        );
    }

    #[test]
    fn a_success_leaves_running_cooldowns_and_other_models_alone() {
        let health = Health::default();
        let now = Instant::now();
        let max = Duration::from_secs(600);
        let wait = Duration::from_secs(30);
        let credential = Target::Credential(9);
        let other_model = Target::ChannelModel(1, "m2".into());
        health.cool_down(credential.clone(), wait, caps(max), true, "429".into(), now);
        health.cool_down(
            other_model.clone(),
            wait,
            caps(max),
            false,
            "404".into(),
            now,
        );
        // a request sent before the 429 succeeds half a second later
        let later = now + Duration::from_millis(500);
        health.record_success(1, 9, "m1", later);
        assert_eq!(
            health.blocked_until(&credential, later),
            Some(now + wait),
            "the upstream's retry-after still holds"
        );
        assert_eq!(
            health.channel_blocked_until(1, "m2", later),
            Some(now + wait),
            "m1 answering says nothing about m2"
        );
    }

    #[test]
    fn explicit_waits_are_taken_as_given() {
        let health = Health::default();
        let now = Instant::now();
        let wait = Duration::from_secs(3600);
        health.cool_down(
            Target::Credential(4),
            wait,
            caps(Duration::from_secs(60)),
            true,
            "quota".into(),
            now,
        );
        assert_eq!(
            health.blocked_until(&Target::Credential(4), now),
            Some(now + wait),
            "the doubling's cap does not apply"
        );
    }

    #[test]
    fn an_explicit_wait_is_cut_to_its_cap_and_a_huge_one_cannot_break_the_cooldowns() {
        let health = Health::default();
        let now = Instant::now();
        let day = Duration::from_secs(86_400);
        let max = Duration::from_secs(60);
        health.cool_down(
            Target::Credential(1),
            Duration::from_secs(u64::MAX),
            caps(max),
            true,
            "429".into(),
            now,
        );
        assert_eq!(
            health.blocked_until(&Target::Credential(1), now),
            Some(now + day)
        );
        let unbounded = CooldownCaps {
            doubled: max,
            explicit: Duration::MAX,
        };
        health.cool_down(
            Target::Credential(2),
            Duration::MAX,
            unbounded,
            true,
            "429".into(),
            now,
        );
        // no panic (which would poison the lock and end every cooldown): the cooldowns still work
        health.cool_down(
            Target::Credential(3),
            max,
            caps(max),
            false,
            "500".into(),
            now,
        );
        assert_eq!(
            health.blocked_until(&Target::Credential(3), now),
            Some(now + max)
        );
    }

    #[test]
    fn a_channel_is_blocked_by_its_own_or_its_model_cooldown_whichever_ends_later() {
        let health = Health::default();
        let now = Instant::now();
        let max = Duration::from_secs(600);
        assert_eq!(health.channel_blocked_until(3, "m", now), None);
        let (short, long) = (Duration::from_secs(5), Duration::from_secs(50));
        health.cool_down(
            Target::Channel(3),
            short,
            caps(max),
            true,
            "500".into(),
            now,
        );
        health.cool_down(
            Target::ChannelModel(3, "m".into()),
            long,
            caps(max),
            true,
            "404".into(),
            now,
        );
        assert_eq!(health.channel_blocked_until(3, "m", now), Some(now + long));
        assert_eq!(
            health.channel_blocked_until(3, "other", now),
            Some(now + short),
            "another model waits only for the channel"
        );
        assert_eq!(health.channel_blocked_until(4, "m", now), None);
        assert_eq!(
            health.channel_blocked_until(3, "other", now + short),
            None,
            "expired"
        );
    }

    #[test]
    fn inflight_counts_follow_guards() {
        let health = Health::default();
        let a = health.start(7);
        let b = health.start(7);
        assert_eq!(health.inflight(7), 2);
        drop(a);
        assert_eq!(health.inflight(7), 1);
        drop(b);
        assert_eq!(health.inflight(7), 0);
    }

    #[test]
    fn counts_and_last_starts_of_every_thread_are_combined() {
        let health = Health::default();
        let here = health.start(7);
        let first = health.last_started(7).expect("started here");
        // another thread's start, and a guard of this thread dropped there
        let there = crate::per_thread::on_the_next_slot(|| {
            drop(here);
            health.start(7)
        });
        assert_eq!(
            health.inflight(7),
            1,
            "the guard dropped there counted down here"
        );
        let later = health.last_started(7).expect("started");
        assert!(later >= first, "the latest start of any thread");
        assert_eq!(
            health.loads_of(&[8, 7]),
            [
                Load::default(),
                Load {
                    inflight: 1,
                    last_started: Some(later)
                }
            ],
            "several credentials in one pass"
        );
        drop(there);
        assert_eq!(health.inflight(7), 0);
        assert_eq!(health.last_started(8), None);
    }

    #[test]
    fn the_no_cooldown_shortcut_follows_the_cooldowns() {
        let health = Health::default();
        let now = Instant::now();
        let base = Duration::from_secs(10);
        let target = Target::Credential(3);
        assert_eq!(health.blocked_until(&target, now), None);
        health.cool_down(target.clone(), base, caps(base), false, "500".into(), now);
        assert_eq!(health.blocked_until(&target, now), Some(now + base));
        assert_eq!(health.channel_blocked_until(1, "m", now), None);
        // the last cooldown cleared: the next one is seen again
        health.record_success(1, 3, "m", now + base);
        assert!(health.active(now).is_empty());
        health.cool_down(
            Target::Channel(1),
            base,
            caps(base),
            false,
            "500".into(),
            now,
        );
        assert_eq!(health.channel_blocked_until(1, "m", now), Some(now + base));
        health.lift(&Target::Channel(1), |_| true);
        assert_eq!(health.channel_blocked_until(1, "m", now), None);
        health.cool_down(target.clone(), base, caps(base), false, "500".into(), now);
        assert_eq!(
            health.blocked_until(&target, now),
            Some(now + base),
            "after a lift"
        );
    }
}
