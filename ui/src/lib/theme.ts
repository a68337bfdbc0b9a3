// Light, dark or the system's choice, kept in localStorage and applied as `data-theme` on <html>.

export type ThemeChoice = "light" | "dark" | "system";
const KEY = "realms.theme";

export function storedTheme(): ThemeChoice {
  try {
    const value = window.localStorage.getItem(KEY);
    if (value === "light" || value === "dark" || value === "system") return value;
  } catch {
    // No storage: follow the system.
  }
  return "system";
}

function systemDark(): boolean {
  return window.matchMedia?.("(prefers-color-scheme: dark)").matches ?? false;
}

export function applyTheme(choice: ThemeChoice): void {
  const dark = choice === "dark" || (choice === "system" && systemDark());
  document.documentElement.setAttribute("data-theme", dark ? "dark" : "light");
}

export function saveTheme(choice: ThemeChoice): void {
  try {
    window.localStorage.setItem(KEY, choice);
  } catch {
    // Still applied for this page.
  }
  applyTheme(choice);
}

/** Re-applies the system choice when the OS switches while the page is open. */
export function watchSystemTheme(current: () => ThemeChoice): void {
  window.matchMedia?.("(prefers-color-scheme: dark)").addEventListener("change", () => {
    if (current() === "system") applyTheme("system");
  });
}
