// /admin/user-groups: user groups and the channel groups each allows.
import { useState, type FormEvent } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { useT } from "../../i18n";
import { del, patch, post } from "../../lib/api";
import { errorText, useAction, useAll } from "../../lib/hooks";
import type { ChannelGroup, User, UserGroup } from "../../lib/types";
import { Callout, Empty, Field, PageHead } from "../../components/ui";
import { CheckList, DeleteButton, FormFooter, ListState } from "../../components/lists";
import { Drawer, useToast } from "../../components/overlays";
import { IconEdit, IconPlus, IconUsers } from "../../components/icons";

const KEY = ["admin", "user-groups", "all"];

export default function UserGroupsPage() {
  const t = useT();
  const groups = useAll<UserGroup>(KEY, "/api/admin/user-groups");
  const channelGroups = useAll<ChannelGroup>(["admin", "channel-groups", "all"], "/api/admin/channel-groups");
  const users = useAll<User>(["admin", "users", "all"], "/api/admin/users");
  const [editing, setEditing] = useState<UserGroup | "new" | null>(null);
  const remove = useAction((id: number) => del(`/api/admin/user-groups/${id}`), { invalidate: [KEY], success: t("groups.deleted") });
  const add = (
    <button type="button" className="btn primary" onClick={() => setEditing("new")}>
      <IconPlus />
      {t("ugroups.add")}
    </button>
  );
  return (
    <div className="stack">
      <PageHead title={t("nav.userGroups")} description={t("ugroups.lead")} actions={add} />
      <section className="card">
        <ListState query={groups} isEmpty={groups.data?.length === 0} empty={<Empty icon={<IconUsers />} title={t("ugroups.emptyTitle")} action={add} />}>
          {() => (
            <div className="table-wrap">
              <table className="table" data-testid="user-groups-table">
                <thead>
                  <tr>
                    <th>{t("col.name")}</th>
                    <th>{t("ugroups.allows")}</th>
                    <th className="num">{t("nav.users")}</th>
                    <th />
                  </tr>
                </thead>
                <tbody>
                  {(groups.data ?? []).map((g) => (
                    <tr key={g.id}>
                      <td>
                        <strong>{g.name}</strong>
                        {g.description ? <span className="sub">{g.description}</span> : null}
                      </td>
                      <td>
                        <div className="chips">
                          {g.channel_groups.length === 0 ? <span className="badge warn">{t("ugroups.none")}</span> : null}
                          {g.channel_groups.map((id) => (
                            <span key={id} className="chip">
                              {channelGroups.data?.find((c) => c.id === id)?.name ?? `#${id}`}
                            </span>
                          ))}
                        </div>
                      </td>
                      <td className="num">{int(users.data?.filter((u) => u.user_group_id === g.id).length)}</td>
                      <td className="actions">
                        <div className="row nowrap">
                          <button type="button" className="btn ghost icon sm" aria-label={t("common.edit")} onClick={() => setEditing(g)}>
                            <IconEdit />
                          </button>
                          {g.id !== 1 ? <DeleteButton title={t("groups.deleteQ", { name: g.name })} body={t("ugroups.deleteText")} onConfirmed={() => remove.mutate(g.id)} /> : null}
                        </div>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </ListState>
      </section>
      {editing ? <UserGroupForm group={editing === "new" ? null : editing} channelGroups={channelGroups.data ?? []} onClose={() => setEditing(null)} /> : null}
    </div>
  );
}

function int(n: number | undefined): string {
  return n === undefined ? "–" : String(n);
}

function UserGroupForm({ group, channelGroups, onClose }: { group: UserGroup | null; channelGroups: ChannelGroup[]; onClose: () => void }) {
  const t = useT();
  const toast = useToast();
  const qc = useQueryClient();
  const [name, setName] = useState(group?.name ?? "");
  const [description, setDescription] = useState(group?.description ?? "");
  const [allowed, setAllowed] = useState<number[]>(group?.channel_groups ?? [1]);
  const [nameError, setNameError] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!name.trim()) {
      setNameError(t("form.required"));
      return;
    }
    setNameError(null);
    setBusy(true);
    setError(null);
    const body = { name: name.trim(), description, channel_groups: allowed };
    try {
      if (group) await patch(`/api/admin/user-groups/${group.id}`, body);
      else await post("/api/admin/user-groups", body);
      await qc.invalidateQueries({ queryKey: KEY });
      toast.ok(group ? t("common.saved") : t("groups.created"));
      onClose();
    } catch (err) {
      setError(errorText(t, err));
      setBusy(false);
    }
  };
  return (
    <Drawer
      title={group ? group.name : t("ugroups.add")}
      onClose={onClose}
      footer={<FormFooter form="ugroup-form" busy={busy} onClose={onClose} />}
    >
      <form id="ugroup-form" className="form" onSubmit={submit} noValidate>
        <Field label={t("col.name")} htmlFor="ug-name" error={nameError}>
          <input id="ug-name" className="input" value={name} onChange={(e) => setName(e.target.value)} autoFocus />
        </Field>
        <Field label={t("col.notes")} htmlFor="ug-desc">
          <textarea id="ug-desc" className="textarea" value={description} onChange={(e) => setDescription(e.target.value)} />
        </Field>
        <div className="field">
          <span className="field-label">{t("ugroups.allows")}</span>
          <span className="field-hint">{t("ugroups.allowsHint")}</span>
          <CheckList
            options={channelGroups.map((g) => ({
              id: g.id,
              label: (
                <>
                  {g.name} <span className="faint small">×{g.price_multiplier}</span>
                </>
              ),
            }))}
            selected={allowed}
            onChange={setAllowed}
          />
        </div>
        {error ? <Callout kind="err">{error}</Callout> : null}
      </form>
    </Drawer>
  );
}
