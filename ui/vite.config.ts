// Vite build of the console. Output goes to `dist/` (committed; the Rust build embeds it), with
// content-hashed files under `dist/assets/` that the server caches for good. Nothing inline: the
// server's Content-Security-Policy allows scripts and styles from this origin only.
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

export default defineConfig({
  plugins: [react()],
  base: "/",
  build: {
    outDir: "dist",
    assetsDir: "assets",
    emptyOutDir: true,
    sourcemap: false,
    // The polyfill is an inline-free module, but every browser we support has modulepreload.
    modulePreload: { polyfill: false },
    // Never turn small assets into `data:` URLs inside CSS or JS; keep files hashed on disk.
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 900,
    cssCodeSplit: false,
  },
  server: {
    proxy: {
      "/api": "http://127.0.0.1:8080",
      "/v1": "http://127.0.0.1:8080",
      "/healthz": "http://127.0.0.1:8080",
    },
  },
});
