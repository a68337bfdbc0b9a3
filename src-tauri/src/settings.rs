//! Where the desktop app keeps its data and how it builds the gateway's configuration: the data
//! directory (`REALMS_DATA_DIR`, else the platform's data dir for "Realms Desktop", apart from
//! the headless server's), the desktop's own preferences (`desktop.json`: the port the tray can
//! change) and the core `Config` read from `realms.toml` in that directory plus `REALMS_*`
//! variables, with what the desktop always sets (127.0.0.1, self mode) on top. No I/O beyond
//! these two files; starting anything belongs to `gateway`.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::Context;
use realms_core::Config;
use serde::{Deserialize, Serialize};

/// The port the gateway listens on unless the person picked another in the tray.
pub const DEFAULT_PORT: u16 = 8080;
/// The desktop preferences file inside the data directory.
pub const SETTINGS_FILE: &str = "desktop.json";
/// The process configuration file inside the data directory (same format as the server's).
pub const CONFIG_FILE: &str = "realms.toml";
/// Environment variable that moves the data directory (the same one the server reads).
pub const DATA_DIR_ENV: &str = "REALMS_DATA_DIR";

/// Written once so the person finds where the process settings go; every key is optional.
const CONFIG_TEMPLATE: &str = "\
# Realms Desktop: process settings, the same keys as the server's `realms.toml` (see the README).
# The desktop app always listens on 127.0.0.1 in self mode; pick the port in the tray menu.
# Examples:
# log = \"info\"
# [limits]
# shutdown_grace_secs = 30
";

/// The desktop app's own preferences, kept in [`SETTINGS_FILE`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DesktopSettings {
    /// The gateway's port on 127.0.0.1; external tools are pointed at it, so it stays stable.
    pub port: u16,
}

impl Default for DesktopSettings {
    fn default() -> Self {
        Self { port: DEFAULT_PORT }
    }
}

impl DesktopSettings {
    /// Reads the preferences from `dir`; a missing file means the defaults.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(SETTINGS_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
        };
        let settings: Self = serde_json::from_str(&text)
            .with_context(|| format!("`{}` is not valid", path.display()))?;
        if settings.port == 0 {
            anyhow::bail!("`{}`: `port` must be between 1 and 65535", path.display());
        }
        Ok(settings)
    }

    /// Writes the preferences to `dir`, replacing the file in one step (write, then rename).
    pub fn save(&self, dir: &Path) -> anyhow::Result<()> {
        let path = dir.join(SETTINGS_FILE);
        let partial = dir.join(format!("{SETTINGS_FILE}.partial"));
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(&partial, text).with_context(|| format!("writing {}", partial.display()))?;
        std::fs::rename(&partial, &path).with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }
}

/// The data directory: `REALMS_DATA_DIR`, else the platform's data directory of "Realms
/// Desktop" (on Linux `~/.local/share/realms-desktop`), never the headless server's.
pub fn data_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os(DATA_DIR_ENV).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    directories::ProjectDirs::from("app", "Realms", "Realms-Desktop")
        .map(|dirs| dirs.data_dir().to_path_buf())
        .context("this system reports no home directory; set `REALMS_DATA_DIR`")
}

/// Creates [`CONFIG_FILE`] with comments only when it does not exist, so `Config::load` reads
/// the data directory's file and never one from wherever the app was started.
pub fn ensure_config_file(dir: &Path) -> anyhow::Result<PathBuf> {
    let path = dir.join(CONFIG_FILE);
    if !path.exists() {
        std::fs::write(&path, CONFIG_TEMPLATE)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(path)
}

/// The gateway's configuration: defaults < `<dir>/realms.toml` < `REALMS_*` variables, then
/// what the desktop fixes: listen on `127.0.0.1:port`, this data directory, self mode.
pub fn core_config(dir: &Path, port: u16) -> anyhow::Result<Config> {
    let file = ensure_config_file(dir)?;
    let overrides = serde_json::json!({
        "addr": SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        "data_dir": dir,
        "self_mode": true,
    });
    Config::load(Some(&file), &overrides).context("loading the configuration")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_means_defaults_and_saved_settings_load_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let loaded = DesktopSettings::load(dir.path()).expect("defaults");
        assert_eq!(loaded.port, DEFAULT_PORT);

        let chosen = DesktopSettings { port: 18_081 };
        chosen.save(dir.path()).expect("save");
        assert_eq!(DesktopSettings::load(dir.path()).expect("load"), chosen);
        assert!(!dir.path().join(format!("{SETTINGS_FILE}.partial")).exists());
    }

    #[test]
    fn unknown_keys_and_port_zero_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        for (text, needle) in [(r#"{"prot": 1}"#, "prot"), (r#"{"port": 0}"#, "port")] {
            std::fs::write(dir.path().join(SETTINGS_FILE), text).expect("write");
            let err = format!("{:#}", DesktopSettings::load(dir.path()).expect_err(text));
            assert!(
                err.contains(SETTINGS_FILE) && err.contains(needle),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn core_config_listens_on_loopback_in_self_mode_and_keeps_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let toml = dir.path().join(CONFIG_FILE);
        std::fs::write(&toml, "log = \"debug\"\n").expect("write");
        let config = core_config(dir.path(), 18_082).expect("config");
        assert_eq!(config.addr, SocketAddr::from((Ipv4Addr::LOCALHOST, 18_082)));
        assert_eq!(config.self_mode, Some(true));
        assert_eq!(config.data_dir.as_deref(), Some(dir.path()));
        assert_eq!(
            config.log, "debug",
            "the data directory's realms.toml is read"
        );
        assert_eq!(
            std::fs::read_to_string(&toml).expect("read"),
            "log = \"debug\"\n",
            "an existing file is never rewritten"
        );
    }

    #[test]
    fn a_missing_config_file_is_created_with_comments_only() {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = core_config(dir.path(), DEFAULT_PORT).expect("config");
        let text = std::fs::read_to_string(dir.path().join(CONFIG_FILE)).expect("created");
        assert!(text.lines().all(|l| l.is_empty() || l.starts_with('#')));
        assert_eq!(config.log, Config::default().log);
    }
}
