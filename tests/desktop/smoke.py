"""Smoke test of the Realms desktop app (src-tauri) under Xvfb and a private D-Bus session.

Run through tests/desktop/run.sh, which builds the binaries and passes their paths in the
environment. Python standard library only. What it checks, in order:

1. a data directory is seeded the honest way: the headless `realms` server runs on it once and
   its admin API creates a channel on the fake upstream, a model, a user and an `sk_` token;
2. the desktop app starts (Xvfb + dbus-run-session) on a free port and answers `/healthz` within
   STARTUP_LIMIT_S of launch; startup time and the RSS of the app and its WebKit processes are
   printed;
3. `/api/*` without the per-launch console secret is 401, and no answer carries
   `Access-Control-Allow-Origin`;
4. a chat completion with the token goes through the desktop gateway to the fake upstream;
5. the real Codex CLI (npm `@openai/codex`, offline config) completes a turn through it;
6. a second launch exits at once and hands over to the first (single instance);
7. SIGTERM (= Quit) exits 0;
8. the server, started again on the data directory, shows the usage records of steps 4 and 5
   (they were flushed at quit).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

# The Codex CLI is run as tests/clients runs it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "clients"))
import codex_offline  # noqa: E402

STARTUP_LIMIT_S = 2.0
QUIT_LIMIT_S = 30.0
FAKE_TEXT = "Hello from the fake upstream."
MODEL = "gpt-fake"

failures: list[str] = []
passed: list[str] = []


def log(text: str) -> None:
    print(f"[desktop] {text}", flush=True)


def check(name: str, ok: bool, detail: str = "") -> None:
    if ok:
        passed.append(name)
        log(f"ok   {name}")
    else:
        failures.append(name)
        log(f"FAIL {name}: {detail}")


def env_path(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        sys.exit(f"{name} is not set: run tests/desktop/run.sh")
    return value


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None, timeout: float = 10
) -> tuple[int, dict[str, str], bytes]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        url, data=data, method=method, headers={"content-type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def wait_listening(proc: subprocess.Popen, logfile: Path, needle: str, limit: float = 60) -> str:
    """Waits for a log line with `needle` and returns the first 127.0.0.1:PORT in it."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        for line in logfile.read_text(errors="replace").splitlines():
            found = re.search(r"127\.0\.0\.1:(\d+)", line) if needle in line else None
            if found:
                return f"127.0.0.1:{found.group(1)}"
        if proc.poll() is not None:
            sys.exit(f"{logfile.name}: process exited early:\n{logfile.read_text(errors='replace')[-3000:]}")
        time.sleep(0.05)
    sys.exit(f"{logfile.name}: no `{needle}` line after {limit}s")


def stop(proc: subprocess.Popen, limit: float = QUIT_LIMIT_S) -> int | None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


class Server:
    """The headless `realms` on the data directory, with an admin key, for seeding and reading usage."""

    def __init__(self, work: Path, data: Path, fake_url: str) -> None:
        self.admin_key = "desktop-admin-" + secrets.token_hex(16)
        self.logfile = work / f"realms-{secrets.token_hex(2)}.log"
        env = {
            **os.environ,
            "REALMS_DATA_DIR": str(data),
            "REALMS_ADDR": "127.0.0.1:0",
            "REALMS_ADMIN_API_KEY": self.admin_key,
            "REALMS_SELF_MODE": "true",
            "REALMS_CODEX_OAUTH_LISTENER": "false",
            "REALMS_LOG": "info",
        }
        self.proc = subprocess.Popen(
            [env_path("SERVER_BIN")],
            cwd=work,
            env=env,
            stdout=self.logfile.open("w"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self.url = "http://" + wait_listening(self.proc, self.logfile, "realms is listening")
        self.fake_url = fake_url

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        status, _, raw = http(method, self.url + path, body, {"authorization": f"Bearer {self.admin_key}"})
        if status // 100 != 2:
            sys.exit(f"{method} {path}: {status} {raw[:500]!r}")
        return json.loads(raw) if raw else None

    def seed(self) -> tuple[str, int]:
        channel = self.admin(
            "POST",
            "/api/admin/channels",
            {
                "type": "openai_compatible",
                "name": "fake-openai",
                "base_url": self.fake_url,
                "api_keys": ["upstream-" + secrets.token_hex(8)],
            },
        )["channel"]
        self.admin(
            "POST",
            "/api/admin/models",
            {"public_id": MODEL, "input_usd_per_1m": "1", "output_usd_per_1m": "2"},
        )
        self.admin("POST", f"/api/admin/channels/{channel['id']}/models", {"public_id": MODEL})
        name = "desktop" + secrets.token_hex(3)
        user = self.admin(
            "POST",
            "/api/admin/users",
            {"username": name, "email": f"{name}@example.com", "password": secrets.token_urlsafe(18)},
        )["user"]
        token = self.admin("POST", f"/api/admin/users/{user['id']}/tokens", {"name": "desktop-smoke"})
        return token["key"], token["id"]

    def stop(self) -> None:
        code = stop(self.proc)
        if code != 0:
            sys.exit(f"the seeding server exited {code}:\n{self.logfile.read_text(errors='replace')[-3000:]}")


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        parent = todo.pop()
        try:
            children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            out.append(child)
            todo.append(child)
    return out


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


class Desktop:
    """The desktop app launched as `dbus-run-session -- realms-desktop` on the Xvfb display."""

    def __init__(
        self, work: Path, data: Path, home: Path, display: str, name: str, bus: str | None = None
    ) -> None:
        self.logfile = work / f"{name}.log"
        bus_file = work / f"{name}.bus"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("REALMS_")},
            "DISPLAY": display,
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_DATA_HOME": str(home / ".local/share"),
            "REALMS_DATA_DIR": str(data),
            # JSON lines; tower_http's request spans show what the console window called.
            "REALMS_LOG": "info,realms_desktop=debug,realms_core::access_log=debug",
            "REALMS_LOG_FORMAT": "json",
            # Codex sign-ins are not part of this test; leave port 1455 alone.
            "REALMS_CODEX_OAUTH_LISTENER": "false",
            "NO_AT_BRIDGE": "1",
        }
        app = env_path("DESKTOP_BIN")
        if bus is None:
            # The app replaces the shell, so it is dbus-run-session's only child; the bus address
            # is kept for a second launch into the same session.
            argv = [
                "dbus-run-session",
                "--",
                "sh",
                "-c",
                f'echo "$DBUS_SESSION_BUS_ADDRESS" > "{bus_file}"; exec "{app}"',
            ]
        else:
            env["DBUS_SESSION_BUS_ADDRESS"] = bus
            argv = [app]
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            argv,
            cwd=work,
            env=env,
            stdout=self.logfile.open("w"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self.bus_file = bus_file

    def app_pid(self) -> int:
        """The app's own pid (dbus-run-session's child that is not the bus daemon)."""
        for _ in range(100):
            for pid in descendants(self.proc.pid):
                if comm(pid).startswith("realms-desktop"):
                    return pid
            time.sleep(0.05)
        sys.exit(f"no realms-desktop process under {self.proc.pid}:\n{self.log()}")

    def log(self) -> str:
        return self.logfile.read_text(errors="replace")

    def answered(self, method: str, path: str) -> list[int]:
        """Statuses the gateway answered to `method path` so far (from the access log events)."""
        out = []
        for line in self.log().splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            span = event.get("span") or {}
            if (
                event.get("message") == "finished processing request"
                and span.get("method") == method
                and span.get("path") == path
            ):
                out.append(int(event.get("status", 0)))
        return out

    def wait_answered(self, method: str, path: str, limit: float) -> list[int]:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline and not self.answered(method, path):
            time.sleep(0.1)
        return self.answered(method, path)


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="realms-desktop-"))
    data, home = work / "data", work / "home"
    data.mkdir(mode=0o700)
    home.mkdir()
    display = env_path("DISPLAY_FOR_TEST")
    procs: list[subprocess.Popen] = []
    try:
        fake_log = work / "fake.log"
        fake = subprocess.Popen(
            [env_path("FAKE_BIN"), "--addr", "127.0.0.1:0", "--record"],
            stdout=fake_log.open("w"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        procs.append(fake)
        fake_url = "http://" + wait_listening(fake, fake_log, "listening")

        # 1. seed through the server's admin API, then stop it.
        server = Server(work, data, fake_url)
        procs.append(server.proc)
        token, token_id = server.seed()
        server.stop()
        log(f"seeded {data} (token #{token_id}) through the headless server's admin API")

        port = free_port()
        (data / "desktop.json").write_text(json.dumps({"port": port}))
        base = f"http://127.0.0.1:{port}"

        # 2. launch and time /healthz.
        desktop = Desktop(work, data, home, display, "desktop")
        procs.append(desktop.proc)
        startup = None
        while time.monotonic() - desktop.started < 30:
            try:
                status, _, _ = http("GET", base + "/healthz", timeout=1)
                if status == 200:
                    startup = time.monotonic() - desktop.started
                    break
            except OSError:
                pass
            if desktop.proc.poll() is not None:
                break
            time.sleep(0.01)
        check(
            f"/healthz answers within {STARTUP_LIMIT_S} s of launch",
            startup is not None and startup <= STARTUP_LIMIT_S,
            f"startup {startup}\n{desktop.log()[-4000:]}",
        )
        if startup is None:
            return 1
        log(f"startup (launch -> /healthz 200): {startup * 1000:.0f} ms")
        app_pid = desktop.app_pid()

        # The window got the console secret: the console signed the local person in by itself.
        signed_in = desktop.wait_answered("POST", "/api/desktop/session", 20)
        check(
            "the console window signed in with its console secret", 200 in signed_in, f"statuses {signed_in}"
        )

        # 3. the console API is closed to everyone but the window; no CORS wildcard anywhere.
        status, headers, _ = http(
            "GET", base + "/api/admin/channels", headers={"origin": "http://evil.example"}
        )
        check("/api/* without the console secret is 401", status == 401, f"got {status}")
        check(
            "no Access-Control-Allow-Origin on /api/*",
            "access-control-allow-origin" not in headers,
            str(headers),
        )
        status, _, _ = http("GET", base + "/api/admin/channels", headers={"authorization": f"Bearer {token}"})
        check("an sk_ token does not open /api/*", status == 401, f"got {status}")

        # 4. a relay call with the token reaches the fake upstream.
        http("DELETE", fake_url + "/__fake/requests")
        status, headers, raw = http(
            "POST",
            base + "/v1/chat/completions",
            {"model": MODEL, "messages": [{"role": "user", "content": "hi from the desktop smoke test"}]},
            {"authorization": f"Bearer {token}", "origin": "http://evil.example"},
        )
        check(
            "chat completion through the desktop gateway",
            status == 200 and FAKE_TEXT in raw.decode(errors="replace"),
            f"{status} {raw[:300]!r}",
        )
        check(
            "no Access-Control-Allow-Origin on /v1/*",
            "access-control-allow-origin" not in headers,
            str(headers),
        )
        _, _, raw = http("GET", fake_url + "/__fake/requests")
        seen = [r for r in json.loads(raw)["requests"] if r["path"] == "/v1/chat/completions"]
        check(
            "the call reached the fake upstream",
            len(seen) == 1 and "hi from the desktop smoke test" in seen[0]["body"],
            str(seen)[:500],
        )

        # 5. the real Codex CLI through the desktop gateway.
        codex = os.environ.get("CODEX_BIN")
        codex_calls = 0
        if codex:
            codex_home = work / "codex-home"
            codex_offline.write_config(codex_home, MODEL, base + "/v1")
            (work / "codex-work").mkdir()
            done = codex_offline.exec_turn(
                work / "codex-work",
                {"HOME": str(work), "CODEX_HOME": str(codex_home), "REALMS_API_KEY": token},
            )
            check(
                "Codex CLI completes a turn through the desktop gateway",
                done.returncode == 0 and FAKE_TEXT in done.stdout,
                f"exit {done.returncode}\n{done.stdout[-1500:]}\n{done.stderr[-1500:]}",
            )
            codex_calls = 1
        else:
            check("Codex CLI is available (CODEX_BIN)", False, "CODEX_BIN is not set")

        # RSS once the window has loaded the console (WebKit runs in child processes).
        time.sleep(1.0)
        app_rss = rss_kib(app_pid)
        webkit = {pid: (comm(pid), rss_kib(pid)) for pid in descendants(app_pid)}
        total = app_rss + sum(r for _, r in webkit.values())
        parts = ", ".join(f"{c} {r / 1024:.0f}" for c, r in webkit.values())
        log(f"RSS: app {app_rss / 1024:.0f} MiB; with WebKit processes {total / 1024:.0f} MiB ({parts})")
        check(
            "the console window's WebKit processes run",
            any("WebKit" in c for c, _ in webkit.values()),
            str(webkit),
        )

        # 6. a second launch hands over to the first and exits.
        bus = desktop.bus_file.read_text().strip()
        second = Desktop(work, data, home, display, "second", bus=bus)
        try:
            code = second.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            second.proc.kill()
            code = None
        check(
            "a second launch exits at once (single instance)",
            code == 0,
            f"exit {code}\n{second.log()[-2000:]}",
        )
        check(
            "the first instance was told",
            "another launch handed over" in desktop.log(),
            desktop.log()[-2000:],
        )
        status, _, _ = http("GET", base + "/healthz")
        check("the first instance still serves", status == 200, f"got {status}")

        # 7. SIGTERM is Quit: graceful, exit 0.
        os.kill(app_pid, signal.SIGTERM)
        quit_started = time.monotonic()
        try:
            code = desktop.proc.wait(timeout=QUIT_LIMIT_S)
        except subprocess.TimeoutExpired:
            code = None
        check("Quit (SIGTERM) exits 0", code == 0, f"exit {code}\n{desktop.log()[-3000:]}")
        log(f"quit took {(time.monotonic() - quit_started) * 1000:.0f} ms")
        check(
            "the quit flushed usage", "gateway stopped, usage flushed" in desktop.log(), desktop.log()[-2000:]
        )

        # 8. the records are in the database.
        server = Server(work, data, fake_url)
        procs.append(server.proc)
        events = server.admin("GET", f"/api/admin/usage/events?token_id={token_id}&limit=100")["items"]
        server.stop()
        chat = [e for e in events if e["endpoint"] == "/v1/chat/completions" and e["status_code"] == 200]
        responses = [e for e in events if e["endpoint"] == "/v1/responses" and e["status_code"] == 200]
        check("the chat call was recorded", len(chat) == 1, json.dumps(events)[:1000])
        check("the Codex turn was recorded", len(responses) >= codex_calls, json.dumps(events)[:1000])
    finally:
        for proc in procs:
            stop(proc, 10)
        if failures:
            for f in sorted(work.glob("*.log")):
                log(f"--- tail of {f.name}")
                print(f.read_text(errors="replace")[-3000:], flush=True)
        subprocess.run(["rm", "-rf", str(work)], check=False)
    print(f"{len(passed)} passed, {len(failures)} failed", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
