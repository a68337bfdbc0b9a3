#!/usr/bin/env python3
"""Summarises `perf script` output (a cpu-clock profile with call graphs) of the relay into cost
buckets, for bench/run.sh's profile step. Reads the script text on stdin, prints Markdown.

- inclusive buckets: share of samples with any frame matching the bucket's pattern (a sample can
  count in several buckets: e.g. writev inside the hyper server inside a relay task);
- syscalls: inclusive share per kernel syscall entry point;
- self: the leaf function of each sample, top 25, and per library.
"""

import re
import sys
from collections import Counter

BUCKETS = [
    ("kernel: any syscall", r"entry_SYSCALL_64|do_syscall_64"),
    ("kernel: TCP send (write/writev/sendmsg)", r"\btcp_sendmsg\b"),
    ("kernel: TCP receive (read/recvmsg)", r"\btcp_recvmsg\b"),
    ("kernel: epoll_wait", r"do_epoll_wait"),
    ("kernel: futex (thread park/unpark)", r"do_futex"),
    ("kernel: scheduler switch", r"finish_task_switch|__schedule"),
    ("malloc/free (jemalloc, or glibc's)", r"^(_rjem_|malloc|free|cfree|_int_malloc|_int_free|"
     r"realloc|_int_realloc|calloc|malloc_consolidate|unlink_chunk|__libc_malloc|__libc_free|"
     r"tcache)"),
    ("memcpy/memmove", r"__memmove|__memcpy|memcpy"),
    ("client-facing HTTP (hyper server: parse, encode, body)", r"hyper::proto::h1::role::Server|"
     r"axum::serve::|hyper_util::server::"),
    ("upstream transport (direct: hyper client conn in the response task; or reqwest)",
     r"relay::upstream::transport|reqwest::|hyper_util::client|hyper::client|"
     r"hyper::proto::h1::role::Client"),
    ("relay pipeline (realms_core::relay)", r"realms_core::relay::"),
    ("SSE observer / usage parsing", r"StreamObserver|SseDecoder|relay::protocol"),
    ("JSON (serde_json)", r"serde_json::"),
    ("tracing + TraceLayer", r"tracing::|tracing_core::|tracing_subscriber::|tower_http::trace"),
    ("request id layer", r"request_id|MakeRequestId|SetRequestId"),
    ("usage recorder + SQLite", r"sqlite3|rusqlite::|usage::recorder|store::usage"),
    ("routing (select/health/sticky)", r"relay::routing::"),
    ("shaping (headers/body/url)", r"relay::shaping|relay::upstream::(headers|url|auth)"),
    ("timers (tokio time)", r"tokio::runtime::time|tokio::time::"),
]


# The first of these frames from the leaf names the syscall (some entry points are inlined).
SYSCALL = re.compile(r"^(?:__x64_sys_(\w+)|__do_sys_(\w+)|(do_writev|ksys_write|ksys_read|"
                     r"__sys_recvfrom|__sys_sendto|__sys_sendmsg|__sys_recvmsg|do_epoll_wait|"
                     r"do_futex|__sys_accept4|__sys_connect))$")
SYSCALL_ALIASES = {"do_writev": "writev", "ksys_write": "write", "ksys_read": "read",
                   "__sys_recvfrom": "recvfrom", "__sys_sendto": "sendto",
                   "__sys_sendmsg": "sendmsg", "__sys_recvmsg": "recvmsg",
                   "do_epoll_wait": "epoll_wait", "do_futex": "futex",
                   "__sys_accept4": "accept4", "__sys_connect": "connect"}


def samples(stream):
    head = None
    frames = []
    for line in stream:
        line = line.rstrip("\n")
        if not line.strip():
            if head is not None:
                yield head, frames
            head, frames = None, []
            continue
        if head is None:
            head = line
            continue
        parts = line.strip().split(None, 1)
        if len(parts) < 2:
            continue
        rest = parts[1]
        m = re.match(r"(.*) \((.*)\)$", rest)
        sym, dso = (m.group(1), m.group(2)) if m else (rest, "")
        sym = re.sub(r"\+0x[0-9a-f]+$", "", sym)
        frames.append((sym, dso))
    if head is not None:
        yield head, frames


def main():
    total = 0
    inc = Counter()
    sys_inc = Counter()
    leaf = Counter()
    leaf_dso = Counter()
    compiled = [(name, re.compile(p) if p else None) for name, p in BUCKETS]
    for _head, frames in samples(sys.stdin):
        if not frames:
            continue
        total += 1
        syms = [f[0] for f in frames]
        for name, rx in compiled:
            if rx is not None and any(rx.search(s) for s in syms):
                inc[name] += 1
        for s in syms:
            m = SYSCALL.match(s)
            if m:
                name = next(g for g in m.groups() if g)
                sys_inc[SYSCALL_ALIASES.get(name, name)] += 1
                break
        sym, dso = frames[0]
        leaf[sym[:110]] += 1
        dso = dso.rsplit("/", 1)[-1]
        leaf_dso["kernel" if "kernel" in dso else dso] += 1
    if not total:
        print("no samples")
        return
    pct = lambda n: f"{100.0 * n / total:.1f}%"  # noqa: E731
    print(f"{total} samples\n")
    print("| bucket (inclusive) | share |\n|---|---|")
    for name, rx in compiled:
        if rx is not None:
            print(f"| {name} | {pct(inc[name])} |")
    print("\n| syscall (inclusive) | share |\n|---|---|")
    for name, n in sys_inc.most_common(12):
        print(f"| {name} | {pct(n)} |")
    print("\n| leaf library (self) | share |\n|---|---|")
    for name, n in leaf_dso.most_common(8):
        print(f"| {name} | {pct(n)} |")
    print("\n| leaf function (self) | share |\n|---|---|")
    for name, n in leaf.most_common(25):
        print(f"| `{name}` | {pct(n)} |")


if __name__ == "__main__":
    main()
