//! The data plane. Only the pure protocol knowledge is here so far; the pipeline (authenticate →
//! parse → route → send → peek → respond → record) joins it in its own modules.

pub mod protocol;
