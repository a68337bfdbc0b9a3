//! Usage accounting that needs no I/O: the normalised token counts every protocol is reduced to
//! and the cost of a call. The recorder task and the `usage_events` table live elsewhere
//! (`usage::recorder`, `store::usage`); nothing here touches the database or the network.

pub mod balances;
pub mod cost;
pub mod pending_owners;
pub mod raw;
pub mod recorder;
pub mod tokens;

pub use cost::{Prices, cost};
pub use raw::RawUsage;
pub use tokens::TokenUsage;
