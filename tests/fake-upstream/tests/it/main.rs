//! Integration tests of the fake over real HTTP with reqwest: one binary, one module per area.
//! The modules are marked `cfg(test)` so clippy treats their helpers as test code.

#[cfg(test)]
mod binary;
#[cfg(test)]
mod common;
#[cfg(test)]
mod oauth;
#[cfg(test)]
mod routes;
#[cfg(test)]
mod scripts;
