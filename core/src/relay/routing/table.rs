//! The routing table: tokens, models, channels and groups as the hot path needs them, built from
//! the database after every console edit and swapped atomically (`ArcSwap`). Requests never wait
//! on the database and never hold a lock.

use std::collections::HashSet;
use std::sync::Arc;

use rust_decimal::Decimal;

use crate::usage::Prices;

use crate::config::Secret;
use crate::fast_hash::FastMap;
use crate::relay::protocol::Protocol;
use crate::relay::shaping::ChannelSettings;
use crate::relay::upstream::origin::Origin;

/// The kind of an upstream channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelKind {
    /// An OpenAI-compatible API with API keys.
    OpenAiCompatible,
    /// Anthropic with API keys.
    Anthropic,
    /// Gemini with API keys.
    Gemini,
    /// ChatGPT accounts through the Codex backend.
    CodexOauth,
}

impl ChannelKind {
    /// Parses the stored name (`openai_compatible`, `anthropic`, `gemini`, `codex_oauth`).
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "openai_compatible" => Some(Self::OpenAiCompatible),
            "anthropic" => Some(Self::Anthropic),
            "gemini" => Some(Self::Gemini),
            "codex_oauth" => Some(Self::CodexOauth),
            _ => None,
        }
    }

    /// The protocols a channel of this kind speaks natively.
    pub fn native(self, protocol: Protocol) -> bool {
        match self {
            Self::OpenAiCompatible => {
                matches!(
                    protocol,
                    Protocol::Responses | Protocol::Chat | Protocol::Embeddings
                )
            }
            Self::Anthropic => protocol == Protocol::Messages,
            Self::Gemini => protocol == Protocol::Gemini,
            Self::CodexOauth => protocol == Protocol::Responses,
        }
    }
}

/// One usable credential of a channel (disabled ones are left out of the table).
#[derive(Debug, Clone)]
pub struct CredentialRoute {
    /// Credential id.
    pub id: i64,
    /// The opened secret (API key or access token).
    pub secret: Secret,
    /// For a Codex OAuth account: the ChatGPT account id (`chatgpt-account-id`).
    pub account_id: Option<String>,
}

/// A channel as routing sees it.
#[derive(Debug, Clone)]
pub struct ChannelRoute {
    /// Id.
    pub id: i64,
    /// Name, for logs and the console.
    pub name: String,
    /// Kind.
    pub kind: ChannelKind,
    /// Base URL as stored (no trailing slash).
    pub base_url: String,
    /// The base URL taken apart, `None` when it is not a valid URL (requests to it then fail).
    pub origin: Option<Origin>,
    /// Higher first.
    pub priority: i64,
    /// Share of traffic among channels of equal priority.
    pub weight: u32,
    /// Promoted channels go before all others of their group.
    pub promoted: bool,
    /// Protocols switched off for this channel.
    pub disabled_protocols: HashSet<Protocol>,
    /// Enabled credentials.
    pub credentials: Vec<CredentialRoute>,
    /// The channel's shaping settings.
    pub settings: Arc<ChannelSettings>,
}

impl ChannelRoute {
    /// Whether this channel can answer a client of `protocol`.
    pub fn serves(&self, protocol: Protocol) -> bool {
        self.kind.native(protocol) && !self.disabled_protocols.contains(&protocol)
    }
}

/// A catalogue model and where it is bound.
#[derive(Debug, Clone)]
pub struct ModelRoute {
    /// Catalogue id.
    pub id: i64,
    /// What clients send.
    pub public_id: String,
    /// Owner shown in model lists.
    pub owned_by: String,
    /// Whether clients may use it.
    pub enabled: bool,
    /// Prices.
    pub prices: Prices,
    /// Enabled bindings: channel id → upstream model name (`None` = same as public id).
    pub bindings: FastMap<i64, Option<String>>,
    /// Creation time (unix seconds), for model lists.
    pub created: i64,
}

/// A channel group: its price multiplier and every channel in it or in its descendants.
#[derive(Debug, Clone)]
pub struct GroupRoute {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Price multiplier for requests served through it.
    pub multiplier: Decimal,
    /// Channels, own and inherited from child groups.
    pub channels: Vec<i64>,
}

/// A usable token (active, owner active); revoked tokens are not in the table.
#[derive(Debug, Clone)]
pub struct TokenRoute {
    /// Token id.
    pub token_id: i64,
    /// Owner.
    pub user_id: i64,
    /// Expiry, unix ms.
    pub expires_at: Option<i64>,
    /// Allowed models; `None` = all.
    pub models: Option<HashSet<String>>,
    /// Channel groups in failover order.
    pub groups: Vec<i64>,
}

impl TokenRoute {
    /// Whether the token may call `model`.
    pub fn allows_model(&self, model: &str) -> bool {
        self.models.as_ref().is_none_or(|m| m.contains(model))
    }
}

/// Everything the hot path reads.
#[derive(Debug, Clone, Default)]
pub struct RoutingTable {
    /// Channels by id.
    pub channels: FastMap<i64, Arc<ChannelRoute>>,
    /// Models by public id.
    pub models: FastMap<String, Arc<ModelRoute>>,
    /// Groups by id.
    pub groups: FastMap<i64, GroupRoute>,
    /// Tokens by SHA-256 of the key.
    pub tokens: FastMap<[u8; 32], Arc<TokenRoute>>,
}
