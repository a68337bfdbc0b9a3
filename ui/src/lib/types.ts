// Shapes of the API's answers, as `core/src/api/**` writes them.

export type Role = "root" | "user";

export interface User {
  id: number;
  username: string;
  email: string;
  role: Role;
  status: "active" | "disabled";
  user_group_id: number;
  created_at: string;
  updated_at: string;
  balance_usd?: string;
}

export interface Me extends User {
  features: { self_mode: boolean; billing: boolean; models: boolean; registration: boolean };
}

export interface Site {
  first_run: boolean;
  registration_open: boolean;
  site_base_url: string;
  self_mode: boolean;
  version: string;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export interface Token {
  id: number;
  name: string;
  hint: string;
  status: "active" | "revoked";
  models: string[] | null;
  channel_groups: number[];
  created_at: string;
  last_used_at: string | null;
  expires_at: string | null;
  revoked_at: string | null;
}

export interface UserModel {
  id: string;
  owned_by: string;
  description: string;
  input_usd_per_1m: string;
  cached_input_usd_per_1m: string;
  cache_write_usd_per_1m: string;
  output_usd_per_1m: string;
}

export interface GroupOption {
  id: number;
  name: string;
  description: string;
  parent_id: number | null;
  price_multiplier: string;
}

export interface UsageEvent {
  id: number;
  time: string;
  request_id: string;
  user_id: number | null;
  token_id: number | null;
  model: string;
  forwarded_model: string | null;
  upstream_model: string | null;
  /** The upstream answered with another model than the one it was asked for. */
  model_mismatch?: boolean;
  channel_id: number | null;
  credential_id: number | null;
  endpoint: string;
  is_stream: boolean;
  status_code: number;
  error_class: string | null;
  latency_ms: number;
  first_token_latency_ms: number | null;
  request_bytes: number;
  response_bytes: number;
  input_tokens: number;
  cached_input_tokens: number;
  cache_write_tokens: number;
  output_tokens: number;
  reasoning_tokens: number;
  cost_usd: string;
  upstream_usage: unknown;
  partial: boolean;
}

export interface Totals {
  requests: number;
  errors: number;
  input_tokens: number;
  cached_input_tokens: number;
  cache_write_tokens: number;
  output_tokens: number;
  reasoning_tokens: number;
  cost_usd: string;
  avg_latency_ms: number | null;
  avg_first_token_latency_ms: number | null;
}

export interface Share<K> extends Totals {
  key: K;
}

export interface Summary {
  from: string;
  to: string;
  bucket: "hour";
  totals: Totals;
  series: (Totals & { time: string })[];
  by_model: Share<string>[];
  by_token: Share<number | null>[];
  by_user?: Share<number | null>[];
  by_channel?: Share<number | null>[];
}

export type ChannelType = "openai_compatible" | "anthropic" | "gemini" | "codex_oauth";

export interface Credential {
  id: number;
  channel_id: number;
  name: string;
  hint: string;
  status: "enabled" | "disabled";
  created_at: string;
  updated_at: string;
}

export interface Binding {
  id: number;
  channel_id: number;
  channel_name: string;
  model_id: number;
  public_id: string;
  upstream_model: string | null;
  enabled: boolean;
  created_at: string;
}

export interface Channel {
  id: number;
  type: ChannelType;
  name: string;
  base_url: string;
  status: "enabled" | "disabled";
  priority: number;
  weight: number;
  promoted: boolean;
  settings: Record<string, unknown>;
  /** JSON Pointers of the secrets `settings` shows masked (kept when saved unchanged). */
  settings_secrets?: string[];
  groups: { id: number; name: string }[];
  credentials: Credential[];
  models: Binding[];
  created_at: string;
  updated_at: string;
}

export interface Model {
  id: number;
  public_id: string;
  owned_by: string;
  description: string;
  input_usd_per_1m: string;
  output_usd_per_1m: string;
  cached_input_usd_per_1m: string;
  cache_write_usd_per_1m: string;
  enabled: boolean;
  created_at: string;
  updated_at: string;
  bindings?: { id: number; channel_id: number; channel_name: string; upstream_model: string | null; enabled: boolean }[];
}

export interface ChannelGroup {
  id: number;
  name: string;
  description: string;
  parent_id: number | null;
  price_multiplier: string;
  channel_ids: number[];
  created_at: string;
  updated_at: string;
}

export interface UserGroup {
  id: number;
  name: string;
  description: string;
  channel_groups: number[];
  created_at: string;
  updated_at: string;
}

export interface SettingsAnswer {
  settings: {
    self_mode: boolean;
    site_base_url: string;
    allow_open_registration: boolean;
    feature_disable_billing: boolean;
    feature_disable_models: boolean;
    allow_private_upstreams: boolean;
    trust_proxy_headers: boolean;
    trusted_proxy_cidrs: string[];
  };
  overridden: string[];
}

export interface Cooldown {
  target: "channel" | "channel_model" | "credential";
  channel_id: number | null;
  model: string | null;
  credential_id: number | null;
  until: string;
  strikes: number;
  reason: string;
}

export interface TestResult {
  ok: boolean;
  status: number | null;
  latency_ms: number;
  model: string;
  answer: string | null;
  error: string | null;
}

/** One quota window of a Codex account (`primary` = 5 hours, `secondary` = 7 days). */
export interface QuotaWindow {
  used_percent: number;
  reset_at: string | null;
  window_minutes: number | null;
}

/** A ChatGPT account of a `codex_oauth` channel; tokens are never part of it. */
export interface CodexAccount {
  id: number;
  channel_id: number;
  account_id: string;
  email: string;
  plan: string;
  status: "enabled" | "disabled";
  expires_at: string | null;
  last_refresh_at: string | null;
  refresh_failures: number;
  next_refresh_at: string | null;
  last_error: string | null;
  quota: { primary: QuotaWindow | null; secondary: QuotaWindow | null; updated_at: string | null };
  cooldown_until: string | null;
  created_at: string;
  updated_at: string;
}

/** The answer of `POST …/codex-oauth/start`. */
export interface CodexStart {
  auth_url: string;
  state: string;
  expires_at: string;
  redirect_uri: string;
  listener: { status: "off" | "listening" | "unavailable"; port: number | null; message: string | null };
}
