//! Bulk reads for the relay's routing table: every enabled channel, credential, model, binding,
//! group and usable token in one read transaction, as plain rows. Runs after each console edit,
//! never on the request path.

use std::collections::HashMap;

use rusqlite::Row;
use rust_decimal::Decimal;

use super::row::decimal;
use super::{Conn, StoreError};

/// An enabled channel.
#[derive(Debug, Clone)]
pub struct ChannelRow {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Stored kind name.
    pub kind: String,
    /// Base URL.
    pub base_url: String,
    /// Priority.
    pub priority: i64,
    /// Weight.
    pub weight: i64,
    /// Promoted.
    pub promoted: bool,
    /// Settings JSON text.
    pub settings: String,
}

/// An enabled credential's sealed secret.
#[derive(Debug, Clone)]
pub struct CredentialRow {
    /// Id.
    pub id: i64,
    /// Channel.
    pub channel_id: i64,
    /// Sealed secret.
    pub sealed: Vec<u8>,
}

/// A catalogue model.
#[derive(Debug, Clone)]
pub struct ModelRow {
    /// Id.
    pub id: i64,
    /// Public id.
    pub public_id: String,
    /// Owner.
    pub owned_by: String,
    /// Enabled.
    pub enabled: bool,
    /// Prices per 1M: input, output, cached input, cache write.
    pub prices: [Decimal; 4],
    /// Created, unix ms.
    pub created_at: i64,
}

/// An enabled binding.
#[derive(Debug, Clone)]
pub struct BindingRow {
    /// Channel.
    pub channel_id: i64,
    /// Model.
    pub model_id: i64,
    /// Rename, if any.
    pub upstream_model: Option<String>,
}

/// A channel group.
#[derive(Debug, Clone)]
pub struct GroupRow {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Parent.
    pub parent_id: Option<i64>,
    /// Multiplier.
    pub multiplier: Decimal,
}

/// An active token of an active user, with its group order.
#[derive(Debug, Clone)]
pub struct TokenRow {
    /// Token id.
    pub id: i64,
    /// Owner.
    pub user_id: i64,
    /// SHA-256 of the key.
    pub key_hash: Vec<u8>,
    /// Expiry, unix ms.
    pub expires_at: Option<i64>,
    /// Allow-list JSON text.
    pub models: Option<String>,
    /// Channel groups in order (the token's own, else its user group's).
    pub groups: Vec<i64>,
}

/// Everything the routing table is built from.
#[derive(Debug, Clone, Default)]
pub struct RoutingRows {
    /// Enabled channels.
    pub channels: Vec<ChannelRow>,
    /// Enabled credentials of those channels.
    pub credentials: Vec<CredentialRow>,
    /// All models (disabled ones too, so clients get "disabled" rather than "unknown").
    pub models: Vec<ModelRow>,
    /// Enabled bindings.
    pub bindings: Vec<BindingRow>,
    /// All channel groups.
    pub groups: Vec<GroupRow>,
    /// (group, channel) memberships.
    pub members: Vec<(i64, i64)>,
    /// Usable tokens.
    pub tokens: Vec<TokenRow>,
    /// Codex OAuth accounts: credential id → ChatGPT account id. A `codex_oauth` channel is
    /// served only by credentials listed here.
    pub codex_accounts: HashMap<i64, String>,
}

fn collect<T>(
    c: &Conn,
    sql: &str,
    map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = c.prepare(sql)?;
    let rows = stmt.query_map([], map)?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

fn money(row: &Row<'_>, index: usize) -> rusqlite::Result<Decimal> {
    decimal(row.get_ref(index)?.as_str()?).map_err(|e| super::row::decode_err(index, e))
}

/// Reads every row the routing table needs.
pub fn load(c: &Conn) -> Result<RoutingRows, StoreError> {
    let channels = collect(
        c,
        "SELECT id, name, kind, base_url, priority, weight, promoted, settings FROM channels \
         WHERE status = 'enabled'",
        |r| {
            Ok(ChannelRow {
                id: r.get(0)?,
                name: r.get(1)?,
                kind: r.get(2)?,
                base_url: r.get(3)?,
                priority: r.get(4)?,
                weight: r.get(5)?,
                promoted: r.get(6)?,
                settings: r.get(7)?,
            })
        },
    )?;
    let credentials = collect(
        c,
        "SELECT cr.id, cr.channel_id, cr.secret_sealed FROM credentials cr \
         JOIN channels ch ON ch.id = cr.channel_id \
         WHERE cr.status = 'enabled' AND ch.status = 'enabled' ORDER BY cr.id",
        |r| {
            Ok(CredentialRow {
                id: r.get(0)?,
                channel_id: r.get(1)?,
                sealed: r.get(2)?,
            })
        },
    )?;
    let models = collect(
        c,
        "SELECT id, public_id, owned_by, enabled, input_usd_per_1m, output_usd_per_1m, \
         cached_input_usd_per_1m, cache_write_usd_per_1m, created_at FROM models",
        |r| {
            Ok(ModelRow {
                id: r.get(0)?,
                public_id: r.get(1)?,
                owned_by: r.get(2)?,
                enabled: r.get(3)?,
                prices: [money(r, 4)?, money(r, 5)?, money(r, 6)?, money(r, 7)?],
                created_at: r.get(8)?,
            })
        },
    )?;
    let bindings = collect(
        c,
        "SELECT channel_id, model_id, upstream_model FROM channel_models WHERE enabled = 1",
        |r| {
            Ok(BindingRow {
                channel_id: r.get(0)?,
                model_id: r.get(1)?,
                upstream_model: r.get(2)?,
            })
        },
    )?;
    let groups = collect(
        c,
        "SELECT id, name, parent_id, price_multiplier FROM channel_groups",
        |r| {
            Ok(GroupRow {
                id: r.get(0)?,
                name: r.get(1)?,
                parent_id: r.get(2)?,
                multiplier: money(r, 3)?,
            })
        },
    )?;
    let members = collect(
        c,
        "SELECT channel_group_id, channel_id FROM channel_group_members",
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let mut tokens = collect(
        c,
        "SELECT t.id, t.user_id, t.key_hash, t.expires_at, t.models, t.own_channel_groups \
         FROM tokens t JOIN users u ON u.id = t.user_id \
         WHERE t.status = 'active' AND u.status = 'active'",
        |r| {
            Ok((
                TokenRow {
                    id: r.get(0)?,
                    user_id: r.get(1)?,
                    key_hash: r.get(2)?,
                    expires_at: r.get(3)?,
                    models: r.get(4)?,
                    groups: Vec::new(),
                },
                r.get::<_, bool>(5)?,
            ))
        },
    )?;
    let token_groups: Vec<(i64, i64)> = collect(
        c,
        "SELECT token_id, channel_group_id FROM token_channel_groups ORDER BY token_id, position",
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let user_groups: Vec<(i64, i64)> = collect(
        c,
        "SELECT u.id, g.channel_group_id FROM users u \
         JOIN user_group_channel_groups g ON g.user_group_id = u.user_group_id \
         ORDER BY u.id, g.channel_group_id",
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let mut own: HashMap<i64, Vec<i64>> = HashMap::new();
    for (token, group) in token_groups {
        own.entry(token).or_default().push(group);
    }
    let mut allowed: HashMap<i64, Vec<i64>> = HashMap::new();
    for (user, group) in user_groups {
        allowed.entry(user).or_default().push(group);
    }
    for (token, has_own) in &mut tokens {
        let allowed = allowed
            .get(&token.user_id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        // A token's own order applies within what its user's group allows today; the user group
        // may have changed since the token was made. An own list whose groups were all deleted
        // stays empty: it must not widen to every group the user may use.
        token.groups = if *has_own {
            own.get(&token.id)
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .copied()
                .filter(|g| allowed.contains(g))
                .collect()
        } else {
            allowed.to_vec()
        };
    }
    let tokens = tokens.into_iter().map(|(token, _)| token).collect();
    let codex_accounts = collect(c, "SELECT id, account_id FROM codex_accounts", |r| {
        Ok((r.get(0)?, r.get(1)?))
    })?
    .into_iter()
    .collect();
    Ok(RoutingRows {
        codex_accounts,
        channels,
        credentials,
        models,
        bindings,
        groups,
        members,
        tokens,
    })
}
