"""Benchmark the repository page: the shell's server time, and the list's time to the screen.

    make bench-repos                                   # 2,000 repositories at 50 ms a request
    make bench-repos ARGS="--repos 5000 --runs 3"

Targets (issue 5): the page's server time stays under 100 ms whatever the organization's
size; with 2,000 repositories and 50 ms per GitHub request, the list is on screen within the
time of its GitHub pages plus 300 ms.

What runs: the sandbox GitHub in a subprocess (a big org and a small one, fixed latency per
request), Daphne serving the app in a subprocess on a fresh SQLite file, and Debian's Chromium
through Playwright. Measured:
- shell: wall time of ``GET /onboarding/select-repos/`` over loopback (request sent to last
  byte), for the big org and the small one; it never calls GitHub;
- GitHub pages: the same list fetched page after page with a bare HTTP client (what GitHub
  needs to serve the pages one after another), and the nominal pages x latency;
- list on screen: in Chromium, from the moment htmx sends the list request to the first frame
  painted after all rows are in the DOM; also from navigation start;
- list request: the fragment's wall time over HTTP (GitHub pages, parsing and rendering).
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.local import PLAIN_HTTP

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CLIENT_ID = "sandbox-client-id"
CLIENT_SECRET = "sandbox-client-secret"  # noqa: S105 -- the sandbox's, public
SHELL_TARGET_MS = 100.0
LIST_MARGIN_MS = 300.0

# Installed before any page script: note when htmx asks for the list and when the last row
# has been painted (two animation frames after the rows are in the DOM).
# The list request's Server-Timing entries (GitHub, rendering) as the browser saw them.
SERVER_TIMING = """
() => {
  const entry = performance.getEntriesByType("resource")
    .filter((e) => e.name.includes("/select-repos/list/")).pop();
  return Object.fromEntries((entry ? entry.serverTiming : []).map((t) => [t.name, t.duration]));
}
"""

# One interaction on the loaded list, timed from the event to the next painted frame.
INTERACT = """
async (action) => {
  const started = performance.now();
  if (action === "filter") {
    const box = document.getElementById("repo-filter");
    box.value = box.value === "a" ? "" : "a";
    box.dispatchEvent(new Event("input", { bubbles: true }));
  } else {
    document.querySelector('[data-select="' + action + '"]').click();
  }
  await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
  return performance.now() - started;
}
"""

WATCH_LIST = """
(() => {
  window.__bench = {};
  const mark = (name) => (event) => {
    if (!window.__bench[name]) window.__bench[name] = performance.now();
  };
  document.addEventListener("htmx:beforeRequest", mark("requestAt"));
  document.addEventListener("htmx:afterRequest", mark("responseAt"));
  document.addEventListener("htmx:afterSwap", mark("swappedAt"));
  const expected = %d;
  const check = () => {
    const rows = document.querySelectorAll("#repo-rows > li");
    if (rows.length >= expected && !window.__bench.domAt) {
      window.__bench.domAt = performance.now();
      requestAnimationFrame(() => requestAnimationFrame(() => {
        window.__bench.paintedAt = performance.now();
      }));
      return true;
    }
    return false;
  };
  new MutationObserver((_, observer) => { if (check()) observer.disconnect(); })
    .observe(document, { childList: true, subtree: true });
})();
"""


def _environment(database: Path) -> dict[str, str]:
    """Settings for this process and Daphne: production mode on the benchmark's own SQLite."""
    env = {
        "SECRET_KEY": "bench-secret-key-not-for-production",
        "ENCRYPTION_KEYS": "x7rL0Ulh2c3jc6M1d3JXW1dnpzZxQp3Kqn2E3mYkP4A=",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        "DATABASE_URL": f"sqlite:///{database}",
        "GITHUB_CLIENT_ID": CLIENT_ID,
        "GITHUB_CLIENT_SECRET": CLIENT_SECRET,
        "REDIS_PREFIX": f"bench-repos-{os.getpid()}",
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "PYTHONUNBUFFERED": "1",
        **PLAIN_HTTP,
    }
    os.environ.update(env)
    return env


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _prepare(api_url: str) -> tuple[str, dict[str, int]]:
    """Create the database, a user signed in with GitHub and their teams; return a session."""
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from django.contrib.auth.models import User
    from django.test import Client

    from sync.github import orgs
    from sync.models import GitHubAccount, Integration, IntegrationCredential, Membership, Team

    token = _issue_token(api_url)
    user = User.objects.create_user(f"bench-{secrets.token_hex(4)}")
    viewer = orgs.preflight(token)
    credential = IntegrationCredential.objects.create(
        user=user, provider="github", access_token=token, scopes=" ".join(viewer.scopes)
    )
    GitHubAccount.objects.create(
        user=user, github_id=viewer.id, login=viewer.login, credential=credential
    )
    teams = {}
    for login in ("acme", "globex"):
        org = orgs.get_org_membership(token, login).organization
        team = Team.objects.create(name=login, github_org_id=org.id, github_org_login=login)
        Membership.objects.create(user=user, team=team, role=Membership.Role.ADMIN)
        Integration.objects.create(team=team, provider="github", credential=credential)
        teams[login] = team.pk
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value, teams


def _issue_token(api_url: str) -> str:
    import requests

    control = api_url.removesuffix("/api/v3") + "/_sandbox/tokens"
    response = requests.post(control, json={"login": "mona"}, timeout=10)
    response.raise_for_status()
    return str(response.json()["token"])


def _use_team(session_key: str, team_id: int) -> None:
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore(session_key=session_key)
    session["onboarding_team_id"] = team_id
    session.save()


def _start_daphne(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "asgi:application"],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    _wait_up(f"http://127.0.0.1:{port}/healthz")
    return process


def _wait_up(url: str) -> None:
    import requests

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise SystemExit(f"Daphne did not answer at {url} within 30 s")


# -- measurements ------------------------------------------------------------------------------


def _shell_times(base: str, session_key: str, runs: int) -> list[float]:
    import requests

    http = requests.Session()
    http.cookies.set("sessionid", session_key)
    times = []
    for index in range(runs + 5):
        started = time.perf_counter()
        response = http.get(f"{base}/onboarding/select-repos/", timeout=10)
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 200 and "repo-list" in response.text, response.status_code
        if index >= 5:  # the first few warm the process up
            times.append(elapsed)
    return times


def _list_request_times(base: str, session_key: str, runs: int, repos: int) -> list[float]:
    import requests

    http = requests.Session()
    http.cookies.set("sessionid", session_key)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        response = http.get(
            f"{base}/onboarding/select-repos/list/", headers={"HX-Request": "true"}, timeout=60
        )
        times.append((time.perf_counter() - started) * 1000)
        assert response.text.count('<li class="pick') == repos, "the list is incomplete"
    return times


def _github_pages_ms(api_url: str, token: str) -> tuple[float, int]:
    """Fetch the org's repositories one page after another with a bare client."""
    import requests

    http = requests.Session()
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json"}
    url: str | None = f"{api_url}/orgs/acme/repos?per_page=100&sort=pushed&type=all"
    pages = 0
    started = time.perf_counter()
    while url:
        response = http.get(url, headers=headers, timeout=30)
        response.json()
        pages += 1
        url = response.links.get("next", {}).get("url")
    return (time.perf_counter() - started) * 1000, pages


def _browser_times(base: str, session_key: str, runs: int, repos: int) -> list[tuple[float, ...]]:
    """Per run, in ms: request -> painted, navigation -> painted, request -> response,
    response -> painted, a filter keystroke -> painted, select all -> painted, and the
    server's own account of the list request: GitHub, rendering."""
    from playwright.sync_api import sync_playwright

    results: list[tuple[float, ...]] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            for _ in range(runs + 1):
                # The page's CSP forbids eval, which Playwright's waiting on an expression uses.
                context = browser.new_context(
                    viewport={"width": 1200, "height": 900}, bypass_csp=True
                )
                context.add_cookies(
                    [{"name": "sessionid", "value": session_key, "url": base}]  # type: ignore[list-item]
                )
                page = context.new_page()
                page.add_init_script(WATCH_LIST % repos)
                page.goto(f"{base}/onboarding/select-repos/")
                page.wait_for_function("window.__bench && window.__bench.paintedAt", timeout=60_000)
                bench: dict[str, Any] = page.evaluate("window.__bench")
                server = page.evaluate(SERVER_TIMING)
                filtering = max(page.evaluate(INTERACT, "filter") for _ in range(4))
                selecting = page.evaluate(INTERACT, "all")
                results.append(
                    (
                        bench["paintedAt"] - bench["requestAt"],
                        bench["paintedAt"],
                        bench["responseAt"] - bench["requestAt"],
                        bench["paintedAt"] - bench["responseAt"],
                        filtering,
                        selecting,
                        server.get("github", 0.0),
                        server.get("render", 0.0),
                    )
                )
                context.close()
        finally:
            browser.close()
    return results[1:]  # the first run warms Chromium up


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _summary(values: list[float]) -> str:
    median, p95, most = statistics.median(values), _p95(values), max(values)
    return f"p50 {median:6.0f}  p95 {p95:6.0f}  max {most:6.0f}"


# -- main --------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", type=int, default=2000, help="repositories of the big org")
    parser.add_argument("--latency-ms", type=float, default=50, help="per GitHub request")
    parser.add_argument("--runs", type=int, default=5, help="browser runs (the shell: x10)")
    args = parser.parse_args()

    database = ROOT / "var" / "bench_repos.sqlite3"
    database.parent.mkdir(exist_ok=True)
    database.unlink(missing_ok=True)
    env = _environment(database)
    sys.path.insert(0, str(ROOT))
    from sandbox.testing import start_sandbox

    sandbox = start_sandbox(
        "--orgs", "2", "--repos", str(args.repos), "--prs", str(args.repos), "--members", "4",
        "--latency-ms", str(args.latency_ms),
    )  # fmt: skip
    daphne: subprocess.Popen[bytes] | None = None
    try:
        env["GITHUB_API_URL"] = os.environ["GITHUB_API_URL"] = sandbox.api_url
        session_key, teams = _prepare(sandbox.api_url)
        port = _free_port()
        daphne = _start_daphne(env, port, ROOT / "artifacts" / "logs" / "bench-repos-daphne.log")
        base = f"http://127.0.0.1:{port}"

        _use_team(session_key, teams["globex"])
        small_shell = _shell_times(base, session_key, args.runs * 10)
        _use_team(session_key, teams["acme"])
        sandbox.control.reset_counters()
        big_shell = _shell_times(base, session_key, args.runs * 10)
        shell_github_requests = sandbox.control.counters()["requests"]

        pages_ms, pages = _github_pages_ms(sandbox.api_url, _issue_token(sandbox.api_url))
        nominal_ms = pages * args.latency_ms
        fragment = _list_request_times(base, session_key, args.runs, args.repos)
        browser = _browser_times(base, session_key, args.runs, args.repos)
    finally:
        if daphne is not None:
            daphne.terminate()
            daphne.wait(10)
        sandbox.stop()

    on_screen = [run[0] for run in browser]
    budget = pages_ms + LIST_MARGIN_MS
    strict_budget = nominal_ms + LIST_MARGIN_MS
    rows = [
        ("shell server time, small org (3 repositories)", _summary(small_shell)),
        (f"shell server time, big org ({args.repos} repositories)", _summary(big_shell)),
        ("GitHub requests made while serving the shell", str(shell_github_requests)),
        (f"GitHub pages one after another ({pages} pages)", f"{pages_ms:.0f}"),
        ("nominal: pages x latency", f"{nominal_ms:.0f}"),
        ("list request over HTTP (GitHub, parse, render)", _summary(fragment)),
        ("list on screen, from the htmx request", _summary(on_screen)),
        ("list on screen, from navigation start", _summary([r[1] for r in browser])),
        ("  of which the list request in the browser", _summary([r[2] for r in browser])),
        ("    server: GitHub pages (4 at a time) and parsing", _summary([r[6] for r in browser])),
        ("    server: rendering the rows", _summary([r[7] for r in browser])),
        ("  of which response -> swapped and painted", _summary([r[3] for r in browser])),
        ("filter keystroke -> painted (slowest of 4)", _summary([r[4] for r in browser])),
        ("select all shown -> painted", _summary([r[5] for r in browser])),
    ]
    print(f"repository page: {args.repos} repositories, {args.latency_ms:g} ms per request (ms)")
    for label, value in rows:
        print(f"  {label:<52} {value}")
    # Judged on p95: a loaded 2-core machine shows the odd outlier; the max is printed above.
    shell_ok = _p95(small_shell + big_shell) < SHELL_TARGET_MS and shell_github_requests == 0
    list_ok = statistics.median(on_screen) <= budget
    strict_ok = statistics.median(on_screen) <= strict_budget
    print(
        f"target shell < {SHELL_TARGET_MS:g} ms (p95, and no GitHub call): "
        f"{'met' if shell_ok else 'MISSED'}"
    )
    print(
        f"target list on screen <= GitHub pages + {LIST_MARGIN_MS:g} ms = {budget:.0f} ms "
        f"(p50 {statistics.median(on_screen):.0f} ms): {'met' if list_ok else 'MISSED'}; "
        f"against the nominal {strict_budget:.0f} ms: {'met' if strict_ok else 'MISSED'}"
    )
    if not (shell_ok and list_ok):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
