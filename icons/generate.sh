#!/usr/bin/env bash
# Generates every icon of Realms from the one source image, icons/realms.svg:
#   icons/app/    app icons for the desktop bundles (PNG sizes, .ico, .icns) via the Tauri CLI
#   icons/tray/   tray glyphs for light and dark panels (PNG, 1x and 2x)
#   ui/public/favicon.svg   the console's favicon (rebuild ui/dist afterwards)
# Needs rsvg-convert (Debian: librsvg2-bin), python3 and npx (the Tauri CLI comes from npm).
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

rsvg-convert -w 1024 -h 1024 realms.svg -o "$work/realms-1024.png"
npx --yes @tauri-apps/cli@2 icon "$work/realms-1024.png" -o "$work/tauri" >/dev/null 2>&1
mkdir -p app tray
for name in 32x32.png 64x64.png 128x128.png 128x128@2x.png icon.png icon.ico icon.icns; do
  cp "$work/tauri/$name" "app/$name"
done

python3 derive.py realms.svg "$work" ../ui/public/favicon.svg
for theme in light dark; do
  rsvg-convert -w 32 -h 32 "$work/tray-$theme.svg" -o "tray/tray-$theme.png"
  rsvg-convert -w 64 -h 64 "$work/tray-$theme.svg" -o "tray/tray-$theme@2x.png"
done
echo "icons generated from realms.svg"
