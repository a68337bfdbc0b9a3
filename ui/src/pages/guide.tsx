// Copy-paste set-up for common clients, filled in with this site's URL (the configured
// `site_base_url`, else the address in the browser). Keys stay placeholders: tokens are made and
// revealed on the Tokens page only.
import { useState } from "react";
import { Link } from "react-router";
import { useQuery } from "@tanstack/react-query";
import { useT } from "../i18n";
import { get } from "../lib/api";
import { siteUrl, useSite } from "../lib/hooks";
import type { Page, UserModel } from "../lib/types";
import { Callout, Card, Mono, PageHead, Tabs } from "../components/ui";
import { CodeBlock } from "../components/code";

type Tab = "env" | "codex" | "claude" | "gemini" | "python" | "curl";

export default function GuidePage() {
  const t = useT();
  const site = useSite().data;
  const models = useQuery({ queryKey: ["models", "mine"], queryFn: () => get<Page<UserModel>>("/api/models") });
  const [tab, setTab] = useState<Tab>("env");
  const base = siteUrl(site);
  const v1 = `${base}/v1`;
  const key = "sk_your_token_here";
  const model = models.data?.items[0]?.id ?? "gpt-4o-mini";

  const bash = `export OPENAI_BASE_URL="${v1}"\nexport OPENAI_API_KEY="${key}"`;
  const powershell = `$env:OPENAI_BASE_URL = "${v1}"\n$env:OPENAI_API_KEY = "${key}"\n\n# ${t("guide.psPersist")}\nsetx OPENAI_BASE_URL "${v1}"\nsetx OPENAI_API_KEY "${key}"`;
  const codex = `# ~/.codex/config.toml\nmodel = "${model}"\nmodel_provider = "realms"\n\n[model_providers.realms]\nname = "Realms"\nbase_url = "${v1}"\nenv_key = "REALMS_API_KEY"\nwire_api = "responses"`;
  const codexEnv = `export REALMS_API_KEY="${key}"\ncodex`;
  const claude = `export ANTHROPIC_BASE_URL="${base}"\nexport ANTHROPIC_AUTH_TOKEN="${key}"\nclaude`;
  const claudePs = `$env:ANTHROPIC_BASE_URL = "${base}"\n$env:ANTHROPIC_AUTH_TOKEN = "${key}"\nclaude`;
  const gemini = `export GOOGLE_GEMINI_BASE_URL="${base}"\nexport GEMINI_API_KEY="${key}"\ngemini`;
  const geminiPs = `$env:GOOGLE_GEMINI_BASE_URL = "${base}"\n$env:GEMINI_API_KEY = "${key}"\ngemini`;
  const python = `# pip install openai\nimport os\nfrom openai import OpenAI\n\nclient = OpenAI(\n    base_url="${v1}",\n    api_key=os.environ["OPENAI_API_KEY"],  # ${key}\n)\n\nresponse = client.responses.create(\n    model="${model}",\n    input="Say hello in one short sentence.",\n)\nprint(response.output_text)\n\n# ${t("guide.pyChat")}\nchat = client.chat.completions.create(\n    model="${model}",\n    messages=[{"role": "user", "content": "Hello!"}],\n)\nprint(chat.choices[0].message.content)`;
  const curl = `curl ${v1}/chat/completions \\\n  -H "Authorization: Bearer $OPENAI_API_KEY" \\\n  -H "Content-Type: application/json" \\\n  -d '{"model": "${model}", "messages": [{"role": "user", "content": "Hello!"}]}'\n\ncurl ${v1}/models -H "Authorization: Bearer $OPENAI_API_KEY"`;

  return (
    <div className="stack">
      <PageHead title={t("nav.guide")} description={t("guide.lead")} />
      <div className="grid cols-2">
        <Card title={t("guide.baseUrl")} subtitle={site?.site_base_url ? t("guide.fromSetting") : t("guide.fromBrowser")}>
          <div className="stack">
            <div className="row between">
              <span className="muted small">{t("guide.openaiStyle")}</span>
              <Mono text={v1} />
            </div>
            <div className="row between">
              <span className="muted small">{t("guide.anthropicGemini")}</span>
              <Mono text={base} />
            </div>
          </div>
        </Card>
        <Card title={t("guide.keyTitle")}>
          <p className="muted">
            {t("guide.keyText")} <Link to="/tokens">{t("guide.keyLink")}</Link>
          </p>
        </Card>
      </div>
      <section className="card card-body">
        <Tabs<Tab>
          value={tab}
          onChange={setTab}
          tabs={[
            { value: "env", label: t("guide.tabEnv") },
            { value: "codex", label: "Codex CLI" },
            { value: "claude", label: "Claude Code" },
            { value: "gemini", label: "Gemini CLI" },
            { value: "python", label: "Python SDK" },
            { value: "curl", label: "curl" },
          ]}
        />
        <div className="stack" data-testid="guide-body">
          {tab === "env" ? (
            <>
              <p className="muted">{t("guide.envText")}</p>
              <CodeBlock title="bash / zsh" code={bash} testId="guide-bash" />
              <CodeBlock title="PowerShell" code={powershell} testId="guide-powershell" />
            </>
          ) : null}
          {tab === "codex" ? (
            <>
              <p className="muted">{t("guide.codexText")}</p>
              <CodeBlock title="~/.codex/config.toml" code={codex} testId="guide-codex" />
              <CodeBlock title="bash / zsh" code={codexEnv} />
              <Callout>{t("guide.codexNote")}</Callout>
            </>
          ) : null}
          {tab === "claude" ? (
            <>
              <p className="muted">{t("guide.claudeText")}</p>
              <CodeBlock title="bash / zsh" code={claude} testId="guide-claude" />
              <CodeBlock title="PowerShell" code={claudePs} />
            </>
          ) : null}
          {tab === "gemini" ? (
            <>
              <p className="muted">{t("guide.geminiText")}</p>
              <CodeBlock title="bash / zsh" code={gemini} testId="guide-gemini" />
              <CodeBlock title="PowerShell" code={geminiPs} />
            </>
          ) : null}
          {tab === "python" ? (
            <>
              <p className="muted">{t("guide.pythonText")}</p>
              <CodeBlock title="Python" code={python} testId="guide-python" />
            </>
          ) : null}
          {tab === "curl" ? (
            <>
              <p className="muted">{t("guide.curlText")}</p>
              <CodeBlock title="bash / zsh" code={curl} />
            </>
          ) : null}
        </div>
      </section>
    </div>
  );
}
