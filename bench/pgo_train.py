#!/usr/bin/env python3
"""The training run of a profile-guided build (scripts/build-pgo): drives an instrumented Realms
in front of the fake upstream with every kind of data-plane call a deployment serves, so the
profile weighs each path as real traffic does. Stdlib only, 127.0.0.1 only.

Seeds through the admin API one channel per upstream kind (OpenAI-compatible, Anthropic,
Gemini, all on the fake), a priced model on each, a user and its token, then runs --threads
keep-alive connections for --seconds, each cycling through the weighted mix in MIX. Every
answer's status is checked against the call's expected one: a profile recorded from a build
that fails its calls would optimise the error paths, so any mismatch ends the run with exit 1.

usage: pgo_train.py --realms URL --admin-key KEY --upstream URL [--seconds 20] [--threads 16]
"""

import argparse
import http.client
import json
import random
import sys
import threading
import time
from urllib.parse import urlsplit

from seed import call as admin  # bench/seed.py: one admin API call

# Prices of every seeded model, USD per million tokens.
PRICES = {
    "input_usd_per_1m": "1.25",
    "output_usd_per_1m": "10",
    "cached_input_usd_per_1m": "0.125",
    "cache_write_usd_per_1m": "1.5",
}

# Model id -> the channel kind it is bound to.
MODELS = {
    "gpt-train": "openai_compatible",
    "embedding-train": "openai_compatible",
    "claude-train": "anthropic",
    "gemini-train": "gemini",
}

CHAT = [{"role": "user", "content": "Say hello in one short sentence."}]


def gemini(model, action, query=""):
    return f"/v1beta/models/{model}:{action}{query}"


# (weight, auth header style, method, path, body or None, expected status). Streams and
# non-streams of each protocol, the usual auth forms, and a few refusals; weights follow what a
# gateway mostly serves (Chat and Responses, then Messages; streams more often than not).
MIX = [
    (6, "bearer", "POST", "/v1/chat/completions", {"model": "gpt-train", "messages": CHAT}, 200),
    (6, "bearer", "POST", "/v1/chat/completions",
     {"model": "gpt-train", "stream": True, "messages": CHAT}, 200),
    (3, "bearer", "POST", "/v1/chat/completions",
     {"model": "gpt-train", "stream": True, "stream_options": {"include_usage": True},
      "messages": CHAT}, 200),
    (4, "bearer", "POST", "/v1/responses", {"model": "gpt-train", "input": "Say hello."}, 200),
    (6, "bearer", "POST", "/v1/responses",
     {"model": "gpt-train", "input": "Say hello.", "stream": True}, 200),
    (1, "bearer", "POST", "/v1/responses/input_tokens",
     {"model": "gpt-train", "input": "Say hello."}, 200),
    (2, "bearer", "POST", "/v1/embeddings", {"model": "embedding-train", "input": "hello"}, 200),
    (3, "x-api-key", "POST", "/v1/messages",
     {"model": "claude-train", "max_tokens": 256, "messages": CHAT}, 200),
    (4, "x-api-key", "POST", "/v1/messages",
     {"model": "claude-train", "max_tokens": 256, "stream": True, "messages": CHAT}, 200),
    (1, "x-api-key", "POST", "/v1/messages/count_tokens",
     {"model": "claude-train", "messages": CHAT}, 200),
    (2, "x-goog-api-key", "POST", gemini("gemini-train", "generateContent"),
     {"contents": [{"role": "user", "parts": [{"text": "Say hello."}]}]}, 200),
    (3, "x-goog-api-key", "POST", gemini("gemini-train", "streamGenerateContent", "?alt=sse"),
     {"contents": [{"role": "user", "parts": [{"text": "Say hello."}]}]}, 200),
    (1, "x-goog-api-key", "POST", gemini("gemini-train", "countTokens"),
     {"contents": [{"role": "user", "parts": [{"text": "Say hello."}]}]}, 200),
    (1, "bearer", "GET", "/v1/models", None, 200),
    (1, "bearer", "POST", "/v1/chat/completions", {"model": "no-such-model", "messages": CHAT}, 404),
    (1, "none", "POST", "/v1/chat/completions", {"model": "gpt-train", "messages": CHAT}, 401),
    (1, "bearer", "POST", "/v1/chat/completions", b"not json", 400),
]


def seed(base, key, upstream):
    """One channel per kind on the fake, the models bound to them; returns a user token. The
    fake is on 127.0.0.1, which a multi-user Realms refuses as an upstream until allowed."""
    admin(base, key, "PATCH", "/api/admin/settings", {"allow_private_upstreams": True})
    channels = {}
    for kind in sorted(set(MODELS.values())):
        channels[kind] = admin(base, key, "POST", "/api/admin/channels", {
            "type": kind,
            "name": f"train-{kind}",
            "base_url": upstream,
            "api_keys": [f"upstream-key-{kind}"],
        })["channel"]["id"]
    for model, kind in MODELS.items():
        admin(base, key, "POST", "/api/admin/models", {"public_id": model, **PRICES})
        admin(base, key, "POST", f"/api/admin/channels/{channels[kind]}/models",
              {"public_id": model})
    user = admin(base, key, "POST", "/api/admin/users", {
        "username": "train",
        "email": "train@example.test",
        "password": "train-password-0123456789",
    })["user"]
    admin(base, key, "POST", f"/api/admin/users/{user['id']}/balance",
          {"amount_usd": "1000000", "note": "training run"})
    return admin(base, key, "POST", f"/api/admin/users/{user['id']}/tokens",
                 {"name": "train"})["key"]


def headers_for(style, token):
    return {
        "bearer": {"Authorization": f"Bearer {token}"},
        "x-api-key": {"x-api-key": token, "anthropic-version": "2023-06-01"},
        "x-goog-api-key": {"x-goog-api-key": token},
        "none": {},
    }[style]


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.done = 0
        self.wrong = []

    def add(self, ok, what):
        with self.lock:
            self.done += 1
            if not ok and len(self.wrong) < 10:
                self.wrong.append(what)


def worker(host, port, token, deadline, seed_value, tally):
    rng = random.Random(seed_value)
    weighted = [call for call in MIX for _ in range(call[0])]
    conn = http.client.HTTPConnection(host, port, timeout=30)
    while time.monotonic() < deadline:
        _, style, method, path, body, expected = rng.choice(weighted)
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json", **headers_for(style, token)}
        try:
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            resp.read()
            tally.add(resp.status == expected, f"{method} {path}: {resp.status}, not {expected}")
            if resp.getheader("connection", "").lower() == "close":
                conn.close()
        except (OSError, http.client.HTTPException) as e:
            tally.add(False, f"{method} {path}: {e!r}")
            conn.close()
            conn = http.client.HTTPConnection(host, port, timeout=30)
    conn.close()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--realms", required=True)
    p.add_argument("--admin-key", required=True)
    p.add_argument("--upstream", required=True)
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--threads", type=int, default=16)
    args = p.parse_args()
    url = urlsplit(args.realms)
    if url.hostname not in ("127.0.0.1", "localhost"):
        raise SystemExit("train: Realms must be on 127.0.0.1")

    token = seed(args.realms, args.admin_key, args.upstream)
    tally = Tally()
    deadline = time.monotonic() + args.seconds
    threads = [
        threading.Thread(target=worker, args=(url.hostname, url.port, token, deadline, n, tally))
        for n in range(args.threads)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"train: {tally.done} calls in {args.seconds:.0f} s, {len(tally.wrong)} unexpected",
          file=sys.stderr)
    for what in tally.wrong:
        print(f"train: unexpected: {what}", file=sys.stderr)
    sys.exit(1 if tally.wrong or tally.done == 0 else 0)


if __name__ == "__main__":
    main()
