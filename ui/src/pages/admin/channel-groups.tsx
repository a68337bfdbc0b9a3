// /admin/channel-groups: the group tree with price multipliers, member channels and which user
// groups may use each; a drawer to create or edit a group and its members.
import { useState, type FormEvent } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { useT } from "../../i18n";
import { del, patch, post } from "../../lib/api";
import { errorText, useAction, useAll } from "../../lib/hooks";
import type { Channel, ChannelGroup, UserGroup } from "../../lib/types";
import { Callout, Empty, Field, PageHead } from "../../components/ui";
import { CheckList, DeleteButton, FormFooter, ListState } from "../../components/lists";
import { Drawer, useToast } from "../../components/overlays";
import { IconEdit, IconLayers, IconPlus } from "../../components/icons";

const KEY = ["admin", "channel-groups", "all"];

/** Groups in tree order (parents before children) with their depth. */
function treeOrder(groups: ChannelGroup[]): { group: ChannelGroup; depth: number }[] {
  const out: { group: ChannelGroup; depth: number }[] = [];
  const seen = new Set<number>();
  const visit = (parent: number | null, depth: number) => {
    for (const g of groups.filter((x) => x.parent_id === parent).sort((a, b) => a.name.localeCompare(b.name))) {
      if (seen.has(g.id)) continue;
      seen.add(g.id);
      out.push({ group: g, depth });
      visit(g.id, depth + 1);
    }
  };
  visit(null, 0);
  for (const g of groups) if (!seen.has(g.id)) out.push({ group: g, depth: 0 });
  return out;
}

export default function ChannelGroupsPage() {
  const t = useT();
  const groups = useAll<ChannelGroup>(KEY, "/api/admin/channel-groups");
  const channels = useAll<Channel>(["admin", "channels", "all"], "/api/admin/channels");
  const userGroups = useAll<UserGroup>(["admin", "user-groups", "all"], "/api/admin/user-groups");
  const [editing, setEditing] = useState<ChannelGroup | "new" | null>(null);
  const remove = useAction((id: number) => del(`/api/admin/channel-groups/${id}`), { invalidate: [KEY, ["admin", "channels", "all"]], success: t("groups.deleted") });
  const add = (
    <button type="button" className="btn primary" onClick={() => setEditing("new")}>
      <IconPlus />
      {t("groups.add")}
    </button>
  );
  return (
    <div className="stack">
      <PageHead title={t("nav.channelGroups")} description={t("groups.lead")} actions={add} />
      <section className="card">
        <ListState query={groups} isEmpty={groups.data?.length === 0} empty={<Empty icon={<IconLayers />} title={t("groups.emptyTitle")} action={add} />}>
          {() => (
            <div className="table-wrap">
              <table className="table" data-testid="channel-groups-table">
                <thead>
                  <tr>
                    <th>{t("col.name")}</th>
                    <th className="num">{t("groups.multiplier")}</th>
                    <th>{t("nav.channels")}</th>
                    <th className="hide-sm">{t("groups.usedBy")}</th>
                    <th />
                  </tr>
                </thead>
                <tbody>
                  {treeOrder(groups.data ?? []).map(({ group: g, depth }) => (
                    <tr key={g.id}>
                      <td>
                        {Array.from({ length: depth }, (_, i) => (
                          <span key={i} className="tree-indent faint">
                            {i === depth - 1 ? "└" : ""}
                          </span>
                        ))}
                        <strong>{g.name}</strong>
                        {g.description ? <span className="sub">{g.description}</span> : null}
                      </td>
                      <td className="num mono">×{g.price_multiplier}</td>
                      <td>
                        <div className="chips">
                          {g.channel_ids.length === 0 ? <span className="faint">–</span> : null}
                          {g.channel_ids.map((id) => (
                            <span key={id} className="chip">
                              {channels.data?.find((c) => c.id === id)?.name ?? `#${id}`}
                            </span>
                          ))}
                        </div>
                      </td>
                      <td className="hide-sm">
                        <div className="chips">
                          {(userGroups.data ?? [])
                            .filter((u) => u.channel_groups.includes(g.id))
                            .map((u) => (
                              <span key={u.id} className="badge plain accent">
                                {u.name}
                              </span>
                            ))}
                        </div>
                      </td>
                      <td className="actions">
                        <div className="row nowrap">
                          <button type="button" className="btn ghost icon sm" aria-label={t("common.edit")} onClick={() => setEditing(g)}>
                            <IconEdit />
                          </button>
                          {g.id !== 1 ? <DeleteButton title={t("groups.deleteQ", { name: g.name })} body={t("groups.deleteText")} onConfirmed={() => remove.mutate(g.id)} /> : null}
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
      {editing ? <GroupForm group={editing === "new" ? null : editing} groups={groups.data ?? []} channels={channels.data ?? []} onClose={() => setEditing(null)} /> : null}
    </div>
  );
}

function GroupForm({ group, groups, channels, onClose }: { group: ChannelGroup | null; groups: ChannelGroup[]; channels: Channel[]; onClose: () => void }) {
  const t = useT();
  const toast = useToast();
  const qc = useQueryClient();
  const [name, setName] = useState(group?.name ?? "");
  const [description, setDescription] = useState(group?.description ?? "");
  const [parent, setParent] = useState<string>(group?.parent_id ? String(group.parent_id) : "");
  const [multiplier, setMultiplier] = useState(group?.price_multiplier ?? "1");
  const [members, setMembers] = useState<number[]>(group?.channel_ids ?? []);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const out: Record<string, string> = {};
    if (!name.trim()) out.name = t("form.required");
    if (!/^\d+(\.\d+)?$/.test(multiplier.trim()) || Number(multiplier) <= 0) out.multiplier = t("groups.multiplierRule");
    setErrors(out);
    if (Object.keys(out).length) return;
    setBusy(true);
    setError(null);
    const body = {
      name: name.trim(),
      description,
      parent_id: parent ? Number(parent) : null,
      price_multiplier: multiplier.trim(),
    };
    try {
      let id = group?.id;
      if (group) await patch(`/api/admin/channel-groups/${group.id}`, body);
      else {
        const created = await post<{ channel_group: ChannelGroup }>("/api/admin/channel-groups", { ...body, parent_id: body.parent_id ?? undefined });
        id = created.channel_group.id;
      }
      const before = group?.channel_ids ?? [];
      for (const c of members.filter((m) => !before.includes(m))) await post(`/api/admin/channel-groups/${id}/channels/${c}`);
      for (const c of before.filter((m) => !members.includes(m))) await del(`/api/admin/channel-groups/${id}/channels/${c}`);
      await qc.invalidateQueries({ queryKey: KEY });
      await qc.invalidateQueries({ queryKey: ["admin", "channels", "all"] });
      toast.ok(group ? t("common.saved") : t("groups.created"));
      onClose();
    } catch (err) {
      setError(errorText(t, err));
      setBusy(false);
    }
  };
  return (
    <Drawer
      title={group ? group.name : t("groups.add")}
      onClose={onClose}
      footer={<FormFooter form="group-form" busy={busy} onClose={onClose} />}
    >
      <form id="group-form" className="form" onSubmit={submit} noValidate>
        <div className="form-row">
          <Field label={t("col.name")} htmlFor="g-name" error={errors.name}>
            <input id="g-name" className="input" value={name} onChange={(e) => setName(e.target.value)} autoFocus />
          </Field>
          <Field label={t("groups.multiplier")} htmlFor="g-mult" error={errors.multiplier} hint={t("groups.multiplierHint")}>
            <input id="g-mult" className="input mono" inputMode="decimal" value={multiplier} onChange={(e) => setMultiplier(e.target.value)} />
          </Field>
        </div>
        <Field label={t("groups.parent")} htmlFor="g-parent" hint={t("groups.parentHint")}>
          <select id="g-parent" className="select" value={parent} onChange={(e) => setParent(e.target.value)}>
            <option value="">{t("groups.noParent")}</option>
            {groups
              .filter((g) => g.id !== group?.id)
              .map((g) => (
                <option key={g.id} value={g.id}>
                  {g.name}
                </option>
              ))}
          </select>
        </Field>
        <Field label={t("col.notes")} htmlFor="g-desc">
          <textarea id="g-desc" className="textarea" value={description} onChange={(e) => setDescription(e.target.value)} />
        </Field>
        <div className="field">
          <span className="field-label">{t("nav.channels")}</span>
          {channels.length === 0 ? <span className="field-hint">{t("channels.emptyTitle")}</span> : null}
          <CheckList options={channels.map((c) => ({ id: c.id, label: c.name }))} selected={members} onChange={setMembers} />
        </div>
        {error ? <Callout kind="err">{error}</Callout> : null}
      </form>
    </Drawer>
  );
}
