//! Choosing where a request goes: the token's channel groups in order, then promoted channels,
//! then priority, then weight; within a channel the least-loaded healthy credential. A request
//! with a session key prefers the target bound to that session, else orders by weighted
//! rendezvous hashing, so the same session lands on the same channel and credential (and the
//! upstream's prompt cache hits) while that target is healthy. Pure over the table and health.

use std::collections::HashSet;
use std::time::Instant;

use sha2::{Digest, Sha256};

use super::health::{Health, Target};
use super::table::{ChannelKind, ChannelRoute, CredentialRoute, RoutingTable, TokenRoute};
use crate::relay::protocol::Protocol;

/// What is being routed.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The token's groups and allow-list.
    pub token: &'a TokenRoute,
    /// The public model id the client asked for.
    pub model: &'a str,
    /// The client's protocol.
    pub protocol: Protocol,
    /// Session key, if the request carries one.
    pub session: Option<&'a str>,
    /// Model passthrough: channels without a binding may serve any model.
    pub passthrough: bool,
    /// The target this session was bound to, if any.
    pub sticky: Option<(i64, i64)>,
}

/// One place to send the request, in the routing table it was chosen from.
#[derive(Debug, Clone)]
pub struct Pick<'t> {
    /// The channel.
    pub channel: &'t ChannelRoute,
    /// The credential's index in `channel.credentials`.
    pub credential: usize,
    /// The group it was reached through (its multiplier applies).
    pub group_id: i64,
    /// The model name to send upstream; empty for a call about a stored Responses object,
    /// which names none.
    pub upstream_model: String,
}

impl Pick<'_> {
    /// The chosen credential.
    pub fn credential(&self) -> &CredentialRoute {
        &self.channel.credentials[self.credential]
    }
}

/// Why nothing could be chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoTarget {
    /// No channel in the token's groups serves this model and protocol.
    NoChannel,
    /// Channels exist but all are cooling down.
    AllCooling {
        /// The earliest is usable after this many seconds.
        secs: u64,
        /// Every cooldown in the way is a rate limit.
        rate_limited: bool,
    },
}

/// How a candidate ranks, lowest first: not the sticky target, group order, not promoted,
/// negated priority, rendezvous score.
type Rank = (bool, usize, bool, i64, f64);

/// A stable hash of a session key and a target id, mapped into (0, 1].
fn unit_hash(session: &str, id: i64) -> f64 {
    let digest = Sha256::new()
        .chain_update(session.as_bytes())
        .chain_update(id.to_le_bytes())
        .finalize();
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    ((u64::from_le_bytes(bytes) >> 11) as f64 + 1.0) / (1u64 << 53) as f64
}

/// Weighted rendezvous score: lower wins. Weight 0 never wins against a positive weight.
fn score(u: f64, weight: u32) -> f64 {
    if weight == 0 {
        f64::INFINITY
    } else {
        -u.ln() / f64::from(weight)
    }
}

/// The best target not yet tried, or why there is none.
pub fn pick<'t>(
    table: &'t RoutingTable,
    request: &Request<'_>,
    health: &Health,
    tried: &[(i64, i64)],
    now: Instant,
) -> Result<Pick<'t>, NoTarget> {
    // a channel in several of the token's groups is judged once, at its first group
    let mut seen = HashSet::new();
    let several_groups = request.token.groups.len() > 1;
    let mut earliest: Option<Instant> = None;
    let mut rate_limited = true;
    let mut any_channel = false;
    let mut best: Option<(Rank, Pick<'t>)> = None;

    for (group_index, group_id) in request.token.groups.iter().enumerate() {
        let Some(group) = table.groups.get(group_id) else {
            continue;
        };
        for channel_id in &group.channels {
            if several_groups && !seen.insert(*channel_id) {
                continue;
            }
            let Some(channel) = table.channels.get(channel_id) else {
                continue;
            };
            if !channel.serves(request.protocol) || channel.credentials.is_empty() {
                continue;
            }
            let Some(upstream_model) = upstream_model(table, channel.id, request) else {
                continue;
            };
            any_channel = true;
            if let Some(until) = health.channel_blocked_until(channel.id, request.model, now) {
                earliest = Some(earliest.map_or(until, |e| e.min(until)));
                rate_limited &= health.only_rate_limits(
                    &[
                        Target::Channel(channel.id),
                        Target::ChannelModel(channel.id, request.model.to_owned()),
                    ],
                    now,
                );
                continue;
            }
            let credential = match pick_credential(channel, request, health, tried, now) {
                Ok(index) => index,
                Err(Some((until, limited))) => {
                    earliest = Some(earliest.map_or(until, |e| e.min(until)));
                    rate_limited &= limited;
                    continue;
                }
                Err(None) => continue,
            };
            let sticky = request.sticky.is_some_and(|(c, cred)| {
                c == channel.id && channel.credentials[credential].id == cred
            });
            let u = match request.session {
                Some(session) => unit_hash(session, channel.id),
                None => fastrand::f64().max(f64::MIN_POSITIVE),
            };
            // A live sticky target beats every other: the session stays where its upstream
            // cache (or its stored response) is, and yields only while that target is unhealthy.
            let key = (
                !sticky,
                group_index,
                !channel.promoted,
                -channel.priority,
                score(u, channel.weight),
            );
            let better = best.as_ref().is_none_or(|(k, _)| {
                (key.0, key.1, key.2, key.3)
                    .cmp(&(k.0, k.1, k.2, k.3))
                    .then(key.4.total_cmp(&k.4))
                    .is_lt()
            });
            if better {
                let target = Pick {
                    channel,
                    credential,
                    group_id: *group_id,
                    upstream_model,
                };
                best = Some((key, target));
            }
        }
    }
    if let Some((_, target)) = best {
        return Ok(target);
    }
    match earliest {
        Some(until) if any_channel => Err(NoTarget::AllCooling {
            secs: until.saturating_duration_since(now).as_secs().max(1),
            rate_limited,
        }),
        _ => Err(NoTarget::NoChannel),
    }
}

/// The name to send upstream: the binding's rename, the public id for a plain binding, or (in
/// passthrough mode) the public id on any channel.
fn upstream_model(table: &RoutingTable, channel_id: i64, request: &Request<'_>) -> Option<String> {
    match table.models.get(request.model) {
        Some(model) => match model.bindings.get(&channel_id) {
            Some(rename) => Some(rename.clone().unwrap_or_else(|| request.model.to_owned())),
            None if request.passthrough && model.bindings.is_empty() => {
                Some(request.model.to_owned())
            }
            None => None,
        },
        None if request.passthrough => Some(request.model.to_owned()),
        None => None,
    }
}

/// The credential to use: untried and not cooling, fewest in flight, ties broken by the
/// session's rendezvous hash (or at random). `Err(Some((t, limited)))` when all are cooling
/// until `t`, `limited` when every one of those cooldowns is a rate limit.
fn pick_credential(
    channel: &ChannelRoute,
    request: &Request<'_>,
    health: &Health,
    tried: &[(i64, i64)],
    now: Instant,
) -> Result<usize, Option<(Instant, bool)>> {
    let mut earliest: Option<Instant> = None;
    let mut rate_limited = true;
    let mut best: Option<(u32, f64, usize)> = None;
    // loads decide only between credentials, and only when no session key does: summed over
    // the threads in one pass
    let loads = if channel.credentials.len() > 1 && request.session.is_none() {
        let ids: Vec<i64> = channel.credentials.iter().map(|c| c.id).collect();
        health.loads_of(&ids)
    } else {
        Vec::new()
    };
    for (index, credential) in channel.credentials.iter().enumerate() {
        let load = loads.get(index).copied().unwrap_or_default();
        if tried.contains(&(channel.id, credential.id)) {
            continue;
        }
        let target = Target::Credential(credential.id);
        if let Some(until) = health.blocked_until(&target, now) {
            earliest = Some(earliest.map_or(until, |e| e.min(until)));
            rate_limited &= health.only_rate_limits(std::slice::from_ref(&target), now);
            continue;
        }
        let sticky = request.sticky == Some((channel.id, credential.id));
        let inflight = if sticky { 0 } else { load.inflight };
        let tie = match request.session {
            _ if sticky => f64::NEG_INFINITY,
            Some(session) => unit_hash(session, credential.id),
            // ChatGPT accounts share quota windows: spread turns by using the account that has
            // rested longest (never used first).
            None if channel.kind == ChannelKind::CodexOauth => {
                load.last_started.map_or(f64::MIN, |at| {
                    -now.saturating_duration_since(at).as_secs_f64()
                })
            }
            None => fastrand::f64(),
        };
        if best.is_none_or(|(l, t, _)| (inflight, tie) < (l, t)) {
            best = Some((inflight, tie, index));
        }
    }
    best.map(|(_, _, index)| index)
        .ok_or(earliest.map(|until| (until, rate_limited)))
}

#[cfg(test)]
mod tests;
