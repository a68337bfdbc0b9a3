//! Setting up AI coding tools to use Realms, for the desktop tray's "Set up Codex CLI / Claude
//! Code / Gemini CLI": which file changes ([`plan`], for the confirmation), writing it
//! ([`apply`]), putting back what was there ([`undo`]) and whether a set-up is in place
//! ([`is_applied`]). File work over the `home` folder passed in; no database, network or `tauri`.
//!
//! | tool | file (under `home`) | what is set |
//! |---|---|---|
//! | Codex CLI | `.codex/config.toml` | `model_provider = "realms"`, `[model_providers.realms]` with `base_url = "<root>/v1"`, `wire_api = "responses"`, the token as `experimental_bearer_token` |
//! | Claude Code | `.claude/settings.json` | `env.ANTHROPIC_BASE_URL = "<root>"`, `env.ANTHROPIC_AUTH_TOKEN`; `env.ANTHROPIC_API_KEY` removed |
//! | Gemini CLI | `.gemini/.env` | `GOOGLE_GEMINI_BASE_URL=<root>`, `GEMINI_API_KEY=<token>` |
//!
//! `CODEX_HOME` is deliberately not followed: the desktop app is started by the desktop session,
//! which does not see variables exported in shell start-up files, so it could not know the value
//! the person's terminal uses. Whoever sets `CODEX_HOME` can copy the provider from the guide.
//!
//! How it is safe to use on someone's real files:
//! - the file is merged, never replaced: unrelated settings (and, for TOML, comments and order)
//!   stay; a file that does not parse is refused with the reason and nothing is changed;
//! - before the first change the file is copied into `realms-backup/` beside it, with a manifest
//!   saying whether it existed and its permissions; applying again re-merges but keeps that
//!   first backup, so the person's original is never overwritten by Realms' own output;
//! - undo puts the original back byte for byte (or removes the file if there was none) and
//!   removes the backup; if the file was edited after the set-up, that version is kept as
//!   `<file>.before-realms-undo` rather than lost;
//! - the written file holds the token, so it is owner-only (0600) on unix; writes are atomic,
//!   and a symbolic link is followed so dotfile links stay links.

mod claude;
mod codex;
mod files;
mod gemini;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use files::{BACKUP_DIR, MANIFEST_VERSION, Manifest, SET_ASIDE_SUFFIX};

/// A tool Realms can set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientTool {
    /// OpenAI's Codex CLI.
    CodexCli,
    /// Anthropic's Claude Code.
    ClaudeCode,
    /// Google's Gemini CLI.
    GeminiCli,
}

impl ClientTool {
    /// Every tool, in menu order.
    pub const ALL: [Self; 3] = [Self::CodexCli, Self::ClaudeCode, Self::GeminiCli];

    /// The name people know it by.
    pub fn display_name(self) -> &'static str {
        match self {
            Self::CodexCli => "Codex CLI",
            Self::ClaudeCode => "Claude Code",
            Self::GeminiCli => "Gemini CLI",
        }
    }

    /// The tool's folder under the home folder.
    fn dir_name(self) -> &'static str {
        match self {
            Self::CodexCli => ".codex",
            Self::ClaudeCode => ".claude",
            Self::GeminiCli => ".gemini",
        }
    }

    /// The file set up, inside [`Self::dir_name`].
    fn file_name(self) -> &'static str {
        match self {
            Self::CodexCli => "config.toml",
            Self::ClaudeCode => "settings.json",
            Self::GeminiCli => ".env",
        }
    }

    /// The file's format, for error messages.
    fn format(self) -> &'static str {
        match self {
            Self::CodexCli => "TOML",
            Self::ClaudeCode => "JSON",
            Self::GeminiCli => "a .env file",
        }
    }

    /// The file this tool's set-up writes.
    pub fn config_path(self, home: &Path) -> PathBuf {
        home.join(self.dir_name()).join(self.file_name())
    }

    fn backup_dir(self, home: &Path) -> PathBuf {
        home.join(self.dir_name()).join(BACKUP_DIR)
    }

    /// What the set-up sets, in words (never the token).
    fn changes(self, root: &str) -> Vec<String> {
        match self {
            Self::CodexCli => vec![
                format!("sets `model_provider = \"{}\"`", codex::PROVIDER_ID),
                format!(
                    "adds `[model_providers.{}]` with base URL {root}/v1, the Responses API and \
                     your Realms desktop token",
                    codex::PROVIDER_ID
                ),
            ],
            Self::ClaudeCode => vec![
                format!("sets `env.{}` to {root}", claude::BASE_URL_VAR),
                format!(
                    "sets `env.{}` to your Realms desktop token",
                    claude::TOKEN_VAR
                ),
                format!(
                    "removes `env.{}` while Realms is set up, so your Anthropic key is not sent along",
                    claude::API_KEY_VAR
                ),
            ],
            Self::GeminiCli => vec![
                format!("sets `{}={root}`", gemini::BASE_URL_VAR),
                format!(
                    "sets `{}` to your Realms desktop token",
                    gemini::API_KEY_VAR
                ),
                "choose \"Use Gemini API key\" when Gemini CLI asks how to sign in".into(),
            ],
        }
    }

    /// `existing` merged with Realms' settings.
    fn merge(self, existing: &str, root: &str, token: &str) -> Result<String, String> {
        match self {
            Self::CodexCli => codex::merge(existing, &format!("{root}/v1"), token),
            Self::ClaudeCode => claude::merge(existing, root, token),
            Self::GeminiCli => gemini::merge(existing, root, token),
        }
    }
}

/// Why a set-up or an undo could not be done. Messages never include the token or the files'
/// contents.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The existing file does not parse; nothing was changed.
    #[error("`{}` is not valid {format}: {reason}; fix or move it, then try again (nothing was changed)", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// Its format.
        format: &'static str,
        /// What is wrong, with a line number where there is one.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error("`{}`: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Realms' record of an earlier set-up is unreadable.
    #[error("the Realms set-up record `{}` is unreadable: {reason}", path.display())]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Undo was asked for a tool Realms has not set up.
    #[error("{0} is not set up by Realms: nothing to undo")]
    NotApplied(&'static str),
    /// The base URL is not an http(s) URL.
    #[error("the base URL must be an http(s) URL such as `http://127.0.0.1:8080`")]
    InvalidBaseUrl,
    /// The token is not a Realms `sk_` token.
    #[error("the token must be a Realms `sk_` token")]
    InvalidToken,
}

/// One file a set-up writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedFile {
    /// The file.
    pub path: PathBuf,
    /// Whether it exists now (then it is changed, else created).
    pub exists: bool,
    /// Where the original is kept until undo (`None` when there is nothing to keep, or when an
    /// earlier set-up already keeps it).
    pub backup: Option<PathBuf>,
}

/// What [`apply`] would do, for the confirmation dialog. Holds no secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetupPlan {
    /// The tool.
    pub tool: ClientTool,
    /// The files written.
    pub files: Vec<PlannedFile>,
    /// What is set, one short sentence each.
    pub changes: Vec<String>,
    /// Whether Realms has already set this tool up (applying again refreshes it).
    pub already_applied: bool,
    /// The whole plan as a few sentences.
    pub summary: String,
}

/// What [`apply`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetupOutcome {
    /// The tool.
    pub tool: ClientTool,
    /// The files written.
    pub files_written: Vec<PathBuf>,
    /// Backups of the originals, kept until undo.
    pub backups: Vec<PathBuf>,
    /// Whether this refreshed an earlier set-up (its backup was kept as it was).
    pub already_applied: bool,
}

/// The root URL clients get: `base_url` without trailing `/` or `/v1`.
fn root_url(base_url: &str) -> Option<String> {
    let url = url::Url::parse(base_url.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return None;
    }
    let text = url.as_str().trim_end_matches('/');
    Some(text.strip_suffix("/v1").unwrap_or(text).to_owned())
}

/// Whether `token` looks like a Realms token (it is written unquoted into `.env` files).
fn valid_token(token: &str) -> bool {
    token
        .strip_prefix(crate::accounts::keys::KEY_PREFIX)
        .is_some_and(|rest| {
            !rest.is_empty()
                && rest
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
        })
}

/// What setting `tool` up under `home` would change. `base_url` is Realms' address as clients
/// reach it, such as `http://127.0.0.1:8080`.
pub fn plan(tool: ClientTool, home: &Path, base_url: &str) -> SetupPlan {
    let root = root_url(base_url).unwrap_or_else(|| base_url.trim().to_owned());
    let path = tool.config_path(home);
    let exists = path.exists();
    let already_applied = is_applied(tool, home);
    let backup = (exists && !already_applied).then(|| tool.backup_dir(home).join(tool.file_name()));
    let changes = tool.changes(&root);
    let mut summary = format!(
        "{} will use Realms at {root}. Realms will {} `{}`: {}.",
        tool.display_name(),
        if exists { "change" } else { "create" },
        path.display(),
        changes.join("; ")
    );
    if let Some(backup) = &backup {
        summary.push_str(&format!(
            " The current file is kept as `{}`, and Undo puts it back.",
            backup.display()
        ));
    } else if already_applied {
        summary.push_str(" Realms set this up before; the original kept then stays for Undo.");
    } else {
        summary.push_str(" Undo removes the file again.");
    }
    SetupPlan {
        tool,
        files: vec![PlannedFile {
            path,
            exists,
            backup,
        }],
        changes,
        already_applied,
        summary,
    }
}

/// Sets `tool` up to use Realms at `base_url` with `token`: backs the file up (first time only),
/// merges Realms' settings into it and writes it owner-only. Applying twice is safe.
pub fn apply(
    tool: ClientTool,
    home: &Path,
    base_url: &str,
    token: &str,
) -> Result<SetupOutcome, SetupError> {
    let root = root_url(base_url).ok_or(SetupError::InvalidBaseUrl)?;
    if !valid_token(token) {
        return Err(SetupError::InvalidToken);
    }
    let path = tool.config_path(home);
    let target = files::resolve(&path)?;
    let backup_dir = tool.backup_dir(home);
    let manifest = files::read_manifest(&backup_dir)?;
    let existing = files::read_existing(&target)?;
    // Everything that can be refused is checked before anything is written.
    let text = match &existing {
        None => "",
        Some(file) => std::str::from_utf8(&file.bytes).map_err(|_| SetupError::Malformed {
            path: path.clone(),
            format: tool.format(),
            reason: "it is not UTF-8 text".into(),
        })?,
    };
    let merged = tool
        .merge(text, &root, token)
        .map_err(|reason| SetupError::Malformed {
            path: path.clone(),
            format: tool.format(),
            reason,
        })?;
    let already_applied = manifest.is_some();
    let mut manifest = match manifest {
        Some(manifest) => manifest,
        None => {
            let tool_dir = home.join(tool.dir_name());
            let created_dir = files::ensure_dir(&tool_dir)?;
            files::create_backup_dir(&backup_dir)?;
            if let Some(file) = &existing {
                files::write_atomic(&backup_dir.join(tool.file_name()), &file.bytes, None)?;
            }
            Manifest {
                version: MANIFEST_VERSION,
                file: tool.file_name().into(),
                existed: existing.is_some(),
                mode: existing.as_ref().and_then(|f| f.mode),
                created_dir,
                written_sha256: String::new(),
            }
        }
    };
    if let Some(parent) = target.parent() {
        files::ensure_dir(parent)?;
    }
    manifest.written_sha256 = files::digest(merged.as_bytes());
    // The manifest first: were the process to stop in between, undo still knows the original.
    files::write_manifest(&backup_dir, &manifest)?;
    files::write_atomic(&target, merged.as_bytes(), None)?;
    tracing::info!(tool = tool.display_name(), path = %path.display(), "set up to use Realms");
    let backups = if manifest.existed {
        vec![backup_dir.join(tool.file_name())]
    } else {
        Vec::new()
    };
    Ok(SetupOutcome {
        tool,
        files_written: vec![path],
        backups,
        already_applied,
    })
}

/// Puts back what was there before Realms set `tool` up: the original file byte for byte with
/// its permissions, or no file if there was none. A version edited after the set-up is kept as
/// `<file>.before-realms-undo`. Errors with [`SetupError::NotApplied`] when there is nothing to
/// undo.
pub fn undo(tool: ClientTool, home: &Path) -> Result<(), SetupError> {
    let backup_dir = tool.backup_dir(home);
    let manifest =
        files::read_manifest(&backup_dir)?.ok_or(SetupError::NotApplied(tool.display_name()))?;
    let path = tool.config_path(home);
    let target = files::resolve(&path)?;
    if let Some(current) = files::read_existing(&target)?
        && files::digest(&current.bytes) != manifest.written_sha256
    {
        let mut aside = target.clone().into_os_string();
        aside.push(SET_ASIDE_SUFFIX);
        files::write_atomic(Path::new(&aside), &current.bytes, None)?;
        tracing::info!(path = %path.display(), "kept the version edited after the set-up before undoing");
    }
    if manifest.existed {
        let backup = backup_dir.join(&manifest.file);
        let original = files::read_existing(&backup)?.ok_or_else(|| SetupError::Manifest {
            path: backup.clone(),
            reason: "the backup of the original file is missing".into(),
        })?;
        files::write_atomic(&target, &original.bytes, manifest.mode)?;
    } else {
        files::remove_file(&target)?;
    }
    files::remove_backup_dir(&backup_dir)?;
    if manifest.created_dir {
        files::remove_dir_if_empty(&home.join(tool.dir_name()));
    }
    tracing::info!(tool = tool.display_name(), path = %path.display(), "undid the Realms set-up");
    Ok(())
}

/// Whether Realms has set `tool` up under `home` and not undone it (so [`undo`] has work).
pub fn is_applied(tool: ClientTool, home: &Path) -> bool {
    matches!(files::read_manifest(&tool.backup_dir(home)), Ok(Some(_)))
}
