// The "Codex accounts" tab of a `codex_oauth` channel: sign a ChatGPT account in (the authorize
// link, the local listener's state, and pasting the callback address), import tokens by hand,
// and the accounts with their 5-hour and 7-day quota, status, last error and cool-down.
import { useState, type FormEvent } from "react";
import { useQuery } from "@tanstack/react-query";
import { useT } from "../../i18n";
import { del, get, patch, post } from "../../lib/api";
import { errorText, useAction } from "../../lib/hooks";
import type { Channel, CodexAccount, CodexStart, Page, QuotaWindow } from "../../lib/types";
import { dateTime, zoneLabel } from "../../lib/format";
import { Callout, CopyButton, Empty, ErrorBox, Field, SkeletonRows, StatusBadge } from "../../components/ui";
import { useConfirm } from "../../components/overlays";
import { IconBan, IconCheck, IconKey, IconPlus, IconRotate, IconTrash, IconUser } from "../../components/icons";

const CHANNELS_KEY = ["admin", "channels", "all"];

export function CodexAccounts({ channel }: { channel: Channel }) {
  const t = useT();
  const base = `/api/admin/channels/${channel.id}`;
  const key = ["admin", "codex-accounts", channel.id];
  const [flow, setFlow] = useState<CodexStart | null>(null);
  const accounts = useQuery({
    queryKey: key,
    queryFn: () => get<Page<CodexAccount>>(`${base}/codex-accounts`),
    // While a sign-in is pending the local listener may complete it on its own: look often.
    refetchInterval: flow?.listener.status === "listening" ? 3_000 : 30_000,
  });
  const items = accounts.data?.items ?? [];
  return (
    <div className="stack">
      <p className="muted small">{t("codex.lead", { zone: zoneLabel() })}</p>
      <SignIn base={base} flow={flow} setFlow={setFlow} invalidate={key} />
      <section className="stack" data-testid="codex-accounts">
        <h3>{t("codex.accounts")}</h3>
        {accounts.isPending ? (
          <SkeletonRows rows={2} />
        ) : accounts.isError ? (
          <ErrorBox error={accounts.error} retry={() => void accounts.refetch()} />
        ) : items.length === 0 ? (
          <div className="card">
            <Empty icon={<IconUser />} title={t("codex.emptyTitle")} text={t("codex.emptyText")} />
          </div>
        ) : (
          items.map((a) => <AccountCard key={a.id} account={a} base={base} invalidate={key} />)
        )}
      </section>
      <ImportForm base={base} invalidate={key} />
    </div>
  );
}

function SignIn({
  base,
  flow,
  setFlow,
  invalidate,
}: {
  base: string;
  flow: CodexStart | null;
  setFlow: (f: CodexStart | null) => void;
  invalidate: unknown[];
}) {
  const t = useT();
  const [callback, setCallback] = useState("");
  const [error, setError] = useState<string | null>(null);
  const start = useAction(() => post<CodexStart>(`${base}/codex-oauth/start`), {
    onDone: (started) => {
      setFlow(started);
      setCallback("");
      setError(null);
    },
  });
  const complete = useAction((callback_url: string) => post(`${base}/codex-oauth/complete`, { callback_url }), {
    invalidate: [invalidate, CHANNELS_KEY],
    success: t("codex.added"),
    onDone: () => {
      setFlow(null);
      setCallback("");
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!callback.trim()) {
      setError(t("codex.callbackRule"));
      return;
    }
    setError(null);
    complete.mutate(callback.trim());
  };
  return (
    <section className="card card-body form">
      <h3>{t("codex.signInTitle")}</h3>
      <p className="muted small">{t("codex.signInLead")}</p>
      <div>
        <button type="button" className="btn primary" disabled={start.isPending} onClick={() => start.mutate(undefined)}>
          <IconKey />
          {flow ? t("codex.restart") : t("codex.start")}
        </button>
      </div>
      {flow ? (
        <>
          <div className="field">
            <span className="field-label">{t("codex.authUrl")}</span>
            <div className="row nowrap">
              <a className="mono small ellipsis" href={flow.auth_url} target="_blank" rel="noreferrer noopener" data-testid="codex-auth-url">
                {flow.auth_url}
              </a>
              <CopyButton text={flow.auth_url} />
            </div>
            <span className="field-hint">{t("codex.authUrlHint", { time: dateTime(flow.expires_at) })}</span>
          </div>
          {flow.listener.status === "listening" ? (
            <Callout kind="ok">{t("codex.listening", { port: String(flow.listener.port ?? "") })}</Callout>
          ) : flow.listener.status === "unavailable" ? (
            <Callout kind="warn">{t("codex.listenerUnavailable", { message: flow.listener.message ?? "" })}</Callout>
          ) : (
            <Callout>{t("codex.listenerOff")}</Callout>
          )}
          <form className="form" onSubmit={submit} noValidate>
            <Field label={t("codex.callback")} htmlFor="codex-callback" error={error} hint={t("codex.callbackHint", { uri: flow.redirect_uri })}>
              <input
                id="codex-callback"
                className="input mono"
                autoComplete="off"
                spellCheck={false}
                placeholder={`${flow.redirect_uri}?code=…&state=…`}
                value={callback}
                onChange={(e) => setCallback(e.target.value)}
              />
            </Field>
            <div>
              <button type="submit" className="btn primary" disabled={complete.isPending}>
                <IconCheck />
                {t("codex.complete")}
              </button>
            </div>
          </form>
        </>
      ) : null}
    </section>
  );
}

function QuotaBar({ label, window }: { label: string; window: QuotaWindow | null }) {
  const t = useT();
  if (!window) {
    return (
      <div className="quota">
        <div className="row between small">
          <strong>{label}</strong>
          <span className="faint">{t("codex.noQuota")}</span>
        </div>
        <div className="bar-track" />
      </div>
    );
  }
  const used = Math.max(0, Math.min(100, window.used_percent));
  const step = Math.round(used / 5) * 5;
  const kind = used >= 90 ? "err" : used >= 70 ? "warn" : "";
  return (
    <div className="quota">
      <div className="row between small">
        <strong>{label}</strong>
        <span>{t("codex.used", { percent: used.toFixed(used < 10 ? 1 : 0) })}</span>
      </div>
      <div className="bar-track" role="progressbar" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(used)}>
        <div className={`bar-fill w-${step} ${kind}`} />
      </div>
      <div className="small faint">{t("codex.resets", { time: dateTime(window.reset_at) })}</div>
    </div>
  );
}

function AccountCard({ account: a, base, invalidate }: { account: CodexAccount; base: string; invalidate: unknown[] }) {
  const t = useT();
  const confirm = useConfirm();
  const path = `${base}/codex-accounts/${a.id}`;
  const refresh = useAction(() => post<{ quota_error: string | null }>(`${path}/refresh`), {
    invalidate: [invalidate],
    success: t("codex.refreshed"),
  });
  const toggle = useAction((on: boolean) => patch(path, { status: on ? "enabled" : "disabled" }), {
    invalidate: [invalidate, CHANNELS_KEY],
    success: t("common.saved"),
  });
  const remove = useAction(() => del(path), { invalidate: [invalidate, CHANNELS_KEY], success: t("codex.deleted") });
  const name = a.email || a.account_id;
  const cooling = a.cooldown_until && new Date(a.cooldown_until).getTime() > Date.now();
  return (
    <article className="card card-body stack" data-testid="codex-account">
      <div className="row between">
        <div className="row">
          <strong>{name}</strong>
          {a.plan ? <span className="badge plain accent">{a.plan}</span> : null}
          <StatusBadge status={a.status} />
          {cooling ? <span className="badge warn">{t("codex.coolingUntil", { time: dateTime(a.cooldown_until) })}</span> : null}
        </div>
        <div className="row">
          <button type="button" className="btn sm" disabled={refresh.isPending} onClick={() => refresh.mutate(undefined)}>
            <IconRotate />
            {t("codex.refresh")}
          </button>
          <button type="button" className="btn sm" disabled={toggle.isPending} onClick={() => toggle.mutate(a.status !== "enabled")}>
            {a.status === "enabled" ? <IconBan /> : <IconCheck />}
            {a.status === "enabled" ? t("codex.disable") : t("codex.enable")}
          </button>
          <button
            type="button"
            className="btn sm danger"
            onClick={async () => {
              if (await confirm({ title: t("codex.deleteQ", { name }), body: t("codex.deleteText"), confirm: t("common.delete"), danger: true })) remove.mutate(undefined);
            }}
          >
            <IconTrash />
            {t("common.delete")}
          </button>
        </div>
      </div>
      <div className="form-row">
        <QuotaBar label={t("codex.primary")} window={a.quota.primary} />
        <QuotaBar label={t("codex.secondary")} window={a.quota.secondary} />
      </div>
      <div className="small faint">
        {t("codex.facts", {
          account: a.account_id,
          quota: dateTime(a.quota.updated_at),
          expires: dateTime(a.expires_at),
          refreshed: dateTime(a.last_refresh_at),
        })}
      </div>
      {a.last_error ? <Callout kind="err">{t("codex.lastError", { error: a.last_error })}</Callout> : null}
    </article>
  );
}

function ImportForm({ base, invalidate }: { base: string; invalidate: unknown[] }) {
  const t = useT();
  const empty = { access: "", refresh: "", id: "", account: "", email: "", expires: "" };
  const [form, setForm] = useState(empty);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [serverError, setServerError] = useState<string | null>(null);
  const set = (k: keyof typeof empty) => (e: { target: { value: string } }) => setForm({ ...form, [k]: e.target.value });
  const add = useAction((body: Record<string, string>) => post(`${base}/codex-accounts`, body), {
    invalidate: [invalidate, CHANNELS_KEY],
    success: t("codex.imported"),
    onDone: () => {
      setForm(empty);
      setServerError(null);
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const out: Record<string, string> = {};
    const token = (v: string) => v.trim() !== "" && !/\s/.test(v.trim());
    if (!token(form.access)) out.access = t("codex.tokenRule");
    if (!token(form.refresh)) out.refresh = t("codex.tokenRule");
    if (form.id.trim() && !token(form.id)) out.id = t("codex.tokenRule");
    if (form.email.trim() && !/^[^\s@]+@[^\s@]+$/.test(form.email.trim())) out.email = t("codex.emailRule");
    let expires: string | undefined;
    if (form.expires) {
      const d = new Date(form.expires);
      if (Number.isNaN(d.getTime())) out.expires = t("codex.expiresRule");
      else expires = d.toISOString();
    }
    setErrors(out);
    if (Object.keys(out).length) return;
    const body: Record<string, string> = { access_token: form.access.trim(), refresh_token: form.refresh.trim() };
    if (form.id.trim()) body.id_token = form.id.trim();
    if (form.account.trim()) body.account_id = form.account.trim();
    if (form.email.trim()) body.email = form.email.trim();
    if (expires) body.expires_at = expires;
    add.mutate(body, { onError: (err) => setServerError(errorText(t, err)) });
  };
  const secret = (id: string, k: "access" | "refresh" | "id", label: string, hint?: string) => (
    <Field label={label} htmlFor={id} error={errors[k]} hint={hint}>
      <input id={id} className="input mono" type="password" autoComplete="off" spellCheck={false} value={form[k]} onChange={set(k)} />
    </Field>
  );
  return (
    <form className="card card-body form" onSubmit={submit} noValidate>
      <h3>{t("codex.importTitle")}</h3>
      <p className="muted small">{t("codex.importLead")}</p>
      <div className="form-row">
        {secret("codex-access", "access", t("codex.accessToken"))}
        {secret("codex-refresh", "refresh", t("codex.refreshToken"))}
      </div>
      {secret("codex-id", "id", t("codex.idToken"), t("codex.idTokenHint"))}
      <div className="form-row">
        <Field label={t("codex.accountId")} htmlFor="codex-account" hint={t("codex.optional")}>
          <input id="codex-account" className="input mono" autoComplete="off" value={form.account} onChange={set("account")} />
        </Field>
        <Field label={t("codex.email")} htmlFor="codex-email" error={errors.email} hint={t("codex.optional")}>
          <input id="codex-email" className="input" type="email" autoComplete="off" value={form.email} onChange={set("email")} />
        </Field>
      </div>
      <Field label={t("codex.expiresAt")} htmlFor="codex-expires" error={errors.expires} hint={t("codex.expiresHint", { zone: zoneLabel() })}>
        <input id="codex-expires" className="input" type="datetime-local" step={1} value={form.expires} onChange={set("expires")} />
      </Field>
      {serverError ? <Callout kind="err">{serverError}</Callout> : null}
      <div>
        <button type="submit" className="btn primary" disabled={add.isPending}>
          <IconPlus />
          {t("codex.import")}
        </button>
      </div>
    </form>
  );
}
