// /admin/settings: runtime settings grouped as site, modes and security. Each says what it does;
// keys fixed by the environment are shown locked.
import { useEffect, useState } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useT, type Key } from "../../i18n";
import { get, patch } from "../../lib/api";
import { errorText } from "../../lib/hooks";
import type { SettingsAnswer } from "../../lib/types";
import { Card, ErrorBox, PageHead, SkeletonRows, Switch } from "../../components/ui";
import { useToast } from "../../components/overlays";
import { IconLock } from "../../components/icons";

const KEY = ["admin", "settings"];
type S = SettingsAnswer["settings"];
type BoolKey = { [K in keyof S]: S[K] extends boolean ? K : never }[keyof S];

const GROUPS: { title: Key; items: (keyof S)[] }[] = [
  { title: "settings.site", items: ["site_base_url", "allow_open_registration"] },
  { title: "settings.modes", items: ["self_mode", "feature_disable_billing", "feature_disable_models"] },
  { title: "settings.security", items: ["allow_private_upstreams", "trust_proxy_headers", "trusted_proxy_cidrs"] },
];

export default function SettingsPage() {
  const t = useT();
  const toast = useToast();
  const qc = useQueryClient();
  const q = useQuery({ queryKey: KEY, queryFn: () => get<SettingsAnswer>("/api/admin/settings") });
  const [url, setUrl] = useState("");
  const [cidrs, setCidrs] = useState("");
  useEffect(() => {
    if (q.data) {
      setUrl(q.data.settings.site_base_url);
      setCidrs(q.data.settings.trusted_proxy_cidrs.join("\n"));
    }
  }, [q.data]);
  const save = async (body: Partial<S>) => {
    try {
      const answer = await patch<SettingsAnswer>("/api/admin/settings", body);
      qc.setQueryData(KEY, answer);
      void qc.invalidateQueries({ queryKey: ["site"] });
      void qc.invalidateQueries({ queryKey: ["me"] });
      toast.ok(t("common.saved"));
    } catch (err) {
      toast.err(errorText(t, err));
    }
  };
  if (q.isPending) return <SkeletonRows />;
  if (q.isError) return <ErrorBox error={q.error} retry={() => void q.refetch()} />;
  const { settings, overridden } = q.data;
  const locked = (k: string) => overridden.includes(k);
  const lock = (k: string) =>
    locked(k) ? (
      <span className="lock">
        <IconLock size={12} />
        {t("settings.locked")}
      </span>
    ) : null;

  const control = (k: keyof S) => {
    if (k === "site_base_url") {
      return (
        <div className="setting-control wide">
          <input className="input mono" placeholder={window.location.origin} value={url} disabled={locked(k)} onChange={(e) => setUrl(e.target.value)} aria-label={t("settings.site_base_url")} />
          <button
            type="button"
            className="btn"
            disabled={locked(k) || url === settings.site_base_url}
            onClick={() => {
              const v = url.trim().replace(/\/+$/, "");
              if (v && !/^https?:\/\/\S+$/.test(v)) {
                toast.err(t("settings.urlRule"));
                return;
              }
              void save({ site_base_url: v });
            }}
          >
            {t("common.save")}
          </button>
        </div>
      );
    }
    if (k === "trusted_proxy_cidrs") {
      return (
        <div className="setting-control wide">
          <textarea className="textarea mono" placeholder={"10.0.0.0/8\n192.168.0.0/16"} value={cidrs} disabled={locked(k)} onChange={(e) => setCidrs(e.target.value)} aria-label={t("settings.trusted_proxy_cidrs")} />
          <button
            type="button"
            className="btn"
            disabled={locked(k)}
            onClick={() => void save({ trusted_proxy_cidrs: cidrs.split(/[\s,]+/).map((c) => c.trim()).filter(Boolean) })}
          >
            {t("common.save")}
          </button>
        </div>
      );
    }
    const b = k as BoolKey;
    return (
      <div className="setting-control">
        <Switch label={t(`settings.${b}` as Key)} checked={settings[b]} disabled={locked(b)} onChange={(on) => void save({ [b]: on })} />
      </div>
    );
  };

  return (
    <div className="stack">
      <PageHead title={t("nav.settings")} description={t("settings.lead")} />
      {GROUPS.map((g) => (
        <Card key={g.title} title={t(g.title)} tight>
          {g.items.map((k) => (
            <div className="setting" key={k} data-setting={k}>
              <div className="setting-text">
                <div className="row">
                  <strong>{t(`settings.${k}` as Key)}</strong>
                  <code className="faint">{k}</code>
                  {lock(k)}
                </div>
                <p>{t(`settings.${k}.help` as Key)}</p>
              </div>
              {control(k)}
            </div>
          ))}
        </Card>
      ))}
      <Card title={t("settings.later")}>
        <p className="muted">{t("settings.laterText")}</p>
      </Card>
    </div>
  );
}
