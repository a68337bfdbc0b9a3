//! The console window: the console the local gateway serves (one UI code path with the browser),
//! with the per-launch console secret handed to that page alone through an initialization script
//! that checks the page's origin. Links to other sites open in the system browser; closing the
//! window hides it to the tray. Nothing else: what the console does is the gateway's.

use realms_core::config::Secret;
use tauri::webview::NewWindowResponse;
use tauri::{AppHandle, Manager, Url, WebviewUrl, WebviewWindowBuilder, WindowEvent};
use tauri_plugin_opener::OpenerExt;

/// The console window's label.
pub const LABEL: &str = "console";
const TITLE: &str = "Realms";
const SIZE: (f64, f64) = (1200.0, 800.0);
const MIN_SIZE: (f64, f64) = (720.0, 480.0);

/// Shows the console window of the gateway at `base_url`, creating it when needed, and focuses it.
pub fn show(app: &AppHandle, base_url: &str, secret: &Secret) -> anyhow::Result<()> {
    let window = match app.get_webview_window(LABEL) {
        Some(window) => window,
        None => build(app, base_url, secret)?,
    };
    window.show()?;
    window.unminimize()?;
    window.set_focus()?;
    Ok(())
}

/// After the gateway moved to another port: the window is rebuilt for the new origin (its
/// initialization script is fixed at creation), visible again if it was.
pub fn moved(app: &AppHandle, base_url: &str, secret: &Secret) -> anyhow::Result<()> {
    let Some(old) = app.get_webview_window(LABEL) else {
        return Ok(());
    };
    let was_visible = old.is_visible().unwrap_or(false);
    old.destroy()?;
    if was_visible {
        show(app, base_url, secret)?;
    }
    Ok(())
}

/// Hides the console window (the gateway keeps running), if it exists.
pub fn hide(app: &AppHandle) {
    if let Some(window) = app.get_webview_window(LABEL) {
        let _ = window.hide();
    }
}

fn build(app: &AppHandle, base_url: &str, secret: &Secret) -> anyhow::Result<tauri::WebviewWindow> {
    let url: Url = base_url.parse()?;
    let origin = url.origin().ascii_serialization();
    let (nav_app, new_app) = (app.clone(), app.clone());
    let nav_origin = origin.clone();
    let window = WebviewWindowBuilder::new(app, LABEL, WebviewUrl::External(url))
        .title(TITLE)
        .inner_size(SIZE.0, SIZE.1)
        .min_inner_size(MIN_SIZE.0, MIN_SIZE.1)
        .initialization_script(init_script(&origin, secret.expose()))
        .on_navigation(move |target| {
            if target.origin().ascii_serialization() == nav_origin {
                return true;
            }
            open_in_browser(&nav_app, target);
            false
        })
        .on_new_window(move |target, _features| {
            open_in_browser(&new_app, &target);
            NewWindowResponse::Deny
        })
        .build()?;
    let hidden = window.clone();
    window.on_window_event(move |event| {
        if let WindowEvent::CloseRequested { api, .. } = event {
            api.prevent_close();
            let _ = hidden.hide();
        }
    });
    Ok(window)
}

/// Web links leave the app for the system browser (the Codex sign-in page among them: its
/// redirect comes back to core's listener on 127.0.0.1:1455); other schemes go nowhere.
fn open_in_browser(app: &AppHandle, target: &Url) {
    if !matches!(target.scheme(), "http" | "https") {
        tracing::debug!(
            scheme = target.scheme(),
            "blocked a navigation from the console"
        );
        return;
    }
    if let Err(err) = app.opener().open_url(target.as_str(), None::<&str>) {
        tracing::warn!(error = %err, "could not open a link in the system browser");
    }
}

/// The script that hands the console secret to the console page only: it runs before the page's
/// own scripts and does nothing on any other origin.
fn init_script(origin: &str, secret: &str) -> String {
    let origin = serde_json::Value::from(origin);
    let secret = serde_json::Value::from(secret);
    format!(
        "(function () {{\n\
         if (window.location.origin !== {origin}) {{ return; }}\n\
         Object.defineProperty(window, \"__REALMS_DESKTOP__\", {{\n\
         value: Object.freeze({{ consoleSecret: {secret} }}),\n\
         writable: false, configurable: false, enumerable: false\n\
         }});\n\
         }})();"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_checks_the_origin_and_quotes_the_secret() {
        let script = init_script("http://127.0.0.1:8080", "a\"b</script>");
        assert!(script.contains("window.location.origin !== \"http://127.0.0.1:8080\""));
        assert!(
            script.contains(r#"consoleSecret: "a\"b</script>""#),
            "the secret is a JSON string literal: {script}"
        );
        assert!(script.contains("__REALMS_DESKTOP__"));
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let console: Url = "http://127.0.0.1:8080/".parse().expect("url");
        let origin = console.origin().ascii_serialization();
        for (other, same) in [
            ("http://127.0.0.1:8080/admin/channels", true),
            ("http://127.0.0.1:8081/", false),
            ("http://localhost:8080/", false),
            ("https://127.0.0.1:8080/", false),
        ] {
            let url: Url = other.parse().expect("url");
            assert_eq!(
                url.origin().ascii_serialization() == origin,
                same,
                "{other}"
            );
        }
    }
}
