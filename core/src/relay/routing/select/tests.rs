use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::config::Secret;
use crate::fast_hash::FastMap;
use crate::relay::routing::health::CooldownCaps;
use crate::relay::routing::table::{ChannelKind, GroupRoute, ModelRoute};
use crate::relay::upstream::origin::Origin;

struct Fixture {
    table: RoutingTable,
    token: TokenRoute,
}

fn channel(
    id: i64,
    kind: ChannelKind,
    priority: i64,
    weight: u32,
    promoted: bool,
    creds: &[i64],
) -> Arc<ChannelRoute> {
    Arc::new(ChannelRoute {
        id,
        name: format!("c{id}"),
        kind,
        base_url: "http://upstream.test".into(),
        origin: Origin::parse("http://upstream.test"),
        priority,
        weight,
        promoted,
        disabled_protocols: HashSet::new(),
        credentials: creds
            .iter()
            .map(|id| CredentialRoute {
                id: *id,
                secret: Secret::new(format!("k{id}")),
                account_id: None,
            })
            .collect(),
        settings: Arc::new(crate::relay::shaping::ChannelSettings::default()),
    })
}

/// `(id, group, priority, weight, promoted, credentials)` of one channel.
type ChannelSpec<'a> = (i64, i64, i64, u32, bool, &'a [i64]);

/// Channels `(id, group, priority, weight, promoted, credentials)`, all bound to `gpt` (channel 3
/// renames it to `gpt-upstream`).
fn fixture(channels: &[ChannelSpec<'_>], token_groups: &[i64]) -> Fixture {
    let mut table = RoutingTable::default();
    let mut bindings = FastMap::default();
    for (id, group, priority, weight, promoted, creds) in channels {
        table.channels.insert(
            *id,
            channel(
                *id,
                ChannelKind::OpenAiCompatible,
                *priority,
                *weight,
                *promoted,
                creds,
            ),
        );
        table
            .groups
            .entry(*group)
            .or_insert_with(|| GroupRoute {
                id: *group,
                name: format!("g{group}"),
                multiplier: 1.into(),
                channels: Vec::new(),
            })
            .channels
            .push(*id);
        bindings.insert(*id, (*id == 3).then(|| "gpt-upstream".to_owned()));
    }
    let model = ModelRoute {
        id: 1,
        public_id: "gpt".into(),
        owned_by: "test".into(),
        enabled: true,
        prices: crate::usage::Prices::default(),
        bindings,
        created: 0,
    };
    table.models.insert("gpt".into(), Arc::new(model));
    let token = TokenRoute {
        token_id: 1,
        user_id: 1,
        expires_at: None,
        models: None,
        groups: token_groups.to_vec(),
    };
    Fixture { table, token }
}

fn request<'a>(token: &'a TokenRoute, session: Option<&'a str>) -> Request<'a> {
    Request {
        token,
        model: "gpt",
        protocol: Protocol::Chat,
        session,
        passthrough: false,
        sticky: None,
    }
}

fn pick_once<'f>(f: &'f Fixture, req: &Request<'_>, health: &Health) -> Result<Pick<'f>, NoTarget> {
    pick(&f.table, req, health, &[], Instant::now())
}

#[test]
fn token_group_order_comes_first() {
    let f = fixture(
        &[(1, 1, 100, 1, true, &[11]), (2, 2, 0, 1, false, &[21])],
        &[2, 1],
    );
    let got = pick_once(&f, &request(&f.token, None), &Health::default()).expect("pick");
    assert_eq!(
        got.channel.id, 2,
        "the token's first group wins over priority in a later group"
    );
    assert_eq!(got.group_id, 2);
}

#[test]
fn promoted_then_priority_within_a_group() {
    let f = fixture(
        &[
            (1, 1, 10, 1, false, &[11]),
            (2, 1, 5, 1, true, &[21]),
            (4, 1, 20, 1, false, &[41]),
        ],
        &[1],
    );
    let health = Health::default();
    assert_eq!(
        pick_once(&f, &request(&f.token, None), &health)
            .expect("pick")
            .channel
            .id,
        2
    );
    let f = fixture(
        &[(1, 1, 10, 1, false, &[11]), (4, 1, 20, 1, false, &[41])],
        &[1],
    );
    assert_eq!(
        pick_once(&f, &request(&f.token, None), &health)
            .expect("pick")
            .channel
            .id,
        4
    );
}

#[test]
fn weights_share_traffic_among_equals() {
    let f = fixture(
        &[(1, 1, 0, 3, false, &[11]), (2, 1, 0, 1, false, &[21])],
        &[1],
    );
    let health = Health::default();
    let firsts = (0..2000)
        .filter(|_| {
            pick_once(&f, &request(&f.token, None), &health)
                .expect("pick")
                .channel
                .id
                == 1
        })
        .count();
    assert!(
        (1350..1650).contains(&firsts),
        "weight 3:1 gave {firsts} of 2000"
    );
}

#[test]
fn a_session_sticks_and_sessions_spread() {
    let f = fixture(
        &[
            (1, 1, 0, 1, false, &[11, 12]),
            (2, 1, 0, 1, false, &[21, 22]),
        ],
        &[1],
    );
    let health = Health::default();
    let first = pick_once(&f, &request(&f.token, Some("session-a")), &health).expect("pick");
    for _ in 0..20 {
        let again = pick_once(&f, &request(&f.token, Some("session-a")), &health).expect("pick");
        assert_eq!(
            (again.channel.id, again.credential().id),
            (first.channel.id, first.credential().id)
        );
    }
    let targets: HashSet<(i64, i64)> = (0..64)
        .map(|i| {
            let session = format!("session-{i}");
            let got = pick_once(&f, &request(&f.token, Some(&session)), &health).expect("pick");
            (got.channel.id, got.credential().id)
        })
        .collect();
    assert!(
        targets.len() >= 3,
        "64 sessions should reach most of the 4 targets: {targets:?}"
    );
}

/// A session bound to a lower-priority channel (it was served there while the higher one
/// rested) stays there: its upstream cache or stored response is there, not on the better one.
#[test]
fn a_stored_binding_beats_priority_and_group_order() {
    let f = fixture(
        &[(1, 1, 10, 1, true, &[11]), (2, 2, 0, 1, false, &[21])],
        &[1, 2],
    );
    let health = Health::default();
    let mut req = request(&f.token, Some("s"));
    assert_eq!(pick_once(&f, &req, &health).expect("pick").channel.id, 1);
    req.sticky = Some((2, 21));
    let pick = pick_once(&f, &req, &health).expect("pick");
    assert_eq!((pick.channel.id, pick.credential().id), (2, 21));
}

#[test]
fn a_stored_binding_wins_while_healthy_and_yields_when_cooling() {
    let f = fixture(
        &[(1, 1, 0, 1, false, &[11]), (2, 1, 0, 1, false, &[21])],
        &[1],
    );
    let health = Health::default();
    let natural = pick_once(&f, &request(&f.token, Some("s")), &health).expect("pick");
    let other = if natural.channel.id == 1 {
        (2, 21)
    } else {
        (1, 11)
    };
    let mut req = request(&f.token, Some("s"));
    req.sticky = Some(other);
    assert_eq!(
        pick_once(&f, &req, &health).expect("pick").channel.id,
        other.0
    );
    health.cool_down(
        Target::Channel(other.0),
        Duration::from_secs(30),
        CooldownCaps::of(&crate::config::RoutingConfig::default()),
        false,
        "500".into(),
        Instant::now(),
    );
    assert_eq!(
        pick_once(&f, &req, &health).expect("pick").channel.id,
        natural.channel.id
    );
}

#[test]
fn cooling_targets_are_skipped_until_all_are_cooling() {
    let f = fixture(
        &[(1, 1, 10, 1, false, &[11]), (2, 1, 0, 1, false, &[21])],
        &[1],
    );
    let health = Health::default();
    let now = Instant::now();
    let ten = Duration::from_secs(10);
    let caps = CooldownCaps::of(&crate::config::RoutingConfig::default());
    let limited = crate::relay::error::RelayError::RATE_LIMITED;
    health.cool_down(Target::Credential(11), ten, caps, true, limited.into(), now);
    assert_eq!(
        pick(&f.table, &request(&f.token, None), &health, &[], now)
            .expect("pick")
            .channel
            .id,
        2
    );
    let five = Duration::from_secs(5);
    let model = Target::ChannelModel(2, "gpt".into());
    health.cool_down(model.clone(), five, caps, true, limited.into(), now);
    let err = pick(&f.table, &request(&f.token, None), &health, &[], now).expect_err("none left");
    assert_eq!(
        err,
        NoTarget::AllCooling {
            secs: 5,
            rate_limited: true
        }
    );
    // one of them failed instead: the client is not told it is rate limited
    health.cool_down(model, five, caps, true, "upstream_failed".into(), now);
    let err = pick(&f.table, &request(&f.token, None), &health, &[], now).expect_err("none left");
    assert_eq!(
        err,
        NoTarget::AllCooling {
            secs: 5,
            rate_limited: false
        }
    );
}

#[test]
fn tried_credentials_fall_back_to_the_next_key_then_channel() {
    let f = fixture(
        &[(1, 1, 10, 1, false, &[11, 12]), (2, 1, 0, 1, false, &[21])],
        &[1],
    );
    let health = Health::default();
    let now = Instant::now();
    let mut tried = Vec::new();
    let first = pick(&f.table, &request(&f.token, None), &health, &tried, now).expect("pick");
    tried.push((1, first.credential().id));
    let second = pick(&f.table, &request(&f.token, None), &health, &tried, now).expect("pick");
    assert_eq!(
        second.channel.id, 1,
        "another key of the best channel first"
    );
    assert_ne!(second.credential().id, first.credential().id);
    tried.push((1, second.credential().id));
    let third = pick(&f.table, &request(&f.token, None), &health, &tried, now).expect("pick");
    assert_eq!(third.channel.id, 2);
    tried.push((2, 21));
    assert_eq!(
        pick(&f.table, &request(&f.token, None), &health, &tried, now).expect_err("exhausted"),
        NoTarget::NoChannel
    );
}

#[test]
fn least_loaded_credential_without_a_session() {
    let f = fixture(&[(1, 1, 0, 1, false, &[11, 12])], &[1]);
    let health = Health::default();
    let _busy = health.start(11);
    for _ in 0..10 {
        assert_eq!(
            pick_once(&f, &request(&f.token, None), &health)
                .expect("pick")
                .credential()
                .id,
            12
        );
    }
}

#[test]
fn bindings_rename_and_decide_reach() {
    let f = fixture(&[(3, 1, 0, 1, false, &[31])], &[1]);
    let health = Health::default();
    assert_eq!(
        pick_once(&f, &request(&f.token, None), &health)
            .expect("pick")
            .upstream_model,
        "gpt-upstream"
    );
    let mut req = request(&f.token, None);
    req.model = "unknown";
    assert_eq!(
        pick_once(&f, &req, &health).expect_err("unbound"),
        NoTarget::NoChannel
    );
    req.passthrough = true;
    assert_eq!(
        pick_once(&f, &req, &health)
            .expect("passthrough")
            .upstream_model,
        "unknown"
    );
}

#[test]
fn channels_serve_only_their_protocols() {
    let mut f = fixture(&[(1, 1, 0, 1, false, &[11])], &[1]);
    f.table
        .channels
        .insert(1, channel(1, ChannelKind::Anthropic, 0, 1, false, &[11]));
    let health = Health::default();
    assert_eq!(
        pick_once(&f, &request(&f.token, None), &health).expect_err("chat"),
        NoTarget::NoChannel
    );
    let mut req = request(&f.token, None);
    req.protocol = Protocol::Messages;
    assert_eq!(
        pick_once(&f, &req, &health).expect("messages").channel.id,
        1
    );
}

#[test]
fn codex_accounts_are_used_least_recently_first() {
    let mut f = fixture(&[(1, 1, 0, 1, false, &[11, 12, 13])], &[1]);
    let mut channel = (*f.table.channels[&1]).clone();
    channel.kind = ChannelKind::CodexOauth;
    f.table.channels.insert(1, Arc::new(channel));
    let health = Health::default();
    let mut req = request(&f.token, None);
    req.protocol = Protocol::Responses;
    let mut order = Vec::new();
    for _ in 0..6 {
        let pick = pick_once(&f, &req, &health).expect("pick");
        let id = pick.credential().id;
        drop(health.start(id));
        order.push(id);
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut first = order[..3].to_vec();
    first.sort_unstable();
    assert_eq!(
        first,
        vec![11, 12, 13],
        "every account once before any twice: {order:?}"
    );
    assert_eq!(
        order[3..],
        order[..3],
        "then in the same rotation: {order:?}"
    );
}
