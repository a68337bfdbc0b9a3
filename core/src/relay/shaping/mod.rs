//! Per-channel request shaping: the typed form of a channel's `settings` JSON (capabilities,
//! organization, proxy, system prompt, reasoning-effort suffixes, field policies, header and body
//! overrides, body allow/deny lists, status mapping, raw passthrough) and applying it to a request.
//! A channel with no shaping forwards the client's bytes untouched.

mod body;
pub mod secrets;
pub mod settings;

pub use body::{Shaped, UsageAsked, rename_gemini_body_models, shape_body};
pub use settings::{
    BodyRule, Capabilities, ChannelSettings, Condition, FieldPolicy, PromptMode, SystemPrompt,
};
