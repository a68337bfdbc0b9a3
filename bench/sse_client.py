#!/usr/bin/env python3
"""Stream timing client for bench/run.sh (stdlib only, 127.0.0.1 only).

Speaks just enough HTTP/1.1 (keep-alive, chunked or content-length bodies) to time, per request:
  ttfb  = request written -> response headers complete
  ttfe  = request written -> first complete SSE event (`data:` ... blank line) read
  gaps  = time between consecutive complete SSE events
  total = request written -> body complete

Modes:
  seq   N requests one after another on one keep-alive connection (time to first event, paced gaps)
  open  N concurrent streams, each on its own connection, opened over --ramp seconds; counts
        streams that ended cleanly (status 200, all events, `[DONE]`) and the peak open at once
Prints one JSON object on stdout.
"""

import argparse
import asyncio
import json
import statistics
import sys
import time
from urllib.parse import urlsplit


def pct(values, p):
    """Nearest-rank percentile of a list (None when empty)."""
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def summary_ms(values):
    if not values:
        return None
    return {
        "n": len(values),
        "mean": round(statistics.fmean(values) * 1e3, 4),
        "p50": round(pct(values, 50) * 1e3, 4),
        "p90": round(pct(values, 90) * 1e3, 4),
        "p99": round(pct(values, 99) * 1e3, 4),
        "max": round(max(values) * 1e3, 4),
    }


class Target:
    def __init__(self, url, token, body, close):
        u = urlsplit(url)
        if u.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise SystemExit("sse_client: only loopback targets are allowed")
        self.host = u.hostname
        self.port = u.port or 80
        path = u.path or "/"
        if u.query:
            path += "?" + u.query
        head = [
            f"POST {path} HTTP/1.1",
            f"Host: {u.hostname}:{self.port}",
            "Content-Type: application/json",
            "Accept: text/event-stream",
            f"Content-Length: {len(body)}",
        ]
        if token:
            head.append(f"Authorization: Bearer {token}")
        if close:
            head.append("Connection: close")
        self.request = ("\r\n".join(head) + "\r\n\r\n").encode() + body


class Result:
    __slots__ = ("status", "ttfb", "ttfe", "gaps", "total", "events", "done", "error")

    def __init__(self):
        self.status = 0
        self.ttfb = None
        self.ttfe = None
        self.gaps = []
        self.total = None
        self.events = 0
        self.done = False
        self.error = None


async def read_response(reader, t0, res):
    """Reads one response; fills `res`. Returns True when the connection may be reused."""
    head = await reader.readuntil(b"\r\n\r\n")
    res.ttfb = time.perf_counter() - t0
    lines = head.decode("latin-1").split("\r\n")
    res.status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip().lower()
    buf = b""
    last = None

    def feed(data):
        nonlocal buf, last
        now = time.perf_counter()
        buf += data.replace(b"\r\n", b"\n")
        while True:
            i = buf.find(b"\n\n")
            if i < 0:
                return
            event, buf = buf[:i], buf[i + 2 :]
            if b"data:" not in event:
                continue  # keepalive comment or bare `event:` line
            res.events += 1
            if b"[DONE]" in event:
                res.done = True
            if last is None:
                res.ttfe = now - t0
            else:
                res.gaps.append(now - last)
            last = now

    if headers.get("transfer-encoding") == "chunked":
        while True:
            size_line = await reader.readline()
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
                break
            chunk = await reader.readexactly(size + 2)
            feed(chunk[:-2])
    elif "content-length" in headers:
        feed(await reader.readexactly(int(headers["content-length"])))
    else:
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                break
            feed(chunk)
        res.total = time.perf_counter() - t0
        return False
    res.total = time.perf_counter() - t0
    return headers.get("connection") != "close"


async def seq(target, n, warmup):
    results = []
    reader = writer = None
    for i in range(n + warmup):
        if writer is None:
            reader, writer = await asyncio.open_connection(target.host, target.port)
        res = Result()
        t0 = time.perf_counter()
        writer.write(target.request)
        await writer.drain()
        reuse = await read_response(reader, t0, res)
        if i >= warmup:
            results.append(res)
        if not reuse:
            writer.close()
            writer = None
    if writer is not None:
        writer.close()
    ok = [r for r in results if r.status == 200 and r.done]
    gaps = [g for r in ok for g in r.gaps]
    return {
        "mode": "seq",
        "requests": len(results),
        "warmup": warmup,
        "ok": len(ok),
        "events_per_stream": statistics.median([r.events for r in ok]) if ok else 0,
        "ttfb_ms": summary_ms([r.ttfb for r in ok]),
        "ttfe_ms": summary_ms([r.ttfe for r in ok if r.ttfe is not None]),
        "gap_ms": summary_ms(gaps),
        "total_ms": summary_ms([r.total for r in ok]),
    }


async def open_streams(target, n, ramp, expect_events, timeout):
    state = {"open": 0, "peak": 0}
    errors = {}
    results = []

    async def one():
        res = Result()
        writer = None
        try:
            reader, writer = await asyncio.open_connection(target.host, target.port)
            state["open"] += 1
            state["peak"] = max(state["peak"], state["open"])
            t0 = time.perf_counter()
            writer.write(target.request)
            await writer.drain()
            await asyncio.wait_for(read_response(reader, t0, res), timeout)
        except Exception as e:  # noqa: BLE001 - counted by kind, the run goes on
            res.error = type(e).__name__
        finally:
            if writer is not None:
                state["open"] -= 1
                writer.close()
        results.append(res)

    tasks = []
    t_start = time.perf_counter()
    for i in range(n):
        due = t_start + ramp * i / n
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - t_start
    ok = 0
    for r in results:
        if r.error:
            errors[r.error] = errors.get(r.error, 0) + 1
        elif r.status != 200:
            errors[f"status_{r.status}"] = errors.get(f"status_{r.status}", 0) + 1
        elif not r.done or (expect_events and r.events < expect_events):
            errors["incomplete"] = errors.get("incomplete", 0) + 1
        else:
            ok += 1
    return {
        "mode": "open",
        "streams": n,
        "ok": ok,
        "errors": errors,
        "peak_open": state["peak"],
        "elapsed_s": round(elapsed, 2),
        "ttfe_ms": summary_ms([r.ttfe for r in results if r.ttfe is not None]),
        "gap_ms": summary_ms([g for r in results for g in r.gaps]),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["seq", "open"])
    ap.add_argument("--url", required=True)
    ap.add_argument("--token", default="")
    ap.add_argument("--body", required=True, help="file with the JSON request body")
    ap.add_argument("-n", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--ramp", type=float, default=5.0, help="open: seconds over which to open")
    ap.add_argument("--expect-events", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=120.0, help="open: per-stream limit (s)")
    a = ap.parse_args()
    with open(a.body, "rb") as f:
        body = f.read()
    if a.mode == "seq":
        out = asyncio.run(seq(Target(a.url, a.token, body, close=False), a.n, a.warmup))
    else:
        t = Target(a.url, a.token, body, close=True)
        out = asyncio.run(open_streams(t, a.n, a.ramp, a.expect_events, a.timeout))
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
