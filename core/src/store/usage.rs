//! Placeholder: the `usage_events` table arrives with the usage work.
