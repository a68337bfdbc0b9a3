// /admin/users: everyone with role, status, group and balance; create, edit, disable, reset
// password, delete; a user's tokens in the drawer.
import { useState, type FormEvent } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useT } from "../../i18n";
import { del, get, patch, post } from "../../lib/api";
import { errorText, useAction, useAll, useCursorList, useMe } from "../../lib/hooks";
import type { Page, Token, User, UserGroup } from "../../lib/types";
import { dateTime, money, relative } from "../../lib/format";
import { Callout, Empty, Field, LoadMore, Menu, PageHead, SkeletonRows, StatusBadge, Tabs } from "../../components/ui";
import { ListState } from "../../components/lists";
import { Drawer, Modal, useConfirm, useToast } from "../../components/overlays";
import { IconBan, IconCheck, IconDollar, IconEdit, IconKey, IconMore, IconPlus, IconTrash, IconUser } from "../../components/icons";
import { MIN_PASSWORD } from "../auth";
import { KeyModal, tokenStatus } from "../tokens";

const KEY = ["admin", "users"];
const ALL = ["admin", "users", "all"];
const USERNAME = /^[A-Za-z0-9_.-]{3,32}$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export default function UsersPage() {
  const t = useT();
  const confirm = useConfirm();
  const me = useMe().data;
  const list = useCursorList<User>(KEY, "/api/admin/users");
  const groups = useAll<UserGroup>(["admin", "user-groups", "all"], "/api/admin/user-groups");
  const [editing, setEditing] = useState<User | "new" | null>(null);
  const [resetting, setResetting] = useState<User | null>(null);
  const [funding, setFunding] = useState<User | null>(null);
  const [search, setSearch] = useState("");
  const update = useAction(({ id, body }: { id: number; body: Partial<User> }) => patch(`/api/admin/users/${id}`, body), { invalidate: [KEY, ALL], success: t("common.saved") });
  const remove = useAction((id: number) => del(`/api/admin/users/${id}`), { invalidate: [KEY, ALL], success: t("users.deleted") });
  const rows = list.items.filter((u) => !search || u.username.toLowerCase().includes(search.toLowerCase()) || u.email.toLowerCase().includes(search.toLowerCase()));
  const billing = list.items.some((u) => u.balance_usd !== undefined);
  const add = (
    <button type="button" className="btn primary" onClick={() => setEditing("new")}>
      <IconPlus />
      {t("users.add")}
    </button>
  );
  return (
    <div className="stack">
      <PageHead
        title={t("nav.users")}
        description={t("users.lead")}
        actions={
          <>
            <input className="input auto" type="search" placeholder={t("common.search")} value={search} onChange={(e) => setSearch(e.target.value)} aria-label={t("common.search")} />
            {add}
          </>
        }
      />
      <section className="card">
        <ListState query={list} isEmpty={rows.length === 0} empty={<Empty icon={<IconUser />} title={t("users.emptyTitle")} action={add} />}>
          {() => (
            <div className="table-wrap">
              <table className="table" data-testid="users-table">
                <thead>
                  <tr>
                    <th>{t("auth.username")}</th>
                    <th className="hide-sm">{t("auth.email")}</th>
                    <th>{t("account.role")}</th>
                    <th>{t("col.status")}</th>
                    <th className="hide-sm">{t("users.group")}</th>
                    {billing ? <th className="num">{t("account.balance")}</th> : null}
                    <th className="hide-sm">{t("col.created")}</th>
                    <th />
                  </tr>
                </thead>
                <tbody>
                  {rows.map((u) => {
                    const self = u.id === me?.id;
                    return (
                      <tr key={u.id}>
                        <td>
                          <strong>{u.username}</strong>
                          {self ? <span className="faint small"> ({t("users.you")})</span> : null}
                        </td>
                        <td className="hide-sm">{u.email}</td>
                        <td>{u.role === "root" ? <span className="badge plain accent">{t("role.root")}</span> : t("role.user")}</td>
                        <td>
                          <StatusBadge status={u.status} />
                        </td>
                        <td className="hide-sm">{groups.data?.find((g) => g.id === u.user_group_id)?.name ?? `#${u.user_group_id}`}</td>
                        {billing ? <td className="num">{money(u.balance_usd ?? 0)}</td> : null}
                        <td className="hide-sm nowrap">{dateTime(u.created_at)}</td>
                        <td className="actions">
                          <Menu label={t("common.more")} trigger={<IconMore />}>
                            {(close) => (
                              <>
                                <button type="button" onClick={() => { close(); setEditing(u); }}>
                                  <IconEdit />
                                  {t("common.edit")}
                                </button>
                                <button type="button" onClick={() => { close(); setResetting(u); }}>
                                  <IconKey />
                                  {t("users.resetPassword")}
                                </button>
                                {u.balance_usd !== undefined ? (
                                  <button type="button" onClick={() => { close(); setFunding(u); }}>
                                    <IconDollar />
                                    {t("users.adjustBalance")}
                                  </button>
                                ) : null}
                                {!self ? (
                                  u.status === "active" ? (
                                    <button
                                      type="button"
                                      className="danger"
                                      onClick={async () => {
                                        close();
                                        if (await confirm({ title: t("users.disableQ", { name: u.username }), body: t("users.disableText"), confirm: t("users.disable"), danger: true }))
                                          update.mutate({ id: u.id, body: { status: "disabled" } });
                                      }}
                                    >
                                      <IconBan />
                                      {t("users.disable")}
                                    </button>
                                  ) : (
                                    <button type="button" onClick={() => { close(); update.mutate({ id: u.id, body: { status: "active" } }); }}>
                                      <IconCheck />
                                      {t("users.enable")}
                                    </button>
                                  )
                                ) : null}
                                {!self ? (
                                  <button
                                    type="button"
                                    className="danger"
                                    onClick={async () => {
                                      close();
                                      if (await confirm({ title: t("users.deleteQ", { name: u.username }), body: t("users.deleteText"), confirm: t("common.delete"), danger: true }))
                                        remove.mutate(u.id);
                                    }}
                                  >
                                    <IconTrash />
                                    {t("common.delete")}
                                  </button>
                                ) : null}
                              </>
                            )}
                          </Menu>
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
      {editing ? <UserDrawer user={editing === "new" ? null : editing} groups={groups.data ?? []} self={editing !== "new" && editing.id === me?.id} onClose={() => setEditing(null)} /> : null}
      {resetting ? <ResetPassword user={resetting} onClose={() => setResetting(null)} /> : null}
      {funding ? <AdjustBalance user={funding} onClose={() => setFunding(null)} /> : null}
    </div>
  );
}

function UserDrawer({ user, groups, self, onClose }: { user: User | null; groups: UserGroup[]; self: boolean; onClose: () => void }) {
  const t = useT();
  const [tab, setTab] = useState<"profile" | "tokens">("profile");
  return (
    <Drawer title={user ? user.username : t("users.add")} onClose={onClose}>
      {user ? (
        <Tabs
          value={tab}
          onChange={setTab}
          tabs={[
            { value: "profile", label: t("account.profile") },
            { value: "tokens", label: t("nav.tokens") },
          ]}
        />
      ) : null}
      {tab === "profile" ? <UserForm user={user} groups={groups} self={self} onClose={onClose} /> : null}
      {tab === "tokens" && user ? <UserTokens user={user} /> : null}
    </Drawer>
  );
}

function UserForm({ user, groups, self, onClose }: { user: User | null; groups: UserGroup[]; self: boolean; onClose: () => void }) {
  const t = useT();
  const toast = useToast();
  const qc = useQueryClient();
  const [form, setForm] = useState({
    username: user?.username ?? "",
    email: user?.email ?? "",
    password: "",
    role: user?.role ?? "user",
    group: String(user?.user_group_id ?? 1),
  });
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const out: Record<string, string> = {};
    if (!USERNAME.test(form.username.trim())) out.username = t("auth.usernameRule");
    if (!EMAIL.test(form.email.trim())) out.email = t("auth.emailRule");
    if (!user && form.password.length < MIN_PASSWORD) out.password = t("auth.passwordRule", { n: MIN_PASSWORD });
    setErrors(out);
    if (Object.keys(out).length) return;
    setBusy(true);
    setError(null);
    const body: Record<string, unknown> = {
      username: form.username.trim(),
      email: form.email.trim(),
      role: form.role,
      user_group_id: Number(form.group),
    };
    try {
      if (user) {
        if (self) delete body.role;
        await patch(`/api/admin/users/${user.id}`, body);
      } else await post("/api/admin/users", { ...body, password: form.password });
      await qc.invalidateQueries({ queryKey: KEY });
      await qc.invalidateQueries({ queryKey: ALL });
      toast.ok(user ? t("common.saved") : t("users.created"));
      onClose();
    } catch (err) {
      setError(errorText(t, err));
      setBusy(false);
    }
  };
  return (
    <form className="form" onSubmit={submit} noValidate>
      <div className="form-row">
        <Field label={t("auth.username")} htmlFor="u-name" error={errors.username}>
          <input id="u-name" className="input" value={form.username} onChange={(e) => setForm({ ...form, username: e.target.value })} autoComplete="off" />
        </Field>
        <Field label={t("auth.email")} htmlFor="u-email" error={errors.email}>
          <input id="u-email" className="input" type="email" value={form.email} onChange={(e) => setForm({ ...form, email: e.target.value })} autoComplete="off" />
        </Field>
      </div>
      {!user ? (
        <Field label={t("auth.password")} htmlFor="u-pw" error={errors.password} hint={t("auth.passwordRule", { n: MIN_PASSWORD })}>
          <input id="u-pw" className="input" type="password" autoComplete="new-password" value={form.password} onChange={(e) => setForm({ ...form, password: e.target.value })} />
        </Field>
      ) : null}
      <div className="form-row">
        <Field label={t("account.role")} htmlFor="u-role" hint={self ? t("users.selfRole") : t("users.roleHint")}>
          <select id="u-role" className="select" value={form.role} disabled={self} onChange={(e) => setForm({ ...form, role: e.target.value as User["role"] })}>
            <option value="user">{t("role.user")}</option>
            <option value="root">{t("role.root")}</option>
          </select>
        </Field>
        <Field label={t("users.group")} htmlFor="u-group">
          <select id="u-group" className="select" value={form.group} onChange={(e) => setForm({ ...form, group: e.target.value })}>
            {groups.map((g) => (
              <option key={g.id} value={g.id}>
                {g.name}
              </option>
            ))}
          </select>
        </Field>
      </div>
      {error ? <Callout kind="err">{error}</Callout> : null}
      <div className="row">
        <button type="submit" className="btn primary" disabled={busy}>
          {user ? t("common.save") : t("users.add")}
        </button>
        <button type="button" className="btn" onClick={onClose}>
          {t("common.cancel")}
        </button>
      </div>
    </form>
  );
}

function UserTokens({ user }: { user: User }) {
  const t = useT();
  const qc = useQueryClient();
  const key = ["admin", "users", user.id, "tokens"];
  const tokens = useQuery({ queryKey: key, queryFn: () => get<Page<Token>>(`/api/admin/users/${user.id}/tokens?limit=500`) });
  const [name, setName] = useState("");
  const [shown, setShown] = useState<string | null>(null);
  const create = useAction((body: { name: string }) => post<{ key: string }>(`/api/admin/users/${user.id}/tokens`, body), {
    onDone: (r) => {
      setName("");
      setShown(r.key);
      void qc.invalidateQueries({ queryKey: key });
    },
  });
  return (
    <div className="stack">
      {tokens.isPending ? (
        <SkeletonRows rows={3} />
      ) : (tokens.data?.items.length ?? 0) === 0 ? (
        <p className="muted">{t("users.noTokens")}</p>
      ) : (
        <div className="card table-wrap">
          <table className="table">
            <thead>
              <tr>
                <th>{t("col.name")}</th>
                <th>{t("col.key")}</th>
                <th>{t("col.status")}</th>
                <th>{t("col.lastUsed")}</th>
              </tr>
            </thead>
            <tbody>
              {tokens.data?.items.map((tk) => (
                <tr key={tk.id}>
                  <td>{tk.name}</td>
                  <td className="mono">{tk.hint}</td>
                  <td>
                    <StatusBadge status={tokenStatus(tk)} />
                  </td>
                  <td>{tk.last_used_at ? relative(tk.last_used_at) : t("tokens.never")}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <form
        className="row"
        onSubmit={(e) => {
          e.preventDefault();
          if (name.trim()) create.mutate({ name: name.trim() });
        }}
      >
        <input className="input grow" placeholder={t("users.tokenName")} value={name} onChange={(e) => setName(e.target.value)} aria-label={t("users.tokenName")} />
        <button type="submit" className="btn primary" disabled={!name.trim() || create.isPending}>
          <IconPlus />
          {t("users.createToken")}
        </button>
      </form>
      {shown ? <KeyModal title={t("tokens.createdTitle")} lead={t("users.tokenCreatedLead", { name: user.username })} secret={shown} onClose={() => setShown(null)} /> : null}
    </div>
  );
}

function ResetPassword({ user, onClose }: { user: User; onClose: () => void }) {
  const t = useT();
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const reset = useAction((pw: string) => post(`/api/admin/users/${user.id}/password`, { password: pw }), { success: t("users.passwordReset"), onDone: onClose });
  return (
    <Modal
      label={t("users.resetPassword")}
      onClose={onClose}
      footer={
        <>
          <button type="button" className="btn" onClick={onClose}>
            {t("common.cancel")}
          </button>
          <button
            type="button"
            className="btn primary"
            disabled={reset.isPending}
            onClick={() => {
              if (password.length < MIN_PASSWORD) {
                setError(t("auth.passwordRule", { n: MIN_PASSWORD }));
                return;
              }
              reset.mutate(password);
            }}
          >
            {t("users.resetPassword")}
          </button>
        </>
      }
    >
      <h2>{t("users.resetFor", { name: user.username })}</h2>
      <p>{t("users.resetText")}</p>
      <Field label={t("account.newPassword")} htmlFor="reset-pw" error={error}>
        <input id="reset-pw" className="input" type="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} autoFocus />
      </Field>
    </Modal>
  );
}

function AdjustBalance({ user, onClose }: { user: User; onClose: () => void }) {
  const t = useT();
  const [amount, setAmount] = useState("");
  const [note, setNote] = useState("");
  const [error, setError] = useState<string | null>(null);
  const adjust = useAction((body: { amount_usd: string; note: string }) => post(`/api/admin/users/${user.id}/balance`, body), {
    success: t("users.balanceAdjusted"),
    invalidate: [KEY, ALL],
    onDone: onClose,
  });
  return (
    <Modal
      label={t("users.adjustBalance")}
      onClose={onClose}
      footer={
        <>
          <button type="button" className="btn" onClick={onClose}>
            {t("common.cancel")}
          </button>
          <button
            type="button"
            className="btn primary"
            disabled={adjust.isPending}
            onClick={() => {
              if (!/^-?\d+(\.\d{1,12})?$/.test(amount.trim()) || Number(amount) === 0) {
                setError(t("users.amountRule"));
                return;
              }
              adjust.mutate({ amount_usd: amount.trim(), note: note.trim() });
            }}
          >
            {t("users.adjustBalance")}
          </button>
        </>
      }
    >
      <h2>{t("users.adjustFor", { name: user.username })}</h2>
      <p>{t("users.adjustText", { balance: money(user.balance_usd ?? 0) })}</p>
      <Field label={t("users.amount")} htmlFor="bal-amount" error={error} hint={t("users.amountHint")}>
        <input id="bal-amount" className="input mono" inputMode="decimal" value={amount} onChange={(e) => setAmount(e.target.value)} autoFocus />
      </Field>
      <Field label={t("users.note")} htmlFor="bal-note">
        <input id="bal-note" className="input" value={note} maxLength={500} onChange={(e) => setNote(e.target.value)} />
      </Field>
    </Modal>
  );
}
