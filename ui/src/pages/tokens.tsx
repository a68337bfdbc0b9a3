// The user's API tokens: list with usage over 30 days, create (name, expiry, model allow-list,
// group order) showing the key once, reveal, rotate, revoke and delete, each confirmed.
import { useMemo, useState, type FormEvent } from "react";
import { useQuery } from "@tanstack/react-query";
import { useT } from "../i18n";
import { del, get, patch, post } from "../lib/api";
import { errorText, useAction, useCursorList } from "../lib/hooks";
import { useSummary } from "../lib/summary";
import type { GroupOption, Page, Token, UserModel } from "../lib/types";
import { dateTime, int, money, relative } from "../lib/format";
import { Callout, CopyButton, Empty, Field, LoadMore, Menu, PageHead, StatusBadge } from "../components/ui";
import { ListState } from "../components/lists";
import { Drawer, Modal, useConfirm } from "../components/overlays";
import { IconBan, IconEdit, IconEye, IconKey, IconMore, IconPlus, IconRotate, IconTrash, IconUp, IconChevronDown } from "../components/icons";

const KEY = ["tokens"];

/** A token that is active but past its expiry shows as expired. */
export function tokenStatus(token: Token): string {
  if (token.status === "active" && token.expires_at && new Date(token.expires_at) <= new Date()) return "expired";
  return token.status;
}

export default function TokensPage() {
  const t = useT();
  const confirm = useConfirm();
  const list = useCursorList<Token>(KEY, "/api/tokens");
  const now = useMemo(() => new Date(), []);
  const month = useMemo(() => new Date(now.getTime() - 30 * 86_400_000), [now]);
  const usage = useSummary("/api/usage/summary", month, now);
  const [creating, setCreating] = useState(false);
  const [editing, setEditing] = useState<Token | null>(null);
  const [shown, setShown] = useState<{ title: string; secret: string; lead: string } | null>(null);

  const byToken = new Map((usage.data?.by_token ?? []).map((s) => [s.key, s]));

  const reveal = useAction((id: number) => post<{ key: string }>(`/api/tokens/${id}/reveal`), {
    onDone: (r) => setShown({ title: t("tokens.revealTitle"), secret: r.key, lead: t("tokens.revealLead") }),
  });
  const rotate = useAction((id: number) => post<{ key: string }>(`/api/tokens/${id}/rotate`), {
    invalidate: [KEY],
    onDone: (r) => setShown({ title: t("tokens.rotatedTitle"), secret: r.key, lead: t("tokens.rotatedLead") }),
  });
  const revoke = useAction((id: number) => post(`/api/tokens/${id}/revoke`), { invalidate: [KEY], success: t("tokens.revoked") });
  const remove = useAction((id: number) => del(`/api/tokens/${id}`), { invalidate: [KEY], success: t("tokens.deleted") });

  return (
    <div className="stack">
      <PageHead
        title={t("nav.tokens")}
        description={t("tokens.lead")}
        actions={
          <button type="button" className="btn primary" onClick={() => setCreating(true)}>
            <IconPlus />
            {t("tokens.create")}
          </button>
        }
      />
      <section className="card">
        <ListState
          query={list}
          isEmpty={list.items.length === 0}
          empty={
            <Empty
              icon={<IconKey />}
              title={t("tokens.emptyTitle")}
              text={t("tokens.emptyText")}
              action={
                <button type="button" className="btn primary" onClick={() => setCreating(true)}>
                  <IconPlus />
                  {t("tokens.create")}
                </button>
              }
            />
          }
        >
          {() => (
            <div className="table-wrap">
              <table className="table" data-testid="tokens-table">
                <thead>
                  <tr>
                    <th>{t("col.name")}</th>
                    <th>{t("col.key")}</th>
                    <th>{t("col.status")}</th>
                    <th className="hide-sm">{t("col.models")}</th>
                    <th className="hide-sm">{t("col.created")}</th>
                    <th>{t("col.lastUsed")}</th>
                    <th className="hide-sm">{t("col.expires")}</th>
                    <th className="num">{t("tokens.usage30d")}</th>
                    <th />
                  </tr>
                </thead>
                <tbody>
                  {list.items.map((token) => {
                    const status = tokenStatus(token);
                    const use = byToken.get(token.id);
                    const active = token.status === "active";
                    return (
                      <tr key={token.id}>
                        <td>
                          <strong>{token.name}</strong>
                        </td>
                        <td>
                          <span className="mono">{token.hint}</span>
                        </td>
                        <td>
                          <StatusBadge status={status} />
                        </td>
                        <td className="hide-sm">
                          {token.models?.length ? (
                            <div className="chips">
                              {token.models.slice(0, 3).map((m) => (
                                <span key={m} className="chip">
                                  {m}
                                </span>
                              ))}
                              {token.models.length > 3 ? <span className="faint small">+{token.models.length - 3}</span> : null}
                            </div>
                          ) : (
                            <span className="faint">{t("tokens.allModels")}</span>
                          )}
                        </td>
                        <td className="hide-sm nowrap">{dateTime(token.created_at)}</td>
                        <td className="nowrap" title={dateTime(token.last_used_at)}>
                          {token.last_used_at ? relative(token.last_used_at) : <span className="faint">{t("tokens.never")}</span>}
                        </td>
                        <td className="hide-sm nowrap">{token.expires_at ? dateTime(token.expires_at) : <span className="faint">{t("tokens.noExpiry")}</span>}</td>
                        <td className="num">
                          {int(use?.requests)}
                          <span className="sub">{money(use?.cost_usd ?? 0)}</span>
                        </td>
                        <td className="actions">
                          <div className="row nowrap">
                            {active ? (
                              <button type="button" className="btn sm" onClick={() => reveal.mutate(token.id)} disabled={reveal.isPending}>
                                <IconEye />
                                {t("tokens.reveal")}
                              </button>
                            ) : null}
                            <Menu label={t("common.more")} trigger={<IconMore />}>
                              {(close) => (
                                <>
                                  <button type="button" onClick={() => { close(); setEditing(token); }}>
                                    <IconEdit />
                                    {t("common.edit")}
                                  </button>
                                  {active ? (
                                    <button
                                      type="button"
                                      onClick={async () => {
                                        close();
                                        if (await confirm({ title: t("tokens.rotateQ", { name: token.name }), body: t("tokens.rotateText"), confirm: t("tokens.rotate") }))
                                          rotate.mutate(token.id);
                                      }}
                                    >
                                      <IconRotate />
                                      {t("tokens.rotate")}
                                    </button>
                                  ) : null}
                                  {active ? (
                                    <button
                                      type="button"
                                      className="danger"
                                      onClick={async () => {
                                        close();
                                        if (await confirm({ title: t("tokens.revokeQ", { name: token.name }), body: t("tokens.revokeText"), confirm: t("tokens.revoke"), danger: true }))
                                          revoke.mutate(token.id);
                                      }}
                                    >
                                      <IconBan />
                                      {t("tokens.revoke")}
                                    </button>
                                  ) : null}
                                  <button
                                    type="button"
                                    className="danger"
                                    onClick={async () => {
                                      close();
                                      if (await confirm({ title: t("tokens.deleteQ", { name: token.name }), body: t("tokens.deleteText"), confirm: t("common.delete"), danger: true }))
                                        remove.mutate(token.id);
                                    }}
                                  >
                                    <IconTrash />
                                    {t("common.delete")}
                                  </button>
                                </>
                              )}
                            </Menu>
                          </div>
                        </td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </div>
          )}
        </ListState>
        <LoadMore hasMore={!!list.hasNextPage} loading={list.isFetchingNextPage} onClick={() => void list.fetchNextPage()} />
      </section>

      {creating ? (
        <TokenForm
          onClose={() => setCreating(false)}
          onCreated={(key) => {
            setCreating(false);
            setShown({ title: t("tokens.createdTitle"), secret: key, lead: t("tokens.createdLead") });
          }}
        />
      ) : null}
      {editing ? <TokenForm token={editing} onClose={() => setEditing(null)} onCreated={() => setEditing(null)} /> : null}
      {shown ? <KeyModal {...shown} onClose={() => setShown(null)} /> : null}
    </div>
  );
}

/** Shows a key once (after create, rotate or an explicit reveal) with a copy button. */
export function KeyModal({ title, lead, secret: value, onClose }: { title: string; lead: string; secret: string; onClose: () => void }) {
  const t = useT();
  return (
    <Modal
      label={title}
      onClose={onClose}
      wide
      footer={
        <button type="button" className="btn primary" onClick={onClose}>
          {t("common.done")}
        </button>
      }
    >
      <h2>{title}</h2>
      <p>{lead}</p>
      <div className="secret-box" data-testid="secret-key">
        <code>{value}</code>
        <CopyButton text={value} label={t("common.copy")} />
      </div>
      <Callout kind="warn">{t("tokens.keepSecret")}</Callout>
    </Modal>
  );
}

type Expiry = "never" | "7" | "30" | "90" | "custom";

/** An RFC 3339 time as `<input type="datetime-local">` wants it: local, to the minute. */
function localInput(value: string): string {
  const d = new Date(value);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function TokenForm({ token, onClose, onCreated }: { token?: Token; onClose: () => void; onCreated: (key: string) => void }) {
  const t = useT();
  const models = useQuery({ queryKey: ["models", "mine"], queryFn: () => get<Page<UserModel>>("/api/models") });
  const groups = useQuery({ queryKey: ["channel-groups", "mine"], queryFn: () => get<Page<GroupOption>>("/api/channel-groups") });
  const [name, setName] = useState(token?.name ?? "");
  const [expiry, setExpiry] = useState<Expiry>(token?.expires_at ? "custom" : "never");
  const [custom, setCustom] = useState(token?.expires_at ? localInput(token.expires_at) : "");
  const [restrict, setRestrict] = useState(!!token?.models?.length);
  const [picked, setPicked] = useState<string[]>(token?.models ?? []);
  const [extra, setExtra] = useState("");
  const [order, setOrder] = useState<number[] | null>(token ? token.channel_groups : null);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [serverError, setServerError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const list = useCursorList<Token>(KEY, "/api/tokens");

  const groupList = groups.data?.items ?? [];
  const groupOrder = order ?? groupList.map((g) => g.id);
  const move = (index: number, delta: number) => {
    const next = [...groupOrder];
    const [item] = next.splice(index, 1);
    next.splice(index + delta, 0, item);
    setOrder(next);
  };
  const toggleGroup = (id: number) => {
    setOrder(groupOrder.includes(id) ? groupOrder.filter((g) => g !== id) : [...groupOrder, id]);
  };

  const expiresAt = (): string | null | undefined => {
    if (expiry === "never") return null;
    if (expiry === "custom") return custom ? new Date(custom).toISOString() : undefined;
    return new Date(Date.now() + Number(expiry) * 86_400_000).toISOString();
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const out: Record<string, string> = {};
    if (!name.trim()) out.name = t("form.required");
    const exp = expiresAt();
    if (expiry === "custom" && (!exp || new Date(exp) <= new Date())) out.expiry = t("tokens.expiryFuture");
    const extraModels = extra
      .split(/[\s,]+/)
      .map((m) => m.trim())
      .filter(Boolean);
    const allModels = [...new Set([...picked, ...extraModels])];
    if (restrict && allModels.length === 0) out.models = t("tokens.pickModel");
    if (groupList.length > 0 && groupOrder.length === 0) out.groups = t("tokens.pickGroup");
    setErrors(out);
    if (Object.keys(out).length) return;
    setBusy(true);
    setServerError(null);
    const body: Record<string, unknown> = { name: name.trim() };
    if (token) {
      body.expires_at = exp ?? null;
      body.models = restrict ? allModels : null;
      // only a changed order is sent: a token without its own order follows its user group's
      const changed = order && order.join(",") !== token.channel_groups.join(",");
      if (changed) body.channel_groups = groupOrder;
    } else {
      if (exp) body.expires_at = exp;
      if (restrict) body.models = allModels;
      if (order) body.channel_groups = groupOrder;
    }
    try {
      if (token) {
        await patch(`/api/tokens/${token.id}`, body);
        await list.refetch();
        onCreated("");
      } else {
        const created = await post<{ key: string }>("/api/tokens", body);
        await list.refetch();
        onCreated(created.key);
      }
    } catch (err) {
      setServerError(errorText(t, err));
      setBusy(false);
    }
  };

  return (
    <Drawer
      title={token ? t("tokens.editTitle") : t("tokens.create")}
      onClose={onClose}
      footer={
        <>
          <button type="button" className="btn" onClick={onClose}>
            {t("common.cancel")}
          </button>
          <button type="submit" form="token-form" className="btn primary" disabled={busy}>
            {token ? t("common.save") : t("tokens.create")}
          </button>
        </>
      }
    >
      <form id="token-form" className="form" onSubmit={submit} noValidate>
        <Field label={t("col.name")} htmlFor="token-name" error={errors.name} hint={t("tokens.nameHint")}>
          <input id="token-name" className={`input ${errors.name ? "invalid" : ""}`} value={name} onChange={(e) => setName(e.target.value)} autoFocus maxLength={128} />
        </Field>
        <Field label={t("col.expires")} htmlFor="token-expiry" error={errors.expiry}>
          <div className="row">
            <select id="token-expiry" className="select auto" value={expiry} onChange={(e) => setExpiry(e.target.value as Expiry)}>
              <option value="never">{t("tokens.noExpiry")}</option>
              <option value="7">{t("tokens.days", { n: 7 })}</option>
              <option value="30">{t("tokens.days", { n: 30 })}</option>
              <option value="90">{t("tokens.days", { n: 90 })}</option>
              <option value="custom">{t("tokens.customDate")}</option>
            </select>
            {expiry === "custom" ? (
              <input className="input auto" type="datetime-local" value={custom} onChange={(e) => setCustom(e.target.value)} aria-label={t("tokens.customDate")} />
            ) : null}
          </div>
        </Field>
        <div className="field">
          <span className="field-label">{t("tokens.modelAccess")}</span>
          <label className="check">
            <input type="radio" checked={!restrict} onChange={() => setRestrict(false)} />
            {t("tokens.allModelsLong")}
          </label>
          <label className="check">
            <input type="radio" checked={restrict} onChange={() => setRestrict(true)} />
            {t("tokens.onlyModels")}
          </label>
          {restrict ? (
            <div className="stack card-body card">
              {(models.data?.items ?? []).length === 0 ? <span className="faint small">{t("models.emptyTitle")}</span> : null}
              {(models.data?.items ?? []).map((m) => (
                <label key={m.id} className="check">
                  <input
                    type="checkbox"
                    checked={picked.includes(m.id)}
                    onChange={() => setPicked(picked.includes(m.id) ? picked.filter((x) => x !== m.id) : [...picked, m.id])}
                  />
                  <span className="mono">{m.id}</span>
                </label>
              ))}
              {picked
                .filter((p) => !(models.data?.items ?? []).some((m) => m.id === p))
                .map((p) => (
                  <label key={p} className="check">
                    <input type="checkbox" checked onChange={() => setPicked(picked.filter((x) => x !== p))} />
                    <span className="mono">{p}</span>
                  </label>
                ))}
              <input className="input mono" placeholder={t("tokens.extraModels")} value={extra} onChange={(e) => setExtra(e.target.value)} />
            </div>
          ) : null}
          {errors.models ? <div className="field-error">{errors.models}</div> : null}
        </div>
        {groupList.length > 1 || token ? (
          <div className="field">
            <span className="field-label">{t("tokens.groupOrder")}</span>
            <span className="field-hint">{t("tokens.groupOrderHint")}</span>
            <div className="order-list">
              {groupOrder.map((id, index) => {
                const g = groupList.find((x) => x.id === id);
                return (
                  <div className="order-item" key={id}>
                    <span className="faint small">{index + 1}</span>
                    <span className="grow">
                      {g?.name ?? `#${id}`} <span className="faint small">×{g?.price_multiplier ?? "1"}</span>
                    </span>
                    <button type="button" className="btn ghost icon sm" disabled={index === 0} onClick={() => move(index, -1)} aria-label={t("common.moveUp")}>
                      <IconUp />
                    </button>
                    <button type="button" className="btn ghost icon sm" disabled={index === groupOrder.length - 1} onClick={() => move(index, 1)} aria-label={t("common.moveDown")}>
                      <IconChevronDown />
                    </button>
                    <button type="button" className="btn ghost icon sm" onClick={() => toggleGroup(id)} aria-label={t("common.remove")}>
                      <IconTrash />
                    </button>
                  </div>
                );
              })}
              {groupList
                .filter((g) => !groupOrder.includes(g.id))
                .map((g) => (
                  <button type="button" key={g.id} className="btn sm" onClick={() => toggleGroup(g.id)}>
                    <IconPlus />
                    {g.name}
                  </button>
                ))}
            </div>
            {errors.groups ? <div className="field-error">{errors.groups}</div> : null}
          </div>
        ) : null}
        {serverError ? <Callout kind="err">{serverError}</Callout> : null}
      </form>
    </Drawer>
  );
}
