"""Helpers for tests and benchmarks: run the sandbox in a subprocess and steer it.

sandbox = start_sandbox("--repos", "5", "--prs", "300")
token = sandbox.control.issue_token("mona")
g = Github(base_url=sandbox.api_url, auth=Auth.Token(token), per_page=100, retry=None)
...
sandbox.stop()
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

PROJECT_ROOT = Path(__file__).resolve().parents[1]
LISTENING = "sandbox listening on "
TIMEOUT_S = 10.0


class SandboxControl:
    """A small client for the control API (``/_sandbox``) of one running sandbox."""

    def __init__(self, url: str, *, timeout: float = TIMEOUT_S) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.http = requests.Session()

    def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None, **params: Any
    ) -> Any:
        response = self.http.request(
            method,
            f"{self.url}/_sandbox{path}",
            json=body,
            params=params or None,
            timeout=self.timeout,
        )
        if response.status_code >= 400:
            raise RuntimeError(
                f"{method} /_sandbox{path} -> {response.status_code}: {response.text}"
            )
        return response.json()

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/health")

    def counters(self) -> dict[str, Any]:
        """Return the request counters (see ``python -m sandbox --help``)."""
        return self._call("GET", "/counters")

    def reset_counters(self) -> None:
        self._call("POST", "/counters/reset")

    def issue_token(self, login: str = "mona", scopes: list[str] | None = None) -> str:
        """Mint a token for ``login`` (default scopes: read:org, repo) and return its value."""
        body: dict[str, Any] = {"login": login}
        if scopes is not None:
            body["scopes"] = scopes
        return self._call("POST", "/tokens", body)["token"]

    def revoke_token(self, token: str) -> None:
        self._call("POST", "/tokens/revoke", {"token": token})

    def faults(self) -> list[dict[str, Any]]:
        return self._call("GET", "/faults")

    def add_fault(self, path: str, kind: str = "status", **options: Any) -> str:
        """Register a fault (``method``, ``status``, ``body``, ``delay_s``, ``count``, ...)."""
        return self._call("POST", "/faults", {"path": path, "kind": kind, **options})["id"]

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def set_budget(
        self,
        *,
        remaining: int,
        resource: str = "core",
        reset_in: float = 3600,
        token: str | None = None,
        login: str | None = None,
    ) -> dict[str, Any]:
        """Force the remaining points of a user's budget (by token or login)."""
        body = {"resource": resource, "remaining": remaining, "reset_in": reset_in}
        body |= {"token": token} if token else {"login": login or "mona"}
        return self._call("POST", "/budget", body)

    def set_latency(self, fixed_ms: float = 0.0, per_node_ms: float = 0.0) -> None:
        self._call("POST", "/latency", {"fixed_ms": fixed_ms, "per_node_ms": per_node_ms})

    def set_secondary(self, **limits: Any) -> dict[str, Any]:
        """Change the secondary limits (max_concurrent, rest_per_minute, graphql_per_minute,
        per_endpoint) and how they answer (status 403|429, headers retry_after|reset)."""
        return self._call("POST", "/secondary", limits)

    def set_graphql(self, **model: Any) -> dict[str, Any]:
        """Set the GraphQL rate-limit error type and timeout model (see the control API)."""
        return self._call("POST", "/graphql", model)

    def set_heavy(self, owner: str, repo: str, heavy: bool = True) -> None:
        """Flag a repository heavy: queries reading it take longer (and may time out)."""
        self._call("POST", f"/repos/{owner}/{repo}/heavy", {"heavy": heavy})

    def set_callback_url(self, url: str) -> None:
        """Register the OAuth app's callback URL (GitHub refuses any other redirect_uri)."""
        self._call("POST", "/oauth", {"callback_url": url})

    def force_push(self, owner: str, repo: str, number: int, *, keep: int, add: int = 0) -> Any:
        body = {"keep": keep, "add": add}
        return self._call("POST", f"/pulls/{owner}/{repo}/{number}/force-push", body)

    def delete_pull(self, owner: str, repo: str, number: int) -> None:
        self._call("POST", f"/pulls/{owner}/{repo}/{number}/delete")

    def advance_clock(self, seconds: float) -> None:
        self._call("POST", "/clock", {"advance_s": seconds})

    def delete_repo(self, owner: str, repo: str) -> None:
        self._call("POST", f"/repos/{owner}/{repo}/delete")

    def remove_member(self, org: str, login: str) -> None:
        """Take ``login`` out of the organization ``org`` on the sandbox GitHub."""
        self._call("POST", f"/orgs/{org}/members/{login}/remove")

    def add_member(self, org: str, login: str, role: str = "member") -> None:
        """Add ``login`` to the organization ``org`` (an org hook hears member_added)."""
        self._call("POST", f"/orgs/{org}/members/{login}/add", {"role": role})

    def archive_repo(self, owner: str, repo: str, archived: bool = True) -> None:
        self._call("POST", f"/repos/{owner}/{repo}/archive", {"archived": archived})

    def rename_repo(self, owner: str, repo: str, name: str) -> None:
        self._call("POST", f"/repos/{owner}/{repo}/rename", {"name": name})

    def hook_deliveries(self, org: str = "acme") -> list[dict[str, Any]]:
        """Return every delivery attempt to ``org``'s hooks, newest first."""
        return self._call("GET", "/hooks/deliveries", org=org)

    def set_hook_faults(self, **faults: float) -> dict[str, Any]:
        """Drop, duplicate, sign wrongly (shares 0-1) or delay (delay_s) hook deliveries."""
        return self._call("POST", "/hooks/faults", faults)

    def wait_for_deliveries(self, timeout_s: float = 30) -> None:
        """Return once no hook delivery is in flight."""
        self._call("POST", "/hooks/wait", {"timeout_s": timeout_s})

    def update_pull(self, owner: str, repo: str, number: int, *, title: str) -> dict[str, Any]:
        return self._call("POST", f"/pulls/{owner}/{repo}/{number}/update", {"title": title})

    def merge_pull(self, owner: str, repo: str, number: int, *, by: str = "mona") -> dict[str, Any]:
        return self._call("POST", f"/pulls/{owner}/{repo}/{number}/merge", {"by": by})

    def review_pull(
        self, owner: str, repo: str, number: int, *, by: str, state: str = "APPROVED"
    ) -> dict[str, Any]:
        body = {"by": by, "state": state}
        return self._call("POST", f"/pulls/{owner}/{repo}/{number}/review", body)

    def truth(self, org: str = "acme", since: str | None = None) -> dict[str, Any]:
        """Return the ground truth of ``org``'s PR history (optionally since an ISO time)."""
        params: dict[str, Any] = {"org": org} | ({"since": since} if since else {})
        return self._call("GET", "/truth", **params)

    def timelines(self, org: str = "acme") -> list[dict[str, Any]]:
        """Return every live PR's creation, merge and review times (ISO 8601)."""
        return list(self._call("GET", "/timelines", org=org)["pull_requests"])

    def reset(self) -> None:
        """Fresh world from the same arguments; counters, faults, budgets and tokens cleared."""
        self._call("POST", "/reset")

    # -- Jira ------------------------------------------------------------------------------

    def jira_counters(self) -> dict[str, Any]:
        """Return the Jira stand-in's request counters (by endpoint, status and token)."""
        return self._call("GET", "/jira/counters")

    def revoke_jira(self, token: str | None = None) -> int:
        """Revoke the grant of one access or refresh token; None removes the app's access."""
        return self._call("POST", "/jira/revoke", {"token": token} if token else {})["revoked"]

    def remove_jira_site(self, site_id: str) -> None:
        """Withdraw the app from one Jira site; its tokens keep working elsewhere."""
        self._call("POST", "/jira/revoke", {"site": site_id})

    # -- Slack -----------------------------------------------------------------------------

    def slack_messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Return the messages the app posted, oldest first (channel: id or name)."""
        params: dict[str, Any] = {"channel": channel} if channel else {}
        return self._call("GET", "/slack/messages", **params)

    def slack_channels(self) -> list[dict[str, Any]]:
        """Return the workspace's channels: id, name, is_archived, bot_member."""
        return self._call("GET", "/slack/channels")

    def slack_channel_id(self, name: str) -> str:
        return next(c["id"] for c in self.slack_channels() if c["name"] == name)

    def slack_counters(self) -> dict[str, Any]:
        return self._call("GET", "/slack/counters")

    def issue_slack_token(self, scopes: list[str] | None = None) -> str:
        """Install the app without the browser; return its bot token."""
        body = {"scopes": scopes} if scopes is not None else {}
        return self._call("POST", "/slack/tokens", body)["access_token"]

    def revoke_slack(self, token: str | None = None) -> int:
        """Revoke one bot token; None uninstalls the app (every token)."""
        return self._call("POST", "/slack/revoke", {"token": token} if token else {})["revoked"]

    def invite_slack_bot(self, channel_id: str) -> None:
        self._call("POST", f"/slack/channels/{channel_id}/invite")

    def kick_slack_bot(self, channel_id: str) -> None:
        self._call("POST", f"/slack/channels/{channel_id}/kick")


@dataclass
class RunningSandbox:
    process: subprocess.Popen[str]
    url: str
    control: SandboxControl = field(init=False)
    _stderr: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.control = SandboxControl(self.url)

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/v3"

    @property
    def graphql_url(self) -> str:
        return f"{self.url}/api/graphql"

    @property
    def jira_auth_url(self) -> str:
        """Atlassian's authorization server (https://auth.atlassian.com) on the sandbox."""
        return f"{self.url}/atlassian"

    @property
    def jira_api_url(self) -> str:
        """Atlassian's API gateway (https://api.atlassian.com) on the sandbox."""
        return f"{self.url}/atlassian-api"

    @property
    def slack_url(self) -> str:
        """Slack (https://slack.com) on the sandbox."""
        return f"{self.url}/slack"

    def stop(self) -> None:
        """Stop the subprocess (SIGTERM, then SIGKILL after 5 s)."""
        self.control.http.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def __enter__(self) -> RunningSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_sandbox(*args: str, timeout: float = 30.0) -> RunningSandbox:
    """Start ``python -m sandbox --port 0 *args`` and wait for its listening line."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--port", "0", *args],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stderr: list[str] = []
    threading.Thread(target=_drain, args=(process.stderr, stderr), daemon=True).start()
    line = _read_line(process, timeout)
    if not line.startswith(LISTENING):
        process.kill()
        raise RuntimeError(f"sandbox did not start: {line!r} {''.join(stderr)[-2000:]}")
    threading.Thread(target=_drain, args=(process.stdout, []), daemon=True).start()
    return RunningSandbox(process, line.removeprefix(LISTENING).strip(), _stderr=stderr)


def _read_line(process: subprocess.Popen[str], timeout: float) -> str:
    found: list[str] = []
    reader = threading.Thread(target=lambda: found.append(process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    if not found:
        process.kill()
        raise RuntimeError(f"sandbox printed no listening line within {timeout} s")
    return found[0]


def _drain(stream: Any, sink: list[str]) -> None:
    for line in stream:
        sink.append(line)
        del sink[:-200]  # keep the tail for error messages
