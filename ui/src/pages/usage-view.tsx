// The usage explorer shared by /usage (own events) and /admin/usage (everyone's): a date range
// and filters kept in the URL, totals, charts, breakdowns, the event list and an event drawer.
import { useMemo, useState, type ReactNode } from "react";
import { useSearchParams } from "react-router";
import { useQuery } from "@tanstack/react-query";
import { useT, type T } from "../i18n";
import { get } from "../lib/api";
import { useAll, useCursorList } from "../lib/hooks";
import { useSummary } from "../lib/summary";
import type { Channel, Model, Page, Share, Token, User, UsageEvent, UserModel } from "../lib/types";
import { compact, dateTime, fromIsoDay, int, isoDay, money, ms, percent, startOfToday, zoneLabel } from "../lib/format";
import { Card, CopyButton, Empty, ErrorBox, LoadMore, Mono, PageHead, Seg, SkeletonRows, Stat } from "../components/ui";
import { ListState } from "../components/lists";
import { Drawer } from "../components/overlays";
import { bucketFor, CostChart, Legend, RequestsChart, TokensChart, toPoints } from "../components/charts";
import { IconActivity, IconChart, IconClock, IconDatabase, IconDollar } from "../components/icons";

type Range = "today" | "24h" | "7d" | "30d" | "custom";

function rangeDates(range: Range, fromText: string | null, toText: string | null): { from: Date; to: Date } {
  const now = new Date();
  switch (range) {
    case "today":
      return { from: startOfToday(), to: now };
    case "7d":
      return { from: new Date(now.getTime() - 7 * 86_400_000), to: now };
    case "30d":
      return { from: new Date(now.getTime() - 30 * 86_400_000), to: now };
    case "custom": {
      const from = (fromText && fromIsoDay(fromText)) || startOfToday();
      const toDay = (toText && fromIsoDay(toText)) || startOfToday();
      const to = new Date(toDay);
      to.setDate(to.getDate() + 1);
      return { from, to: to > now ? now : to };
    }
    default:
      return { from: new Date(now.getTime() - 86_400_000), to: now };
  }
}

export function UsageView({ admin }: { admin: boolean }) {
  const t = useT();
  const [params, setParams] = useSearchParams();
  const range = (params.get("range") as Range) || "24h";
  const filters = {
    model: params.get("model") || undefined,
    token_id: params.get("token") || undefined,
    status: params.get("status") || undefined,
    user_id: admin ? params.get("user") || undefined : undefined,
    channel_id: admin ? params.get("channel") || undefined : undefined,
  };
  // Recomputed when the URL changes, not on every render ("now" would move each time).
  const key = params.toString();
  const { from, to } = useMemo(() => rangeDates(range, params.get("from"), params.get("to")), [key]);
  const setParam = (name: string, value: string | undefined) => {
    const next = new URLSearchParams(params);
    if (value) next.set(name, value);
    else next.delete(name);
    setParams(next);
  };
  const setRange = (next: Range) => {
    const p = new URLSearchParams(params);
    p.set("range", next);
    if (next === "custom") {
      p.set("from", params.get("from") ?? isoDay(new Date(Date.now() - 6 * 86_400_000)));
      p.set("to", params.get("to") ?? isoDay(new Date()));
    } else {
      p.delete("from");
      p.delete("to");
    }
    setParams(p);
  };

  const base = admin ? "/api/admin/usage" : "/api/usage";
  const summary = useSummary(`${base}/summary` as "/api/usage/summary", from, to, filters);
  const events = useCursorList<UsageEvent>(["usage-events", base], `${base}/events`, {
    ...filters,
    from: from.toISOString(),
    to: to.toISOString(),
  });
  const bucket = bucketFor(from, to);
  const points = useMemo(() => toPoints(summary.data, from, to, bucket), [summary.data, from, to, bucket]);
  const [open, setOpen] = useState<UsageEvent | null>(null);

  // Names for ids.
  const myTokens = useQuery({ queryKey: ["tokens", "all"], queryFn: () => get<Page<Token>>("/api/tokens?limit=500"), enabled: !admin });
  const users = useAll<User>(["admin", "users", "all"], "/api/admin/users", admin);
  const channels = useAll<Channel>(["admin", "channels", "all"], "/api/admin/channels", admin);
  const tokenName = (id: number | null) => (id === null ? "–" : (myTokens.data?.items.find((x) => x.id === id)?.name ?? `#${id}`));
  const userName = (id: number | null) => (id === null ? "–" : (users.data?.find((u) => u.id === id)?.username ?? `#${id}`));
  const channelName = (id: number | null) => (id === null ? "–" : admin ? (channels.data?.find((c) => c.id === id)?.name ?? `#${id}`) : `#${id}`);
  const totals = summary.data?.totals;
  const modelOptions = summary.data?.by_model.map((m) => m.key).filter(Boolean) ?? [];

  return (
    <div className="stack">
      <PageHead title={admin ? t("nav.allUsage") : t("nav.usage")} description={t(admin ? "usage.leadAdmin" : "usage.lead", { zone: zoneLabel() })} />
      <div className="card card-body">
        <div className="row">
          <Seg<Range>
            label={t("dash.range")}
            value={range}
            onChange={setRange}
            options={[
              { value: "today", label: t("range.today") },
              { value: "24h", label: t("range.24h") },
              { value: "7d", label: t("range.7d") },
              { value: "30d", label: t("range.30d") },
              { value: "custom", label: t("range.custom") },
            ]}
          />
          {range === "custom" ? (
            <>
              <input className="input auto" type="date" value={params.get("from") ?? ""} onChange={(e) => setParam("from", e.target.value)} aria-label={t("usage.from")} />
              <span className="faint">–</span>
              <input className="input auto" type="date" value={params.get("to") ?? ""} onChange={(e) => setParam("to", e.target.value)} aria-label={t("usage.to")} />
            </>
          ) : null}
          <div className="grow" />
          {admin ? (
            <>
              <select className="select auto" value={filters.user_id ?? ""} onChange={(e) => setParam("user", e.target.value)} aria-label={t("col.user")}>
                <option value="">{t("usage.allUsers")}</option>
                {(users.data ?? []).map((u) => (
                  <option key={u.id} value={u.id}>
                    {u.username}
                  </option>
                ))}
              </select>
              <select className="select auto" value={filters.channel_id ?? ""} onChange={(e) => setParam("channel", e.target.value)} aria-label={t("col.channel")}>
                <option value="">{t("usage.allChannels")}</option>
                {(channels.data ?? []).map((c) => (
                  <option key={c.id} value={c.id}>
                    {c.name}
                  </option>
                ))}
              </select>
              <input className="input auto narrow" inputMode="numeric" placeholder={t("usage.tokenId")} value={filters.token_id ?? ""} onChange={(e) => setParam("token", e.target.value.replace(/\D/g, ""))} aria-label={t("usage.tokenId")} />
            </>
          ) : (
            <select className="select auto" value={filters.token_id ?? ""} onChange={(e) => setParam("token", e.target.value)} aria-label={t("col.token")}>
              <option value="">{t("usage.allTokens")}</option>
              {(myTokens.data?.items ?? []).map((tk) => (
                <option key={tk.id} value={tk.id}>
                  {tk.name}
                </option>
              ))}
            </select>
          )}
          <input
            className="input auto mono"
            list="usage-models"
            placeholder={t("usage.allModels")}
            defaultValue={filters.model ?? ""}
            key={filters.model ?? ""}
            onBlur={(e) => setParam("model", e.target.value.trim())}
            onKeyDown={(e) => e.key === "Enter" && setParam("model", (e.target as HTMLInputElement).value.trim())}
            aria-label={t("col.model")}
          />
          <datalist id="usage-models">
            {modelOptions.map((m) => (
              <option key={m} value={m} />
            ))}
          </datalist>
          <select className="select auto" value={filters.status ?? ""} onChange={(e) => setParam("status", e.target.value)} aria-label={t("col.status")}>
            <option value="">{t("usage.allStatuses")}</option>
            <option value="ok">{t("usage.onlyOk")}</option>
            <option value="error">{t("usage.onlyErrors")}</option>
          </select>
        </div>
      </div>

      {summary.isError ? <ErrorBox error={summary.error} retry={() => void summary.refetch()} /> : null}
      <div className="grid stats">
        <Stat icon={<IconActivity />} label={t("col.requests")} loading={summary.isPending} value={int(totals?.requests)} sub={t("usage.errorRate", { pct: percent(totals?.errors ?? 0, totals?.requests ?? 0) })} />
        <Stat
          icon={<IconDatabase />}
          label={t("usage.tokens")}
          loading={summary.isPending}
          value={compact((totals?.input_tokens ?? 0) + (totals?.output_tokens ?? 0))}
          sub={t("dash.tokensSplit", { input: compact(totals?.input_tokens), cached: compact(totals?.cached_input_tokens), output: compact(totals?.output_tokens) })}
        />
        <Stat icon={<IconDollar />} label={t("col.cost")} loading={summary.isPending} value={money(totals?.cost_usd)} sub="USD" />
        <Stat icon={<IconClock />} label={t("dash.ttft")} loading={summary.isPending} value={ms(totals?.avg_first_token_latency_ms)} sub={t("dash.latencyN", { v: ms(totals?.avg_latency_ms) })} />
      </div>

      <div className="grid cols-3">
        <Card title={t("dash.requests")} actions={<Legend items={[{ dot: 1, label: t("chart.succeeded") }, { dot: 4, label: t("chart.failed") }]} />}>
          {summary.isPending ? <SkeletonRows rows={6} /> : <RequestsChart points={points} bucket={bucket} />}
        </Card>
        <Card title={t("usage.tokens")} actions={<Legend items={[{ dot: 1, label: t("chart.inputUncached") }, { dot: 2, label: t("chart.inputCached") }, { dot: 3, label: t("chart.output") }]} />}>
          {summary.isPending ? <SkeletonRows rows={6} /> : <TokensChart points={points} bucket={bucket} />}
        </Card>
        <Card title={t("dash.cost")}>{summary.isPending ? <SkeletonRows rows={6} /> : <CostChart points={points} bucket={bucket} />}</Card>
      </div>

      {!admin && summary.data && summary.data.totals.requests > 0 ? (
        <div className="grid cols-2">
          <TopList title={t("dash.topModels")} rows={summary.data.by_model} name={(k) => k || "–"} mono />
          <TopList title={t("usage.topTokens")} rows={summary.data.by_token} name={tokenName} />
        </div>
      ) : null}
      {admin && summary.data ? (
        <div className="grid cols-3">
          <TopList title={t("usage.topUsers")} rows={summary.data.by_user ?? []} name={userName} />
          <TopList title={t("dash.topModels")} rows={summary.data.by_model} name={(k) => k || "–"} mono />
          <TopList title={t("usage.topChannels")} rows={summary.data.by_channel ?? []} name={channelName} />
        </div>
      ) : null}

      <Card title={t("usage.events")} subtitle={t("usage.eventsLead")} tight>
        <ListState query={events} isEmpty={events.items.length === 0} empty={<Empty icon={<IconChart />} title={t("usage.emptyTitle")} text={t("usage.emptyText")} />}>
          {() => (
            <div className="table-wrap">
              <table className="table" data-testid="usage-events">
                <thead>
                  <tr>
                    <th>{t("col.time")}</th>
                    {admin ? <th>{t("col.user")}</th> : null}
                    <th>{t("col.model")}</th>
                    <th className="hide-sm">{t("col.token")}</th>
                    <th className="hide-sm">{t("col.endpoint")}</th>
                    <th>{t("col.status")}</th>
                    <th className="num">{t("col.inputTokens")}</th>
                    <th className="num hide-sm">{t("col.cached")}</th>
                    <th className="num">{t("col.outputTokens")}</th>
                    <th className="num hide-sm">{t("col.latency")}</th>
                    <th className="num hide-sm">{t("col.ttft")}</th>
                    <th className="num">{t("col.cost")}</th>
                  </tr>
                </thead>
                <tbody>
                  {events.items.map((e) => (
                    <tr key={e.id} className="clickable" onClick={() => setOpen(e)}>
                      <td className="nowrap">{dateTime(e.time)}</td>
                      {admin ? <td>{userName(e.user_id)}</td> : null}
                      <td className="mono">{e.model || "–"}</td>
                      <td className="hide-sm">{admin ? (e.token_id ? `#${e.token_id}` : "–") : tokenName(e.token_id)}</td>
                      <td className="hide-sm mono small">{e.endpoint}</td>
                      <td>
                        <StatusCode e={e} />
                      </td>
                      <td className="num">{int(e.input_tokens)}</td>
                      <td className="num hide-sm">{int(e.cached_input_tokens)}</td>
                      <td className="num">{int(e.output_tokens)}</td>
                      <td className="num hide-sm">{ms(e.latency_ms)}</td>
                      <td className="num hide-sm">{ms(e.first_token_latency_ms)}</td>
                      <td className="num">{money(e.cost_usd)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </ListState>
        <LoadMore hasMore={!!events.hasNextPage} loading={events.isFetchingNextPage} onClick={() => void events.fetchNextPage()} />
      </Card>
      {open ? (
        <EventDrawer
          event={open}
          admin={admin}
          onClose={() => setOpen(null)}
          tokenName={admin ? (id) => (id ? `#${id}` : "–") : tokenName}
          channelName={channelName}
          userName={userName}
        />
      ) : null}
    </div>
  );
}

function StatusCode({ e }: { e: UsageEvent }) {
  const bad = e.status_code >= 400 || !!e.error_class;
  return (
    <span className={`badge ${bad ? "err" : "ok"}`} title={e.error_class ?? undefined}>
      {e.status_code}
      {e.partial ? "*" : ""}
    </span>
  );
}

function TopList<K>({ title, rows, name, mono }: { title: string; rows: Share<K>[]; name: (k: K) => string; mono?: boolean }) {
  const t = useT();
  return (
    <Card title={title} tight>
      {rows.length === 0 ? (
        <div className="card-body faint small">{t("dash.noTraffic")}</div>
      ) : (
        <table className="table">
          <tbody>
            {rows.slice(0, 6).map((r) => (
              <tr key={String(r.key)}>
                <td className={mono ? "mono ellipsis" : "ellipsis"}>{name(r.key)}</td>
                <td className="num">{int(r.requests)}</td>
                <td className="num">{money(r.cost_usd)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Card>
  );
}

function kv(label: string, value: ReactNode) {
  return [<div key={`${label}-k`}>{label}</div>, <div key={`${label}-v`}>{value}</div>];
}

/** List-price amounts per token kind, so the viewer can see where the cost came from. */
function breakdown(e: UsageEvent, prices: { input: number; cached: number; write: number; output: number }) {
  const uncached = Math.max(0, e.input_tokens - e.cached_input_tokens - e.cache_write_tokens);
  return {
    uncached,
    rows: [
      { kind: "input", tokens: uncached, price: prices.input },
      { kind: "cached", tokens: e.cached_input_tokens, price: prices.cached },
      { kind: "write", tokens: e.cache_write_tokens, price: prices.write },
      { kind: "output", tokens: e.output_tokens, price: prices.output },
    ] as const,
  };
}

function kindLabel(t: T, kind: "input" | "cached" | "write" | "output"): string {
  return kind === "input" ? t("event.uncachedInput") : kind === "cached" ? t("event.cachedInput") : kind === "write" ? t("event.cacheWrite") : t("event.output");
}

function EventDrawer({
  event: e,
  admin,
  onClose,
  tokenName,
  channelName,
  userName,
}: {
  event: UsageEvent;
  admin: boolean;
  onClose: () => void;
  tokenName: (id: number | null) => string;
  channelName: (id: number | null) => string;
  userName: (id: number | null) => string;
}) {
  const t = useT();
  const userModels = useQuery({ queryKey: ["models", "mine"], queryFn: () => get<Page<UserModel>>("/api/models"), enabled: !admin });
  const catalogue = useAll<Model>(["admin", "models", "all"], "/api/admin/models", admin);
  let prices: { input: number; cached: number; write: number; output: number } | null = null;
  if (admin) {
    const m = catalogue.data?.find((x) => x.public_id === e.model);
    if (m) prices = { input: Number(m.input_usd_per_1m), cached: Number(m.cached_input_usd_per_1m), write: Number(m.cache_write_usd_per_1m), output: Number(m.output_usd_per_1m) };
  } else {
    const m = userModels.data?.items.find((x) => x.id === e.model);
    if (m) prices = { input: Number(m.input_usd_per_1m), cached: Number(m.cached_input_usd_per_1m), write: Number(m.cache_write_usd_per_1m), output: Number(m.output_usd_per_1m) };
  }
  const split = breakdown(e, prices ?? { input: 0, cached: 0, write: 0, output: 0 });
  return (
    <Drawer title={t("event.title")} onClose={onClose} extra={<StatusCode e={e} />}>
      <div className="stack" data-testid="event-drawer">
        <div className="section-title">{t("event.request")}</div>
        <div className="kv">
          {kv(t("col.time"), `${dateTime(e.time, true)}`)}
          {kv(t("event.requestId"), <Mono text={e.request_id} />)}
          {admin ? kv(t("col.user"), userName(e.user_id)) : null}
          {kv(t("col.token"), tokenName(e.token_id))}
          {kv(t("event.modelRequested"), <Mono text={e.model || "–"} />)}
          {kv(t("event.modelForwarded"), e.forwarded_model ? <Mono text={e.forwarded_model} /> : "–")}
          {kv(
            t("event.modelUpstream"),
            e.upstream_model ? (
              <span className="row">
                <Mono text={e.upstream_model} />
                {e.model_mismatch ? (
                  <span className="badge warn" title={t("event.modelMismatchHint")} data-testid="model-mismatch">
                    {t("event.modelMismatch")}
                  </span>
                ) : null}
              </span>
            ) : (
              "–"
            ),
          )}
          {kv(t("col.endpoint"), <span className="mono">{e.endpoint}</span>)}
          {kv(t("event.stream"), e.is_stream ? t("common.yes") : t("common.no"))}
          {kv(t("col.channel"), channelName(e.channel_id))}
          {kv(t("col.status"), `${e.status_code}${e.error_class ? ` · ${e.error_class}` : ""}${e.partial ? ` · ${t("event.partial")}` : ""}`)}
        </div>
        <div className="section-title">{t("event.timing")}</div>
        <div className="kv">
          {kv(t("col.latency"), ms(e.latency_ms))}
          {kv(t("col.ttft"), ms(e.first_token_latency_ms))}
          {kv(t("event.bytes"), `${int(e.request_bytes)} ↑ · ${int(e.response_bytes)} ↓`)}
        </div>
        <div className="section-title">{t("event.tokens")}</div>
        <div className="kv" data-testid="event-tokens">
          {kv(t("event.inputTotal"), int(e.input_tokens))}
          {kv(t("event.cachedInput"), `${int(e.cached_input_tokens)} (${percent(e.cached_input_tokens, e.input_tokens)})`)}
          {kv(t("event.cacheWrite"), int(e.cache_write_tokens))}
          {kv(t("event.uncachedInput"), int(split.uncached))}
          {kv(t("event.output"), int(e.output_tokens))}
          {kv(t("event.reasoning"), int(e.reasoning_tokens))}
        </div>
        <div className="section-title">{t("event.cost")}</div>
        <div className="table-wrap card">
          <table className="table">
            <thead>
              <tr>
                <th>{t("event.kind")}</th>
                <th className="num">{t("event.tokensCol")}</th>
                <th className="num">{t("event.pricePer1m")}</th>
                <th className="num">{t("event.amount")}</th>
              </tr>
            </thead>
            <tbody>
              {prices
                ? split.rows.map((r) => (
                    <tr key={r.kind}>
                      <td>{kindLabel(t, r.kind)}</td>
                      <td className="num">{int(r.tokens)}</td>
                      <td className="num">{money(r.price)}</td>
                      <td className="num">{money((r.tokens * r.price) / 1_000_000)}</td>
                    </tr>
                  ))
                : null}
              <tr>
                <td>
                  <strong>{t("event.charged")}</strong>
                </td>
                <td />
                <td />
                <td className="num">
                  <strong>{money(e.cost_usd)}</strong>
                </td>
              </tr>
            </tbody>
          </table>
        </div>
        <p className="small faint">{prices ? t("event.costNote") : t("event.noPrices")}</p>
        <div className="row between">
          <div className="section-title">{t("event.upstreamUsage")}</div>
          {e.upstream_usage ? <CopyButton text={JSON.stringify(e.upstream_usage, null, 2)} /> : null}
        </div>
        <div className="code-block">
          <pre data-testid="upstream-usage">{e.upstream_usage ? JSON.stringify(e.upstream_usage, null, 2) : t("event.noUpstreamUsage")}</pre>
        </div>
      </div>
    </Drawer>
  );
}
