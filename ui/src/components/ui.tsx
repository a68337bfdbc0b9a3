// Small building blocks every page uses: page header, cards, stats, empty states, skeletons,
// copy buttons, switches, segmented controls, tabs, fields, badges and a dropdown menu.
import { useEffect, useRef, useState, type ReactNode } from "react";
import { useT } from "../i18n";
import { IconCheck, IconCopy, IconInfo, IconAlert } from "./icons";
import { useToast } from "./overlays";

export function PageHead({ title, description, actions }: { title: string; description?: ReactNode; actions?: ReactNode }) {
  return (
    <div className="page-head">
      <div>
        <h1>{title}</h1>
        {description ? <p>{description}</p> : null}
      </div>
      {actions ? <div className="page-actions">{actions}</div> : null}
    </div>
  );
}

export function Card({
  title,
  subtitle,
  actions,
  children,
  tight,
  className,
}: {
  title?: ReactNode;
  subtitle?: ReactNode;
  actions?: ReactNode;
  children: ReactNode;
  tight?: boolean;
  className?: string;
}) {
  return (
    <section className={`card ${className ?? ""}`}>
      {title || actions ? (
        <div className="card-head">
          <div>
            {title ? <h2>{title}</h2> : null}
            {subtitle ? <p>{subtitle}</p> : null}
          </div>
          {actions ? <div className="row">{actions}</div> : null}
        </div>
      ) : null}
      <div className={tight ? "card-body tight" : "card-body"}>{children}</div>
    </section>
  );
}

export function Stat({ label, value, sub, icon, loading }: { label: string; value: ReactNode; sub?: ReactNode; icon?: ReactNode; loading?: boolean }) {
  return (
    <div className="card stat">
      <div className="stat-label">
        {icon}
        {label}
      </div>
      {loading ? <div className="skeleton lg" /> : <div className="stat-value">{value}</div>}
      {sub ? <div className="stat-sub">{sub}</div> : null}
    </div>
  );
}

export function Empty({ icon, title, text, action }: { icon?: ReactNode; title: string; text?: ReactNode; action?: ReactNode }) {
  return (
    <div className="empty">
      {icon ? <div className="empty-icon">{icon}</div> : null}
      <h3>{title}</h3>
      {text ? <p>{text}</p> : null}
      {action}
    </div>
  );
}

export function SkeletonRows({ rows = 5 }: { rows?: number }) {
  return (
    <div className="skeleton-rows" aria-busy="true">
      {Array.from({ length: rows }, (_, i) => (
        <div key={i} className="skeleton" />
      ))}
    </div>
  );
}

export function Spinner() {
  return <span className="spinner" role="status" />;
}

export function ErrorBox({ error, retry }: { error: unknown; retry?: () => void }) {
  const t = useT();
  const message = error instanceof Error && error.message ? error.message : t("error.generic");
  return (
    <div className="callout err" role="alert">
      <IconAlert />
      <div className="grow">
        <div>{message}</div>
        {retry ? (
          <button type="button" className="btn sm" onClick={retry}>
            {t("common.retry")}
          </button>
        ) : null}
      </div>
    </div>
  );
}

export function Callout({ kind = "info", children }: { kind?: "info" | "warn" | "err" | "ok"; children: ReactNode }) {
  return (
    <div className={`callout ${kind === "info" ? "" : kind}`}>
      {kind === "info" || kind === "ok" ? <IconInfo /> : <IconAlert />}
      <div className="grow">{children}</div>
    </div>
  );
}

/** Copies `text`; shows a tick for a moment and a toast. */
export function CopyButton({ text, label, small = true }: { text: string; label?: string; small?: boolean }) {
  const t = useT();
  const toast = useToast();
  const [done, setDone] = useState(false);
  const timer = useRef<number | undefined>(undefined);
  useEffect(() => () => window.clearTimeout(timer.current), []);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // Clipboard API refused (plain HTTP): fall back to a hidden textarea.
      const area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "visually-hidden";
      document.body.appendChild(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    setDone(true);
    toast.ok(t("common.copied"));
    timer.current = window.setTimeout(() => setDone(false), 1500);
  };
  return (
    <button
      type="button"
      className={`btn ghost ${small ? "sm" : ""} ${label ? "" : "icon"}`}
      onClick={copy}
      title={t("common.copy")}
      aria-label={label ?? t("common.copy")}
    >
      {done ? <IconCheck /> : <IconCopy />}
      {label ? <span>{label}</span> : null}
    </button>
  );
}

/** Monospace text (a key hint, an id, a model name) with a copy button beside it. */
export function Mono({ text, copy = true }: { text: string; copy?: boolean }) {
  return (
    <span className="kbd-copy">
      <span className="mono" title={text}>
        {text}
      </span>
      {copy ? <CopyButton text={text} /> : null}
    </span>
  );
}

export function Switch({
  checked,
  onChange,
  disabled,
  label,
}: {
  checked: boolean;
  onChange: (next: boolean) => void;
  disabled?: boolean;
  label: string;
}) {
  return (
    <button
      type="button"
      role="switch"
      className="switch"
      aria-checked={checked}
      aria-label={label}
      disabled={disabled}
      onClick={() => onChange(!checked)}
    />
  );
}

export function Seg<V extends string>({
  value,
  options,
  onChange,
  label,
}: {
  value: V;
  options: { value: V; label: string }[];
  onChange: (v: V) => void;
  label: string;
}) {
  return (
    <div className="seg" role="group" aria-label={label}>
      {options.map((o) => (
        <button key={o.value} type="button" aria-pressed={o.value === value} onClick={() => onChange(o.value)}>
          {o.label}
        </button>
      ))}
    </div>
  );
}

export function Tabs<V extends string>({
  value,
  tabs,
  onChange,
}: {
  value: V;
  tabs: { value: V; label: string; count?: number }[];
  onChange: (v: V) => void;
}) {
  return (
    <div className="tabs" role="tablist">
      {tabs.map((tab) => (
        <button key={tab.value} type="button" role="tab" aria-selected={tab.value === value} onClick={() => onChange(tab.value)}>
          {tab.label}
          {tab.count !== undefined ? <span className="count">{tab.count}</span> : null}
        </button>
      ))}
    </div>
  );
}

export function Field({
  label,
  hint,
  error,
  children,
  htmlFor,
}: {
  label: string;
  hint?: ReactNode;
  error?: string | null;
  children: ReactNode;
  htmlFor?: string;
}) {
  return (
    <div className="field">
      <label htmlFor={htmlFor}>{label}</label>
      {children}
      {error ? (
        <div className="field-error" role="alert">
          {error}
        </div>
      ) : hint ? (
        <div className="field-hint">{hint}</div>
      ) : null}
    </div>
  );
}

export function StatusBadge({ status }: { status: string }) {
  const t = useT();
  const kind =
    status === "active" || status === "enabled" || status === "ok"
      ? "ok"
      : status === "revoked" || status === "disabled" || status === "error"
        ? "err"
        : status === "expired"
          ? "warn"
          : "";
  const key = `status.${status}` as Parameters<typeof t>[0];
  return <span className={`badge ${kind}`}>{t(key)}</span>;
}

/** A button that opens a small menu; closes on outside click or Escape. */
export function Menu({ trigger, children, label }: { trigger: ReactNode; children: (close: () => void) => ReactNode; label: string }) {
  const [open, setOpen] = useState(false);
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!open) return;
    const onDown = (e: MouseEvent) => {
      if (ref.current && !ref.current.contains(e.target as Node)) setOpen(false);
    };
    const onKey = (e: KeyboardEvent) => e.key === "Escape" && setOpen(false);
    document.addEventListener("mousedown", onDown);
    document.addEventListener("keydown", onKey);
    return () => {
      document.removeEventListener("mousedown", onDown);
      document.removeEventListener("keydown", onKey);
    };
  }, [open]);
  return (
    <div className="menu-wrap" ref={ref}>
      <button type="button" className="btn ghost" aria-haspopup="menu" aria-expanded={open} aria-label={label} onClick={() => setOpen((o) => !o)}>
        {trigger}
      </button>
      {open ? (
        <div className="menu" role="menu">
          {children(() => setOpen(false))}
        </div>
      ) : null}
    </div>
  );
}

/** "Load more" under a cursor-paginated list. */
export function LoadMore({ hasMore, loading, onClick }: { hasMore: boolean; loading: boolean; onClick: () => void }) {
  const t = useT();
  if (!hasMore) return null;
  return (
    <div className="table-foot">
      <button type="button" className="btn sm" onClick={onClick} disabled={loading}>
        {loading ? <Spinner /> : null}
        {t("common.loadMore")}
      </button>
    </div>
  );
}

/** A sortable column header. */
export function SortTh<K extends string>({
  label,
  k,
  sort,
  num,
  className,
}: {
  label: string;
  k: K;
  sort: { key: K; dir: "asc" | "desc"; toggle: (k: K) => void };
  num?: boolean;
  className?: string;
}) {
  const active = sort.key === k;
  return (
    <th className={`${num ? "num" : ""} ${className ?? ""}`} aria-sort={active ? (sort.dir === "asc" ? "ascending" : "descending") : "none"}>
      <button type="button" className="sort" onClick={() => sort.toggle(k)}>
        {label}
        <span className="faint">{active ? (sort.dir === "asc" ? "↑" : "↓") : "↕"}</span>
      </button>
    </th>
  );
}
