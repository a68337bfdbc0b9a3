// The models this user may call, with prices per 1M tokens; searchable and sortable.
import { useState } from "react";
import { Link } from "react-router";
import { useQuery } from "@tanstack/react-query";
import { useT } from "../i18n";
import { get } from "../lib/api";
import { useMe } from "../lib/hooks";
import { useSort } from "../lib/sort";
import type { Page, UserModel } from "../lib/types";
import { price } from "../lib/format";
import { Empty, Mono, PageHead, SortTh } from "../components/ui";
import { ListState } from "../components/lists";
import { IconBox } from "../components/icons";

type Col = "id" | "owned_by" | "input" | "cached" | "write" | "output";

export default function ModelsPage() {
  const t = useT();
  const me = useMe().data;
  const q = useQuery({ queryKey: ["models", "mine"], queryFn: () => get<Page<UserModel>>("/api/models") });
  const [search, setSearch] = useState("");
  const rows = (q.data?.items ?? []).filter((m) => !search || m.id.toLowerCase().includes(search.toLowerCase()) || m.owned_by.toLowerCase().includes(search.toLowerCase()));
  const sort = useSort<UserModel, Col>(rows, "id", (m, k) => {
    switch (k) {
      case "id":
        return m.id;
      case "owned_by":
        return m.owned_by;
      case "input":
        return Number(m.input_usd_per_1m);
      case "cached":
        return Number(m.cached_input_usd_per_1m);
      case "write":
        return Number(m.cache_write_usd_per_1m);
      case "output":
        return Number(m.output_usd_per_1m);
    }
  });
  return (
    <div className="stack">
      <PageHead
        title={t("nav.models")}
        description={t("models.lead")}
        actions={<input className="input" type="search" placeholder={t("common.search")} value={search} onChange={(e) => setSearch(e.target.value)} aria-label={t("common.search")} />}
      />
      <section className="card">
        <ListState
          query={q}
          isEmpty={(q.data?.items.length ?? 0) === 0}
          empty={
            <Empty
              icon={<IconBox />}
              title={t("models.emptyTitle")}
              text={me?.role === "root" ? t("models.emptyRoot") : t("models.emptyUser")}
              action={
                me?.role === "root" ? (
                  <Link className="btn primary" to="/admin/channels">
                    {t("models.goChannels")}
                  </Link>
                ) : undefined
              }
            />
          }
        >
          {() => (
            <div className="table-wrap">
              <table className="table" data-testid="models-table">
                <thead>
                  <tr>
                    <SortTh label={t("col.model")} k="id" sort={sort} />
                    <SortTh label={t("col.owner")} k="owned_by" sort={sort} className="hide-sm" />
                    <SortTh label={t("col.priceInput")} k="input" sort={sort} num />
                    <SortTh label={t("col.priceCached")} k="cached" sort={sort} num />
                    <SortTh label={t("col.priceWrite")} k="write" sort={sort} num className="hide-sm" />
                    <SortTh label={t("col.priceOutput")} k="output" sort={sort} num />
                    <th className="hide-sm">{t("col.notes")}</th>
                  </tr>
                </thead>
                <tbody>
                  {sort.sorted.map((m) => (
                    <tr key={m.id}>
                      <td>
                        <Mono text={m.id} />
                      </td>
                      <td className="hide-sm">{m.owned_by}</td>
                      <td className="num">{price(m.input_usd_per_1m)}</td>
                      <td className="num">{price(m.cached_input_usd_per_1m)}</td>
                      <td className="num hide-sm">{price(m.cache_write_usd_per_1m)}</td>
                      <td className="num">{price(m.output_usd_per_1m)}</td>
                      <td className="hide-sm muted small">{m.description}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </ListState>
      </section>
      <p className="small faint">{t("models.priceNote")}</p>
    </div>
  );
}
