"""`make run`: the whole product on one machine with nothing installed.

Starts an embedded Redis-protocol server (unless REDIS_URL is set), the sandbox GitHub with a
demo world (unless GITHUB_API_URL points elsewhere), migrates, then runs Daphne and a
Dramatiq worker as child processes until interrupted.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

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


def main() -> None:
    env = dict(os.environ, DEBUG=os.environ.get("DEBUG", "1"), PYTHONUNBUFFERED="1")
    env.setdefault("dramatiq_worker_timeout", "100")  # idle queue poll, ms (default 1 s)
    children: list[subprocess.Popen[bytes]] = []
    if not env.get("REDIS_URL"):
        _, env["REDIS_URL"] = start_embedded_redis()
        print(f"embedded redis on {env['REDIS_URL']}", flush=True)
    # The sandbox stands in for every provider that is not configured for real.
    if not all(env.get(name) for name in ("GITHUB_API_URL", "JIRA_API_URL", "SLACK_URL")):
        if not env.get("GITHUB_API_URL"):
            env["GITHUB_API_URL"] = f"http://127.0.0.1:{SANDBOX_PORT}/api/v3"
            env.setdefault("GITHUB_CLIENT_ID", "sandbox-client")
            env.setdefault("GITHUB_CLIENT_SECRET", "sandbox-secret")
        children.append(_start_sandbox(env))
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    children.append(_child(["manage.py", "rundramatiq", "--processes", "1", "--threads", "4"], env))
    children.append(
        _child(
            ["-m", "project.web", "-b", "127.0.0.1", "-p", str(WEB_PORT), "asgi:application"], env
        )
    )
    print(f"\n  Open http://127.0.0.1:{WEB_PORT}/  (Ctrl-C stops everything)\n", flush=True)
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
