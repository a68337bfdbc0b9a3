//! Talking to upstreams: URLs, headers, the address guard and (per channel kind) authentication.

pub mod auth;
pub mod client;
pub mod guard;
pub mod headers;
pub mod url;
