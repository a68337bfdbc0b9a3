// Pieces that every list page and edit drawer repeats: the loading → error → empty → table switch,
// the confirmed delete button of a row, a drawer's cancel/save footer and a checkbox list.
import type { ReactNode } from "react";
import { useT } from "../i18n";
import { IconTrash } from "./icons";
import { useConfirm } from "./overlays";
import { ErrorBox, SkeletonRows } from "./ui";

/** What ListState needs of a query (TanStack's results and useCursorList both fit). */
interface QueryState {
  isPending: boolean;
  isError: boolean;
  error: unknown;
  refetch?: () => unknown;
}

/**
 * Skeleton rows while `query` loads, its error (with a retry when it can refetch), `empty` when
 * `isEmpty`, else what `children` renders. `children` is a function so it only runs with data.
 */
export function ListState({ query, isEmpty, empty, rows, children }: { query: QueryState; isEmpty: boolean; empty: ReactNode; rows?: number; children: () => ReactNode }) {
  if (query.isPending) return <SkeletonRows rows={rows} />;
  if (query.isError) {
    const refetch = query.refetch;
    return (
      <div className="card-body">
        <ErrorBox error={query.error} retry={refetch ? () => void refetch() : undefined} />
      </div>
    );
  }
  return <>{isEmpty ? empty : children()}</>;
}

/** A row's trash button: asks first (`title`, `body`), then calls `onConfirmed`. `label` names the
 * action on the button and in the dialog ("Delete" unless given). */
export function DeleteButton({ title, body, label, onConfirmed }: { title: string; body?: ReactNode; label?: string; onConfirmed: () => void }) {
  const t = useT();
  const confirm = useConfirm();
  const verb = label ?? t("common.delete");
  return (
    <button
      type="button"
      className="btn ghost icon sm"
      aria-label={verb}
      onClick={async () => {
        if (await confirm({ title, body, confirm: verb, danger: true })) onConfirmed();
      }}
    >
      <IconTrash />
    </button>
  );
}

/** Cancel and submit buttons for a drawer whose form has the id `form`. */
export function FormFooter({ form, busy, onClose, submitLabel }: { form: string; busy: boolean; onClose: () => void; submitLabel?: string }) {
  const t = useT();
  return (
    <>
      <button type="button" className="btn" onClick={onClose}>
        {t("common.cancel")}
      </button>
      <button type="submit" form={form} className="btn primary" disabled={busy}>
        {submitLabel ?? t("common.save")}
      </button>
    </>
  );
}

/** Checkboxes for picking ids out of `options`; `selected` is the picked ids in picking order. */
export function CheckList({ options, selected, onChange }: { options: { id: number; label: ReactNode }[]; selected: number[]; onChange: (ids: number[]) => void }) {
  return (
    <>
      {options.map((o) => (
        <label key={o.id} className="check">
          <input type="checkbox" checked={selected.includes(o.id)} onChange={() => onChange(selected.includes(o.id) ? selected.filter((x) => x !== o.id) : [...selected, o.id])} />
          {o.label}
        </label>
      ))}
    </>
  );
}
