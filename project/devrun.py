"""`make run`: the whole product on one machine with nothing installed.

Starts an embedded Redis-protocol server (unless REDIS_URL is set), the sandbox with a demo
world on SANDBOX_PORT standing in for every provider not configured for real (GitHub, Jira,
Slack: each address follows SANDBOX_PORT), migrates, creates the demo's staff user on first
start, then runs Daphne on PORT, a Dramatiq worker and the scheduler as child processes
until interrupted.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from project.devstaff import STAFF_USERNAME
from project.embedded_redis import start_embedded_redis

ROOT = Path(__file__).resolve().parent.parent
SANDBOX_PORT = int(os.environ.get("SANDBOX_PORT", "8001"))
WEB_PORT = int(os.environ.get("PORT", "8000"))


def _child(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env)


def _start_sandbox(env: dict[str, str]) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--port", str(SANDBOX_PORT), "--seed", "7",
         "--orgs", "3", "--repos", "25", "--prs", "3000", "--latency-ms", "40",
         "--client-id", env.get("GITHUB_CLIENT_ID", "sandbox-client"),
         "--client-secret", env.get("GITHUB_CLIENT_SECRET", "sandbox-secret"),
         "--callback-url", f"http://127.0.0.1:{WEB_PORT}/onboarding/github/callback/"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    print(process.stdout.readline().decode().strip(), flush=True)
    return process


def sandbox_addresses(env: Mapping[str, str], port: int) -> dict[str, str]:
    """Point every provider that is not configured for real at the sandbox on ``port``.

    Returns the variables to set (empty when every provider is real: no sandbox is needed).
    """
    base = f"http://127.0.0.1:{port}"
    wanted: dict[str, str] = {}
    if not env.get("GITHUB_API_URL"):
        wanted["GITHUB_API_URL"] = f"{base}/api/v3"
        wanted["GITHUB_CLIENT_ID"] = env.get("GITHUB_CLIENT_ID") or "sandbox-client"
        wanted["GITHUB_CLIENT_SECRET"] = env.get("GITHUB_CLIENT_SECRET") or "sandbox-secret"
    if not env.get("JIRA_API_URL"):
        wanted["JIRA_AUTH_URL"] = f"{base}/atlassian"
        wanted["JIRA_API_URL"] = f"{base}/atlassian-api"
    if not env.get("SLACK_URL"):
        wanted["SLACK_URL"] = f"{base}/slack"
    return wanted


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the children too, as Ctrl-C does


def main() -> None:
    signal.signal(signal.SIGTERM, _interrupt)
    env = dict(os.environ, DEBUG=os.environ.get("DEBUG", "1"), PYTHONUNBUFFERED="1")
    env.setdefault("dramatiq_worker_timeout", "100")  # idle queue poll, ms (default 1 s)
    children: list[subprocess.Popen[bytes]] = []
    if not env.get("REDIS_URL"):
        _, env["REDIS_URL"] = start_embedded_redis()
        print(f"embedded redis on {env['REDIS_URL']}", flush=True)
    if sandboxed := sandbox_addresses(env, SANDBOX_PORT):
        env.update(sandboxed)
        children.append(_start_sandbox(env))
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    staff = subprocess.run(
        [sys.executable, "-m", "project.devstaff"],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    ).stdout.strip()
    children.append(_child(["manage.py", "rundramatiq", "--processes", "1", "--threads", "4"], env))
    children.append(_child(["manage.py", "runscheduler"], env))  # the sweep, every 15 min
    children.append(
        _child(
            ["-m", "project.web", "-b", "127.0.0.1", "-p", str(WEB_PORT), "asgi:application"], env
        )
    )
    print(f"\n  Open http://127.0.0.1:{WEB_PORT}/  (Ctrl-C stops everything)", flush=True)
    if staff:
        print(
            f"  Staff: http://127.0.0.1:{WEB_PORT}/admin/login/ as {STAFF_USERNAME}, "
            f"password {staff} (demo only; kept in var/demo_staff_password)\n",
            flush=True,
        )
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()


if __name__ == "__main__":
    main()
