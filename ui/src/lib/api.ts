// The one way the console talks to `/api/*`: JSON in and out, the `Realms-User` CSRF header on
// every call, the server's `{"error": {"code", "message"}}` turned into an `ApiError`, and a
// hook for "the session is gone" so the app can go back to the sign-in page. Inside the desktop
// app (which sets `window.__REALMS_DESKTOP__` before the page loads) every call also carries the
// per-launch console secret, and signing in needs no password.

const USER_KEY = "realms.user";
/** The header the desktop gateway checks on every `/api` call. */
const CONSOLE_SECRET_HEADER = "X-Realms-Console";

declare global {
  interface Window {
    /** Injected by the desktop app's webview; absent in a browser. */
    __REALMS_DESKTOP__?: { consoleSecret?: unknown };
  }
}

/** The desktop app's console secret, or null in a browser. */
function desktopConsoleSecret(): string | null {
  const secret = window.__REALMS_DESKTOP__?.consoleSecret;
  return typeof secret === "string" && secret !== "" ? secret : null;
}

/** Whether the console runs inside the Realms desktop app. */
export function isDesktop(): boolean {
  return desktopConsoleSecret() !== null;
}

/** An error answer from the API, with the server's stable code and human message. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let userId: string | null = readUserId();
let onSessionLost: (() => void) | null = null;
// Set when a call found the session gone; cleared by the next sign-in. Every way to the sign-in
// page reads it, so whichever redirect runs first still says why (a deliberate sign-out does not).
let sessionLost = false;

function readUserId(): string | null {
  try {
    return window.localStorage.getItem(USER_KEY);
  } catch {
    return null;
  }
}

/** The signed-in user's id as the CSRF header carries it, or null when signed out. */
export function currentUserId(): string | null {
  return userId;
}

/** True when the last session ended on the server (expired or signed out elsewhere). */
export function sessionWasLost(): boolean {
  return sessionLost;
}

/** Remembers (or forgets) the signed-in user's id for the `Realms-User` header. */
export function setCurrentUserId(id: number | null): void {
  userId = id === null ? null : String(id);
  if (id !== null) sessionLost = false;
  try {
    if (userId === null) window.localStorage.removeItem(USER_KEY);
    else window.localStorage.setItem(USER_KEY, userId);
  } catch {
    // Private mode without storage: the id still lives in memory for this tab.
  }
}

/** Called once by the app: what to do when a call finds the session expired. */
export function setSessionLostHandler(handler: () => void): void {
  onSessionLost = handler;
}

type Method = "GET" | "POST" | "PATCH" | "DELETE" | "PUT";

/** Calls the API; resolves with the parsed JSON body (undefined for 204), rejects with ApiError. */
export async function api<T>(method: Method, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (userId) headers["Realms-User"] = userId;
  const consoleSecret = desktopConsoleSecret();
  if (consoleSecret) headers[CONSOLE_SECRET_HEADER] = consoleSecret;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "network_error", "");
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let data: unknown = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const error = (data as { error?: { code?: string; message?: string } } | null)?.error;
    const err = new ApiError(
      response.status,
      error?.code ?? `http_${response.status}`,
      error?.message ?? response.statusText,
    );
    const lost =
      (response.status === 401 && !path.startsWith("/api/auth/")) ||
      err.code === "csrf_header_mismatch";
    if (lost && userId !== null) {
      setCurrentUserId(null);
      sessionLost = true;
      onSessionLost?.();
    }
    throw err;
  }
  return data as T;
}

let desktopSignIn: Promise<void> | null = null;

/** Desktop app only: signs the local person in without a password (one call at a time). */
export function signInDesktop(): Promise<void> {
  desktopSignIn ??= api<{ user: { id: number } }>("POST", "/api/desktop/session", {})
    .then((answer) => setCurrentUserId(answer.user.id))
    .finally(() => {
      desktopSignIn = null;
    });
  return desktopSignIn;
}

export const get = <T>(path: string) => api<T>("GET", path);
export const post = <T>(path: string, body?: unknown) => api<T>("POST", path, body ?? {});
export const patch = <T>(path: string, body: unknown) => api<T>("PATCH", path, body);
export const del = (path: string) => api<void>("DELETE", path);

/** A query string from the defined, non-empty values of `params`. */
export function qs(params: Record<string, string | number | undefined | null>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}
