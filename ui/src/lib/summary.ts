// Usage summaries: the query hook and the numbers derived from totals.
import { useQuery } from "@tanstack/react-query";
import { get, qs } from "./api";
import type { Summary, Totals } from "./types";

export function useSummary(path: "/api/usage/summary" | "/api/admin/usage/summary", from: Date, to: Date, filters: Record<string, string | undefined> = {}) {
  // Whole minutes so a re-render does not make a new query key every millisecond; `to` rounds
  // up so the requests of the last minute are counted.
  const minute = 60_000;
  const down = (d: Date) => new Date(Math.floor(d.getTime() / minute) * minute).toISOString();
  const up = (d: Date) => new Date(Math.ceil(d.getTime() / minute) * minute).toISOString();
  const params = { from: down(from), to: up(to), ...filters };
  return useQuery({
    queryKey: ["summary", path, params],
    queryFn: () => get<Summary>(path + qs(params)),
  });
}

/** Share of prompt tokens read from a cache. */
export function cacheRatio(t: Totals | undefined): number {
  if (!t || !t.input_tokens) return 0;
  return t.cached_input_tokens / t.input_tokens;
}
