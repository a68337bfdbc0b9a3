// The user's dashboard: today's numbers, requests and cost over 24 h / 7 d, top models, and a
// first-steps checklist until the first call has been made.
import { useMemo, useState } from "react";
import { Link } from "react-router";
import { useQuery } from "@tanstack/react-query";
import { useT } from "../i18n";
import { get } from "../lib/api";
import { useMe } from "../lib/hooks";
import { cacheRatio, useSummary } from "../lib/summary";
import type { Page, Token } from "../lib/types";
import { compact, int, money, ms, percent, startOfToday, zoneLabel } from "../lib/format";
import { Card, Empty, ErrorBox, PageHead, Seg, SkeletonRows, Stat } from "../components/ui";
import { bucketFor, CostChart, Legend, RequestsChart, toPoints } from "../components/charts";
import { IconActivity, IconChart, IconClock, IconDatabase, IconDollar, IconZap } from "../components/icons";

type Range = "24h" | "7d";

export default function DashboardPage() {
  const t = useT();
  const me = useMe().data;
  const [range, setRange] = useState<Range>("24h");
  const now = useMemo(() => new Date(), []);
  const today = useSummary("/api/usage/summary", startOfToday(), now);
  const from = useMemo(() => new Date(now.getTime() - (range === "24h" ? 24 : 24 * 7) * 3_600_000), [now, range]);
  const chart = useSummary("/api/usage/summary", from, now);
  const tokens = useQuery({ queryKey: ["tokens", "count"], queryFn: () => get<Page<Token>>("/api/tokens?limit=1") });
  const bucket = bucketFor(from, now);
  const points = useMemo(() => toPoints(chart.data, from, now, bucket), [chart.data, from, now, bucket]);
  const totals = today.data?.totals;
  const hasToken = (tokens.data?.items.length ?? 0) > 0;
  const hasTraffic = (chart.data?.totals.requests ?? 0) > 0 || (totals?.requests ?? 0) > 0;

  return (
    <div className="stack">
      <PageHead
        title={t("dash.title", { name: me?.username ?? "" })}
        description={t("dash.lead", { zone: zoneLabel() })}
      />
      {!tokens.isPending && (!hasToken || !hasTraffic) ? (
        <Card title={t("dash.startTitle")} subtitle={t("dash.startLead")}>
          <div className="steps">
            <div className={`step ${hasToken ? "done" : ""}`}>
              <span className="step-num">1</span>
              <div>
                <strong>
                  <Link to="/tokens">{t("dash.step1")}</Link>
                </strong>
                <p>{t("dash.step1Text")}</p>
              </div>
            </div>
            <div className="step">
              <span className="step-num">2</span>
              <div>
                <strong>
                  <Link to="/guide">{t("dash.step2")}</Link>
                </strong>
                <p>{t("dash.step2Text")}</p>
              </div>
            </div>
            <div className={`step ${hasTraffic ? "done" : ""}`}>
              <span className="step-num">3</span>
              <div>
                <strong>{t("dash.step3")}</strong>
                <p>{t("dash.step3Text")}</p>
              </div>
            </div>
          </div>
        </Card>
      ) : null}

      {today.isError ? <ErrorBox error={today.error} retry={() => void today.refetch()} /> : null}
      <div className="grid stats" data-testid="today-stats">
        <Stat
          icon={<IconActivity />}
          label={t("dash.requestsToday")}
          loading={today.isPending}
          value={int(totals?.requests)}
          sub={t("dash.errorsN", { n: int(totals?.errors) })}
        />
        <Stat
          icon={<IconDatabase />}
          label={t("dash.tokensToday")}
          loading={today.isPending}
          value={compact((totals?.input_tokens ?? 0) + (totals?.output_tokens ?? 0))}
          sub={t("dash.tokensSplit", {
            input: compact(totals?.input_tokens),
            cached: compact(totals?.cached_input_tokens),
            output: compact(totals?.output_tokens),
          })}
        />
        <Stat icon={<IconDollar />} label={t("dash.costToday")} loading={today.isPending} value={money(totals?.cost_usd)} sub="USD" />
        <Stat
          icon={<IconZap />}
          label={t("dash.cacheHit")}
          loading={today.isPending}
          value={percent(totals?.cached_input_tokens ?? 0, totals?.input_tokens ?? 0)}
          sub={t("dash.cacheHitSub", { pct: (cacheRatio(totals) * 100).toFixed(1) })}
        />
        <Stat
          icon={<IconClock />}
          label={t("dash.ttft")}
          loading={today.isPending}
          value={ms(totals?.avg_first_token_latency_ms)}
          sub={t("dash.latencyN", { v: ms(totals?.avg_latency_ms) })}
        />
      </div>

      <div className="row between">
        <h2>{t("dash.trend")}</h2>
        <Seg<Range>
          label={t("dash.range")}
          value={range}
          onChange={setRange}
          options={[
            { value: "24h", label: t("range.24h") },
            { value: "7d", label: t("range.7d") },
          ]}
        />
      </div>
      <div className="grid cols-2">
        <Card
          title={t("dash.requests")}
          subtitle={t("dash.inRange", { n: int(chart.data?.totals.requests) })}
          actions={<Legend items={[{ dot: 1, label: t("chart.succeeded") }, { dot: 4, label: t("chart.failed") }]} />}
        >
          {chart.isPending ? <SkeletonRows rows={6} /> : <RequestsChart points={points} bucket={bucket} />}
        </Card>
        <Card title={t("dash.cost")} subtitle={t("dash.inRange", { n: money(chart.data?.totals.cost_usd) })}>
          {chart.isPending ? <SkeletonRows rows={6} /> : <CostChart points={points} bucket={bucket} />}
        </Card>
      </div>
      <Card title={t("dash.topModels")} subtitle={range === "24h" ? t("range.24h") : t("range.7d")} tight>
        {chart.isPending ? (
          <SkeletonRows />
        ) : !chart.data?.by_model.length ? (
          <Empty icon={<IconChart />} title={t("dash.noTraffic")} text={t("dash.noTrafficText")} />
        ) : (
          <div className="table-wrap">
            <table className="table">
              <thead>
                <tr>
                  <th>{t("col.model")}</th>
                  <th className="num">{t("col.requests")}</th>
                  <th className="num">{t("col.inputTokens")}</th>
                  <th className="num">{t("col.outputTokens")}</th>
                  <th className="num">{t("col.cost")}</th>
                  <th className="hide-sm">{t("col.share")}</th>
                </tr>
              </thead>
              <tbody>
                {chart.data.by_model.slice(0, 8).map((m) => {
                  const share = Number(chart.data.totals.cost_usd) ? Number(m.cost_usd) / Number(chart.data.totals.cost_usd) : m.requests / chart.data.totals.requests;
                  return (
                    <tr key={m.key}>
                      <td className="mono">{m.key || "–"}</td>
                      <td className="num">{int(m.requests)}</td>
                      <td className="num">{int(m.input_tokens)}</td>
                      <td className="num">{int(m.output_tokens)}</td>
                      <td className="num">{money(m.cost_usd)}</td>
                      <td className="hide-sm">
                        <div className="bar-track">
                          <progress className="visually-hidden" value={share} max={1} />
                          <div className={`bar-fill w-${Math.round(share * 20) * 5}`} />
                        </div>
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
      </Card>
    </div>
  );
}
