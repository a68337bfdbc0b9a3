"""The Codex CLI (`@openai/codex` from npm) against Realms, offline: a private CODEX_HOME whose
config points a `realms` provider at Realms' `/v1` over the Responses API. Two turns; each must
finish with the fake's text, and the usage records must show both streamed calls with the cached
input tokens the fake reported. Once through an API-key channel, once through a `codex_oauth`
channel (a ChatGPT account on the fake Codex backend)."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from pathlib import Path

import pytest

import codex_offline
from conftest import CODEX_ACCOUNT_ID, FAKE_CACHED, FAKE_TEXT, Realms, assert_usage

MODEL = "gpt-fake"
CODEX_MODEL = "gpt-codex-fake"  # bound only to the `codex_oauth` channel



def fake_requests(realms: Realms, method: str = "GET") -> list[dict]:
    req = urllib.request.Request(f"{realms.fake_url}/__fake/requests", method=method)
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read()).get("requests", [])


def make_codex_home(tmp_path: Path, realms: Realms, model: str) -> Path:
    home = tmp_path / "codex-home"
    codex_offline.write_config(home, model, realms.v1)
    return home


@pytest.fixture
def codex_home(tmp_path: Path, realms: Realms) -> Path:
    return make_codex_home(tmp_path, realms, MODEL)


def run_codex(codex_home: Path, realms: Realms, workdir: Path) -> subprocess.CompletedProcess:
    env = {"HOME": str(codex_home.parent), "CODEX_HOME": str(codex_home), "REALMS_API_KEY": realms.token}
    return codex_offline.exec_turn(workdir, env)


def run_twice(codex_home: Path, realms: Realms, tmp_path: Path, mark: int, model: str) -> None:
    """Two `codex exec` turns; both succeed with the fake's text and leave a usage record each."""
    if not os.environ.get("CODEX_BIN"):
        pytest.fail("CODEX_BIN is not set: run through tests/clients/run.sh")
    workdir = tmp_path / "work"
    workdir.mkdir()
    fake_requests(realms, "DELETE")
    for turn in (1, 2):
        done = run_codex(codex_home, realms, workdir)
        assert done.returncode == 0, (
            f"codex turn {turn} exited {done.returncode}\n"
            f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
        )
        assert FAKE_TEXT in done.stdout, f"turn {turn} stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
        assert "Reconnecting" not in done.stderr, f"slow WebSocket fallback:\n{done.stderr}"

    events = realms.wait_usage(mark, 2)
    assert len(events) == 2, f"expected two usage records for two turns: {events}"
    for event in events:
        assert_usage(event, realms, model=model, endpoint="/v1/responses", stream=True)
    assert events[1]["cached_input_tokens"] == FAKE_CACHED > 0


def test_codex_exec_twice(codex_home: Path, realms: Realms, tmp_path: Path, mark: int) -> None:
    run_twice(codex_home, realms, tmp_path, mark, MODEL)

    # What Codex sent reached the upstream untouched: a Responses stream with its cache key.
    sent = [r for r in fake_requests(realms) if r["path"] == "/v1/responses"]
    assert len(sent) == 2, [r["path"] for r in fake_requests(realms)]
    for r in sent:
        body = json.loads(r["body"])
        assert body["stream"] is True and body["store"] is False
        assert body["model"] == MODEL
        assert body.get("prompt_cache_key"), "Codex's prompt_cache_key was not forwarded"
        assert "authorization" in r["headers"]
        assert realms.token not in r["headers"]["authorization"], "client key leaked upstream"


def test_codex_exec_twice_through_codex_channel(realms: Realms, tmp_path: Path, mark: int) -> None:
    """The same two turns on a model served only by the `codex_oauth` channel: Realms signs the
    calls with the imported ChatGPT account and sends them to the fake Codex backend."""
    codex_home = make_codex_home(tmp_path, realms, CODEX_MODEL)
    run_twice(codex_home, realms, tmp_path, mark, CODEX_MODEL)

    log = fake_requests(realms)
    assert not [r for r in log if r["path"] == "/v1/responses"], "an API-key upstream was used"
    sent = [r for r in log if r["path"] == "/backend-api/codex/responses"]
    assert len(sent) == 2, [r["path"] for r in log]
    for r in sent:
        headers = r["headers"]
        assert headers.get("chatgpt-account-id") == CODEX_ACCOUNT_ID, headers
        body = json.loads(r["body"])
        assert body["stream"] is True and body["store"] is False
        assert body["model"] == CODEX_MODEL
        # Codex's prompt_cache_key becomes the backend's session id.
        assert body.get("prompt_cache_key"), "Codex's prompt_cache_key was not forwarded"
        assert headers.get("session_id") == body["prompt_cache_key"], headers
        assert headers.get("authorization", "").startswith("Bearer ")
        assert realms.token not in headers["authorization"], "client key leaked upstream"
