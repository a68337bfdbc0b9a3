// /admin: counts, today's traffic and cost across everyone, and channels that need attention.
import { useMemo } from "react";
import { Link } from "react-router";
import { useT } from "../../i18n";
import { useAll } from "../../lib/hooks";
import { useSummary } from "../../lib/summary";
import type { Channel, Model, User } from "../../lib/types";
import { compact, int, money, ms, percent, startOfToday, zoneLabel } from "../../lib/format";
import { Callout, Card, Empty, PageHead, SkeletonRows, Stat } from "../../components/ui";
import { bucketFor, CostChart, RequestsChart, toPoints } from "../../components/charts";
import { IconActivity, IconBox, IconCheck, IconDollar, IconServer, IconUsers } from "../../components/icons";

export default function AdminOverviewPage() {
  const t = useT();
  const users = useAll<User>(["admin", "users", "all"], "/api/admin/users");
  const channels = useAll<Channel>(["admin", "channels", "all"], "/api/admin/channels");
  const models = useAll<Model>(["admin", "models", "all"], "/api/admin/models");
  const now = useMemo(() => new Date(), []);
  const from = useMemo(() => startOfToday(), []);
  const dayAgo = useMemo(() => new Date(now.getTime() - 86_400_000), [now]);
  const today = useSummary("/api/admin/usage/summary", from, now);
  const last24 = useSummary("/api/admin/usage/summary", dayAgo, now);
  const points = useMemo(() => toPoints(last24.data, dayAgo, now, bucketFor(dayAgo, now)), [last24.data, dayAgo, now]);
  const totals = today.data?.totals;
  const traffic = new Map((today.data?.by_channel ?? []).map((c) => [c.key, c]));

  const attention = (channels.data ?? []).flatMap((c) => {
    const out: { channel: Channel; reason: string; kind: "warn" | "err" }[] = [];
    const tr = traffic.get(c.id);
    if (c.status === "disabled") out.push({ channel: c, reason: t("overview.disabled"), kind: "warn" });
    else {
      if (c.type !== "codex_oauth" && !c.credentials.some((k) => k.status === "enabled")) out.push({ channel: c, reason: t("channels.noKeys"), kind: "err" });
      if (!c.models.some((b) => b.enabled)) out.push({ channel: c, reason: t("channels.noModels"), kind: "err" });
      if (tr && tr.requests >= 5 && tr.errors / tr.requests > 0.2)
        out.push({ channel: c, reason: t("overview.failing", { pct: percent(tr.errors, tr.requests) }), kind: "err" });
    }
    return out;
  });

  return (
    <div className="stack">
      <PageHead title={t("nav.overview")} description={t("overview.lead", { zone: zoneLabel() })} />
      {channels.data && channels.data.length === 0 ? (
        <Callout kind="warn">
          {t("overview.noChannels")} <Link to="/admin/channels">{t("channels.add")}</Link>
        </Callout>
      ) : null}
      <div className="grid stats">
        <Stat icon={<IconUsers />} label={t("nav.users")} loading={users.isPending} value={int(users.data?.length)} />
        <Stat icon={<IconServer />} label={t("nav.channels")} loading={channels.isPending} value={int(channels.data?.length)} sub={t("overview.enabledN", { n: int(channels.data?.filter((c) => c.status === "enabled").length) })} />
        <Stat icon={<IconBox />} label={t("nav.catalogue")} loading={models.isPending} value={int(models.data?.length)} sub={t("overview.enabledN", { n: int(models.data?.filter((m) => m.enabled).length) })} />
        <Stat icon={<IconActivity />} label={t("dash.requestsToday")} loading={today.isPending} value={int(totals?.requests)} sub={t("dash.errorsN", { n: int(totals?.errors) })} />
        <Stat icon={<IconDollar />} label={t("dash.costToday")} loading={today.isPending} value={money(totals?.cost_usd)} sub={t("overview.tokensN", { n: compact((totals?.input_tokens ?? 0) + (totals?.output_tokens ?? 0)) })} />
        <Stat label={t("dash.ttft")} loading={today.isPending} value={ms(totals?.avg_first_token_latency_ms)} sub={t("dash.latencyN", { v: ms(totals?.avg_latency_ms) })} />
      </div>
      <div className="grid cols-2">
        <Card title={t("dash.requests")} subtitle={t("range.24h")}>
          {last24.isPending ? <SkeletonRows rows={5} /> : <RequestsChart points={points} bucket="hour" small />}
        </Card>
        <Card title={t("dash.cost")} subtitle={t("range.24h")}>
          {last24.isPending ? <SkeletonRows rows={5} /> : <CostChart points={points} bucket="hour" small />}
        </Card>
      </div>
      <Card title={t("overview.attention")} subtitle={t("overview.attentionLead")} tight>
        {channels.isPending ? (
          <SkeletonRows rows={3} />
        ) : attention.length === 0 ? (
          <Empty icon={<IconCheck />} title={t("overview.allGood")} text={t("overview.allGoodText")} />
        ) : (
          <table className="table">
            <tbody>
              {attention.map((a, i) => (
                <tr key={`${a.channel.id}-${i}`}>
                  <td>
                    <Link to="/admin/channels">{a.channel.name}</Link>
                  </td>
                  <td>
                    <span className={`badge ${a.kind}`}>{a.reason}</span>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>
    </div>
  );
}
