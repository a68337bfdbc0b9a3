//! What each tray menu item does. Every action is a few lines that call `realms_core`, the
//! `gateway` or a Tauri plugin; this is the boundary where errors become text for a dialog.
//! The console window gets no Tauri commands at all: it talks to the gateway over HTTP only.

use std::fmt::Display;
use std::path::PathBuf;

use realms_core::desktop::client_setup::{self, ClientTool};
use tauri::{AppHandle, Manager};
use tauri_plugin_autostart::ManagerExt as _;
use tauri_plugin_clipboard_manager::ClipboardExt;
use tauri_plugin_dialog::{DialogExt, MessageDialogButtons, MessageDialogKind};
use tauri_plugin_opener::OpenerExt;

use crate::gateway::{Gateway, Phase};
use crate::settings::DesktopSettings;
use crate::{tray, window};

/// A menu item's meaning; its id is [`Action::id`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Show the console window.
    OpenConsole,
    /// Copy `http://127.0.0.1:PORT/v1`.
    CopyBaseUrl,
    /// Copy the desktop token (made on first use).
    CopyToken,
    /// Point a client tool at Realms, or undo that.
    SetUp(ClientTool),
    /// Pause or resume the relay.
    TogglePause,
    /// Move the gateway to this port and remember it.
    UsePort(u16),
    /// Start again after a failure.
    Retry,
    /// Open the data directory in the file manager.
    OpenDataFolder,
    /// Start at login, or not.
    ToggleAutostart,
    /// Stop the gateway (usage flushed) and exit.
    Quit,
}

impl Action {
    /// The menu item id.
    pub fn id(self) -> String {
        match self {
            Self::OpenConsole => "open_console".into(),
            Self::CopyBaseUrl => "copy_base_url".into(),
            Self::CopyToken => "copy_token".into(),
            Self::SetUp(tool) => format!("set_up:{}", tool_key(tool)),
            Self::TogglePause => "toggle_pause".into(),
            Self::UsePort(port) => format!("use_port:{port}"),
            Self::Retry => "retry".into(),
            Self::OpenDataFolder => "open_data_folder".into(),
            Self::ToggleAutostart => "toggle_autostart".into(),
            Self::Quit => "quit".into(),
        }
    }

    /// The action of a menu item id.
    pub fn parse(id: &str) -> Option<Self> {
        if let Some(port) = id.strip_prefix("use_port:") {
            return port.parse().ok().filter(|&p| p != 0).map(Self::UsePort);
        }
        if let Some(key) = id.strip_prefix("set_up:") {
            return ClientTool::ALL
                .into_iter()
                .find(|&tool| tool_key(tool) == key)
                .map(Self::SetUp);
        }
        [
            Self::OpenConsole,
            Self::CopyBaseUrl,
            Self::CopyToken,
            Self::TogglePause,
            Self::Retry,
            Self::OpenDataFolder,
            Self::ToggleAutostart,
            Self::Quit,
        ]
        .into_iter()
        .find(|a| a.id() == id)
    }
}

fn tool_key(tool: ClientTool) -> &'static str {
    match tool {
        ClientTool::CodexCli => "codex",
        ClientTool::ClaudeCode => "claude",
        ClientTool::GeminiCli => "gemini",
    }
}

/// Runs the action of a clicked menu item.
pub fn dispatch(app: &AppHandle, id: &str) {
    let Some(action) = Action::parse(id) else {
        return;
    };
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        if let Err(err) = run(&app, action).await {
            tracing::warn!(action = ?action, error = %err, "tray action failed");
            show_error(&app, &err);
        }
        tray::refresh(&app).await;
    });
}

async fn run(app: &AppHandle, action: Action) -> anyhow::Result<()> {
    let gateway = app.state::<Gateway>();
    match action {
        Action::OpenConsole => open_console(app),
        Action::CopyBaseUrl => Ok(app
            .clipboard()
            .write_text(format!("{}/v1", running(app)?.0))?),
        Action::CopyToken => {
            let token = realms_core::desktop::ensure_desktop_token(&running(app)?.1).await?;
            Ok(app.clipboard().write_text(token)?)
        }
        Action::SetUp(tool) => set_up(app, tool),
        Action::TogglePause => {
            let state = running(app)?.1;
            let paused = realms_core::desktop::relay_paused(&state);
            realms_core::desktop::set_relay_paused(&state, !paused);
            Ok(())
        }
        Action::UsePort(port) => use_port(app, port).await,
        Action::Retry => {
            let port = DesktopSettings::load(gateway.data_dir())?.port;
            gateway.start_on(port).await;
            Ok(())
        }
        Action::OpenDataFolder => Ok(app
            .opener()
            .open_path(gateway.data_dir().to_string_lossy(), None::<&str>)?),
        Action::ToggleAutostart => {
            let autostart = app.autolaunch();
            match autostart.is_enabled()? {
                true => Ok(autostart.disable()?),
                false => Ok(autostart.enable()?),
            }
        }
        Action::Quit => {
            app.exit(0);
            Ok(())
        }
    }
}

/// Shows the console window when the gateway runs.
pub fn open_console(app: &AppHandle) -> anyhow::Result<()> {
    let (base_url, _) = running(app)?;
    window::show(app, &base_url, app.state::<Gateway>().console_secret())
}

/// The gateway's base URL and state, or why the action cannot run now.
fn running(app: &AppHandle) -> anyhow::Result<(String, realms_core::AppState)> {
    match app.state::<Gateway>().phase() {
        Phase::Running { addr, state } => Ok((format!("http://{addr}"), state)),
        _ => anyhow::bail!("the gateway is not running"),
    }
}

/// Moves the gateway to `port`, remembers the port, and moves the window with it.
async fn use_port(app: &AppHandle, port: u16) -> anyhow::Result<()> {
    let gateway = app.state::<Gateway>();
    let phase = gateway.start_on(port).await;
    if let Phase::Running { addr, .. } = phase {
        DesktopSettings { port }.save(gateway.data_dir())?;
        window::moved(app, &format!("http://{addr}"), gateway.console_secret())?;
    }
    Ok(())
}

fn home_dir() -> anyhow::Result<PathBuf> {
    directories::BaseDirs::new()
        .map(|dirs| dirs.home_dir().to_path_buf())
        .ok_or_else(|| anyhow::anyhow!("this system reports no home directory"))
}

/// Whether the tool's configuration points at Realms now.
pub fn is_set_up(tool: ClientTool) -> bool {
    home_dir().is_ok_and(|home| client_setup::is_applied(tool, &home))
}

/// Asks first (showing what changes), then writes or undoes the tool's configuration.
fn set_up(app: &AppHandle, tool: ClientTool) -> anyhow::Result<()> {
    let home = home_dir()?;
    let (base_url, state) = running(app)?;
    let name = tool.display_name();
    let undo = client_setup::is_applied(tool, &home);
    let (question, button) = if undo {
        let question =
            format!("Put back the {name} configuration that was there before Realms set it up?");
        (question, "Undo")
    } else {
        (client_setup::plan(tool, &home, &base_url).summary, "Set up")
    };
    let done = app.clone();
    app.dialog()
        .message(question)
        .title(format!("Realms: {name}"))
        .buttons(MessageDialogButtons::OkCancelCustom(
            button.into(),
            "Cancel".into(),
        ))
        .show(move |confirmed| {
            if !confirmed {
                return;
            }
            tauri::async_runtime::spawn(async move {
                let result = match undo {
                    true => client_setup::undo(tool, &home).map_err(anyhow::Error::from),
                    false => apply(&state, tool, &home, &base_url).await,
                };
                if let Err(err) = result {
                    tracing::warn!(tool = name, error = %err, "client set-up failed");
                    show_error(&done, &err);
                }
                tray::refresh(&done).await;
            });
        });
    Ok(())
}

async fn apply(
    state: &realms_core::AppState,
    tool: ClientTool,
    home: &std::path::Path,
    base_url: &str,
) -> anyhow::Result<()> {
    let token = realms_core::desktop::ensure_desktop_token(state).await?;
    client_setup::apply(tool, home, base_url, &token)?;
    Ok(())
}

fn show_error(app: &AppHandle, err: &impl Display) {
    app.dialog()
        .message(format!("{err:#}"))
        .title("Realms")
        .kind(MessageDialogKind::Error)
        .show(|_| {});
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_id_parses_back() {
        let mut all = vec![
            Action::OpenConsole,
            Action::CopyBaseUrl,
            Action::CopyToken,
            Action::TogglePause,
            Action::UsePort(8081),
            Action::Retry,
            Action::OpenDataFolder,
            Action::ToggleAutostart,
            Action::Quit,
        ];
        all.extend(ClientTool::ALL.map(Action::SetUp));
        for action in all {
            assert_eq!(Action::parse(&action.id()), Some(action), "{}", action.id());
        }
    }

    #[test]
    fn unknown_ids_and_bad_ports_are_ignored() {
        for id in [
            "status",
            "use_port:0",
            "use_port:70000",
            "use_port:x",
            "set_up:vim",
            "",
        ] {
            assert_eq!(Action::parse(id), None, "{id}");
        }
    }
}
