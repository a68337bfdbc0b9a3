"""The desktop tray's "Set up Codex CLI", end to end with the real Codex CLI: a home whose
`~/.codex/config.toml` already holds the person's own settings (here the offline ones the tests
need) is set up by `realms_core::desktop::client_setup::apply` (through the `client-setup` test
tool); `codex exec` then reaches Realms with no environment variable for the key, twice, and the
calls are recorded; undo puts the person's file back byte for byte."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import codex_offline
from conftest import FAKE_TEXT, Realms, assert_usage
from test_codex_cli import MODEL, fake_requests

# The person's own config before the set-up: a model, offline switches and a comment.
PERSONAL_CONFIG = f"""\
# my Codex settings
model = "{MODEL}"
check_for_update_on_startup = false

[analytics]
enabled = false

[features]
plugins = false
"""


def client_setup(*args: str, token: str | None = None) -> subprocess.CompletedProcess:
    binary = os.environ.get("CLIENT_SETUP_BIN")
    if not binary:
        pytest.fail("CLIENT_SETUP_BIN is not set: run through tests/clients/run.sh")
    env = {"PATH": os.environ["PATH"]}
    if token is not None:
        env["REALMS_TOKEN"] = token
    done = subprocess.run(
        [binary, *args], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, f"client-setup {args[0]}: {done.stderr}"
    return done


def test_codex_set_up_by_the_desktop_app_reaches_realms(
    realms: Realms, tmp_path: Path, mark: int
) -> None:
    home = tmp_path / "home"
    config = home / ".codex" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(PERSONAL_CONFIG)

    client_setup("apply", "codex_cli", str(home), realms.url, token=realms.token)
    written = config.read_text()
    assert written.startswith("# my Codex settings\n"), written
    assert 'model_provider = "realms"' in written, written
    assert (config.stat().st_mode & 0o777) == 0o600

    workdir = tmp_path / "work"
    workdir.mkdir()
    fake_requests(realms, "DELETE")
    # Only HOME: no CODEX_HOME and no key variable, as for Codex started from a fresh terminal.
    env = {"HOME": str(home)}
    for turn in (1, 2):
        done = codex_offline.exec_turn(workdir, env)
        assert done.returncode == 0, (
            f"codex turn {turn} exited {done.returncode}\n"
            f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
        )
        assert FAKE_TEXT in done.stdout, f"turn {turn}:\n{done.stdout}\n{done.stderr}"

    events = realms.wait_usage(mark, 2)
    assert len(events) == 2, events
    for event in events:
        assert_usage(event, realms, model=MODEL, endpoint="/v1/responses", stream=True)
    sent = [r for r in fake_requests(realms) if r["path"] == "/v1/responses"]
    assert len(sent) == 2, [r["path"] for r in fake_requests(realms)]

    client_setup("undo", "codex_cli", str(home))
    assert config.read_text() == PERSONAL_CONFIG
    assert not (home / ".codex" / "realms-backup").exists()
