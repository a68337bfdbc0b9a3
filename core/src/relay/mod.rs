//! The data plane: `/v1/*` and `/v1beta/*`. A request goes through named phases —
//! authenticate → inspect → resolve model → select route → build upstream request → send → peek
//! the first event → respond (passthrough) → record — and failover loops over select..peek.

pub mod attempt;
pub mod auth;
pub mod codex;
mod deadline;
pub mod dialect;
pub mod error;
mod gather;
pub mod http;
pub mod inbound;
pub mod models;
pub mod pause;
pub mod pipeline;
pub mod protocol;
pub mod record;
pub mod routing;
pub mod shaping;
pub mod state;
pub mod stream;
pub mod upstream;
