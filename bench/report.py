#!/usr/bin/env python3
"""Helpers of bench/run.sh (stdlib only).

  report.py ticks PID...        CPU ticks (utime+stime, all threads) summed over the PIDs
  report.py idle                "idle_ticks total_ticks" of the whole machine (/proc/stat)
  report.py mem PID             "VmRSS_kB VmHWM_kB threads" of a process
  report.py fds PID             number of open file descriptors of a process
  report.py summary WRK_JSON    one line: req/s, p50, p99, errors
  report.py criterion DIR N     rows/s from a criterion estimates.json of a batch of N rows
  report.py render RAWDIR       Markdown report of RAWDIR/results.jsonl on stdout

Every number in the report is from one run of run.sh. Ratios compare targets measured in the same
round (interleaved, same machine state); with several rounds the median ratio is shown and the
min..max beside it.
"""

import json
import os
import statistics
import sys
from collections import defaultdict

TARGETS = ("direct", "nginx", "realms")
TICKS = os.sysconf("SC_CLK_TCK")


def ticks(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
        except (FileNotFoundError, ProcessLookupError, IndexError):
            pass
    return total


def idle():
    """The machine's idle (idle + iowait) and total CPU ticks so far, all cores."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return fields[3] + fields[4], sum(fields[:8])


def mem(pid):
    rss = hwm = threads = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    return rss, hwm, threads


# ---------------------------------------------------------------- rendering


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def span(values):
    """`median (min..max)` of ratios, or just the value with one round."""
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    m = statistics.median(values)
    if len(values) == 1:
        return f"{m:.2f}"
    return f"{m:.2f} ({min(values):.2f}..{max(values):.2f})"


def f_ms(v, nd=3):
    return "–" if v is None else f"{v:.{nd}f}"


def f_int(v):
    return "–" if v is None else f"{v:,.0f}"


def load(raw):
    rows = []
    with open(os.path.join(raw, "results.jsonl")) as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    return rows


def wrk_metrics(r):
    w = r["wrk"]
    secs = w["duration_us"] / 1e6
    reqs = w["requests"]
    errs = sum(w["errors"].values())
    cpu = r.get("cpu_ticks")
    return {
        "rps": reqs / secs if secs else 0,
        "p50": w["lat_us"]["p50"] / 1000.0,
        "p99": w["lat_us"]["p99"] / 1000.0,
        "cpu_us": (cpu / TICKS * 1e6 / reqs) if (cpu is not None and reqs) else None,
        "fake_cpu_us": (r["fake_ticks"] / TICKS * 1e6 / reqs) if reqs else None,
        "errors": errs,
        "bytes_per_req": w["bytes"] / reqs if reqs else 0,
        "rss_max_kb": r.get("rss_max_kb"),
        "hwm_kb": r.get("hwm_kb"),
    }


def render(raw):
    rows = load(raw)
    meta = next((r for r in rows if r["kind"] == "meta"), {})
    out = []
    p = out.append
    p(f"# Realms benchmark — {meta.get('date', '?')}")
    p("")
    p(f"Machine: {meta.get('machine', '?')}; load average at start: {meta.get('loadavg', '?')}. "
      f"{meta.get('rounds', 1)} round(s), {meta.get('duration', '?')} s per load run, wrk "
      f"-t{meta.get('wrk_threads', 1)}, fake upstream --workers {meta.get('fake_workers', '?')}, "
      f"nginx {meta.get('nginx_workers', '?')} workers. Realms commit {meta.get('commit', '?')}, "
      f"{meta.get('build', 'plain')} build.")
    p("Other builds and tests may have shared the 2 cores: compare the ratios, not the absolutes.")
    p("")

    # wrk runs grouped by (scenario, c) -> round -> target -> metrics
    wrk = defaultdict(lambda: defaultdict(dict))
    for r in rows:
        if r["kind"] == "wrk":
            wrk[(r["scenario"], r["c"])][r["round"]][r["target"]] = wrk_metrics(r)

    names = {"chat": "chat, non-stream", "stream": f"chat stream, {meta.get('events', 20)} events",
             "rate": "chat, non-stream, rate-capped"}
    p("## Throughput, latency, CPU")
    p("")
    p("Latency is wrk's (request written → whole response read; for a stream, its last event). "
      "*added* = target − direct in the same round. CPU is µs of process CPU (user+sys, all "
      "threads; nginx = master + workers) per answered request.")
    p("")
    p("| scenario | c | req/s direct | req/s nginx | req/s realms | realms÷nginx req/s "
      "| p50/p99 direct ms | added p50/p99 nginx ms | added p50/p99 realms ms "
      "| CPU µs/req nginx | CPU µs/req realms | realms÷nginx CPU | errors d/n/r |")
    p("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    checks = {}
    order = sorted(wrk, key=lambda k: (["chat", "stream", "rate"].index(k[0]), k[1]))
    for key in order:
        scen, c = key
        rounds = wrk[key]
        by = {t: [rounds[rd].get(t) for rd in rounds] for t in TARGETS}

        def m(t, field):
            return med([x[field] for x in by[t] if x])

        def added(t, field):
            return med([rounds[rd][t][field] - rounds[rd]["direct"][field]
                        for rd in rounds if t in rounds[rd] and "direct" in rounds[rd]])

        thr = [rounds[rd]["realms"]["rps"] / rounds[rd]["nginx"]["rps"]
               for rd in rounds if "realms" in rounds[rd] and "nginx" in rounds[rd]
               and rounds[rd]["nginx"]["rps"]]
        cpu = [rounds[rd]["realms"]["cpu_us"] / rounds[rd]["nginx"]["cpu_us"]
               for rd in rounds if "realms" in rounds[rd] and "nginx" in rounds[rd]
               and rounds[rd]["nginx"]["cpu_us"]]
        errs = "/".join(str(sum(x["errors"] for x in by[t] if x)) for t in TARGETS)
        p(f"| {names.get(scen, scen)} | {c} | {f_int(m('direct', 'rps'))} | "
          f"{f_int(m('nginx', 'rps'))} | {f_int(m('realms', 'rps'))} | {span(thr)} | "
          f"{f_ms(m('direct', 'p50'))} / {f_ms(m('direct', 'p99'))} | "
          f"{f_ms(added('nginx', 'p50'))} / {f_ms(added('nginx', 'p99'))} | "
          f"{f_ms(added('realms', 'p50'))} / {f_ms(added('realms', 'p99'))} | "
          f"{f_ms(m('nginx', 'cpu_us'), 1)} | {f_ms(m('realms', 'cpu_us'), 1)} | {span(cpu)} | "
          f"{errs} |")
        checks[key] = {"thr": med(thr), "cpu": med(cpu), "added_p50": added("realms", "p50"),
                       "added_p99": added("realms", "p99"), "rps": m("realms", "rps"),
                       "nginx_added_p50": added("nginx", "p50"),
                       "bytes": {t: m(t, "bytes_per_req") for t in TARGETS}}
    p("")
    p("Response bytes per request (sanity: the same body went through each path): " + "; ".join(
        f"{names.get(k[0], k[0])} c={k[1]}: " + "/".join(f_int(v["bytes"][t]) for t in TARGETS)
        for k, v in checks.items() if k[1] == 1 or k[0] == "rate"))
    p("")

    # time to first event, paced stream
    seqs = defaultdict(lambda: defaultdict(dict))
    for r in rows:
        if r["kind"] == "seq":
            seqs[r["scenario"]][r["round"]][r["target"]] = r["res"]
    for scen, title in (("ttfe", f"Time to first event, burst stream ({meta.get('events', 20)} "
                                 "events), sequential"),
                        ("paced", f"Paced stream ({meta.get('paced_events', 20)} events "
                                  f"{meta.get('pace_ms', 10)} ms apart), sequential")):
        if scen not in seqs:
            continue
        rounds = seqs[scen]
        p(f"## {title}")
        p("")
        p("From `bench/sse_client.py` on one keep-alive connection: TTFB = request written → "
          "headers read; TTFE = → first complete `data:` event; gap = between consecutive events.")
        p("")
        p("| target | ok/requests | TTFB p50 ms | TTFE p50 / p99 ms | added TTFE p50 / p99 ms "
          "| gap p50 / p99 / max ms | whole stream p50 ms |")
        p("|---|---|---|---|---|---|---|")
        for t in TARGETS:
            rs = [rounds[rd].get(t) for rd in rounds if rounds[rd].get(t)]
            if not rs:
                continue

            def g(sect, field, rs=rs):
                return med([(x[sect] or {}).get(field) for x in rs])

            def add(field, t=t):
                return med([rounds[rd][t]["ttfe_ms"][field] - rounds[rd]["direct"]["ttfe_ms"][field]
                            for rd in rounds if t in rounds[rd] and "direct" in rounds[rd]])
            ok = sum(x["ok"] for x in rs)
            n = sum(x["requests"] for x in rs)
            p(f"| {t} | {ok}/{n} | {f_ms(g('ttfb_ms', 'p50'))} | {f_ms(g('ttfe_ms', 'p50'))} / "
              f"{f_ms(g('ttfe_ms', 'p99'))} | "
              f"{'–' if t == 'direct' else f_ms(add('p50')) + ' / ' + f_ms(add('p99'))} | "
              f"{f_ms(g('gap_ms', 'p50'))} / {f_ms(g('gap_ms', 'p99'))} / {f_ms(g('gap_ms', 'max'))}"
              f" | {f_ms(g('total_ms', 'p50'), 2)} |")
        p("")

    # memory
    mems = {r["label"]: r for r in rows if r["kind"] == "mem"}
    rss256 = {}
    top_c = max((k[1] for k in wrk if k[0] != "rate"), default=0)
    for (scen, c), rounds in wrk.items():
        if scen != "rate" and c == top_c:
            rss256[scen] = max((rounds[rd]["realms"]["rss_max_kb"] or 0)
                               for rd in rounds if "realms" in rounds[rd])
    p("## Realms memory")
    p("")
    p("VmHWM includes the start-up peak (argon2 hashing of the seeded user's password); the "
      "peak under load is sampled from VmRSS every 200 ms. Freed memory stays with the "
      "allocator, so RSS after a run is close to that run's peak.")
    p("")
    p("| when | VmRSS MB | VmHWM MB | threads |")
    p("|---|---|---|---|")
    for label, r in mems.items():
        p(f"| {label} | {r['rss_kb'] / 1024:.1f} | {r['hwm_kb'] / 1024:.1f} | "
          f"{r.get('threads', '–')} |")
    for scen, kb in rss256.items():
        p(f"| peak sampled during {names.get(scen, scen)} at c={top_c} "
          f"| {kb / 1024:.1f} | – | – |")
    p("")

    opens = [r for r in rows if r["kind"] == "open"]
    if opens:
        p("## Concurrent open streams")
        p("")
        p(f"Paced slow streams ({meta.get('open_events', '?')} events "
          f"{meta.get('open_pace_ms', '?')} ms apart), one connection each, opened over "
          f"{meta.get('open_ramp', '?')} s. fd limit of every process here: "
          f"{meta.get('nofile', '?')} (the sandbox does not allow raising it).")
        p("")
        p("| target | streams | ok | errors | peak open (client) | TTFE p50 / p99 ms "
          "| gap p99 ms | process RSS max MB | process fds max |")
        p("|---|---|---|---|---|---|---|---|---|")
        for r in opens:
            res = r["res"]
            p(f"| {r['target']} | {res['streams']} | {res['ok']} | {res['errors'] or 0} | "
              f"{res['peak_open']} | {f_ms((res['ttfe_ms'] or {}).get('p50'), 1)} / "
              f"{f_ms((res['ttfe_ms'] or {}).get('p99'), 1)} | "
              f"{f_ms((res['gap_ms'] or {}).get('p99'), 1)} | "
              f"{(r.get('rss_max_kb') or 0) / 1024:.1f} | {r.get('fds_max', '–')} |")
        p("")

    rec = [r for r in rows if r["kind"] in ("recorder", "rows")]
    if rec:
        p("## Usage recorder")
        p("")
        for r in rec:
            if r["kind"] == "rows":
                p(f"- Rows in `usage_events` after the run: {r['rows']:,} "
                  f"(requests counted by the clients against Realms: {r['client_requests']:,}; "
                  f"requests still in flight when wrk stops are recorded too, as `client_closed`).")
            else:
                p(f"- `cargo bench --bench usage_recorder`, {r['name']}: "
                  f"{r['rows_per_s']:,.0f} rows/s ({r['us_per_row']:.2f} µs/row).")
        p("")

    sc = [r for r in rows if r["kind"] == "syscalls"]
    if sc:
        p("## Syscalls and context switches per request (c=64, `perf stat` tracepoints)")
        p("")
        names_sc = sorted({k for r in sc for k, v in r["counts"].items() if v > 0},
                          key=lambda k: (-max(r["counts"].get(k, 0) / max(r["requests"], 1)
                                              for r in sc), k))
        p("| scenario | target | req | " + " | ".join(names_sc) + " |")
        p("|---|---|---|" + "---|" * len(names_sc))
        for r in sc:
            n = max(r["requests"], 1)
            p(f"| {names.get(r['scenario'], r['scenario'])} | {r['target']} | {r['requests']:,} | "
              + " | ".join(f"{r['counts'].get(k, 0) / n:.2f}" for k in names_sc) + " |")
        p("")

    # targets of issue 3 item 9
    p("## Targets (issue 3, item 9)")
    p("")
    p("| target | measured | met |")
    p("|---|---|---|")

    def row(name, value, ok):
        p(f"| {name} | {value} | {'yes' if ok else 'NO'} |")
    for scen in ("chat", "stream"):
        k = (scen, 1)
        if k in checks and checks[k]["added_p50"] is not None:
            v = checks[k]["added_p50"]
            row(f"added p50 at c=1 ≤ 0.15 ms ({names[scen]})",
                f"{v:.3f} ms (nginx {checks[k]['nginx_added_p50']:.3f} ms)", v <= 0.15)
    rate = [k for k in checks if k[0] == "rate"]
    for k in rate:
        v = checks[k]
        row("added p99 ≤ 1 ms at ~2k req/s",
            f"{v['added_p99']:.3f} ms at {v['rps']:,.0f} req/s", v["added_p99"] <= 1.0)
    for scen in ("chat", "stream"):
        k = (scen, 64)
        if k in checks and checks[k]["thr"] is not None:
            row(f"throughput at c=64 ≥ 0.8× nginx ({names[scen]})", f"{checks[k]['thr']:.2f}×",
                checks[k]["thr"] >= 0.8)
    for k, v in checks.items():
        if k[0] != "rate" and k[1] > 1 and v["cpu"] is not None:
            row(f"CPU/request ≤ 2× nginx ({names[k[0]]}, c={k[1]})", f"{v['cpu']:.2f}×",
                v["cpu"] <= 2.0)
    if "idle" in mems:
        kb = mems["idle"]["rss_kb"]
        row("RSS idle ≤ 20 MB", f"{kb / 1024:.1f} MB", kb <= 20 * 1024)
    if rss256:
        kb = max(rss256.values())
        row("RSS at c=256 ≤ 40 MB", f"{kb / 1024:.1f} MB (peak sampled)", kb <= 40 * 1024)
    for r in opens:
        if r["target"] == "realms":
            res = r["res"]
            row("10k concurrent open streams without errors",
                f"{res['ok']:,}/{res['streams']:,} ok, peak {res['peak_open']:,} open",
                res["ok"] == res["streams"] and res["streams"] >= 10000)
    for r in rec:
        if r["kind"] == "recorder" and r.get("headline"):
            row("20k usage records/s sustained by the recorder", f"{r['rows_per_s']:,.0f} rows/s",
                r["rows_per_s"] >= 20000)
    return "\n".join(out) + "\n"


def criterion(path, n):
    with open(path) as f:
        est = json.load(f)
    ns = est["mean"]["point_estimate"]
    return {"rows_per_s": n / (ns / 1e9), "us_per_row": ns / 1e3 / n}


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "ticks":
        print(ticks(args))
    elif cmd == "idle":
        print(*idle())
    elif cmd == "mem":
        print(*mem(args[0]))
    elif cmd == "fds":
        print(len(os.listdir(f"/proc/{args[0]}/fd")))
    elif cmd == "summary":
        with open(args[0]) as f:
            w = json.load(f)
        secs = w["duration_us"] / 1e6
        print(f"{w['requests'] / secs:.0f} req/s, p50 {w['lat_us']['p50'] / 1000:.3f} ms, "
              f"p99 {w['lat_us']['p99'] / 1000:.3f} ms, errors {sum(w['errors'].values())}")
    elif cmd == "criterion":
        print(json.dumps(criterion(args[0], int(args[1]))))
    elif cmd == "render":
        sys.stdout.write(render(args[0]))
    else:
        raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
