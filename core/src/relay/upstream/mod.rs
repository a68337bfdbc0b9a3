//! Talking to upstreams: transports, URLs, headers, the address guard and (per channel kind)
//! authentication.

pub mod auth;
pub mod client;
pub mod guard;
pub mod headers;
pub mod origin;
pub mod transport;
pub mod url;
