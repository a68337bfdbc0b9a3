// Client-side check of a channel's `settings` JSON against what the relay accepts
// (`core/src/relay/shaping/settings.rs`): known keys only, each of the right shape. The server
// checks again; this only catches mistakes before sending.

export const SETTINGS_KEYS = [
  "capabilities",
  "organization",
  "proxy",
  "system_prompt",
  "reasoning_suffixes",
  "service_tier",
  "store",
  "safety_identifier",
  "headers",
  "body_rules",
  "body_allow",
  "body_deny",
  "status_map",
  "raw_passthrough",
] as const;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function policy(path: string, v: unknown): string | null {
  if (!isObject(v) || !["passthrough", "remove", "set"].includes(String(v.action))) {
    return `${path}: {"action": "passthrough" | "remove" | "set", "value": …}`;
  }
  if (v.action === "set" && !("value" in v)) return `${path}: "set" needs a "value"`;
  return null;
}

/** Parses the text; returns the object or the first problem found. */
export function checkSettings(text: string): { value: Record<string, unknown> | null; error: string | null } {
  let value: unknown;
  try {
    value = text.trim() ? JSON.parse(text) : {};
  } catch (e) {
    return { value: null, error: e instanceof Error ? e.message : "invalid JSON" };
  }
  if (!isObject(value)) return { value: null, error: "settings must be a JSON object" };
  for (const key of Object.keys(value)) {
    if (!(SETTINGS_KEYS as readonly string[]).includes(key)) return { value: null, error: `unknown key "${key}"` };
  }
  const v = value;
  const problems: (string | null)[] = [];
  if ("capabilities" in v) {
    const caps = v.capabilities;
    if (!isObject(caps) || Object.entries(caps).some(([k, b]) => !["responses", "chat", "embeddings"].includes(k) || typeof b !== "boolean")) {
      problems.push('capabilities: {"responses": bool, "chat": bool, "embeddings": bool}');
    }
  }
  for (const key of ["organization", "proxy"]) {
    if (key in v && v[key] !== null && typeof v[key] !== "string") problems.push(`${key}: a string or null`);
  }
  if (typeof v.proxy === "string" && v.proxy && !/^(https?|socks5h?):\/\//.test(v.proxy)) {
    problems.push("proxy: http://, https://, socks5:// or socks5h://");
  }
  if ("system_prompt" in v && v.system_prompt !== null) {
    const sp = v.system_prompt;
    if (!isObject(sp) || !["set", "prepend"].includes(String(sp.mode)) || typeof sp.text !== "string") {
      problems.push('system_prompt: {"mode": "set" | "prepend", "text": "…"}');
    }
  }
  for (const key of ["reasoning_suffixes", "raw_passthrough"]) {
    if (key in v && typeof v[key] !== "boolean") problems.push(`${key}: true or false`);
  }
  for (const key of ["service_tier", "store", "safety_identifier"]) {
    if (key in v) problems.push(policy(key, v[key]));
  }
  if ("headers" in v && (!isObject(v.headers) || Object.values(v.headers).some((h) => h !== null && typeof h !== "string"))) {
    problems.push('headers: {"name": "value" | null}');
  }
  if ("body_rules" in v) {
    if (!Array.isArray(v.body_rules) || v.body_rules.some((r) => !isObject(r) || !Array.isArray(r.patch))) {
      problems.push('body_rules: [{"when": [{"path": "/model", "equals": …}], "patch": [{"op": …}]}]');
    }
  }
  for (const key of ["body_allow", "body_deny"]) {
    if (key in v && (!Array.isArray(v[key]) || (v[key] as unknown[]).some((x) => typeof x !== "string"))) problems.push(`${key}: ["field", …]`);
  }
  if ("status_map" in v) {
    const map = v.status_map;
    if (!isObject(map) || Object.entries(map).some(([k, s]) => !/^\d{3}$/.test(k) || typeof s !== "number")) {
      problems.push('status_map: {"429": 503}');
    }
  }
  const error = problems.find((p) => p !== null) ?? null;
  return { value: error ? null : v, error };
}
