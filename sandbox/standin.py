"""What the Jira and Slack stand-ins share: request counters, the fault hook, HTML pages.

Faults registered with ``POST /_sandbox/faults`` match any request path, so the same control
API that breaks GitHub breaks ``/atlassian/...`` and ``/slack/...`` too: ``status`` answers
with that status (JSON body, or the fault's body), ``delay`` sleeps first (client timeouts),
``malformed_json`` cuts a 200 answer's body in half. GitHub's own kinds (``secondary_limit``,
``sso``) answer as a plain ``status`` fault here.
"""

from __future__ import annotations

import html
import threading
import time
from collections import Counter

from sandbox.github.limits import Fault, Limits
from sandbox.server import Request, Response


class Recorder:
    """Requests answered by one stand-in: by endpoint, by status, and by token."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_endpoint: Counter[str] = Counter()
        self.by_status: Counter[str] = Counter()
        self.by_token: Counter[str] = Counter()

    def record(self, endpoint: str, status: int, token: str | None = None) -> None:
        with self.lock:
            self.by_endpoint[endpoint] += 1
            self.by_status[str(status)] += 1
            if token:
                self.by_token[token] += 1

    def snapshot(self) -> dict[str, object]:
        with self.lock:
            return {
                "requests": sum(self.by_endpoint.values()),
                "by_endpoint": dict(self.by_endpoint),
                "by_status": dict(self.by_status),
                "by_token": dict(self.by_token),
            }


def fault_before(limits: Limits, request: Request) -> tuple[Response | None, Fault | None]:
    """Apply a registered fault that fires for this request: sleep, or answer in its place."""
    fault = limits.fault_for(request.method, request.path)
    if fault is None:
        return None, None
    if fault.kind == "delay":
        time.sleep(fault.delay_s)
        return None, fault
    if fault.kind in ("malformed_json", "malformed_item"):
        return None, fault
    status = fault.status or 500
    if isinstance(fault.body, str):
        return Response(status, fault.body.encode(), {"Content-Type": "text/html"}), fault
    body = fault.body if fault.body is not None else {"message": "Server Error"}
    return Response.json(status, body), fault


def fault_after(fault: Fault | None, response: Response) -> Response:
    """Corrupt a successful answer's body when the fault asks for it."""
    if fault is not None and fault.kind.startswith("malformed") and response.status == 200:
        response.body = response.body[: max(1, len(response.body) // 2)]
    return response


def bearer(request: Request) -> str | None:
    """Return the bearer token of the Authorization header, if any."""
    scheme, _, value = request.header("Authorization").strip().partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def page(title: str, body: str) -> str:
    """Wrap ``body`` (already escaped HTML) in a minimal page."""
    return f"""<!doctype html>
<html lang="en">
  <head><meta charset="utf-8"><title>{html.escape(title)}</title></head>
  <body>
    <main>
{body}
    </main>
  </body>
</html>
"""


def hidden_inputs(fields: dict[str, str]) -> str:
    """Render ``fields`` as hidden inputs of a form, one a line."""
    return "\n".join(
        f'        <input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in fields.items()
    )
