//! Tauri's build step: reads `tauri.conf.json`, embeds the icons and the app's metadata.

fn main() {
    tauri_build::build();
}
