// /admin/channels: every upstream with status, priority, keys, models and today's traffic; a
// drawer to create or edit one with its settings, credentials and model bindings.
import { useMemo, useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { useT } from "../../i18n";
import { del, get, patch } from "../../lib/api";
import { useAction, useAll } from "../../lib/hooks";
import { useSort } from "../../lib/sort";
import { useSummary } from "../../lib/summary";
import type { Channel, Cooldown, Page } from "../../lib/types";
import { dateTime, int, ms, startOfToday } from "../../lib/format";
import { Empty, Menu, PageHead, SortTh, Switch } from "../../components/ui";
import { ListState } from "../../components/lists";
import { useConfirm } from "../../components/overlays";
import { IconEdit, IconMore, IconPlus, IconServer, IconTrash, IconZap } from "../../components/icons";
import { ChannelDrawer, TYPE_LABEL } from "./channel-drawer";
import { TestModal } from "./channel-test";

export const CHANNELS_KEY = ["admin", "channels", "all"];

type Col = "name" | "type" | "status" | "priority" | "requests";

export default function ChannelsPage() {
  const t = useT();
  const confirm = useConfirm();
  const channels = useAll<Channel>(CHANNELS_KEY, "/api/admin/channels");
  const now = useMemo(() => new Date(), []);
  const today = useSummary("/api/admin/usage/summary", startOfToday(), now);
  const traffic = new Map((today.data?.by_channel ?? []).map((c) => [c.key, c]));
  const [editing, setEditing] = useState<Channel | "new" | null>(null);
  const [testing, setTesting] = useState<Channel | null>(null);
  const health = useQuery({
    queryKey: ["admin", "channels", "health"],
    queryFn: () => get<Page<Cooldown>>("/api/admin/channels/health"),
    refetchInterval: 15_000,
  });
  const cooldowns = (id: number) => (health.data?.items ?? []).filter((c) => c.channel_id === id);
  const sort = useSort<Channel, Col>(
    channels.data ?? [],
    "priority",
    (c, k) => (k === "name" ? c.name : k === "type" ? c.type : k === "status" ? c.status : k === "priority" ? c.priority : (traffic.get(c.id)?.requests ?? 0)),
    "desc",
  );
  const update = useAction(({ id, body }: { id: number; body: Partial<Channel> }) => patch(`/api/admin/channels/${id}`, body), {
    invalidate: [CHANNELS_KEY],
    success: t("common.saved"),
  });
  const remove = useAction((id: number) => del(`/api/admin/channels/${id}`), { invalidate: [CHANNELS_KEY], success: t("channels.deleted") });
  const current = editing && editing !== "new" ? (channels.data?.find((c) => c.id === editing.id) ?? editing) : editing;

  return (
    <div className="stack">
      <PageHead
        title={t("nav.channels")}
        description={t("channels.lead")}
        actions={
          <button type="button" className="btn primary" onClick={() => setEditing("new")}>
            <IconPlus />
            {t("channels.add")}
          </button>
        }
      />
      <section className="card">
        <ListState
          query={channels}
          isEmpty={channels.data?.length === 0}
          empty={
            <Empty
              icon={<IconServer />}
              title={t("channels.emptyTitle")}
              text={t("channels.emptyText")}
              action={
                <button type="button" className="btn primary" onClick={() => setEditing("new")}>
                  <IconPlus />
                  {t("channels.add")}
                </button>
              }
            />
          }
        >
          {() => (
            <div className="table-wrap">
              <table className="table" data-testid="channels-table">
                <thead>
                  <tr>
                    <SortTh label={t("col.name")} k="name" sort={sort} />
                    <SortTh label={t("col.type")} k="type" sort={sort} className="hide-sm" />
                    <th className="hide-sm">{t("col.baseUrl")}</th>
                    <SortTh label={t("col.enabled")} k="status" sort={sort} />
                    <th>{t("channels.health")}</th>
                    <SortTh label={t("col.priority")} k="priority" sort={sort} />
                    <th className="num hide-sm">{t("col.keys")}</th>
                    <th className="num hide-sm">{t("col.models")}</th>
                    <SortTh label={t("channels.today")} k="requests" sort={sort} num />
                    <th className="num hide-sm">{t("col.ttft")}</th>
                    <th />
                  </tr>
                </thead>
                <tbody>
                  {sort.sorted.map((c) => {
                    const tr = traffic.get(c.id);
                    const enabledKeys = c.credentials.filter((k) => k.status === "enabled").length;
                    const problem =
                      c.type !== "codex_oauth" && enabledKeys === 0 ? t("channels.noKeys") : c.models.length === 0 ? t("channels.noModels") : null;
                    return (
                      <tr key={c.id}>
                        <td>
                          <button type="button" className="btn ghost sm" onClick={() => setEditing(c)}>
                            <strong>{c.name}</strong>
                          </button>
                          {problem ? <span className="badge warn">{problem}</span> : null}
                        </td>
                        <td className="hide-sm">
                          <span className="badge plain accent">{TYPE_LABEL[c.type]}</span>
                        </td>
                        <td className="hide-sm mono small ellipsis">{c.base_url}</td>
                        <td>
                          <Switch
                            label={t("col.enabled")}
                            checked={c.status === "enabled"}
                            onChange={(on) => update.mutate({ id: c.id, body: { status: on ? "enabled" : "disabled" } })}
                          />
                        </td>
                        <td>
                          <HealthCell channel={c} cooldowns={cooldowns(c.id)} />
                        </td>
                        <td>
                          <input
                            className="input narrow"
                            type="number"
                            defaultValue={c.priority}
                            key={`${c.id}-${c.priority}`}
                            aria-label={t("col.priority")}
                            onBlur={(e) => {
                              const value = Number(e.target.value);
                              if (Number.isInteger(value) && value !== c.priority) update.mutate({ id: c.id, body: { priority: value } });
                            }}
                          />
                        </td>
                        <td className="num hide-sm">
                          {c.type === "codex_oauth" ? "–" : `${enabledKeys}/${c.credentials.length}`}
                        </td>
                        <td className="num hide-sm">{c.models.length}</td>
                        <td className="num">
                          {int(tr?.requests)}
                          {tr?.errors ? <span className="sub err-text">{t("dash.errorsN", { n: int(tr.errors) })}</span> : null}
                        </td>
                        <td className="num hide-sm">{ms(tr?.avg_first_token_latency_ms)}</td>
                        <td className="actions">
                          <Menu label={t("common.more")} trigger={<IconMore />}>
                            {(close) => (
                              <>
                                <button type="button" onClick={() => { close(); setEditing(c); }}>
                                  <IconEdit />
                                  {t("common.edit")}
                                </button>
                                {c.type !== "codex_oauth" ? (
                                  <button type="button" onClick={() => { close(); setTesting(c); }}>
                                    <IconZap />
                                    {t("channels.test")}
                                  </button>
                                ) : null}
                                <button
                                  type="button"
                                  className="danger"
                                  onClick={async () => {
                                    close();
                                    if (await confirm({ title: t("channels.deleteQ", { name: c.name }), body: t("channels.deleteText"), confirm: t("common.delete"), danger: true }))
                                      remove.mutate(c.id);
                                  }}
                                >
                                  <IconTrash />
                                  {t("common.delete")}
                                </button>
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
      </section>
      <p className="small faint">{t("channels.healthNote")}</p>
      {testing ? <TestModal channel={testing} onClose={() => setTesting(null)} /> : null}
      {current ? <ChannelDrawer channel={current === "new" ? null : current} onClose={() => setEditing(null)} onCreated={(c) => setEditing(c)} /> : null}
    </div>
  );
}

function HealthCell({ channel, cooldowns }: { channel: Channel; cooldowns: Cooldown[] }) {
  const t = useT();
  if (channel.status === "disabled") return <span className="badge">{t("status.disabled")}</span>;
  const whole = cooldowns.find((c) => c.target === "channel");
  const partial = cooldowns.filter((c) => c.target !== "channel");
  if (whole) {
    return (
      <span className="badge err" title={whole.reason}>
        {t("channels.coolingUntil", { time: dateTime(whole.until).slice(11) })}
      </span>
    );
  }
  if (partial.length) {
    return (
      <span className="badge warn" title={partial.map((c) => `${c.model ?? c.credential_id ?? ""}: ${c.reason}`).join("\n")}>
        {t("channels.partlyCooling", { n: partial.length })}
      </span>
    );
  }
  return <span className="badge ok">{t("status.ok")}</span>;
}

