"""The Codex CLI as the tests run it: an offline `config.toml` pointing at Realms, and one
`codex exec` turn with only the environment given (shared by tests/clients and tests/desktop)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

TURN_TIMEOUT_S = 120

# Offline: no update check, no analytics, no plugins (each would reach out to the internet).
CONFIG = """\
model = "{model}"
model_provider = "realms"
check_for_update_on_startup = false

[analytics]
enabled = false

[features]
plugins = false

[model_providers.realms]
name = "Realms"
base_url = "{base_url}"
env_key = "REALMS_API_KEY"
wire_api = "responses"
# Newer Codex tries a WebSocket on `/v1/responses` first; Realms answers 426 and Codex falls back
# to HTTP SSE at once (a 405 would cost five reconnect attempts first).
supports_websockets = true
"""


def write_config(codex_home: Path, model: str, base_url: str) -> None:
    """Writes the offline config for `model` behind `base_url` (Realms' `/v1`) into `codex_home`."""
    codex_home.mkdir(parents=True, exist_ok=True)
    (codex_home / "config.toml").write_text(CONFIG.format(model=model, base_url=base_url))


def exec_turn(workdir: Path, env: dict[str, str], prompt: str = "say hi") -> subprocess.CompletedProcess:
    """One `codex exec` turn in `workdir` with exactly `env` (plus PATH, NO_COLOR, RUST_LOG=warn),
    stdin closed. The binary is `$CODEX_BIN`."""
    full_env = {"PATH": os.environ["PATH"], "NO_COLOR": "1", "RUST_LOG": "warn", **env}
    return subprocess.run(
        [os.environ["CODEX_BIN"], "exec", "--skip-git-repo-check", prompt],
        cwd=workdir,
        env=full_env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TURN_TIMEOUT_S,
        check=False,
    )
