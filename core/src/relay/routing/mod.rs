//! Routing: the immutable table the hot path reads (swapped whole on every console edit), the
//! selection of a channel and credential, health and cooldowns, and failure classification.

pub mod build;
pub mod failover;
pub mod health;
pub mod select;
pub mod sticky;
pub mod table;
