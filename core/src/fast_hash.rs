//! Hash maps of the request path ([`FastMap`]): their keys are ids, token hashes, hosts and
//! names the operator configured, so a fast hasher (foldhash, seeded per process) replaces the
//! standard library's SipHash, which cost more than the lookups themselves. Maps whose keys a
//! client can choose (sticky session keys, cooldowns by channel and model name) keep the
//! standard hasher.

/// A `HashMap` with foldhash's fast hasher; build it with `FastMap::default()`.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
