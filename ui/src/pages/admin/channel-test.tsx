// The channel Test dialog: one tiny real request through the channel, with latency and the
// answer or the error (`POST /api/admin/channels/{id}/test`).
import { useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { useT } from "../../i18n";
import { post } from "../../lib/api";
import type { Channel, TestResult } from "../../lib/types";
import { ms } from "../../lib/format";
import { Callout, ErrorBox, Spinner } from "../../components/ui";
import { Modal } from "../../components/overlays";
import { IconZap } from "../../components/icons";

/** Sends a tiny real request through the channel and shows latency and the answer or error. */
export function TestModal({ channel, onClose }: { channel: Channel; onClose: () => void }) {
  const t = useT();
  const firstModel = channel.models.find((b) => b.enabled);
  const [model, setModel] = useState(firstModel ? (firstModel.upstream_model ?? firstModel.public_id) : "");
  const run = useQuery({
    queryKey: ["admin", "channel-test", channel.id, model],
    queryFn: () => post<TestResult>(`/api/admin/channels/${channel.id}/test`, model ? { model } : {}),
    enabled: false,
    retry: false,
  });
  return (
    <Modal
      label={t("channels.testTitle", { name: channel.name })}
      onClose={onClose}
      wide
      footer={
        <>
          <button type="button" className="btn" onClick={onClose}>
            {t("common.close")}
          </button>
          <button type="button" className="btn primary" disabled={run.isFetching || !model} onClick={() => void run.refetch()}>
            {run.isFetching ? <Spinner /> : <IconZap />}
            {t("channels.runTest")}
          </button>
        </>
      }
    >
      <h2>{t("channels.testTitle", { name: channel.name })}</h2>
      <p>{t("channels.testLead")}</p>
      <div className="field">
        <label htmlFor="test-model">{t("channels.upstreamModel")}</label>
        <input id="test-model" className="input mono" value={model} onChange={(e) => setModel(e.target.value.trim())} />
      </div>
      {run.isError ? <ErrorBox error={run.error} /> : null}
      {run.data ? (
        <div data-testid="test-result">
          {run.data.ok ? (
            <Callout kind="ok">
              {t("channels.testOk", { status: run.data.status ?? "", latency: ms(run.data.latency_ms) })}
            </Callout>
          ) : (
            <Callout kind="err">
              {t("channels.testFailed", { status: run.data.status ?? "–", latency: ms(run.data.latency_ms) })}
            </Callout>
          )}
          <div className="code-block">
            <pre>{run.data.ok ? (run.data.answer ?? t("channels.noAnswerText")) : run.data.error}</pre>
          </div>
        </div>
      ) : null}
    </Modal>
  );
}
