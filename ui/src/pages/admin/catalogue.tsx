// /admin/models: the model catalogue with prices per 1M tokens, enabled switch, bound channels;
// create, edit and delete in a drawer.
import { useState, type FormEvent } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { useT } from "../../i18n";
import { del, patch, post } from "../../lib/api";
import { errorText, useAction, useAll } from "../../lib/hooks";
import { useSort } from "../../lib/sort";
import type { Model } from "../../lib/types";
import { price } from "../../lib/format";
import { Callout, Empty, Field, Mono, PageHead, SortTh, Switch } from "../../components/ui";
import { DeleteButton, FormFooter, ListState } from "../../components/lists";
import { Drawer, useToast } from "../../components/overlays";
import { IconDatabase, IconEdit, IconPlus } from "../../components/icons";

const KEY = ["admin", "models", "all"];
type Col = "id" | "input" | "output" | "enabled";

export default function CataloguePage() {
  const t = useT();
  const models = useAll<Model>(KEY, "/api/admin/models");
  const [editing, setEditing] = useState<Model | "new" | null>(null);
  const sort = useSort<Model, Col>(models.data ?? [], "id", (m, k) =>
    k === "id" ? m.public_id : k === "input" ? Number(m.input_usd_per_1m) : k === "output" ? Number(m.output_usd_per_1m) : m.enabled ? 1 : 0,
  );
  const toggle = useAction(({ id, on }: { id: number; on: boolean }) => patch(`/api/admin/models/${id}`, { enabled: on }), { invalidate: [KEY], success: t("common.saved") });
  const remove = useAction((id: number) => del(`/api/admin/models/${id}`), { invalidate: [KEY, ["admin", "channels", "all"]], success: t("catalogue.deleted") });
  const add = (
    <button type="button" className="btn primary" onClick={() => setEditing("new")}>
      <IconPlus />
      {t("catalogue.add")}
    </button>
  );
  return (
    <div className="stack">
      <PageHead title={t("nav.catalogue")} description={t("catalogue.lead")} actions={add} />
      <section className="card">
        <ListState query={models} isEmpty={models.data?.length === 0} empty={<Empty icon={<IconDatabase />} title={t("catalogue.emptyTitle")} text={t("catalogue.emptyText")} action={add} />}>
          {() => (
            <div className="table-wrap">
              <table className="table" data-testid="catalogue-table">
                <thead>
                  <tr>
                    <SortTh label={t("col.model")} k="id" sort={sort} />
                    <th className="hide-sm">{t("col.owner")}</th>
                    <SortTh label={t("col.priceInput")} k="input" sort={sort} num />
                    <th className="num">{t("col.priceCached")}</th>
                    <th className="num hide-sm">{t("col.priceWrite")}</th>
                    <SortTh label={t("col.priceOutput")} k="output" sort={sort} num />
                    <th className="hide-sm">{t("catalogue.boundTo")}</th>
                    <SortTh label={t("col.enabled")} k="enabled" sort={sort} />
                    <th />
                  </tr>
                </thead>
                <tbody>
                  {sort.sorted.map((m) => (
                    <tr key={m.id}>
                      <td>
                        <Mono text={m.public_id} />
                      </td>
                      <td className="hide-sm">{m.owned_by}</td>
                      <td className="num">{price(m.input_usd_per_1m)}</td>
                      <td className="num">{price(m.cached_input_usd_per_1m)}</td>
                      <td className="num hide-sm">{price(m.cache_write_usd_per_1m)}</td>
                      <td className="num">{price(m.output_usd_per_1m)}</td>
                      <td className="hide-sm">
                        {m.bindings?.length ? (
                          <div className="chips">
                            {m.bindings.map((b) => (
                              <span key={b.id} className="chip">
                                {b.channel_name}
                              </span>
                            ))}
                          </div>
                        ) : (
                          <span className="badge warn">{t("catalogue.unbound")}</span>
                        )}
                      </td>
                      <td>
                        <Switch label={t("col.enabled")} checked={m.enabled} onChange={(on) => toggle.mutate({ id: m.id, on })} />
                      </td>
                      <td className="actions">
                        <div className="row nowrap">
                          <button type="button" className="btn ghost icon sm" aria-label={t("common.edit")} onClick={() => setEditing(m)}>
                            <IconEdit />
                          </button>
                          <DeleteButton title={t("catalogue.deleteQ", { id: m.public_id })} body={t("catalogue.deleteText")} onConfirmed={() => remove.mutate(m.id)} />
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
      {editing ? <ModelForm model={editing === "new" ? null : editing} onClose={() => setEditing(null)} /> : null}
    </div>
  );
}

const PRICE = /^\d+(\.\d{1,12})?$/;
const PRICE_FIELDS = ["input_usd_per_1m", "cached_input_usd_per_1m", "cache_write_usd_per_1m", "output_usd_per_1m"] as const;

function ModelForm({ model, onClose }: { model: Model | null; onClose: () => void }) {
  const t = useT();
  const toast = useToast();
  const qc = useQueryClient();
  const [form, setForm] = useState({
    public_id: model?.public_id ?? "",
    owned_by: model?.owned_by ?? "",
    description: model?.description ?? "",
    input_usd_per_1m: model?.input_usd_per_1m ?? "0",
    cached_input_usd_per_1m: model?.cached_input_usd_per_1m ?? "0",
    cache_write_usd_per_1m: model?.cache_write_usd_per_1m ?? "0",
    output_usd_per_1m: model?.output_usd_per_1m ?? "0",
    enabled: model?.enabled ?? true,
  });
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const labels: Record<(typeof PRICE_FIELDS)[number], string> = {
    input_usd_per_1m: t("col.priceInput"),
    cached_input_usd_per_1m: t("col.priceCached"),
    cache_write_usd_per_1m: t("col.priceWrite"),
    output_usd_per_1m: t("col.priceOutput"),
  };
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const out: Record<string, string> = {};
    if (!form.public_id || /\s/.test(form.public_id)) out.public_id = t("catalogue.idRule");
    for (const f of PRICE_FIELDS) if (!PRICE.test(form[f].trim())) out[f] = t("catalogue.priceRule");
    setErrors(out);
    if (Object.keys(out).length) return;
    const body: Record<string, unknown> = {
      public_id: form.public_id,
      description: form.description,
      enabled: form.enabled,
    };
    if (form.owned_by.trim()) body.owned_by = form.owned_by.trim();
    for (const f of PRICE_FIELDS) body[f] = form[f].trim();
    setBusy(true);
    setError(null);
    try {
      if (model) await patch(`/api/admin/models/${model.id}`, body);
      else await post("/api/admin/models", body);
      await qc.invalidateQueries({ queryKey: KEY });
      toast.ok(model ? t("common.saved") : t("catalogue.created"));
      onClose();
    } catch (err) {
      setError(errorText(t, err));
      setBusy(false);
    }
  };
  return (
    <Drawer
      title={model ? model.public_id : t("catalogue.add")}
      onClose={onClose}
      footer={<FormFooter form="model-form" busy={busy} onClose={onClose} submitLabel={model ? t("common.save") : t("catalogue.add")} />}
    >
      <form id="model-form" className="form" onSubmit={submit} noValidate>
        <Field label={t("catalogue.publicId")} htmlFor="m-id" error={errors.public_id} hint={t("catalogue.publicIdHint")}>
          <input id="m-id" className="input mono" value={form.public_id} onChange={(e) => setForm({ ...form, public_id: e.target.value.trim() })} autoFocus />
        </Field>
        <div className="form-row">
          <Field label={t("col.owner")} htmlFor="m-owner" hint={t("catalogue.ownerHint")}>
            <input id="m-owner" className="input" placeholder="realms" value={form.owned_by} onChange={(e) => setForm({ ...form, owned_by: e.target.value })} />
          </Field>
          <div className="row between">
            <div>
              <div className="field-label">{t("col.enabled")}</div>
              <div className="field-hint">{t("catalogue.enabledHint")}</div>
            </div>
            <Switch label={t("col.enabled")} checked={form.enabled} onChange={(on) => setForm({ ...form, enabled: on })} />
          </div>
        </div>
        <div className="section-title">{t("catalogue.prices")}</div>
        <div className="form-row">
          {PRICE_FIELDS.map((f) => (
            <Field key={f} label={labels[f]} htmlFor={`m-${f}`} error={errors[f]}>
              <input id={`m-${f}`} className="input mono" inputMode="decimal" value={form[f]} onChange={(e) => setForm({ ...form, [f]: e.target.value })} />
            </Field>
          ))}
        </div>
        <Field label={t("col.notes")} htmlFor="m-desc">
          <textarea id="m-desc" className="textarea" value={form.description} onChange={(e) => setForm({ ...form, description: e.target.value })} maxLength={2000} />
        </Field>
        {error ? <Callout kind="err">{error}</Callout> : null}
      </form>
    </Drawer>
  );
}
