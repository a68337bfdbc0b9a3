//! Process configuration: built-in defaults < `realms.toml` < `REALMS_*` environment (a `.env` in the
//! working directory is loaded first) < CLI flags. Only what configures the process lives here; what
//! the console edits (channels, models, settings) lives in the database.

mod limits;
mod routing;
mod secret;
mod usage;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

pub use limits::{AuthConfig, LimitsConfig};
pub use routing::RoutingConfig;
pub use secret::Secret;
pub use usage::UsageConfig;

/// The environment prefix of every setting (`REALMS_ADDR`, `REALMS_LIMITS__MAX_BODY_BYTES`, ...).
pub const ENV_PREFIX: &str = "REALMS_";
/// Environment variables with the prefix that are not configuration keys.
const ENV_NOT_CONFIG: &[&str] = &["CONFIG", "BUILD_DATE", "GIT_COMMIT"];
/// The issuer of the Codex CLI's public OAuth client.
pub const DEFAULT_CODEX_OAUTH_ISSUER: &str = "https://auth.openai.com";
/// The config file read from the working directory when `REALMS_CONFIG` / `--config` is not given.
pub const DEFAULT_CONFIG_FILE: &str = "realms.toml";

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A key is unknown or a value has the wrong type; the message names the key.
    #[error("invalid configuration: {0}")]
    Invalid(String),
    /// The platform has no data directory and none was configured.
    #[error("no data directory: set `REALMS_DATA_DIR`")]
    NoDataDir,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object a line, for log collectors.
    Json,
}

/// Most serving threads `serve_threads` may ask for: far above any core count, low enough that a
/// typo cannot exhaust the process's threads.
pub const MAX_SERVE_THREADS: usize = 1024;

/// The effective configuration of one Realms process.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server binds (`REALMS_ADDR`).
    pub addr: SocketAddr,
    /// Where the database, master key and backups live (`REALMS_DATA_DIR`).
    pub data_dir: Option<PathBuf>,
    /// The SQLite file; defaults to `<data_dir>/realms.db` (`REALMS_SQLITE_PATH`).
    pub sqlite_path: Option<PathBuf>,
    /// Bearer key that acts as root on `/api/admin/*` (`REALMS_ADMIN_API_KEY`).
    pub admin_api_key: Option<Secret>,
    /// Name of the root user created at start from `root_password` (`REALMS_ROOT_USERNAME`).
    pub root_username: String,
    /// When set and no root exists, a root user is created with it (`REALMS_ROOT_PASSWORD`).
    pub root_password: Option<Secret>,
    /// 32-byte key (base64 or hex) that seals secrets at rest (`REALMS_MASTER_KEY`).
    pub master_key: Option<Secret>,
    /// Forces self mode on or off, locking the console setting (`REALMS_SELF_MODE`).
    pub self_mode: Option<bool>,
    /// Log filter, e.g. `info` or `realms_core=debug` (`REALMS_LOG`).
    pub log: String,
    /// `text` or `json` (`REALMS_LOG_FORMAT`).
    pub log_format: LogFormat,
    /// Threads that serve connections, each with its own single-threaded runtime; 0 means one
    /// per CPU core (`REALMS_SERVE_THREADS`).
    pub serve_threads: usize,
    /// How many connections the kernel may hold for the server before it accepts them
    /// (`REALMS_LISTEN_BACKLOG`; capped by the system's `net.core.somaxconn`). A connection
    /// beyond it is dropped and its client retries after a second.
    pub listen_backlog: u32,
    /// Sizes and timeouts.
    pub limits: LimitsConfig,
    /// Sessions and login throttling.
    pub auth: AuthConfig,
    /// Upstream selection, failover and cooldowns.
    pub routing: RoutingConfig,
    /// The usage recorder's queue and batches.
    pub usage: UsageConfig,
    /// The OAuth issuer of Codex sign-ins (`REALMS_CODEX_OAUTH_ISSUER`): Realms uses
    /// `{issuer}/oauth/authorize` and `{issuer}/oauth/token`. Point it elsewhere for mirrors and tests.
    pub codex_oauth_issuer: String,
    /// Port of the local callback listener during a Codex sign-in
    /// (`REALMS_CODEX_OAUTH_CALLBACK_PORT`); the public client's redirect is
    /// `http://localhost:1455/auth/callback`. 0 picks a free port (tests only).
    pub codex_oauth_callback_port: u16,
    /// Forces the local callback listener on or off, locking the console setting
    /// (`REALMS_CODEX_OAUTH_LISTENER`).
    pub codex_oauth_listener: Option<bool>,
    /// How often each Codex account's quota is polled, in seconds (`REALMS_CODEX_QUOTA_POLL_SECS`).
    pub codex_quota_poll_secs: u64,
    /// The desktop app's per-launch console secret. `Some` puts the gateway in desktop mode: every
    /// `/api/*` call must carry it in [`crate::desktop::CONSOLE_SECRET_HEADER`] and
    /// `POST /api/desktop/session` signs the local person in. Set only by the desktop shell at
    /// run time: never read from a file or the environment (a key of that name is refused as
    /// unknown) and never printed.
    #[serde(skip)]
    pub desktop_console_secret: Option<Secret>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: None,
            sqlite_path: None,
            admin_api_key: None,
            root_username: "root".into(),
            root_password: None,
            master_key: None,
            self_mode: None,
            log: "info".into(),
            log_format: LogFormat::Text,
            serve_threads: 0,
            listen_backlog: 4096,
            limits: LimitsConfig::default(),
            auth: AuthConfig::default(),
            routing: RoutingConfig::default(),
            usage: UsageConfig::default(),
            codex_oauth_issuer: DEFAULT_CODEX_OAUTH_ISSUER.into(),
            codex_oauth_callback_port: 1455,
            codex_oauth_listener: None,
            codex_quota_poll_secs: 10 * 60,
            desktop_console_secret: None,
        }
    }
}

impl Config {
    /// Loads the configuration from a TOML file (if present), the environment and CLI overrides
    /// (`overrides` is a partial config, usually from clap), then validates it.
    pub fn load(file: Option<&Path>, overrides: &serde_json::Value) -> Result<Self, ConfigError> {
        // `.env` never overrides variables already set in the real environment.
        let _ = dotenvy::dotenv();
        let explicit = file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os(format!("{ENV_PREFIX}CONFIG")).map(PathBuf::from));
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match explicit {
            Some(path) if !path.exists() => {
                return Err(ConfigError::Invalid(format!(
                    "config file `{}` does not exist",
                    path.display()
                )));
            }
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => {
                figment = figment.merge(Toml::file_exact(DEFAULT_CONFIG_FILE));
            }
            None => {}
        }
        let env = Env::prefixed(ENV_PREFIX)
            .ignore(ENV_NOT_CONFIG)
            .split("__")
            .map(|key| key.as_str().to_ascii_lowercase().into());
        figment = figment.merge(env).merge(Serialized::defaults(overrides));
        Self::from_figment(&figment)
    }

    /// Builds a config from defaults and a TOML document only (no environment); for tests and tools.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let figment =
            Figment::from(Serialized::defaults(Config::default())).merge(Toml::string(text));
        Self::from_figment(&figment)
    }

    fn from_figment(figment: &Figment) -> Result<Self, ConfigError> {
        let config: Config = figment.extract().map_err(|errors| {
            let text = errors
                .into_iter()
                .map(|e| {
                    let key = e.path.join(".");
                    if key.is_empty() {
                        e.kind.to_string()
                    } else {
                        format!("`{key}`: {}", e.kind)
                    }
                })
                .collect::<Vec<_>>()
                .join("; ");
            ConfigError::Invalid(text)
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks values that types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.limits.validate()?;
        self.auth.validate()?;
        self.routing.validate()?;
        self.usage.validate()?;
        if self.root_username.trim().is_empty() {
            return Err(ConfigError::Invalid(
                "`root_username` must not be empty".into(),
            ));
        }
        check_issuer(&self.codex_oauth_issuer)?;
        if self.serve_threads > MAX_SERVE_THREADS {
            return Err(ConfigError::Invalid(format!(
                "`serve_threads` must be at most {MAX_SERVE_THREADS} (0 = one per CPU core)"
            )));
        }
        if self.listen_backlog == 0 {
            return Err(ConfigError::Invalid(
                "`listen_backlog` must be greater than 0".into(),
            ));
        }
        if self.codex_quota_poll_secs == 0 {
            return Err(ConfigError::Invalid(
                "`codex_quota_poll_secs` must be greater than 0".into(),
            ));
        }
        if let Some(key) = &self.admin_api_key
            && key.expose().len() < 16
        {
            return Err(ConfigError::Invalid(
                "`admin_api_key` must be at least 16 characters".into(),
            ));
        }
        Ok(())
    }

    /// How many serving threads to start: `serve_threads`, or one per CPU core when it is 0.
    pub fn serve_thread_count(&self) -> usize {
        match self.serve_threads {
            0 => std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
            n => n,
        }
    }

    /// The data directory: the configured one, else the platform's (e.g. `~/.local/share/realms`).
    pub fn resolved_data_dir(&self) -> Result<PathBuf, ConfigError> {
        if let Some(dir) = &self.data_dir {
            return Ok(dir.clone());
        }
        directories::ProjectDirs::from("dev", "realms", "realms")
            .map(|dirs| dirs.data_dir().to_path_buf())
            .ok_or(ConfigError::NoDataDir)
    }

    /// The SQLite database file.
    pub fn resolved_sqlite_path(&self) -> Result<PathBuf, ConfigError> {
        match &self.sqlite_path {
            Some(path) => Ok(path.clone()),
            None => Ok(self.resolved_data_dir()?.join("realms.db")),
        }
    }

    /// The effective configuration as JSON with every secret replaced by `"[redacted]"`.
    /// The desktop console secret is not serialised at all; when set it shows as redacted too.
    pub fn redacted(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if self.desktop_console_secret.is_some()
            && let Some(object) = value.as_object_mut()
        {
            object.insert(
                "desktop_console_secret".into(),
                serde_json::Value::from("[redacted]"),
            );
        }
        value
    }

    /// A configuration for tests: defaults, quick password hashing, nothing from the environment.
    #[cfg(any(test, feature = "test-support"))]
    pub fn test_default() -> Self {
        let mut config = Self::default();
        config.auth.fast_password_hashing = true;
        config
    }
}

/// The issuer must be an `http(s)` URL with a host and no query, user info or fragment: Realms
/// appends `/oauth/...` to it.
fn check_issuer(issuer: &str) -> Result<(), ConfigError> {
    let valid = url::Url::parse(issuer.trim()).is_ok_and(|u| {
        matches!(u.scheme(), "http" | "https")
            && u.host_str().is_some_and(|h| !h.is_empty())
            && u.query().is_none()
            && u.fragment().is_none()
            && u.username().is_empty()
            && u.password().is_none()
    });
    if valid {
        Ok(())
    } else {
        Err(ConfigError::Invalid(
            "`codex_oauth_issuer` must be an http(s) URL with a host, such as `https://auth.openai.com`"
                .into(),
        ))
    }
}

/// Refuses the first of `values` (config key, value) that is 0.
fn require_positive(values: &[(&str, u64)]) -> Result<(), ConfigError> {
    match values.iter().find(|(_, value)| *value == 0) {
        Some((key, _)) => Err(ConfigError::Invalid(format!(
            "`{key}` must be greater than 0"
        ))),
        None => Ok(()),
    }
}

/// Refuses the first of `values` (config key, value) above `max`, described as `max_in_words`.
fn require_at_most(
    values: &[(&str, u64)],
    max: u64,
    max_in_words: &str,
) -> Result<(), ConfigError> {
    match values.iter().find(|(_, value)| *value > max) {
        Some((key, _)) => Err(ConfigError::Invalid(format!(
            "`{key}` must be at most {max} ({max_in_words})"
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bind_loopback() {
        let config = Config::from_toml("").expect("defaults load");
        assert_eq!(config.addr.to_string(), "127.0.0.1:8080");
        assert_eq!(
            config.limits.max_body_bytes,
            LimitsConfig::default().max_body_bytes
        );
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Config::from_toml("adr = \"1.2.3.4:1\"").expect_err("unknown key refused");
        assert!(err.to_string().contains("adr"), "{err}");
    }

    #[test]
    fn invalid_value_names_the_key() {
        let err = Config::from_toml("[limits]\nmax_body_bytes = \"lots\"").expect_err("refused");
        assert!(err.to_string().contains("limits.max_body_bytes"), "{err}");
        let err = Config::from_toml("[limits]\nmax_body_bytes = 0").expect_err("zero refused");
        assert!(err.to_string().contains("max_body_bytes"), "{err}");
        let err = Config::from_toml("[routing]\nmax_retry_after_secs = 99999999999")
            .expect_err("over a year refused");
        assert!(err.to_string().contains("max_retry_after_secs"), "{err}");
        assert!(Config::from_toml("[routing]\nmax_retry_after_secs = 86400").is_ok());
    }

    #[test]
    fn redacted_hides_secrets() {
        let config =
            Config::from_toml("admin_api_key = \"a-very-long-admin-key-123\"").expect("loads");
        let text = config.redacted().to_string();
        assert!(!text.contains("a-very-long-admin-key-123"), "{text}");
        assert!(text.contains("[redacted]"), "{text}");
    }

    #[test]
    fn the_desktop_console_secret_is_never_read_from_a_file_nor_printed() {
        let err = Config::from_toml("desktop_console_secret = \"from-a-file\"")
            .expect_err("a file cannot put the gateway in desktop mode");
        assert!(err.to_string().contains("desktop_console_secret"), "{err}");
        let mut config = Config::from_toml("").expect("defaults");
        assert!(config.desktop_console_secret.is_none());
        config.desktop_console_secret = Some(Secret::new("per-launch-secret-value"));
        let text = config.redacted().to_string();
        assert!(!text.contains("per-launch-secret-value"), "{text}");
        assert!(
            text.contains("\"desktop_console_secret\":\"[redacted]\""),
            "{text}"
        );
    }

    #[test]
    fn codex_issuer_must_be_a_url() {
        let config = Config::from_toml("").expect("defaults");
        assert_eq!(config.codex_oauth_issuer, "https://auth.openai.com");
        let config =
            Config::from_toml("codex_oauth_issuer = \"http://127.0.0.1:9/\"").expect("loopback ok");
        assert_eq!(config.codex_oauth_issuer, "http://127.0.0.1:9/");
        for bad in ["auth.openai.com", "ftp://x.test", "https://x.test/?a=1", ""] {
            let err =
                Config::from_toml(&format!("codex_oauth_issuer = \"{bad}\"")).expect_err("refused");
            assert!(
                err.to_string().contains("codex_oauth_issuer"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn serve_threads_default_to_one_per_core_and_are_bounded() {
        let config = Config::from_toml("").expect("defaults");
        assert_eq!(config.serve_threads, 0);
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        assert_eq!(config.serve_thread_count(), cores);
        let config = Config::from_toml("serve_threads = 3").expect("loads");
        assert_eq!(config.serve_thread_count(), 3);
        let too_many = format!("serve_threads = {}", MAX_SERVE_THREADS + 1);
        let err = Config::from_toml(&too_many).expect_err("refused");
        assert!(err.to_string().contains("serve_threads"), "{err}");
        let err = Config::from_toml("serve_threads = -1").expect_err("refused");
        assert!(err.to_string().contains("serve_threads"), "{err}");
    }

    #[test]
    fn short_admin_key_is_refused() {
        let err = Config::from_toml("admin_api_key = \"short\"").expect_err("refused");
        assert!(err.to_string().contains("admin_api_key"), "{err}");
    }
}
