// The channel drawer: general fields, the `settings` JSON (validated, with switches for the
// common options), credentials (hints only) and model bindings.
import { useState, type FormEvent } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { useT } from "../../i18n";
import { del, patch, post } from "../../lib/api";
import { errorText, useAction, useAll } from "../../lib/hooks";
import { checkSettings, SETTINGS_KEYS } from "../../lib/channel-settings";
import type { Channel, ChannelGroup, ChannelType, Model } from "../../lib/types";
import { dateTime } from "../../lib/format";
import { Callout, Field, Mono, StatusBadge, Switch, Tabs } from "../../components/ui";
import { Drawer, useToast } from "../../components/overlays";
import { DeleteButton } from "../../components/lists";
import { IconPlus, IconZap } from "../../components/icons";
import { TestModal } from "./channel-test";
import { CodexAccounts } from "./channel-codex";

const CHANNELS_KEY = ["admin", "channels", "all"];

export const TYPE_LABEL: Record<ChannelType, string> = {
  openai_compatible: "OpenAI-compatible",
  anthropic: "Anthropic",
  gemini: "Gemini",
  codex_oauth: "Codex (OAuth)",
};

const DEFAULT_URL: Record<ChannelType, string> = {
  openai_compatible: "https://api.openai.com",
  anthropic: "https://api.anthropic.com",
  gemini: "https://generativelanguage.googleapis.com",
  codex_oauth: "https://chatgpt.com/backend-api/codex",
};

type Tab = "general" | "settings" | "credentials" | "codex" | "models";

export function ChannelDrawer({ channel, onClose, onCreated }: { channel: Channel | null; onClose: () => void; onCreated: (c: Channel) => void }) {
  const t = useT();
  const [tab, setTab] = useState<Tab>("general");
  const tabs: { value: Tab; label: string; count?: number }[] = [
    { value: "general", label: t("channels.tabGeneral") },
    { value: "settings", label: t("channels.tabSettings") },
  ];
  if (channel) {
    if (channel.type !== "codex_oauth") tabs.push({ value: "credentials", label: t("channels.tabCredentials"), count: channel.credentials.length });
    else tabs.push({ value: "codex", label: t("channels.tabCodex"), count: channel.credentials.length });
    tabs.push({ value: "models", label: t("channels.tabModels"), count: channel.models.length });
  }
  return (
    <Drawer title={channel ? channel.name : t("channels.add")} onClose={onClose} wide>
      <Tabs<Tab> value={tab} onChange={setTab} tabs={tabs} />
      {tab === "general" || tab === "settings" ? (
        <GeneralForm key={channel?.id ?? "new"} channel={channel} tab={tab} onCreated={onCreated} onClose={onClose} />
      ) : null}
      {tab === "credentials" && channel ? <Credentials channel={channel} /> : null}
      {tab === "codex" && channel ? <CodexAccounts channel={channel} /> : null}
      {tab === "models" && channel ? <Bindings channel={channel} /> : null}
    </Drawer>
  );
}

function GeneralForm({ channel, tab, onCreated, onClose }: { channel: Channel | null; tab: Tab; onCreated: (c: Channel) => void; onClose: () => void }) {
  const t = useT();
  const toast = useToast();
  const qc = useQueryClient();
  const groups = useAll<ChannelGroup>(["admin", "channel-groups", "all"], "/api/admin/channel-groups");
  const [type, setType] = useState<ChannelType>(channel?.type ?? "openai_compatible");
  const [name, setName] = useState(channel?.name ?? "");
  const [baseUrl, setBaseUrl] = useState(channel?.base_url ?? "");
  const [enabled, setEnabled] = useState(channel ? channel.status === "enabled" : true);
  const [priority, setPriority] = useState(String(channel?.priority ?? 0));
  const [weight, setWeight] = useState(String(channel?.weight ?? 1));
  const [promoted, setPromoted] = useState(channel?.promoted ?? false);
  const [groupIds, setGroupIds] = useState<number[]>(channel ? channel.groups.map((g) => g.id) : [1]);
  const [keys, setKeys] = useState("");
  const [settingsText, setSettingsText] = useState(JSON.stringify(channel?.settings ?? {}, null, 2));
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [serverError, setServerError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [testing, setTesting] = useState(false);
  const parsed = checkSettings(settingsText);

  const setSetting = (key: string, value: unknown) => {
    if (!parsed.value) return;
    const next = { ...parsed.value };
    if (value === undefined) delete next[key];
    else next[key] = value;
    setSettingsText(JSON.stringify(next, null, 2));
  };
  const caps = (parsed.value?.capabilities ?? {}) as Record<string, boolean>;
  const setCap = (cap: string, on: boolean) => {
    const next = { ...caps, [cap]: on };
    if (Object.values(next).every(Boolean)) setSetting("capabilities", undefined);
    else setSetting("capabilities", next);
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const out: Record<string, string> = {};
    if (!name.trim()) out.name = t("form.required");
    if (baseUrl.trim() && !/^https?:\/\/[^\s/?#]+[^\s?#]*$/.test(baseUrl.trim())) out.baseUrl = t("channels.urlRule");
    if (!/^-?\d+$/.test(priority)) out.priority = t("form.integer");
    if (!/^\d+$/.test(weight)) out.weight = t("form.integer");
    if (parsed.error) out.settings = parsed.error;
    setErrors(out);
    if (Object.keys(out).length) {
      if (out.settings && tab !== "settings") toast.err(t("channels.settingsInvalid"));
      return;
    }
    const body: Record<string, unknown> = {
      type,
      name: name.trim(),
      status: enabled ? "enabled" : "disabled",
      priority: Number(priority),
      weight: Number(weight),
      promoted,
      groups: groupIds,
      settings: parsed.value ?? {},
    };
    if (baseUrl.trim()) body.base_url = baseUrl.trim();
    if (!channel) {
      const list = keys.split(/\s+/).map((k) => k.trim()).filter(Boolean);
      if (list.length) body.api_keys = list;
    }
    setBusy(true);
    setServerError(null);
    try {
      if (channel) {
        await patch(`/api/admin/channels/${channel.id}`, body);
        toast.ok(t("common.saved"));
        await qc.invalidateQueries({ queryKey: CHANNELS_KEY });
      } else {
        const created = await post<{ channel: Channel }>("/api/admin/channels", body);
        toast.ok(t("channels.created"));
        await qc.invalidateQueries({ queryKey: CHANNELS_KEY });
        onCreated(created.channel);
      }
    } catch (err) {
      setServerError(errorText(t, err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="form" onSubmit={submit} noValidate data-testid="channel-form">
      {tab === "general" ? (
        <>
          <div className="form-row">
            <Field label={t("col.type")} htmlFor="ch-type" hint={channel ? t("channels.typeFixed") : undefined}>
              <select id="ch-type" className="select" value={type} disabled={!!channel} onChange={(e) => setType(e.target.value as ChannelType)}>
                {(Object.keys(TYPE_LABEL) as ChannelType[]).map((k) => (
                  <option key={k} value={k}>
                    {TYPE_LABEL[k]}
                  </option>
                ))}
              </select>
            </Field>
            <Field label={t("col.name")} htmlFor="ch-name" error={errors.name}>
              <input id="ch-name" className={`input ${errors.name ? "invalid" : ""}`} value={name} onChange={(e) => setName(e.target.value)} />
            </Field>
          </div>
          <Field label={t("col.baseUrl")} htmlFor="ch-url" error={errors.baseUrl} hint={t("channels.urlHint", { url: DEFAULT_URL[type] })}>
            <input id="ch-url" className={`input mono ${errors.baseUrl ? "invalid" : ""}`} placeholder={DEFAULT_URL[type]} value={baseUrl} onChange={(e) => setBaseUrl(e.target.value)} />
          </Field>
          <div className="form-row">
            <Field label={t("col.priority")} htmlFor="ch-priority" error={errors.priority} hint={t("channels.priorityHint")}>
              <input id="ch-priority" className="input" inputMode="numeric" value={priority} onChange={(e) => setPriority(e.target.value)} />
            </Field>
            <Field label={t("col.weight")} htmlFor="ch-weight" error={errors.weight} hint={t("channels.weightHint")}>
              <input id="ch-weight" className="input" inputMode="numeric" value={weight} onChange={(e) => setWeight(e.target.value)} />
            </Field>
          </div>
          <div className="row between">
            <div>
              <div className="field-label">{t("col.enabled")}</div>
              <div className="field-hint">{t("channels.enabledHint")}</div>
            </div>
            <Switch label={t("col.enabled")} checked={enabled} onChange={setEnabled} />
          </div>
          <div className="row between">
            <div>
              <div className="field-label">{t("channels.promoted")}</div>
              <div className="field-hint">{t("channels.promotedHint")}</div>
            </div>
            <Switch label={t("channels.promoted")} checked={promoted} onChange={setPromoted} />
          </div>
          <div className="field">
            <span className="field-label">{t("nav.channelGroups")}</span>
            <span className="field-hint">{t("channels.groupsHint")}</span>
            <div className="row">
              {(groups.data ?? []).map((g) => (
                <label key={g.id} className="check">
                  <input
                    type="checkbox"
                    checked={groupIds.includes(g.id)}
                    onChange={() => setGroupIds(groupIds.includes(g.id) ? groupIds.filter((x) => x !== g.id) : [...groupIds, g.id])}
                  />
                  {g.name}
                </label>
              ))}
            </div>
          </div>
          {!channel && type !== "codex_oauth" ? (
            <Field label={t("channels.apiKeys")} htmlFor="ch-keys" hint={t("channels.apiKeysHint")}>
              <textarea id="ch-keys" className="textarea mono" value={keys} onChange={(e) => setKeys(e.target.value)} autoComplete="off" spellCheck={false} />
            </Field>
          ) : null}
          {type === "codex_oauth" ? <Callout>{t("channels.codexNote")}</Callout> : null}
        </>
      ) : (
        <>
          <p className="muted small">{t("channels.settingsLead")}</p>
          {channel?.settings_secrets?.length ? (
            <Callout>
              <span data-testid="settings-secrets">{t("channels.settingsSecrets", { paths: channel.settings_secrets.join(", ") })}</span>
            </Callout>
          ) : null}
          <div className="card">
            <div className="setting">
              <div className="setting-text">
                <strong>{t("channels.capabilities")}</strong>
                <p>{t("channels.capabilitiesHint")}</p>
              </div>
              <div className="setting-control">
                {(["responses", "chat", "embeddings"] as const).map((cap) => (
                  <label key={cap} className="check">
                    <input type="checkbox" disabled={!parsed.value} checked={caps[cap] !== false} onChange={(e) => setCap(cap, e.target.checked)} />
                    {cap}
                  </label>
                ))}
              </div>
            </div>
            <div className="setting">
              <div className="setting-text">
                <strong>{t("channels.proxy")}</strong>
                <p>{t("channels.proxyHint")}</p>
              </div>
              <div className="setting-control wide">
                <input
                  className="input mono"
                  placeholder="socks5h://127.0.0.1:1080"
                  disabled={!parsed.value}
                  value={typeof parsed.value?.proxy === "string" ? parsed.value.proxy : ""}
                  onChange={(e) => setSetting("proxy", e.target.value || undefined)}
                  aria-label={t("channels.proxy")}
                />
              </div>
            </div>
            <div className="setting">
              <div className="setting-text">
                <strong>{t("channels.reasoningSuffixes")}</strong>
                <p>{t("channels.reasoningSuffixesHint")}</p>
              </div>
              <Switch label={t("channels.reasoningSuffixes")} disabled={!parsed.value} checked={parsed.value?.reasoning_suffixes === true} onChange={(on) => setSetting("reasoning_suffixes", on || undefined)} />
            </div>
            <div className="setting">
              <div className="setting-text">
                <strong>{t("channels.rawPassthrough")}</strong>
                <p>{t("channels.rawPassthroughHint")}</p>
              </div>
              <Switch label={t("channels.rawPassthrough")} disabled={!parsed.value} checked={parsed.value?.raw_passthrough === true} onChange={(on) => setSetting("raw_passthrough", on || undefined)} />
            </div>
          </div>
          <Field label={t("channels.settingsJson")} htmlFor="ch-settings" error={errors.settings ?? parsed.error} hint={t("channels.settingsKeys", { keys: SETTINGS_KEYS.join(", ") })}>
            <textarea
              id="ch-settings"
              className={`textarea code ${parsed.error ? "invalid" : ""}`}
              value={settingsText}
              onChange={(e) => setSettingsText(e.target.value)}
              spellCheck={false}
              data-testid="settings-json"
            />
          </Field>
          <div className="row">
            <button type="button" className="btn sm" disabled={!parsed.value} onClick={() => setSettingsText(JSON.stringify(parsed.value, null, 2))}>
              {t("channels.format")}
            </button>
            {parsed.error ? null : <span className="small faint">✓ {t("channels.settingsValid")}</span>}
          </div>
        </>
      )}
      {serverError ? <Callout kind="err">{serverError}</Callout> : null}
      {testing && channel ? <TestModal channel={channel} onClose={() => setTesting(false)} /> : null}
      <div className="row between">
        {channel && channel.type !== "codex_oauth" ? (
          <button type="button" className="btn" onClick={() => setTesting(true)}>
            <IconZap />
            {t("channels.test")}
          </button>
        ) : (
          <span />
        )}
        <div className="row">
          <button type="button" className="btn" onClick={onClose}>
            {t("common.close")}
          </button>
          <button type="submit" className="btn primary" disabled={busy}>
            {channel ? t("common.save") : t("channels.create")}
          </button>
        </div>
      </div>
    </form>
  );
}

function Credentials({ channel }: { channel: Channel }) {
  const t = useT();
  const [key, setKey] = useState("");
  const [name, setName] = useState("");
  const [error, setError] = useState<string | null>(null);
  const base = `/api/admin/channels/${channel.id}/credentials`;
  const add = useAction((body: { api_key: string; name?: string }) => post(base, body), {
    invalidate: [CHANNELS_KEY],
    success: t("channels.keyAdded"),
    onDone: () => {
      setKey("");
      setName("");
    },
  });
  const toggle = useAction(({ id, on }: { id: number; on: boolean }) => patch(`${base}/${id}`, { status: on ? "enabled" : "disabled" }), {
    invalidate: [CHANNELS_KEY],
    success: t("common.saved"),
  });
  const remove = useAction((id: number) => del(`${base}/${id}`), { invalidate: [CHANNELS_KEY], success: t("channels.keyDeleted") });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!key.trim() || /\s/.test(key.trim())) {
      setError(t("channels.keyRule"));
      return;
    }
    setError(null);
    add.mutate({ api_key: key.trim(), ...(name.trim() ? { name: name.trim() } : {}) });
  };
  return (
    <div className="stack">
      <p className="muted small">{t("channels.credentialsLead")}</p>
      {channel.credentials.length === 0 ? (
        <Callout kind="warn">{t("channels.noKeysText")}</Callout>
      ) : (
        <div className="card table-wrap">
          <table className="table">
            <thead>
              <tr>
                <th>{t("col.key")}</th>
                <th>{t("col.name")}</th>
                <th className="hide-sm">{t("col.created")}</th>
                <th>{t("col.enabled")}</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {channel.credentials.map((c) => (
                <tr key={c.id}>
                  <td className="mono">{c.hint}</td>
                  <td>{c.name || <span className="faint">–</span>}</td>
                  <td className="hide-sm nowrap">{dateTime(c.created_at)}</td>
                  <td>
                    <Switch label={t("col.enabled")} checked={c.status === "enabled"} onChange={(on) => toggle.mutate({ id: c.id, on })} />
                  </td>
                  <td className="actions">
                    <DeleteButton title={t("channels.keyDeleteQ", { hint: c.hint })} body={t("channels.keyDeleteText")} onConfirmed={() => remove.mutate(c.id)} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <form className="card card-body form" onSubmit={submit} noValidate>
        <h3>{t("channels.addKey")}</h3>
        <div className="form-row">
          <Field label={t("channels.apiKey")} htmlFor="cred-key" error={error}>
            <input id="cred-key" className="input mono" type="password" autoComplete="off" value={key} onChange={(e) => setKey(e.target.value)} />
          </Field>
          <Field label={t("channels.keyName")} htmlFor="cred-name">
            <input id="cred-name" className="input" value={name} onChange={(e) => setName(e.target.value)} />
          </Field>
        </div>
        <div>
          <button type="submit" className="btn primary" disabled={add.isPending}>
            <IconPlus />
            {t("channels.addKey")}
          </button>
        </div>
      </form>
    </div>
  );
}

function Bindings({ channel }: { channel: Channel }) {
  const t = useT();
  const catalogue = useAll<Model>(["admin", "models", "all"], "/api/admin/models");
  const [publicId, setPublicId] = useState("");
  const [upstream, setUpstream] = useState("");
  const base = `/api/admin/channels/${channel.id}/models`;
  const invalidate = [CHANNELS_KEY, ["admin", "models", "all"]];
  const add = useAction((body: { public_id: string; upstream_model?: string }) => post(base, body), {
    invalidate,
    success: t("channels.bound"),
    onDone: () => {
      setPublicId("");
      setUpstream("");
    },
  });
  const toggle = useAction(({ id, on }: { id: number; on: boolean }) => patch(`${base}/${id}`, { enabled: on }), { invalidate, success: t("common.saved") });
  const rename = useAction(({ id, value }: { id: number; value: string | null }) => patch(`${base}/${id}`, { upstream_model: value }), { invalidate, success: t("common.saved") });
  const remove = useAction((id: number) => del(`${base}/${id}`), { invalidate, success: t("channels.unbound") });
  const unbound = (catalogue.data ?? []).filter((m) => !channel.models.some((b) => b.public_id === m.public_id));
  return (
    <div className="stack">
      <p className="muted small">{t("channels.bindingsLead")}</p>
      {channel.models.length === 0 ? (
        <Callout kind="warn">{t("channels.noModelsText")}</Callout>
      ) : (
        <div className="card table-wrap">
          <table className="table" data-testid="bindings-table">
            <thead>
              <tr>
                <th>{t("channels.publicModel")}</th>
                <th>{t("channels.upstreamModel")}</th>
                <th>{t("col.enabled")}</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {channel.models.map((b) => (
                <tr key={b.id}>
                  <td>
                    <Mono text={b.public_id} />
                  </td>
                  <td>
                    <input
                      className="input mono"
                      placeholder={b.public_id}
                      defaultValue={b.upstream_model ?? ""}
                      key={`${b.id}-${b.upstream_model}`}
                      aria-label={t("channels.upstreamModel")}
                      onBlur={(e) => {
                        const value = e.target.value.trim() || null;
                        if (value !== (b.upstream_model ?? null)) rename.mutate({ id: b.id, value });
                      }}
                    />
                  </td>
                  <td>
                    <Switch label={t("col.enabled")} checked={b.enabled} onChange={(on) => toggle.mutate({ id: b.id, on })} />
                  </td>
                  <td className="actions">
                    <DeleteButton title={t("channels.unbindQ", { model: b.public_id })} label={t("common.remove")} onConfirmed={() => remove.mutate(b.id)} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <form
        className="card card-body form"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          if (!publicId) return;
          add.mutate({ public_id: publicId, ...(upstream.trim() ? { upstream_model: upstream.trim() } : {}) });
        }}
      >
        <h3>{t("channels.bindModel")}</h3>
        {catalogue.data && catalogue.data.length === 0 ? <Callout>{t("channels.catalogueEmpty")}</Callout> : null}
        <div className="form-row">
          <Field label={t("channels.publicModel")} htmlFor="bind-model">
            <select id="bind-model" className="select" value={publicId} onChange={(e) => setPublicId(e.target.value)}>
              <option value="">{t("channels.pickModel")}</option>
              {unbound.map((m) => (
                <option key={m.id} value={m.public_id}>
                  {m.public_id}
                </option>
              ))}
            </select>
          </Field>
          <Field label={t("channels.upstreamModel")} htmlFor="bind-upstream" hint={t("channels.upstreamHint")}>
            <input id="bind-upstream" className="input mono" value={upstream} onChange={(e) => setUpstream(e.target.value)} placeholder={publicId} />
          </Field>
        </div>
        <div>
          <button type="submit" className="btn primary" disabled={!publicId || add.isPending}>
            <IconPlus />
            {t("channels.bind")}
          </button>
        </div>
      </form>
      <div className="small faint">{t("channels.statusLine")}: <StatusBadge status={channel.status} /></div>
    </div>
  );
}
