"""Seeds usage events straight into a Realms database, as the relay would record them, so the
browser tests can check the usage charts, list and drawer without depending on the relay.
Usage: seed_usage.py DB USER_ID TOKEN_ID CHANNEL_ID MODEL COUNT"""
import json
import random
import sqlite3
import sys
import time

db, user, token, channel, model, count = sys.argv[1:7]
random.seed(7)
now = int(time.time() * 1000)
rows = []
for i in range(int(count)):
    at = now - i * 7 * 60 * 1000 - random.randint(0, 60_000)
    failed = i % 11 == 5
    inp = random.randint(800, 6000)
    cached = inp * random.randint(0, 8) // 10
    out = random.randint(40, 900)
    reasoning = out // 3
    cost = 0 if failed else ((inp - cached) * 0.15 + cached * 0.075 + out * 0.6) / 1e6
    usage = {
        "prompt_tokens": inp,
        "completion_tokens": out,
        "total_tokens": inp + out,
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }
    rows.append((
        # the newest one was answered by another model than the one forwarded
        at, f"req_seed_{i:03d}", int(user), int(token), model, model,
        f"{model}-other" if i == 0 else f"{model}-2024-07-18",
        int(channel), None, "/v1/responses" if i % 3 == 0 else "/v1/chat/completions", i % 2,
        502 if failed else 200, "upstream_5xx" if failed else None, random.randint(400, 4000),
        None if failed else random.randint(150, 900), 640, 2400, inp, cached, 0, out, reasoning,
        f"{cost:.9f}", None if failed else json.dumps(usage), 0,
    ))
# The relay records events as they finish, so ids grow with time: insert oldest first.
rows.reverse()
conn = sqlite3.connect(db, timeout=10)
conn.executemany(
    "INSERT INTO usage_events (time, request_id, user_id, token_id, model, forwarded_model, "
    "upstream_model, channel_id, credential_id, endpoint, is_stream, status_code, error_class, "
    "latency_ms, first_token_latency_ms, request_bytes, response_bytes, input_tokens, "
    "cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, cost_usd, "
    "upstream_usage, partial) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    rows,
)
conn.commit()
print(f"seeded {len(rows)} events")
