//! The tray icon and its menu. The menu is a pure function of a [`View`] (what the gateway is
//! doing, requests today, pause, start at login, which client tools are set up), rebuilt when
//! that changes; the status line alone is refreshed every few seconds. Clicks go to `actions`.

use std::sync::Mutex;
use std::time::Duration;

use realms_core::desktop::client_setup::ClientTool;
use tauri::image::Image;
use tauri::menu::{CheckMenuItem, IsMenuItem, Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager, Wry};
use tauri_plugin_autostart::ManagerExt;

use crate::actions::{self, Action};
use crate::gateway::{Gateway, Phase};

/// The tray icon's id.
const TRAY_ID: &str = "realms";
/// How often the status line (requests today) is refreshed; one indexed count each time.
pub const STATUS_REFRESH: Duration = Duration::from_secs(10);
/// Longer failure messages are cut in the menu (the log has them whole).
const STATUS_MAX_CHARS: usize = 90;

/// A light glyph for the dark panels of most Linux desktops and Windows' default taskbar.
const ICON_FOR_DARK_PANELS: &[u8] = include_bytes!("../../icons/tray/tray-dark.png");
/// A dark glyph; macOS uses it as a template image and recolours it for its menu bar.
#[cfg(target_os = "macos")]
const ICON_TEMPLATE: &[u8] = include_bytes!("../../icons/tray/tray-light.png");

/// Everything the menu shows.
#[derive(Clone)]
pub struct View {
    /// What the gateway is doing.
    pub phase: PhaseView,
    /// Calls recorded since local midnight, when known.
    pub requests_today: Option<u64>,
    /// The relay is paused (the console still answers).
    pub paused: bool,
    /// The app starts at login.
    pub autostart: bool,
    /// Per tool in [`ClientTool::ALL`] order: its configuration points at Realms.
    pub set_up: [bool; 3],
}

/// The gateway's phase as the menu needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PhaseView {
    /// Opening on this port.
    Starting(u16),
    /// Serving at this base URL.
    Running(String),
    /// The port is taken; a free one to offer.
    PortInUse { port: u16, free: Option<u16> },
    /// Not running, and why.
    Failed(String),
    /// Stopped.
    Stopped,
}

impl From<&Phase> for PhaseView {
    fn from(phase: &Phase) -> Self {
        match phase {
            Phase::Starting(port) => Self::Starting(*port),
            Phase::Running { addr, .. } => Self::Running(format!("http://{addr}")),
            Phase::PortInUse { port, free } => Self::PortInUse {
                port: *port,
                free: *free,
            },
            Phase::Failed(why) => Self::Failed(why.clone()),
            Phase::Stopped => Self::Stopped,
        }
    }
}

/// One line of the menu.
#[derive(Debug, PartialEq, Eq)]
pub enum Entry {
    /// The status line (not clickable).
    Status(String),
    /// A clickable item.
    Item(Action, String),
    /// A check item.
    Check(Action, String, bool),
    /// A separator.
    Separator,
}

/// The status line for a view.
pub fn status_text(view: &View) -> String {
    let text = match &view.phase {
        PhaseView::Starting(port) => format!("Starting on port {port}…"),
        PhaseView::Running(url) => {
            let state = if view.paused { "Paused" } else { "Running" };
            match view.requests_today {
                Some(1) => format!("{state} on {url} · 1 request today"),
                Some(n) => format!("{state} on {url} · {n} requests today"),
                None => format!("{state} on {url}"),
            }
        }
        PhaseView::PortInUse { port, .. } => format!("Port {port} is in use"),
        PhaseView::Failed(why) => format!("Not running: {why}"),
        PhaseView::Stopped => "Stopped".to_owned(),
    };
    if text.chars().count() <= STATUS_MAX_CHARS {
        return text;
    }
    let mut cut: String = text.chars().take(STATUS_MAX_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// The menu for a view, top to bottom.
pub fn entries(view: &View) -> Vec<Entry> {
    let mut out = vec![Entry::Status(status_text(view)), Entry::Separator];
    match &view.phase {
        PhaseView::Running(url) => {
            out.push(Entry::Item(Action::OpenConsole, "Open console".into()));
            out.push(Entry::Item(
                Action::CopyBaseUrl,
                format!("Copy base URL ({url}/v1)"),
            ));
            out.push(Entry::Item(Action::CopyToken, "Copy API token".into()));
            out.push(Entry::Separator);
            for (tool, set_up) in ClientTool::ALL.into_iter().zip(view.set_up) {
                let name = tool.display_name();
                let text = match set_up {
                    true => format!("Undo {name} setup…"),
                    false => format!("Set up {name}…"),
                };
                out.push(Entry::Item(Action::SetUp(tool), text));
            }
            out.push(Entry::Separator);
            let pause = if view.paused {
                "Resume gateway"
            } else {
                "Pause gateway"
            };
            out.push(Entry::Item(Action::TogglePause, pause.into()));
        }
        PhaseView::PortInUse { port, free } => {
            if let Some(free) = free {
                out.push(Entry::Item(
                    Action::UsePort(*free),
                    format!("Use port {free} instead"),
                ));
            }
            out.push(Entry::Item(
                Action::UsePort(*port),
                format!("Try port {port} again"),
            ));
        }
        PhaseView::Failed(_) => out.push(Entry::Item(Action::Retry, "Try again".into())),
        PhaseView::Starting(_) | PhaseView::Stopped => {}
    }
    out.push(Entry::Separator);
    out.push(Entry::Item(
        Action::OpenDataFolder,
        "Open data folder".into(),
    ));
    out.push(Entry::Check(
        Action::ToggleAutostart,
        "Start at login".into(),
        view.autostart,
    ));
    out.push(Entry::Separator);
    out.push(Entry::Item(Action::Quit, "Quit Realms".into()));
    out
}

/// The status line's menu item, kept for the periodic refresh.
#[derive(Default)]
pub struct StatusItem(Mutex<Option<MenuItem<Wry>>>);

/// Creates the tray icon with the menu for the gateway's current phase.
pub fn create(app: &AppHandle) -> anyhow::Result<()> {
    let view = View {
        phase: PhaseView::from(&app.state::<Gateway>().phase()),
        requests_today: None,
        paused: false,
        autostart: app.autolaunch().is_enabled().unwrap_or(false),
        set_up: [false; 3],
    };
    let menu = build_menu(app, &view)?;
    let builder = TrayIconBuilder::with_id(TRAY_ID)
        .tooltip("Realms")
        .menu(&menu)
        .show_menu_on_left_click(true)
        .on_menu_event(|app, event| actions::dispatch(app, event.id().as_ref()));
    #[cfg(target_os = "macos")]
    let builder = builder
        .icon(Image::from_bytes(ICON_TEMPLATE)?)
        .icon_as_template(true);
    #[cfg(not(target_os = "macos"))]
    let builder = builder.icon(Image::from_bytes(ICON_FOR_DARK_PANELS)?);
    builder.build(app)?;
    Ok(())
}

/// Gathers the view and rebuilds the menu; call after anything the menu shows has changed.
pub async fn refresh(app: &AppHandle) {
    let view = view(app).await;
    let Some(tray) = app.tray_by_id(TRAY_ID) else {
        return;
    };
    match build_menu(app, &view) {
        Ok(menu) => {
            if let Err(err) = tray.set_menu(Some(menu)) {
                tracing::warn!(error = %err, "could not update the tray menu");
            }
        }
        Err(err) => tracing::warn!(error = %err, "could not build the tray menu"),
    }
}

/// Refreshes the status line every [`STATUS_REFRESH`] while the app runs.
pub async fn keep_status_fresh(app: AppHandle) {
    let mut tick = tokio::time::interval(STATUS_REFRESH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let view = view(&app).await;
        let item = app
            .state::<StatusItem>()
            .0
            .lock()
            .ok()
            .and_then(|i| i.clone());
        if let Some(item) = item
            && let Err(err) = item.set_text(status_text(&view))
        {
            tracing::debug!(error = %err, "could not refresh the tray status");
        }
    }
}

async fn view(app: &AppHandle) -> View {
    let phase = app.state::<Gateway>().phase();
    let (requests_today, paused) = match &phase {
        Phase::Running { state, .. } => (
            realms_core::desktop::requests_today(state).await.ok(),
            realms_core::desktop::relay_paused(state),
        ),
        _ => (None, false),
    };
    View {
        phase: PhaseView::from(&phase),
        requests_today,
        paused,
        autostart: app.autolaunch().is_enabled().unwrap_or(false),
        set_up: ClientTool::ALL.map(actions::is_set_up),
    }
}

fn build_menu(app: &AppHandle, view: &View) -> tauri::Result<Menu<Wry>> {
    let menu = Menu::new(app)?;
    for entry in entries(view) {
        let item: Box<dyn IsMenuItem<Wry>> = match entry {
            Entry::Status(text) => {
                let item = MenuItem::with_id(app, "status", text, false, None::<&str>)?;
                if let Ok(mut slot) = app.state::<StatusItem>().0.lock() {
                    *slot = Some(item.clone());
                }
                Box::new(item)
            }
            Entry::Item(action, text) => Box::new(MenuItem::with_id(
                app,
                action.id(),
                text,
                true,
                None::<&str>,
            )?),
            Entry::Check(action, text, checked) => Box::new(CheckMenuItem::with_id(
                app,
                action.id(),
                text,
                true,
                checked,
                None::<&str>,
            )?),
            Entry::Separator => Box::new(PredefinedMenuItem::separator(app)?),
        };
        menu.append(item.as_ref())?;
    }
    Ok(menu)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(phase: PhaseView) -> View {
        View {
            phase,
            requests_today: Some(12),
            paused: false,
            autostart: true,
            set_up: [true, false, false],
        }
    }

    fn actions_of(entries: &[Entry]) -> Vec<Action> {
        entries
            .iter()
            .filter_map(|e| match e {
                Entry::Item(a, _) | Entry::Check(a, _, _) => Some(*a),
                Entry::Status(_) | Entry::Separator => None,
            })
            .collect()
    }

    #[test]
    fn running_shows_address_requests_and_every_action() {
        let v = view(PhaseView::Running("http://127.0.0.1:8080".into()));
        assert_eq!(
            status_text(&v),
            "Running on http://127.0.0.1:8080 · 12 requests today"
        );
        let entries = entries(&v);
        assert!(entries.contains(&Entry::Item(
            Action::SetUp(ClientTool::CodexCli),
            "Undo Codex CLI setup…".into()
        )));
        assert!(entries.contains(&Entry::Item(
            Action::SetUp(ClientTool::GeminiCli),
            "Set up Gemini CLI…".into()
        )));
        assert!(entries.contains(&Entry::Item(
            Action::CopyBaseUrl,
            "Copy base URL (http://127.0.0.1:8080/v1)".into()
        )));
        assert_eq!(
            actions_of(&entries),
            [
                Action::OpenConsole,
                Action::CopyBaseUrl,
                Action::CopyToken,
                Action::SetUp(ClientTool::CodexCli),
                Action::SetUp(ClientTool::ClaudeCode),
                Action::SetUp(ClientTool::GeminiCli),
                Action::TogglePause,
                Action::OpenDataFolder,
                Action::ToggleAutostart,
                Action::Quit,
            ]
        );
    }

    #[test]
    fn paused_says_so_and_offers_resume() {
        let mut v = view(PhaseView::Running("http://127.0.0.1:8080".into()));
        v.paused = true;
        v.requests_today = Some(1);
        assert_eq!(
            status_text(&v),
            "Paused on http://127.0.0.1:8080 · 1 request today"
        );
        assert!(entries(&v).contains(&Entry::Item(Action::TogglePause, "Resume gateway".into())));
    }

    #[test]
    fn a_taken_port_offers_a_free_one_and_a_retry_but_no_gateway_actions() {
        let v = view(PhaseView::PortInUse {
            port: 8080,
            free: Some(8081),
        });
        assert_eq!(status_text(&v), "Port 8080 is in use");
        assert_eq!(
            actions_of(&entries(&v)),
            [
                Action::UsePort(8081),
                Action::UsePort(8080),
                Action::OpenDataFolder,
                Action::ToggleAutostart,
                Action::Quit,
            ]
        );
    }

    #[test]
    fn long_failures_are_cut_for_the_menu() {
        let v = view(PhaseView::Failed("x".repeat(500)));
        let text = status_text(&v);
        assert_eq!(text.chars().count(), STATUS_MAX_CHARS);
        assert!(text.starts_with("Not running: x") && text.ends_with('…'));
        assert!(actions_of(&entries(&v)).contains(&Action::Retry));
    }
}
