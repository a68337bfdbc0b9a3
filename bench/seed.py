#!/usr/bin/env python3
"""Seeds a fresh Realms for bench/run.sh through the admin API (127.0.0.1 only): one
`openai_compatible` channel pointing at the fake upstream, one priced model bound to it, one user
and a token for it. Prints the token key (`sk_...`) on stdout and nothing else.

usage: seed.py REALMS_URL ADMIN_KEY UPSTREAM_URL MODEL
"""

import json
import sys
import urllib.request


def call(base, key, method, path, body=None):
    req = urllib.request.Request(
        base + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        raise SystemExit(f"seed: {method} {path} -> {e.code} {e.read()[:300]!r}") from None


def main():
    base, key, upstream, model = sys.argv[1:5]
    if not base.startswith(("http://127.0.0.1", "http://localhost")):
        raise SystemExit("seed: Realms must be on 127.0.0.1")
    channel = call(base, key, "POST", "/api/admin/channels", {
        "type": "openai_compatible",
        "name": "fake-upstream",
        "base_url": upstream,
        "api_keys": ["sk-fake-bench-credential"],
    })["channel"]
    call(base, key, "POST", "/api/admin/models", {
        "public_id": model,
        "input_usd_per_1m": "1.25",
        "output_usd_per_1m": "10",
        "cached_input_usd_per_1m": "0.125",
    })
    call(base, key, "POST", f"/api/admin/channels/{channel['id']}/models", {"public_id": model})
    user = call(base, key, "POST", "/api/admin/users", {
        "username": "bench",
        "email": "bench@example.test",
        "password": "bench-password-0123456789",
    })["user"]
    token = call(base, key, "POST", f"/api/admin/users/{user['id']}/tokens", {"name": "bench"})
    sys.stdout.write(token["key"] + "\n")


if __name__ == "__main__":
    main()
