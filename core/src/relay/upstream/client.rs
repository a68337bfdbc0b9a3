//! The HTTP clients that reach upstreams: one connection pool per (address guard, proxy) pair,
//! redirects never followed, connect timeout from config, plain-text answers requested (usage is
//! read from them). Built lazily and kept for the life of the process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::guard::PublicOnlyResolver;
use crate::config::LimitsConfig;

/// How long an idle pooled upstream connection is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The channel's proxy URL is not usable.
    #[error("invalid proxy URL: {0}")]
    Proxy(String),
    /// reqwest refused the configuration.
    #[error("HTTP client: {0}")]
    Build(String),
}

/// Key of one pool.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PoolKey {
    guarded: bool,
    proxy: Option<String>,
}

/// The pools, by guard and proxy.
#[derive(Debug)]
pub struct Clients {
    connect_timeout: Duration,
    pools: Mutex<HashMap<PoolKey, reqwest::Client>>,
}

impl Clients {
    /// An empty set; clients are built on first use.
    pub fn new(limits: &LimitsConfig) -> Self {
        Self {
            connect_timeout: Duration::from_secs(limits.connect_timeout_secs),
            pools: Mutex::new(HashMap::new()),
        }
    }

    /// The client for a request: `guarded` when private upstreams are not allowed, through
    /// `proxy` (`http://`, `https://`, `socks5://`, `socks5h://`) when the channel has one.
    pub fn get(&self, guarded: bool, proxy: Option<&str>) -> Result<reqwest::Client, ClientError> {
        let key = PoolKey {
            guarded,
            proxy: proxy.map(str::to_owned),
        };
        if let Ok(pools) = self.pools.lock()
            && let Some(client) = pools.get(&key)
        {
            return Ok(client.clone());
        }
        let client = self.build(&key)?;
        if let Ok(mut pools) = self.pools.lock() {
            pools.entry(key).or_insert_with(|| client.clone());
        }
        Ok(client)
    }

    fn build(&self, key: &PoolKey) -> Result<reqwest::Client, ClientError> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(self.connect_timeout)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .tcp_nodelay(true)
            .no_proxy();
        if key.guarded {
            builder = builder.dns_resolver(Arc::new(PublicOnlyResolver));
        }
        if let Some(proxy) = &key.proxy {
            let proxy =
                reqwest::Proxy::all(proxy).map_err(|e| ClientError::Proxy(e.to_string()))?;
            builder = builder.proxy(proxy);
        }
        builder
            .build()
            .map_err(|e| ClientError::Build(e.to_string()))
    }
}
