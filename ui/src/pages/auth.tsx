// Sign-in and registration. After signing in the viewer goes back to `?next=` (only a path of
// this site) or the dashboard. The register page says when the account will become root.
import { useState, type FormEvent } from "react";
import { Link, Navigate, useNavigate, useSearchParams } from "react-router";
import { useQueryClient } from "@tanstack/react-query";
import { useT } from "../i18n";
import { currentUserId, post, setCurrentUserId } from "../lib/api";
import { errorText, useSite } from "../lib/hooks";
import type { User } from "../lib/types";
import { LanguageMenu, ThemeMenu } from "../components/layout";
import { Callout, Field, Spinner } from "../components/ui";

/** `next` only when it is a path on this site (no `//host`, no scheme). */
export function safeNext(value: string | null): string {
  if (value && value.startsWith("/") && !value.startsWith("//") && !value.startsWith("/login")) return value;
  return "/dashboard";
}

function AuthFrame({ children }: { children: React.ReactNode }) {
  return (
    <div className="auth">
      <div className="auth-top">
        <LanguageMenu />
        <ThemeMenu />
      </div>
      <div className="auth-card">
        <div className="brand">
          <span className="brand-mark">R</span>
          <span>Realms</span>
        </div>
        {children}
      </div>
    </div>
  );
}

export function LoginPage() {
  const t = useT();
  const [params] = useSearchParams();
  const next = safeNext(params.get("next"));
  const navigate = useNavigate();
  const qc = useQueryClient();
  const site = useSite().data;
  const [login, setLogin] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  if (currentUserId() !== null && !busy) return <Navigate to={next} replace />;

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!login.trim() || !password) {
      setError(t("auth.fillBoth"));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const answer = await post<{ user: User }>("/api/auth/login", { login: login.trim(), password });
      setCurrentUserId(answer.user.id);
      qc.clear();
      navigate(next, { replace: true });
    } catch (err) {
      setError(errorText(t, err));
      setBusy(false);
    }
  };

  return (
    <AuthFrame>
      <div>
        <h1>{t("auth.signIn")}</h1>
        <p className="muted">{t("auth.signInLead")}</p>
      </div>
      {site?.first_run ? (
        <Callout>
          {t("auth.firstRunHint")} <Link to="/register">{t("auth.createAdmin")}</Link>
        </Callout>
      ) : null}
      {params.get("expired") ? <Callout kind="warn">{t("auth.sessionEnded")}</Callout> : null}
      <form className="form" onSubmit={submit} noValidate>
        <Field label={t("auth.login")} htmlFor="login">
          <input id="login" className="input" autoComplete="username" value={login} onChange={(e) => setLogin(e.target.value)} autoFocus />
        </Field>
        <Field label={t("auth.password")} htmlFor="password">
          <input
            id="password"
            className="input"
            type="password"
            autoComplete="current-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </Field>
        {error ? <Callout kind="err">{error}</Callout> : null}
        <button type="submit" className="btn primary block" disabled={busy}>
          {busy ? <Spinner /> : null}
          {t("auth.signIn")}
        </button>
      </form>
      {site?.registration_open ? (
        <div className="auth-foot">
          {t("auth.noAccount")} <Link to="/register">{t("auth.register")}</Link>
        </div>
      ) : null}
    </AuthFrame>
  );
}

const USERNAME = /^[A-Za-z0-9_.-]{3,32}$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
export const MIN_PASSWORD = 8;

export function RegisterPage() {
  const t = useT();
  const navigate = useNavigate();
  const qc = useQueryClient();
  const siteQuery = useSite();
  const site = siteQuery.data;
  const [form, setForm] = useState({ username: "", email: "", password: "", confirm: "" });
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  if (currentUserId() !== null && !busy) return <Navigate to="/dashboard" replace />;

  const set = (key: keyof typeof form) => (e: React.ChangeEvent<HTMLInputElement>) => setForm({ ...form, [key]: e.target.value });

  const validate = () => {
    const out: Record<string, string> = {};
    if (!USERNAME.test(form.username.trim())) out.username = t("auth.usernameRule");
    if (!EMAIL.test(form.email.trim())) out.email = t("auth.emailRule");
    if (form.password.length < MIN_PASSWORD) out.password = t("auth.passwordRule", { n: MIN_PASSWORD });
    if (form.confirm !== form.password) out.confirm = t("auth.passwordMismatch");
    setErrors(out);
    return Object.keys(out).length === 0;
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!validate()) return;
    setBusy(true);
    setError(null);
    try {
      const answer = await post<{ user: User }>("/api/auth/register", {
        username: form.username.trim(),
        email: form.email.trim(),
        password: form.password,
      });
      setCurrentUserId(answer.user.id);
      qc.clear();
      navigate(answer.user.role === "root" ? "/admin" : "/dashboard", { replace: true });
    } catch (err) {
      setError(errorText(t, err));
      setBusy(false);
    }
  };

  const closed = site && !site.registration_open;
  return (
    <AuthFrame>
      <div>
        <h1>{t("auth.register")}</h1>
        <p className="muted">{t("auth.registerLead")}</p>
      </div>
      {site?.first_run ? <Callout kind="ok">{t("auth.firstRunRegister")}</Callout> : null}
      {closed ? (
        <Callout kind="warn">{t("auth.registrationClosed")}</Callout>
      ) : (
        <form className="form" onSubmit={submit} noValidate>
          <Field label={t("auth.username")} htmlFor="username" error={errors.username} hint={t("auth.usernameRule")}>
            <input id="username" className={`input ${errors.username ? "invalid" : ""}`} autoComplete="username" value={form.username} onChange={set("username")} autoFocus />
          </Field>
          <Field label={t("auth.email")} htmlFor="email" error={errors.email}>
            <input id="email" className={`input ${errors.email ? "invalid" : ""}`} type="email" autoComplete="email" value={form.email} onChange={set("email")} />
          </Field>
          <Field label={t("auth.password")} htmlFor="password" error={errors.password} hint={t("auth.passwordRule", { n: MIN_PASSWORD })}>
            <input id="password" className={`input ${errors.password ? "invalid" : ""}`} type="password" autoComplete="new-password" value={form.password} onChange={set("password")} />
          </Field>
          <Field label={t("auth.confirmPassword")} htmlFor="confirm" error={errors.confirm}>
            <input id="confirm" className={`input ${errors.confirm ? "invalid" : ""}`} type="password" autoComplete="new-password" value={form.confirm} onChange={set("confirm")} />
          </Field>
          {error ? <Callout kind="err">{error}</Callout> : null}
          <button type="submit" className="btn primary block" disabled={busy}>
            {busy ? <Spinner /> : null}
            {t("auth.createAccount")}
          </button>
        </form>
      )}
      <div className="auth-foot">
        {t("auth.haveAccount")} <Link to="/login">{t("auth.signIn")}</Link>
      </div>
    </AuthFrame>
  );
}
