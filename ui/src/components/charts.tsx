// Time-series charts over the summary's hourly buckets, regrouped into the viewer's local hours
// or days with empty buckets filled, drawn with recharts (SVG, styled by CSS variables).
import { Area, AreaChart, Bar, BarChart, CartesianGrid, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import type { Summary } from "../lib/types";
import { axisLabel, bucketLabel, compact, int, money, moneyTick } from "../lib/format";
import { useT } from "../i18n";

export type Bucket = "hour" | "day";

export interface Point {
  t: number;
  requests: number;
  ok: number;
  errors: number;
  input: number;
  cached: number;
  uncached: number;
  output: number;
  cost: number;
}

const HOUR = 3_600_000;

function floorLocal(ms: number, bucket: Bucket): number {
  const d = new Date(ms);
  if (bucket === "hour") d.setMinutes(0, 0, 0);
  else d.setHours(0, 0, 0, 0);
  return d.getTime();
}

function nextLocal(ms: number, bucket: Bucket): number {
  if (bucket === "hour") return ms + HOUR;
  const d = new Date(ms);
  d.setDate(d.getDate() + 1);
  return d.getTime();
}

/** Hours for ranges up to two days, local days beyond. */
export function bucketFor(from: Date, to: Date): Bucket {
  return to.getTime() - from.getTime() <= 2 * 24 * HOUR ? "hour" : "day";
}

/** The summary's series as one point per local bucket from `from` to `to`, gaps filled with 0. */
export function toPoints(summary: Summary | undefined, from: Date, to: Date, bucket: Bucket): Point[] {
  const points = new Map<number, Point>();
  for (let t = floorLocal(from.getTime(), bucket); t < to.getTime(); t = nextLocal(t, bucket)) {
    points.set(t, { t, requests: 0, ok: 0, errors: 0, input: 0, cached: 0, uncached: 0, output: 0, cost: 0 });
  }
  for (const s of summary?.series ?? []) {
    const key = floorLocal(new Date(s.time).getTime(), bucket);
    const p = points.get(key);
    if (!p) continue;
    p.requests += s.requests;
    p.errors += s.errors;
    p.ok += s.requests - s.errors;
    p.input += s.input_tokens;
    p.cached += s.cached_input_tokens;
    p.uncached += s.input_tokens - s.cached_input_tokens;
    p.output += s.output_tokens;
    p.cost += Number(s.cost_usd);
  }
  return [...points.values()];
}

interface TipProps {
  active?: boolean;
  payload?: { name?: string; value?: number; dataKey?: string | number; color?: string }[];
  label?: number;
  bucket: Bucket;
  format: (v: number) => string;
  names: Record<string, string>;
}

function Tip({ active, payload, label, bucket, format, names }: TipProps) {
  if (!active || !payload?.length || label === undefined) return null;
  return (
    <div className="chart-tooltip">
      <div className="faint small">{bucketLabel(label, bucket)}</div>
      {payload.map((item) => (
        <div className="row" key={String(item.dataKey)}>
          <span>{names[String(item.dataKey)] ?? item.name}</span>
          <strong className="num">{format(item.value ?? 0)}</strong>
        </div>
      ))}
    </div>
  );
}

const axis = { stroke: "var(--chart-axis)", fontSize: 11, tickLine: false, axisLine: false } as const;

export function RequestsChart({ points, bucket, small }: { points: Point[]; bucket: Bucket; small?: boolean }) {
  const t = useT();
  const names = { ok: t("chart.succeeded"), errors: t("chart.failed") };
  return (
    <div className={small ? "chart sm" : "chart"} data-testid="chart-requests">
      <ResponsiveContainer width="100%" height="100%">
        <BarChart data={points} margin={{ top: 8, right: 8, bottom: 0, left: 0 }}>
          <CartesianGrid vertical={false} stroke="var(--chart-grid)" />
          <XAxis dataKey="t" tickFormatter={(v: number) => axisLabel(v, bucket)} {...axis} minTickGap={24} />
          <YAxis {...axis} width={40} allowDecimals={false} tickFormatter={(v: number) => compact(v)} />
          <Tooltip cursor={{ fill: "var(--bg-hover)" }} content={<Tip bucket={bucket} format={int} names={names} />} />
          <Bar dataKey="ok" stackId="r" fill="var(--chart-1)" isAnimationActive={false} />
          <Bar dataKey="errors" stackId="r" fill="var(--chart-4)" radius={[2, 2, 0, 0]} isAnimationActive={false} />
        </BarChart>
      </ResponsiveContainer>
    </div>
  );
}

export function TokensChart({ points, bucket }: { points: Point[]; bucket: Bucket }) {
  const t = useT();
  const names = { uncached: t("chart.inputUncached"), cached: t("chart.inputCached"), output: t("chart.output") };
  return (
    <div className="chart" data-testid="chart-tokens">
      <ResponsiveContainer width="100%" height="100%">
        <BarChart data={points} margin={{ top: 8, right: 8, bottom: 0, left: 0 }}>
          <CartesianGrid vertical={false} stroke="var(--chart-grid)" />
          <XAxis dataKey="t" tickFormatter={(v: number) => axisLabel(v, bucket)} {...axis} minTickGap={24} />
          <YAxis {...axis} width={44} tickFormatter={(v: number) => compact(v)} />
          <Tooltip cursor={{ fill: "var(--bg-hover)" }} content={<Tip bucket={bucket} format={int} names={names} />} />
          <Bar dataKey="uncached" stackId="k" fill="var(--chart-1)" isAnimationActive={false} />
          <Bar dataKey="cached" stackId="k" fill="var(--chart-2)" isAnimationActive={false} />
          <Bar dataKey="output" stackId="k" fill="var(--chart-3)" radius={[2, 2, 0, 0]} isAnimationActive={false} />
        </BarChart>
      </ResponsiveContainer>
    </div>
  );
}

export function CostChart({ points, bucket, small }: { points: Point[]; bucket: Bucket; small?: boolean }) {
  const t = useT();
  const names = { cost: t("chart.cost") };
  return (
    <div className={small ? "chart sm" : "chart"} data-testid="chart-cost">
      <ResponsiveContainer width="100%" height="100%">
        <AreaChart data={points} margin={{ top: 8, right: 8, bottom: 0, left: 0 }}>
          <CartesianGrid vertical={false} stroke="var(--chart-grid)" />
          <XAxis dataKey="t" tickFormatter={(v: number) => axisLabel(v, bucket)} {...axis} minTickGap={24} />
          <YAxis {...axis} width={56} tickFormatter={moneyTick} />
          <Tooltip content={<Tip bucket={bucket} format={money} names={names} />} />
          <Area type="monotone" dataKey="cost" stroke="var(--chart-5)" fill="var(--chart-5)" fillOpacity={0.15} strokeWidth={2} isAnimationActive={false} />
        </AreaChart>
      </ResponsiveContainer>
    </div>
  );
}

export function Legend({ items }: { items: { dot: number; label: string }[] }) {
  return (
    <div className="row small muted">
      {items.map((i) => (
        <span key={i.label}>
          <span className={`legend-dot dot-${i.dot}`} />
          {i.label}
        </span>
      ))}
    </div>
  );
}
