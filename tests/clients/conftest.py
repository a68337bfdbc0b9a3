"""Fixtures of the real-client tests: the Realms and fake-upstream processes that run.sh started
(found through environment variables), the catalogue seeded once through the admin API, and a
helper that waits for the usage record Realms writes for each call."""

from __future__ import annotations

import json
import os
import secrets
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

# What every default answer of the fake upstream says (tests/fake-upstream/src/usage.rs).
FAKE_TEXT = "Hello from the fake upstream."
FAKE_INPUT = 120
FAKE_CACHED = 32
FAKE_CACHE_WRITE = 8
FAKE_OUTPUT = 48
FAKE_REASONING = 16

# Prices of every seeded model, USD per million tokens, chosen so costs are easy to check.
PRICES = {
    "input_usd_per_1m": "1",
    "output_usd_per_1m": "2",
    "cached_input_usd_per_1m": "0.5",
    "cache_write_usd_per_1m": "1.25",
}

# Public model ids, the channel kind each is bound to.
MODELS = {
    "gpt-fake": "openai",
    "text-embedding-fake": "openai",
    "claude-fake": "anthropic",
    "gemini-fake": "gemini",
    "gpt-codex-fake": "codex",
}
CHANNEL_TYPES = {
    "openai": "openai_compatible",
    "anthropic": "anthropic",
    "gemini": "gemini",
}

# The ChatGPT account imported into the `codex_oauth` channel (the fake Codex backend and its
# OAuth issuer accept any token strings; Realms must send this id as `chatgpt-account-id`).
CODEX_ACCOUNT_ID = "acct-clients-codex-0001"

# How long a usage record may take to appear (the recorder writes in batches).
USAGE_WAIT_S = 10.0


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.exit(f"{name} is not set: run the client tests through tests/clients/run.sh", 2)
    return value


class AdminError(RuntimeError):
    """A non-2xx answer of the admin API."""


@dataclass
class Realms:
    """A running Realms seeded for the tests, and how to reach its admin API."""

    url: str
    admin_key: str
    fake_url: str
    token: str = ""
    token_id: int = 0
    user_id: int = 0
    channels: dict[str, int] = field(default_factory=dict)

    @property
    def v1(self) -> str:
        """Base URL the OpenAI and Codex clients take."""
        return f"{self.url}/v1"

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        """Calls the admin API and returns the decoded answer; raises on any non-2xx status."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"{self.url}{path}",
            data=data,
            method=method,
            headers={
                "authorization": f"Bearer {self.admin_key}",
                "content-type": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            raise AdminError(f"{method} {path}: {e.code} {e.read().decode(errors='replace')}") from e
        return json.loads(raw) if raw else None

    def seed(self) -> None:
        """Creates one channel per upstream kind on the fake, the models, a user and its token."""
        for kind, ctype in CHANNEL_TYPES.items():
            ch = self.admin(
                "POST",
                "/api/admin/channels",
                {
                    "type": ctype,
                    "name": f"fake-{kind}",
                    "base_url": self.fake_url,
                    "api_keys": [f"upstream-key-{kind}-{secrets.token_hex(4)}"],
                },
            )["channel"]
            self.channels[kind] = ch["id"]
        self.seed_codex()
        for model, kind in MODELS.items():
            self.admin("POST", "/api/admin/models", {"public_id": model, **PRICES})
            self.admin(
                "POST", f"/api/admin/channels/{self.channels[kind]}/models", {"public_id": model}
            )
        name = f"client{secrets.token_hex(3)}"
        user = self.admin(
            "POST",
            "/api/admin/users",
            {"username": name, "email": f"{name}@example.com", "password": secrets.token_urlsafe(18)},
        )["user"]
        self.user_id = user["id"]
        tok = self.admin("POST", f"/api/admin/users/{self.user_id}/tokens", {"name": "clients"})
        self.token, self.token_id = tok["key"], tok["id"]

    def seed_codex(self) -> None:
        """A `codex_oauth` channel on the fake's Codex backend with one imported account. Token
        refreshes go to the fake's OAuth issuer (run.sh sets REALMS_CODEX_OAUTH_ISSUER)."""
        ch = self.admin(
            "POST",
            "/api/admin/channels",
            {"type": "codex_oauth", "name": "fake-codex", "base_url": f"{self.fake_url}/backend-api/codex"},
        )["channel"]
        self.channels["codex"] = ch["id"]
        self.admin(
            "POST",
            f"/api/admin/channels/{ch['id']}/codex-accounts",
            {
                "access_token": f"at-clients-{secrets.token_hex(8)}",
                "refresh_token": f"rt-clients-{secrets.token_hex(8)}",
                "account_id": CODEX_ACCOUNT_ID,
                "email": "codex-clients@example.com",
            },
        )

    def events(self, **query: Any) -> list[dict[str, Any]]:
        """This token's usage records, newest first."""
        qs = "&".join(f"{k}={v}" for k, v in {"token_id": self.token_id, "limit": 100, **query}.items())
        return self.admin("GET", f"/api/admin/usage/events?{qs}")["items"]

    def mark(self) -> int:
        """The newest usage record's id so far: records written after it belong to the next call."""
        items = self.events(limit=1)
        return items[0]["id"] if items else 0

    def wait_usage(self, after: int, count: int = 1, **query: Any) -> list[dict[str, Any]]:
        """Waits for `count` records newer than `after` and returns them oldest first."""
        deadline = time.monotonic() + USAGE_WAIT_S
        while True:
            new = [e for e in self.events(**query) if e["id"] > after]
            if len(new) >= count:
                return sorted(new, key=lambda e: e["id"])
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} usage record(s) after #{after}, got {new}")
            time.sleep(0.1)

    def wait_one(self, after: int, **query: Any) -> dict[str, Any]:
        """Waits for exactly one record newer than `after` (a second one would be a double record)."""
        (event,) = self.wait_usage(after, 1, **query)
        time.sleep(0.2)
        extra = [e for e in self.events() if e["id"] > event["id"]]
        assert not extra, f"more than one usage record for one call: {extra}"
        return event


def expected_cost(input_tokens: int, cached: int, cache_write: int, output: int) -> Decimal:
    """The cost Realms must charge at PRICES (uncached input, cache reads, cache writes, output)."""
    p = {k: Decimal(v) for k, v in PRICES.items()}
    total = (
        (input_tokens - cached - cache_write) * p["input_usd_per_1m"]
        + cached * p["cached_input_usd_per_1m"]
        + cache_write * p["cache_write_usd_per_1m"]
        + output * p["output_usd_per_1m"]
    )
    return total / Decimal(1_000_000)


def assert_usage(
    event: dict[str, Any],
    realms: Realms,
    *,
    model: str,
    endpoint: str,
    stream: bool,
    cache_write: int = 0,
    reasoning: int = FAKE_REASONING,
    output: int = FAKE_OUTPUT,
) -> None:
    """Checks one successful call's record against what the fake reported."""
    got = {
        k: event[k]
        for k in (
            "model",
            "endpoint",
            "is_stream",
            "status_code",
            "user_id",
            "token_id",
            "channel_id",
            "input_tokens",
            "cached_input_tokens",
            "cache_write_tokens",
            "output_tokens",
            "reasoning_tokens",
        )
    }
    want = {
        "model": model,
        "endpoint": endpoint,
        "is_stream": stream,
        "status_code": 200,
        "user_id": realms.user_id,
        "token_id": realms.token_id,
        "channel_id": realms.channels[MODELS[model]],
        "input_tokens": FAKE_INPUT,
        "cached_input_tokens": FAKE_CACHED,
        "cache_write_tokens": cache_write,
        "output_tokens": output,
        "reasoning_tokens": reasoning,
    }
    assert got == want, f"usage record differs: {event}"
    cost = expected_cost(FAKE_INPUT, FAKE_CACHED, cache_write, output)
    assert Decimal(event["cost_usd"]) == cost, f"cost {event['cost_usd']} != {cost}"
    assert event["upstream_usage"], f"no upstream usage kept: {event}"


@pytest.fixture(scope="session")
def realms() -> Realms:
    r = Realms(
        url=_env("REALMS_URL").rstrip("/"),
        admin_key=_env("REALMS_ADMIN_API_KEY"),
        fake_url=_env("FAKE_UPSTREAM_URL").rstrip("/"),
    )
    r.seed()
    return r


@pytest.fixture
def mark(realms: Realms) -> int:
    """The newest usage record before the test's call."""
    return realms.mark()
