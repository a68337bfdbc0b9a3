// Entry point: theme first (no flash of the wrong colours), then the app.
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import "./styles/app.css";
import { applyTheme, storedTheme, watchSystemTheme } from "./lib/theme";
import { App } from "./app";

applyTheme(storedTheme());
watchSystemTheme(storedTheme);

const root = document.getElementById("root");
if (root) {
  createRoot(root).render(
    <StrictMode>
      <App />
    </StrictMode>,
  );
}
