// Overlays: side drawers for details and edits, modals, the confirm dialog every destructive
// action goes through, and toasts for results.
import { createContext, useCallback, useContext, useEffect, useRef, useState, type ReactNode } from "react";
import { createPortal } from "react-dom";
import { useT } from "../i18n";
import { IconAlert, IconCheck, IconX } from "./icons";

function useEscape(onClose: () => void) {
  const ref = useRef(onClose);
  ref.current = onClose;
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") ref.current();
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, []);
}

export function Drawer({
  title,
  onClose,
  children,
  footer,
  wide,
  extra,
}: {
  title: ReactNode;
  onClose: () => void;
  children: ReactNode;
  footer?: ReactNode;
  wide?: boolean;
  extra?: ReactNode;
}) {
  const t = useT();
  useEscape(onClose);
  return createPortal(
    <>
      <div className="overlay" onClick={onClose} />
      <aside className={`drawer ${wide ? "wide" : ""}`} role="dialog" aria-modal="true" aria-label={typeof title === "string" ? title : undefined}>
        <div className="drawer-head">
          <h2>{title}</h2>
          {extra}
          <button type="button" className="btn ghost icon" onClick={onClose} aria-label={t("common.close")}>
            <IconX />
          </button>
        </div>
        <div className="drawer-body">{children}</div>
        {footer ? <div className="drawer-foot">{footer}</div> : null}
      </aside>
    </>,
    document.body,
  );
}

export function Modal({
  onClose,
  children,
  footer,
  wide,
  label,
}: {
  onClose: () => void;
  children: ReactNode;
  footer?: ReactNode;
  wide?: boolean;
  label: string;
}) {
  useEscape(onClose);
  return createPortal(
    <>
      <div className="overlay top" onClick={onClose} />
      <div className={`modal ${wide ? "wide" : ""}`} role="dialog" aria-modal="true" aria-label={label}>
        <div className="modal-body">{children}</div>
        {footer ? <div className="modal-foot">{footer}</div> : null}
      </div>
    </>,
    document.body,
  );
}

/* ---------- confirm ---------- */

interface ConfirmOptions {
  title: string;
  body?: ReactNode;
  confirm?: string;
  danger?: boolean;
}

type ConfirmFn = (options: ConfirmOptions) => Promise<boolean>;
const ConfirmContext = createContext<ConfirmFn | null>(null);

export function ConfirmProvider({ children }: { children: ReactNode }) {
  const t = useT();
  const [pending, setPending] = useState<(ConfirmOptions & { resolve: (ok: boolean) => void }) | null>(null);
  const confirm = useCallback<ConfirmFn>(
    (options) => new Promise<boolean>((resolve) => setPending({ ...options, resolve })),
    [],
  );
  const answer = (ok: boolean) => {
    pending?.resolve(ok);
    setPending(null);
  };
  return (
    <ConfirmContext.Provider value={confirm}>
      {children}
      {pending ? (
        <Modal
          label={pending.title}
          onClose={() => answer(false)}
          footer={
            <>
              <button type="button" className="btn" onClick={() => answer(false)}>
                {t("common.cancel")}
              </button>
              <button
                type="button"
                className={pending.danger ? "btn danger solid" : "btn primary"}
                onClick={() => answer(true)}
                autoFocus
              >
                {pending.confirm ?? t("common.confirm")}
              </button>
            </>
          }
        >
          <h2>{pending.title}</h2>
          {pending.body ? <p>{pending.body}</p> : null}
        </Modal>
      ) : null}
    </ConfirmContext.Provider>
  );
}

export function useConfirm(): ConfirmFn {
  const value = useContext(ConfirmContext);
  if (!value) throw new Error("useConfirm outside ConfirmProvider");
  return value;
}

/* ---------- toasts ---------- */

interface Toast {
  id: number;
  kind: "ok" | "err";
  text: string;
}

interface ToastApi {
  ok: (text: string) => void;
  err: (text: string) => void;
}

const ToastContext = createContext<ToastApi | null>(null);

export function ToastProvider({ children }: { children: ReactNode }) {
  const [toasts, setToasts] = useState<Toast[]>([]);
  const next = useRef(1);
  const push = useCallback((kind: Toast["kind"], text: string) => {
    const id = next.current++;
    setToasts((list) => [...list.slice(-3), { id, kind, text }]);
    window.setTimeout(() => setToasts((list) => list.filter((x) => x.id !== id)), kind === "err" ? 6000 : 3000);
  }, []);
  const [api] = useState<ToastApi>(() => ({ ok: (text) => push("ok", text), err: (text) => push("err", text) }));
  return (
    <ToastContext.Provider value={api}>
      {children}
      {createPortal(
        <div className="toasts" aria-live="polite">
          {toasts.map((toast) => (
            <div key={toast.id} className={`toast ${toast.kind}`} role={toast.kind === "err" ? "alert" : "status"}>
              {toast.kind === "ok" ? <IconCheck /> : <IconAlert />}
              <span>{toast.text}</span>
            </div>
          ))}
        </div>,
        document.body,
      )}
    </ToastContext.Provider>
  );
}

export function useToast(): ToastApi {
  const value = useContext(ToastContext);
  if (!value) throw new Error("useToast outside ToastProvider");
  return value;
}
