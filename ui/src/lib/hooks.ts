// Data hooks shared by pages: the signed-in user, the public site facts, cursor-paginated
// lists, and mutations that toast their result and refresh what they changed.
import { useInfiniteQuery, useMutation, useQuery, useQueryClient, type QueryKey } from "@tanstack/react-query";
import { ApiError, currentUserId, get, qs } from "./api";
import type { Me, Page, Site } from "./types";
import { useT, type Key, type T } from "../i18n";
import { useToast } from "../components/overlays";

export const ME_KEY = ["me"] as const;

export function useMe() {
  return useQuery({
    queryKey: ME_KEY,
    queryFn: () => get<Me>("/api/me"),
    enabled: currentUserId() !== null,
    staleTime: 60_000,
    retry: false,
  });
}

export function useSite() {
  return useQuery({ queryKey: ["site"], queryFn: () => get<Site>("/api/site"), staleTime: 30_000 });
}

/** The base URL clients should use: the configured site URL, else this page's origin. */
export function siteUrl(site: Site | undefined): string {
  const configured = site?.site_base_url?.trim();
  return (configured || window.location.origin).replace(/\/+$/, "");
}

/** Codes whose meaning does not depend on the details, with a sentence in every language. */
const KNOWN_CODES: Record<string, Key> = {
  invalid_credentials: "error.invalid_credentials",
  account_disabled: "error.account_disabled",
  registration_closed: "error.registration_closed",
  too_many_attempts: "error.too_many_attempts",
  forbidden: "error.forbidden",
  not_found: "error.not_found",
  payload_too_large: "error.payload_too_large",
  internal: "error.internal",
};

/** A human sentence for an error. In English it is the server's own message (it names the
 *  field or the conflict); in another language a known code gets a translated sentence and
 *  any other keeps the server's detail after a translated lead, so no screen mixes languages
 *  without saying why. */
export function errorText(t: T, error: unknown): string {
  if (!(error instanceof ApiError)) return t("error.generic");
  if (error.code === "network_error") return t("error.network");
  if (t("meta.lang") === "en") return error.message || t("error.generic");
  const known = KNOWN_CODES[error.code];
  if (known) return t(known);
  return error.message ? t("error.withDetail", { detail: error.message }) : t("error.generic");
}

/** A `{items, next_cursor}` list, page after page. */
export function useCursorList<T>(key: QueryKey, path: string, params: Record<string, string | number | undefined> = {}, limit = 50) {
  const query = useInfiniteQuery({
    queryKey: [...key, params, limit],
    queryFn: ({ pageParam }) => get<Page<T>>(path + qs({ ...params, limit, cursor: pageParam })),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });
  const items = query.data?.pages.flatMap((p) => p.items) ?? [];
  return { ...query, items };
}

/** Fetches every page of a small list (channels, groups, models) for pickers and lookups. */
export function useAll<T>(key: QueryKey, path: string, enabled = true) {
  return useQuery({
    queryKey: key,
    enabled,
    queryFn: async () => {
      const out: T[] = [];
      let cursor: string | undefined;
      for (let i = 0; i < 20; i++) {
        const page = await get<Page<T>>(path + qs({ limit: 500, cursor }));
        out.push(...page.items);
        if (!page.next_cursor) break;
        cursor = page.next_cursor;
      }
      return out;
    },
  });
}

/** A mutation that toasts success or the server's message and invalidates `invalidate` keys. */
export function useAction<V, R>(fn: (vars: V) => Promise<R>, opts: { success?: string; invalidate?: QueryKey[]; onDone?: (r: R, v: V) => void } = {}) {
  const qc = useQueryClient();
  const toast = useToast();
  const t = useT();
  return useMutation({
    mutationFn: fn,
    onSuccess: (result, vars) => {
      if (opts.success) toast.ok(opts.success);
      for (const key of opts.invalidate ?? []) qc.invalidateQueries({ queryKey: key });
      opts.onDone?.(result, vars);
    },
    onError: (error) => toast.err(errorText(t, error)),
  });
}
