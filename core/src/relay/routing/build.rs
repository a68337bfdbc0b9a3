//! Building the routing table from the database rows: secrets opened with the master key, groups
//! expanded to every channel they or their descendants hold, tokens keyed by hash.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::config::Secret;
use crate::crypto::Sealer;
use crate::fast_hash::FastMap;
use crate::relay::protocol::Protocol;
use crate::relay::shaping::{ChannelSettings, secrets};
use crate::relay::upstream::origin::Origin;
use crate::store::routing::RoutingRows;
use crate::usage::Prices;

use super::table::{
    ChannelKind, ChannelRoute, CredentialRoute, GroupRoute, ModelRoute, RoutingTable, TokenRoute,
};

/// Protocols a channel's settings switch off.
fn disabled_protocols(settings: &ChannelSettings) -> HashSet<Protocol> {
    let caps = &settings.capabilities;
    [
        (caps.responses, Protocol::Responses),
        (caps.chat, Protocol::Chat),
        (caps.embeddings, Protocol::Embeddings),
    ]
    .into_iter()
    .filter(|(on, _)| !on)
    .map(|(_, protocol)| protocol)
    .collect()
}

/// Turns the rows into a table. A credential that does not open with this key is left out and
/// logged (its channel keeps working with the others); it never stops the build.
pub fn build(rows: RoutingRows, sealer: &Sealer) -> RoutingTable {
    let mut credentials: HashMap<i64, Vec<CredentialRoute>> = HashMap::new();
    for row in rows.credentials {
        match sealer.open_str(&row.sealed) {
            Ok(secret) => credentials
                .entry(row.channel_id)
                .or_default()
                .push(CredentialRoute {
                    id: row.id,
                    secret: Secret::new(secret),
                    account_id: rows.codex_accounts.get(&row.id).cloned(),
                }),
            Err(_) => tracing::error!(
                credential_id = row.id,
                "credential does not decrypt; skipped"
            ),
        }
    }

    let mut channels = FastMap::with_capacity_and_hasher(rows.channels.len(), Default::default());
    for row in rows.channels {
        let Some(kind) = ChannelKind::parse(&row.kind) else {
            continue;
        };
        let settings = serde_json::from_str(&row.settings)
            .map_err(|e| e.to_string())
            .and_then(|mut value| {
                secrets::open(&mut value, sealer).map_err(|e| e.to_string())?;
                ChannelSettings::load(&value)
            })
            .unwrap_or_else(|problem| {
                tracing::error!(channel_id = row.id, %problem, "channel settings are invalid; using defaults");
                ChannelSettings::default()
            });
        let mut own = credentials.remove(&row.id).unwrap_or_default();
        if kind == ChannelKind::CodexOauth {
            // The Codex backend needs the account id beside the token: only accounts serve.
            own.retain(|c| c.account_id.is_some());
        }
        let base_url = row.base_url.trim_end_matches('/');
        let channel = ChannelRoute {
            id: row.id,
            name: row.name,
            kind,
            origin: Origin::parse(base_url),
            base_url: base_url.to_owned(),
            priority: row.priority,
            weight: u32::try_from(row.weight.max(0)).unwrap_or(u32::MAX),
            promoted: row.promoted,
            disabled_protocols: disabled_protocols(&settings),
            credentials: own,
            settings: Arc::new(settings),
        };
        channels.insert(row.id, Arc::new(channel));
    }

    let mut bindings: HashMap<i64, FastMap<i64, Option<String>>> = HashMap::new();
    for row in rows.bindings {
        bindings
            .entry(row.model_id)
            .or_default()
            .insert(row.channel_id, row.upstream_model.filter(|m| !m.is_empty()));
    }
    let models = rows
        .models
        .into_iter()
        .map(|row| {
            let [input, output, cached_input, cache_write] = row.prices;
            let model = ModelRoute {
                id: row.id,
                public_id: row.public_id.clone(),
                owned_by: row.owned_by,
                enabled: row.enabled,
                prices: Prices {
                    input_usd_per_1m: input,
                    output_usd_per_1m: output,
                    cached_input_usd_per_1m: cached_input,
                    cache_write_usd_per_1m: cache_write,
                },
                bindings: bindings.remove(&row.id).unwrap_or_default(),
                created: row.created_at / 1000,
            };
            (row.public_id, Arc::new(model))
        })
        .collect();

    let mut direct: HashMap<i64, Vec<i64>> = HashMap::new();
    for (group, channel) in rows.members {
        if channels.contains_key(&channel) {
            direct.entry(group).or_default().push(channel);
        }
    }
    let mut children: HashMap<i64, Vec<i64>> = HashMap::new();
    for group in &rows.groups {
        if let Some(parent) = group.parent_id {
            children.entry(parent).or_default().push(group.id);
        }
    }
    let groups = rows
        .groups
        .iter()
        .map(|group| {
            let mut members = Vec::new();
            let mut visited = HashSet::new();
            let mut stack = vec![group.id];
            while let Some(id) = stack.pop() {
                if !visited.insert(id) {
                    continue;
                }
                for channel in direct.get(&id).into_iter().flatten() {
                    if !members.contains(channel) {
                        members.push(*channel);
                    }
                }
                stack.extend(children.get(&id).into_iter().flatten());
            }
            members.sort_unstable();
            let route = GroupRoute {
                id: group.id,
                name: group.name.clone(),
                multiplier: group.multiplier,
                channels: members,
            };
            (group.id, route)
        })
        .collect();

    let tokens = rows
        .tokens
        .into_iter()
        .filter_map(|row| {
            let hash: [u8; 32] = row.key_hash.try_into().ok()?;
            let models = row
                .models
                .and_then(|text| serde_json::from_str::<Vec<String>>(&text).ok())
                .map(|list| list.into_iter().collect());
            let token = TokenRoute {
                token_id: row.id,
                user_id: row.user_id,
                expires_at: row.expires_at,
                models,
                groups: row.groups,
            };
            Some((hash, Arc::new(token)))
        })
        .collect();

    RoutingTable {
        channels,
        models,
        groups,
        tokens,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Store, routing};

    #[tokio::test]
    async fn rows_become_a_table() {
        let store = Store::open_in_memory().expect("store");
        let sealer = Sealer::random().expect("key");
        let (good, bad) = (
            sealer.seal_str("sk-live-1").expect("seal"),
            Sealer::random().expect("k").seal_str("x").expect("seal"),
        );
        store
            .write(move |tx| {
                tx.execute_batch(
                    "INSERT INTO channel_groups (id, name, parent_id, price_multiplier, created_at, updated_at)
                       VALUES (2, 'child', 1, '1.5', 0, 0), (3, 'other', NULL, '2', 0, 0);
                     INSERT INTO channels (id, name, kind, base_url, settings, created_at, updated_at)
                       VALUES (10, 'a', 'openai_compatible', 'http://a.test/v1/', '{\"capabilities\":{\"embeddings\":false}}', 0, 0),
                              (11, 'b', 'anthropic', 'http://b.test', '{}', 0, 0);
                     INSERT INTO channels (id, name, kind, base_url, status, created_at, updated_at)
                       VALUES (12, 'off', 'gemini', 'http://c.test', 'disabled', 0, 0);
                     INSERT INTO channel_group_members VALUES (2, 10), (1, 11), (3, 12);
                     INSERT INTO models (id, public_id, input_usd_per_1m, created_at, updated_at) VALUES (5, 'gpt', '1.25', 0, 0);
                     INSERT INTO channel_models (channel_id, model_id, upstream_model, created_at) VALUES (10, 5, 'gpt-up', 0);
                     INSERT INTO users (id, username, email, password_hash, role, created_at, updated_at)
                       VALUES (1, 'u', 'u@x.test', 'h', 'user', 0, 0);
                     INSERT INTO user_group_channel_groups VALUES (1, 2);",
                )?;
                tx.execute(
                    "INSERT INTO credentials (id, channel_id, secret_sealed, hint, created_at, updated_at) VALUES (100, 10, ?1, 'h', 0, 0)",
                    [&good],
                )?;
                tx.execute(
                    "INSERT INTO credentials (id, channel_id, secret_sealed, hint, created_at, updated_at) VALUES (101, 10, ?1, 'h', 0, 0)",
                    [&bad],
                )?;
                tx.execute(
                    "INSERT INTO tokens (id, user_id, name, key_hash, key_sealed, hint, created_at) VALUES (7, 1, 't', ?1, x'00', 'h', 0)",
                    [&[7u8; 32][..]],
                )?;
                tx.execute(
                    "INSERT INTO tokens (id, user_id, name, key_hash, key_sealed, hint, created_at) VALUES (8, 1, 't2', ?1, x'00', 'h', 0)",
                    [&[8u8; 32][..]],
                )?;
                tx.execute_batch(
                    "INSERT INTO token_channel_groups VALUES (8, 3, 0), (8, 2, 1);
                     UPDATE tokens SET own_channel_groups = 1 WHERE id = 8;",
                )?;
                Ok(())
            })
            .await
            .expect("seed");
        let rows = store.read(routing::load).await.expect("load");
        let table = build(rows, &sealer);

        let a = &table.channels[&10];
        assert_eq!(a.base_url, "http://a.test/v1");
        assert_eq!(
            a.credentials.len(),
            1,
            "the credential sealed with another key is skipped"
        );
        assert_eq!(a.credentials[0].secret.expose(), "sk-live-1");
        assert!(!a.serves(Protocol::Embeddings) && a.serves(Protocol::Chat));
        assert!(
            !table.channels.contains_key(&12),
            "disabled channels are not routed"
        );
        assert_eq!(
            table.groups[&1].channels,
            vec![10, 11],
            "a parent group holds its child's channels"
        );
        assert_eq!(table.groups[&2].multiplier.to_string(), "1.5");
        assert_eq!(table.models["gpt"].bindings[&10].as_deref(), Some("gpt-up"));
        assert_eq!(
            table.tokens[&[7u8; 32]].groups,
            vec![1, 2],
            "no own order: the user group's groups"
        );
        assert_eq!(
            table.tokens[&[8u8; 32]].groups,
            vec![2],
            "own order filtered to what the user may use"
        );
    }
}
