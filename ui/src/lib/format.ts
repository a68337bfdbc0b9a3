// Display formats: money in USD with up to 6 decimals, counts, durations, and times in the
// viewer's own time zone with the zone named.

let locale = "en-US";

/** Set by the i18n provider when the language changes. */
export function setFormatLocale(next: string): void {
  locale = next;
}

/** The viewer's IANA zone, e.g. `Europe/Berlin`. */
export function timeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

/** The zone with its current offset, e.g. `Europe/Berlin (GMT+2)`. */
export function zoneLabel(): string {
  const offset = new Intl.DateTimeFormat("en-US", { timeZoneName: "shortOffset" })
    .formatToParts(new Date())
    .find((p) => p.type === "timeZoneName")?.value;
  return offset ? `${timeZone()} (${offset})` : timeZone();
}

/** A USD amount from the API's decimal string: currency shown, 2 to 6 decimals. */
export function money(value: string | number | null | undefined): string {
  const n = typeof value === "number" ? value : Number(value ?? 0);
  if (!Number.isFinite(n)) return String(value);
  return new Intl.NumberFormat(locale, {
    style: "currency",
    currency: "USD",
    minimumFractionDigits: 2,
    maximumFractionDigits: 6,
  }).format(n);
}

/** A price per 1M tokens; the same as money but never rounded below 4 decimals. */
export function price(value: string | null | undefined): string {
  return money(value);
}

/** A count with grouping: 12,345. */
export function int(value: number | null | undefined): string {
  return new Intl.NumberFormat(locale).format(value ?? 0);
}

/** A count made short for tight places: 12.3K, 4.5M. */
export function compact(value: number | null | undefined): string {
  return new Intl.NumberFormat(locale, { notation: "compact", maximumFractionDigits: 1 }).format(value ?? 0);
}

/** A ratio as a percentage with one decimal. */
export function percent(part: number, whole: number): string {
  if (!whole) return "–";
  return new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: 1 }).format(part / whole);
}

/** Milliseconds as `850 ms` or `2.4 s`. */
export function ms(value: number | null | undefined): string {
  if (value === null || value === undefined) return "–";
  if (value < 1000) return `${Math.round(value)} ms`;
  return `${(value / 1000).toFixed(value < 10_000 ? 2 : 1)} s`;
}

const pad = (n: number) => String(n).padStart(2, "0");

/** `2025-05-21 14:03:07` in the viewer's zone (dense, unambiguous in both languages); with
 *  `withZone` the zone's offset follows, e.g. `GMT+2`. */
export function dateTime(value: string | null | undefined, withZone = false): string {
  if (!value) return "–";
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  const text = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  if (!withZone) return text;
  const zone = new Intl.DateTimeFormat("en-US", { timeZoneName: "shortOffset" }).formatToParts(d).find((p) => p.type === "timeZoneName")?.value;
  return zone ? `${text} ${zone}` : text;
}

/** `2025-05-21` in the viewer's zone. */
export function dateOnly(value: string | Date | null | undefined): string {
  if (!value) return "–";
  return isoDay(new Date(value));
}

/** A short axis label: `14:00` for hours, `05-21` for days. */
export function axisLabel(ms: number, bucket: "hour" | "day"): string {
  const d = new Date(ms);
  if (bucket === "hour") {
    return new Intl.DateTimeFormat(locale, { hour: "2-digit", minute: "2-digit", hour12: false }).format(d);
  }
  return new Intl.DateTimeFormat(locale, { month: "2-digit", day: "2-digit" }).format(d);
}

/** A long label for tooltips. */
export function bucketLabel(ms: number, bucket: "hour" | "day"): string {
  const d = new Date(ms);
  if (bucket === "hour") {
    return new Intl.DateTimeFormat(locale, {
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      hour12: false,
    }).format(d);
  }
  return new Intl.DateTimeFormat(locale, { year: "numeric", month: "2-digit", day: "2-digit", weekday: "short" }).format(d);
}

/** "3 minutes ago" in the current language. */
export function relative(value: string | null | undefined): string {
  if (!value) return "–";
  const diff = (new Date(value).getTime() - Date.now()) / 1000;
  const rtf = new Intl.RelativeTimeFormat(locale, { numeric: "auto" });
  const abs = Math.abs(diff);
  if (abs < 60) return rtf.format(Math.round(diff), "second");
  if (abs < 3600) return rtf.format(Math.round(diff / 60), "minute");
  if (abs < 86400) return rtf.format(Math.round(diff / 3600), "hour");
  if (abs < 86400 * 30) return rtf.format(Math.round(diff / 86400), "day");
  return dateOnly(value);
}

/** Midnight today in the viewer's zone. */
export function startOfToday(): Date {
  const d = new Date();
  d.setHours(0, 0, 0, 0);
  return d;
}

/** `yyyy-mm-dd` of a local date, for `<input type="date">`. */
export function isoDay(d: Date): string {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** A local `yyyy-mm-dd` as the Date of its local midnight. */
export function fromIsoDay(text: string): Date | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (!m) return null;
  return new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
}

/** A short money label for chart axes: `$0.0025`, `$1.5`, `$12`, `$1.2K`. */
export function moneyTick(value: number): string {
  if (value === 0) return "0";
  if (value >= 1000) return `$${compact(value)}`;
  if (value >= 10) return `$${Math.round(value)}`;
  return `$${Number(value.toPrecision(2))}`;
}
