// The signed-in user's profile, password change (other sessions end) and email change.
import { useState, type FormEvent } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { useT } from "../i18n";
import { patch, post } from "../lib/api";
import { errorText, ME_KEY, useMe } from "../lib/hooks";
import { dateTime, money } from "../lib/format";
import { Callout, Card, Field, Mono, PageHead, Spinner } from "../components/ui";
import { useToast } from "../components/overlays";
import { MIN_PASSWORD } from "./auth";

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export default function AccountPage() {
  const t = useT();
  const me = useMe().data;
  return (
    <div className="stack">
      <PageHead title={t("nav.account")} description={t("account.lead")} />
      <div className="grid cols-3">
        <Card title={t("account.profile")}>
          <div className="kv">
            <div>{t("auth.username")}</div>
            <div>{me?.username}</div>
            <div>{t("auth.email")}</div>
            <div>{me?.email}</div>
            <div>{t("account.role")}</div>
            <div>{me?.role === "root" ? t("role.root") : t("role.user")}</div>
            <div>{t("account.userId")}</div>
            <div>
              <Mono text={String(me?.id ?? "")} />
            </div>
            {me?.balance_usd !== undefined ? (
              <>
                <div>{t("account.balance")}</div>
                <div>{money(me.balance_usd)}</div>
              </>
            ) : null}
            <div>{t("col.created")}</div>
            <div>{dateTime(me?.created_at, true)}</div>
          </div>
        </Card>
        <PasswordCard />
        <EmailCard current={me?.email ?? ""} />
      </div>
    </div>
  );
}

function PasswordCard() {
  const t = useT();
  const toast = useToast();
  const [form, setForm] = useState({ current: "", next: "", confirm: "" });
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const out: Record<string, string> = {};
    if (!form.current) out.current = t("form.required");
    if (form.next.length < MIN_PASSWORD) out.next = t("auth.passwordRule", { n: MIN_PASSWORD });
    if (form.confirm !== form.next) out.confirm = t("auth.passwordMismatch");
    setErrors(out);
    if (Object.keys(out).length) return;
    setBusy(true);
    setError(null);
    try {
      await post("/api/me/password", { current_password: form.current, new_password: form.next });
      setForm({ current: "", next: "", confirm: "" });
      toast.ok(t("account.passwordChanged"));
    } catch (err) {
      setError(errorText(t, err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Card title={t("account.changePassword")} subtitle={t("account.changePasswordLead")}>
      <form className="form" onSubmit={submit} noValidate>
        <Field label={t("account.currentPassword")} htmlFor="pw-current" error={errors.current}>
          <input id="pw-current" type="password" className="input" autoComplete="current-password" value={form.current} onChange={(e) => setForm({ ...form, current: e.target.value })} />
        </Field>
        <Field label={t("account.newPassword")} htmlFor="pw-new" error={errors.next} hint={t("auth.passwordRule", { n: MIN_PASSWORD })}>
          <input id="pw-new" type="password" className="input" autoComplete="new-password" value={form.next} onChange={(e) => setForm({ ...form, next: e.target.value })} />
        </Field>
        <Field label={t("auth.confirmPassword")} htmlFor="pw-confirm" error={errors.confirm}>
          <input id="pw-confirm" type="password" className="input" autoComplete="new-password" value={form.confirm} onChange={(e) => setForm({ ...form, confirm: e.target.value })} />
        </Field>
        {error ? <Callout kind="err">{error}</Callout> : null}
        <div>
          <button type="submit" className="btn primary" disabled={busy}>
            {busy ? <Spinner /> : null}
            {t("account.changePassword")}
          </button>
        </div>
      </form>
    </Card>
  );
}

function EmailCard({ current }: { current: string }) {
  const t = useT();
  const toast = useToast();
  const qc = useQueryClient();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const out: Record<string, string> = {};
    if (!EMAIL.test(email.trim())) out.email = t("auth.emailRule");
    else if (email.trim().toLowerCase() === current.toLowerCase()) out.email = t("account.sameEmail");
    if (!password) out.password = t("form.required");
    setErrors(out);
    if (Object.keys(out).length) return;
    setBusy(true);
    setError(null);
    try {
      await patch("/api/me", { email: email.trim(), current_password: password });
      setEmail("");
      setPassword("");
      await qc.invalidateQueries({ queryKey: ME_KEY });
      toast.ok(t("account.emailChanged"));
    } catch (err) {
      setError(errorText(t, err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Card title={t("account.changeEmail")} subtitle={t("account.changeEmailLead", { email: current })}>
      <form className="form" onSubmit={submit} noValidate>
        <Field label={t("account.newEmail")} htmlFor="email-new" error={errors.email}>
          <input id="email-new" type="email" className="input" autoComplete="email" value={email} onChange={(e) => setEmail(e.target.value)} />
        </Field>
        <Field label={t("account.currentPassword")} htmlFor="email-pw" error={errors.password}>
          <input id="email-pw" type="password" className="input" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} />
        </Field>
        {error ? <Callout kind="err">{error}</Callout> : null}
        <div>
          <button type="submit" className="btn primary" disabled={busy}>
            {busy ? <Spinner /> : null}
            {t("account.changeEmail")}
          </button>
        </div>
      </form>
    </Card>
  );
}
