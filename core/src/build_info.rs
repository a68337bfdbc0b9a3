//! What this binary is: version, git commit and build date, stamped in by `build.rs`.

/// The crate version from the workspace manifest.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git commit the binary was built from, or `unknown` outside a checkout.
pub const GIT_COMMIT: &str = env!("REALMS_GIT_COMMIT");
/// The UTC date of the build (`YYYY-MM-DD`), or `REALMS_BUILD_DATE` when set at build time.
pub const BUILD_DATE: &str = env!("REALMS_BUILD_DATE");

/// One line for `realms --version`.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("REALMS_GIT_COMMIT"),
    ", built ",
    env!("REALMS_BUILD_DATE"),
    ")"
);
